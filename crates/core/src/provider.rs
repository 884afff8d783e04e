//! The seam between core and a backend.
//!
//! Core owns ordering, parallelism and state; a backend only observes and
//! applies one step at a time on one object. `sim` and `aws` implement this
//! trait and never see each other.

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::Value;

use crate::resources::Spec;
use crate::state::ResourceRecord;

/// What a backend reports about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The backend's id for the object.
    pub id: String,
    /// The object's attributes, in the shape of its spec.
    pub attrs: Value,
    /// Computed attributes (`id`, `arn`, `dns_name` ...).
    pub outputs: BTreeMap<String, Value>,
}

/// What went wrong, for callers that act on it (retry, exit code, `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The backend refused the request as invalid or impossible (AWS's
    /// `InvalidParameter*`, a limit, a name taken).
    Refused,
    /// The object, or one it needs, does not exist.
    NotFound,
    /// The object is in use or in a state that forbids the step
    /// (`DependencyViolation`, `InvalidState`).
    Conflict,
    /// Missing or wrong credentials, or not allowed (`AccessDenied`).
    Denied,
    /// The backend could not be reached (network, endpoint, Docker Engine).
    Unreachable,
    /// The backend throttled the request or was briefly unavailable: the
    /// same step may succeed later.
    Unavailable,
    /// A wait for the object to settle ran out of time.
    Timeout,
    /// A local precondition failed: the password source, a file, an image,
    /// the simulator's store.
    Local,
    /// An answer the backend should not have given (a bug, here or there).
    Other,
}

/// A failed backend step.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// Whether trying the same step again may succeed.
    pub retryable: bool,
    /// What failed in the backend's own words, without the address and without
    /// what differs between two requests (a request id): steps failing with
    /// the same cause are one problem, reported once with the steps it hit.
    pub cause: Option<String>,
}

impl ProviderError {
    /// A failure of kind [`ErrorKind::Other`]; see [`ProviderError::of`].
    pub fn new(message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Other, message)
    }
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            hint: None,
            retryable: false,
            cause: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }
}

/// One create: the object's address and its spec with every reference resolved.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    pub address: &'a str,
    pub spec: &'a Spec,
    /// Ids already recorded for this address (an old object of a
    /// create-before-destroy replacement): a backend that adopts an existing
    /// object after a crash must not adopt one of these.
    pub exclude_ids: &'a [String],
}

/// A backend. Every method acts on exactly one object.
#[allow(async_fn_in_trait)]
pub trait Provider {
    /// Observe the object: `Ok(None)` when it no longer exists.
    fn read(
        &self,
        record: &ResourceRecord,
    ) -> impl Future<Output = Result<Option<Observed>, ProviderError>>;
    /// Create the object. A backend first looks for an object it created for
    /// this address earlier (a crashed apply) and adopts it instead of making a duplicate.
    fn create(
        &self,
        req: CreateRequest<'_>,
    ) -> impl Future<Output = Result<Observed, ProviderError>>;
    /// Change the object in place to match `spec`.
    fn update(
        &self,
        record: &ResourceRecord,
        spec: &Spec,
    ) -> impl Future<Output = Result<Observed, ProviderError>>;
    /// Destroy the object. Destroying an object that is already gone succeeds.
    fn delete(&self, record: &ResourceRecord) -> impl Future<Output = Result<(), ProviderError>>;
}
