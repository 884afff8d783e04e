//! After an apply or a deploy on AWS that created or changed the ECS service:
//! wait until ECS says the deployment COMPLETED with the desired count
//! running and the classic ELB has every instance InService. The same output
//! shape as the simulator's `watch_rollout` (service events as they come, a
//! final `rollout` line), plus progress lines when the counts change.

use std::time::{Duration, Instant};

use anyhow::Result;
use chronous_aws::{RolloutError, RolloutEvent, RolloutTarget};
use chronous_core::plan::{Action, Plan};
use chronous_core::resources::Kind;
use chronous_core::state::State;

use super::AwsBackend;
use crate::context::Ctx;
use crate::ui::{exit, exit_printed, EXIT_FAILURE};

/// Whether applying `p` created or changed the ECS service (a new revision included).
pub fn touches_service(p: &Plan) -> bool {
    !p.destroy
        && p.changes.iter().any(|c| {
            c.address.starts_with("aws_ecs_service.")
                && !matches!(c.action, Action::NoOp | Action::Delete)
        })
}

/// What to watch, from the recorded state.
fn target(st: &State) -> Option<RolloutTarget> {
    let svc = st.resources.values().find(|r| r.kind == Kind::EcsService)?;
    let s = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_string));
    Some(RolloutTarget {
        cluster: s(svc.attrs.get("cluster").cloned())?,
        service: s(svc.attrs.get("name").cloned())?,
        elb: svc
            .attrs
            .get("load_balancer")
            .and_then(|l| l.get("elb_name"))
            .and_then(|n| n.as_str())
            .map(str::to_string),
        task_definition: s(svc.attrs.get("task_definition").cloned()),
    })
}

/// The ECS service and its load balancer as `chronous status` shows them on AWS.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceView {
    pub name: String,
    pub cluster: String,
    /// The primary deployment's revision and rolloutState.
    pub task_definition: String,
    pub rollout_state: String,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: usize,
    pub elb: Option<String>,
    pub instances: usize,
    pub in_service: usize,
    /// The service's last events, oldest first.
    pub events: Vec<String>,
    /// Why the service could not be described (credentials, endpoint, deleted).
    pub error: Option<String>,
}

impl AwsBackend {
    /// One look at the recorded service; `None` when no service is recorded.
    pub fn observe(&self, ctx: &Ctx) -> Result<Option<ServiceView>> {
        let st = ctx.recorded()?;
        let Some(mut target) = target(&st) else {
            return Ok(None);
        };
        // Whatever the primary deployment runs.
        target.task_definition = None;
        let mut view = ServiceView {
            name: target.service.clone(),
            cluster: target.cluster.clone(),
            task_definition: String::new(),
            rollout_state: String::new(),
            rollout_state_reason: None,
            desired: 0,
            running: 0,
            pending: 0,
            deployments: 0,
            elb: target.elb.clone(),
            instances: 0,
            in_service: 0,
            events: vec![],
            error: None,
        };
        let rt = ctx.rt()?;
        // No credentials, another account: the command ends here, as every command on AWS does.
        let p = self.provider(ctx)?;
        let seen = rt
            .block_on(p.observe_service(&target))
            .map_err(|e| e.to_string());
        match seen {
            Ok(o) => {
                view.events = o.recent(10);
                let p = o.progress;
                view.task_definition = p.task_definition;
                view.rollout_state = p.rollout_state;
                view.rollout_state_reason = p.rollout_state_reason;
                view.desired = p.desired;
                view.running = p.running;
                view.pending = p.pending;
                view.deployments = p.deployments;
                view.instances = p.instances;
                view.in_service = p.in_service;
            }
            Err(e) => view.error = Some(e),
        }
        Ok(Some(view))
    }

    /// `deploy --force-new-deployment`: UpdateService with forceNewDeployment
    /// on the recorded service.
    pub fn force_new_deployment(&self, ctx: &Ctx) -> Result<()> {
        let st = ctx.recorded()?;
        let Some(target) = target(&st) else {
            return Err(exit(
                EXIT_FAILURE,
                "no ECS service is recorded: apply the environment first",
            ));
        };
        let td = ctx
            .rt()?
            .block_on(self.provider(ctx)?.force_new_deployment(&target))
            .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
        if !ctx.json {
            println!("Forced a new deployment of {} ({td}).", target.service);
        }
        Ok(())
    }

    /// Wait for the service's rollout; exit 1 with the service's last events when it fails.
    pub fn wait_rollout(&self, ctx: &Ctx, timeout: u64) -> Result<u8> {
        let st = ctx.recorded()?;
        let Some(target) = target(&st) else {
            return Err(exit(
                EXIT_FAILURE,
                "no ECS service is recorded: apply the environment first",
            ));
        };
        let rt = ctx.rt()?;
        let p = self.rollout_provider(ctx)?;
        let json = ctx.json;
        let t = Instant::now();
        if !json {
            println!(
                "\nWaiting for the rollout of {} ({}){}:",
                target.service,
                target
                    .task_definition
                    .as_deref()
                    .unwrap_or("its current revision"),
                target
                    .elb
                    .as_deref()
                    .map(|l| format!(" and its instances InService in {l}"))
                    .unwrap_or_default()
            );
        }
        let mut on = |e: &RolloutEvent| match e {
            RolloutEvent::Service { at, message } => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "service", "at": at, "message": message})
                    );
                } else {
                    println!("[{:>6.1}s] {message}", t.elapsed().as_secs_f64());
                }
            }
            RolloutEvent::Progress(p) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "progress", "rollout_state": p.rollout_state, "task_definition": p.task_definition,
                            "desired": p.desired, "running": p.running, "pending": p.pending, "failed_tasks": p.failed_tasks,
                            "deployments": p.deployments, "instances": p.instances, "in_service": p.in_service,
                        })
                    );
                } else {
                    let state = if p.rollout_state.is_empty() {
                        "rollout"
                    } else {
                        p.rollout_state.as_str()
                    };
                    let elb = if target.elb.is_some() {
                        format!(
                            ", {} of {} instance(s) InService",
                            p.in_service, p.instances
                        )
                    } else {
                        String::new()
                    };
                    println!(
                    "[{:>6.1}s] {state}: {} of {} task(s) running, {} pending, {} deployment(s){elb}",
                    t.elapsed().as_secs_f64(),
                    p.running,
                    p.desired,
                    p.pending,
                    p.deployments
                );
                }
            }
        };
        let res = rt.block_on(p.wait_rollout(&target, Duration::from_secs(timeout), &mut on));
        match res {
            Ok(done) => {
                if json {
                    crate::backend::print_rollout_completed(
                        t.elapsed().as_secs_f64(),
                        &done.task_definition,
                    );
                } else {
                    println!(
                        "\nRollout complete after {:.1}s: {} task(s) of {} running{}.",
                        t.elapsed().as_secs_f64(),
                        done.desired,
                        done.task_definition,
                        target
                            .elb
                            .as_deref()
                            .map(|l| format!(", {} instance(s) InService in {l}", done.in_service))
                            .unwrap_or_default()
                    );
                }
                Ok(0)
            }
            Err(e) => {
                let outcome = match &e {
                    RolloutError::Failed { .. } => "failed",
                    RolloutError::Timeout { .. } => "timeout",
                    _ => "error",
                };
                if json {
                    let events = match &e {
                        RolloutError::Failed { events, .. }
                        | RolloutError::Timeout { events, .. } => events.clone(),
                        _ => vec![],
                    };
                    println!(
                        "{}",
                        serde_json::json!({"event": "rollout", "outcome": outcome, "seconds": t.elapsed().as_secs_f64(), "error": e.to_string(), "events": events})
                    );
                    Err(exit_printed(EXIT_FAILURE))
                } else {
                    Err(exit(EXIT_FAILURE, e.to_string()))
                }
            }
        }
    }
}

/// The text `chronous status` prints for [`ServiceView`].
pub fn print(s: &ServiceView) {
    println!(
        "
Service {} in {}:",
        s.name, s.cluster
    );
    if let Some(e) = &s.error {
        println!("  cannot describe it: {e}");
        return;
    }
    println!(
        "  desired {}, running {}, pending {}; primary deployment {} {}{} ({} deployment(s))",
        s.desired,
        s.running,
        s.pending,
        s.task_definition,
        if s.rollout_state.is_empty() {
            "(no rolloutState)"
        } else {
            &s.rollout_state
        },
        s.rollout_state_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        s.deployments
    );
    if let Some(lb) = &s.elb {
        println!(
            "  load balancer {lb}: {} of {} instance(s) InService",
            s.in_service, s.instances
        );
    }
    if !s.events.is_empty() {
        println!("  events (newest last):");
        for e in &s.events {
            println!("    {e}");
        }
    }
}
