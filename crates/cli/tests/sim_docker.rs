//! The simulator with real containers: the database restored from the
//! XtraBackup-format fixture, the payments app behind the simulated ELB, the
//! controller replacing failed tasks, and destroy leaving nothing labelled.
//! Health checks run 30 times faster than AWS's (interval 1 s, healthy after
//! 10 passes, unhealthy after 2 failures).

mod common;

use std::time::{Duration, Instant};

use common::{code, docker, http_get, http_post, labelled, Env};

fn elb(env: &Env) -> String {
    env.ok(&["output", "elb_dns"]).trim().to_string()
}

fn status(env: &Env) -> serde_json::Value {
    env.json(&["status"])
}

fn running_tasks(env: &Env) -> Vec<(String, String)> {
    let s = status(env);
    s["runtime"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| {
            t["last_status"]
                .as_str()
                .unwrap_or("")
                .starts_with("RUNNING")
        })
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["container"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.elapsed()
}

fn up(env: &Env) -> String {
    env.ok(&["apply", "--auto-approve"]);
    env.ok(&["status", "--wait-healthy", "--timeout", "120"]);
    // One task was started, it runs, nothing was stopped on the way, and the
    // first deployment is COMPLETED.
    let st = status(env);
    let tasks = st["runtime"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{st}");
    assert_eq!(tasks[0]["last_status"], "RUNNING", "{st}");
    let deployments = &st["runtime"]["service"]["deployments"];
    assert_eq!(deployments.as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(deployments[0]["rollout_state"], "COMPLETED", "{st}");
    elb(env)
}

fn checksums(container: &str) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for table in ["customers", "payments", "tokens"] {
        let o = docker(&["exec", container, "mariadb", "--batch", "--skip-column-names", "-e", &format!("CHECKSUM TABLE paymentsdb.{table} EXTENDED; SELECT COUNT(*) FROM paymentsdb.{table}")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let mut lines = text.lines();
        let checksum: u64 = lines
            .next()
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let rows: u64 = lines.next().unwrap().trim().parse().unwrap();
        out.insert(
            table.to_string(),
            serde_json::json!({"checksum": checksum, "rows": rows}),
        );
    }
    serde_json::Value::Object(out)
}

fn db_container(env: &Env) -> String {
    let st = env.json(&["state", "show", "aws_db_instance.main"]);
    st["outputs"]["container"]
        .as_str()
        .expect("the database container is recorded")
        .to_string()
}

#[test]
fn restored_database_matches_the_backup_and_the_app_serves_its_rows() {
    // Brought up and always cleaned up by chronous-testing's guard.
    common::ensure_images();
    let env = chronous_testing::Environment::from_dir(common::repo().join("fixtures/seed"))
        .name(format!("restore-{}", std::process::id()))
        .binary(common::BIN)
        .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
        .env("CHRONOUS_SIM_RUNTIME", "docker")
        .env("CHRONOUS_SIM_TIME_SCALE", "30")
        .healthy_timeout(Duration::from_secs(120))
        .up()
        .unwrap();
    let addr = env.elb_url().trim_start_matches("http://").to_string();
    // One task was started, it runs, nothing was stopped on the way, and the
    // first deployment is COMPLETED.
    let st = env.json(&["status"]).unwrap();
    let tasks = st["runtime"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{st}");
    assert_eq!(tasks[0]["last_status"], "RUNNING", "{st}");
    let deployments = &st["runtime"]["service"]["deployments"];
    assert_eq!(deployments.as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(deployments[0]["rollout_state"], "COMPLETED", "{st}");

    // Every table as it was at backup time.
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("fixtures/backup/db-backup.checksums.json"))
            .unwrap(),
    )
    .unwrap();
    let db = env
        .json(&["state", "show", "aws_db_instance.main"])
        .unwrap();
    let container = db["outputs"]["container"]
        .as_str()
        .expect("the database container is recorded");
    assert_eq!(checksums(container), expected["tables"]);

    // Through the load balancer: a token read through the database, and rows from the backup.
    let (s, body) = http_get(&addr, "/gettoken");
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["token"].as_str().unwrap().len(), 64);
    assert_eq!(v["payments"], 400);
    let (s, body) = http_get(&addr, "/payments/1");
    assert_eq!(s, 200, "{body}");
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["id"], 1);

    // Status says where the backup came from and that the database is ready.
    assert_eq!(st["database"]["ready"], true, "{st}");
    assert!(st["runtime"]["time_scale"].as_f64().unwrap() == 30.0);
    let text = env.run(&["status"]).unwrap();
    assert!(text.contains("time scale 30"), "{text}");

    // ssh: a shell on the private side, where the database answers by its RDS name.
    let rds = env
        .output("rds_endpoint")
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let mut child = env
        .command(&["ssh"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "getent hosts {rds} db; exit").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains(&rds), "{text}");

    // Logs of the task: the app's request lines.
    let logs = env.run(&["logs"]).unwrap();
    assert!(logs.contains("GET /gettoken"), "{logs}");

    // Destroy removes every container, volume and network of the environment, and only those.
    let name = env.name().to_string();
    let other = docker(&[
        "volume",
        "create",
        "--label",
        "chronous.environment=someone-else",
        &format!("keep-{name}"),
    ]);
    assert!(other.status.success());
    env.down().unwrap();
    assert_eq!(labelled(&name), (vec![], vec![], vec![]));
    let still = docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=chronous.environment=someone-else",
    ]);
    assert!(String::from_utf8_lossy(&still.stdout).contains(&format!("keep-{name}")));
    docker(&["volume", "rm", &format!("keep-{name}")]);
}

#[test]
fn a_killed_task_gives_503_until_its_replacement_is_in_service() {
    let env = Env::docker("seed");
    let addr = up(&env);
    assert_eq!(http_get(&addr, "/gettoken").0, 200);
    let before = running_tasks(&env);
    assert_eq!(before.len(), 1);
    assert!(docker(&["kill", &before[0].1]).status.success());

    // Unavailable while no instance is in service...
    let t = Instant::now();
    wait_for(
        "the load balancer to answer 503",
        Duration::from_secs(10),
        || http_get(&addr, "/gettoken").0 == 503,
    );
    // ... then served by a new task, healthy after 10 passes of 1 s.
    let back = wait_for(
        "a replacement task in service",
        Duration::from_secs(60),
        || http_get(&addr, "/gettoken").0 == 200,
    );
    let after = running_tasks(&env);
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].0, before[0].0, "the killed task was not replaced");
    assert!(
        back >= Duration::from_secs(5),
        "InService too early ({back:?}) for a healthy threshold of 10 x 1 s"
    );
    eprintln!("outage after docker kill: {:?}", t.elapsed());
    let events = env.ok(&["status"]);
    assert!(
        events.contains("Essential container in task exited"),
        "{events}"
    );
}

#[test]
fn a_paused_task_goes_out_of_service_and_is_replaced() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let before = running_tasks(&env);
    assert!(docker(&["pause", &before[0].1]).status.success());
    let t = Instant::now();
    let out = wait_for("OutOfService", Duration::from_secs(20), || {
        let s = status(&env);
        s["runtime"]["elb"]["instances"]
            .as_array()
            .is_some_and(|v| v.iter().any(|i| i["state"] == "OutOfService"))
            || running_tasks(&env).iter().all(|(id, _)| id != &before[0].0)
    });
    // UnhealthyThreshold (2) x Interval (1 s), with the check timeout and a reconcile tick of slack.
    assert!(out <= Duration::from_secs(6), "OutOfService after {out:?}");
    wait_for(
        "the paused task to be replaced",
        Duration::from_secs(30),
        || running_tasks(&env).iter().all(|(id, _)| id != &before[0].0),
    );
    wait_for("a replacement in service", Duration::from_secs(60), || {
        http_get(&addr, "/gettoken").0 == 200
    });
    eprintln!(
        "paused task replaced and served again after {:?}",
        t.elapsed()
    );
    let text = env.ok(&["status"]);
    assert!(text.contains("Task failed ELB health checks"), "{text}");
}

#[test]
fn a_killed_controller_comes_back_and_adopts_the_running_containers() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let (s, body) = http_post(
        &addr,
        "/payments",
        r#"{"customer_id": 7, "amount_cents": 1234, "currency": "EUR", "reference": "written-before"}"#,
    );
    assert_eq!(s, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].clone();
    let tasks = running_tasks(&env);
    let pid: i32 = std::fs::read_to_string(env.dir.join(".chronous/controller.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(unsafe_kill(pid), 0);
    wait_for("the controller to die", Duration::from_secs(5), || {
        std::fs::metadata(format!("/proc/{pid}")).is_err()
    });
    // The workload keeps running without it.
    let (c, _, _) = labelled(&env.name);
    assert!(c.len() >= 3);
    // Any command that needs it starts it again; it adopts, does not duplicate.
    env.ok(&["status"]);
    std::thread::sleep(Duration::from_secs(2));
    let again = running_tasks(&env);
    assert_eq!(again, tasks, "the running task was not adopted as it was");
    let new_pid: i32 = std::fs::read_to_string(env.dir.join(".chronous/controller.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, pid);
    // The ELB keeps the adopted task in service (as AWS's would across a
    // scheduler restart): no HealthyThreshold (10 passes of 1 s) to wait again.
    let back = wait_for("the load balancer back", Duration::from_secs(60), || {
        http_get(&addr, "/gettoken").0 == 200
    });
    assert!(
        back < Duration::from_secs(5),
        "the adopted task was not kept in service ({back:?})"
    );
    let st = status(&env);
    assert_eq!(
        st["runtime"]["service"]["deployments"][0]["rollout_state"], "COMPLETED",
        "{st}"
    );
    let (s, body) = http_get(&addr, &format!("/payments/{id}"));
    assert_eq!(s, 200);
    assert!(body.contains("written-before"), "{body}");
    assert_eq!(running_tasks(&env).len(), 1);
    assert_eq!(code(&env.run(&["plan", "--detailed-exitcode"])), 0);

    // The database container removed behind chronous's back: the instance
    // shows as deleted, and apply brings it back on its data volume.
    assert!(docker(&["rm", "-f", &db_container(&env)]).status.success());
    let text = env.ok(&["plan"]);
    assert!(text.contains("aws_db_instance.main was deleted"), "{text}");
    env.ok(&["apply", "--auto-approve"]);
    env.ok(&["status", "--wait-healthy", "--timeout", "120"]);
    wait_for(
        "the app to reach the database again",
        Duration::from_secs(60),
        || http_get(&addr, "/gettoken").0 == 200,
    );
    let (s, body) = http_get(&addr, &format!("/payments/{id}"));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("written-before"), "{body}");
}

fn unsafe_kill(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .map(|s| s.code().unwrap_or(1))
        .unwrap_or(1)
}

#[test]
fn a_missing_image_is_a_clear_error_and_nothing_is_left_behind() {
    let env = Env::docker("seed");
    env.edit("tag = \"1.0\"", "tag = \"does-not-exist\"");
    let o = env.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("chronous-payments-web-api:does-not-exist")
            && err.contains("not in the local Docker image store"),
        "{err}"
    );
    // What completed is recorded; destroy removes it all.
    env.ok(&["destroy", "--auto-approve"]);
    assert_eq!(labelled(&env.name), (vec![], vec![], vec![]));
}

/// Bring the environment up, rehearse a deployment for real under load, and
/// return the rehearsal's report (the JSON line with `"event": "rehearsal"`).
fn rehearse_under_load(env: &Env) -> serde_json::Value {
    up(env);
    let out = env.ok(&[
        "--json",
        "rehearse",
        "deploy",
        "--runtime",
        "docker",
        "--seed",
        "1",
        "--timeout",
        "120",
    ]);
    let r = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "rehearsal")
        .unwrap_or_else(|| panic!("no rehearsal report in:\n{out}"));
    assert_eq!(r["rollout_ok"], true, "{r}");
    r
}

#[test]
fn under_load_the_seed_settings_fail_requests_only_inside_the_predicted_window() {
    let env = Env::docker("seed");
    let r = rehearse_under_load(&env);
    let predicted = r["predicted_downtime_scaled_s"].as_f64().unwrap();
    let measured = r["measured"]["downtime_s"].as_f64().unwrap();
    assert!(
        r["measured"]["failed"].as_u64().unwrap() > 0,
        "stop-then-start must show an outage: {r}"
    );
    // The load starts 1 s before the deployment: every failure lies inside the
    // predicted window (from the deployment's start), with 3 s of slack for
    // the difference between the model's start-up timings and the real ones.
    for w in r["measured"]["failure_windows_ms"].as_array().unwrap() {
        let (s, e) = (
            w[0].as_f64().unwrap() / 1000.0 - 1.0,
            w[1].as_f64().unwrap() / 1000.0 - 1.0,
        );
        assert!(
            s >= -0.5 && e <= predicted + 3.0,
            "failures at {s:.2}..{e:.2} s outside the predicted 0..{predicted:.2} s: {r}"
        );
    }
    eprintln!("seed settings: measured {measured:.2} s of failures, predicted {predicted:.2} s");
}

#[test]
fn under_load_minimum_100_maximum_200_on_two_instances_fails_no_request() {
    let env = Env::docker("seed");
    env.edit(
        "minimum_healthy_percent = 0",
        "minimum_healthy_percent = 100",
    );
    env.edit("maximum_percent = 100", "maximum_percent = 200");
    env.edit("instance_count = 1", "instance_count = 2");
    let r = rehearse_under_load(&env);
    assert_eq!(r["predicted"]["predicted_downtime_ms"], 0, "{r}");
    assert!(r["measured"]["sent"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["measured"]["failed"], 0, "{r}");
}

/// Removes a locally built image when the test ends, passed or not.
struct ImageGuard(String);
impl Drop for ImageGuard {
    fn drop(&mut self) {
        docker(&["rmi", "-f", &self.0]);
    }
}

#[test]
fn a_deploy_whose_image_fails_its_health_check_trips_the_circuit_breaker_and_rolls_back() {
    let env = Env::docker("seed");
    env.edit(
        "environment = { DB_NAME = \"paymentsdb\" }",
        "environment = { DB_NAME = \"paymentsdb\" }\ncircuit_breaker = { enable = true, rollback = true }",
    );
    let addr = up(&env);
    let good = status(&env)["runtime"]["service"]["task_definition"].clone();
    // An image that runs but answers 404 on the health check's path.
    let tag = format!("broken-{}", env.name);
    let image = format!("chronous-payments-web-api:{tag}");
    let _guard = ImageGuard(image.clone());
    let ctx = env.dir.join("broken-image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM chronous-payments-web-api:1.0\nCMD [\"python3\", \"-m\", \"http.server\", \"80\"]\n",
    )
    .unwrap();
    let b = docker(&["build", "-q", "-t", &image, ctx.to_str().unwrap()]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));

    let o = env.run(&[
        "--json",
        "deploy",
        "--image",
        &image,
        "--auto-approve",
        "--timeout",
        "180",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{out}\n{err}");
    // Under --json the error is a JSON line on stdout too.
    let error = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error line in:\n{out}\n{err}"));
    assert!(
        error.contains("circuit breaker: tasks failed health checks.")
            && error.contains("rolled back to"),
        "{error}"
    );
    let outcome = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "rollout")
        .unwrap_or_else(|| panic!("no rollout outcome in:\n{out}"));
    assert_eq!(outcome["outcome"], "failed", "{outcome}");
    assert!(
        out.contains("deployment failed: tasks failed health checks."),
        "{out}"
    );
    // Three tasks of the new revision failed (the threshold for desired 1),
    // then the previous revision came back and serves again.
    wait_for("the rollback to serve", Duration::from_secs(90), || {
        http_get(&addr, "/gettoken").0 == 200
    });
    // As on AWS, the control plane holds the revision rolled back to
    // (DescribeServices shows it): `status` says so ...
    let failed_td = env.json(&["state", "show", "aws_ecs_task_definition.payments_api"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(good.as_str(), Some(failed_td.as_str()));
    let st = status(&env);
    let svc = &st["runtime"]["service"];
    assert_eq!(svc["task_definition"], good, "{st}");
    assert_eq!(svc["requested_task_definition"], good, "{st}");
    // ... and the next plan shows the service drifted back to it and offers
    // to update it to the failed revision again, as terraform would.
    let o = env.run(&["plan", "--detailed-exitcode"]);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        code(&o),
        2,
        "{plan}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        plan.contains("aws_ecs_service.payments_api") && plan.contains(&failed_td),
        "{plan}"
    );
    let change = plan
        .lines()
        .find(|l| l.contains("task_definition") && l.contains("->"))
        .unwrap_or_else(|| panic!("no task_definition change in:\n{plan}"));
    assert!(
        change.contains(good.as_str().unwrap()) && change.contains(&failed_td),
        "{change}"
    );
    let failed = st["runtime"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["stopped_reason"]
                .as_str()
                .is_some_and(|r| r.contains("Task failed ELB health checks"))
        })
        .count();
    assert!(failed >= 1, "{st}");
}
