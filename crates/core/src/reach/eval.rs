//! The decision: for a pair of endpoints and a service, every placement of
//! the sender against every placement of the receiver (an ELB node per
//! subnet, an instance per subnet of its group), each path checked hop by
//! hop: what the receiver listens on, routes and addresses, the sender's
//! egress, the receiver's ingress.

use ipnet::{IpNet, Ipv4Net};

use super::model::{DefaultRoute, Host, Listens, Network, Peer, Public, RuleM, RuleProto};
use super::{Endpoint, Hop, Proto, Service, Step, Verdict};

/// Where one end of a path is.
#[derive(Clone, Copy)]
enum Place<'a> {
    Outside(Endpoint),
    Inside(&'a Host, usize),
}

/// An address as a security-group rule sees it.
#[derive(Clone, Copy)]
enum Addr<'a> {
    /// Any internet address other than the operator's.
    Internet,
    Operator(IpNet),
    /// A private address of this host in this subnet (its groups visible).
    Inside(&'a Host, usize),
    /// A public address of a VPC host or NAT gateway (no group membership).
    Public(&'a str),
}

/// The outcome of one path.
struct Attempt {
    ok: bool,
    steps: Vec<Step>,
    summary: String,
}

fn step(hop: Hop, ok: bool, detail: impl Into<String>, by: Option<&str>) -> Step {
    Step {
        hop,
        ok,
        detail: detail.into(),
        by: by.map(str::to_string),
    }
}

fn blocked(steps: Vec<Step>, summary: impl Into<String>) -> Verdict {
    Verdict {
        allowed: false,
        steps,
        summary: format!("blocked: {}", summary.into()),
        partial: false,
    }
}

/// Whether `from` can open a connection to `to` for `svc`, and why.
pub fn reach(net: &Network, from: Endpoint, to: Endpoint, svc: Service) -> Verdict {
    for e in [from, to] {
        if !net.has(e) {
            let d = format!("this environment has no {e}");
            return blocked(vec![step(Hop::Endpoint, false, d.clone(), None)], d);
        }
    }
    if from.is_outside() && to.is_outside() {
        let d = "both ends are outside the VPC: nothing of this environment is on the path";
        return blocked(vec![step(Hop::Endpoint, false, d, None)], d);
    }
    let single = matches!(from, Endpoint::Bastion | Endpoint::Database | Endpoint::Elb);
    if from == to && single {
        let d = format!("{} to itself: no network hop", net.label(from));
        return Verdict {
            allowed: true,
            steps: vec![step(Hop::Endpoint, true, d.clone(), None)],
            summary: format!("allowed: {d}"),
            partial: false,
        };
    }
    let mut steps = Vec::new();
    if let Err(s) = listener(net, from, to, svc, &mut steps) {
        return blocked(steps, s);
    }
    let froms = places(net, from);
    let tos = places(net, to);
    let mut attempts: Vec<(String, Attempt)> = Vec::new();
    for f in &froms {
        for t in &tos {
            attempts.push((placement_label(net, f, t), path(net, *f, *t, svc)));
        }
    }
    combine(steps, attempts)
}

fn combine(mut head: Vec<Step>, attempts: Vec<(String, Attempt)>) -> Verdict {
    let ok = attempts.iter().filter(|(_, a)| a.ok).count();
    let Some(first_ok) = attempts.iter().position(|(_, a)| a.ok) else {
        let Some((_, a)) = attempts.into_iter().next() else {
            return blocked(head, "no placement: the endpoint sits in no known subnet");
        };
        head.extend(a.steps);
        return Verdict {
            allowed: false,
            steps: head,
            summary: a.summary,
            partial: false,
        };
    };
    let partial = ok < attempts.len();
    let mut summary = attempts[first_ok].1.summary.clone();
    if partial {
        let ok_places: Vec<&str> = attempts
            .iter()
            .filter(|(_, a)| a.ok)
            .map(|(p, _)| p.as_str())
            .collect();
        let (bp, ba) = attempts
            .iter()
            .find(|(_, a)| !a.ok)
            .expect("partial has a blocked placement");
        summary = format!(
            "{summary} (only {}; {bp}: {})",
            ok_places.join(", "),
            ba.summary
        );
    }
    let mut attempts = attempts;
    let (_, a) = attempts.swap_remove(first_ok);
    head.extend(a.steps);
    Verdict {
        allowed: true,
        steps: head,
        summary,
        partial,
    }
}

fn placement_label(net: &Network, f: &Place, t: &Place) -> String {
    let one = |p: &Place| match p {
        Place::Outside(e) => e.as_str().to_string(),
        Place::Inside(_, s) => net.subnets[*s].name.clone(),
    };
    format!("{} -> {}", one(f), one(t))
}

fn places(net: &Network, e: Endpoint) -> Vec<Place<'_>> {
    match net.host(e) {
        None => vec![Place::Outside(e)],
        Some(h) => h.subnets.iter().map(|&s| Place::Inside(h, s)).collect(),
    }
}

/// What the receiver listens on, and what the ELB connects to.
fn listener(
    net: &Network,
    from: Endpoint,
    to: Endpoint,
    svc: Service,
    steps: &mut Vec<Step>,
) -> Result<(), String> {
    if from == Endpoint::Elb {
        let elb = net.elb.as_ref().expect("an ELB host has its listener");
        let mut ports = vec![elb.instance_port];
        ports.extend(elb.health_port.filter(|p| *p != elb.instance_port));
        let to_instances = matches!(to, Endpoint::Instances | Endpoint::Tasks);
        let on_port = svc.proto == Proto::Tcp && svc.port.is_some_and(|p| ports.contains(&p));
        let list = ports
            .iter()
            .map(|p| format!("tcp/{p}"))
            .collect::<Vec<_>>()
            .join(" and ");
        if !(to_instances && on_port) {
            let d = format!(
                "the ELB opens connections only to its registered instances on {list} (instance port, health check)"
            );
            steps.push(step(Hop::Listener, false, d.clone(), None));
            return Err(d);
        }
        steps.push(step(
            Hop::Listener,
            true,
            format!("the ELB connects to its instances on {svc} (instance port or health check)"),
            None,
        ));
    }
    let Some(h) = net.host(to) else {
        return Ok(());
    };
    if let Listens::Only(proto, lo, hi, what) = &h.listens {
        let ports = if lo == hi {
            format!("{}/{lo}", proto.as_str())
        } else {
            format!("{}/{lo}-{hi}", proto.as_str())
        };
        let fits = svc.proto == *proto && svc.port.is_some_and(|p| (*lo..=*hi).contains(&p));
        if !fits {
            let d = format!("{} listens only on {ports} ({what})", h.label);
            steps.push(step(Hop::Listener, false, d.clone(), Some(&h.address)));
            return Err(d);
        }
        steps.push(step(
            Hop::Listener,
            true,
            format!("{} listens on {ports} ({what})", h.label),
            Some(&h.address),
        ));
    }
    Ok(())
}

/// One path, hop by hop.
fn path(net: &Network, from: Place, to: Place, svc: Service) -> Attempt {
    let mut a = Attempt {
        ok: false,
        steps: Vec::new(),
        summary: String::new(),
    };
    match (from, to) {
        (Place::Outside(_), Place::Outside(_)) => {
            a.summary = "blocked: both ends are outside the VPC".into();
        }
        (Place::Outside(e), Place::Inside(h, s)) => {
            let src = outside_addr(net, e);
            if inbound_route(net, h, s, &mut a) {
                ingress(net, src, h, svc, None, &mut a);
            }
        }
        (Place::Inside(h, s), Place::Outside(e)) => {
            let dst = outside_addr(net, e);
            let Some(rule) = egress(net, h, dst, svc, &mut a) else {
                return a;
            };
            if let Some(via) = outbound_route(net, h, s, &mut a) {
                a.ok = true;
                a.steps.push(step(
                    Hop::Ingress,
                    true,
                    format!("{}: outside this environment", net.label(e)),
                    None,
                ));
                a.summary = match rule {
                    Some(rule) => format!("allowed by {rule}, out {via}"),
                    None => {
                        format!("allowed: out {via} (its own groups are outside this environment)")
                    }
                };
            }
        }
        (Place::Inside(fh, fs), Place::Inside(th, ts)) => {
            let via_public = matches!(th.public, Public::Yes(_))
                && net.host(Endpoint::Elb).is_some_and(|e| std::ptr::eq(e, th));
            if via_public {
                through_internet(net, fh, fs, th, ts, svc, &mut a);
            } else {
                let in_vpc = net.vpc_cidr.map(|c| format!(" ({c})")).unwrap_or_default();
                if let Some(rule) = egress(net, fh, Addr::Inside(th, ts), svc, &mut a) {
                    a.steps.push(step(
                        Hop::Route,
                        true,
                        format!(
                            "{} -> {}: the VPC's local route{in_vpc}",
                            net.subnets[fs].name, net.subnets[ts].name
                        ),
                        None,
                    ));
                    ingress(net, Addr::Inside(fh, fs), th, svc, rule, &mut a);
                }
            }
        }
    }
    a
}

/// A VPC host to an internet-facing ELB: out through its NAT or public IP,
/// in through the ELB's public address, seen as a public address.
fn through_internet(
    net: &Network,
    fh: &Host,
    fs: usize,
    th: &Host,
    ts: usize,
    svc: Service,
    a: &mut Attempt,
) {
    a.steps.push(step(
        Hop::Route,
        true,
        format!(
            "{} is internet-facing: its name resolves to public addresses, so the connection leaves the VPC",
            th.label
        ),
        Some(&th.address),
    ));
    let Some(rule) = egress(net, fh, Addr::Public("the ELB's public address"), svc, a) else {
        return;
    };
    let Some(via) = outbound_route(net, fh, fs, a) else {
        return;
    };
    if !inbound_route(net, th, ts, a) {
        return;
    }
    let src = match via.starts_with("through the internet gateway") {
        true => "the sender's public IP",
        false => "the NAT gateway's public address",
    };
    ingress(net, Addr::Public(src), th, svc, rule, a);
}

fn outside_addr(net: &Network, e: Endpoint) -> Addr<'static> {
    match (e, net.operator) {
        (Endpoint::Operator, Some(o)) => Addr::Operator(o),
        _ => Addr::Internet,
    }
}

/// The internet reaching `h` in subnet `s`: a public address and a route to
/// the internet gateway.
fn inbound_route(net: &Network, h: &Host, s: usize, a: &mut Attempt) -> bool {
    let sub = &net.subnets[s];
    let public = match &h.public {
        Public::Yes(why) => why.clone(),
        Public::No(why) => {
            a.steps
                .push(step(Hop::Route, false, why.clone(), Some(&h.address)));
            a.summary = format!("blocked: {why}");
            return false;
        }
        Public::BySubnet if sub.map_public_ip => {
            format!("the public IP {} maps on launch", sub.name)
        }
        Public::BySubnet => {
            let d = format!(
                "{} in {} get no public address ({} maps no public IP on launch)",
                h.label, sub.name, sub.name
            );
            a.steps
                .push(step(Hop::Route, false, d.clone(), Some(&sub.address)));
            a.summary = format!("blocked: {d}");
            return false;
        }
    };
    let rt = route_table_name(sub.route_table.as_deref());
    if let DefaultRoute::Igw(igw) = &sub.default_route {
        a.steps.push(step(
            Hop::Route,
            true,
            format!(
                "the internet reaches {} at {public}: {} routes 0.0.0.0/0 to the internet gateway ({rt})",
                h.label, sub.name
            ),
            Some(igw),
        ));
        return true;
    }
    let d = format!(
        "{} has a public address but {} has no route to the internet gateway ({rt})",
        h.label, sub.name
    );
    a.steps.push(step(
        Hop::Route,
        false,
        d.clone(),
        Some(sub.route_table.as_deref().unwrap_or(&sub.address)),
    ));
    a.summary = format!("blocked: {d}");
    false
}

fn route_table_name(rt: Option<&str>) -> String {
    match rt {
        Some(a) => format!("route table {}", short(a)),
        None => "the VPC's main route table".into(),
    }
}

fn short(address: &str) -> &str {
    address.split_once('.').map(|(_, n)| n).unwrap_or(address)
}

/// `h` in subnet `s` reaching the internet: through the internet gateway with
/// a public address, or a NAT gateway that itself sits in a public subnet.
/// Returns how ("through ...").
fn outbound_route(net: &Network, h: &Host, s: usize, a: &mut Attempt) -> Option<String> {
    let sub = &net.subnets[s];
    let rt = route_table_name(sub.route_table.as_deref());
    let rt_by = sub
        .route_table
        .clone()
        .unwrap_or_else(|| sub.address.clone());
    let public = match &h.public {
        Public::Yes(_) => true,
        Public::No(_) => false,
        Public::BySubnet => sub.map_public_ip,
    };
    let fail = |a: &mut Attempt, d: String, by: &str| {
        a.steps.push(step(Hop::Route, false, d.clone(), Some(by)));
        a.summary = format!("blocked: {d}");
        None
    };
    match &sub.default_route {
        DefaultRoute::Igw(igw) if public => {
            let via = format!("through the internet gateway ({}, {rt})", sub.name);
            a.steps.push(step(
                Hop::Route,
                true,
                format!("{} leaves with its public address {via}", h.label),
                Some(igw),
            ));
            Some(via)
        }
        DefaultRoute::Igw(_) => fail(
            a,
            format!(
                "{} in {} has no public address (the route to the internet gateway needs one)",
                h.label, sub.name
            ),
            &rt_by,
        ),
        DefaultRoute::Nat(nat, Some(ns))
            if matches!(net.subnets[*ns].default_route, DefaultRoute::Igw(_)) =>
        {
            let via = format!("through NAT gateway {} ({}, {rt})", short(nat), sub.name);
            a.steps.push(step(
                Hop::Route,
                true,
                format!("{} leaves {via}", h.label),
                Some(nat),
            ));
            Some(via)
        }
        DefaultRoute::Nat(nat, _) => fail(
            a,
            format!(
                "the NAT gateway {nat} that {} routes to has no route to the internet gateway",
                sub.name
            ),
            nat,
        ),
        DefaultRoute::Other(x) => fail(
            a,
            format!(
                "{}'s default route goes to {x}, not a gateway this model knows",
                sub.name
            ),
            &rt,
        ),
        DefaultRoute::None => fail(
            a,
            format!(
                "{} has no route to the internet: {rt} has no 0.0.0.0/0 route (no NAT gateway)",
                sub.name
            ),
            &rt_by,
        ),
    }
}

/// The sender's egress. `None`: blocked (`a.summary` says why);
/// `Some(Some(rule))`: the rule that lets it out; `Some(None)`: the sender's
/// groups are not this environment's.
fn egress(
    net: &Network,
    h: &Host,
    dst: Addr,
    svc: Service,
    a: &mut Attempt,
) -> Option<Option<String>> {
    if !h.own_groups {
        a.steps.push(step(
            Hop::Egress,
            true,
            format!(
                "{}: a host with no group of this environment (its own egress assumed open)",
                h.label
            ),
            None,
        ));
        return Some(None);
    }
    match first_rule(net, &h.groups, false, svc, dst) {
        Ok(r) => {
            a.steps.push(step(
                Hop::Egress,
                true,
                format!("{}: {svc} out, by {}", h.label, r.label),
                Some(&r.address),
            ));
            Some(Some(r.label.clone()))
        }
        Err(near) => {
            let d = format!(
                "{} lets nothing out to {} on {svc}",
                group_names(net, h),
                addr_label(dst)
            );
            a.steps
                .push(step(Hop::Egress, false, with_near(&d, &near), None));
            a.summary = format!("blocked: {d}");
            None
        }
    }
}

/// The receiver's ingress from `src`; `out` is the sender's egress rule.
fn ingress(net: &Network, src: Addr, h: &Host, svc: Service, out: Option<String>, a: &mut Attempt) {
    if !h.own_groups {
        a.steps.push(step(
            Hop::Ingress,
            true,
            format!(
                "{}: a host with no group of this environment (its own ingress assumed open)",
                h.label
            ),
            None,
        ));
        a.ok = true;
        a.summary = match out {
            Some(rule) => format!(
                "allowed by {rule} (the receiver's own groups are outside this environment)"
            ),
            None => "allowed: neither end carries a group of this environment".into(),
        };
        return;
    }
    match first_rule(net, &h.groups, true, svc, src) {
        Ok(r) => {
            a.steps.push(step(
                Hop::Ingress,
                true,
                format!("{}: {svc} in, by {}", h.label, r.label),
                Some(&r.address),
            ));
            a.ok = true;
            a.summary = format!("allowed by {}", r.label);
        }
        Err(near) => {
            let d = format!(
                "{} admits nothing from {} on {svc}",
                group_names(net, h),
                addr_label(src)
            );
            a.steps
                .push(step(Hop::Ingress, false, with_near(&d, &near), None));
            a.summary = format!("blocked: {d}");
        }
    }
}

fn with_near(d: &str, near: &[String]) -> String {
    if near.is_empty() {
        d.to_string()
    } else {
        format!("{d} (rules for it: {})", near.join("; "))
    }
}

fn group_names(net: &Network, h: &Host) -> String {
    if h.groups.is_empty() {
        return format!("{} (no security group)", h.label);
    }
    h.groups
        .iter()
        .map(|g| net.groups[*g].name.as_str())
        .collect::<Vec<_>>()
        .join(" + ")
}

fn addr_label(a: Addr) -> String {
    match a {
        Addr::Internet => "the internet".into(),
        Addr::Operator(o) => format!("the operator's address ({o})"),
        Addr::Inside(h, _) => h.label.clone(),
        Addr::Public(what) => what.to_string(),
    }
}

/// The first rule of `groups` in a direction that matches `svc` and `peer`;
/// else the rules that match the service (for the explanation).
fn first_rule<'n>(
    net: &'n Network,
    groups: &[usize],
    ingress: bool,
    svc: Service,
    peer: Addr,
) -> Result<&'n RuleM, Vec<String>> {
    let mut near = Vec::new();
    for &g in groups {
        let list = if ingress {
            &net.groups[g].ingress
        } else {
            &net.groups[g].egress
        };
        for &i in list {
            let r = &net.rules[i];
            if !proto_matches(r, svc) {
                continue;
            }
            if r.peers.iter().any(|p| peer_matches(net, p, peer)) {
                return Ok(r);
            }
            if near.len() < 4 {
                near.push(r.label.clone());
            }
        }
    }
    Err(near)
}

fn proto_matches(r: &RuleM, svc: Service) -> bool {
    match (r.proto, svc.proto) {
        (RuleProto::All, _) => true,
        (RuleProto::Tcp, Proto::Tcp) | (RuleProto::Udp, Proto::Udp) => {
            let p = i64::from(svc.port.unwrap_or(0));
            (r.from < 0 && r.to < 0) || (r.from <= p && p <= r.to)
        }
        // echo request: type 8
        (RuleProto::Icmp, Proto::Icmp) => r.from < 0 || r.from == 8,
        _ => false,
    }
}

/// Ranges that are not the internet's.
const SPECIAL: [&str; 7] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "0.0.0.0/8",
];

fn special(c: &Ipv4Net) -> bool {
    SPECIAL
        .iter()
        .any(|s| s.parse::<Ipv4Net>().map(|n| n.contains(c)).unwrap_or(false))
}

fn peer_matches(net: &Network, p: &Peer, a: Addr) -> bool {
    match (p, a) {
        (Peer::Group(g), Addr::Inside(h, _)) => h.own_groups && h.groups.contains(g),
        (Peer::Group(_), _) => false,
        (Peer::Host(x), Addr::Inside(h, _)) => &h.address == x,
        (Peer::Host(_), _) => false,
        (Peer::Unknown(_), _) => false,
        (Peer::Cidr(IpNet::V6(_)), _) => false,
        (Peer::Cidr(IpNet::V4(c)), a) => cidr_matches(net, c, a),
    }
}

/// Whether a rule's CIDR covers the address: for a host whose IP is not
/// known, the whole subnet it may be in.
fn cidr_matches(net: &Network, c: &Ipv4Net, a: Addr) -> bool {
    match a {
        Addr::Internet => {
            let operator = match net.operator {
                Some(IpNet::V4(o)) => o.contains(c),
                _ => false,
            };
            !special(c) && !operator
        }
        Addr::Operator(IpNet::V4(o)) => c.contains(&o),
        Addr::Operator(IpNet::V6(_)) => false,
        Addr::Inside(h, s) => match (h.ip, net.subnets[s].cidr) {
            (Some(ip), _) => c.contains(&ip),
            (None, Some(sub)) => c.contains(&sub),
            (None, None) => false,
        },
        Addr::Public(_) => c.prefix_len() == 0,
    }
}
