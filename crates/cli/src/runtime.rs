//! The simulator's runtime as the CLI sees it: starting the controller on
//! demand, `status`, `logs`, `ssh`, and the final sweep after a destroy.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use chronous_core::env::{Backend, Environment};
use chronous_core::state::{self, State};
use chronous_sim::controller::{self, ControllerConfig, Request, Status};
use chronous_sim::docker::Docker;
use chronous_sim::{Runtime, SimOptions};
use chronous_store::StateStore;

use crate::ui::{exit, EXIT_FAILURE};

pub struct EnvView<'a> {
    pub dir: &'a Path,
    pub state_dir: PathBuf,
    pub env: &'a Environment,
    pub backend: Backend,
    pub json: bool,
}

fn rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn docker_runtime(v: &EnvView<'_>) -> bool {
    v.backend == Backend::Sim && SimOptions::from_env().runtime == Runtime::Docker
}

/// The time scale of real-container runs: `CHRONOUS_SIM_TIME_SCALE`, else the file's `sim.time_scale`.
pub fn time_scale(v: &EnvView<'_>) -> f64 {
    std::env::var("CHRONOUS_SIM_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|x| (1.0..=1000.0).contains(x))
        .unwrap_or(v.env.sim.time_scale)
}

/// The database password, read at run time; never printed.
pub fn db_password(v: &EnvView<'_>) -> Option<String> {
    let db = v.env.database.as_ref()?;
    match &db.password_file {
        Some(f) => std::fs::read_to_string(v.dir.join(f))
            .ok()
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .filter(|s| !s.is_empty()),
        None => std::env::var("CHRONOUS_DB_PASSWORD")
            .ok()
            .filter(|s| !s.is_empty()),
    }
}

fn needs_controller(st: &State) -> bool {
    st.resources
        .keys()
        .any(|a| a.starts_with("aws_ecs_service.") || a.starts_with("aws_elb."))
}

/// After an apply or destroy on the simulator: keep the controller in step
/// with the control plane; after a full destroy, stop it and sweep everything
/// the environment's label names.
pub fn after_apply(v: &EnvView<'_>, st: &State) -> Result<()> {
    if !docker_runtime(v) {
        return Ok(());
    }
    if needs_controller(st) {
        ensure_controller(v)?;
    } else {
        let rt = rt()?;
        if rt
            .block_on(controller::request(&v.state_dir, &Request::Shutdown))
            .is_ok()
        {
            let t = Instant::now();
            while controller::socket_path(&v.state_dir).exists()
                && t.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if st.resources.is_empty() {
            let report = rt.block_on(async {
                let d = Docker::connect().await?;
                d.sweep(&v.env.name).await
            })?;
            if !v.json {
                println!(
                    "Removed what the simulator ran for `{}`: {} container(s), {} volume(s), {} network(s) labelled chronous.environment={}.",
                    v.env.name,
                    report.containers.len(),
                    report.volumes.len(),
                    report.networks.len(),
                    v.env.name
                );
            }
            if !report.failed.is_empty() {
                let what: Vec<String> = report
                    .failed
                    .iter()
                    .map(|(n, e)| format!("{n}: {e}"))
                    .collect();
                return Err(exit(
                    EXIT_FAILURE,
                    format!("could not remove everything: {}", what.join("; ")),
                ));
            }
        }
    }
    Ok(())
}

/// Make sure the environment's controller runs, and ask it to reconcile now.
pub fn ensure_controller(v: &EnvView<'_>) -> Result<()> {
    let rt = rt()?;
    if rt
        .block_on(controller::request(&v.state_dir, &Request::Reconcile))
        .is_ok()
    {
        return Ok(());
    }
    let exe = std::env::current_exe()
        .context("cannot find the chronous executable to start the controller")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(controller::log_path(&v.state_dir))
        .with_context(|| {
            format!(
                "cannot open {}",
                controller::log_path(&v.state_dir).display()
            )
        })?;
    let mut cmd = Command::new(exe);
    cmd.arg("--env")
        .arg(v.dir)
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
            .block_on(controller::request(&v.state_dir, &Request::Status))
            .is_ok()
        {
            if !v.json {
                eprintln!(
                    "Started the controller of `{}` (pid {}; log: {}).",
                    v.env.name,
                    child.id(),
                    controller::log_path(&v.state_dir).display()
                );
            }
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail =
                std::fs::read_to_string(controller::log_path(&v.state_dir)).unwrap_or_default();
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
                controller::log_path(&v.state_dir).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `chronous controller`: run in the foreground.
pub fn controller(v: &EnvView<'_>) -> Result<u8> {
    if v.backend != Backend::Sim {
        return Err(exit(
            EXIT_FAILURE,
            "the controller runs the simulator's runtime; this environment uses the aws backend",
        ));
    }
    let cfg = ControllerConfig {
        env: v.env.name.clone(),
        env_dir: std::fs::canonicalize(v.dir)
            .unwrap_or_else(|_| v.dir.to_path_buf())
            .display()
            .to_string(),
        state_dir: v.state_dir.clone(),
        time_scale: time_scale(v),
        db_password: db_password(v),
    };
    if cfg.db_password.is_none() && v.env.database.is_some() {
        eprintln!("warning: no database password (CHRONOUS_DB_PASSWORD or database.password_file): tasks start without one");
    }
    eprintln!(
        "controller of `{}` starting (pid {}, time scale {})",
        cfg.env,
        std::process::id(),
        cfg.time_scale
    );
    rt()?.block_on(controller::run(cfg))?;
    eprintln!("controller of `{}` stopped", v.env.name);
    Ok(0)
}

fn fetch(v: &EnvView<'_>, rt: &tokio::runtime::Runtime) -> Result<Status> {
    let value = rt.block_on(controller::request(&v.state_dir, &Request::Status))?;
    serde_json::from_value(value).context("the controller's status does not parse")
}

fn print_status(v: &EnvView<'_>, st: &State, runtime: Option<&Status>, db: &serde_json::Value) {
    use comfy_table::Table;
    println!(
        "Environment `{}` ({:?} backend): {} objects recorded, state serial {}.",
        v.env.name,
        v.backend,
        st.resources.len(),
        st.serial
    );
    let outs = state::outputs(st, &v.env.network.azs);
    for (k, val) in &outs {
        println!("  {k} = {val}");
    }
    if !db.is_null() {
        println!(
            "\nDatabase: {}",
            db.get("summary").and_then(|s| s.as_str()).unwrap_or("")
        );
    }
    let Some(s) = runtime else { return };
    println!(
        "\nController: pid {}, since {}, time scale {}{}",
        s.pid,
        s.started_at,
        s.time_scale,
        if s.time_scale == 1.0 {
            " (AWS timings)"
        } else {
            " (health checks run faster than on AWS)"
        }
    );
    if !s.db_password_available {
        println!(
            "  warning: the controller has no database password; tasks cannot reach the database"
        );
    }
    if let Some(e) = &s.last_error {
        println!("  last error: {e}");
    }
    if let Some(elb) = &s.elb {
        println!(
            "\nLoad balancer {} at {}: {}",
            elb.name, elb.url, elb.health_check
        );
        if let Some(e) = &elb.error {
            println!("  error: {e}");
        }
        let mut t = Table::new();
        t.set_header(vec![
            "instance",
            "state",
            "reason",
            "ok",
            "fail",
            "last error",
        ]);
        for i in &elb.instances {
            t.add_row(vec![
                i.id.clone(),
                format!("{:?}", i.state),
                i.reason.to_string(),
                i.consecutive_ok.to_string(),
                i.consecutive_fail.to_string(),
                i.last_error.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
    }
    if let Some(svc) = &s.service {
        println!(
            "\nService {}: desired {}, running {}, healthy {} (minimum {}%, maximum {}%){}",
            svc.name,
            svc.desired,
            svc.running,
            svc.healthy,
            svc.minimum_healthy_percent,
            svc.maximum_percent,
            if svc.steady { ", steady" } else { "" }
        );
        println!("  task definition {}", svc.task_definition);
        for d in &svc.deployments {
            println!(
                "  deployment {} {} {} {} ({} running){}",
                d.id,
                d.status,
                d.task_definition,
                d.rollout_state,
                d.running,
                if d.rollout_state == "FAILED" {
                    format!(": {}", d.rollout_state_reason)
                } else {
                    String::new()
                }
            );
        }
    }
    if !s.tasks.is_empty() {
        let mut t = Table::new();
        t.set_header(vec![
            "task", "status", "health", "instance", "address", "started",
        ]);
        for k in &s.tasks {
            t.add_row(vec![
                k.id.chars().take(12).collect::<String>(),
                k.stopped_reason
                    .as_ref()
                    .map(|r| format!("STOPPED ({r})"))
                    .unwrap_or_else(|| k.last_status.clone()),
                k.health.clone(),
                k.instance_id.clone(),
                k.host_addr.clone().unwrap_or_default(),
                k.started_at.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
    }
    if !s.events.is_empty() {
        println!("\nEvents (newest last):");
        for e in s
            .events
            .iter()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("  {}  {}", e.at, e.message);
        }
    }
}

fn db_status(v: &EnvView<'_>, rt: &tokio::runtime::Runtime) -> serde_json::Value {
    if !docker_runtime(v) || v.env.database.is_none() {
        return serde_json::Value::Null;
    }
    rt.block_on(async {
        let Ok(d) = Docker::connect().await else { return serde_json::json!({"summary": "Docker is not reachable"}) };
        let cs = d.list(&v.env.name, Some("db")).await.unwrap_or_default();
        match cs.first() {
            None => serde_json::json!({"ready": false, "summary": "not running"}),
            Some(c) => {
                let ready = c.running && d.exec(&c.id, &["chronous-db-ready"]).await.map(|o| o.exit_code == 0).unwrap_or(false);
                let made = c.labels.get("chronous.backup-made-by").cloned().unwrap_or_default();
                let restored = c.labels.get("chronous.restored-by").cloned().unwrap_or_default();
                serde_json::json!({
                    "container": c.name, "ready": ready, "backup_made_by": made, "restored_by": restored,
                    "summary": format!("{} ({}){}{}", c.name, if ready { "ready" } else if c.running { "starting" } else { "stopped" },
                        if made.is_empty() { String::new() } else { format!(", backup made by {made}") },
                        if restored.is_empty() { String::new() } else { format!(", restored by {restored}") }),
                })
            }
        }
    })
}

/// `chronous status [--wait-healthy]`.
/// `aws_service`: on `--backend aws`, the ECS service as AWS describes it.
pub fn status(
    v: &EnvView<'_>,
    wait: bool,
    timeout: u64,
    aws_service: Option<&crate::aws_rollout::ServiceView>,
) -> Result<u8> {
    let st = StateStore::new(&v.state_dir)
        .load()?
        .unwrap_or_else(|| State::new(&v.env.name, v.backend, String::new()));
    let rt = rt()?;
    let mut runtime = None;
    if docker_runtime(v) && needs_controller(&st) {
        ensure_controller(v)?;
        runtime = Some(fetch(v, &rt)?);
    }
    if wait {
        let Some(_) = runtime else {
            return Err(exit(
                EXIT_FAILURE,
                "nothing to wait for: no service runs in the simulator (apply first)",
            ));
        };
        let t = Instant::now();
        let mut last = String::new();
        loop {
            let s = fetch(v, &rt)?;
            let (desired, healthy) = s
                .service
                .as_ref()
                .map(|x| (x.desired, x.healthy))
                .unwrap_or((0, 0));
            let line = format!(
                "service: {healthy}/{desired} healthy; load balancer: {}",
                s.elb
                    .as_ref()
                    .map(|e| e
                        .instances
                        .iter()
                        .map(|i| format!("{} {:?}", i.id, i.state))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            );
            if line != last && !v.json {
                eprintln!("[{:>5.1}s] {line}", t.elapsed().as_secs_f64());
                last = line;
            }
            if healthy >= desired && desired > 0 {
                runtime = Some(s);
                break;
            }
            if t.elapsed() > Duration::from_secs(timeout) {
                return Err(exit(EXIT_FAILURE, format!("the service was not healthy within {timeout} s: see `chronous status` and `chronous logs`")));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let db = db_status(v, &rt);
    if v.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": v.env.name, "backend": v.backend, "serial": st.serial, "objects": st.resources.len(),
                "resources": st.resources.values().map(|r| serde_json::json!({"address": r.address, "id": r.id})).collect::<Vec<_>>(),
                "outputs": state::outputs(&st, &v.env.network.azs), "runtime": runtime, "database": db,
                "service": aws_service,
            }))?
        );
    } else {
        print_status(v, &st, runtime.as_ref(), &db);
        if let Some(s) = aws_service {
            crate::aws_rollout::print(s);
        }
    }
    Ok(0)
}

fn parse_since(s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s).map_err(|e| {
        exit(
            crate::ui::EXIT_USAGE,
            format!("--since {s}: {e} (write e.g. 30s, 10m, 1h)"),
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    Ok(now - d.as_secs() as i64)
}

/// `chronous logs [-f] [--since]`: the task containers' output, one stream per task.
pub fn logs(
    v: &EnvView<'_>,
    follow: bool,
    since: Option<&str>,
    endpoint: Option<&str>,
) -> Result<u8> {
    if v.backend == Backend::Aws {
        return aws_logs(v, follow, since, endpoint);
    }
    if !docker_runtime(v) {
        return Err(exit(EXIT_FAILURE, "logs come from the simulator's real-container runtime (CloudWatch logs come with the aws backend)"));
    }
    let since = since.map(parse_since).transpose()?;
    let rt = rt()?;
    let json = v.json;
    rt.block_on(async {
        use futures_util::StreamExt;
        let d = Docker::connect().await?;
        let mut cs = d.list(&v.env.name, Some("task")).await?;
        cs.sort_by(|a, b| a.labels.get("chronous.started-at").cmp(&b.labels.get("chronous.started-at")));
        if cs.is_empty() {
            eprintln!("no task has run yet in `{}`", v.env.name);
        }
        let mut streams = Vec::new();
        for c in &cs {
            let name = c.labels.get("chronous.log-stream").cloned().unwrap_or_else(|| c.name.clone());
            let group = c.labels.get("chronous.log-group").cloned().unwrap_or_default();
            let s = d.logs(&c.id, since, follow && c.running).map(move |l| (group.clone(), name.clone(), l));
            streams.push(Box::pin(s));
        }
        let mut all = futures_util::stream::select_all(streams);
        let mut out = std::io::stdout().lock();
        while let Some((group, stream, line)) = all.next().await {
            let line = line?;
            if json {
                writeln!(out, "{}", serde_json::json!({"log_group": group, "log_stream": stream, "message": line.text}))?;
            } else {
                writeln!(out, "{stream} {}", line.text)?;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

/// `chronous ssh`: a shell on the private side, through the simulated bastion.
pub fn ssh(v: &EnvView<'_>, instance: Option<&str>) -> Result<u8> {
    if v.backend == Backend::Aws {
        // As the seed document says: agent forwarding through the bastion.
        let st = StateStore::new(&v.state_dir)
            .load()?
            .unwrap_or_else(|| State::new(&v.env.name, v.backend, String::new()));
        let bastion = st
            .lookup("aws_instance.bastion", "public_ip")
            .and_then(|x| x.as_str().map(str::to_string))
            .ok_or_else(|| {
                exit(
                    EXIT_FAILURE,
                    "no bastion with a public IP is recorded: apply the environment first",
                )
            })?;
        let mut cmd = Command::new("ssh");
        cmd.arg("-A");
        match instance {
            Some(target) => {
                cmd.arg("-J")
                    .arg(format!("ec2-user@{bastion}"))
                    .arg(format!("ec2-user@{target}"));
            }
            None => {
                cmd.arg(format!("ec2-user@{bastion}"));
            }
        }
        if !v.json {
            eprintln!("If the bastion refuses you: `ssh-add` your key, and check that operator_cidr is still your public IP (then apply).");
        }
        let status = cmd
            .status()
            .context("cannot run ssh (is OpenSSH installed?)")?;
        return Ok(status.code().unwrap_or(1) as u8);
    }
    if !docker_runtime(v) {
        return Err(exit(EXIT_FAILURE, "the model runtime runs no bastion: use the docker runtime (unset CHRONOUS_SIM_RUNTIME)"));
    }
    let rt = rt()?;
    let id = rt.block_on(async {
        let d = Docker::connect().await?;
        Ok::<_, anyhow::Error>(
            d.list(&v.env.name, Some("bastion"))
                .await?
                .into_iter()
                .find(|c| c.running)
                .map(|c| c.id),
        )
    })?;
    let Some(id) = id else {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "no bastion runs for `{}`: apply the environment first",
                v.env.name
            ),
        ));
    };
    if let Some(i) = instance {
        eprintln!("note: container instances are modelled in the simulator; {i} has no shell of its own. This shell is on the bastion, on the environment's private network: the tasks and the database are reachable from here.");
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut cmd = Command::new("docker");
    cmd.arg("exec");
    if interactive {
        cmd.arg("-it");
    } else {
        cmd.arg("-i");
    }
    cmd.arg(&id).arg("bash");
    let status = cmd
        .status()
        .context("cannot run `docker exec` (is the docker command installed?)")?;
    Ok(status.code().unwrap_or(1) as u8)
}

/// Make `repo:tag` available as `target_repo:tag` where the service pulls from:
/// in the simulator, the local image store (a `docker tag`, as a push to ECR).
pub fn push_image(v: &EnvView<'_>, repo: &str, tag: &str, target_repo: &str) -> Result<()> {
    if v.backend == Backend::Aws {
        return Err(exit(
            EXIT_FAILURE,
            "pushing to ECR comes with the aws backend (issue 5)",
        ));
    }
    if !docker_runtime(v) {
        return Ok(());
    }
    let rt = rt()?;
    rt.block_on(async {
        let d = Docker::connect().await?;
        let source = format!("{repo}:{tag}");
        if !d.image_exists(&source).await? {
            return Err(exit(EXIT_FAILURE, format!("image {source} is not in the local Docker image store: build it, or `docker load` it")));
        }
        if repo != target_repo {
            d.tag_image(&source, target_repo, tag).await?;
            if !v.json {
                println!("Pushed {source} as {target_repo}:{tag} (the simulator's ECR is the local image store).");
            }
        }
        Ok(())
    })
}

/// Follow a rollout until every task runs the service's newest revision and is
/// healthy, printing the service's events as they come.
pub fn watch_rollout(v: &EnvView<'_>, timeout: u64, revision: Option<&str>) -> Result<u8> {
    if !docker_runtime(v) {
        if !v.json {
            println!("Deployed to the control plane (the model runtime runs no tasks; `chronous rehearse deploy` shows what the rollout does).");
        }
        return Ok(0);
    }
    let rt = rt()?;
    let t = Instant::now();
    let mut seen = 0usize;
    let mut first = true;
    let mut failure: Option<String> = None;
    loop {
        let s = fetch(v, &rt)?;
        // Only events from this rollout on.
        if first {
            seen = s.events.len();
            first = false;
        }
        for e in s.events.iter().skip(seen) {
            if let Some((_, why)) = e.message.split_once(") deployment failed: ") {
                failure = Some(format!("ECS deployment circuit breaker: {why}"));
            }
            if v.json {
                println!(
                    "{}",
                    serde_json::json!({"event": "service", "at": e.at, "message": e.message})
                );
            } else {
                println!("[{:>6.1}s] {}", t.elapsed().as_secs_f64(), e.message);
            }
        }
        seen = s.events.len();
        if let Some(svc) = s
            .service
            .as_ref()
            .filter(|svc| revision.is_none_or(|r| r == svc.requested_task_definition))
        {
            let primary = svc.deployments.first();
            let wanted = revision.unwrap_or(&svc.requested_task_definition);
            let failed = svc
                .deployments
                .iter()
                .find(|d| d.task_definition == wanted && d.rollout_state == "FAILED");
            let rolled_back = primary.is_some_and(|p| p.task_definition != wanted);
            if failed.is_some() || rolled_back {
                // The failed deployment leaves the list once its last task
                // stopped; its event still says why.
                let why = failed
                    .map(|d| d.rollout_state_reason.clone())
                    .or_else(|| failure.clone())
                    .unwrap_or_else(|| "ECS deployment circuit breaker".into());
                let back = primary
                    .filter(|p| p.task_definition != wanted)
                    .map(|p| format!("; rolled back to {}", p.task_definition))
                    .unwrap_or_default();
                if v.json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "rollout", "outcome": "failed", "seconds": t.elapsed().as_secs_f64(), "task_definition": wanted, "reason": why, "running": primary.map(|p| p.task_definition.clone())})
                    );
                }
                return Err(exit(
                    EXIT_FAILURE,
                    format!("the deployment of {wanted} failed after {:.1}s: {why}{back}. See `chronous status` (events) and `chronous logs`", t.elapsed().as_secs_f64()),
                ));
            }
            let done = svc.steady
                && primary
                    .is_some_and(|p| p.task_definition == wanted && p.rollout_state == "COMPLETED");
            if done {
                if v.json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "rollout", "outcome": "completed", "seconds": t.elapsed().as_secs_f64(), "task_definition": svc.task_definition})
                    );
                } else {
                    println!(
                        "\nRollout complete after {:.1}s: {} task(s) of {} healthy.",
                        t.elapsed().as_secs_f64(),
                        svc.desired,
                        svc.task_definition
                    );
                }
                return Ok(0);
            }
        }
        if t.elapsed() > Duration::from_secs(timeout) {
            return Err(exit(EXIT_FAILURE, format!("the rollout did not complete within {timeout} s: see `chronous status` (events) and `chronous logs`")));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A real rollout of the running simulated environment under load, measured
/// next to what the model predicted.
pub fn rehearse_docker(
    cli: &crate::cmd::Cli,
    v: &EnvView<'_>,
    a: &crate::cmd::RehearseArgs,
    predicted: &chronous_sim::rehearse::Rehearsal,
) -> Result<u8> {
    use chronous_sim::load::{self, LoadConfig};
    if !docker_runtime(v) {
        return Err(exit(EXIT_FAILURE, "the docker rehearsal needs the simulator's docker runtime (unset CHRONOUS_SIM_RUNTIME)"));
    }
    let st = StateStore::new(&v.state_dir)
        .load()?
        .unwrap_or_else(|| State::new(&v.env.name, v.backend, String::new()));
    let elb = state::outputs(&st, &v.env.network.azs)
        .get("elb_dns")
        .and_then(|x| x.as_str().map(str::to_string));
    let target: std::net::SocketAddr =
        elb.as_deref().and_then(|e| e.parse().ok()).ok_or_else(|| {
            exit(
                EXIT_FAILURE,
                "the environment is not up in the simulator: run `chronous apply` first",
            )
        })?;
    ensure_controller(v)?;
    let scale = time_scale(v);
    let path = v
        .env
        .load_balancer
        .as_ref()
        .and_then(|l| {
            l.health_check
                .target
                .split_once('/')
                .map(|(_, p)| format!("/{p}"))
        })
        .unwrap_or_else(|| "/".into());
    let rt = rt()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cfg = LoadConfig {
        target,
        path,
        rate: a.rate.clamp(1, 200),
        max_duration: Duration::from_secs(a.timeout + 30),
        max_requests: (a.rate.clamp(1, 200) as u64) * (a.timeout + 30),
        timeout: Duration::from_secs(5),
    };
    let load = rt.spawn(load::run(cfg, stop_rx));
    // A little traffic before the deployment starts, to see the baseline.
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let outcome = crate::cmd::rehearse_rollout(cli, a.image.as_deref(), a.timeout);
    let rollout_s = started.elapsed().as_secs_f64();
    // A little traffic after, so a late failure window is closed.
    std::thread::sleep(Duration::from_secs(2));
    let _ = stop_tx.send(true);
    let report = rt.block_on(load)?.map_err(|e| anyhow!("{e}"))?;
    let predicted_s = predicted.predicted_downtime_ms as f64 / 1000.0 / scale;
    let measured_s: f64 = report
        .failure_windows
        .iter()
        .map(|(s, e)| (e - s) as f64 / 1000.0 + 1.0 / a.rate as f64)
        .sum();
    if v.json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "event": "rehearsal",
                "predicted": predicted, "time_scale": scale, "predicted_downtime_scaled_s": predicted_s,
                "measured": {"sent": report.sent, "ok": report.ok, "failed": report.failed, "failure_windows_ms": report.failure_windows, "downtime_s": measured_s},
                "rollout_seconds": rollout_s, "rollout_ok": outcome.is_ok(),
            }))?
        );
    } else {
        println!(
            "\nUnder load: {} requests, {} failed, in {:.1} s of rollout (time scale {scale}).",
            report.sent, report.failed, rollout_s
        );
        for (s, e) in &report.failure_windows {
            println!(
                "  failed requests from +{:.2}s to +{:.2}s",
                *s as f64 / 1000.0,
                *e as f64 / 1000.0
            );
        }
        println!("measured downtime: {measured_s:.1} s; predicted: {predicted_s:.1} s ({} at AWS's timings, divided by the time scale {scale})", chronous_sim::rehearse::fmt_ms(predicted.predicted_downtime_ms));
    }
    outcome.map(|_| 0)
}

/// `chronous logs` on AWS: the log group's streams of the service, from CloudWatch.
fn aws_logs(
    v: &EnvView<'_>,
    follow: bool,
    since: Option<&str>,
    endpoint: Option<&str>,
) -> Result<u8> {
    let mut opts = chronous_aws::AwsOptions::new(&v.env.region, &v.env.name, v.dir);
    if let Some(e) = endpoint {
        opts.endpoint = Some(e.to_string());
    }
    let rt = rt()?;
    let p = rt
        .block_on(chronous_aws::AwsProvider::connect(opts))
        .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
    let group = v.env.logs.group.clone();
    let prefix = v.env.logs.stream_prefix.clone();
    let mut start = since.map(parse_since).transpose()?.map(|s| s * 1000);
    loop {
        let events = rt
            .block_on(p.log_events(&group, Some(&prefix), start, 10_000))
            .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
        for e in &events {
            if v.json {
                println!(
                    "{}",
                    serde_json::json!({"log_group": group, "log_stream": e.stream, "timestamp": e.timestamp, "message": e.message})
                );
            } else {
                println!("{} {}", e.stream, e.message);
            }
        }
        if let Some(last) = events.last() {
            start = Some(last.timestamp + 1);
        }
        if !follow {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
