//! The `chronous` binary on every broken environment of `fixtures/invalid`:
//! it must refuse with exit code 3 (EXIT_INVALID), say so on stderr, and write
//! nothing at all in the environment folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_chronous");
/// `ui::EXIT_INVALID`.
const EXIT_INVALID: i32 = 3;
/// Fewer files than this means a fixture was deleted.
const MIN_CASES: usize = 36;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_CASES,
        "expected at least {MIN_CASES} files in fixtures/invalid, found {}",
        files.len()
    );
    files
}

/// A fresh folder holding only `chronous.toml`, a copy of `fixture`.
fn env_dir(fixture: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("chronous-invalid-")
        .tempdir()
        .expect("temp dir");
    std::fs::copy(fixture, dir.path().join("chronous.toml")).expect("copy fixture");
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--env")
        .arg(dir)
        .args(args)
        .current_dir(dir)
        .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
        .env_remove("CHRONOUS_SIM_FAIL_ON")
        .env_remove("CHRONOUS_SIM_LATENCY_MS")
        .output()
        .expect("run chronous")
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read temp dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn plan_refuses_every_invalid_environment_and_writes_nothing() {
    for fixture in fixtures() {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let dir = env_dir(&fixture);
        let out = run(dir.path(), &["plan"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(EXIT_INVALID),
            "{name}: exit code {:?}, stderr:\n{stderr}",
            out.status.code()
        );
        assert!(
            stderr.contains("error"),
            "{name}: stderr does not mention an error:\n{stderr}"
        );
        assert!(
            !dir.path().join(".chronous").exists(),
            "{name}: a .chronous folder was written"
        );
        assert_eq!(
            listing(dir.path()),
            vec!["chronous.toml".to_string()],
            "{name}: plan wrote into the environment folder"
        );
    }
}

#[test]
fn json_validate_reports_located_diagnostics() {
    for fixture in fixtures() {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let dir = env_dir(&fixture);
        let out = run(dir.path(), &["--json", "validate"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(EXIT_INVALID),
            "{name}: exit code {:?}",
            out.status.code()
        );
        let v: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{name}: stdout is not JSON ({e}):\n{stdout}"));
        assert_eq!(v["valid"], serde_json::Value::Bool(false), "{name}: {v}");
        let diags = v["diagnostics"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no diagnostics array: {v}"));
        assert!(
            diags.iter().any(|d| d["severity"] == "error"),
            "{name}: no error diagnostic: {v}"
        );
        for d in diags {
            assert!(
                d["line"].as_u64().is_some_and(|l| l >= 1),
                "{name}: diagnostic without a line: {d}"
            );
            assert!(
                d["column"].as_u64().is_some_and(|c| c >= 1),
                "{name}: diagnostic without a column: {d}"
            );
            assert!(
                d["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{name}: diagnostic without a message: {d}"
            );
        }
        assert_eq!(
            listing(dir.path()),
            vec!["chronous.toml".to_string()],
            "{name}: validate wrote into the environment folder"
        );
    }
}

/// One case spelled out: the line and column are those of the wrong value.
#[test]
fn json_validate_points_at_the_wrong_value() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/invalid/54-listener-port-mismatch.toml");
    let dir = env_dir(&fixture);
    let out = run(dir.path(), &["--json", "validate"]);
    assert_eq!(out.status.code(), Some(EXIT_INVALID));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], false);
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E1002")
        .expect("E1002 reported");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 112);
    assert_eq!(d["column"], 44);
}
