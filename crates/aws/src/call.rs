//! One API call: the SDK's standard retries, then a further backoff while AWS
//! keeps throttling, and the error reduced to what chronous needs and says in
//! one line: the service and operation, AWS's error code and message and the
//! request id (`ec2 CreateVpc failed: UnauthorizedOperation: ... (request
//! 1234-...)`), or why no AWS answer came (no credentials, the endpoint not
//! reached, a page that is not an AWS API response); then a hint specific to
//! the operation and the code. Nothing of the SDK's `Debug` representation
//! reaches the user.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
// aws-types' `RequestId`, as every SDK crate re-exports it.
use aws_sdk_sts::operation::RequestId;
use chronous_core::provider::{ErrorKind, ProviderError};

use crate::AwsProvider;

/// What a failed call got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// AWS answered with an error: `code` and `message` are AWS's.
    Aws,
    /// An HTTP answer that is not an AWS API response (`html`: a web page).
    NotAws { html: bool },
    /// No answer: the endpoint was not reached; `message` says why
    /// (`connection refused`).
    Unreachable,
    /// No answer in time.
    Timeout,
    /// No request was sent: the credentials could not be had (`none_found`:
    /// the chain found none at all; otherwise loading them failed).
    Credentials { none_found: bool },
    /// Anything else the SDK reports (a request it could not build ...).
    Other,
}

/// A failed AWS call, reduced to what decides what happens next and what the user reads.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The service as the AWS CLI names it (`ec2`, `elb`, `logs` ...).
    pub service: String,
    /// The API operation (`CreateVpc`).
    pub operation: String,
    /// The AWS error code (`InvalidVpcID.NotFound`, `Throttling` ...).
    pub code: Option<String>,
    pub message: String,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// AWS's id of the request, when it answered.
    pub request_id: Option<String>,
    pub failure: Failure,
    /// Where the request went: `--endpoint`, or `None` for AWS's own endpoints.
    pub endpoint: Option<String>,
    pub region: String,
    /// The caller's ARN (from the identity check), when known.
    pub principal: Option<String>,
    /// While AWS kept throttling: chronous's own further tries and how long they took.
    pub throttled: Option<(u32, Duration)>,
    /// Attempts the SDK makes per try (its standard retries).
    pub attempts: u32,
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

/// Hints for one operation's error code, where the code alone would mislead
/// (a NoSuchEntity of AttachRolePolicy is the policy, not a deleted object).
const SPECIFIC: &[(&str, &str, ErrorKind, &str)] = &[
    ("AttachRolePolicy", "NoSuchEntity", ErrorKind::NotFound, "the managed policy does not exist (AWS's are arn:aws:iam::aws:policy/...): check the ARN; moto loads AWS's managed policies only with MOTO_IAM_LOAD_MANAGED_POLICIES=true"),
    ("RunInstances", "InvalidAMIID.NotFound", ErrorKind::NotFound, "the AMI is not available in this region (deregistered, or looked up in another region): run plan again, it looks the AMI up anew"),
    ("CreateLaunchTemplate", "InvalidAMIID.NotFound", ErrorKind::NotFound, "the AMI is not available in this region (deregistered, or looked up in another region): run plan again, it looks the AMI up anew"),
    ("CreateDBInstance", "InvalidParameterCombination", ErrorKind::Refused, "RDS does not offer this engine version with this instance class here: check database.engine_version and database.instance_class (`aws rds describe-orderable-db-instance-options --engine mysql` lists what is offered)"),
    ("CreateBucket", "BucketAlreadyExists", ErrorKind::Conflict, "S3 bucket names are global and another account owns this one: choose another name in chronous.toml"),
    ("CreateService", "InvalidParameterException", ErrorKind::Refused, "ECS refused the service: the message names the parameter; the ELB, the role and the task definition must exist in this region"),
];

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line(true))
    }
}

impl std::error::Error for CallError {}

/// The service and operation of an SDK error type, from its path
/// (`aws_sdk_ec2::operation::create_vpc::CreateVpcError` -> `ec2`, `CreateVpc`).
pub(crate) fn operation_of<E>() -> (String, String) {
    let path = std::any::type_name::<E>();
    // Generic parameters (none in the SDK's operation errors) are not part of the name.
    let path = path.split('<').next().unwrap_or(path);
    let krate = path.split("::").next().unwrap_or_default();
    let service = match krate.strip_prefix("aws_sdk_") {
        Some("elasticloadbalancing") => "elb".to_string(),
        Some("cloudwatchlogs") => "logs".to_string(),
        Some(s) => s.to_string(),
        None => "aws".to_string(),
    };
    let last = path.rsplit("::").next().unwrap_or_default();
    let operation = match last.strip_suffix("Error") {
        Some(op) if !op.is_empty() && krate.starts_with("aws_sdk_") => op.to_string(),
        _ => "request".to_string(),
    };
    (service, operation)
}

/// The causes of `e`, outermost first.
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// Why no answer came, in a few words (`connection refused`), from the
/// innermost cause the SDK gives.
fn transport_reason(e: &(dyn StdError + 'static)) -> String {
    for c in chain(e) {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return "connection refused".into(),
                K::ConnectionReset => return "the connection was reset".into(),
                K::ConnectionAborted => return "the connection was aborted".into(),
                K::TimedOut => return "the connection timed out".into(),
                K::NotConnected | K::BrokenPipe => return "the connection was closed".into(),
                _ => {}
            }
        }
    }
    let inner = chain(e).last().map(|c| c.to_string()).unwrap_or_default();
    inner.lines().next().unwrap_or_default().trim().to_string()
}

/// The credential chain's failure inside `e`, in a few words.
fn credentials_problem(e: &(dyn StdError + 'static)) -> Option<(bool, String)> {
    let c = chain(e).find_map(|c| c.downcast_ref::<CredentialsError>())?;
    Some(match c {
        CredentialsError::CredentialsNotLoaded(_) => (
            true,
            "none in the environment (AWS_ACCESS_KEY_ID), in a profile (AWS_PROFILE, ~/.aws/config, ~/.aws/credentials) or from an instance or container role".into(),
        ),
        CredentialsError::ProviderTimedOut(_) => {
            (false, format!("{c} (the instance metadata service or an SSO/STS endpoint did not answer)"))
        }
        _ => {
            // The provider's own words, one line (a profile that does not exist, a file that does not parse).
            let why = c
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| c.to_string());
            (false, why.lines().next().unwrap_or_default().trim().to_string())
        }
    })
}

/// The request id an XML error body carries (EC2's `RequestID`, the query
/// protocols' `RequestId`), where no header gave it.
fn body_request_id(r: &HttpResponse) -> Option<String> {
    let body = std::str::from_utf8(r.body().bytes()?).ok()?;
    ["RequestID", "RequestId"].iter().find_map(|tag| {
        let open = format!("<{tag}>");
        let rest = &body[body.find(&open)? + open.len()..];
        let id = rest[..rest.find(&format!("</{tag}>"))?].trim();
        (!id.is_empty() && id.len() <= 100).then(|| id.to_string())
    })
}

/// Whether an answer's body is a web page.
fn is_html(r: &HttpResponse) -> bool {
    let ct = r
        .headers()
        .get("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let head: Vec<u8> = r
        .body()
        .bytes()
        .unwrap_or_default()
        .iter()
        .take(512)
        .copied()
        .collect();
    let head = String::from_utf8_lossy(&head)
        .trim_start()
        .to_ascii_lowercase();
    ct.contains("text/html") || head.starts_with("<!doctype html") || head.starts_with("<html")
}

impl CallError {
    /// The error of a call of operation `E` (service and operation from its type).
    pub fn from_sdk<E>(e: SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    {
        let (service, operation) = operation_of::<E>();
        let raw = e.raw_response();
        let status = raw.map(|r| r.status().as_u16());
        let request_id = e
            .as_service_error()
            .and_then(|s| s.request_id())
            .or_else(|| raw.and_then(|r| r.headers().request_id()))
            .map(str::to_string)
            .or_else(|| raw.and_then(body_request_id));
        let code = e.code().map(str::to_string);
        let (failure, message) = match &e {
            SdkError::DispatchFailure(d) => match credentials_problem(&e) {
                Some((none_found, why)) => (Failure::Credentials { none_found }, why),
                None if d.is_timeout() => (Failure::Timeout, transport_reason(&e)),
                None => (Failure::Unreachable, transport_reason(&e)),
            },
            SdkError::TimeoutError(_) => (Failure::Timeout, transport_reason(&e)),
            SdkError::ConstructionFailure(_) => match credentials_problem(&e) {
                Some((none_found, why)) => (Failure::Credentials { none_found }, why),
                None => (Failure::Other, transport_reason(&e)),
            },
            // No AWS error code: a web page, or a server error without an AWS body.
            _ if code.is_none()
                && (raw.is_some_and(is_html) || status.is_some_and(|s| s >= 500)) =>
            {
                (
                    Failure::NotAws {
                        html: raw.is_some_and(is_html),
                    },
                    String::new(),
                )
            }
            _ => (
                Failure::Aws,
                e.message()
                    .map(str::to_string)
                    .unwrap_or_else(|| match status {
                        Some(s) => format!("HTTP {s}"),
                        None => transport_reason(&e),
                    }),
            ),
        };
        CallError {
            service,
            operation,
            code,
            message,
            status,
            request_id,
            failure,
            endpoint: None,
            region: String::new(),
            principal: None,
            throttled: None,
            attempts: 1,
        }
    }

    /// The call's context: where it went, who made it, the SDK's attempts per try.
    pub(crate) fn at(mut self, p: &AwsProvider) -> CallError {
        self.endpoint = p.opts.endpoint.clone();
        self.region = p.opts.region.clone();
        self.principal = p.identity.get().map(|i| i.arn.clone());
        self.attempts = p.opts.max_attempts.max(1);
        self
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
            || (self.status == Some(404) && self.failure == Failure::Aws)
    }

    pub fn is(&self, code: &str) -> bool {
        self.code() == code
    }

    /// AWS answered with an internal error of its own.
    pub fn is_server(&self) -> bool {
        self.failure == Failure::Aws
            && (self.status.is_some_and(|s| s >= 500)
                || self.code() == "InternalError"
                || self.code() == "InternalFailure"
                || self.code() == "ServiceUnavailable")
    }

    /// The request never got an answer (not reached, or not in time).
    pub fn is_transport(&self) -> bool {
        matches!(self.failure, Failure::Unreachable | Failure::Timeout)
    }

    /// Where the request went, for the user: the endpoint's URL, or the service and region on AWS.
    fn target(&self) -> String {
        match &self.endpoint {
            Some(u) => format!("the AWS endpoint {u}"),
            None if self.region.is_empty() => format!("AWS ({})", self.service),
            None => format!("AWS ({} in {})", self.service, self.region),
        }
    }

    /// AWS's message without the encoded authorization blob (the hint names it).
    fn message_shown(&self) -> &str {
        match self.message.find("Encoded authorization failure message:") {
            Some(i) => self.message[..i].trim_end(),
            None => &self.message,
        }
    }

    /// The error in one line; `with_request` adds the request id (left out
    /// when failures are compared: every request has its own).
    fn line(&self, with_request: bool) -> String {
        let op = format!("{} {}", self.service, self.operation);
        match &self.failure {
            Failure::Credentials { none_found: true } => {
                format!("no AWS credentials found: {}", self.message)
            }
            Failure::Credentials { none_found: false } => {
                format!("the AWS credentials could not be loaded: {}", self.message)
            }
            Failure::Unreachable => format!("cannot reach {}: {}", self.target(), self.message),
            Failure::Timeout => format!(
                "{op}: no answer from {} in time: {}",
                self.target(),
                self.message
            ),
            Failure::NotAws { html } => format!(
                "{op} failed: the endpoint answered HTTP {} with {} (not an AWS API response)",
                self.status.unwrap_or_default(),
                if *html { "an HTML page" } else { "a body" }
            ),
            Failure::Other => format!("{op} failed: {}", self.message),
            Failure::Aws => {
                let mut s = format!("{op} failed: ");
                if let Some(c) = &self.code {
                    s.push_str(c);
                    s.push_str(": ");
                }
                s.push_str(self.message_shown());
                if with_request {
                    if let Some(r) = &self.request_id {
                        s.push_str(&format!(" (request {r})"));
                    }
                }
                if let Some((tries, took)) = self.throttled {
                    s.push_str(&format!(
                        "; still throttled after {tries} retries over {}s, each of up to {} attempts",
                        took.as_secs(),
                        self.attempts
                    ));
                }
                s
            }
        }
    }

    /// The error without what differs between two requests failing the same
    /// way (the request id): identical failures of parallel steps compare equal.
    pub fn cause(&self) -> String {
        self.line(false)
    }

    /// The error as a step reports it: the address, what was being done, what
    /// AWS said, what to do.
    pub fn provider(&self, address: &str, what: &str) -> ProviderError {
        let (kind, hint) = self.classify();
        let e = ProviderError::of(kind, format!("{address}: could not {what}: {self}"))
            .with_hint(hint)
            .with_cause(self.cause());
        match kind {
            ErrorKind::Unreachable | ErrorKind::Unavailable => e.retryable(),
            _ => e,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.classify().0
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        self.classify().1
    }

    /// The IAM action of the call (`ec2:CreateVpc`).
    fn action(&self) -> String {
        let prefix = match self.service.as_str() {
            "elb" => "elasticloadbalancing",
            s => s,
        };
        format!("{prefix}:{}", self.operation)
    }

    /// What kind of failure this is and what the user can do about it.
    fn classify(&self) -> (ErrorKind, String) {
        match &self.failure {
            Failure::Credentials { none_found: true } => (ErrorKind::Denied, "give chronous credentials the way the AWS CLI takes them: AWS_PROFILE naming a profile made with `aws configure` (or `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into()),
            Failure::Credentials { none_found: false } => (ErrorKind::Denied, "check the profile AWS_PROFILE names in ~/.aws/config and ~/.aws/credentials; `aws sts get-caller-identity` tries the same credentials".into()),
            Failure::Unreachable | Failure::Timeout => (ErrorKind::Unreachable, match &self.endpoint {
                Some(_) => "is --endpoint / AWS_ENDPOINT_URL right, and is that server running? (without either, chronous calls AWS itself)".into(),
                None => format!("check the network (a proxy: HTTPS_PROXY) and that AWS is reachable from here in region {}", self.region),
            }),
            Failure::NotAws { .. } => (ErrorKind::Other, match &self.endpoint {
                Some(_) => format!("is --endpoint / AWS_ENDPOINT_URL right, does it implement {}?", self.operation),
                None => "something other than AWS answered (a proxy?): check HTTPS_PROXY and the network".into(),
            }),
            Failure::Other => (ErrorKind::Other, "this is likely a bug in chronous's AWS backend; report it with the line above".into()),
            Failure::Aws => self.classify_answer(),
        }
    }

    /// The hint for an error AWS answered, by its operation and code.
    fn classify_answer(&self) -> (ErrorKind, String) {
        let c = self.code();
        if let Some((_, _, kind, hint)) = SPECIFIC
            .iter()
            .find(|(op, code, _, _)| *op == self.operation && *code == c)
        {
            return (*kind, hint.to_string());
        }
        if self.is_throttling() {
            return (ErrorKind::Unavailable, "AWS kept throttling requests: wait a minute and run the command again, or lower --parallelism".into());
        }
        if self.is_server() {
            return (ErrorKind::Unavailable, "AWS answered with an internal error: run the command again; chronous adopts what a step may already have made".into());
        }
        if c.contains("UnauthorizedOperation") || c.contains("AccessDenied") {
            return (ErrorKind::Denied, self.denied_hint());
        }
        if c == "InvalidClientTokenId"
            || c == "SignatureDoesNotMatch"
            || c == "AuthFailure"
            || c == "UnrecognizedClientException"
        {
            return (ErrorKind::Denied, "AWS does not accept these credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile AWS_PROFILE names (`aws sts get-caller-identity` tries them)".into());
        }
        let (kind, hint) = if c.contains("ExpiredToken") || c == "RequestExpired" {
            (ErrorKind::Denied, "the AWS credentials have expired: renew them (for example `aws sso login`) and run the command again")
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
        };
        (kind, hint.to_string())
    }

    /// Access denied: who may not do what, as AWS said it or as chronous knows it.
    fn denied_hint(&self) -> String {
        let m = &self.message;
        let said = |after: &str| {
            m.find(after).map(|i| {
                m[i + after.len()..]
                    .trim_start()
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('.')
                    .to_string()
            })
        };
        let action = said("not authorized to perform:").unwrap_or_else(|| self.action());
        let who = said("User:")
            .or_else(|| self.principal.clone())
            .map(|p| format!("`{p}`"))
            .unwrap_or_else(|| "the credentials in use".into());
        let mut h = format!("{who} may not call {action}: allow it in that principal's IAM policy (or in the permission boundary / SCP that denies it), or use other credentials (AWS_PROFILE)");
        if let Some(i) = m.find("Encoded authorization failure message:") {
            let blob = m[i + "Encoded authorization failure message:".len()..].trim();
            h.push_str(&format!("; `aws sts decode-authorization-message --encoded-message {blob}` says which policy denied it"));
        }
        h
    }
}

impl AwsProvider {
    /// Send a request (built afresh by `f` for every try): the SDK retries in
    /// its standard mode; while AWS still throttles, back off and try again.
    pub(crate) async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, CallError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    {
        let mut pause = self.opts.throttle_backoff;
        let mut tries = 0;
        let start = tokio::time::Instant::now();
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let mut e = CallError::from_sdk(e).at(self);
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
                    if e.is_throttling() {
                        e.throttled = Some((tries, start.elapsed()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(service: &str, operation: &str, code: &str, message: &str) -> CallError {
        CallError {
            service: service.into(),
            operation: operation.into(),
            code: Some(code.into()),
            message: message.into(),
            status: Some(400),
            request_id: Some("r-1".into()),
            failure: Failure::Aws,
            endpoint: None,
            region: "us-east-2".into(),
            principal: None,
            throttled: None,
            attempts: 5,
        }
    }

    #[test]
    fn a_hint_is_for_the_operation_and_the_code() {
        let e = answered(
            "iam",
            "AttachRolePolicy",
            "NoSuchEntity",
            "Policy arn:aws:iam::aws:policy/X does not exist or is not attachable.",
        );
        assert_eq!(
            e.to_string(),
            "iam AttachRolePolicy failed: NoSuchEntity: Policy arn:aws:iam::aws:policy/X does not exist or is not attachable. (request r-1)"
        );
        assert!(
            e.hint().contains("MOTO_IAM_LOAD_MANAGED_POLICIES"),
            "{}",
            e.hint()
        );
        // The same code from another operation: an object deleted outside chronous.
        let e = answered("iam", "GetRole", "NoSuchEntity", "Role x not found");
        assert!(
            e.hint().contains("deleted outside chronous"),
            "{}",
            e.hint()
        );
        assert_eq!(
            e.cause(),
            "iam GetRole failed: NoSuchEntity: Role x not found"
        );
    }

    #[test]
    fn the_service_and_operation_come_from_the_error_type() {
        assert_eq!(
            operation_of::<aws_sdk_ec2::operation::create_vpc::CreateVpcError>(),
            ("ec2".to_string(), "CreateVpc".to_string())
        );
        assert_eq!(
            operation_of::<aws_sdk_elasticloadbalancing::operation::create_load_balancer::CreateLoadBalancerError>(),
            ("elb".to_string(), "CreateLoadBalancer".to_string())
        );
        assert_eq!(
            operation_of::<aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError>(),
            ("logs".to_string(), "GetLogEvents".to_string())
        );
        assert_eq!(
            operation_of::<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError>(),
            ("sts".to_string(), "GetCallerIdentity".to_string())
        );
        assert_eq!(
            operation_of::<std::io::Error>(),
            ("aws".to_string(), "request".to_string())
        );
    }
}
