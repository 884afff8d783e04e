//! EC2 objects: VPC, subnets, gateways, EIPs, route tables, security groups
//! and their rules, key pair, AMI lookup, the bastion, the launch template.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, InstanceStateName, InstanceType, IpPermission,
    IpRange, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, UserIdGroupPair,
};
use base64::Engine as _;
use chronous_core::provider::{Observed, ProviderError};
use chronous_core::resources::*;
use chronous_core::state::ResourceRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::call::{found, CallError};
use crate::{like_recorded, observed, spec_err, user_tags, AwsProvider, TAG_ADDRESS, TAG_ENV};

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|s| s.to_string()).collect()))
        .build()
}

fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
}

fn out(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The protocol as the spec writes it (AWS may answer with a number).
fn proto(p: &str) -> String {
    match p {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        other => other.to_lowercase(),
    }
}

impl AwsProvider {
    fn ec2_tags(&self, address: &str, extra: &BTreeMap<String, String>) -> Vec<Tag> {
        self.tags(address, extra)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn tag_spec(
        &self,
        rt: ResourceType,
        address: &str,
        extra: &BTreeMap<String, String>,
    ) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(self.ec2_tags(address, extra)))
            .build()
    }

    fn own_filters(&self, address: &str) -> Vec<Filter> {
        vec![
            filter(&format!("tag:{TAG_ENV}"), &[&self.opts.env_name]),
            filter(&format!("tag:{TAG_ADDRESS}"), &[address]),
        ]
    }

    /// Make the EC2 tags of `id` what `want` says (chronous's own tags stay).
    async fn sync_tags(
        &self,
        address: &str,
        id: &str,
        have: &BTreeMap<String, String>,
        want: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let gone: Vec<Tag> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| Tag::builder().key(k).build())
            .collect();
        if !gone.is_empty() {
            self.call(|| {
                self.c
                    .ec2
                    .delete_tags()
                    .resources(id)
                    .set_tags(Some(gone.clone()))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "remove tags"))?;
        }
        let set = self.ec2_tags(address, want);
        self.call(|| {
            self.c
                .ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(set.clone()))
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "set tags"))?;
        Ok(())
    }

    /// Read an object just made: AWS is eventually consistent, so a describe
    /// right after a create may not see it yet.
    async fn settle(
        &self,
        address: &str,
        kind: Kind,
        id: &str,
        attrs: &Value,
    ) -> Result<Observed, ProviderError> {
        for i in 0..20 {
            if let Some(o) = Box::pin(self.ec2_read_id(address, kind, id, attrs)).await? {
                return Ok(o);
            }
            tokio::time::sleep(Duration::from_millis(250 * (i + 1).min(8))).await;
        }
        Err(ProviderError::new(format!(
            "{address}: {id} was created but AWS does not describe it"
        ))
        .with_hint("run apply again: chronous adopts it once AWS shows it")
        .retryable())
    }

    pub(crate) async fn ec2_read(
        &self,
        r: &ResourceRecord,
        _spec: &Spec,
    ) -> Result<Option<Observed>, ProviderError> {
        Box::pin(self.ec2_read_id(&r.address, r.kind, &r.id, &r.attrs)).await
    }

    /// Describe object `id` of `kind` in the shape of its spec. `prior` gives
    /// what AWS does not keep (file paths, orderings).
    async fn ec2_read_id(
        &self,
        address: &str,
        kind: Kind,
        id: &str,
        prior: &Value,
    ) -> Result<Option<Observed>, ProviderError> {
        let ec2 = &self.c.ec2;
        let pstr = |k: &str| {
            prior
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let rd = |e: CallError| e.provider(address, "describe it");
        Ok(match kind {
            Kind::Vpc => {
                let Some(o) = found(self.call(|| ec2.describe_vpcs().vpc_ids(id).send()).await)
                    .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(v) = o.vpcs().first() else {
                    return Ok(None);
                };
                let dns = self
                    .call(|| {
                        ec2.describe_vpc_attribute()
                            .vpc_id(id)
                            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
                            .send()
                    })
                    .await
                    .map_err(rd)?;
                let spec = VpcSpec {
                    cidr_block: v.cidr_block().unwrap_or_default().into(),
                    enable_dns_hostnames: dns
                        .enable_dns_hostnames()
                        .and_then(|b| b.value())
                        .unwrap_or(false),
                    tags: user_tags(tag_pairs(v.tags())),
                };
                let arn = format!(
                    "arn:aws:ec2:{}:{}:vpc/{id}",
                    self.region(),
                    v.owner_id().unwrap_or_default()
                );
                Some(observed(
                    id,
                    &spec,
                    out(&[("id", json!(id)), ("arn", json!(arn))]),
                ))
            }
            Kind::Subnet => {
                let Some(o) = found(
                    self.call(|| ec2.describe_subnets().subnet_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(s) = o.subnets().first() else {
                    return Ok(None);
                };
                let spec = SubnetSpec {
                    vpc_id: s.vpc_id().unwrap_or_default().into(),
                    cidr_block: s.cidr_block().unwrap_or_default().into(),
                    availability_zone: s.availability_zone().unwrap_or_default().into(),
                    map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
                    tags: user_tags(tag_pairs(s.tags())),
                };
                let arn = s.subnet_arn().map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "arn:aws:ec2:{}:{}:subnet/{id}",
                        self.region(),
                        s.owner_id().unwrap_or_default()
                    )
                });
                Some(observed(
                    id,
                    &spec,
                    out(&[("id", json!(id)), ("arn", json!(arn))]),
                ))
            }
            Kind::InternetGateway => {
                let Some(o) = found(
                    self.call(|| {
                        ec2.describe_internet_gateways()
                            .internet_gateway_ids(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(g) = o.internet_gateways().first() else {
                    return Ok(None);
                };
                let spec = InternetGatewaySpec {
                    vpc_id: g
                        .attachments()
                        .first()
                        .and_then(|a| a.vpc_id())
                        .unwrap_or_default()
                        .into(),
                    tags: user_tags(tag_pairs(g.tags())),
                };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::Eip => {
                let Some(o) = found(
                    self.call(|| ec2.describe_addresses().allocation_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(a) = o.addresses().first() else {
                    return Ok(None);
                };
                let spec = EipSpec {
                    domain: a
                        .domain()
                        .map(|d| d.as_str().to_string())
                        .unwrap_or_else(|| "vpc".into()),
                    tags: user_tags(tag_pairs(a.tags())),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("id", json!(id)),
                        ("public_ip", json!(a.public_ip().unwrap_or_default())),
                    ]),
                ))
            }
            Kind::NatGateway => {
                let Some(o) = found(
                    self.call(|| ec2.describe_nat_gateways().nat_gateway_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(n) = o.nat_gateways().first() else {
                    return Ok(None);
                };
                let state = n.state().map(|s| s.as_str()).unwrap_or_default();
                if state == "deleted" || state == "deleting" || state == "failed" {
                    return Ok(None);
                }
                let spec = NatGatewaySpec {
                    subnet_id: n.subnet_id().unwrap_or_default().into(),
                    allocation_id: n
                        .nat_gateway_addresses()
                        .first()
                        .and_then(|a| a.allocation_id())
                        .unwrap_or_default()
                        .into(),
                    tags: user_tags(tag_pairs(n.tags())),
                };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::RouteTable => {
                let Some(o) = found(
                    self.call(|| ec2.describe_route_tables().route_table_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(t) = o.route_tables().first() else {
                    return Ok(None);
                };
                let mut routes: Vec<Route> = t
                    .routes()
                    .iter()
                    .filter(|r| {
                        r.gateway_id() != Some("local")
                            && r.origin().map(|o| o.as_str()) != Some("CreateRouteTable")
                    })
                    .filter_map(|r| {
                        Some(Route {
                            cidr_block: r.destination_cidr_block()?.to_string(),
                            gateway_id: r.gateway_id().map(str::to_string),
                            nat_gateway_id: r.nat_gateway_id().map(str::to_string),
                        })
                    })
                    .collect();
                let rec: Vec<Route> = prior
                    .get("routes")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                let (mut a, mut b) = (routes.clone(), rec.clone());
                a.sort();
                b.sort();
                if a == b {
                    routes = rec;
                }
                let spec = RouteTableSpec {
                    vpc_id: t.vpc_id().unwrap_or_default().into(),
                    routes,
                    tags: user_tags(tag_pairs(t.tags())),
                };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::RouteTableAssociation => {
                let Some(o) = found(
                    self.call(|| {
                        ec2.describe_route_tables()
                            .filters(filter("association.route-table-association-id", &[id]))
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(a) = o
                    .route_tables()
                    .iter()
                    .flat_map(|t| t.associations())
                    .find(|a| a.route_table_association_id() == Some(id))
                else {
                    return Ok(None);
                };
                let spec = RouteTableAssociationSpec {
                    subnet_id: a.subnet_id().unwrap_or_default().into(),
                    route_table_id: a.route_table_id().unwrap_or_default().into(),
                };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::SecurityGroup => {
                let Some(o) = found(
                    self.call(|| ec2.describe_security_groups().group_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(g) = o.security_groups().first() else {
                    return Ok(None);
                };
                let spec = SecurityGroupSpec {
                    name: g.group_name().unwrap_or_default().into(),
                    description: g.description().unwrap_or_default().into(),
                    vpc_id: g.vpc_id().unwrap_or_default().into(),
                    tags: user_tags(tag_pairs(g.tags())),
                };
                let arn = g
                    .security_group_arn()
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        format!(
                            "arn:aws:ec2:{}:{}:security-group/{id}",
                            self.region(),
                            g.owner_id().unwrap_or_default()
                        )
                    });
                Some(observed(
                    id,
                    &spec,
                    out(&[("id", json!(id)), ("arn", json!(arn))]),
                ))
            }
            Kind::SecurityGroupRule => {
                let want: SecurityGroupRuleSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let gid = want.security_group_id.clone();
                let Some(o) = found(
                    self.call(|| ec2.describe_security_groups().group_ids(gid.clone()).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(g) = o.security_groups().first() else {
                    return Ok(None);
                };
                let perms = if want.direction == "egress" {
                    g.ip_permissions_egress()
                } else {
                    g.ip_permissions()
                };
                let same = |p: &&IpPermission| {
                    proto(p.ip_protocol().unwrap_or_default()) == want.protocol
                        && (want.protocol == "-1"
                            || (p.from_port().unwrap_or(-1) as i64 == want.from_port
                                && p.to_port().unwrap_or(-1) as i64 == want.to_port))
                };
                let mut cidrs = Vec::new();
                let mut description: Option<String> = None;
                let mut source = None;
                for p in perms.iter().filter(same) {
                    match &want.source_security_group_id {
                        Some(src) => {
                            if let Some(pair) = p
                                .user_id_group_pairs()
                                .iter()
                                .find(|x| x.group_id() == Some(src))
                            {
                                source = Some(src.clone());
                                description =
                                    Some(pair.description().unwrap_or_default().to_string());
                            }
                        }
                        None => {
                            for r in p.ip_ranges() {
                                let c = r.cidr_ip().unwrap_or_default();
                                if want.cidr_blocks.iter().any(|w| w == c)
                                    && !cidrs.contains(&c.to_string())
                                {
                                    cidrs.push(c.to_string());
                                    if description.is_none() {
                                        description =
                                            Some(r.description().unwrap_or_default().to_string());
                                    }
                                }
                            }
                        }
                    }
                }
                if source.is_none() && cidrs.is_empty() {
                    return Ok(None);
                }
                let cidr_blocks = like_recorded(cidrs, prior.get("cidr_blocks"));
                let spec = SecurityGroupRuleSpec {
                    cidr_blocks,
                    source_security_group_id: source,
                    description: description.unwrap_or_default(),
                    ..want
                };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::KeyPair => {
                let Some(o) = found(
                    self.call(|| ec2.describe_key_pairs().key_names(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(k) = o.key_pairs().first() else {
                    return Ok(None);
                };
                let spec = KeyPairSpec {
                    key_name: k.key_name().unwrap_or_default().into(),
                    public_key: pstr("public_key"),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("id", json!(k.key_pair_id().unwrap_or(id))),
                        ("key_name", json!(k.key_name().unwrap_or(id))),
                        (
                            "fingerprint",
                            json!(k.key_fingerprint().unwrap_or_default()),
                        ),
                    ]),
                ))
            }
            Kind::AmiLookup => {
                let spec: AmiLookupSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let (ami, name) = self.newest_ami(address, &spec).await?;
                Some(observed(
                    ami.clone(),
                    &spec,
                    out(&[("id", json!(ami)), ("name", json!(name))]),
                ))
            }
            Kind::Instance => {
                let Some(o) = found(
                    self.call(|| ec2.describe_instances().instance_ids(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(i) = o.reservations().iter().flat_map(|r| r.instances()).next() else {
                    return Ok(None);
                };
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .cloned()
                    .unwrap_or(InstanceStateName::Pending);
                if matches!(
                    state,
                    InstanceStateName::Terminated | InstanceStateName::ShuttingDown
                ) {
                    return Ok(None);
                }
                let running = matches!(
                    state,
                    InstanceStateName::Running | InstanceStateName::Pending
                );
                let mut sgs: Vec<String> = i
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect();
                if sgs.is_empty() {
                    // Groups given on the network interface (some endpoints report them only there).
                    sgs = i
                        .network_interfaces()
                        .iter()
                        .flat_map(|n| n.groups())
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect();
                }
                let spec = InstanceSpec {
                    ami: i.image_id().unwrap_or_default().into(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    subnet_id: i.subnet_id().unwrap_or_default().into(),
                    vpc_security_group_ids: like_recorded(sgs, prior.get("vpc_security_group_ids")),
                    key_name: i.key_name().map(str::to_string),
                    associate_public_ip_address: if running {
                        i.public_ip_address().is_some()
                    } else {
                        prior
                            .get("associate_public_ip_address")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    },
                    tags: user_tags(tag_pairs(i.tags())),
                };
                let mut o = out(&[
                    ("id", json!(id)),
                    (
                        "private_ip",
                        json!(i.private_ip_address().unwrap_or_default()),
                    ),
                ]);
                if let Some(p) = i.public_ip_address() {
                    o.insert("public_ip".into(), json!(p));
                }
                Some(observed(id, &spec, o))
            }
            Kind::LaunchTemplate => {
                let Some(o) = found(
                    self.call(|| {
                        ec2.describe_launch_templates()
                            .launch_template_ids(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(t) = o.launch_templates().first() else {
                    return Ok(None);
                };
                let name = t.launch_template_name().unwrap_or_default().to_string();
                let v = self
                    .call(|| {
                        ec2.describe_launch_template_versions()
                            .launch_template_id(id)
                            .versions("$Latest")
                            .send()
                    })
                    .await
                    .map_err(rd)?;
                let Some(d) = v
                    .launch_template_versions()
                    .first()
                    .and_then(|x| x.launch_template_data())
                else {
                    return Ok(None);
                };
                let prefix = pstr("name_prefix");
                let sgs: Vec<String> = d.security_group_ids().to_vec();
                let profile = d
                    .iam_instance_profile()
                    .and_then(|p| p.arn().or(p.name()))
                    .unwrap_or_default()
                    .to_string();
                let user_data = d
                    .user_data()
                    .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                let spec = LaunchTemplateSpec {
                    name_prefix: if name.starts_with(&prefix) {
                        prefix
                    } else {
                        name.clone()
                    },
                    image_id: d.image_id().unwrap_or_default().into(),
                    instance_type: d
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    key_name: d.key_name().map(str::to_string),
                    iam_instance_profile: profile,
                    security_group_ids: like_recorded(sgs, prior.get("security_group_ids")),
                    user_data,
                    tags: user_tags(tag_pairs(t.tags())),
                };
                let latest = t.latest_version_number().unwrap_or(1);
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("id", json!(id)),
                        ("name", json!(name)),
                        ("latest_version", json!(latest)),
                    ]),
                ))
            }
            _ => None,
        })
    }

    /// The newest image matching the name pattern of the given owners (by
    /// creation date, then by name: emulators give every image the same date).
    pub(crate) async fn newest_ami(
        &self,
        address: &str,
        spec: &AmiLookupSpec,
    ) -> Result<(String, String), ProviderError> {
        if let Some(param) = &spec.ssm_parameter {
            return self.ami_from_parameter(address, param).await;
        }
        let o = self
            .call(|| {
                self.c
                    .ec2
                    .describe_images()
                    .set_owners(Some(spec.owners.clone()))
                    .filters(filter("name", &[&spec.name_pattern]))
                    .filters(filter("state", &["available"]))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "look up the AMI"))?;
        let best = o
            .images()
            .iter()
            .max_by(|a, b| (a.creation_date(), a.name()).cmp(&(b.creation_date(), b.name())))
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "{address}: no AMI named like `{}` from owner(s) {} in {}",
                    spec.name_pattern,
                    spec.owners.join(", "),
                    self.region()
                ))
                .with_hint("check cluster.ami (name pattern and owner) and the region")
            })?;
        Ok((
            best.image_id().unwrap_or_default().to_string(),
            best.name().unwrap_or_default().to_string(),
        ))
    }

    /// The AMI whose id the SSM parameter holds (as AWS publishes the
    /// recommended ECS-optimized AMI), with its name.
    async fn ami_from_parameter(
        &self,
        address: &str,
        param: &str,
    ) -> Result<(String, String), ProviderError> {
        let g = self
            .call(|| self.c.ssm.get_parameter().name(param).send())
            .await
            .map_err(|e| {
                e.provider(address, "read the AMI parameter").with_hint(format!(
                    "check cluster.ami.ssm_parameter (`{param}`) and the region; `aws ssm get-parameter --name {param}` shows what it holds"
                ))
            })?;
        let id = g
            .parameter()
            .and_then(|p| p.value())
            .map(str::trim)
            .filter(|v| v.starts_with("ami-"))
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "{address}: the SSM parameter `{param}` does not hold an AMI id"
                ))
                .with_hint("point cluster.ami.ssm_parameter at a parameter whose value is ami-..., e.g. /aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id")
            })?
            .to_string();
        let o = self
            .call(|| self.c.ec2.describe_images().image_ids(&id).send())
            .await
            .map_err(|e| e.provider(address, "describe the AMI the parameter names"))?;
        let name = o
            .images()
            .first()
            .and_then(|i| i.name())
            .unwrap_or_default()
            .to_string();
        Ok((id, name))
    }

    /// An object of this environment made for `address`, not one of `exclude`.
    async fn find_tagged(
        &self,
        address: &str,
        kind: Kind,
        exclude: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let ec2 = &self.c.ec2;
        let f = self.own_filters(address);
        let lk = |e: CallError| e.provider(address, "look for an object an earlier apply made");
        let ok = |id: Option<&str>| {
            id.filter(|i| !exclude.iter().any(|x| x == i))
                .map(str::to_string)
        };
        Ok(match kind {
            Kind::Vpc => self
                .call(|| ec2.describe_vpcs().set_filters(Some(f.clone())).send())
                .await
                .map_err(lk)?
                .vpcs()
                .iter()
                .find_map(|v| ok(v.vpc_id())),
            Kind::Subnet => self
                .call(|| ec2.describe_subnets().set_filters(Some(f.clone())).send())
                .await
                .map_err(lk)?
                .subnets()
                .iter()
                .find_map(|v| ok(v.subnet_id())),
            Kind::InternetGateway => self
                .call(|| {
                    ec2.describe_internet_gateways()
                        .set_filters(Some(f.clone()))
                        .send()
                })
                .await
                .map_err(lk)?
                .internet_gateways()
                .iter()
                .find_map(|v| ok(v.internet_gateway_id())),
            Kind::Eip => self
                .call(|| ec2.describe_addresses().set_filters(Some(f.clone())).send())
                .await
                .map_err(lk)?
                .addresses()
                .iter()
                .find_map(|v| ok(v.allocation_id())),
            Kind::NatGateway => {
                let mut f = f.clone();
                f.push(filter("state", &["pending", "available"]));
                self.call(|| {
                    ec2.describe_nat_gateways()
                        .set_filter(Some(f.clone()))
                        .send()
                })
                .await
                .map_err(lk)?
                .nat_gateways()
                .iter()
                // moto does not apply tag filters to NAT gateways: check the tags here too.
                .filter(|v| {
                    v.tags()
                        .iter()
                        .any(|t| t.key() == Some(TAG_ADDRESS) && t.value() == Some(address))
                        && v.tags().iter().any(|t| {
                            t.key() == Some(TAG_ENV)
                                && t.value() == Some(self.opts.env_name.as_str())
                        })
                })
                .find_map(|v| ok(v.nat_gateway_id()))
            }
            Kind::RouteTable => self
                .call(|| {
                    ec2.describe_route_tables()
                        .set_filters(Some(f.clone()))
                        .send()
                })
                .await
                .map_err(lk)?
                .route_tables()
                .iter()
                .find_map(|v| ok(v.route_table_id())),
            Kind::SecurityGroup => self
                .call(|| {
                    ec2.describe_security_groups()
                        .set_filters(Some(f.clone()))
                        .send()
                })
                .await
                .map_err(lk)?
                .security_groups()
                .iter()
                .find_map(|v| ok(v.group_id())),
            Kind::Instance => {
                let mut f = f.clone();
                f.push(filter(
                    "instance-state-name",
                    &["pending", "running", "stopping", "stopped"],
                ));
                self.call(|| ec2.describe_instances().set_filters(Some(f.clone())).send())
                    .await
                    .map_err(lk)?
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .find_map(|v| ok(v.instance_id()))
            }
            Kind::LaunchTemplate => self
                .call(|| {
                    ec2.describe_launch_templates()
                        .set_filters(Some(f.clone()))
                        .send()
                })
                .await
                .map_err(lk)?
                .launch_templates()
                .iter()
                .filter(|t| self.is_ours(address, tag_pairs(t.tags())))
                .find_map(|v| ok(v.launch_template_id())),
            _ => None,
        })
    }

    pub(crate) async fn ec2_create(
        &self,
        address: &str,
        spec: &Spec,
        exclude: &[String],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &self.c.ec2;
        let attrs = spec.to_attrs();
        let mk = |e: CallError| e.provider(address, "create it");
        if let Some(id) = self.find_tagged(address, spec.kind(), exclude).await? {
            // Adopt what an interrupted apply made, then bring it to the spec.
            let rec = ResourceRecord {
                address: address.into(),
                kind: spec.kind(),
                id: id.clone(),
                attrs: attrs.clone(),
                outputs: BTreeMap::new(),
                deps: vec![],
                tainted: false,
            };
            if spec.kind() == Kind::NatGateway {
                self.wait_nat(address, &id).await?;
            }
            if spec.kind() == Kind::Instance {
                self.wait_instance(address, &id, InstanceStateName::Running)
                    .await?;
            }
            if spec.kind() == Kind::InternetGateway {
                if let Spec::InternetGateway(g) = spec {
                    let _ = self
                        .call(|| {
                            ec2.attach_internet_gateway()
                                .internet_gateway_id(&id)
                                .vpc_id(&g.vpc_id)
                                .send()
                        })
                        .await;
                }
            }
            let now = self.settle(address, spec.kind(), &id, &attrs).await?;
            let rec = ResourceRecord {
                attrs: now.attrs.clone(),
                ..rec
            };
            return Box::pin(self.ec2_update(&rec, spec)).await;
        }
        let id: String = match spec {
            Spec::Vpc(v) => {
                let o = self
                    .call(|| {
                        ec2.create_vpc()
                            .cidr_block(&v.cidr_block)
                            .tag_specifications(self.tag_spec(ResourceType::Vpc, address, &v.tags))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_string();
                self.call(|| {
                    ec2.modify_vpc_attribute()
                        .vpc_id(&id)
                        .enable_dns_hostnames(
                            AttributeBooleanValue::builder()
                                .value(v.enable_dns_hostnames)
                                .build(),
                        )
                        .send()
                })
                .await
                .map_err(|e| e.provider(address, "enable DNS host names"))?;
                id
            }
            Spec::Subnet(s) => {
                let o = self
                    .call(|| {
                        ec2.create_subnet()
                            .vpc_id(&s.vpc_id)
                            .cidr_block(&s.cidr_block)
                            .availability_zone(&s.availability_zone)
                            .tag_specifications(self.tag_spec(
                                ResourceType::Subnet,
                                address,
                                &s.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .subnet()
                    .and_then(|v| v.subnet_id())
                    .unwrap_or_default()
                    .to_string();
                if s.map_public_ip_on_launch {
                    self.call(|| {
                        ec2.modify_subnet_attribute()
                            .subnet_id(&id)
                            .map_public_ip_on_launch(
                                AttributeBooleanValue::builder().value(true).build(),
                            )
                            .send()
                    })
                    .await
                    .map_err(|e| e.provider(address, "map public IPs on launch"))?;
                }
                id
            }
            Spec::InternetGateway(g) => {
                let o = self
                    .call(|| {
                        ec2.create_internet_gateway()
                            .tag_specifications(self.tag_spec(
                                ResourceType::InternetGateway,
                                address,
                                &g.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .internet_gateway()
                    .and_then(|v| v.internet_gateway_id())
                    .unwrap_or_default()
                    .to_string();
                self.call(|| {
                    ec2.attach_internet_gateway()
                        .internet_gateway_id(&id)
                        .vpc_id(&g.vpc_id)
                        .send()
                })
                .await
                .map_err(|e| e.provider(address, "attach it to the VPC"))?;
                id
            }
            Spec::Eip(e) => {
                let o = self
                    .call(|| {
                        ec2.allocate_address()
                            .domain(DomainType::from(e.domain.as_str()))
                            .tag_specifications(self.tag_spec(
                                ResourceType::ElasticIp,
                                address,
                                &e.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                o.allocation_id().unwrap_or_default().to_string()
            }
            Spec::NatGateway(n) => {
                let o = self
                    .call(|| {
                        ec2.create_nat_gateway()
                            .subnet_id(&n.subnet_id)
                            .allocation_id(&n.allocation_id)
                            .tag_specifications(self.tag_spec(
                                ResourceType::Natgateway,
                                address,
                                &n.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .nat_gateway()
                    .and_then(|v| v.nat_gateway_id())
                    .unwrap_or_default()
                    .to_string();
                self.wait_nat(address, &id).await?;
                id
            }
            Spec::RouteTable(t) => {
                let o = self
                    .call(|| {
                        ec2.create_route_table()
                            .vpc_id(&t.vpc_id)
                            .tag_specifications(self.tag_spec(
                                ResourceType::RouteTable,
                                address,
                                &t.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .route_table()
                    .and_then(|v| v.route_table_id())
                    .unwrap_or_default()
                    .to_string();
                self.sync_routes(address, &id, &[], &t.routes).await?;
                id
            }
            Spec::RouteTableAssociation(a) => {
                // The subnet may already be associated (an interrupted apply, or by hand).
                let o = self
                    .call(|| {
                        ec2.describe_route_tables()
                            .filters(filter("association.subnet-id", &[&a.subnet_id]))
                            .send()
                    })
                    .await
                    .map_err(|e| e.provider(address, "look up the subnet's association"))?;
                let existing = o
                    .route_tables()
                    .iter()
                    .flat_map(|t| t.associations())
                    .find(|x| x.subnet_id() == Some(a.subnet_id.as_str()))
                    .cloned();
                match existing {
                    Some(x) if x.route_table_id() == Some(a.route_table_id.as_str()) => x
                        .route_table_association_id()
                        .unwrap_or_default()
                        .to_string(),
                    Some(x) => {
                        let aid = x
                            .route_table_association_id()
                            .unwrap_or_default()
                            .to_string();
                        let o = self
                            .call(|| {
                                ec2.replace_route_table_association()
                                    .association_id(&aid)
                                    .route_table_id(&a.route_table_id)
                                    .send()
                            })
                            .await
                            .map_err(mk)?;
                        o.new_association_id().unwrap_or_default().to_string()
                    }
                    None => {
                        let o = self
                            .call(|| {
                                ec2.associate_route_table()
                                    .subnet_id(&a.subnet_id)
                                    .route_table_id(&a.route_table_id)
                                    .send()
                            })
                            .await
                            .map_err(mk)?;
                        o.association_id().unwrap_or_default().to_string()
                    }
                }
            }
            Spec::SecurityGroup(g) => {
                let taken = self
                    .call(|| {
                        ec2.describe_security_groups()
                            .filters(filter("group-name", &[&g.name]))
                            .filters(filter("vpc-id", &[&g.vpc_id]))
                            .send()
                    })
                    .await
                    .map_err(|e| e.provider(address, "check the group name"))?;
                if let Some(other) = taken.security_groups().first() {
                    return Err(ProviderError::new(format!(
                        "{address}: a security group named `{}` already exists in {} ({}) and was not made by this environment",
                        g.name,
                        g.vpc_id,
                        other.group_id().unwrap_or_default()
                    ))
                    .with_hint("remove that group or rename this one in chronous.toml"));
                }
                let o = self
                    .call(|| {
                        ec2.create_security_group()
                            .group_name(&g.name)
                            .description(&g.description)
                            .vpc_id(&g.vpc_id)
                            .tag_specifications(self.tag_spec(
                                ResourceType::SecurityGroup,
                                address,
                                &g.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o.group_id().unwrap_or_default().to_string();
                // Like Terraform: a new group has exactly the rules chronous gives it,
                // not AWS's default allow-all egress.
                let all = IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build();
                match self
                    .call(|| {
                        ec2.revoke_security_group_egress()
                            .group_id(&id)
                            .ip_permissions(all.clone())
                            .send()
                    })
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.code().contains("InvalidPermission") => {}
                    Err(e) => return Err(e.provider(address, "remove the default egress rule")),
                }
                id
            }
            Spec::SecurityGroupRule(r) => {
                let id = rule_id(r);
                let perm = permission(r);
                let res = if r.direction == "egress" {
                    self.call(|| {
                        ec2.authorize_security_group_egress()
                            .group_id(&r.security_group_id)
                            .ip_permissions(perm.clone())
                            .send()
                    })
                    .await
                    .map(|_| ())
                } else {
                    self.call(|| {
                        ec2.authorize_security_group_ingress()
                            .group_id(&r.security_group_id)
                            .ip_permissions(perm.clone())
                            .send()
                    })
                    .await
                    .map(|_| ())
                };
                match res {
                    Ok(()) => {}
                    // Already there (an interrupted apply, or AWS's own default egress): adopt it.
                    Err(e) if e.is("InvalidPermission.Duplicate") => {
                        let now = self
                            .settle(address, Kind::SecurityGroupRule, &id, &attrs)
                            .await?;
                        if now.attrs != attrs {
                            let rec = ResourceRecord {
                                address: address.into(),
                                kind: Kind::SecurityGroupRule,
                                id: id.clone(),
                                attrs: now.attrs,
                                outputs: now.outputs,
                                deps: vec![],
                                tainted: false,
                            };
                            return Box::pin(self.ec2_update(&rec, spec)).await;
                        }
                        return Ok(now);
                    }
                    Err(e) => return Err(mk(e)),
                }
                id
            }
            Spec::KeyPair(k) => {
                let p = self.path(&k.public_key);
                let material = std::fs::read(&p).map_err(|e| {
                    ProviderError::new(format!("{address}: cannot read the public key file {}: {e}", p.display()))
                        .with_hint(format!("create it with `ssh-keygen -t ed25519 -f {}` or fix key_pair.public_key_file", p.with_extension("").display()))
                })?;
                let existing = found(
                    self.call(|| ec2.describe_key_pairs().key_names(&k.key_name).send())
                        .await,
                )
                .map_err(|e| e.provider(address, "look up the key pair"))?;
                if let Some(kp) = existing.as_ref().and_then(|o| o.key_pairs().first()) {
                    if !self.is_ours(address, tag_pairs(kp.tags())) {
                        return Err(ProviderError::new(format!("{address}: a key pair named `{}` already exists and was not imported by this environment", k.key_name))
                            .with_hint("delete it in the EC2 console (if it is the same key) or rename key_pair.name in chronous.toml"));
                    }
                } else {
                    self.call(|| {
                        ec2.import_key_pair()
                            .key_name(&k.key_name)
                            .public_key_material(aws_smithy_types::Blob::new(material.clone()))
                            .tag_specifications(self.tag_spec(
                                ResourceType::KeyPair,
                                address,
                                &BTreeMap::new(),
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                }
                k.key_name.clone()
            }
            Spec::AmiLookup(a) => self.newest_ami(address, a).await?.0,
            Spec::Instance(i) => {
                let ni = aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(&i.subnet_id)
                    .set_groups(Some(i.vpc_security_group_ids.clone()))
                    .associate_public_ip_address(i.associate_public_ip_address)
                    .build();
                let o = self
                    .call(|| {
                        ec2.run_instances()
                            .image_id(&i.ami)
                            .instance_type(InstanceType::from(i.instance_type.as_str()))
                            .min_count(1)
                            .max_count(1)
                            .set_key_name(i.key_name.clone())
                            .network_interfaces(ni.clone())
                            .tag_specifications(self.tag_spec(
                                ResourceType::Instance,
                                address,
                                &i.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                let id = o
                    .instances()
                    .first()
                    .and_then(|x| x.instance_id())
                    .unwrap_or_default()
                    .to_string();
                self.wait_instance(address, &id, InstanceStateName::Running)
                    .await?;
                id
            }
            Spec::LaunchTemplate(l) => {
                let h = hex::encode(Sha256::digest(
                    format!("{address}{:?}", std::time::SystemTime::now()).as_bytes(),
                ));
                let name = format!("{}{}", l.name_prefix, &h[..12]);
                let mut inst_tags = l.tags.clone();
                inst_tags.insert(TAG_ENV.into(), self.opts.env_name.clone());
                let data = RequestLaunchTemplateData::builder()
                    .image_id(&l.image_id)
                    .instance_type(InstanceType::from(l.instance_type.as_str()))
                    .set_key_name(l.key_name.clone())
                    .iam_instance_profile(
                        LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                            .arn(&l.iam_instance_profile)
                            .build(),
                    )
                    .set_security_group_ids(Some(l.security_group_ids.clone()))
                    .user_data(base64::engine::general_purpose::STANDARD.encode(&l.user_data))
                    .tag_specifications(
                        LaunchTemplateTagSpecificationRequest::builder()
                            .resource_type(ResourceType::Instance)
                            .set_tags(Some(
                                inst_tags
                                    .iter()
                                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                                    .collect(),
                            ))
                            .build(),
                    )
                    .build();
                let o = self
                    .call(|| {
                        ec2.create_launch_template()
                            .launch_template_name(&name)
                            .launch_template_data(data.clone())
                            .tag_specifications(self.tag_spec(
                                ResourceType::LaunchTemplate,
                                address,
                                &l.tags,
                            ))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                o.launch_template()
                    .and_then(|t| t.launch_template_id())
                    .unwrap_or_default()
                    .to_string()
            }
            _ => unreachable!("not an EC2 kind"),
        };
        self.settle(address, spec.kind(), &id, &attrs).await
    }

    async fn wait_nat(&self, address: &str, id: &str) -> Result<(), ProviderError> {
        self.wait_for(address, "the NAT gateway to become available", || async {
            let o = self
                .call(|| {
                    self.c
                        .ec2
                        .describe_nat_gateways()
                        .nat_gateway_ids(id)
                        .send()
                })
                .await
                .map_err(|e| e.provider(address, "describe the NAT gateway"))?;
            let Some(n) = o.nat_gateways().first() else {
                return Ok(None);
            };
            match n.state().map(|s| s.as_str()) {
                Some("available") => Ok(Some(())),
                Some("failed") => Err(ProviderError::new(format!(
                    "{address}: NAT gateway {id} failed: {}",
                    n.failure_message().unwrap_or("no reason given")
                ))
                .with_hint("run apply again to make a new one; check the EIP and the subnet")),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn wait_instance(
        &self,
        address: &str,
        id: &str,
        want: InstanceStateName,
    ) -> Result<(), ProviderError> {
        let what = format!("instance {id} to be {}", want.as_str());
        self.wait_for(address, &what, || async {
            let o = match self
                .call(|| self.c.ec2.describe_instances().instance_ids(id).send())
                .await
            {
                Ok(o) => o,
                // Just launched: not described yet.
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.provider(address, "describe the instance")),
            };
            let state = o
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                .cloned();
            match state {
                Some(s) if s == want => Ok(Some(())),
                None if want == InstanceStateName::Terminated => Ok(Some(())),
                Some(InstanceStateName::Terminated) if want == InstanceStateName::Running => {
                    Err(ProviderError::new(format!(
                        "{address}: instance {id} terminated while starting"
                    ))
                    .with_hint(
                        "look at the instance's state reason in the EC2 console; run apply again",
                    ))
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn sync_routes(
        &self,
        address: &str,
        id: &str,
        have: &[Route],
        want: &[Route],
    ) -> Result<(), ProviderError> {
        let ec2 = &self.c.ec2;
        for r in have {
            if !want.iter().any(|w| w.cidr_block == r.cidr_block) {
                match self
                    .call(|| {
                        ec2.delete_route()
                            .route_table_id(id)
                            .destination_cidr_block(&r.cidr_block)
                            .send()
                    })
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        return Err(
                            e.provider(address, &format!("remove the route to {}", r.cidr_block))
                        )
                    }
                }
            }
        }
        for w in want {
            match have.iter().find(|r| r.cidr_block == w.cidr_block) {
                Some(r) if r == w => {}
                Some(_) => {
                    self.call(|| {
                        ec2.replace_route()
                            .route_table_id(id)
                            .destination_cidr_block(&w.cidr_block)
                            .set_gateway_id(w.gateway_id.clone())
                            .set_nat_gateway_id(w.nat_gateway_id.clone())
                            .send()
                    })
                    .await
                    .map_err(|e| {
                        e.provider(address, &format!("change the route to {}", w.cidr_block))
                    })?;
                }
                None => {
                    match self
                        .call(|| {
                            ec2.create_route()
                                .route_table_id(id)
                                .destination_cidr_block(&w.cidr_block)
                                .set_gateway_id(w.gateway_id.clone())
                                .set_nat_gateway_id(w.nat_gateway_id.clone())
                                .send()
                        })
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.is("RouteAlreadyExists") => {
                            self.call(|| {
                                ec2.replace_route()
                                    .route_table_id(id)
                                    .destination_cidr_block(&w.cidr_block)
                                    .set_gateway_id(w.gateway_id.clone())
                                    .set_nat_gateway_id(w.nat_gateway_id.clone())
                                    .send()
                            })
                            .await
                            .map_err(|e| {
                                e.provider(
                                    address,
                                    &format!("change the route to {}", w.cidr_block),
                                )
                            })?;
                        }
                        Err(e) => {
                            return Err(
                                e.provider(address, &format!("add the route to {}", w.cidr_block))
                            )
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn ec2_update(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &self.c.ec2;
        let address = r.address.as_str();
        let id = r.id.clone();
        let up = |e: CallError| e.provider(address, "change it");
        let old_tags: BTreeMap<String, String> = r
            .attrs
            .get("tags")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        let mut new_id = id.clone();
        match spec {
            Spec::Vpc(v) => {
                if r.attrs.get("enable_dns_hostnames") != Some(&json!(v.enable_dns_hostnames)) {
                    self.call(|| {
                        ec2.modify_vpc_attribute()
                            .vpc_id(&id)
                            .enable_dns_hostnames(
                                AttributeBooleanValue::builder()
                                    .value(v.enable_dns_hostnames)
                                    .build(),
                            )
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                self.sync_tags(address, &id, &old_tags, &v.tags).await?;
            }
            Spec::Subnet(s) => {
                if r.attrs.get("map_public_ip_on_launch") != Some(&json!(s.map_public_ip_on_launch))
                {
                    self.call(|| {
                        ec2.modify_subnet_attribute()
                            .subnet_id(&id)
                            .map_public_ip_on_launch(
                                AttributeBooleanValue::builder()
                                    .value(s.map_public_ip_on_launch)
                                    .build(),
                            )
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                self.sync_tags(address, &id, &old_tags, &s.tags).await?;
            }
            Spec::InternetGateway(g) => self.sync_tags(address, &id, &old_tags, &g.tags).await?,
            Spec::Eip(e) => self.sync_tags(address, &id, &old_tags, &e.tags).await?,
            Spec::NatGateway(n) => self.sync_tags(address, &id, &old_tags, &n.tags).await?,
            Spec::RouteTable(t) => {
                let have: Vec<Route> = r
                    .attrs
                    .get("routes")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                self.sync_routes(address, &id, &have, &t.routes).await?;
                self.sync_tags(address, &id, &old_tags, &t.tags).await?;
            }
            Spec::RouteTableAssociation(a) => {
                if r.attrs.get("route_table_id") != Some(&json!(a.route_table_id)) {
                    let o = self
                        .call(|| {
                            ec2.replace_route_table_association()
                                .association_id(&id)
                                .route_table_id(&a.route_table_id)
                                .send()
                        })
                        .await
                        .map_err(up)?;
                    new_id = o.new_association_id().unwrap_or_default().to_string();
                }
            }
            Spec::SecurityGroup(g) => self.sync_tags(address, &id, &old_tags, &g.tags).await?,
            Spec::SecurityGroupRule(rule) => {
                if r.attrs.get("description") != Some(&json!(rule.description)) {
                    let perm = permission(rule);
                    if rule.direction == "egress" {
                        self.call(|| {
                            ec2.update_security_group_rule_descriptions_egress()
                                .group_id(&rule.security_group_id)
                                .ip_permissions(perm.clone())
                                .send()
                        })
                        .await
                        .map_err(up)?;
                    } else {
                        self.call(|| {
                            ec2.update_security_group_rule_descriptions_ingress()
                                .group_id(&rule.security_group_id)
                                .ip_permissions(perm.clone())
                                .send()
                        })
                        .await
                        .map_err(up)?;
                    }
                }
            }
            Spec::KeyPair(_) | Spec::AmiLookup(_) => {}
            Spec::Instance(i) => {
                let sgs: Vec<String> = r
                    .attrs
                    .get("vpc_security_group_ids")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                if sgs != i.vpc_security_group_ids {
                    self.call(|| {
                        ec2.modify_instance_attribute()
                            .instance_id(&id)
                            .set_groups(Some(i.vpc_security_group_ids.clone()))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if r.attrs.get("instance_type") != Some(&json!(i.instance_type)) {
                    self.progress(format!(
                        "{address}: stopping {id} to change its type to {}",
                        i.instance_type
                    ));
                    self.call(|| ec2.stop_instances().instance_ids(&id).send())
                        .await
                        .map_err(up)?;
                    self.wait_instance(address, &id, InstanceStateName::Stopped)
                        .await?;
                    self.call(|| {
                        ec2.modify_instance_attribute()
                            .instance_id(&id)
                            .instance_type(
                                aws_sdk_ec2::types::AttributeValue::builder()
                                    .value(&i.instance_type)
                                    .build(),
                            )
                            .send()
                    })
                    .await
                    .map_err(up)?;
                    self.call(|| ec2.start_instances().instance_ids(&id).send())
                        .await
                        .map_err(up)?;
                    self.wait_instance(address, &id, InstanceStateName::Running)
                        .await?;
                }
                self.sync_tags(address, &id, &old_tags, &i.tags).await?;
            }
            Spec::LaunchTemplate(l) => self.sync_tags(address, &id, &old_tags, &l.tags).await?,
            _ => unreachable!("not an EC2 kind"),
        }
        self.settle(address, spec.kind(), &new_id, &spec.to_attrs())
            .await
    }

    pub(crate) async fn ec2_delete(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<(), ProviderError> {
        let ec2 = &self.c.ec2;
        let address = r.address.as_str();
        let id = r.id.as_str();
        let gone = |res: Result<(), CallError>, what: &str| -> Result<(), ProviderError> {
            match res {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.provider(address, what)),
            }
        };
        match spec {
            Spec::Vpc(_) => {
                self.retry_in_use(address, "delete the VPC", || async {
                    self.call(|| ec2.delete_vpc().vpc_id(id).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::Subnet(_) => {
                self.retry_in_use(address, "delete the subnet", || async {
                    self.call(|| ec2.delete_subnet().subnet_id(id).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::InternetGateway(g) => {
                self.retry_in_use(address, "detach the internet gateway", || async {
                    match self
                        .call(|| {
                            ec2.detach_internet_gateway()
                                .internet_gateway_id(id)
                                .vpc_id(&g.vpc_id)
                                .send()
                        })
                        .await
                    {
                        Err(e) if e.code().contains("NotAttached") => Ok(()),
                        other => other.map(|_| ()),
                    }
                })
                .await?;
                gone(
                    self.call(|| ec2.delete_internet_gateway().internet_gateway_id(id).send())
                        .await
                        .map(|_| ()),
                    "delete the internet gateway",
                )
            }
            Spec::Eip(_) => {
                self.retry_in_use(address, "release the address", || async {
                    self.call(|| ec2.release_address().allocation_id(id).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::NatGateway(_) => {
                gone(
                    self.call(|| ec2.delete_nat_gateway().nat_gateway_id(id).send())
                        .await
                        .map(|_| ()),
                    "delete the NAT gateway",
                )?;
                self.wait_for(address, "the NAT gateway to be deleted", || async {
                    let o = found(
                        self.call(|| ec2.describe_nat_gateways().nat_gateway_ids(id).send())
                            .await,
                    )
                    .map_err(|e| e.provider(address, "describe the NAT gateway"))?;
                    Ok(
                        match o
                            .as_ref()
                            .and_then(|o| o.nat_gateways().first())
                            .and_then(|n| n.state())
                            .map(|s| s.as_str().to_string())
                        {
                            None => Some(()),
                            Some(s) if s == "deleted" || s == "failed" => Some(()),
                            _ => None,
                        },
                    )
                })
                .await
            }
            Spec::RouteTable(_) => {
                self.retry_in_use(address, "delete the route table", || async {
                    self.call(|| ec2.delete_route_table().route_table_id(id).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::RouteTableAssociation(_) => gone(
                self.call(|| ec2.disassociate_route_table().association_id(id).send())
                    .await
                    .map(|_| ()),
                "disassociate the route table",
            ),
            Spec::SecurityGroup(_) => {
                self.retry_in_use(address, "delete the security group", || async {
                    self.call(|| ec2.delete_security_group().group_id(id).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::SecurityGroupRule(rule) => {
                let perm = permission(rule);
                let res = if rule.direction == "egress" {
                    self.call(|| {
                        ec2.revoke_security_group_egress()
                            .group_id(&rule.security_group_id)
                            .ip_permissions(perm.clone())
                            .send()
                    })
                    .await
                    .map(|_| ())
                } else {
                    self.call(|| {
                        ec2.revoke_security_group_ingress()
                            .group_id(&rule.security_group_id)
                            .ip_permissions(perm.clone())
                            .send()
                    })
                    .await
                    .map(|_| ())
                };
                match res {
                    Err(e) if e.code().starts_with("InvalidPermission") => Ok(()),
                    other => gone(other, "revoke the rule"),
                }
            }
            Spec::KeyPair(k) => gone(
                self.call(|| ec2.delete_key_pair().key_name(&k.key_name).send())
                    .await
                    .map(|_| ()),
                "delete the key pair",
            ),
            Spec::AmiLookup(_) => Ok(()),
            Spec::Instance(_) => {
                gone(
                    self.call(|| ec2.terminate_instances().instance_ids(id).send())
                        .await
                        .map(|_| ()),
                    "terminate the instance",
                )?;
                self.wait_instance(address, id, InstanceStateName::Terminated)
                    .await
            }
            Spec::LaunchTemplate(_) => gone(
                self.call(|| ec2.delete_launch_template().launch_template_id(id).send())
                    .await
                    .map(|_| ()),
                "delete the launch template",
            ),
            _ => unreachable!("not an EC2 kind"),
        }
    }

    /// Retry a delete AWS refuses because something is still being released
    /// (network interfaces of terminated instances, a NAT gateway's address).
    pub(crate) async fn retry_in_use<F, Fut>(
        &self,
        address: &str,
        what: &str,
        f: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), CallError>>,
    {
        let start = tokio::time::Instant::now();
        let limit = self.opts.wait_timeout.min(Duration::from_secs(15 * 60));
        loop {
            match f().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e)
                    if (e.is("DependencyViolation")
                        || e.code().contains("InUse")
                        || e.is("AuthFailure"))
                        && start.elapsed() < limit =>
                {
                    self.progress(format!("{address}: still in use, retrying: {e}"));
                    tokio::time::sleep(self.opts.poll_interval).await;
                }
                Err(e) => return Err(e.provider(address, what)),
            }
        }
    }
}

/// The id chronous gives a rule: AWS identifies a rule by its content.
pub(crate) fn rule_id(r: &SecurityGroupRuleSpec) -> String {
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        r.security_group_id,
        r.direction,
        r.protocol,
        r.from_port,
        r.to_port,
        r.cidr_blocks.join(","),
        r.source_security_group_id.as_deref().unwrap_or("")
    );
    format!(
        "sgrule-{}",
        &hex::encode(Sha256::digest(key.as_bytes()))[..16]
    )
}

fn permission(r: &SecurityGroupRuleSpec) -> IpPermission {
    let desc = Some(r.description.clone()).filter(|d| !d.is_empty());
    let mut p = IpPermission::builder().ip_protocol(&r.protocol);
    if r.protocol != "-1" {
        p = p.from_port(r.from_port as i32).to_port(r.to_port as i32);
    }
    match &r.source_security_group_id {
        Some(g) => {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(desc)
                    .build(),
            )
        }
        None => {
            for c in &r.cidr_blocks {
                p = p.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(c)
                        .set_description(desc.clone())
                        .build(),
                );
            }
        }
    }
    p.build()
}
