//! `rehearse deploy` on the modelled runtime: stand the service up as the
//! environment describes it, let it settle, deploy a new revision, and report
//! what happened — a timeline, the intervals with no healthy target behind the
//! load balancer (the predicted downtime), the outcome, and settings that
//! would avoid the trouble.
//!
//! Times in a [`Rehearsal`] are milliseconds since the deployment started.

use std::fmt::Write as _;

use chronous_core::ecs::registered_memory;
use chronous_core::ecs::{
    CircuitBreaker, ContainerInstance, EventKind, Millis, ServiceConfig, TaskDefinition,
};
use chronous_core::env::{instance_type, Environment};
use chronous_core::review::deploy::zero_downtime_settings;
use serde::{Deserialize, Serialize};

use crate::fault::{self};
pub use crate::fault::{parse_duration_ms, FaultParseError, FaultSpec};
use crate::model::{ElbModel, LogKind, Model, ModelConfig, ModelError, Timings};
pub use crate::render::fmt_ms;
use crate::render::{esc, write_downtime, write_timeline, Picture};
use crate::trace::{last_reason, past, settings_line, steady, warm_up, Setup, Trace};
pub use crate::trace::{Lane, TimelineEvent, SETTLE_MS};

/// What to rehearse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearseInput {
    pub service: ServiceConfig,
    /// The revision running now.
    pub current: TaskDefinition,
    /// The revision to deploy.
    pub next: TaskDefinition,
    pub instance_type: String,
    pub instances: Vec<ContainerInstance>,
    pub elb: Option<ElbModel>,
    pub timings: Timings,
    pub seed: u64,
    pub faults: Vec<FaultSpec>,
    /// Give up (outcome Stuck) this long after the deployment started; with
    /// timed faults, this long after the last one has played out.
    pub horizon_ms: Millis,
}

impl RehearseInput {
    pub(crate) fn setup(&self) -> Setup<'_> {
        Setup {
            service: &self.service,
            current: &self.current,
            instance_type: &self.instance_type,
            instances: &self.instances,
            elb: self.elb.as_ref(),
        }
    }

    /// The service, cluster and ELB as the validated environment describes
    /// them; `new_image` (default: the same image, a forced new deployment)
    /// becomes revision 2 of the task family. Seed 0, no faults, a 1-hour horizon.
    pub fn from_environment(env: &Environment, new_image: Option<&str>) -> RehearseInput {
        let s = &env.service;
        let image = env
            .image(&s.image)
            .map(|i| format!("{}:{}", i.repository, i.tag))
            .unwrap_or_else(|| s.image.clone());
        let (mem, vcpu) = instance_type(&env.cluster.instance_type).unwrap_or((512, 1));
        let current = TaskDefinition {
            arn: format!("{}:1", s.task_family),
            image: image.clone(),
            memory_mib: s.memory_mib,
            cpu: s.cpu,
            container_port: s.container_port,
            host_port: s.host_port.unwrap_or(0),
            essential: s.essential,
        };
        let next = TaskDefinition {
            arn: format!("{}:2", s.task_family),
            image: new_image.map(str::to_string).unwrap_or(image),
            ..current.clone()
        };
        let instances = (0..env.cluster.instance_count)
            .map(|i| ContainerInstance {
                id: format!("i-{:017x}", 0x0c0ffee0000u64 + i as u64 + 1),
                memory_mib: registered_memory(mem),
                cpu_units: vcpu * 1024,
            })
            .collect();
        let elb = env.load_balancer.as_ref().map(|lb| ElbModel {
            name: lb.name.clone(),
            interval_ms: lb.health_check.interval as u64 * 1000,
            timeout_ms: lb.health_check.timeout as u64 * 1000,
            healthy_threshold: lb.health_check.healthy_threshold,
            unhealthy_threshold: lb.health_check.unhealthy_threshold,
        });
        RehearseInput {
            service: ServiceConfig {
                name: s.name.clone(),
                cluster: env.cluster.name.clone(),
                desired_count: s.desired_count,
                minimum_healthy_percent: s.minimum_healthy_percent,
                maximum_percent: s.maximum_percent,
                health_check_grace_ms: s.health_check_grace_period as u64 * 1000,
                load_balancer: elb.as_ref().map(|e| e.name.clone()),
                circuit_breaker: s.circuit_breaker_enable.then_some(CircuitBreaker {
                    rollback: s.circuit_breaker_rollback,
                }),
            },
            current,
            next,
            instance_type: env.cluster.instance_type.clone(),
            instances,
            elb,
            timings: Timings::default(),
            seed: 0,
            faults: Vec::new(),
            horizon_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Stuck { reason: String },
    Failed { reason: String, rolled_back: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehearsal {
    pub service: String,
    pub from_task_definition: String,
    pub to_task_definition: String,
    pub seed: u64,
    pub settings: String,
    pub timeline: Vec<TimelineEvent>,
    /// Intervals with no healthy target (no InService instance behind the ELB).
    pub zero_healthy: Vec<(Millis, Millis)>,
    pub predicted_downtime_ms: Millis,
    /// Still no healthy target when the rehearsal ended.
    pub down_at_end: bool,
    /// From the deployment's start to the end of the rehearsal.
    pub duration_ms: Millis,
    /// When the deployment reached its outcome. The rehearsal goes on after
    /// it while a fault has not played out yet.
    pub outcome_at_ms: Millis,
    /// Since when the service is steady (its deployment completed, every
    /// task running and healthy); none when it was not at the end.
    pub steady_at_ms: Option<Millis>,
    pub outcome: Outcome,
    pub suggestions: Vec<String>,
    pub lanes: Vec<Lane>,
    /// Queue entries the model processed (including the warm-up).
    pub model_events: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RehearseError {
    #[error(transparent)]
    Model(#[from] ModelError),
    /// `rehearse incident` with no timed fault: nothing would happen.
    #[error("nothing to rehearse: no fault with a time (crash@TIME, failing-health@TIME+DURATION or instance-lost@TIME)")]
    NoTimedFault,
    /// A fault at or after the end the caller fixed for the run.
    #[error("fault `{fault}` falls after the end of the rehearsal at {}", crate::fault::fmt_flag_ms(*.end_ms))]
    FaultAfterEnd { fault: FaultSpec, end_ms: Millis },
}

/// Stand the service up, let it settle, deploy `input.next`, and report.
///
/// The run lasts until the deployment has an outcome and every fault has
/// played out (then until the service is steady again, for at most
/// `horizon_ms`): a fault after the deployment completed is rehearsed too.
pub fn rehearse_deploy(input: &RehearseInput) -> Result<Rehearsal, RehearseError> {
    let mut m = warm_up(
        ModelConfig {
            service: input.service.clone(),
            instances: input.instances.clone(),
            elb: input.elb.clone(),
            timings: input.timings.clone(),
            replace_lost_instances: true,
        },
        &input.current,
        input.seed,
    )?;
    let t0 = m.now();
    m.schedule_deploy(t0, input.next.clone());
    fault::inject(&mut m, &input.faults, t0, &input.next.arn);
    // The deployment itself.
    let log_start = m.log().len();
    m.run_until(t0)?;
    let played_out = t0 + fault::played_out_ms(&input.faults, &input.timings);
    let end_limit = played_out + input.horizon_ms;
    let mut watch = Watch {
        t0,
        deployment: m.service().primary().id.clone(),
        failed: None,
        log_seen: 0,
    };
    let mut outcome: Option<(Outcome, Millis)> = None;
    let mut steady_since: Option<Millis> = None;
    loop {
        steady_since = if steady(&m) {
            steady_since.or(Some(m.now()))
        } else {
            None
        };
        if outcome.is_none() {
            outcome = watch.outcome(&m).map(|o| (o, m.now()));
        }
        if let Some((_, at)) = &outcome {
            if past(&m, played_out) {
                // Nothing after the outcome: stop there, as before any fault.
                if *at >= played_out || steady_since.is_some() {
                    break;
                }
            } else if m.peek().is_none_or(|t| t > played_out) {
                m.run_until(played_out)?;
                continue;
            }
        }
        if m.peek().is_none_or(|t| t > end_limit) {
            m.run_until(end_limit)?;
            if outcome.is_none() {
                outcome = Some((watch.give_up(&m, end_limit - t0), m.now()));
            }
            break;
        }
        m.step()?;
    }
    let (outcome, outcome_at) = outcome.expect("set before the loop ends");
    let end = m.now().max(t0);
    let steady_at_ms = steady(&m)
        .then_some(steady_since)
        .flatten()
        .map(|t| t.saturating_sub(t0));
    let trace = Trace::of(&m, log_start, t0, end);
    let mut r = Rehearsal {
        service: input.service.name.clone(),
        from_task_definition: input.current.arn.clone(),
        to_task_definition: input.next.arn.clone(),
        seed: input.seed,
        settings: settings_line(&input.setup()),
        timeline: trace.timeline,
        zero_healthy: trace.zero_healthy,
        predicted_downtime_ms: trace.predicted_downtime_ms,
        down_at_end: trace.down_at_end,
        duration_ms: trace.duration_ms,
        outcome_at_ms: outcome_at.saturating_sub(t0),
        steady_at_ms,
        outcome,
        suggestions: Vec::new(),
        lanes: trace.lanes,
        model_events: m.events_processed(),
    };
    r.suggestions = suggest(input, &r);
    Ok(r)
}

/// Watches a deployment for its outcome.
struct Watch {
    t0: Millis,
    deployment: String,
    /// The deployment-failed event's message, once seen.
    failed: Option<String>,
    log_seen: usize,
}

impl Watch {
    /// The outcome, once the deployment has one.
    fn outcome(&mut self, m: &Model) -> Option<Outcome> {
        let log = m.log();
        for e in &log[self.log_seen..] {
            if e.at_ms >= self.t0
                && e.kind == LogKind::Service(EventKind::DeploymentFailed)
                && self.failed.is_none()
            {
                self.failed = Some(e.message.clone());
            }
        }
        self.log_seen = log.len();
        let p = m.service().primary();
        if let Some(reason) = &self.failed {
            let rolling_back = p.rollback_of.is_some();
            if !rolling_back || steady(m) {
                return Some(Outcome::Failed {
                    reason: reason.clone(),
                    rolled_back: rolling_back,
                });
            }
        } else if p.id == self.deployment && steady(m) {
            return Some(Outcome::Completed);
        }
        None
    }

    /// The outcome when the run ends without one: failed, or stuck with
    /// ECS's last reason.
    fn give_up(&self, m: &Model, after: Millis) -> Outcome {
        if let Some(reason) = &self.failed {
            return Outcome::Failed {
                reason: reason.clone(),
                rolled_back: false,
            };
        }
        let reason = last_reason(m, self.t0).unwrap_or_else(|| {
            format!(
                "the deployment did not reach a steady state within {}",
                fmt_ms(after)
            )
        });
        Outcome::Stuck { reason }
    }
}

/// When a new task waits more than a minute for enough passing checks, how to shorten it.
pub(crate) fn slow_elb_suggestion(elb: Option<&ElbModel>) -> Option<String> {
    let e = elb?;
    let wait = e.healthy_threshold as u64 * e.interval_ms;
    (wait > 60_000).then(|| format!(
        "a new task takes traffic only after healthy_threshold x interval = {} x {} = {} of passing checks: load_balancer.health_check healthy_threshold = 2 with interval = 10 brings that to about 20 s and shortens every outage",
        e.healthy_threshold,
        fmt_ms(e.interval_ms),
        fmt_ms(wait)
    ))
}

/// Concrete settings that would avoid what the rehearsal ran into.
pub fn suggest(i: &RehearseInput, r: &Rehearsal) -> Vec<String> {
    let mut out = Vec::new();
    let s = &i.service;
    let d = s.desired_count;
    let n = i.instances.len() as u32;
    let static_port = i.current.host_port != 0;
    if let Outcome::Stuck { reason } = &r.outcome {
        if reason.contains("is already using a port required by your task") {
            out.push(format!(
                "needs a free host port: add a second container instance (cluster.instance_count = {}), or use dynamic host ports (host_port = 0) with an ALB target group",
                n + 1
            ));
        } else if reason.contains("insufficient memory") {
            out.push(format!(
                "needs {} MiB free on a container instance: add one (cluster.instance_count = {}), lower service.memory, or choose a larger cluster.instance_type",
                i.next.memory_mib,
                n + 1
            ));
        } else if reason.contains("insufficient CPU") {
            out.push(format!(
                "needs {} CPU units free on a container instance: add one (cluster.instance_count = {}), lower service.cpu, or choose a larger cluster.instance_type",
                i.next.cpu,
                n + 1
            ));
        } else if reason.contains("No Container Instances") {
            out.push(
                "the cluster has no container instances: set cluster.instance_count to at least 1"
                    .to_string(),
            );
        } else if reason.contains("service deployment configuration") && d > 0 {
            let start_max = ((d + 1) * 100).div_ceil(d);
            let stop_min = ((d - 1) * 100) / d;
            out.push(format!(
                "set service.maximum_percent = {start_max} (start a new task first) or service.minimum_healthy_percent = {stop_min} (stop an old task first)"
            ));
        } else if reason.contains("unable to consistently start") {
            out.push(format!(
                "the new revision's tasks do not start ({}): check the image; enable the deployment circuit breaker with rollback (service.circuit_breaker = {{ enable = true, rollback = true }}) so a bad image rolls back on its own",
                i.next.image
            ));
        } else if s.circuit_breaker.is_none() {
            out.push("enable the deployment circuit breaker with rollback (service.circuit_breaker = { enable = true, rollback = true }) so a deployment that cannot become healthy rolls back on its own".to_string());
        }
    }
    if let Outcome::Failed { rolled_back, .. } = &r.outcome {
        if *rolled_back {
            out.push(format!(
                "the circuit breaker rolled the service back to {}: fix {} before deploying it again",
                i.current.arn, i.next.image
            ));
        } else if s.circuit_breaker.is_some_and(|c| !c.rollback) {
            out.push("the failed deployment stays in place: turn on rollback (service.circuit_breaker = { enable = true, rollback = true })".to_string());
        }
    }
    if r.predicted_downtime_ms > 0 && matches!(r.outcome, Outcome::Completed) {
        let zero_downtime_min = s.minimum_healthy_percent >= 100 || s.min_healthy() >= d;
        if !zero_downtime_min {
            // The same words as `check`'s CHR-DEP-001 fix: one function.
            out.push(zero_downtime_settings(d, static_port, n));
        }
    }
    if r.predicted_downtime_ms > 0 {
        out.extend(slow_elb_suggestion(i.elb.as_ref()));
    }
    out
}

impl Rehearsal {
    /// The report as text, for a terminal.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "rehearse deploy: service {} {} -> {} (model runtime, seed {})",
            self.service, self.from_task_definition, self.to_task_definition, self.seed
        );
        let _ = writeln!(o, "settings: {}", self.settings);
        let _ = writeln!(o);
        write_timeline(&mut o, &self.timeline);
        write_downtime(
            &mut o,
            &self.zero_healthy,
            self.down_at_end,
            self.predicted_downtime_ms,
        );
        let _ = match &self.outcome {
            Outcome::Completed => {
                writeln!(o, "outcome: completed in {}", fmt_ms(self.outcome_at_ms))
            }
            Outcome::Stuck { reason } => writeln!(
                o,
                "outcome: stuck after {}: {reason}",
                fmt_ms(self.outcome_at_ms)
            ),
            Outcome::Failed {
                reason,
                rolled_back,
            } => writeln!(
                o,
                "outcome: failed{}: {reason}",
                if *rolled_back { ", rolled back" } else { "" }
            ),
        };
        if self.duration_ms > self.outcome_at_ms {
            let _ = match self.steady_at_ms {
                Some(t) => writeln!(
                    o,
                    "after the outcome: every fault played out; the service was steady again at +{}",
                    fmt_ms(t)
                ),
                None => writeln!(
                    o,
                    "after the outcome: every fault played out; the service was not steady when the rehearsal ended at +{}",
                    fmt_ms(self.duration_ms)
                ),
            };
        }
        if !self.suggestions.is_empty() {
            let _ = writeln!(o, "suggestions:");
            for s in &self.suggestions {
                let _ = writeln!(o, "  - {s}");
            }
        }
        o
    }

    /// A timeline picture: one lane per task, the ELB's healthy-target count,
    /// the zero-healthy intervals shaded.
    pub fn render_svg(&self) -> String {
        Picture {
            heading: format!(
                "{} {} &#8594; {} (seed {})",
                esc(&self.service),
                esc(&self.from_task_definition),
                esc(&self.to_task_definition),
                self.seed
            ),
            duration_ms: self.duration_ms,
            predicted_downtime_ms: self.predicted_downtime_ms,
            zero_healthy: &self.zero_healthy,
            lanes: &self.lanes,
            outcome: match &self.outcome {
                Outcome::Completed => "completed".to_string(),
                Outcome::Stuck { .. } => "stuck".to_string(),
                Outcome::Failed { rolled_back, .. } => {
                    format!("failed{}", if *rolled_back { ", rolled back" } else { "" })
                }
            },
        }
        .svg()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}
