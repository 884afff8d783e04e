//! `rehearse deploy` on the modelled runtime: stand the service up as the
//! environment describes it, let it settle, deploy a new revision, and report
//! what happened — a timeline, the intervals with no healthy target behind the
//! load balancer (the predicted downtime), the outcome, and settings that
//! would avoid the trouble.
//!
//! Times in a [`Rehearsal`] are milliseconds since the deployment started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use chronous_core::ecs::registered_memory;
use chronous_core::ecs::{
    CircuitBreaker, ContainerInstance, EventKind, Millis, RolloutState, ServiceConfig,
    TaskDefinition, TaskStatus,
};
use chronous_core::env::{instance_type, Environment};
use serde::{Deserialize, Serialize};

use crate::model::{
    Behaviour, ElbModel, Fault, FaultKind, LogEntry, LogKind, Model, ModelConfig, ModelError,
    Timings,
};

/// A fault to inject, as `--fault` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum FaultSpec {
    /// `crash@90s`: a running task's essential container exits.
    Crash { at_ms: Millis },
    /// `failing-health@60s+300s`: a running task fails its health checks for a while.
    FailingHealthChecks { at_ms: Millis, duration_ms: Millis },
    /// `instance-lost@2m`: a container instance is lost (and replaced 3 min later).
    InstanceLost { at_ms: Millis },
    /// `bad-image`: the new image cannot start (CannotPullContainerError).
    BadImage,
    /// `unhealthy-image`: the new image starts but fails its health check.
    UnhealthyImage,
    /// `slow-start=4`: the new image takes 4 times as long to start.
    SlowStart { factor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{input}`: {why} (use crash@90s, failing-health@60s+300s, instance-lost@2m, bad-image, unhealthy-image or slow-start=4)")]
pub struct FaultParseError {
    pub input: String,
    pub why: String,
}

/// `90s`, `2m`, `1500ms`, `1h`, or plain seconds.
pub fn parse_duration_ms(s: &str) -> Option<Millis> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1_000)
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

impl FromStr for FaultSpec {
    type Err = FaultParseError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| FaultParseError {
            input: input.to_string(),
            why: why.to_string(),
        };
        let at = |rest: Option<&str>| -> Result<Millis, FaultParseError> {
            let r = rest.ok_or_else(|| err("needs @TIME"))?;
            parse_duration_ms(r).ok_or_else(|| err("bad time"))
        };
        let (name, rest) = match input.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (input, None),
        };
        match name {
            "crash" => Ok(FaultSpec::Crash { at_ms: at(rest)? }),
            "instance-lost" => Ok(FaultSpec::InstanceLost { at_ms: at(rest)? }),
            "failing-health" | "unhealthy" => {
                let r = rest.ok_or_else(|| err("needs @TIME+DURATION"))?;
                let (a, d) = r.split_once('+').unwrap_or((r, "300s"));
                Ok(FaultSpec::FailingHealthChecks {
                    at_ms: parse_duration_ms(a).ok_or_else(|| err("bad time"))?,
                    duration_ms: parse_duration_ms(d).ok_or_else(|| err("bad duration"))?,
                })
            }
            "bad-image" => Ok(FaultSpec::BadImage),
            "unhealthy-image" => Ok(FaultSpec::UnhealthyImage),
            _ => match input.split_once('=') {
                Some(("slow-start", f)) => Ok(FaultSpec::SlowStart {
                    factor: f.parse().map_err(|_| err("bad factor"))?,
                }),
                _ => Err(err("unknown fault")),
            },
        }
    }
}

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
    /// Give up (outcome Stuck) this long after the deployment started.
    pub horizon_ms: Millis,
}

impl RehearseInput {
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
pub struct TimelineEvent {
    /// Since the deployment started.
    pub at_ms: Millis,
    pub kind: String,
    pub task: Option<String>,
    pub instance: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Stuck { reason: String },
    Failed { reason: String, rolled_back: bool },
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
}

fn steady(m: &Model) -> bool {
    let s = m.service();
    let c = s.counts();
    let d = s.config().desired_count;
    s.primary().rollout_state == RolloutState::Completed
        && c.active == d
        && c.healthy == d
        && !s.tasks().any(|t| t.last_status == TaskStatus::Stopping)
}

/// Stand the service up, let it settle, deploy `input.next`, and report.
pub fn rehearse_deploy(input: &RehearseInput) -> Result<Rehearsal, RehearseError> {
    let cfg = ModelConfig {
        service: input.service.clone(),
        instances: input.instances.clone(),
        elb: input.elb.clone(),
        timings: input.timings.clone(),
        replace_lost_instances: true,
    };
    let mut m = Model::new(cfg, input.current.clone(), input.seed)?;
    // Warm-up: the current revision until steady (or an hour).
    while !steady(&m) && m.now() < 3_600_000 {
        if m.step()?.is_none() {
            break;
        }
    }
    let t0 = m.now();
    m.schedule_deploy(t0, input.next.clone());
    for f in &input.faults {
        match f {
            FaultSpec::Crash { at_ms } => m.inject(Fault {
                at_ms: t0 + at_ms,
                kind: FaultKind::TaskCrash { exit_code: 137 },
            }),
            FaultSpec::FailingHealthChecks { at_ms, duration_ms } => m.inject(Fault {
                at_ms: t0 + at_ms,
                kind: FaultKind::FailingHealthChecks {
                    duration_ms: *duration_ms,
                },
            }),
            FaultSpec::InstanceLost { at_ms } => m.inject(Fault {
                at_ms: t0 + at_ms,
                kind: FaultKind::InstanceLost,
            }),
            FaultSpec::BadImage => m.set_behaviour(&input.next.arn, Behaviour::CannotStart),
            FaultSpec::UnhealthyImage => {
                m.set_behaviour(&input.next.arn, Behaviour::FailsHealthCheck)
            }
            FaultSpec::SlowStart { factor } => {
                m.set_behaviour(&input.next.arn, Behaviour::SlowStart { factor: *factor })
            }
        }
    }
    // The deployment itself.
    let log_start = m.log().len();
    m.run_until(t0)?;
    let dep_id = m.service().primary().id.clone();
    let end_limit = t0 + input.horizon_ms;
    let mut failed: Option<String> = None;
    let mut log_seen = 0usize;
    let outcome = loop {
        // New service events since last look.
        let log = m.log();
        for e in &log[log_seen..] {
            if e.at_ms >= t0
                && e.kind == LogKind::Service(EventKind::DeploymentFailed)
                && failed.is_none()
            {
                failed = Some(e.message.clone());
            }
        }
        log_seen = log.len();
        let p = m.service().primary();
        if let Some(reason) = &failed {
            let rolling_back = p.rollback_of.is_some();
            if !rolling_back {
                break Outcome::Failed {
                    reason: reason.clone(),
                    rolled_back: false,
                };
            }
            if steady(&m) {
                break Outcome::Failed {
                    reason: reason.clone(),
                    rolled_back: true,
                };
            }
        } else if p.id == dep_id && steady(&m) {
            break Outcome::Completed;
        }
        if m.peek().is_none_or(|t| t > end_limit) {
            m.run_until(end_limit)?;
            if let Some(reason) = failed {
                break Outcome::Failed {
                    reason,
                    rolled_back: false,
                };
            }
            let reason = m
                .log()
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
                .unwrap_or_else(|| {
                    format!(
                        "the deployment did not reach a steady state within {}",
                        fmt_ms(input.horizon_ms)
                    )
                });
            break Outcome::Stuck { reason };
        }
        m.step()?;
    };
    let end = m.now().max(t0);
    let (zero_healthy, down_at_end) = zero_intervals(m.in_service_series(), t0, end);
    let predicted_downtime_ms = zero_healthy.iter().map(|(a, b)| b - a).sum();
    let timeline: Vec<TimelineEvent> = m.log()[log_start..]
        .iter()
        .map(|e| TimelineEvent {
            at_ms: e.at_ms - t0,
            kind: e.kind.as_str().to_string(),
            task: e.task.clone(),
            instance: e.instance.clone(),
            message: e.message.clone(),
        })
        .collect();
    let lanes = lanes(m.log(), t0, end);
    let mut r = Rehearsal {
        service: input.service.name.clone(),
        from_task_definition: input.current.arn.clone(),
        to_task_definition: input.next.arn.clone(),
        seed: input.seed,
        settings: settings_line(input),
        timeline,
        zero_healthy,
        predicted_downtime_ms,
        down_at_end,
        duration_ms: end - t0,
        outcome,
        suggestions: Vec::new(),
        lanes,
        model_events: m.events_processed(),
    };
    r.suggestions = suggest(input, &r);
    Ok(r)
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
    let mut lanes: BTreeMap<String, (Lane, Option<(Millis, String)>, Millis)> = BTreeMap::new();
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

fn settings_line(i: &RehearseInput) -> String {
    let s = &i.service;
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
    if let Some(e) = &i.elb {
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
            if static_port {
                let need = (d + 1).max(n);
                out.push(format!(
                    "minimum 100 / maximum 200 on {} avoids the outage (service.minimum_healthy_percent = 100, service.maximum_percent = 200, cluster.instance_count = {need}): a new task starts on a free instance and the old one stops once the new one is InService",
                    match need {
                        1 => "one instance".to_string(),
                        2 => "two instances".to_string(),
                        k => format!("{k} instances"),
                    }
                ));
            } else {
                out.push("minimum 100 / maximum 200 avoids the outage (service.minimum_healthy_percent = 100, service.maximum_percent = 200): new tasks start before old ones stop".to_string());
            }
        }
    }
    if r.predicted_downtime_ms > 0 {
        if let Some(e) = &i.elb {
            let wait = e.healthy_threshold as u64 * e.interval_ms;
            if wait > 60_000 {
                out.push(format!(
                    "a new task takes traffic only after healthy_threshold x interval = {} x {} = {} of passing checks: load_balancer.health_check healthy_threshold = 2 with interval = 10 brings that to about 20 s and shortens every outage",
                    e.healthy_threshold,
                    fmt_ms(e.interval_ms),
                    fmt_ms(wait)
                ));
            }
        }
    }
    out
}

/// `5m 12.3s`, `42s`, `1500ms` style.
pub fn fmt_ms(ms: Millis) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let frac = ms % 1000;
    let secs = |x: u64| {
        if frac == 0 {
            format!("{x}s")
        } else {
            format!("{x}.{:03}s", frac)
                .trim_end_matches('0')
                .to_string()
        }
    };
    if s < 60 {
        secs(s)
    } else if s < 3600 {
        format!("{}m {}", s / 60, secs(s % 60))
    } else {
        format!("{}h {}m {}", s / 3600, (s % 3600) / 60, secs(s % 60))
    }
}

fn short(id: &str) -> &str {
    if id.len() > 12 && !id.starts_with("i-") {
        &id[..8]
    } else {
        id
    }
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
        for e in &self.timeline {
            let _ = writeln!(
                o,
                "{:>12}  {:<24} {:<8} {:<19} {}",
                format!("+{}", fmt_ms(e.at_ms)),
                e.kind,
                e.task.as_deref().map(short).unwrap_or("-"),
                e.instance.as_deref().unwrap_or("-"),
                e.message
            );
        }
        let _ = writeln!(o);
        if self.zero_healthy.is_empty() {
            let _ = writeln!(o, "zero healthy targets: never");
        } else {
            for (i, (a, b)) in self.zero_healthy.iter().enumerate() {
                let open = self.down_at_end && i + 1 == self.zero_healthy.len();
                let _ = writeln!(
                    o,
                    "zero healthy targets: +{} .. +{} ({}){}",
                    fmt_ms(*a),
                    fmt_ms(*b),
                    fmt_ms(b - a),
                    if open {
                        ", still down when the rehearsal ended"
                    } else {
                        ""
                    }
                );
            }
        }
        let _ = writeln!(
            o,
            "predicted downtime: {}",
            fmt_ms(self.predicted_downtime_ms)
        );
        let _ = match &self.outcome {
            Outcome::Completed => writeln!(o, "outcome: completed in {}", fmt_ms(self.duration_ms)),
            Outcome::Stuck { reason } => writeln!(
                o,
                "outcome: stuck after {}: {reason}",
                fmt_ms(self.duration_ms)
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
        let f = Frame {
            left: 190.0,
            plot: 980.0 - 190.0 - 20.0,
            span: self.duration_ms.max(1) as f64,
            top: 60.0,
            lane_h: 22.0,
            rows: self.lanes.len() + 1,
        };
        let width = 980.0;
        let (top, lane_h, rows) = (f.top, f.lane_h, f.rows);
        let height = top + rows as f64 * lane_h + 70.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="18" font-size="13">{} {} &#8594; {} (seed {}): predicted downtime {}</text>"#,
            esc(&self.service),
            esc(&self.from_task_definition),
            esc(&self.to_task_definition),
            self.seed,
            fmt_ms(self.predicted_downtime_ms)
        );
        // Axis ticks.
        let step = nice_step(self.duration_ms);
        let mut t = 0;
        while t <= self.duration_ms {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">+{4}</text>"##,
                f.x(t),
                top - 8.0,
                top + rows as f64 * lane_h,
                top - 12.0,
                fmt_ms(t)
            );
            t += step;
        }
        // Zero-healthy shading.
        for (a, b) in &self.zero_healthy {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{}" width="{:.1}" height="{}" fill="#e53935" fill-opacity="0.15"><title>zero healthy targets +{} .. +{}</title></rect>"##,
                f.x(*a),
                top - 8.0,
                (f.x(*b) - f.x(*a)).max(1.0),
                rows as f64 * lane_h + 8.0,
                fmt_ms(*a),
                fmt_ms(*b)
            );
        }
        self.svg_elb_lane(&mut s, &f);
        self.svg_task_lanes(&mut s, &f);
        self.svg_legend(&mut s, &f);
        s.push_str("</svg>\n");
        s
    }

    /// The ELB lane: green while a target is healthy, red while none is.
    fn svg_elb_lane(&self, s: &mut String, f: &Frame) {
        let y0 = f.top;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}">ELB healthy targets</text>"#,
            y0 + 15.0
        );
        let mut edges: Vec<Millis> = vec![0];
        for (a, b) in &self.zero_healthy {
            edges.push(*a);
            edges.push(*b);
        }
        edges.push(self.duration_ms);
        edges.sort();
        edges.dedup();
        for w in edges.windows(2) {
            let (a, b) = (w[0], w[1]);
            let zero = self
                .zero_healthy
                .iter()
                .any(|(za, zb)| a >= *za && b <= *zb);
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" fill="{}"/>"##,
                f.x(a),
                y0 + 4.0,
                (f.x(b) - f.x(a)).max(0.5),
                if zero { "#e53935" } else { "#43a047" }
            );
        }
    }

    /// One lane per task, a segment per state.
    fn svg_task_lanes(&self, s: &mut String, f: &Frame) {
        for (i, lane) in self.lanes.iter().enumerate() {
            let y = f.top + (i + 1) as f64 * f.lane_h;
            let _ = writeln!(
                s,
                r#"<text x="10" y="{:.1}">{} {}</text>"#,
                y + 15.0,
                esc(short(&lane.task)),
                esc(lane
                    .task_definition
                    .rsplit(':')
                    .next()
                    .map(|r| format!("rev {r}"))
                    .as_deref()
                    .unwrap_or(""))
            );
            for (a, b, st) in &lane.segments {
                let color = match st.as_str() {
                    "provisioning" | "pending" => "#bdbdbd",
                    "running" => "#fdd835",
                    "in_service" => "#43a047",
                    "out_of_service" => "#e53935",
                    "stopping" => "#fb8c00",
                    _ => "#9e9e9e",
                };
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" fill="{color}"><title>{} +{} .. +{}</title></rect>"#,
                    f.x(*a),
                    y + 4.0,
                    (f.x(*b) - f.x(*a)).max(1.0),
                    st,
                    fmt_ms(*a),
                    fmt_ms(*b)
                );
            }
        }
    }

    /// The colours' legend and the outcome, under the lanes.
    fn svg_legend(&self, s: &mut String, f: &Frame) {
        let ly = f.top + f.rows as f64 * f.lane_h + 25.0;
        let legend = [
            ("#bdbdbd", "provisioning/pending"),
            ("#fdd835", "running, not InService"),
            ("#43a047", "InService"),
            ("#e53935", "OutOfService / no healthy target"),
            ("#fb8c00", "stopping"),
        ];
        let mut lx = 10.0;
        for (c, label) in legend {
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
                ly - 10.0,
                lx + 16.0,
                ly
            );
            lx += 30.0 + label.len() as f64 * 6.6;
        }
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}">outcome: {}</text>"#,
            ly + 22.0,
            esc(&match &self.outcome {
                Outcome::Completed => "completed".to_string(),
                Outcome::Stuck { .. } => "stuck".to_string(),
                Outcome::Failed { rolled_back, .. } =>
                    format!("failed{}", if *rolled_back { ", rolled back" } else { "" }),
            })
        );
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// Where the SVG timeline draws: the plot's left edge and width, the time
/// it spans, the first lane's top, the lanes' height and count.
struct Frame {
    left: f64,
    plot: f64,
    span: f64,
    top: f64,
    lane_h: f64,
    rows: usize,
}

impl Frame {
    /// The x of a time since the deployment started.
    fn x(&self, t: Millis) -> f64 {
        self.left + self.plot * (t as f64 / self.span)
    }
}

fn nice_step(span: Millis) -> Millis {
    let target = span / 8;
    for s in [
        1_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
        1_800_000, 3_600_000,
    ] {
        if s >= target {
            return s;
        }
    }
    7_200_000
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
