//! The simulator obeys the environment's security groups, as the
//! reachability engine decides them from what was applied: a load balancer
//! whose group the instances' group no longer admits has its health checks
//! time out (OutOfService, for the reason the engine gives, in `status`), and
//! a task whose group the database's group no longer admits cannot connect to
//! it: the app's connection times out, as behind a security group on AWS,
//! while the bastion still reaches the database on a rule that allows it.
//! Health checks run 30 times faster than AWS's (interval 1 s).

mod common;

use std::time::{Duration, Instant};

use chronous_testing::{Environment, Running};
use common::{http_get, keep_ingress};

const PASSWORD: &str = "test-password-not-a-secret";

fn seed(what: &str) -> Environment {
    common::ensure_images();
    Environment::from_dir(common::repo().join("fixtures/seed"))
        .name(format!("sg-{what}-{}", std::process::id()))
        .binary(common::BIN)
        .env("CHRONOUS_DB_PASSWORD", PASSWORD)
        .env("CHRONOUS_SIM_RUNTIME", "docker")
        .env("CHRONOUS_SIM_TIME_SCALE", "30")
        .healthy_timeout(Duration::from_secs(120))
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the reachability engine says on the environment's file now.
fn engine(env: &Running, from: &str, to: &str, port: &str) -> serde_json::Value {
    use chronous_core::reach::{reach, Network};
    let file = env.dir().join("chronous.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let loaded = chronous_core::env::load("chronous.toml", &text);
    let e = loaded.env.expect("a valid environment");
    let v = reach(
        &Network::from_env(&e),
        from.parse().unwrap(),
        to.parse().unwrap(),
        port.parse().unwrap(),
    );
    serde_json::to_value(&v).unwrap()
}

fn apply(env: &Running) {
    env.run(&["apply", "--auto-approve"]).unwrap();
}

#[test]
fn a_load_balancer_the_instances_no_longer_admit_marks_the_task_out_of_service_for_the_engines_reason(
) {
    let env = seed("elb").up().unwrap();
    let st = env.json(&["status"]).unwrap();
    let r = &st["runtime"]["elb"]["reachability"];
    assert_eq!(r["allowed"], true, "{r}");

    // The instances' group without its rule for the load balancer.
    env.edit(|doc| keep_ingress(doc, "sg_payments_api_internal", |s| s != "sg:elb_http"))
        .unwrap();
    apply(&env);
    let want = engine(&env, "elb", "instances", "80");
    assert_eq!(want["allowed"], false, "{want}");
    let summary = want["summary"].as_str().unwrap().to_string();

    // The checks time out, and after UnhealthyThreshold (2) of them the
    // instance is OutOfService with AWS's reason; status says why.
    let (st, inst) = wait_for("an instance OutOfService", Duration::from_secs(60), || {
        let st = env.json(&["status"]).unwrap();
        let inst = st["runtime"]["elb"]["instances"]
            .as_array()?
            .iter()
            .find(|i| {
                i["state"] == "OutOfService"
                    && i["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("UnhealthyThreshold"))
            })?
            .clone();
        Some((st, inst))
    });
    assert_eq!(
        inst["reason"],
        "Instance has failed at least the UnhealthyThreshold number of health checks consecutively.",
        "{inst}"
    );
    let err = inst["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("timed out"),
        "a dropped check times out: {inst}"
    );
    let r = &st["runtime"]["elb"]["reachability"];
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["from"], "elb");
    assert_eq!(r["service"], "tcp/80");
    assert_eq!(r["summary"], summary.as_str(), "{r}");
    let text = env.run(&["status"]).unwrap();
    assert!(
        text.contains(&format!(
            "health checks to the instances on tcp/80 time out: {summary}"
        )),
        "{text}"
    );
    // Through the load balancer: no healthy instance.
    let elb = env.elb_url().trim_start_matches("http://").to_string();
    let (code, body) = http_get(&elb, "/gettoken");
    assert_eq!(code, 503, "{body}");

    // The rule back: the same containers are admitted again (rules changed in
    // place), and the service is healthy.
    env.edit(|doc| {
        let mut a = common::rules(doc, "sg_payments_api_internal", "ingress");
        let mut t = toml_edit::InlineTable::new();
        t.insert("protocol", "tcp".into());
        t.insert("port", 80i64.into());
        t.insert("source", "sg:elb_http".into());
        a.push(t);
        doc["security_groups"]["sg_payments_api_internal"]["ingress"] = toml_edit::value(a);
    })
    .unwrap();
    apply(&env);
    env.run(&["status", "--wait-healthy", "--timeout", "120"])
        .unwrap();
    let st = env.json(&["status"]).unwrap();
    assert_eq!(st["runtime"]["elb"]["reachability"]["allowed"], true);
    let (code, body) = http_get(&elb, "/gettoken");
    assert_eq!(code, 200, "{body}");

    // The seed's database admits no one on the bastion's side: the tunnel
    // times out and says why.
    let err = env.tunnel_rds().unwrap_err().to_string();
    assert!(
        err.contains("the security groups do not let the bastion reach the database")
            && err.contains("timed out")
            && err.contains("sg_rds admits nothing from the bastion"),
        "{err}"
    );
    env.down().unwrap();
}

#[test]
fn a_task_the_database_no_longer_admits_times_out_while_the_bastion_still_connects() {
    let env = seed("db")
        // The bastion on a rule of its own (the seed's admits no one on its side).
        .edit(common::bastion_reaches_db)
        // Failing health checks take the instance out after 10 of them (10 s
        // here, AWS: 5 minutes), so that a request still reaches the app.
        .edit(|doc| {
            doc["load_balancer"]["health_check"]["unhealthy_threshold"] = toml_edit::value(10i64)
        })
        .up()
        .unwrap();
    let elb = env.elb_url().trim_start_matches("http://").to_string();
    let (code, body) = http_get(&elb, "/gettoken");
    assert_eq!(code, 200, "{body}");
    let endpoint = env.output("rds_endpoint").unwrap();
    let (host, port) = endpoint.rsplit_once(':').unwrap();
    let db_container = || {
        let filter = format!("label=chronous.environment={}", env.name());
        let o = common::docker(&[
            "ps",
            "-q",
            "--filter",
            &filter,
            "--filter",
            "label=chronous.role=db",
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let db_before = db_container();
    assert!(!db_before.is_empty());

    // The database's group without the instances' group and the private subnets.
    env.edit(|doc| {
        keep_ingress(doc, "sg_rds", |s| {
            s != "sg:sg_payments_api_internal" && s != "tier:private"
        })
    })
    .unwrap();
    apply(&env);
    // The rules changed in place: the same database container.
    assert_eq!(db_container(), db_before);
    let want = engine(&env, "tasks", "database", "3306");
    assert_eq!(want["allowed"], false, "{want}");
    // `status` shows the decision (the controller's view: at its next tick).
    let d = wait_for(
        "status to show the decision",
        Duration::from_secs(10),
        || {
            let st = env.json(&["status"]).unwrap();
            st["runtime"]["security_groups"]["decisions"]
                .as_array()?
                .iter()
                .find(|d| d["from"] == "tasks" && d["to"] == "database" && d["allowed"] == false)
                .cloned()
        },
    );
    assert_eq!(d["summary"], want["summary"], "{d}");

    // Through the load balancer, the app answers 503 once its connection to
    // the database timed out (its connect timeout is 3 s): not refused, not
    // an unknown host.
    let t = Instant::now();
    let (code, body) = http_get(&elb, "/gettoken");
    let took = t.elapsed();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("database unavailable") && body.contains("timed out"),
        "{body}"
    );
    assert!(
        !body.contains("refused") && !body.contains("Name or service not known"),
        "{body}"
    );
    assert!(took >= Duration::from_millis(2900), "{took:?}: {body}");

    // The bastion still connects, on its own rule.
    let probe = format!(
        "import socket; socket.create_connection(('{host}', {port}), timeout=5); print('connected')"
    );
    // `chronous ssh -- CMD` hands CMD to the bastion's shell, as ssh does.
    let o = env.ssh(&[&format!("python3 -c \"{probe}\"")]).unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("connected"),
        "{:?}",
        o
    );
    let b = engine(&env, "bastion", "database", "3306");
    assert_eq!(b["allowed"], true, "{b}");

    // Destroy leaves nothing labelled (the rule loaders included).
    let name = env.name().to_string();
    env.down().unwrap();
    assert_eq!(
        common::labelled(&name),
        (vec![], vec![], vec![]),
        "left behind"
    );
}
