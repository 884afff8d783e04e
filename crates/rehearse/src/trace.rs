//! What a run of the model did, as the parts a report is made of: the
//! timeline since the run's start, the intervals with no healthy target (the
//! predicted downtime), one lane of states per task, the settings line, and
//! whether the service is steady. Shared by `rehearse deploy` and `rehearse
//! incident`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chronous_core::ecs::{
    ContainerInstance, EventKind, Millis, RolloutState, ServiceConfig, TaskDefinition, TaskStatus,
};
use serde::{Deserialize, Serialize};

use crate::model::{ElbModel, LogEntry, LogKind, Model, ModelConfig, ModelError};
use crate::render::fmt_ms;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Since the run started (the deployment or the incident).
    pub at_ms: Millis,
    pub kind: String,
    pub task: Option<String>,
    pub instance: Option<String>,
    pub message: String,
}

/// One task's states over the rehearsal, for pictures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    pub task: String,
    pub instance: String,
    pub task_definition: String,
    /// (from_ms, to_ms, state): `provisioning`, `pending`, `running`,
    /// `in_service`, `out_of_service`, `stopping`.
    pub segments: Vec<(Millis, Millis, String)>,
}

/// The service is steady: its primary deployment completed, as many tasks
/// running and healthy as desired, none stopping.
pub(crate) fn steady(m: &Model) -> bool {
    let s = m.service();
    let c = s.counts();
    let d = s.config().desired_count;
    s.primary().rollout_state == RolloutState::Completed
        && c.active == d
        && c.healthy == d
        && !s.tasks().any(|t| t.last_status == TaskStatus::Stopping)
}

fn zero_intervals(
    series: &[(Millis, u32)],
    t0: Millis,
    end: Millis,
) -> (Vec<(Millis, Millis)>, bool) {
    let mut out = Vec::new();
    let mut cur = series
        .iter()
        .take_while(|(t, _)| *t <= t0)
        .last()
        .map(|(_, n)| *n)
        .unwrap_or(0);
    let mut start: Option<Millis> = (cur == 0).then_some(t0);
    for &(t, n) in series.iter().filter(|(t, _)| *t > t0 && *t <= end) {
        if cur == 0 && n > 0 {
            if let Some(s) = start.take() {
                if t > s {
                    out.push((s - t0, t - t0));
                }
            }
        } else if cur > 0 && n == 0 {
            start = Some(t);
        }
        cur = n;
    }
    let open = start.is_some();
    if let Some(s) = start {
        if end > s {
            out.push((s - t0, end - t0));
        }
    }
    (out, open)
}

fn lanes(log: &[LogEntry], t0: Millis, end: Millis) -> Vec<Lane> {
    // Per task: its lane, the state it is in since when, when it appeared.
    type Open = (Lane, Option<(Millis, String)>, Millis);
    let mut lanes: BTreeMap<String, Open> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in log {
        let Some(task) = &e.task else { continue };
        let state = match e.kind {
            LogKind::TaskProvisioning => "provisioning",
            LogKind::TaskPending => "pending",
            LogKind::TaskRunning => "running",
            LogKind::InService => "in_service",
            LogKind::OutOfService => "out_of_service",
            LogKind::TaskStopping => "stopping",
            LogKind::TaskStopped => "stopped",
            _ => continue,
        };
        let entry = lanes.entry(task.clone()).or_insert_with(|| {
            order.push(task.clone());
            let td = e
                .message
                .strip_prefix("PROVISIONING: task definition ")
                .and_then(|r| r.split(' ').next())
                .unwrap_or("")
                .to_string();
            (
                Lane {
                    task: task.clone(),
                    instance: e.instance.clone().unwrap_or_default(),
                    task_definition: td,
                    segments: Vec::new(),
                },
                None,
                e.at_ms,
            )
        });
        if let Some((from, st)) = entry.1.take() {
            entry.0.segments.push((from, e.at_ms, st));
        }
        if state != "stopped" {
            entry.1 = Some((e.at_ms, state.to_string()));
        }
    }
    let mut out = Vec::new();
    for id in order {
        let (mut lane, open, _) = lanes.remove(&id).expect("ordered");
        if let Some((from, st)) = open {
            lane.segments.push((from, end, st));
        }
        lane.segments = lane
            .segments
            .into_iter()
            .filter(|(a, b, _)| *b > t0 && *a < end || (*a == *b && *a >= t0 && *a <= end))
            .map(|(a, b, s)| (a.max(t0) - t0, b.min(end) - t0, s))
            .collect();
        if !lane.segments.is_empty() {
            out.push(lane);
        }
    }
    out
}

/// What a settings line describes: the service, the revision running, the cluster, the ELB.
pub(crate) struct Setup<'a> {
    pub service: &'a ServiceConfig,
    pub current: &'a TaskDefinition,
    pub instance_type: &'a str,
    pub instances: &'a [ContainerInstance],
    pub elb: Option<&'a ElbModel>,
}

/// `desired 1, minimum 0%, ...`: the settings a rehearsal ran with.
pub(crate) fn settings_line(i: &Setup<'_>) -> String {
    let s = i.service;
    let port = match i.current.host_port {
        0 => "dynamic host ports".to_string(),
        p => format!("static host port {p}"),
    };
    let mem = i.instances.first().map(|x| x.memory_mib).unwrap_or(0);
    let mut line = format!(
        "desired {}, minimum {}%, maximum {}% (at least {} healthy, at most {} running), {} x {} ({} MiB registered), task {} MiB, {port}",
        s.desired_count,
        s.minimum_healthy_percent,
        s.maximum_percent,
        s.min_healthy(),
        s.max_tasks(),
        i.instances.len(),
        i.instance_type,
        mem,
        i.current.memory_mib,
    );
    if let Some(e) = i.elb {
        let _ = write!(
            line,
            ", ELB checks every {} (timeout {}, healthy {}, unhealthy {})",
            fmt_ms(e.interval_ms),
            fmt_ms(e.timeout_ms),
            e.healthy_threshold,
            e.unhealthy_threshold
        );
    }
    if s.health_check_grace_ms > 0 {
        let _ = write!(line, ", grace {}", fmt_ms(s.health_check_grace_ms));
    }
    match s.circuit_breaker {
        Some(cb) => {
            let _ = write!(
                line,
                ", circuit breaker on{}",
                if cb.rollback { " with rollback" } else { "" }
            );
        }
        None => line.push_str(", circuit breaker off"),
    }
    line
}

/// The report's parts of a run that started (time 0 of the report) at `t0`
/// in model time, its log from `log_start`, and ended at `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trace {
    pub timeline: Vec<TimelineEvent>,
    pub zero_healthy: Vec<(Millis, Millis)>,
    pub predicted_downtime_ms: Millis,
    pub down_at_end: bool,
    pub duration_ms: Millis,
    pub lanes: Vec<Lane>,
}

impl Trace {
    pub(crate) fn of(m: &Model, log_start: usize, t0: Millis, end: Millis) -> Trace {
        let (zero_healthy, down_at_end) = zero_intervals(m.in_service_series(), t0, end);
        let predicted_downtime_ms = zero_healthy.iter().map(|(a, b)| b - a).sum();
        let timeline = m.log()[log_start..]
            .iter()
            .map(|e| TimelineEvent {
                at_ms: e.at_ms - t0,
                kind: e.kind.as_str().to_string(),
                task: e.task.clone(),
                instance: e.instance.clone(),
                message: e.message.clone(),
            })
            .collect();
        Trace {
            timeline,
            zero_healthy,
            predicted_downtime_ms,
            down_at_end,
            duration_ms: end - t0,
            lanes: lanes(m.log(), t0, end),
        }
    }
}

/// After the last fault has played out, how long a run waits at most for
/// the service to be steady again.
pub const SETTLE_MS: Millis = 3_600_000;

/// A model of `cfg` running `current`, stepped until the service is steady
/// (or an hour has gone by): where every rehearsal starts.
pub(crate) fn warm_up(
    cfg: ModelConfig,
    current: &TaskDefinition,
    seed: u64,
) -> Result<Model, ModelError> {
    let mut m = Model::new(cfg, current.clone(), seed)?;
    while !steady(&m) && m.now() < 3_600_000 {
        if m.step()?.is_none() {
            break;
        }
    }
    Ok(m)
}

/// ECS's last word on why it could not place or start a task, since `t0`.
pub(crate) fn last_reason(m: &Model, t0: Millis) -> Option<String> {
    m.log()
        .iter()
        .rev()
        .filter(|e| e.at_ms >= t0)
        .find(|e| {
            matches!(
                e.kind,
                LogKind::Service(
                    EventKind::UnableToPlace
                        | EventKind::UnableToDeploy
                        | EventKind::StartThrottled
                )
            )
        })
        .map(|e| e.message.clone())
}

/// Every queued happening up to `t` has been processed.
pub(crate) fn past(m: &Model, t: Millis) -> bool {
    m.now() >= t && m.peek().is_none_or(|p| p > t)
}
