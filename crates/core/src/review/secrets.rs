//! What looks like a secret written into the environment file. Shared by
//! validation (a password is an error, E0901: the file is refused) and the
//! lint CHR-SEC-001 (every other credential-like name or value, reported
//! with its place), so the two never report the same thing twice.

/// Why a name or value looks like a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKind {
    /// The name says password: validation refuses it (E0901).
    Password,
    /// Another credential: what the name or value says it is.
    Credential(&'static str),
}

/// Name fragments (upper case) that name a credential other than a password.
const NAMES: &[(&str, &str)] = &[
    ("SECRET", "a secret"),
    ("TOKEN", "a token"),
    ("API_KEY", "an API key"),
    ("APIKEY", "an API key"),
    ("ACCESS_KEY", "an access key"),
    ("PRIVATE_KEY", "a private key"),
    ("CREDENTIAL", "a credential"),
    ("PASSWD", "a password"),
    ("PWD", "a password"),
];

/// Whether an environment variable's name says it holds a password
/// (the database password is injected at run time, never written).
pub fn is_password_name(name: &str) -> bool {
    name.to_ascii_uppercase().contains("PASSWORD")
}

/// What a name and its value look like: a password name first (validation's),
/// then other credential names, then values that are credentials whatever
/// their name (an AWS access key id, a PEM private key, a URL with a password).
pub fn classify(name: &str, value: &str) -> Option<SecretKind> {
    if is_password_name(name) {
        return Some(SecretKind::Password);
    }
    let upper = name.to_ascii_uppercase();
    if let Some((_, what)) = NAMES.iter().find(|(frag, _)| upper.contains(frag)) {
        return Some(SecretKind::Credential(what));
    }
    value_kind(value).map(SecretKind::Credential)
}

/// A value that is a credential whatever its name.
fn value_kind(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if is_aws_access_key_id(v) {
        return Some("an AWS access key id");
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    if url_with_password(v) {
        return Some("a URL with a password in it");
    }
    None
}

/// AKIA/ASIA followed by 16 upper-case letters or digits.
fn is_aws_access_key_id(v: &str) -> bool {
    v.len() == 20
        && (v.starts_with("AKIA") || v.starts_with("ASIA"))
        && v[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// scheme://user:password@host...
fn url_with_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo
            .split_once(':')
            .is_some_and(|(_, pw)| !pw.is_empty()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        let cases: &[(&str, &str, Option<SecretKind>)] = &[
            ("DB_PASSWORD", "x", Some(SecretKind::Password)),
            ("db_password", "x", Some(SecretKind::Password)),
            (
                "STRIPE_SECRET",
                "x",
                Some(SecretKind::Credential("a secret")),
            ),
            ("GITHUB_TOKEN", "x", Some(SecretKind::Credential("a token"))),
            (
                "MAPS_API_KEY",
                "x",
                Some(SecretKind::Credential("an API key")),
            ),
            ("DB_NAME", "paymentsdb", None),
            (
                "REGION",
                "AKIAIOSFODNN7EXAMPLE",
                Some(SecretKind::Credential("an AWS access key id")),
            ),
            (
                "DSN",
                "mysql://dev:hunter2@db:3306/x",
                Some(SecretKind::Credential("a URL with a password in it")),
            ),
            ("DSN", "mysql://dev@db:3306/x", None),
            ("URL", "https://example.com/a:b@c", None),
            (
                "KEY_PEM",
                "-----BEGIN RSA PRIVATE KEY-----",
                Some(SecretKind::Credential("a private key")),
            ),
            ("LOG_LEVEL", "debug", None),
        ];
        for (k, v, want) in cases {
            assert_eq!(&classify(k, v), want, "{k}={v}");
        }
    }
}
