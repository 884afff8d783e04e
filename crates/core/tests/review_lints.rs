//! Every lint of `chronous check` (core's `review`), data-driven: a table
//! of cases, each an edit of the seed or production fixture where the lint
//! fires and a near miss where it does not. What a fired lint prints is
//! snapshotted (`snapshots/review_lints__lint-<ID>.snap`).

use chronous_core::env;
use chronous_core::resources::{Resource, Spec};
use chronous_core::review::{self, LintId, Report};

const SEED: &str = include_str!("../../../fixtures/seed/chronous.toml");
const PRODUCTION: &str = include_str!("../../../fixtures/production/chronous.toml");

/// A change of the resources chronous makes (what the file cannot say).
type Tweak = fn(&mut Vec<Resource>);

struct Case {
    id: LintId,
    base: &'static str,
    /// Text replacements (each must match exactly once) that make it fire.
    fire: &'static [(&'static str, &'static str)],
    fire_resources: Option<Tweak>,
    /// ... and a near miss where it must not.
    ok: &'static [(&'static str, &'static str)],
    ok_resources: Option<Tweak>,
}

const BASTION_SSH: &str = r#"source = "operator", description = "SSH from the operator""#;
const ELB_HTTP_SEED: &str = r#"source = "operator", description = "HTTP from the operator""#;
const ELB_HTTP_PROD: &str =
    r#"source = "tier:private", description = "HTTP from Matrix-oSc in the private subnets""#;

/// The attachment the seed's Terraform made (imported or recorded
/// resources): chronous's own expansion has no broad managed policy.
fn attach_cloudwatch_full_access(rs: &mut Vec<Resource>) {
    let role = rs
        .iter()
        .find(|r| r.address == "aws_iam_role_policy_attachment.ecs_ec2_container_service")
        .map(|r| r.spec.clone())
        .expect("the instances' role has AmazonEC2ContainerServiceforEC2Role");
    let Spec::IamRolePolicyAttachment(mut a) = role else {
        unreachable!("an attachment")
    };
    a.policy_arn = "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess".into();
    rs.push(Resource {
        address: "aws_iam_role_policy_attachment.ecs_ec2_cloudwatch_role".into(),
        spec: Spec::IamRolePolicyAttachment(a),
    });
}

fn s3_wildcard(rs: &mut Vec<Resource>) {
    for r in rs.iter_mut() {
        if let Spec::IamRolePolicy(p) = &mut r.spec {
            if r.address == "aws_iam_role_policy.rds_s3_import" {
                p.policy = p.policy.replace("\"s3:GetObject\"", "\"s3:*\"");
            }
        }
    }
}

fn database_publicly_accessible(rs: &mut Vec<Resource>) {
    for r in rs.iter_mut() {
        if let Spec::DbInstance(d) = &mut r.spec {
            d.publicly_accessible = true;
        }
    }
}

const DB_SUBNETS: &str = r#"subnets = ["db-a", "db-b"]"#;
const DB_MYSQL_FROM_INSTANCES: &str =
    r#"source = "sg:sg_payments_api_internal", description = "MySQL from the container instances""#;
const PROD_INTERNAL_LB: &str = "internal = true\nsubnets = [\"private-a\", \"private-b\"]";
const PROD_PUBLIC_LB: &str = "internal = false\nsubnets = [\"public-a\"]";

const CASES: &[Case] = &[
    Case {
        id: LintId::SshOpenToWorld,
        base: SEED,
        fire: &[(BASTION_SSH, r#"source = "0.0.0.0/0", description = "SSH""#)],
        fire_resources: None,
        ok: &[(
            BASTION_SSH,
            r#"source = "198.51.100.0/24", description = "SSH""#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::DatabasePortOpenToWorld,
        base: SEED,
        fire: &[(
            r#"source = "sg:sg_payments_api_internal", description = "MySQL from the container instances""#,
            r#"source = "0.0.0.0/0", description = "MySQL from anywhere""#,
        )],
        fire_resources: None,
        // The whole internet, but on HTTP of the load balancer.
        ok: &[(
            ELB_HTTP_SEED,
            r#"source = "0.0.0.0/0", description = "HTTP""#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::DatabaseInPublicSubnet,
        base: SEED,
        fire: &[(
            r#"subnets = ["db-a", "db-b"]"#,
            r#"subnets = ["public-a", "db-b"]"#,
        )],
        fire_resources: None,
        ok: &[(
            r#"subnets = ["db-a", "db-b"]"#,
            r#"subnets = ["private-a", "db-b"]"#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::ProductionDatabaseWithoutFinalSnapshot,
        base: PRODUCTION,
        fire: &[],
        fire_resources: None,
        ok: &[("skip_final_snapshot = true", "skip_final_snapshot = false")],
        ok_resources: None,
    },
    Case {
        id: LintId::DatabaseReachableFromInternet,
        base: SEED,
        fire: &[
            (DB_SUBNETS, r#"subnets = ["public-a", "db-b"]"#),
            (
                DB_MYSQL_FROM_INSTANCES,
                r#"source = "0.0.0.0/0", description = "MySQL""#,
            ),
        ],
        fire_resources: Some(database_publicly_accessible),
        // The same file: without a public address nothing outside gets in.
        ok: &[
            (DB_SUBNETS, r#"subnets = ["public-a", "db-b"]"#),
            (
                DB_MYSQL_FROM_INSTANCES,
                r#"source = "0.0.0.0/0", description = "MySQL""#,
            ),
        ],
        ok_resources: None,
    },
    Case {
        id: LintId::ProductionApiReachableFromInternet,
        base: PRODUCTION,
        fire: &[
            (PROD_INTERNAL_LB, PROD_PUBLIC_LB),
            (
                ELB_HTTP_PROD,
                r#"source = "0.0.0.0/0", description = "HTTP""#,
            ),
        ],
        fire_resources: None,
        // Internet-facing, but its group admits only the private subnets.
        ok: &[(PROD_INTERNAL_LB, PROD_PUBLIC_LB)],
        ok_resources: None,
    },
    Case {
        id: LintId::ProductionApiAdmitsInternet,
        base: PRODUCTION,
        fire: &[(
            ELB_HTTP_PROD,
            r#"source = "0.0.0.0/0", description = "HTTP""#,
        )],
        fire_resources: None,
        ok: &[(
            ELB_HTTP_PROD,
            r#"source = "10.2.0.0/16", description = "HTTP from the VPC""#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::LoadBalancerOpenToWorld,
        base: SEED,
        fire: &[(
            ELB_HTTP_SEED,
            r#"source = "0.0.0.0/0", description = "HTTP""#,
        )],
        fire_resources: None,
        ok: &[(
            ELB_HTTP_SEED,
            r#"source = "198.51.100.0/24", description = "HTTP""#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::BastionUnreachable,
        base: SEED,
        fire: &[(
            BASTION_SSH,
            r#"source = "sg:sg_bastion_ssh_only", description = "SSH from the bastion's group""#,
        )],
        fire_resources: None,
        ok: &[(
            BASTION_SSH,
            r#"source = "198.51.100.7/32", description = "SSH from the office""#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::BroadManagedPolicy,
        base: SEED,
        fire: &[],
        fire_resources: Some(attach_cloudwatch_full_access),
        // The seed as chronous expands it: AmazonEC2ContainerServiceforEC2Role only.
        ok: &[],
        ok_resources: None,
    },
    Case {
        id: LintId::WildcardPolicyAction,
        base: SEED,
        fire: &[],
        fire_resources: Some(s3_wildcard),
        ok: &[],
        ok_resources: None,
    },
    Case {
        id: LintId::SecretInFile,
        base: SEED,
        fire: &[(
            r#"environment = { DB_NAME = "paymentsdb" }"#,
            r#"environment = { DB_NAME = "paymentsdb", STRIPE_SECRET = "sk_live_not_a_real_one", AWS_REGION_KEY = "AKIAIOSFODNN7EXAMPLE" }"#,
        )],
        fire_resources: None,
        ok: &[(
            r#"environment = { DB_NAME = "paymentsdb" }"#,
            r#"environment = { DB_NAME = "paymentsdb", LOG_LEVEL = "debug" }"#,
        )],
        ok_resources: None,
    },
    Case {
        id: LintId::DeploymentDowntime,
        base: SEED,
        fire: &[],
        fire_resources: None,
        ok: &[
            (
                "minimum_healthy_percent = 0",
                "minimum_healthy_percent = 100",
            ),
            ("maximum_percent = 100", "maximum_percent = 200"),
            ("instance_count = 1", "instance_count = 2"),
        ],
        ok_resources: None,
    },
];

/// `base` with every replacement made (each must match exactly once).
fn edited(base: &str, edits: &[(&str, &str)]) -> String {
    let mut s = base.to_string();
    for (from, to) in edits {
        assert_eq!(s.matches(from).count(), 1, "`{from}` must occur once");
        s = s.replacen(from, to, 1);
    }
    s
}

fn run(text: &str, tweak: Option<Tweak>) -> Report {
    let loaded = env::load("chronous.toml", text);
    let e = loaded.env.unwrap_or_else(|| {
        panic!(
            "the case does not validate:\n{}",
            loaded.diagnostics.render()
        )
    });
    let mut resources = chronous_core::resources::expand(&e);
    if let Some(t) = tweak {
        t(&mut resources);
    }
    review::check_with("chronous.toml", text, &e, resources)
}

#[test]
fn every_lint_has_a_case() {
    for id in LintId::ALL {
        assert!(CASES.iter().any(|c| c.id == id), "no case for {id}");
    }
}

#[test]
fn every_lint_fires_where_it_should_and_not_on_the_near_miss() {
    for c in CASES {
        let fired = run(&edited(c.base, c.fire), c.fire_resources);
        let ours: Vec<_> = fired.findings.iter().filter(|f| f.id == c.id).collect();
        assert!(
            !ours.is_empty(),
            "{} did not fire:\n{}",
            c.id,
            fired.render()
        );
        for f in &ours {
            assert_eq!(f.severity, c.id.severity());
            assert!(!f.message.is_empty() && !f.fix.is_empty(), "{}", c.id);
            assert!(!f.message.contains('\n'), "{}: one line", c.id);
            // Only what chronous itself makes has no place in the file.
            let located = !matches!(
                c.id,
                LintId::BroadManagedPolicy | LintId::WildcardPolicyAction
            );
            assert_eq!(f.span.is_some(), located, "{}: place", c.id);
        }
        let only = Report {
            findings: ours.into_iter().cloned().collect(),
            ..fired
        };
        insta::assert_snapshot!(format!("lint-{}", c.id.code()), only.render());

        let ok = run(&edited(c.base, c.ok), c.ok_resources);
        assert!(
            ok.findings.iter().all(|f| f.id != c.id),
            "{} fired on the near miss:\n{}",
            c.id,
            ok.render()
        );
    }
}

/// chronous's own expansion passes chronous's own IAM review, on every
/// fixture that validates (it used to attach CloudWatchLogsFullAccess to the
/// container instances' role, so every `check` reported CHR-IAM-001).
#[test]
fn what_chronous_makes_passes_its_own_iam_lints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = vec![
        root.join("seed/chronous.toml"),
        root.join("production/chronous.toml"),
    ];
    for dir in ["reach", "warnings"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            files.push(if p.is_dir() {
                p.join("chronous.toml")
            } else {
                p
            });
        }
    }
    let mut checked = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let Some(e) = env::load("chronous.toml", &text).env else {
            continue;
        };
        let report = review::check("chronous.toml", &text, &e);
        let iam: Vec<_> = report
            .findings
            .iter()
            .filter(|x| {
                matches!(
                    x.id,
                    LintId::BroadManagedPolicy | LintId::WildcardPolicyAction
                )
            })
            .collect();
        assert!(iam.is_empty(), "{}: {iam:?}", f.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures validated");
}

/// Pinned before the lint existed (issue 12): a bastion whose SSH rule names
/// its own group validates exactly as the seed does, although nobody can
/// reach it; `check` is what says so (CHR-BAS-001 above).
#[test]
fn a_bastion_only_its_own_group_reaches_validates_like_the_seed() {
    let text = edited(
        SEED,
        &[(
            BASTION_SSH,
            r#"source = "sg:sg_bastion_ssh_only", description = "SSH""#,
        )],
    );
    let codes = |t: &str| -> Vec<&'static str> {
        env::load("chronous.toml", t)
            .diagnostics
            .items
            .iter()
            .map(|d| d.code)
            .collect()
    };
    assert_eq!(codes(&text), codes(SEED));
    assert!(env::load("chronous.toml", &text).env.is_some());
}

#[test]
fn severities_parse_and_order() {
    use review::Severity;
    let all: Vec<Severity> = ["info", "low", "medium", "high", "critical"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
    let e = "severe".parse::<Severity>().unwrap_err();
    assert!(
        e.contains("expected info, low, medium, high or critical"),
        "{e}"
    );
}

#[test]
fn ids_are_unique_and_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for id in LintId::ALL {
        let code = id.code();
        assert!(seen.insert(code), "{code} twice");
        let parts: Vec<&str> = code.split('-').collect();
        assert_eq!(parts.len(), 3, "{code}");
        assert_eq!(parts[0], "CHR");
        assert!(
            parts[2].len() == 3 && parts[2].chars().all(|c| c.is_ascii_digit()),
            "{code}"
        );
    }
}
