//! The full reachability matrix of a large environment: the seed's topology
//! with 500 security groups and 5,000 rules (issue 12: under 100 ms).
//!
//! Run (release, a target dir of its own):
//! `CARGO_TARGET_DIR=/work/tgt/reach-bench cargo bench -p chronous-core --bench reach`
//!
//! The environment: the seed's 4 groups plus 496 generated ones. The groups
//! on the endpoints (5 per interface, AWS's default quota: the seed's group
//! and 4 generated ones on the instances, the ELB, the database and the
//! bastion) carry 100 rules each (2,000 rules, what every question scans);
//! the other 480 groups share the remaining rules. Rules mix TCP and UDP
//! port ranges, ICMP, `all`, CIDRs inside and outside the VPC, the private
//! tier, the operator, the bastion and source groups (chains between the
//! generated groups), ingress and egress. Most questions of the matrix are
//! blocked, so they scan every rule of the receiver's groups.

use std::hint::black_box;

use chronous_core::env::{self, Environment, Protocol, Rule, SecurityGroup, Source, Tier};
use chronous_core::reach::{self, Network};
use criterion::{criterion_group, criterion_main, Criterion};

const GROUPS: usize = 500;
const RULES: usize = 5_000;
const PER_ENDPOINT_GROUP: usize = 100;

fn seed() -> Environment {
    let text = include_str!("../../../fixtures/seed/chronous.toml");
    let loaded = env::load("fixtures/seed/chronous.toml", text);
    loaded.env.expect("the seed is valid")
}

/// Rule `k` of a generated group `g`: unique per group (no rule twice).
fn rule(g: usize, k: usize, ngroups: usize) -> Rule {
    let port = 1000 + k as i64 * 7;
    let (protocol, from_port, to_port) = match k % 10 {
        0 => (Protocol::Icmp, -1, -1),
        1 => (Protocol::Udp, port, port + 3),
        9 if k % 20 == 9 => (Protocol::All, -1, -1),
        _ => (Protocol::Tcp, port, port + (k as i64 % 5)),
    };
    // ICMP and `all` have no ports: a source of their own keeps them unique.
    if from_port < 0 {
        let source = Source::Cidr(format!("172.16.{}.0/24", k / 10).parse().unwrap());
        return Rule {
            protocol,
            from_port,
            to_port,
            source,
            description: None,
        };
    }
    let source = match k % 6 {
        0 => Source::Group(format!("g{}", (g * 7 + k) % ngroups)),
        1 => Source::Cidr(format!("10.{}.{}.0/24", k % 250, g % 250).parse().unwrap()),
        2 => Source::Cidr(
            format!("198.{}.{}.0/24", 18 + k % 2, g % 250)
                .parse()
                .unwrap(),
        ),
        3 => Source::Tier(Tier::Private),
        4 => Source::Operator,
        _ => Source::Bastion,
    };
    Rule {
        protocol,
        from_port,
        to_port,
        source,
        description: None,
    }
}

/// The seed with 500 groups and 5,000 rules in all.
fn big() -> Environment {
    let mut e = seed();
    let existing: usize = e
        .security_groups
        .iter()
        .map(|g| g.ingress.len() + g.egress.len())
        .sum();
    let n = GROUPS - e.security_groups.len();
    let attached = 16; // 4 endpoints x 4 generated groups
    let rest = (RULES - existing - attached * PER_ENDPOINT_GROUP) / (n - attached);
    let mut extra = RULES - existing - attached * PER_ENDPOINT_GROUP - rest * (n - attached);
    for g in 0..n {
        let mut count = if g < attached {
            PER_ENDPOINT_GROUP
        } else {
            rest
        };
        if g >= attached && extra > 0 {
            count += 1;
            extra -= 1;
        }
        let rules: Vec<Rule> = (0..count).map(|k| rule(g, k, n)).collect();
        // One egress rule in eight: the rest ingress.
        let (egress, ingress): (Vec<_>, Vec<_>) =
            rules.into_iter().enumerate().partition(|(k, _)| k % 8 == 7);
        e.security_groups.push(SecurityGroup {
            name: format!("g{g}"),
            description: format!("generated group {g}"),
            ingress: ingress.into_iter().map(|(_, r)| r).collect(),
            egress: egress.into_iter().map(|(_, r)| r).collect(),
        });
    }
    let four = |from: usize| (from..from + 4).map(|i| format!("g{i}"));
    e.cluster.security_groups.extend(four(0));
    if let Some(lb) = &mut e.load_balancer {
        lb.security_groups.extend(four(4));
    }
    if let Some(db) = &mut e.database {
        db.security_groups.extend(four(8));
    }
    if let Some(b) = &mut e.bastion {
        b.security_groups.extend(four(12));
    }
    e
}

fn bench(c: &mut Criterion) {
    let e = big();
    let net = Network::from_env(&e);
    let m = reach::matrix(&net);
    let allowed = m.rows.iter().filter(|r| r.verdict.allowed).count();
    println!(
        "environment: {} groups, {} rules ({} in the model); the matrix: {} questions, {allowed} allowed",
        e.security_groups.len(),
        e.security_groups
            .iter()
            .map(|g| g.ingress.len() + g.egress.len())
            .sum::<usize>(),
        net.rule_count(),
        m.rows.len(),
    );
    assert_eq!(e.security_groups.len(), GROUPS);
    assert_eq!(net.rule_count(), RULES);
    let mut g = c.benchmark_group("reach-500-groups-5000-rules");
    g.bench_function("matrix", |b| b.iter(|| reach::matrix(black_box(&net))));
    g.bench_function("expand", |b| {
        b.iter(|| chronous_core::resources::expand(black_box(&e)))
    });
    g.bench_function("from_env (expand + model)", |b| {
        b.iter(|| Network::from_env(black_box(&e)))
    });
    g.bench_function("from_env + matrix", |b| {
        b.iter(|| reach::matrix(&Network::from_env(black_box(&e))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
