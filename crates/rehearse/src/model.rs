//! The modelled runtime: container instances, tasks and a classic ELB on a
//! virtual clock, driving core's ECS scheduler ([`chronous_core::ecs`]).
//!
//! Nothing runs and nothing sleeps. Every future happening (a task reaching
//! PENDING or RUNNING, a health check, a fault) is an entry in an event queue
//! ordered by (time, sequence number); [`Model::step`] takes the first one and
//! jumps the clock to it. Every random choice (the phase of each target's
//! health checks, which task a fault hits, generated faults) comes from one
//! ChaCha8 generator seeded by the caller, and every collection is ordered,
//! so the same seed and inputs give the same event log.
//!
//! The ELB is modelled like a classic ELB: each registered target is checked
//! every `interval`; a passing check answers at once, a failing one after
//! `timeout`. The results drive core's classic-ELB health machine
//! ([`chronous_core::elb_health`], the one the simulator's real proxy drives):
//! a newly registered target is OutOfService ("registration in progress")
//! until `healthy_threshold` consecutive passes, an InService one goes
//! OutOfService after `unhealthy_threshold` consecutive failures.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use chronous_core::ecs::{
    Command, ContainerInstance, EcsError, EventKind, Millis, Observation, Output, Service,
    ServiceConfig, TaskDefinition,
};
use chronous_core::elb_health::{Check, Health, Reason, Thresholds};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How long the modelled runtime takes for things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Placement to PENDING (the agent picks the task up).
    pub provision_ms: Millis,
    /// Image pull (PENDING, before the container starts).
    pub pull_ms: Millis,
    /// Container start until RUNNING.
    pub start_ms: Millis,
    /// StopTask until STOPPED (SIGTERM, the app exits).
    pub stop_ms: Millis,
    /// A lost container instance is replaced (by its Auto Scaling group) after this.
    pub instance_replace_ms: Millis,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            provision_ms: 1_000,
            pull_ms: 2_000,
            start_ms: 5_000,
            stop_ms: 2_000,
            instance_replace_ms: 180_000,
        }
    }
}

/// The classic ELB's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElbModel {
    pub name: String,
    pub interval_ms: Millis,
    pub timeout_ms: Millis,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl ElbModel {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            healthy: self.healthy_threshold,
            unhealthy: self.unhealthy_threshold,
        }
    }
}

/// How tasks of a task definition behave in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Behaviour {
    #[default]
    Healthy,
    /// The image cannot be pulled / the container cannot start.
    CannotStart,
    /// Starts, but never answers its health check with a 200.
    FailsHealthCheck,
    /// Takes `factor` times as long to start.
    SlowStart { factor: u32 },
}

/// A fault at a moment of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// The essential container of a running task (chosen by the seed) exits.
    TaskCrash { exit_code: i32 },
    /// A running task (chosen by the seed) fails its health checks for a while.
    FailingHealthChecks { duration_ms: Millis },
    /// A container instance (chosen by the seed) is lost; it is replaced later.
    InstanceLost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub at_ms: Millis,
    pub kind: FaultKind,
}

/// Rates of random faults (per day of virtual time), for swarm testing and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaultRates {
    pub crash_per_day: f64,
    pub failing_health_per_day: f64,
    pub instance_lost_per_day: f64,
}

impl FaultRates {
    /// Faults at exponential inter-arrival times over `[from, to)`, drawn from `rng`.
    pub fn generate(&self, rng: &mut impl Rng, from: Millis, to: Millis) -> Vec<Fault> {
        let mut out = Vec::new();
        let day = 86_400_000f64;
        let mut gen = |rate: f64,
                       kind: &dyn Fn(&mut dyn rand::RngCore) -> FaultKind,
                       rng: &mut dyn rand::RngCore| {
            if rate <= 0.0 {
                return;
            }
            let mut t = from as f64;
            loop {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                t += -u.ln() * day / rate;
                if t >= to as f64 {
                    break;
                }
                out.push(Fault {
                    at_ms: t as Millis,
                    kind: kind(rng),
                });
            }
        };
        gen(
            self.crash_per_day,
            &|r| FaultKind::TaskCrash {
                exit_code: if r.gen_bool(0.5) { 137 } else { 1 },
            },
            rng,
        );
        gen(
            self.failing_health_per_day,
            &|r| FaultKind::FailingHealthChecks {
                duration_ms: r.gen_range(30_000..600_000),
            },
            rng,
        );
        gen(
            self.instance_lost_per_day,
            &|_| FaultKind::InstanceLost,
            rng,
        );
        out.sort_by_key(|f| f.at_ms);
        out
    }
}

/// Everything the model needs to stand the service up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub service: ServiceConfig,
    pub instances: Vec<ContainerInstance>,
    pub elb: Option<ElbModel>,
    pub timings: Timings,
    /// Replace lost container instances (as an Auto Scaling group does).
    pub replace_lost_instances: bool,
}

/// One line of the model's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at_ms: Millis,
    pub kind: LogKind,
    pub task: Option<String>,
    pub instance: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A service event from the scheduler.
    Service(EventKind),
    Deploy,
    TaskProvisioning,
    TaskPending,
    TaskRunning,
    TaskStopping,
    TaskStopped,
    TargetRegistered,
    TargetDeregistered,
    InService,
    OutOfService,
    Fault,
    InstanceRegistered,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Service(k) => match k {
                EventKind::Started => "ecs_started",
                EventKind::Stopped => "ecs_stopped",
                EventKind::Registered => "ecs_registered",
                EventKind::Deregistered => "ecs_draining",
                EventKind::Unhealthy => "ecs_unhealthy",
                EventKind::UnableToPlace => "ecs_unable_to_place",
                EventKind::UnableToDeploy => "ecs_unable_to_deploy",
                EventKind::StartThrottled => "ecs_start_throttled",
                EventKind::SteadyState => "ecs_steady_state",
                EventKind::DeploymentCompleted => "ecs_deployment_completed",
                EventKind::DeploymentFailed => "ecs_deployment_failed",
                EventKind::RollingBack => "ecs_rolling_back",
                EventKind::InstanceLost => "ecs_instance_lost",
            },
            LogKind::Deploy => "deploy",
            LogKind::TaskProvisioning => "task_provisioning",
            LogKind::TaskPending => "task_pending",
            LogKind::TaskRunning => "task_running",
            LogKind::TaskStopping => "task_stopping",
            LogKind::TaskStopped => "task_stopped",
            LogKind::TargetRegistered => "elb_registered",
            LogKind::TargetDeregistered => "elb_deregistered",
            LogKind::InService => "elb_in_service",
            LogKind::OutOfService => "elb_out_of_service",
            LogKind::Fault => "fault",
            LogKind::InstanceRegistered => "instance_registered",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error(transparent)]
    Ecs(#[from] EcsError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Deploy(TaskDefinition),
    Pending(String),
    Running(String),
    FailedToStart(String),
    Stopped(String),
    Check { task: String, gen: u64 },
    CheckResult { task: String, gen: u64, pass: bool },
    Fault(FaultKind),
    InstanceUp(ContainerInstance),
    Tick,
}

#[derive(Debug, PartialEq, Eq)]
struct Item {
    at: Millis,
    seq: u64,
    ev: Ev,
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A task registered with the ELB: its health, and the registration it is
/// (checks of an earlier registration no longer count).
#[derive(Debug, Clone)]
struct Target {
    health: Health,
    gen: u64,
}

#[derive(Debug, Clone)]
struct RtTask {
    instance: String,
    alive: bool,
    running: bool,
    stopping: bool,
    fail_checks_until: Millis,
    target: Option<Target>,
    /// How its task definition behaved when it started (a behaviour set
    /// later applies to the tasks started after it).
    behaviour: Behaviour,
}

/// What one [`Model::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at_ms: Millis,
    /// The step was an injected fault (or the ELB reacting to a task whose
    /// health checks a fault or a faulty image made fail).
    pub fault: bool,
}

/// The modelled runtime of one service.
pub struct Model {
    cfg: ModelConfig,
    now: Millis,
    seq: u64,
    queue: BinaryHeap<Item>,
    rng: ChaCha8Rng,
    service: Service,
    tasks: BTreeMap<String, RtTask>,
    behaviours: BTreeMap<String, Behaviour>,
    log: Vec<LogEntry>,
    in_service: BTreeSet<String>,
    in_service_series: Vec<(Millis, u32)>,
    ticks: BTreeSet<Millis>,
    processed: u64,
    instance_counter: u64,
    target_gen: u64,
    record_log: bool,
}

impl Model {
    /// Create the service with `initial` at time 0 (nothing runs until stepped).
    pub fn new(cfg: ModelConfig, initial: TaskDefinition, seed: u64) -> Result<Model, ModelError> {
        let (service, out) =
            Service::create(cfg.service.clone(), initial, cfg.instances.clone(), seed, 0)?;
        let mut m = Model {
            cfg,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            service,
            tasks: BTreeMap::new(),
            behaviours: BTreeMap::new(),
            log: Vec::new(),
            in_service: BTreeSet::new(),
            in_service_series: vec![(0, 0)],
            ticks: BTreeSet::new(),
            processed: 0,
            instance_counter: 0,
            target_gen: 0,
            record_log: true,
        };
        m.apply(out);
        Ok(m)
    }

    /// Keep (true, default) or drop the log (long benchmark runs count events only).
    pub fn set_logging(&mut self, on: bool) {
        self.record_log = on;
    }
    pub fn now(&self) -> Millis {
        self.now
    }
    pub fn service(&self) -> &Service {
        &self.service
    }
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }
    /// Number of InService targets (or healthy tasks without an ELB) after each change.
    pub fn in_service_series(&self) -> &[(Millis, u32)] {
        &self.in_service_series
    }
    pub fn in_service(&self) -> u32 {
        self.in_service.len() as u32
    }
    /// Queue entries processed so far.
    pub fn events_processed(&self) -> u64 {
        self.processed
    }
    /// How tasks of this task definition started from now on behave.
    pub fn set_behaviour(&mut self, task_definition: &str, b: Behaviour) {
        self.behaviours.insert(task_definition.to_string(), b);
    }
    /// UpdateService with `td` at `at`.
    pub fn schedule_deploy(&mut self, at: Millis, td: TaskDefinition) {
        self.push(at, Ev::Deploy(td));
    }
    pub fn inject(&mut self, f: Fault) {
        self.push(f.at_ms, Ev::Fault(f.kind));
    }
    /// The model's random generator (for generating faults from the same seed).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
    /// Time of the next queued happening.
    pub fn peek(&self) -> Option<Millis> {
        self.queue.peek().map(|i| i.at)
    }

    /// Process every happening up to and including `t`, then set the clock to `t`.
    pub fn run_until(&mut self, t: Millis) -> Result<(), ModelError> {
        while self.peek().is_some_and(|a| a <= t) {
            self.step()?;
        }
        self.now = self.now.max(t);
        Ok(())
    }

    /// Process the next happening, jumping the clock to it.
    pub fn step(&mut self) -> Result<Option<Step>, ModelError> {
        let Some(item) = self.queue.pop() else {
            return Ok(None);
        };
        self.now = item.at;
        self.processed += 1;
        let now = self.now;
        let mut fault = false;
        match item.ev {
            Ev::Deploy(td) => {
                self.service.forget_stopped(now.saturating_sub(3_600_000));
                self.note(
                    LogKind::Deploy,
                    None,
                    None,
                    format!(
                        "UpdateService: task definition {} (image {})",
                        td.arn, td.image
                    ),
                );
                let out = self.service.update(now, td);
                self.apply(out);
            }
            Ev::Pending(id) => {
                if self.alive(&id) {
                    let inst = self.tasks[&id].instance.clone();
                    self.note(
                        LogKind::TaskPending,
                        Some(&id),
                        Some(&inst),
                        "PENDING: pulling the image".into(),
                    );
                    self.observe(Observation::TaskPending { task: id })?;
                }
            }
            Ev::Running(id) => {
                if self.alive(&id) {
                    let t = self.tasks.get_mut(&id).expect("alive");
                    t.running = true;
                    let inst = t.instance.clone();
                    self.note(
                        LogKind::TaskRunning,
                        Some(&id),
                        Some(&inst),
                        "RUNNING".into(),
                    );
                    self.observe(Observation::TaskRunning { task: id })?;
                }
            }
            Ev::FailedToStart(id) => {
                if self.alive(&id) {
                    let t = self.tasks.get_mut(&id).expect("alive");
                    t.alive = false;
                    let inst = t.instance.clone();
                    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref: not found".to_string();
                    self.note(
                        LogKind::TaskStopped,
                        Some(&id),
                        Some(&inst),
                        format!("STOPPED: {reason}"),
                    );
                    self.observe(Observation::TaskFailedToStart { task: id, reason })?;
                    fault = true;
                }
            }
            Ev::Stopped(id) => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    if t.alive {
                        t.alive = false;
                        let inst = t.instance.clone();
                        self.note(
                            LogKind::TaskStopped,
                            Some(&id),
                            Some(&inst),
                            "STOPPED".into(),
                        );
                        self.observe(Observation::TaskStopped { task: id.clone() })?;
                    }
                    self.tasks.remove(&id);
                }
            }
            Ev::Check { task, gen } => {
                if let Some(elb) = self.cfg.elb.clone() {
                    if let Some(t) = self.tasks.get(&task) {
                        if t.target.as_ref().is_some_and(|g| g.gen == gen) {
                            let pass = t.alive
                                && t.running
                                && now >= t.fail_checks_until
                                && t.behaviour != Behaviour::FailsHealthCheck;
                            let at = if pass { now } else { now + elb.timeout_ms };
                            self.push(
                                at,
                                Ev::CheckResult {
                                    task: task.clone(),
                                    gen,
                                    pass,
                                },
                            );
                            self.push(now + elb.interval_ms, Ev::Check { task, gen });
                        }
                    }
                }
            }
            Ev::CheckResult { task, gen, pass } => {
                fault = !pass;
                self.check_result(&task, gen, pass)?;
            }
            Ev::Fault(kind) => {
                fault = true;
                self.fault(kind)?;
            }
            Ev::InstanceUp(i) => {
                self.note(
                    LogKind::InstanceRegistered,
                    None,
                    Some(&i.id),
                    format!(
                        "container instance {} registered ({} MiB, {} CPU units)",
                        i.id, i.memory_mib, i.cpu_units
                    ),
                );
                self.observe(Observation::InstanceRegistered(i))?;
            }
            Ev::Tick => {
                self.ticks.remove(&now);
                let out = self.service.tick(now);
                self.apply(out);
            }
        }
        Ok(Some(Step { at_ms: now, fault }))
    }

    // -----------------------------------------------------------------------

    fn push(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.queue.push(Item {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn behaviour(&self, td: &str) -> Behaviour {
        self.behaviours.get(td).copied().unwrap_or_default()
    }

    /// Alive and not asked to stop: its start-up still matters.
    fn alive(&self, id: &str) -> bool {
        self.tasks.get(id).is_some_and(|t| t.alive && !t.stopping)
    }

    fn note(&mut self, kind: LogKind, task: Option<&str>, instance: Option<&str>, message: String) {
        if self.record_log {
            self.log.push(LogEntry {
                at_ms: self.now,
                kind,
                task: task.map(str::to_string),
                instance: instance.map(str::to_string),
                message,
            });
        }
    }

    fn set_in_service(&mut self, task: &str, on: bool) {
        let changed = if on {
            self.in_service.insert(task.to_string())
        } else {
            self.in_service.remove(task)
        };
        if changed {
            let n = self.in_service.len() as u32;
            if self.record_log {
                self.in_service_series.push((self.now, n));
            } else if let Some(last) = self.in_service_series.last_mut() {
                *last = (self.now, n);
            }
        }
    }

    fn observe(&mut self, o: Observation) -> Result<(), ModelError> {
        let out = self.service.observe(self.now, o)?;
        self.apply(out);
        Ok(())
    }

    fn check_result(&mut self, task: &str, gen: u64, pass: bool) -> Result<(), ModelError> {
        let Some(elb) = self.cfg.elb.clone() else {
            return Ok(());
        };
        let Some(t) = self.tasks.get_mut(task) else {
            return Ok(());
        };
        let inst = t.instance.clone();
        let Some(g) = t.target.as_mut().filter(|g| g.gen == gen) else {
            return Ok(());
        };
        let check = if pass { Check::Pass } else { Check::Fail };
        let changed = g.health.record(self.now, check, elb.thresholds());
        match changed.and_then(|t| t.to.verdict()) {
            Some(true) => {
                self.set_in_service(task, true);
                self.note(
                    LogKind::InService,
                    Some(task),
                    Some(&inst),
                    format!(
                        "InService in (elb {}) after {} consecutive passing checks",
                        elb.name, elb.healthy_threshold
                    ),
                );
                self.observe(Observation::TaskHealth {
                    task: task.to_string(),
                    healthy: true,
                })?;
            }
            Some(false) => {
                self.set_in_service(task, false);
                self.note(
                    LogKind::OutOfService,
                    Some(task),
                    Some(&inst),
                    format!(
                        "OutOfService in (elb {}): {}",
                        elb.name,
                        Reason::FailedHealthChecks
                    ),
                );
                self.observe(Observation::TaskHealth {
                    task: task.to_string(),
                    healthy: false,
                })?;
            }
            None => {}
        }
        Ok(())
    }

    fn running_tasks(&self) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.alive && t.running && !t.stopping)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn fault(&mut self, kind: FaultKind) -> Result<(), ModelError> {
        match kind {
            FaultKind::TaskCrash { exit_code } => {
                let running: Vec<String> = self
                    .running_tasks()
                    .into_iter()
                    .filter(|id| {
                        self.service.task(id).is_some_and(|t| {
                            t.last_status == chronous_core::ecs::TaskStatus::Running
                        })
                    })
                    .collect();
                if running.is_empty() {
                    self.note(
                        LogKind::Fault,
                        None,
                        None,
                        "fault: task crash (no running task)".into(),
                    );
                    return Ok(());
                }
                let id = running[self.rng.gen_range(0..running.len())].clone();
                let t = self.tasks.get_mut(&id).expect("running");
                t.alive = false;
                let inst = t.instance.clone();
                self.set_in_service(&id, false);
                self.note(
                    LogKind::Fault,
                    Some(&id),
                    Some(&inst),
                    format!("fault: the essential container exited with code {exit_code}"),
                );
                self.note(
                    LogKind::TaskStopped,
                    Some(&id),
                    Some(&inst),
                    format!("STOPPED: Essential container in task exited (exit code {exit_code})"),
                );
                self.observe(Observation::TaskExited {
                    task: id.clone(),
                    exit_code,
                    essential: true,
                })?;
                self.tasks.remove(&id);
            }
            FaultKind::FailingHealthChecks { duration_ms } => {
                // A task already failing is hit again only when every one is.
                let all = self.running_tasks();
                let now = self.now;
                let fine: Vec<String> = all
                    .iter()
                    .filter(|id| self.tasks[*id].fail_checks_until <= now)
                    .cloned()
                    .collect();
                let running = if fine.is_empty() { all } else { fine };
                if running.is_empty() {
                    self.note(
                        LogKind::Fault,
                        None,
                        None,
                        "fault: failing health checks (no running task)".into(),
                    );
                    return Ok(());
                }
                let id = running[self.rng.gen_range(0..running.len())].clone();
                let until = self.now + duration_ms;
                let t = self.tasks.get_mut(&id).expect("running");
                t.fail_checks_until = until;
                let inst = t.instance.clone();
                self.note(
                    LogKind::Fault,
                    Some(&id),
                    Some(&inst),
                    format!(
                        "fault: the task answers its health check with errors for {} s",
                        duration_ms / 1000
                    ),
                );
            }
            FaultKind::InstanceLost => {
                let ids: Vec<String> = self.service.instances().map(|i| i.id.clone()).collect();
                if ids.is_empty() {
                    return Ok(());
                }
                let lost = ids[self.rng.gen_range(0..ids.len())].clone();
                let cap = self
                    .service
                    .instances()
                    .find(|i| i.id == lost)
                    .cloned()
                    .expect("listed");
                let on: Vec<String> = self
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.instance == lost)
                    .map(|(id, _)| id.clone())
                    .collect();
                self.note(
                    LogKind::Fault,
                    None,
                    Some(&lost),
                    format!(
                        "fault: container instance {lost} lost ({} tasks on it)",
                        on.len()
                    ),
                );
                for id in &on {
                    self.set_in_service(id, false);
                    self.tasks.remove(id);
                    self.note(
                        LogKind::TaskStopped,
                        Some(id),
                        Some(&lost),
                        format!("STOPPED: Host EC2 (instance {lost}) terminated."),
                    );
                }
                self.observe(Observation::InstanceLost { instance: lost })?;
                if self.cfg.replace_lost_instances {
                    self.instance_counter += 1;
                    let n = self.rng.gen::<u64>() & 0x000f_ffff_ffff_ffff;
                    let id = format!("i-{:017x}", n);
                    let at = self.now + self.cfg.timings.instance_replace_ms;
                    self.push(at, Ev::InstanceUp(ContainerInstance { id, ..cap }));
                }
            }
        }
        Ok(())
    }

    /// StartTask: PROVISIONING now, then PENDING and RUNNING (or failed)
    /// after the task definition's behaviour's timings.
    fn start_task(&mut self, task: String, instance: String, task_definition: String) {
        let now = self.now;
        let b = self.behaviour(&task_definition);
        let tm = &self.cfg.timings;
        let pending_at = now + tm.provision_ms;
        let start = match b {
            Behaviour::SlowStart { factor } => tm.start_ms * factor.max(1) as u64,
            _ => tm.start_ms,
        };
        let (pull, start) = (tm.pull_ms, start);
        self.tasks.insert(
            task.clone(),
            RtTask {
                instance: instance.clone(),
                alive: true,
                running: false,
                stopping: false,
                fail_checks_until: 0,
                target: None,
                behaviour: b,
            },
        );
        self.note(
            LogKind::TaskProvisioning,
            Some(&task),
            Some(&instance),
            format!("PROVISIONING: task definition {task_definition} on {instance}"),
        );
        self.push(pending_at, Ev::Pending(task.clone()));
        if b == Behaviour::CannotStart {
            self.push(pending_at + pull, Ev::FailedToStart(task));
        } else {
            self.push(pending_at + pull + start, Ev::Running(task));
        }
    }

    /// RegisterTarget: a new registration with the ELB (its first check at a
    /// random phase of the interval); without an ELB the task is healthy now.
    fn register_target(&mut self, task: String, instance: &str, port: u16) {
        let now = self.now;
        let Some(elb) = self.cfg.elb.clone() else {
            // No ELB: healthy once RUNNING.
            self.set_in_service(&task, true);
            return;
        };
        self.target_gen += 1;
        let gen = self.target_gen;
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        t.target = Some(Target {
            health: Health::registered(now),
            gen,
        });
        let phase = self.rng.gen_range(0..elb.interval_ms.max(1));
        self.push(
            now + phase,
            Ev::Check {
                task: task.clone(),
                gen,
            },
        );
        self.note(
            LogKind::TargetRegistered,
            Some(&task),
            Some(instance),
            format!(
                "registered {instance}:{port} with (elb {}): OutOfService until {} passing checks",
                elb.name, elb.healthy_threshold
            ),
        );
    }

    /// DeregisterTarget: out of service at once; its checks stop counting.
    fn deregister_target(&mut self, task: &str, instance: &str, port: u16) {
        let now = self.now;
        self.set_in_service(task, false);
        let left = self
            .tasks
            .get_mut(task)
            .and_then(|t| t.target.take())
            .and_then(|mut g| g.health.deregister(now));
        let was_in_service = left.is_some_and(|t| t.from == Reason::InService);
        if let Some(elb) = &self.cfg.elb {
            let name = elb.name.clone();
            self.note(
                LogKind::TargetDeregistered,
                Some(task),
                Some(instance),
                format!(
                    "deregistered {instance}:{port} from (elb {name}){}",
                    if was_in_service {
                        ""
                    } else {
                        " (was OutOfService)"
                    }
                ),
            );
        }
    }

    /// Carry out the scheduler's commands and log its events.
    fn apply(&mut self, out: Output) {
        let now = self.now;
        for e in out.events {
            let task = e.tasks.first().cloned();
            let instance = task
                .as_ref()
                .and_then(|t| self.service.task(t))
                .map(|t| t.instance.clone());
            self.note(
                LogKind::Service(e.kind),
                task.as_deref(),
                instance.as_deref(),
                e.message,
            );
        }
        for c in out.commands {
            match c {
                Command::StartTask {
                    task,
                    instance,
                    task_definition,
                    ..
                } => self.start_task(task, instance, task_definition),
                Command::StopTask { task, reason } => {
                    if let Some(t) = self.tasks.get_mut(&task) {
                        t.stopping = true;
                        let inst = t.instance.clone();
                        self.note(
                            LogKind::TaskStopping,
                            Some(&task),
                            Some(&inst),
                            format!("STOPPING: {reason}"),
                        );
                        let at = now + self.cfg.timings.stop_ms;
                        self.push(at, Ev::Stopped(task));
                    }
                }
                Command::RegisterTarget {
                    task,
                    instance,
                    port,
                } => self.register_target(task, &instance, port),
                Command::DeregisterTarget {
                    task,
                    instance,
                    port,
                } => self.deregister_target(&task, &instance, port),
            }
        }
        if self.cfg.elb.is_none() {
            // Without a load balancer a task is healthy while RUNNING.
            let healthy: Vec<String> = self
                .service
                .tasks()
                .filter(|t| self.service.is_healthy(t))
                .map(|t| t.id.clone())
                .collect();
            let gone: Vec<String> = self
                .in_service
                .iter()
                .filter(|t| !healthy.contains(t))
                .cloned()
                .collect();
            for t in gone {
                self.set_in_service(&t, false);
            }
            for t in healthy {
                self.set_in_service(&t, true);
            }
        }
        if let Some(w) = self.service.next_wakeup(now) {
            if self.ticks.insert(w) {
                self.push(w, Ev::Tick);
            }
        }
    }
}

/// Shorthand for tests and the benchmark: the log as one line per entry.
pub fn log_lines(log: &[LogEntry]) -> Vec<String> {
    log.iter()
        .map(|e| {
            format!(
                "{:>10} {:<26} {:<32} {:<20} {}",
                e.at_ms,
                e.kind.as_str(),
                e.task.as_deref().unwrap_or("-"),
                e.instance.as_deref().unwrap_or("-"),
                e.message
            )
        })
        .collect()
}
