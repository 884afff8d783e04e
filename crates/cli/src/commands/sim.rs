//! `chronous sim console-set | console-delete | objects`: act on the simulated
//! cloud directly, behind chronous's back, as the AWS console would (drift),
//! whichever backend the environment uses. `chronous sim start` brings the
//! running simulation back with one command; `sim elb` is the load
//! balancer's process (started by the CLI).

use anyhow::{anyhow, Result};

use crate::ui::{exit, EXIT_FAILURE};
use chronous_docker::Docker;

use crate::backend::sim::controller;
use crate::backend::SimBackend;
use crate::cli::SimCmd;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, s: &SimCmd) -> Result<u8> {
    match s {
        SimCmd::Elb => return controller::run_elb(ctx),
        SimCmd::Start { timeout } => return start(ctx, *timeout),
        SimCmd::ConsoleSet { .. } | SimCmd::ConsoleDelete { .. } | SimCmd::Objects => {}
    }
    let p = SimBackend::new().open(ctx)?;
    match s {
        SimCmd::Elb | SimCmd::Start { .. } => unreachable!("handled above"),
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
    }
    p.compact().map_err(|e| anyhow!("{e}"))?;
    Ok(0)
}

/// `chronous sim start`: the database and bastion containers started again
/// if they stopped, the load balancer's process and the controller (which
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
    if !controller::needs_controller(&st) {
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
