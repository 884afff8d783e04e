//! Who can reach what: an offline model of an environment's network and an
//! engine that decides, for a pair of endpoints and a port/protocol, whether
//! a connection can be opened, with AWS's semantics, and says why.
//!
//! - Security groups are stateful and allow-only; the rules of every group on
//!   an interface are unioned; a rule admits a CIDR or the members of a group
//!   (an interface carrying it; only for traffic between private addresses).
//!   BOTH the sender's egress and the receiver's ingress must allow.
//! - Routing: every subnet of the VPC reaches every other (the local route).
//!   The internet reaches an endpoint only through an internet gateway route
//!   of its subnet and a public address (the bastion's, an internet-facing
//!   ELB's, a publicly accessible database's, an instance launched in a subnet
//!   that maps public IPs); a NAT gateway lets a private subnet out, never in.
//!   An internet-facing ELB is reached through its public addresses even from
//!   inside the VPC: the sender goes out through its NAT or public address, and
//!   the ELB's groups see that public address (no group membership).
//! - The ELB accepts only on its listener's port and opens its own
//!   connections (from its groups, in its subnets) to the instances on the
//!   listener's instance port and the health check's port.
//! - Tasks run in bridge mode: they use their container instance's interface
//!   and groups; a task listens on its host port.
//! - Network ACLs are not modelled: chronous creates none, and the VPC's
//!   default ACL admits everything.
//!
//! [`Network`] is built from resources ([`Network::from_resources`]): the
//! expansion of the file ([`Network::from_env`]) or the specs recorded in the
//! state after a refresh ([`recorded_resources`], [`Facts::with_state`]).

mod eval;
mod model;
mod render;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use eval::reach;
pub use model::{recorded_resources, Facts, Network};

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// Any address on the internet other than the operator's.
    #[serde(rename = "internet")]
    Internet,
    /// The operator's address (`environment.operator_cidr`).
    #[serde(rename = "operator")]
    Operator,
    /// The classic load balancer (its nodes, in its subnets, with its groups).
    #[serde(rename = "elb")]
    Elb,
    #[serde(rename = "bastion")]
    Bastion,
    /// The cluster's container instances.
    #[serde(rename = "instances")]
    Instances,
    /// The service's tasks (bridge mode: their instance's interface and groups).
    #[serde(rename = "tasks")]
    Tasks,
    #[serde(rename = "database")]
    Database,
    /// A host in the private subnets with no group of the environment (the
    /// seed's Matrix-oSc side).
    #[serde(rename = "private")]
    PrivateSide,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Internet,
        Endpoint::Operator,
        Endpoint::Elb,
        Endpoint::Bastion,
        Endpoint::Instances,
        Endpoint::Tasks,
        Endpoint::Database,
        Endpoint::PrivateSide,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Internet => "internet",
            Endpoint::Operator => "operator",
            Endpoint::Elb => "elb",
            Endpoint::Bastion => "bastion",
            Endpoint::Instances => "instances",
            Endpoint::Tasks => "tasks",
            Endpoint::Database => "database",
            Endpoint::PrivateSide => "private",
        }
    }

    /// Whether the endpoint is outside the VPC.
    pub fn is_outside(self) -> bool {
        matches!(self, Endpoint::Internet | Endpoint::Operator)
    }

    fn index(self) -> usize {
        match self {
            Endpoint::Internet => 0,
            Endpoint::Operator => 1,
            Endpoint::Elb => 2,
            Endpoint::Bastion => 3,
            Endpoint::Instances => 4,
            Endpoint::Tasks => 5,
            Endpoint::Database => 6,
            Endpoint::PrivateSide => 7,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint name that is not one of [`Endpoint::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint `{0}`: expected one of internet, operator, elb, bastion, instances, tasks, database, private")]
pub struct UnknownEndpoint(pub String);

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;
    fn from_str(s: &str) -> Result<Self, UnknownEndpoint> {
        let l = s.to_ascii_lowercase();
        let found = Endpoint::ALL.into_iter().find(|e| e.as_str() == l);
        found
            .or(match l.as_str() {
                "lb" | "load_balancer" | "load-balancer" => Some(Endpoint::Elb),
                "instance" | "container_instances" | "container-instances" => {
                    Some(Endpoint::Instances)
                }
                "task" | "api" => Some(Endpoint::Tasks),
                "db" | "rds" => Some(Endpoint::Database),
                "private-side" | "private_side" | "matrix-osc" => Some(Endpoint::PrivateSide),
                _ => None,
            })
            .ok_or_else(|| UnknownEndpoint(s.to_string()))
    }
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

/// What a connection is for: a protocol and (tcp, udp) a port. ICMP is an
/// echo request (ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Service {
    pub proto: Proto,
    pub port: Option<u16>,
}

impl Service {
    pub fn tcp(port: u16) -> Service {
        Service {
            proto: Proto::Tcp,
            port: Some(port),
        }
    }
    pub fn udp(port: u16) -> Service {
        Service {
            proto: Proto::Udp,
            port: Some(port),
        }
    }
    pub const ICMP: Service = Service {
        proto: Proto::Icmp,
        port: None,
    };
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.proto, self.port) {
            (Proto::Icmp, _) => f.write_str("icmp"),
            (p, Some(n)) => write!(f, "{}/{n}", p.as_str()),
            (p, None) => f.write_str(p.as_str()),
        }
    }
}

/// A service that is not `PORT`, `PORT/tcp`, `PORT/udp` or `icmp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a port: write PORT[/PROTO], e.g. 80, 80/tcp, 53/udp, or icmp")]
pub struct BadService(pub String);

impl FromStr for Service {
    type Err = BadService;
    fn from_str(s: &str) -> Result<Self, BadService> {
        let bad = || BadService(s.to_string());
        let l = s.trim().to_ascii_lowercase();
        if l == "icmp" || l == "ping" {
            return Ok(Service::ICMP);
        }
        let (port, proto) = match l.split_once('/') {
            Some((p, "tcp")) => (p, Proto::Tcp),
            Some((p, "udp")) => (p, Proto::Udp),
            Some(("icmp", _)) | Some((_, "icmp")) => return Ok(Service::ICMP),
            Some(_) => return Err(bad()),
            None => (l.as_str(), Proto::Tcp),
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        Ok(Service {
            proto,
            port: Some(port),
        })
    }
}

/// Which hop of a path a step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hop {
    /// Whether both ends exist in this environment.
    Endpoint,
    /// What the receiver listens on (the ELB's listener, the database's port,
    /// the task's host port), or what the ELB connects to.
    Listener,
    /// Addresses and routes (public address, internet gateway, NAT, local route).
    Route,
    /// The sender's security groups, outbound.
    Egress,
    /// The receiver's security groups, inbound.
    Ingress,
}

/// One hop of the path, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub hop: Hop,
    pub ok: bool,
    pub detail: String,
    /// The resource address of the rule, route or object that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Whether a connection can be opened, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub allowed: bool,
    /// The hops checked, in path order, up to the first that blocked.
    pub steps: Vec<Step>,
    /// One line: the rule that allowed it, or the hop that blocked it.
    pub summary: String,
    /// Allowed for some placements only (e.g. from one subnet of the
    /// instances and not from another): `summary` says which.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// One question of the matrix and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub from: Endpoint,
    pub to: Endpoint,
    pub service: Service,
    /// What the service is (`listener`, `ssh`, `ping`, `mysql`, ...).
    pub what: String,
    pub verdict: Verdict,
}

/// Every (from, to, service) that matters in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub environment: String,
    pub rows: Vec<Row>,
}

impl Matrix {
    /// The verdict for one question, when the matrix has it.
    pub fn get(&self, from: Endpoint, to: Endpoint, service: Service) -> Option<&Verdict> {
        self.rows
            .iter()
            .find(|r| r.from == from && r.to == to && r.service == service)
            .map(|r| &r.verdict)
    }

    /// The matrix as a table a person reads.
    pub fn render(&self) -> String {
        render::matrix(self)
    }
}

impl Verdict {
    /// The verdict and its steps as text.
    pub fn render(&self, from: Endpoint, to: Endpoint, service: Service) -> String {
        render::verdict(self, from, to, service)
    }
}

/// Every (from, to, service) that matters: each endpoint present that
/// receives connections, with the services it listens on, from every other
/// endpoint present.
pub fn matrix(net: &Network) -> Matrix {
    let mut rows = Vec::new();
    for to in Endpoint::ALL {
        for (service, what) in net.services_of(to) {
            for from in Endpoint::ALL {
                if !net.worth_asking(from, to) {
                    continue;
                }
                rows.push(Row {
                    from,
                    to,
                    service,
                    what: what.clone(),
                    verdict: reach(net, from, to, service),
                });
            }
        }
    }
    Matrix {
        environment: net.name.clone(),
        rows,
    }
}
