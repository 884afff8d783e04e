//! One API call: the SDK's standard retries, then a further backoff while AWS
//! keeps throttling, and the error reduced to what chronous needs (code,
//! message, HTTP status) and mapped to a message naming the address and what
//! to do.

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chronous_core::provider::{ErrorKind, ProviderError};

use crate::AwsProvider;

/// A failed AWS call, reduced to what decides what happens next.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct CallError {
    /// The AWS error code (`InvalidVpcID.NotFound`, `Throttling` ...).
    pub code: Option<String>,
    pub message: String,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The request never got an answer (connection refused, timeout).
    pub transport: bool,
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
];

impl CallError {
    pub fn from_sdk<E>(e: SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let transport = matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_));
        let code = e.code().map(str::to_string);
        let message = match e.message() {
            Some(m) => m.to_string(),
            None => DisplayErrorContext(&e).to_string(),
        };
        CallError {
            code,
            message,
            status,
            transport,
        }
    }

    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    pub fn is_throttling(&self) -> bool {
        THROTTLING.contains(&self.code()) || self.status == Some(429)
    }

    /// A `...NotFound` answer (or an HTTP 404).
    pub fn is_not_found(&self) -> bool {
        let c = self.code();
        c.contains("NotFound")
            || c.starts_with("NoSuch")
            || c == "NotFound"
            || c == "ResourceNotFoundException"
            || c == "ClusterNotFoundException"
            || c == "ServiceNotFoundException"
            || c == "RepositoryNotFoundException"
            || c == "LoadBalancerNotFound"
            || c == "AccessPointNotFound"
            || self.status == Some(404)
    }

    pub fn is(&self, code: &str) -> bool {
        self.code() == code
    }

    pub fn is_server(&self) -> bool {
        self.status.is_some_and(|s| s >= 500)
            || self.code() == "InternalError"
            || self.code() == "InternalFailure"
            || self.code() == "ServiceUnavailable"
    }

    /// The error as the user sees it: the address, what was being done, what AWS said, what to do.
    pub fn provider(&self, address: &str, what: &str) -> ProviderError {
        let (kind, hint) = self.classify();
        let e =
            ProviderError::of(kind, format!("{address}: could not {what}: {self}")).with_hint(hint);
        match kind {
            ErrorKind::Unreachable | ErrorKind::Unavailable => e.retryable(),
            _ => e,
        }
    }

    /// What kind of failure this is and what the user can do about it.
    fn classify(&self) -> (ErrorKind, &'static str) {
        let c = self.code();
        if self.transport {
            return (ErrorKind::Unreachable, "AWS could not be reached: check the network, the region and --endpoint / AWS_ENDPOINT_URL, then run apply again (chronous continues from what completed)");
        }
        if self.is_throttling() {
            return (ErrorKind::Unavailable, "AWS kept throttling requests: wait a minute and run apply again, or lower --parallelism");
        }
        if self.is_server() {
            return (ErrorKind::Unavailable, "AWS answered with an internal error: run apply again; chronous adopts what this step may already have made");
        }
        if c.contains("UnauthorizedOperation")
            || c.contains("AccessDenied")
            || c == "InvalidClientTokenId"
            || c == "SignatureDoesNotMatch"
        {
            (ErrorKind::Denied, "the AWS credentials in use may not do this: check AWS_PROFILE / the role's policies")
        } else if c.contains("ExpiredToken") || c == "RequestExpired" {
            (ErrorKind::Denied, "the AWS credentials have expired: renew them (for example `aws sso login`) and run apply again")
        } else if c == "DependencyViolation"
            || c == "DeleteConflict"
            || c == "ResourceInUse"
            || c.contains("InUse")
        {
            (ErrorKind::Conflict, "something still uses this object (possibly created outside chronous): remove that first, then run apply again")
        } else if c.contains("Duplicate")
            || c.contains("AlreadyExists")
            || c == "EntityAlreadyExists"
            || c == "BucketAlreadyExists"
        {
            (ErrorKind::Conflict, "an object of that name already exists and was not made by this environment: rename it in chronous.toml or remove the other object")
        } else if c.contains("LimitExceeded")
            || c.contains("QuotaExceeded")
            || c.contains("AddressLimitExceeded")
        {
            (ErrorKind::Refused, "an AWS service quota is reached: raise it in the Service Quotas console or remove unused objects")
        } else if self.is_not_found() {
            (ErrorKind::NotFound, "an object it refers to does not exist: run plan to see what was deleted outside chronous")
        } else {
            (
                ErrorKind::Refused,
                "check the value in chronous.toml against what AWS accepts, then run apply again",
            )
        }
    }
}

impl AwsProvider {
    /// Send a request (built afresh by `f` for every try): the SDK retries in
    /// its standard mode; while AWS still throttles, back off and try again.
    pub(crate) async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, CallError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut pause = self.opts.throttle_backoff;
        let mut tries = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let e = CallError::from_sdk(e);
                    if e.is_throttling() && tries < self.opts.throttle_retries {
                        tries += 1;
                        // A little jitter so parallel steps do not retry in lockstep.
                        let jitter = Duration::from_millis(
                            (std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.subsec_nanos())
                                .unwrap_or(0)
                                % 250) as u64,
                        );
                        tokio::time::sleep(pause + jitter.min(pause)).await;
                        pause = (pause * 2).min(Duration::from_secs(20));
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// `Ok(None)` for a NotFound answer.
pub(crate) fn found<T>(r: Result<T, CallError>) -> Result<Option<T>, CallError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
