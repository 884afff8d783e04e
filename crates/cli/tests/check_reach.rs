//! `chronous check reach` on what is deployed: after an apply on the
//! simulator, the state's recorded specs (resolved ids, the bastion's IP)
//! give the same verdicts as the file; a rule removed behind chronous's back
//! shows with `--refresh` and not in the file's answer. Exit 0 whether a
//! connection is allowed or not.

mod common;

use common::Env;
use serde_json::Value;

fn verdicts(v: &Value) -> Vec<(String, String, String, bool)> {
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap().to_string(),
                r["to"].as_str().unwrap().to_string(),
                format!("{}", r["service"]),
                r["verdict"]["allowed"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn deployed_matrix_matches_the_file_and_sees_drift() {
    let env = Env::new("seed");
    let o = env.run(&["check", "reach", "--deployed"]);
    assert_eq!(common::code(&o), 1, "nothing deployed yet");
    assert!(String::from_utf8_lossy(&o.stderr).contains("chronous apply"));

    env.ok(&["apply", "--auto-approve"]);
    let file = env.json(&["check", "reach"]);
    let deployed = env.json(&["check", "reach", "--deployed"]);
    assert_eq!(file["source"], "file");
    assert_eq!(deployed["source"], "state");
    assert_eq!(verdicts(&file), verdicts(&deployed));

    // The ELB's rule removed from the instances' group, as in the console.
    let rule = "aws_security_group_rule.sg_payments_api_internal_ingress_tcp_80_sg_elb_http";
    env.ok(&["sim", "console-delete", rule]);
    let q = ["check", "reach", "elb", "instances", "80"];
    let before = env.json(&q);
    assert_eq!(before["allowed"], true, "the file still has the rule");
    let mut args = q.to_vec();
    args.push("--refresh");
    let after = env.json(&args);
    assert_eq!(after["source"], "refreshed");
    assert_eq!(after["allowed"], false, "{after}");
    assert!(
        after["summary"]
            .as_str()
            .unwrap()
            .contains("sg_payments_api_internal admits nothing from the ELB (elb_http) on tcp/80"),
        "{after}"
    );
}
