//! `chronous force-unlock ID`: release a lock left by a command that is gone.

use anyhow::Result;
use chronous_store::Lock;

use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

pub fn run(ctx: &Ctx, id: &str) -> Result<u8> {
    match Lock::force_unlock(&ctx.state_dir(), id) {
        Ok(h) => {
            println!("Released the lock of {h}.");
            Ok(0)
        }
        Err(e) => Err(exit(EXIT_FAILURE, e.to_string())),
    }
}
