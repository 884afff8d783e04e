//! The provider against aws-smithy-mocks: throttling then success, a 5xx in
//! the middle of an apply, the RestoreDBInstanceFromS3 request and an
//! `incompatible-restore` outcome, NotFound on refresh, and the ECS service
//! request's deployment configuration (which moto does not keep).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chronous_aws::{AwsOptions, AwsProvider};
use chronous_core::engine::{self, ApplyConfig};
use chronous_core::env::Backend;
use chronous_core::plan::{self, Action, PlanOptions};
use chronous_core::provider::{CreateRequest, Provider};
use chronous_core::resources::*;
use chronous_core::state::{ResourceRecord, State};
use common::{db_spec, mock_options, unused_clients, MemJournal};
use serde_json::json;

fn opts() -> AwsOptions {
    mock_options()
}

fn ec2_error(status: u16, code: &str) -> HttpResponse {
    let xml = format!("<Response><Errors><Error><Code>{code}</Code><Message>{code} (mocked)</Message></Error></Errors><RequestID>mock</RequestID></Response>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(xml))
}

/// An error as the query protocol (IAM, RDS) answers it.
fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let xml = format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>mock</RequestId></ErrorResponse>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(xml))
}

fn vpc_record() -> ResourceRecord {
    ResourceRecord {
        address: "aws_vpc.main".into(),
        kind: Kind::Vpc,
        id: "vpc-123".into(),
        attrs: serde_json::to_value(VpcSpec {
            cidr_block: "10.2.0.0/16".into(),
            enable_dns_hostnames: true,
            tags: BTreeMap::from([("Name".into(), "cak-vpc".into())]),
        })
        .unwrap(),
        outputs: BTreeMap::from([("id".into(), json!("vpc-123"))]),
        deps: vec![],
        tainted: false,
    }
}

fn vpc_rules() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ec2::Client::describe_vpc_attribute).then_output(|| {
        aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput::builder()
            .enable_dns_hostnames(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(true)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_succeeds() {
    let vpcs = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .sequence()
        .http_status(503, Some("<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>".into()))
        .times(6)
        .output(|| {
            aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput::builder()
                .vpcs(
                    aws_sdk_ec2::types::Vpc::builder()
                        .vpc_id("vpc-123")
                        .cidr_block("10.2.0.0/16")
                        .owner_id("123456789012")
                        .tags(aws_sdk_ec2::types::Tag::builder().key("Name").value("cak-vpc").build())
                        .tags(aws_sdk_ec2::types::Tag::builder().key("chronous:address").value("aws_vpc.main").build())
                        .build(),
                )
                .build()
        })
        .build();
    let attr = vpc_rules();
    let mut c = unused_clients();
    c.ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&vpcs, &attr], |b| b
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(3)
        ));
    let p = AwsProvider::with_clients(c, opts());
    let got = p
        .read(&vpc_record())
        .await
        .expect("read succeeds after throttling")
        .expect("exists");
    assert_eq!(
        got.attrs,
        vpc_record().attrs,
        "the chronous tags are not part of the attributes"
    );
    assert_eq!(
        got.outputs["arn"],
        json!("arn:aws:ec2:us-east-2:123456789012:vpc/vpc-123")
    );
    // 6 throttled answers: the SDK's 3 attempts, then chronous's own backoff tries again.
    assert_eq!(vpcs.num_calls(), 7);
}

#[tokio::test]
async fn throttling_that_never_stops_is_reported_as_retryable() {
    let vpcs = mock!(aws_sdk_ec2::Client::describe_vpcs).sequence().http_status(400, Some(String::from_utf8(b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>".to_vec()).unwrap())).repeatedly().build();
    let mut c = unused_clients();
    c.ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&vpcs], |b| b
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(2)
        ));
    let mut o = opts();
    o.throttle_retries = 2;
    let p = AwsProvider::with_clients(c, o);
    let e = p.read(&vpc_record()).await.expect_err("throttled");
    assert!(e.retryable);
    assert!(
        e.message.starts_with(
            "aws_vpc.main: could not describe it: ec2 DescribeVpcs failed: RequestLimitExceeded"
        ),
        "{}",
        e.message
    );
    // chronous's 2 further tries, each of the SDK's 2 attempts, after the first.
    assert!(
        e.message.contains("still throttled after 2 retries"),
        "{}",
        e.message
    );
    assert_eq!(vpcs.num_calls(), 6);
    assert!(
        e.hint.as_deref().unwrap().contains("lower --parallelism"),
        "{:?}",
        e.hint
    );
}

#[tokio::test]
async fn not_found_on_refresh_shows_as_deleted_and_is_planned_again() {
    let vpcs = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .then_http_response(|| ec2_error(400, "InvalidVpcID.NotFound"));
    let mut c = unused_clients();
    c.ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&vpcs]);
    let p = AwsProvider::with_clients(c, opts());
    let mut recorded = State::new("mocked", Backend::Aws, "l".into());
    recorded
        .resources
        .insert("aws_vpc.main".into(), vpc_record());
    let (refreshed, errors) = engine::refresh(&recorded, &p, 4).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(refreshed.resources.is_empty());
    let desired = vec![Resource {
        address: "aws_vpc.main".into(),
        spec: Spec::Vpc(serde_json::from_value(vpc_record().attrs).unwrap()),
    }];
    let plan = plan::plan(desired, &recorded, &refreshed, &PlanOptions::default()).unwrap();
    assert_eq!(plan.changes[0].action, Action::Create);
    assert_eq!(
        plan.changes[0].reasons,
        vec!["it was deleted outside chronous".to_string()]
    );
    assert!(plan.drift[0].deleted);
    assert!(plan.render().contains("# aws_vpc.main was deleted"));
}

fn role(name: &str) -> aws_sdk_iam::types::Role {
    aws_sdk_iam::types::Role::builder()
        .role_name(name)
        .arn(format!("arn:aws:iam::123456789012:role/{name}"))
        .path("/")
        .role_id(format!("AROA{}", name.to_uppercase()))
        .create_date(aws_smithy_types::DateTime::from_secs(0))
        .assume_role_policy_document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22ecs.amazonaws.com%22%5D%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D")
        .build()
        .unwrap()
}

/// An IAM stand-in: get_role finds what create_role made; create_role of `failing` answers 500.
fn iam_client(failing: Option<&'static str>) -> (aws_sdk_iam::Client, aws_smithy_mocks::Rule) {
    let made: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let m2 = made.clone();
    let get = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|_| true)
        .then_compute_response(move |req| {
            let name = req.role_name().unwrap_or_default().to_string();
            if m2.lock().unwrap().contains(&name) {
                MockResponse::Output(
                    aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                        .role(role(&name))
                        .build(),
                )
            } else {
                MockResponse::Http(query_error(
                    404,
                    "NoSuchEntity",
                    "The role cannot be found.",
                ))
            }
        });
    let create = mock!(aws_sdk_iam::Client::create_role)
        .match_requests(|_| true)
        .then_compute_response(move |req| {
            let name = req.role_name().unwrap_or_default().to_string();
            made.lock().unwrap().insert(name.clone());
            MockResponse::Output(
                aws_sdk_iam::operation::create_role::CreateRoleOutput::builder()
                    .role(role(&name))
                    .build(),
            )
        });
    let fail = mock!(aws_sdk_iam::Client::create_role)
        .match_requests(move |req| req.role_name() == failing)
        .sequence()
        .http_status(500, Some("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>internal error (mocked)</Message></Error></ErrorResponse>".into()))
        .repeatedly()
        .build();
    let client = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&get, &fail, &create],
        |b| b.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
    );
    (client, fail)
}

#[tokio::test]
async fn a_5xx_in_the_middle_of_an_apply_fails_that_step_only_and_the_next_apply_continues() {
    let desired: Vec<Resource> = ["a", "b", "c"]
        .iter()
        .map(|n| Resource {
            address: format!("aws_iam_role.{n}"),
            spec: Spec::IamRole(IamRoleSpec {
                name: n.to_string(),
                trusted_services: vec!["ecs.amazonaws.com".into()],
            }),
        })
        .collect();
    let mut st = State::new("mocked", Backend::Aws, "l".into());
    let mut journal = MemJournal::default();

    let (iam, create) = iam_client(Some("b"));
    let mut c = unused_clients();
    c.iam = iam;
    let p = AwsProvider::with_clients(c, opts());
    let plan1 = plan::plan(
        desired.clone(),
        &st.clone(),
        &st.clone(),
        &PlanOptions::default(),
    )
    .unwrap();
    let outcome = engine::apply(
        &plan1,
        &mut st,
        &p,
        &mut journal,
        &ApplyConfig {
            parallelism: 1,
            cancel: None,
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(outcome.failed.len(), 1);
    let f = &outcome.failed[0];
    assert_eq!(f.address, "aws_iam_role.b");
    assert!(f.error.retryable);
    assert!(
        f.error.message.starts_with(
            "aws_iam_role.b: could not create it: iam CreateRole failed: InternalFailure"
        ),
        "{}",
        f.error.message
    );
    assert!(
        f.error
            .hint
            .as_deref()
            .unwrap()
            .contains("run the command again"),
        "{:?}",
        f.error.hint
    );
    assert!(
        st.resources.contains_key("aws_iam_role.a") && !st.resources.contains_key("aws_iam_role.b")
    );
    assert_eq!(
        create.num_calls(),
        2,
        "the SDK retried the 5xx (max attempts 2)"
    );

    // AWS is healthy again: the next apply creates what is missing, and only that.
    let (iam, _) = iam_client(None);
    let mut c = unused_clients();
    c.iam = iam;
    let p = AwsProvider::with_clients(c, opts());
    let plan2 = plan::plan(desired, &st.clone(), &st.clone(), &PlanOptions::default()).unwrap();
    let creates: Vec<&str> = plan2
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .map(|c| c.address.as_str())
        .collect();
    assert!(
        creates.contains(&"aws_iam_role.b") && !creates.contains(&"aws_iam_role.a"),
        "{creates:?}"
    );
    let outcome = engine::apply(
        &plan2,
        &mut st,
        &p,
        &mut journal,
        &ApplyConfig::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.ok(), "{:?}", outcome.failed);
    assert_eq!(st.resources.len(), 3);
    assert_eq!(
        st.resources["aws_iam_role.b"].outputs["arn"],
        json!("arn:aws:iam::123456789012:role/b")
    );
}

/// RDS stand-in: the instance appears after the restore call and goes through `states`.
fn rds_client(
    states: &'static [&'static str],
) -> (
    aws_sdk_rds::Client,
    Arc<
        Mutex<
            Vec<aws_sdk_rds::operation::restore_db_instance_from_s3::RestoreDbInstanceFromS3Input>,
        >,
    >,
) {
    let seen: Arc<Mutex<Vec<_>>> = Arc::default();
    let s2 = seen.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|_| true)
        .then_compute_response(move |_| {
            if s2.lock().unwrap().is_empty() {
                return MockResponse::Http(query_error(
                    404,
                    "DBInstanceNotFound",
                    "DBInstance cak not found.",
                ));
            }
            let i = polls.fetch_add(1, Ordering::SeqCst).min(states.len() - 1);
            MockResponse::Output(
                aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput::builder()
                    .db_instances(
                        aws_sdk_rds::types::DbInstance::builder()
                            .db_instance_identifier("cak")
                            .db_instance_status(states[i])
                            .engine("mysql")
                            .engine_version("5.7.44")
                            .db_instance_class("db.t2.small")
                            .allocated_storage(20)
                            .master_username("dev")
                            .db_name("db")
                            .db_subnet_group(
                                aws_sdk_rds::types::DbSubnetGroup::builder()
                                    .db_subnet_group_name("cak-db")
                                    .build(),
                            )
                            .vpc_security_groups(
                                aws_sdk_rds::types::VpcSecurityGroupMembership::builder()
                                    .vpc_security_group_id("sg-rds")
                                    .build(),
                            )
                            .endpoint(
                                aws_sdk_rds::types::Endpoint::builder()
                                    .address("cak.abc.us-east-2.rds.amazonaws.com")
                                    .port(3306)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
        });
    let s3 = seen.clone();
    let restore = mock!(aws_sdk_rds::Client::restore_db_instance_from_s3).match_requests(|_| true).then_compute_output(move |req| {
        s3.lock().unwrap().push(req.clone());
        aws_sdk_rds::operation::restore_db_instance_from_s3::RestoreDbInstanceFromS3Output::builder().build()
    });
    (
        mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &restore]),
        seen,
    )
}

#[tokio::test]
async fn restore_from_s3_sends_the_backup_place_and_reports_incompatible_restore_clearly() {
    std::env::set_var("CHRONOUS_MOCK_DB_PASSWORD", "mock-pw-never-shown");
    let (rds, seen) = rds_client(&["creating", "creating", "incompatible-restore"]);
    let mut c = unused_clients();
    c.rds = rds;
    let p = AwsProvider::with_clients(c, opts());
    let spec = Spec::DbInstance(db_spec("5.6.41"));
    let e = p
        .create(CreateRequest {
            address: "aws_db_instance.main",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect_err("incompatible-restore");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.s3_bucket_name(), Some("cak-xtrabackup"));
    assert_eq!(r.s3_prefix(), Some("data"));
    assert_eq!(
        r.s3_ingestion_role_arn(),
        Some("arn:aws:iam::123456789012:role/cak-rds_s3_import")
    );
    assert_eq!(r.source_engine(), Some("mysql"));
    assert_eq!(r.source_engine_version(), Some("5.6.41"));
    assert_eq!(r.engine(), Some("mysql"));
    assert_eq!(r.db_instance_identifier(), Some("cak"));
    assert_eq!(r.db_subnet_group_name(), Some("cak-db"));
    assert_eq!(r.vpc_security_group_ids(), ["sg-rds".to_string()]);
    assert_eq!(r.master_user_password(), Some("mock-pw-never-shown"));
    let tags: Vec<(&str, &str)> = r
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(
        tags.contains(&("chronous:address", "aws_db_instance.main"))
            && tags.contains(&("chronous:environment", "mocked"))
    );

    assert!(
        e.message
            .starts_with("aws_db_instance.main: RDS could not restore the backup into `cak`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("incompatible-restore"), "{}", e.message);
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.contains("MySQL 5.6") && hint.contains("5.7 or 8.0") && hint.contains("XtraBackup"),
        "{hint}"
    );
    assert!(!e.message.contains("mock-pw-never-shown") && !hint.contains("mock-pw-never-shown"));
}

#[tokio::test]
async fn restore_from_s3_waits_until_available() {
    std::env::set_var("CHRONOUS_MOCK_DB_PASSWORD", "mock-pw-never-shown");
    let (rds, _) = rds_client(&["creating", "backing-up", "available"]);
    let mut c = unused_clients();
    c.rds = rds;
    let p = AwsProvider::with_clients(c, opts());
    let mut d = db_spec("5.7.44");
    d.engine_version = "5.7".into();
    let spec = Spec::DbInstance(d);
    let o = p
        .create(CreateRequest {
            address: "aws_db_instance.main",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect("available");
    assert_eq!(
        o.outputs["endpoint"],
        json!("cak.abc.us-east-2.rds.amazonaws.com:3306")
    );
    assert_eq!(o.outputs["port"], json!("3306"));
    // `5.7` in the file, `5.7.44` at AWS: no drift.
    assert_eq!(o.attrs, spec.to_attrs());
}

#[tokio::test]
async fn missing_password_is_reported_before_any_restore() {
    std::env::remove_var("CHRONOUS_MOCK_DB_PASSWORD_UNSET");
    let (rds, seen) = rds_client(&["available"]);
    let mut c = unused_clients();
    c.rds = rds;
    let p = AwsProvider::with_clients(c, opts());
    let mut d = db_spec("5.7.44");
    d.password_source =
        chronous_core::secret::SecretSource::Env("CHRONOUS_MOCK_DB_PASSWORD_UNSET".into());
    let e = p
        .create(CreateRequest {
            address: "aws_db_instance.main",
            spec: &Spec::DbInstance(d),
            exclude_ids: &[],
        })
        .await
        .expect_err("no password");
    assert!(e.message.contains("no database password"), "{}", e.message);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn service_request_carries_the_deployment_configuration_and_the_classic_elb() {
    let seen: Arc<Mutex<Vec<aws_sdk_ecs::operation::create_service::CreateServiceInput>>> =
        Arc::default();
    let s2 = seen.clone();
    let s3 = seen.clone();
    let describe = mock!(aws_sdk_ecs::Client::describe_services).match_requests(|_| true).then_compute_response(move |_| {
        let made = s3.lock().unwrap();
        let mut o = aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder();
        if let Some(req) = made.first() {
            let dc = req.deployment_configuration().cloned();
            o = o.services(
                aws_sdk_ecs::types::Service::builder()
                    .service_name(req.service_name().unwrap())
                    .service_arn("arn:aws:ecs:us-east-2:123456789012:service/cak-cluster-1/payments_api-service")
                    .cluster_arn(req.cluster().unwrap())
                    .task_definition(req.task_definition().unwrap())
                    .desired_count(req.desired_count().unwrap())
                    .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
                    .status("ACTIVE")
                    .set_deployment_configuration(dc)
                    .set_role_arn(req.role().map(str::to_string))
                    .health_check_grace_period_seconds(req.health_check_grace_period_seconds().unwrap_or(0))
                    .set_load_balancers(Some(req.load_balancers().to_vec()))
                    .build(),
            );
        }
        MockResponse::Output(o.build())
    });
    let create = mock!(aws_sdk_ecs::Client::create_service)
        .match_requests(|_| true)
        .then_compute_output(move |req| {
            s2.lock().unwrap().push(req.clone());
            aws_sdk_ecs::operation::create_service::CreateServiceOutput::builder().build()
        });
    let mut c = unused_clients();
    c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &create]);
    let p = AwsProvider::with_clients(c, opts());
    let spec = Spec::EcsService(EcsServiceSpec {
        name: "payments_api-service".into(),
        cluster: "arn:aws:ecs:us-east-2:123456789012:cluster/cak-cluster-1".into(),
        task_definition: "arn:aws:ecs:us-east-2:123456789012:task-definition/chronous-payment:1"
            .into(),
        desired_count: 1,
        launch_type: "EC2".into(),
        deployment_minimum_healthy_percent: 0,
        deployment_maximum_percent: 100,
        health_check_grace_period_seconds: 0,
        circuit_breaker_enable: false,
        circuit_breaker_rollback: false,
        iam_role: Some("arn:aws:iam::123456789012:role/cak-payments_api_service_role".into()),
        depends_on: vec![],
        load_balancer: Some(ServiceLoadBalancer {
            elb_name: "cak-payments-elb".into(),
            container_name: "payments_api".into(),
            container_port: 80,
        }),
    });
    let o = p
        .create(CreateRequest {
            address: "aws_ecs_service.payments_api",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect("created");
    assert_eq!(o.attrs, spec.to_attrs(), "read back in the spec's shape");
    assert_eq!(o.outputs["name"], json!("payments_api-service"));
    let seen = seen.lock().unwrap();
    let dc = seen[0].deployment_configuration().unwrap();
    assert_eq!(
        (dc.minimum_healthy_percent(), dc.maximum_percent()),
        (Some(0), Some(100))
    );
    assert_eq!(
        seen[0].load_balancers()[0].load_balancer_name(),
        Some("cak-payments-elb")
    );
    assert_eq!(seen[0].launch_type().map(|l| l.as_str()), Some("EC2"));
}
