//! The one reader of secrets: turns a [`SecretSource`] (`env:VARIABLE` or
//! `file:PATH`) into its [`Secret`] at the moment a backend needs it, with a
//! typed [`SecretError`] worded as chronous has always said it (one line, and
//! a hint through [`SecretError::hint`]). Nothing here keeps or prints the value.

use std::path::Path;

use chronous_core::secret::{Secret, SecretSource};

/// What to do when the database password is missing.
pub const SECRET_HINT: &str =
    "export CHRONOUS_DB_PASSWORD, or set database.password_file to a file holding it";

/// A secret that could not be had. Every variant reads the same one line
/// (the source, never a value); the cause, when there is one, is the
/// error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set (or not valid Unicode).
    #[error("no database password at run time ({from})")]
    Unset { from: SecretSource },
    /// The variable or the file holds nothing (line breaks aside).
    #[error("no database password at run time ({from})")]
    Empty { from: SecretSource },
    /// The file cannot be read.
    #[error("no database password at run time ({from})")]
    Unreadable {
        from: SecretSource,
        #[source]
        error: std::io::Error,
    },
}

impl SecretError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        SECRET_HINT
    }
}

/// Read a secret now. `dir` is the environment folder, which a `file:` path
/// is relative to (an absolute path is taken as it is). A file's trailing
/// line breaks are not part of the secret; an empty value is no secret.
pub fn read_secret(src: &SecretSource, dir: &Path) -> Result<Secret, SecretError> {
    let value = match src {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| SecretError::Unset { from: src.clone() })?
        }
        SecretSource::File(path) => std::fs::read_to_string(dir.join(path))
            .map_err(|error| SecretError::Unreadable {
                from: src.clone(),
                error,
            })?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
    };
    if value.is_empty() {
        return Err(SecretError::Empty { from: src.clone() });
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_relative_to_the_environment_folder_without_its_line_break() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db.pw"), "s3cret-not-real\r\n").expect("write");
        let s = read_secret(&SecretSource::File("db.pw".into()), dir.path()).expect("read");
        assert_eq!(s.expose(), "s3cret-not-real");
        assert_eq!(format!("{s:?}"), "(sensitive)");
    }

    #[test]
    fn a_missing_file_says_where_it_looked_and_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e =
            read_secret(&SecretSource::File("nope.pw".into()), dir.path()).expect_err("missing");
        assert!(matches!(e, SecretError::Unreadable { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "no database password at run time (file:nope.pw)"
        );
        assert_eq!(
            e.hint(),
            "export CHRONOUS_DB_PASSWORD, or set database.password_file to a file holding it"
        );
        let cause = std::error::Error::source(&e).expect("the I/O error");
        assert!(cause.to_string().contains("No such file"), "{cause}");
    }

    #[test]
    fn an_empty_file_is_no_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db.pw"), "\n").expect("write");
        let e = read_secret(&SecretSource::File("db.pw".into()), dir.path()).expect_err("empty");
        assert!(matches!(e, SecretError::Empty { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "no database password at run time (file:db.pw)"
        );
    }

    #[test]
    fn a_variable_is_read_and_an_unset_one_is_an_error() {
        // Names of this test only: no other test reads or writes them.
        let set = "CHRONOUS_STORE_TEST_SECRET_SET";
        let unset = "CHRONOUS_STORE_TEST_SECRET_UNSET";
        std::env::set_var(set, "value-of-the-test");
        std::env::remove_var(unset);
        let dir = Path::new("/nonexistent");
        let s = read_secret(&SecretSource::Env(set.into()), dir).expect("set");
        assert_eq!(s.expose(), "value-of-the-test");
        let e = read_secret(&SecretSource::Env(unset.into()), dir).expect_err("unset");
        assert!(matches!(e, SecretError::Unset { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "no database password at run time (env:CHRONOUS_STORE_TEST_SECRET_UNSET)"
        );
        std::env::set_var(set, "");
        let e = read_secret(&SecretSource::Env(set.into()), dir).expect_err("empty");
        assert!(matches!(e, SecretError::Empty { .. }), "{e:?}");
    }
}
