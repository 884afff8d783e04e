//! The environment file: raw parsed input, and the validated model built from it.
//!
//! Two layers, as ripgrep does with its arguments: [`raw`] mirrors the TOML
//! file as closely as possible (every value keeps its byte span), and
//! [`Environment`] ([`model`]) is the validated, typed description that the
//! rest of chronous works from. [`load`] goes from text to one or the other
//! and never panics: every problem becomes a located [`Diagnostic`].
//! `validate` holds one function per section of the file; [`facts`] the
//! tables about AWS it checks against.

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

/// Parse and validate an environment file's text. `file` names it in messages.
pub fn load(file: &str, source: &str) -> Loaded {
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
    let (env, items) = validate::environment(&raw);
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
