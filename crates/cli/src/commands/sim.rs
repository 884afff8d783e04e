//! `chronous sim console-set | console-delete | objects`: act on the simulated
//! cloud directly, behind chronous's back, as the AWS console would (drift),
//! whichever backend the environment uses. `chronous sim fault ...`: inject a
//! fault into the running simulation (the controller carries it out).
//! `chronous sim start` brings the running simulation back with one command;
//! `sim elb` is the load balancer's process (started by the CLI).

use anyhow::{anyhow, Result};
use chronous_docker::Docker;
use chronous_sim::controller::{self, Fault, FaultReport, Request};

use crate::backend::sim::controller as ctl;
use crate::backend::SimBackend;
use crate::cli::{FaultCmd, SimCmd};
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

pub fn run(ctx: &Ctx, s: &SimCmd) -> Result<u8> {
    match s {
        SimCmd::Elb => ctl::run_elb(ctx),
        SimCmd::Start { timeout } => start(ctx, *timeout),
        SimCmd::Fault(f) => fault(ctx, f),
        SimCmd::ConsoleSet { .. } | SimCmd::ConsoleDelete { .. } | SimCmd::Objects => {
            console(ctx, s)
        }
    }
}

/// The console calls: change, delete or list objects of the simulated cloud.
fn console(ctx: &Ctx, s: &SimCmd) -> Result<u8> {
    let p = SimBackend::new().open(ctx)?;
    match s {
        SimCmd::ConsoleSet {
            address,
            attribute,
            value,
        } => {
            let v: serde_json::Value = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let id = p
                .with_cloud(|c| c.console_set(address, attribute, v))
                .map_err(|e| anyhow!("{e}"))?;
            println!("Changed {attribute} of {address} ({id}) in the simulated cloud.");
        }
        SimCmd::ConsoleDelete { address } => {
            let ids = p
                .with_cloud(|c| c.console_delete(address))
                .map_err(|e| anyhow!("{e}"))?;
            println!(
                "Deleted {address} ({}) from the simulated cloud.",
                ids.join(", ")
            );
        }
        SimCmd::Objects => {
            let mut objs: Vec<_> = p.with_cloud(|c| {
                c.objects()
                    .map(|o| (o.address.clone(), o.id.clone(), o.kind))
                    .collect()
            });
            objs.sort();
            if ctx.json {
                let v: Vec<_> = objs
                    .iter()
                    .map(|(a, i, k)| serde_json::json!({"address": a, "id": i, "kind": k}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (a, i, _) in objs {
                    println!("{a}\t{i}");
                }
            }
        }
        SimCmd::Elb | SimCmd::Start { .. } | SimCmd::Fault(_) => {
            return Err(anyhow!("`sim {s:?}` is not a console call"))
        }
    }
    p.compact().map_err(|e| anyhow!("{e}"))?;
    Ok(0)
}

/// A duration flag (`2m`, `90s`) in milliseconds.
fn millis(flag: &str, v: &str) -> Result<u64> {
    humantime::parse_duration(v)
        .map(|d| d.as_millis() as u64)
        .map_err(|e| exit(EXIT_USAGE, format!("{flag} {v}: {e} (write e.g. 90s, 2m)")))
}

/// `chronous sim fault ...`: the controller of the running simulation
/// injects the fault and says what it hit.
fn fault(ctx: &Ctx, f: &FaultCmd) -> Result<u8> {
    let fault = match f {
        FaultCmd::Crash { task } => Fault::Crash { task: task.clone() },
        FaultCmd::FailingHealth { task, for_ } => Fault::FailingHealth {
            task: task.clone(),
            for_ms: millis("--for", for_)?,
        },
        FaultCmd::InstanceLost {
            instance,
            replace_after,
        } => Fault::InstanceLost {
            instance: instance.clone(),
            replace_ms: millis("--replace-after", replace_after)?,
        },
        FaultCmd::RestartDb => Fault::RestartDb,
    };
    if ctx.backend.kind() != chronous_core::env::Backend::Sim || !SimBackend::new().docker() {
        return Err(exit(
            EXIT_FAILURE,
            "faults are injected into the simulator's running containers: this environment does not run them (use the sim backend with the docker runtime; `chronous rehearse deploy --fault` rehearses faults on the model)",
        ));
    }
    if !ctl::needs_controller(&ctx.recorded()?) {
        return Err(exit(
            EXIT_FAILURE,
            "nothing runs in this environment yet: `chronous apply` it first",
        ));
    }
    ctl::ensure(ctx)?;
    let answer = ctx.rt()?.block_on(controller::request(
        &ctx.state_dir(),
        &Request::Fault {
            fault: fault.clone(),
        },
    ))?;
    if let Some(e) = answer.get("error").and_then(|e| e.as_str()) {
        return Err(exit(
            EXIT_FAILURE,
            format!("sim fault {}: {e}", fault.name()),
        ));
    }
    let report: FaultReport = serde_json::from_value(answer)
        .map_err(|e| anyhow!("the controller's answer does not parse: {e}"))?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("Injected {}: {}.", report.fault, report.message);
        println!("Watch the reaction with `chronous status` (events, tasks, load balancer).");
    }
    Ok(0)
}

/// `chronous sim start`: the database and bastion containers started again
/// if they stopped (the database waited for until it answers), the load balancer's process and the controller (which
/// re-runs the tasks whose containers stopped), then wait until healthy.
fn start(ctx: &Ctx, timeout: u64) -> Result<u8> {
    let sim = SimBackend::new();
    if !sim.docker() {
        return Err(exit(
            EXIT_FAILURE,
            "`sim start` starts the simulator's real-container runtime: unset CHRONOUS_SIM_RUNTIME",
        ));
    }
    let st = ctx.recorded()?;
    if !ctl::needs_controller(&st) {
        return Err(exit(
            EXIT_FAILURE,
            format!("nothing runs in `{}`: apply first", ctx.env.name),
        ));
    }
    let started = ctx.rt()?.block_on(async {
        let d = Docker::connect().await?;
        let mut started = Vec::new();
        for role in ["db", "bastion"] {
            for c in d.list(&ctx.env.name, Some(role)).await? {
                if !c.running {
                    d.start_container(&c.id).await?;
                    if role == "db" {
                        // The ELB's kept state makes the service look healthy
                        // at once; the app needs the database answering first.
                        wait_db_ready(&d, &c.name, timeout).await?;
                    }
                    started.push(c.name);
                }
            }
        }
        Ok::<_, anyhow::Error>(started)
    })?;
    if !ctx.json {
        for name in &started {
            eprintln!("Started the stopped container {name}.");
        }
    }
    let live = sim.observe(ctx, &st, true, timeout)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": ctx.env.name, "started_containers": started,
                "runtime": live.runtime, "database": live.database,
            }))?
        );
    } else {
        let url = live
            .runtime
            .as_ref()
            .and_then(|r| r.elb.as_ref())
            .map(|e| e.url.clone())
            .unwrap_or_default();
        println!(
            "`{}` is running: the service is healthy behind {url}.",
            ctx.env.name
        );
    }
    Ok(0)
}

/// Until the database server in `container` answers its readiness check
/// (`chronous_sim::db::answers`), or `timeout_secs` pass.
async fn wait_db_ready(d: &Docker, container: &str, timeout_secs: u64) -> Result<()> {
    let t = std::time::Instant::now();
    loop {
        if chronous_sim::db::answers(d, container).await {
            return Ok(());
        }
        if t.elapsed().as_secs() >= timeout_secs {
            return Err(exit(
                EXIT_FAILURE,
                format!("the database container {container} was started but does not answer after {timeout_secs} s: see `docker logs {container}`"),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
}
