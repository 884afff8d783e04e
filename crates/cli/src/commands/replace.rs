//! `chronous replace ADDRESS`: mark a recorded object for replacement by the
//! next apply (Terraform's taint), through the state's journal.

use anyhow::Result;
use chronous_core::engine;
use chronous_core::state::JournalEntry;

use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

pub fn run(ctx: &Ctx, address: &str) -> Result<u8> {
    let _lock = ctx.lock("chronous replace")?;
    let mut st = ctx.load_state()?;
    if !st.resources.contains_key(address) {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "no object `{address}` in the state; `chronous state list` shows the addresses"
            ),
        ));
    }
    ctx.ensure_saved(&mut st)?;
    let e = JournalEntry::Taint {
        address: address.to_string(),
    };
    let mut j = ctx.store.journal(&st)?;
    engine::Journal::commit(&mut j, std::slice::from_ref(&e))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    st.apply_entry(&e);
    st.serial += 1;
    ctx.store.save(&st)?;
    if ctx.json {
        println!("{}", serde_json::json!({"marked_for_replacement": address}));
    } else {
        println!("{address} is marked for replacement: the next plan and apply replace it.");
    }
    Ok(0)
}
