//! What a deployment needs beyond the resources: the account's registry
//! credentials for `docker push` (ECR GetAuthorizationToken), and the wait
//! for the ECS service's rollout and the classic ELB's health after the
//! service was created or updated.
//!
//! Everything here is returned as plain values: the CLI prints, the
//! simulator crate's Docker wrapper pushes.

use std::time::Duration;

use aws_smithy_types::date_time::Format;
use base64::Engine as _;
use chronous_core::provider::ProviderError;

use crate::AwsProvider;

/// Credentials for the account's ECR registry. The password is a secret: it is
/// never part of `Debug` output, and no error carries it.
#[derive(Clone)]
pub struct RegistryAuth {
    /// The registry's address as image references name it (`HOST[:PORT]`, no scheme).
    pub registry: String,
    /// The endpoint as ECR answers it (`https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`).
    pub proxy_endpoint: String,
    /// `AWS` for ECR.
    pub username: String,
    pub password: String,
    /// When the credentials stop working (RFC 3339), when ECR says.
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("registry", &self.registry)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The ECS service to watch, and its load balancer.
#[derive(Debug, Clone)]
pub struct RolloutTarget {
    /// The cluster's name or ARN.
    pub cluster: String,
    pub service: String,
    /// The classic ELB in front of the service, if any.
    pub elb: Option<String>,
    /// The task definition the rollout should end on (the one just applied);
    /// `None`: whatever the service's primary deployment runs.
    pub task_definition: Option<String>,
}

/// What changed while waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutEvent {
    /// An event ECS recorded for the service since the wait began.
    Service { at: String, message: String },
    /// The deployment's or the load balancer's counts changed.
    Progress(RolloutProgress),
}

/// The service's primary deployment and the load balancer's view, at one poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutProgress {
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (empty when the endpoint does not say).
    pub rollout_state: String,
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    /// Deployments the service still has (old revisions draining count too).
    pub deployments: usize,
    /// Instances registered with the load balancer, and how many are InService.
    pub instances: usize,
    pub in_service: usize,
}

/// A rollout that completed.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutDone {
    pub task_definition: String,
    pub desired: i32,
    pub in_service: usize,
    pub seconds: f64,
}

/// One service event as ECS recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedEvent {
    pub id: String,
    pub at: String,
    pub message: String,
}

/// The service and its load balancer at one look.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceObservation {
    pub progress: RolloutProgress,
    /// The watched deployment FAILED: its revision and why.
    pub failure: Option<(String, String)>,
    /// COMPLETED, the desired count running, every instance InService.
    pub done: bool,
    /// Oldest first.
    pub events: Vec<ObservedEvent>,
}

impl ServiceObservation {
    /// The last `n` events as `at message` lines, oldest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let skip = self.events.len().saturating_sub(n);
        self.events
            .iter()
            .skip(skip)
            .map(|e| format!("{} {}", e.at, e.message))
            .collect()
    }
}

/// Why a rollout did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(
        "service {service}: the deployment of {task_definition} failed: {reason}{}",
        events_text(events)
    )]
    Failed {
        service: String,
        task_definition: String,
        reason: String,
        /// The service's last events, oldest first.
        events: Vec<String>,
    },
    #[error("service {service}: the rollout did not complete within {seconds} s (rollout {}, {} of {} task(s) running, {} of {} instance(s) InService in the load balancer){}: look at the service's events in the ECS console and at `chronous logs`", last.rollout_state, last.running, last.desired, last.in_service, last.instances, events_text(events))]
    Timeout {
        service: String,
        seconds: u64,
        last: RolloutProgress,
        events: Vec<String>,
    },
    #[error("service {service} does not exist in cluster {cluster}: apply the environment first")]
    NoService { service: String, cluster: String },
    #[error("{}{}", .0.message, .0.hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Aws(ProviderError),
}

fn events_text(events: &[String]) -> String {
    if events.is_empty() {
        String::new()
    } else {
        format!(
            "\nthe service's last events:\n{}",
            events
                .iter()
                .map(|e| format!("  {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// Why the registry credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RegistryAuthError {
    #[error("{}{}", .0.message, .0.hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Aws(ProviderError),
    #[error("ECR answered no usable authorization data ({0}): run the deploy again; if it persists, check `aws ecr get-login-password` with the same credentials")]
    Unusable(&'static str),
}

fn fmt_time(t: Option<&aws_smithy_types::DateTime>) -> String {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
        .unwrap_or_default()
}

impl AwsProvider {
    /// Credentials for `docker push` to the account's ECR registry.
    pub async fn registry_auth(&self) -> Result<RegistryAuth, RegistryAuthError> {
        let o = self
            .call(|| self.c.ecr.get_authorization_token().send())
            .await
            .map_err(|e| {
                RegistryAuthError::Aws(e.provider("ECR", "get a registry authorization token"))
            })?;
        let d = o
            .authorization_data()
            .first()
            .ok_or(RegistryAuthError::Unusable("no authorization data"))?;
        let token = d
            .authorization_token()
            .ok_or(RegistryAuthError::Unusable("no token"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| RegistryAuthError::Unusable("the token is not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| RegistryAuthError::Unusable("the token is not text"))?;
        let (username, password) = decoded.split_once(':').ok_or(RegistryAuthError::Unusable(
            "the token is not USER:PASSWORD",
        ))?;
        let proxy_endpoint = d
            .proxy_endpoint()
            .ok_or(RegistryAuthError::Unusable("no proxy endpoint"))?
            .to_string();
        let registry = proxy_endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Ok(RegistryAuth {
            registry,
            proxy_endpoint,
            username: username.to_string(),
            password: password.to_string(),
            expires_at: d.expires_at().map(|t| fmt_time(Some(t))),
        })
    }

    /// One look at the service (DescribeServices) and its load balancer
    /// (DescribeInstanceHealth): what `chronous status` shows on AWS, and one
    /// poll of [`AwsProvider::wait_rollout`].
    pub async fn observe_service(
        &self,
        target: &RolloutTarget,
    ) -> Result<ServiceObservation, RolloutError> {
        let address = format!("service {}", target.service);
        let o = self
            .call(|| {
                self.c
                    .ecs
                    .describe_services()
                    .cluster(&target.cluster)
                    .services(&target.service)
                    .send()
            })
            .await
            .map_err(|e| RolloutError::Aws(e.provider(&address, "describe the service")))?;
        let Some(svc) = o.services().iter().find(|s| s.status() != Some("INACTIVE")) else {
            return Err(RolloutError::NoService {
                service: target.service.clone(),
                cluster: target.cluster.clone(),
            });
        };
        // ECS lists events newest first.
        let mut events: Vec<ObservedEvent> = svc
            .events()
            .iter()
            .map(|e| ObservedEvent {
                id: e.id().unwrap_or_default().to_string(),
                at: fmt_time(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        events.reverse();
        let deployments = svc.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let ours = match &target.task_definition {
            // A forced new deployment runs the same revision as the one it
            // replaces: the PRIMARY of them is the one to follow.
            Some(td) => deployments
                .iter()
                .filter(|d| d.task_definition() == Some(td.as_str()))
                .max_by_key(|d| d.status() == Some("PRIMARY")),
            None => primary,
        };
        let failure = ours
            .filter(|d| d.rollout_state().map(|s| s.as_str()) == Some("FAILED"))
            .map(|d| {
                let mut reason = d
                    .rollout_state_reason()
                    .unwrap_or("ECS marked the deployment FAILED")
                    .to_string();
                if let Some(p) = primary.filter(|p| p.task_definition() != d.task_definition()) {
                    reason.push_str(&format!(
                        " (the service rolled back to {})",
                        p.task_definition().unwrap_or_default()
                    ));
                }
                (d.task_definition().unwrap_or_default().to_string(), reason)
            });
        let (instances, in_service) = match &target.elb {
            Some(lb) => {
                let h = self
                    .call(|| {
                        self.c
                            .elb
                            .describe_instance_health()
                            .load_balancer_name(lb)
                            .send()
                    })
                    .await
                    .map_err(|e| {
                        RolloutError::Aws(
                            e.provider(&format!("load balancer {lb}"), "describe instance health"),
                        )
                    })?;
                let states = h.instance_states();
                (
                    states.len(),
                    states
                        .iter()
                        .filter(|s| s.state() == Some("InService"))
                        .count(),
                )
            }
            None => (0, 0),
        };
        let progress = RolloutProgress {
            rollout_state: ours
                .and_then(|d| d.rollout_state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            rollout_state_reason: ours
                .and_then(|d| d.rollout_state_reason())
                .map(str::to_string),
            task_definition: ours
                .and_then(|d| d.task_definition())
                .unwrap_or_default()
                .to_string(),
            desired: svc.desired_count(),
            running: svc.running_count(),
            pending: svc.pending_count(),
            failed_tasks: ours.map(|d| d.failed_tasks()).unwrap_or(0),
            deployments: deployments.len(),
            instances,
            in_service,
        };
        let completed = match ours {
            Some(d) => match d.rollout_state().map(|s| s.as_str()) {
                Some("COMPLETED") => true,
                // An endpoint that does not report rolloutState: the
                // deployment is the only one and runs its desired count.
                None => {
                    deployments.len() == 1
                        && d.status() == Some("PRIMARY")
                        && d.running_count() == d.desired_count()
                }
                _ => false,
            },
            None => false,
        };
        let healthy_behind_elb = target.elb.is_none()
            || progress.desired == 0
            || (progress.instances > 0 && progress.in_service == progress.instances);
        Ok(ServiceObservation {
            done: completed && progress.running == progress.desired && healthy_behind_elb,
            progress,
            failure,
            events,
        })
    }

    /// UpdateService with forceNewDeployment: a new PRIMARY deployment of the
    /// revision the service runs, every task replaced under the service's
    /// deployment settings (a mutable tag is pulled again). Returns the task
    /// definition the new deployment runs; [`AwsProvider::wait_rollout`] with
    /// `task_definition: None` then follows it (ECS lists the PRIMARY first).
    pub async fn force_new_deployment(
        &self,
        target: &RolloutTarget,
    ) -> Result<String, RolloutError> {
        let address = format!("service {}", target.service);
        let o = self
            .call(|| {
                self.c
                    .ecs
                    .update_service()
                    .cluster(&target.cluster)
                    .service(&target.service)
                    .force_new_deployment(true)
                    .send()
            })
            .await
            .map_err(|e| RolloutError::Aws(e.provider(&address, "force a new deployment of it")))?;
        Ok(o.service()
            .and_then(|s| s.task_definition())
            .unwrap_or_default()
            .to_string())
    }

    /// Poll [`AwsProvider::observe_service`] every `poll_interval` until the
    /// deployment of `target.task_definition` is COMPLETED with the desired
    /// count running and every registered instance InService; FAILED ends the
    /// wait with the service's last events. `on` hears the service's new
    /// events and every change of the counts.
    pub async fn wait_rollout(
        &self,
        target: &RolloutTarget,
        timeout: Duration,
        on: &mut (dyn FnMut(&RolloutEvent) + Send),
    ) -> Result<RolloutDone, RolloutError> {
        let start = tokio::time::Instant::now();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        let mut last = RolloutProgress::default();
        loop {
            let o = self.observe_service(target).await?;
            let recent = o.recent(5);
            match &mut seen {
                // Only the events from this wait on.
                None => seen = Some(o.events.iter().map(|e| e.id.clone()).collect()),
                Some(s) => {
                    for e in &o.events {
                        if s.insert(e.id.clone()) {
                            on(&RolloutEvent::Service {
                                at: e.at.clone(),
                                message: e.message.clone(),
                            });
                        }
                    }
                }
            }
            if let Some((task_definition, reason)) = o.failure {
                return Err(RolloutError::Failed {
                    service: target.service.clone(),
                    task_definition,
                    reason,
                    events: recent,
                });
            }
            if o.progress != last {
                on(&RolloutEvent::Progress(o.progress.clone()));
                last = o.progress.clone();
            }
            if o.done {
                return Ok(RolloutDone {
                    task_definition: last.task_definition,
                    desired: last.desired,
                    in_service: last.in_service,
                    seconds: start.elapsed().as_secs_f64(),
                });
            }
            if start.elapsed() >= timeout {
                return Err(RolloutError::Timeout {
                    service: target.service.clone(),
                    seconds: timeout.as_secs(),
                    last,
                    events: recent,
                });
            }
            tokio::time::sleep(self.opts.poll_interval).await;
        }
    }
}
