//! Resource types: their typed specs, which attributes force replacement,
//! which are created before the old one is destroyed, and the expansion of an
//! [`Environment`] into the desired resources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::{Environment, NatMode, Protocol, Source, Tier};
use crate::secret::SecretSource;
use crate::value::reference;

macro_rules! kinds {
    ($( $variant:ident => $name:literal, $spec:ident, cbd: $cbd:expr, force_new: [$($f:literal),* $(,)?], outputs: [$($o:literal),* $(,)?]; )*) => {
        /// Every resource type chronous manages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Kind { $( #[serde(rename = $name)] $variant, )* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];
            /// The type name, as it appears in addresses (`aws_vpc`).
            pub fn name(self) -> &'static str { match self { $(Kind::$variant => $name,)* } }
            /// Attributes whose change cannot be made in place.
            pub fn force_new(self) -> &'static [&'static str] { match self { $(Kind::$variant => &[$($f),*],)* } }
            /// Whether a replacement creates the new object before destroying the old.
            pub fn create_before_destroy(self) -> bool { match self { $(Kind::$variant => $cbd,)* } }
            /// The computed attributes a backend reports after create.
            pub fn outputs(self) -> &'static [&'static str] { match self { $(Kind::$variant => &[$($o),*],)* } }
            pub fn from_name(s: &str) -> Option<Kind> { match s { $($name => Some(Kind::$variant),)* _ => None } }
        }

        /// A resource's desired configuration, typed per kind.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(untagged)]
        pub enum Spec { $( $variant($spec), )* }

        impl Spec {
            pub fn kind(&self) -> Kind { match self { $(Spec::$variant(_) => Kind::$variant,)* } }
            /// The spec as an attribute object (references still unresolved).
            pub fn to_attrs(&self) -> Value {
                match self { $(Spec::$variant(s) => serde_json::to_value(s).expect("specs serialize"),)* }
            }
            /// Read a (resolved) attribute object back as the typed spec of `kind`.
            pub fn from_attrs(kind: Kind, v: &Value) -> Result<Spec, serde_json::Error> {
                Ok(match kind { $(Kind::$variant => Spec::$variant(serde_json::from_value(v.clone())?),)* })
            }
        }
    };
}

kinds! {
    Vpc => "aws_vpc", VpcSpec, cbd: false, force_new: ["cidr_block"], outputs: ["id", "arn"];
    Subnet => "aws_subnet", SubnetSpec, cbd: false, force_new: ["vpc_id", "cidr_block", "availability_zone"], outputs: ["id", "arn"];
    InternetGateway => "aws_internet_gateway", InternetGatewaySpec, cbd: false, force_new: ["vpc_id"], outputs: ["id"];
    Eip => "aws_eip", EipSpec, cbd: false, force_new: ["domain"], outputs: ["id", "public_ip"];
    NatGateway => "aws_nat_gateway", NatGatewaySpec, cbd: false, force_new: ["subnet_id", "allocation_id"], outputs: ["id"];
    RouteTable => "aws_route_table", RouteTableSpec, cbd: false, force_new: ["vpc_id"], outputs: ["id"];
    RouteTableAssociation => "aws_route_table_association", RouteTableAssociationSpec, cbd: false, force_new: ["subnet_id"], outputs: ["id"];
    SecurityGroup => "aws_security_group", SecurityGroupSpec, cbd: false, force_new: ["name", "description", "vpc_id"], outputs: ["id", "arn"];
    SecurityGroupRule => "aws_security_group_rule", SecurityGroupRuleSpec, cbd: false,
        force_new: ["security_group_id", "direction", "protocol", "from_port", "to_port", "cidr_blocks", "source_security_group_id"], outputs: ["id"];
    KeyPair => "aws_key_pair", KeyPairSpec, cbd: false, force_new: ["key_name", "public_key"], outputs: ["id", "key_name", "fingerprint"];
    AmiLookup => "aws_ami_lookup", AmiLookupSpec, cbd: false, force_new: [], outputs: ["id", "name"];
    IamRole => "aws_iam_role", IamRoleSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name"];
    IamRolePolicyAttachment => "aws_iam_role_policy_attachment", IamRolePolicyAttachmentSpec, cbd: false, force_new: ["role", "policy_arn"], outputs: ["id"];
    IamRolePolicy => "aws_iam_role_policy", IamRolePolicySpec, cbd: false, force_new: ["role", "name"], outputs: ["id"];
    IamInstanceProfile => "aws_iam_instance_profile", IamInstanceProfileSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name"];
    LaunchConfiguration => "aws_launch_configuration", LaunchConfigurationSpec, cbd: true,
        force_new: ["name", "image_id", "instance_type", "key_name", "iam_instance_profile", "security_groups", "user_data"], outputs: ["name", "arn"];
    LaunchTemplate => "aws_launch_template", LaunchTemplateSpec, cbd: true,
        force_new: ["name_prefix", "image_id", "instance_type", "key_name", "iam_instance_profile", "security_group_ids", "user_data"], outputs: ["id", "name", "latest_version"];
    AutoScalingGroup => "aws_autoscaling_group", AutoScalingGroupSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name", "instance_ids"];
    EcsCluster => "aws_ecs_cluster", EcsClusterSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name"];
    EcrRepository => "aws_ecr_repository", EcrRepositorySpec, cbd: false, force_new: ["name"], outputs: ["arn", "repository_url"];
    EcsTaskDefinition => "aws_ecs_task_definition", EcsTaskDefinitionSpec, cbd: true,
        force_new: ["family", "network_mode", "requires_compatibilities", "container"], outputs: ["arn", "revision"];
    EcsService => "aws_ecs_service", EcsServiceSpec, cbd: false, force_new: ["name", "cluster", "launch_type", "iam_role", "load_balancer"], outputs: ["arn", "name"];
    Elb => "aws_elb", ElbSpec, cbd: false, force_new: ["name", "internal"], outputs: ["arn", "dns_name", "name"];
    CloudwatchLogGroup => "aws_cloudwatch_log_group", CloudwatchLogGroupSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name"];
    S3Bucket => "aws_s3_bucket", S3BucketSpec, cbd: false, force_new: ["bucket"], outputs: ["arn", "bucket"];
    S3Object => "aws_s3_object", S3ObjectSpec, cbd: false, force_new: ["bucket", "key"], outputs: ["etag", "key"];
    DbSubnetGroup => "aws_db_subnet_group", DbSubnetGroupSpec, cbd: false, force_new: ["name"], outputs: ["arn", "name"];
    DbInstance => "aws_db_instance", DbInstanceSpec, cbd: false,
        force_new: ["identifier", "engine", "username", "db_name", "db_subnet_group_name", "restore"], outputs: ["arn", "address", "port", "endpoint"];
    Instance => "aws_instance", InstanceSpec, cbd: false,
        force_new: ["ami", "subnet_id", "key_name", "associate_public_ip_address"], outputs: ["id", "private_ip", "public_ip"];
    SsmParameter => "aws_ssm_parameter", SsmParameterSpec, cbd: false, force_new: ["name", "type"], outputs: ["arn", "name"];
    Data => "chronous_data", DataSpec, cbd: false, force_new: ["replace_on"], outputs: ["id"];
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    pub cidr_block: String,
    pub enable_dns_hostnames: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    pub map_public_ip_on_launch: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternetGatewaySpec {
    pub vpc_id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipSpec {
    pub domain: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGatewaySpec {
    pub subnet_id: String,
    pub allocation_id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub cidr_block: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableSpec {
    pub vpc_id: String,
    pub routes: Vec<Route>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableAssociationSpec {
    pub subnet_id: String,
    pub route_table_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRuleSpec {
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from_port: i64,
    pub to_port: i64,
    pub cidr_blocks: Vec<String>,
    pub source_security_group_id: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPairSpec {
    pub key_name: String,
    /// Path of the public key file, relative to the environment folder.
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmiLookupSpec {
    pub name_pattern: String,
    pub owners: Vec<String>,
    pub most_recent: bool,
    /// The image is the id this SSM parameter holds (e.g. AWS's recommended
    /// ECS-optimized AMI); `name_pattern` and `owners` are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRoleSpec {
    pub name: String,
    /// Services trusted to assume the role (`ecs.amazonaws.com`, ...).
    pub trusted_services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRolePolicyAttachmentSpec {
    pub role: String,
    pub policy_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRolePolicySpec {
    pub role: String,
    pub name: String,
    /// The policy document, as JSON text.
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamInstanceProfileSpec {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplateSpec {
    pub name_prefix: String,
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub iam_instance_profile: String,
    pub security_group_ids: Vec<String>,
    pub user_data: String,
    pub tags: Tags,
}

/// An EC2 Auto Scaling launch configuration: chronous never makes one (it
/// uses launch templates); one adopted from Terraform is kept in the state as
/// a deposed object of the launch template that replaces it, destroyed once
/// the auto scaling group launches from the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchConfigurationSpec {
    pub name: String,
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub iam_instance_profile: String,
    pub security_groups: Vec<String>,
    /// As Terraform records it (a hash of the user data).
    pub user_data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroupSpec {
    pub name: String,
    pub launch_template_id: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    pub vpc_zone_identifier: Vec<String>,
    /// How a new launch template reaches the instances: new ones healthy before old ones go.
    pub min_healthy_percentage: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsClusterSpec {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcrRepositorySpec {
    pub name: String,
    pub image_tag_mutability: String,
    pub scan_on_push: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    pub container_port: u16,
    /// 0: dynamic host port.
    pub host_port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDefinition {
    pub name: String,
    /// `repository:tag`; the backend qualifies it with its registry.
    pub image: String,
    pub essential: bool,
    pub cpu: u32,
    pub memory: u32,
    pub port_mappings: Vec<PortMapping>,
    /// Plain settings. The database password is never here: backends inject it at run time.
    pub environment: BTreeMap<String, String>,
    /// Variables ECS sets from a secret store when it starts the task: name ->
    /// the ARN of an SSM parameter (`valueFrom`). Only where the value is, never the value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    pub log_configuration: LogConfiguration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsTaskDefinitionSpec {
    pub family: String,
    pub network_mode: String,
    pub requires_compatibilities: Vec<String>,
    /// The role ECS's agent uses to start the task (pull the image, read `secrets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    pub container: ContainerDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    pub elb_name: String,
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsServiceSpec {
    pub name: String,
    pub cluster: String,
    pub task_definition: String,
    pub desired_count: u32,
    pub launch_type: String,
    pub deployment_minimum_healthy_percent: u32,
    pub deployment_maximum_percent: u32,
    pub health_check_grace_period_seconds: u32,
    pub circuit_breaker_enable: bool,
    pub circuit_breaker_rollback: bool,
    pub iam_role: Option<String>,
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// What must exist before the service starts tasks although nothing of it
    /// is in the service's own API call (Terraform's `depends_on`): the task
    /// execution role's grants, so that the first tasks can read their secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElbListener {
    pub lb_port: u16,
    pub lb_protocol: String,
    pub instance_port: u16,
    pub instance_protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElbHealthCheck {
    pub target: String,
    pub interval: u32,
    pub timeout: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElbSpec {
    pub name: String,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub listener: ElbListener,
    pub health_check: ElbHealthCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchLogGroupSpec {
    pub name: String,
    pub retention_in_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BucketSpec {
    pub bucket: String,
    pub force_destroy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3ObjectSpec {
    pub bucket: String,
    pub key: String,
    /// Path of the file to upload, relative to the environment folder.
    pub source: String,
    /// sha256 of the file's content when the environment was loaded (computed
    /// outside core); a new one uploads the file again. Absent when the file
    /// was not looked at, and in states written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbSubnetGroupSpec {
    pub name: String,
    pub subnet_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRestore {
    pub bucket: String,
    pub prefix: String,
    pub object_key: String,
    pub ingestion_role_arn: String,
    pub ingestion_policy: String,
    pub source_engine: String,
    pub source_engine_version: String,
    /// Path of the local backup file (relative to the environment folder),
    /// which the simulator restores directly.
    pub backup_file: String,
    /// sha256 of the backup restored (as [`S3ObjectSpec::source_sha256`]):
    /// RDS restores from S3 only when it creates the instance, so a new one
    /// replaces the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstanceSpec {
    pub identifier: String,
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: u32,
    pub username: String,
    pub db_name: String,
    /// Where the password comes from at run time (`env:CHRONOUS_DB_PASSWORD`
    /// or `file:PATH`): never the password itself.
    pub password_source: SecretSource,
    pub db_subnet_group_name: String,
    pub vpc_security_group_ids: Vec<String>,
    pub skip_final_snapshot: bool,
    pub publicly_accessible: bool,
    pub restore: Option<DbRestore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub ami: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub vpc_security_group_ids: Vec<String>,
    pub key_name: Option<String>,
    pub associate_public_ip_address: bool,
    pub tags: Tags,
}

/// An SSM Parameter Store parameter whose value is a secret (the database
/// password as a `SecureString`). The spec records where the value comes from
/// at run time, never the value: the backend reads it when it writes the
/// parameter, and on refresh compares what the parameter holds with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmParameterSpec {
    pub name: String,
    pub description: String,
    /// `SecureString`.
    #[serde(rename = "type")]
    pub param_type: String,
    /// The KMS key that encrypts it (`alias/aws/ssm`: the account's default key for SSM).
    pub key_id: String,
    /// `env:VARIABLE` or `file:PATH` (relative to the environment folder).
    pub value_source: SecretSource,
    /// Always `true` in the desired spec. A refresh that finds the stored value
    /// differs from the one at `value_source` reports `false` (drift, without
    /// the value), and apply writes the parameter again.
    pub value_matches_source: bool,
}

/// A plain value holder with no cloud object behind it (Terraform's
/// `terraform_data`): for wiring and for synthetic graphs in benchmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Values kept as they are; references here create dependencies.
    pub input: Vec<String>,
    /// Changing this replaces the object.
    pub replace_on: String,
}

/// One desired resource: its stable address and typed spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub address: String,
    pub spec: Spec,
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }
}

/// Turn a name into the part of an address after the type (`db-a` -> `db_a`).
pub fn ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn addr(kind: Kind, name: &str) -> String {
    format!("{}.{}", kind.name(), ident(name))
}

fn r(kind: Kind, name: &str, attr: &str) -> String {
    reference(&addr(kind, name), attr)
}

fn tags(env: &Environment, name: &str) -> Tags {
    BTreeMap::from([("Name".to_string(), format!("{}-{}", env.prefix, name))])
}

/// Where the database password comes from at run time: never the password itself.
fn password_source(db: &crate::env::Database) -> SecretSource {
    db.password_source()
}

fn trust(services: &[&str]) -> Vec<String> {
    services.iter().map(|s| s.to_string()).collect()
}
/// The resources of an environment in the order they are expanded.
struct Expansion {
    out: Vec<Resource>,
}

impl Expansion {
    fn push(&mut self, address: String, spec: Spec) {
        self.out.push(Resource { address, spec });
    }
}

/// Expand a validated environment into its desired resources, in a stable
/// order: network, security groups, key pair and AMI, IAM, container
/// instances, the service (with the database password's secret), load
/// balancer, database, bastion.
pub fn expand(env: &Environment) -> Vec<Resource> {
    let mut x = Expansion { out: Vec::new() };
    network(env, &mut x);
    nat_gateways(env, &mut x);
    route_tables(env, &mut x);
    security_groups(env, &mut x);
    key_pair_and_ami(env, &mut x);
    iam(env, &mut x);
    container_instances(env, &mut x);
    service(env, &mut x);
    load_balancer(env, &mut x);
    database(env, &mut x);
    bastion(env, &mut x);
    existing(env, &mut x.out);
    x.out
}

/// `[existing]`: the names and tags objects had before chronous adopted them.
fn existing(env: &Environment, out: &mut [Resource]) {
    let e = &env.existing;
    for r in out.iter_mut() {
        if let Some(tags) = tags_mut(&mut r.spec) {
            for (k, v) in &e.tags {
                tags.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if let Some(n) = e.name_tags.get(&r.address) {
                tags.insert("Name".into(), n.clone());
            }
        }
        if let Some(n) = e.names.get(&r.address) {
            if let Some(slot) = name_mut(&mut r.spec) {
                *slot = n.clone();
            }
        }
    }
}

/// The object's own name in AWS, for the kinds that have one.
pub fn name_of(spec: &Spec) -> Option<String> {
    name_mut(&mut spec.clone()).map(|n| n.clone())
}

/// Where a kind keeps its name in AWS (`None`: it has none `[existing]` can set).
pub fn name_mut(spec: &mut Spec) -> Option<&mut String> {
    match spec {
        Spec::SecurityGroup(g) => Some(&mut g.name),
        Spec::KeyPair(k) => Some(&mut k.key_name),
        Spec::IamRole(r) => Some(&mut r.name),
        Spec::IamInstanceProfile(p) => Some(&mut p.name),
        Spec::AutoScalingGroup(g) => Some(&mut g.name),
        Spec::EcsCluster(c) => Some(&mut c.name),
        Spec::EcrRepository(r) => Some(&mut r.name),
        Spec::EcsTaskDefinition(t) => Some(&mut t.family),
        Spec::EcsService(s) => Some(&mut s.name),
        Spec::Elb(e) => Some(&mut e.name),
        Spec::CloudwatchLogGroup(g) => Some(&mut g.name),
        Spec::S3Bucket(b) => Some(&mut b.bucket),
        Spec::DbSubnetGroup(g) => Some(&mut g.name),
        Spec::DbInstance(d) => Some(&mut d.identifier),
        Spec::SsmParameter(p) => Some(&mut p.name),
        Spec::LaunchConfiguration(l) => Some(&mut l.name),
        Spec::Vpc(_)
        | Spec::Subnet(_)
        | Spec::InternetGateway(_)
        | Spec::Eip(_)
        | Spec::NatGateway(_)
        | Spec::RouteTable(_)
        | Spec::RouteTableAssociation(_)
        | Spec::SecurityGroupRule(_)
        | Spec::AmiLookup(_)
        | Spec::IamRolePolicyAttachment(_)
        | Spec::IamRolePolicy(_)
        | Spec::LaunchTemplate(_)
        | Spec::S3Object(_)
        | Spec::Instance(_)
        | Spec::Data(_) => None,
    }
}

/// The tags of the kinds that carry key/value tags in their spec.
pub fn tags_of(spec: &Spec) -> Option<Tags> {
    tags_mut(&mut spec.clone()).map(|t| t.clone())
}

pub fn tags_mut(spec: &mut Spec) -> Option<&mut Tags> {
    match spec {
        Spec::Vpc(s) => Some(&mut s.tags),
        Spec::Subnet(s) => Some(&mut s.tags),
        Spec::InternetGateway(s) => Some(&mut s.tags),
        Spec::Eip(s) => Some(&mut s.tags),
        Spec::NatGateway(s) => Some(&mut s.tags),
        Spec::RouteTable(s) => Some(&mut s.tags),
        Spec::SecurityGroup(s) => Some(&mut s.tags),
        Spec::LaunchTemplate(s) => Some(&mut s.tags),
        Spec::Instance(s) => Some(&mut s.tags),
        Spec::RouteTableAssociation(_)
        | Spec::SecurityGroupRule(_)
        | Spec::KeyPair(_)
        | Spec::AmiLookup(_)
        | Spec::IamRole(_)
        | Spec::IamRolePolicyAttachment(_)
        | Spec::IamRolePolicy(_)
        | Spec::IamInstanceProfile(_)
        | Spec::AutoScalingGroup(_)
        | Spec::EcsCluster(_)
        | Spec::EcrRepository(_)
        | Spec::EcsTaskDefinition(_)
        | Spec::EcsService(_)
        | Spec::Elb(_)
        | Spec::CloudwatchLogGroup(_)
        | Spec::S3Bucket(_)
        | Spec::S3Object(_)
        | Spec::DbSubnetGroup(_)
        | Spec::DbInstance(_)
        | Spec::SsmParameter(_)
        | Spec::LaunchConfiguration(_)
        | Spec::Data(_) => None,
    }
}

/// The VPC, its subnets and internet gateway.
fn network(env: &Environment, x: &mut Expansion) {
    let vpc = r(Kind::Vpc, "main", "id");

    x.push(
        addr(Kind::Vpc, "main"),
        Spec::Vpc(VpcSpec {
            cidr_block: env.network.cidr.to_string(),
            enable_dns_hostnames: true,
            tags: tags(env, "vpc"),
        }),
    );
    for s in &env.network.subnets {
        x.push(
            addr(Kind::Subnet, &s.name),
            Spec::Subnet(SubnetSpec {
                vpc_id: vpc.clone(),
                cidr_block: s.cidr.to_string(),
                availability_zone: s.az.clone(),
                map_public_ip_on_launch: s.tier == Tier::Public,
                tags: tags(env, &format!("{}-{}", s.tier.as_str(), s.name)),
            }),
        );
    }
    x.push(
        addr(Kind::InternetGateway, "main"),
        Spec::InternetGateway(InternetGatewaySpec {
            vpc_id: vpc.clone(),
            tags: tags(env, "igw"),
        }),
    );
}

/// NAT gateways (and their EIPs), in the first public subnet.
fn nat_gateways(env: &Environment, x: &mut Expansion) {
    let public: Vec<_> = env.network.subnets_of(Tier::Public).collect();
    let private: Vec<_> = env.network.subnets_of(Tier::Private).collect();
    let nat_names: Vec<String> = match env.network.nat {
        NatMode::PerSubnet => private.iter().map(|s| s.name.clone()).collect(),
        NatMode::Single => vec!["shared".to_string()],
        NatMode::None => vec![],
    };
    if let Some(pub0) = public.first() {
        for n in &nat_names {
            x.push(
                addr(Kind::Eip, &format!("nat_{n}")),
                Spec::Eip(EipSpec {
                    domain: "vpc".into(),
                    tags: tags(env, &format!("nat-{n}")),
                }),
            );
            x.push(
                addr(Kind::NatGateway, n),
                Spec::NatGateway(NatGatewaySpec {
                    subnet_id: r(Kind::Subnet, &pub0.name, "id"),
                    allocation_id: r(Kind::Eip, &format!("nat_{n}"), "id"),
                    tags: tags(env, &format!("nat-{n}")),
                }),
            );
        }
    }
}

/// Route tables: one public, one per private subnet (its NAT), one for the database tier.
fn route_tables(env: &Environment, x: &mut Expansion) {
    let vpc = r(Kind::Vpc, "main", "id");
    let public: Vec<_> = env.network.subnets_of(Tier::Public).collect();
    let private: Vec<_> = env.network.subnets_of(Tier::Private).collect();
    x.push(
        addr(Kind::RouteTable, "public"),
        Spec::RouteTable(RouteTableSpec {
            vpc_id: vpc.clone(),
            routes: vec![Route {
                cidr_block: "0.0.0.0/0".into(),
                gateway_id: Some(r(Kind::InternetGateway, "main", "id")),
                nat_gateway_id: None,
            }],
            tags: tags(env, "public"),
        }),
    );
    for s in &public {
        x.push(
            addr(Kind::RouteTableAssociation, &s.name),
            Spec::RouteTableAssociation(RouteTableAssociationSpec {
                subnet_id: r(Kind::Subnet, &s.name, "id"),
                route_table_id: r(Kind::RouteTable, "public", "id"),
            }),
        );
    }
    for s in &private {
        let nat = match env.network.nat {
            NatMode::PerSubnet => Some(s.name.clone()),
            NatMode::Single => Some("shared".to_string()),
            NatMode::None => None,
        }
        .filter(|_| !public.is_empty());
        let rt = format!("private_{}", s.name);
        x.push(
            addr(Kind::RouteTable, &rt),
            Spec::RouteTable(RouteTableSpec {
                vpc_id: vpc.clone(),
                routes: nat
                    .iter()
                    .map(|n| Route {
                        cidr_block: "0.0.0.0/0".into(),
                        gateway_id: None,
                        nat_gateway_id: Some(r(Kind::NatGateway, n, "id")),
                    })
                    .collect(),
                tags: tags(env, &rt),
            }),
        );
        x.push(
            addr(Kind::RouteTableAssociation, &s.name),
            Spec::RouteTableAssociation(RouteTableAssociationSpec {
                subnet_id: r(Kind::Subnet, &s.name, "id"),
                route_table_id: r(Kind::RouteTable, &rt, "id"),
            }),
        );
    }
    let dbs: Vec<_> = env.network.subnets_of(Tier::Database).collect();
    if !dbs.is_empty() {
        x.push(
            addr(Kind::RouteTable, "database"),
            Spec::RouteTable(RouteTableSpec {
                vpc_id: vpc.clone(),
                routes: vec![],
                tags: tags(env, "database"),
            }),
        );
        for s in &dbs {
            x.push(
                addr(Kind::RouteTableAssociation, &s.name),
                Spec::RouteTableAssociation(RouteTableAssociationSpec {
                    subnet_id: r(Kind::Subnet, &s.name, "id"),
                    route_table_id: r(Kind::RouteTable, "database", "id"),
                }),
            );
        }
    }
}

/// Security groups and their rules, one resource per rule so rules diff one by one.
fn security_groups(env: &Environment, x: &mut Expansion) {
    let p = &env.prefix;
    let vpc = r(Kind::Vpc, "main", "id");
    for g in &env.security_groups {
        x.push(
            addr(Kind::SecurityGroup, &g.name),
            Spec::SecurityGroup(SecurityGroupSpec {
                name: format!("{p}-{}", g.name),
                description: g.description.clone(),
                vpc_id: vpc.clone(),
                tags: tags(env, &g.name),
            }),
        );
        for (direction, rules) in [("ingress", &g.ingress), ("egress", &g.egress)] {
            for rule in rules {
                let proto = match rule.protocol {
                    Protocol::All => "-1".to_string(),
                    p => p.as_str().to_string(),
                };
                let ports = if rule.from_port < 0 {
                    "all".to_string()
                } else if rule.from_port == rule.to_port {
                    rule.from_port.to_string()
                } else {
                    format!("{}_{}", rule.from_port, rule.to_port)
                };
                let name = format!(
                    "{}_{direction}_{}_{ports}_{}",
                    g.name,
                    rule.protocol.as_str(),
                    rule.source.key()
                );
                let (cidr_blocks, source_security_group_id) = match &rule.source {
                    Source::Cidr(c) => (vec![c.to_string()], None),
                    Source::Operator => (vec![env.operator_cidr.to_string()], None),
                    Source::Tier(t) => (
                        env.network
                            .subnets_of(*t)
                            .map(|s| s.cidr.to_string())
                            .collect(),
                        None,
                    ),
                    Source::Bastion => (
                        vec![format!("{}/32", r(Kind::Instance, "bastion", "private_ip"))],
                        None,
                    ),
                    Source::Group(other) => (vec![], Some(r(Kind::SecurityGroup, other, "id"))),
                };
                x.push(
                    addr(Kind::SecurityGroupRule, &name),
                    Spec::SecurityGroupRule(SecurityGroupRuleSpec {
                        security_group_id: r(Kind::SecurityGroup, &g.name, "id"),
                        direction: direction.into(),
                        protocol: proto,
                        from_port: rule.from_port,
                        to_port: rule.to_port,
                        cidr_blocks,
                        source_security_group_id,
                        description: rule.description.clone().unwrap_or_default(),
                    }),
                );
            }
        }
    }
}

fn key_pair_and_ami(env: &Environment, x: &mut Expansion) {
    if let Some(k) = &env.key_pair {
        x.push(
            addr(Kind::KeyPair, &k.name),
            Spec::KeyPair(KeyPairSpec {
                key_name: k.name.clone(),
                public_key: k.public_key_file.clone(),
            }),
        );
    }
    x.push(
        addr(Kind::AmiLookup, "ecs"),
        Spec::AmiLookup(AmiLookupSpec {
            name_pattern: env.cluster.ami_name.clone(),
            owners: if env.cluster.ami_ssm_parameter.is_some() {
                vec![]
            } else {
                vec![env.cluster.ami_owner.clone()]
            },
            most_recent: true,
            ssm_parameter: env.cluster.ami_ssm_parameter.clone(),
        }),
    );
}

/// The container instances' role and profile, and the service's role for the load balancer.
///
/// The instances' role gets AmazonEC2ContainerServiceforEC2Role only. The
/// seed's Terraform also attached CloudWatchLogsFullAccess (every CloudWatch
/// Logs action on every resource, CHR-IAM-001); chronous does not: the
/// awslogs driver needs logs:CreateLogStream and logs:PutLogEvents, which
/// AmazonEC2ContainerServiceforEC2Role grants, and chronous creates the log
/// group itself. An imported attachment of it is left unmanaged (attached).
fn iam(env: &Environment, x: &mut Expansion) {
    let p = &env.prefix;
    x.push(
        addr(Kind::IamRole, "ecs_ec2"),
        Spec::IamRole(IamRoleSpec {
            name: format!("{p}-ecs_ec2"),
            trusted_services: trust(&["ec2.amazonaws.com", "ecs.amazonaws.com"]),
        }),
    );
    x.push(
        addr(Kind::IamRolePolicyAttachment, "ecs_ec2_container_service"),
        Spec::IamRolePolicyAttachment(IamRolePolicyAttachmentSpec {
            role: r(Kind::IamRole, "ecs_ec2", "name"),
            policy_arn: "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
                .into(),
        }),
    );
    x.push(
        addr(Kind::IamInstanceProfile, "ecs_ec2"),
        Spec::IamInstanceProfile(IamInstanceProfileSpec {
            name: format!("{p}-ecs_ec2"),
            role: r(Kind::IamRole, "ecs_ec2", "name"),
        }),
    );
    if env.load_balancer.is_some() {
        x.push(
            addr(Kind::IamRole, "payments_api_service_role"),
            Spec::IamRole(IamRoleSpec {
                name: format!("{p}-payments_api_service_role"),
                trusted_services: trust(&["ecs.amazonaws.com"]),
            }),
        );
        x.push(
            addr(Kind::IamRolePolicyAttachment, "payments_api_service_role"),
            Spec::IamRolePolicyAttachment(IamRolePolicyAttachmentSpec {
                role: r(Kind::IamRole, "payments_api_service_role", "name"),
                policy_arn: "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceRole"
                    .into(),
            }),
        );
    }
}

/// The cluster, launch template and auto scaling group.
fn container_instances(env: &Environment, x: &mut Expansion) {
    let p = &env.prefix;
    let cluster_name = env.cluster.name.clone();
    x.push(
        addr(Kind::EcsCluster, "main"),
        Spec::EcsCluster(EcsClusterSpec {
            name: cluster_name.clone(),
        }),
    );
    x.push(
        addr(Kind::LaunchTemplate, "container_instances"),
        Spec::LaunchTemplate(LaunchTemplateSpec {
            name_prefix: format!("{p}-container-instances-"),
            image_id: r(Kind::AmiLookup, "ecs", "id"),
            instance_type: env.cluster.instance_type.clone(),
            key_name: env
                .key_pair
                .as_ref()
                .map(|k| r(Kind::KeyPair, &k.name, "key_name")),
            iam_instance_profile: r(Kind::IamInstanceProfile, "ecs_ec2", "arn"),
            security_group_ids: env
                .cluster
                .security_groups
                .iter()
                .map(|g| r(Kind::SecurityGroup, g, "id"))
                .collect(),
            user_data: format!(
                "#!/bin/bash\necho ECS_CLUSTER={} >> /etc/ecs/ecs.config\n",
                r(Kind::EcsCluster, "main", "name")
            ),
            tags: tags(env, "container-instance"),
        }),
    );
    let n = env.cluster.instance_count;
    x.push(
        addr(Kind::AutoScalingGroup, "container_instances"),
        Spec::AutoScalingGroup(AutoScalingGroupSpec {
            name: format!("{p}-container-instances"),
            launch_template_id: r(Kind::LaunchTemplate, "container_instances", "id"),
            min_size: n,
            max_size: n.max(1) * 2,
            desired_capacity: n,
            vpc_zone_identifier: env
                .cluster
                .subnets
                .iter()
                .map(|s| r(Kind::Subnet, s, "id"))
                .collect(),
            min_healthy_percentage: 100,
        }),
    );
}

/// The image repository, log group, task definition and ECS service.
fn service(env: &Environment, x: &mut Expansion) {
    let image = env.image(&env.service.image).cloned();
    let repo = image
        .as_ref()
        .map(|i| i.repository.clone())
        .unwrap_or_default();
    x.push(
        addr(Kind::EcrRepository, &env.service.image),
        Spec::EcrRepository(EcrRepositorySpec {
            name: repo.clone(),
            image_tag_mutability: "MUTABLE".into(),
            scan_on_push: false,
        }),
    );
    x.push(
        addr(Kind::CloudwatchLogGroup, &env.logs.group),
        Spec::CloudwatchLogGroup(CloudwatchLogGroupSpec {
            name: env.logs.group.clone(),
            retention_in_days: env.logs.retention_days,
        }),
    );
    let s = &env.service;
    let mut container_env = s.environment.clone();
    if let Some(db) = &env.database {
        container_env.insert("DB_HOST".into(), r(Kind::DbInstance, "main", "address"));
        container_env.insert("DB_PORT".into(), r(Kind::DbInstance, "main", "port"));
        container_env.insert("DB_USER".into(), db.username.clone());
        container_env
            .entry("DB_NAME".into())
            .or_insert_with(|| db.name.clone());
    }
    let (secrets, execution_role_arn) = match &env.database {
        Some(db) => db_password_secret(env, db, x),
        None => (BTreeMap::new(), None),
    };
    let tag = image.as_ref().map(|i| i.tag.clone()).unwrap_or_default();
    x.push(
        addr(Kind::EcsTaskDefinition, &s.container_name),
        Spec::EcsTaskDefinition(EcsTaskDefinitionSpec {
            family: s.task_family.clone(),
            network_mode: "bridge".into(),
            requires_compatibilities: vec!["EC2".into()],
            execution_role_arn,
            container: ContainerDefinition {
                name: s.container_name.clone(),
                image: format!(
                    "{}:{tag}",
                    r(Kind::EcrRepository, &s.image, "repository_url")
                ),
                essential: s.essential,
                cpu: s.cpu,
                memory: s.memory_mib,
                port_mappings: vec![PortMapping {
                    container_port: s.container_port,
                    host_port: s.host_port.unwrap_or(0),
                    protocol: "tcp".into(),
                }],
                environment: container_env,
                secrets,
                log_configuration: LogConfiguration {
                    log_driver: "awslogs".into(),
                    options: BTreeMap::from([
                        (
                            "awslogs-group".to_string(),
                            r(Kind::CloudwatchLogGroup, &env.logs.group, "name"),
                        ),
                        ("awslogs-region".to_string(), env.region.clone()),
                        (
                            "awslogs-stream-prefix".to_string(),
                            env.logs.stream_prefix.clone(),
                        ),
                    ]),
                },
            },
        }),
    );
    x.push(
        addr(Kind::EcsService, &s.container_name),
        Spec::EcsService(EcsServiceSpec {
            name: s.name.clone(),
            cluster: r(Kind::EcsCluster, "main", "arn"),
            task_definition: r(Kind::EcsTaskDefinition, &s.container_name, "arn"),
            desired_count: s.desired_count,
            launch_type: "EC2".into(),
            deployment_minimum_healthy_percent: s.minimum_healthy_percent,
            deployment_maximum_percent: s.maximum_percent,
            health_check_grace_period_seconds: s.health_check_grace_period,
            circuit_breaker_enable: s.circuit_breaker_enable,
            circuit_breaker_rollback: s.circuit_breaker_rollback,
            iam_role: env
                .load_balancer
                .as_ref()
                .map(|_| r(Kind::IamRole, "payments_api_service_role", "arn")),
            depends_on: if env.database.is_some() {
                vec![
                    r(Kind::IamRolePolicy, "ecs_task_execution_secrets", "id"),
                    r(Kind::IamRolePolicyAttachment, "ecs_task_execution", "id"),
                ]
            } else {
                Vec::new()
            },
            load_balancer: env.load_balancer.as_ref().map(|_| ServiceLoadBalancer {
                elb_name: r(Kind::Elb, "main", "name"),
                container_name: s.container_name.clone(),
                container_port: s.container_port,
            }),
        }),
    );
}

/// The password reaches the task as ECS does it: a SecureString parameter
/// the task definition names in `secrets`, read by the task execution role.
/// The task definition's `secrets` and execution role.
fn db_password_secret(
    env: &Environment,
    db: &crate::env::Database,
    x: &mut Expansion,
) -> (BTreeMap<String, String>, Option<String>) {
    let p = &env.prefix;
    x.push(
        addr(Kind::SsmParameter, "db_password"),
        Spec::SsmParameter(SsmParameterSpec {
            name: format!("/{p}/database/password"),
            description: format!("master password of the RDS instance {}", db.identifier),
            param_type: "SecureString".into(),
            key_id: "alias/aws/ssm".into(),
            value_source: password_source(db),
            value_matches_source: true,
        }),
    );
    x.push(
        addr(Kind::IamRole, "ecs_task_execution"),
        Spec::IamRole(IamRoleSpec {
            name: format!("{p}-ecs_task_execution"),
            trusted_services: trust(&["ecs-tasks.amazonaws.com"]),
        }),
    );
    x.push(
        addr(Kind::IamRolePolicyAttachment, "ecs_task_execution"),
        Spec::IamRolePolicyAttachment(IamRolePolicyAttachmentSpec {
            role: r(Kind::IamRole, "ecs_task_execution", "name"),
            policy_arn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                .into(),
        }),
    );
    let param_arn = r(Kind::SsmParameter, "db_password", "arn");
    // kms:Decrypt with the default aws/ssm key, only through SSM and only
    // for this parameter (SSM puts the parameter's ARN in the encryption context).
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [param_arn]},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*", "Condition": {"StringEquals": {
                "kms:ViaService": format!("ssm.{}.amazonaws.com", env.region),
                "kms:EncryptionContext:PARAMETER_ARN": param_arn,
            }}}
        ]
    });
    x.push(
        addr(Kind::IamRolePolicy, "ecs_task_execution_secrets"),
        Spec::IamRolePolicy(IamRolePolicySpec {
            role: r(Kind::IamRole, "ecs_task_execution", "name"),
            name: "read-db-password".into(),
            policy: policy.to_string(),
        }),
    );
    let secrets = BTreeMap::from([("DB_PASSWORD".to_string(), param_arn)]);
    (secrets, Some(r(Kind::IamRole, "ecs_task_execution", "arn")))
}

fn load_balancer(env: &Environment, x: &mut Expansion) {
    if let Some(lb) = &env.load_balancer {
        x.push(
            addr(Kind::Elb, "main"),
            Spec::Elb(ElbSpec {
                name: lb.name.clone(),
                internal: lb.internal,
                subnets: lb
                    .subnets
                    .iter()
                    .map(|s| r(Kind::Subnet, s, "id"))
                    .collect(),
                security_groups: lb
                    .security_groups
                    .iter()
                    .map(|g| r(Kind::SecurityGroup, g, "id"))
                    .collect(),
                listener: ElbListener {
                    lb_port: lb.lb_port,
                    lb_protocol: lb.protocol.clone(),
                    instance_port: lb.instance_port,
                    instance_protocol: lb.protocol.clone(),
                },
                health_check: ElbHealthCheck {
                    target: lb.health_check.target.clone(),
                    interval: lb.health_check.interval,
                    timeout: lb.health_check.timeout,
                    healthy_threshold: lb.health_check.healthy_threshold,
                    unhealthy_threshold: lb.health_check.unhealthy_threshold,
                },
            }),
        );
    }
}

/// The database, restored from an XtraBackup through S3.
fn database(env: &Environment, x: &mut Expansion) {
    let p = &env.prefix;
    let Some(db) = &env.database else {
        return;
    };
    let restore = db.restore.as_ref().map(|rs| xtrabackup(env, rs, x));
    x.push(
        addr(Kind::DbSubnetGroup, "main"),
        Spec::DbSubnetGroup(DbSubnetGroupSpec {
            name: format!("{p}-db"),
            subnet_ids: db
                .subnets
                .iter()
                .map(|s| r(Kind::Subnet, s, "id"))
                .collect(),
        }),
    );
    x.push(
        addr(Kind::DbInstance, "main"),
        Spec::DbInstance(DbInstanceSpec {
            identifier: db.identifier.clone(),
            engine: db.engine.clone(),
            engine_version: db.engine_version.clone(),
            instance_class: db.instance_class.clone(),
            allocated_storage: db.allocated_storage,
            username: db.username.clone(),
            db_name: db.name.clone(),
            password_source: password_source(db),
            db_subnet_group_name: r(Kind::DbSubnetGroup, "main", "name"),
            vpc_security_group_ids: db
                .security_groups
                .iter()
                .map(|g| r(Kind::SecurityGroup, g, "id"))
                .collect(),
            skip_final_snapshot: db.skip_final_snapshot,
            publicly_accessible: false,
            restore,
        }),
    );
}

/// The backup's bucket and object, and the role RDS reads it with.
fn xtrabackup(env: &Environment, rs: &crate::env::Restore, x: &mut Expansion) -> DbRestore {
    let p = &env.prefix;
    x.push(
        addr(Kind::S3Bucket, "xtrabackup"),
        Spec::S3Bucket(S3BucketSpec {
            bucket: rs.bucket.clone(),
            force_destroy: !env.production,
        }),
    );
    x.push(
        addr(Kind::S3Object, "xtrabackup"),
        Spec::S3Object(S3ObjectSpec {
            bucket: r(Kind::S3Bucket, "xtrabackup", "bucket"),
            key: rs.key.clone(),
            source: rs.backup_file.clone(),
            source_sha256: rs.backup_sha256.clone(),
        }),
    );
    x.push(
        addr(Kind::IamRole, "rds_s3_import"),
        Spec::IamRole(IamRoleSpec {
            name: format!("{p}-rds_s3_import"),
            trusted_services: trust(&["rds.amazonaws.com"]),
        }),
    );
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{}", rs.bucket), format!("arn:aws:s3:::{}/*", rs.bucket)]
        }]
    });
    x.push(
        addr(Kind::IamRolePolicy, "rds_s3_import"),
        Spec::IamRolePolicy(IamRolePolicySpec {
            role: r(Kind::IamRole, "rds_s3_import", "name"),
            name: "s3-backup-read".into(),
            policy: policy.to_string(),
        }),
    );
    // The object's key and the policy's id are referenced so that the
    // restore waits for the upload and for the role to be usable.
    DbRestore {
        bucket: r(Kind::S3Bucket, "xtrabackup", "bucket"),
        prefix: rs
            .key
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default(),
        object_key: r(Kind::S3Object, "xtrabackup", "key"),
        ingestion_role_arn: r(Kind::IamRole, "rds_s3_import", "arn"),
        ingestion_policy: r(Kind::IamRolePolicy, "rds_s3_import", "id"),
        source_engine: "mysql".into(),
        source_engine_version: rs.source_engine_version.clone(),
        backup_file: rs.backup_file.clone(),
        backup_sha256: rs.backup_sha256.clone(),
    }
}

fn bastion(env: &Environment, x: &mut Expansion) {
    if let Some(b) = &env.bastion {
        x.push(
            addr(Kind::Instance, "bastion"),
            Spec::Instance(InstanceSpec {
                ami: r(Kind::AmiLookup, "ecs", "id"),
                instance_type: b.instance_type.clone(),
                subnet_id: r(Kind::Subnet, &b.subnet, "id"),
                vpc_security_group_ids: b
                    .security_groups
                    .iter()
                    .map(|g| r(Kind::SecurityGroup, g, "id"))
                    .collect(),
                key_name: env
                    .key_pair
                    .as_ref()
                    .map(|k| r(Kind::KeyPair, &k.name, "key_name")),
                associate_public_ip_address: true,
                tags: tags(env, "bastion"),
            }),
        );
    }
}
