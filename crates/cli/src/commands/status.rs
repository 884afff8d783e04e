//! `chronous status [--wait-healthy]`: every recorded resource and the
//! outputs, with what the backend observes of the running environment (the
//! simulator's controller and database, or the ECS service on AWS).

use anyhow::Result;
use chronous_core::state::{self, State};

use crate::backend::{aws, sim, LiveStatus};
use crate::context::Ctx;

pub fn run(ctx: &Ctx, wait: bool, timeout: u64) -> Result<u8> {
    let st = ctx.recorded()?;
    let seen = ctx.backend.observe(ctx, &st, wait, timeout)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": ctx.env.name, "backend": ctx.backend.kind(), "serial": st.serial, "objects": st.resources.len(),
                "resources": st.resources.values().map(|r| serde_json::json!({"address": r.address, "id": r.id})).collect::<Vec<_>>(),
                "outputs": state::outputs(&st, &ctx.env.network.azs), "runtime": seen.runtime, "database": seen.database,
                "service": seen.service,
            }))?
        );
    } else {
        print(ctx, &st, &seen);
    }
    Ok(0)
}

fn print(ctx: &Ctx, st: &State, seen: &LiveStatus) {
    println!(
        "Environment `{}` ({:?} backend): {} objects recorded, state serial {}.",
        ctx.env.name,
        ctx.backend.kind(),
        st.resources.len(),
        st.serial
    );
    let outs = state::outputs(st, &ctx.env.network.azs);
    for (k, val) in &outs {
        println!("  {k} = {val}");
    }
    if !seen.database.is_null() {
        println!(
            "\nDatabase: {}",
            seen.database
                .get("summary")
                .and_then(|s| s.as_str())
                .unwrap_or("")
        );
    }
    if let Some(s) = &seen.runtime {
        sim::status::print_runtime(s);
    }
    if let Some(s) = &seen.service {
        aws::rollout::print(s);
    }
}
