//! The environment's controller process, as the CLI drives it: started on
//! demand in the background (`ensure`), asked for its status (`fetch`), or run
//! in the foreground by `chronous controller` (`run`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use chronous_core::secret::Secret;
use chronous_core::state::State;
use chronous_sim::controller::{self, ControllerConfig, Request, Status};

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

/// The controller's status.
pub fn fetch(ctx: &Ctx) -> Result<Status> {
    let value = ctx
        .rt()?
        .block_on(controller::request(&ctx.state_dir(), &Request::Status))?;
    serde_json::from_value(value).context("the controller's status does not parse")
}

/// Make sure the environment's controller runs, and ask it to reconcile now.
pub fn ensure(ctx: &Ctx) -> Result<()> {
    let rt = ctx.rt()?;
    let state_dir = ctx.state_dir();
    if rt
        .block_on(controller::request(&state_dir, &Request::Reconcile))
        .is_ok()
    {
        return Ok(());
    }
    let exe = std::env::current_exe()
        .context("cannot find the chronous executable to start the controller")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(controller::log_path(&state_dir))
        .with_context(|| format!("cannot open {}", controller::log_path(&state_dir).display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--env")
        .arg(&ctx.dir)
        .arg("--backend")
        .arg("sim")
        .arg("controller");
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("cannot start the controller")?;
    let t = Instant::now();
    loop {
        if rt
            .block_on(controller::request(&state_dir, &Request::Status))
            .is_ok()
        {
            if !ctx.json {
                eprintln!(
                    "Started the controller of `{}` (pid {}; log: {}).",
                    ctx.env.name,
                    child.id(),
                    controller::log_path(&state_dir).display()
                );
            }
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail =
                std::fs::read_to_string(controller::log_path(&state_dir)).unwrap_or_default();
            let tail: Vec<&str> = tail
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(anyhow!(
                "the controller exited at start ({status}):\n{}",
                tail.join("\n")
            ));
        }
        if t.elapsed() > Duration::from_secs(20) {
            return Err(anyhow!(
                "the controller did not answer within 20 s; see {}",
                controller::log_path(&state_dir).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
