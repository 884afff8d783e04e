//! End-to-end workflows of the seed environment on the simulator's control plane.

mod common;

use common::{code, Env};

/// The changes of a JSON plan, as (address, action).
fn actions(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const SEED_KINDS: &[&str] = &[
    "aws_vpc.",
    "aws_subnet.",
    "aws_internet_gateway.",
    "aws_eip.",
    "aws_nat_gateway.",
    "aws_route_table.",
    "aws_route_table_association.",
    "aws_security_group.",
    "aws_security_group_rule.",
    "aws_key_pair.",
    "aws_iam_role.",
    "aws_iam_role_policy_attachment.",
    "aws_iam_role_policy.",
    "aws_iam_instance_profile.",
    "aws_launch_template.",
    "aws_autoscaling_group.",
    "aws_ecs_cluster.",
    "aws_ecr_repository.",
    "aws_ecs_task_definition.",
    "aws_ecs_service.",
    "aws_elb.",
    "aws_cloudwatch_log_group.",
    "aws_s3_bucket.",
    "aws_s3_object.",
    "aws_db_subnet_group.",
    "aws_db_instance.",
    "aws_instance.bastion",
];

#[test]
fn seed_plan_apply_update_replace_destroy() {
    let env = Env::new("seed");

    // The plan lists every resource of the seed, each after all it depends on.
    let plan = env.json(&["plan"]);
    let changes = actions(&plan);
    assert!(changes.iter().all(|(_, a)| a == "create"));
    for k in SEED_KINDS {
        assert!(
            changes.iter().any(|(a, _)| a.starts_with(k)),
            "plan has no {k}"
        );
    }
    assert_eq!(
        changes
            .iter()
            .filter(|(a, _)| a.starts_with("aws_subnet."))
            .count(),
        5
    );
    assert_eq!(
        changes
            .iter()
            .filter(|(a, _)| a.starts_with("aws_security_group."))
            .count(),
        4
    );
    assert_eq!(
        changes
            .iter()
            .filter(|(a, _)| a.starts_with("aws_nat_gateway."))
            .count(),
        2
    );
    let pos = |a: &str| {
        changes
            .iter()
            .position(|(x, _)| x == a)
            .unwrap_or_else(|| panic!("{a} not planned"))
    };
    for c in plan["changes"].as_array().unwrap() {
        for d in c["deps"].as_array().into_iter().flatten() {
            assert!(
                pos(d.as_str().unwrap()) < pos(c["address"].as_str().unwrap()),
                "{} planned before its dependency {d}",
                c["address"]
            );
        }
    }
    assert!(
        !env.dir.join(".chronous/state.json").exists(),
        "plan must not write state"
    );

    // Apply creates them; the next plan is empty (exit 0 with --detailed-exitcode).
    env.ok(&["apply", "--auto-approve"]);
    let addrs = env.state_addresses();
    assert_eq!(addrs.len(), changes.len());
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("No changes."));

    // A new image tag: exactly a new task-definition revision and a service update.
    env.edit("tag = \"1.0\"", "tag = \"1.1\"");
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2);
    let plan = env.json(&["plan"]);
    assert_eq!(
        actions(&plan),
        vec![
            (
                "aws_ecs_task_definition.payments_api".to_string(),
                "create_then_delete".to_string()
            ),
            (
                "aws_ecs_service.payments_api".to_string(),
                "update".to_string()
            ),
        ]
    );
    let td = &plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "aws_ecs_task_definition.payments_api")
        .unwrap()["attrs"];
    assert_eq!(td[0]["name"], "container.image");
    assert!(td[0]["after"].as_str().unwrap().ends_with(":1.1"));
    env.ok(&["apply", "--auto-approve"]);
    let show = env.json(&["state", "show", "aws_ecs_task_definition.payments_api"]);
    assert_eq!(show["outputs"]["revision"], 2);

    // A new instance type: the launch template is replaced create-before-destroy
    // and the auto scaling group rolls out to it.
    env.edit(
        "instance_type = \"t2.nano\"\ninstance_count",
        "instance_type = \"t2.micro\"\ninstance_count",
    );
    let plan = env.json(&["plan"]);
    assert_eq!(
        actions(&plan),
        vec![
            (
                "aws_launch_template.container_instances".to_string(),
                "create_then_delete".to_string()
            ),
            (
                "aws_autoscaling_group.container_instances".to_string(),
                "update".to_string()
            ),
        ]
    );
    let text = env.ok(&["plan"]);
    assert!(
        text.contains("+/- aws_launch_template.container_instances"),
        "{text}"
    );
    assert!(
        text.contains("instance_type: \"t2.nano\" -> \"t2.micro\"  # forces replacement"),
        "{text}"
    );
    let before = env.json(&["state", "show", "aws_autoscaling_group.container_instances"])
        ["outputs"]["instance_ids"]
        .clone();
    let lt_before =
        env.json(&["state", "show", "aws_launch_template.container_instances"])["id"].clone();
    let out = env.ok(&["apply", "--auto-approve"]);
    // The new template is created before the old one is destroyed.
    let created = out
        .find("aws_launch_template.container_instances: Creation complete")
        .unwrap();
    let rolled = out
        .find("aws_autoscaling_group.container_instances: Modifications complete")
        .unwrap();
    let destroyed = out
        .find("aws_launch_template.container_instances: Destruction complete")
        .unwrap();
    assert!(created < rolled && rolled < destroyed, "{out}");
    let after = env.json(&["state", "show", "aws_autoscaling_group.container_instances"])
        ["outputs"]["instance_ids"]
        .clone();
    assert_ne!(before, after, "the group's instances were not rolled");
    assert_ne!(
        lt_before,
        env.json(&["state", "show", "aws_launch_template.container_instances"])["id"]
    );
    assert_eq!(code(&env.run(&["plan", "--detailed-exitcode"])), 0);

    // Outputs.
    let outs = env.json(&["output"]);
    assert!(outs["elb_dns"].as_str().unwrap().contains("elb"));
    assert!(outs["rds_endpoint"].as_str().unwrap().ends_with(":3306"));
    assert_eq!(outs["availability_zones"].as_array().unwrap().len(), 3);
    assert!(!env.ok(&["output", "bastion_public_ip"]).trim().is_empty());

    // Destroy removes everything in reverse order and leaves an empty state and cloud.
    let out = env.ok(&["destroy", "--auto-approve"]);
    let vpc = out.find("aws_vpc.main: Destruction complete").unwrap();
    let subnet = out
        .find("aws_subnet.private_a: Destruction complete")
        .unwrap();
    let service = out
        .find("aws_ecs_service.payments_api: Destruction complete")
        .unwrap();
    let cluster = out
        .find("aws_ecs_cluster.main: Destruction complete")
        .unwrap();
    assert!(subnet < vpc && service < cluster, "{out}");
    assert!(env.state_addresses().is_empty());
    assert!(env.sim_objects().is_empty());
    // No secret anywhere in what chronous wrote.
    for f in walk(&env.dir.join(".chronous")) {
        let s = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !s.contains("test-password-not-a-secret"),
            "{} holds the password",
            f.display()
        );
    }
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `plan --out NAME` with a bare file name, run from the environment folder as
/// the README shows (`cd fixtures/seed; chronous plan --out seed.plan`).
#[test]
fn a_plan_saved_under_a_bare_file_name_applies() {
    let env = Env::new("seed");
    let out = env
        .cmd(&["plan", "--out", "seed.plan"])
        .current_dir(&env.dir)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.dir.join("seed.plan").exists());
    let o = env
        .cmd(&["apply", "seed.plan"])
        .current_dir(&env.dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Apply complete! Resources: 61 added"),
        "{text}"
    );
}

#[test]
fn saved_plan_applies_exactly_and_refuses_when_state_moved() {
    let env = Env::new("seed");
    let plan_file = env.root.path().join("seed.plan");
    env.ok(&["plan", "--out", plan_file.to_str().unwrap()]);
    let stale = env.root.path().join("stale.plan");
    std::fs::copy(&plan_file, &stale).unwrap();
    let out = env.ok(&["apply", plan_file.to_str().unwrap()]);
    assert!(out.contains("Apply complete! Resources: 61 added"), "{out}");
    let o = env.run(&["apply", stale.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("make a new plan"), "{err}");
}

#[test]
fn apply_without_approval_and_without_terminal_refuses() {
    let env = Env::new("seed");
    let o = env
        .cmd(&["apply"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--auto-approve"));
    assert!(env.state_addresses().is_empty());
}

#[test]
fn a_failed_step_records_what_completed_and_the_next_apply_continues() {
    let env = Env::new("seed");
    let o = env
        .cmd(&["apply", "--auto-approve"])
        .env("CHRONOUS_SIM_FAIL_ON", "aws_ecs_cluster.main")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("injected fault") && err.contains("Run `chronous apply` again"),
        "{err}"
    );
    let partial = env.state_addresses();
    assert!(!partial.is_empty() && !partial.contains(&"aws_ecs_cluster.main".to_string()));
    assert!(!partial.contains(&"aws_ecs_service.payments_api".to_string()));
    let out = env.ok(&["apply", "--auto-approve"]);
    assert!(
        out.contains(&format!("{} added", 61 - partial.len())),
        "{out}"
    );
    assert_eq!(env.state_addresses().len(), 61);
    assert_eq!(env.sim_objects().len(), 61);
}

#[test]
fn drift_made_in_the_console_shows_in_plan_and_apply_restores_it() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    let rule = "aws_security_group_rule.elb_http_ingress_tcp_80_operator";
    env.ok(&[
        "sim",
        "console-set",
        rule,
        "cidr_blocks",
        r#"["0.0.0.0/0"]"#,
    ]);
    env.ok(&[
        "sim",
        "console-delete",
        "aws_cloudwatch_log_group.payments_api",
    ]);
    let text = env.ok(&["plan"]);
    assert!(text.contains("Objects changed outside chronous"), "{text}");
    assert!(text.contains(&format!("# {rule} changed")), "{text}");
    assert!(
        text.contains("# aws_cloudwatch_log_group.payments_api was deleted"),
        "{text}"
    );
    let plan = env.json(&["plan"]);
    assert_eq!(
        actions(&plan),
        vec![
            (rule.to_string(), "delete_then_create".to_string()),
            (
                "aws_cloudwatch_log_group.payments_api".to_string(),
                "create".to_string()
            ),
        ]
    );
    env.ok(&["apply", "--auto-approve"]);
    assert_eq!(code(&env.run(&["plan", "--detailed-exitcode"])), 0);
    let show = env.json(&["state", "show", rule]);
    assert_eq!(
        show["attrs"]["cidr_blocks"],
        serde_json::json!(["203.0.113.10/32"])
    );
}

#[test]
fn replace_marks_for_replacement_like_taint() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    let out = env.ok(&["replace", "aws_launch_template.container_instances"]);
    assert!(out.contains("marked for replacement"));
    let plan = env.json(&["plan"]);
    assert_eq!(
        actions(&plan)[0],
        (
            "aws_launch_template.container_instances".to_string(),
            "create_then_delete".to_string()
        )
    );
    env.ok(&["apply", "--auto-approve"]);
    assert_eq!(code(&env.run(&["plan", "--detailed-exitcode"])), 0);
    let o = env.run(&["replace", "aws_nothing.here"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn production_refuses_destroy_without_the_explicit_flag() {
    let env = Env::new("production");
    env.ok(&["apply", "--auto-approve"]);
    let o = env.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("marked production"));
    assert_eq!(env.state_addresses().len(), env.sim_objects().len());
    assert!(!env.state_addresses().is_empty());
    env.ok(&["destroy", "--auto-approve", "--allow-production"]);
    assert!(env.state_addresses().is_empty());
}

#[test]
fn missing_password_fails_clearly_and_keeps_what_completed() {
    let env = Env::new("seed");
    let o = env
        .cmd(&["apply", "--auto-approve"])
        .env_remove("CHRONOUS_DB_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no database password") && err.contains("CHRONOUS_DB_PASSWORD"),
        "{err}"
    );
    // In --json the failed step says what kind of failure it was: a local one.
    let o = env
        .cmd(&["--json", "apply", "--auto-approve"])
        .env_remove("CHRONOUS_DB_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let failed: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    for f in &failed {
        assert_eq!(f["kind"], "local", "{f}");
        assert!(
            !f["error"].as_str().unwrap().contains("test-password"),
            "{f}"
        );
    }
    env.ok(&["apply", "--auto-approve"]);
    assert_eq!(env.state_addresses().len(), 61);
}

#[test]
fn two_concurrent_applies_exactly_one_runs_and_the_other_names_the_holder() {
    let env = Env::new("seed");
    // Slow steps keep the first apply holding the lock while the second starts.
    let first = env
        .cmd(&["apply", "--auto-approve"])
        .env("CHRONOUS_SIM_LATENCY_MS", "40")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first one holds the lock.
    let lock = env.dir.join(".chronous/lock.json");
    let t = std::time::Instant::now();
    while !lock.exists() && t.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = env.run(&["apply", "--auto-approve"]);
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success());
    assert_eq!(
        code(&second),
        4,
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("is locked by `chronous apply` (pid ") && err.contains("force-unlock"),
        "{err}"
    );
    assert_eq!(env.state_addresses().len(), 61);
    assert_eq!(env.sim_objects().len(), 61);
}

#[test]
fn force_unlock_clears_a_lock_record_whose_holder_is_gone_and_only_with_its_id() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    // A holder that died without releasing: its record stays, the kernel lock is gone.
    let record = r#"{"id":"11111111-2222-3333-4444-555555555555","pid":999999,"host":"elsewhere","time":"2026-01-01T00:00:00Z","command":"chronous apply"}"#;
    std::fs::write(env.dir.join(".chronous/lock.json"), record).unwrap();
    let o = env.run(&["force-unlock", "not-the-id"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match"));
    let out = env.ok(&["force-unlock", "11111111-2222-3333-4444-555555555555"]);
    assert!(
        out.contains("Released the lock of `chronous apply` (pid 999999 on elsewhere"),
        "{out}"
    );
    assert!(!env.dir.join(".chronous/lock.json").exists());
    assert_eq!(code(&env.run(&["plan", "--detailed-exitcode"])), 0);
    let o = env.run(&["force-unlock", "11111111-2222-3333-4444-555555555555"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not locked"));
}

#[test]
fn rehearse_deploy_predicts_the_seed_outage_and_the_stuck_deploy() {
    let env = Env::new("seed");
    let svg = env.root.path().join("timeline.svg");
    let r = env.json(&[
        "rehearse",
        "deploy",
        "--seed",
        "5",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(r["outcome"]["status"], "completed", "{r}");
    let down = r["predicted_downtime_ms"].as_u64().unwrap();
    // Stop, then start, then 10 passing checks 30 s apart before InService.
    assert!((270_000..=330_000).contains(&down), "{down}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    // The same seed gives the same timeline.
    assert_eq!(env.json(&["rehearse", "deploy", "--seed", "5"]), r);
    let text = env.ok(&["rehearse", "deploy", "--seed", "5"]);
    assert!(
        text.contains("predicted downtime: ") && text.contains("reproduce with --seed 5"),
        "{text}"
    );

    // Minimum 100 / maximum 200 with the static port on one t2.nano: ECS cannot place the new task.
    env.edit(
        "minimum_healthy_percent = 0",
        "minimum_healthy_percent = 100",
    );
    env.edit("maximum_percent = 100", "maximum_percent = 200");
    let r = env.json(&["rehearse", "deploy", "--seed", "5"]);
    assert_eq!(r["outcome"]["status"], "stuck", "{r}");
    assert!(
        r["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("already using a port required by your task"),
        "{r}"
    );
    assert!(
        r["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("instance_count = 2")),
        "{r}"
    );
    let o = env.run(&["rehearse", "deploy", "--fault", "nonsense"]);
    assert_eq!(code(&o), 64);
}
