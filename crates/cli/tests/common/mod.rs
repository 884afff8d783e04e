//! Helpers for end-to-end tests that drive the `chronous` binary on a copy of
//! a fixture environment in a temporary folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_chronous");

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".chronous" {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

/// A temporary copy of `fixtures/<name>` (with `fixtures/backup` beside it).
pub struct Env {
    pub root: tempfile::TempDir,
    pub dir: PathBuf,
    /// Real containers (the docker runtime) instead of the control plane only.
    pub docker: bool,
    pub name: String,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let root = tempfile::Builder::new()
            .prefix("chronous-test-")
            .tempdir()
            .unwrap();
        copy_dir(&repo().join("fixtures").join(name), &root.path().join(name));
        let backup = repo().join("fixtures/backup");
        std::fs::create_dir_all(root.path().join("backup")).unwrap();
        std::fs::copy(
            backup.join("db-backup.tar.gz"),
            root.path().join("backup/db-backup.tar.gz"),
        )
        .unwrap();
        let dir = root.path().join(name);
        Env {
            root,
            dir,
            docker: false,
            name: name.to_string(),
        }
    }

    /// A copy of `fixtures/<name>` under a unique environment name, run with
    /// real containers and health checks 30 times faster than AWS. Everything
    /// it starts is removed when it is dropped.
    pub fn docker(name: &str) -> Env {
        ensure_images();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut e = Env::new(name);
        let unique = format!(
            "t{}x{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        e.edit(
            &format!("name = \"{name}\""),
            &format!("name = \"{unique}\""),
        );
        // Unique names for what Docker names after them.
        e.edit("identifier = \"cak", &format!("identifier = \"{unique}"));
        e.docker = true;
        e.name = unique;
        e
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["--env", self.dir.to_str().unwrap()])
            .args(args)
            .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
            .env_remove("CHRONOUS_SIM_FAIL_ON")
            .env_remove("CHRONOUS_SIM_LATENCY_MS");
        if self.docker {
            c.env("CHRONOUS_SIM_RUNTIME", "docker")
                .env("CHRONOUS_SIM_TIME_SCALE", "30");
        } else {
            // These tests are about the control plane: no containers.
            c.env("CHRONOUS_SIM_RUNTIME", "model");
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "chronous {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn edit(&self, from: &str, to: &str) {
        let p = self.dir.join("chronous.toml");
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.contains(from), "fixture has no `{from}`");
        std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn state_addresses(&self) -> Vec<String> {
        self.json(&["state", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["address"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn sim_objects(&self) -> Vec<(String, String)> {
        self.json(&["sim", "objects"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["address"].as_str().unwrap().to_string(),
                    v["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

impl Drop for Env {
    fn drop(&mut self) {
        if !self.docker || std::env::var("CHRONOUS_TEST_KEEP").is_ok() {
            return;
        }
        let _ = self
            .cmd(&["destroy", "--auto-approve", "--allow-production"])
            .output();
        // Whatever is left (a test that failed half-way): by label, as a user would.
        for (what, list) in [
            ("container", "ps -aq"),
            ("volume", "volume ls -q"),
            ("network", "network ls -q"),
        ] {
            let filter = format!("label=chronous.environment={}", self.name);
            let mut args: Vec<&str> = list.split(' ').collect();
            args.extend(["--filter", filter.as_str()]);
            let out = Command::new("docker").args(&args).output();
            if let Ok(o) = out {
                for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let rm: &[&str] = match what {
                        "container" => &["rm", "-f", "-v"],
                        "volume" => &["volume", "rm", "-f"],
                        _ => &["network", "rm"],
                    };
                    let _ = Command::new("docker").args(rm).arg(id).output();
                }
            }
        }
    }
}

/// Build the local images once if they are missing (a fresh machine).
pub fn ensure_images() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let o = Command::new("bash")
            .arg(repo().join("images/build.sh"))
            .output()
            .expect("run images/build.sh");
        assert!(
            o.status.success(),
            "images/build.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    });
}

/// Labelled Docker objects of an environment: (containers, volumes, networks).
pub fn labelled(env: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let q = |args: &[&str]| -> Vec<String> {
        let filter = format!("label=chronous.environment={env}");
        let o = Command::new("docker")
            .args(args)
            .args(["--filter", filter.as_str()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    (
        q(&["ps", "-aq"]),
        q(&["volume", "ls", "-q"]),
        q(&["network", "ls", "-q"]),
    )
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

/// GET http://ADDR/PATH over loopback: (status, body); (0, "") when nothing answers.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, None)
}

/// POST a JSON body.
pub fn http_post(addr: &str, path: &str, json: &str) -> (u16, String) {
    http(addr, "POST", path, Some(json))
}

fn http(addr: &str, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let body = json.unwrap_or("");
    let headers = if json.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n{body}"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The rules of security group `sg` in direction `dir` of a chronous.toml.
pub fn rules(doc: &mut toml_edit::DocumentMut, sg: &str, dir: &str) -> toml_edit::Array {
    doc["security_groups"][sg][dir]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Keep only the rules of `sg`'s ingress for which `keep` (given the rule's source) holds.
pub fn keep_ingress(doc: &mut toml_edit::DocumentMut, sg: &str, keep: impl Fn(&str) -> bool) {
    let mut a = rules(doc, sg, "ingress");
    a.retain(|r| {
        r.as_inline_table()
            .and_then(|t| t.get("source"))
            .and_then(|s| s.as_str())
            .is_none_or(&keep)
    });
    doc["security_groups"][sg]["ingress"] = toml_edit::value(a);
}

/// The seed's database admits MySQL from the container instances and the
/// private subnets only: add the bastion, so that `chronous tunnel rds` and
/// `chronous ssh` reach it (they go through the bastion, which sits in a
/// public subnet), as they would on AWS with that rule.
pub fn bastion_reaches_db(doc: &mut toml_edit::DocumentMut) {
    let mut a = rules(doc, "sg_rds", "ingress");
    let mut t = toml_edit::InlineTable::new();
    t.insert("protocol", "tcp".into());
    t.insert("port", 3306i64.into());
    t.insert("source", "bastion".into());
    t.insert("description", "MySQL from the bastion (tunnel)".into());
    a.push(t);
    doc["security_groups"]["sg_rds"]["ingress"] = toml_edit::value(a);
}

/// moto on a free loopback port (`.1` is its URL), stopped on drop.
pub struct Moto(pub Child, pub String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server is not installed: run `bash scripts/moto.sh`");
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Moto(child, format!("http://127.0.0.1:{port}"))
}
