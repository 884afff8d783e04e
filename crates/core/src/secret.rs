//! Secrets: where one comes from at run time ([`SecretSource`]) and its value
//! once read ([`Secret`]).
//!
//! chronous never records a secret. The environment, specs, state and plans
//! carry a [`SecretSource`], written `env:VARIABLE` or `file:PATH` (PATH
//! relative to the environment folder); a backend that needs the value reads
//! it at that moment with the one reader, `chronous_store::secret::read_secret`
//! (core does no I/O). A [`Secret`] prints as `(sensitive)` with `{}` and
//! `{:?}`, so it cannot reach a log, an error or a plan by accident; only
//! [`Secret::expose`] gives the value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The variable the database password is read from when the environment
/// names no `database.password_file`.
pub const DB_PASSWORD_VAR: &str = "CHRONOUS_DB_PASSWORD";

/// Where a secret comes from at run time. Serialized as its text
/// (`env:VARIABLE` / `file:PATH`), so specs, state and plans hold that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretSource {
    /// An environment variable of the chronous process.
    Env(String),
    /// A file, relative to the environment folder; its text without the
    /// trailing line break.
    File(String),
}

impl SecretSource {
    /// The database password: `file:PASSWORD_FILE` when the environment
    /// names one, else `env:CHRONOUS_DB_PASSWORD`.
    pub fn db_password(password_file: Option<&str>) -> SecretSource {
        match password_file {
            Some(f) => SecretSource::File(f.to_string()),
            None => SecretSource::Env(DB_PASSWORD_VAR.to_string()),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "env:{var}"),
            SecretSource::File(path) => write!(f, "file:{path}"),
        }
    }
}

/// A text that is neither `env:...` nor `file:...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a secret source: write env:VARIABLE or file:PATH")]
pub struct SecretSourceError(pub String);

impl FromStr for SecretSource {
    type Err = SecretSourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("env", var)) => Ok(SecretSource::Env(var.to_string())),
            Some(("file", path)) => Ok(SecretSource::File(path.to_string())),
            _ => Err(SecretSourceError(s.to_string())),
        }
    }
}

impl TryFrom<String> for SecretSource {
    type Error = SecretSourceError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SecretSource> for String {
    fn from(s: SecretSource) -> String {
        s.to_string()
    }
}

/// A secret value. Neither `Display` nor `Debug` shows it; it does not
/// serialize.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: only to hand it to what needs it (an API call, a
    /// container's environment), never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_and_print_as_the_strings_specs_hold() {
        for text in [
            "env:CHRONOUS_DB_PASSWORD",
            "file:secrets/db-password",
            "file:",
        ] {
            let s: SecretSource = text.parse().expect("a source");
            assert_eq!(s.to_string(), text);
        }
        assert_eq!(
            "env:X".parse::<SecretSource>(),
            Ok(SecretSource::Env("X".into()))
        );
        assert_eq!(
            "file:a:b".parse::<SecretSource>(),
            Ok(SecretSource::File("a:b".into()))
        );
    }

    #[test]
    fn anything_else_is_not_a_source() {
        for text in ["", "env", "CHRONOUS_DB_PASSWORD", "vault:x", "ENV:X"] {
            let e = text.parse::<SecretSource>().expect_err(text);
            assert_eq!(
                e.to_string(),
                format!("`{text}` is not a secret source: write env:VARIABLE or file:PATH")
            );
        }
    }

    #[test]
    fn the_database_password_comes_from_its_file_or_the_variable() {
        assert_eq!(
            SecretSource::db_password(None).to_string(),
            "env:CHRONOUS_DB_PASSWORD"
        );
        assert_eq!(
            SecretSource::db_password(Some("db.pw")).to_string(),
            "file:db.pw"
        );
    }

    #[test]
    fn serde_uses_the_string() {
        let s = SecretSource::File("secrets/pw".into());
        let json = serde_json::to_string(&s).expect("serializes");
        assert_eq!(json, "\"file:secrets/pw\"");
        let back: SecretSource = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, s);
        let bad = serde_json::from_str::<SecretSource>("\"vault:pw\"").expect_err("rejected");
        assert!(bad.to_string().contains("is not a secret source"), "{bad}");
    }

    #[test]
    fn a_secret_never_prints_its_value() {
        let s = Secret::new("hunter2-not-a-real-one");
        assert_eq!(s.to_string(), "(sensitive)");
        assert_eq!(format!("{s:?}"), "(sensitive)");
        assert_eq!(format!("{:?}", Some(&s)), "Some((sensitive))");
        assert_eq!(s.expose(), "hunter2-not-a-real-one");
    }
}
