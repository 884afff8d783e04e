//! The simulated classic ELB's proxy overhead against a fast backend: the same
//! closed-loop load (a fixed number of concurrent clients, each sending its
//! next request when the previous answer has been read) sent straight to a
//! minimal HTTP server, then through `chronous_sim::elb::LoadBalancer` in
//! front of it; with a new connection per request (`Connection: close`, as
//! `ab` without `-k`) and with keep-alive connections.
//!
//! Run: `cargo bench -p chronous-sim --bench elb_proxy`
//!
//! Three processes, as in the simulator: the load generator (this process),
//! the backend and the proxy (this executable again, as children; the proxy
//! on a two-worker multi-thread runtime like the controller's). The proxy can
//! be another build of this bench, to measure the debug build `scripts/up.sh`
//! makes: `BENCH_PROXY_EXE=$(cargo bench --profile dev -p chronous-sim --bench
//! elb_proxy --no-run --message-format=json | ...)`; see BENCHMARKS.md.
//!
//! Environment knobs: `BENCH_CONCURRENCY` (4), `BENCH_SECS` per measurement
//! (5), `BENCH_WARMUP_SECS` (1), `BENCH_RUNS` (3), `BENCH_MODES`
//! (`close,keepalive`), `BENCH_PROXY_EXE` (this executable),
//! `BENCH_REUSE` (`true`, the default of `Options::reuse_connections`; `false`: a new connection per request),
//! `BENCH_BODY_BYTES` of the backend's answer (64), `BENCH_BACKEND_WORKERS` (2),
//! `BENCH_CLIENT_WORKERS` (2), `BENCH_PROXY_WORKERS` (2).

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronous_sim::elb::{HealthCheck, Instance, LoadBalancer, Options, State};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    }
    .enable_all()
    .build()
    .expect("tokio runtime")
}

/// Print the address for the parent, then serve (on `rt`, whichever its
/// flavour) until the parent closes our stdin.
fn announce_and_wait(rt: &tokio::runtime::Runtime, addr: SocketAddr) {
    println!("{addr}");
    std::io::stdout().flush().expect("stdout");
    rt.block_on(async {
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        })
        .await;
    });
}

/// The fast backend: a hyper HTTP/1.1 server answering every request with a fixed body.
fn backend() {
    let rt = runtime(env_or("BENCH_BACKEND_WORKERS", 2));
    let body = Bytes::from(vec![b'x'; env_or("BENCH_BODY_BYTES", 64usize)]);
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind the backend");
    let addr = listener.local_addr().expect("backend address");
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        let mut r = Response::new(Full::new(body));
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    announce_and_wait(&rt, addr);
}

/// The proxy under test, the backend registered and InService.
fn proxy(backend: SocketAddr) {
    let rt = runtime(env_or("BENCH_PROXY_WORKERS", 2));
    let lb = rt.block_on(async {
        // The seed's check (HTTP, every 30 s, healthy after 10) at the demos' time scale 30.
        let hc = HealthCheck {
            target: "HTTP:80/".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(166),
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        };
        let opts = Options {
            reuse_connections: env_or("BENCH_REUSE", true),
            ..Options::default()
        };
        let lb = LoadBalancer::start_with("127.0.0.1:0".parse().unwrap(), hc, opts)
            .await
            .expect("start the load balancer");
        lb.set_instances_restoring(vec![Instance::new("i-bench", backend)], &[backend]);
        assert_eq!(lb.health()[0].state, State::InService);
        lb
    });
    announce_and_wait(&rt, lb.local_addr());
    rt.block_on(lb.shutdown());
}

/// A child process of this executable (or `exe`) in `role`; its address.
fn spawn_child(exe: &std::path::Path, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("child stdout"))
        .read_line(&mut line)
        .expect("child address");
    let addr = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{args:?} printed {line:?}, not an address"));
    (child, addr)
}

/// CPU time (user + system) a process has used so far.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn self_cpu() -> Duration {
    cpu_of(std::process::id())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Close,
    KeepAlive,
}

fn request(addr: SocketAddr, close: bool) -> Request<Empty<Bytes>> {
    let mut b = Request::get("/gettoken")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::USER_AGENT, "elb-bench");
    if close {
        b = b.header(hyper::header::CONNECTION, "close");
    }
    b.body(Empty::new()).expect("request")
}

/// One client: requests until `stop`, latencies of those started after `measure_from`.
async fn client(
    addr: SocketAddr,
    mode: Mode,
    measure_from: Instant,
    stop: Arc<AtomicBool>,
) -> Result<Vec<u32>, String> {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut keep: Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> = None;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let mut sender = match keep.take() {
            Some(s) => s,
            None => {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let _ = stream.set_nodelay(true);
                let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(conn);
                s
            }
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = sender
            .send_request(request(addr, mode == Mode::Close))
            .await
            .map_err(|e| format!("request: {e}"))?;
        if resp.status() != 200 {
            return Err(format!("HTTP {}", resp.status()));
        }
        resp.into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?;
        if mode == Mode::KeepAlive {
            keep = Some(sender);
        }
        if t0 >= measure_from {
            lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
    }
    Ok(lat)
}

struct Measured {
    rps: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
    /// CPU per request of the load generator, the backend and the proxy.
    cpu_per_req: [Duration; 3],
}

struct Bench {
    rt: tokio::runtime::Runtime,
    concurrency: usize,
    warmup: Duration,
    secs: Duration,
    backend_pid: u32,
    proxy_pid: u32,
}

impl Bench {
    fn measure(&self, addr: SocketAddr, mode: Mode) -> Measured {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let measure_from = start + self.warmup;
        let clients: Vec<_> = (0..self.concurrency)
            .map(|_| {
                self.rt
                    .spawn(client(addr, mode, measure_from, stop.clone()))
            })
            .collect();
        // Slept on the runtime, so that a current-thread one runs the clients meanwhile.
        self.rt
            .block_on(async { tokio::time::sleep_until(measure_from.into()).await });
        let cpu0 = [self_cpu(), cpu_of(self.backend_pid), cpu_of(self.proxy_pid)];
        self.rt
            .block_on(async { tokio::time::sleep(self.secs).await });
        let cpu1 = [self_cpu(), cpu_of(self.backend_pid), cpu_of(self.proxy_pid)];
        stop.store(true, Ordering::Relaxed);
        let elapsed = measure_from.elapsed();
        let mut lat: Vec<u32> = Vec::new();
        for c in clients {
            match self.rt.block_on(c).expect("client task") {
                Ok(l) => lat.extend(l),
                Err(e) => panic!("a request to {addr} failed: {e}"),
            }
        }
        lat.sort_unstable();
        let q = |p: f64| {
            Duration::from_micros(u64::from(
                lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)],
            ))
        };
        let n = lat.len().max(1) as u32;
        Measured {
            rps: lat.len() as f64 / elapsed.as_secs_f64(),
            p50: q(0.50),
            p99: q(0.99),
            requests: lat.len(),
            cpu_per_req: [0, 1, 2].map(|i| (cpu1[i] - cpu0[i]) / n),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn driver() {
    let me = std::env::current_exe().expect("own executable");
    let proxy_exe = std::env::var_os("BENCH_PROXY_EXE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| me.clone());
    let runs: usize = env_or("BENCH_RUNS", 3);
    let modes: Vec<Mode> = std::env::var("BENCH_MODES")
        .unwrap_or_else(|_| "close,keepalive".into())
        .split(',')
        .map(|m| match m.trim() {
            "close" => Mode::Close,
            "keepalive" => Mode::KeepAlive,
            other => panic!("BENCH_MODES: unknown mode {other:?} (close, keepalive)"),
        })
        .collect();
    let (mut backend, backend_addr) = spawn_child(&me, &["backend"]);
    let backend_s = backend_addr.to_string();
    let (mut proxy, proxy_addr) = spawn_child(&proxy_exe, &["proxy", &backend_s]);
    let bench = Bench {
        rt: runtime(env_or("BENCH_CLIENT_WORKERS", 2)),
        concurrency: env_or("BENCH_CONCURRENCY", 4),
        warmup: Duration::from_secs_f64(env_or("BENCH_WARMUP_SECS", 1.0)),
        secs: Duration::from_secs_f64(env_or("BENCH_SECS", 5.0)),
        backend_pid: backend.id(),
        proxy_pid: proxy.id(),
    };
    println!(
        "elb_proxy: concurrency {}, {} s per measurement after {} s warm-up, {runs} runs; proxy {}",
        bench.concurrency,
        bench.secs.as_secs_f64(),
        bench.warmup.as_secs_f64(),
        proxy_exe.display()
    );
    println!("mode       run target  req/s    p50 ms  p99 ms  requests  cpu/req us (client backend proxy)");
    for mode in modes {
        let name = if mode == Mode::Close {
            "close"
        } else {
            "keepalive"
        };
        let mut ratios = Vec::new();
        let mut p99_deltas = Vec::new();
        for run in 1..=runs {
            let d = bench.measure(backend_addr, mode);
            let e = bench.measure(proxy_addr, mode);
            for (target, m) in [("direct", &d), ("elb", &e)] {
                println!(
                    "{name:<10} {run:>3} {target:<7} {:>7.0}  {:>6}  {:>6}  {:>8}  {} {} {}",
                    m.rps,
                    ms(m.p50),
                    ms(m.p99),
                    m.requests,
                    us(m.cpu_per_req[0]),
                    us(m.cpu_per_req[1]),
                    us(m.cpu_per_req[2]),
                );
            }
            ratios.push(e.rps / d.rps);
            p99_deltas.push((e.p99.as_secs_f64() - d.p99.as_secs_f64()) * 1000.0);
        }
        println!(
            "{name}: elb/direct throughput median {:.3} (runs: {}), p99 elb - direct median {:+.2} ms (runs: {})",
            median(ratios.clone()),
            ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
            median(p99_deltas.clone()),
            p99_deltas.iter().map(|r| format!("{r:+.2}")).collect::<Vec<_>>().join(", "),
        );
    }
    drop(proxy.stdin.take());
    drop(backend.stdin.take());
    let _ = proxy.wait();
    let _ = backend.kill();
    let _ = backend.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("backend") => backend(),
        Some("proxy") => proxy(
            args.get(1)
                .and_then(|a| a.parse().ok())
                .expect("proxy BACKEND_ADDR"),
        ),
        // `cargo bench` passes `--bench`.
        _ => driver(),
    }
}
