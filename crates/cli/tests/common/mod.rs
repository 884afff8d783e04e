//! Helpers for end-to-end tests that drive the `chronous` binary on a copy of
//! a fixture environment in a temporary folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
}

impl Env {
    pub fn new(name: &str) -> Env {
        let root = tempfile::Builder::new()
            .prefix("chronous-test-")
            .tempdir_in(repo().join("target"))
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
        Env { root, dir }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["--env", self.dir.to_str().unwrap()])
            .args(args)
            .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
            .env_remove("CHRONOUS_SIM_FAIL_ON")
            .env_remove("CHRONOUS_SIM_LATENCY_MS");
        // These tests are about the control plane: no containers.
        c.env("CHRONOUS_SIM_RUNTIME", "model");
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
