//! `rehearse incident` on the modelled runtime: stand the service up as the
//! environment describes it, let it settle, then inject faults with no
//! deployment (a task crashes, a task fails its health checks for a while, a
//! container instance is lost) and report what happened to traffic: the
//! timeline with ECS's events, the intervals with no healthy target (the
//! predicted downtime), which tasks ECS stopped and started in their place,
//! and when the service was steady again.
//!
//! Times in an [`Incident`] are milliseconds since the incident started (the
//! service steady on its current revision).

use std::fmt::Write as _;

use chronous_core::ecs::{ContainerInstance, Millis, ServiceConfig, TaskDefinition};
use chronous_core::env::Environment;
use serde::{Deserialize, Serialize};

use crate::fault::{self, FaultSpec};
use crate::model::{ElbModel, LogKind, Model, ModelConfig, Timings};
use crate::rehearse::{slow_elb_suggestion, RehearseError, RehearseInput};
use crate::render::{esc, fmt_ms, short, write_downtime, write_timeline, Picture};
use crate::trace::{
    last_reason, past, settings_line, steady, warm_up, Lane, Setup, TimelineEvent, Trace, SETTLE_MS,
};

/// What to rehearse: the service as it runs now, and the faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentInput {
    pub service: ServiceConfig,
    /// The revision running (and the one replacement tasks start from).
    pub current: TaskDefinition,
    pub instance_type: String,
    pub instances: Vec<ContainerInstance>,
    pub elb: Option<ElbModel>,
    pub timings: Timings,
    pub seed: u64,
    /// At least one with a time. `bad-image`, `unhealthy-image` and
    /// `slow-start=N` say how the tasks started during the incident behave
    /// (the image deleted from the registry, broken, or slow to start).
    pub faults: Vec<FaultSpec>,
    /// The run's length (`--for`). None: until every fault has played out
    /// and the service is steady again, at most [`SETTLE_MS`] later.
    pub horizon_ms: Option<Millis>,
}

impl IncidentInput {
    /// The service, cluster and ELB as the validated environment describes
    /// them. Seed 0, no faults, no fixed length.
    pub fn from_environment(env: &Environment) -> IncidentInput {
        let r = RehearseInput::from_environment(env, None);
        IncidentInput {
            service: r.service,
            current: r.current,
            instance_type: r.instance_type,
            instances: r.instances,
            elb: r.elb,
            timings: r.timings,
            seed: r.seed,
            faults: Vec::new(),
            horizon_ms: None,
        }
    }

    fn setup(&self) -> Setup<'_> {
        Setup {
            service: &self.service,
            current: &self.current,
            instance_type: &self.instance_type,
            instances: &self.instances,
            elb: self.elb.as_ref(),
        }
    }

    /// Refuse what would rehearse nothing or drop a fault.
    fn check(&self) -> Result<(), RehearseError> {
        if self.faults.iter().all(|f| f.at_ms().is_none()) {
            return Err(RehearseError::NoTimedFault);
        }
        if let Some(end_ms) = self.horizon_ms {
            if let Some(f) = self
                .faults
                .iter()
                .find(|f| f.at_ms().is_some_and(|at| at >= end_ms))
            {
                return Err(RehearseError::FaultAfterEnd {
                    fault: f.clone(),
                    end_ms,
                });
            }
        }
        Ok(())
    }
}

/// A task ECS stopped during the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedTask {
    pub task: String,
    pub instance: String,
    pub at_ms: Millis,
    /// ECS's stoppedReason.
    pub reason: String,
    pub exit_code: Option<i32>,
}

/// A task ECS started during the incident (to replace a stopped one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedTask {
    pub task: String,
    pub instance: String,
    pub at_ms: Millis,
    /// When the ELB took it InService; none if it never did.
    pub in_service_at_ms: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IncidentOutcome {
    /// No task stopped and the service stayed steady throughout.
    Unaffected,
    /// The service was steady again (every task running and healthy).
    Recovered { steady_at_ms: Millis },
    /// The service was not steady when the rehearsal ended.
    NotRecovered { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub service: String,
    pub task_definition: String,
    pub seed: u64,
    pub settings: String,
    pub faults: Vec<FaultSpec>,
    pub timeline: Vec<TimelineEvent>,
    /// Intervals with no healthy target (no InService instance behind the ELB).
    pub zero_healthy: Vec<(Millis, Millis)>,
    pub predicted_downtime_ms: Millis,
    /// Still no healthy target when the rehearsal ended.
    pub down_at_end: bool,
    /// From the incident's start to the end of the rehearsal.
    pub duration_ms: Millis,
    pub stopped: Vec<StoppedTask>,
    pub started: Vec<StartedTask>,
    pub outcome: IncidentOutcome,
    pub suggestions: Vec<String>,
    pub lanes: Vec<Lane>,
    /// Queue entries the model processed (including the warm-up).
    pub model_events: u64,
}

/// Stand the service up, let it settle, inject `input.faults`, and report.
pub fn rehearse_incident(input: &IncidentInput) -> Result<Incident, RehearseError> {
    input.check()?;
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
    fault::inject(&mut m, &input.faults, t0, &input.current.arn);
    let log_start = m.log().len();
    let played_out = t0 + fault::played_out_ms(&input.faults, &input.timings);
    let end_limit = match input.horizon_ms {
        Some(h) => t0 + h,
        None => played_out + SETTLE_MS,
    };
    let mut steady_since: Option<Millis> = None;
    loop {
        steady_since = if steady(&m) {
            steady_since.or(Some(m.now()))
        } else {
            None
        };
        if input.horizon_ms.is_none() {
            if past(&m, played_out) && steady_since.is_some() {
                break;
            }
            if m.now() < played_out && m.peek().is_none_or(|t| t > played_out) {
                m.run_until(played_out)?;
                continue;
            }
        }
        if m.peek().is_none_or(|t| t > end_limit) {
            m.run_until(end_limit)?;
            break;
        }
        m.step()?;
    }
    let end = m.now().max(t0);
    let first_fault = t0
        + input
            .faults
            .iter()
            .filter_map(FaultSpec::at_ms)
            .min()
            .unwrap_or(0);
    let outcome = match steady_since {
        Some(t) if t <= first_fault => IncidentOutcome::Unaffected,
        Some(t) => IncidentOutcome::Recovered {
            steady_at_ms: t - t0,
        },
        None => IncidentOutcome::NotRecovered {
            reason: last_reason(&m, t0).unwrap_or_else(|| {
                format!(
                    "the service was not steady when the rehearsal ended at +{}",
                    fmt_ms(end - t0)
                )
            }),
        },
    };
    let trace = Trace::of(&m, log_start, t0, end);
    let (stopped, started) = tasks_of(&m, t0);
    let mut r = Incident {
        service: input.service.name.clone(),
        task_definition: input.current.arn.clone(),
        seed: input.seed,
        settings: settings_line(&input.setup()),
        faults: input.faults.clone(),
        timeline: trace.timeline,
        zero_healthy: trace.zero_healthy,
        predicted_downtime_ms: trace.predicted_downtime_ms,
        down_at_end: trace.down_at_end,
        duration_ms: trace.duration_ms,
        stopped,
        started,
        outcome,
        suggestions: Vec::new(),
        lanes: trace.lanes,
        model_events: m.events_processed(),
    };
    r.suggestions = suggest(input, &r);
    Ok(r)
}

/// The tasks stopped and started since `t0`, in time order.
fn tasks_of(m: &Model, t0: Millis) -> (Vec<StoppedTask>, Vec<StartedTask>) {
    let mut stopped: Vec<StoppedTask> = m
        .service()
        .tasks()
        .filter_map(|t| {
            let at = t.stopped_at.filter(|s| *s >= t0)?;
            Some(StoppedTask {
                task: t.id.clone(),
                instance: t.instance.clone(),
                at_ms: at - t0,
                reason: t.stopped_reason.clone().unwrap_or_default(),
                exit_code: t.exit_code,
            })
        })
        .collect();
    stopped.sort_by(|a, b| (a.at_ms, &a.task).cmp(&(b.at_ms, &b.task)));
    let in_service_at = |id: &str| {
        m.log()
            .iter()
            .find(|e| {
                e.at_ms >= t0 && e.kind == LogKind::InService && e.task.as_deref() == Some(id)
            })
            .map(|e| e.at_ms - t0)
    };
    let mut started: Vec<StartedTask> = m
        .service()
        .tasks()
        .filter(|t| t.created_at >= t0)
        .map(|t| StartedTask {
            task: t.id.clone(),
            instance: t.instance.clone(),
            at_ms: t.created_at - t0,
            in_service_at_ms: in_service_at(&t.id),
        })
        .collect();
    started.sort_by(|a, b| (a.at_ms, &a.task).cmp(&(b.at_ms, &b.task)));
    (stopped, started)
}

/// Settings that would have kept traffic up.
fn suggest(i: &IncidentInput, r: &Incident) -> Vec<String> {
    let mut out = Vec::new();
    let d = i.service.desired_count;
    let n = i.instances.len() as u32;
    if r.predicted_downtime_ms > 0 && d < 2 {
        out.push(format!(
            "with service.desired_count = {d} one lost task is an outage: desired_count = 2 on two container instances (cluster.instance_count = {}) keeps a healthy target while ECS replaces the other",
            n.max(2)
        ));
    } else if r.predicted_downtime_ms > 0 && n < 2 {
        out.push("every task runs on one container instance: a second one (cluster.instance_count = 2) keeps a task serving when an instance is lost".to_string());
    }
    if r.predicted_downtime_ms > 0 {
        out.extend(slow_elb_suggestion(i.elb.as_ref()));
    }
    out
}

impl Incident {
    /// The report as text, for a terminal.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "rehearse incident: service {} {} (model runtime, seed {})",
            self.service, self.task_definition, self.seed
        );
        let _ = writeln!(o, "settings: {}", self.settings);
        let faults: Vec<String> = self.faults.iter().map(ToString::to_string).collect();
        let _ = writeln!(o, "faults: {}", faults.join(", "));
        let _ = writeln!(o);
        write_timeline(&mut o, &self.timeline);
        write_downtime(
            &mut o,
            &self.zero_healthy,
            self.down_at_end,
            self.predicted_downtime_ms,
        );
        if self.stopped.is_empty() {
            let _ = writeln!(o, "tasks stopped: none");
        }
        for t in &self.stopped {
            let _ = writeln!(
                o,
                "task stopped: {} on {} at +{}: {}",
                short(&t.task),
                t.instance,
                fmt_ms(t.at_ms),
                t.reason
            );
        }
        for t in &self.started {
            let _ = writeln!(
                o,
                "task started: {} on {} at +{}, {}",
                short(&t.task),
                t.instance,
                fmt_ms(t.at_ms),
                match t.in_service_at_ms {
                    Some(s) => format!("InService at +{}", fmt_ms(s)),
                    None => "never InService".to_string(),
                }
            );
        }
        let _ = match &self.outcome {
            IncidentOutcome::Unaffected => writeln!(
                o,
                "outcome: unaffected: no task stopped and the service stayed steady"
            ),
            IncidentOutcome::Recovered { steady_at_ms } => writeln!(
                o,
                "outcome: recovered: the service was steady again at +{}",
                fmt_ms(*steady_at_ms)
            ),
            IncidentOutcome::NotRecovered { reason } => {
                writeln!(o, "outcome: not recovered: {reason}")
            }
        };
        if !self.suggestions.is_empty() {
            let _ = writeln!(o, "suggestions:");
            for s in &self.suggestions {
                let _ = writeln!(o, "  - {s}");
            }
        }
        o
    }

    /// The timeline picture, as `rehearse deploy` draws it.
    pub fn render_svg(&self) -> String {
        let faults: Vec<String> = self.faults.iter().map(ToString::to_string).collect();
        Picture {
            heading: format!(
                "{} {} incident {} (seed {})",
                esc(&self.service),
                esc(&self.task_definition),
                esc(&faults.join(", ")),
                self.seed
            ),
            duration_ms: self.duration_ms,
            predicted_downtime_ms: self.predicted_downtime_ms,
            zero_healthy: &self.zero_healthy,
            lanes: &self.lanes,
            outcome: match &self.outcome {
                IncidentOutcome::Unaffected => "unaffected".to_string(),
                IncidentOutcome::Recovered { steady_at_ms } => {
                    format!("recovered, steady at +{}", fmt_ms(*steady_at_ms))
                }
                IncidentOutcome::NotRecovered { .. } => "not recovered".to_string(),
            },
        }
        .svg()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}
