//! How failed AWS calls read: one line naming the service, the operation,
//! AWS's code and message and the request id, then a hint for that operation
//! and code; never the SDK's `Debug` representation. AWS's answers come from
//! aws-smithy-mocks; connection refused and missing credentials are real (a
//! closed loopback port, an empty credential chain).

mod common;

use std::collections::BTreeMap;

use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chronous_aws::{AwsOptions, AwsProvider, Failure};
use chronous_core::provider::{CreateRequest, ErrorKind, Provider, ProviderError};
use chronous_core::resources::{Kind, Spec, VpcSpec};
use chronous_core::state::ResourceRecord;
use common::{db_spec, mock_options, unused_clients};

/// What no error a person reads may contain: the SDK's `Debug` output, a web page.
const NEVER: &[&str] = &[
    "DispatchFailure",
    "ConnectorError",
    "ServiceError",
    "Unhandled",
    "source:",
    "<html",
    "<!DOCTYPE",
    "os error",
];

fn assert_readable(e: &ProviderError) {
    let all = format!("{} {}", e.message, e.hint.as_deref().unwrap_or_default());
    assert!(!e.message.contains('\n'), "one line: {}", e.message);
    for n in NEVER {
        assert!(!all.contains(n), "`{n}` in: {all}");
    }
}

fn vpc_record() -> ResourceRecord {
    ResourceRecord {
        address: "aws_vpc.main".into(),
        kind: Kind::Vpc,
        id: "vpc-123".into(),
        attrs: serde_json::to_value(VpcSpec {
            cidr_block: "10.2.0.0/16".into(),
            enable_dns_hostnames: true,
            tags: BTreeMap::new(),
        })
        .unwrap(),
        outputs: BTreeMap::new(),
        deps: vec![],
        tainted: false,
    }
}

/// An EC2 error answer, with AWS's request id in the body as EC2 sends it.
fn ec2_error(code: &str, message: &str, request: &str) -> String {
    format!("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request}</RequestID></Response>")
}

/// A provider whose EC2 answers every DescribeVpcs with `status` and `body`.
fn ec2_answering(
    status: u16,
    body: String,
    opts: AwsOptions,
) -> (AwsProvider, aws_smithy_mocks::Rule) {
    let rule = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .sequence()
        .http_status(status, Some(body))
        .repeatedly()
        .build();
    let mut c = unused_clients();
    c.ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&rule], |b| b
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(2)
        ));
    (AwsProvider::with_clients(c, opts), rule)
}

#[tokio::test]
async fn throttling_says_how_often_it_was_retried() {
    let mut o = mock_options();
    o.max_attempts = 2;
    o.throttle_retries = 3;
    let body = ec2_error(
        "RequestLimitExceeded",
        "Request limit exceeded.",
        "req-throttled-1",
    );
    let (p, rule) = ec2_answering(503, body, o);
    let e = p.read(&vpc_record()).await.expect_err("throttled");
    assert_readable(&e);
    assert!(
        e.message.starts_with(
        "aws_vpc.main: could not describe it: ec2 DescribeVpcs failed: RequestLimitExceeded: Request limit exceeded. (request req-throttled-1); still throttled after 3 retries over "),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with("s, each of up to 2 attempts"),
        "{}",
        e.message
    );
    assert_eq!(rule.num_calls(), 8, "(3 retries + 1) x 2 attempts");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.retryable);
    assert!(e.hint.unwrap().contains("lower --parallelism"));
}

#[tokio::test]
async fn access_denied_names_the_action_and_the_principal_aws_gave() {
    let message = "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action. Encoded authorization failure message: QmxvYi1vZi1kZXRhaWxz";
    let body = ec2_error("UnauthorizedOperation", message, "req-denied-7");
    let (p, _) = ec2_answering(403, body, mock_options());
    let e = p.read(&vpc_record()).await.expect_err("denied");
    assert_readable(&e);
    assert_eq!(
        e.message,
        "aws_vpc.main: could not describe it: ec2 DescribeVpcs failed: UnauthorizedOperation: You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action. (request req-denied-7)"
    );
    assert_eq!(e.kind, ErrorKind::Denied);
    assert!(!e.retryable);
    let hint = e.hint.unwrap();
    assert!(
        hint.starts_with("`arn:aws:iam::123456789012:user/ci` may not call ec2:DescribeVpcs: "),
        "{hint}"
    );
    assert!(
        hint.contains(
            "aws sts decode-authorization-message --encoded-message QmxvYi1vZi1kZXRhaWxz"
        ),
        "{hint}"
    );
}

#[tokio::test]
async fn access_denied_without_details_names_the_action_of_the_call() {
    let rule = mock!(aws_sdk_iam::Client::get_role)
        .sequence()
        .http_status(
            403,
            Some("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Access denied</Message></Error><RequestId>req-iam-3</RequestId></ErrorResponse>".into()),
        )
        .repeatedly()
        .build();
    let mut c = unused_clients();
    c.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);
    let p = AwsProvider::with_clients(c, mock_options());
    let record = ResourceRecord {
        address: "aws_iam_role.ecs_ec2".into(),
        kind: Kind::IamRole,
        id: "cak-ecs_ec2".into(),
        attrs: serde_json::json!({"name": "cak-ecs_ec2", "trusted_services": ["ec2.amazonaws.com"]}),
        outputs: BTreeMap::new(),
        deps: vec![],
        tainted: false,
    };
    let e = p.read(&record).await.expect_err("denied");
    assert_readable(&e);
    assert!(
        e.message
            .ends_with("iam GetRole failed: AccessDenied: Access denied (request req-iam-3)"),
        "{}",
        e.message
    );
    let hint = e.hint.unwrap();
    assert!(
        hint.starts_with("the credentials in use may not call iam:GetRole: "),
        "{hint}"
    );
}

/// The restore call (which moto does not implement) answered by a web page:
/// no HTML, no hint about the backup's MySQL version.
#[tokio::test]
async fn a_500_with_an_html_page_says_the_endpoint_lacks_the_operation() {
    std::env::set_var("CHRONOUS_MOCK_DB_PASSWORD", "mock-pw-never-shown");
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .http_status(404, Some("<ErrorResponse><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance cak not found.</Message></Error><RequestId>r1</RequestId></ErrorResponse>".into()))
        .repeatedly()
        .build();
    let html = "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request.</p>";
    let restore = mock!(aws_sdk_rds::Client::restore_db_instance_from_s3)
        .sequence()
        .http_response(move || {
            HttpResponse::new(StatusCode::try_from(500).unwrap(), SdkBody::from(html))
        })
        .repeatedly()
        .build();
    let mut c = unused_clients();
    c.rds = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&describe, &restore],
        |b| b.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
    );
    let mut o = mock_options();
    o.endpoint = Some("http://127.0.0.1:5000".into());
    let p = AwsProvider::with_clients(c, o);
    let spec = Spec::DbInstance(db_spec("5.6.41"));
    let e = p
        .create(CreateRequest {
            address: "aws_db_instance.main",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect_err("500");
    assert_readable(&e);
    assert_eq!(
        e.message,
        "aws_db_instance.main: could not restore the DB instance from S3: rds RestoreDBInstanceFromS3 failed: the endpoint answered HTTP 500 with an HTML page (not an AWS API response)"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("is --endpoint / AWS_ENDPOINT_URL right, does it implement RestoreDBInstanceFromS3?")
    );
    assert!(!e.retryable);
}

/// RDS refusing the restore's parameters for a 5.6 backup keeps the hint about 5.6.
#[tokio::test]
async fn rds_refusing_a_5_6_restore_keeps_its_own_hint() {
    std::env::set_var("CHRONOUS_MOCK_DB_PASSWORD", "mock-pw-never-shown");
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .http_status(404, Some("<ErrorResponse><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance cak not found.</Message></Error><RequestId>r1</RequestId></ErrorResponse>".into()))
        .repeatedly()
        .build();
    let restore = mock!(aws_sdk_rds::Client::restore_db_instance_from_s3)
        .sequence()
        .http_status(400, Some("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterCombination</Code><Message>Cannot find version 5.6.41 for mysql</Message></Error><RequestId>req-rds-9</RequestId></ErrorResponse>".into()))
        .repeatedly()
        .build();
    let mut c = unused_clients();
    c.rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &restore]);
    let p = AwsProvider::with_clients(c, mock_options());
    let spec = Spec::DbInstance(db_spec("5.6.41"));
    let e = p
        .create(CreateRequest {
            address: "aws_db_instance.main",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect_err("refused");
    assert_readable(&e);
    assert!(
        e.message.ends_with("rds RestoreDBInstanceFromS3 failed: InvalidParameterCombination: Cannot find version 5.6.41 for mysql (request req-rds-9)"),
        "{}",
        e.message
    );
    assert!(e.hint.unwrap().contains("RDS retired MySQL 5.6"));
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Options toward `endpoint` with one attempt per call.
fn real_options(endpoint: String) -> AwsOptions {
    let mut o = AwsOptions::new(common::REGION, "errors", std::env::temp_dir());
    o.endpoint = Some(endpoint);
    o.max_attempts = 1;
    o
}

#[tokio::test]
async fn connection_refused_is_one_line_naming_the_endpoint() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let url = format!("http://127.0.0.1:{}", closed_port());
    let p = AwsProvider::connect(real_options(url.clone()))
        .await
        .expect("connect makes no call");
    let e = p.identity().await.expect_err("nothing listens");
    assert_eq!(e.failure, Failure::Unreachable);
    assert_eq!(
        e.to_string(),
        format!("cannot reach the AWS endpoint {url}: connection refused")
    );
    let e = p.read(&vpc_record()).await.expect_err("nothing listens");
    assert_readable(&e);
    assert_eq!(
        e.message,
        format!("aws_vpc.main: could not describe it: cannot reach the AWS endpoint {url}: connection refused")
    );
    assert_eq!(e.kind, ErrorKind::Unreachable);
    assert_eq!(
        e.cause.as_deref(),
        Some(format!("cannot reach the AWS endpoint {url}: connection refused").as_str()),
        "the same cause for every step, whatever the service"
    );
    assert!(e.hint.unwrap().contains("--endpoint / AWS_ENDPOINT_URL"));
}

#[tokio::test]
async fn no_credentials_is_one_error_before_any_request() {
    let home = tempfile::tempdir().unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            std::env::remove_var(k);
        }
    }
    std::env::set_var("HOME", home.path());
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    // A closed port: had a request gone out, the error would say connection refused.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let p = AwsProvider::connect(real_options(url))
        .await
        .expect("connect makes no call");
    let e = p.identity().await.expect_err("no credentials");
    assert_eq!(e.failure, Failure::Credentials { none_found: true });
    assert!(
        e.to_string().starts_with("no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), in a profile (AWS_PROFILE"),
        "{e}"
    );
    let hint = e.hint();
    assert!(
        hint.contains("AWS_PROFILE")
            && hint.contains("aws configure")
            && hint.contains("AWS_ACCESS_KEY_ID"),
        "{hint}"
    );
    assert_eq!(e.kind(), ErrorKind::Denied);
}
