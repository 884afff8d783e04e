//! `chronous plan`: refresh, plan, print; `--out FILE` saves the plan for
//! `apply FILE`; `--detailed-exitcode` exits 2 when it has changes.

use anyhow::Result;

use crate::cli::PlanArgs;
use crate::context::Ctx;
use crate::planning::{refresh_and_plan_with, show_plan};
use crate::ui::EXIT_CHANGES;

pub fn run(ctx: &Ctx, a: &PlanArgs) -> Result<u8> {
    let _lock = ctx.lock("chronous plan")?;
    let recorded = ctx.load_state()?;
    let opts = chronous_core::plan::PlanOptions {
        destroy: a.destroy,
        replace: a.replace.iter().cloned().collect(),
        allow_replace_adopted: a.allow_replace_adopted,
        allow_adopted: Default::default(),
    };
    let p = refresh_and_plan_with(ctx, &recorded, opts, a.parallelism)?;
    show_plan(ctx, &p);
    if let Some(out) = &a.out {
        chronous_store::atomic_write(out, &serde_json::to_vec_pretty(&p)?)?;
        if !ctx.json {
            println!(
                "\nSaved the plan to {}. Apply exactly this plan with: chronous apply {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if a.detailed_exitcode && p.has_changes() {
        EXIT_CHANGES
    } else {
        0
    })
}
