//! `chronous rehearse deploy`: the deployment on the modelled runtime (a
//! timeline, the predicted downtime, settings that avoid it), and with
//! `--runtime docker` the same deployment for real on the simulator's
//! containers under load, measured next to the prediction.
//! `chronous rehearse incident`: faults with no deployment on the modelled
//! runtime, what happens to traffic and when the service is steady again.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use chronous_core::resources::Kind;
use chronous_core::state;
use chronous_rehearse::fault::fmt_flag_ms;
use chronous_rehearse::incident::{rehearse_incident, IncidentInput};
use chronous_rehearse::rehearse::{
    fmt_ms, parse_duration_ms, rehearse_deploy, FaultSpec, Rehearsal, RehearseError, RehearseInput,
};
use chronous_sim::load::{self, LoadConfig};

use crate::backend::sim::controller;
use crate::cli::{DeployArgs, IncidentArgs, RehearseArgs};
use crate::context::Ctx;
use crate::planning::{apply_plan, refresh_and_plan};
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

/// The seed given, or one drawn from the clock (printed with the report).
fn seed_or_drawn(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        t % 1_000_000_007
    })
}

/// `--fault` values, or a usage error naming the first one that is wrong.
fn parse_faults(faults: &[String]) -> Result<Vec<FaultSpec>> {
    faults
        .iter()
        .map(|f| {
            f.parse::<FaultSpec>()
                .map_err(|e| exit(EXIT_USAGE, e.to_string()))
        })
        .collect()
}

/// A rehearsal's error: what the caller asked that cannot be rehearsed is a
/// usage error, anything else a failure to reproduce with the seed.
fn rehearse_error(e: RehearseError, seed: u64) -> anyhow::Error {
    match e {
        RehearseError::NoTimedFault => {
            exit(EXIT_USAGE, format!("{e}; add one, e.g. --fault crash@2m"))
        }
        RehearseError::FaultAfterEnd { ref fault, .. } => {
            let at = fault.at_ms().unwrap_or(0);
            exit(
                EXIT_USAGE,
                format!(
                    "{e}: make --for longer than {}, or leave it out and the rehearsal runs until every fault has played out",
                    fmt_flag_ms(at)
                ),
            )
        }
        e => anyhow!("the rehearsal failed: {e} (reproduce with --seed {seed})"),
    }
}

fn write_svg(path: Option<&std::path::Path>, svg: impl FnOnce() -> String) -> Result<()> {
    if let Some(p) = path {
        std::fs::write(p, svg()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// `rehearse incident`: faults with no deployment, on the modelled runtime.
pub fn incident(ctx: &mut Ctx, a: &IncidentArgs) -> Result<u8> {
    let seed = seed_or_drawn(a.seed);
    let mut input = IncidentInput::from_environment(&ctx.env);
    input.seed = seed;
    input.faults = parse_faults(&a.faults)?;
    if input.faults.is_empty() {
        return Err(exit(
            EXIT_USAGE,
            "rehearse incident needs a --fault: crash@2m, failing-health@2m+5m or instance-lost@10m (repeatable)",
        ));
    }
    if let Some(f) = &a.for_ {
        let ms = parse_duration_ms(f).filter(|ms| *ms > 0).ok_or_else(|| {
            exit(
                EXIT_USAGE,
                format!("invalid --for `{f}`: not a duration (use 90s, 30m or 1h)"),
            )
        })?;
        input.horizon_ms = Some(ms);
    }
    let r = rehearse_incident(&input).map_err(|e| rehearse_error(e, seed))?;
    write_svg(a.svg.as_deref(), || r.render_svg())?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.render_text());
        println!("(reproduce with --seed {seed})");
        if let Some(svg) = &a.svg {
            println!("timeline picture: {}", svg.display());
        }
    }
    Ok(0)
}

pub fn run(ctx: &mut Ctx, a: &RehearseArgs) -> Result<u8> {
    let seed = seed_or_drawn(a.seed);
    let mut input = RehearseInput::from_environment(&ctx.env, a.image.as_deref());
    input.seed = seed;
    input.faults = parse_faults(&a.faults)?;
    let predicted = rehearse_deploy(&input).map_err(|e| rehearse_error(e, seed))?;
    write_svg(a.svg.as_deref(), || predicted.render_svg())?;
    match a.runtime.as_str() {
        "model" => {
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&predicted)?);
            } else {
                print!("{}", predicted.render_text());
                println!("(reproduce with --seed {seed})");
                if let Some(svg) = &a.svg {
                    println!("timeline picture: {}", svg.display());
                }
            }
            Ok(0)
        }
        "docker" => {
            if !a.faults.is_empty() {
                return Err(exit(EXIT_USAGE, "faults are injected in the model runtime; in the docker runtime, use docker kill / docker pause on the task containers"));
            }
            if !ctx.json {
                print!("{}", predicted.render_text());
                println!("\nNow the same deployment for real, under load ({} requests/s through the load balancer):\n", a.rate);
            }
            rehearse_docker(ctx, a, &predicted)
        }
        other => Err(exit(
            EXIT_USAGE,
            format!("--runtime {other}: use model or docker"),
        )),
    }
}

/// A real rollout of the running simulated environment under load, measured
/// next to what the model predicted.
fn rehearse_docker(ctx: &mut Ctx, a: &RehearseArgs, predicted: &Rehearsal) -> Result<u8> {
    if !ctx.backend.runs_containers() {
        return Err(exit(EXIT_FAILURE, "the docker rehearsal needs the simulator's docker runtime (unset CHRONOUS_SIM_RUNTIME)"));
    }
    let st = ctx.recorded()?;
    let elb = state::outputs(&st, &ctx.env.network.azs)
        .get("elb_dns")
        .and_then(|x| x.as_str().map(str::to_string));
    let target: std::net::SocketAddr =
        elb.as_deref().and_then(|e| e.parse().ok()).ok_or_else(|| {
            exit(
                EXIT_FAILURE,
                "the environment is not up in the simulator: run `chronous apply` first",
            )
        })?;
    controller::ensure(ctx)?;
    let scale = controller::time_scale(ctx);
    let path = ctx
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cfg = LoadConfig {
        target,
        path,
        rate: a.rate.clamp(1, 200),
        max_duration: Duration::from_secs(a.timeout + 30),
        max_requests: (a.rate.clamp(1, 200) as u64) * (a.timeout + 30),
        timeout: Duration::from_secs(5),
    };
    let load = ctx.rt()?.spawn(load::run(cfg, stop_rx));
    // A little traffic before the deployment starts, to see the baseline.
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let outcome = rehearse_rollout(ctx, a.image.as_deref(), a.timeout);
    let rollout_s = started.elapsed().as_secs_f64();
    // A little traffic after, so a late failure window is closed.
    std::thread::sleep(Duration::from_secs(2));
    let _ = stop_tx.send(true);
    let report = ctx.rt()?.block_on(load)?.map_err(|e| anyhow!("{e}"))?;
    let predicted_s = predicted.predicted_downtime_ms as f64 / 1000.0 / scale;
    let measured_s: f64 = report
        .failure_windows
        .iter()
        .map(|(s, e)| (e - s) as f64 / 1000.0 + 1.0 / a.rate as f64)
        .sum();
    if ctx.json {
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
        println!("measured downtime: {measured_s:.1} s; predicted: {predicted_s:.1} s ({} at AWS's timings, divided by the time scale {scale})", fmt_ms(predicted.predicted_downtime_ms));
    }
    outcome.map(|_| 0)
}

/// The deployment of a rehearsal under load: with `--image`, as `deploy`;
/// without, a forced new deployment (the task definition is replaced).
fn rehearse_rollout(ctx: &mut Ctx, image: Option<&str>, timeout: u64) -> Result<u8> {
    match image {
        Some(i) => super::deploy::run(
            ctx,
            &DeployArgs {
                image: Some(i.to_string()),
                force_new_deployment: false,
                auto_approve: true,
                timeout,
                parallelism: 10,
            },
        ),
        None => {
            {
                let _lock = ctx.lock("chronous rehearse deploy")?;
                let recorded = ctx.load_state()?;
                let td = recorded
                    .resources
                    .values()
                    .find(|r| r.kind == Kind::EcsTaskDefinition)
                    .map(|r| r.address.clone())
                    .ok_or_else(|| {
                        exit(
                            EXIT_FAILURE,
                            "nothing is deployed: apply the environment first",
                        )
                    })?;
                let p = refresh_and_plan(ctx, &recorded, false, &[td], 10)?;
                if !ctx.json {
                    print!("{}", p.render());
                }
                apply_plan(ctx, recorded, &p, 10)?;
            }
            ctx.backend.wait_rollout(ctx, timeout)
        }
    }
}
