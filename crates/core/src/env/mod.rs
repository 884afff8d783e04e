//! The environment file: raw parsed input, and the validated model built from it.
//!
//! Two layers, as ripgrep does with its arguments: [`raw`] mirrors the TOML
//! file as closely as possible (every value keeps its byte span), and
//! [`Environment`] ([`model`]) is the validated, typed description that the
//! rest of chronous works from. [`load`] goes from text to one or the other
//! and never panics: every problem becomes a located [`Diagnostic`].
//! `validate` holds one function per section of the file; [`facts`] the
//! tables about AWS it checks against.
//!
//! Files the environment names (the backup) are looked at outside core:
//! [`load_with`] takes an [`Inputs`] that answers with [`FileFacts`] (exists,
//! size, sha256), and validation reports what is wrong at the place in the
//! file that names it. [`load`] looks at no file.

pub mod facts;
pub mod model;
pub mod raw;
mod validate;

pub use facts::*;
pub use model::*;

use crate::diag::{Diagnostic, Diagnostics};

/// The result of reading an environment file.
#[derive(Debug)]
pub struct Loaded {
    /// Present when there is no error (warnings may remain in `diagnostics`).
    pub env: Option<Environment>,
    pub diagnostics: Diagnostics,
}

/// What was found for a file the environment names. Core does no I/O: the
/// caller looks (the CLI through `chronous_store::inputs`) and hands this in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFacts {
    /// Read to the end: its size and the sha256 of its content (lowercase hex).
    Read { bytes: u64, sha256: String },
    /// Nothing at that path.
    Missing,
    /// Something is there but cannot be read (the reason, as the system gives it).
    Unreadable(String),
}

/// The files an environment names, looked at outside core.
pub trait Inputs {
    /// The backup of `database.restore.backup_file`; `path` as written
    /// (relative to the environment folder). `None`: not looked at.
    fn backup_file(&self, path: &str) -> Option<FileFacts>;
}

/// Looks at no file: no diagnostic about files, and no content hash.
pub struct NoInputs;

impl Inputs for NoInputs {
    fn backup_file(&self, _path: &str) -> Option<FileFacts> {
        None
    }
}

/// Parse and validate an environment file's text, looking at no file it
/// names. `file` names it in messages.
pub fn load(file: &str, source: &str) -> Loaded {
    load_with(file, source, &NoInputs)
}

/// Parse and validate an environment file's text, with what `inputs` found
/// for the files it names (a missing backup is an error at `backup_file`;
/// its sha256 becomes part of the environment).
pub fn load_with(file: &str, source: &str, inputs: &dyn Inputs) -> Loaded {
    let mut diags = Diagnostics {
        file: file.to_string(),
        source: source.to_string(),
        items: vec![],
    };
    let raw: raw::File = match toml::from_str(source) {
        Ok(r) => r,
        Err(e) => {
            diags.items.push(toml_error(&e, source));
            return Loaded {
                env: None,
                diagnostics: diags,
            };
        }
    };
    let (env, items) = validate::environment(&raw, inputs);
    diags.items = items;
    let env = if diags.has_errors() { None } else { Some(env) };
    Loaded {
        env,
        diagnostics: diags,
    }
}

fn toml_error(e: &toml::de::Error, source: &str) -> Diagnostic {
    let msg = e
        .message()
        .trim()
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    let span = e.span().unwrap_or(0..0);
    // A table's span runs to its last line: point at its first line only.
    let span = match source.get(span.clone()).and_then(|s| s.find('\n')) {
        Some(nl) => span.start..span.start + nl,
        None => span,
    };
    // The key (or field) a serde message names between backquotes.
    let named = msg.split('`').nth(1).unwrap_or("").to_string();
    let (code, message, label, hint) = if msg.starts_with("unknown field") {
        (
            "E0002",
            format!("unknown key: {msg}"),
            "unknown key".to_string(),
            "remove the key or fix its spelling; the keys allowed here are listed above",
        )
    } else if msg.starts_with("missing field") {
        (
            "E0003",
            format!("required key `{named}` is missing"),
            format!("this table has no `{named}`"),
            "add the key; see fixtures/seed/chronous.toml for a complete environment",
        )
    } else if msg.starts_with("invalid type") {
        (
            "E0004",
            format!("wrong type of value: {msg}"),
            "wrong type".to_string(),
            "write the value with the type shown (quote strings, no quotes on numbers)",
        )
    } else {
        (
            "E0001",
            format!("malformed TOML: {msg}"),
            "here".to_string(),
            "fix the syntax at the place shown",
        )
    };
    Diagnostic::new(code, message).at(span, label).hint(hint)
}
