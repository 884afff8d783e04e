//! The steps `plan`, `apply`, `destroy`, `deploy` and `rehearse` share:
//! refresh and plan through the backend's provider ([`refresh_and_plan`]:
//! on AWS the data sources are read while planning and the plan names the
//! account and region), print the plan ([`show_plan`]: core's `Plan::render`,
//! or JSON), ask for approval ([`approve`]), and apply it with the engine,
//! printing each step as it starts and ends and the summary ([`apply_plan`]),
//! where steps that failed the same way are one error naming the steps
//! ([`Failures`]).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use chronous_core::engine::{self, ApplyConfig, Event, Outcome};
use chronous_core::plan::{self, Plan, PlanOptions};
use chronous_core::provider::ProviderError;
use chronous_core::resources::{self, Resource, Spec};
use chronous_core::state::{self, ResourceRecord, State};
use chronous_core::value::{has_unknown, resolve};

use crate::backend::Provider;
use crate::context::Ctx;
use crate::ui::{self, exit, exit_hint, exit_printed, EXIT_FAILURE};

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
    let (mut refreshed, errors) = rt.block_on(engine::refresh(recorded, &p, parallelism));
    if !errors.is_empty() {
        let mut f = Failures::default();
        for (a, e) in &errors {
            f.add(a, e);
        }
        bail!(
            "could not refresh {} object(s):\n{}",
            errors.len(),
            f.render("objects")
        );
    }
    let desired = resources::expand(&ctx.env);
    let mut known = recorded.clone();
    let read = if opts.destroy {
        vec![]
    } else {
        read_data_sources(ctx, &p, &desired, &mut known, &mut refreshed)?
    };
    let mut planned = plan::plan(desired, &known, &refreshed, &opts)?;
    // What was read is written by apply only where it differs from the record.
    planned.data_sources = read
        .into_iter()
        .filter(|r| {
            recorded.resources.get(&r.address).is_none_or(|old| {
                (&old.id, &old.attrs, &old.outputs) != (&r.id, &r.attrs, &r.outputs)
            })
        })
        .map(|mut r| {
            if let Some(c) = planned.changes.iter().find(|c| c.address == r.address) {
                r.deps = c.deps.clone();
            }
            r
        })
        .collect();
    planned.target = ctx.backend.target(ctx)?;
    Ok(planned)
}

/// Read the data sources of `desired` that refer to no other object, as the
/// backend reads them while planning (AWS: the AMI look-up; the simulator
/// reads none), into both states the plan is made from: the plan then uses
/// what they name (the AMI id) and shows no change for them.
fn read_data_sources(
    ctx: &Ctx,
    p: &Provider<'_>,
    desired: &[Resource],
    known: &mut State,
    refreshed: &mut State,
) -> Result<Vec<ResourceRecord>> {
    let rt = ctx.rt()?;
    let mut read = Vec::new();
    for r in desired {
        // Only what refers to no other object: a reference may name an
        // object this very plan replaces.
        let attrs = resolve(&r.spec.to_attrs(), &|_| None);
        if has_unknown(&attrs) {
            continue;
        }
        let Ok(spec) = Spec::from_attrs(r.kind(), &attrs) else {
            continue;
        };
        let started = Instant::now();
        let o = match rt.block_on(p.read_at_plan(&r.address, &spec)) {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(e) => {
                return Err(match e.hint {
                    Some(h) => exit_hint(EXIT_FAILURE, e.message, h),
                    None => exit(EXIT_FAILURE, e.message),
                })
            }
        };
        if !ctx.json {
            eprintln!(
                "{}: Read complete after {:.2}s [id={}]",
                r.address,
                started.elapsed().as_secs_f64(),
                o.id
            );
        }
        let rec = ResourceRecord {
            address: r.address.clone(),
            kind: r.kind(),
            id: o.id,
            attrs: o.attrs,
            outputs: o.outputs,
            deps: vec![],
            tainted: false,
        };
        known.resources.insert(rec.address.clone(), rec.clone());
        refreshed.resources.insert(rec.address.clone(), rec.clone());
        read.push(rec);
    }
    Ok(read)
}

/// Failed steps (or refreshes), those with the same cause together: one
/// problem hitting several steps is reported once, naming them.
#[derive(Default)]
pub struct Failures {
    /// (cause, hint) -> the full message of the first, and the addresses.
    groups: Vec<((String, Option<String>), String, Vec<String>)>,
}

impl Failures {
    pub fn add(&mut self, address: &str, e: &ProviderError) {
        let key = (cause_of(address, e), e.hint.clone());
        match self.groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.2.push(address.to_string()),
            None => self
                .groups
                .push((key, e.message.clone(), vec![address.to_string()])),
        }
    }

    /// Each failure as a person reads it: the message (or, when several
    /// `what` failed alike, their number, the cause and the addresses), the hint.
    pub fn render(&self, what: &str) -> String {
        let mut o = String::new();
        for ((cause, hint), message, addresses) in &self.groups {
            if addresses.len() == 1 {
                o.push_str(&format!("  {message}\n"));
            } else {
                o.push_str(&format!(
                    "  {} {what} failed with the same error: {cause}\n",
                    addresses.len()
                ));
                for a in addresses {
                    o.push_str(&format!("    {a}\n"));
                }
            }
            if let Some(h) = hint {
                o.push_str(&format!("    hint: {h}\n"));
            }
        }
        o.trim_end().to_string()
    }

    /// The groups as JSON: the error, the hint, the addresses.
    pub fn json(&self) -> serde_json::Value {
        self.groups
            .iter()
            .map(|((cause, hint), message, addresses)| {
                serde_json::json!({
                    "error": if addresses.len() == 1 { message } else { cause },
                    "hint": hint,
                    "addresses": addresses,
                })
            })
            .collect()
    }
}

/// What failed without the address: the backend's cause, or the message
/// without its leading `ADDRESS: `.
fn cause_of(address: &str, e: &ProviderError) -> String {
    e.cause.clone().unwrap_or_else(|| {
        e.message
            .strip_prefix(address)
            .and_then(|m| m.strip_prefix(": "))
            .unwrap_or(&e.message)
            .to_string()
    })
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
                    serde_json::json!({"event": "failed", "address": address, "op": op, "error": error.message, "kind": error.kind, "hint": error.hint, "cause": error.cause})
                );
            } else {
                // What failed, and why, is said once at the end (see `Failures`).
                eprintln!("{address}: {op:?} failed");
            }
        }
    }
}

/// The end of an apply: the JSON summary, or what completed, failed and the outputs.
fn print_summary(ctx: &Ctx, st: &State, p: &Plan, outcome: &Outcome, secs: f64) -> Result<u8> {
    let (add, change, destroy, replace) = p.counts();
    let mut failures = Failures::default();
    for f in &outcome.failed {
        failures.add(&f.address, &f.error);
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "summary", "ok": outcome.ok(), "completed": outcome.completed, "failed": outcome.failed.len(),
                "not_started": outcome.not_started, "interrupted": outcome.interrupted, "seconds": secs, "serial": st.serial,
                "errors": failures.json(),
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
            if !outcome.failed.is_empty() {
                eprintln!("\nError:\n{}", failures.render("steps"));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chronous_core::provider::ErrorKind;

    fn refused(address: &str, what: &str, request: &str) -> ProviderError {
        let cause = "ec2 CreateVpc failed: UnauthorizedOperation: You are not authorized to perform this operation.";
        ProviderError::of(
            ErrorKind::Denied,
            format!("{address}: could not {what}: {cause} (request {request})"),
        )
        .with_hint("`arn:aws:iam::123456789012:user/ci` may not call ec2:CreateVpc")
        .with_cause(cause)
    }

    #[test]
    fn steps_failing_alike_are_one_error_naming_them() {
        let mut f = Failures::default();
        f.add("aws_vpc.main", &refused("aws_vpc.main", "create it", "r-1"));
        f.add(
            "aws_eip.nat_a",
            &ProviderError::new("aws_eip.nat_a: the address limit is reached"),
        );
        f.add("aws_subnet.a", &refused("aws_subnet.a", "create it", "r-2"));
        f.add(
            "aws_subnet.b",
            &refused(
                "aws_subnet.b",
                "look for an object an earlier apply made",
                "r-3",
            ),
        );
        assert_eq!(
            f.render("steps"),
            "  3 steps failed with the same error: ec2 CreateVpc failed: UnauthorizedOperation: You are not authorized to perform this operation.
    aws_vpc.main
    aws_subnet.a
    aws_subnet.b
    hint: `arn:aws:iam::123456789012:user/ci` may not call ec2:CreateVpc
  aws_eip.nat_a: the address limit is reached"
        );
        let j = f.json();
        assert_eq!(j[0]["addresses"].as_array().unwrap().len(), 3);
        assert_eq!(j[1]["error"], "aws_eip.nat_a: the address limit is reached");
    }

    #[test]
    fn without_a_cause_messages_compare_without_their_address() {
        let mut f = Failures::default();
        for a in ["aws_ssm_parameter.db_password", "aws_db_instance.main"] {
            f.add(
                a,
                &ProviderError::new(format!(
                    "{a}: no database password: set CHRONOUS_DB_PASSWORD"
                ))
                .with_hint("export it"),
            );
        }
        assert_eq!(
            f.render("steps"),
            "  2 steps failed with the same error: no database password: set CHRONOUS_DB_PASSWORD
    aws_ssm_parameter.db_password
    aws_db_instance.main
    hint: export it"
        );
    }
}
