//! The environment file: raw parsed input, and the validated model built from it.
//!
//! Two layers, as ripgrep does with its arguments: [`raw`] mirrors the TOML
//! file as closely as possible (every value keeps its byte span), and
//! [`Environment`] is the validated, typed description that the rest of
//! chronous works from. [`load`] goes from text to one or the other and never
//! panics: every problem becomes a located [`Diagnostic`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::Range;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, Diagnostics};

pub mod raw {
    //! The environment file as written. Spans everywhere a value can be wrong.
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_spanned::Spanned;

    pub type S<T> = Spanned<T>;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        pub environment: Environment,
        pub network: Network,
        #[serde(default)]
        pub security_groups: BTreeMap<S<String>, SecurityGroup>,
        pub key_pair: Option<KeyPair>,
        #[serde(default)]
        pub images: BTreeMap<S<String>, Image>,
        pub cluster: Cluster,
        pub service: Service,
        pub load_balancer: Option<LoadBalancer>,
        pub logs: Logs,
        pub database: Option<Database>,
        pub bastion: Option<Bastion>,
        pub sim: Option<Sim>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Environment {
        pub name: S<String>,
        pub prefix: S<String>,
        pub region: S<String>,
        pub backend: Option<S<String>>,
        #[serde(default)]
        pub production: bool,
        pub operator_cidr: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Network {
        pub cidr: S<String>,
        pub azs: S<Vec<S<String>>>,
        pub nat: Option<S<String>>,
        pub subnets: Vec<Subnet>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Subnet {
        pub name: S<String>,
        pub tier: S<String>,
        pub cidr: S<String>,
        pub az: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SecurityGroup {
        pub description: Option<String>,
        #[serde(default)]
        pub ingress: Vec<Rule>,
        #[serde(default)]
        pub egress: Vec<Rule>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rule {
        pub protocol: S<String>,
        pub port: Option<S<i64>>,
        pub from_port: Option<S<i64>>,
        pub to_port: Option<S<i64>>,
        pub source: S<String>,
        pub description: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct KeyPair {
        pub name: S<String>,
        pub public_key_file: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Image {
        pub repository: S<String>,
        pub tag: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Ami {
        pub name: Option<S<String>>,
        pub owner: Option<S<String>>,
        /// An SSM parameter holding the AMI id (AWS publishes the recommended
        /// ECS-optimized AMI as one).
        pub ssm_parameter: Option<S<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Cluster {
        pub name: S<String>,
        pub instance_type: S<String>,
        pub instance_count: Option<S<i64>>,
        pub ami: S<Ami>,
        pub subnets: Vec<S<String>>,
        pub security_groups: Vec<S<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Service {
        pub name: S<String>,
        pub task_family: S<String>,
        pub container_name: S<String>,
        pub image: S<String>,
        pub container_port: S<i64>,
        pub host_port: Option<S<i64>>,
        pub memory: S<i64>,
        #[serde(default)]
        pub cpu: Option<S<i64>>,
        #[serde(default = "yes")]
        pub essential: bool,
        pub desired_count: S<i64>,
        pub minimum_healthy_percent: S<i64>,
        pub maximum_percent: S<i64>,
        pub health_check_grace_period: Option<S<i64>>,
        pub circuit_breaker: Option<CircuitBreaker>,
        #[serde(default)]
        pub environment: BTreeMap<S<String>, String>,
    }

    fn yes() -> bool {
        true
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CircuitBreaker {
        pub enable: bool,
        pub rollback: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LoadBalancer {
        pub name: S<String>,
        #[serde(default)]
        pub internal: bool,
        pub subnets: Vec<S<String>>,
        pub security_groups: Vec<S<String>>,
        pub listener: Listener,
        pub health_check: HealthCheck,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Listener {
        pub lb_port: S<i64>,
        pub instance_port: S<i64>,
        pub protocol: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HealthCheck {
        pub target: S<String>,
        pub interval: S<i64>,
        pub timeout: S<i64>,
        pub healthy_threshold: S<i64>,
        pub unhealthy_threshold: S<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Logs {
        pub group: S<String>,
        pub stream_prefix: S<String>,
        pub retention_days: Option<S<i64>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Database {
        pub identifier: S<String>,
        pub engine: S<String>,
        pub engine_version: S<String>,
        pub instance_class: S<String>,
        pub allocated_storage: S<i64>,
        pub username: S<String>,
        pub name: S<String>,
        #[serde(default)]
        pub skip_final_snapshot: bool,
        pub subnets: Vec<S<String>>,
        pub security_groups: Vec<S<String>>,
        pub password_file: Option<S<String>>,
        /// Never accepted: present only to say so clearly.
        pub password: Option<S<toml::Value>>,
        /// Never accepted: present only to say so clearly.
        pub master_password: Option<S<toml::Value>>,
        pub restore: Option<Restore>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Restore {
        pub backup_file: S<String>,
        pub bucket: S<String>,
        pub key: S<String>,
        pub source_engine_version: S<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Bastion {
        pub subnet: S<String>,
        pub instance_type: S<String>,
        pub security_groups: Vec<S<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Sim {
        pub time_scale: Option<S<f64>>,
    }
}

// ---------------------------------------------------------------------------
// The validated model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sim,
    Aws,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sim" => Ok(Backend::Sim),
            "aws" => Ok(Backend::Aws),
            other => Err(format!(
                "unknown backend `{other}`: expected `sim` or `aws`"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Public,
    Private,
    Database,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Private => "private",
            Tier::Database => "database",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatMode {
    /// One NAT gateway (and EIP) per private subnet, as the seed document does.
    PerSubnet,
    /// One shared NAT gateway for every private subnet.
    Single,
    /// No NAT: private subnets have no route out.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub name: String,
    pub tier: Tier,
    pub cidr: Ipv4Net,
    pub az: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub cidr: Ipv4Net,
    pub azs: Vec<String>,
    pub nat: NatMode,
    pub subnets: Vec<Subnet>,
}

impl Network {
    pub fn subnets_of(&self, tier: Tier) -> impl Iterator<Item = &Subnet> {
        self.subnets.iter().filter(move |s| s.tier == tier)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::All => "all",
        }
    }
}

/// Where traffic of a rule comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Source {
    Cidr(IpNet),
    /// Members of another security group of this environment.
    Group(String),
    /// The bastion's private IP, /32 (known after apply).
    Bastion,
    /// The operator's public IP (the environment's `operator_cidr`).
    Operator,
    /// Every subnet CIDR of a tier.
    Tier(Tier),
}

impl Source {
    pub fn key(&self) -> String {
        match self {
            Source::Cidr(c) => c.to_string().replace(['.', '/', ':'], "_"),
            Source::Group(g) => format!("sg_{g}"),
            Source::Bastion => "bastion".into(),
            Source::Operator => "operator".into(),
            Source::Tier(t) => format!("{}_subnets", t.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub protocol: Protocol,
    pub from_port: i64,
    pub to_port: i64,
    pub source: Source,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub name: String,
    pub description: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    pub name: String,
    /// Path of the public key file, relative to the environment folder.
    pub public_key_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub key: String,
    pub repository: String,
    pub tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub instance_type: String,
    pub instance_count: u32,
    /// The newest image whose name matches, from this owner (empty when
    /// `ami_ssm_parameter` is set).
    pub ami_name: String,
    pub ami_owner: String,
    /// The SSM parameter that holds the AMI id, instead of a name search.
    pub ami_ssm_parameter: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub task_family: String,
    pub container_name: String,
    pub image: String,
    pub container_port: u16,
    /// None or 0: dynamic host port.
    pub host_port: Option<u16>,
    pub memory_mib: u32,
    pub cpu: u32,
    pub essential: bool,
    pub desired_count: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub health_check_grace_period: u32,
    pub circuit_breaker_enable: bool,
    pub circuit_breaker_rollback: bool,
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub target: String,
    pub interval: u32,
    pub timeout: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub name: String,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub lb_port: u16,
    pub instance_port: u16,
    pub protocol: String,
    pub health_check: HealthCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logs {
    pub group: String,
    pub stream_prefix: String,
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub backup_file: String,
    pub bucket: String,
    pub key: String,
    pub source_engine_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub identifier: String,
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: u32,
    pub username: String,
    pub name: String,
    pub skip_final_snapshot: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Where the password comes from at run time: this file (relative to the
    /// environment folder), else `CHRONOUS_DB_PASSWORD`. Never the value.
    pub password_file: Option<String>,
    pub restore: Option<Restore>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bastion {
    pub subnet: String,
    pub instance_type: String,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSettings {
    /// Health-check intervals and thresholds are divided by this in real-container runs.
    pub time_scale: f64,
}

/// A validated environment: everything the graph needs, nothing unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub prefix: String,
    pub region: String,
    pub backend: Option<Backend>,
    pub production: bool,
    pub operator_cidr: IpNet,
    pub network: Network,
    pub security_groups: Vec<SecurityGroup>,
    pub key_pair: Option<KeyPair>,
    pub images: Vec<Image>,
    pub cluster: Cluster,
    pub service: Service,
    pub load_balancer: Option<LoadBalancer>,
    pub logs: Logs,
    pub database: Option<Database>,
    pub bastion: Option<Bastion>,
    pub sim: SimSettings,
}

impl Environment {
    pub fn image(&self, key: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.key == key)
    }
    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.network.subnets.iter().find(|s| s.name == name)
    }
}

// ---------------------------------------------------------------------------
// Facts the validation needs.

/// Regions chronous knows, with their availability-zone letters.
pub const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "abcdef"),
    ("us-east-2", "abc"),
    ("us-west-1", "ac"),
    ("us-west-2", "abcd"),
    ("ca-central-1", "abd"),
    ("eu-west-1", "abc"),
    ("eu-west-2", "abc"),
    ("eu-west-3", "abc"),
    ("eu-central-1", "abc"),
    ("eu-north-1", "abc"),
    ("ap-south-1", "abc"),
    ("ap-northeast-1", "acd"),
    ("ap-northeast-2", "abcd"),
    ("ap-southeast-1", "abc"),
    ("ap-southeast-2", "abc"),
    ("sa-east-1", "abc"),
];

/// Memory (MiB) and vCPUs of the EC2 instance types chronous knows.
pub const INSTANCE_TYPES: &[(&str, u32, u32)] = &[
    ("t2.nano", 512, 1),
    ("t2.micro", 1024, 1),
    ("t2.small", 2048, 1),
    ("t2.medium", 4096, 2),
    ("t2.large", 8192, 2),
    ("t3.nano", 512, 2),
    ("t3.micro", 1024, 2),
    ("t3.small", 2048, 2),
    ("t3.medium", 4096, 2),
    ("t3.large", 8192, 2),
    ("m5.large", 8192, 2),
    ("m5.xlarge", 16384, 4),
    ("c5.large", 4096, 2),
];

pub fn instance_type(name: &str) -> Option<(u32, u32)> {
    INSTANCE_TYPES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, m, c)| (*m, *c))
}

/// DB instance classes RDS offers for MySQL that chronous knows.
pub const DB_CLASSES: &[&str] = &[
    "db.t2.micro",
    "db.t2.small",
    "db.t2.medium",
    "db.t3.micro",
    "db.t3.small",
    "db.t3.medium",
    "db.t3.large",
    "db.m5.large",
    "db.r5.large",
];

// ---------------------------------------------------------------------------
// Loading and validation.

/// The result of reading an environment file.
#[derive(Debug)]
pub struct Loaded {
    /// Present when there is no error (warnings may remain in `diagnostics`).
    pub env: Option<Environment>,
    pub diagnostics: Diagnostics,
}

/// Parse and validate an environment file's text. `file` names it in messages.
pub fn load(file: &str, source: &str) -> Loaded {
    let mut diags = Diagnostics {
        file: file.to_string(),
        source: source.to_string(),
        items: vec![],
    };
    let raw: raw::File = match toml::from_str(source) {
        Ok(r) => r,
        Err(e) => {
            diags.items.push(toml_error(&e, source));
            return Loaded {
                env: None,
                diagnostics: diags,
            };
        }
    };
    let mut v = Validator { d: Vec::new() };
    let env = v.environment(&raw);
    diags.items = v.d;
    let env = if diags.has_errors() { None } else { env };
    Loaded {
        env,
        diagnostics: diags,
    }
}

fn toml_error(e: &toml::de::Error, source: &str) -> Diagnostic {
    let msg = e
        .message()
        .trim()
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    let span = e.span().unwrap_or(0..0);
    // A table's span runs to its last line: point at its first line only.
    let span = match source.get(span.clone()).and_then(|s| s.find('\n')) {
        Some(nl) => span.start..span.start + nl,
        None => span,
    };
    // The key (or field) a serde message names between backquotes.
    let named = msg.split('`').nth(1).unwrap_or("").to_string();
    let (code, message, label, hint) = if msg.starts_with("unknown field") {
        (
            "E0002",
            format!("unknown key: {msg}"),
            "unknown key".to_string(),
            "remove the key or fix its spelling; the keys allowed here are listed above",
        )
    } else if msg.starts_with("missing field") {
        (
            "E0003",
            format!("required key `{named}` is missing"),
            format!("this table has no `{named}`"),
            "add the key; see fixtures/seed/chronous.toml for a complete environment",
        )
    } else if msg.starts_with("invalid type") {
        (
            "E0004",
            format!("wrong type of value: {msg}"),
            "wrong type".to_string(),
            "write the value with the type shown (quote strings, no quotes on numbers)",
        )
    } else {
        (
            "E0001",
            format!("malformed TOML: {msg}"),
            "here".to_string(),
            "fix the syntax at the place shown",
        )
    };
    Diagnostic::new(code, message).at(span, label).hint(hint)
}

struct Validator {
    d: Vec<Diagnostic>,
}

type S<T> = serde_spanned::Spanned<T>;

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

impl Validator {
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

    fn environment(&mut self, r: &raw::File) -> Option<Environment> {
        let e = &r.environment;
        let name = self.name("environment name", &e.name);
        let prefix = self.name("prefix", &e.prefix);
        let region = e.region.get_ref().clone();
        let region_azs = REGIONS.iter().find(|(n, _)| *n == region).map(|(_, l)| *l);
        if region_azs.is_none() {
            let known: Vec<&str> = REGIONS.iter().map(|(n, _)| *n).collect();
            self.err(
                "E0102",
                format!("unknown region `{region}`"),
                sp(&e.region),
                "not a region chronous knows",
                format!("use one of: {}", known.join(", ")),
            );
        }
        let backend = e
            .backend
            .as_ref()
            .and_then(|b| match b.get_ref().parse::<Backend>() {
                Ok(b) => Some(b),
                Err(m) => {
                    self.err(
                        "E0103",
                        m,
                        sp(b),
                        "unknown backend",
                        "pin `sim` or `aws`, or leave `backend` out",
                    );
                    None
                }
            });
        let operator_cidr = match e.operator_cidr.get_ref().parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => {
                self.err(
                    "E0201",
                    format!(
                        "operator_cidr `{}` is not a valid CIDR block",
                        e.operator_cidr.get_ref()
                    ),
                    sp(&e.operator_cidr),
                    "malformed CIDR",
                    "write the operator's public IP as a.b.c.d/32",
                );
                "0.0.0.0/32".parse().expect("literal")
            }
        };
        if operator_cidr.prefix_len() == 0 {
            self.err(
                "E0203",
                "operator_cidr opens the bastion and load balancer to the whole internet",
                sp(&e.operator_cidr),
                "/0 is everyone",
                "write your own public IP as a.b.c.d/32",
            );
        }

        // Network.
        let n = &r.network;
        let vpc = self.cidr4("VPC CIDR", &n.cidr);
        if let Some(v) = vpc {
            if !(16..=28).contains(&v.prefix_len()) {
                self.err(
                    "E0204",
                    format!(
                        "VPC CIDR `{v}` has prefix length /{}; AWS allows /16 to /28",
                        v.prefix_len()
                    ),
                    sp(&n.cidr),
                    "VPC size not allowed",
                    "use a prefix between /16 and /28",
                );
            }
        }
        let mut azs = Vec::new();
        for az in n.azs.get_ref() {
            let ok = region_azs.is_some_and(|letters| {
                az.get_ref().len() == region.len() + 1
                    && az.get_ref().starts_with(&region)
                    && az
                        .get_ref()
                        .chars()
                        .last()
                        .is_some_and(|c| letters.contains(c))
            });
            if region_azs.is_some() && !ok {
                let letters = region_azs.unwrap_or("");
                let list: Vec<String> = letters.chars().map(|c| format!("{region}{c}")).collect();
                self.err(
                    "E0205",
                    format!(
                        "availability zone `{}` is not in region {region}",
                        az.get_ref()
                    ),
                    sp(az),
                    "AZ not in the region",
                    format!("the zones of {region} are {}", list.join(", ")),
                );
            }
            azs.push(az.get_ref().clone());
        }
        if azs.is_empty() {
            self.err(
                "E0206",
                "the network lists no availability zones",
                sp(&n.azs),
                "empty",
                "list the zones to use, e.g. [\"us-east-2a\"]",
            );
        }
        let nat = match n.nat.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("per_subnet") => NatMode::PerSubnet,
            Some("single") => NatMode::Single,
            Some("none") => NatMode::None,
            Some(other) => {
                let s = n.nat.as_ref().expect("some");
                self.err(
                    "E0207",
                    format!("unknown NAT mode `{other}`"),
                    sp(s),
                    "unknown value",
                    "use `per_subnet` (one NAT gateway per private subnet), `single` or `none`",
                );
                NatMode::PerSubnet
            }
        };
        let mut subnets: Vec<Subnet> = Vec::new();
        let mut tiers_ok = true;
        for s in &n.subnets {
            let sname = self.name("subnet name", &s.name);
            if subnets.iter().any(|x| x.name == sname) {
                self.err(
                    "E0208",
                    format!("subnet `{sname}` is defined twice"),
                    sp(&s.name),
                    "duplicate name",
                    "give every subnet its own name",
                );
            }
            let tier = match s.tier.get_ref().as_str() {
                "public" => Some(Tier::Public),
                "private" => Some(Tier::Private),
                "database" => Some(Tier::Database),
                other => {
                    self.err(
                        "E0209",
                        format!("unknown subnet tier `{other}`"),
                        sp(&s.tier),
                        "unknown tier",
                        "use `public`, `private` or `database`",
                    );
                    tiers_ok = false;
                    None
                }
            };
            if !azs.contains(s.az.get_ref()) {
                let in_region = region_azs.is_some_and(|letters| {
                    s.az.get_ref().starts_with(&region)
                        && s.az.get_ref().len() == region.len() + 1
                        && s.az
                            .get_ref()
                            .chars()
                            .last()
                            .is_some_and(|c| letters.contains(c))
                });
                if in_region {
                    self.err(
                        "E0210",
                        format!(
                            "subnet `{sname}` is in zone `{}`, which the network does not list",
                            s.az.get_ref()
                        ),
                        sp(&s.az),
                        "zone not in network.azs",
                        format!("add it to network.azs or use one of: {}", azs.join(", ")),
                    );
                } else {
                    self.err(
                        "E0205",
                        format!(
                            "availability zone `{}` is not in region {region}",
                            s.az.get_ref()
                        ),
                        sp(&s.az),
                        "AZ not in the region",
                        format!("use one of: {}", azs.join(", ")),
                    );
                }
            }
            let Some(cidr) = self.cidr4("subnet CIDR", &s.cidr) else {
                continue;
            };
            if let Some(v) = vpc {
                if !v.contains(&cidr) {
                    self.err(
                        "E0211",
                        format!("subnet `{sname}` ({cidr}) is outside the VPC {v}"),
                        sp(&s.cidr),
                        "outside the VPC",
                        format!("choose a block inside {v}"),
                    );
                    continue;
                }
            }
            if !(16..=28).contains(&cidr.prefix_len()) {
                self.err(
                    "E0212",
                    format!(
                        "subnet `{sname}` has prefix /{}; AWS allows /16 to /28",
                        cidr.prefix_len()
                    ),
                    sp(&s.cidr),
                    "subnet size not allowed",
                    "use a prefix between /16 and /28",
                );
            }
            if let Some(other) = subnets
                .iter()
                .find(|o| o.cidr.contains(&cidr) || cidr.contains(&o.cidr))
            {
                self.err(
                    "E0213",
                    format!(
                        "subnet `{sname}` ({cidr}) overlaps subnet `{}` ({})",
                        other.name, other.cidr
                    ),
                    sp(&s.cidr),
                    format!("overlaps `{}`", other.name),
                    "subnets of one VPC must not overlap: give one of the two another block",
                );
            }
            // A subnet with a wrong tier is reported above and left out, so that
            // no check downstream reasons about a tier it does not have.
            let Some(tier) = tier else { continue };
            subnets.push(Subnet {
                name: sname,
                tier,
                cidr,
                az: s.az.get_ref().clone(),
            });
        }
        // Judged on the tiers as written: a subnet left out for a bad CIDR still has its tier.
        for tier in [Tier::Public, Tier::Private] {
            if tiers_ok
                && !n.subnets.iter().any(|s| s.tier.get_ref() == tier.as_str())
                && !n.subnets.is_empty()
            {
                self.err(
                    "E0214",
                    format!("the network has no {} subnet", tier.as_str()),
                    sp(&n.cidr),
                    "in this network",
                    format!(
                        "add a [[network.subnets]] with tier = \"{}\"",
                        tier.as_str()
                    ),
                );
            }
        }
        let network = Network {
            cidr: vpc.unwrap_or_else(|| "10.0.0.0/16".parse().expect("literal")),
            azs,
            nat,
            subnets,
        };

        // Security groups: names first, so rules may reference any of them.
        let sg_names: BTreeSet<String> = r
            .security_groups
            .keys()
            .map(|k| k.get_ref().clone())
            .collect();
        let mut security_groups = Vec::new();
        for (k, g) in &r.security_groups {
            let gname = self.name("security group name", k);
            let mut rules = |list: &Vec<raw::Rule>, direction: &str| -> Vec<Rule> {
                let mut out: Vec<Rule> = Vec::new();
                for x in list {
                    let Some(rule) = self.rule(x, &sg_names, &gname, r.bastion.is_some()) else {
                        continue;
                    };
                    if out.iter().any(|o| {
                        o.protocol == rule.protocol
                            && o.from_port == rule.from_port
                            && o.to_port == rule.to_port
                            && o.source == rule.source
                    }) {
                        self.err(
                            "E0308",
                            format!("security group `{gname}` has this {direction} rule twice"),
                            sp(&x.source),
                            "same protocol, ports and source as an earlier rule",
                            "remove one of the two (AWS keeps one rule per protocol, ports and source)",
                        );
                        continue;
                    }
                    out.push(rule);
                }
                out
            };
            let ingress = rules(&g.ingress, "ingress");
            let egress = rules(&g.egress, "egress");
            security_groups.push(SecurityGroup {
                name: gname.clone(),
                description: g
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("{gname} (managed by chronous)")),
                ingress,
                egress,
            });
        }

        let key_pair = r.key_pair.as_ref().map(|k| KeyPair {
            name: self.name("key pair name", &k.name),
            public_key_file: k.public_key_file.get_ref().clone(),
        });

        let mut images = Vec::new();
        for (k, i) in &r.images {
            if i.repository.get_ref().is_empty()
                || i.repository.get_ref().contains(char::is_whitespace)
            {
                self.err(
                    "E0501",
                    format!("image repository `{}` is not valid", i.repository.get_ref()),
                    sp(&i.repository),
                    "bad repository",
                    "use a repository name such as chronous-payments-web-api",
                );
            }
            let tag = i.tag.get_ref();
            if tag.is_empty()
                || tag.len() > 128
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                self.err(
                    "E0502",
                    format!("image tag `{tag}` is not a valid Docker tag"),
                    sp(&i.tag),
                    "bad tag",
                    "tags are 1-128 letters, digits, `.`, `_` or `-`",
                );
            }
            images.push(Image {
                key: k.get_ref().clone(),
                repository: i.repository.get_ref().clone(),
                tag: tag.clone(),
            });
        }

        // Every subnet written in the file, even one left out for an error already
        // reported: a reference to it is not a second problem.
        let mut subnet_names: Vec<String> = Vec::new();
        for s in &n.subnets {
            if !subnet_names.contains(s.name.get_ref()) {
                subnet_names.push(s.name.get_ref().clone());
            }
        }
        let check_subnet = |v: &mut Validator, s: &S<String>| {
            if !subnet_names.contains(s.get_ref()) {
                v.err(
                    "E0601",
                    format!("unknown subnet `{}`", s.get_ref()),
                    sp(s),
                    "no such subnet",
                    format!("the subnets are: {}", subnet_names.join(", ")),
                );
            }
        };
        let check_sg = |v: &mut Validator, s: &S<String>| {
            if !sg_names.contains(s.get_ref()) {
                let names: Vec<&str> = sg_names.iter().map(String::as_str).collect();
                v.err(
                    "E0602",
                    format!("unknown security group `{}`", s.get_ref()),
                    sp(s),
                    "no such security group",
                    format!(
                        "define [security_groups.{}] or use one of: {}",
                        s.get_ref(),
                        names.join(", ")
                    ),
                );
            }
        };

        // Cluster.
        let c = &r.cluster;
        let itype = instance_type(c.instance_type.get_ref());
        if itype.is_none() {
            let known: Vec<&str> = INSTANCE_TYPES.iter().map(|t| t.0).collect();
            self.err(
                "E0701",
                format!("unknown instance type `{}`", c.instance_type.get_ref()),
                sp(&c.instance_type),
                "unknown instance type",
                format!("use one of: {}", known.join(", ")),
            );
        }
        for s in &c.subnets {
            check_subnet(self, s);
        }
        for s in &c.security_groups {
            check_sg(self, s);
        }
        if c.subnets.is_empty() {
            self.err(
                "E0702",
                "the cluster names no subnet",
                sp(&c.name),
                "in this cluster",
                "list the private subnets its instances run in",
            );
        }
        let instance_count = match &c.instance_count {
            Some(v) => self.positive(
                "cluster.instance_count",
                v,
                0,
                100,
                "use 0 to 100 container instances",
            ),
            None => 1,
        };
        let ami = c.ami.get_ref();
        let text = |v: &Option<S<String>>| v.as_ref().map(|v| v.get_ref().clone());
        match (&ami.ssm_parameter, &ami.name, &ami.owner) {
            (Some(p), None, None) => {
                if !p.get_ref().starts_with('/') || p.get_ref().contains(char::is_whitespace) {
                    self.err(
                        "E0704",
                        format!("`{}` is not an SSM parameter name", p.get_ref()),
                        sp(p),
                        "not a parameter name",
                        "give the full name, e.g. /aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
                    );
                }
            }
            (Some(p), _, _) => self.err(
                "E0703",
                "cluster.ami gives both an SSM parameter and a name search",
                sp(p),
                "the parameter",
                "keep one: ssm_parameter (the AMI id AWS publishes, e.g. the recommended ECS-optimized AMI) or name + owner (the newest matching image)",
            ),
            (None, Some(_), Some(_)) => {}
            (None, _, _) => self.err(
                "E0703",
                "cluster.ami needs name and owner, or ssm_parameter",
                sp(&c.ami),
                "how to find the AMI",
                "e.g. ami = { name = \"amzn2-ami-ecs-hvm-*-x86_64-ebs\", owner = \"amazon\" } or ami = { ssm_parameter = \"/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id\" }",
            ),
        }
        let cluster = Cluster {
            name: self.name("cluster name", &c.name),
            instance_type: c.instance_type.get_ref().clone(),
            instance_count,
            ami_name: text(&ami.name)
                .filter(|_| ami.ssm_parameter.is_none())
                .unwrap_or_default(),
            ami_owner: text(&ami.owner)
                .filter(|_| ami.ssm_parameter.is_none())
                .unwrap_or_default(),
            ami_ssm_parameter: text(&ami.ssm_parameter),
            subnets: c.subnets.iter().map(|s| s.get_ref().clone()).collect(),
            security_groups: c
                .security_groups
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
        };

        // Service.
        let s = &r.service;
        if !r.images.keys().any(|k| k.get_ref() == s.image.get_ref()) {
            let names: Vec<&str> = r.images.keys().map(|k| k.get_ref().as_str()).collect();
            self.err(
                "E0801",
                format!("unknown image `{}`", s.image.get_ref()),
                sp(&s.image),
                "no such image",
                if names.is_empty() {
                    format!(
                        "define it as [images.{}] with repository and tag",
                        s.image.get_ref()
                    )
                } else {
                    format!(
                        "define [images.{}] or use one of: {}",
                        s.image.get_ref(),
                        names.join(", ")
                    )
                },
            );
        }
        let container_port = self.port("container_port", &s.container_port);
        let host_port = s.host_port.as_ref().map(|p| self.port("host_port", p));
        let memory_mib = self.positive(
            "service.memory",
            &s.memory,
            4,
            1_000_000,
            "task memory is in MiB, at least 4",
        );
        let cpu = match &s.cpu {
            Some(v) => self.positive("service.cpu", v, 0, 10240, "cpu units: 1024 per vCPU"),
            None => 0,
        };
        if let Some((mem, vcpu)) = itype {
            if memory_mib > mem {
                self.err(
                    "E0802",
                    format!("task memory {memory_mib} MiB is more than a {} has ({mem} MiB)", c.instance_type.get_ref()),
                    sp(&s.memory),
                    "does not fit the instance",
                    format!("lower service.memory to at most {mem} or choose a larger cluster.instance_type"),
                );
            }
            if cpu > vcpu * 1024 {
                self.err(
                    "E0803",
                    format!(
                        "task cpu {cpu} units is more than a {} has ({} units)",
                        c.instance_type.get_ref(),
                        vcpu * 1024
                    ),
                    s.cpu.as_ref().map(sp).unwrap_or(sp(&s.memory)),
                    "does not fit the instance",
                    "lower service.cpu or choose a larger instance type",
                );
            }
        }
        let desired = self.positive(
            "service.desired_count",
            &s.desired_count,
            0,
            1000,
            "desired_count is 0 to 1000",
        );
        let min = *s.minimum_healthy_percent.get_ref();
        let max = *s.maximum_percent.get_ref();
        let mut pct_ok = true;
        if !(0..=100).contains(&min) {
            pct_ok = false;
            self.err(
                "E0804",
                format!("minimum_healthy_percent {min} is outside 0-100"),
                sp(&s.minimum_healthy_percent),
                "ECS rejects this",
                "ECS accepts 0 to 100 for a REPLICA service",
            );
        }
        if !(100..=200).contains(&max) {
            pct_ok = false;
            self.err(
                "E0805",
                format!("maximum_percent {max} is outside 100-200"),
                sp(&s.maximum_percent),
                "ECS rejects this",
                "for a rolling update use 100 to 200 (the default is 200)",
            );
        }
        if pct_ok && desired > 0 {
            let d = desired as i64;
            let floor_max = (max * d) / 100;
            let ceil_min = (min * d + 99) / 100;
            if floor_max <= d && ceil_min >= d {
                // The smallest maximum that lets one more task start, and the
                // largest minimum that lets one task stop.
                let start_max = ((d + 1) * 100 + d - 1) / d;
                let stop_min = ((d - 1) * 100) / d;
                self.err(
                    "E0806",
                    format!(
                        "with desired_count {d}, minimum {min}% and maximum {max}% ECS can neither stop nor start a task during a deployment"
                    ),
                    sp(&s.maximum_percent),
                    format!("at most {floor_max} running, at least {ceil_min} healthy"),
                    format!(
                        "set maximum_percent = {start_max} (start a new task first) or minimum_healthy_percent = {stop_min} (stop an old task first)"
                    ),
                );
            }
        }
        let health_check_grace_period = match &s.health_check_grace_period {
            Some(v) => self.positive(
                "health_check_grace_period",
                v,
                0,
                2_147_483_647,
                "seconds, 0 or more",
            ),
            None => 0,
        };
        for k in s
            .environment
            .keys()
            .filter(|k| k.get_ref().to_ascii_uppercase().contains("PASSWORD"))
        {
            self.err(
                "E0901",
                format!("a password is written in the environment file (service.environment.{})", k.get_ref()),
                sp(k),
                "secret in the file",
                format!(
                    "remove {}: the database password is injected at run time from CHRONOUS_DB_PASSWORD or database.password_file",
                    k.get_ref()
                ),
            );
        }
        let service = Service {
            name: self.name("service name", &s.name),
            task_family: self.name("task family", &s.task_family),
            container_name: self.name("container name", &s.container_name),
            image: s.image.get_ref().clone(),
            container_port,
            host_port,
            memory_mib,
            cpu,
            essential: s.essential,
            desired_count: desired,
            minimum_healthy_percent: min.clamp(0, 100) as u32,
            maximum_percent: max.clamp(0, 200) as u32,
            health_check_grace_period,
            circuit_breaker_enable: s.circuit_breaker.as_ref().is_some_and(|c| c.enable),
            circuit_breaker_rollback: s.circuit_breaker.as_ref().is_some_and(|c| c.rollback),
            environment: s
                .environment
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
        };

        // Load balancer.
        let load_balancer = r.load_balancer.as_ref().map(|lb| {
            for s in &lb.subnets {
                check_subnet(self, s);
            }
            for s in &lb.security_groups {
                check_sg(self, s);
            }
            let lb_port = self.port("listener.lb_port", &lb.listener.lb_port);
            let instance_port = self.port("listener.instance_port", &lb.listener.instance_port);
            let proto = lb.listener.protocol.get_ref().to_ascii_uppercase();
            if !["HTTP", "TCP"].contains(&proto.as_str()) {
                self.err(
                    "E1001",
                    format!("listener protocol `{}` is not supported", lb.listener.protocol.get_ref()),
                    sp(&lb.listener.protocol),
                    "unsupported protocol",
                    "use HTTP or TCP (HTTPS/SSL need a certificate, which chronous does not manage)",
                );
            }
            if let Some(hp) = host_port {
                if hp != 0 && instance_port != hp {
                    self.err(
                        "E1002",
                        format!("the load balancer sends to instance port {instance_port} but the task listens on host port {hp}"),
                        sp(&lb.listener.instance_port),
                        "no task listens here",
                        format!("set listener.instance_port = {hp}"),
                    );
                }
            } else {
                self.err(
                    "E1003",
                    "a classic ELB needs a static host port: service.host_port is not set",
                    sp(&s.container_port),
                    "dynamic host port",
                    "set service.host_port (classic ELBs send to one fixed instance port)",
                );
            }
            let hc = &lb.health_check;
            let interval = self.positive("health_check.interval", &hc.interval, 5, 300, "classic ELB intervals are 5-300 seconds");
            let timeout = self.positive("health_check.timeout", &hc.timeout, 2, 60, "classic ELB timeouts are 2-60 seconds");
            if timeout >= interval && (5..=300).contains(hc.interval.get_ref()) && (2..=60).contains(hc.timeout.get_ref()) {
                self.err(
                    "E1004",
                    format!("health_check.timeout {timeout} must be less than the interval {interval}"),
                    sp(&hc.timeout),
                    "not less than the interval",
                    format!("use a timeout below {interval} seconds"),
                );
            }
            let healthy_threshold = self.positive("health_check.healthy_threshold", &hc.healthy_threshold, 2, 10, "classic ELB thresholds are 2-10");
            let unhealthy_threshold = self.positive("health_check.unhealthy_threshold", &hc.unhealthy_threshold, 2, 10, "classic ELB thresholds are 2-10");
            self.health_target(&hc.target);
            LoadBalancer {
                name: self.name("load balancer name", &lb.name),
                internal: lb.internal,
                subnets: lb.subnets.iter().map(|s| s.get_ref().clone()).collect(),
                security_groups: lb.security_groups.iter().map(|s| s.get_ref().clone()).collect(),
                lb_port,
                instance_port,
                protocol: proto,
                health_check: HealthCheck { target: hc.target.get_ref().clone(), interval, timeout, healthy_threshold, unhealthy_threshold },
            }
        });

        let l = &r.logs;
        let logs = Logs {
            group: l.group.get_ref().clone(),
            stream_prefix: l.stream_prefix.get_ref().clone(),
            retention_days: l.retention_days.as_ref().map(|v| {
                const OK: &[i64] = &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653];
                if !OK.contains(v.get_ref()) {
                    self.err("E1101", format!("log retention {} days is not one CloudWatch offers", v.get_ref()), sp(v), "not allowed", "use 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827 or 3653");
                }
                *v.get_ref() as u32
            }),
        };

        let database = r.database.as_ref().map(|db| {
            for p in [&db.password, &db.master_password].into_iter().flatten() {
                self.err(
                    "E0901",
                    "a password is written in the environment file",
                    sp(p),
                    "secret in the file",
                    "delete this line: the password is read at run time from CHRONOUS_DB_PASSWORD, or from the file named by database.password_file",
                );
            }
            for s in &db.subnets {
                check_subnet(self, s);
            }
            for s in &db.security_groups {
                check_sg(self, s);
            }
            let zones: BTreeSet<&str> = db
                .subnets
                .iter()
                .filter_map(|s| network.subnets.iter().find(|x| &x.name == s.get_ref()))
                .map(|s| s.az.as_str())
                .collect();
            if zones.len() < 2 && db.subnets.iter().all(|s| network.subnets.iter().any(|x| &x.name == s.get_ref())) {
                self.err(
                    "E1201",
                    "an RDS DB subnet group needs subnets in at least two availability zones",
                    db.subnets.first().map(sp).unwrap_or(sp(&db.identifier)),
                    match zones.first() {
                        Some(z) => format!("every database subnet is in {z}"),
                        None => "no database subnet".to_string(),
                    },
                    "add a subnet of another zone to database.subnets",
                );
            }
            if db.engine.get_ref() != "mysql" {
                self.err("E1202", format!("engine `{}` is not supported", db.engine.get_ref()), sp(&db.engine), "unsupported engine", "chronous deploys `mysql`");
            }
            if !DB_CLASSES.contains(&db.instance_class.get_ref().as_str()) {
                self.err("E1203", format!("unknown DB instance class `{}`", db.instance_class.get_ref()), sp(&db.instance_class), "unknown class", format!("use one of: {}", DB_CLASSES.join(", ")));
            }
            let storage = self.positive("allocated_storage", &db.allocated_storage, 20, 65536, "MySQL on RDS takes 20 to 65536 GiB");
            if let Some(rs) = &db.restore {
                if db.instance_class.get_ref() == "db.t2.micro" {
                    self.err("E1204", "RestoreDBInstanceFromS3 does not support db.t2.micro", sp(&db.instance_class), "not supported for restore", "use db.t2.small or larger");
                }
                let major = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
                if major(rs.source_engine_version.get_ref()) != major(db.engine_version.get_ref()) {
                    self.err(
                        "E1205",
                        format!(
                            "the backup is from MySQL {} but the instance runs {}: RDS restores only into the same major version",
                            rs.source_engine_version.get_ref(),
                            db.engine_version.get_ref()
                        ),
                        sp(&rs.source_engine_version),
                        "major version differs",
                        "restore into the backup's major version, then upgrade",
                    );
                }
                if major(db.engine_version.get_ref()) == "5.6" {
                    self.warn(
                        "W1206",
                        "RDS retired MySQL 5.6: a 5.6 XtraBackup can no longer be restored with --backend aws",
                        sp(&db.engine_version),
                        "retired engine version",
                        "the simulator still rehearses it; for AWS take the backup from MySQL 5.7 (XtraBackup 2.4) or 8.0 (XtraBackup 8.0) and set engine_version and source_engine_version to match",
                    );
                }
            }
            Database {
                identifier: self.name("database identifier", &db.identifier),
                engine: db.engine.get_ref().clone(),
                engine_version: db.engine_version.get_ref().clone(),
                instance_class: db.instance_class.get_ref().clone(),
                allocated_storage: storage,
                username: db.username.get_ref().clone(),
                name: db.name.get_ref().clone(),
                skip_final_snapshot: db.skip_final_snapshot,
                subnets: db.subnets.iter().map(|s| s.get_ref().clone()).collect(),
                security_groups: db.security_groups.iter().map(|s| s.get_ref().clone()).collect(),
                password_file: db.password_file.as_ref().map(|s| s.get_ref().clone()),
                restore: db.restore.as_ref().map(|r| Restore {
                    backup_file: r.backup_file.get_ref().clone(),
                    bucket: r.bucket.get_ref().clone(),
                    key: r.key.get_ref().clone(),
                    source_engine_version: r.source_engine_version.get_ref().clone(),
                }),
            }
        });

        let bastion = r.bastion.as_ref().map(|b| {
            check_subnet(self, &b.subnet);
            if let Some(sn) = network
                .subnets
                .iter()
                .find(|x| &x.name == b.subnet.get_ref())
            {
                if sn.tier != Tier::Public {
                    self.err(
                        "E1301",
                        format!(
                            "the bastion is in subnet `{}`, which is {}",
                            sn.name,
                            sn.tier.as_str()
                        ),
                        sp(&b.subnet),
                        "not a public subnet",
                        "a bastion needs a public subnet to be reached from outside",
                    );
                }
            }
            if instance_type(b.instance_type.get_ref()).is_none() {
                self.err(
                    "E0701",
                    format!("unknown instance type `{}`", b.instance_type.get_ref()),
                    sp(&b.instance_type),
                    "unknown instance type",
                    "use e.g. t2.nano",
                );
            }
            for s in &b.security_groups {
                check_sg(self, s);
            }
            Bastion {
                subnet: b.subnet.get_ref().clone(),
                instance_type: b.instance_type.get_ref().clone(),
                security_groups: b
                    .security_groups
                    .iter()
                    .map(|s| s.get_ref().clone())
                    .collect(),
            }
        });

        let sim = SimSettings {
            time_scale: match r.sim.as_ref().and_then(|s| s.time_scale.as_ref()) {
                Some(t) => {
                    let v = *t.get_ref();
                    if !(v >= 1.0 && v <= 1000.0) {
                        self.err("E1401", format!("sim.time_scale {v} is outside 1-1000"), sp(t), "out of range", "1 runs AWS's own timings; 30 makes a 30 s health check run every second");
                    }
                    v
                }
                None => 1.0,
            },
        };

        let nat_written_ok = n.nat.as_ref().is_none_or(|s| s.get_ref() == "per_subnet");
        if nat_written_ok
            && network.nat == NatMode::PerSubnet
            && network.subnets_of(Tier::Private).count() > 1
        {
            let k = network.subnets_of(Tier::Private).count();
            let span = n.nat.as_ref().map(sp).unwrap_or(sp(&n.cidr));
            self.warn(
                "W0215",
                format!(
                    "nat = per_subnet creates {k} NAT gateways: about ${:.2}/month before data, against ${:.2} for one shared gateway",
                    k as f64 * NAT_HOURLY_USD * 730.0,
                    NAT_HOURLY_USD * 730.0
                ),
                span,
                "one NAT gateway per private subnet",
                "set network.nat = \"single\" unless each zone must survive the loss of another",
            );
        }

        Some(Environment {
            name,
            prefix,
            region,
            backend,
            production: e.production,
            operator_cidr,
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
        })
    }

    fn health_target(&mut self, t: &S<String>) {
        let v = t.get_ref();
        let bad = |me: &mut Validator, why: &str| {
            me.err(
                "E1005",
                format!("health check target `{v}` is not valid: {why}"),
                sp(t),
                "bad target",
                "write TCP:port, SSL:port, HTTP:port/path or HTTPS:port/path, e.g. HTTP:80/gettoken",
            );
        };
        let Some((proto, rest)) = v.split_once(':') else {
            return bad(self, "no protocol");
        };
        let (port, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        match proto {
            "HTTP" | "HTTPS" if path.is_none() => return bad(self, "HTTP targets need a path"),
            "TCP" | "SSL" if path.is_some() => return bad(self, "TCP targets take no path"),
            "HTTP" | "HTTPS" | "TCP" | "SSL" => {}
            _ => return bad(self, "unknown protocol"),
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            _ => bad(self, "port must be 1-65535"),
        }
    }

    fn rule(
        &mut self,
        r: &raw::Rule,
        sgs: &BTreeSet<String>,
        own: &str,
        has_bastion: bool,
    ) -> Option<Rule> {
        let protocol = match r.protocol.get_ref().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "all" | "-1" => Protocol::All,
            other => {
                self.err(
                    "E0302",
                    format!("unknown protocol `{other}`"),
                    sp(&r.protocol),
                    "unknown protocol",
                    "use tcp, udp, icmp or all",
                );
                return None;
            }
        };
        let (from, to) = match protocol {
            Protocol::Icmp | Protocol::All => {
                if let Some(p) = r.port.as_ref().or(r.from_port.as_ref()) {
                    self.err(
                        "E0303",
                        format!("an `{}` rule takes no port", protocol.as_str()),
                        sp(p),
                        "port not allowed here",
                        "remove the port, or use protocol = \"tcp\"",
                    );
                }
                (-1, -1)
            }
            Protocol::Tcp | Protocol::Udp => match (&r.port, &r.from_port, &r.to_port) {
                (Some(p), None, None) => {
                    let p2 = self.port("port", p) as i64;
                    (p2, p2)
                }
                (None, Some(f), Some(t)) => {
                    let a = self.port("from_port", f) as i64;
                    let b = self.port("to_port", t) as i64;
                    if (0..=65535).contains(f.get_ref())
                        && (0..=65535).contains(t.get_ref())
                        && a > b
                    {
                        self.err(
                            "E0304",
                            format!("port range {a}-{b} runs backwards"),
                            sp(f),
                            "from_port is above to_port",
                            format!("write from_port = {b}, to_port = {a}"),
                        );
                    }
                    (a, b)
                }
                _ => {
                    self.err(
                        "E0305",
                        format!(
                            "a `{}` rule needs `port`, or both `from_port` and `to_port`",
                            protocol.as_str()
                        ),
                        sp(&r.protocol),
                        "ports missing",
                        "add port = 80, or from_port = 8000 and to_port = 8080",
                    );
                    return None;
                }
            },
        };
        let s = r.source.get_ref();
        let source = if let Some(g) = s.strip_prefix("sg:") {
            if !sgs.contains(g) {
                let names: Vec<&str> = sgs.iter().map(String::as_str).collect();
                self.err(
                    "E0602",
                    format!("unknown security group `{g}`"),
                    sp(&r.source),
                    "no such security group",
                    format!(
                        "define [security_groups.{g}] or use one of: {}",
                        names.join(", ")
                    ),
                );
                return None;
            }
            let _ = own;
            Source::Group(g.to_string())
        } else if let Some(t) = s.strip_prefix("tier:") {
            match t {
                "public" => Source::Tier(Tier::Public),
                "private" => Source::Tier(Tier::Private),
                "database" => Source::Tier(Tier::Database),
                _ => {
                    self.err(
                        "E0209",
                        format!("unknown subnet tier `{t}`"),
                        sp(&r.source),
                        "unknown tier",
                        "use tier:public, tier:private or tier:database",
                    );
                    return None;
                }
            }
        } else if s == "bastion" {
            if !has_bastion {
                self.err(
                    "E0306",
                    "rule source `bastion` but the environment has no [bastion]",
                    sp(&r.source),
                    "no bastion",
                    "add a [bastion] section or use another source",
                );
                return None;
            }
            Source::Bastion
        } else if s == "operator" {
            Source::Operator
        } else {
            match s.parse::<IpNet>() {
                Ok(n) if n.trunc() == n => Source::Cidr(n),
                Ok(n) => {
                    self.err(
                        "E0202",
                        format!("rule source `{s}` has host bits set"),
                        sp(&r.source),
                        "not a network address",
                        format!("did you mean `{}`?", n.trunc()),
                    );
                    return None;
                }
                Err(_) => {
                    self.err(
                        "E0307",
                        format!("rule source `{s}` is neither a CIDR block nor a known source"),
                        sp(&r.source),
                        "unknown source",
                        "write a CIDR (a.b.c.d/n), sg:<group>, tier:<public|private|database>, bastion or operator",
                    );
                    return None;
                }
            }
        };
        Some(Rule {
            protocol,
            from_port: from,
            to_port: to,
            source,
            description: r.description.clone(),
        })
    }
}

/// NAT gateway hourly price in us-east-2, USD (AWS price list, 2024).
pub const NAT_HOURLY_USD: f64 = 0.045;

/// The first IPv4 address a CIDR hands out to hosts (AWS reserves the first four).
pub fn first_host(n: &Ipv4Net) -> Ipv4Addr {
    let base = u32::from(n.network());
    Ipv4Addr::from(base + 4)
}
