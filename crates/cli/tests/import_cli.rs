//! `chronous import terraform` against moto: the estate the seed's Terraform
//! leaves, built with boto3 by fixtures/terraform/make_estate.py (not by
//! chronous), with its terraform.tfstate; then import, the plan after it,
//! apply, a drift made with the SDK, and every invalid input (nothing written).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{code, moto, repo, Env, Moto};
use serde_json::Value;

/// The password the fixture's Terraform state holds in clear text.
const TF_PASSWORD: &str = "Tf-Seed-Pa55word-7c1e";

/// A copy of fixtures/terraform, the estate built in `moto` and its state
/// written outside the environment folder (as a team's old Terraform folder).
struct Estate {
    env: Env,
    moto: Moto,
    tfstate: PathBuf,
}

fn estate() -> Estate {
    let moto = moto();
    let env = Env::new("terraform");
    let tfstate = env.root.path().join("old-terraform/terraform.tfstate");
    std::fs::create_dir_all(tfstate.parent().unwrap()).unwrap();
    let o = Command::new("python3")
        .arg(repo().join("fixtures/terraform/make_estate.py"))
        .args(["--endpoint", &moto.1, "--out", tfstate.to_str().unwrap()])
        .args(["--db-password", TF_PASSWORD])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Estate { env, moto, tfstate }
}

impl Estate {
    fn aws(&self, args: &[&str]) -> Output {
        let mut c = self
            .env
            .cmd(&[&["--backend", "aws", "--endpoint", &self.moto.1], args].concat());
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE");
        c.output().unwrap()
    }
    fn aws_ok(&self, args: &[&str]) -> String {
        let o = self.aws(args);
        assert!(o.status.success(), "chronous {args:?}: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    }
    fn aws_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.aws_ok(&[&["--json"], args].concat())).unwrap()
    }
    /// A boto3 call against this moto.
    fn py(&self, code: &str) {
        let script = format!(
            "import boto3\nkw=dict(region_name='us-east-2',endpoint_url='{}',aws_access_key_id='testing',aws_secret_access_key='testing')\n{code}\n",
            self.moto.1
        );
        let o = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    fn tf(&self) -> String {
        self.tfstate.to_str().unwrap().to_string()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if std::fs::read(&p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            out.push(p);
        }
    }
    out
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn import_terraform_adopts_the_estate_and_the_next_plan_replaces_nothing() {
    let e = estate();
    let out = e.aws(&["import", "terraform", &e.tf()]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains(TF_PASSWORD), "the password was printed");
    assert!(
        all.contains("aws_db_instance.cak.password")
            && all.contains("Rotate the database password"),
        "{all}"
    );
    assert!(
        all.contains("module.vpc.aws_vpc.this[0] -> aws_vpc.main"),
        "{all}"
    );

    // Every object of the state is accounted for: adopted, replaced, part of another, or unmanaged with why.
    let st = e.aws_json(&["state", "list"]);
    assert_eq!(st.as_array().unwrap().len(), 55, "{st}");
    let rerun = e.aws_json(&["import", "terraform", &e.tf()]);
    assert_eq!(rerun["adopted"].as_array().unwrap().len(), 55);
    assert_eq!(
        strs(&rerun["unmanaged"], "from"),
        [
            "aws_iam_role.test",
            "aws_iam_role_policy_attachment.ecs_ec2_cloudwatch_role",
            "aws_iam_policy_attachment.test-attach"
        ]
    );
    // chronous does not attach CloudWatchLogsFullAccess (CHR-IAM-001): the
    // Terraform-made attachment stays, unmanaged, and the user is told why.
    let why = rerun["unmanaged"][1]["reason"].as_str().unwrap();
    for part in [
        "CloudWatchLogsFullAccess",
        "which chronous does not attach (CHR-IAM-001",
        "AmazonEC2ContainerServiceforEC2Role",
        "you may detach it (aws iam detach-role-policy --role-name ecs_ec2 --policy-arn arn:aws:iam::aws:policy/CloudWatchLogsFullAccess)",
    ] {
        assert!(why.contains(part), "`{part}` not in: {why}");
    }
    assert!(
        all.contains("aws_iam_role_policy_attachment.ecs_ec2_cloudwatch_role"),
        "{all}"
    );
    assert_eq!(
        strs(&rerun["replaced"], "from"),
        ["aws_launch_configuration.payments_api"]
    );
    assert_eq!(rerun["absorbed"].as_array().unwrap().len(), 3);
    assert_eq!(rerun["changed_in_aws"], false);

    // The plan: creates only what chronous adds, updates only chronous's own
    // tags (and the auto scaling group onto the launch template), replaces nothing.
    let p = e.aws_json(&["plan"]);
    let changes = p["changes"].as_array().unwrap();
    let of = |action: &str| -> Vec<String> {
        changes
            .iter()
            .filter(|c| c["action"] == action)
            .map(|c| c["address"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of("create"),
        [
            "aws_launch_template.container_instances",
            "aws_ssm_parameter.db_password",
            "aws_iam_role.ecs_task_execution",
            "aws_iam_role_policy_attachment.ecs_task_execution",
            "aws_iam_role_policy.ecs_task_execution_secrets",
            "aws_iam_role_policy.rds_s3_import",
        ]
    );
    assert!(of("delete_then_create").is_empty() && of("create_then_delete").is_empty());
    assert_eq!(of("delete"), ["aws_launch_configuration.payments_api"]);
    for c in changes.iter().filter(|c| c["action"] == "update") {
        let names = strs(&c["attrs"], "name");
        if c["address"] == "aws_autoscaling_group.container_instances" {
            assert_eq!(names, ["launch_template_id"]);
            assert!(
                c["reasons"][0].as_str().unwrap().contains("blue/green"),
                "{c}"
            );
        } else {
            assert_eq!(
                names,
                ["tags.chronous:environment", "tags.chronous:address"],
                "{c}"
            );
        }
    }
    let held: Vec<&Value> = changes.iter().filter(|c| c["held"].is_string()).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["address"], "aws_ecs_task_definition.payments_api");
    let text_plan = e.aws_ok(&["plan"]);
    assert!(
        text_plan.contains("Plan: 6 to add, 21 to change, 1 to destroy."),
        "{text_plan}"
    );
    assert!(text_plan.contains("--allow-replace-adopted"), "{text_plan}");
    // The task definition Terraform made holds it in its plain environment:
    // chronous records and shows only that it is there.
    assert!(!text_plan.contains(TF_PASSWORD) && !p.to_string().contains(TF_PASSWORD));
    assert!(text_plan.contains("container.environment.DB_PASSWORD: \"(sensitive: a secret in the plain environment)\" -> (none)"), "{text_plan}");

    // Apply it; the next plan is empty.
    e.aws_ok(&["apply", "--auto-approve", "--no-wait"]);
    assert_eq!(code(&e.aws(&["plan", "--detailed-exitcode"])), 0);
    // The unmanaged attachment is still there: chronous never detaches it.
    e.py("a=boto3.client('iam',**kw).list_attached_role_policies(RoleName='ecs_ec2')['AttachedPolicies']\nassert sorted(p['PolicyName'] for p in a)==['AmazonEC2ContainerServiceforEC2Role','CloudWatchLogsFullAccess'],a");

    // A drift made with the SDK shows exactly.
    e.py("boto3.client('elb',**kw).configure_health_check(LoadBalancerName='cak-web-elb',HealthCheck={'Target':'HTTP:80/gettoken','Interval':60,'Timeout':5,'HealthyThreshold':10,'UnhealthyThreshold':2})");
    let p = e.aws_json(&["plan"]);
    let drift = p["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{p}");
    assert_eq!(drift[0]["address"], "aws_elb.main");
    assert_eq!(strs(&drift[0]["attrs"], "name"), ["health_check.interval"]);
    assert_eq!(drift[0]["attrs"][0]["before"], 30);
    assert_eq!(drift[0]["attrs"][0]["after"], 60);
    let updates: Vec<&Value> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .collect();
    assert_eq!(updates.len(), 1, "{p}");
    assert_eq!(updates[0]["address"], "aws_elb.main");

    // The password is nowhere under the environment folder.
    assert_eq!(
        files_containing(&e.env.dir, TF_PASSWORD),
        Vec::<PathBuf>::new()
    );
}

/// An invalid input: a clear one-line error, non-zero exit, no state written.
fn refused(e: &Estate, tfstate: &str, expect: &str) {
    let o = e.aws(&["import", "terraform", tfstate]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(!err.contains(TF_PASSWORD));
    assert!(
        !e.env.dir.join(".chronous/state.json").exists(),
        "a state was written"
    );
}

#[test]
fn invalid_states_are_refused_and_nothing_is_written() {
    let e = estate();
    let text = std::fs::read_to_string(&e.tfstate).unwrap();
    let write = |name: &str, s: &str| {
        let p = e.tfstate.with_file_name(name);
        std::fs::write(&p, s).unwrap();
        p.to_str().unwrap().to_string()
    };
    // Not a state file: the environment file itself.
    let toml = e.env.dir.join("chronous.toml");
    refused(&e, toml.to_str().unwrap(), "not a Terraform state file");
    refused(
        &e,
        &write("empty.json", "{\"resources\": []}"),
        "has no `version` field",
    );
    // Another format version.
    refused(
        &e,
        &write(
            "v3.tfstate",
            &text.replacen("\"version\": 4", "\"version\": 3", 1),
        ),
        "format version 3",
    );
    // Another region.
    refused(
        &e,
        &write("west.tfstate", &text.replace("us-east-2", "eu-west-1")),
        "region eu-west-1",
    );
    // Two state objects claiming the same chronous address: the VPC module's subnet again under another module.
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let res = v["resources"].as_array_mut().unwrap();
    let mut copy = res
        .iter()
        .find(|r| r["type"] == "aws_subnet")
        .unwrap()
        .clone();
    copy["module"] = Value::String("module.vpc_old".into());
    res.push(copy);
    refused(
        &e,
        &write("dup.tfstate", &v.to_string()),
        "two objects of the state claim aws_subnet.public_a",
    );
    // An object of the state that is not in the account.
    e.py("boto3.client('logs',**kw).delete_log_group(logGroupName='payments_api')");
    refused(&e, &e.tf(), "aws_cloudwatch_log_group.payments_api (aws_cloudwatch_log_group.payments_api payments_api)");
}

#[test]
fn import_aws_finds_what_the_state_lacks() {
    let e = estate();
    // Objects made by hand: in the account, not in the Terraform state.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&e.tfstate).unwrap()).unwrap();
    v["resources"].as_array_mut().unwrap().retain(|r| {
        !(r["type"] == "aws_ecr_repository"
            || r["type"] == "aws_cloudwatch_log_group"
            || r["module"] == "module.bastion")
    });
    std::fs::write(&e.tfstate, v.to_string()).unwrap();
    e.aws_ok(&["import", "terraform", &e.tf()]);
    let before = e.aws_json(&["plan"]);
    let created: Vec<&str> = before["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create")
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert!(
        created.contains(&"aws_instance.bastion")
            && created.contains(&"aws_ecr_repository.payments_api")
    );

    let found = e.aws_json(&["import", "aws"]);
    let mut adopted = strs(&found["adopted"], "address");
    adopted.sort();
    assert_eq!(
        adopted,
        [
            "aws_cloudwatch_log_group.payments_api",
            "aws_ecr_repository.payments_api",
            "aws_instance.bastion",
            // Its rules, which the Terraform import could not place without it.
            "aws_security_group_rule.sg_payments_api_internal_ingress_icmp_all_bastion",
            "aws_security_group_rule.sg_payments_api_internal_ingress_tcp_22_bastion",
        ]
    );
    assert_eq!(found["changed_in_aws"], false);
    // The plan now creates only what chronous adds and replaces nothing.
    let p = e.aws_json(&["plan"]);
    let changes = p["changes"].as_array().unwrap();
    let creates = changes.iter().filter(|c| c["action"] == "create").count();
    assert_eq!(creates, 6, "{p}");
    assert!(!changes
        .iter()
        .any(|c| { c["action"] == "delete_then_create" || c["action"] == "create_then_delete" }));
    let bastion = changes
        .iter()
        .find(|c| c["address"] == "aws_instance.bastion")
        .unwrap();
    assert_eq!(
        strs(&bastion["attrs"], "name"),
        ["tags.chronous:environment", "tags.chronous:address"]
    );
}

/// What a plan does, address by address: the action and the attributes it sets.
fn summary(p: &Value) -> Vec<(String, String, Vec<(String, Value)>, bool)> {
    p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let attrs = c["attrs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| (x["name"].as_str().unwrap().to_string(), x["after"].clone()))
                        .collect()
                })
                .unwrap_or_default();
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
                attrs,
                c["held"].is_string(),
            )
        })
        .collect()
}

#[test]
fn init_from_terraform_writes_a_file_whose_plan_after_import_is_the_same() {
    let e = estate();
    // The file kept in fixtures/terraform, imported and planned.
    e.aws_ok(&["import", "terraform", &e.tf()]);
    let expected = e.aws_json(&["plan"]);

    // A new folder beside it: the file written from the state alone.
    let dir = e.env.root.path().join("staging");
    let init = Command::new(common::BIN)
        .args([
            "--env",
            dir.to_str().unwrap(),
            "init",
            "--from-terraform",
            &e.tf(),
        ])
        .args([
            "--name",
            "staging",
            "--backup-file",
            "../backup/db-backup.tar.gz",
        ])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let said = text(&init);
    assert!(
        said.contains("aws_db_instance.cak.s3_import: the backup file is not in the state"),
        "{said}"
    );
    assert!(
        said.contains("aws_launch_configuration.payments_api: a launch configuration"),
        "{said}"
    );
    assert!(
        said.contains("Rotate the database password") && !said.contains(TF_PASSWORD),
        "{said}"
    );
    assert!(dir.join("aws-ssh.pub").exists());
    // A second init does not overwrite it.
    let again = Command::new(common::BIN)
        .args([
            "--env",
            dir.to_str().unwrap(),
            "init",
            "--from-terraform",
            &e.tf(),
        ])
        .output()
        .unwrap();
    assert_ne!(code(&again), 0);
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));

    let aws = |args: &[&str]| {
        let o = Command::new(common::BIN)
            .args([
                "--env",
                dir.to_str().unwrap(),
                "--backend",
                "aws",
                "--endpoint",
                &e.moto.1,
            ])
            .args(args)
            .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert!(o.status.success(), "chronous {args:?}: {}", text(&o));
        o.stdout
    };
    aws(&["import", "terraform", &e.tf()]);
    let got: Value = serde_json::from_slice(&aws(&["--json", "plan"])).unwrap();
    assert_eq!(summary(&got), summary(&expected));
    assert_eq!(files_containing(&dir, TF_PASSWORD), Vec::<PathBuf>::new());
}

#[test]
fn conflicts_with_the_file_are_reported_with_both_addresses() {
    let e = estate();
    e.env.edit("interval = 30", "interval = 60");
    let out = e.aws_json(&["import", "terraform", &e.tf()]);
    let conflicts = out["conflicts"].as_array().unwrap();
    let elb: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c["from"] == "aws_elb.web-elb")
        .collect();
    assert_eq!(elb.len(), 1, "{out}");
    assert_eq!(elb[0]["address"], "aws_elb.main");
    assert_eq!(elb[0]["attribute"], "health_check.interval");
    assert_eq!(
        (elb[0]["account"].clone(), elb[0]["file"].clone()),
        (Value::from(30), Value::from(60))
    );
    assert_eq!(elb[0]["forces_replacement"], false);
    // The plan says why it changes it.
    let p = e.aws_json(&["plan"]);
    let c = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "aws_elb.main")
        .unwrap();
    assert_eq!(c["action"], "update");
    assert!(
        c["reasons"][0]
            .as_str()
            .unwrap()
            .contains("aws_elb.web-elb"),
        "{c}"
    );
    // On the simulator there is no account to adopt from.
    let o = e.env.run(&["import", "terraform", &e.tf()]);
    assert_eq!(code(&o), 64);
    assert!(String::from_utf8_lossy(&o.stderr).contains("run it with --backend aws"));
}

/// `chronous` with the moto credentials, in `dir` (no environment file needed).
fn in_dir(e: &Estate, dir: &Path, args: &[&str]) -> Output {
    Command::new(common::BIN)
        .args(["--env", dir.to_str().unwrap(), "--endpoint", &e.moto.1])
        .args(args)
        .env("CHRONOUS_DB_PASSWORD", "test-password-not-a-secret")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap()
}

#[test]
fn init_from_aws_writes_a_file_whose_plan_after_import_aws_is_the_same() {
    let e = estate();
    // The reference: the file kept in fixtures/terraform, imported from the state.
    e.aws_ok(&["import", "terraform", &e.tf()]);
    let expected = e.aws_json(&["plan"]);

    // The state is lost: a new folder, described from the account alone.
    let dir = e.env.root.path().join("staging");
    let init = in_dir(
        &e,
        &dir,
        &[
            "init",
            "--from-aws",
            "--region",
            "us-east-2",
            "--vpc-name",
            "cak-vpc",
            "--name",
            "staging",
            "--backup-file",
            "../backup/db-backup.tar.gz",
        ],
    );
    assert!(init.status.success(), "{}", text(&init));
    let said = text(&init);
    // What the account cannot tell, located by AWS id and attribute.
    for at in [
        "rds:cak.s3_import: RDS does not record that it was restored from S3",
        "rds:cak.skip_final_snapshot",
        "autoscaling:cak-payments-api-20190612083512345600000003: a launch configuration",
        "ecs:chronous-payment:1.container_definitions.environment.DB_PASSWORD",
    ] {
        assert!(said.contains(at), "expected `{at}` in:\n{said}");
    }
    assert!(!said.contains(TF_PASSWORD), "{said}");
    let toml = std::fs::read_to_string(dir.join("chronous.toml")).unwrap();
    assert!(toml.contains("account_id = \"123456789012\""), "{toml}");
    // Tiers from the route tables: IGW public, NAT private, neither database.
    for (name, tier) in [
        ("public-a", "public"),
        ("private-b", "private"),
        ("db-b", "database"),
    ] {
        assert!(
            toml.contains(&format!("name = \"{name}\"\ntier = \"{tier}\"")),
            "{name}: {toml}"
        );
    }
    assert!(toml.contains("nat = \"per_subnet\""), "{toml}");
    assert!(toml.contains("source = \"tier:private\""), "{toml}");
    assert!(toml.contains("source = \"operator\""), "{toml}");
    assert!(dir.join("aws-ssh.pub").exists());
    // A second init does not overwrite it.
    let again = in_dir(
        &e,
        &dir,
        &[
            "init",
            "--from-aws",
            "--region",
            "us-east-2",
            "--vpc-name",
            "cak-vpc",
        ],
    );
    assert_ne!(code(&again), 0);
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));

    // import aws adopts the estate; the plan is the one after the Terraform
    // import, but for the launch configuration, which only a state records
    // (import aws leaves it alone: the plan does not delete it).
    let aws = |args: &[&str]| {
        let o = in_dir(&e, &dir, &[&["--backend", "aws"], args].concat());
        assert!(o.status.success(), "chronous {args:?}: {}", text(&o));
        o.stdout
    };
    let found: Value = serde_json::from_slice(&aws(&["--json", "import", "aws"])).unwrap();
    assert_eq!(found["adopted"].as_array().unwrap().len(), 55, "{found}");
    assert_eq!(found["changed_in_aws"], false);
    let got: Value = serde_json::from_slice(&aws(&["--json", "plan"])).unwrap();
    let want: Vec<_> = summary(&expected)
        .into_iter()
        .filter(|(a, action, _, _)| {
            !(a == "aws_launch_configuration.payments_api" && action == "delete")
        })
        .collect();
    assert_eq!(summary(&got), want);
    assert!(!summary(&got)
        .iter()
        .any(|(_, action, _, _)| action.contains("then") || action == "delete"));
    assert_eq!(files_containing(&dir, TF_PASSWORD), Vec::<PathBuf>::new());

    // Another prefix: the objects keep their names through [existing].
    let other = e.env.root.path().join("renamed");
    let o = in_dir(
        &e,
        &other,
        &[
            "init",
            "--from-aws",
            "--region",
            "us-east-2",
            "--vpc-name",
            "cak-vpc",
            "--prefix",
            "payments",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let toml = std::fs::read_to_string(other.join("chronous.toml")).unwrap();
    assert!(toml.contains("prefix = \"payments\""), "{toml}");
    assert!(
        toml.contains("identifier = \"cak\"")
            && toml.contains("\"aws_instance.bastion\" = \"cak-bastion\""),
        "{toml}"
    );
}

#[test]
fn init_from_aws_refuses_what_it_cannot_describe_and_writes_nothing() {
    let e = estate();
    let dir = e.env.root.path().join("lost");
    let refused = |args: &[&str], exit: i32, expect: &str| {
        let o = in_dir(&e, &dir, args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(code(&o), exit, "{}", text(&o));
        assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
        assert!(!dir.join("chronous.toml").exists(), "a file was written");
    };
    let from = ["init", "--from-aws", "--region", "us-east-2"];
    refused(
        &[&from[..], &["--vpc-name", "no-such-vpc"]].concat(),
        1,
        "no VPC with Name tag `no-such-vpc` in us-east-2; nothing was written",
    );
    refused(
        &[&from[..], &["--vpc-id", "vpc-0123456789abcdef0"]].concat(),
        1,
        "no VPC with id vpc-0123456789abcdef0",
    );
    // Two VPCs carry the name: which one is meant is the user's to say.
    e.py("ec2=boto3.client('ec2',**kw)\nv=ec2.create_vpc(CidrBlock='10.9.0.0/16')['Vpc']['VpcId']\nec2.create_tags(Resources=[v],Tags=[{'Key':'Name','Value':'cak-vpc'}])");
    refused(
        &[&from[..], &["--vpc-name", "cak-vpc"]].concat(),
        1,
        "2 VPCs have Name tag `cak-vpc` in us-east-2",
    );
    refused(
        &[
            "--backend",
            "sim",
            "init",
            "--from-aws",
            "--region",
            "us-east-2",
            "--vpc-name",
            "cak-vpc",
        ],
        64,
        "the simulator has none to read",
    );
    refused(
        &["init", "--from-aws", "--vpc-name", "cak-vpc"],
        64,
        "pass --region",
    );
    refused(
        &["init", "--from-aws", "--region", "us-east-2"],
        64,
        "--vpc-id",
    );
}
