//! What every resource module shares: the attribute and record helpers, the
//! wait for an object just made to be described (`settle`), adoption of what
//! an interrupted apply made (`adopt!`, `claim`), deletes that tolerate "not
//! found" or retry while AWS still holds a dependency, tags for the services
//! that take key/value tags, the run-time database password, and the typed
//! errors these paths report.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sts::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub(crate) use chronous_core::provider::{Observed, ProviderError};
pub(crate) use chronous_core::resources::Kind;
use chronous_core::secret::{Secret, SecretSource};
pub(crate) use chronous_core::state::ResourceRecord;
pub(crate) use serde_json::{json, Value};

pub(crate) use crate::call::{found, CallError};
pub(crate) use crate::AwsProvider;

/// Failures of the resource paths that are not an AWS call's own error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResourceError {
    /// An object with the spec's unique name exists, but its tags say another environment (or a person) made it.
    #[error(
        "{address}: a {what} named `{name}` already exists and was not made by this environment"
    )]
    NotOurs {
        address: String,
        what: &'static str,
        name: String,
    },
    /// A create succeeded, but AWS (eventually consistent) still does not describe the object.
    #[error("{address}: {id} was created but AWS does not describe it")]
    NotDescribed { address: String, id: String },
    /// What AWS described does not deserialize into the kind's spec type.
    #[error("{address}: the described object does not fit its spec type: {source}")]
    SpecMismatch {
        address: String,
        source: serde_json::Error,
    },
}

impl From<ResourceError> for ProviderError {
    fn from(e: ResourceError) -> ProviderError {
        let message = e.to_string();
        match e {
            ResourceError::NotOurs { .. } => ProviderError::new(message)
                .with_hint("remove the other object, or rename this one in chronous.toml"),
            ResourceError::NotDescribed { .. } => ProviderError::new(message)
                .with_hint("run apply again: chronous adopts it once AWS shows it")
                .retryable(),
            ResourceError::SpecMismatch { .. } => ProviderError::new(message)
                .with_hint("this is a bug in chronous's AWS backend; report it with the address"),
        }
    }
}

pub(crate) fn spec_err(address: &str, e: serde_json::Error) -> ProviderError {
    ResourceError::SpecMismatch {
        address: address.into(),
        source: e,
    }
    .into()
}

/// The error for an object named like the spec's that this environment did not make.
pub(crate) fn not_ours(address: &str, what: &'static str, name: &str) -> ProviderError {
    ResourceError::NotOurs {
        address: address.into(),
        what,
        name: name.into(),
    }
    .into()
}

/// Outputs from `(name, value)` pairs.
pub(crate) fn out(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A spec as its attribute object.
pub(crate) fn attrs_of<S: serde::Serialize>(spec: &S) -> Value {
    serde_json::to_value(spec).expect("specs serialize")
}

pub(crate) fn observed<S: serde::Serialize>(
    id: impl Into<String>,
    spec: &S,
    outputs: BTreeMap<String, Value>,
) -> Observed {
    Observed {
        id: id.into(),
        attrs: attrs_of(spec),
        outputs,
    }
}

/// A record of object `id` made for `address` with `attrs` (no outputs yet).
pub(crate) fn record(address: &str, kind: Kind, id: &str, attrs: Value) -> ResourceRecord {
    ResourceRecord {
        address: address.into(),
        kind,
        id: id.into(),
        attrs,
        outputs: BTreeMap::new(),
        deps: vec![],
        tainted: false,
    }
}

/// `rec` as AWS now describes it.
pub(crate) fn live(rec: ResourceRecord, now: Observed) -> ResourceRecord {
    ResourceRecord {
        id: now.id,
        attrs: now.attrs,
        outputs: now.outputs,
        ..rec
    }
}

/// Read an object just made with `read` until AWS describes it (AWS is
/// eventually consistent: a describe right after a create may not see it yet).
pub(crate) async fn poll_new<'a, F, Fut>(
    p: &'a AwsProvider,
    rec: &'a ResourceRecord,
    read: F,
) -> Result<Option<Observed>, ProviderError>
where
    F: Fn(&'a AwsProvider, &'a ResourceRecord) -> Fut,
    Fut: Future<Output = Result<Option<Observed>, ProviderError>>,
{
    for i in 0..20u64 {
        if let Some(o) = read(p, rec).await? {
            return Ok(Some(o));
        }
        tokio::time::sleep(Duration::from_millis(250 * (i + 1).min(8))).await;
    }
    Ok(None)
}

/// [`poll_new`], failing (retryably) when AWS never describes the object.
pub(crate) async fn settle<'a, F, Fut>(
    p: &'a AwsProvider,
    rec: &'a ResourceRecord,
    read: F,
) -> Result<Observed, ProviderError>
where
    F: Fn(&'a AwsProvider, &'a ResourceRecord) -> Fut,
    Fut: Future<Output = Result<Option<Observed>, ProviderError>>,
{
    match poll_new(p, rec, read).await? {
        Some(o) => Ok(o),
        None => Err(ResourceError::NotDescribed {
            address: rec.address.clone(),
            id: rec.id.clone(),
        }
        .into()),
    }
}

/// Adopt object `$id` that an interrupted apply made for `$address`: wait
/// until AWS describes it (with the calling module's `read`), then bring it
/// to `$spec` with the calling module's `update`.
macro_rules! adopt {
    ($p:expr, $address:expr, $kind:expr, $id:expr, $attrs:expr, $spec:expr) => {{
        let rec = record($address, $kind, &$id, $attrs.clone());
        let now = settle($p, &rec, read).await?;
        update($p, &live(rec, now), $spec).await
    }};
}
pub(crate) use adopt;

/// A delete's outcome: gone already counts as done.
pub(crate) fn gone(
    address: &str,
    res: Result<(), CallError>,
    what: &str,
) -> Result<(), ProviderError> {
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.provider(address, what)),
    }
}

/// Tags without chronous's own, as the spec writes them.
pub(crate) fn user_tags<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(k, _)| !k.starts_with("chronous:") && !k.starts_with("aws:"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Order `observed` like `recorded` when both hold the same items, so a
/// reordering by AWS is not reported as a change.
pub(crate) fn like_recorded(observed: Vec<String>, recorded: Option<&Value>) -> Vec<String> {
    let rec: Vec<String> = recorded
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut a = observed.clone();
    let mut b = rec.clone();
    a.sort();
    b.sort();
    if a == b {
        rec
    } else {
        observed
    }
}

/// IAM returns policy documents URL-encoded.
pub(crate) fn url_decode(s: &str) -> String {
    if !s.starts_with('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut o = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                o.push(v);
                i += 3;
                continue;
            }
        }
        o.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&o).into_owned()
}

pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

impl AwsProvider {
    /// Check that an object found by its unique name is this environment's
    /// `address` (its tags, checked here: the one test every adoption by name
    /// passes); otherwise the error names the other object.
    pub(crate) fn claim<'a>(
        &self,
        address: &str,
        what: &'static str,
        name: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ProviderError> {
        if self.is_ours(address, tags) {
            Ok(())
        } else {
            Err(not_ours(address, what, name))
        }
    }

    /// The database password, read now from where the spec says; never stored.
    pub(crate) fn password(
        &self,
        address: &str,
        source: &SecretSource,
    ) -> Result<Secret, ProviderError> {
        chronous_store::secret::read_for(address, source, &self.opts.env_dir)
    }

    /// The tags of `address` as another service's tag type (`None` from `make`: left out).
    pub(crate) fn tags_as<T>(
        &self,
        address: &str,
        make: impl Fn(String, String) -> Option<T>,
    ) -> Vec<T> {
        self.tags(address, &BTreeMap::new())
            .into_iter()
            .filter_map(|(k, v)| make(k, v))
            .collect()
    }

    pub(crate) fn iam_tags(&self, address: &str) -> Vec<aws_sdk_iam::types::Tag> {
        self.tags_as(address, |k, v| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
    }

    pub(crate) fn ecs_tags(&self, address: &str) -> Vec<aws_sdk_ecs::types::Tag> {
        self.tags_as(address, |k, v| {
            Some(aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        })
    }

    pub(crate) fn rds_tags(&self, address: &str) -> Vec<aws_sdk_rds::types::Tag> {
        self.tags_as(address, |k, v| {
            Some(aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        })
    }

    /// Retry a delete AWS refuses because something is still being released
    /// (network interfaces of terminated instances, a NAT gateway's address).
    pub(crate) async fn retry_in_use<F, Fut>(
        &self,
        address: &str,
        what: &str,
        f: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), CallError>>,
    {
        let start = tokio::time::Instant::now();
        let limit = self.opts.wait_timeout.min(Duration::from_secs(15 * 60));
        loop {
            match f().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e)
                    if (e.is("DependencyViolation")
                        || e.code().contains("InUse")
                        || e.is("AuthFailure"))
                        && start.elapsed() < limit =>
                {
                    self.progress(format!("{address}: still in use, retrying: {e}"));
                    tokio::time::sleep(self.opts.poll_interval).await;
                }
                Err(e) => return Err(e.provider(address, what)),
            }
        }
    }
}

impl AwsProvider {
    /// Describe with `f` for `address`'s read; `None` when AWS answers "not found".
    pub(crate) async fn describe<T, E, F, Fut>(
        &self,
        address: &str,
        f: F,
    ) -> Result<Option<T>, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    {
        found(self.call(f).await).map_err(|e| e.provider(address, "describe it"))
    }

    /// Send a delete with `f`; an object already gone counts as deleted.
    pub(crate) async fn delete_call<T, E, F, Fut>(
        &self,
        address: &str,
        what: &str,
        f: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    {
        gone(address, self.call(f).await.map(|_| ()), what)
    }
}

/// Define the `update` of a kind with nothing to change in place (every
/// attribute forces a new object, or none is AWS's): describe it again.
macro_rules! update_nothing {
    ($kind:ident, $spec:ty) => {
        /// Nothing changes in place: describe the object again.
        pub(crate) async fn update(
            p: &AwsProvider,
            r: &ResourceRecord,
            s: &$spec,
        ) -> Result<Observed, ProviderError> {
            settle(
                p,
                &record(&r.address, Kind::$kind, &r.id, attrs_of(s)),
                read,
            )
            .await
        }
    };
}
pub(crate) use update_nothing;

/// [`settle`] the object `$id` of `$kind` made for `$address` with `$attrs`,
/// read with the calling module's `read`.
macro_rules! settled {
    ($p:expr, $address:expr, $kind:expr, $id:expr, $attrs:expr) => {
        settle($p, &record($address, $kind, $id, $attrs), read).await
    };
}
pub(crate) use settled;
