//! `chronous sim console-set | console-delete | objects`: act on the simulated
//! cloud directly, behind chronous's back, as the AWS console would (drift),
//! whichever backend the environment uses.

use anyhow::{anyhow, Result};

use crate::backend::SimBackend;
use crate::cli::SimCmd;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, s: &SimCmd) -> Result<u8> {
    let p = SimBackend::new().open(ctx)?;
    match s {
        SimCmd::ConsoleSet {
            address,
            attribute,
            value,
        } => {
            let v: serde_json::Value = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let id = p
                .with_cloud(|c| c.console_set(address, attribute, v))
                .map_err(|e| anyhow!("{e}"))?;
            println!("Changed {attribute} of {address} ({id}) in the simulated cloud.");
        }
        SimCmd::ConsoleDelete { address } => {
            let ids = p
                .with_cloud(|c| c.console_delete(address))
                .map_err(|e| anyhow!("{e}"))?;
            println!(
                "Deleted {address} ({}) from the simulated cloud.",
                ids.join(", ")
            );
        }
        SimCmd::Objects => {
            let mut objs: Vec<_> = p.with_cloud(|c| {
                c.objects()
                    .map(|o| (o.address.clone(), o.id.clone(), o.kind))
                    .collect()
            });
            objs.sort();
            if ctx.json {
                let v: Vec<_> = objs
                    .iter()
                    .map(|(a, i, k)| serde_json::json!({"address": a, "id": i, "kind": k}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (a, i, _) in objs {
                    println!("{a}\t{i}");
                }
            }
        }
    }
    p.compact().map_err(|e| anyhow!("{e}"))?;
    Ok(0)
}
