//! `chronous sim console-set | console-delete | objects`: act on the simulated
//! cloud directly, behind chronous's back, as the AWS console would (drift),
//! whichever backend the environment uses. `chronous sim fault ...`: inject a
//! fault into the running simulation (the controller carries it out).

use anyhow::{anyhow, Result};
use chronous_sim::controller::{self, Fault, FaultReport, Request};

use crate::backend::sim::controller as ctl;
use crate::backend::SimBackend;
use crate::cli::{FaultCmd, SimCmd};
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

pub fn run(ctx: &Ctx, s: &SimCmd) -> Result<u8> {
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
        SimCmd::Fault(f) => return fault(ctx, f),
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
