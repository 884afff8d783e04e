//! The simulated ELB does not depend on the controller (the ECS scheduler), as
//! AWS's does not: `kill -9` of the controller under load loses no request
//! to an InService task, and the controller comes back by itself, without a
//! chronous command. Everything killed comes back with one command; destroy
//! leaves no process, socket or pid file behind.
//! Health checks run 30 times faster than AWS's (see `common::Env::docker`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{http_get, labelled, Env};

fn pid_of(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // A zombie (killed, not yet reaped by its parent) is not alive.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().to_string()))
        .is_some_and(|r| !r.starts_with('Z'))
}

fn kill9(pid: i32) {
    let s = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(s.success(), "kill -9 {pid}");
}

/// The controller answers a status request on its socket (no chronous command involved).
fn controller_answers(state_dir: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(state_dir.join("controller.sock")) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"{\"cmd\":\"status\"}\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok()
        && serde_json::from_str::<serde_json::Value>(line.trim())
            .is_ok_and(|v| v["pid"].is_number())
}

/// Load at 20 requests a second through the ELB, each on a new connection,
/// until stopped: (sent, failed with their status and time).
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<(f64, u16)>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(addr: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let (addr, s2, n2, f2) = (addr.to_string(), stop.clone(), sent.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut next = Instant::now();
            while !s2.load(Ordering::SeqCst) {
                let (code, _) = http_get(&addr, "/gettoken");
                n2.fetch_add(1, Ordering::SeqCst);
                if code != 200 {
                    f2.lock().unwrap().push((t0.elapsed().as_secs_f64(), code));
                }
                next += Duration::from_millis(50);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        });
        Load {
            stop,
            sent,
            failed,
            thread,
        }
    }

    fn finish(self) -> (u64, Vec<(f64, u16)>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let failed = self.failed.lock().unwrap().clone();
        (self.sent.load(Ordering::SeqCst), failed)
    }
}

fn up(env: &Env) -> String {
    env.ok(&["apply", "--auto-approve"]);
    env.ok(&["status", "--wait-healthy", "--timeout", "120"]);
    env.ok(&["output", "elb_dns"]).trim().to_string()
}

/// Kill the controller with SIGKILL and wait, without any chronous command,
/// until a new one answers: how long that took.
fn kill_controller_and_wait(state_dir: &Path) -> Duration {
    let pid = pid_of(&state_dir.join("controller.pid")).expect("the controller's pid file");
    assert!(alive(pid), "the controller {pid} is not running");
    kill9(pid);
    let t = Instant::now();
    loop {
        let new = pid_of(&state_dir.join("controller.pid"));
        if new.is_some_and(|p| p != pid && alive(p)) && controller_answers(state_dir) {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the controller did not come back by itself within 5 s of kill -9 (pid file: {new:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_of_the_controller_under_load_loses_no_request_and_it_comes_back_by_itself() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let state_dir = env.dir.join(".chronous");
    assert_eq!(http_get(&addr, "/gettoken").0, 200);

    let load = Load::start(&addr);
    std::thread::sleep(Duration::from_secs(2));
    let first = kill_controller_and_wait(&state_dir);
    std::thread::sleep(Duration::from_secs(3));
    let second = kill_controller_and_wait(&state_dir);
    std::thread::sleep(Duration::from_secs(3));
    let (sent, failed) = load.finish();
    eprintln!(
        "controller back after kill -9: {:.0} ms, {:.0} ms; {sent} requests sent, {} failed",
        first.as_secs_f64() * 1000.0,
        second.as_secs_f64() * 1000.0,
        failed.len()
    );
    assert!(sent >= 150, "only {sent} requests were sent");
    assert!(failed.is_empty(), "failed requests (s, status): {failed:?}");

    // The restarted controller took the running task over, as it was: still
    // one task, in service, the deployment completed.
    let st = env.json(&["status"]);
    let rt = &st["runtime"];
    let tasks: Vec<&serde_json::Value> = rt["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["last_status"] == "RUNNING")
        .collect();
    assert_eq!(tasks.len(), 1, "{st}");
    assert_eq!(tasks[0]["health"], "InService", "{st}");
    assert_eq!(
        rt["service"]["deployments"][0]["rollout_state"], "COMPLETED",
        "{st}"
    );
    // Both processes in status: the load balancer's, never restarted, and
    // the controller's, restarted twice.
    let procs = rt["processes"].as_array().expect("runtime.processes");
    let role = |r: &str| {
        procs
            .iter()
            .find(|p| p["role"] == r)
            .unwrap_or_else(|| panic!("no {r} process in {st}"))
    };
    assert_eq!(role("controller")["restarts"], 2, "{st}");
    assert_eq!(role("load balancer")["restarts"], 0, "{st}");
    let elb_pid = role("load balancer")["pid"].as_i64().unwrap() as i32;
    let ctl_pid = role("controller")["pid"].as_i64().unwrap() as i32;
    let text = env.ok(&["status"]);
    assert!(text.contains("restarted 2 times"), "{text}");

    // Destroy stops both, and leaves no socket or pid file.
    env.ok(&["destroy", "--auto-approve"]);
    assert!(!alive(elb_pid) && !alive(ctl_pid));
    let left: Vec<String> = std::fs::read_dir(&state_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".sock") || n.ends_with(".pid"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(labelled(&env.name), (vec![], vec![], vec![]));
}

#[test]
fn with_every_simulator_process_killed_one_command_brings_the_environment_back() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let state_dir = env.dir.join(".chronous");
    let pids: Vec<i32> = ["elb.pid", "controller.pid"]
        .iter()
        .map(|f| pid_of(&state_dir.join(f)).unwrap_or_else(|| panic!("no {f}")))
        .collect();
    for p in &pids {
        kill9(*p);
    }
    let t = Instant::now();
    while pids.iter().any(|p| alive(*p)) {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    // The database container stopped too (as after a Docker daemon restart).
    let db = env.json(&["state", "show", "aws_db_instance.main"])["outputs"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(common::docker(&["stop", "-t", "1", &db]).status.success());

    let t = Instant::now();
    env.ok(&["sim", "start", "--timeout", "120"]);
    eprintln!("`chronous sim start` brought it back in {:?}", t.elapsed());
    let (code, body) = http_get(&addr, "/gettoken");
    assert_eq!(code, 200, "{body}");
    let st = env.json(&["status"]);
    assert_eq!(st["database"]["ready"], true, "{st}");
}

#[test]
fn kill_9_of_the_load_balancers_process_the_controller_starts_it_again_with_its_state() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let state_dir = env.dir.join(".chronous");
    let pid = pid_of(&state_dir.join("elb.pid")).expect("the load balancer's pid file");
    kill9(pid);
    // Back by itself, serving the task it had InService (restored at its
    // first passing check, not after HealthyThreshold: 10 passes of 1 s).
    let t = Instant::now();
    while http_get(&addr, "/gettoken").0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the load balancer did not serve again within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "load balancer serving again {:?} after kill -9",
        t.elapsed()
    );
    let new = pid_of(&state_dir.join("elb.pid")).unwrap();
    assert_ne!(new, pid);
    let st = env.json(&["status"]);
    let lb = st["runtime"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "load balancer")
        .cloned()
        .unwrap();
    assert_eq!(lb["restarts"], 1, "{st}");
}
