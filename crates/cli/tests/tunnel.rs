//! `chronous tunnel` and `chronous ssh -- CMD` on the simulator with real
//! containers, brought up and cleaned up with chronous-testing (the Rust API
//! for tests): a MySQL query through the tunnel to the restored database, a
//! task's HTTP through a tunnel, the exit codes of one command through the
//! bastion, the guard's cleanup after a panic; and the clear errors when the
//! environment is not up, on both backends. (The aws side's ssh command
//! lines are unit tests in `src/backend/aws/ssh.rs`: moto has no SSH.)

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chronous_testing::{Environment, Running};
use common::{code, http_get, labelled, Env};

const PASSWORD: &str = "test-password-not-a-secret";

/// The seed on the docker runtime under a name unique to this test.
fn seed(what: &str) -> Environment {
    common::ensure_images();
    Environment::from_dir(common::repo().join("fixtures/seed"))
        .name(format!("tun-{what}-{}", std::process::id()))
        .binary(common::BIN)
        .env("CHRONOUS_DB_PASSWORD", PASSWORD)
        .env("CHRONOUS_SIM_RUNTIME", "docker")
        .env("CHRONOUS_SIM_TIME_SCALE", "30")
        .healthy_timeout(Duration::from_secs(120))
        // The simulator enforces the security groups: the seed's database
        // admits no one on the bastion's side.
        .edit(common::bastion_reaches_db)
}

/// `mariadb -e SQL` run in a client container on the host's network (so that
/// 127.0.0.1 is the test's loopback), labelled with the environment so the
/// guard sweeps it if the test dies first.
fn mysql(env: &Running, url: &str, sql: &str) -> std::process::Output {
    // mysql://USER@127.0.0.1:PORT/DB
    let rest = url.strip_prefix("mysql://").expect("a mysql URL");
    let (user, rest) = rest.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    Command::new("docker")
        .args(["run", "--rm", "--network", "host", "--label"])
        .arg(format!("chronous.environment={}", env.name()))
        .args([
            "-e",
            "MYSQL_PWD",
            "chronous/debian-base:bookworm",
            "mariadb",
            "--batch",
            "--skip-column-names",
        ])
        .args(["-h", host, "-P", port, "-u", user, "-D", db, "-e", sql])
        .env("MYSQL_PWD", PASSWORD)
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

#[test]
fn a_tunnel_reaches_the_database_and_a_task_through_the_bastion_and_ssh_passes_exit_codes() {
    let env = seed("db").up().unwrap();
    let name = env.name().to_string();

    // The database, through the bastion: a real query on the restored rows.
    let db = env.tunnel_rds().unwrap();
    assert!(db.url.starts_with("mysql://dev@127.0.0.1:"), "{}", db.url);
    assert!(!db.url.contains(PASSWORD));
    let o = mysql(&env, &db.url, "SELECT COUNT(*) FROM paymentsdb.payments");
    assert_eq!(text(&o).0, "400", "{:?}", text(&o));
    // Two clients at once, each its own relayed connection.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| mysql(&env, &db.url, "SELECT COUNT(*) FROM paymentsdb.customers"));
        let b = s.spawn(|| mysql(&env, &db.url, "SELECT COUNT(*) FROM paymentsdb.tokens"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.status.success() && b.status.success(),
        "{:?} {:?}",
        text(&a),
        text(&b)
    );

    // A task, by the id `status` shows: its HTTP port through the bastion.
    let st = env.json(&["status"]).unwrap();
    let task = st["runtime"]["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = env.tunnel(&task).unwrap();
    assert_eq!(t.url, format!("http://127.0.0.1:{}", t.port));
    let (s, body) = http_get(&t.addr(), "/gettoken");
    assert_eq!(s, 200, "{body}");

    // --port: the chosen port, and a clear error when it is taken.
    let taken = db.port.to_string();
    let o = env.command(&["tunnel", "--port", &taken]).output().unwrap();
    assert_eq!(code(&o), 1);
    assert!(
        text(&o)
            .1
            .contains(&format!("cannot listen on 127.0.0.1:{taken}")),
        "{:?}",
        text(&o)
    );

    // Text mode: the URL alone on stdout; SIGTERM closes it cleanly (exit 0).
    let mut child = env
        .command(&["tunnel", "rds"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.trim().starts_with("mysql://dev@127.0.0.1:"), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let t0 = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(5));

    // ssh -- CMD: the command's exit code, its stdout and stderr apart.
    let o = env.ssh(&["echo out; echo err >&2; exit 7"]).unwrap();
    assert_eq!((code(&o), text(&o)), (7, ("out".into(), "err".into())));
    let o = env.ssh(&["true"]).unwrap();
    assert_eq!(code(&o), 0);
    // On the private side the database answers by its RDS name.
    let rds = env.output("rds_endpoint").unwrap();
    let host = rds.rsplit_once(':').unwrap().0;
    let o = env.ssh(&["getent", "hosts", host]).unwrap();
    assert!(
        o.status.success() && text(&o).0.contains(host),
        "{:?}",
        text(&o)
    );

    drop((db, t));
    drop(env);
    // The guard destroyed everything, the client containers included.
    assert_eq!(labelled(&name), (vec![], vec![], vec![]));
}

#[test]
fn the_guard_cleans_up_after_a_panic() {
    let mut name = String::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let env = seed("panic").prepare().unwrap();
        name = env.name().to_string();
        env.run(&["apply", "--auto-approve"]).unwrap();
        assert!(
            !labelled(&name).0.is_empty(),
            "the apply started containers"
        );
        panic!("the test fails half-way");
    }));
    assert!(r.is_err());
    assert_eq!(labelled(&name), (vec![], vec![], vec![]));
}

#[test]
fn tunnel_and_ssh_say_clearly_when_the_environment_is_not_up() {
    let env = Env::docker("seed");
    let o = env.run(&["tunnel"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no database is recorded") && err.contains("chronous apply"),
        "{err}"
    );
    let o = env.run(&["ssh", "--", "true"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no bastion runs"), "{err}");
    let o = env.run(&["tunnel", "nosuchtask"]);
    assert_eq!(code(&o), 1);
    // On AWS: nothing recorded, so no bastion to go through (no AWS call is made).
    let o = env.run(&["--backend", "aws", "ssh", "--", "true"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no bastion with a public IP is recorded"),
        "{err}"
    );
    let o = env.run(&["--backend", "aws", "--json", "tunnel"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no database is recorded"),
        "{v}"
    );
}
