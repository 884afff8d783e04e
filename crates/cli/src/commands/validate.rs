//! `chronous validate`: the environment file is valid (its problems were
//! reported while loading it); say how many resources it expands to. In
//! --json, the warnings are listed with their place.

use anyhow::Result;
use chronous_core::resources;

use crate::context::{Ctx, ENV_FILE};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let n = resources::expand(&ctx.env).len();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "valid": true,
                "environment": ctx.env.name,
                "resources": n,
                "diagnostics": ctx.diagnostics.located(),
            })
        );
    } else {
        println!(
            "{}: valid. Environment `{}` expands to {n} resources.",
            ctx.dir.join(ENV_FILE).display(),
            ctx.env.name
        );
    }
    Ok(0)
}
