//! The environment file as written: a mirror of the TOML with a byte span on
//! every value that can be wrong, so that validation can point at it. Parsing
//! into these types is serde's job; nothing here judges a value.

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
    pub existing: Option<Existing>,
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
    /// The AWS account the environment lives in (12 digits).
    pub account_id: Option<S<String>>,
    /// The regions the environment may be deployed to.
    pub allowed_regions: Option<S<Vec<S<String>>>>,
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

/// `[existing]`: what the objects that exist already (adopted by `chronous
/// import`) are called and tagged, where it differs from what chronous derives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Existing {
    #[serde(default)]
    pub tags: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    pub names: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    pub name_tags: BTreeMap<S<String>, S<String>>,
}
