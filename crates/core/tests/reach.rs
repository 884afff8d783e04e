//! The reachability engine: the seed's and production's matrices (the
//! issue's acceptance, asserted and snapshotted) and a table of cases over
//! small environments in `fixtures/reach/` (`fixtures/reach/cases.toml`).

use std::path::{Path, PathBuf};

use chronous_core::env::{self, Environment};
use chronous_core::reach::{self, Endpoint, Facts, Network, Service, Verdict};
use chronous_core::resources::{expand, Spec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `seed`, `production`, or a folder of `fixtures/reach`.
fn load(name: &str) -> Environment {
    let dir = match name {
        "seed" | "production" => root().join("fixtures").join(name),
        other => root().join("fixtures/reach").join(other),
    };
    let path = dir.join("chronous.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let loaded = env::load(&path.display().to_string(), &text);
    loaded.env.unwrap_or_else(|| {
        panic!(
            "{} is invalid:\n{}",
            path.display(),
            loaded.diagnostics.render()
        )
    })
}

fn ask(net: &Network, from: &str, to: &str, svc: &str) -> Verdict {
    let from: Endpoint = from.parse().expect("endpoint");
    let to: Endpoint = to.parse().expect("endpoint");
    let svc: Service = svc.parse().expect("service");
    reach::reach(net, from, to, svc)
}

#[test]
fn seed_matrix() {
    let net = Network::from_env(&load("seed"));
    let m = reach::matrix(&net);
    println!("{}", m.render());
    insta::assert_snapshot!("seed-matrix", m.render());
}

#[test]
fn production_matrix() {
    let net = Network::from_env(&load("production"));
    let m = reach::matrix(&net);
    insta::assert_snapshot!("production-matrix", m.render());
}

/// The acceptance on the seed: the operator reaches ELB:80 and
/// bastion:22; the ELB reaches instances:80; the bastion reaches
/// instances:22 and ICMP; instances reach the database on 3306; nothing else
/// reaches the instances, and only the private subnets (sg_rds's
/// `tier:private` rule) reach the database besides them. Every answer
/// explained.
#[test]
fn seed_acceptance() {
    let net = Network::from_env(&load("seed"));
    let m = reach::matrix(&net);
    let allowed: Vec<(Endpoint, Endpoint, String)> = m
        .rows
        .iter()
        .filter(|r| r.verdict.allowed)
        .map(|r| (r.from, r.to, r.service.to_string()))
        .collect();
    use Endpoint::*;
    for want in [
        (Operator, Elb, "tcp/80"),
        (Operator, Bastion, "tcp/22"),
        (Elb, Instances, "tcp/80"),
        (Elb, Tasks, "tcp/80"),
        (Bastion, Instances, "tcp/22"),
        (Bastion, Instances, "icmp"),
        (Instances, Database, "tcp/3306"),
        (Tasks, Database, "tcp/3306"),
        (PrivateSide, Database, "tcp/3306"),
    ] {
        assert!(
            allowed.contains(&(want.0, want.1, want.2.to_string())),
            "{} -> {} {} should be allowed:\n{}",
            want.0,
            want.1,
            want.2,
            m.render()
        );
    }
    for r in &m.rows {
        assert!(!r.verdict.summary.is_empty() && !r.verdict.steps.is_empty());
        if matches!(r.to, Instances | Tasks | Database) && r.verdict.allowed {
            let ok = matches!(
                (r.from, r.to),
                (Elb, Instances | Tasks)
                    | (Bastion, Instances)
                    | (Instances | Tasks | PrivateSide, Database)
            );
            assert!(
                ok,
                "{} -> {} {} is allowed: {}",
                r.from, r.to, r.service, r.verdict.summary
            );
        }
    }
    let v = ask(&net, "instances", "database", "3306");
    assert_eq!(
        v.summary,
        "allowed by sg_rds ingress tcp/3306 from sg:sg_payments_api_internal"
    );
}

/// Production: the internet reaches neither the API's ELB (internal) nor its
/// tasks; Matrix-oSc across the private subnets does.
#[test]
fn production_acceptance() {
    let net = Network::from_env(&load("production"));
    for to in ["elb", "tasks", "instances"] {
        for from in ["internet", "operator"] {
            let v = ask(&net, from, to, "80");
            assert!(!v.allowed, "{from} -> {to} 80: {}", v.summary);
        }
    }
    assert!(ask(&net, "private", "elb", "80").allowed);
    assert!(ask(&net, "elb", "tasks", "80").allowed);
}

/// `NAME` or `NAME+public` (the database publicly accessible, which the
/// file cannot say: set in the expanded resources).
fn network(name: &str) -> Network {
    let (base, public) = match name.split_once('+') {
        Some((b, "public")) => (b, true),
        Some((_, other)) => panic!("unknown variant `{other}` in {name}"),
        None => (name, false),
    };
    let env = load(base);
    let mut rs = expand(&env);
    if public {
        for r in &mut rs {
            if let Spec::DbInstance(d) = &mut r.spec {
                d.publicly_accessible = true;
            }
        }
    }
    Network::from_resources(&rs, &Facts::from_env(&env))
}

#[derive(serde::Deserialize)]
struct Cases {
    cases: Vec<[String; 6]>,
}

/// Every row of fixtures/reach/cases.toml: the verdict and its explanation.
#[test]
fn table_of_cases() {
    let path = root().join("fixtures/reach/cases.toml");
    let text = std::fs::read_to_string(&path).expect("cases.toml");
    let cases: Cases = toml::from_str(&text).expect("cases.toml parses");
    assert!(
        cases.cases.len() >= 40,
        "the issue asks for at least 40 cases"
    );
    let mut nets: std::collections::BTreeMap<String, Network> = Default::default();
    let mut failures = Vec::new();
    for [env, from, to, svc, expected, why] in &cases.cases {
        let net = nets.entry(env.clone()).or_insert_with(|| network(env));
        let v = ask(net, from, to, svc);
        let got = match (v.allowed, v.partial) {
            (true, false) => "allowed",
            (true, true) => "partly",
            (false, _) => "blocked",
        };
        if got != expected || !v.summary.contains(why.as_str()) {
            failures.push(format!(
                "{env}: {from} -> {to} {svc}: expected {expected} with `{why}`, got {got}:\n{}",
                v.render(
                    from.parse().unwrap(),
                    to.parse().unwrap(),
                    svc.parse().unwrap()
                )
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
