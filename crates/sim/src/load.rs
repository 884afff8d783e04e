//! A small load generator for rehearsals under real traffic: GET requests at a
//! steady rate against the simulated load balancer on loopback, bounded in
//! count and time, recording when requests failed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde::Serialize;
use tokio::sync::watch;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Must be a loopback address: load goes to this machine only.
    pub target: SocketAddr,
    pub path: String,
    /// Requests per second.
    pub rate: u32,
    /// Stop after this long, or when told to stop, or after `max_requests`.
    pub max_duration: Duration,
    pub max_requests: u64,
    pub timeout: Duration,
}

/// One failed request.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Milliseconds since the load started.
    pub at_ms: u64,
    /// The HTTP status, or 0 when no answer came.
    pub status: u16,
}

/// What the load saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: Vec<Failure>,
    /// Runs of consecutive failures as (first failure, last failure) in ms since start.
    pub failure_windows: Vec<(u64, u64)>,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load is only sent to loopback addresses, not {0}")]
    NotLoopback(SocketAddr),
}

async fn one(target: SocketAddr, path: &str, timeout: Duration) -> u16 {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(target).await.ok()?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
            .await
            .ok()?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", target.to_string())
            .body(Empty::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        Some(status)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Send load until `stop` turns true, the duration or the count runs out.
pub async fn run(
    cfg: LoadConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<LoadReport, LoadError> {
    if !cfg.target.ip().is_loopback() {
        return Err(LoadError::NotLoopback(cfg.target));
    }
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / cfg.rate.max(1) as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inflight = tokio::task::JoinSet::new();
    let mut report = LoadReport::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() || start.elapsed() >= cfg.max_duration || report.sent >= cfg.max_requests
        {
            break;
        }
        report.sent += 1;
        let (target, path, timeout) = (cfg.target, cfg.path.clone(), cfg.timeout);
        let sent_at = start.elapsed().as_millis() as u64;
        inflight.spawn(async move { (sent_at, one(target, &path, timeout).await) });
        while let Some(Ok(done)) = inflight.try_join_next() {
            record(&mut report, done);
        }
    }
    while let Some(Ok(done)) = inflight.join_next().await {
        record(&mut report, done);
    }
    report.failures.sort_by_key(|f| f.at_ms);
    // Failures closer than two request periods apart form one window.
    let gap = (period.as_millis() as u64 * 2).max(1);
    for f in &report.failures {
        match report.failure_windows.last_mut() {
            Some((_, end)) if f.at_ms <= *end + gap => *end = f.at_ms,
            _ => report.failure_windows.push((f.at_ms, f.at_ms)),
        }
    }
    report.duration_ms = start.elapsed().as_millis() as u64;
    Ok(report)
}

fn record(report: &mut LoadReport, (at_ms, status): (u64, u16)) {
    if status == 200 {
        report.ok += 1;
    } else {
        report.failed += 1;
        report.failures.push(Failure { at_ms, status });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_anything_but_loopback() {
        let (_tx, rx) = watch::channel(false);
        let cfg = LoadConfig {
            target: "10.2.0.1:80".parse().unwrap(),
            path: "/".into(),
            rate: 1,
            max_duration: Duration::from_millis(10),
            max_requests: 1,
            timeout: Duration::from_millis(10),
        };
        assert!(matches!(run(cfg, rx).await, Err(LoadError::NotLoopback(_))));
    }

    #[tokio::test]
    async fn counts_failures_against_a_closed_port_in_one_window() {
        // A port nothing listens on: every request fails.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap();
        drop(l);
        let (_tx, rx) = watch::channel(false);
        let cfg = LoadConfig {
            target,
            path: "/".into(),
            rate: 50,
            max_duration: Duration::from_millis(300),
            max_requests: 10,
            timeout: Duration::from_millis(200),
        };
        let r = run(cfg, rx).await.unwrap();
        assert_eq!(r.sent, 10);
        assert_eq!(r.failed, 10);
        assert_eq!(r.ok, 0);
        assert_eq!(r.failure_windows.len(), 1);
    }
}
