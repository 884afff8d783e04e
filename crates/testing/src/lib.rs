//! Bring a chronous environment up and down from a Rust integration test, in
//! the manner of testcontainers-rs: a builder, `up()` that returns once the
//! service is healthy behind its load balancer, and a guard ([`Running`]) that
//! always cleans up when dropped, also when the test panics: `chronous destroy`,
//! then a sweep of everything Docker holds with the environment's label
//! `chronous.environment=<name>`.
//!
//! ```no_run
//! use chronous_testing::Environment;
//! # fn main() -> Result<(), chronous_testing::Error> {
//! let env = Environment::from_dir("fixtures/seed").name("orders-it-1").up()?;
//! let url = env.elb_url();                // http://127.0.0.1:PORT
//! let db = env.tunnel_rds()?;              // mysql://USER@127.0.0.1:PORT/DB, through the bastion (sg_rds must admit it)
//! assert!(env.ssh(&["true"])?.status.success());
//! # Ok(()) }
//! ```
//!
//! It drives the `chronous` binary (from [`Environment::binary`], else
//! `CHRONOUS_BIN`, else `chronous` on `PATH`) rather than linking the CLI's
//! apply: the simulator's controller is that binary (`chronous controller`,
//! started on demand), and a test then exercises exactly the commands, locks,
//! exit codes and cleanup that a CI script gets.
//!
//! The environment folder is copied into a temporary folder (its `.chronous/`
//! left out), so tests never share state; string values in `chronous.toml`
//! that lead out of the folder (`"../backup/db-backup.tar.gz"`) are made
//! absolute. `CHRONOUS_KEEP=1` keeps the environment (and prints where) for a
//! post-mortem.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What failed, with what chronous said.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot copy the environment {dir}: {source}")]
    Copy {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {why}")]
    File { file: PathBuf, why: String },
    #[error("cannot run {bin}: {source} (build it with `cargo build -p chronous-cli`, or set CHRONOUS_BIN)")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("`chronous {args}` exited {code:?}: {stderr}")]
    Command {
        args: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("`chronous {args}` printed what is not the JSON expected: {why}")]
    Output { args: String, why: String },
}

/// A chronous environment to bring up: a folder holding `chronous.toml`.
#[derive(Debug, Clone)]
pub struct Environment {
    src: PathBuf,
    name: Option<String>,
    bin: Option<PathBuf>,
    vars: Vec<(String, String)>,
    timeout: Duration,
    edits: Vec<fn(&mut toml_edit::DocumentMut)>,
}

impl Environment {
    /// The environment of `dir` (copied when it is brought up; `dir` is not written).
    pub fn from_dir(dir: impl AsRef<Path>) -> Environment {
        Environment {
            src: dir.as_ref().to_path_buf(),
            name: None,
            bin: None,
            vars: Vec::new(),
            timeout: Duration::from_secs(300),
            edits: Vec::new(),
        }
    }

    /// The environment's name (default: the file's, made unique per process
    /// and call). Everything the simulator starts is labelled with it; tests
    /// that run in parallel need different names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The `chronous` binary to drive (a test of this workspace passes
    /// `env!("CARGO_BIN_EXE_chronous")`).
    pub fn binary(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = Some(bin.into());
        self
    }

    /// An environment variable for every chronous command
    /// (`CHRONOUS_DB_PASSWORD`, `CHRONOUS_SIM_TIME_SCALE`, ...).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Change the copy's `chronous.toml` before anything is applied (a rule
    /// added to a security group, a health check setting, ...).
    pub fn edit(mut self, f: fn(&mut toml_edit::DocumentMut)) -> Self {
        self.edits.push(f);
        self
    }

    /// How long `up` waits for the service to be healthy (default 300 s).
    pub fn healthy_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The copy, not applied: for a test that drives the commands itself.
    /// Dropping it cleans up whatever those commands started.
    pub fn prepare(self) -> Result<Running, Error> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = tempfile::Builder::new()
            .prefix("chronous-env-")
            .tempdir()
            .map_err(|source| Error::Copy {
                dir: self.src.clone(),
                source,
            })?;
        let base = self
            .src
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "env".into());
        let dir = root.path().join(base);
        copy_dir(&self.src, &dir).map_err(|source| Error::Copy {
            dir: self.src.clone(),
            source,
        })?;
        let file = dir.join("chronous.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::File {
            file: file.clone(),
            why: e.to_string(),
        })?;
        let mut doc: toml_edit::DocumentMut =
            absolute_paths(&text, &self.src)
                .parse()
                .map_err(|e: toml_edit::TomlError| Error::File {
                    file: file.clone(),
                    why: e.to_string(),
                })?;
        let name = match self.name {
            Some(n) => n,
            None => {
                let n = N.fetch_add(1, Ordering::SeqCst);
                let stem = doc["environment"]["name"]
                    .as_str()
                    .unwrap_or("env")
                    .to_string();
                format!("{stem}-t{}x{n}", std::process::id())
            }
        };
        doc["environment"]["name"] = toml_edit::value(name.as_str());
        for f in &self.edits {
            f(&mut doc);
        }
        std::fs::write(&file, doc.to_string()).map_err(|e| Error::File {
            file: file.clone(),
            why: e.to_string(),
        })?;
        let bin = self
            .bin
            .or_else(|| std::env::var_os("CHRONOUS_BIN").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("chronous"));
        Ok(Running {
            root: Some(root),
            dir,
            name,
            bin,
            vars: self.vars,
            elb: String::new(),
            done: false,
        })
    }

    /// Copy, apply, and wait until the service is healthy behind the load
    /// balancer. A failure half-way still cleans up (the guard is dropped).
    pub fn up(self) -> Result<Running, Error> {
        let timeout = self.timeout.as_secs().max(1).to_string();
        let mut env = self.prepare()?;
        env.run(&["apply", "--auto-approve"])?;
        env.run(&["status", "--wait-healthy", "--timeout", &timeout])?;
        let dns = env.output("elb_dns")?;
        env.elb = format!("http://{dns}");
        Ok(env)
    }
}

/// A brought-up environment; dropping it destroys everything it runs.
#[derive(Debug)]
pub struct Running {
    root: Option<tempfile::TempDir>,
    dir: PathBuf,
    name: String,
    bin: PathBuf,
    vars: Vec<(String, String)>,
    elb: String,
    /// Destroyed already (`down`).
    done: bool,
}

impl Running {
    /// The environment's name (the value of its `chronous.environment` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment's folder (the copy).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The load balancer's URL, `http://HOST:PORT` (empty before `up`).
    pub fn elb_url(&self) -> &str {
        &self.elb
    }

    /// `chronous --env DIR ARGS...` with the environment's variables, to run as you like.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--env").arg(&self.dir).args(args);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Run a chronous command; its stdout when it exits 0.
    pub fn run(&self, args: &[&str]) -> Result<String, Error> {
        let o = self.command(args).output().map_err(|source| Error::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        if !o.status.success() {
            return Err(Error::Command {
                args: args.join(" "),
                code: o.status.code(),
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Run a chronous command with `--json` and read its output.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value, Error> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a)?;
        serde_json::from_str(&out).map_err(|e| Error::Output {
            args: a.join(" "),
            why: e.to_string(),
        })
    }

    /// One of `chronous output`'s values (`elb_dns`, `rds_endpoint`, ...).
    pub fn output(&self, name: &str) -> Result<String, Error> {
        Ok(self.run(&["output", name])?.trim().to_string())
    }

    /// `chronous ssh -- CMD...`: one command through the bastion; its exit
    /// code, stdout and stderr (a non-zero exit is not an error here).
    pub fn ssh(&self, cmd: &[&str]) -> Result<Output, Error> {
        let mut a = vec!["ssh", "--"];
        a.extend_from_slice(cmd);
        self.command(&a)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                bin: self.bin.clone(),
                source,
            })
    }

    /// A port on 127.0.0.1 forwarded to the database through the bastion
    /// (the database's security group must admit the bastion: the simulator
    /// enforces it; [`Environment::edit`] can add the rule to a copy).
    pub fn tunnel_rds(&self) -> Result<Tunnel, Error> {
        self.tunnel("rds")
    }

    /// A port on 127.0.0.1 forwarded to `target` (`rds`, or a task id
    /// `[:PORT]`) through the bastion; closed when the [`Tunnel`] is dropped.
    pub fn tunnel(&self, target: &str) -> Result<Tunnel, Error> {
        let args = ["--json", "tunnel", target];
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                bin: self.bin.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let ready: Option<serde_json::Value> = serde_json::from_str(&line).ok();
        match ready.filter(|v| v["event"] == "tunnel") {
            Some(v) if read.is_ok() => Ok(Tunnel {
                url: v["url"].as_str().unwrap_or_default().to_string(),
                host: v["host"].as_str().unwrap_or("127.0.0.1").to_string(),
                port: v["port"].as_u64().unwrap_or(0) as u16,
                child,
            }),
            _ => {
                let _ = child.kill();
                let o = child.wait_with_output();
                let stderr = o
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                Err(Error::Command {
                    args: args.join(" "),
                    code: None,
                    stderr: format!("{}{}", line.trim(), stderr.trim()),
                })
            }
        }
    }

    /// Change the environment's `chronous.toml` (then `run(&["apply",
    /// "--auto-approve"])` applies the change).
    pub fn edit(&self, f: impl FnOnce(&mut toml_edit::DocumentMut)) -> Result<(), Error> {
        let file = self.dir.join("chronous.toml");
        let bad = |why: String| Error::File {
            file: file.clone(),
            why,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| bad(e.to_string()))?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| bad(e.to_string()))?;
        f(&mut doc);
        std::fs::write(&file, doc.to_string()).map_err(|e| bad(e.to_string()))
    }

    /// Destroy now and report how it went (dropping destroys too, silently).
    pub fn down(mut self) -> Result<(), Error> {
        let r = self
            .run(&["destroy", "--auto-approve", "--allow-production"])
            .map(|_| ());
        self.sweep();
        self.done = true;
        r
    }

    /// Remove whatever Docker still holds with the environment's label.
    fn sweep(&self) {
        let name = self.name.clone();
        // Its own thread and runtime: Drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let d = chronous_docker::Docker::connect().await.ok()?;
                d.sweep(&name).await.ok()
            })
        })
        .join();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if std::env::var_os("CHRONOUS_KEEP").is_some() {
            if let Some(root) = self.root.take() {
                eprintln!(
                    "CHRONOUS_KEEP: environment `{}` kept in {}",
                    self.name,
                    root.keep().display()
                );
            }
            return;
        }
        let _ = self
            .command(&["destroy", "--auto-approve", "--allow-production"])
            .stdin(Stdio::null())
            .output();
        self.sweep();
    }
}

/// A port on 127.0.0.1 forwarded through the bastion (`chronous tunnel`),
/// closed (SIGTERM, as Ctrl-C would) when dropped.
#[derive(Debug)]
pub struct Tunnel {
    /// `mysql://USER@127.0.0.1:PORT/DB` for the database, `http://127.0.0.1:PORT` for a task.
    pub url: String,
    pub host: String,
    pub port: u16,
    child: Child,
}

impl Tunnel {
    /// `host:port`, to connect to.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".chronous" {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(&name))?;
        } else {
            std::fs::copy(&p, to.join(&name))?;
        }
    }
    Ok(())
}

/// Every string `"../..."` of `text` that names an existing path relative to
/// `src`, made absolute (the copy lives elsewhere).
fn absolute_paths(text: &str, src: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"../") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(end) = after.find('"') else { break };
        let value = &after[..end];
        match src.join(value).canonicalize() {
            Ok(abs) => out.push_str(&format!("\"{}\"", abs.display())),
            Err(_) => out.push_str(&format!("\"{value}\"")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_out_of_the_folder_become_absolute_and_others_stay() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("backup")).unwrap();
        std::fs::write(d.path().join("backup/b.tar.gz"), "x").unwrap();
        let src = d.path().join("env");
        std::fs::create_dir_all(&src).unwrap();
        let text =
            "backup_file = \"../backup/b.tar.gz\"\nkey = \"aws-ssh.pub\"\nmissing = \"../nope\"\n";
        let abs = d.path().join("backup/b.tar.gz").canonicalize().unwrap();
        assert_eq!(
            absolute_paths(text, &src),
            format!(
                "backup_file = \"{}\"\nkey = \"aws-ssh.pub\"\nmissing = \"../nope\"\n",
                abs.display()
            )
        );
    }

    #[test]
    fn a_prepared_copy_has_its_own_name_and_leaves_the_source_alone() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/seed");
        let before = std::fs::read_to_string(root.join("chronous.toml")).unwrap();
        let a = Environment::from_dir(&root)
            .binary("/nonexistent")
            .prepare()
            .unwrap();
        let mine = format!("testing-unit-{}", std::process::id());
        let b = Environment::from_dir(&root)
            .name(&mine)
            .binary("/nonexistent")
            .prepare()
            .unwrap();
        assert_ne!(a.name(), b.name());
        assert!(a.name().starts_with("seed-t"), "{}", a.name());
        assert_eq!(b.name(), mine);
        let copied = std::fs::read_to_string(b.dir().join("chronous.toml")).unwrap();
        assert!(copied.contains(&format!("name = \"{mine}\"")), "{copied}");
        assert!(!copied.contains("\"../backup"), "{copied}");
        assert_eq!(
            std::fs::read_to_string(root.join("chronous.toml")).unwrap(),
            before
        );
        // The binary does not exist: a clear error, and dropping still works.
        let e = b.run(&["validate"]).unwrap_err();
        assert!(e.to_string().contains("cannot run /nonexistent"), "{e}");
    }
}
