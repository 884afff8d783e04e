//! `chronous check reach [FROM TO PORT[/PROTO]]`: who can reach what, decided
//! offline by core's engine (`chronous_core::reach`): one question with the
//! hops that decided it, or the full matrix. From the environment file, or
//! for what is deployed: the state as recorded (`--deployed`) or refreshed
//! through the backend first (`--refresh`, not written back). A question,
//! not a test: exit 0 whether allowed or blocked.

use anyhow::{bail, Result};
use chronous_core::engine;
use chronous_core::reach::{self, Endpoint, Facts, Network, Service};

use crate::cli::ReachArgs;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

pub fn run(ctx: &Ctx, a: &ReachArgs) -> Result<u8> {
    let question = match (&a.from, &a.to, &a.service) {
        (None, None, None) => None,
        (Some(f), Some(t), Some(s)) => Some(parse(f, t, s)?),
        _ => {
            return Err(exit(
                EXIT_USAGE,
                "give FROM, TO and PORT[/PROTO] (e.g. `chronous check reach bastion instances 22`), or nothing for the full matrix",
            ))
        }
    };
    let (net, source) = network(ctx, a)?;
    match question {
        Some((from, to, svc)) => {
            let v = reach::reach(&net, from, to, svc);
            if ctx.json {
                let out = serde_json::json!({
                    "environment": ctx.env.name,
                    "source": source,
                    "from": from,
                    "to": to,
                    "service": svc.to_string(),
                    "allowed": v.allowed,
                    "partial": v.partial,
                    "summary": v.summary,
                    "steps": v.steps,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", v.render(from, to, svc));
                if source != "file" {
                    println!("  (as deployed: {source})");
                }
            }
        }
        None => {
            let m = reach::matrix(&net);
            if ctx.json {
                let mut out = serde_json::to_value(&m)?;
                out["source"] = source.into();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", m.render());
                if source != "file" {
                    println!("(as deployed: {source})");
                }
            }
        }
    }
    Ok(0)
}

fn parse(from: &str, to: &str, svc: &str) -> Result<(Endpoint, Endpoint, Service)> {
    let endpoint = |s: &str| {
        s.parse::<Endpoint>().map_err(|e| {
            exit(
                EXIT_USAGE,
                format!("{e} (the private side is a host in the private subnets with no group of the environment)"),
            )
        })
    };
    let service = svc
        .parse::<Service>()
        .map_err(|e| exit(EXIT_USAGE, e.to_string()))?;
    Ok((endpoint(from)?, endpoint(to)?, service))
}

/// The network to answer for, and where it comes from (`file`, `state`, `refreshed`).
fn network(ctx: &Ctx, a: &ReachArgs) -> Result<(Network, &'static str)> {
    if !(a.deployed || a.refresh) {
        return Ok((Network::from_env(&ctx.env), "file"));
    }
    let mut st = ctx.load_state()?;
    if st.resources.is_empty() {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "nothing of environment `{}` is deployed yet: run `chronous apply` first, or leave out --deployed/--refresh to answer for the file",
                ctx.env.name
            ),
        ));
    }
    let mut source = "state";
    if a.refresh {
        let p = ctx.backend.provider(ctx)?;
        if !ctx.json {
            eprintln!("Refreshing {} recorded objects...", st.resources.len());
        }
        let (refreshed, errors) = ctx.rt()?.block_on(engine::refresh(&st, &p, 10));
        if !errors.is_empty() {
            let lines: Vec<String> = errors.iter().map(|(a, e)| format!("  {a}: {e}")).collect();
            bail!(
                "could not refresh {} object(s):\n{}",
                errors.len(),
                lines.join("\n")
            );
        }
        st = refreshed;
        source = "refreshed";
    }
    let facts = Facts::from_env(&ctx.env).with_state(&st);
    let net = Network::from_resources(&reach::recorded_resources(&st), &facts);
    Ok((net, source))
}
