//! `chronous state list` and `chronous state show ADDRESS`: the recorded state.

use anyhow::Result;
use chronous_core::state::State;

use crate::cli::StateCmd;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

pub fn run(ctx: &Ctx, s: &StateCmd) -> Result<u8> {
    let st = ctx.load_state()?;
    match s {
        StateCmd::List => list(ctx, &st)?,
        StateCmd::Show { address } => show(ctx, &st, address)?,
    }
    Ok(0)
}

fn list(ctx: &Ctx, st: &State) -> Result<()> {
    if ctx.json {
        let v: Vec<_> = st
            .resources
            .values()
            .map(|r| serde_json::json!({"address": r.address, "id": r.id, "tainted": r.tainted}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for r in st.resources.values() {
            println!("{}{}", r.address, if r.tainted { " (tainted)" } else { "" });
        }
        for k in st.deposed.keys() {
            println!("{k}");
        }
    }
    Ok(())
}

fn show(ctx: &Ctx, st: &State, address: &str) -> Result<()> {
    let r = st
        .resources
        .get(address)
        .or_else(|| st.deposed.get(address))
        .ok_or_else(|| {
            exit(
                EXIT_FAILURE,
                format!(
                    "no object `{address}` in the state; `chronous state list` shows the addresses"
                ),
            )
        })?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!(
            "# {}{}",
            r.address,
            if r.tainted { " (tainted)" } else { "" }
        );
        println!("id = {}", r.id);
        if let Some(o) = r.attrs.as_object() {
            for (k, v) in o {
                println!("{k} = {v}");
            }
        }
        for (k, v) in &r.outputs {
            println!("{k} = {v}  (computed)");
        }
    }
    Ok(())
}
