//! The network model: subnets and their routes, NAT gateways, security groups
//! with their rules indexed by group, and the endpoints (where they sit, which
//! groups their interface carries, whether they have a public address, what
//! they listen on). Built from resources: the expansion of the file (whose
//! values still hold `${ADDRESS.ATTR}` references) or the specs recorded in
//! the state (whose values hold the backend's ids, mapped back to addresses
//! through [`Facts`]).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use super::{Endpoint, Proto, Service};
use crate::env::{Environment, Tier};
use crate::resources::{self, Kind, Resource, Spec};
use crate::state::State;
use crate::value::refs;

/// What the resources alone do not say: the operator's address, each
/// subnet's tier and name, and (for recorded specs) which address each id,
/// name or IP the backend gave belongs to.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub environment: String,
    pub operator_cidr: Option<IpNet>,
    /// Subnet address (`aws_subnet.private_a`) -> its tier.
    pub tiers: BTreeMap<String, Tier>,
    /// Resource address -> the name the file gives it (`private-a`, `sg_rds`).
    pub names: BTreeMap<String, String>,
    /// A concrete value a backend reported (an id, a name, an ARN) -> the
    /// address of the object it belongs to.
    pub ids: HashMap<String, String>,
    /// Address -> private IP, for the instances whose IP is known (the bastion).
    pub private_ips: BTreeMap<String, Ipv4Addr>,
}

impl Facts {
    /// What the file says: the operator's address, subnet tiers and names.
    pub fn from_env(env: &Environment) -> Facts {
        let mut names = BTreeMap::new();
        let mut tiers = BTreeMap::new();
        for s in &env.network.subnets {
            let a = format!("{}.{}", Kind::Subnet.name(), resources::ident(&s.name));
            tiers.insert(a.clone(), s.tier);
            names.insert(a, s.name.clone());
        }
        for g in &env.security_groups {
            let a = format!(
                "{}.{}",
                Kind::SecurityGroup.name(),
                resources::ident(&g.name)
            );
            names.insert(a, g.name.clone());
        }
        Facts {
            environment: env.name.clone(),
            operator_cidr: Some(env.operator_cidr),
            tiers,
            names,
            ids: HashMap::new(),
            private_ips: BTreeMap::new(),
        }
    }

    /// Add what a state recorded: every object's id and string outputs map
    /// back to its address; instances' private IPs are known.
    pub fn with_state(mut self, state: &State) -> Facts {
        for (address, rec) in &state.resources {
            self.ids.insert(rec.id.clone(), address.clone());
            for (k, v) in &rec.outputs {
                let Some(s) = v.as_str() else { continue };
                if k == "private_ip" {
                    if let Ok(ip) = s.parse() {
                        self.private_ips.insert(address.clone(), ip);
                    }
                    continue;
                }
                if k == "public_ip" || k == "port" || k == "latest_version" {
                    continue;
                }
                self.ids.insert(s.to_string(), address.clone());
            }
        }
        self
    }
}

/// The specs a state recorded, as resources (objects whose attributes no
/// longer read as their kind's spec are left out).
pub fn recorded_resources(state: &State) -> Vec<Resource> {
    state
        .resources
        .values()
        .filter_map(|rec| {
            Spec::from_attrs(rec.kind, &rec.attrs)
                .ok()
                .map(|spec| Resource {
                    address: rec.address.clone(),
                    spec,
                })
        })
        .collect()
}

#[derive(Debug, Clone)]
pub(crate) struct SubnetM {
    pub address: String,
    pub name: String,
    pub cidr: Option<Ipv4Net>,
    pub map_public_ip: bool,
    /// The route table associated with it (none: the VPC's main table, local only).
    pub route_table: Option<String>,
    /// Where its default route (0.0.0.0/0) goes.
    pub default_route: DefaultRoute,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DefaultRoute {
    None,
    /// The internet gateway (its address).
    Igw(String),
    /// A NAT gateway: its address and the subnet it sits in.
    Nat(String, Option<usize>),
    /// Something this model does not know (another gateway, an unknown id).
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleProto {
    All,
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone)]
pub(crate) enum Peer {
    Cidr(IpNet),
    /// The private IP of the instance at this address (a reference not yet resolved).
    Host(String),
    Group(usize),
    Unknown(String),
}

#[derive(Debug, Clone)]
pub(crate) struct RuleM {
    pub address: String,
    pub group: usize,
    pub ingress: bool,
    pub proto: RuleProto,
    pub from: i64,
    pub to: i64,
    pub peers: Vec<Peer>,
    /// `sg_rds ingress tcp/3306 from sg:sg_payments_api_internal`.
    pub label: String,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupM {
    pub address: String,
    pub name: String,
    pub ingress: Vec<usize>,
    pub egress: Vec<usize>,
}

/// Whether an endpoint has a public address.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Public {
    No(String),
    Yes(String),
    /// When its subnet maps public IPs on launch (instances of an ASG).
    BySubnet,
}

/// What an endpoint accepts connections on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Listens {
    /// Whatever its groups admit (an EC2 instance).
    Any,
    /// Only this protocol and port range (what, e.g. "its HTTP listener").
    Only(Proto, u16, u16, String),
}

#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub address: String,
    /// "the ELB (elb_http)".
    pub label: String,
    pub subnets: Vec<usize>,
    pub groups: Vec<usize>,
    /// False for the private side: its groups are not this environment's.
    pub own_groups: bool,
    pub public: Public,
    pub ip: Option<Ipv4Addr>,
    pub listens: Listens,
}

#[derive(Debug, Clone)]
pub(crate) struct ElbM {
    pub instance_port: u16,
    pub health_port: Option<u16>,
}

/// The network of one environment, ready to answer [`super::reach`].
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub(crate) operator: Option<IpNet>,
    pub(crate) vpc_cidr: Option<Ipv4Net>,
    pub(crate) subnets: Vec<SubnetM>,
    pub(crate) groups: Vec<GroupM>,
    pub(crate) rules: Vec<RuleM>,
    pub(crate) hosts: [Option<Host>; 8],
    pub(crate) elb: Option<ElbM>,
    pub(crate) db_port: u16,
}

/// Index of resources by address, with values normalised to addresses.
struct Index<'a> {
    facts: &'a Facts,
    by_address: HashMap<&'a str, &'a Spec>,
}

impl<'a> Index<'a> {
    /// The address a value names: `${ADDRESS.ATTR}` gives ADDRESS, a known id
    /// gives its object's address, anything else stays as it is.
    fn norm(&self, v: &str) -> String {
        if v.starts_with("${") && v.ends_with('}') {
            let inner = &v[2..v.len() - 1];
            if let Some((a, _attr)) = inner.rsplit_once('.') {
                return a.to_string();
            }
        }
        if let Some(a) = self.facts.ids.get(v) {
            return a.clone();
        }
        if self.by_address.contains_key(v) {
            return v.to_string();
        }
        v.to_string()
    }

    fn spec(&self, v: &str) -> Option<&'a Spec> {
        self.by_address.get(self.norm(v).as_str()).copied()
    }
}

fn suffix(address: &str) -> String {
    address
        .split_once('.')
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| address.to_string())
}

impl Network {
    /// The network the environment file describes (its expansion), offline.
    pub fn from_env(env: &Environment) -> Network {
        Network::from_resources(&resources::expand(env), &Facts::from_env(env))
    }

    /// The network of these resources: the expansion of a file, or the specs
    /// a state recorded (with `facts` [`Facts::with_state`]).
    pub fn from_resources(resources: &[Resource], facts: &Facts) -> Network {
        let ix = Index {
            facts,
            by_address: resources
                .iter()
                .map(|r| (r.address.as_str(), &r.spec))
                .collect(),
        };
        let mut net = Network {
            name: facts.environment.clone(),
            operator: facts.operator_cidr,
            vpc_cidr: None,
            subnets: Vec::new(),
            groups: Vec::new(),
            rules: Vec::new(),
            hosts: Default::default(),
            elb: None,
            db_port: 3306,
        };
        net.subnets_and_routes(resources, &ix);
        net.groups_and_rules(resources, &ix);
        net.endpoints(resources, &ix);
        net
    }

    pub(crate) fn subnet_index(&self, address: &str) -> Option<usize> {
        self.subnets.iter().position(|s| s.address == address)
    }

    fn group_index(&self, address: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.address == address)
    }

    fn subnets_and_routes(&mut self, resources: &[Resource], ix: &Index) {
        let mut assoc: HashMap<String, String> = HashMap::new();
        for r in resources {
            match &r.spec {
                Spec::Vpc(v) => self.vpc_cidr = v.cidr_block.parse().ok(),
                Spec::Subnet(s) => self.subnets.push(SubnetM {
                    address: r.address.clone(),
                    name: ix
                        .facts
                        .names
                        .get(&r.address)
                        .cloned()
                        .unwrap_or_else(|| suffix(&r.address)),
                    cidr: s.cidr_block.parse().ok(),
                    map_public_ip: s.map_public_ip_on_launch,
                    route_table: None,
                    default_route: DefaultRoute::None,
                }),
                Spec::RouteTableAssociation(a) => {
                    assoc.insert(ix.norm(&a.subnet_id), ix.norm(&a.route_table_id));
                }
                _ => {}
            }
        }
        let nat_subnet = |nat: &str, subnets: &[SubnetM]| match ix.spec(nat) {
            Some(Spec::NatGateway(n)) => {
                let s = ix.norm(&n.subnet_id);
                subnets.iter().position(|x| x.address == s)
            }
            _ => None,
        };
        let mut routes = Vec::new();
        for s in &self.subnets {
            let Some(rt) = assoc.get(&s.address) else {
                routes.push((None, DefaultRoute::None));
                continue;
            };
            let Some(Spec::RouteTable(t)) = ix.spec(rt) else {
                routes.push((Some(rt.clone()), DefaultRoute::None));
                continue;
            };
            let def = t
                .routes
                .iter()
                .find(|x| x.cidr_block == "0.0.0.0/0")
                .map(|x| {
                    if let Some(g) = &x.gateway_id {
                        let a = ix.norm(g);
                        match ix.spec(&a) {
                            Some(Spec::InternetGateway(_)) => DefaultRoute::Igw(a),
                            _ => DefaultRoute::Other(a),
                        }
                    } else if let Some(n) = &x.nat_gateway_id {
                        let a = ix.norm(n);
                        let sub = nat_subnet(&a, &self.subnets);
                        DefaultRoute::Nat(a, sub)
                    } else {
                        DefaultRoute::Other("an unknown target".into())
                    }
                })
                .unwrap_or(DefaultRoute::None);
            routes.push((Some(rt.clone()), def));
        }
        for (s, (rt, def)) in self.subnets.iter_mut().zip(routes) {
            s.route_table = rt;
            s.default_route = def;
        }
    }

    fn groups_and_rules(&mut self, resources: &[Resource], ix: &Index) {
        for r in resources {
            if let Spec::SecurityGroup(_) = &r.spec {
                self.groups.push(GroupM {
                    address: r.address.clone(),
                    name: ix
                        .facts
                        .names
                        .get(&r.address)
                        .cloned()
                        .unwrap_or_else(|| suffix(&r.address)),
                    ingress: Vec::new(),
                    egress: Vec::new(),
                });
            }
        }
        let by_addr: HashMap<String, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.address.clone(), i))
            .collect();
        for r in resources {
            let Spec::SecurityGroupRule(x) = &r.spec else {
                continue;
            };
            let Some(&g) = by_addr.get(&ix.norm(&x.security_group_id)) else {
                continue;
            };
            let proto = match x.protocol.as_str() {
                "tcp" | "6" => RuleProto::Tcp,
                "udp" | "17" => RuleProto::Udp,
                "icmp" | "1" => RuleProto::Icmp,
                _ => RuleProto::All,
            };
            let mut peers: Vec<Peer> = x.cidr_blocks.iter().map(|c| cidr_peer(c, ix)).collect();
            if let Some(sg) = &x.source_security_group_id {
                let a = ix.norm(sg);
                peers.push(match by_addr.get(&a) {
                    Some(&i) => Peer::Group(i),
                    None => Peer::Unknown(a),
                });
            }
            let ingress = x.direction == "ingress";
            let i = self.rules.len();
            self.rules.push(RuleM {
                address: r.address.clone(),
                group: g,
                ingress,
                proto,
                from: x.from_port,
                to: x.to_port,
                peers,
                label: String::new(),
            });
            if ingress {
                self.groups[g].ingress.push(i);
            } else {
                self.groups[g].egress.push(i);
            }
        }
        let labels = Labels::new(self, ix.facts);
        for i in 0..self.rules.len() {
            self.rules[i].label = self.rule_label(&self.rules[i], &labels);
        }
    }

    fn rule_label(&self, r: &RuleM, labels: &Labels) -> String {
        let proto = match r.proto {
            RuleProto::All => "all".to_string(),
            RuleProto::Icmp if r.from < 0 => "icmp".to_string(),
            RuleProto::Icmp => format!("icmp type {}", r.from),
            RuleProto::Tcp | RuleProto::Udp => {
                let p = if r.proto == RuleProto::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                if r.from == r.to {
                    format!("{p}/{}", r.from)
                } else if r.from <= 0 && r.to >= 65535 {
                    format!("{p}/all")
                } else {
                    format!("{p}/{}-{}", r.from, r.to)
                }
            }
        };
        let dir = if r.ingress { "ingress" } else { "egress" };
        let prep = if r.ingress { "from" } else { "to" };
        format!(
            "{} {dir} {proto} {prep} {}",
            self.groups[r.group].name,
            self.peers_label(&r.peers, labels)
        )
    }

    /// `sg:NAME`, `bastion`, `operator (CIDR)`, `tier:private (CIDRs)`, or the CIDRs.
    fn peers_label(&self, peers: &[Peer], labels: &Labels) -> String {
        let cidrs: Vec<String> = peers
            .iter()
            .filter_map(|p| match p {
                Peer::Cidr(c) => Some(c.to_string()),
                _ => None,
            })
            .collect();
        let mut parts: Vec<String> = Vec::new();
        if !cidrs.is_empty() {
            let mut sorted = cidrs.clone();
            sorted.sort();
            let tier = labels.tiers.iter().find(|(_, of)| *of == sorted);
            let host = labels
                .hosts
                .iter()
                .find(|(_, ip)| cidrs.len() == 1 && cidrs[0] == *ip);
            if let Some((t, _)) = tier {
                parts.push(format!("tier:{} ({})", t.as_str(), cidrs.join(", ")));
            } else if labels.operator.as_deref() == Some(cidrs.join(",").as_str()) {
                parts.push(format!("operator ({})", cidrs[0]));
            } else if let Some((a, _)) = host {
                parts.push(format!("{} ({})", suffix(a), cidrs[0]));
            } else {
                parts.push(cidrs.join(", "));
            }
        }
        for p in peers {
            match p {
                Peer::Cidr(_) => {}
                Peer::Host(a) => parts.push(suffix(a)),
                Peer::Group(g) => parts.push(format!("sg:{}", self.groups[*g].name)),
                Peer::Unknown(x) => parts.push(format!("{x} (not of this environment)")),
            }
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }

    fn groups_of(&self, ids: &[String], ix: &Index) -> Vec<usize> {
        ids.iter()
            .filter_map(|g| self.group_index(&ix.norm(g)))
            .collect()
    }

    fn subnets_of(&self, ids: &[String], ix: &Index) -> Vec<usize> {
        ids.iter()
            .filter_map(|s| self.subnet_index(&ix.norm(s)))
            .collect()
    }

    fn names(&self, groups: &[usize]) -> String {
        if groups.is_empty() {
            return "no group".into();
        }
        groups
            .iter()
            .map(|g| self.groups[*g].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn endpoints(&mut self, resources: &[Resource], ix: &Index) {
        for r in resources {
            match &r.spec {
                Spec::Elb(e) => self.elb_endpoint(r, e, ix),
                Spec::Instance(i) if self.hosts[Endpoint::Bastion.index()].is_none() => {
                    let groups = self.groups_of(&i.vpc_security_group_ids, ix);
                    let subnets = self.subnets_of(std::slice::from_ref(&i.subnet_id), ix);
                    let label = format!("the bastion ({})", self.names(&groups));
                    self.hosts[Endpoint::Bastion.index()] = Some(Host {
                        address: r.address.clone(),
                        label,
                        subnets,
                        groups,
                        own_groups: true,
                        public: if i.associate_public_ip_address {
                            Public::Yes("its public IP".into())
                        } else {
                            Public::No("the bastion has no public IP".into())
                        },
                        ip: ix.facts.private_ips.get(&r.address).copied(),
                        listens: Listens::Any,
                    });
                }
                Spec::AutoScalingGroup(a) => self.instances_endpoint(r, a, ix),
                Spec::DbInstance(d) => self.database_endpoint(r, d, ix),
                _ => {}
            }
        }
        self.tasks_endpoint(resources);
        let private: Vec<usize> = (0..self.subnets.len())
            .filter(|&i| ix.facts.tiers.get(&self.subnets[i].address) == Some(&Tier::Private))
            .collect();
        if !private.is_empty() {
            let names: Vec<&str> = private
                .iter()
                .map(|&i| self.subnets[i].name.as_str())
                .collect();
            self.hosts[Endpoint::PrivateSide.index()] = Some(Host {
                address: "private".into(),
                label: format!("the private side ({})", names.join(", ")),
                subnets: private,
                groups: Vec::new(),
                own_groups: false,
                public: Public::No("the private side has no public address".into()),
                ip: None,
                listens: Listens::Any,
            });
        }
    }

    fn elb_endpoint(&mut self, r: &Resource, e: &resources::ElbSpec, ix: &Index) {
        let groups = self.groups_of(&e.security_groups, ix);
        let subnets = self.subnets_of(&e.subnets, ix);
        let label = format!("the ELB ({})", self.names(&groups));
        let health_port = e
            .health_check
            .target
            .split_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok());
        let l = &e.listener;
        self.elb = Some(ElbM {
            instance_port: l.instance_port,
            health_port,
        });
        self.hosts[Endpoint::Elb.index()] = Some(Host {
            address: r.address.clone(),
            label,
            subnets,
            groups,
            own_groups: true,
            public: if e.internal {
                Public::No("the ELB is internal: it has no public address".into())
            } else {
                Public::Yes("its public addresses (internet-facing)".into())
            },
            ip: None,
            listens: Listens::Only(
                Proto::Tcp,
                l.lb_port,
                l.lb_port,
                format!("its {} listener", l.lb_protocol),
            ),
        });
    }

    fn instances_endpoint(
        &mut self,
        r: &Resource,
        a: &resources::AutoScalingGroupSpec,
        ix: &Index,
    ) {
        let groups = match ix.spec(&a.launch_template_id) {
            Some(Spec::LaunchTemplate(t)) => self.groups_of(&t.security_group_ids, ix),
            _ => Vec::new(),
        };
        let subnets = self.subnets_of(&a.vpc_zone_identifier, ix);
        let label = format!("the container instances ({})", self.names(&groups));
        self.hosts[Endpoint::Instances.index()] = Some(Host {
            address: r.address.clone(),
            label,
            subnets,
            groups,
            own_groups: true,
            public: Public::BySubnet,
            ip: None,
            listens: Listens::Any,
        });
    }

    fn database_endpoint(&mut self, r: &Resource, d: &resources::DbInstanceSpec, ix: &Index) {
        let groups = self.groups_of(&d.vpc_security_group_ids, ix);
        let subnet_ids = match ix.spec(&d.db_subnet_group_name) {
            Some(Spec::DbSubnetGroup(g)) => g.subnet_ids.clone(),
            _ => ix
                .by_address
                .values()
                .find_map(|s| match s {
                    Spec::DbSubnetGroup(g) if g.name == d.db_subnet_group_name => {
                        Some(g.subnet_ids.clone())
                    }
                    _ => None,
                })
                .unwrap_or_default(),
        };
        let subnets = self.subnets_of(&subnet_ids, ix);
        self.db_port = match d.engine.as_str() {
            "postgres" | "aurora-postgresql" => 5432,
            "sqlserver-ee" | "sqlserver-se" | "sqlserver-ex" | "sqlserver-web" => 1433,
            e if e.starts_with("oracle") => 1521,
            _ => 3306,
        };
        let label = format!("the database ({})", self.names(&groups));
        self.hosts[Endpoint::Database.index()] = Some(Host {
            address: r.address.clone(),
            label,
            subnets,
            groups,
            own_groups: true,
            public: if d.publicly_accessible {
                Public::Yes("its public address (publicly_accessible)".into())
            } else {
                Public::No("the database is not publicly accessible".into())
            },
            ip: None,
            listens: Listens::Only(
                Proto::Tcp,
                self.db_port,
                self.db_port,
                format!("its {} port", d.engine),
            ),
        });
    }

    /// Tasks in bridge mode: the instances' interface, listening on the host port.
    fn tasks_endpoint(&mut self, resources: &[Resource]) {
        let Some(inst) = self.hosts[Endpoint::Instances.index()].clone() else {
            return;
        };
        let Some(td) = resources.iter().find_map(|r| match &r.spec {
            Spec::EcsTaskDefinition(t) => Some(t),
            _ => None,
        }) else {
            return;
        };
        let pm = td.container.port_mappings.first();
        let (lo, hi, what) = match pm {
            Some(p) if p.host_port != 0 => (
                p.host_port,
                p.host_port,
                format!(
                    "host port {} (container port {})",
                    p.host_port, p.container_port
                ),
            ),
            Some(p) => (
                32768,
                60999,
                format!(
                    "a dynamic host port 32768-60999 (container port {})",
                    p.container_port
                ),
            ),
            None => (0, 0, "no port".into()),
        };
        self.hosts[Endpoint::Tasks.index()] = Some(Host {
            address: td.family.clone(),
            label: format!("the tasks (on the instances: {})", self.names(&inst.groups)),
            listens: Listens::Only(Proto::Tcp, lo, hi, what),
            ..inst
        });
    }

    pub(crate) fn host(&self, e: Endpoint) -> Option<&Host> {
        self.hosts[e.index()].as_ref()
    }

    /// Whether the endpoint exists in this environment.
    pub fn has(&self, e: Endpoint) -> bool {
        match e {
            Endpoint::Internet => true,
            Endpoint::Operator => self.operator.is_some(),
            _ => self.host(e).is_some(),
        }
    }

    /// How a person names the endpoint in this environment.
    pub fn label(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Internet => "the internet".into(),
            Endpoint::Operator => match self.operator {
                Some(o) => format!("the operator's address ({o})"),
                None => "the operator's address".into(),
            },
            _ => self
                .host(e)
                .map(|h| h.label.clone())
                .unwrap_or_else(|| format!("the {e} (not in this environment)")),
        }
    }

    /// The services an endpoint receives connections on, with what they are.
    pub fn services_of(&self, e: Endpoint) -> Vec<(Service, String)> {
        let mut out: Vec<(Service, String)> = Vec::new();
        let Some(h) = self.host(e) else {
            if e == Endpoint::Internet {
                out.push((Service::tcp(443), "https out".into()));
            }
            return out;
        };
        match e {
            Endpoint::Bastion => {
                out.push((Service::tcp(22), "ssh".into()));
                out.push((Service::ICMP, "ping".into()));
            }
            Endpoint::Instances => {
                out.push((Service::tcp(22), "ssh".into()));
                out.push((Service::ICMP, "ping".into()));
                if let Some(elb) = &self.elb {
                    out.push((Service::tcp(elb.instance_port), "elb instance port".into()));
                    if let Some(p) = elb.health_port.filter(|p| *p != elb.instance_port) {
                        out.push((Service::tcp(p), "elb health check".into()));
                    }
                }
            }
            Endpoint::Elb | Endpoint::Tasks | Endpoint::Database => {
                if let Listens::Only(proto, lo, _, what) = &h.listens {
                    let what = match e {
                        Endpoint::Elb => "listener".to_string(),
                        Endpoint::Tasks => "task port".to_string(),
                        _ => what.trim_start_matches("its ").to_string(),
                    };
                    out.push((
                        Service {
                            proto: *proto,
                            port: Some(*lo),
                        },
                        what,
                    ));
                }
            }
            Endpoint::Internet | Endpoint::Operator | Endpoint::PrivateSide => {}
        }
        out
    }

    /// Whether the matrix asks `from -> to`: both exist, they are not the same
    /// host (instances and tasks share one), not both outside the VPC.
    pub fn worth_asking(&self, from: Endpoint, to: Endpoint) -> bool {
        let same_host = from == to
            || matches!(
                (from, to),
                (Endpoint::Instances, Endpoint::Tasks) | (Endpoint::Tasks, Endpoint::Instances)
            );
        self.has(from) && self.has(to) && !same_host && !(from.is_outside() && to.is_outside())
    }

    /// How many security-group rules the model holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

/// What rule labels name CIDR sets after: each tier's subnet CIDRs (sorted),
/// the operator's CIDR, the known hosts' IPs as /32.
struct Labels {
    tiers: Vec<(Tier, Vec<String>)>,
    operator: Option<String>,
    hosts: Vec<(String, String)>,
}

impl Labels {
    fn new(net: &Network, facts: &Facts) -> Labels {
        let tiers = [Tier::Public, Tier::Private, Tier::Database]
            .into_iter()
            .filter_map(|t| {
                let mut of: Vec<String> = net
                    .subnets
                    .iter()
                    .filter(|s| facts.tiers.get(&s.address) == Some(&t))
                    .filter_map(|s| s.cidr.map(|c| c.to_string()))
                    .collect();
                of.sort();
                (!of.is_empty()).then_some((t, of))
            })
            .collect();
        Labels {
            tiers,
            operator: facts.operator_cidr.map(|o| o.to_string()),
            hosts: facts
                .private_ips
                .iter()
                .map(|(a, ip)| (a.clone(), format!("{ip}/32")))
                .collect(),
        }
    }
}

/// A rule's CIDR block: a CIDR, or `${aws_instance.X.private_ip}/32`.
fn cidr_peer(c: &str, ix: &Index) -> Peer {
    if c.contains("${") {
        let v = serde_json::Value::String(c.to_string());
        return match refs(&v).into_iter().next() {
            Some(r) => match ix.facts.private_ips.get(&r.address) {
                Some(ip) => Peer::Cidr(IpNet::from(Ipv4Net::from(*ip))),
                None => Peer::Host(r.address),
            },
            None => Peer::Unknown(c.to_string()),
        };
    }
    match c.parse::<IpNet>() {
        Ok(n) => Peer::Cidr(n),
        Err(_) => Peer::Unknown(c.to_string()),
    }
}
