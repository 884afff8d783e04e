//! The validated environment: the typed description that the rest of
//! chronous (expansion into resources, the runtimes, the CLI) works from. Every
//! value here has passed validation; nothing holds a span or a secret.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

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
    /// sha256 of the backup's content, when the file was looked at (computed
    /// outside core and handed in through [`super::Inputs`]).
    pub backup_sha256: Option<String>,
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

impl Database {
    /// Where the password comes from at run time.
    pub fn password_source(&self) -> SecretSource {
        SecretSource::db_password(self.password_file.as_deref())
    }
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
    /// The AWS account the environment lives in: every command on the aws
    /// backend refuses credentials of another account before anything else.
    pub account_id: Option<String>,
    /// The regions the environment may live in (empty: any); `region` is one of them.
    pub allowed_regions: Vec<String>,
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
    /// `[existing]`: names and tags of adopted objects (empty: chronous's own).
    #[serde(default)]
    pub existing: Existing,
}

/// The names and tags of objects that existed before chronous (imported from
/// Terraform or found in the account), where they differ from chronous's own
/// (`<prefix>-...`). Keys of `names` and `name_tags` are chronous addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Existing {
    /// Tags every taggable object carries besides `Name` (Terraform's `tags`
    /// of the estate: `Terraform = "true"`, `Environment = "staging"`).
    pub tags: BTreeMap<String, String>,
    /// The object's name in AWS (`name`, `identifier`, ...) by address.
    pub names: BTreeMap<String, String>,
    /// The object's `Name` tag by address.
    pub name_tags: BTreeMap<String, String>,
}

impl Environment {
    pub fn image(&self, key: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.key == key)
    }
    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.network.subnets.iter().find(|s| s.name == name)
    }
}
