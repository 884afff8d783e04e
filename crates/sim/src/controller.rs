//! The controller: one background process per environment that keeps the
//! simulated runtime behaving after `apply` returns. It serves the classic ELB
//! on 127.0.0.1 (health checks included), runs the ECS service scheduler over
//! real task containers, and answers the CLI on a Unix socket in the
//! environment's `.chronous/` folder.
//!
//! It holds no state of its own that matters: killing it never stops the
//! workload, and starting it again re-adopts the running task containers by
//! their labels.

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
use crate::desired::{self, Desired, ElbDesired};
use crate::docker::{ContainerSpec, Docker};
use crate::elb::{self, LoadBalancer};
use crate::scheduler::{self, Decision, Health, TaskView};

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
    pub db_password: Option<String>,
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
    #[error("bad answer from the controller: {0}")]
    Protocol(String),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Reconcile,
    Shutdown,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

struct Shared {
    status: Status,
    shutdown: bool,
}

struct Ctl {
    cfg: ControllerConfig,
    docker: Docker,
    elb: Option<(ElbDesired, LoadBalancer)>,
    elb_error: Option<String>,
    events: VecDeque<ServiceEvent>,
    /// Tasks seen stopped already (so each stop is reported once).
    reported_stopped: std::collections::BTreeSet<String>,
    /// When each task was first seen running (for the grace period).
    first_seen: BTreeMap<String, Instant>,
    last_place_event: Option<(String, Instant)>,
    steady: bool,
    /// container id -> the 127.0.0.1 port its container port is published on.
    host_ports: BTreeMap<String, u16>,
    /// Tasks deregistered from the load balancer, stopped once drained: (since, reason).
    draining: BTreeMap<String, (Instant, String)>,
}

/// How long a deregistered task keeps running so that requests in flight finish.
const DRAIN: Duration = Duration::from_secs(1);

const ROLE_TASK: &str = "task";
const LABEL_TASK: &str = "chronous.task-id";
const LABEL_INSTANCE: &str = "chronous.instance-id";
const LABEL_TASKDEF: &str = "chronous.task-definition";
const LABEL_HOST_PORT: &str = "chronous.host-port";
const LABEL_STARTED: &str = "chronous.started-at";

impl Ctl {
    fn event(&mut self, message: String) {
        let e = ServiceEvent {
            at: now_rfc3339(),
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

    async fn reconcile_elb(&mut self, d: &Desired) {
        match (&d.elb, self.elb.take()) {
            (None, Some((_, lb))) => lb.shutdown().await,
            (None, None) => {}
            (Some(want), Some((have, lb))) if have.port == want.port => {
                if have != *want {
                    if let Err(e) = lb.set_health_check(hc_of(want)) {
                        self.elb_error = Some(e.to_string());
                    }
                }
                self.elb = Some((want.clone(), lb));
            }
            (Some(want), old) => {
                if let Some((_, lb)) = old {
                    lb.shutdown().await;
                }
                let addr: SocketAddr = ([127, 0, 0, 1], want.port).into();
                match LoadBalancer::start(addr, hc_of(want)).await {
                    Ok(lb) => {
                        self.elb_error = None;
                        self.elb = Some((want.clone(), lb));
                    }
                    Err(e) => {
                        self.elb_error =
                            Some(format!("cannot serve the load balancer on {addr}: {e}"))
                    }
                }
            }
        }
    }

    async fn reconcile(&mut self) -> Result<(), ControllerError> {
        let cloud = match Cloud::open(&self.cfg.state_dir.join("sim"), &self.cfg.env) {
            Ok(c) => c,
            Err(e) => {
                return Err(ControllerError::Protocol(format!(
                    "cannot read the simulated control plane: {e}"
                )))
            }
        };
        let d = desired::read(&cloud, self.cfg.time_scale);
        drop(cloud);
        self.reconcile_elb(&d).await;

        let mut containers = self.docker.list(&self.cfg.env, Some(ROLE_TASK)).await?;
        let svc_label = d
            .service
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "service".into());
        let drained: Vec<String> = self
            .draining
            .iter()
            .filter(|(_, (t, _))| t.elapsed() >= DRAIN)
            .map(|(k, _)| k.clone())
            .collect();
        for task_id in drained {
            let (_, reason) = self.draining.remove(&task_id).expect("listed");
            if let Some(c) = containers
                .iter_mut()
                .find(|c| c.labels.get(LABEL_TASK) == Some(&task_id))
            {
                self.docker.stop_container(&c.id, 2).await?;
                c.running = false;
                self.reported_stopped.insert(task_id.clone());
                self.event(format!("(service {svc_label}) has stopped 1 running tasks: (task {task_id}). Reason: {reason}"));
            }
        }
        for c in containers.iter().filter(|c| c.running) {
            if !self.host_ports.contains_key(&c.id) {
                let port = d
                    .service
                    .as_ref()
                    .and_then(|s| s.container.port_mappings.first())
                    .map(|p| p.container_port)
                    .unwrap_or(80);
                if let Some(hp) = self.docker.host_port(&c.id, port).await? {
                    self.host_ports.insert(c.id.clone(), hp);
                }
            }
        }
        self.host_ports
            .retain(|id, _| containers.iter().any(|c| &c.id == id && c.running));
        let health: BTreeMap<String, elb::InstanceHealth> = self
            .elb
            .as_ref()
            .map(|(_, lb)| lb.health().into_iter().map(|h| (h.id.clone(), h)).collect())
            .unwrap_or_default();
        let unhealthy_threshold = d.elb.as_ref().map(|e| e.unhealthy_threshold).unwrap_or(2);

        let mut views: Vec<TaskView> = Vec::new();
        let mut addrs: Vec<elb::Instance> = Vec::new();
        let mut stopped: Vec<(String, String)> = Vec::new();
        for c in &containers {
            let Some(task) = c.labels.get(LABEL_TASK).cloned() else {
                continue;
            };
            let instance = c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
            if !c.running {
                if !self.reported_stopped.contains(&task) {
                    stopped.push((task.clone(), c.status.clone()));
                }
                continue;
            }
            self.first_seen
                .entry(task.clone())
                .or_insert_with(Instant::now);
            let svc_grace = d.service.as_ref().map(|s| s.grace).unwrap_or_default();
            let age = self.first_seen[&task].elapsed();
            // The ELB's view of the instance counts for this task only if the
            // instance is registered at this task's address (a new task on the
            // same instance starts over).
            let addr = self
                .host_ports
                .get(&c.id)
                .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)));
            let h = match (
                d.service.as_ref().is_some_and(|s| s.behind_elb),
                health.get(&instance).filter(|h| Some(h.addr) == addr),
            ) {
                (false, _) => Health::Healthy,
                (true, Some(h)) if h.state == elb::State::InService => Health::Healthy,
                (true, Some(h))
                    if h.consecutive_fail >= unhealthy_threshold && age >= svc_grace =>
                {
                    Health::Unhealthy
                }
                _ => Health::Unknown,
            };
            if let Some(p) = self
                .host_ports
                .get(&c.id)
                .copied()
                .filter(|_| !self.draining.contains_key(&task))
            {
                addrs.push(elb::Instance::new(
                    instance.clone(),
                    SocketAddr::from(([127, 0, 0, 1], p)),
                ));
            }
            views.push(TaskView {
                id: task,
                task_definition: c.labels.get(LABEL_TASKDEF).cloned().unwrap_or_default(),
                instance_id: instance,
                host_port: c
                    .labels
                    .get(LABEL_HOST_PORT)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0),
                memory_mib: d.service.as_ref().map(|s| s.container.memory).unwrap_or(0),
                cpu: d.service.as_ref().map(|s| s.container.cpu).unwrap_or(0),
                health: h,
            });
        }
        let svc_name = d
            .service
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "service".into());
        for (task, how) in stopped {
            self.reported_stopped.insert(task.clone());
            self.event(format!("(service {svc_name}) has stopped 1 running tasks: (task {task}). Reason: Essential container in task exited ({how})"));
        }
        // Instances of tasks that are not running anymore leave the load balancer.
        if let Some((_, lb)) = &self.elb {
            lb.set_instances(addrs.clone());
        }

        let Some(svc) = d.service.clone() else {
            // No service: any task container left is stopped.
            for c in containers.iter().filter(|c| c.running) {
                self.docker.stop_container(&c.id, 2).await?;
            }
            self.prune_stopped(&containers, 0).await?;
            return Ok(());
        };
        let decisions = scheduler::decide(&svc, &d.instances, &views);
        let mut changed = false;
        for dec in decisions {
            match dec {
                Decision::Stop { task_id, reason } => {
                    // Deregister first; stop once the requests in flight are done.
                    if self.draining.contains_key(&task_id) {
                        continue;
                    }
                    if let Some(c) = containers
                        .iter()
                        .find(|c| c.labels.get(LABEL_TASK) == Some(&task_id))
                    {
                        let instance = c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
                        let port = self.host_ports.get(&c.id).copied();
                        addrs.retain(|i| !(i.id == instance && Some(i.addr.port()) == port));
                        if let Some((_, lb)) = &self.elb {
                            lb.set_instances(addrs.clone());
                        }
                        self.draining
                            .insert(task_id.clone(), (Instant::now(), reason));
                        self.event(format!(
                            "(service {}) has begun draining connections on 1 tasks.",
                            svc.name
                        ));
                        changed = true;
                    }
                }
                Decision::Start { instance_id } => {
                    let id = self.start_task(&svc, &d, &instance_id).await?;
                    self.event(format!(
                        "(service {}) has started 1 tasks: (task {id}).",
                        svc.name
                    ));
                    changed = true;
                }
                Decision::CannotPlace { message } => {
                    // ECS repeats this event, not on every evaluation.
                    let again = self.last_place_event.as_ref().is_none_or(|(m, t)| {
                        m != &message || t.elapsed() > Duration::from_secs(60)
                    });
                    if again {
                        self.last_place_event = Some((message.clone(), Instant::now()));
                        self.event(message);
                    }
                }
            }
        }
        let healthy = views
            .iter()
            .filter(|v| v.health == Health::Healthy && v.task_definition == svc.task_definition)
            .count() as u32;
        let steady =
            !changed && healthy == svc.desired_count && views.len() as u32 == svc.desired_count;
        if steady && !self.steady {
            self.event(format!(
                "(service {}) has reached a steady state.",
                svc.name
            ));
        }
        self.steady = steady;
        self.prune_stopped(&containers, 3).await?;
        Ok(())
    }

    /// Keep the newest `keep` stopped task containers (their logs are the log
    /// streams of stopped tasks); remove older ones.
    async fn prune_stopped(
        &mut self,
        containers: &[crate::docker::ContainerInfo],
        keep: usize,
    ) -> Result<(), ControllerError> {
        let mut stopped: Vec<&crate::docker::ContainerInfo> = containers
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

    async fn start_task(
        &mut self,
        svc: &desired::ServiceDesired,
        d: &Desired,
        instance_id: &str,
    ) -> Result<String, ControllerError> {
        let c = &svc.container;
        let task_id = {
            let mut h = sha2_hex(&format!(
                "{}{}{:?}",
                svc.task_definition,
                instance_id,
                SystemTime::now()
            ));
            h.truncate(32);
            h
        };
        let image = desired::local_image(&c.image);
        let mut env: BTreeMap<String, String> = c.environment.clone();
        env.remove("DB_PASSWORD");
        if let Some(p) = &self.cfg.db_password {
            env.insert("DB_PASSWORD".into(), p.clone());
        }
        let container_port = c
            .port_mappings
            .first()
            .map(|p| p.container_port)
            .unwrap_or(80);
        env.entry("PORT".into())
            .or_insert_with(|| container_port.to_string());
        let host_port = c.port_mappings.first().map(|p| p.host_port).unwrap_or(0);
        let stream = format!(
            "{}/{}/{}",
            d.stream_prefix.clone().unwrap_or_else(|| "ecs".into()),
            c.name,
            task_id
        );
        let labels = BTreeMap::from([
            (LABEL_TASK.to_string(), task_id.clone()),
            (LABEL_INSTANCE.to_string(), instance_id.to_string()),
            (LABEL_TASKDEF.to_string(), svc.task_definition.clone()),
            (LABEL_HOST_PORT.to_string(), host_port.to_string()),
            (LABEL_STARTED.to_string(), now_rfc3339()),
            (
                "chronous.log-group".to_string(),
                d.log_group.clone().unwrap_or_default(),
            ),
            ("chronous.log-stream".to_string(), stream),
        ]);
        let network = self.docker.ensure_network(&self.cfg.env).await?;
        let spec = ContainerSpec {
            name: format!("chronous-{}-task-{}", self.cfg.env, &task_id[..12]),
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
        self.docker.run_container(&self.cfg.env, &spec).await?;
        Ok(task_id)
    }
}

fn sha2_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn hc_of(e: &ElbDesired) -> elb::HealthCheck {
    elb::HealthCheck {
        target: e.target.clone(),
        interval: e.interval,
        timeout: e.timeout.min(e.interval.mul_f64(0.9)),
        healthy_threshold: e.healthy_threshold,
        unhealthy_threshold: e.unhealthy_threshold,
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
        elb: ctl.elb.as_ref().map(|(d, lb)| ElbStatus {
            name: d.name.clone(),
            url: format!("http://{}", lb.local_addr()),
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
            instances: lb.health(),
            error: ctl.elb_error.clone(),
        }),
        service,
        tasks,
        events: ctl.events.iter().cloned().collect(),
        last_error,
    }
}

async fn snapshot(ctl: &Ctl, started_at: &str, last_error: Option<String>) -> Status {
    let containers = ctl
        .docker
        .list(&ctl.cfg.env, Some(ROLE_TASK))
        .await
        .unwrap_or_default();
    let health: BTreeMap<String, elb::InstanceHealth> = ctl
        .elb
        .as_ref()
        .map(|(_, lb)| lb.health().into_iter().map(|h| (h.id.clone(), h)).collect())
        .unwrap_or_default();
    let mut tasks: Vec<TaskStatus> = containers
        .iter()
        .filter_map(|c| {
            let id = c.labels.get(LABEL_TASK)?.clone();
            let instance = c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
            Some(TaskStatus {
                id,
                task_definition: c.labels.get(LABEL_TASKDEF).cloned().unwrap_or_default(),
                instance_id: instance.clone(),
                container: c.name.clone(),
                last_status: if c.running {
                    if c.paused {
                        "RUNNING (paused)".into()
                    } else {
                        "RUNNING".into()
                    }
                } else {
                    "STOPPED".into()
                },
                health: if !c.running {
                    "-".into()
                } else {
                    let addr = ctl
                        .host_ports
                        .get(&c.id)
                        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)));
                    health
                        .get(&instance)
                        .filter(|h| Some(h.addr) == addr)
                        .map(|h| format!("{:?}", h.state))
                        .unwrap_or_else(|| "REGISTERING".into())
                },
                host_addr: ctl.host_ports.get(&c.id).map(|p| format!("127.0.0.1:{p}")),
                started_at: c.labels.get(LABEL_STARTED).cloned(),
                stopped_reason: (!c.running).then(|| c.status.clone()),
            })
        })
        .collect();
    tasks.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    let service = Cloud::open(&ctl.cfg.state_dir.join("sim"), &ctl.cfg.env)
        .ok()
        .and_then(|cloud| {
            let d = desired::read(&cloud, ctl.cfg.time_scale);
            d.service.map(|s| {
                let running: Vec<&TaskStatus> = tasks
                    .iter()
                    .filter(|t| t.last_status.starts_with("RUNNING"))
                    .collect();
                ServiceStatus {
                    name: s.name,
                    task_definition: s.task_definition.clone(),
                    desired: s.desired_count,
                    running: running.len() as u32,
                    healthy: running
                        .iter()
                        .filter(|t| {
                            t.health == "InService" && t.task_definition == s.task_definition
                        })
                        .count() as u32,
                    minimum_healthy_percent: s.minimum_healthy_percent,
                    maximum_percent: s.maximum_percent,
                    steady: ctl.steady,
                }
            })
        });
    status_of(ctl, started_at, last_error, tasks, service)
}

/// Run the controller until it is told to stop.
pub async fn run(cfg: ControllerConfig) -> Result<(), ControllerError> {
    let sock = socket_path(&cfg.state_dir);
    // A socket left by a killed controller.
    if UnixStream::connect(&sock).await.is_ok() {
        return Err(ControllerError::Protocol(format!(
            "another controller already answers on {}",
            sock.display()
        )));
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
    let mut ctl = Ctl {
        cfg: cfg.clone(),
        docker,
        elb: None,
        elb_error: None,
        events: VecDeque::new(),
        reported_stopped: Default::default(),
        first_seen: Default::default(),
        last_place_event: None,
        steady: false,
        host_ports: BTreeMap::new(),
        draining: BTreeMap::new(),
    };
    // Tasks stopped before this controller started were reported by the one before.
    for c in ctl.docker.list(&cfg.env, Some(ROLE_TASK)).await? {
        if !c.running {
            if let Some(t) = c.labels.get(LABEL_TASK) {
                ctl.reported_stopped.insert(t.clone());
            }
        }
    }
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
    {
        let shared = shared.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                let wake = wake.clone();
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
        }
        if shared.lock().expect("status lock").shutdown {
            break;
        }
    }
    if let Some((_, lb)) = ctl.elb.take() {
        lb.shutdown().await;
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
    let body = serde_json::to_string(req).map_err(|e| ControllerError::Protocol(e.to_string()))?;
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
    serde_json::from_str(line.trim()).map_err(|e| ControllerError::Protocol(e.to_string()))
}
