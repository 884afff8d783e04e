//! The steps `plan`, `apply`, `destroy`, `deploy` and `rehearse` share:
//! refresh and plan through the backend's provider ([`refresh_and_plan`]),
//! print the plan ([`show_plan`]: core's `Plan::render`, or JSON), ask for
//! approval ([`approve`]), and apply it with the engine, printing each step as
//! it starts and ends and the summary ([`apply_plan`]).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use chronous_core::engine::{self, ApplyConfig, Event, Outcome};
use chronous_core::plan::{self, Plan, PlanOptions};
use chronous_core::resources;
use chronous_core::state::{self, State};

use crate::context::Ctx;
use crate::ui::{self, exit, exit_printed, EXIT_FAILURE};

/// Refresh the recorded objects through the backend, then plan against the environment file.
pub fn refresh_and_plan(
    ctx: &Ctx,
    recorded: &State,
    destroy: bool,
    replace: &[String],
    parallelism: usize,
) -> Result<Plan> {
    let opts = PlanOptions {
        destroy,
        replace: replace.iter().cloned().collect::<BTreeSet<_>>(),
        allow_replace_adopted: false,
        allow_adopted: Default::default(),
    };
    refresh_and_plan_with(ctx, recorded, opts, parallelism)
}

/// [`refresh_and_plan`] with every plan option.
pub fn refresh_and_plan_with(
    ctx: &Ctx,
    recorded: &State,
    opts: PlanOptions,
    parallelism: usize,
) -> Result<Plan> {
    let rt = ctx.rt()?;
    let p = ctx.backend.provider(ctx)?;
    if !ctx.json && !recorded.is_empty() {
        eprintln!(
            "Refreshing {} recorded objects...",
            recorded.resources.len() + recorded.deposed.len()
        );
    }
    let (refreshed, errors) = rt.block_on(engine::refresh(recorded, &p, parallelism));
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|(a, e)| format!("  {a}: {e}")).collect();
        bail!(
            "could not refresh {} object(s):\n{}",
            errors.len(),
            lines.join("\n")
        );
    }
    let desired = resources::expand(&ctx.env);
    Ok(plan::plan(desired, recorded, &refreshed, &opts)?)
}

/// Print the plan: as Terraform would, or as JSON.
pub fn show_plan(ctx: &Ctx, p: &Plan) {
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(p).expect("plans serialize")
        );
    } else {
        print!("{}", p.render());
    }
}

/// Ask `question` on the terminal; only `yes` goes on.
pub fn approve(ctx: &Ctx, question: &str) -> Result<()> {
    if ctx.json || !std::io::stdin().is_terminal() {
        return Err(exit(EXIT_FAILURE, "approval is needed but there is no terminal to ask on: review the plan, then pass --auto-approve (or apply a saved plan file)"));
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        return Err(exit(EXIT_FAILURE, "cancelled: nothing was changed"));
    }
    Ok(())
}

/// Apply `p` to the recorded state `st` with the engine: each step printed as
/// it starts and ends, the journal folded into a new snapshot, the backend's
/// runtime kept in step, then the summary.
pub fn apply_plan(ctx: &Ctx, mut st: State, p: &Plan, parallelism: usize) -> Result<u8> {
    if !p.has_changes() {
        if !ctx.json {
            println!("\nNothing to do.");
        }
        return Ok(0);
    }
    ctx.ensure_saved(&mut st)?;
    let rt = ctx.rt()?;
    let provider = ctx.backend.provider(ctx)?;
    let mut journal = ctx.store.journal(&st)?;
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c.store(true, Ordering::SeqCst);
            }
        });
    }
    let started = Instant::now();
    let mut starts: HashMap<String, Instant> = HashMap::new();
    let json = ctx.json;
    let mut on_event = |e: Event<'_>| print_event(json, &mut starts, e);
    let config = ApplyConfig {
        parallelism,
        cancel: Some(&cancel),
    };
    let outcome: Outcome = rt.block_on(engine::apply(
        p,
        &mut st,
        &provider,
        &mut journal,
        &config,
        &mut on_event,
    ))?;
    drop(journal);
    // Compact: the journal is folded into a new snapshot.
    ctx.store.save(&st)?;
    provider.compact()?;
    ctx.backend.after_apply(ctx, &st)?;
    print_summary(ctx, &st, p, &outcome, started.elapsed().as_secs_f64())
}

/// One step of an apply as it starts, ends or fails; `starts` times the steps.
fn print_event(json: bool, starts: &mut HashMap<String, Instant>, e: Event<'_>) {
    match e {
        Event::Started { address, op } => {
            starts.insert(format!("{address}{op:?}"), Instant::now());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "started", "address": address, "op": op})
                );
            } else {
                println!("{address}: {}", ui::past_tense(op).0);
            }
        }
        Event::Finished { address, op, id } => {
            let took = starts
                .get(&format!("{address}{op:?}"))
                .map(|t| t.elapsed().as_secs_f64())
                .unwrap_or(0.0);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "finished", "address": address, "op": op, "id": id, "seconds": took})
                );
            } else {
                let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
                println!("{address}: {} after {took:.2}s{id}", ui::past_tense(op).1);
            }
        }
        Event::Failed { address, op, error } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "failed", "address": address, "op": op, "error": error.message, "kind": error.kind, "hint": error.hint})
                );
            } else {
                eprintln!("{address}: {:?} failed: {}", op, error.message);
                if let Some(h) = &error.hint {
                    eprintln!("  hint: {h}");
                }
            }
        }
    }
}

/// The end of an apply: the JSON summary, or what completed, failed and the outputs.
fn print_summary(ctx: &Ctx, st: &State, p: &Plan, outcome: &Outcome, secs: f64) -> Result<u8> {
    let (add, change, destroy, replace) = p.counts();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "summary", "ok": outcome.ok(), "completed": outcome.completed, "failed": outcome.failed.len(),
                "not_started": outcome.not_started, "interrupted": outcome.interrupted, "seconds": secs, "serial": st.serial,
            })
        );
    }
    if let Some(e) = &outcome.journal_error {
        return Err(exit(EXIT_FAILURE, format!("{e}. Steps that completed after the last recorded one are adopted by the next apply.")));
    }
    if !outcome.ok() {
        if !ctx.json {
            let why = if outcome.interrupted {
                "interrupted"
            } else {
                "failed"
            };
            eprintln!(
                "\nApply {why}: {} step(s) completed and recorded, {} failed, {} not started. Run `chronous apply` again to continue from here.",
                outcome.completed,
                outcome.failed.len(),
                outcome.not_started
            );
        }
        return Err(exit_printed(EXIT_FAILURE));
    }
    if !ctx.json {
        if p.destroy {
            println!(
                "\nDestroy complete! Resources: {} destroyed in {secs:.2}s.",
                destroy
            );
        } else {
            println!("\nApply complete! Resources: {} added, {change} changed, {} destroyed in {secs:.2}s.", add + replace, destroy + replace);
            let outs = state::outputs(st, &ctx.env.network.azs);
            println!("\nOutputs:\n");
            for (k, v) in outs {
                println!("{k} = {v}");
            }
        }
    }
    Ok(0)
}
