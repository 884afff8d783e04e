//! The ECS service scheduler as a pure state machine.
//!
//! One [`Service`] holds what ECS's service scheduler holds for a REPLICA
//! service with the rolling-update (`ECS`) deployment controller: its
//! deployments (PRIMARY / ACTIVE, each with a rolloutState), its tasks and their
//! lifecycle (PROVISIONING → PENDING → RUNNING → STOPPING → STOPPED), the
//! container instances it may place on, and the circuit breaker.
//!
//! It never runs anything and never reads a clock. A runtime (the simulator's
//! modelled runtime, its real-container controller, or a test) feeds it
//! [`Observation`]s with the time they happened, and carries out the
//! [`Command`]s it returns; the [`ServiceEvent`]s it returns are worded like
//! ECS's service events. Everything it returns is ordered (no hash iteration),
//! so the same inputs give the same outputs.
//!
//! The rules (see `shared/reference/aws-semantics.md`, "ECS rolling update"):
//! - at most floor(maximumPercent × desired / 100) tasks PROVISIONING, PENDING
//!   or RUNNING (a task being stopped no longer counts);
//! - the scheduler never stops a healthy task if that leaves fewer than
//!   ceil(minimumHealthyPercent × desired / 100) healthy tasks;
//! - behind a load balancer a task is healthy once the load balancer says so,
//!   otherwise once RUNNING;
//! - placement checks the static host port (held until the task is STOPPED),
//!   memory and CPU against each container instance's registered resources;
//! - unhealthy reports are ignored during the health-check grace period; a
//!   task the load balancer marks unhealthy is replaced start-first when
//!   maximumPercent leaves room, otherwise stopped first;
//! - circuit breaker: threshold 0.5 × desired rounded up, clamped to [3, 200];
//!   stage 1 counts tasks that stop before RUNNING, stage 2 tasks that fail
//!   health checks or exit after RUNNING; a task becoming healthy resets the
//!   count (ECS's `resetOnHealthyTask` default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since an origin the caller chooses (virtual or real).
pub type Millis = u64;

/// A task-definition revision, reduced to what scheduling needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinition {
    /// `family:revision` (an ARN works too; it is only compared).
    pub arn: String,
    pub image: String,
    /// Hard memory reservation of the task, MiB.
    pub memory_mib: u32,
    /// CPU units (1024 per vCPU); 0 reserves none.
    pub cpu: u32,
    pub container_port: u16,
    /// Static host port, or 0 for a dynamic one (never conflicts).
    pub host_port: u16,
    /// Whether the (single) container is essential.
    pub essential: bool,
}

/// A container instance and the resources it registered with ECS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInstance {
    pub id: String,
    pub memory_mib: u32,
    pub cpu_units: u32,
}

/// ECS reserves some of an instance's memory for the agent and the OS; the
/// registered memory of a t2.nano is about 460 MiB.
pub fn registered_memory(total_mib: u32) -> u32 {
    total_mib.saturating_sub(total_mib / 10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    pub rollback: bool,
}

/// The service's settings (the parts of `CreateService` that scheduling uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub name: String,
    pub cluster: String,
    pub desired_count: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub health_check_grace_ms: Millis,
    /// The classic load balancer's name, when the service is behind one.
    pub load_balancer: Option<String>,
    /// `None`: the circuit breaker is off.
    pub circuit_breaker: Option<CircuitBreaker>,
}

impl ServiceConfig {
    /// floor(maximumPercent × desired / 100): tasks PROVISIONING, PENDING or RUNNING.
    pub fn max_tasks(&self) -> u32 {
        (self.maximum_percent as u64 * self.desired_count as u64 / 100) as u32
    }
    /// ceil(minimumHealthyPercent × desired / 100): healthy tasks kept during a deployment.
    pub fn min_healthy(&self) -> u32 {
        (self.minimum_healthy_percent as u64 * self.desired_count as u64).div_ceil(100) as u32
    }
    /// Whether the pair lets the scheduler stop or start at least one task.
    pub fn can_replace(&self) -> bool {
        self.desired_count == 0
            || self.max_tasks() > self.desired_count
            || self.min_healthy() < self.desired_count
    }
}

/// The circuit breaker's failure threshold: 0.5 × desired, rounded up, in [3, 200].
pub fn circuit_breaker_threshold(desired_count: u32) -> u32 {
    desired_count.div_ceil(2).clamp(3, 200)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Provisioning,
    Pending,
    Running,
    Stopping,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
    /// Counts against maximumPercent.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Running
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub task_definition: String,
    /// The deployment that started it.
    pub started_by: String,
    pub instance: String,
    pub host_port: u16,
    pub memory_mib: u32,
    pub cpu: u32,
    pub last_status: TaskStatus,
    pub health: Health,
    pub created_at: Millis,
    pub running_at: Option<Millis>,
    pub stopped_at: Option<Millis>,
    pub stopped_reason: Option<String>,
    pub exit_code: Option<i32>,
    /// Registered with the load balancer (ECS registers on RUNNING).
    pub registered: bool,
}

/// A task a runtime found running when it (re)started, as [`Service::adopt`] takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptedTask {
    pub id: String,
    pub task_definition: String,
    pub instance: String,
    pub host_port: u16,
    pub memory_mib: u32,
    pub cpu: u32,
    /// When it started running (on the caller's clock; clamped to `now`).
    pub running_since: Millis,
    /// What the runtime believes of its health: a task that was serving before
    /// the restart counts as healthy until the load balancer says otherwise,
    /// so that adopting it never stops it for want of a fresh health check.
    pub healthy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Primary,
    Active,
    Inactive,
}

impl DeploymentStatus {
    /// As `describe-services` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Primary => "PRIMARY",
            DeploymentStatus::Active => "ACTIVE",
            DeploymentStatus::Inactive => "INACTIVE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

impl RolloutState {
    /// As `describe-services` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::InProgress => "IN_PROGRESS",
            RolloutState::Completed => "COMPLETED",
            RolloutState::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// `ecs-svc/` and 19 digits.
    pub id: String,
    pub task_definition: String,
    pub status: DeploymentStatus,
    pub rollout_state: RolloutState,
    pub rollout_state_reason: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Circuit-breaker failures counted so far.
    pub failed_tasks: u32,
    /// Set when this deployment rolls back a failed one.
    pub rollback_of: Option<String>,
}

/// What the runtime saw happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observation {
    /// The task's resources are provisioned; the agent is pulling the image (PENDING).
    TaskPending { task: String },
    /// The essential container started (RUNNING).
    TaskRunning { task: String },
    /// The task could not start (`CannotPullContainerError`, ...): STOPPED before RUNNING.
    TaskFailedToStart { task: String, reason: String },
    /// A container exited on its own. An essential one stops the task.
    TaskExited {
        task: String,
        exit_code: i32,
        essential: bool,
    },
    /// A task the scheduler asked to stop has stopped.
    TaskStopped { task: String },
    /// The load balancer's view of the task's target changed.
    TaskHealth { task: String, healthy: bool },
    /// The container instance is gone (terminated, agent disconnected for good).
    InstanceLost { instance: String },
    /// A container instance registered with the cluster.
    InstanceRegistered(ContainerInstance),
}

/// What the scheduler asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    StartTask {
        task: String,
        instance: String,
        task_definition: String,
        host_port: u16,
    },
    StopTask {
        task: String,
        reason: String,
    },
    /// Register the task's instance and port with the load balancer.
    RegisterTarget {
        task: String,
        instance: String,
        port: u16,
    },
    DeregisterTarget {
        task: String,
        instance: String,
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Stopped,
    Registered,
    Deregistered,
    Unhealthy,
    UnableToPlace,
    UnableToDeploy,
    StartThrottled,
    SteadyState,
    DeploymentCompleted,
    DeploymentFailed,
    RollingBack,
    InstanceLost,
}

/// A service event, worded like ECS's `describe-services` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: Millis,
    pub kind: EventKind,
    /// Tasks the event is about (in the order the message names them).
    pub tasks: Vec<String>,
    pub message: String,
}

/// The scheduler's answer to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub commands: Vec<Command>,
    pub events: Vec<ServiceEvent>,
}

impl Output {
    fn extend(&mut self, o: Output) {
        self.commands.extend(o.commands);
        self.events.extend(o.events);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcsError {
    #[error("unknown task {0}")]
    UnknownTask(String),
    #[error("the task {task} is {status}: {what} does not apply")]
    WrongStatus {
        task: String,
        status: &'static str,
        what: &'static str,
    },
    #[error("no task definition to adopt the service with")]
    NoTaskDefinition,
    #[error("desired_count {desired}, minimum {min}% and maximum {max}% are outside what ECS accepts (minimum 0-100, maximum 100-200)")]
    InvalidPercentages { desired: u32, min: u32, max: u32 },
}

/// Why no container instance can take a new task. Its text is the service
/// event ECS writes for it, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("(service {service}) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance {instance}) {unmet}. For more information, see the Troubleshooting section.")]
    NoInstanceFits {
        service: String,
        /// The first instance that came close.
        instance: String,
        unmet: Unmet,
    },
    #[error("(service {service}) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section.")]
    NoInstances { service: String },
}

/// The requirement of a task a container instance does not meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    #[error("is already using a port required by your task")]
    Port,
    #[error("has insufficient memory available")]
    Memory,
    #[error("has insufficient CPU units available")]
    Cpu,
}

/// One reconcile pass: the tasks it started from and the counts it keeps
/// as it stops tasks.
struct Pass {
    now: Millis,
    /// Active tasks at the start, oldest first.
    live: Vec<String>,
    active: u32,
    healthy: u32,
    stopped: Vec<String>,
}

/// Counts at one moment (what the invariants talk about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// PROVISIONING + PENDING + RUNNING.
    pub active: u32,
    pub running: u32,
    pub healthy: u32,
}

/// Restarts back off after tasks fail to start: 10 s, 20 s, 40 s ... at most 15 min.
/// (ECS throttles such restarts; its exact curve is not documented.)
pub fn start_backoff(consecutive_failures: u32) -> Millis {
    if consecutive_failures == 0 {
        return 0;
    }
    let exp = (consecutive_failures - 1).min(10);
    (10_000u64 << exp).min(900_000)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The ECS service scheduler of one service.
#[derive(Debug, Clone)]
pub struct Service {
    config: ServiceConfig,
    id_salt: u64,
    next_id: u64,
    task_definitions: BTreeMap<String, TaskDefinition>,
    instances: BTreeMap<String, ContainerInstance>,
    tasks: BTreeMap<String, Task>,
    /// Newest first; INACTIVE ones are dropped.
    deployments: Vec<Deployment>,
    last_completed: Option<String>,
    consecutive_start_failures: u32,
    throttle_event_sent: bool,
    backoff_until: Millis,
    steady: bool,
    last_place_message: Option<(String, PlacementError)>,
    config_event_for: Option<String>,
}

impl Service {
    /// CreateService: the first deployment (PRIMARY, IN_PROGRESS) and its tasks.
    /// `id_salt` makes task and deployment ids differ between services/runs.
    pub fn create(
        config: ServiceConfig,
        task_definition: TaskDefinition,
        instances: Vec<ContainerInstance>,
        id_salt: u64,
        now: Millis,
    ) -> Result<(Service, Output), EcsError> {
        let mut s = Service::empty(config, instances, id_salt)?;
        let mut out = Output::default();
        s.new_deployment(now, task_definition, None);
        s.reconcile(now, &mut out);
        Ok((s, out))
    }

    /// Rebuild the scheduler of a service whose tasks are already running (a
    /// runtime that restarted and found them): `task_definitions[0]` is the
    /// revision the service runs now (the PRIMARY deployment), the others the
    /// revisions adopted tasks still run (ACTIVE deployments). Adopted tasks
    /// are RUNNING, registered afresh with the load balancer, and as healthy as
    /// the runtime says they were. When every task is on the primary
    /// revision and there are `desired_count` of them, the primary deployment
    /// starts out COMPLETED; otherwise the rollout carries on from where it is.
    pub fn adopt(
        config: ServiceConfig,
        task_definitions: Vec<TaskDefinition>,
        instances: Vec<ContainerInstance>,
        tasks: Vec<AdoptedTask>,
        id_salt: u64,
        now: Millis,
    ) -> Result<(Service, Output), EcsError> {
        let mut tds = task_definitions.into_iter();
        let primary = tds.next().ok_or(EcsError::NoTaskDefinition)?;
        let others: Vec<TaskDefinition> = tds.collect();
        let mut s = Service::empty(config, instances, id_salt)?;
        for td in others.iter().rev() {
            if td.arn != primary.arn && tasks.iter().any(|t| t.task_definition == td.arn) {
                s.new_deployment(now, td.clone(), None);
            }
        }
        s.new_deployment(now, primary.clone(), None);
        for td in others {
            s.task_definitions.entry(td.arn.clone()).or_insert(td);
        }
        let lb = s.config.load_balancer.is_some();
        let mut out = Output::default();
        for a in tasks {
            if s.tasks.contains_key(&a.id) {
                continue;
            }
            let started_by = s
                .deployments
                .iter()
                .find(|d| d.task_definition == a.task_definition)
                .map(|d| d.id.clone())
                .unwrap_or_default();
            if lb {
                out.commands.push(Command::RegisterTarget {
                    task: a.id.clone(),
                    instance: a.instance.clone(),
                    port: a.host_port,
                });
            }
            let since = a.running_since.min(now);
            s.tasks.insert(
                a.id.clone(),
                Task {
                    id: a.id,
                    task_definition: a.task_definition,
                    started_by,
                    instance: a.instance,
                    host_port: a.host_port,
                    memory_mib: a.memory_mib,
                    cpu: a.cpu,
                    last_status: TaskStatus::Running,
                    health: if a.healthy {
                        Health::Healthy
                    } else {
                        Health::Unknown
                    },
                    created_at: since,
                    running_at: Some(since),
                    stopped_at: None,
                    stopped_reason: None,
                    exit_code: None,
                    registered: lb,
                },
            );
        }
        if s.tasks.len() as u32 == s.config.desired_count
            && s.tasks.values().all(|t| t.task_definition == primary.arn)
        {
            let p = &mut s.deployments[0];
            p.rollout_state = RolloutState::Completed;
            p.rollout_state_reason = "ECS deployment completed.".to_string();
            s.last_completed = Some(primary.arn.clone());
        } else {
            // The revision the interrupted rollout moves away from is what a
            // rollback returns to.
            s.last_completed = s.deployments.get(1).map(|d| d.task_definition.clone());
        }
        s.reconcile(now, &mut out);
        Ok((s, out))
    }

    /// UpdateService with new settings and the same task definition (desired
    /// count, deployment percentages, grace period, circuit breaker): no new
    /// deployment, as in ECS; the scheduler acts on the new numbers at once.
    pub fn update_config(
        &mut self,
        now: Millis,
        config: ServiceConfig,
    ) -> Result<Output, EcsError> {
        check_percentages(&config)?;
        let mut out = Output::default();
        if config != self.config {
            self.config = config;
            self.steady = false;
            self.last_place_message = None;
            self.reconcile(now, &mut out);
        }
        Ok(out)
    }

    /// UpdateService with a new task definition (or a forced new deployment
    /// with the same one): a new PRIMARY deployment; the previous ones become ACTIVE.
    /// With the primary's own revision, every task is replaced under the
    /// deployment settings, as with a new one.
    pub fn update(&mut self, now: Millis, task_definition: TaskDefinition) -> Output {
        let mut out = Output::default();
        if task_definition.arn == self.deployments[0].task_definition {
            self.set_apart_primary_tasks();
        }
        self.new_deployment(now, task_definition, None);
        self.steady = false;
        self.reconcile(now, &mut out);
        out
    }

    /// UpdateService with forceNewDeployment: a new deployment of the
    /// primary's revision (see [`Service::update`]).
    pub fn force_new_deployment(&mut self, now: Millis) -> Output {
        let p = &self.deployments[0].task_definition;
        let td = self.task_definitions[p].clone();
        self.update(now, td)
    }

    /// Before a new deployment of the revision the primary already runs: the
    /// scheduler tells deployments apart by revision, so the tasks and the
    /// deployment being replaced keep it under the name `ARN@DEPLOYMENT`
    /// (the runtime runs the same revision for them).
    fn set_apart_primary_tasks(&mut self) {
        let p = &self.deployments[0];
        let arn = p.task_definition.clone();
        let alias = format!("{arn}@{}", p.id);
        let Some(td) = self.task_definitions.get(&arn).cloned() else {
            return;
        };
        self.task_definitions.insert(
            alias.clone(),
            TaskDefinition {
                arn: alias.clone(),
                ..td
            },
        );
        for t in self.tasks.values_mut() {
            if t.task_definition == arn && t.last_status.is_active() {
                t.task_definition = alias.clone();
            }
        }
        for d in &mut self.deployments {
            if d.task_definition == arn {
                d.task_definition = alias.clone();
            }
        }
        if self.last_completed.as_deref() == Some(arn.as_str()) {
            self.last_completed = Some(alias);
        }
    }

    /// Feed one observation; returns what to do about it.
    pub fn observe(&mut self, now: Millis, obs: Observation) -> Result<Output, EcsError> {
        let mut out = Output::default();
        match obs {
            Observation::TaskPending { task } => {
                let t = self.task_mut(&task)?;
                if t.last_status == TaskStatus::Provisioning {
                    t.last_status = TaskStatus::Pending;
                }
            }
            Observation::TaskRunning { task } => self.task_running(now, task, &mut out)?,
            Observation::TaskFailedToStart { task, reason } => {
                let t = self
                    .task(&task)
                    .ok_or_else(|| EcsError::UnknownTask(task.clone()))?;
                if t.last_status != TaskStatus::Stopped {
                    self.task_ended(now, &task, reason, None, &mut out);
                }
            }
            Observation::TaskExited {
                task,
                exit_code,
                essential,
            } => {
                let t = self
                    .task(&task)
                    .ok_or_else(|| EcsError::UnknownTask(task.clone()))?;
                if essential && t.last_status != TaskStatus::Stopped {
                    self.task_ended(
                        now,
                        &task,
                        "Essential container in task exited".to_string(),
                        Some(exit_code),
                        &mut out,
                    );
                }
            }
            Observation::TaskStopped { task } => {
                let t = self.task_mut(&task)?;
                if t.last_status != TaskStatus::Stopped {
                    t.last_status = TaskStatus::Stopped;
                    t.stopped_at = Some(now);
                    t.exit_code.get_or_insert(0);
                }
            }
            Observation::TaskHealth { task, healthy } => {
                self.task_health(now, &task, healthy, &mut out)?
            }
            Observation::InstanceLost { instance } => self.instance_lost(now, &instance, &mut out),
            Observation::InstanceRegistered(i) => {
                self.instances.insert(i.id.clone(), i);
                self.last_place_message = None;
            }
        }
        self.reconcile(now, &mut out);
        Ok(out)
    }

    /// A task reached RUNNING: registered with the load balancer, or healthy
    /// at once without one.
    fn task_running(
        &mut self,
        now: Millis,
        task: String,
        out: &mut Output,
    ) -> Result<(), EcsError> {
        let lb = self.config.load_balancer.is_some();
        let t = self.task_mut(&task)?;
        match t.last_status {
            TaskStatus::Provisioning | TaskStatus::Pending => {
                t.last_status = TaskStatus::Running;
                t.running_at = Some(now);
                self.steady = false;
                if lb {
                    let t = self.tasks.get_mut(&task).expect("present");
                    t.registered = true;
                    out.commands.push(Command::RegisterTarget {
                        task: task.clone(),
                        instance: t.instance.clone(),
                        port: t.host_port,
                    });
                    let msg = format!(
                        "(service {}) registered 1 instances in (elb {})",
                        self.config.name,
                        self.config.load_balancer.as_deref().unwrap_or("")
                    );
                    out.events.push(self.event(
                        now,
                        EventKind::Registered,
                        vec![task.clone()],
                        msg,
                    ));
                } else {
                    self.task_became_healthy(&task);
                }
                Ok(())
            }
            _ => Err(EcsError::WrongStatus {
                task,
                status: t.last_status.as_str(),
                what: "RUNNING",
            }),
        }
    }

    /// The load balancer's verdict on a registered RUNNING task changed (or not).
    fn task_health(
        &mut self,
        now: Millis,
        task: &str,
        healthy: bool,
        out: &mut Output,
    ) -> Result<(), EcsError> {
        let grace = self.config.health_check_grace_ms;
        let name = self.config.name.clone();
        let elb = self.config.load_balancer.clone().unwrap_or_default();
        let t = self.task_mut(task)?;
        if t.last_status != TaskStatus::Running || !t.registered {
            return Ok(());
        }
        let new = if healthy {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        if t.health == new {
            return Ok(());
        }
        t.health = new;
        self.steady = false;
        if healthy {
            self.task_became_healthy(task);
            return Ok(());
        }
        let t = &self.tasks[task];
        let in_grace = t.running_at.is_some_and(|r| now < r + grace);
        if !in_grace {
            let msg = format!(
                "(service {name}) (instance {}) (port {}) is unhealthy in (elb {elb}) due to (reason Instance has failed at least the UnhealthyThreshold number of health checks consecutively.)",
                t.instance, t.host_port
            );
            out.events
                .push(self.event(now, EventKind::Unhealthy, vec![task.to_string()], msg));
        }
        Ok(())
    }

    /// A container instance is gone, and with it every task on it.
    fn instance_lost(&mut self, now: Millis, instance: &str, out: &mut Output) {
        if self.instances.remove(instance).is_none() {
            return;
        }
        let on: Vec<String> = self
            .tasks
            .values()
            .filter(|t| t.instance == instance && t.last_status != TaskStatus::Stopped)
            .map(|t| t.id.clone())
            .collect();
        let msg = format!(
            "(service {}) container instance {instance} is no longer available: {} tasks on it stopped.",
            self.config.name,
            on.len()
        );
        out.events
            .push(self.event(now, EventKind::InstanceLost, on.clone(), msg));
        for id in on {
            let t = self.tasks.get_mut(&id).expect("present");
            t.last_status = TaskStatus::Stopped;
            t.stopped_at = Some(now);
            t.health = Health::Unknown;
            t.registered = false;
            t.stopped_reason = Some(format!("Host EC2 (instance {instance}) terminated."));
        }
        self.steady = false;
    }

    /// Re-evaluate timers (grace periods ending, restart back-off).
    pub fn tick(&mut self, now: Millis) -> Output {
        let mut out = Output::default();
        // Unhealthy reports that were inside the grace period are acted on now.
        let grace = self.config.health_check_grace_ms;
        let ending: Vec<String> = self
            .tasks
            .values()
            .filter(|t| {
                t.health == Health::Unhealthy
                    && t.last_status == TaskStatus::Running
                    && t.running_at.is_some_and(|r| r + grace == now)
            })
            .map(|t| t.id.clone())
            .collect();
        for id in ending {
            let t = &self.tasks[&id];
            let msg = format!(
                "(service {}) (instance {}) (port {}) is unhealthy in (elb {}) due to (reason Instance has failed at least the UnhealthyThreshold number of health checks consecutively.)",
                self.config.name,
                t.instance,
                t.host_port,
                self.config.load_balancer.as_deref().unwrap_or("")
            );
            out.events
                .push(self.event(now, EventKind::Unhealthy, vec![id], msg));
        }
        self.reconcile(now, &mut out);
        out
    }

    /// The next time [`Service::tick`] has something to do, if any.
    pub fn next_wakeup(&self, now: Millis) -> Option<Millis> {
        let grace = self.config.health_check_grace_ms;
        let mut next: Option<Millis> = None;
        let mut consider = |t: Millis| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in self.tasks.values() {
            if t.health == Health::Unhealthy && t.last_status == TaskStatus::Running {
                if let Some(r) = t.running_at {
                    consider(r + grace);
                }
            }
        }
        if self.backoff_until > now && self.needs_tasks() {
            consider(self.backoff_until);
        }
        next
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id)
    }
    /// Every task ever started, by id.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }
    /// Newest first.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }
    pub fn primary(&self) -> &Deployment {
        &self.deployments[0]
    }
    pub fn instances(&self) -> impl Iterator<Item = &ContainerInstance> {
        self.instances.values()
    }
    pub fn task_definition(&self, arn: &str) -> Option<&TaskDefinition> {
        self.task_definitions.get(arn)
    }
    /// Whether the task counts as healthy for minimumHealthyPercent.
    pub fn is_healthy(&self, t: &Task) -> bool {
        t.last_status == TaskStatus::Running
            && (self.config.load_balancer.is_none() || t.health == Health::Healthy)
    }
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for t in self.tasks.values() {
            if t.last_status.is_active() {
                c.active += 1;
            }
            if t.last_status == TaskStatus::Running {
                c.running += 1;
            }
            if self.is_healthy(t) {
                c.healthy += 1;
            }
        }
        c
    }
    /// Forget STOPPED tasks stopped before `before` (long runs keep memory flat).
    pub fn forget_stopped(&mut self, before: Millis) {
        self.tasks.retain(|_, t| {
            !(t.last_status == TaskStatus::Stopped && t.stopped_at.is_some_and(|s| s < before))
        });
    }

    // -----------------------------------------------------------------------

    /// A service with no deployment and no task yet.
    fn empty(
        config: ServiceConfig,
        instances: Vec<ContainerInstance>,
        id_salt: u64,
    ) -> Result<Service, EcsError> {
        check_percentages(&config)?;
        Ok(Service {
            config,
            id_salt,
            next_id: 0,
            task_definitions: BTreeMap::new(),
            instances: instances.into_iter().map(|i| (i.id.clone(), i)).collect(),
            tasks: BTreeMap::new(),
            deployments: Vec::new(),
            last_completed: None,
            consecutive_start_failures: 0,
            throttle_event_sent: false,
            backoff_until: 0,
            steady: false,
            last_place_message: None,
            config_event_for: None,
        })
    }

    fn task_mut(&mut self, id: &str) -> Result<&mut Task, EcsError> {
        self.tasks
            .get_mut(id)
            .ok_or_else(|| EcsError::UnknownTask(id.to_string()))
    }

    fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        splitmix(self.next_id ^ self.id_salt.rotate_left(17))
    }

    fn event(
        &self,
        at: Millis,
        kind: EventKind,
        tasks: Vec<String>,
        message: String,
    ) -> ServiceEvent {
        ServiceEvent {
            at,
            kind,
            tasks,
            message,
        }
    }

    fn new_deployment(&mut self, now: Millis, td: TaskDefinition, rollback_of: Option<String>) {
        let n = self.fresh();
        let id = format!("ecs-svc/{:019}", n % 10_000_000_000_000_000_000);
        for d in &mut self.deployments {
            if d.status == DeploymentStatus::Primary {
                d.status = DeploymentStatus::Active;
                d.updated_at = now;
            }
        }
        let arn = td.arn.clone();
        self.task_definitions.insert(arn.clone(), td);
        self.deployments.insert(
            0,
            Deployment {
                id,
                task_definition: arn,
                status: DeploymentStatus::Primary,
                rollout_state: RolloutState::InProgress,
                rollout_state_reason: "ECS deployment in progress.".to_string(),
                created_at: now,
                updated_at: now,
                failed_tasks: 0,
                rollback_of,
            },
        );
        self.consecutive_start_failures = 0;
        self.throttle_event_sent = false;
        self.backoff_until = 0;
        self.last_place_message = None;
    }

    fn task_became_healthy(&mut self, id: &str) {
        let td = self.tasks[id].task_definition.clone();
        self.consecutive_start_failures = 0;
        self.throttle_event_sent = false;
        self.backoff_until = 0;
        let p = &mut self.deployments[0];
        if p.task_definition == td && p.rollout_state == RolloutState::InProgress {
            p.failed_tasks = 0;
        }
    }

    /// A task stopped on its own (failed to start, essential exit).
    fn task_ended(
        &mut self,
        now: Millis,
        id: &str,
        reason: String,
        exit_code: Option<i32>,
        out: &mut Output,
    ) {
        let lb = self.config.load_balancer.is_some();
        let t = self.tasks.get_mut(id).expect("checked");
        let was_running = t.running_at.is_some();
        let was_stopping = t.last_status == TaskStatus::Stopping;
        t.last_status = TaskStatus::Stopped;
        t.stopped_at = Some(now);
        t.exit_code = exit_code;
        if t.stopped_reason.is_none() {
            t.stopped_reason = Some(reason);
        }
        t.health = Health::Unknown;
        if lb && t.registered {
            t.registered = false;
            out.commands.push(Command::DeregisterTarget {
                task: id.to_string(),
                instance: t.instance.clone(),
                port: t.host_port,
            });
        }
        let td = t.task_definition.clone();
        self.steady = false;
        if was_stopping {
            return;
        }
        if !was_running {
            self.consecutive_start_failures += 1;
            self.backoff_until = now + start_backoff(self.consecutive_start_failures);
        }
        self.count_failure(now, &td, !was_running, out);
    }

    fn count_failure(&mut self, now: Millis, td: &str, stage1: bool, out: &mut Output) {
        let Some(cb) = self.config.circuit_breaker else {
            return;
        };
        let threshold = circuit_breaker_threshold(self.config.desired_count);
        let name = self.config.name.clone();
        let p = &mut self.deployments[0];
        if p.task_definition != td || p.rollout_state != RolloutState::InProgress {
            return;
        }
        p.failed_tasks += 1;
        if p.failed_tasks < threshold {
            return;
        }
        p.rollout_state = RolloutState::Failed;
        p.updated_at = now;
        let why = if stage1 {
            "tasks failed to start."
        } else {
            "tasks failed health checks."
        };
        p.rollout_state_reason = format!("ECS deployment circuit breaker: {why}");
        let failed_id = p.id.clone();
        let msg = format!("(service {name}) (deployment {failed_id}) deployment failed: {why}");
        out.events
            .push(self.event(now, EventKind::DeploymentFailed, vec![], msg));
        if cb.rollback {
            if let Some(prev) = self.last_completed.clone() {
                if prev != td {
                    let def = self.task_definitions[&prev].clone();
                    self.new_deployment(now, def, Some(failed_id.clone()));
                    let msg = format!(
                        "(service {name}) (deployment {failed_id}) rolling back to (deployment {}) with task definition {prev}.",
                        self.deployments[0].id
                    );
                    out.events
                        .push(self.event(now, EventKind::RollingBack, vec![], msg));
                }
            }
        }
    }

    fn effectively_unhealthy(&self, t: &Task, now: Millis) -> bool {
        t.last_status == TaskStatus::Running
            && t.health == Health::Unhealthy
            && t.running_at
                .is_some_and(|r| now >= r + self.config.health_check_grace_ms)
    }

    fn needs_tasks(&self) -> bool {
        let p = &self.deployments[0];
        let have = self
            .tasks
            .values()
            .filter(|t| t.last_status.is_active() && t.task_definition == p.task_definition)
            .count() as u32;
        have < self.config.desired_count
    }

    fn stop(
        &mut self,
        now: Millis,
        id: &str,
        reason: String,
        out: &mut Output,
        stopped: &mut Vec<String>,
    ) {
        let lb = self.config.load_balancer.is_some();
        let t = self.tasks.get_mut(id).expect("present");
        t.last_status = TaskStatus::Stopping;
        t.stopped_reason = Some(reason.clone());
        t.health = Health::Unknown;
        if lb && t.registered {
            t.registered = false;
            out.commands.push(Command::DeregisterTarget {
                task: id.to_string(),
                instance: t.instance.clone(),
                port: t.host_port,
            });
        }
        out.commands.push(Command::StopTask {
            task: id.to_string(),
            reason,
        });
        let _ = now;
        stopped.push(id.to_string());
    }

    /// Where a new task of `td` can go: the instance with a free host port,
    /// memory and CPU running the fewest tasks (ties: lowest id); else ECS's reason.
    fn place(&self, td: &TaskDefinition) -> Result<String, PlacementError> {
        self.place_with(td, false)
    }

    /// `ignore_stopping`: as if every STOPPING task had already stopped.
    fn place_with(
        &self,
        td: &TaskDefinition,
        ignore_stopping: bool,
    ) -> Result<String, PlacementError> {
        let mut closest: Option<(String, Unmet)> = None;
        let mut best: Option<(usize, &str)> = None;
        for i in self.instances.values() {
            let on: Vec<&Task> = self
                .tasks
                .values()
                .filter(|t| {
                    t.instance == i.id
                        && t.last_status != TaskStatus::Stopped
                        && !(ignore_stopping && t.last_status == TaskStatus::Stopping)
                })
                .collect();
            let mem: u32 = on.iter().map(|t| t.memory_mib).sum();
            let cpu: u32 = on.iter().map(|t| t.cpu).sum();
            let why = if td.host_port != 0 && on.iter().any(|t| t.host_port == td.host_port) {
                Some(Unmet::Port)
            } else if mem + td.memory_mib > i.memory_mib {
                Some(Unmet::Memory)
            } else if cpu + td.cpu > i.cpu_units {
                Some(Unmet::Cpu)
            } else {
                None
            };
            match why {
                Some(w) => {
                    if closest.is_none() {
                        closest = Some((i.id.clone(), w));
                    }
                }
                None => {
                    if best.is_none_or(|(n, _)| on.len() < n) {
                        best = Some((on.len(), &i.id));
                    }
                }
            }
        }
        let service = self.config.name.clone();
        match (best, closest) {
            (Some((_, id)), _) => Ok(id.to_string()),
            (None, Some((instance, unmet))) => Err(PlacementError::NoInstanceFits {
                service,
                instance,
                unmet,
            }),
            (None, None) => Err(PlacementError::NoInstances { service }),
        }
    }

    /// The active tasks, oldest first (ties: id).
    fn live_ids(&self) -> Vec<String> {
        let mut v: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.last_status.is_active())
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v.into_iter().map(|t| t.id.clone()).collect()
    }

    /// Bring the tasks in line with the PRIMARY deployment, within
    /// minimumHealthyPercent and maximumPercent, in four steps; then report
    /// what was stopped and started and update the rollout.
    fn reconcile(&mut self, now: Millis, out: &mut Output) {
        let live = self.live_ids();
        let healthy = live
            .iter()
            .filter(|id| self.is_healthy(&self.tasks[*id]))
            .count() as u32;
        let mut pass = Pass {
            now,
            active: live.len() as u32,
            healthy,
            live,
            stopped: Vec::new(),
        };
        // 1. Tasks the load balancer marks unhealthy (after the grace period).
        self.stop_unhealthy(&mut pass, out);

        // 2. Tasks of earlier deployments, within minimumHealthyPercent.
        let primary_failed_now = self.deployments[0].rollout_state == RolloutState::Failed;
        let primary_td_now = self.deployments[0].task_definition.clone();
        if !primary_failed_now {
            self.stop_earlier(&mut pass, &primary_td_now, out);
        }

        // 3. Primary tasks above desired (scale in): not yet healthy ones first.
        let have = self.scale_in(&mut pass, &primary_td_now, out);

        // 4. Start primary tasks up to desired, within maximumPercent.
        let td = self.task_definitions[&primary_td_now].clone();
        let (started, place_error) = if !primary_failed_now && now >= self.backoff_until {
            self.start_tasks(&mut pass, &td, have, out)
        } else {
            (Vec::new(), None)
        };
        // No instance can take the replacement of a task the load balancer
        // marked unhealthy: fall back to stop-first for one of them.
        let place_error = place_error.filter(|_| !self.stop_one_unhealthy(&mut pass, out));
        self.report_stopped_started(&pass, started, out);
        // Waiting for a task that is stopping to free its port or memory is
        // not a placement failure: the task's STOPPED brings another reconcile.
        let place_error = place_error.filter(|_| self.place_with(&td, true).is_err());
        self.report_problems(now, place_error, &primary_td_now, out);
        self.update_rollout(now, out);
    }

    /// Step 1: stop-first when maximumPercent leaves no room for a
    /// replacement, otherwise keep unhealthy tasks until enough others are healthy.
    fn stop_unhealthy(&mut self, pass: &mut Pass, out: &mut Output) {
        let now = pass.now;
        let d = self.config.desired_count;
        let max_total = self.config.max_tasks();
        let elb = self.config.load_balancer.clone().unwrap_or_default();
        let primary_td = self.deployments[0].task_definition.clone();
        let covering = pass
            .live
            .iter()
            .filter(|id| {
                let t = &self.tasks[*id];
                t.task_definition == primary_td && !self.effectively_unhealthy(t, now)
            })
            .count() as u32;
        for id in pass.live.clone() {
            if !self.effectively_unhealthy(&self.tasks[&id], now) {
                continue;
            }
            // Start-first: a replacement is already on its way (or there is room
            // to start one); the unhealthy task goes once enough are healthy.
            let room = pass.active < max_total || covering >= d;
            let replaced = pass.healthy >= d;
            if !room || replaced {
                let reason = format!("Task failed ELB health checks in (elb {elb})");
                self.stop(now, &id, reason, out, &mut pass.stopped);
                pass.active -= 1;
                let td = self.tasks[&id].task_definition.clone();
                self.count_failure(now, &td, false, out);
            }
        }
    }

    /// Step 2: tasks of earlier deployments go, those that serve nothing yet
    /// first, as long as minimumHealthyPercent holds.
    fn stop_earlier(&mut self, pass: &mut Pass, primary_td: &str, out: &mut Output) {
        let mut olds: Vec<String> = pass
            .live
            .iter()
            .filter(|id| {
                !pass.stopped.contains(id) && self.tasks[*id].task_definition != primary_td
            })
            .cloned()
            .collect();
        olds.sort_by_key(|id| self.is_healthy(&self.tasks[id]));
        for id in olds {
            let reason = format!(
                "Scaling activity initiated by (deployment {})",
                self.deployments[0].id
            );
            self.stop_within_minimum(pass, &id, reason, out);
        }
    }

    /// Stop task `id` unless that takes the healthy count below the minimum;
    /// whether it was stopped.
    fn stop_within_minimum(
        &mut self,
        pass: &mut Pass,
        id: &str,
        reason: String,
        out: &mut Output,
    ) -> bool {
        let h = self.is_healthy(&self.tasks[id]);
        if h && pass.healthy.saturating_sub(1) < self.config.min_healthy() {
            return false;
        }
        self.stop(pass.now, id, reason, out, &mut pass.stopped);
        pass.active -= 1;
        if h {
            pass.healthy -= 1;
        }
        true
    }

    /// Step 3: primary tasks above desired; how many primary tasks remain.
    fn scale_in(&mut self, pass: &mut Pass, primary_td: &str, out: &mut Output) -> u32 {
        let now = pass.now;
        let d = self.config.desired_count;
        let mut mine: Vec<String> = pass
            .live
            .iter()
            .filter(|id| {
                !pass.stopped.contains(id)
                    && self.tasks[*id].task_definition == primary_td
                    && !self.effectively_unhealthy(&self.tasks[*id], now)
            })
            .cloned()
            .collect();
        if mine.len() as u32 > d {
            mine.sort_by_key(|id| self.is_healthy(&self.tasks[id]));
            let extra = mine.len() - d as usize;
            for id in mine.clone().into_iter().take(extra) {
                if self.stop_within_minimum(pass, &id, "Service scaled in".to_string(), out) {
                    mine.retain(|m| m != &id);
                }
            }
        }
        mine.len() as u32
    }

    /// Step 4: start tasks of `td` until `have` reaches desired or
    /// maximumPercent is reached; the tasks started, and why placement stopped.
    fn start_tasks(
        &mut self,
        pass: &mut Pass,
        td: &TaskDefinition,
        mut have: u32,
        out: &mut Output,
    ) -> (Vec<String>, Option<PlacementError>) {
        let d = self.config.desired_count;
        let max_total = self.config.max_tasks();
        let mut started: Vec<String> = Vec::new();
        while have < d && pass.active < max_total {
            match self.place(td) {
                Ok(instance) => {
                    started.push(self.start_task(pass.now, td, instance, out));
                    have += 1;
                    pass.active += 1;
                }
                Err(e) => return (started, Some(e)),
            }
        }
        (started, None)
    }

    /// A new task of the PRIMARY deployment on `instance`; its id.
    fn start_task(
        &mut self,
        now: Millis,
        td: &TaskDefinition,
        instance: String,
        out: &mut Output,
    ) -> String {
        let n = self.fresh();
        let n2 = splitmix(n);
        let id = format!("{:016x}{:016x}", n, n2);
        self.tasks.insert(
            id.clone(),
            Task {
                id: id.clone(),
                task_definition: td.arn.clone(),
                started_by: self.deployments[0].id.clone(),
                instance: instance.clone(),
                host_port: td.host_port,
                memory_mib: td.memory_mib,
                cpu: td.cpu,
                last_status: TaskStatus::Provisioning,
                health: Health::Unknown,
                created_at: now,
                running_at: None,
                stopped_at: None,
                stopped_reason: None,
                exit_code: None,
                registered: false,
            },
        );
        out.commands.push(Command::StartTask {
            task: id.clone(),
            instance,
            task_definition: td.arn.clone(),
            host_port: td.host_port,
        });
        id
    }

    /// Stop-first for one task the load balancer marked unhealthy; whether
    /// there was one.
    fn stop_one_unhealthy(&mut self, pass: &mut Pass, out: &mut Output) -> bool {
        let now = pass.now;
        let kept = pass.live.iter().find(|id| {
            !pass.stopped.contains(id) && self.effectively_unhealthy(&self.tasks[*id], now)
        });
        let Some(id) = kept.cloned() else {
            return false;
        };
        let elb = self.config.load_balancer.clone().unwrap_or_default();
        let reason = format!("Task failed ELB health checks in (elb {elb})");
        self.stop(now, &id, reason, out, &mut pass.stopped);
        let td = self.tasks[&id].task_definition.clone();
        self.count_failure(now, &td, false, out);
        true
    }

    /// The events of a pass that stopped or started tasks.
    fn report_stopped_started(&mut self, pass: &Pass, started: Vec<String>, out: &mut Output) {
        let now = pass.now;
        let name = self.config.name.clone();
        let stopped = &pass.stopped;
        if !stopped.is_empty() {
            self.steady = false;
            if self.config.load_balancer.is_some() {
                let msg = format!(
                    "(service {name}) has begun draining connections on {} tasks.",
                    stopped.len()
                );
                out.events
                    .push(self.event(now, EventKind::Deregistered, stopped.clone(), msg));
            }
            let msg = format!(
                "(service {name}) has stopped {} running tasks: {}.",
                stopped.len(),
                task_list(stopped)
            );
            out.events
                .push(self.event(now, EventKind::Stopped, stopped.clone(), msg));
        }
        if !started.is_empty() {
            self.steady = false;
            let msg = format!(
                "(service {name}) has started {} tasks: {}.",
                started.len(),
                task_list(&started)
            );
            out.events
                .push(self.event(now, EventKind::Started, started, msg));
        }
    }

    /// Events for a task that cannot be placed (once per deployment and
    /// message), tasks that keep failing to start, and a deployment the
    /// percentages do not let move.
    fn report_problems(
        &mut self,
        now: Millis,
        place_error: Option<PlacementError>,
        primary_td: &str,
        out: &mut Output,
    ) {
        let name = self.config.name.clone();
        if let Some(e) = place_error {
            let dep = self.deployments[0].id.clone();
            if self.last_place_message.as_ref() != Some(&(dep.clone(), e.clone())) {
                self.last_place_message = Some((dep, e.clone()));
                out.events
                    .push(self.event(now, EventKind::UnableToPlace, vec![], e.to_string()));
            }
        }
        if self.consecutive_start_failures >= 3 && !self.throttle_event_sent {
            self.throttle_event_sent = true;
            let msg = format!(
                "(service {name}) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section."
            );
            out.events
                .push(self.event(now, EventKind::StartThrottled, vec![], msg));
        }
        // A deployment that can neither stop nor start a task.
        let dep = self.deployments[0].id.clone();
        if !self.config.can_replace()
            && self.config_event_for.as_ref() != Some(&dep)
            && self
                .tasks
                .values()
                .any(|t| t.last_status.is_active() && t.task_definition != primary_td)
        {
            self.config_event_for = Some(dep);
            let msg = format!(
                "(service {name}) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
            );
            out.events
                .push(self.event(now, EventKind::UnableToDeploy, vec![], msg));
        }
    }

    fn update_rollout(&mut self, now: Millis, out: &mut Output) {
        let d = self.config.desired_count;
        let name = self.config.name.clone();
        let p_td = self.deployments[0].task_definition.clone();
        let live: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.last_status.is_active())
            .collect();
        let others_live = live.iter().any(|t| t.task_definition != p_td);
        let stopping = self
            .tasks
            .values()
            .any(|t| t.last_status == TaskStatus::Stopping);
        let healthy_new = live
            .iter()
            .filter(|t| t.task_definition == p_td && self.is_healthy(t))
            .count() as u32;
        let all_healthy = live.iter().all(|t| self.is_healthy(t));
        let done = healthy_new >= d && !others_live && live.len() as u32 == d && all_healthy;
        if done && self.deployments[0].rollout_state == RolloutState::InProgress {
            let p = &mut self.deployments[0];
            p.rollout_state = RolloutState::Completed;
            p.rollout_state_reason = "ECS deployment completed.".to_string();
            p.updated_at = now;
            let id = p.id.clone();
            self.last_completed = Some(p_td.clone());
            self.deployments.truncate(1);
            let msg = format!("(service {name}) (deployment {id}) deployment completed.");
            out.events
                .push(self.event(now, EventKind::DeploymentCompleted, vec![], msg));
        }
        if done
            && !stopping
            && !self.steady
            && self.deployments[0].rollout_state == RolloutState::Completed
        {
            self.steady = true;
            let msg = format!("(service {name}) has reached a steady state.");
            out.events
                .push(self.event(now, EventKind::SteadyState, vec![], msg));
        }
        // An ACTIVE deployment with no tasks left is done with.
        if self.deployments.len() > 1 {
            let tasks = &self.tasks;
            let keep: Vec<bool> = self
                .deployments
                .iter()
                .enumerate()
                .map(|(i, dep)| {
                    i == 0
                        || tasks.values().any(|t| {
                            t.last_status.is_active() && t.task_definition == dep.task_definition
                        })
                })
                .collect();
            let mut k = keep.into_iter();
            self.deployments.retain(|_| k.next().unwrap_or(true));
        }
    }
}

/// ECS accepts minimumHealthyPercent 0-100 and maximumPercent 100-200.
fn check_percentages(config: &ServiceConfig) -> Result<(), EcsError> {
    if config.minimum_healthy_percent > 100 || !(100..=200).contains(&config.maximum_percent) {
        return Err(EcsError::InvalidPercentages {
            desired: config.desired_count,
            min: config.minimum_healthy_percent,
            max: config.maximum_percent,
        });
    }
    Ok(())
}

/// `(task a) (task b)`, as ECS lists tasks in an event.
fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|t| format!("(task {t})"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Convenience for runtimes that hold several outputs.
pub fn merge(outputs: impl IntoIterator<Item = Output>) -> Output {
    let mut o = Output::default();
    for x in outputs {
        o.extend(x);
    }
    o
}
