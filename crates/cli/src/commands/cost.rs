//! `chronous cost`: the monthly estimate of the environment on AWS, per
//! resource and in total, from core's dated price table
//! (`review::cost::estimate`), with what has no price and what is left out.

use anyhow::Result;
use chronous_core::review::cost;

use crate::context::Ctx;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let e = cost::estimate(&ctx.env);
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", e.render_text());
    }
    Ok(0)
}
