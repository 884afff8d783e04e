//! Exit codes and what a person sees.

use std::fmt;

/// Something failed while running (a backend step, I/O, a lock held).
pub const EXIT_FAILURE: u8 = 1;
/// `plan --detailed-exitcode`: the plan has changes.
pub const EXIT_CHANGES: u8 = 2;
/// `check`: a finding at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 2;
/// The environment file is invalid: nothing was run or written.
pub const EXIT_INVALID: u8 = 3;
/// The environment is locked by another command.
pub const EXIT_LOCKED: u8 = 4;
/// The command line could not be understood.
pub const EXIT_USAGE: u8 = 64;

/// An error carrying its exit code; `printed` when the message was shown already.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
    pub printed: bool,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub fn exit(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
        printed: false,
    })
}

pub fn exit_printed(code: u8) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: String::new(),
        printed: true,
    })
}

pub fn past_tense(op: chronous_core::graph::OpKind) -> (&'static str, &'static str) {
    use chronous_core::graph::OpKind::*;
    match op {
        Create => ("Creating...", "Creation complete"),
        Update => ("Modifying...", "Modifications complete"),
        Delete | DeleteOld => ("Destroying...", "Destruction complete"),
    }
}
