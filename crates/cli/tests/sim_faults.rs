//! Faults injected into a running simulated environment (`chronous sim
//! fault ...`) and forced deployments (`chronous deploy
//! --force-new-deployment`), on real containers: the service's and the load
//! balancer's reaction, as ECS and a classic ELB would react. Health checks
//! run 30 times faster than AWS's (interval 1 s, healthy after 10 passes,
//! unhealthy after 2 failures); one container instance, desired count 1,
//! minimum 0 %, maximum 100 %.

mod common;

use std::time::{Duration, Instant};

use common::{code, docker, http_get, Env};

fn status(env: &Env) -> serde_json::Value {
    env.json(&["status"])
}

/// (task id, instance id) of the RUNNING tasks.
fn running_tasks(env: &Env) -> Vec<(String, String)> {
    status(env)["runtime"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["last_status"] == "RUNNING")
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["instance_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The load balancer's instances: (instance id, state).
fn elb_instances(env: &Env) -> Vec<(String, String)> {
    status(env)["runtime"]["elb"]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn events(env: &Env) -> Vec<String> {
    status(env)["runtime"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    t.elapsed()
}

fn up(env: &Env) -> String {
    env.ok(&["apply", "--auto-approve"]);
    env.ok(&["status", "--wait-healthy", "--timeout", "120"]);
    env.ok(&["output", "elb_dns"]).trim().to_string()
}

/// `chronous --json sim fault ARGS`: the report of what was hit.
fn fault(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["sim", "fault"];
    a.extend_from_slice(args);
    env.json(&a)
}

/// A served request again, by a task other than `old`, InService.
fn served_again(env: &Env, addr: &str, old: &str, what: &str) -> Duration {
    wait_for(what, Duration::from_secs(90), || {
        http_get(addr, "/gettoken").0 == 200 && running_tasks(env).iter().all(|(t, _)| t != old)
    })
}

#[test]
fn each_injected_fault_gets_the_reaction_ecs_and_the_elb_would_give() {
    let env = Env::docker("seed");
    let addr = up(&env);
    assert_eq!(http_get(&addr, "/gettoken").0, 200);

    // Unknown targets are clear errors naming what there is; bad durations are usage errors.
    let o = env.run(&["sim", "fault", "crash", "no-such-task"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("no task `no-such-task` runs; running tasks: "),
        "{err}"
    );
    let o = env.run(&["sim", "fault", "instance-lost", "i-nope"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("no container instance `i-nope`"), "{err}");
    let o = env.run(&["sim", "fault", "failing-health", "--for", "soon"]);
    assert_eq!(code(&o), 64, "{}", String::from_utf8_lossy(&o.stderr));

    // crash: the container is killed; ECS stops the task (essential container
    // exited) and starts a replacement, InService after 10 passes.
    let before = running_tasks(&env);
    assert_eq!(before.len(), 1);
    let r = fault(&env, &["crash"]);
    assert_eq!(r["fault"], "crash", "{r}");
    assert_eq!(r["target"], before[0].0.as_str(), "{r}");
    assert_eq!(r["instance"], before[0].1.as_str(), "{r}");
    wait_for(
        "503 while no instance is in service",
        Duration::from_secs(10),
        || http_get(&addr, "/gettoken").0 == 503,
    );
    let t = served_again(&env, &addr, &before[0].0, "the crashed task replaced");
    eprintln!("crash: served again after {t:?}");
    // The stopped task's reason, worded as ECS's.
    let text = env.ok(&["status"]);
    assert!(
        text.contains("Essential container in task exited"),
        "{text}"
    );

    // failing-health: the ELB sees the task fail (OutOfService after 2
    // checks), ECS replaces the unhealthy task, the new one goes InService.
    let before = running_tasks(&env);
    let r = fault(&env, &["failing-health", "--for", "5m"]);
    assert_eq!(r["fault"], "failing-health", "{r}");
    assert_eq!(r["target"], before[0].0.as_str(), "{r}");
    assert!(r["until"].is_string(), "{r}");
    let out = wait_for("OutOfService", Duration::from_secs(20), || {
        elb_instances(&env).iter().any(|(_, s)| s == "OutOfService")
            || running_tasks(&env).iter().all(|(t, _)| t != &before[0].0)
    });
    assert!(out <= Duration::from_secs(8), "OutOfService after {out:?}");
    let t = served_again(&env, &addr, &before[0].0, "the unhealthy task replaced");
    eprintln!("failing-health: served again after {t:?}");
    assert!(
        elb_instances(&env).iter().all(|(_, s)| s == "InService"),
        "{:?}",
        elb_instances(&env)
    );
    let text = env.ok(&["status"]);
    assert!(text.contains("Task failed ELB health checks"), "{text}");

    // instance-lost: the task goes with its instance; nothing can be placed
    // until the auto scaling group's replacement (3 min of AWS time) registers.
    let before = running_tasks(&env);
    let lost = before[0].1.clone();
    let r = fault(&env, &["instance-lost", "--replace-after", "3m"]);
    assert_eq!(r["fault"], "instance-lost", "{r}");
    assert_eq!(r["target"], lost.as_str(), "{r}");
    assert_eq!(r["tasks"], serde_json::json!([before[0].0]), "{r}");
    let t0 = Instant::now();
    wait_for(
        "503 while the instance is gone",
        Duration::from_secs(10),
        || http_get(&addr, "/gettoken").0 == 503,
    );
    let t = served_again(
        &env,
        &addr,
        &before[0].0,
        "a task on the replacement instance",
    );
    eprintln!("instance-lost: served again after {t:?}");
    assert!(
        t0.elapsed() >= Duration::from_secs(6),
        "served before the replacement was due (3 min / 30): {:?}",
        t0.elapsed()
    );
    let now = running_tasks(&env);
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].1, lost, "the task runs on the replacement instance");
    assert!(
        elb_instances(&env).iter().all(|(i, _)| i != &lost),
        "{:?}",
        elb_instances(&env)
    );
    let ev = events(&env);
    assert!(
        ev.iter()
            .any(|e| e.contains(&format!("launched container instance {}", now[0].1))),
        "{ev:?}"
    );

    // restart-db: the database container restarts; the app answers again.
    let db = env.json(&["state", "show", "aws_db_instance.main"])["outputs"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    let started = |c: &str| {
        String::from_utf8_lossy(&docker(&["inspect", "-f", "{{.State.StartedAt}}", c]).stdout)
            .trim()
            .to_string()
    };
    let before_start = started(&db);
    let r = fault(&env, &["restart-db"]);
    assert_eq!(r["fault"], "restart-db", "{r}");
    assert_eq!(r["container"], db.as_str(), "{r}");
    assert_ne!(
        started(&db),
        before_start,
        "the database container restarted"
    );
    let t = wait_for("/gettoken to answer again", Duration::from_secs(90), || {
        http_get(&addr, "/gettoken").0 == 200
    });
    eprintln!("restart-db: /gettoken answered again after {t:?}");
}

#[test]
fn a_forced_new_deployment_replaces_the_tasks_of_the_same_revision() {
    let env = Env::docker("seed");
    let addr = up(&env);
    let before = running_tasks(&env);
    let td = status(&env)["runtime"]["service"]["task_definition"].clone();

    // The image the service already runs, deployed again (a mutable tag
    // pushed again): the plan has nothing to change, the forced deployment
    // replaces the task anyway.
    let out = env.ok(&[
        "deploy",
        "--image",
        "chronous-payments-web-api:1.0",
        "--force-new-deployment",
        "--auto-approve",
        "--timeout",
        "120",
    ]);
    assert!(out.contains("Rollout complete"), "{out}");
    let after = running_tasks(&env);
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].0, before[0].0, "the task was not replaced:\n{out}");
    let st = status(&env);
    let svc = &st["runtime"]["service"];
    assert_eq!(svc["task_definition"], td, "{st}");
    assert_eq!(svc["deployments"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(svc["deployments"][0]["rollout_state"], "COMPLETED", "{st}");
    assert_eq!(http_get(&addr, "/gettoken").0, 200);

    // Alone, without --image: the same.
    let o = env.run(&[
        "--json",
        "deploy",
        "--force-new-deployment",
        "--timeout",
        "120",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["event"] == "rollout" && v["outcome"] == "completed"),
        "{out}"
    );
    let again = running_tasks(&env);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].0, after[0].0, "the task was not replaced:\n{out}");
    // Nothing drifted: the plan is empty.
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}

/// On the model runtime nothing runs: a fault is a clear error; a forced
/// deployment is recorded in the control plane without drift; `deploy` needs
/// `--image` or `--force-new-deployment`.
#[test]
fn on_the_model_runtime_faults_are_refused_and_forced_deployments_recorded() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    let o = env.run(&["sim", "fault", "crash"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("faults are injected into the simulator's running containers"),
        "{err}"
    );
    let o = env.run(&["deploy", "--auto-approve"]);
    assert_eq!(code(&o), 64, "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.ok(&["deploy", "--force-new-deployment"]);
    assert!(
        out.contains("Forced a new deployment of aws_ecs_service.payments_api"),
        "{out}"
    );
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}
