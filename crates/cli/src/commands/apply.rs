//! `chronous apply [PLAN_FILE]`: apply a saved plan (checked against the
//! state), or plan and apply after approval; then, where the backend waits
//! for the service's rollout (AWS), wait for it unless `--no-wait`.

use anyhow::{bail, Context as _, Result};
use chronous_core::engine;
use chronous_core::plan::Plan;
use chronous_core::state::State;

use crate::cli::ApplyArgs;
use crate::context::Ctx;
use crate::planning::{apply_plan, approve, refresh_and_plan_with, show_plan};

pub fn run(ctx: &Ctx, a: &ApplyArgs) -> Result<u8> {
    let _lock = ctx.lock("chronous apply")?;
    let recorded = ctx.load_state()?;
    let p = match &a.plan_file {
        Some(f) => saved_plan(ctx, f, &recorded)?,
        None => {
            let opts = chronous_core::plan::PlanOptions {
                destroy: false,
                replace: a.replace.iter().cloned().collect(),
                allow_replace_adopted: a.allow_replace_adopted,
                allow_adopted: Default::default(),
            };
            let p = refresh_and_plan_with(ctx, &recorded, opts, a.parallelism)?;
            show_plan(ctx, &p);
            if p.has_changes() && !a.auto_approve {
                approve(ctx, "Do you want to perform these actions?")?;
            }
            p
        }
    };
    let code = apply_plan(ctx, recorded, &p, a.parallelism)?;
    if !a.no_wait && ctx.backend.waits_after_apply(&p) {
        return ctx.backend.wait_rollout(ctx, a.rollout_timeout);
    }
    Ok(code)
}

/// A plan saved with `plan --out`, for this environment and still applicable to `recorded`.
fn saved_plan(ctx: &Ctx, f: &std::path::Path, recorded: &State) -> Result<Plan> {
    let bytes =
        std::fs::read(f).with_context(|| format!("cannot read the plan file {}", f.display()))?;
    let p: Plan = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a chronous plan", f.display()))?;
    if p.environment != ctx.env.name {
        bail!(
            "the plan {} is for environment `{}`, not `{}`",
            f.display(),
            p.environment,
            ctx.env.name
        );
    }
    engine::check_plan(&p, recorded)?;
    // A plan made with one account's credentials is not applied with another's.
    if let (Some(made), Some(now)) = (&p.target, ctx.backend.target(ctx)?) {
        if (&made.account, &made.region) != (&now.account, &now.region) {
            bail!(
                "the plan {} was made for AWS account {} in {}, but the credentials are of account {} in {}: nothing was done",
                f.display(),
                made.account,
                made.region,
                now.account,
                now.region
            );
        }
    }
    Ok(p)
}
