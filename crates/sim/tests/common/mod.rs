//! Helpers for the simulator's Docker tests: the images, unique environment
//! names, a guard that sweeps an environment even when a test fails, and
//! independent checks through the `docker` CLI.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use chronous_docker::Docker;

pub const MARIADB_IMAGE: &str = "chronous/mariadb:10.11";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A file under fixtures/backup/.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/backup").join(name)
}

/// Build the local images with `images/build.sh` once per test binary if
/// `chronous/mariadb:10.11` is missing (a fresh CI machine: ~100 s cold,
/// needs the Debian mirror; no registry). Test processes running in parallel
/// (cargo nextest) take turns through `flock`, so only the first one builds.
pub fn ensure_images() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let present = || {
            Command::new("docker")
                .args(["image", "inspect", MARIADB_IMAGE])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        if present() {
            return;
        }
        eprintln!("{MARIADB_IMAGE} is missing: running images/build.sh");
        let build = repo_root().join("images/build.sh");
        let script = format!(
            "docker image inspect {MARIADB_IMAGE} >/dev/null 2>&1 || bash '{}'",
            build.display()
        );
        let have_flock = Command::new("flock")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        let mut cmd = if have_flock {
            let mut c = Command::new("flock");
            c.arg(std::env::temp_dir().join("chronous-images-build.lock"))
                .args(["bash", "-c", &script]);
            c
        } else {
            let mut c = Command::new("bash");
            c.args(["-c", &script]);
            c
        };
        let status = cmd
            .current_dir(repo_root())
            .status()
            .expect("run images/build.sh");
        assert!(
            status.success() && present(),
            "images/build.sh failed ({status}): the Docker tests need {MARIADB_IMAGE}"
        );
    });
}

/// A unique environment name: `t-<prefix>-<pid>-<n>`.
pub fn unique_env(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Sweeps its environment when dropped, also when the test panics. The sweep
/// runs on a fresh thread with its own runtime (Drop cannot await, and the
/// test's runtime may be shutting down), as testcontainers does.
pub struct EnvGuard {
    pub env: String,
}

impl EnvGuard {
    pub fn new(prefix: &str) -> Self {
        EnvGuard {
            env: unique_env(prefix),
        }
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        let env = self.env.clone();
        let res = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let docker = Docker::connect().await.map_err(|e| e.to_string())?;
                docker.sweep(&env).await.map_err(|e| e.to_string())
            })
        })
        .join();
        match res {
            Ok(Ok(report)) if report.is_clean() => {}
            Ok(Ok(report)) => eprintln!("sweep of {} left {:?}", self.env, report.failed),
            Ok(Err(e)) => eprintln!("sweep of {} failed: {e}", self.env),
            Err(_) => eprintln!("sweep of {} panicked", self.env),
        }
    }
}

/// Names of the `kind` objects (`container`, `volume`, `network`) labelled
/// for `env`, through the docker CLI (independent of the code under test).
pub fn cli_objects(kind: &str, env: &str) -> Vec<String> {
    let filter = format!("label=chronous.environment={env}");
    let args: Vec<&str> = match kind {
        "container" => vec!["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
        "volume" => vec!["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"],
        "network" => vec![
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ],
        other => panic!("unknown kind {other}"),
    };
    let out = Command::new("docker")
        .args(&args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Everything labelled for `env`, as `kind name` lines.
pub fn cli_everything(env: &str) -> Vec<String> {
    ["container", "volume", "network"]
        .iter()
        .flat_map(|k| {
            cli_objects(k, env)
                .into_iter()
                .map(move |n| format!("{k} {n}"))
        })
        .collect()
}
