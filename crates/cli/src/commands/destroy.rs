//! `chronous destroy`: plan the destruction of everything, ask, apply; an
//! environment marked `production = true` needs `--allow-production`.

use anyhow::Result;

use crate::cli::DestroyArgs;
use crate::context::Ctx;
use crate::planning::{apply_plan, approve, refresh_and_plan, show_plan};
use crate::ui::{exit, EXIT_FAILURE};

pub fn run(ctx: &Ctx, a: &DestroyArgs) -> Result<u8> {
    if ctx.env.production && !a.allow_production {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "environment `{}` is marked production: chronous will not destroy it. Change it with a blue/green deployment instead; if you really mean to destroy it, pass --allow-production",
                ctx.env.name
            ),
        ));
    }
    let _lock = ctx.lock("chronous destroy")?;
    let recorded = ctx.load_state()?;
    let p = refresh_and_plan(ctx, &recorded, true, &[], a.parallelism)?;
    show_plan(ctx, &p);
    if p.has_changes() && !a.auto_approve {
        approve(
            ctx,
            &format!(
                "Do you really want to destroy every object of `{}`?",
                ctx.env.name
            ),
        )?;
    }
    apply_plan(ctx, recorded, &p, a.parallelism)
}
