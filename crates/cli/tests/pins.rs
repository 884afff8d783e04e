//! What a user reads, pinned: `plan` of the seed and production fixtures
//! (text and `--json`), `rehearse deploy` (text and `--json`) for a few
//! settings and faults, `rehearse incident` and the usage errors of both,
//! and the shape of `status --json` after an apply.
//!
//! Written before the redesign of the crates' insides (issue 9) so that it can
//! show the redesign changed nothing a user reads. A snapshot diff here is a
//! change of behaviour: review it and explain it in the commit.

mod common;

use common::Env;
use serde_json::Value;

/// The output with the temporary folder written as `[ROOT]`.
fn scrub(env: &Env, s: &str) -> String {
    let root = env.root.path().to_str().unwrap();
    let canonical = std::fs::canonicalize(env.root.path()).unwrap();
    s.replace(canonical.to_str().unwrap(), "[ROOT]")
        .replace(root, "[ROOT]")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

fn pin_text(name: &str, env: &Env, args: &[&str]) {
    let out = env.ok(args);
    insta::assert_snapshot!(name, scrub(env, &out));
}

fn pin_json(name: &str, env: &Env, args: &[&str]) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = env.ok(&a);
    let v: Value = serde_json::from_str(&scrub(env, &out)).unwrap();
    insta::assert_snapshot!(name, pretty(&v));
}

#[test]
fn plan_of_the_seed() {
    let env = Env::new("seed");
    pin_text("plan-seed", &env, &["plan"]);
    pin_json("plan-seed-json", &env, &["plan"]);
}

#[test]
fn plan_of_production() {
    let env = Env::new("production");
    pin_text("plan-production", &env, &["plan"]);
    pin_json("plan-production-json", &env, &["plan"]);
}

/// A change after an apply: the image tag and the instance type (an update,
/// a create-before-destroy replacement and a new task-definition revision).
#[test]
fn plan_of_a_change_after_apply() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    pin_text("plan-seed-no-change", &env, &["plan"]);
    env.edit(
        "instance_type = \"t2.nano\"\ninstance_count",
        "instance_type = \"t2.micro\"\ninstance_count",
    );
    env.edit("tag = \"1.0\"", "tag = \"1.1\"");
    let text = env.ok(&["plan"]);
    // Ids the simulator gave out are stable per environment; the folder is not.
    insta::assert_snapshot!("plan-seed-change", scrub(&env, &text));
}

#[test]
fn rehearse_deploy_of_the_seed() {
    let env = Env::new("seed");
    pin_text(
        "rehearse-seed",
        &env,
        &["rehearse", "deploy", "--seed", "5"],
    );
    pin_json(
        "rehearse-seed-json",
        &env,
        &["rehearse", "deploy", "--seed", "5"],
    );
    pin_json(
        "rehearse-seed-crash-json",
        &env,
        &[
            "rehearse",
            "deploy",
            "--seed",
            "7",
            "--fault",
            "crash@90s",
            "--fault",
            "slow-start=4",
        ],
    );
    pin_text(
        "rehearse-seed-unhealthy-image",
        &env,
        &[
            "rehearse",
            "deploy",
            "--seed",
            "3",
            "--fault",
            "unhealthy-image",
        ],
    );
}

#[test]
fn rehearse_deploy_with_better_settings() {
    let env = Env::new("seed");
    env.edit(
        "minimum_healthy_percent = 0",
        "minimum_healthy_percent = 100",
    );
    env.edit("maximum_percent = 100", "maximum_percent = 200");
    // One instance: ECS cannot place the new task (the static host port is taken).
    pin_text(
        "rehearse-stuck",
        &env,
        &["rehearse", "deploy", "--seed", "5"],
    );
    pin_json(
        "rehearse-stuck-json",
        &env,
        &["rehearse", "deploy", "--seed", "5"],
    );
    // Two instances: no downtime.
    env.edit("instance_count = 1", "instance_count = 2");
    pin_text(
        "rehearse-two-instances",
        &env,
        &["rehearse", "deploy", "--seed", "5"],
    );
    pin_json(
        "rehearse-two-instances-failing-health-json",
        &env,
        &[
            "rehearse",
            "deploy",
            "--seed",
            "11",
            "--fault",
            "failing-health@60s+300s",
        ],
    );
}

/// `rehearse deploy` with a fault after the deployment completed (at about
/// +5m): the crash at +40m is rehearsed and reported, not dropped.
#[test]
fn rehearse_deploy_with_a_fault_after_it_completed() {
    let env = Env::new("seed");
    pin_text(
        "rehearse-seed-crash-after-deploy",
        &env,
        &["rehearse", "deploy", "--seed", "5", "--fault", "crash@40m"],
    );
}

#[test]
fn rehearse_incident_of_the_seed() {
    let env = Env::new("seed");
    let args = [
        "rehearse",
        "incident",
        "--seed",
        "5",
        "--fault",
        "crash@2m",
        "--fault",
        "instance-lost@10m",
        "--for",
        "1h",
    ];
    pin_text("rehearse-incident-seed", &env, &args);
    pin_json("rehearse-incident-seed-json", &env, &args);
    // Failing health checks on one of two tasks on two instances: no downtime.
    env.edit("instance_count = 1", "instance_count = 2");
    env.edit("desired_count = 1", "desired_count = 2");
    pin_text(
        "rehearse-incident-two-instances-failing-health",
        &env,
        &[
            "rehearse",
            "incident",
            "--seed",
            "5",
            "--fault",
            "failing-health@2m+5m",
        ],
    );
}

/// What a user reads when a rehearsal cannot run as asked: one line with a
/// hint on stderr, exit 64 (usage), nothing on stdout.
#[test]
fn rehearse_usage_errors() {
    let env = Env::new("seed");
    let cases: [&[&str]; 8] = [
        &["rehearse", "incident", "--fault", "explode@2m"],
        &["rehearse", "incident", "--fault", "crash"],
        &["rehearse", "incident", "--fault", "crash@soon"],
        &["rehearse", "incident"],
        &["rehearse", "incident", "--fault", "slow-start=4"],
        &["rehearse", "incident", "--fault", "crash@2h", "--for", "1h"],
        &[
            "rehearse", "incident", "--fault", "crash@2m", "--for", "a while",
        ],
        &["rehearse", "deploy", "--fault", "failing-health"],
    ];
    let mut out = String::new();
    for args in cases {
        let o = env.run(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(common::code(&o), 64, "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        out.push_str(&format!("$ chronous {}\n{stderr}", args.join(" ")));
    }
    insta::assert_snapshot!("rehearse-usage-errors", out);
}

/// Every key of a JSON value with the type of its value (ids, times and counts
/// vary; the shape a script reads must not).
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => Value::String("null".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::String(_) => Value::String("string".into()),
        Value::Array(a) => {
            // The distinct shapes of the elements, in order of first appearance.
            let mut seen: Vec<Value> = Vec::new();
            for s in a.iter().map(shape) {
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            Value::Array(seen)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

#[test]
fn status_json_shape_before_and_after_apply() {
    let env = Env::new("seed");
    let before = env.json(&["status"]);
    insta::assert_snapshot!("status-before-apply-shape", pretty(&shape(&before)));
    env.ok(&["apply", "--auto-approve"]);
    let after = env.json(&["status"]);
    insta::assert_snapshot!("status-after-apply-shape", pretty(&shape(&after)));
    // The values a script is most likely to read, exactly.
    let resources = after["resources"].as_array().map(Vec::len);
    insta::assert_snapshot!(
        "status-after-apply-values",
        pretty(&serde_json::json!({
            "environment": after["environment"],
            "backend": after["backend"],
            "resources": resources,
        }))
    );
}

/// The shape of `status --json` of an environment running on real containers,
/// once the service is healthy behind the load balancer.
#[test]
fn status_json_shape_with_real_containers() {
    let env = Env::docker("seed");
    env.ok(&["apply", "--auto-approve"]);
    let healthy = env.json(&["status", "--wait-healthy", "--timeout", "120"]);
    insta::assert_snapshot!("status-docker-shape", pretty(&shape(&healthy)));
}

/// `check reach`: the seed's matrix, one question explained (text and
/// `--json`), and the usage errors (exit 64, one line with the valid names).
#[test]
fn check_reach_of_the_seed() {
    let env = Env::new("seed");
    pin_text("check-reach-seed", &env, &["check", "reach"]);
    pin_text(
        "check-reach-seed-bastion-instances-22",
        &env,
        &["check", "reach", "bastion", "instances", "22"],
    );
    pin_json(
        "check-reach-seed-internet-elb-80-json",
        &env,
        &["check", "reach", "internet", "elb", "80/tcp"],
    );
    let cases: [&[&str]; 4] = [
        &["check", "reach", "bastoin", "instances", "22"],
        &["check", "reach", "bastion", "instances", "ssh"],
        &["check", "reach", "bastion", "instances"],
        &["check", "reach", "operator", "matrix", "icmp"],
    ];
    let mut out = String::new();
    for args in cases {
        let o = env.run(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(common::code(&o), 64, "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        out.push_str(&format!("$ chronous {}\n{stderr}", args.join(" ")));
    }
    insta::assert_snapshot!("check-reach-usage-errors", out);
}
