//! `chronous init --from-aws`: what exists in one VPC of the account, read
//! with the SDK and described as Terraform would describe it (core's
//! `TfObject`, attributes in the shape of the AWS provider's state), so that
//! core's one writer (`import::init`) turns it into chronous.toml exactly as
//! it does a Terraform state. Read-only: only Describe/List/Get calls.
//!
//! Each object's address is where a person finds it: `service:id`
//! (`ec2:sg-0abc`, `rds:cak`). Secrets are never read into it: a task
//! definition's plain-environment value whose name says password or secret
//! is replaced by an empty string here, and only its place is noted.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use chronous_core::import::init::Note;
use chronous_core::import::TfObject;
use serde_json::{json, Value};

use crate::call::CallError;
use crate::AwsProvider;

/// Which VPC to describe.
#[derive(Debug, Clone, PartialEq)]
pub enum VpcSelector {
    Id(String),
    /// Its `Name` tag.
    Name(String),
}

impl std::fmt::Display for VpcSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VpcSelector::Id(i) => write!(f, "id {i}"),
            VpcSelector::Name(n) => write!(f, "Name tag `{n}`"),
        }
    }
}

/// What was found, and what the reads could not tell.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub vpc_id: String,
    pub objects: Vec<TfObject>,
    pub notes: Vec<Note>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no VPC with {0} in {1}")]
    NoVpc(VpcSelector, String),
    #[error("{n} VPCs have {sel} in {region} ({ids}): name one with --vpc-id")]
    SeveralVpcs {
        n: usize,
        sel: VpcSelector,
        region: String,
        ids: String,
    },
    #[error(transparent)]
    Call(#[from] CallError),
}

impl DiscoverError {
    pub fn hint(&self) -> String {
        match self {
            DiscoverError::NoVpc(..) => "check --region and the selector: `aws ec2 describe-vpcs --region REGION` lists the VPCs with their Name tags".into(),
            DiscoverError::SeveralVpcs { .. } => "pass --vpc-id with one of the ids above".into(),
            DiscoverError::Call(e) => e.hint(),
        }
    }
}

/// The file describes one ELB: the ECS service's goes first; the others are noted.
fn main_elb(d: &mut Discovered) {
    let used: Vec<String> = d
        .objects
        .iter()
        .filter(|o| o.tf_type == "aws_ecs_service")
        .flat_map(|o| {
            o.attrs["load_balancer"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|l| l["elb_name"].as_str().map(str::to_string))
        .collect();
    d.objects.sort_by_key(|o| {
        o.tf_type == "aws_elb" && !o.str("name").is_some_and(|n| used.iter().any(|u| u == n))
    });
    let elbs: Vec<String> = d
        .objects
        .iter()
        .filter(|o| o.tf_type == "aws_elb")
        .map(|o| o.address.clone())
        .collect();
    for other in elbs.iter().skip(1) {
        note(&mut d.notes, other, "", "another classic ELB in the VPC: chronous.toml describes the one the ECS service uses; this one is left alone");
    }
}

fn obj(tf_type: &str, address: String, attrs: Value) -> TfObject {
    TfObject {
        address,
        mode: "managed".into(),
        tf_type: tf_type.into(),
        provider: "provider.aws".into(),
        attrs,
    }
}

fn note(out: &mut Vec<Note>, at: &str, attribute: &str, message: impl Into<String>) {
    out.push(Note {
        tf_address: at.into(),
        attribute: attribute.into(),
        message: message.into(),
    });
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Value {
    let m: BTreeMap<&str, &str> = tags
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect();
    json!(m)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Looks like a secret by its name: its value is never read further.
fn secret_name(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    k.contains("PASSWORD") || k.contains("SECRET") || k.contains("TOKEN")
}

impl AwsProvider {
    /// Everything of the estate in the VPC `sel` names, for `chronous init --from-aws`.
    pub async fn discover(
        &self,
        sel: &VpcSelector,
        backup: Option<(String, String)>,
    ) -> Result<Discovered, DiscoverError> {
        let mut d = Discovered {
            vpc_id: String::new(),
            objects: Vec::new(),
            notes: Vec::new(),
        };
        d.vpc_id = self.vpc(sel, &mut d.objects).await?;
        let subnets = self.network(&d.vpc_id, &mut d.objects).await?;
        self.groups(&d.vpc_id, &mut d.objects).await?;
        let elbs = self.elbs(&d.vpc_id, &mut d.objects).await?;
        let (key, profile) = self.asg(&subnets, &mut d).await?;
        let key = self.bastion(&d.vpc_id, &mut d.objects).await?.or(key);
        if let Some(k) = key {
            self.key_pair(&k, &mut d).await?;
        }
        self.roles(profile.as_deref(), &mut d.objects).await?;
        self.ecs(&elbs, &mut d).await?;
        main_elb(&mut d);
        let vpc = d.vpc_id.clone();
        self.db(&vpc, backup, &mut d).await?;
        Ok(d)
    }

    async fn vpc(
        &self,
        sel: &VpcSelector,
        out: &mut Vec<TfObject>,
    ) -> Result<String, DiscoverError> {
        let ec2 = &self.c.ec2;
        let o = self
            .call(|| {
                let r = ec2.describe_vpcs();
                match sel {
                    VpcSelector::Id(i) => r.filters(filter("vpc-id", i)),
                    VpcSelector::Name(n) => r.filters(filter("tag:Name", n)),
                }
                .send()
            })
            .await?;
        let vpcs = o.vpcs();
        let v = match vpcs {
            [] => return Err(DiscoverError::NoVpc(sel.clone(), self.region().into())),
            [v] => v,
            many => {
                return Err(DiscoverError::SeveralVpcs {
                    n: many.len(),
                    sel: sel.clone(),
                    region: self.region().into(),
                    ids: many
                        .iter()
                        .map(|v| v.vpc_id().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        };
        let id = v.vpc_id().unwrap_or_default().to_string();
        let dns = self
            .call(|| {
                ec2.describe_vpc_attribute()
                    .vpc_id(&id)
                    .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
                    .send()
            })
            .await?;
        let arn = format!(
            "arn:aws:ec2:{}:{}:vpc/{id}",
            self.region(),
            v.owner_id().unwrap_or_default()
        );
        out.push(obj(
            "aws_vpc",
            format!("ec2:{id}"),
            json!({"id": id, "arn": arn, "cidr_block": v.cidr_block(),
                "enable_dns_hostnames": dns.enable_dns_hostnames().and_then(|b| b.value()).unwrap_or(false),
                "tags": ec2_tags(v.tags())}),
        ));
        Ok(id)
    }

    /// Subnets, route tables (with their default routes), the internet gateway,
    /// NAT gateways and their addresses. Returns the subnet ids.
    async fn network(&self, vpc: &str, out: &mut Vec<TfObject>) -> Result<Vec<String>, CallError> {
        let ec2 = &self.c.ec2;
        let region = self.region().to_string();
        let o = self
            .call(|| ec2.describe_subnets().filters(filter("vpc-id", vpc)).send())
            .await?;
        let mut ids = Vec::new();
        for s in o.subnets() {
            let id = s.subnet_id().unwrap_or_default();
            ids.push(id.to_string());
            out.push(obj("aws_subnet", format!("ec2:{id}"), json!({"id": id,
                "arn": format!("arn:aws:ec2:{region}:{}:subnet/{id}", s.owner_id().unwrap_or_default()),
                "vpc_id": vpc, "cidr_block": s.cidr_block(), "availability_zone": s.availability_zone(),
                "map_public_ip_on_launch": s.map_public_ip_on_launch().unwrap_or(false), "tags": ec2_tags(s.tags())})));
        }
        let o = self
            .call(|| {
                ec2.describe_internet_gateways()
                    .filters(filter("attachment.vpc-id", vpc))
                    .send()
            })
            .await?;
        for g in o.internet_gateways() {
            let id = g.internet_gateway_id().unwrap_or_default();
            out.push(obj(
                "aws_internet_gateway",
                format!("ec2:{id}"),
                json!({"id": id, "vpc_id": vpc, "tags": ec2_tags(g.tags())}),
            ));
        }
        let o = self
            .call(|| {
                ec2.describe_route_tables()
                    .filters(filter("vpc-id", vpc))
                    .send()
            })
            .await?;
        for t in o.route_tables() {
            let id = t.route_table_id().unwrap_or_default();
            let main = t.associations().iter().any(|a| a.main() == Some(true));
            let routes: Vec<Value> = t
                .routes()
                .iter()
                .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .map(|r| json!({"cidr_block": "0.0.0.0/0",
                    "gateway_id": r.gateway_id().filter(|g| g.starts_with("igw-")).unwrap_or_default(),
                    "nat_gateway_id": r.nat_gateway_id().unwrap_or_default()}))
                .collect();
            let assocs: Vec<_> = t
                .associations()
                .iter()
                .filter(|a| a.main() != Some(true) && a.subnet_id().is_some())
                .collect();
            // The VPC's main table with no route of its own is AWS's, not the estate's.
            if main && assocs.is_empty() && routes.is_empty() {
                continue;
            }
            // Also as Terraform's separate aws_route objects (the VPC module's), which place the NAT gateways.
            for r in &routes {
                out.push(obj(
                    "aws_route",
                    format!("ec2:{id} 0.0.0.0/0"),
                    json!({"id": format!("r-{id}1080289494"),
                    "route_table_id": id, "destination_cidr_block": "0.0.0.0/0",
                    "gateway_id": r["gateway_id"], "nat_gateway_id": r["nat_gateway_id"]}),
                ));
            }
            out.push(obj(
                "aws_route_table",
                format!("ec2:{id}"),
                json!({"id": id, "vpc_id": vpc, "route": routes, "tags": ec2_tags(t.tags())}),
            ));
            for a in assocs {
                let aid = a.route_table_association_id().unwrap_or_default();
                out.push(obj(
                    "aws_route_table_association",
                    format!("ec2:{aid}"),
                    json!({"id": aid, "subnet_id": a.subnet_id(), "route_table_id": id}),
                ));
            }
        }
        let o = self
            .call(|| {
                ec2.describe_nat_gateways()
                    .filter(filter("vpc-id", vpc))
                    .send()
            })
            .await?;
        for n in o.nat_gateways() {
            let state = n.state().map(|s| s.as_str()).unwrap_or_default();
            if state == "deleted" || state == "deleting" || state == "failed" {
                continue;
            }
            let id = n.nat_gateway_id().unwrap_or_default();
            let addr = n.nat_gateway_addresses().first();
            let alloc = addr.and_then(|a| a.allocation_id()).unwrap_or_default();
            let ip = addr.and_then(|a| a.public_ip()).unwrap_or_default();
            out.push(obj(
                "aws_nat_gateway",
                format!("ec2:{id}"),
                json!({"id": id, "allocation_id": alloc,
                "subnet_id": n.subnet_id(), "public_ip": ip, "tags": ec2_tags(n.tags())}),
            ));
            if !alloc.is_empty() {
                let a = self
                    .call(|| ec2.describe_addresses().allocation_ids(alloc).send())
                    .await?;
                let tags = a
                    .addresses()
                    .first()
                    .map(|a| ec2_tags(a.tags()))
                    .unwrap_or(json!({}));
                out.push(obj(
                    "aws_eip",
                    format!("ec2:{alloc}"),
                    json!({"id": alloc, "allocation_id": alloc,
                    "domain": "vpc", "vpc": true, "public_ip": ip, "tags": tags}),
                ));
            }
        }
        Ok(ids)
    }

    /// The VPC's security groups (not its `default`) and their rules, one per
    /// source group, one per permission's CIDR blocks (as Terraform's rules).
    async fn groups(&self, vpc: &str, out: &mut Vec<TfObject>) -> Result<(), CallError> {
        let ec2 = &self.c.ec2;
        let o = self
            .call(|| {
                ec2.describe_security_groups()
                    .filters(filter("vpc-id", vpc))
                    .send()
            })
            .await?;
        for g in o.security_groups() {
            let id = g.group_id().unwrap_or_default();
            if g.group_name() == Some("default") {
                continue;
            }
            out.push(obj("aws_security_group", format!("ec2:{id}"), json!({"id": id,
                "arn": format!("arn:aws:ec2:{}:{}:security-group/{id}", self.region(), g.owner_id().unwrap_or_default()),
                "name": g.group_name(), "description": g.description(), "vpc_id": vpc, "tags": ec2_tags(g.tags())})));
            for (dir, perms) in [
                ("ingress", g.ip_permissions()),
                ("egress", g.ip_permissions_egress()),
            ] {
                for p in perms {
                    let proto = p.ip_protocol().unwrap_or("-1");
                    let (from, to) = if proto == "-1" {
                        (0, 0)
                    } else {
                        (p.from_port().unwrap_or(0), p.to_port().unwrap_or(0))
                    };
                    let mut rule = |cidrs: Vec<&str>, src: Option<&str>, desc: Option<&str>| {
                        let at = format!(
                            "ec2:{id} {dir} {proto} {from}-{to} {}",
                            src.map(str::to_string).unwrap_or_else(|| cidrs.join(","))
                        );
                        out.push(obj("aws_security_group_rule", at.clone(), json!({"id": at, "type": dir,
                            "security_group_id": id, "protocol": proto, "from_port": from, "to_port": to,
                            "cidr_blocks": cidrs, "source_security_group_id": src, "description": desc,
                            "ipv6_cidr_blocks": [], "prefix_list_ids": [], "self": false})));
                    };
                    for pair in p.user_id_group_pairs() {
                        rule(vec![], pair.group_id(), pair.description());
                    }
                    if !p.ip_ranges().is_empty() {
                        let cidrs: Vec<&str> =
                            p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect();
                        rule(
                            cidrs,
                            None,
                            p.ip_ranges().first().and_then(|r| r.description()),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The classic ELBs in the VPC; returns their names.
    async fn elbs(&self, vpc: &str, out: &mut Vec<TfObject>) -> Result<Vec<String>, CallError> {
        let elb = &self.c.elb;
        let o = self.call(|| elb.describe_load_balancers().send()).await?;
        let mut names = Vec::new();
        for lb in o
            .load_balancer_descriptions()
            .iter()
            .filter(|l| l.vpc_id() == Some(vpc))
        {
            let name = lb.load_balancer_name().unwrap_or_default();
            names.push(name.to_string());
            let t = self
                .call(|| elb.describe_tags().load_balancer_names(name).send())
                .await?;
            let tags: BTreeMap<&str, &str> = t
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .map(|t| (t.key(), t.value().unwrap_or_default()))
                .collect();
            let listener: Vec<Value> = lb
                .listener_descriptions()
                .iter()
                .filter_map(|l| l.listener())
                .map(|l| json!({"lb_port": l.load_balancer_port(), "lb_protocol": l.protocol().to_lowercase(),
                    "instance_port": l.instance_port(), "instance_protocol": l.instance_protocol().unwrap_or_default().to_lowercase()}))
                .collect();
            let hc: Vec<Value> = lb
                .health_check()
                .map(|h| json!({"target": h.target(), "interval": h.interval(), "timeout": h.timeout(),
                    "healthy_threshold": h.healthy_threshold(), "unhealthy_threshold": h.unhealthy_threshold()}))
                .into_iter()
                .collect();
            out.push(obj("aws_elb", format!("elb:{name}"), json!({"id": name,
                "arn": format!("arn:aws:elasticloadbalancing:{}:{}:loadbalancer/{name}", self.region(), self.account_of_vpc(out)),
                "name": name, "dns_name": lb.dns_name(), "internal": lb.scheme() == Some("internal"),
                "subnets": lb.subnets(), "security_groups": lb.security_groups(), "listener": listener,
                "health_check": hc, "tags": tags})));
        }
        Ok(names)
    }

    /// The account, from the VPC's ARN already read.
    fn account_of_vpc(&self, out: &[TfObject]) -> String {
        out.iter()
            .find(|o| o.tf_type == "aws_vpc")
            .and_then(|o| o.str("arn"))
            .and_then(|a| a.split(':').nth(4))
            .unwrap_or_default()
            .to_string()
    }

    /// The auto scaling group whose subnets are the VPC's, and its launch
    /// configuration. Returns its key pair's name and instance profile.
    async fn asg(
        &self,
        subnets: &[String],
        d: &mut Discovered,
    ) -> Result<(Option<String>, Option<String>), CallError> {
        let asc = &self.c.autoscaling;
        let o = self
            .call(|| asc.describe_auto_scaling_groups().send())
            .await?;
        let mut groups = o.auto_scaling_groups().iter().filter(|g| {
            g.vpc_zone_identifier()
                .unwrap_or_default()
                .split(',')
                .any(|s| subnets.iter().any(|x| x == s.trim()))
        });
        let Some(g) = groups.next() else {
            return Ok((None, None));
        };
        for other in groups {
            note(&mut d.notes, &format!("autoscaling:{}", other.auto_scaling_group_name().unwrap_or_default()), "", "a second auto scaling group in the VPC: chronous.toml describes one cluster; this one is not described");
        }
        let name = g.auto_scaling_group_name().unwrap_or_default();
        let zones: Vec<&str> = g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        let lc = g.launch_configuration_name().unwrap_or_default();
        d.objects.push(obj("aws_autoscaling_group", format!("autoscaling:{name}"), json!({"id": name,
            "arn": g.auto_scaling_group_arn(), "name": name, "launch_configuration": lc,
            "min_size": g.min_size(), "max_size": g.max_size(), "desired_capacity": g.desired_capacity(),
            "vpc_zone_identifier": zones, "health_check_type": g.health_check_type()})));
        if let Some(t) = g.launch_template() {
            note(&mut d.notes, &format!("autoscaling:{name}"), "launch_template", format!("it launches from the launch template {}: its instance type and security groups are not read; check [cluster] in the file", t.launch_template_name().or(t.launch_template_id()).unwrap_or_default()));
        }
        if lc.is_empty() {
            return Ok((None, None));
        }
        let o = self
            .call(|| {
                asc.describe_launch_configurations()
                    .launch_configuration_names(lc)
                    .send()
            })
            .await?;
        let Some(l) = o.launch_configurations().first() else {
            return Ok((None, None));
        };
        d.objects.push(obj("aws_launch_configuration", format!("autoscaling:{lc}"), json!({"id": lc,
            "arn": l.launch_configuration_arn(), "name": lc, "image_id": l.image_id(), "instance_type": l.instance_type(),
            "key_name": l.key_name().unwrap_or_default(), "iam_instance_profile": l.iam_instance_profile().unwrap_or_default(),
            "security_groups": l.security_groups(), "user_data": l.user_data().unwrap_or_default()})));
        let profile = l
            .iam_instance_profile()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        Ok((
            l.key_name().filter(|k| !k.is_empty()).map(str::to_string),
            profile,
        ))
    }

    /// The bastion: a running instance of the VPC that no auto scaling group
    /// launched and that has a public address. Returns its key pair's name.
    async fn bastion(
        &self,
        vpc: &str,
        out: &mut Vec<TfObject>,
    ) -> Result<Option<String>, CallError> {
        let ec2 = &self.c.ec2;
        let o = self
            .call(|| {
                ec2.describe_instances()
                    .filters(filter("vpc-id", vpc))
                    .filters(
                        Filter::builder()
                            .name("instance-state-name")
                            .values("pending")
                            .values("running")
                            .values("stopped")
                            .build(),
                    )
                    .send()
            })
            .await?;
        let found = o
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| {
                !i.tags()
                    .iter()
                    .any(|t| t.key() == Some("aws:autoscaling:groupName"))
                    && i.public_ip_address().is_some()
            });
        let Some(i) = found else {
            return Ok(None);
        };
        let id = i.instance_id().unwrap_or_default();
        let mut groups: Vec<&str> = i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .collect();
        if groups.is_empty() {
            // Launched with a network interface: its groups are the interface's.
            groups = i
                .network_interfaces()
                .iter()
                .flat_map(|n| n.groups())
                .filter_map(|g| g.group_id())
                .collect();
        }
        out.push(obj("aws_instance", format!("ec2:{id}"), json!({"id": id,
            "arn": format!("arn:aws:ec2:{}:{}:instance/{id}", self.region(), self.account_of_vpc(out)),
            "ami": i.image_id(), "instance_type": i.instance_type().map(|t| t.as_str()), "subnet_id": i.subnet_id(),
            "vpc_security_group_ids": groups, "key_name": i.key_name(), "associate_public_ip_address": true,
            "private_ip": i.private_ip_address(), "public_ip": i.public_ip_address(), "tags": ec2_tags(i.tags())})));
        Ok(i.key_name().map(str::to_string))
    }

    async fn key_pair(&self, name: &str, d: &mut Discovered) -> Result<(), CallError> {
        let ec2 = &self.c.ec2;
        let o = self
            .call(|| {
                ec2.describe_key_pairs()
                    .key_names(name)
                    .include_public_key(true)
                    .send()
            })
            .await?;
        let Some(k) = o.key_pairs().first() else {
            return Ok(());
        };
        let at = format!("ec2:{name}");
        if k.public_key().unwrap_or_default().is_empty() {
            note(&mut d.notes, &at, "public_key", format!("AWS did not return the public key: put it in {name}.pub beside chronous.toml before the first plan"));
        }
        d.objects.push(obj("aws_key_pair", at, json!({"id": name, "key_name": name,
            "public_key": k.public_key().unwrap_or_default().trim(), "fingerprint": k.key_fingerprint()})));
        Ok(())
    }
}

impl AwsProvider {
    /// A role by name, as Terraform's aws_iam_role (once).
    async fn role(&self, name: &str, out: &mut Vec<TfObject>) -> Result<(), CallError> {
        if name.is_empty()
            || out
                .iter()
                .any(|o| o.tf_type == "aws_iam_role" && o.str("name") == Some(name))
        {
            return Ok(());
        }
        let iam = &self.c.iam;
        let o = self.call(|| iam.get_role().role_name(name).send()).await?;
        if let Some(r) = o.role() {
            out.push(obj("aws_iam_role", format!("iam:{name}"), json!({"id": name, "arn": r.arn(),
                "name": name, "path": r.path(), "assume_role_policy": crate::resources::common::url_decode(r.assume_role_policy_document().unwrap_or_default())})));
        }
        Ok(())
    }

    /// The instance profile of the launch configuration and its role; the role RDS assumes for S3.
    async fn roles(&self, profile: Option<&str>, out: &mut Vec<TfObject>) -> Result<(), CallError> {
        let iam = &self.c.iam;
        if let Some(p) = profile {
            let o = self
                .call(|| iam.get_instance_profile().instance_profile_name(p).send())
                .await?;
            if let Some(ip) = o.instance_profile() {
                let role = ip
                    .roles()
                    .first()
                    .map(|r| r.role_name().to_string())
                    .unwrap_or_default();
                out.push(obj(
                    "aws_iam_instance_profile",
                    format!("iam:{p}"),
                    json!({"id": p, "arn": ip.arn(),
                    "name": p, "role": role, "roles": [role.clone()], "path": ip.path()}),
                ));
                self.role(&role, out).await?;
            }
        }
        // The role RDS assumes to read the backup: trusted by rds.amazonaws.com.
        let o = self.call(|| iam.list_roles().send()).await?;
        let rds: Vec<String> = o
            .roles()
            .iter()
            .filter(|r| {
                let doc = crate::resources::common::url_decode(
                    r.assume_role_policy_document().unwrap_or_default(),
                );
                doc.contains("rds.amazonaws.com") && !doc.contains("ec2.amazonaws.com")
            })
            .map(|r| r.role_name().to_string())
            .collect();
        if let [one] = rds.as_slice() {
            self.role(one, out).await?;
        }
        Ok(())
    }

    /// The ECS service behind one of the VPC's ELBs, its cluster, task
    /// definition, image repository and log group.
    async fn ecs(&self, elbs: &[String], d: &mut Discovered) -> Result<(), CallError> {
        let ecs = &self.c.ecs;
        let clusters = self.call(|| ecs.list_clusters().send()).await?;
        let mut found = None;
        for c in clusters.cluster_arns() {
            let l = self.call(|| ecs.list_services().cluster(c).send()).await?;
            if l.service_arns().is_empty() {
                continue;
            }
            let s = self
                .call(|| {
                    ecs.describe_services()
                        .cluster(c)
                        .set_services(Some(l.service_arns().to_vec()))
                        .send()
                })
                .await?;
            if let Some(svc) = s.services().iter().find(|s| {
                s.load_balancers().iter().any(|lb| {
                    lb.load_balancer_name()
                        .is_some_and(|n| elbs.iter().any(|e| e == n))
                })
            }) {
                found = Some((c.to_string(), svc.clone()));
                break;
            }
        }
        let Some((cluster, svc)) = found else {
            return Ok(());
        };
        let cname = cluster.rsplit('/').next().unwrap_or(&cluster).to_string();
        d.objects.push(obj(
            "aws_ecs_cluster",
            format!("ecs:{cname}"),
            json!({"id": cluster, "arn": cluster, "name": cname}),
        ));
        let dc = svc.deployment_configuration();
        if dc.is_none() {
            note(&mut d.notes, &format!("ecs:{}", svc.service_name().unwrap_or_default()), "deployment_configuration", "ECS did not report the deployment configuration: the file says ECS's defaults (minimum 100 %, maximum 200 %); check service.minimum_healthy_percent and maximum_percent");
        }
        let lbs: Vec<Value> = svc.load_balancers().iter().map(|l| json!({"elb_name": l.load_balancer_name(),
            "container_name": l.container_name(), "container_port": l.container_port(), "target_group_arn": ""})).collect();
        let sname = svc.service_name().unwrap_or_default();
        d.objects.push(obj("aws_ecs_service", format!("ecs:{sname}"), json!({"id": svc.service_arn(), "arn": svc.service_arn(),
            "name": sname, "cluster": cluster, "task_definition": svc.task_definition(), "desired_count": svc.desired_count(),
            "launch_type": svc.launch_type().map(|l| l.as_str()), "iam_role": svc.role_arn(),
            "deployment_maximum_percent": dc.and_then(|c| c.maximum_percent()).unwrap_or(200),
            "deployment_minimum_healthy_percent": dc.and_then(|c| c.minimum_healthy_percent()).unwrap_or(100),
            "load_balancer": lbs})));
        if let Some(role) = svc.role_arn() {
            let name = role.rsplit('/').next().unwrap_or(role).to_string();
            self.role(&name, &mut d.objects).await?;
        }
        let Some(td_arn) = svc.task_definition() else {
            return Ok(());
        };
        let o = self
            .call(|| {
                ecs.describe_task_definition()
                    .task_definition(td_arn)
                    .send()
            })
            .await?;
        let Some(td) = o.task_definition() else {
            return Ok(());
        };
        let at = format!("ecs:{}:{}", td.family().unwrap_or_default(), td.revision());
        let defs: Vec<Value> = td.container_definitions().iter().map(|c| {
            let env: Vec<Value> = c.environment().iter().map(|e| {
                let k = e.name().unwrap_or_default();
                // Never carried further than its name.
                let v = if secret_name(k) { "" } else { e.value().unwrap_or_default() };
                json!({"name": k, "value": v})
            }).collect();
            let ports: Vec<Value> = c.port_mappings().iter().map(|p| json!({"containerPort": p.container_port(),
                "hostPort": p.host_port().unwrap_or(0), "protocol": p.protocol().map(|p| p.as_str()).unwrap_or("tcp")})).collect();
            let logs = c.log_configuration().map(|l| json!({"logDriver": l.log_driver().as_str(), "options": l.options()}));
            json!({"name": c.name(), "image": c.image(), "essential": c.essential().unwrap_or(true), "cpu": c.cpu(),
                "memory": c.memory(), "portMappings": ports, "environment": env, "logConfiguration": logs})
        }).collect();
        let family = td.family().unwrap_or_default();
        d.objects.push(obj("aws_ecs_task_definition", at, json!({"id": family, "arn": td.task_definition_arn(),
            "family": family, "revision": td.revision(), "network_mode": td.network_mode().map(|m| m.as_str()),
            "requires_compatibilities": td.requires_compatibilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "execution_role_arn": td.execution_role_arn().unwrap_or_default(),
            "container_definitions": Value::Array(defs.clone()).to_string()})));
        let first = defs.first().cloned().unwrap_or(Value::Null);
        let image = first["image"].as_str().unwrap_or_default();
        let repo = image
            .split(':')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if image.contains(".dkr.ecr.") && !repo.is_empty() {
            let ecr = &self.c.ecr;
            if let Ok(o) = self
                .call(|| ecr.describe_repositories().repository_names(&repo).send())
                .await
            {
                if let Some(r) = o.repositories().first() {
                    d.objects.push(obj(
                        "aws_ecr_repository",
                        format!("ecr:{repo}"),
                        json!({"id": repo, "arn": r.repository_arn(),
                        "name": repo, "repository_url": r.repository_uri()}),
                    ));
                }
            }
        }
        if let Some(group) = first["logConfiguration"]["options"]["awslogs-group"].as_str() {
            let logs = &self.c.logs;
            let o = self
                .call(|| {
                    logs.describe_log_groups()
                        .log_group_name_prefix(group)
                        .send()
                })
                .await?;
            if let Some(g) = o
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(group))
            {
                d.objects.push(obj("aws_cloudwatch_log_group", format!("logs:{group}"), json!({"id": group,
                    "arn": g.arn(), "name": group, "retention_in_days": g.retention_in_days().unwrap_or(0)})));
            }
        }
        Ok(())
    }

    /// The RDS instance in the VPC, its subnet group, and the backup it was
    /// restored from where it can be found (`backup`: bucket and key given;
    /// else a `.tar.gz`/`.xbstream` object of a bucket named like the estate).
    async fn db(
        &self,
        vpc: &str,
        backup: Option<(String, String)>,
        d: &mut Discovered,
    ) -> Result<(), CallError> {
        let rds = &self.c.rds;
        let o = self.call(|| rds.describe_db_instances().send()).await?;
        let Some(db) = o
            .db_instances()
            .iter()
            .find(|i| i.db_subnet_group().and_then(|g| g.vpc_id()) == Some(vpc))
        else {
            return Ok(());
        };
        let id = db.db_instance_identifier().unwrap_or_default();
        let at = format!("rds:{id}");
        if let Some(g) = db.db_subnet_group() {
            let name = g.db_subnet_group_name().unwrap_or_default();
            let subnets: Vec<&str> = g
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier())
                .collect();
            let arn = g
                .db_subnet_group_arn()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "arn:aws:rds:{}:{}:subgrp:{name}",
                        self.region(),
                        self.account_of_vpc(&d.objects)
                    )
                });
            d.objects.push(obj("aws_db_subnet_group", format!("rds:{name}"), json!({"id": name, "arn": arn,
                "name": name, "description": g.db_subnet_group_description(), "subnet_ids": subnets})));
        }
        let backup = match backup {
            Some(b) => Some(b),
            None => self.find_backup(id).await?,
        };
        let s3_import: Vec<Value> = match &backup {
            Some((bucket, key)) => {
                let prefix = key.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
                d.objects.push(obj("aws_s3_bucket", format!("s3:{bucket}"), json!({"id": bucket,
                    "arn": format!("arn:aws:s3:::{bucket}"), "bucket": bucket, "region": self.region()})));
                d.objects.push(obj(
                    "aws_s3_bucket_object",
                    format!("s3:{bucket}/{key}"),
                    json!({"id": key,
                    "bucket": bucket, "key": key}),
                ));
                note(&mut d.notes, &at, "s3_import", format!("RDS does not record that it was restored from S3: the file says it was restored from s3://{bucket}/{key} (MySQL {})", db.engine_version().unwrap_or_default()));
                vec![
                    json!({"bucket_name": bucket, "bucket_prefix": prefix, "source_engine": "mysql",
                    "source_engine_version": db.engine_version()}),
                ]
            }
            None => vec![],
        };
        note(&mut d.notes, &at, "skip_final_snapshot", "RDS does not say whether a final snapshot is taken on delete: the file says false (a snapshot is taken); change database.skip_final_snapshot if you mean otherwise");
        let groups: Vec<&str> = db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect();
        let ep = db.endpoint();
        d.objects.push(obj("aws_db_instance", at, json!({"id": id, "arn": db.db_instance_arn(), "identifier": id,
            "engine": db.engine(), "engine_version": db.engine_version(), "instance_class": db.db_instance_class(),
            "allocated_storage": db.allocated_storage(), "username": db.master_username(), "db_name": db.db_name(),
            "db_subnet_group_name": db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
            "vpc_security_group_ids": groups, "skip_final_snapshot": false,
            "publicly_accessible": db.publicly_accessible(), "address": ep.and_then(|e| e.address()),
            "port": ep.and_then(|e| e.port()), "s3_import": s3_import})));
        Ok(())
    }

    /// A bucket whose name starts like the database's identifier (`cak-`) and
    /// holds a backup-looking object (`.tar.gz`, `.xbstream`, `.tar`).
    async fn find_backup(&self, db: &str) -> Result<Option<(String, String)>, CallError> {
        let s3 = &self.c.s3;
        let o = self.call(|| s3.list_buckets().send()).await?;
        let stem = format!("{db}-");
        for b in o
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&stem) || n.contains("backup"))
        {
            let l = self.call(|| s3.list_objects_v2().bucket(b).send()).await?;
            let hit = l.contents().iter().filter_map(|c| c.key()).find(|k| {
                k.ends_with(".tar.gz")
                    || k.ends_with(".xbstream")
                    || k.ends_with(".tar")
                    || k.ends_with(".xbstream.gz")
            });
            if let Some(k) = hit {
                return Ok(Some((b.to_string(), k.to_string())));
            }
        }
        Ok(None)
    }
}
