//! A real HTTP load balancer standing in for a classic ELB.
//!
//! [`LoadBalancer::start`] listens on a local address, health-checks the
//! registered [`Instance`]s the way a classic ELB does and proxies every
//! request it receives to an InService instance, round-robin:
//!
//! * each instance is checked every `interval`, the first check right after
//!   registration; a check fails on a connection error, when it takes longer
//!   than `timeout`, or (for `HTTP:` targets) on any status but 200;
//! * the results drive core's classic-ELB health machine
//!   ([`chronous_core::elb_health`], the one the modelled runtime drives too):
//!   a new instance starts OutOfService ("Instance registration is still in
//!   progress.") and goes InService after `healthy_threshold` consecutive
//!   passes; an InService one goes OutOfService after `unhealthy_threshold`
//!   consecutive failures; every change of state is broadcast as a [`Transition`];
//! * with no InService instance the proxy answers 503, when the chosen
//!   instance refuses the connection or breaks it 502, and when it has not
//!   answered within [`Options::request_timeout`] 504. Requests carry
//!   `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` like a
//!   classic ELB's.
//!
//! The instance's address ([`Instance::addr`]) is where both the traffic and
//! the health checks go: the port of the health check target is validated but
//! stands for the instance port, which the simulator maps to `addr`.
//!
//! Time comes from tokio; nothing here prints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use chronous_core::elb_health::{Check, Health, HealthCheckError};
pub use chronous_core::elb_health::{HealthCheck, Reason, State};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What the load balancer refuses.
#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("health check target `{target}`: {reason}")]
    InvalidTarget { target: String, reason: String },
    #[error("health check target `{target}`: {protocol} health checks are not supported by the simulator (use HTTP:port/path or TCP:port)")]
    UnsupportedProtocol { target: String, protocol: String },
    #[error("invalid health check: {0}")]
    InvalidHealthCheck(#[from] HealthCheckError),
}

/// A parsed health check target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Http { port: u16, path: String },
    Tcp { port: u16 },
}

impl Target {
    /// Parse `HTTP:80/gettoken` or `TCP:80` (the protocol in any case).
    pub fn parse(target: &str) -> Result<Target, ElbError> {
        let invalid = |reason: &str| ElbError::InvalidTarget {
            target: target.to_string(),
            reason: reason.to_string(),
        };
        let (protocol, rest) = target
            .split_once(':')
            .ok_or_else(|| invalid("expected PROTOCOL:port, like HTTP:80/ or TCP:80"))?;
        let port_of = |s: &str| -> Result<u16, ElbError> {
            match s.parse::<u16>() {
                Ok(p) if p > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
                _ => Err(invalid("the port must be a number from 1 to 65535")),
            }
        };
        match protocol.to_ascii_uppercase().as_str() {
            "HTTP" => {
                let slash = rest.find('/').ok_or_else(|| {
                    invalid("an HTTP target needs a path, like HTTP:80/ or HTTP:80/health")
                })?;
                let (port, path) = rest.split_at(slash);
                if path
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                    || path.parse::<Uri>().is_err()
                {
                    return Err(invalid("the path is not a valid URL path"));
                }
                Ok(Target::Http {
                    port: port_of(port)?,
                    path: path.to_string(),
                })
            }
            "TCP" => Ok(Target::Tcp {
                port: port_of(rest)?,
            }),
            "HTTPS" | "SSL" => Err(ElbError::UnsupportedProtocol {
                target: target.to_string(),
                protocol: protocol.to_ascii_uppercase(),
            }),
            _ => Err(invalid("the protocol must be HTTP, HTTPS, TCP or SSL")),
        }
    }
}

/// Check the settings of a health check (`HTTPS:` and `SSL:` targets are
/// refused) and parse its target.
pub fn validate(hc: &HealthCheck) -> Result<Target, ElbError> {
    let target = Target::parse(&hc.target)?;
    hc.validate_timings()?;
    Ok(target)
}

/// A registered instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// The instance id, e.g. `i-0abc`.
    pub id: String,
    /// Where the instance port is reached (`127.0.0.1:port`).
    pub addr: SocketAddr,
}

impl Instance {
    pub fn new(id: impl Into<String>, addr: SocketAddr) -> Instance {
        Instance {
            id: id.into(),
            addr,
        }
    }
}

/// One row of `DescribeInstanceHealth`, plus the check counters.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct InstanceHealth {
    pub id: String,
    pub addr: SocketAddr,
    pub state: State,
    /// Serialized as AWS's description.
    pub reason: Reason,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// Why the last check failed, while the checks are failing.
    pub last_error: Option<String>,
}

/// An instance changed state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Transition {
    pub id: String,
    pub from: State,
    pub to: State,
    pub at: SystemTime,
}

/// Settings beyond the health check.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the proxy waits for an instance's response head before it answers 504.
    pub request_timeout: Duration,
    /// How long [`LoadBalancer::shutdown`] lets requests in flight finish.
    pub shutdown_grace: Duration,
    /// Keep connections to the instances open and reuse them, as a classic
    /// ELB does (on by default). An instance that writes a response's head
    /// and body in two small writes without `TCP_NODELAY` then waits about
    /// 40 ms per reused request (Nagle's algorithm against the peer's delayed
    /// ACK), here as behind a real ELB; the seed's app sets `TCP_NODELAY`
    /// (see BENCHMARKS.md).
    pub reuse_connections: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            reuse_connections: true,
        }
    }
}

struct ActiveCheck {
    hc: HealthCheck,
    target: Target,
}

struct Entry {
    id: String,
    addr: SocketAddr,
    /// Unique per registration, so a stale checker never updates a re-registration.
    generation: u64,
    health: Health,
    /// Restored from the state the load balancer kept (see
    /// [`LoadBalancer::set_instances_restoring`]): InService again at its first passing check.
    restoring: bool,
    last_error: Option<String>,
    /// An injected fault: every check fails until then (`chronous sim fault failing-health`).
    fail_until: Option<Instant>,
    checker: JoinHandle<()>,
}

#[derive(Default)]
struct Registry {
    entries: Vec<Entry>,
    next_generation: u64,
}

struct Inner {
    listen_port: u16,
    opts: Options,
    runtime: tokio::runtime::Handle,
    check: Mutex<Arc<ActiveCheck>>,
    /// Bumped on every `set_health_check`, so the checkers re-read their interval.
    check_changed: watch::Sender<u64>,
    registry: Mutex<Registry>,
    round_robin: AtomicUsize,
    events: broadcast::Sender<Transition>,
    /// Idle keep-alive connections to the instances.
    pool: Pool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A wall-clock time as the health machine's milliseconds.
fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Inner {
    fn current_check(&self) -> Arc<ActiveCheck> {
        lock(&self.check).clone()
    }

    /// Record a check of the registration `generation`; false when it is no longer registered.
    fn record(&self, generation: u64, result: Result<(), String>, hc: &HealthCheck) -> bool {
        let mut reg = lock(&self.registry);
        let Some(e) = reg.entries.iter_mut().find(|e| e.generation == generation) else {
            return false;
        };
        let result = match e.fail_until {
            Some(until) if Instant::now() < until => {
                Err("injected fault: the health checks of this instance fail".to_string())
            }
            _ => result,
        };
        let check = if result.is_ok() {
            Check::Pass
        } else {
            Check::Fail
        };
        e.last_error = result.err();
        let now = SystemTime::now();
        if std::mem::take(&mut e.restoring) && check == Check::Pass {
            let from = e.health.state();
            e.health = Health::restored(millis(now), hc.thresholds());
            if from != State::InService {
                let _ = self.events.send(Transition {
                    id: e.id.clone(),
                    from,
                    to: State::InService,
                    at: now,
                });
            }
            return true;
        }
        let changed = e.health.record(millis(now), check, hc.thresholds());
        if let Some(t) = changed.filter(|t| t.state_changed()) {
            // Sent under the lock, so subscribers see transitions in order.
            let _ = self.events.send(Transition {
                id: e.id.clone(),
                from: t.from.state(),
                to: t.to.state(),
                at: now,
            });
        }
        true
    }

    /// The next InService instance, round-robin.
    fn pick(&self) -> Option<SocketAddr> {
        let reg = lock(&self.registry);
        let n = reg
            .entries
            .iter()
            .filter(|e| e.health.state() == State::InService)
            .count();
        if n == 0 {
            return None;
        }
        let k = self.round_robin.fetch_add(1, Ordering::Relaxed) % n;
        reg.entries
            .iter()
            .filter(|e| e.health.state() == State::InService)
            .nth(k)
            .map(|e| e.addr)
    }
}

/// The health checker of one registration: runs until it is aborted or the
/// registration is gone. Holds no lock across an await.
async fn checker(inner: Arc<Inner>, addr: SocketAddr, generation: u64) {
    let mut changed = inner.check_changed.subscribe();
    loop {
        let started = Instant::now();
        let check = inner.current_check();
        let result = run_check(&check.target, addr, check.hc.timeout).await;
        if !inner.record(generation, result, &check.hc) {
            return;
        }
        // Wait out the interval, re-reading it when the health check changes.
        loop {
            let deadline = started + inner.current_check().hc.interval;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                r = changed.changed() => if r.is_err() { return },
            }
        }
    }
}

/// One health check: `Ok` when it passes, else why it failed.
pub async fn run_check(target: &Target, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, probe(target, addr)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the health check timed out after {} ms",
            timeout.as_millis()
        )),
    }
}

async fn probe(target: &Target, addr: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let path = match target {
        Target::Tcp { .. } => return Ok(()),
        Target::Http { path, .. } => path,
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    let req = Request::get(path.as_str())
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, "ELB-HealthChecker/1.0")
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| format!("cannot build the health check request: {e}"))?;
    let send = sender.send_request(req);
    tokio::pin!(conn, send);
    let resp = tokio::select! {
        biased;
        r = &mut send => r,
        // The connection ended: the request has its answer or its error by now.
        _ = &mut conn => send.await,
    }
    .map_err(|e| format!("the health check request to {addr} failed: {e}"))?;
    if resp.status() == StatusCode::OK {
        Ok(())
    } else {
        Err(format!(
            "the health check answered HTTP {}",
            resp.status().as_u16()
        ))
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(msg.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Headers that belong to one hop and are not forwarded.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for h in named {
        headers.remove(h);
    }
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    for h in [
        header::CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(h);
    }
}

enum ForwardError {
    Connect,
    Http,
}

/// How long an idle connection to an instance is kept for reuse (a classic
/// ELB's default idle timeout).
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Idle connections kept per instance address; more are closed.
const POOL_MAX_IDLE: usize = 64;

type Sender = hyper::client::conn::http1::SendRequest<Incoming>;

/// Keep-alive connections to the instances, reused across requests as a
/// classic ELB reuses its back-end connections. A connection is idle here
/// only between the end of one response body and the next request; one whose
/// response was not read to the end is closed, not reused.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<(SocketAddr, Instant, Sender)>>,
}

impl Pool {
    /// The most recently used idle connection to `addr` that is still open.
    fn take(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = lock(&self.idle);
        let now = Instant::now();
        idle.retain(|(_, since, s)| !s.is_closed() && now.duration_since(*since) < POOL_IDLE);
        let pos = idle.iter().rposition(|(a, _, _)| *a == addr)?;
        Some(idle.remove(pos).2)
    }

    fn put(&self, addr: SocketAddr, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.iter().filter(|(a, _, _)| *a == addr).count() < POOL_MAX_IDLE {
            idle.push((addr, Instant::now(), sender));
        }
    }
}

/// A response body from an instance; when it has been read to the end its
/// connection goes back to the pool.
struct PooledBody {
    body: Incoming,
    /// The body reported its end (a chunked body's end is known only so).
    done: bool,
    back: Option<(Arc<Inner>, SocketAddr, Sender)>,
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let frame = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(None) = frame {
            self.done = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some((inner, addr, sender)) = self.back.take() {
            if self.done || hyper::body::Body::is_end_stream(&self.body) {
                inner.pool.put(addr, sender);
            }
        }
    }
}

/// Send `req` to `addr` on an idle pooled connection, or on a new one. A
/// request that a pooled connection could not send (it was closed meanwhile)
/// goes on the next one; a request that was sent is never sent twice.
async fn forward(
    inner: &Arc<Inner>,
    addr: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<PooledBody>, ForwardError> {
    while let Some(mut sender) = inner
        .opts
        .reuse_connections
        .then(|| inner.pool.take(addr))
        .flatten()
    {
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => return Ok(pooled(inner, addr, sender, resp)),
            Err(mut e) => match e.take_message() {
                Some(r) => req = r,
                None => return Err(ForwardError::Http),
            },
        }
    }
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| ForwardError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ForwardError::Http)?;
    // The connection task ends when the instance or the pool closes it, or
    // when a request on it is abandoned (a 504 drops it).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|_| ForwardError::Http)?;
    Ok(pooled(inner, addr, sender, resp))
}

fn pooled(
    inner: &Arc<Inner>,
    addr: SocketAddr,
    sender: Sender,
    resp: Response<Incoming>,
) -> Response<PooledBody> {
    let back = inner
        .opts
        .reuse_connections
        .then(|| (inner.clone(), addr, sender));
    resp.map(|body| PooledBody {
        body,
        done: false,
        back,
    })
}

async fn proxy(
    inner: Arc<Inner>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let Some(addr) = inner.pick() else {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: no healthy instances\n",
        ));
    };
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Like a classic ELB: the client's address is appended to X-Forwarded-For.
    let client = peer.ip().to_string();
    let previous: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let xff = if previous.is_empty() {
        client
    } else {
        format!("{}, {client}", previous.join(", "))
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    parts
        .headers
        .insert("x-forwarded-port", HeaderValue::from(inner.listen_port));
    if !parts.headers.contains_key(header::HOST) {
        if let Some(a) = parts.uri.authority() {
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                parts.headers.insert(header::HOST, v);
            }
        }
    }
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        // Absolute form: the instance gets the origin form.
        parts.uri = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
    }
    parts.version = Version::HTTP_11;
    let req = Request::from_parts(parts, body);
    let resp =
        match tokio::time::timeout(inner.opts.request_timeout, forward(&inner, addr, req)).await {
            Err(_) => {
                return Ok(text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "504 Gateway Timeout: the instance did not answer in time\n",
                ))
            }
            Ok(Err(ForwardError::Connect)) => {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    "502 Bad Gateway: cannot connect to the instance\n",
                ))
            }
            Ok(Err(ForwardError::Http)) => {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    "502 Bad Gateway: the instance closed the connection\n",
                ))
            }
            Ok(Ok(r)) => r,
        };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Serve the listener on a thread of its own with a single-threaded runtime,
/// until `stop`: the proxy's requests then never hop between worker threads
/// (less CPU per request and a shorter tail than on the caller's multi-thread
/// runtime), and a busy caller does not delay them. The health checks stay on
/// the caller's runtime. Falls back to the caller's runtime if no thread can
/// be had.
async fn accept_loop(listener: TcpListener, inner: Arc<Inner>, stop: watch::Receiver<bool>) {
    let Ok(std_listener) = listener.into_std() else {
        return;
    };
    // Kept until the thread serves, to serve here if it cannot.
    let fallback = std_listener.try_clone();
    let (started, serving) = tokio::sync::oneshot::channel::<()>();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let (i, s) = (inner.clone(), stop.clone());
    let _ = std::thread::Builder::new()
        .name("chronous-elb".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(listener) = TcpListener::from_std(std_listener) {
                    let _ = started.send(());
                    serve(listener, i, s).await;
                }
            });
            let _ = done.send(());
        });
    if serving.await.is_ok() {
        drop(fallback);
        let _ = finished.await;
        return;
    }
    if let Ok(listener) = fallback.and_then(TcpListener::from_std) {
        serve(listener, inner, stop).await;
    }
}

async fn serve(listener: TcpListener, inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(_) => {
                        // Out of descriptors or the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let inner = inner.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| proxy(inner.clone(), peer, req));
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let grace = inner.opts.shutdown_grace;
    let _ = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    // Idle connections to the instances close with the load balancer.
    lock(&inner.pool.idle).clear();
}

/// A running load balancer. Dropping it stops it too, without waiting.
pub struct LoadBalancer {
    inner: Arc<Inner>,
    local: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl LoadBalancer {
    /// Listen on `listen` (127.0.0.1:0 for any port) and start health checking,
    /// with the default [`Options`]. Must be called within a tokio runtime.
    pub async fn start(listen: SocketAddr, hc: HealthCheck) -> Result<LoadBalancer, ElbError> {
        LoadBalancer::start_with(listen, hc, Options::default()).await
    }

    /// [`LoadBalancer::start`] with other [`Options`].
    pub async fn start_with(
        listen: SocketAddr,
        hc: HealthCheck,
        opts: Options,
    ) -> Result<LoadBalancer, ElbError> {
        let target = validate(&hc)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ElbError::Bind {
                addr: listen,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ElbError::Bind {
            addr: listen,
            source,
        })?;
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            listen_port: local.port(),
            opts,
            runtime: tokio::runtime::Handle::current(),
            check: Mutex::new(Arc::new(ActiveCheck { hc, target })),
            check_changed: watch::channel(0).0,
            registry: Mutex::new(Registry::default()),
            round_robin: AtomicUsize::new(0),
            events,
            pool: Pool::default(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, inner.clone(), stop_rx));
        Ok(LoadBalancer {
            inner,
            local,
            stop,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Register exactly these instances, in this (round-robin) order. An
    /// instance already registered with the same id and address keeps its
    /// state; a new one (or one whose address changed) starts OutOfService,
    /// "registration in progress", and is checked at once; the ones left out
    /// stop receiving new requests at once (requests in flight finish). Of
    /// repeated ids the first counts.
    pub fn set_instances(&self, instances: Vec<Instance>) {
        self.set_instances_restoring(instances, &[]);
    }

    /// As [`LoadBalancer::set_instances`], except that the new registrations
    /// at `in_service` addresses are the ones that were InService in the
    /// state the load balancer kept across a restart of its process (a real
    /// ELB keeps its state): each goes InService again at its first passing
    /// check, without waiting out HealthyThreshold; a failing first check
    /// leaves it to the usual thresholds. None is served before a check passes.
    pub fn set_instances_restoring(&self, instances: Vec<Instance>, in_service: &[SocketAddr]) {
        let now = millis(SystemTime::now());
        let mut reg = lock(&self.inner.registry);
        let mut old = std::mem::take(&mut reg.entries);
        let mut entries: Vec<Entry> = Vec::with_capacity(instances.len());
        for inst in instances {
            if entries.iter().any(|e| e.id == inst.id) {
                continue;
            }
            if let Some(pos) = old
                .iter()
                .position(|e| e.id == inst.id && e.addr == inst.addr)
            {
                entries.push(old.remove(pos));
                continue;
            }
            let generation = reg.next_generation;
            reg.next_generation += 1;
            let checker =
                self.inner
                    .runtime
                    .spawn(checker(self.inner.clone(), inst.addr, generation));
            entries.push(Entry {
                restoring: in_service.contains(&inst.addr),
                id: inst.id,
                addr: inst.addr,
                generation,
                health: Health::registered(now),
                last_error: None,
                fail_until: None,
                checker,
            });
        }
        for e in old {
            e.checker.abort();
        }
        reg.entries = entries;
    }

    /// The registered instances, in registration order.
    pub fn health(&self) -> Vec<InstanceHealth> {
        lock(&self.inner.registry)
            .entries
            .iter()
            .map(|e| InstanceHealth {
                id: e.id.clone(),
                addr: e.addr,
                state: e.health.state(),
                reason: e.health.reason(),
                consecutive_ok: e.health.consecutive_ok(),
                consecutive_fail: e.health.consecutive_fail(),
                last_error: e.last_error.clone(),
            })
            .collect()
    }

    /// Make every health check of the registered instance `id` at `addr`
    /// fail for `span` from now (a fault injected by `chronous sim fault
    /// failing-health`): it goes OutOfService after UnhealthyThreshold checks
    /// and back InService after HealthyThreshold passes from then. False when
    /// no such instance is registered.
    pub fn fail_checks(&self, id: &str, addr: SocketAddr, span: Duration) -> bool {
        let until = Instant::now() + span;
        let mut reg = lock(&self.inner.registry);
        match reg
            .entries
            .iter_mut()
            .find(|e| e.id == id && e.addr == addr)
        {
            Some(e) => {
                e.fail_until = Some(until);
                true
            }
            None => false,
        }
    }

    /// Every state change from now on. The channel keeps the last 1,024; a
    /// slower receiver gets `Lagged`. It closes when the load balancer stops.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.inner.events.subscribe()
    }

    /// The health check in force.
    pub fn health_check(&self) -> HealthCheck {
        self.inner.current_check().hc.clone()
    }

    /// Replace the health check: it takes effect at each instance's next
    /// check (a shorter interval shortens the wait already under way). The
    /// counters and states are kept.
    pub fn set_health_check(&self, hc: HealthCheck) -> Result<(), ElbError> {
        let target = validate(&hc)?;
        *lock(&self.inner.check) = Arc::new(ActiveCheck { hc, target });
        self.inner.check_changed.send_modify(|v| *v += 1);
        Ok(())
    }

    /// Stop: no more connections are accepted and the health checks stop;
    /// requests in flight get [`Options::shutdown_grace`] to finish (idle
    /// keep-alive connections are closed at once), then the rest are cut.
    pub async fn shutdown(mut self) {
        self.stop_checkers();
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    fn stop_checkers(&self) {
        let mut reg = lock(&self.inner.registry);
        for e in reg.entries.drain(..) {
            e.checker.abort();
        }
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        self.stop_checkers();
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU8;
    use std::time::Instant as StdInstant;

    const OK: u8 = 0;
    const FAIL: u8 = 1; // 500 to everything
    const HANG: u8 = 2; // accepts, never answers
    const HANG_REQUESTS: u8 = 3; // health checks pass, other requests never answered

    /// A test instance: answers 200 on /gettoken and echoes other requests.
    struct Backend {
        addr: SocketAddr,
        mode: Arc<AtomicU8>,
        accept: JoinHandle<()>,
    }

    impl Backend {
        async fn start(name: &'static str) -> Backend {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mode = Arc::new(AtomicU8::new(OK));
            let m = mode.clone();
            let accept = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let m = m.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                            let m = m.clone();
                            async move {
                                let mode = m.load(Ordering::SeqCst);
                                let health = req.uri().path() == "/gettoken";
                                if mode == HANG || (mode == HANG_REQUESTS && !health) {
                                    std::future::pending::<()>().await;
                                }
                                let h = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or("-")
                                        .to_string()
                                };
                                let head = format!(
                                    "{name} {} {} xff={} proto={} port={} host={}",
                                    req.method(),
                                    req.uri(),
                                    h("x-forwarded-for"),
                                    h("x-forwarded-proto"),
                                    h("x-forwarded-port"),
                                    h("host")
                                );
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let (status, text) = match (mode, health) {
                                    (FAIL, _) => (500, "error".to_string()),
                                    (_, true) => (200, "token".to_string()),
                                    _ => (
                                        200,
                                        format!("{head} body={}", String::from_utf8_lossy(&body)),
                                    ),
                                };
                                let mut r = Response::new(Full::new(Bytes::from(text)));
                                *r.status_mut() = StatusCode::from_u16(status).unwrap();
                                Ok::<_, Infallible>(r)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            Backend { addr, mode, accept }
        }

        fn set(&self, mode: u8) {
            self.mode.store(mode, Ordering::SeqCst);
        }

        /// Stop accepting: new connections are refused.
        async fn stop(&self) {
            self.accept.abort();
            while TcpStream::connect(self.addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    fn hc(
        target: &str,
        interval_ms: u64,
        timeout_ms: u64,
        healthy: u32,
        unhealthy: u32,
    ) -> HealthCheck {
        HealthCheck {
            target: target.into(),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
    }

    async fn lb(check: HealthCheck) -> LoadBalancer {
        LoadBalancer::start("127.0.0.1:0".parse().unwrap(), check)
            .await
            .unwrap()
    }

    /// One request on a new connection: status and body.
    async fn request(
        lb: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let stream = TcpStream::connect(lb).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "elb.test");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = sender
            .send_request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn get(lb: SocketAddr, path: &str) -> (u16, String) {
        request(lb, "GET", path, &[], "").await
    }

    /// The next transition of `id`, within `limit`.
    async fn transition(
        rx: &mut broadcast::Receiver<Transition>,
        id: &str,
        to: State,
        limit: Duration,
    ) -> Transition {
        tokio::time::timeout(limit, async {
            loop {
                let t = rx.recv().await.unwrap();
                if t.id == id {
                    assert_eq!(t.to, to, "unexpected transition {t:?}");
                    return t;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{id} did not go {to:?} within {limit:?}"))
    }

    fn state_of(lb: &LoadBalancer, id: &str) -> InstanceHealth {
        lb.health().into_iter().find(|h| h.id == id).unwrap()
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[test]
    fn targets_parse_like_aws() {
        assert_eq!(
            Target::parse("HTTP:80/gettoken").unwrap(),
            Target::Http {
                port: 80,
                path: "/gettoken".into()
            }
        );
        assert_eq!(
            Target::parse("http:8080/").unwrap(),
            Target::Http {
                port: 8080,
                path: "/".into()
            }
        );
        assert_eq!(Target::parse("TCP:80").unwrap(), Target::Tcp { port: 80 });
        assert!(matches!(
            Target::parse("HTTPS:443/x"),
            Err(ElbError::UnsupportedProtocol { .. })
        ));
        assert!(matches!(
            Target::parse("SSL:443"),
            Err(ElbError::UnsupportedProtocol { .. })
        ));
        for bad in [
            "HTTP:80",
            "TCP:80/x",
            "TCP:0",
            "TCP:65536",
            "TCP:+80",
            "UDP:53",
            "80",
            "HTTP:/x",
            "HTTP:80/a b",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(ElbError::InvalidTarget { .. })),
                "{bad} was accepted"
            );
        }
        assert!(
            validate(&hc("TCP:80", 100, 100, 2, 2)).is_err(),
            "timeout must be less than the interval"
        );
        assert!(validate(&hc("TCP:80", 100, 50, 0, 2)).is_err());
        assert!(validate(&hc("TCP:80", 100, 50, 2, 2)).is_ok());
    }

    #[tokio::test]
    async fn start_refuses_an_invalid_health_check() {
        let err = LoadBalancer::start(
            "127.0.0.1:0".parse().unwrap(),
            hc("HTTPS:443/", 100, 50, 2, 2),
        )
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("not supported"), "{err}");
        let l = lb(hc("HTTP:80/gettoken", 100, 50, 2, 2)).await;
        assert!(l.set_health_check(hc("SSL:443", 100, 50, 2, 2)).is_err());
        assert_eq!(l.health_check().target, "HTTP:80/gettoken");
        l.shutdown().await;
    }

    /// (1) InService only after HealthyThreshold passes; 503 before, the instance's answer after.
    #[tokio::test]
    async fn a_restored_instance_is_in_service_at_its_first_passing_check_only() {
        let a = Backend::start("a").await;
        let dead: SocketAddr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        // A long interval: only the first check (at once) can run in this test.
        let l = lb(hc("HTTP:80/gettoken", 60_000, 500, 10, 2)).await;
        l.set_instances_restoring(
            vec![Instance::new("i-a", a.addr), Instance::new("i-b", dead)],
            &[a.addr, dead],
        );
        // Nothing served before a check passed.
        assert_eq!(state_of(&l, "i-a").state, State::OutOfService);
        let mut rx = l.subscribe();
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let h = state_of(&l, "i-a");
        assert_eq!((h.state, h.reason), (State::InService, Reason::InService));
        // The one whose first check failed waits out the usual thresholds.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let h = state_of(&l, "i-b");
        assert_eq!(h.state, State::OutOfService, "{h:?}");
        for _ in 0..5 {
            assert_eq!(get(l.local_addr(), "/").await.0, 200);
        }
    }

    #[tokio::test]
    async fn registration_needs_healthy_threshold_passes() {
        let b = Backend::start("a").await;
        let l = lb(hc("HTTP:80/gettoken", 50, 40, 3, 2)).await;
        let mut rx = l.subscribe();
        let (status, body) = get(l.local_addr(), "/").await;
        assert_eq!(
            (status, body.as_str()),
            (503, "503 Service Unavailable: no healthy instances\n")
        );

        let t0 = StdInstant::now();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        let h = state_of(&l, "i-a");
        assert_eq!(
            (h.state, h.reason),
            (State::OutOfService, Reason::RegistrationInProgress)
        );
        assert_eq!(get(l.local_addr(), "/").await.0, 503);
        let t = transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let took = t0.elapsed();
        assert_eq!(t.from, State::OutOfService);
        // The first check is at once, then two more a 50 ms interval apart.
        assert!(
            took >= Duration::from_millis(95),
            "InService after {took:?}, before 3 checks could pass"
        );
        assert!(
            took < Duration::from_millis(150 + 1500),
            "InService only after {took:?}"
        );
        let h = state_of(&l, "i-a");
        assert_eq!((h.state, h.reason), (State::InService, Reason::InService));
        assert!(h.consecutive_ok >= 3 && h.consecutive_fail == 0, "{h:?}");

        let (status, body) = get(l.local_addr(), "/hello?x=1").await;
        assert_eq!(status, 200);
        let port = l.local_addr().port();
        assert_eq!(
            body,
            format!("a GET /hello?x=1 xff=127.0.0.1 proto=http port={port} host=elb.test body=")
        );
        l.shutdown().await;
    }

    /// (2) 500s take it OutOfService after about UnhealthyThreshold intervals; it comes back.
    #[tokio::test]
    async fn failing_checks_take_it_out_and_passing_ones_bring_it_back() {
        let b = Backend::start("a").await;
        let l = lb(hc("HTTP:80/gettoken", 60, 40, 2, 3)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        assert_eq!(get(l.local_addr(), "/").await.0, 200);

        b.set(FAIL);
        let t0 = StdInstant::now();
        let t = transition(&mut rx, "i-a", State::OutOfService, LIMIT).await;
        let took = t0.elapsed();
        assert_eq!(t.from, State::InService);
        // The first failing check comes within an interval, then two more an interval apart.
        assert!(
            took >= Duration::from_millis(120 - 30),
            "OutOfService after {took:?}"
        );
        assert!(
            took <= Duration::from_millis(180 + 1500),
            "OutOfService only after {took:?}"
        );
        let h = state_of(&l, "i-a");
        assert_eq!(h.reason, Reason::FailedHealthChecks);
        assert!(h.consecutive_fail >= 3, "{h:?}");
        assert!(
            h.last_error.as_deref().unwrap_or("").contains("500"),
            "{h:?}"
        );
        assert_eq!(get(l.local_addr(), "/").await.0, 503);

        b.set(OK);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let h = state_of(&l, "i-a");
        assert_eq!((h.reason, h.last_error), (Reason::InService, None));
        assert_eq!(get(l.local_addr(), "/").await.0, 200);
        l.shutdown().await;
    }

    /// (3) Round-robin reaches both; when one dies, every request goes to the other.
    #[tokio::test]
    async fn round_robin_and_failover() {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let l = lb(hc("HTTP:80/gettoken", 50, 40, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![
            Instance::new("i-a", a.addr),
            Instance::new("i-b", b.addr),
        ]);
        let mut pending = vec!["i-a", "i-b"];
        while !pending.is_empty() {
            let t = tokio::time::timeout(LIMIT, rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t.to, State::InService);
            pending.retain(|id| *id != t.id);
        }
        let mut seen = (0, 0);
        for _ in 0..10 {
            let (status, body) = get(l.local_addr(), "/").await;
            assert_eq!(status, 200);
            if body.starts_with("a ") {
                seen.0 += 1
            } else if body.starts_with("b ") {
                seen.1 += 1
            }
        }
        assert_eq!(seen, (5, 5), "round-robin");

        b.stop().await;
        transition(&mut rx, "i-b", State::OutOfService, LIMIT).await;
        assert!(state_of(&l, "i-b")
            .last_error
            .unwrap()
            .contains("cannot connect"));
        for i in 0..200 {
            let (status, body) = get(l.local_addr(), "/").await;
            assert_eq!(status, 200, "request {i} failed: {body}");
            assert!(body.starts_with("a "), "request {i} went elsewhere: {body}");
        }
        l.shutdown().await;
    }

    /// A chosen instance that refuses the connection gets the client a 502.
    #[tokio::test]
    async fn refused_connection_is_502() {
        let b = Backend::start("a").await;
        // Long interval: the instance stays InService while it is down.
        let l = lb(hc("HTTP:80/gettoken", 10_000, 1_000, 1, 3)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        b.stop().await;
        let (status, body) = get(l.local_addr(), "/").await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(state_of(&l, "i-a").state, State::InService);
        l.shutdown().await;
    }

    /// (4) An instance that accepts but never answers fails its checks by timeout.
    #[tokio::test]
    async fn a_check_that_times_out_fails() {
        let b = Backend::start("a").await;
        b.set(HANG);
        let l = lb(hc("HTTP:80/gettoken", 60, 30, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        let deadline = StdInstant::now() + LIMIT;
        loop {
            let h = state_of(&l, "i-a");
            if h.consecutive_fail >= 2 {
                assert_eq!(
                    (h.state, h.reason),
                    (State::OutOfService, Reason::FailedHealthChecks)
                );
                assert!(
                    h.last_error.as_deref().unwrap_or("").contains("timed out"),
                    "{h:?}"
                );
                break;
            }
            assert!(StdInstant::now() < deadline, "no failed checks: {h:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Now from InService: a hang takes it out.
        b.set(OK);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        b.set(HANG);
        transition(&mut rx, "i-a", State::OutOfService, LIMIT).await;
        assert_eq!(get(l.local_addr(), "/").await.0, 503);
        l.shutdown().await;
    }

    /// A TCP check only needs the connection.
    #[tokio::test]
    async fn tcp_check_passes_on_connect() {
        let b = Backend::start("a").await;
        b.set(HANG);
        let l = lb(hc("TCP:80", 50, 30, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        b.stop().await;
        transition(&mut rx, "i-a", State::OutOfService, LIMIT).await;
        l.shutdown().await;
    }

    /// An instance slower than the request timeout gets the client a 504.
    #[tokio::test]
    async fn slow_instance_is_504() {
        let b = Backend::start("a").await;
        b.set(HANG_REQUESTS);
        let opts = Options {
            request_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        let l = LoadBalancer::start_with(
            "127.0.0.1:0".parse().unwrap(),
            hc("HTTP:80/gettoken", 50, 40, 2, 2),
            opts,
        )
        .await
        .unwrap();
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", b.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let t0 = StdInstant::now();
        let (status, _) = get(l.local_addr(), "/slow").await;
        assert_eq!(status, 504);
        assert!(
            t0.elapsed() >= Duration::from_millis(200) && t0.elapsed() < Duration::from_secs(3),
            "{:?}",
            t0.elapsed()
        );
        l.shutdown().await;
    }

    /// (5) An instance left out of set_instances gets no more traffic, at once.
    #[tokio::test]
    async fn deregistration_stops_traffic_at_once() {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let l = lb(hc("HTTP:80/gettoken", 50, 40, 2, 2)).await;
        let mut rx = l.subscribe();
        let both = vec![Instance::new("i-a", a.addr), Instance::new("i-b", b.addr)];
        l.set_instances(both.clone());
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        while state_of(&l, "i-b").state != State::InService {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        l.set_instances(vec![Instance::new("i-a", a.addr)]);
        assert_eq!(l.health().len(), 1);
        assert_eq!(
            state_of(&l, "i-a").state,
            State::InService,
            "a kept instance keeps its state"
        );
        for _ in 0..20 {
            let (status, body) = get(l.local_addr(), "/").await;
            assert_eq!(status, 200);
            assert!(body.starts_with("a "), "{body}");
        }
        // Registered again, it starts over.
        l.set_instances(both);
        let h = state_of(&l, "i-b");
        assert_eq!(
            (h.state, h.reason, h.consecutive_ok),
            (State::OutOfService, Reason::RegistrationInProgress, 0)
        );
        l.set_instances(vec![]);
        assert_eq!(get(l.local_addr(), "/").await.0, 503);
        l.shutdown().await;
    }

    /// Keep-alive from a client, forwarded headers, methods and bodies.
    #[tokio::test]
    async fn keep_alive_and_forwarded_request() {
        let a = Backend::start("a").await;
        let l = lb(hc("HTTP:80/gettoken", 50, 40, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", a.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let port = l.local_addr().port();

        let stream = TcpStream::connect(l.local_addr()).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        for i in 0..3 {
            let req = Request::post(format!("/items/{i}?q=z"))
                .header("host", "shop.test")
                .header("x-forwarded-for", "10.1.2.3")
                .header("connection", "keep-alive")
                .body(Full::new(Bytes::from(format!("payload-{i}"))))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                String::from_utf8_lossy(&body),
                format!("a POST /items/{i}?q=z xff=10.1.2.3, 127.0.0.1 proto=http port={port} host=shop.test body=payload-{i}")
            );
        }
        assert!(!conn.is_finished(), "the client connection was kept alive");
        drop(sender);
        l.shutdown().await;
    }

    /// A new health check applies at the next check, a shorter interval at once.
    #[tokio::test]
    async fn set_health_check_takes_effect() {
        let a = Backend::start("a").await;
        let l = lb(hc("HTTP:80/gettoken", 30_000, 1_000, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", a.addr)]);
        while state_of(&l, "i-a").consecutive_ok < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The second check would be 30 s away; the new interval cuts the wait.
        l.set_health_check(hc("HTTP:80/gettoken", 50, 40, 2, 2))
            .unwrap();
        transition(&mut rx, "i-a", State::InService, Duration::from_secs(2)).await;
        a.set(FAIL);
        transition(&mut rx, "i-a", State::OutOfService, LIMIT).await;
        l.shutdown().await;
    }

    /// Shutdown closes the listener and the event channel.
    #[tokio::test]
    async fn shutdown_stops_everything() {
        let a = Backend::start("a").await;
        let l = lb(hc("HTTP:80/gettoken", 50, 40, 2, 2)).await;
        let mut rx = l.subscribe();
        l.set_instances(vec![Instance::new("i-a", a.addr)]);
        transition(&mut rx, "i-a", State::InService, LIMIT).await;
        let addr = l.local_addr();
        // An idle keep-alive client connection does not hold shutdown up.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let resp = sender
            .send_request(
                Request::get("/")
                    .header("host", "x")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.into_body().collect().await;
        let t0 = StdInstant::now();
        l.shutdown().await;
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "shutdown took {:?}",
            t0.elapsed()
        );
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
        loop {
            match rx.recv().await {
                Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(_)) | Ok(_) => {}
            }
        }
    }
}

/// Reuse of the connections to the instances (a classic ELB keeps its
/// back-end connections open between requests).
#[cfg(test)]
mod pool_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn check() -> HealthCheck {
        // A long interval: only the first check, at registration, opens a connection.
        HealthCheck {
            target: "HTTP:80/gettoken".into(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
    }

    /// An ELB in front of `addr`, InService from the start.
    async fn elb_for(addr: SocketAddr) -> LoadBalancer {
        let l = LoadBalancer::start("127.0.0.1:0".parse().unwrap(), check())
            .await
            .unwrap();
        l.set_instances_restoring(vec![Instance::new("i-a", addr)], &[addr]);
        in_service(&l).await;
        l
    }

    /// Until the (restored) instance is InService again: at its first passing check.
    async fn in_service(l: &LoadBalancer) {
        for _ in 0..500 {
            if l.health().iter().all(|h| h.state == State::InService) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the instance did not go InService: {:?}", l.health());
    }

    /// A request on a new client connection (`Connection: close`, as `ab`): status and body.
    async fn get_close(lb: SocketAddr, path: &str) -> (u16, String) {
        let stream = TcpStream::connect(lb).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", "elb.test")
            .header("connection", "close")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// An HTTP/1.1 keep-alive instance counting the connections that carried
    /// a request other than the health check's.
    async fn counting_instance() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let traffic = Arc::new(AtomicUsize::new(0));
        let t = traffic.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let t = t.clone();
                let counted = Arc::new(std::sync::atomic::AtomicBool::new(false));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        if req.uri().path() != "/gettoken" && !counted.swap(true, Ordering::SeqCst)
                        {
                            t.fetch_add(1, Ordering::SeqCst);
                        }
                        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok")))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, traffic)
    }

    /// Requests one after the other, each on a new client connection, reach
    /// the instance on one connection.
    #[tokio::test]
    async fn connections_to_the_instance_are_reused() {
        let (addr, traffic) = counting_instance().await;
        let l = elb_for(addr).await;
        for i in 0..5 {
            assert_eq!(
                get_close(l.local_addr(), &format!("/r{i}")).await,
                (200, "ok".into())
            );
        }
        assert_eq!(
            traffic.load(Ordering::SeqCst),
            1,
            "connections opened to the instance"
        );
        l.shutdown().await;
    }

    /// With reuse off, every request has a connection of its own.
    #[tokio::test]
    async fn without_reuse_every_request_has_its_own_connection() {
        let (addr, traffic) = counting_instance().await;
        let opts = Options {
            reuse_connections: false,
            ..Options::default()
        };
        let l = LoadBalancer::start_with("127.0.0.1:0".parse().unwrap(), check(), opts)
            .await
            .unwrap();
        l.set_instances_restoring(vec![Instance::new("i-a", addr)], &[addr]);
        in_service(&l).await;
        for i in 0..3 {
            assert_eq!(
                get_close(l.local_addr(), &format!("/r{i}")).await,
                (200, "ok".into())
            );
        }
        assert_eq!(traffic.load(Ordering::SeqCst), 3);
        l.shutdown().await;
    }

    /// Concurrent requests open concurrent connections, which are then all reused.
    #[tokio::test]
    async fn concurrent_requests_get_their_own_connections() {
        let (addr, traffic) = counting_instance().await;
        let l = elb_for(addr).await;
        let lb = l.local_addr();
        for _ in 0..3 {
            let rounds: Vec<_> = (0..4)
                .map(|i| tokio::spawn(get_close(lb, if i % 2 == 0 { "/a" } else { "/b" })))
                .collect();
            for r in rounds {
                assert_eq!(r.await.unwrap().0, 200);
            }
        }
        let n = traffic.load(Ordering::SeqCst);
        assert!(
            (1..=4).contains(&n),
            "{n} connections for at most 4 requests at a time"
        );
        l.shutdown().await;
    }

    /// An instance that closes each connection after its answer (without
    /// saying so) never gets a client a 502: a closed idle connection is not
    /// used, and a request it could not send goes on a new one.
    #[tokio::test]
    async fn idle_connections_the_instance_closed_are_not_used() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    // Closed at once, without `Connection: close`.
                });
            }
        });
        let l = elb_for(addr).await;
        for i in 0..20 {
            let (status, body) = get_close(l.local_addr(), "/").await;
            assert_eq!((status, body.as_str()), (200, "ok"), "request {i}");
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        l.shutdown().await;
    }
}
