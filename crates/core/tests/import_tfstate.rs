//! The Terraform state parser and the matcher, pure: a state of the seed's
//! estate (made by fixtures/terraform/make_estate.py against moto) in, what
//! chronous adopts, replaces, absorbs and leaves unmanaged out (snapshots).

use chronous_core::env::Environment;
use chronous_core::import::{self, ImportError, MatchError, TfStateError};
use chronous_core::plan::{self, Action, PlanOptions};
use chronous_core::resources::{expand, Kind};
use chronous_core::state::State;
use serde_json::Value;

const STATE: &str = include_str!("data/seed.tfstate");
const TOML: &str = include_str!("../../../fixtures/terraform/chronous.toml");
const PASSWORD: &str = "sample-db-password-in-clear";

fn env_of(toml: &str) -> Environment {
    let loaded = chronous_core::env::load("chronous.toml", toml);
    loaded
        .env
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render()))
}

fn env() -> Environment {
    env_of(TOML)
}

/// `TF address -> chronous address` lines of a match.
fn lines(m: &import::Matched) -> String {
    let mut out = String::new();
    for a in &m.adopted {
        out.push_str(&format!("{} -> {} ({})\n", a.tf_address, a.address, a.kind));
    }
    for (a, by) in &m.legacy {
        out.push_str(&format!(
            "{} -> {} replaced by {by}\n",
            a.tf_address, a.address
        ));
    }
    for (tf, into) in &m.absorbed {
        out.push_str(&format!("{tf} -> part of {into}\n"));
    }
    for u in &m.unmanaged {
        out.push_str(&format!("{} unmanaged: {}\n", u.tf_address, u.reason));
    }
    out
}

#[test]
fn parse_errors_are_typed_and_say_what_to_do() {
    let cases = [
        ("[environment]\nname = \"x\"\n", "not a Terraform state file: it is not JSON (line 1 column 2: expected value)"),
        ("[1, 2]", "not a Terraform state file: the file is JSON but not an object"),
        ("{\"resources\": []}", "not a Terraform state file: it has no `version` field"),
        ("{\"version\": 3, \"lineage\": \"x\", \"modules\": []}", "Terraform state format version 3: chronous reads version 4 (Terraform 0.12 and later); run `terraform state pull` with a current Terraform to upgrade it"),
        ("{\"version\": 4, \"serial\": 1}", "not a Terraform state file: it has no `lineage` or no `resources`"),
    ];
    for (text, msg) in cases {
        let e = import::parse(text).unwrap_err();
        assert_eq!(e.to_string(), msg, "{text}");
    }
    assert_eq!(
        import::parse("{\"version\": 5, \"lineage\": \"x\", \"resources\": []}").unwrap_err(),
        TfStateError::Version { found: 5 }
    );
}

#[test]
fn secrets_are_removed_while_parsing_and_located() {
    let st = import::parse(STATE).unwrap();
    let found: Vec<String> = st
        .secrets
        .iter()
        .map(|s| format!("{}.{}", s.address, s.attribute))
        .collect();
    assert_eq!(
        found,
        [
            "aws_db_instance.cak.password",
            "aws_ecs_task_definition.payments_api.container_definitions.environment.DB_PASSWORD",
        ]
    );
    for o in &st.objects {
        assert!(!o.attrs.to_string().contains(PASSWORD), "{}", o.address);
    }
    let db = st
        .objects
        .iter()
        .find(|o| o.address == "aws_db_instance.cak")
        .unwrap();
    assert!(db.attrs.get("password").is_none());
    assert_eq!(db.str("identifier"), Some("cak"));
}

#[test]
fn the_seed_state_matches_by_attributes_not_addresses() {
    let imp = import::from_terraform(STATE, &env()).unwrap();
    insta::assert_snapshot!("seed_tfstate_matched", lines(&imp.matched));
    // Every object of the state is accounted for exactly once.
    let st = import::parse(STATE).unwrap();
    let m = &imp.matched;
    assert_eq!(
        m.adopted.len() + m.legacy.len() + m.absorbed.len() + m.unmanaged.len(),
        st.objects.len()
    );
}

#[test]
fn without_existing_names_the_same_objects_are_found() {
    // chronous's own names (`cak-sg_rds`, `cak-ecs_ec2`, ...) against Terraform's
    // (`sg_rds-<timestamp>`, `ecs_ec2`, `rds_s3_access_role`): name prefixes, Name tags and trust.
    let toml = &TOML[..TOML.find("[existing]").unwrap()];
    let with = import::from_terraform(STATE, &env()).unwrap();
    let without = import::from_terraform(STATE, &env_of(toml)).unwrap();
    assert_eq!(lines(&with.matched), lines(&without.matched));
}

#[test]
fn another_region_and_duplicates_are_refused() {
    let west = STATE.replace("us-east-2", "eu-west-1");
    match import::from_terraform(&west, &env()).unwrap_err() {
        ImportError::Region {
            found, expected, ..
        } => {
            assert_eq!(
                (found.as_str(), expected.as_str()),
                ("eu-west-1", "us-east-2")
            )
        }
        e => panic!("{e}"),
    }
    let mut v: Value = serde_json::from_str(STATE).unwrap();
    let res = v["resources"].as_array_mut().unwrap();
    let mut copy = res.iter().find(|r| r["type"] == "aws_elb").unwrap().clone();
    copy["name"] = Value::String("web-elb-renamed".into());
    res.push(copy);
    let e = import::from_terraform(&v.to_string(), &env()).unwrap_err();
    assert_eq!(
        e,
        ImportError::Match(MatchError::Duplicate {
            address: "aws_elb.main".into(),
            first: "aws_elb.web-elb".into(),
            second: "aws_elb.web-elb-renamed".into(),
        })
    );
}

/// The state import writes (before the backend's refresh), planned against the file.
fn imported(env: &Environment) -> State {
    let imp = import::from_terraform(STATE, env).unwrap();
    let desired = expand(env);
    let attrs = imp
        .objects
        .iter()
        .map(|o| (o.address.clone(), o.attrs.clone()))
        .collect();
    let recs = import::records(
        &desired,
        &imp.matched.adopted,
        &imp.matched.legacy,
        &attrs,
        "terraform",
        false,
    );
    let mut st = State::new(&env.name, chronous_core::env::Backend::Aws, "l".into());
    for r in recs.resources {
        st.resources.insert(r.address.clone(), r);
    }
    st.deposed.extend(recs.deposed);
    st.adopted = recs.adopted;
    st
}

#[test]
fn the_launch_configuration_is_deposed_and_goes_after_the_group_moved() {
    let env = env();
    let st = imported(&env);
    let (key, lc) = st.deposed.iter().next().unwrap();
    assert_eq!(lc.kind, Kind::LaunchConfiguration);
    assert!(key.starts_with("aws_launch_configuration.payments_api (deposed cak-payments-api-"));
    let asg = &st.resources["aws_autoscaling_group.container_instances"];
    assert!(asg
        .deps
        .contains(&"aws_launch_configuration.payments_api".to_string()));
    let p = plan::plan(expand(&env), &st, &st, &PlanOptions::default()).unwrap();
    let g = chronous_core::graph::ApplyGraph::from_plan(&p).unwrap();
    let op = |a: &str| {
        g.ops
            .iter()
            .position(|o| p.changes[o.change].address == a)
            .unwrap_or_else(|| panic!("no step for {a}"))
    };
    // `a` must finish before `b` starts: a path of edges from one to the other.
    let before = |a: &str, b: &str| {
        let (from, to) = (op(a), op(b));
        let mut seen = vec![false; g.ops.len()];
        let mut stack = vec![from];
        while let Some(i) = stack.pop() {
            if i == to {
                return true;
            }
            for &n in &g.succ[i] {
                if !seen[n] {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        false
    };
    assert!(before(
        "aws_launch_template.container_instances",
        "aws_autoscaling_group.container_instances"
    ));
    assert!(before(
        "aws_autoscaling_group.container_instances",
        "aws_launch_configuration.payments_api"
    ));
}

#[test]
fn replacing_or_deleting_an_adopted_object_is_held_unless_allowed() {
    // The file puts a database subnet in another zone: a replacement.
    let toml = TOML.replace(
        "cidr = \"10.2.4.0/24\"\naz = \"us-east-2b\"",
        "cidr = \"10.2.4.0/24\"\naz = \"us-east-2c\"",
    );
    let env = env_of(&toml);
    let mut st = imported(&env);
    // What the backend's refresh reports: the subnet where it is.
    st.resources.get_mut("aws_subnet.db_b").unwrap().attrs["availability_zone"] =
        Value::String("us-east-2b".into());
    let p = plan::plan(expand(&env), &st, &st, &PlanOptions::default()).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.address == "aws_subnet.db_b")
        .unwrap();
    assert_eq!(c.action, Action::NoOp);
    let held = c.held.as_deref().unwrap();
    assert!(
        held.contains("module.vpc.aws_subnet.database[1]")
            && held.contains("--allow-replace-adopted"),
        "{held}"
    );
    assert!(
        p.render().contains("Held: 1 change(s) to adopted objects"),
        "{}",
        p.render()
    );
    let allowed = PlanOptions {
        allow_replace_adopted: true,
        ..Default::default()
    };
    let p = plan::plan(expand(&env), &st, &st, &allowed).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.address == "aws_subnet.db_b")
        .unwrap();
    assert_eq!(c.action, Action::DeleteThenCreate);
    // An adopted object the file no longer describes is kept.
    let (a, b) = (
        TOML.find("[load_balancer]").unwrap(),
        TOML.find("[logs]").unwrap(),
    );
    let env = env_of(&format!(
        "{}{}",
        &TOML[..a],
        &TOML[b..].replace(
            "\"aws_iam_role.payments_api_service_role\" = \"payments_api_service_role\"\n",
            ""
        )
    ));
    let p = plan::plan(expand(&env), &st, &st, &PlanOptions::default()).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.address == "aws_elb.main")
        .unwrap();
    assert_eq!((c.action, c.held.is_some()), (Action::NoOp, true), "{c:?}");
    assert!(!p
        .changes
        .iter()
        .any(|c| c.action == Action::Delete && c.deposed.is_none()));
}

#[test]
fn init_writes_the_file_that_describes_the_state() {
    let st = import::parse(STATE).unwrap();
    let out =
        import::init::from_terraform(&st.objects, "staging", "../backup/db-backup.tar.gz").unwrap();
    assert!(!out.toml.contains(PASSWORD));
    let notes: Vec<String> = out
        .notes
        .iter()
        .map(|n| format!("{} [{}]: {}", n.tf_address, n.attribute, n.message))
        .collect();
    insta::assert_snapshot!(
        "seed_tfstate_init",
        format!("{}\n# notes\n{}\n", out.toml, notes.join("\n"))
    );
    // It describes the same estate as the file kept in fixtures/terraform: the same match.
    let written = import::from_terraform(STATE, &env_of(&out.toml)).unwrap();
    let kept = import::from_terraform(STATE, &env()).unwrap();
    assert_eq!(lines(&written.matched), lines(&kept.matched));
    assert_eq!(out.public_key.unwrap().0, "aws-ssh.pub");
}

#[test]
fn a_deployment_may_replace_the_adopted_task_definition_and_nothing_else() {
    // What `chronous deploy --image` plans: a new tag in the file.
    let toml = TOML.replace("tag = \"1.0\"", "tag = \"1.1\"");
    let env = env_of(&toml);
    let mut st = imported(&env);
    // What the backend's refresh reports: the revision running the old tag.
    let td = st
        .resources
        .get_mut("aws_ecs_task_definition.payments_api")
        .unwrap();
    let image = td.attrs["container"]["image"]
        .as_str()
        .unwrap()
        .replace(":1.1", ":1.0");
    td.attrs["container"]["image"] = Value::String(image);
    let held = plan::plan(expand(&env), &st, &st, &PlanOptions::default()).unwrap();
    let c = held
        .changes
        .iter()
        .find(|c| c.address == "aws_ecs_task_definition.payments_api")
        .unwrap();
    assert_eq!((c.action, c.held.is_some()), (Action::NoOp, true));
    let deploy = PlanOptions {
        allow_adopted: ["aws_ecs_task_definition.payments_api".to_string()].into(),
        ..Default::default()
    };
    let p = plan::plan(expand(&env), &st, &st, &deploy).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.address == "aws_ecs_task_definition.payments_api")
        .unwrap();
    assert_eq!(c.action, Action::CreateThenDelete);
    assert!(!p
        .changes
        .iter()
        .any(|c| c.action.is_replace() && c.address != "aws_ecs_task_definition.payments_api"));
}

/// The tier each subnet is written with, by name.
fn tiers(objects: &[import::TfObject]) -> Vec<(String, String)> {
    let out = import::init::from_terraform(objects, "staging", "b.tar.gz").unwrap();
    let v: toml::Value = toml::from_str(&out.toml).unwrap();
    v["network"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["cidr"].as_str().unwrap().to_string(),
                s["tier"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_subnets_tier_comes_from_its_route_table() {
    let st = import::parse(STATE).unwrap();
    let tier = |objects: &[import::TfObject], cidr: &str| {
        tiers(objects)
            .into_iter()
            .find(|(c, _)| c == cidr)
            .map(|(_, t)| t)
            .unwrap()
    };
    // As built: IGW public, NAT private, neither (in the DB subnet group) database.
    assert_eq!(tier(&st.objects, "10.2.2.0/24"), "public");
    assert_eq!(tier(&st.objects, "10.2.0.0/24"), "private");
    assert_eq!(tier(&st.objects, "10.2.3.0/24"), "database");
    // The route decides, not map_public_ip_on_launch: a subnet that gives
    // public addresses but routes through a NAT gateway is private.
    let mut objects = st.objects.clone();
    for o in objects.iter_mut().filter(|o| o.tf_type == "aws_subnet") {
        o.attrs["map_public_ip_on_launch"] = serde_json::Value::Bool(true);
    }
    assert_eq!(tier(&objects, "10.2.2.0/24"), "public");
    assert_eq!(tier(&objects, "10.2.1.0/24"), "private");
    // No route out and not in the DB subnet group: private.
    let mut objects = st.objects.clone();
    for o in objects
        .iter_mut()
        .filter(|o| o.tf_type == "aws_route_table" && o.attrs["route"].to_string().contains("nat-"))
    {
        o.attrs["route"] = serde_json::json!([]);
    }
    assert_eq!(tier(&objects, "10.2.1.0/24"), "private");
    assert_eq!(tier(&objects, "10.2.4.0/24"), "database");
}
