//! Following a rollout on the simulator: the controller's service events as
//! they come, until every task runs the newest revision healthy, or ECS's
//! circuit breaker fails the deployment.

use std::time::{Duration, Instant};

use anyhow::Result;
use chronous_core::resources::Kind;

use super::{controller, SimBackend};
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

impl SimBackend {
    /// Follow the rollout of the task definition the state records.
    pub fn wait_rollout(&self, ctx: &Ctx, timeout: u64) -> Result<u8> {
        let st = ctx.load_state()?;
        let revision = st
            .resources
            .values()
            .find(|r| r.kind == Kind::EcsTaskDefinition)
            .map(|r| r.id.clone());
        self.watch_rollout(ctx, timeout, revision.as_deref())
    }

    /// Follow a rollout until every task runs the service's newest revision and is
    /// healthy, printing the service's events as they come.
    fn watch_rollout(&self, ctx: &Ctx, timeout: u64, revision: Option<&str>) -> Result<u8> {
        if !self.docker() {
            if !ctx.json {
                println!("Deployed to the control plane (the model runtime runs no tasks; `chronous rehearse deploy` shows what the rollout does).");
            }
            return Ok(0);
        }
        let t = Instant::now();
        let mut seen = 0usize;
        let mut first = true;
        let mut failure: Option<String> = None;
        loop {
            let s = controller::fetch(ctx)?;
            // Only events from this rollout on.
            if first {
                seen = s.events.len();
                first = false;
            }
            for e in s.events.iter().skip(seen) {
                if let Some((_, why)) = e.message.split_once(") deployment failed: ") {
                    failure = Some(format!("ECS deployment circuit breaker: {why}"));
                }
                if ctx.json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "service", "at": e.at, "message": e.message})
                    );
                } else {
                    println!("[{:>6.1}s] {}", t.elapsed().as_secs_f64(), e.message);
                }
            }
            seen = s.events.len();
            if let Some(svc) = s
                .service
                .as_ref()
                .filter(|svc| revision.is_none_or(|r| r == svc.requested_task_definition))
            {
                let primary = svc.deployments.first();
                let wanted = revision.unwrap_or(&svc.requested_task_definition);
                let failed = svc
                    .deployments
                    .iter()
                    .find(|d| d.task_definition == wanted && d.rollout_state == "FAILED");
                let rolled_back = primary.is_some_and(|p| p.task_definition != wanted);
                if failed.is_some() || rolled_back {
                    // The failed deployment leaves the list once its last task
                    // stopped; its event still says why.
                    let why = failed
                        .map(|d| d.rollout_state_reason.clone())
                        .or_else(|| failure.clone())
                        .unwrap_or_else(|| "ECS deployment circuit breaker".into());
                    let back = primary
                        .filter(|p| p.task_definition != wanted)
                        .map(|p| format!("; rolled back to {}", p.task_definition))
                        .unwrap_or_default();
                    if ctx.json {
                        println!(
                            "{}",
                            serde_json::json!({"event": "rollout", "outcome": "failed", "seconds": t.elapsed().as_secs_f64(), "task_definition": wanted, "reason": why, "running": primary.map(|p| p.task_definition.clone())})
                        );
                    }
                    return Err(exit(
                        EXIT_FAILURE,
                        format!("the deployment of {wanted} failed after {:.1}s: {why}{back}. See `chronous status` (events) and `chronous logs`", t.elapsed().as_secs_f64()),
                    ));
                }
                let done = svc.steady
                    && primary.is_some_and(|p| {
                        p.task_definition == wanted && p.rollout_state == "COMPLETED"
                    });
                if done {
                    if ctx.json {
                        crate::backend::print_rollout_completed(
                            t.elapsed().as_secs_f64(),
                            &svc.task_definition,
                        );
                    } else {
                        println!(
                            "\nRollout complete after {:.1}s: {} task(s) of {} healthy.",
                            t.elapsed().as_secs_f64(),
                            svc.desired,
                            svc.task_definition
                        );
                    }
                    return Ok(0);
                }
            }
            if t.elapsed() > Duration::from_secs(timeout) {
                return Err(exit(EXIT_FAILURE, format!("the rollout did not complete within {timeout} s: see `chronous status` (events) and `chronous logs`")));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}
