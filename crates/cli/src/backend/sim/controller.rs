//! The simulator's two processes, as the CLI drives them: the load balancer's
//! (`chronous sim elb`, [`run_elb`]), which serves the ELB and supervises the
//! controller (`chronous controller`, [`run`]). Started on demand in the
//! background ([`ensure`]), asked for their status ([`fetch`]).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use chronous_core::secret::Secret;
use chronous_core::state::State;
use chronous_sim::controller::{self, ControllerConfig, Request, Status};
use chronous_sim::elb_process::{self, ElbProcessConfig, Launch, ProcessStatus};

use crate::context::Ctx;

/// Whether the recorded state has something the controller runs (a service or a load balancer).
pub fn needs_controller(st: &State) -> bool {
    st.resources
        .keys()
        .any(|a| a.starts_with("aws_ecs_service.") || a.starts_with("aws_elb."))
}

/// The time scale of real-container runs: `CHRONOUS_SIM_TIME_SCALE`, else the file's `sim.time_scale`.
pub fn time_scale(ctx: &Ctx) -> f64 {
    std::env::var("CHRONOUS_SIM_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|x| (1.0..=1000.0).contains(x))
        .unwrap_or(ctx.env.sim.time_scale)
}

/// The database password, read at run time; never printed.
fn db_password(ctx: &Ctx) -> Option<Secret> {
    let db = ctx.env.database.as_ref()?;
    chronous_store::secret::read_secret(&db.password_source(), &ctx.dir).ok()
}

/// The controller's status, with both processes as the load balancer's
/// process supervises them.
pub fn fetch(ctx: &Ctx) -> Result<Status> {
    let rt = ctx.rt()?;
    let state_dir = ctx.state_dir();
    let value = rt.block_on(controller::request(&state_dir, &Request::Status))?;
    let mut st: Status =
        serde_json::from_value(value).context("the controller's status does not parse")?;
    let mut procs = match rt.block_on(elb_process::status(&state_dir)) {
        Ok(s) => s.processes,
        Err(e) => vec![ProcessStatus {
            role: "load balancer".into(),
            last_error: Some(e.to_string()),
            ..Default::default()
        }],
    };
    match procs.iter_mut().find(|p| p.role == "controller") {
        Some(p) => {
            // One the load balancer found running (did not start) has no start time of its own.
            if p.up_since.is_none() && p.pid == Some(st.pid) {
                p.up_since = Some(st.started_at.clone());
            }
        }
        None => procs.push(ProcessStatus {
            role: "controller".into(),
            pid: Some(st.pid),
            running: true,
            up_since: Some(st.started_at.clone()),
            ..Default::default()
        }),
    }
    st.processes = procs;
    Ok(st)
}

/// The last lines of a log file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `chronous --env DIR --backend sim ARGS...`, detached (its own process
/// group), its output appended to `log`.
fn spawn_chronous(dir: &Path, args: &[&str], log: &Path) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = Command::new(exe);
    cmd.arg("--env")
        .arg(dir)
        .arg("--backend")
        .arg("sim")
        .args(args);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
}

/// Make sure the environment's load balancer process runs, and the
/// controller it supervises; ask the controller to reconcile now.
pub fn ensure(ctx: &Ctx) -> Result<()> {
    let rt = ctx.rt()?;
    let state_dir = ctx.state_dir();
    let elb_up = rt.block_on(elb_process::status(&state_dir)).is_ok();
    if elb_up
        && rt
            .block_on(controller::request(&state_dir, &Request::Reconcile))
            .is_ok()
    {
        return Ok(());
    }
    let mut child = None;
    if !elb_up {
        let log = elb_process::log_path(&state_dir);
        let c = spawn_chronous(&ctx.dir, &["sim", "elb"], &log).with_context(|| {
            format!(
                "cannot start the load balancer's process (log: {})",
                log.display()
            )
        })?;
        child = Some(c);
    }
    let t = Instant::now();
    loop {
        let elb = rt.block_on(elb_process::status(&state_dir));
        let ctl = rt.block_on(controller::request(&state_dir, &Request::Status));
        if elb.is_ok() && ctl.is_ok() {
            if let (Some(c), false) = (&child, ctx.json) {
                eprintln!(
                    "Started the load balancer and the controller of `{}` (pid {}; logs: {}, {}).",
                    ctx.env.name,
                    c.id(),
                    elb_process::log_path(&state_dir).display(),
                    controller::log_path(&state_dir).display()
                );
            }
            return Ok(());
        }
        if let Some(status) = child.as_mut().map(Child::try_wait).transpose()?.flatten() {
            return Err(anyhow!(
                "the load balancer's process exited at start ({status}):\n{}",
                tail(&elb_process::log_path(&state_dir), 10)
            ));
        }
        if t.elapsed() > Duration::from_secs(20) {
            let why = match elb {
                Err(e) => e.to_string(),
                Ok(s) => s
                    .processes
                    .iter()
                    .find_map(|p| p.last_error.clone())
                    .unwrap_or_else(|| "the controller does not answer".into()),
            };
            return Err(anyhow!(
                "the simulator's processes did not answer within 20 s ({why}); see {} and {}:\n{}",
                elb_process::log_path(&state_dir).display(),
                controller::log_path(&state_dir).display(),
                tail(&controller::log_path(&state_dir), 10)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop the load balancer's process and the controller (it stops the
/// controller first), and wait until both are gone (10 s).
pub fn shutdown(ctx: &Ctx) -> Result<()> {
    let rt = ctx.rt()?;
    let state_dir = ctx.state_dir();
    let asked = rt
        .block_on(elb_process::request(
            &state_dir,
            &elb_process::ElbRequest::Shutdown,
        ))
        .is_ok();
    // A controller without its load balancer's process is stopped directly.
    let asked = rt
        .block_on(controller::request(&state_dir, &Request::Shutdown))
        .is_ok()
        || asked;
    if asked {
        let t = Instant::now();
        while (elb_process::socket_path(&state_dir).exists()
            || controller::socket_path(&state_dir).exists())
            && t.elapsed() < Duration::from_secs(15)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// `chronous sim elb`: the load balancer's process in the foreground; it
/// starts the controller and starts it again whenever it dies.
pub fn run_elb(ctx: &Ctx) -> Result<u8> {
    let state_dir = ctx.state_dir();
    let dir = ctx.dir.clone();
    let log = controller::log_path(&state_dir);
    let cfg = ElbProcessConfig {
        state_dir,
        launch_controller: Some(Launch(Arc::new(move || {
            spawn_chronous(&dir, &["controller"], &log)
        }))),
    };
    eprintln!(
        "load balancer of `{}` starting (pid {})",
        ctx.env.name,
        std::process::id()
    );
    ctx.rt()?.block_on(elb_process::run(cfg))?;
    eprintln!("load balancer of `{}` stopped", ctx.env.name);
    Ok(0)
}

/// `chronous controller`: run in the foreground.
pub fn run(ctx: &Ctx) -> Result<u8> {
    let cfg = ControllerConfig {
        env: ctx.env.name.clone(),
        env_dir: std::fs::canonicalize(&ctx.dir)
            .unwrap_or_else(|_| ctx.dir.clone())
            .display()
            .to_string(),
        state_dir: ctx.state_dir(),
        time_scale: time_scale(ctx),
        db_password: db_password(ctx),
        launch_elb: Some(Launch(Arc::new({
            let dir = ctx.dir.clone();
            let log = elb_process::log_path(&ctx.state_dir());
            move || spawn_chronous(&dir, &["sim", "elb"], &log)
        }))),
    };
    if cfg.db_password.is_none() && ctx.env.database.is_some() {
        eprintln!("warning: no database password (CHRONOUS_DB_PASSWORD or database.password_file): tasks start without one");
    }
    eprintln!(
        "controller of `{}` starting (pid {}, time scale {})",
        cfg.env,
        std::process::id(),
        cfg.time_scale
    );
    ctx.rt()?.block_on(controller::run(cfg))?;
    eprintln!("controller of `{}` stopped", ctx.env.name);
    Ok(0)
}
