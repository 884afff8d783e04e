//! The load balancer's own process: one per environment, long-lived and
//! simple, so that the ELB does not depend on the ECS scheduler (as on AWS).
//!
//! It serves the classic ELB ([`elb::LoadBalancer`]) and keeps what a real
//! ELB keeps: its configuration, its registered instances and their health,
//! also in `.chronous/elb.json` so that a restart of this process finds them
//! (instances that were InService are InService again at their first passing
//! check). The controller drives it only with control-plane calls on
//! `.chronous/elb.sock`: [`ElbRequest::Configure`] (CreateLoadBalancer,
//! ConfigureHealthCheck; answered with the health), [`ElbRequest::Register`]
//! (Register/DeregisterInstancesWithLoadBalancer: the exact set),
//! [`ElbRequest::Describe`] (DescribeInstanceHealth).
//!
//! It also supervises the controller: when the controller exits or is
//! killed, it is started again (after 0.1 s, doubling up to 5 s while it keeps
//! dying, back to 0.1 s once it has run 30 s). [`ElbRequest::Shutdown`] stops
//! the controller, then the load balancer, and removes the socket, the pid
//! files and the kept state.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, Notify};

use crate::controller;
use crate::desired::ElbDesired;
use crate::elb::{self, Instance, InstanceHealth, LoadBalancer, State};

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("elb.sock")
}
pub fn pid_path(state_dir: &Path) -> PathBuf {
    state_dir.join("elb.pid")
}
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("elb.log")
}
fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("elb.lock")
}
/// What the load balancer keeps across restarts of its process.
pub fn kept_path(state_dir: &Path) -> PathBuf {
    state_dir.join("elb.json")
}

/// A call to the load balancer's process, one JSON line on its socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum ElbRequest {
    /// Serve this load balancer (or none); answered with [`ElbView`] (or null).
    Configure { elb: Option<ElbDesired> },
    /// Register exactly these instances, in this order.
    Register { instances: Vec<Instance> },
    /// The load balancer and its instances' health ([`ElbView`], or null).
    Describe,
    /// Both processes and the load balancer ([`ElbProcessStatus`]).
    Status,
    /// Stop the controller, then the load balancer and this process.
    Shutdown,
    /// A fault (`chronous sim fault failing-health`): the checks of this
    /// registered instance fail for `span_ms` of real time; answered with
    /// `{"hit": bool}` (false when no such instance is registered).
    FailChecks {
        id: String,
        addr: std::net::SocketAddr,
        span_ms: u64,
    },
}

/// DescribeLoadBalancers and DescribeInstanceHealth, in one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElbView {
    pub config: ElbDesired,
    pub url: String,
    pub instances: Vec<InstanceHealth>,
    pub error: Option<String>,
}

/// One of the simulator's processes, as `status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// `load balancer` or `controller`.
    pub role: String,
    pub pid: Option<u32>,
    pub running: bool,
    pub up_since: Option<String>,
    /// How many times it was started again after it died.
    pub restarts: u32,
    /// Why it could not be started, the last time it could not.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElbProcessStatus {
    pub processes: Vec<ProcessStatus>,
    pub elb: Option<ElbView>,
}

#[derive(Debug, thiserror::Error)]
pub enum ElbProcessError {
    #[error("the load balancer's socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the load balancer's process is not running (no answer on {0})")]
    NotRunning(PathBuf),
    #[error("another load balancer process already answers on {}", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("cannot encode the request to the load balancer: {0}")]
    Request(#[source] serde_json::Error),
    #[error("bad answer from the load balancer's process: {0}")]
    Protocol(#[source] serde_json::Error),
    #[error("the load balancer's process refused: {0}")]
    Refused(String),
}

/// Starts one of the simulator's processes (the CLI knows the executable
/// and its arguments).
#[derive(Clone)]
pub struct Launch(pub Arc<dyn Fn() -> std::io::Result<Child> + Send + Sync>);

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Launch")
    }
}

pub struct ElbProcessConfig {
    pub state_dir: PathBuf,
    /// How to start the controller; `None`: nothing is supervised.
    pub launch_controller: Option<Launch>,
}

/// The health check as the proxy runs it (the time scale applied).
pub fn health_check_of(e: &ElbDesired) -> elb::HealthCheck {
    elb::HealthCheck {
        target: e.target.clone(),
        interval: e.interval,
        timeout: e.timeout.min(e.interval.mul_f64(0.9)),
        healthy_threshold: e.healthy_threshold,
        unhealthy_threshold: e.unhealthy_threshold,
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// What the load balancer keeps (`elb.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    elb: Option<ElbDesired>,
    instances: Vec<Instance>,
    in_service: Vec<SocketAddr>,
    /// How many times a process served this load balancer.
    starts: u32,
}

#[derive(Default)]
struct Served {
    desired: Option<ElbDesired>,
    lb: Option<LoadBalancer>,
    error: Option<String>,
    instances: Vec<Instance>,
}

impl Served {
    fn view(&self) -> Option<ElbView> {
        let (config, lb) = (self.desired.clone()?, self.lb.as_ref());
        Some(ElbView {
            url: lb
                .map(|lb| format!("http://{}", lb.local_addr()))
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.port)),
            instances: lb.map(LoadBalancer::health).unwrap_or_default(),
            config,
            error: self.error.clone(),
        })
    }

    /// Serve `want` (or stop serving): a changed health check is applied in
    /// place, a changed port starts the listener over.
    async fn configure(&mut self, want: Option<ElbDesired>, in_service: &[SocketAddr]) {
        let same_port = |w: &ElbDesired| self.desired.as_ref().is_some_and(|d| d.port == w.port);
        match want {
            None => {
                if let Some(lb) = self.lb.take() {
                    lb.shutdown().await;
                }
                self.desired = None;
                self.instances.clear();
                self.error = None;
            }
            Some(w) if self.lb.is_some() && same_port(&w) => {
                if self.desired.as_ref() != Some(&w) {
                    let lb = self.lb.as_ref().expect("checked");
                    self.error = lb
                        .set_health_check(health_check_of(&w))
                        .err()
                        .map(|e| e.to_string());
                    self.desired = Some(w);
                }
            }
            Some(w) => {
                if let Some(lb) = self.lb.take() {
                    lb.shutdown().await;
                }
                let addr: SocketAddr = ([127, 0, 0, 1], w.port).into();
                match LoadBalancer::start(addr, health_check_of(&w)).await {
                    Ok(lb) => {
                        lb.set_instances_restoring(self.instances.clone(), in_service);
                        self.lb = Some(lb);
                        self.error = None;
                    }
                    Err(e) => {
                        self.error = Some(format!("cannot serve the load balancer on {addr}: {e}"))
                    }
                }
                self.desired = Some(w);
            }
        }
    }

    fn register(&mut self, instances: Vec<Instance>) {
        if let Some(lb) = &self.lb {
            lb.set_instances(instances.clone());
        }
        self.instances = instances;
    }

    fn kept(&self, starts: u32) -> Kept {
        let in_service = self
            .lb
            .as_ref()
            .map(|lb| {
                lb.health()
                    .into_iter()
                    .filter(|h| h.state == State::InService)
                    .map(|h| h.addr)
                    .collect()
            })
            .unwrap_or_default();
        Kept {
            elb: self.desired.clone(),
            instances: self.instances.clone(),
            in_service,
            starts,
        }
    }
}

/// The supervised controller.
struct Supervised {
    launch: Option<Launch>,
    child: Option<Child>,
    pid: Option<u32>,
    up_since: Option<String>,
    started: Option<Instant>,
    restarts: u32,
    ever_started: bool,
    next_try: Instant,
    backoff: Duration,
    last_error: Option<String>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether `pid` runs (a zombie does not).
fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().to_string()))
        .is_some_and(|r| !r.starts_with('Z'))
}

/// A running controller this process did not start (its pid file names a
/// live `chronous … controller`).
fn running_controller(state_dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(controller::pid_path(state_dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_controller = cmdline.split(|b| *b == 0).any(|a| a == b"controller");
    (is_controller && pid_alive(pid)).then_some(pid)
}

impl Supervised {
    fn new(launch: Option<Launch>) -> Supervised {
        Supervised {
            launch,
            child: None,
            pid: None,
            up_since: None,
            started: None,
            restarts: 0,
            ever_started: false,
            next_try: Instant::now(),
            backoff: FIRST_BACKOFF,
            last_error: None,
        }
    }

    fn alive(&mut self) -> bool {
        match (&mut self.child, self.pid) {
            (Some(c), _) => matches!(c.try_wait(), Ok(None)),
            (None, Some(p)) => pid_alive(p),
            (None, None) => false,
        }
    }

    /// Keep the controller running: notice that it died, start it again
    /// after the backoff.
    fn tick(&mut self, state_dir: &Path) {
        if self.launch.is_none() {
            return;
        }
        if self.alive() {
            if self
                .started
                .is_some_and(|t| t.elapsed() > Duration::from_secs(30))
            {
                self.backoff = FIRST_BACKOFF;
            }
            return;
        }
        if self.pid.take().is_some() {
            // It died: the next start after the backoff.
            self.child = None;
            self.next_try = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        if let Some(pid) = running_controller(state_dir) {
            self.pid = Some(pid);
            self.started = Some(Instant::now());
            self.ever_started = true;
            return;
        }
        if Instant::now() < self.next_try {
            return;
        }
        let launch = self.launch.as_ref().expect("checked");
        match (launch.0)() {
            Ok(child) => {
                self.pid = Some(child.id());
                self.child = Some(child);
                self.up_since = Some(now_rfc3339());
                self.started = Some(Instant::now());
                if self.ever_started {
                    self.restarts += 1;
                }
                self.ever_started = true;
                self.last_error = None;
            }
            Err(e) => {
                self.last_error = Some(format!("cannot start the controller: {e}"));
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn status(&mut self) -> ProcessStatus {
        ProcessStatus {
            role: "controller".into(),
            running: self.alive(),
            pid: self.pid,
            up_since: self.up_since.clone(),
            restarts: self.restarts,
            last_error: self.last_error.clone(),
        }
    }

    /// Ask the controller to stop, wait for it (10 s), then kill it.
    async fn stop(&mut self, state_dir: &Path) {
        self.launch = None;
        if !self.alive() {
            return;
        }
        let _ = controller::request(state_dir, &controller::Request::Shutdown).await;
        let t = Instant::now();
        while self.alive() && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(c) = &mut self.child {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_file(controller::socket_path(state_dir));
        let _ = std::fs::remove_file(controller::pid_path(state_dir));
    }
}

struct Process {
    state_dir: PathBuf,
    started_at: String,
    restarts: u32,
    starts: u32,
    served: tokio::sync::Mutex<Served>,
    sup: Mutex<Supervised>,
    shutdown: AtomicBool,
    wake: Notify,
}

/// Until the load balancer reports a change of state; true when its
/// channel closed (the load balancer was replaced or stopped). Never
/// returns while there is no load balancer.
async fn next_transition(rx: &mut Option<broadcast::Receiver<elb::Transition>>) -> bool {
    match rx {
        Some(rx) => matches!(rx.recv().await, Err(broadcast::error::RecvError::Closed)),
        None => std::future::pending().await,
    }
}

impl Process {
    fn persist(&self, served: &Served) {
        if let Ok(bytes) = serde_json::to_vec_pretty(&served.kept(self.starts)) {
            let _ = chronous_store::atomic_write(&kept_path(&self.state_dir), &bytes);
        }
    }

    /// Write what is kept when it differs from `written` (what was written
    /// last); returns what is on disk now.
    fn persist_if_changed(&self, served: &Served, written: Vec<u8>) -> Vec<u8> {
        match serde_json::to_vec_pretty(&served.kept(self.starts)) {
            Ok(bytes) if bytes != written => {
                match chronous_store::atomic_write(&kept_path(&self.state_dir), &bytes) {
                    Ok(()) => bytes,
                    Err(_) => written,
                }
            }
            _ => written,
        }
    }

    async fn answer(&self, req: ElbRequest) -> serde_json::Value {
        match req {
            ElbRequest::Configure { elb } => {
                let mut s = self.served.lock().await;
                if s.desired != elb || (elb.is_some() && s.lb.is_none()) {
                    s.configure(elb, &[]).await;
                    self.persist(&s);
                }
                serde_json::to_value(s.view()).unwrap_or_default()
            }
            ElbRequest::Register { instances } => {
                let mut s = self.served.lock().await;
                if s.instances != instances {
                    s.register(instances);
                    self.persist(&s);
                }
                serde_json::json!({"ok": true})
            }
            ElbRequest::Describe => {
                serde_json::to_value(self.served.lock().await.view()).unwrap_or_default()
            }
            ElbRequest::Status => {
                let elb = self.served.lock().await.view();
                let me = ProcessStatus {
                    role: "load balancer".into(),
                    pid: Some(std::process::id()),
                    running: true,
                    up_since: Some(self.started_at.clone()),
                    restarts: self.restarts,
                    last_error: None,
                };
                let ctl = self.sup.lock().expect("supervisor lock").status();
                serde_json::to_value(ElbProcessStatus {
                    processes: vec![me, ctl],
                    elb,
                })
                .unwrap_or_default()
            }
            ElbRequest::FailChecks { id, addr, span_ms } => {
                let s = self.served.lock().await;
                let hit = s
                    .lb
                    .as_ref()
                    .is_some_and(|lb| lb.fail_checks(&id, addr, Duration::from_millis(span_ms)));
                serde_json::json!({ "hit": hit })
            }
            ElbRequest::Shutdown => {
                self.shutdown.store(true, Ordering::SeqCst);
                self.wake.notify_one();
                serde_json::json!({"ok": true})
            }
        }
    }
}

async fn serve_requests(listener: UnixListener, p: Arc<Process>) {
    while let Ok((stream, _)) = listener.accept().await {
        let p = p.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(r).read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match serde_json::from_str::<ElbRequest>(line.trim()) {
                Ok(req) => p.answer(req).await,
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
        });
    }
}

/// Run the load balancer's process until it is told to stop.
pub async fn run(cfg: ElbProcessConfig) -> Result<(), ElbProcessError> {
    let sd = cfg.state_dir.clone();
    let sock = socket_path(&sd);
    // One process per environment, even when two start at once: the first
    // holds the lock for its lifetime (the kernel releases it when it dies).
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(&sd))
        .map_err(|source| ElbProcessError::Socket {
            path: lock_path(&sd),
            source,
        })?;
    if lock_file.try_lock().is_err() || UnixStream::connect(&sock).await.is_ok() {
        return Err(ElbProcessError::AlreadyRunning(sock));
    }
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|source| ElbProcessError::Socket {
        path: sock.clone(),
        source,
    })?;
    let _ = std::fs::write(pid_path(&sd), std::process::id().to_string());
    // What the load balancer kept, if a process served it before.
    let kept: Option<Kept> = std::fs::read(kept_path(&sd))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (restarts, starts) = kept.as_ref().map_or((0, 1), |k| (k.starts, k.starts + 1));
    let mut served = Served::default();
    if let Some(k) = kept {
        served.instances = k.instances;
        served.configure(k.elb, &k.in_service).await;
    }
    let p = Arc::new(Process {
        state_dir: sd.clone(),
        started_at: now_rfc3339(),
        restarts,
        starts,
        served: tokio::sync::Mutex::new(served),
        sup: Mutex::new(Supervised::new(cfg.launch_controller)),
        shutdown: AtomicBool::new(false),
        wake: Notify::new(),
    });
    p.persist(&*p.served.lock().await);
    tokio::spawn(serve_requests(listener, p.clone()));
    // What a real ELB keeps is durable at once: every change of an
    // instance's state is written as soon as it happens (a process killed
    // right after a task went InService finds it InService again).
    let mut transitions: Option<broadcast::Receiver<elb::Transition>> = None;
    let mut written = Vec::new();
    while !p.shutdown.load(Ordering::SeqCst) {
        p.sup.lock().expect("supervisor lock").tick(&sd);
        {
            let s = p.served.lock().await;
            if transitions.is_none() {
                transitions = s.lb.as_ref().map(|lb| lb.subscribe());
            }
            written = p.persist_if_changed(&s, written);
        }
        tokio::select! {
            _ = p.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            closed = next_transition(&mut transitions) => {
                if closed {
                    transitions = None;
                }
            }
        }
    }
    // The controller first (it would start this process again), then the load balancer.
    let mut sup = std::mem::replace(
        &mut *p.sup.lock().expect("supervisor lock"),
        Supervised::new(None),
    );
    sup.stop(&sd).await;
    let mut s = p.served.lock().await;
    if let Some(lb) = s.lb.take() {
        lb.shutdown().await;
    }
    let _ = std::fs::remove_file(kept_path(&sd));
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(pid_path(&sd));
    let _ = std::fs::remove_file(lock_path(&sd));
    drop(lock_file);
    Ok(())
}

/// Call the load balancer's process.
pub async fn request(
    state_dir: &Path,
    req: &ElbRequest,
) -> Result<serde_json::Value, ElbProcessError> {
    let sock = socket_path(state_dir);
    let io = |source| ElbProcessError::Socket {
        path: sock.clone(),
        source,
    };
    let stream = UnixStream::connect(&sock)
        .await
        .map_err(|_| ElbProcessError::NotRunning(sock.clone()))?;
    let (r, mut w) = stream.into_split();
    let body = serde_json::to_string(req).map_err(ElbProcessError::Request)?;
    w.write_all(format!("{body}\n").as_bytes())
        .await
        .map_err(io)?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await.map_err(io)?;
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(ElbProcessError::Protocol)?;
    match v.get("error").and_then(|e| e.as_str()) {
        Some(e) => Err(ElbProcessError::Refused(e.to_string())),
        None => Ok(v),
    }
}

/// [`ElbRequest::Configure`]: the load balancer's view after it.
pub async fn configure(
    state_dir: &Path,
    elb: Option<ElbDesired>,
) -> Result<Option<ElbView>, ElbProcessError> {
    let v = request(state_dir, &ElbRequest::Configure { elb }).await?;
    serde_json::from_value(v).map_err(ElbProcessError::Protocol)
}

/// [`ElbRequest::Register`].
pub async fn register(state_dir: &Path, instances: Vec<Instance>) -> Result<(), ElbProcessError> {
    request(state_dir, &ElbRequest::Register { instances })
        .await
        .map(|_| ())
}

/// [`ElbRequest::FailChecks`]: whether the instance was registered.
pub async fn fail_checks(
    state_dir: &Path,
    id: &str,
    addr: std::net::SocketAddr,
    span: Duration,
) -> Result<bool, ElbProcessError> {
    let req = ElbRequest::FailChecks {
        id: id.to_string(),
        addr,
        span_ms: span.as_millis() as u64,
    };
    let v = request(state_dir, &req).await?;
    Ok(v.get("hit").and_then(|h| h.as_bool()).unwrap_or(false))
}

/// [`ElbRequest::Status`].
pub async fn status(state_dir: &Path) -> Result<ElbProcessStatus, ElbProcessError> {
    let v = request(state_dir, &ElbRequest::Status).await?;
    serde_json::from_value(v).map_err(ElbProcessError::Protocol)
}
