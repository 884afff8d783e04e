//! The wait after an ECS service change, against aws-smithy-mocks (moto models
//! no rollout: its rolloutState stays IN_PROGRESS): a deployment that goes
//! IN_PROGRESS -> COMPLETED with the ELB's instance coming InService, one that
//! goes -> FAILED (the error carries the reason and the service's events), a
//! timeout; and the ECR registry credentials for `docker push`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service, ServiceEvent};
use aws_sdk_elasticloadbalancing::operation::describe_instance_health::DescribeInstanceHealthOutput;
use aws_sdk_elasticloadbalancing::types::InstanceState;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::DateTime;
use chronous_aws::{AwsOptions, AwsProvider, RolloutError, RolloutEvent, RolloutTarget};
use common::{mock_options, unused_clients};

const TD_OLD: &str = "arn:aws:ecs:us-east-2:123456789012:task-definition/chronous-payment:1";
const TD_NEW: &str = "arn:aws:ecs:us-east-2:123456789012:task-definition/chronous-payment:2";

fn opts() -> AwsOptions {
    mock_options()
}

fn target() -> RolloutTarget {
    RolloutTarget {
        cluster: "cak-cluster-1".into(),
        service: "payments_api-service".into(),
        elb: Some("cak-payments-elb".into()),
        task_definition: Some(TD_NEW.into()),
    }
}

fn deployment(status: &str, td: &str, state: &str, running: i32, failed: i32) -> Deployment {
    Deployment::builder()
        .id(format!("ecs-svc/{}", td.len() + running as usize))
        .status(status)
        .task_definition(td)
        .desired_count(1)
        .running_count(running)
        .pending_count(1 - running)
        .failed_tasks(failed)
        .rollout_state(DeploymentRolloutState::from(state))
        .rollout_state_reason(format!("ECS deployment {state}."))
        .build()
}

fn event(n: i64, message: &str) -> ServiceEvent {
    ServiceEvent::builder()
        .id(format!("ev-{n}"))
        .created_at(DateTime::from_secs(1_767_225_600 + n))
        .message(message)
        .build()
}

/// The service with its deployments and events (given oldest first; ECS answers newest first).
fn services(
    running: i32,
    deployments: Vec<Deployment>,
    events: &[(i64, &str)],
) -> DescribeServicesOutput {
    let mut evs: Vec<ServiceEvent> = events.iter().map(|(n, m)| event(*n, m)).collect();
    evs.reverse();
    DescribeServicesOutput::builder()
        .services(
            Service::builder()
                .service_name("payments_api-service")
                .status("ACTIVE")
                .desired_count(1)
                .running_count(running)
                .pending_count(1 - running)
                .set_deployments(Some(deployments))
                .set_events(Some(evs))
                .build(),
        )
        .build()
}

fn health(states: &[&str]) -> DescribeInstanceHealthOutput {
    DescribeInstanceHealthOutput::builder()
        .set_instance_states(Some(
            states
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    InstanceState::builder()
                        .instance_id(format!("i-{i}"))
                        .state(*s)
                        .build()
                })
                .collect(),
        ))
        .build()
}

type Seen = Arc<Mutex<Vec<RolloutEvent>>>;

fn recorder() -> (Seen, impl FnMut(&RolloutEvent) + Send) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    (seen, move |e: &RolloutEvent| {
        s.lock().unwrap().push(e.clone())
    })
}

#[tokio::test]
async fn in_progress_then_completed_with_the_instance_in_service() {
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        // Before: an old event, the new deployment just started.
        .output(|| {
            services(
                1,
                vec![
                    deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 0),
                    deployment("ACTIVE", TD_OLD, "COMPLETED", 1, 0),
                ],
                &[(1, "(service payments_api-service) has reached a steady state.")],
            )
        })
        .output(|| {
            services(
                0,
                vec![deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 0)],
                &[
                    (1, "(service payments_api-service) has reached a steady state."),
                    (2, "(service payments_api-service) has stopped 1 running tasks."),
                    (3, "(service payments_api-service) has started 1 tasks."),
                ],
            )
        })
        .output(|| {
            services(
                1,
                vec![deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 1, 0)],
                &[
                    (1, "(service payments_api-service) has reached a steady state."),
                    (2, "(service payments_api-service) has stopped 1 running tasks."),
                    (3, "(service payments_api-service) has started 1 tasks."),
                    (4, "(service payments_api-service) registered 1 targets in (elb cak-payments-elb)"),
                ],
            )
        })
        .output(|| {
            services(
                1,
                vec![deployment("PRIMARY", TD_NEW, "COMPLETED", 1, 0)],
                &[
                    (3, "(service payments_api-service) has started 1 tasks."),
                    (4, "(service payments_api-service) registered 1 targets in (elb cak-payments-elb)"),
                    (5, "(service payments_api-service) deployment ecs-svc/2 completed."),
                ],
            )
        })
        .repeatedly()
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancing::Client::describe_instance_health)
        .sequence()
        .output(|| health(&["InService"]))
        .output(|| health(&["OutOfService"]))
        .times(3)
        .output(|| health(&["InService"]))
        .repeatedly()
        .build();
    let mut c = unused_clients();
    c.ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&ecs_rule]);
    c.elb = mock_client!(
        aws_sdk_elasticloadbalancing,
        RuleMode::Sequential,
        [&elb_rule]
    );
    let p = AwsProvider::with_clients(c, opts());
    let (seen, mut on) = recorder();
    let done = p
        .wait_rollout(&target(), Duration::from_secs(10), &mut on)
        .await
        .expect("the rollout completes");
    assert_eq!(done.task_definition, TD_NEW);
    assert_eq!((done.desired, done.in_service), (1, 1));

    let seen = seen.lock().unwrap();
    // Only the events after the wait began, oldest first.
    let messages: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::Service { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            "(service payments_api-service) has stopped 1 running tasks.",
            "(service payments_api-service) has started 1 tasks.",
            "(service payments_api-service) registered 1 targets in (elb cak-payments-elb)",
            "(service payments_api-service) deployment ecs-svc/2 completed.",
        ]
    );
    // Progress: IN_PROGRESS with the old instance, nothing running, running
    // but OutOfService, then COMPLETED and InService.
    let states: Vec<(String, i32, usize)> = seen
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::Progress(p) => Some((p.rollout_state.clone(), p.running, p.in_service)),
            _ => None,
        })
        .collect();
    assert_eq!(states.first(), Some(&("IN_PROGRESS".to_string(), 1, 1)));
    assert_eq!(states.last(), Some(&("COMPLETED".to_string(), 1, 1)));
    assert!(
        states.contains(&("IN_PROGRESS".to_string(), 0, 0)),
        "{states:?}"
    );
    // COMPLETED in ECS but still OutOfService in the ELB: not done yet.
    assert!(ecs_rule.num_calls() >= 4);
    assert_eq!(elb_rule.num_calls(), ecs_rule.num_calls());
}

#[tokio::test]
async fn failed_deployment_ends_the_wait_with_the_reason_and_the_last_events() {
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| {
            services(
                0,
                vec![deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 0)],
                &[(1, "(service payments_api-service) has started 1 tasks.")],
            )
        })
        .output(|| {
            services(
                0,
                vec![deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 2)],
                &[
                    (1, "(service payments_api-service) has started 1 tasks."),
                    (2, "(service payments_api-service) (task 1a2b) failed ELB health checks in (elb cak-payments-elb)."),
                ],
            )
        })
        .output(|| {
            // The circuit breaker: the new deployment FAILED, the old one is primary again.
            let mut failed = deployment("ACTIVE", TD_NEW, "FAILED", 0, 3);
            failed.rollout_state_reason =
                Some("ECS deployment circuit breaker: tasks failed to start.".into());
            services(
                1,
                vec![deployment("PRIMARY", TD_OLD, "IN_PROGRESS", 1, 0), failed],
                &[
                    (1, "(service payments_api-service) has started 1 tasks."),
                    (2, "(service payments_api-service) (task 1a2b) failed ELB health checks in (elb cak-payments-elb)."),
                    (3, "(service payments_api-service) (deployment ecs-svc/2) deployment failed: tasks failed to start."),
                    (4, "(service payments_api-service) rolling back to deployment ecs-svc/1."),
                ],
            )
        })
        .repeatedly()
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancing::Client::describe_instance_health)
        .then_output(|| health(&["OutOfService"]));
    let mut c = unused_clients();
    c.ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&ecs_rule]);
    c.elb = mock_client!(
        aws_sdk_elasticloadbalancing,
        RuleMode::MatchAny,
        [&elb_rule]
    );
    let p = AwsProvider::with_clients(c, opts());
    let (seen, mut on) = recorder();
    let err = p
        .wait_rollout(&target(), Duration::from_secs(10), &mut on)
        .await
        .expect_err("the deployment failed");
    match &err {
        RolloutError::Failed {
            task_definition,
            reason,
            events,
            ..
        } => {
            assert_eq!(task_definition, TD_NEW);
            assert!(reason.contains("circuit breaker"), "{reason}");
            assert!(
                reason.contains(&format!("rolled back to {TD_OLD}")),
                "{reason}"
            );
            assert_eq!(events.len(), 4, "{events:?}");
            assert!(events[3].ends_with("rolling back to deployment ecs-svc/1."));
            assert!(events[0].starts_with("2026-01-01T00:00:01Z "), "{events:?}");
        }
        other => panic!("not a failed rollout: {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("the deployment of"), "{text}");
    assert!(text.contains("failed ELB health checks"), "{text}");
    // The events seen while waiting reached the caller as they came.
    let n = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, RolloutEvent::Service { .. }))
        .count();
    assert_eq!(n, 3);
    assert_eq!(ecs_rule.num_calls(), 3);
}

#[tokio::test]
async fn a_rollout_that_never_completes_times_out_with_what_it_last_saw() {
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        services(
            0,
            vec![deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 0)],
            &[(1, "(service payments_api-service) was unable to place a task because no container instance met all of its requirements.")],
        )
    });
    let elb_rule = mock!(aws_sdk_elasticloadbalancing::Client::describe_instance_health)
        .then_output(|| health(&[]));
    let mut c = unused_clients();
    c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&ecs_rule]);
    c.elb = mock_client!(
        aws_sdk_elasticloadbalancing,
        RuleMode::MatchAny,
        [&elb_rule]
    );
    let p = AwsProvider::with_clients(c, opts());
    let (_, mut on) = recorder();
    let err = p
        .wait_rollout(&target(), Duration::from_millis(200), &mut on)
        .await
        .expect_err("times out");
    let RolloutError::Timeout { last, events, .. } = &err else {
        panic!("not a timeout: {err:?}");
    };
    assert_eq!(last.rollout_state, "IN_PROGRESS");
    assert_eq!((last.running, last.desired, last.instances), (0, 1, 0));
    assert!(events[0].contains("unable to place a task"));
    assert!(
        err.to_string().contains("did not complete within 0 s"),
        "{err}"
    );
    assert!(ecs_rule.num_calls() > 2);
}

#[tokio::test]
async fn registry_credentials_come_from_the_authorization_token_and_never_print_the_password() {
    let rule = mock!(aws_sdk_ecr::Client::get_authorization_token).then_output(|| {
        aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenOutput::builder()
            .authorization_data(
                aws_sdk_ecr::types::AuthorizationData::builder()
                    .authorization_token("QVdTOnMzY3JldC1lY3ItdG9rZW4=") // AWS:s3cret-ecr-token
                    .proxy_endpoint("https://123456789012.dkr.ecr.us-east-2.amazonaws.com")
                    .expires_at(DateTime::from_secs(1_767_268_800))
                    .build(),
            )
            .build()
    });
    let mut c = unused_clients();
    c.ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&rule]);
    let p = AwsProvider::with_clients(c, opts());
    let auth = p.registry_auth().await.expect("credentials");
    assert_eq!(
        auth.registry,
        "123456789012.dkr.ecr.us-east-2.amazonaws.com"
    );
    assert_eq!(auth.username, "AWS");
    assert_eq!(auth.password, "s3cret-ecr-token");
    assert_eq!(auth.expires_at.as_deref(), Some("2026-01-01T12:00:00Z"));
    let dbg = format!("{auth:?}");
    assert!(!dbg.contains("s3cret"), "{dbg}");
    assert!(dbg.contains("<redacted>"));

    // A token that is not USER:PASSWORD is refused with what to do.
    let bad = mock!(aws_sdk_ecr::Client::get_authorization_token).then_output(|| {
        aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenOutput::builder()
            .authorization_data(
                aws_sdk_ecr::types::AuthorizationData::builder()
                    .authorization_token("bm8tY29sb24=")
                    .proxy_endpoint("https://123456789012.dkr.ecr.us-east-2.amazonaws.com")
                    .build(),
            )
            .build()
    });
    let mut c = unused_clients();
    c.ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&bad]);
    let p = AwsProvider::with_clients(c, opts());
    let e = p.registry_auth().await.expect_err("unusable");
    assert!(e.to_string().contains("not USER:PASSWORD"), "{e}");
}

/// `deploy --force-new-deployment`: UpdateService with forceNewDeployment
/// and no new task definition; the wait then follows the new PRIMARY
/// deployment of the same revision, not the COMPLETED one it replaces.
#[tokio::test]
async fn a_forced_new_deployment_is_followed_to_its_own_completion() {
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    let update = mock!(aws_sdk_ecs::Client::update_service)
        .match_requests(|r| {
            r.force_new_deployment() == Some(true)
                && r.task_definition().is_none()
                && r.service() == Some("payments_api-service")
                && r.cluster() == Some("cak-cluster-1")
        })
        .then_output(|| {
            UpdateServiceOutput::builder()
                .service(
                    Service::builder()
                        .service_name("payments_api-service")
                        .task_definition(TD_NEW)
                        .build(),
                )
                .build()
        });
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| {
            services(
                1,
                vec![
                    deployment("PRIMARY", TD_NEW, "IN_PROGRESS", 0, 0),
                    deployment("ACTIVE", TD_NEW, "COMPLETED", 1, 0),
                ],
                &[(
                    1,
                    "(service payments_api-service) has reached a steady state.",
                )],
            )
        })
        .times(2)
        .output(|| {
            services(
                1,
                vec![deployment("PRIMARY", TD_NEW, "COMPLETED", 1, 0)],
                &[(
                    2,
                    "(service payments_api-service) deployment ecs-svc/2 completed.",
                )],
            )
        })
        .repeatedly()
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancing::Client::describe_instance_health)
        .then_output(|| health(&["InService"]));
    let mut c = unused_clients();
    c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&update, &describe]);
    c.elb = mock_client!(
        aws_sdk_elasticloadbalancing,
        RuleMode::MatchAny,
        [&elb_rule]
    );
    let p = AwsProvider::with_clients(c, opts());
    let td = p
        .force_new_deployment(&target())
        .await
        .expect("UpdateService with forceNewDeployment");
    assert_eq!(td, TD_NEW);
    assert_eq!(update.num_calls(), 1);
    let (_, mut on) = recorder();
    let done = p
        .wait_rollout(&target(), Duration::from_secs(10), &mut on)
        .await
        .expect("the forced rollout completes");
    assert_eq!(done.task_definition, TD_NEW);
    // Two polls saw the PRIMARY IN_PROGRESS beside the COMPLETED one it replaces.
    assert!(describe.num_calls() >= 3, "{}", describe.num_calls());
}
