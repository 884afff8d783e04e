//! `chronous output [NAME]`: the environment's outputs (ELB DNS name, bastion
//! IP, RDS endpoint, AZs), from the recorded state.

use anyhow::Result;
use chronous_core::state;

use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

pub fn run(ctx: &Ctx, name: Option<&str>) -> Result<u8> {
    let st = ctx.load_state()?;
    let outs = state::outputs(&st, &ctx.env.network.azs);
    match name {
        Some(n) => {
            let v = outs.get(n).ok_or_else(|| {
                exit(
                    EXIT_FAILURE,
                    format!(
                        "no output `{n}`; the outputs are: {}",
                        outs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            match (ctx.json, v) {
                (false, serde_json::Value::String(s)) => println!("{s}"),
                _ => println!("{v}"),
            }
        }
        None if ctx.json => println!("{}", serde_json::to_string_pretty(&outs)?),
        None => {
            if st.resources.is_empty() {
                eprintln!("warning: nothing is deployed yet: run `chronous apply` first");
            }
            for (k, v) in &outs {
                println!("{k} = {v}");
            }
        }
    }
    Ok(0)
}
