//! Following a rollout on the simulator: the controller's service events as
//! they come, until every task runs the newest revision healthy, or ECS's
//! circuit breaker fails the deployment.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
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
        self.watch_rollout(ctx, timeout, revision.as_deref(), 0)
    }

    /// `deploy --force-new-deployment`: the service's count of forced
    /// deployments goes up in the control plane; the controller (started
    /// first, so that it sees the count move) starts a new deployment of
    /// the same revision. Returns the new count.
    pub fn force_new_deployment(&self, ctx: &Ctx) -> Result<u64> {
        let st = ctx.load_state()?;
        let svc = st
            .resources
            .values()
            .find(|r| r.kind == Kind::EcsService)
            .ok_or_else(|| {
                exit(
                    EXIT_FAILURE,
                    "no ECS service is recorded: apply the environment first",
                )
            })?;
        if self.docker() {
            controller::ensure(ctx)?;
        }
        let p = self.open(ctx)?;
        let n = p
            .with_cloud(|c| c.force_new_deployment(&svc.id))
            .map_err(|e| exit(EXIT_FAILURE, format!("{}: {e}", svc.address)))?;
        p.compact().map_err(|e| anyhow!("{e}"))?;
        if self.docker() {
            controller::ensure(ctx)?;
        }
        if !ctx.json {
            println!(
                "Forced a new deployment of {} ({}).",
                svc.address,
                svc.attrs
                    .get("task_definition")
                    .and_then(|v| v.as_str())
                    .unwrap_or("its revision")
            );
        }
        Ok(n)
    }

    /// Follow the rollout of the `forced`-th forced deployment.
    pub fn wait_forced(&self, ctx: &Ctx, timeout: u64, forced: u64) -> Result<u8> {
        self.watch_rollout(ctx, timeout, None, forced)
    }

    /// Follow a rollout until every task runs the service's newest revision and is
    /// healthy, printing the service's events as they come.
    /// With `forced` > 0, once the controller has acted on that many forced deployments.
    fn watch_rollout(
        &self,
        ctx: &Ctx,
        timeout: u64,
        revision: Option<&str>,
        forced: u64,
    ) -> Result<u8> {
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
            // The service as this rollout left it: the revision asked for (or,
            // after a rollback, a failure seen), the forced deployment acted on.
            if let Some(svc) = s.service.as_ref().filter(|svc| {
                revision.is_none_or(|r| {
                    r == svc.requested_task_definition
                        || svc.deployments.iter().any(|d| d.task_definition == r)
                        || failure.is_some()
                }) && svc.forced_deployments >= forced
            }) {
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
