//! The controller: one background process per environment that keeps the
//! simulated runtime behaving after `apply` returns. It runs the ECS service
//! scheduler over real task containers, drives the classic ELB (served by its
//! own process, [`crate::elb_process`]) with control-plane calls, and answers
//! the CLI on a Unix socket in the environment's `.chronous/` folder.
//!
//! It holds no state of its own that matters: killing it never stops the
//! workload nor the load balancer, and starting it again re-adopts the running
//! task containers by their labels, with the ELB's registrations and health
//! as the ELB kept them.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::cloud::Cloud;
use chronous_core::ecs;
use chronous_core::secret::Secret;

use crate::desired::{self, Desired, ServiceDesired};
use crate::elb;
use crate::elb_process::{self, ElbView, ProcessStatus};
use crate::firewall;
use chronous_docker::{ContainerInfo, ContainerSpec, Docker};

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("controller.sock")
}
pub fn pid_path(state_dir: &Path) -> PathBuf {
    state_dir.join("controller.pid")
}
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("controller.log")
}
fn events_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sim").join("events.jsonl")
}

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub env: String,
    /// The environment folder (canonical path): labels what the controller starts.
    pub env_dir: String,
    pub state_dir: PathBuf,
    /// Health-check intervals and timeouts are divided by this (1 = AWS).
    pub time_scale: f64,
    /// Injected into task containers as DB_PASSWORD; never logged.
    pub db_password: Option<Secret>,
    /// How to start the load balancer's process again when it does not
    /// answer (it supervises this process in turn); `None`: it is not.
    pub launch_elb: Option<elb_process::Launch>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the controller socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the controller is not running (no answer on {0})")]
    NotRunning(PathBuf),
    #[error("another controller already answers on {}", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("cannot read the simulated control plane: {0}")]
    ControlPlane(#[source] crate::cloud::CloudError),
    #[error("cannot encode the request to the controller: {0}")]
    Request(#[source] serde_json::Error),
    #[error("bad answer from the controller: {0}")]
    Protocol(#[source] serde_json::Error),
    #[error("the service scheduler: {0}")]
    Scheduler(#[from] ecs::EcsError),
    #[error(transparent)]
    Docker(#[from] chronous_docker::DockerError),
}

/// Why a task's container could not start: its `Display` is the task's
/// stopped reason, worded as ECS's are.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("CannotStartContainerError: the service is gone")]
    ServiceGone,
    #[error("CannotPullContainerError: pull image manifest has been retried 5 time(s): {0}: not found (not in the local Docker image store)")]
    ImageNotFound(String),
    #[error("CannotPullContainerError: {0}")]
    Pull(#[source] chronous_docker::DockerError),
    #[error("CannotStartContainerError: {0}")]
    Start(#[source] chronous_docker::DockerError),
    #[error("CannotStartContainerError: port {port} of {container} is not published")]
    NotPublished { port: u16, container: String },
}

/// A service event, worded like ECS's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: String,
    pub task_definition: String,
    pub instance_id: String,
    pub container: String,
    /// RUNNING, or STOPPED with the reason.
    pub last_status: String,
    pub health: String,
    pub host_addr: Option<String>,
    pub started_at: Option<String>,
    pub stopped_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElbStatus {
    pub name: String,
    pub url: String,
    /// The health check as configured (AWS timings) and as run (scaled).
    pub health_check: String,
    pub instances: Vec<elb::InstanceHealth>,
    pub error: Option<String>,
    /// The reachability engine's decision on the load balancer's traffic to
    /// the instances (instance port), as the applied security groups have it:
    /// when blocked, the health checks time out.
    #[serde(default)]
    pub reachability: Option<firewall::Decision>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub task_definition: String,
    pub desired: u32,
    pub running: u32,
    pub healthy: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub steady: bool,
    /// The revision the control plane holds for the service (after a
    /// circuit-breaker rollback, the one rolled back to, as on AWS).
    pub requested_task_definition: String,
    /// The forced deployments (`deploy --force-new-deployment`) the scheduler has acted on.
    #[serde(default)]
    pub forced_deployments: u64,
    /// Newest first, as `describe-services` lists them.
    pub deployments: Vec<DeploymentStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub id: String,
    /// PRIMARY or ACTIVE.
    pub status: String,
    pub task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: String,
    pub rollout_state_reason: String,
    pub running: u32,
    pub created_at: String,
}

/// What `chronous status` shows of the runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub environment: String,
    pub started_at: String,
    pub time_scale: f64,
    pub db_password_available: bool,
    pub elb: Option<ElbStatus>,
    pub service: Option<ServiceStatus>,
    pub tasks: Vec<TaskStatus>,
    pub events: Vec<ServiceEvent>,
    pub last_error: Option<String>,
    /// The simulator's processes (the load balancer's and the controller's),
    /// as the load balancer's process supervises them; filled in by the CLI.
    #[serde(default)]
    pub processes: Vec<ProcessStatus>,
    /// The security groups as the simulator enforces them on the containers.
    #[serde(default)]
    pub security_groups: SecurityGroups,
}

/// The reachability engine's decisions the simulator enforces, and why it
/// could not, if it could not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SecurityGroups {
    pub decisions: Vec<firewall::Decision>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Reconcile,
    Shutdown,
    /// Inject a fault into the running simulation (`chronous sim fault`);
    /// answered with a [`FaultReport`] or `{"error": ...}`.
    Fault {
        fault: Fault,
    },
}

/// A fault injected into the running simulation, named as `rehearse deploy
/// --fault` names them where they overlap. Durations are AWS time (divided
/// by the time scale here, as health checks are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// The task's container is killed (SIGKILL, exit 137); default: the
    /// oldest running task.
    Crash { task: Option<String> },
    /// The load balancer's health checks of the task fail for `for_ms`.
    FailingHealth { task: Option<String>, for_ms: u64 },
    /// The container instance is lost with its tasks; its auto scaling group
    /// launches a replacement `replace_ms` later. Default: the instance of
    /// the oldest running task.
    InstanceLost {
        instance: Option<String>,
        replace_ms: u64,
    },
    /// The database container restarts (stop, then start).
    RestartDb,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::FailingHealth { .. } => "failing-health",
            Fault::InstanceLost { .. } => "instance-lost",
            Fault::RestartDb => "restart-db",
        }
    }
}

/// What an injected fault hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub fault: String,
    /// The task, container instance or container hit.
    pub target: String,
    /// The tasks it hit (their containers are killed or fail their checks).
    pub tasks: Vec<String>,
    /// The container instance hit (or that ran the task hit).
    pub instance: Option<String>,
    /// The container hit.
    pub container: Option<String>,
    /// When the fault ends (failing checks) or the replacement instance is
    /// launched (instance lost), RFC 3339.
    pub until: Option<String>,
    /// One sentence of what was done.
    pub message: String,
}

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("no service runs: apply the environment first")]
    NoService,
    #[error("no task `{wanted}` runs; running tasks: {}", list(.running))]
    NoSuchTask {
        wanted: String,
        running: Vec<String>,
    },
    #[error("no task runs: nothing to hit (see `chronous status`)")]
    NoTask,
    #[error("no container instance `{wanted}`; the cluster has: {}", list(.have))]
    NoSuchInstance { wanted: String, have: Vec<String> },
    #[error("the cluster has no container instance left to lose")]
    NoInstance,
    #[error(
        "task {0} is not registered with the load balancer (not RUNNING yet, or no load balancer)"
    )]
    NotRegistered(String),
    #[error("the environment has no database container running")]
    NoDatabase,
    #[error("the simulated control plane: {0}")]
    ControlPlane(#[source] crate::cloud::CloudError),
    #[error(transparent)]
    Docker(#[from] chronous_docker::DockerError),
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

struct Shared {
    status: Status,
    shutdown: bool,
}

/// The service as the controller runs it: the pure ECS scheduler of
/// `chronous_core::ecs`, fed what Docker and the load balancer show.
struct SvcRt {
    /// The control plane's id of the service (a replaced service starts over).
    arn: String,
    /// The revision the control plane last asked for (a rollback by the
    /// circuit breaker makes the primary differ from it; that is not a new deploy).
    requested_td: String,
    /// The control plane's count of forced deployments last acted on.
    forced: u64,
    ecs: ecs::Service,
}

struct Ctl {
    cfg: ControllerConfig,
    docker: Docker,
    /// The load balancer as its process last described it (None: none, or
    /// its process does not answer).
    elb: Option<ElbView>,
    elb_error: Option<String>,
    /// The registrations changed and the load balancer has not taken them yet.
    targets_dirty: bool,
    /// The load balancer's process this one started again (reaped when it exits).
    elb_child: Option<std::process::Child>,
    elb_last_start: Option<Instant>,
    events: VecDeque<ServiceEvent>,
    /// The scheduler's clock runs at AWS speed: real time × time scale, from
    /// an origin far enough back that tasks older than the controller keep
    /// their age.
    epoch: Instant,
    epoch_wall: SystemTime,
    salt: u64,
    svc: Option<SvcRt>,
    /// task id -> the 127.0.0.1 port its container port is published on.
    host_ports: BTreeMap<String, u16>,
    /// The load balancer's instances, in registration order: (task, target).
    registered: Vec<(String, elb::Instance)>,
    /// What was last told to the scheduler of each registered task's health.
    reported: BTreeMap<String, bool>,
    /// Tasks the scheduler stopped: deregistered, their container stopped once drained.
    draining: BTreeMap<String, Instant>,
    /// Tasks PENDING since: their container runs, their app does not answer yet.
    starting: BTreeMap<String, Instant>,
    /// What the applied security groups decide (read from the control plane each tick).
    policy: firewall::Policy,
    /// Why the security groups could not be enforced, the last time they could not.
    firewall_error: Option<String>,
    /// When the rules were last looked at, and for what decisions and tasks.
    enforced: Option<(Instant, String)>,
}

/// How often the containers' rules are looked at when nothing changed.
const ENFORCE_EVERY: Duration = Duration::from_secs(2);

/// How long a deregistered task keeps running so that requests in flight finish.
const DRAIN: Duration = Duration::from_secs(1);
/// A task whose container runs but does not answer is reported RUNNING after
/// this long anyway (its health checks then decide).
const START_LIMIT: Duration = Duration::from_secs(60);

/// Whether something answers HTTP on 127.0.0.1:`port` (any status, even an
/// error page). Docker's proxy accepts connections on a published port before
/// the app listens, so a bare connect proves nothing: a byte of answer does.
///
/// The task becomes RUNNING (and is registered with the ELB) when its app
/// answers: the app's start-up time is real time while health checks run at
/// the time scale, so counting it against UnhealthyThreshold would replace
/// tasks that AWS, with 30 s between checks, would have let start.
async fn answers(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut b = [0u8; 1];
        (s.read(&mut b).await.ok()? == 1).then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(300), probe).await,
        Ok(Some(()))
    )
}

/// Where the scheduler's clock starts (AWS time): 30 days.
const ORIGIN_MS: ecs::Millis = 30 * 24 * 3_600_000;

const ROLE_TASK: &str = "task";
const LABEL_TASK: &str = "chronous.task-id";
const LABEL_SERVICE: &str = "chronous.service";
const LABEL_INSTANCE: &str = "chronous.instance-id";
const LABEL_TASKDEF: &str = "chronous.task-definition";
const LABEL_HOST_PORT: &str = "chronous.host-port";
const LABEL_MEMORY: &str = "chronous.memory";
const LABEL_CPU: &str = "chronous.cpu";
const LABEL_STARTED: &str = "chronous.started-at";

/// Whether a task container belongs to the service `arn` (one without the
/// label is taken to).
fn of_service(c: &ContainerInfo, arn: &str) -> bool {
    c.labels.get(LABEL_SERVICE).is_none_or(|s| s == arn)
}

/// A task the scheduler has not seen stop, as [`Ctl::observation`] looks at it.
struct ObservedTask {
    id: String,
    status: ecs::TaskStatus,
    registered: bool,
    essential: bool,
}

/// The service's settings as the scheduler takes them.
fn service_config(s: &ServiceDesired, d: &Desired) -> ecs::ServiceConfig {
    ecs::ServiceConfig {
        name: s.name.clone(),
        cluster: d.cluster.clone().unwrap_or_default(),
        desired_count: s.desired_count,
        minimum_healthy_percent: s.minimum_healthy_percent,
        maximum_percent: s.maximum_percent,
        health_check_grace_ms: s.aws_grace_s as ecs::Millis * 1000,
        load_balancer: s
            .behind_elb
            .then(|| d.elb.as_ref().map(|e| e.name.clone()).unwrap_or_default()),
        circuit_breaker: s
            .circuit_breaker
            .map(|rollback| ecs::CircuitBreaker { rollback }),
    }
}

fn task_definition(s: &ServiceDesired) -> ecs::TaskDefinition {
    let c = &s.container;
    let pm = c.port_mappings.first();
    ecs::TaskDefinition {
        arn: s.task_definition.clone(),
        image: c.image.clone(),
        memory_mib: c.memory,
        cpu: c.cpu,
        container_port: pm.map(|p| p.container_port).unwrap_or(80),
        host_port: pm.map(|p| p.host_port).unwrap_or(0),
        essential: c.essential,
    }
}

fn container_instances(d: &Desired) -> Vec<ecs::ContainerInstance> {
    d.instances
        .iter()
        .map(|i| ecs::ContainerInstance {
            id: i.id.clone(),
            memory_mib: i.memory_mib,
            cpu_units: i.cpu_units,
        })
        .collect()
}

/// The exit code in Docker's status text (`Exited (137) 3 seconds ago`).
fn exit_code(status: &str) -> Option<i32> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

impl Ctl {
    /// Now on the scheduler's (AWS-speed) clock.
    fn now(&self) -> ecs::Millis {
        ORIGIN_MS + (self.epoch.elapsed().as_secs_f64() * self.cfg.time_scale * 1000.0) as u64
    }

    /// The wall-clock time of a scheduler time.
    fn wall(&self, at: ecs::Millis) -> SystemTime {
        let real = at.saturating_sub(ORIGIN_MS) as f64 / 1000.0 / self.cfg.time_scale;
        self.epoch_wall + Duration::from_secs_f64(real)
    }

    /// A wall-clock time on the scheduler's clock.
    fn at(&self, t: SystemTime) -> ecs::Millis {
        let now = self.now();
        match SystemTime::now().duration_since(t) {
            Ok(age) => {
                now.saturating_sub((age.as_secs_f64() * self.cfg.time_scale * 1000.0) as u64)
            }
            Err(_) => now,
        }
    }

    fn event_at(&mut self, at: SystemTime, message: String) {
        let e = ServiceEvent {
            at: humantime::format_rfc3339_millis(at).to_string(),
            message,
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(events_path(&self.cfg.state_dir))
        {
            let _ = writeln!(f, "{}", serde_json::to_string(&e).unwrap_or_default());
        }
        self.events.push_back(e);
        while self.events.len() > 200 {
            self.events.pop_front();
        }
    }

    fn event(&mut self, message: String) {
        self.event_at(SystemTime::now(), message)
    }

    /// CreateLoadBalancer / ConfigureHealthCheck (or DeleteLoadBalancer)
    /// as the control plane has it, answered with DescribeInstanceHealth.
    async fn reconcile_elb(&mut self, d: &Desired) {
        match elb_process::configure(&self.cfg.state_dir, d.elb.clone()).await {
            Ok(view) => {
                self.elb_error = view.as_ref().and_then(|v| v.error.clone());
                self.elb = view;
            }
            Err(e) => {
                self.elb = None;
                self.elb_error = Some(e.to_string());
                if matches!(e, elb_process::ElbProcessError::NotRunning(_)) {
                    self.start_elb();
                }
            }
        }
    }

    /// The load balancer's process died: start it again (at most once a
    /// second). It finds its registrations and their health where it kept them.
    fn start_elb(&mut self) {
        if let Some(c) = &mut self.elb_child {
            if matches!(c.try_wait(), Ok(None)) {
                return;
            }
            self.elb_child = None;
        }
        let Some(launch) = &self.cfg.launch_elb else {
            return;
        };
        if self
            .elb_last_start
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.elb_last_start = Some(Instant::now());
        match (launch.0)() {
            Ok(child) => {
                self.event(format!(
                    "the load balancer's process did not answer: started it again (pid {}).",
                    child.id()
                ));
                self.elb_child = Some(child);
            }
            Err(e) => {
                self.elb_error = Some(format!("cannot start the load balancer's process: {e}"))
            }
        }
    }

    /// The security groups on the containers: the database, and the tasks
    /// registered with the load balancer (a task gets its rules once RUNNING,
    /// so that its start, seen from the host, is not mistaken for the ELB's).
    async fn enforce(&mut self, containers: &[ContainerInfo]) {
        let tasks: Vec<&ContainerInfo> = containers
            .iter()
            .filter(|c| c.running)
            .filter(|c| {
                c.labels
                    .get(LABEL_TASK)
                    .is_some_and(|t| self.registered.iter().any(|(r, _)| r == t))
            })
            .collect();
        // Looked at when the decisions or the protected tasks change, else
        // every ENFORCE_EVERY (a restarted database has lost its rules).
        let seen = format!(
            "{}{:?}",
            serde_json::to_string(&self.policy).unwrap_or_default(),
            tasks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()
        );
        if self.enforced.as_ref().is_some_and(|(at, s)| {
            *s == seen && at.elapsed() < ENFORCE_EVERY && self.firewall_error.is_none()
        }) {
            return;
        }
        self.enforced = Some((Instant::now(), seen));
        let env = self.cfg.env.clone();
        let result = match firewall::wanted(&self.docker, &env, &self.policy, &tasks).await {
            Ok(want) => firewall::sync(&self.docker, &env, &self.cfg.state_dir, &want, false)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot enforce the security groups: {e}")),
        };
        if let Err(e) = &result {
            if self.firewall_error.as_ref() != Some(e) {
                self.event(format!("the security groups are not enforced: {e}"));
            }
        }
        self.firewall_error = result.err();
    }

    /// Register/DeregisterInstancesWithLoadBalancer: the registered set.
    async fn publish_targets(&mut self) {
        let instances = self.registered.iter().map(|(_, i)| i.clone()).collect();
        match elb_process::register(&self.cfg.state_dir, instances).await {
            Ok(()) => self.targets_dirty = false,
            Err(e) => {
                self.targets_dirty = true;
                self.elb_error = Some(e.to_string());
            }
        }
    }

    /// One tick of the controller: read what the control plane asks for,
    /// bring the load balancer and the scheduler up to date, tell the
    /// scheduler what Docker and the load balancer show, carry out its
    /// commands, stop drained tasks and tidy up.
    async fn reconcile(&mut self) -> Result<(), ControllerError> {
        let mut cloud = Cloud::open(&self.cfg.state_dir.join("sim"), &self.cfg.env)
            .map_err(ControllerError::ControlPlane)?;
        self.replace_lost_instances(&mut cloud)?;
        let d = desired::read(&cloud, self.cfg.time_scale);
        self.policy = firewall::read_policy(&self.cfg.state_dir);
        drop(cloud);
        self.reconcile_elb(&d).await;
        if self.targets_dirty && self.svc.is_some() {
            self.publish_targets().await;
        }
        let containers = self.docker.list(&self.cfg.env, Some(ROLE_TASK)).await?;
        self.enforce(&containers).await;
        let Some(want) = d.service.clone() else {
            return self.without_service(&containers).await;
        };
        let now = self.now();
        let work = if self.svc.as_ref().is_none_or(|s| s.arn != want.arn) {
            self.take_over(&d, &want, &containers, now).await?
        } else {
            self.follow_control_plane(&d, &want, now)?
        };
        self.execute(&d, work).await?;

        // What Docker and the load balancer show, told to the scheduler (the
        // containers listed again: the ones just started are in it).
        let containers = self.docker.list(&self.cfg.env, Some(ROLE_TASK)).await?;
        let by_task: BTreeMap<&str, &ContainerInfo> = containers
            .iter()
            .filter(|c| of_service(c, &want.arn))
            .filter_map(|c| Some((c.labels.get(LABEL_TASK)?.as_str(), c)))
            .collect();
        let mut work = self.observe_runtime(&by_task, now).await?;
        let strays = self.strays(&containers, &want.arn);
        work.push_back(self.scheduler().tick(now));
        self.execute(&d, work).await?;
        for id in strays {
            self.docker.stop_container(&id, 2).await?;
        }
        self.stop_drained(&d, &by_task).await?;
        // STOPPED tasks are kept for `status` a while (ECS keeps them an hour).
        let keep_from = self.now().saturating_sub(3_600_000);
        let s = &mut self.svc.as_mut().expect("a service runs").ecs;
        s.forget_stopped(keep_from);
        self.starting.retain(|t, _| {
            s.task(t)
                .is_some_and(|t| t.last_status < ecs::TaskStatus::Running)
        });
        self.prune_stopped(&containers, 3).await?;
        self.record_rollback()?;
        Ok(())
    }

    /// The revision the circuit breaker rolled the service back to, when the
    /// control plane does not hold it yet: (service id, task definition).
    fn rolled_back_to(&self) -> Option<(String, String)> {
        let s = self.svc.as_ref()?;
        let p = s.ecs.primary();
        p.rollback_of.as_ref()?;
        // A revision the scheduler renamed for a forced deployment is the same revision.
        let td = p.task_definition.split('@').next().unwrap_or_default();
        (td != s.requested_td).then(|| (s.arn.clone(), td.to_string()))
    }

    /// A circuit-breaker rollback written into the control plane, as ECS
    /// does: DescribeServices (and so `status`, refresh and the next plan)
    /// shows the revision rolled back to.
    fn record_rollback(&mut self) -> Result<(), ControllerError> {
        let Some((arn, td)) = self.rolled_back_to() else {
            return Ok(());
        };
        let mut cloud = Cloud::open(&self.cfg.state_dir.join("sim"), &self.cfg.env)
            .map_err(ControllerError::ControlPlane)?;
        cloud
            .ecs_set_task_definition(&arn, &td)
            .map_err(ControllerError::ControlPlane)?;
        if let Some(s) = self.svc.as_mut() {
            s.requested_td = td;
        }
        Ok(())
    }

    /// The scheduler of the service that runs.
    fn scheduler(&mut self) -> &mut ecs::Service {
        &mut self.svc.as_mut().expect("a service runs").ecs
    }

    /// No service: every task container left is stopped.
    async fn without_service(
        &mut self,
        containers: &[ContainerInfo],
    ) -> Result<(), ControllerError> {
        if let Some(s) = self.svc.take() {
            self.event(format!(
                "(service {}) was deleted: its tasks are stopped.",
                s.ecs.config().name
            ));
        }
        for c in containers.iter().filter(|c| c.running) {
            self.docker.stop_container(&c.id, 2).await?;
        }
        self.registered.clear();
        self.reported.clear();
        self.draining.clear();
        self.host_ports.clear();
        self.publish_targets().await;
        self.prune_stopped(containers, 0).await
    }

    /// A new service, or this controller's first look at it: take over the
    /// tasks that run (a restart), start the rest.
    async fn take_over(
        &mut self,
        d: &Desired,
        want: &ServiceDesired,
        containers: &[ContainerInfo],
        now: ecs::Millis,
    ) -> Result<VecDeque<ecs::Output>, ControllerError> {
        self.svc = None;
        self.registered.clear();
        self.reported.clear();
        let primary = task_definition(want);
        let mut tds = vec![primary.clone()];
        let mut adopted = Vec::new();
        for c in containers
            .iter()
            .filter(|c| c.running && of_service(c, &want.arn))
        {
            if let Some(task) = self.adopt(c, &primary, &mut tds, now).await? {
                adopted.push(task);
            }
        }
        let config = service_config(want, d);
        let instances = container_instances(d);
        let n = adopted.len();
        let (svc, out) = if adopted.is_empty() {
            ecs::Service::create(config, primary, instances, self.salt, now)
        } else {
            ecs::Service::adopt(config, tds, instances, adopted, self.salt, now)
        }?;
        if n > 0 {
            self.event(format!(
                "(service {}) the controller started and took over {n} running tasks.",
                want.name
            ));
        }
        self.svc = Some(SvcRt {
            arn: want.arn.clone(),
            requested_td: want.task_definition.clone(),
            forced: want.forced_deployments,
            ecs: svc,
        });
        Ok(VecDeque::from([out]))
    }

    /// A running task container as the scheduler adopts it (from its labels),
    /// its revision added to `tds`; `None` for a container that is no task.
    async fn adopt(
        &mut self,
        c: &ContainerInfo,
        primary: &ecs::TaskDefinition,
        tds: &mut Vec<ecs::TaskDefinition>,
        now: ecs::Millis,
    ) -> Result<Option<ecs::AdoptedTask>, ControllerError> {
        let Some(task) = c.labels.get(LABEL_TASK) else {
            return Ok(None);
        };
        let td = c.labels.get(LABEL_TASKDEF).cloned().unwrap_or_default();
        let num = |k: &str, default: u32| {
            c.labels
                .get(k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let host_port = num(LABEL_HOST_PORT, primary.host_port as u32) as u16;
        let memory_mib = num(LABEL_MEMORY, primary.memory_mib);
        let cpu = num(LABEL_CPU, primary.cpu);
        if !tds.iter().any(|t| t.arn == td) {
            tds.push(ecs::TaskDefinition {
                arn: td.clone(),
                image: c.image.clone(),
                memory_mib,
                cpu,
                host_port,
                ..primary.clone()
            });
        }
        let since = c
            .labels
            .get(LABEL_STARTED)
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
            .map(|t| self.at(t))
            .unwrap_or(now);
        // Healthy as the load balancer has it (it kept its state while no
        // controller ran); without a verdict, healthy unless it is paused.
        let mut healthy = !c.paused;
        if let Some(p) = self.docker.host_port(&c.id, primary.container_port).await? {
            self.host_ports.insert(task.clone(), p);
            let addr = SocketAddr::from(([127, 0, 0, 1], p));
            let verdict = self
                .elb
                .iter()
                .flat_map(|v| &v.instances)
                .find(|h| h.addr == addr)
                .and_then(|h| h.reason.verdict());
            healthy = verdict.unwrap_or(healthy);
        }
        Ok(Some(ecs::AdoptedTask {
            id: task.clone(),
            task_definition: td,
            instance: c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default(),
            host_port,
            memory_mib,
            cpu,
            running_since: since,
            healthy,
        }))
    }

    /// The service known: new settings, container instances that came or
    /// went, a new revision asked for.
    fn follow_control_plane(
        &mut self,
        d: &Desired,
        want: &ServiceDesired,
        now: ecs::Millis,
    ) -> Result<VecDeque<ecs::Output>, ControllerError> {
        let mut work = VecDeque::new();
        let s = self.svc.as_mut().expect("checked");
        let config = service_config(want, d);
        if &config != s.ecs.config() {
            work.push_back(s.ecs.update_config(now, config)?);
        }
        let want_ids: Vec<ecs::ContainerInstance> = container_instances(d);
        let have: Vec<String> = s.ecs.instances().map(|i| i.id.clone()).collect();
        for i in &want_ids {
            if !have.contains(&i.id) {
                let seen = ecs::Observation::InstanceRegistered(i.clone());
                work.push_back(s.ecs.observe(now, seen)?);
            }
        }
        for id in have {
            if !want_ids.iter().any(|i| i.id == id) {
                let lost = ecs::Observation::InstanceLost { instance: id };
                work.push_back(s.ecs.observe(now, lost)?);
            }
        }
        if want.task_definition != s.requested_td {
            s.requested_td = want.task_definition.clone();
            work.push_back(s.ecs.update(now, task_definition(want)));
        } else if want.forced_deployments != s.forced {
            work.push_back(s.ecs.force_new_deployment(now));
        }
        s.forced = want.forced_deployments;
        Ok(work)
    }

    /// What Docker and the load balancer show of each task the scheduler
    /// has not seen stop, told to it.
    async fn observe_runtime(
        &mut self,
        by_task: &BTreeMap<&str, &ContainerInfo>,
        now: ecs::Millis,
    ) -> Result<VecDeque<ecs::Output>, ControllerError> {
        let health: Vec<elb::InstanceHealth> = self
            .elb
            .as_ref()
            .map(|v| v.instances.clone())
            .unwrap_or_default();
        let s = &self.svc.as_ref().expect("a service runs").ecs;
        let tasks: Vec<ObservedTask> = s
            .tasks()
            .filter(|t| t.last_status != ecs::TaskStatus::Stopped)
            .map(|t| ObservedTask {
                id: t.id.clone(),
                status: t.last_status,
                registered: t.registered,
                essential: s
                    .task_definition(&t.task_definition)
                    .is_none_or(|td| td.essential),
            })
            .collect();
        let mut work = VecDeque::new();
        for t in &tasks {
            let c = by_task.get(t.id.as_str()).copied();
            if let Some(seen) = self.observation(t, c, &health).await {
                work.push_back(self.scheduler().observe(now, seen)?);
            }
        }
        Ok(work)
    }

    /// What is new about one task: its container stopped or exited, the
    /// load balancer's verdict on it changed, or its app answers.
    async fn observation(
        &mut self,
        t: &ObservedTask,
        c: Option<&ContainerInfo>,
        health: &[elb::InstanceHealth],
    ) -> Option<ecs::Observation> {
        let id = &t.id;
        let alive = c.is_some_and(|c| c.running);
        match t.status {
            ecs::TaskStatus::Stopping if !alive => {
                self.draining.remove(id);
                Some(ecs::Observation::TaskStopped { task: id.clone() })
            }
            ecs::TaskStatus::Running if !alive => Some(ecs::Observation::TaskExited {
                task: id.clone(),
                exit_code: c.and_then(|c| exit_code(&c.status)).unwrap_or(137),
                essential: t.essential,
            }),
            ecs::TaskStatus::Running if t.registered => {
                let (_, target) = self.registered.iter().find(|(task, _)| task == id)?;
                let healthy = health
                    .iter()
                    .find(|h| h.id == target.id && h.addr == target.addr)
                    .and_then(|h| h.reason.verdict())?;
                if self.reported.get(id) == Some(&healthy) {
                    return None;
                }
                self.reported.insert(id.clone(), healthy);
                Some(ecs::Observation::TaskHealth {
                    task: id.clone(),
                    healthy,
                })
            }
            ecs::TaskStatus::Provisioning | ecs::TaskStatus::Pending => {
                self.start_observation(id, c, alive).await
            }
            ecs::TaskStatus::Running | ecs::TaskStatus::Stopping | ecs::TaskStatus::Stopped => None,
        }
    }

    /// A task not RUNNING yet: failed to start when its container is gone,
    /// RUNNING once its app answers (or after [`START_LIMIT`] anyway).
    async fn start_observation(
        &mut self,
        id: &str,
        c: Option<&ContainerInfo>,
        alive: bool,
    ) -> Option<ecs::Observation> {
        let since = *self
            .starting
            .entry(id.to_string())
            .or_insert_with(Instant::now);
        let obs = if !alive {
            let how = c
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "removed".into());
            Some(ecs::Observation::TaskFailedToStart {
                task: id.to_string(),
                reason: format!("Essential container in task exited ({how})"),
            })
        } else {
            let up = match self.host_ports.get(id).copied() {
                Some(p) => answers(p).await,
                None => false,
            };
            (up || since.elapsed() >= START_LIMIT).then(|| ecs::Observation::TaskRunning {
                task: id.to_string(),
            })
        };
        if obs.is_some() {
            self.starting.remove(id);
        }
        obs
    }

    /// Containers the scheduler does not know (another service's, or
    /// started behind its back): to be stopped.
    fn strays(&self, containers: &[ContainerInfo], arn: &str) -> Vec<String> {
        let s = &self.svc.as_ref().expect("a service runs").ecs;
        containers
            .iter()
            .filter(|c| c.running)
            .filter(|c| {
                c.labels.get(LABEL_TASK).is_none_or(|t| {
                    !of_service(c, arn)
                        || s.task(t)
                            .is_none_or(|t| t.last_status == ecs::TaskStatus::Stopped)
                })
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// Drained tasks stop now.
    async fn stop_drained(
        &mut self,
        d: &Desired,
        by_task: &BTreeMap<&str, &ContainerInfo>,
    ) -> Result<(), ControllerError> {
        let drained: Vec<String> = self
            .draining
            .iter()
            .filter(|(_, t)| t.elapsed() >= DRAIN)
            .map(|(k, _)| k.clone())
            .collect();
        let mut work: VecDeque<ecs::Output> = VecDeque::new();
        for task in drained {
            self.draining.remove(&task);
            if let Some(c) = by_task.get(task.as_str()) {
                self.docker.stop_container(&c.id, 2).await?;
            }
            self.host_ports.remove(&task);
            let now = self.now();
            let stopped = ecs::Observation::TaskStopped { task };
            work.push_back(self.scheduler().observe(now, stopped)?);
        }
        self.execute(d, work).await
    }

    /// Carry out what the scheduler asked, feeding back what happened, until
    /// it asks nothing more.
    async fn execute(
        &mut self,
        d: &Desired,
        mut work: VecDeque<ecs::Output>,
    ) -> Result<(), ControllerError> {
        let mut targets_changed = false;
        while let Some(out) = work.pop_front() {
            for e in out.events {
                let at = self.wall(e.at);
                self.event_at(at, e.message);
            }
            for c in out.commands {
                match c {
                    ecs::Command::StartTask {
                        task,
                        instance,
                        task_definition,
                        host_port,
                    } => {
                        let now = self.now();
                        let started = self
                            .start_task(d, &task, &instance, &task_definition, host_port)
                            .await;
                        let s = self.svc.as_mut().expect("a service runs");
                        let obs = match started {
                            Ok(port) => {
                                // PENDING until the container answers on its
                                // port (see `answers`); then RUNNING.
                                self.host_ports.insert(task.clone(), port);
                                self.starting.insert(task.clone(), Instant::now());
                                ecs::Observation::TaskPending { task }
                            }
                            Err(why) => ecs::Observation::TaskFailedToStart {
                                task,
                                reason: why.to_string(),
                            },
                        };
                        work.push_back(s.ecs.observe(now, obs)?);
                    }
                    ecs::Command::StopTask { task, .. } => {
                        self.draining.entry(task).or_insert_with(Instant::now);
                    }
                    ecs::Command::RegisterTarget { task, instance, .. } => {
                        if let Some(p) = self.host_ports.get(&task) {
                            let target = elb::Instance::new(
                                instance,
                                SocketAddr::from(([127, 0, 0, 1], *p)),
                            );
                            self.registered.retain(|(t, _)| t != &task);
                            self.registered.push((task.clone(), target));
                            self.reported.remove(&task);
                            targets_changed = true;
                        }
                    }
                    ecs::Command::DeregisterTarget { task, .. } => {
                        self.registered.retain(|(t, _)| t != &task);
                        self.reported.remove(&task);
                        targets_changed = true;
                    }
                }
            }
        }
        // Tasks the scheduler let go of without a command (their container
        // instance was lost) leave the load balancer too.
        if let Some(s) = &self.svc {
            let before = self.registered.len();
            self.registered
                .retain(|(t, _)| s.ecs.task(t).is_some_and(|t| t.registered));
            targets_changed |= self.registered.len() != before;
        }
        if targets_changed {
            self.publish_targets().await;
        }
        Ok(())
    }

    /// Keep the newest `keep` stopped task containers (their logs are the log
    /// streams of stopped tasks); remove older ones.
    async fn prune_stopped(
        &mut self,
        containers: &[ContainerInfo],
        keep: usize,
    ) -> Result<(), ControllerError> {
        let mut stopped: Vec<&ContainerInfo> = containers
            .iter()
            .filter(|c| !c.running && c.labels.contains_key(LABEL_TASK))
            .collect();
        stopped.sort_by(|a, b| {
            b.labels
                .get(LABEL_STARTED)
                .cmp(&a.labels.get(LABEL_STARTED))
        });
        for c in stopped.into_iter().skip(keep) {
            self.docker.remove_container(&c.id).await?;
        }
        Ok(())
    }

    /// Start the task's container; its published port, or why it could not
    /// start (worded as ECS's stopped reasons are).
    async fn start_task(
        &mut self,
        d: &Desired,
        task_id: &str,
        instance_id: &str,
        task_definition: &str,
        host_port: u16,
    ) -> Result<u16, StartFailure> {
        let svc = d.service.as_ref().ok_or(StartFailure::ServiceGone)?;
        // The revision's own container definition (an older one during a rollback).
        let tdef = self
            .svc
            .as_ref()
            .and_then(|s| s.ecs.task_definition(task_definition).cloned());
        let mut c = svc.container.clone();
        if let Some(td) = &tdef {
            if td.arn != svc.task_definition {
                c.image = td.image.clone();
            }
        }
        let image = desired::local_image(&c.image);
        match self.docker.image_exists(&image).await {
            Ok(true) => {}
            Ok(false) => return Err(StartFailure::ImageNotFound(image)),
            Err(e) => return Err(StartFailure::Pull(e)),
        }
        let mut env: BTreeMap<String, String> = c.environment.clone();
        env.remove("DB_PASSWORD");
        if let Some(p) = &self.cfg.db_password {
            env.insert("DB_PASSWORD".into(), p.expose().to_string());
        }
        let container_port = c
            .port_mappings
            .first()
            .map(|p| p.container_port)
            .unwrap_or(80);
        env.entry("PORT".into())
            .or_insert_with(|| container_port.to_string());
        let stream = format!(
            "{}/{}/{}",
            d.stream_prefix.clone().unwrap_or_else(|| "ecs".into()),
            c.name,
            task_id
        );
        let labels = BTreeMap::from([
            (LABEL_TASK.to_string(), task_id.to_string()),
            (LABEL_SERVICE.to_string(), svc.arn.clone()),
            (LABEL_INSTANCE.to_string(), instance_id.to_string()),
            (LABEL_TASKDEF.to_string(), task_definition.to_string()),
            (LABEL_HOST_PORT.to_string(), host_port.to_string()),
            (LABEL_MEMORY.to_string(), c.memory.to_string()),
            (LABEL_CPU.to_string(), c.cpu.to_string()),
            (LABEL_STARTED.to_string(), now_rfc3339()),
            (
                "chronous.log-group".to_string(),
                d.log_group.clone().unwrap_or_default(),
            ),
            ("chronous.log-stream".to_string(), stream),
        ]);
        let network = self
            .docker
            .ensure_network(&self.cfg.env)
            .await
            .map_err(StartFailure::Start)?;
        let name = format!(
            "chronous-{}-task-{}",
            self.cfg.env,
            &task_id[..12.min(task_id.len())]
        );
        let spec = ContainerSpec {
            name: name.clone(),
            image,
            env: env.into_iter().collect(),
            labels,
            role: ROLE_TASK.to_string(),
            address: Some("aws_ecs_service.payments_api".to_string()),
            network: Some(network),
            memory_mb: Some(c.memory.max(6) as u64),
            publish: Some(container_port),
            ..Default::default()
        };
        let id = match self.docker.run_container(&self.cfg.env, &spec).await {
            Ok(id) => id,
            Err(e) => {
                // A container created but not started is not left behind.
                let _ = self.docker.remove_container(&name).await;
                return Err(StartFailure::Start(e));
            }
        };
        match self.docker.host_port(&id, container_port).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(StartFailure::NotPublished {
                port: container_port,
                container: name,
            }),
            Err(e) => Err(StartFailure::Start(e)),
        }
    }
}

/// Faults injected into the running simulation (`chronous sim fault`): each
/// acts on the runtime or the control plane as the failure itself would; the
/// scheduler then reacts on its next tick, as ECS does.
impl Ctl {
    async fn inject(&mut self, f: Fault) -> Result<FaultReport, FaultError> {
        let name = f.name().to_string();
        let mut r = match f {
            Fault::Crash { task } => self.crash(task.as_deref()).await?,
            Fault::FailingHealth { task, for_ms } => {
                self.fail_health(task.as_deref(), for_ms).await?
            }
            Fault::InstanceLost {
                instance,
                replace_ms,
            } => self.lose_instance(instance.as_deref(), replace_ms).await?,
            Fault::RestartDb => self.restart_db().await?,
        };
        r.fault = name;
        Ok(r)
    }

    /// The running task `wanted` names (its id or the start of it), or the
    /// oldest running task.
    fn running_task(&self, wanted: Option<&str>) -> Result<ecs::Task, FaultError> {
        let s = &self.svc.as_ref().ok_or(FaultError::NoService)?.ecs;
        let mut running: Vec<&ecs::Task> = s
            .tasks()
            .filter(|t| t.last_status == ecs::TaskStatus::Running)
            .collect();
        running.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let found = match wanted {
            None => running.first().copied().ok_or(FaultError::NoTask)?,
            Some(w) => running
                .iter()
                .copied()
                .find(|t| !w.is_empty() && t.id.starts_with(w))
                .ok_or_else(|| FaultError::NoSuchTask {
                    wanted: w.to_string(),
                    running: running.iter().map(|t| t.id.clone()).collect(),
                })?,
        };
        Ok(found.clone())
    }

    /// The running containers of these tasks: (task, container id, name).
    async fn task_containers(
        &self,
        tasks: &[String],
    ) -> Result<Vec<(String, String, String)>, FaultError> {
        let cs = self.docker.list(&self.cfg.env, Some(ROLE_TASK)).await?;
        Ok(cs
            .into_iter()
            .filter(|c| c.running)
            .filter_map(|c| {
                let t = c.labels.get(LABEL_TASK)?.clone();
                tasks.contains(&t).then_some((t, c.id, c.name))
            })
            .collect())
    }

    async fn crash(&mut self, wanted: Option<&str>) -> Result<FaultReport, FaultError> {
        let t = self.running_task(wanted)?;
        let cs = self.task_containers(std::slice::from_ref(&t.id)).await?;
        let (_, id, name) = cs.into_iter().next().ok_or(FaultError::NoTask)?;
        self.docker.kill_container(&id).await?;
        Ok(FaultReport {
            fault: String::new(),
            target: t.id.clone(),
            tasks: vec![t.id.clone()],
            instance: Some(t.instance.clone()),
            container: Some(name.clone()),
            until: None,
            message: format!(
                "killed the container {name} of task {} on {} (exit code 137)",
                t.id, t.instance
            ),
        })
    }

    async fn fail_health(
        &mut self,
        wanted: Option<&str>,
        for_ms: u64,
    ) -> Result<FaultReport, FaultError> {
        let t = self.running_task(wanted)?;
        let target = self
            .registered
            .iter()
            .find(|(task, _)| task == &t.id)
            .map(|(_, i)| i.clone())
            .ok_or_else(|| FaultError::NotRegistered(t.id.clone()))?;
        let span = Duration::from_secs_f64(for_ms as f64 / 1000.0 / self.cfg.time_scale);
        let hit = elb_process::fail_checks(&self.cfg.state_dir, &target.id, target.addr, span)
            .await
            .unwrap_or(false);
        if !hit {
            return Err(FaultError::NotRegistered(t.id.clone()));
        }
        let until = humantime::format_rfc3339_millis(SystemTime::now() + span).to_string();
        Ok(FaultReport {
            fault: String::new(),
            target: t.id.clone(),
            tasks: vec![t.id.clone()],
            instance: Some(t.instance.clone()),
            container: None,
            until: Some(until.clone()),
            message: format!(
                "the load balancer's health checks of task {} on {} fail for {} s (AWS time) until {until}",
                t.id,
                t.instance,
                for_ms / 1000
            ),
        })
    }

    /// The instance leaves its auto scaling group in the control plane (the
    /// scheduler sees it gone on its next tick and its tasks with it), its
    /// containers die with it, and the group's replacement is due later.
    async fn lose_instance(
        &mut self,
        wanted: Option<&str>,
        replace_ms: u64,
    ) -> Result<FaultReport, FaultError> {
        let s = &self.svc.as_ref().ok_or(FaultError::NoService)?.ecs;
        let have: Vec<String> = s.instances().map(|i| i.id.clone()).collect();
        let id = match wanted {
            Some(w) => have
                .iter()
                .find(|i| !w.is_empty() && i.starts_with(w))
                .cloned()
                .ok_or_else(|| FaultError::NoSuchInstance {
                    wanted: w.to_string(),
                    have: have.clone(),
                })?,
            None => match self.running_task(None) {
                Ok(t) => t.instance,
                Err(_) => have.first().cloned().ok_or(FaultError::NoInstance)?,
            },
        };
        let tasks: Vec<String> = s
            .tasks()
            .filter(|t| t.instance == id && t.last_status.is_active())
            .map(|t| t.id.clone())
            .collect();
        let real = Duration::from_secs_f64(replace_ms as f64 / 1000.0 / self.cfg.time_scale);
        let at = SystemTime::now() + real;
        let mut cloud = Cloud::open(&self.cfg.state_dir.join("sim"), &self.cfg.env)
            .map_err(FaultError::ControlPlane)?;
        cloud
            .instance_lost(&id, at)
            .map_err(FaultError::ControlPlane)?;
        drop(cloud);
        for (_, c, _) in self.task_containers(&tasks).await? {
            self.docker.kill_container(&c).await?;
        }
        let until = humantime::format_rfc3339_millis(at).to_string();
        Ok(FaultReport {
            fault: String::new(),
            target: id.clone(),
            tasks: tasks.clone(),
            instance: Some(id.clone()),
            container: None,
            until: Some(until.clone()),
            message: format!(
                "container instance {id} was lost with {} task(s){}; its auto scaling group launches a replacement at {until}",
                tasks.len(),
                if tasks.is_empty() { String::new() } else { format!(" ({})", tasks.join(", ")) }
            ),
        })
    }

    async fn restart_db(&mut self) -> Result<FaultReport, FaultError> {
        let db = self
            .docker
            .list(&self.cfg.env, Some("db"))
            .await?
            .into_iter()
            .find(|c| c.running)
            .ok_or(FaultError::NoDatabase)?;
        self.docker.stop_container(&db.id, 10).await?;
        self.docker.start_container(&db.id).await?;
        Ok(FaultReport {
            fault: String::new(),
            target: db.name.clone(),
            tasks: vec![],
            instance: None,
            container: Some(db.name.clone()),
            until: None,
            message: format!("restarted the database container {}", db.name),
        })
    }

    /// Launch the replacements of lost container instances that are due (the
    /// auto scaling group's), in the control plane; the scheduler registers
    /// them on the tick that reads it.
    fn replace_lost_instances(&mut self, cloud: &mut Cloud) -> Result<(), ControllerError> {
        let launched = cloud
            .replace_due_instances(SystemTime::now())
            .map_err(ControllerError::ControlPlane)?;
        for id in launched {
            self.event(format!(
                "(auto scaling group) launched container instance {id} to replace a lost one."
            ));
        }
        Ok(())
    }
}

fn status_of(
    ctl: &Ctl,
    started_at: &str,
    last_error: Option<String>,
    tasks: Vec<TaskStatus>,
    service: Option<ServiceStatus>,
) -> Status {
    Status {
        pid: std::process::id(),
        environment: ctl.cfg.env.clone(),
        started_at: started_at.to_string(),
        time_scale: ctl.cfg.time_scale,
        db_password_available: ctl.cfg.db_password.is_some(),
        elb: ctl
            .elb
            .as_ref()
            .map(|v| (&v.config, v))
            .map(|(d, v)| ElbStatus {
                name: d.name.clone(),
                url: v.url.clone(),
                health_check: format!(
                    "{} every {} s, timeout {} s, healthy after {}, unhealthy after {}{}",
                    d.target,
                    d.aws_interval_s,
                    d.aws_timeout_s,
                    d.healthy_threshold,
                    d.unhealthy_threshold,
                    if ctl.cfg.time_scale != 1.0 {
                        format!(
                            " (time scale {}: run every {:.2} s)",
                            ctl.cfg.time_scale,
                            d.interval.as_secs_f64()
                        )
                    } else {
                        String::new()
                    }
                ),
                instances: v.instances.clone(),
                error: ctl.elb_error.clone(),
                reachability: ctl.policy.elb_to_tasks.as_ref().map(|t| t.elb.clone()),
            }),
        service,
        tasks,
        events: ctl.events.iter().cloned().collect(),
        last_error: last_error
            .or_else(|| ctl.elb.is_none().then(|| ctl.elb_error.clone()).flatten()),
        processes: Vec::new(),
        security_groups: SecurityGroups {
            decisions: ctl.policy.decisions(),
            error: ctl.firewall_error.clone(),
        },
    }
}

async fn snapshot(ctl: &Ctl, started_at: &str, last_error: Option<String>) -> Status {
    let containers = ctl
        .docker
        .list(&ctl.cfg.env, Some(ROLE_TASK))
        .await
        .unwrap_or_default();
    let health: Vec<elb::InstanceHealth> = ctl
        .elb
        .as_ref()
        .map(|v| v.instances.clone())
        .unwrap_or_default();
    let ecs = ctl.svc.as_ref().map(|s| &s.ecs);
    let mut tasks: Vec<TaskStatus> = containers
        .iter()
        .filter_map(|c| {
            let id = c.labels.get(LABEL_TASK)?.clone();
            let instance = c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
            let known = ecs.and_then(|s| s.task(&id));
            let target = ctl
                .registered
                .iter()
                .find(|(t, _)| t == &id)
                .map(|(_, i)| i);
            let last_status = match (c.running, known.map(|t| t.last_status)) {
                (true, Some(ecs::TaskStatus::Stopping)) => "STOPPING".to_string(),
                (true, _) if c.paused => "RUNNING (paused)".to_string(),
                (true, _) => "RUNNING".to_string(),
                (false, _) => "STOPPED".to_string(),
            };
            Some(TaskStatus {
                id,
                task_definition: c.labels.get(LABEL_TASKDEF).cloned().unwrap_or_default(),
                instance_id: instance,
                container: c.name.clone(),
                last_status,
                health: match (c.running, target) {
                    (false, _) => "-".into(),
                    (true, None) => "DEREGISTERED".into(),
                    (true, Some(t)) => health
                        .iter()
                        .find(|h| h.id == t.id && h.addr == t.addr)
                        .map(|h| format!("{:?}", h.state))
                        .unwrap_or_else(|| "REGISTERING".into()),
                },
                host_addr: ctl
                    .host_ports
                    .get(c.labels.get(LABEL_TASK)?)
                    .map(|p| format!("127.0.0.1:{p}")),
                started_at: c.labels.get(LABEL_STARTED).cloned(),
                stopped_reason: (!c.running).then(|| {
                    known
                        .and_then(|t| t.stopped_reason.clone())
                        .map(|r| format!("{r} ({})", c.status))
                        .unwrap_or_else(|| c.status.clone())
                }),
            })
        })
        .collect();
    tasks.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    let service = ctl.svc.as_ref().map(|s| {
        let e = &s.ecs;
        let cfg = e.config();
        let counts = e.counts();
        let primary = e.primary();
        let deployments = e
            .deployments()
            .iter()
            .map(|d| DeploymentStatus {
                id: d.id.clone(),
                status: d.status.as_str().to_string(),
                task_definition: d.task_definition.clone(),
                rollout_state: d.rollout_state.as_str().to_string(),
                rollout_state_reason: d.rollout_state_reason.clone(),
                running: e
                    .tasks()
                    .filter(|t| {
                        t.task_definition == d.task_definition
                            && t.last_status == ecs::TaskStatus::Running
                    })
                    .count() as u32,
                created_at: humantime::format_rfc3339_millis(ctl.wall(d.created_at)).to_string(),
            })
            .collect();
        ServiceStatus {
            name: cfg.name.clone(),
            task_definition: primary.task_definition.clone(),
            desired: cfg.desired_count,
            running: counts.running,
            healthy: counts.healthy,
            minimum_healthy_percent: cfg.minimum_healthy_percent,
            maximum_percent: cfg.maximum_percent,
            steady: primary.rollout_state == ecs::RolloutState::Completed
                && counts.healthy == cfg.desired_count
                && counts.active == cfg.desired_count
                && e.tasks()
                    .all(|t| t.last_status != ecs::TaskStatus::Stopping),
            requested_task_definition: s.requested_td.clone(),
            forced_deployments: s.forced,
            deployments,
        }
    });
    status_of(ctl, started_at, last_error, tasks, service)
}

/// A fault to inject and where to answer, from the socket to the controller's loop.
type FaultCall = (
    Fault,
    tokio::sync::oneshot::Sender<Result<FaultReport, String>>,
);

/// The answer to a [`Request::Fault`]: the report, or `{"error": ...}`.
async fn ask_fault(to: &tokio::sync::mpsc::Sender<FaultCall>, fault: Fault) -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let answer = match to.send((fault, tx)).await {
        Ok(()) => rx
            .await
            .unwrap_or_else(|_| Err("the controller stopped".to_string())),
        Err(_) => Err("the controller stopped".to_string()),
    };
    match answer {
        Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

/// Run the controller until it is told to stop.
pub async fn run(cfg: ControllerConfig) -> Result<(), ControllerError> {
    let sock = socket_path(&cfg.state_dir);
    // A socket left by a killed controller.
    if UnixStream::connect(&sock).await.is_ok() {
        return Err(ControllerError::AlreadyRunning(sock));
    }
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|source| ControllerError::Socket {
        path: sock.clone(),
        source,
    })?;
    let _ = std::fs::write(pid_path(&cfg.state_dir), std::process::id().to_string());
    let docker = Docker::connect()
        .await?
        .owned_by(&cfg.env, &cfg.env_dir)
        .await?;
    let started_at = now_rfc3339();
    let salt = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
        ^ std::process::id() as u64;
    let mut ctl = Ctl {
        cfg: cfg.clone(),
        docker,
        elb: None,
        elb_error: None,
        targets_dirty: false,
        elb_child: None,
        elb_last_start: None,
        events: VecDeque::new(),
        epoch: Instant::now(),
        epoch_wall: SystemTime::now(),
        salt,
        svc: None,
        host_ports: BTreeMap::new(),
        registered: Vec::new(),
        reported: BTreeMap::new(),
        draining: BTreeMap::new(),
        starting: BTreeMap::new(),
        policy: firewall::Policy::default(),
        firewall_error: None,
        enforced: None,
    };
    if let Ok(text) = std::fs::read_to_string(events_path(&cfg.state_dir)) {
        for line in text
            .lines()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if let Ok(e) = serde_json::from_str(line) {
                ctl.events.push_back(e);
            }
        }
    }
    let shared = Arc::new(Mutex::new(Shared {
        status: status_of(&ctl, &started_at, None, vec![], None),
        shutdown: false,
    }));
    let wake = Arc::new(Notify::new());
    let (fault_tx, mut faults) = tokio::sync::mpsc::channel::<FaultCall>(4);
    {
        let shared = shared.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                let wake = wake.clone();
                let fault_tx = fault_tx.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut line = String::new();
                    if BufReader::new(r).read_line(&mut line).await.is_err() {
                        return;
                    }
                    let answer = match serde_json::from_str::<Request>(line.trim()) {
                        Ok(Request::Status) => {
                            serde_json::to_string(&shared.lock().expect("status lock").status)
                                .unwrap_or_default()
                        }
                        Ok(Request::Reconcile) => {
                            wake.notify_one();
                            "{\"ok\":true}".to_string()
                        }
                        Ok(Request::Shutdown) => {
                            shared.lock().expect("status lock").shutdown = true;
                            wake.notify_one();
                            "{\"ok\":true}".to_string()
                        }
                        Ok(Request::Fault { fault }) => ask_fault(&fault_tx, fault).await,
                        Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
                    };
                    let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
                });
            }
        });
    }
    let tick = Duration::from_millis(250);
    loop {
        let last_error = ctl.reconcile().await.err().map(|e| e.to_string());
        let st = snapshot(&ctl, &started_at, last_error).await;
        {
            let mut s = shared.lock().expect("status lock");
            s.status = st;
            if s.shutdown {
                break;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            Some((fault, reply)) = faults.recv() => {
                let _ = reply.send(ctl.inject(fault).await.map_err(|e| e.to_string()));
            }
        }
        if shared.lock().expect("status lock").shutdown {
            break;
        }
    }
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(pid_path(&cfg.state_dir));
    Ok(())
}

/// Ask the running controller something.
pub async fn request(
    state_dir: &Path,
    req: &Request,
) -> Result<serde_json::Value, ControllerError> {
    let sock = socket_path(state_dir);
    let stream = UnixStream::connect(&sock)
        .await
        .map_err(|_| ControllerError::NotRunning(sock.clone()))?;
    let (r, mut w) = stream.into_split();
    let body = serde_json::to_string(req).map_err(ControllerError::Request)?;
    w.write_all(format!("{body}\n").as_bytes())
        .await
        .map_err(|source| ControllerError::Socket {
            path: sock.clone(),
            source,
        })?;
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .await
        .map_err(|source| ControllerError::Socket {
            path: sock.clone(),
            source,
        })?;
    serde_json::from_str(line.trim()).map_err(ControllerError::Protocol)
}
