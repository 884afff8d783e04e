//! The network view: the internet and the operator outside, the VPC with a
//! band per subnet tier (its subnets, CIDRs and where its traffic leaves),
//! the endpoints in the tier they sit in with their security groups, and one
//! edge per pair of endpoints the reachability matrix lets connect, labelled
//! with every service allowed (the matrix of `chronous check reach` as a
//! picture).

use std::collections::BTreeMap;

use crate::env::{Environment, NatMode, Tier};
use crate::reach::{self, Endpoint, Matrix};

use super::{Band, Diagram, Edge, EdgeStyle, Enclosure, Node, View};

/// The network view of `env`, from the file alone.
pub fn view(env: &Environment) -> Diagram {
    let net = reach::Network::from_env(env);
    from_matrix(env, &reach::matrix(&net))
}

const OUTSIDE: &str = "outside";

fn tier_fill(t: Tier) -> &'static str {
    match t {
        Tier::Public => "#e8f5e4",
        Tier::Private => "#e8f1fb",
        Tier::Database => "#f1ecf9",
    }
}

/// Where a tier's traffic to the internet goes.
fn tier_route(env: &Environment, t: Tier) -> &'static str {
    let has_public = env.network.subnets_of(Tier::Public).next().is_some();
    match t {
        Tier::Public => "0.0.0.0/0 via the internet gateway",
        Tier::Private => match env.network.nat {
            NatMode::PerSubnet if has_public => "0.0.0.0/0 via a NAT gateway per subnet",
            NatMode::Single if has_public => "0.0.0.0/0 via one shared NAT gateway",
            NatMode::PerSubnet | NatMode::Single | NatMode::None => "no route out of the VPC",
        },
        Tier::Database => "no route out of the VPC",
    }
}

fn tier_label(env: &Environment, t: Tier) -> String {
    let subnets: Vec<String> = env
        .network
        .subnets_of(t)
        .map(|s| format!("{} {} ({})", s.name, s.cidr, s.az))
        .collect();
    format!(
        "{} tier: {} · {}",
        t.as_str(),
        subnets.join(", "),
        tier_route(env, t)
    )
}

/// The tier of the first of `subnets` the file names.
fn tier_of(env: &Environment, subnets: &[String]) -> Option<Tier> {
    subnets.iter().find_map(|s| env.subnet(s).map(|x| x.tier))
}

fn groups_line(groups: &[String]) -> String {
    if groups.is_empty() {
        "no security group".to_string()
    } else {
        format!("sg: {}", groups.join(", "))
    }
}

/// An endpoint's node: where it sits, its column, its title and lines;
/// `None` when the environment has no such endpoint. Columns put the ELB over
/// the tasks and instances it sends to, the database under the instances;
/// an ELB in the instances' own tier gets a column of its own.
fn endpoint_node(env: &Environment, e: Endpoint) -> Option<(String, usize, String, Vec<String>)> {
    let band = |t: Tier| t.as_str().to_string();
    let elb_tier = env
        .load_balancer
        .as_ref()
        .and_then(|lb| tier_of(env, &lb.subnets));
    let shift = usize::from(elb_tier.is_some() && elb_tier == tier_of(env, &env.cluster.subnets));
    let cluster = &env.cluster;
    let s = &env.service;
    match e {
        Endpoint::Internet => Some((
            OUTSIDE.into(),
            0,
            "internet".into(),
            vec!["any address".into()],
        )),
        Endpoint::Operator => Some((
            OUTSIDE.into(),
            1 + shift,
            "operator".into(),
            vec![env.operator_cidr.to_string()],
        )),
        Endpoint::Elb => env.load_balancer.as_ref().map(|lb| {
            let t = tier_of(env, &lb.subnets).unwrap_or(Tier::Public);
            let lines = vec![
                lb.name.clone(),
                format!(
                    "listener {} {} → {}",
                    lb.protocol, lb.lb_port, lb.instance_port
                ),
                groups_line(&lb.security_groups),
            ];
            let title = if lb.internal {
                "internal load balancer"
            } else {
                "load balancer"
            };
            (band(t), 0, title.into(), lines)
        }),
        Endpoint::Bastion => env.bastion.as_ref().map(|b| {
            let t = env
                .subnet(&b.subnet)
                .map(|x| x.tier)
                .unwrap_or(Tier::Public);
            let lines = vec![
                format!("{} in {}", b.instance_type, b.subnet),
                groups_line(&b.security_groups),
            ];
            (band(t), 2 + shift, "bastion".into(), lines)
        }),
        Endpoint::Instances => {
            let t = tier_of(env, &cluster.subnets).unwrap_or(Tier::Private);
            let lines = vec![
                format!("{} × {}", cluster.instance_count, cluster.instance_type),
                groups_line(&cluster.security_groups),
            ];
            Some((band(t), 1 + shift, "container instances".into(), lines))
        }
        Endpoint::Tasks => {
            let t = tier_of(env, &cluster.subnets).unwrap_or(Tier::Private);
            let port = match s.host_port {
                Some(h) => format!("host port {h} → {}", s.container_port),
                None => format!("dynamic host port → {}", s.container_port),
            };
            let lines = vec![
                format!("{} × {}", s.container_name, s.desired_count),
                port,
                "the instances' groups".into(),
            ];
            Some((band(t), shift, "tasks".into(), lines))
        }
        Endpoint::Database => env.database.as_ref().map(|db| {
            let t = tier_of(env, &db.subnets).unwrap_or(Tier::Database);
            let lines = vec![
                format!("{} {} {}", db.identifier, db.engine, db.engine_version),
                groups_line(&db.security_groups),
            ];
            (band(t), 1 + shift, "database".into(), lines)
        }),
        Endpoint::PrivateSide => env.network.subnets_of(Tier::Private).next().map(|_| {
            let lines = vec![
                "a host in the private subnets".into(),
                "with no group of the environment".into(),
            ];
            (
                band(Tier::Private),
                2 + shift,
                "private side (Matrix-oSc)".into(),
                lines,
            )
        }),
    }
}

/// The network view of `env` with the verdicts of `m`.
pub fn from_matrix(env: &Environment, m: &Matrix) -> Diagram {
    let tiers: Vec<Tier> = [Tier::Public, Tier::Private, Tier::Database]
        .into_iter()
        .filter(|t| env.network.subnets_of(*t).next().is_some())
        .collect();
    let mut bands = vec![Band {
        id: OUTSIDE.into(),
        label: "outside the VPC".into(),
        fill: "#f6f6f6".into(),
    }];
    bands.extend(tiers.iter().map(|t| Band {
        id: t.as_str().into(),
        label: tier_label(env, *t),
        fill: tier_fill(*t).into(),
    }));
    let nodes: Vec<Node> = Endpoint::ALL
        .into_iter()
        .filter_map(|e| {
            endpoint_node(env, e).map(|(band, column, title, lines)| Node {
                id: e.as_str().to_string(),
                title,
                lines,
                band,
                column,
                mark: None,
            })
        })
        .collect();
    Diagram {
        view: View::Network,
        title: format!("environment `{}`: who can reach whom ({})", env.name, env.network.cidr),
        legend: "A → B: A can connect to B on those ports · dashed: from outside the VPC · dotted: out to the internet".into(),
        bands,
        boxes: vec![Enclosure {
            id: "vpc".into(),
            label: format!("VPC {} ({})", env.network.cidr, env.region),
            bands: tiers.iter().map(|t| t.as_str().to_string()).collect(),
        }],
        edges: edges(m, &nodes),
        nodes,
    }
}

/// One edge per pair that can connect, its services in the matrix's order.
fn edges(m: &Matrix, nodes: &[Node]) -> Vec<Edge> {
    let present = |e: Endpoint| nodes.iter().any(|n| n.id == e.as_str());
    let mut pairs: BTreeMap<(Endpoint, Endpoint), Vec<String>> = BTreeMap::new();
    for r in &m.rows {
        if !r.verdict.allowed || !present(r.from) || !present(r.to) {
            continue;
        }
        let s = if r.verdict.partial {
            format!("{} (some)", r.service)
        } else {
            r.service.to_string()
        };
        let list = pairs.entry((r.from, r.to)).or_default();
        if !list.contains(&s) {
            list.push(s);
        }
    }
    pairs
        .into_iter()
        .map(|((from, to), services)| Edge {
            from: from.as_str().into(),
            to: to.as_str().into(),
            label: Some(services.join(", ")),
            style: if from.is_outside() {
                EdgeStyle::Inbound
            } else if to.is_outside() {
                EdgeStyle::Outbound
            } else {
                EdgeStyle::Solid
            },
        })
        .collect()
}
