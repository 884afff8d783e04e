//! `chronous check` and `chronous cost` as a user runs them: the text and
//! `--json` of both on the seed and production fixtures (snapshots), the
//! exit codes of `--fail-on`, and the production acceptance case of issue
//! 12 (a rule that opens the API to the internet fails `check --fail-on high`).

mod common;

use common::{code, Env};
use serde_json::Value;

/// The output with the temporary folder written as `[ROOT]`.
fn scrub(env: &Env, s: &str) -> String {
    let root = env.root.path().to_str().unwrap();
    let canonical = std::fs::canonicalize(env.root.path()).unwrap();
    s.replace(canonical.to_str().unwrap(), "[ROOT]")
        .replace(root, "[ROOT]")
}

/// Run; the exit code and stdout (scrubbed).
fn run(env: &Env, args: &[&str]) -> (i32, String) {
    let o = env.run(args);
    (code(&o), scrub(env, &String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn check_of_the_seed() {
    let env = Env::new("seed");
    let (c, out) = run(&env, &["check"]);
    assert_eq!(c, 0, "{out}");
    insta::assert_snapshot!("check-seed", out);
    let (c, out) = run(&env, &["--json", "check"]);
    assert_eq!(c, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    insta::assert_snapshot!("check-seed-json", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn check_of_production() {
    let env = Env::new("production");
    let (c, out) = run(&env, &["check"]);
    assert_eq!(c, 0, "{out}");
    insta::assert_snapshot!("check-production", out);
}

#[test]
fn a_rule_that_opens_the_production_api_to_the_internet_fails_check() {
    let env = Env::new("production");
    assert_eq!(run(&env, &["check", "--fail-on", "high"]).0, 0);
    env.edit(
        r#"source = "tier:private", description = "HTTP from Matrix-oSc in the private subnets""#,
        r#"source = "0.0.0.0/0", description = "HTTP from anywhere""#,
    );
    let (c, out) = run(&env, &["check", "--fail-on", "high"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("high[CHR-NET-002]"), "{out}");
    assert!(
        out.contains("at or above high (--fail-on): failing"),
        "{out}"
    );
    // The default is high too; critical lets it pass (the finding still shows).
    assert_eq!(run(&env, &["check"]).0, 2);
    let (c, out) = run(&env, &["check", "--fail-on", "critical"]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("CHR-NET-002"), "{out}");
    let v = env.json(&["check", "--fail-on", "critical"]);
    assert_eq!(v["failing"], 0);
    let v: Value = serde_json::from_str(&run(&env, &["--json", "check"]).1).unwrap();
    assert_eq!(v["failing"], 1);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "CHR-NET-002")
        .expect("CHR-NET-002 in --json");
    assert_eq!(f["severity"], "high");
    assert!(
        f["line"].as_u64().is_some() && f["column"].as_u64().is_some(),
        "{f}"
    );
    assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()), "{f}");
}

#[test]
fn fail_on_low_fails_the_seed_and_a_bad_severity_is_a_usage_error() {
    let env = Env::new("seed");
    assert_eq!(run(&env, &["check", "--fail-on", "medium"]).0, 2);
    let o = env.run(&["check", "--fail-on", "severe"]);
    assert_eq!(code(&o), 64);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("expected info, low, medium, high or critical"),
        "{err}"
    );
}

#[test]
fn an_invalid_file_is_exit_3_before_any_lint() {
    let env = Env::new("seed");
    env.edit("instance_type = \"t2.nano\"", "instance_type = \"t9.huge\"");
    let o = env.run(&["check"]);
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stdout).is_empty());
}

#[test]
fn cost_of_the_seed() {
    let env = Env::new("seed");
    let (c, out) = run(&env, &["cost"]);
    assert_eq!(c, 0, "{out}");
    insta::assert_snapshot!("cost-seed", out);
    let (c, out) = run(&env, &["--json", "cost"]);
    assert_eq!(c, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    insta::assert_snapshot!("cost-seed-json", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn an_instance_type_without_a_price_is_a_line_not_a_failure() {
    let env = Env::new("seed");
    env.edit(
        "instance_type = \"t2.nano\"\ninstance_count",
        "instance_type = \"m5.large\"\ninstance_count",
    );
    let (c, out) = run(&env, &["cost"]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("no price for m5.large EC2 instance in us-east-2 in the table (as of "),
        "{out}"
    );
}
