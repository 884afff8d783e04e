//! The `chronous` command with `--backend aws` against moto on loopback:
//! apply, an empty next plan, logs from CloudWatch, destroy.

mod common;

use std::process::Command;

use common::{code, moto, Env};

#[test]
fn apply_plan_logs_and_destroy_against_moto() {
    let moto = moto();
    let env = Env::new("seed");
    // moto has no RestoreDBInstanceFromS3 (the restore is covered with aws-smithy-mocks in crates/aws).
    let file = env.dir.join("chronous.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (a, b) = (
        text.find("[database.restore]").unwrap(),
        text.find("[bastion]").unwrap(),
    );
    std::fs::write(&file, format!("{}{}", &text[..a], &text[b..])).unwrap();
    let aws = |args: &[&str]| {
        let mut c = env.cmd(&[&["--backend", "aws", "--endpoint", &moto.1], args].concat());
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE");
        c.output().unwrap()
    };
    // moto models no rollout (its rolloutState stays IN_PROGRESS): the wait
    // after apply is covered with aws-smithy-mocks in crates/aws/tests/rollout_mocks.rs.
    let o = aws(&["apply", "--auto-approve", "--no-wait"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 56 objects made; the AMI look-up was read while planning and recorded first.
    assert!(String::from_utf8_lossy(&o.stdout).contains("Apply complete! Resources: 56 added"));
    let o = aws(&["--json", "state", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"aws_ami_lookup.ecs\""));
    assert_eq!(code(&aws(&["plan", "--detailed-exitcode"])), 0);

    // status describes the service and its load balancer on AWS.
    let o = aws(&["--json", "status"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let svc = &st["service"];
    assert_eq!(svc["name"], "payments_api-service", "{st}");
    assert_eq!(svc["error"], serde_json::Value::Null, "{st}");
    assert_eq!(svc["desired"], 1, "{st}");
    assert_eq!(svc["elb"], "cak-payments-elb", "{st}");
    assert!(
        svc["task_definition"]
            .as_str()
            .is_some_and(|t| t.ends_with("task-definition/chronous-payment:1")),
        "{st}"
    );
    let o = aws(&["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Service payments_api-service in")
            && text.contains("load balancer cak-payments-elb:"),
        "{text}"
    );

    // Log events in the service's log group, as the awslogs driver writes them.
    let script = format!(
        "import boto3,time\nc=boto3.client('logs',region_name='us-east-2',endpoint_url='{}',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
         c.create_log_stream(logGroupName='payments_api',logStreamName='cak-ecs/payments_api/t1')\n\
         c.put_log_events(logGroupName='payments_api',logStreamName='cak-ecs/payments_api/t1',logEvents=[{{'timestamp':int(time.time()*1000),'message':'GET /gettoken 200'}}])\n",
        moto.1
    );
    let py = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let o = aws(&["logs", "--since", "10m"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "cak-ecs/payments_api/t1 GET /gettoken 200"
    );

    let o = aws(&["destroy", "--auto-approve"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = aws(&["--json", "state", "list"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}
