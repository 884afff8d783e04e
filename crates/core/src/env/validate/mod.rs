//! Validation of the environment file: [`raw::File`] in, the typed
//! [`Environment`] and every [`Diagnostic`] (code, span, label, hint) out.
//!
//! One function per section of the file, each in its own file
//! (`header` for `[environment]`, `network`, `security_groups`, `images` with
//! `key_pair`, `cluster`, `service`, `load_balancer`, `logs`, `database`,
//! `bastion`, `sim`), called by [`environment`] in the order of the file, so
//! the diagnostics come out in that order. The helpers here (names, ports,
//! CIDR blocks, ranges, references to subnets and security groups) word the
//! messages every section shares.

mod bastion;
mod cluster;
mod database;
mod existing;
mod header;
mod images;
mod load_balancer;
mod logs;
mod network;
mod placement;
mod security_groups;
mod service;
mod sim;

use std::collections::BTreeSet;
use std::ops::Range;

use ipnet::Ipv4Net;

use super::raw;
use super::{Environment, Inputs};
use crate::diag::Diagnostic;

type S<T> = serde_spanned::Spanned<T>;

/// Validate a parsed file: the environment as far as it could be built, and
/// every diagnostic in the order of the file. The environment is only to be
/// used when no diagnostic is an error.
pub(super) fn environment(r: &raw::File, inputs: &dyn Inputs) -> (Environment, Vec<Diagnostic>) {
    let mut v = Validator { d: Vec::new() };
    let env = v.environment(r, inputs);
    (env, v.d)
}

struct Validator {
    d: Vec<Diagnostic>,
}

fn sp<T>(s: &S<T>) -> Range<usize> {
    s.span()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// The names other sections may refer to, as written in the file.
struct Refs {
    /// Every subnet written in the file, even one left out for an error already
    /// reported: a reference to it is not a second problem.
    subnets: Vec<String>,
    security_groups: BTreeSet<String>,
}

impl Refs {
    fn new(r: &raw::File) -> Refs {
        let mut subnets: Vec<String> = Vec::new();
        for s in &r.network.subnets {
            if !subnets.contains(s.name.get_ref()) {
                subnets.push(s.name.get_ref().clone());
            }
        }
        Refs {
            subnets,
            security_groups: r
                .security_groups
                .keys()
                .map(|k| k.get_ref().clone())
                .collect(),
        }
    }
}

impl Validator {
    fn environment(&mut self, r: &raw::File, inputs: &dyn Inputs) -> Environment {
        let head = self.header(&r.environment);
        let network = self.network(&r.network, &head.region, head.region_azs);
        // Security groups: names first, so rules may reference any of them.
        let refs = Refs::new(r);
        let security_groups = self.security_groups(r, &refs);
        let key_pair = r.key_pair.as_ref().map(|k| self.key_pair(k));
        let images = self.images(r);
        let cluster = self.cluster(&r.cluster, &refs);
        let service = self.service(r);
        self.placement(r, &cluster, &service);
        let load_balancer = r
            .load_balancer
            .as_ref()
            .map(|lb| self.load_balancer(lb, &r.service, service.host_port, &refs));
        let logs = self.logs(&r.logs);
        let database = r
            .database
            .as_ref()
            .map(|db| self.database(db, &network, &refs, inputs));
        let bastion = r.bastion.as_ref().map(|b| self.bastion(b, &network, &refs));
        let sim = self.sim(r.sim.as_ref());
        self.nat_cost(&r.network, &network, &head.region);
        let existing = self.existing_values(r.existing.as_ref());
        let env = Environment {
            name: head.name,
            prefix: head.prefix,
            region: head.region,
            backend: head.backend,
            production: head.production,
            operator_cidr: head.operator_cidr,
            account_id: head.account_id,
            allowed_regions: head.allowed_regions,
            network,
            security_groups,
            key_pair,
            images,
            cluster,
            service,
            load_balancer,
            logs,
            database,
            bastion,
            sim,
            existing,
        };
        self.existing_addresses(r.existing.as_ref(), &env);
        env
    }

    fn err(
        &mut self,
        code: &'static str,
        msg: impl Into<String>,
        span: Range<usize>,
        label: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.d
            .push(Diagnostic::new(code, msg).at(span, label).hint(hint));
    }
    fn warn(
        &mut self,
        code: &'static str,
        msg: impl Into<String>,
        span: Range<usize>,
        label: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.d
            .push(Diagnostic::warning(code, msg).at(span, label).hint(hint));
    }

    fn name(&mut self, what: &str, s: &S<String>) -> String {
        if !is_name(s.get_ref()) {
            self.err(
                "E0101",
                format!("invalid {what} `{}`", s.get_ref()),
                sp(s),
                "not a valid name",
                "use 1-63 letters, digits, `-` or `_`, starting with a letter or digit",
            );
        }
        s.get_ref().clone()
    }

    fn port(&mut self, what: &str, v: &S<i64>) -> u16 {
        let p = *v.get_ref();
        if !(0..=65535).contains(&p) {
            self.err(
                "E0301",
                format!("{what} {p} is outside 0-65535"),
                sp(v),
                "port out of range",
                "ports are 0-65535",
            );
            return 0;
        }
        p as u16
    }

    fn cidr4(&mut self, what: &str, v: &S<String>) -> Option<Ipv4Net> {
        match v.get_ref().parse::<Ipv4Net>() {
            Ok(n) => {
                if n.trunc() != n {
                    self.err(
                        "E0202",
                        format!("{what} `{}` has host bits set", v.get_ref()),
                        sp(v),
                        "not a network address",
                        format!("did you mean `{}`?", n.trunc()),
                    );
                    None
                } else {
                    Some(n)
                }
            }
            Err(_) => {
                self.err(
                    "E0201",
                    format!("{what} `{}` is not a valid IPv4 CIDR block", v.get_ref()),
                    sp(v),
                    "malformed CIDR",
                    "write an IPv4 network as a.b.c.d/n, for example 10.2.0.0/16",
                );
                None
            }
        }
    }

    fn positive(&mut self, what: &str, v: &S<i64>, lo: i64, hi: i64, hint: &str) -> u32 {
        let x = *v.get_ref();
        if x < lo || x > hi {
            self.err(
                "E0401",
                format!("{what} {x} is outside {lo}-{hi}"),
                sp(v),
                "out of range",
                hint.to_string(),
            );
            return lo.max(0) as u32;
        }
        x as u32
    }

    /// A reference to a subnet, by name.
    fn known_subnet(&mut self, refs: &Refs, s: &S<String>) {
        if !refs.subnets.contains(s.get_ref()) {
            self.err(
                "E0601",
                format!("unknown subnet `{}`", s.get_ref()),
                sp(s),
                "no such subnet",
                format!("the subnets are: {}", refs.subnets.join(", ")),
            );
        }
    }

    /// A reference to a security group, by name.
    fn known_sg(&mut self, refs: &Refs, s: &S<String>) {
        self.sg_exists(refs, s.get_ref(), sp(s));
    }

    /// Whether security group `name` (written at `span`) exists; says so when not.
    fn sg_exists(&mut self, refs: &Refs, name: &str, span: Range<usize>) -> bool {
        if refs.security_groups.contains(name) {
            return true;
        }
        let names: Vec<&str> = refs.security_groups.iter().map(String::as_str).collect();
        self.err(
            "E0602",
            format!("unknown security group `{name}`"),
            span,
            "no such security group",
            format!(
                "define [security_groups.{name}] or use one of: {}",
                names.join(", ")
            ),
        );
        false
    }
}
