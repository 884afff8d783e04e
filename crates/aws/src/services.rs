//! Everything outside EC2 proper: IAM, ECS, ECR, the classic ELB, Auto
//! Scaling, CloudWatch Logs, S3 and RDS.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use chronous_core::provider::{Observed, ProviderError};
use chronous_core::resources::*;
use chronous_core::state::ResourceRecord;
use md5::Md5;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::call::{found, CallError};
use crate::{like_recorded, observed, spec_err, AwsProvider, TAG_ADDRESS, TAG_ENV};

fn out(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// IAM returns policy documents URL-encoded.
fn url_decode(s: &str) -> String {
    if !s.starts_with('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut o = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 0 && i + 2 <= b.len() - 1 {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                o.push(v);
                i += 3;
                continue;
            }
        }
        o.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&o).into_owned()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

fn trust_policy(services: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The services a trust policy lets assume the role, in the recorded order when unchanged.
fn trusted(doc: &str, prior: Option<&Value>) -> Vec<String> {
    let v: Value = serde_json::from_str(&url_decode(doc)).unwrap_or(Value::Null);
    let mut out = Vec::new();
    let stmts = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o) => vec![o.clone()],
        None => vec![],
    };
    for s in stmts {
        match s.get("Principal").and_then(|p| p.get("Service")) {
            Some(Value::String(x)) => out.push(x.clone()),
            Some(Value::Array(a)) => {
                out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
            }
            _ => {}
        }
    }
    like_recorded(out, prior)
}

/// The same JSON document (whitespace and key order aside).
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl AwsProvider {
    /// The database password, read now from where the spec says (`env:VAR` or `file:PATH`); never stored.
    pub(crate) fn password(&self, address: &str, source: &str) -> Result<String, ProviderError> {
        let hint =
            "export CHRONOUS_DB_PASSWORD, or set database.password_file to a file holding it";
        let v = match source.split_once(':') {
            Some(("env", var)) => std::env::var(var).ok(),
            Some(("file", f)) => std::fs::read_to_string(self.path(f))
                .ok()
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string()),
            _ => None,
        };
        match v {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(ProviderError::new(format!(
                "{address}: no database password at run time ({source})"
            ))
            .with_hint(hint)),
        }
    }

    fn iam_tags(&self, address: &str) -> Vec<aws_sdk_iam::types::Tag> {
        self.tags(address, &BTreeMap::new())
            .into_iter()
            .filter_map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect()
    }

    pub(crate) async fn svc_read(
        &self,
        r: &ResourceRecord,
        _spec: &Spec,
    ) -> Result<Option<Observed>, ProviderError> {
        self.svc_read_id(&r.address, r.kind, &r.id, &r.attrs, &r.outputs)
            .await
    }

    async fn svc_read_id(
        &self,
        address: &str,
        kind: Kind,
        id: &str,
        prior: &Value,
        prior_out: &BTreeMap<String, Value>,
    ) -> Result<Option<Observed>, ProviderError> {
        let rd = |e: CallError| e.provider(address, "describe it");
        let pstr = |k: &str| {
            prior
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let c = &self.c;
        Ok(match kind {
            Kind::IamRole => {
                let Some(o) =
                    found(self.call(|| c.iam.get_role().role_name(id).send()).await).map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(role) = o.role() else {
                    return Ok(None);
                };
                let spec = IamRoleSpec {
                    name: role.role_name().into(),
                    trusted_services: trusted(
                        role.assume_role_policy_document().unwrap_or("{}"),
                        prior.get("trusted_services"),
                    ),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(role.arn())),
                        ("name", json!(role.role_name())),
                    ]),
                ))
            }
            Kind::IamRolePolicyAttachment => {
                let want: IamRolePolicyAttachmentSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let Some(o) = found(
                    self.call(|| {
                        c.iam
                            .list_attached_role_policies()
                            .role_name(&want.role)
                            .max_items(1000)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                if !o
                    .attached_policies()
                    .iter()
                    .any(|p| p.policy_arn() == Some(want.policy_arn.as_str()))
                {
                    return Ok(None);
                }
                Some(observed(id, &want, out(&[("id", json!(id))])))
            }
            Kind::IamRolePolicy => {
                let want: IamRolePolicySpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let Some(o) = found(
                    self.call(|| {
                        c.iam
                            .get_role_policy()
                            .role_name(&want.role)
                            .policy_name(&want.name)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let doc = url_decode(o.policy_document());
                let policy = if same_json(&doc, &want.policy) {
                    want.policy.clone()
                } else {
                    doc
                };
                let spec = IamRolePolicySpec { policy, ..want };
                Some(observed(id, &spec, out(&[("id", json!(id))])))
            }
            Kind::IamInstanceProfile => {
                let Some(o) = found(
                    self.call(|| {
                        c.iam
                            .get_instance_profile()
                            .instance_profile_name(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(p) = o.instance_profile() else {
                    return Ok(None);
                };
                let spec = IamInstanceProfileSpec {
                    name: p.instance_profile_name().into(),
                    role: p
                        .roles()
                        .first()
                        .map(|r| r.role_name().to_string())
                        .unwrap_or_default(),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(p.arn())),
                        ("name", json!(p.instance_profile_name())),
                    ]),
                ))
            }
            Kind::EcsCluster => {
                let o = self
                    .call(|| c.ecs.describe_clusters().clusters(id).send())
                    .await
                    .map_err(rd)?;
                let Some(cl) = o.clusters().iter().find(|x| x.status() != Some("INACTIVE")) else {
                    return Ok(None);
                };
                let name = cl.cluster_name().unwrap_or_default();
                Some(observed(
                    cl.cluster_arn().unwrap_or(id),
                    &EcsClusterSpec { name: name.into() },
                    out(&[
                        ("arn", json!(cl.cluster_arn().unwrap_or(id))),
                        ("name", json!(name)),
                    ]),
                ))
            }
            Kind::EcrRepository => {
                let Some(o) = found(
                    self.call(|| c.ecr.describe_repositories().repository_names(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(r) = o.repositories().first() else {
                    return Ok(None);
                };
                let spec = EcrRepositorySpec {
                    name: r.repository_name().unwrap_or_default().into(),
                    image_tag_mutability: r
                        .image_tag_mutability()
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_else(|| "MUTABLE".into()),
                    scan_on_push: r
                        .image_scanning_configuration()
                        .map(|s| s.scan_on_push())
                        .unwrap_or(false),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(r.repository_arn().unwrap_or_default())),
                        (
                            "repository_url",
                            json!(r.repository_uri().unwrap_or_default()),
                        ),
                    ]),
                ))
            }
            Kind::EcsTaskDefinition => {
                let Some(o) = found(
                    self.call(|| c.ecs.describe_task_definition().task_definition(id).send())
                        .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(td) = o.task_definition() else {
                    return Ok(None);
                };
                if td.status().map(|s| s.as_str()) == Some("INACTIVE")
                    || td.status().map(|s| s.as_str()) == Some("DELETE_IN_PROGRESS")
                {
                    return Ok(None);
                }
                let Some(cd) = td.container_definitions().first() else {
                    return Ok(None);
                };
                let want: Option<EcsTaskDefinitionSpec> =
                    serde_json::from_value(prior.clone()).ok();
                let lc = cd.log_configuration();
                let spec = EcsTaskDefinitionSpec {
                    family: td.family().unwrap_or_default().into(),
                    network_mode: td
                        .network_mode()
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_else(|| "bridge".into()),
                    requires_compatibilities: td
                        .requires_compatibilities()
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect(),
                    execution_role_arn: td.execution_role_arn().map(str::to_string),
                    container: ContainerDefinition {
                        name: cd.name().unwrap_or_default().into(),
                        image: cd.image().unwrap_or_default().into(),
                        essential: cd.essential().unwrap_or(true),
                        cpu: cd.cpu() as u32,
                        memory: cd.memory().unwrap_or(0) as u32,
                        port_mappings: cd
                            .port_mappings()
                            .iter()
                            .map(|p| PortMapping {
                                container_port: p.container_port().unwrap_or(0) as u16,
                                host_port: p.host_port().unwrap_or(0) as u16,
                                protocol: p
                                    .protocol()
                                    .map(|x| x.as_str().to_string())
                                    .unwrap_or_else(|| "tcp".into()),
                            })
                            .collect(),
                        environment: cd
                            .environment()
                            .iter()
                            .map(|kv| {
                                (
                                    kv.name().unwrap_or_default().to_string(),
                                    kv.value().unwrap_or_default().to_string(),
                                )
                            })
                            .collect(),
                        secrets: cd
                            .secrets()
                            .iter()
                            .map(|s| (s.name().to_string(), s.value_from().to_string()))
                            .collect(),
                        log_configuration: LogConfiguration {
                            log_driver: lc
                                .map(|l| l.log_driver().as_str().to_string())
                                .unwrap_or_default(),
                            options: lc
                                .and_then(|l| l.options())
                                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                                .unwrap_or_default(),
                        },
                    },
                };
                // AWS may answer the compatibilities in another order.
                let spec = match want {
                    Some(w)
                        if {
                            let mut a = w.requires_compatibilities.clone();
                            let mut b = spec.requires_compatibilities.clone();
                            a.sort();
                            b.sort();
                            a == b
                        } =>
                    {
                        EcsTaskDefinitionSpec {
                            requires_compatibilities: w.requires_compatibilities,
                            ..spec
                        }
                    }
                    _ => spec,
                };
                let arn = td.task_definition_arn().unwrap_or(id);
                Some(observed(
                    arn,
                    &spec,
                    out(&[("arn", json!(arn)), ("revision", json!(td.revision()))]),
                ))
            }
            Kind::EcsService => {
                let want: EcsServiceSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let o = match self
                    .call(|| {
                        c.ecs
                            .describe_services()
                            .cluster(&want.cluster)
                            .services(&want.name)
                            .send()
                    })
                    .await
                {
                    Ok(o) => o,
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(rd(e)),
                };
                let Some(s) = o
                    .services()
                    .iter()
                    .find(|s| s.status() == Some("ACTIVE") || s.status() == Some("DRAINING"))
                else {
                    return Ok(None);
                };
                if s.status() == Some("DRAINING") {
                    return Ok(None);
                }
                // An emulator may not keep the deployment configuration; AWS always answers it.
                let dc = s.deployment_configuration();
                let cb = dc.and_then(|d| d.deployment_circuit_breaker());
                let spec = EcsServiceSpec {
                    name: s.service_name().unwrap_or_default().into(),
                    cluster: s.cluster_arn().unwrap_or_default().into(),
                    task_definition: s.task_definition().unwrap_or_default().into(),
                    desired_count: s.desired_count() as u32,
                    launch_type: s
                        .launch_type()
                        .map(|l| l.as_str().to_string())
                        .unwrap_or_else(|| want.launch_type.clone()),
                    deployment_minimum_healthy_percent: dc
                        .and_then(|d| d.minimum_healthy_percent())
                        .map(|x| x as u32)
                        .unwrap_or(want.deployment_minimum_healthy_percent),
                    deployment_maximum_percent: dc
                        .and_then(|d| d.maximum_percent())
                        .map(|x| x as u32)
                        .unwrap_or(want.deployment_maximum_percent),
                    health_check_grace_period_seconds: s
                        .health_check_grace_period_seconds()
                        .map(|x| x as u32)
                        .unwrap_or(want.health_check_grace_period_seconds),
                    circuit_breaker_enable: cb
                        .map(|b| b.enable())
                        .unwrap_or(want.circuit_breaker_enable),
                    circuit_breaker_rollback: cb
                        .map(|b| b.rollback())
                        .unwrap_or(want.circuit_breaker_rollback),
                    iam_role: s.role_arn().map(str::to_string).or(want.iam_role.clone()),
                    depends_on: want.depends_on.clone(),
                    load_balancer: s.load_balancers().first().map(|l| ServiceLoadBalancer {
                        elb_name: l.load_balancer_name().unwrap_or_default().into(),
                        container_name: l.container_name().unwrap_or_default().into(),
                        container_port: l.container_port().unwrap_or(0) as u16,
                    }),
                };
                Some(observed(
                    s.service_arn().unwrap_or(id),
                    &spec,
                    out(&[
                        ("arn", json!(s.service_arn().unwrap_or(id))),
                        ("name", json!(s.service_name().unwrap_or_default())),
                    ]),
                ))
            }
            Kind::Elb => {
                let Some(o) = found(
                    self.call(|| {
                        c.elb
                            .describe_load_balancers()
                            .load_balancer_names(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(lb) = o.load_balancer_descriptions().first() else {
                    return Ok(None);
                };
                let l = lb
                    .listener_descriptions()
                    .first()
                    .and_then(|d| d.listener());
                let hc = lb.health_check();
                let spec = ElbSpec {
                    name: lb.load_balancer_name().unwrap_or_default().into(),
                    internal: lb.scheme() == Some("internal"),
                    subnets: like_recorded(lb.subnets().to_vec(), prior.get("subnets")),
                    security_groups: like_recorded(
                        lb.security_groups().to_vec(),
                        prior.get("security_groups"),
                    ),
                    listener: ElbListener {
                        lb_port: l.map(|l| l.load_balancer_port()).unwrap_or(0) as u16,
                        lb_protocol: l.map(|l| l.protocol().to_uppercase()).unwrap_or_default(),
                        instance_port: l.map(|l| l.instance_port()).unwrap_or(0) as u16,
                        instance_protocol: l
                            .and_then(|l| l.instance_protocol())
                            .map(str::to_uppercase)
                            .unwrap_or_default(),
                    },
                    health_check: ElbHealthCheck {
                        target: hc.map(|h| h.target().to_string()).unwrap_or_default(),
                        interval: hc.map(|h| h.interval()).unwrap_or(0) as u32,
                        timeout: hc.map(|h| h.timeout()).unwrap_or(0) as u32,
                        healthy_threshold: hc.map(|h| h.healthy_threshold()).unwrap_or(0) as u32,
                        unhealthy_threshold: hc.map(|h| h.unhealthy_threshold()).unwrap_or(0)
                            as u32,
                    },
                };
                let arn = match prior_out.get("arn") {
                    Some(a) => a.clone(),
                    None => json!(format!(
                        "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/{id}",
                        self.region(),
                        self.account(address).await?
                    )),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", arn),
                        ("dns_name", json!(lb.dns_name().unwrap_or_default())),
                        ("name", json!(id)),
                    ]),
                ))
            }
            Kind::AutoScalingGroup => {
                let o = self
                    .call(|| {
                        c.autoscaling
                            .describe_auto_scaling_groups()
                            .auto_scaling_group_names(id)
                            .send()
                    })
                    .await
                    .map_err(rd)?;
                let Some(g) = o.auto_scaling_groups().first() else {
                    return Ok(None);
                };
                if g.status().is_some_and(|s| s.starts_with("Delete")) {
                    return Ok(None);
                }
                let subnets: Vec<String> = g
                    .vpc_zone_identifier()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                let spec = AutoScalingGroupSpec {
                    name: g.auto_scaling_group_name().unwrap_or_default().into(),
                    launch_template_id: g
                        .launch_template()
                        .and_then(|t| t.launch_template_id())
                        .map(str::to_string)
                        .unwrap_or_else(|| pstr("launch_template_id")),
                    min_size: g.min_size().unwrap_or(0) as u32,
                    max_size: g.max_size().unwrap_or(0) as u32,
                    desired_capacity: g.desired_capacity().unwrap_or(0) as u32,
                    vpc_zone_identifier: like_recorded(subnets, prior.get("vpc_zone_identifier")),
                    min_healthy_percentage: prior
                        .get("min_healthy_percentage")
                        .and_then(Value::as_u64)
                        .unwrap_or(100) as u32,
                };
                let ids: Vec<&str> = g
                    .instances()
                    .iter()
                    .filter_map(|i| i.instance_id())
                    .collect();
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(g.auto_scaling_group_arn().unwrap_or_default())),
                        ("name", json!(id)),
                        ("instance_ids", json!(ids)),
                    ]),
                ))
            }
            Kind::CloudwatchLogGroup => {
                let o = self
                    .call(|| {
                        c.logs
                            .describe_log_groups()
                            .log_group_name_prefix(id)
                            .send()
                    })
                    .await
                    .map_err(rd)?;
                let Some(g) = o
                    .log_groups()
                    .iter()
                    .find(|g| g.log_group_name() == Some(id))
                else {
                    return Ok(None);
                };
                let spec = CloudwatchLogGroupSpec {
                    name: id.into(),
                    retention_in_days: g.retention_in_days().map(|d| d as u32),
                };
                let arn = g
                    .arn()
                    .unwrap_or_default()
                    .trim_end_matches(":*")
                    .to_string();
                Some(observed(
                    id,
                    &spec,
                    out(&[("arn", json!(arn)), ("name", json!(id))]),
                ))
            }
            Kind::S3Bucket => {
                if found(self.call(|| c.s3.head_bucket().bucket(id).send()).await)
                    .map_err(rd)?
                    .is_none()
                {
                    return Ok(None);
                }
                let spec = S3BucketSpec {
                    bucket: id.into(),
                    force_destroy: prior
                        .get("force_destroy")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(format!("arn:aws:s3:::{id}"))),
                        ("bucket", json!(id)),
                    ]),
                ))
            }
            Kind::S3Object => {
                let want: S3ObjectSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let Some(o) = found(
                    self.call(|| {
                        c.s3.head_object()
                            .bucket(&want.bucket)
                            .key(&want.key)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let etag = o.e_tag().unwrap_or_default().trim_matches('"').to_string();
                Some(observed(
                    id,
                    &want,
                    out(&[("etag", json!(etag)), ("key", json!(want.key))]),
                ))
            }
            Kind::DbSubnetGroup => {
                let Some(o) = found(
                    self.call(|| {
                        c.rds
                            .describe_db_subnet_groups()
                            .db_subnet_group_name(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(g) = o.db_subnet_groups().first() else {
                    return Ok(None);
                };
                let subnets: Vec<String> = g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect();
                let spec = DbSubnetGroupSpec {
                    name: g.db_subnet_group_name().unwrap_or(id).into(),
                    subnet_ids: like_recorded(subnets, prior.get("subnet_ids")),
                };
                Some(observed(
                    id,
                    &spec,
                    out(&[
                        ("arn", json!(g.db_subnet_group_arn().unwrap_or_default())),
                        ("name", json!(id)),
                    ]),
                ))
            }
            Kind::DbInstance => {
                let want: DbInstanceSpec =
                    serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
                let Some(o) = found(
                    self.call(|| {
                        c.rds
                            .describe_db_instances()
                            .db_instance_identifier(id)
                            .send()
                    })
                    .await,
                )
                .map_err(rd)?
                else {
                    return Ok(None);
                };
                let Some(d) = o.db_instances().first() else {
                    return Ok(None);
                };
                if d.db_instance_status() == Some("deleting") {
                    return Ok(None);
                }
                Some(self.db_observed(id, d, &want))
            }
            _ => None,
        })
    }

    fn db_observed(
        &self,
        id: &str,
        d: &aws_sdk_rds::types::DbInstance,
        want: &DbInstanceSpec,
    ) -> Observed {
        let version = d.engine_version().unwrap_or_default().to_string();
        // `8.0` in the file, `8.0.39` at AWS: the same choice.
        let version = if version.starts_with(&format!("{}.", want.engine_version)) {
            want.engine_version.clone()
        } else {
            version
        };
        let sgs: Vec<String> = d
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect();
        let spec = DbInstanceSpec {
            identifier: d.db_instance_identifier().unwrap_or(id).into(),
            engine: d.engine().unwrap_or_default().into(),
            engine_version: version,
            instance_class: d.db_instance_class().unwrap_or_default().into(),
            allocated_storage: d.allocated_storage().unwrap_or(0) as u32,
            username: d.master_username().unwrap_or_default().into(),
            db_name: d.db_name().unwrap_or_default().into(),
            password_source: want.password_source.clone(),
            db_subnet_group_name: d
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or_default()
                .into(),
            vpc_security_group_ids: like_recorded(sgs, Some(&json!(want.vpc_security_group_ids))),
            skip_final_snapshot: want.skip_final_snapshot,
            publicly_accessible: d.publicly_accessible().unwrap_or(false),
            restore: want.restore.clone(),
        };
        let host = d
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_string();
        let port = d.endpoint().and_then(|e| e.port()).unwrap_or(3306);
        observed(
            id,
            &spec,
            out(&[
                ("arn", json!(d.db_instance_arn().unwrap_or_default())),
                ("address", json!(host)),
                ("port", json!(port.to_string())),
                ("endpoint", json!(format!("{host}:{port}"))),
            ]),
        )
    }

    async fn svc_settle(
        &self,
        address: &str,
        kind: Kind,
        id: &str,
        attrs: &Value,
    ) -> Result<Observed, ProviderError> {
        for i in 0..20u64 {
            if let Some(o) = self
                .svc_read_id(address, kind, id, attrs, &BTreeMap::new())
                .await?
            {
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

    pub(crate) async fn svc_create(
        &self,
        address: &str,
        spec: &Spec,
        exclude: &[String],
    ) -> Result<Observed, ProviderError> {
        let c = &self.c;
        let attrs = spec.to_attrs();
        let mk = |e: CallError| e.provider(address, "create it");
        let not_ours = |what: &str, name: &str| {
            ProviderError::new(format!("{address}: a {what} named `{name}` already exists and was not made by this environment"))
                .with_hint("remove the other object, or rename this one in chronous.toml")
        };
        // Adopt an object this environment already made for the address (an
        // interrupted apply), then bring it to the spec.
        let adopt = |id: String| {
            let attrs = attrs.clone();
            async move {
                let now = self.svc_settle(address, spec.kind(), &id, &attrs).await?;
                let rec = ResourceRecord {
                    address: address.into(),
                    kind: spec.kind(),
                    id: now.id.clone(),
                    attrs: now.attrs,
                    outputs: now.outputs,
                    deps: vec![],
                    tainted: false,
                };
                Box::pin(self.svc_update(&rec, spec)).await
            }
        };
        let id: String = match spec {
            Spec::IamRole(r) => {
                if let Some(o) = found(
                    self.call(|| c.iam.get_role().role_name(&r.name).send())
                        .await,
                )
                .map_err(mk)?
                {
                    let tags = o
                        .role()
                        .map(|r| {
                            r.tags()
                                .iter()
                                .map(|t| (t.key(), t.value()))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    if !self.is_ours(address, tags) {
                        return Err(not_ours("IAM role", &r.name));
                    }
                    return adopt(r.name.clone()).await;
                }
                self.call(|| {
                    c.iam
                        .create_role()
                        .role_name(&r.name)
                        .assume_role_policy_document(trust_policy(&r.trusted_services))
                        .set_tags(Some(self.iam_tags(address)))
                        .send()
                })
                .await
                .map_err(mk)?;
                r.name.clone()
            }
            Spec::IamRolePolicyAttachment(a) => {
                self.call(|| {
                    c.iam
                        .attach_role_policy()
                        .role_name(&a.role)
                        .policy_arn(&a.policy_arn)
                        .send()
                })
                .await
                .map_err(mk)?;
                format!("{}/{}", a.role, a.policy_arn)
            }
            Spec::IamRolePolicy(p) => {
                self.call(|| {
                    c.iam
                        .put_role_policy()
                        .role_name(&p.role)
                        .policy_name(&p.name)
                        .policy_document(&p.policy)
                        .send()
                })
                .await
                .map_err(mk)?;
                format!("{}:{}", p.role, p.name)
            }
            Spec::IamInstanceProfile(p) => {
                if let Some(o) = found(
                    self.call(|| {
                        c.iam
                            .get_instance_profile()
                            .instance_profile_name(&p.name)
                            .send()
                    })
                    .await,
                )
                .map_err(mk)?
                {
                    let tags = o
                        .instance_profile()
                        .map(|r| {
                            r.tags()
                                .iter()
                                .map(|t| (t.key(), t.value()))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    if !self.is_ours(address, tags) {
                        return Err(not_ours("instance profile", &p.name));
                    }
                    return adopt(p.name.clone()).await;
                }
                self.call(|| {
                    c.iam
                        .create_instance_profile()
                        .instance_profile_name(&p.name)
                        .set_tags(Some(self.iam_tags(address)))
                        .send()
                })
                .await
                .map_err(mk)?;
                self.call(|| {
                    c.iam
                        .add_role_to_instance_profile()
                        .instance_profile_name(&p.name)
                        .role_name(&p.role)
                        .send()
                })
                .await
                .map_err(|e| e.provider(address, "add the role"))?;
                p.name.clone()
            }
            Spec::EcsCluster(cl) => {
                let o = self
                    .call(|| {
                        c.ecs
                            .describe_clusters()
                            .clusters(&cl.name)
                            .include(aws_sdk_ecs::types::ClusterField::Tags)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                if let Some(x) = o.clusters().iter().find(|x| x.status() == Some("ACTIVE")) {
                    if !self.is_ours(
                        address,
                        x.tags()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ) {
                        return Err(not_ours("ECS cluster", &cl.name));
                    }
                    return adopt(x.cluster_arn().unwrap_or_default().to_string()).await;
                }
                let o = self
                    .call(|| {
                        c.ecs
                            .create_cluster()
                            .cluster_name(&cl.name)
                            .set_tags(Some(self.ecs_tags(address)))
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                o.cluster()
                    .and_then(|x| x.cluster_arn())
                    .unwrap_or_default()
                    .to_string()
            }
            Spec::EcrRepository(r) => {
                if let Some(o) = found(
                    self.call(|| {
                        c.ecr
                            .describe_repositories()
                            .repository_names(&r.name)
                            .send()
                    })
                    .await,
                )
                .map_err(mk)?
                {
                    let arn = o
                        .repositories()
                        .first()
                        .and_then(|x| x.repository_arn())
                        .unwrap_or_default()
                        .to_string();
                    let t = self
                        .call(|| c.ecr.list_tags_for_resource().resource_arn(&arn).send())
                        .await
                        .map_err(mk)?;
                    if !self.is_ours(address, t.tags().iter().map(|t| (t.key(), t.value()))) {
                        return Err(not_ours("ECR repository", &r.name));
                    }
                    return adopt(r.name.clone()).await;
                }
                let tags: Vec<aws_sdk_ecr::types::Tag> = self
                    .tags(address, &BTreeMap::new())
                    .into_iter()
                    .filter_map(|(k, v)| {
                        aws_sdk_ecr::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .ok()
                    })
                    .collect();
                self.call(|| {
                    c.ecr
                        .create_repository()
                        .repository_name(&r.name)
                        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::from(
                            r.image_tag_mutability.as_str(),
                        ))
                        .image_scanning_configuration(
                            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                                .scan_on_push(r.scan_on_push)
                                .build(),
                        )
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map_err(mk)?;
                r.name.clone()
            }
            Spec::EcsTaskDefinition(t) => {
                // A revision an interrupted apply registered, with this very content.
                let list = self
                    .call(|| {
                        c.ecs
                            .list_task_definitions()
                            .family_prefix(&t.family)
                            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                            .sort(aws_sdk_ecs::types::SortOrder::Desc)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                for arn in list
                    .task_definition_arns()
                    .iter()
                    .filter(|a| !exclude.contains(a))
                    .take(5)
                {
                    let d = self
                        .call(|| {
                            c.ecs
                                .describe_task_definition()
                                .task_definition(arn)
                                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                                .send()
                        })
                        .await
                        .map_err(mk)?;
                    if d.task_definition().and_then(|x| x.family()) != Some(t.family.as_str()) {
                        continue;
                    }
                    if self.is_ours(
                        address,
                        d.tags()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ) {
                        let now = self
                            .svc_settle(address, Kind::EcsTaskDefinition, arn, &attrs)
                            .await?;
                        if now.attrs == attrs {
                            return Ok(now);
                        }
                    }
                }
                self.register_task_definition(address, t).await?
            }
            Spec::EcsService(s) => {
                let o = self
                    .call(|| {
                        c.ecs
                            .describe_services()
                            .cluster(&s.cluster)
                            .services(&s.name)
                            .include(aws_sdk_ecs::types::ServiceField::Tags)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                if let Some(x) = o.services().iter().find(|x| x.status() == Some("ACTIVE")) {
                    if !self.is_ours(
                        address,
                        x.tags()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ) {
                        return Err(not_ours("ECS service", &s.name));
                    }
                    return adopt(x.service_arn().unwrap_or_default().to_string()).await;
                }
                let mut b = c
                    .ecs
                    .create_service()
                    .cluster(&s.cluster)
                    .service_name(&s.name)
                    .task_definition(&s.task_definition)
                    .desired_count(s.desired_count as i32)
                    .launch_type(aws_sdk_ecs::types::LaunchType::from(s.launch_type.as_str()))
                    .deployment_configuration(deployment_configuration(s))
                    .set_tags(Some(self.ecs_tags(address)));
                if let Some(lb) = &s.load_balancer {
                    b = b
                        .load_balancers(
                            aws_sdk_ecs::types::LoadBalancer::builder()
                                .load_balancer_name(&lb.elb_name)
                                .container_name(&lb.container_name)
                                .container_port(lb.container_port as i32)
                                .build(),
                        )
                        .set_role(s.iam_role.clone())
                        .health_check_grace_period_seconds(
                            s.health_check_grace_period_seconds as i32,
                        );
                }
                let o = self.call(|| b.clone().send()).await.map_err(|e| {
                    let pe = e.provider(address, "create the service");
                    if e.code().contains("InvalidParameter") && e.message.contains("role") {
                        pe.with_hint("the service role may not be usable yet (IAM is eventually consistent): run apply again in a minute").retryable()
                    } else {
                        pe
                    }
                })?;
                o.service()
                    .and_then(|x| x.service_arn())
                    .unwrap_or_default()
                    .to_string()
            }
            Spec::Elb(e) => {
                if let Some(o) = found(
                    self.call(|| {
                        c.elb
                            .describe_load_balancers()
                            .load_balancer_names(&e.name)
                            .send()
                    })
                    .await,
                )
                .map_err(mk)?
                {
                    if !o.load_balancer_descriptions().is_empty() {
                        let t = self
                            .call(|| c.elb.describe_tags().load_balancer_names(&e.name).send())
                            .await
                            .map_err(mk)?;
                        let tags: Vec<(&str, &str)> = t
                            .tag_descriptions()
                            .iter()
                            .flat_map(|d| d.tags())
                            .map(|t| (t.key(), t.value().unwrap_or_default()))
                            .collect();
                        if !self.is_ours(address, tags) {
                            return Err(not_ours("load balancer", &e.name));
                        }
                        return adopt(e.name.clone()).await;
                    }
                }
                let tags: Vec<aws_sdk_elasticloadbalancing::types::Tag> = self
                    .tags(address, &BTreeMap::new())
                    .into_iter()
                    .filter_map(|(k, v)| {
                        aws_sdk_elasticloadbalancing::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .ok()
                    })
                    .collect();
                let mut b = c
                    .elb
                    .create_load_balancer()
                    .load_balancer_name(&e.name)
                    .listeners(elb_listener(&e.listener)?)
                    .set_subnets(Some(e.subnets.clone()))
                    .set_security_groups(Some(e.security_groups.clone()))
                    .set_tags(Some(tags));
                if e.internal {
                    b = b.scheme("internal");
                }
                self.call(|| b.clone().send()).await.map_err(mk)?;
                self.configure_health_check(address, e).await?;
                e.name.clone()
            }
            Spec::AutoScalingGroup(g) => {
                let o = self
                    .call(|| {
                        c.autoscaling
                            .describe_auto_scaling_groups()
                            .auto_scaling_group_names(&g.name)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                if let Some(x) = o.auto_scaling_groups().first() {
                    if !self.is_ours(
                        address,
                        x.tags()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ) {
                        return Err(not_ours("auto scaling group", &g.name));
                    }
                    return adopt(g.name.clone()).await;
                }
                let tags: Vec<aws_sdk_autoscaling::types::Tag> = self
                    .tags(address, &BTreeMap::new())
                    .into_iter()
                    .map(|(k, v)| {
                        // The instances carry the environment's tag, not the group's address.
                        let propagate = k == TAG_ENV;
                        aws_sdk_autoscaling::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .propagate_at_launch(propagate)
                            .resource_id(&g.name)
                            .resource_type("auto-scaling-group")
                            .build()
                    })
                    .collect();
                self.call(|| {
                    c.autoscaling
                        .create_auto_scaling_group()
                        .auto_scaling_group_name(&g.name)
                        .launch_template(lt_spec(&g.launch_template_id))
                        .min_size(g.min_size as i32)
                        .max_size(g.max_size as i32)
                        .desired_capacity(g.desired_capacity as i32)
                        .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map_err(mk)?;
                g.name.clone()
            }
            Spec::CloudwatchLogGroup(g) => {
                let o = self
                    .call(|| {
                        c.logs
                            .describe_log_groups()
                            .log_group_name_prefix(&g.name)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                if let Some(x) = o
                    .log_groups()
                    .iter()
                    .find(|x| x.log_group_name() == Some(g.name.as_str()))
                {
                    let arn = x
                        .arn()
                        .unwrap_or_default()
                        .trim_end_matches(":*")
                        .to_string();
                    let t = self
                        .call(|| c.logs.list_tags_for_resource().resource_arn(&arn).send())
                        .await
                        .map_err(mk)?;
                    if !self.is_ours(
                        address,
                        t.tags()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.as_str(), v.as_str())),
                    ) {
                        return Err(not_ours("log group", &g.name));
                    }
                    return adopt(g.name.clone()).await;
                }
                let mut b = c.logs.create_log_group().log_group_name(&g.name);
                for (k, v) in self.tags(address, &BTreeMap::new()) {
                    b = b.tags(k, v);
                }
                self.call(|| b.clone().send()).await.map_err(mk)?;
                if let Some(d) = g.retention_in_days {
                    self.call(|| {
                        c.logs
                            .put_retention_policy()
                            .log_group_name(&g.name)
                            .retention_in_days(d as i32)
                            .send()
                    })
                    .await
                    .map_err(|e| e.provider(address, "set the retention"))?;
                }
                g.name.clone()
            }
            Spec::S3Bucket(b) => {
                if found(
                    self.call(|| c.s3.head_bucket().bucket(&b.bucket).send())
                        .await,
                )
                .map_err(mk)?
                .is_some()
                {
                    // Ours when tagged for this address, or untagged (a create that stopped before tagging:
                    // head_bucket only answers 200 for buckets this account owns).
                    let tags = match self
                        .call(|| c.s3.get_bucket_tagging().bucket(&b.bucket).send())
                        .await
                    {
                        Ok(t) => t
                            .tag_set()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect::<Vec<_>>(),
                        Err(e) if e.code() == "NoSuchTagSet" || e.is_not_found() => vec![],
                        Err(e) => return Err(mk(e)),
                    };
                    if !tags.is_empty()
                        && !self
                            .is_ours(address, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    {
                        return Err(not_ours("bucket", &b.bucket));
                    }
                } else {
                    let mut req = c.s3.create_bucket().bucket(&b.bucket);
                    if self.region() != "us-east-1" {
                        req = req.create_bucket_configuration(
                            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                                .location_constraint(
                                    aws_sdk_s3::types::BucketLocationConstraint::from(
                                        self.region(),
                                    ),
                                )
                                .build(),
                        );
                    }
                    match self.call(|| req.clone().send()).await {
                        Ok(_) => {}
                        Err(e) if e.is("BucketAlreadyOwnedByYou") => {}
                        Err(e) if e.is("BucketAlreadyExists") => {
                            return Err(e.provider(address, "create the bucket").with_hint("S3 bucket names are global: choose another database.restore.bucket in chronous.toml"))
                        }
                        Err(e) => return Err(mk(e)),
                    }
                }
                let set: Vec<aws_sdk_s3::types::Tag> = self
                    .tags(address, &BTreeMap::new())
                    .into_iter()
                    .filter_map(|(k, v)| {
                        aws_sdk_s3::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .ok()
                    })
                    .collect();
                let tagging = aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                self.call(|| {
                    c.s3.put_bucket_tagging()
                        .bucket(&b.bucket)
                        .tagging(tagging.clone())
                        .send()
                })
                .await
                .map_err(|e| e.provider(address, "tag the bucket"))?;
                b.bucket.clone()
            }
            Spec::S3Object(o) => {
                let etag = Box::pin(self.upload(address, o)).await?;
                let mut ob = self
                    .svc_settle(
                        address,
                        Kind::S3Object,
                        &format!("{}/{}", o.bucket, o.key),
                        &attrs,
                    )
                    .await?;
                ob.outputs.insert("etag".into(), json!(etag));
                return Ok(ob);
            }
            Spec::DbSubnetGroup(g) => {
                if let Some(o) = found(
                    self.call(|| {
                        c.rds
                            .describe_db_subnet_groups()
                            .db_subnet_group_name(&g.name)
                            .send()
                    })
                    .await,
                )
                .map_err(mk)?
                {
                    let arn = o
                        .db_subnet_groups()
                        .first()
                        .and_then(|x| x.db_subnet_group_arn())
                        .unwrap_or_default()
                        .to_string();
                    let t = self
                        .call(|| c.rds.list_tags_for_resource().resource_name(&arn).send())
                        .await
                        .map_err(mk)?;
                    if !self.is_ours(
                        address,
                        t.tag_list()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ) {
                        return Err(not_ours("DB subnet group", &g.name));
                    }
                    return adopt(g.name.clone()).await;
                }
                self.call(|| {
                    c.rds
                        .create_db_subnet_group()
                        .db_subnet_group_name(&g.name)
                        .db_subnet_group_description(format!(
                            "chronous {}: {address}",
                            self.opts.env_name
                        ))
                        .set_subnet_ids(Some(g.subnet_ids.clone()))
                        .set_tags(Some(self.rds_tags(address)))
                        .send()
                })
                .await
                .map_err(mk)?;
                g.name.clone()
            }
            Spec::DbInstance(d) => return Box::pin(self.create_db(address, d)).await,
            _ => unreachable!("an EC2 kind"),
        };
        self.svc_settle(address, spec.kind(), &id, &attrs).await
    }

    fn ecs_tags(&self, address: &str) -> Vec<aws_sdk_ecs::types::Tag> {
        self.tags(address, &BTreeMap::new())
            .into_iter()
            .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn rds_tags(&self, address: &str) -> Vec<aws_sdk_rds::types::Tag> {
        self.tags(address, &BTreeMap::new())
            .into_iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect()
    }

    async fn register_task_definition(
        &self,
        address: &str,
        t: &EcsTaskDefinitionSpec,
    ) -> Result<String, ProviderError> {
        use aws_sdk_ecs::types as et;
        let cd = &t.container;
        let mut lc = et::LogConfiguration::builder().log_driver(et::LogDriver::from(
            cd.log_configuration.log_driver.as_str(),
        ));
        for (k, v) in &cd.log_configuration.options {
            lc = lc.options(k, v);
        }
        let lc = lc
            .build()
            .map_err(|e| ProviderError::new(format!("{address}: log configuration: {e}")))?;
        let mut b = et::ContainerDefinition::builder()
            .name(&cd.name)
            .image(&cd.image)
            .essential(cd.essential)
            .cpu(cd.cpu as i32)
            .memory(cd.memory as i32)
            .log_configuration(lc);
        for p in &cd.port_mappings {
            b = b.port_mappings(
                et::PortMapping::builder()
                    .container_port(p.container_port as i32)
                    .host_port(p.host_port as i32)
                    .protocol(et::TransportProtocol::from(p.protocol.as_str()))
                    .build(),
            );
        }
        for (k, v) in &cd.environment {
            b = b.environment(et::KeyValuePair::builder().name(k).value(v).build());
        }
        for (k, v) in &cd.secrets {
            b = b.secrets(
                et::Secret::builder()
                    .name(k)
                    .value_from(v)
                    .build()
                    .map_err(|e| ProviderError::new(format!("{address}: secret {k}: {e}")))?,
            );
        }
        let def = b.build();
        let o = self
            .call(|| {
                self.c
                    .ecs
                    .register_task_definition()
                    .family(&t.family)
                    .network_mode(et::NetworkMode::from(t.network_mode.as_str()))
                    .set_requires_compatibilities(Some(
                        t.requires_compatibilities
                            .iter()
                            .map(|c| et::Compatibility::from(c.as_str()))
                            .collect(),
                    ))
                    .container_definitions(def.clone())
                    .set_execution_role_arn(t.execution_role_arn.clone())
                    .set_tags(Some(self.ecs_tags(address)))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "register the task definition"))?;
        Ok(o.task_definition()
            .and_then(|x| x.task_definition_arn())
            .unwrap_or_default()
            .to_string())
    }

    async fn configure_health_check(
        &self,
        address: &str,
        e: &ElbSpec,
    ) -> Result<(), ProviderError> {
        let h = &e.health_check;
        let hc = aws_sdk_elasticloadbalancing::types::HealthCheck::builder()
            .target(&h.target)
            .interval(h.interval as i32)
            .timeout(h.timeout as i32)
            .healthy_threshold(h.healthy_threshold as i32)
            .unhealthy_threshold(h.unhealthy_threshold as i32)
            .build()
            .map_err(|x| ProviderError::new(format!("{address}: health check: {x}")))?;
        self.call(|| {
            self.c
                .elb
                .configure_health_check()
                .load_balancer_name(&e.name)
                .health_check(hc.clone())
                .send()
        })
        .await
        .map_err(|x| x.provider(address, "configure the health check"))?;
        Ok(())
    }

    /// Upload the backup, in parts above the threshold, and check what S3 stored
    /// against the local file (Content-MD5 per request, the ETag at the end).
    async fn upload(&self, address: &str, o: &S3ObjectSpec) -> Result<String, ProviderError> {
        let p = self.path(&o.source);
        let bytes = tokio::fs::read(&p).await.map_err(|e| {
            ProviderError::new(format!("{address}: cannot read {}: {e}", p.display())).with_hint("fix database.restore.backup_file, or create the backup file (fixtures/backup/make-backup.sh)")
        })?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let tagging = self
            .tags(address, &BTreeMap::new())
            .into_iter()
            .map(|(k, v)| format!("{}={}", url_encode(&k), url_encode(&v)))
            .collect::<Vec<_>>()
            .join("&");
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let s3 = &self.c.s3;
        let up = |e: CallError| e.provider(address, "upload the backup");
        let (etag, expected) = if (bytes.len() as u64) <= self.opts.multipart_threshold {
            let md5 = Md5::digest(&bytes);
            let r = self
                .call(|| {
                    s3.put_object()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.clone()))
                        .content_md5(b64(&md5))
                        .metadata("chronous-sha256", &sha)
                        .tagging(&tagging)
                        .send()
                })
                .await
                .map_err(up)?;
            (
                r.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                hex::encode(md5),
            )
        } else {
            let part = self.opts.multipart_part_size.max(5 * 1024 * 1024) as usize;
            let start = self
                .call(|| {
                    s3.create_multipart_upload()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .metadata("chronous-sha256", &sha)
                        .tagging(&tagging)
                        .send()
                })
                .await
                .map_err(up)?;
            let upload_id = start.upload_id().unwrap_or_default().to_string();
            let mut parts = Vec::new();
            let mut md5s = Vec::new();
            let result: Result<(), ProviderError> = async {
                for (i, chunk) in bytes.chunks(part).enumerate() {
                    let md5 = Md5::digest(chunk);
                    md5s.extend_from_slice(&md5);
                    let n = i as i32 + 1;
                    let r = self
                        .call(|| {
                            s3.upload_part()
                                .bucket(&o.bucket)
                                .key(&o.key)
                                .upload_id(&upload_id)
                                .part_number(n)
                                .content_md5(b64(&md5))
                                .body(aws_sdk_s3::primitives::ByteStream::from(chunk.to_vec()))
                                .send()
                        })
                        .await
                        .map_err(|e| e.provider(address, &format!("upload part {n}")))?;
                    parts.push(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(n)
                            .set_e_tag(r.e_tag().map(str::to_string))
                            .build(),
                    );
                    self.progress(format!(
                        "{address}: uploaded part {n} of {}",
                        bytes.len().div_ceil(part)
                    ));
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                let _ = self
                    .call(|| {
                        s3.abort_multipart_upload()
                            .bucket(&o.bucket)
                            .key(&o.key)
                            .upload_id(&upload_id)
                            .send()
                    })
                    .await;
                return Err(e);
            }
            let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build();
            let completed = self
                .call(|| {
                    s3.complete_multipart_upload()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .upload_id(&upload_id)
                        .multipart_upload(done.clone())
                        .send()
                })
                .await;
            let etag = match completed {
                Ok(r) => r.e_tag().unwrap_or_default().to_string(),
                // Completed (HTTP 200) but the answer did not decode (some emulators): ask S3 what it stored.
                Err(e) if e.status == Some(200) => self
                    .call(|| s3.head_object().bucket(&o.bucket).key(&o.key).send())
                    .await
                    .map_err(|e| e.provider(address, "check the uploaded backup"))?
                    .e_tag()
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => return Err(up(e)),
            };
            let n = bytes.len().div_ceil(part);
            (
                etag.trim_matches('"').to_string(),
                format!("{}-{n}", hex::encode(Md5::digest(&md5s))),
            )
        };
        if etag != expected {
            return Err(ProviderError::new(format!("{address}: S3 stored the backup with checksum {etag}, but the local file gives {expected}"))
                .with_hint("the upload was corrupted or the file changed while uploading: run apply again")
                .retryable());
        }
        Ok(etag)
    }

    async fn create_db(
        &self,
        address: &str,
        d: &DbInstanceSpec,
    ) -> Result<Observed, ProviderError> {
        let rds = &self.c.rds;
        let mk = |e: CallError| e.provider(address, "create the DB instance");
        if let Some(o) = found(
            self.call(|| {
                rds.describe_db_instances()
                    .db_instance_identifier(&d.identifier)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            if let Some(x) = o.db_instances().first() {
                if !self.is_ours(
                    address,
                    x.tag_list()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                ) {
                    return Err(ProviderError::new(format!("{address}: a DB instance named `{}` already exists and was not made by this environment", d.identifier))
                        .with_hint("rename database.identifier in chronous.toml or remove the other instance"));
                }
                // Made by an interrupted apply: wait for it, as the create would have.
                return self.wait_db(address, d).await;
            }
        }
        let password = self.password(address, &d.password_source)?;
        match &d.restore {
            Some(r) => {
                self.progress(format!(
                    "{address}: restoring {} from s3://{}/{} (MySQL {})",
                    d.identifier, r.bucket, r.prefix, r.source_engine_version
                ));
                self.call(|| {
                    rds.restore_db_instance_from_s3()
                        .db_instance_identifier(&d.identifier)
                        .db_instance_class(&d.instance_class)
                        .engine(&d.engine)
                        .engine_version(&d.engine_version)
                        .allocated_storage(d.allocated_storage as i32)
                        .master_username(&d.username)
                        .master_user_password(&password)
                        .db_name(&d.db_name)
                        .db_subnet_group_name(&d.db_subnet_group_name)
                        .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
                        .publicly_accessible(d.publicly_accessible)
                        .source_engine(&r.source_engine)
                        .source_engine_version(&r.source_engine_version)
                        .s3_bucket_name(&r.bucket)
                        .s3_prefix(&r.prefix)
                        .s3_ingestion_role_arn(&r.ingestion_role_arn)
                        .set_tags(Some(self.rds_tags(address)))
                        .send()
                })
                .await
                .map_err(|e| {
                    let pe = e.provider(address, "restore the DB instance from S3");
                    if r.source_engine_version.starts_with("5.6") {
                        pe.with_hint(MYSQL56_HINT)
                    } else {
                        pe
                    }
                })?;
            }
            None => {
                self.call(|| {
                    rds.create_db_instance()
                        .db_instance_identifier(&d.identifier)
                        .db_instance_class(&d.instance_class)
                        .engine(&d.engine)
                        .engine_version(&d.engine_version)
                        .allocated_storage(d.allocated_storage as i32)
                        .master_username(&d.username)
                        .master_user_password(&password)
                        .db_name(&d.db_name)
                        .db_subnet_group_name(&d.db_subnet_group_name)
                        .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
                        .publicly_accessible(d.publicly_accessible)
                        .set_tags(Some(self.rds_tags(address)))
                        .send()
                })
                .await
                .map_err(mk)?;
            }
        }
        drop(password);
        self.wait_db(address, d).await
    }

    /// Wait until the instance is `available`; a rejected backup ends in `incompatible-restore`.
    async fn wait_db(&self, address: &str, d: &DbInstanceSpec) -> Result<Observed, ProviderError> {
        let rds = &self.c.rds;
        self.wait_for(address, "the DB instance to become available", || async {
            let o = match found(self.call(|| rds.describe_db_instances().db_instance_identifier(&d.identifier).send()).await) {
                Ok(Some(o)) => o,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e.provider(address, "describe the DB instance")),
            };
            let Some(x) = o.db_instances().first() else { return Ok(None) };
            match x.db_instance_status().unwrap_or_default() {
                "available" => Ok(Some(self.db_observed(&d.identifier, x, d))),
                "incompatible-restore" => {
                    let v = d.restore.as_ref().map(|r| r.source_engine_version.clone()).unwrap_or_default();
                    let mut e = ProviderError::new(format!(
                        "{address}: RDS could not restore the backup into `{}`: the instance is in state incompatible-restore (source MySQL {v}, target {} {})",
                        d.identifier, d.engine, d.engine_version
                    ));
                    e = e.with_hint(if v.starts_with("5.6") {
                        MYSQL56_HINT.to_string()
                    } else {
                        "the backup is not one RDS can import: it must be a full Percona XtraBackup of the same major version (XtraBackup 2.4 for 5.7, 8.0 for 8.0); check the instance's events in the RDS console, delete the instance (chronous destroy or the console), fix the backup, then apply again".to_string()
                    });
                    Err(e)
                }
                "failed" | "incompatible-parameters" | "incompatible-network" | "storage-full" | "inaccessible-encryption-credentials" => Err(ProviderError::new(format!(
                    "{address}: the DB instance `{}` is in state {}",
                    d.identifier,
                    x.db_instance_status().unwrap_or_default()
                ))
                .with_hint("look at the instance's events in the RDS console; fix the cause, delete the instance, and apply again")),
                _ => Ok(None),
            }
        })
        .await
    }

    pub(crate) async fn svc_update(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        let c = &self.c;
        let address = r.address.as_str();
        let id = r.id.clone();
        let up = |e: CallError| e.provider(address, "change it");
        let attrs = spec.to_attrs();
        let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
        match spec {
            Spec::IamRole(role) => {
                if changed("trusted_services") {
                    self.call(|| {
                        c.iam
                            .update_assume_role_policy()
                            .role_name(&role.name)
                            .policy_document(trust_policy(&role.trusted_services))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
            }
            Spec::IamRolePolicyAttachment(_) => {}
            Spec::IamRolePolicy(p) => {
                self.call(|| {
                    c.iam
                        .put_role_policy()
                        .role_name(&p.role)
                        .policy_name(&p.name)
                        .policy_document(&p.policy)
                        .send()
                })
                .await
                .map_err(up)?;
            }
            Spec::IamInstanceProfile(p) => {
                let old = r
                    .attrs
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if old != p.role {
                    if !old.is_empty() {
                        let _ = self
                            .call(|| {
                                c.iam
                                    .remove_role_from_instance_profile()
                                    .instance_profile_name(&p.name)
                                    .role_name(&old)
                                    .send()
                            })
                            .await;
                    }
                    self.call(|| {
                        c.iam
                            .add_role_to_instance_profile()
                            .instance_profile_name(&p.name)
                            .role_name(&p.role)
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
            }
            Spec::EcsCluster(_) => {}
            Spec::EcrRepository(e) => {
                if changed("image_tag_mutability") {
                    self.call(|| {
                        c.ecr
                            .put_image_tag_mutability()
                            .repository_name(&e.name)
                            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::from(
                                e.image_tag_mutability.as_str(),
                            ))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if changed("scan_on_push") {
                    self.call(|| {
                        c.ecr
                            .put_image_scanning_configuration()
                            .repository_name(&e.name)
                            .image_scanning_configuration(
                                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                                    .scan_on_push(e.scan_on_push)
                                    .build(),
                            )
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
            }
            Spec::EcsTaskDefinition(_) => {}
            Spec::EcsService(s) => {
                let mut b = c
                    .ecs
                    .update_service()
                    .cluster(&s.cluster)
                    .service(&s.name)
                    .task_definition(&s.task_definition)
                    .desired_count(s.desired_count as i32)
                    .deployment_configuration(deployment_configuration(s));
                if s.load_balancer.is_some() {
                    b = b.health_check_grace_period_seconds(
                        s.health_check_grace_period_seconds as i32,
                    );
                }
                self.call(|| b.clone().send()).await.map_err(up)?;
                if changed("task_definition") {
                    self.progress(format!(
                        "{address}: rolling out {} (minimum healthy {}%, maximum {}%)",
                        s.task_definition,
                        s.deployment_minimum_healthy_percent,
                        s.deployment_maximum_percent
                    ));
                }
            }
            Spec::Elb(e) => {
                let old: ElbSpec =
                    serde_json::from_value(r.attrs.clone()).map_err(|x| spec_err(address, x))?;
                let add: Vec<String> = e
                    .subnets
                    .iter()
                    .filter(|s| !old.subnets.contains(s))
                    .cloned()
                    .collect();
                let del: Vec<String> = old
                    .subnets
                    .iter()
                    .filter(|s| !e.subnets.contains(s))
                    .cloned()
                    .collect();
                if !add.is_empty() {
                    self.call(|| {
                        c.elb
                            .attach_load_balancer_to_subnets()
                            .load_balancer_name(&e.name)
                            .set_subnets(Some(add.clone()))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if !del.is_empty() {
                    self.call(|| {
                        c.elb
                            .detach_load_balancer_from_subnets()
                            .load_balancer_name(&e.name)
                            .set_subnets(Some(del.clone()))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if old.security_groups != e.security_groups {
                    self.call(|| {
                        c.elb
                            .apply_security_groups_to_load_balancer()
                            .load_balancer_name(&e.name)
                            .set_security_groups(Some(e.security_groups.clone()))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if old.listener != e.listener {
                    if old.listener.lb_port != 0 {
                        self.call(|| {
                            c.elb
                                .delete_load_balancer_listeners()
                                .load_balancer_name(&e.name)
                                .load_balancer_ports(old.listener.lb_port as i32)
                                .send()
                        })
                        .await
                        .map_err(up)?;
                    }
                    self.call(|| {
                        let l = elb_listener(&e.listener).expect("checked at create");
                        c.elb
                            .create_load_balancer_listeners()
                            .load_balancer_name(&e.name)
                            .listeners(l)
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
                if old.health_check != e.health_check {
                    self.configure_health_check(address, e).await?;
                }
            }
            Spec::AutoScalingGroup(g) => Box::pin(self.update_asg(r, g)).await?,
            Spec::CloudwatchLogGroup(g) => {
                if changed("retention_in_days") {
                    match g.retention_in_days {
                        Some(d) => self
                            .call(|| {
                                c.logs
                                    .put_retention_policy()
                                    .log_group_name(&g.name)
                                    .retention_in_days(d as i32)
                                    .send()
                            })
                            .await
                            .map(|_| ())
                            .map_err(up)?,
                        None => self
                            .call(|| {
                                c.logs
                                    .delete_retention_policy()
                                    .log_group_name(&g.name)
                                    .send()
                            })
                            .await
                            .map(|_| ())
                            .map_err(up)?,
                    }
                }
            }
            Spec::S3Bucket(_) => {}
            Spec::S3Object(o) => {
                let etag = Box::pin(self.upload(address, o)).await?;
                let mut ob = self
                    .svc_settle(address, Kind::S3Object, &id, &attrs)
                    .await?;
                ob.outputs.insert("etag".into(), json!(etag));
                return Ok(ob);
            }
            Spec::DbSubnetGroup(g) => {
                if changed("subnet_ids") {
                    self.call(|| {
                        c.rds
                            .modify_db_subnet_group()
                            .db_subnet_group_name(&g.name)
                            .set_subnet_ids(Some(g.subnet_ids.clone()))
                            .send()
                    })
                    .await
                    .map_err(up)?;
                }
            }
            Spec::DbInstance(d) => {
                if [
                    "instance_class",
                    "allocated_storage",
                    "engine_version",
                    "vpc_security_group_ids",
                    "publicly_accessible",
                ]
                .iter()
                .any(|k| changed(k))
                {
                    let mut b = c
                        .rds
                        .modify_db_instance()
                        .db_instance_identifier(&d.identifier)
                        .apply_immediately(true)
                        .db_instance_class(&d.instance_class)
                        .allocated_storage(d.allocated_storage as i32)
                        .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
                        .publicly_accessible(d.publicly_accessible);
                    if changed("engine_version") {
                        b = b
                            .engine_version(&d.engine_version)
                            .allow_major_version_upgrade(true);
                    }
                    self.call(|| b.clone().send()).await.map_err(up)?;
                    // RDS starts modifying a moment later.
                    tokio::time::sleep(self.opts.poll_interval.min(Duration::from_secs(5))).await;
                }
                return self.wait_db(address, d).await;
            }
            _ => unreachable!("an EC2 kind"),
        }
        self.svc_settle(address, spec.kind(), &id, &attrs).await
    }

    /// A new launch template (or size) reaches the group blue/green: the
    /// group grows by the new instances, waits until they are InService, then
    /// the old ones are terminated and the group shrinks back.
    async fn update_asg(
        &self,
        r: &ResourceRecord,
        g: &AutoScalingGroupSpec,
    ) -> Result<(), ProviderError> {
        let a = &self.c.autoscaling;
        let address = r.address.as_str();
        let up = |e: CallError| e.provider(address, "change the auto scaling group");
        let old_lt = r
            .attrs
            .get("launch_template_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let roll = old_lt != g.launch_template_id;
        let current = self
            .call(|| {
                a.describe_auto_scaling_groups()
                    .auto_scaling_group_names(&g.name)
                    .send()
            })
            .await
            .map_err(up)?;
        let old_instances: Vec<String> = current
            .auto_scaling_groups()
            .first()
            .map(|x| {
                x.instances()
                    .iter()
                    .filter(|i| {
                        i.launch_template().and_then(|t| t.launch_template_id())
                            != Some(g.launch_template_id.as_str())
                    })
                    .filter_map(|i| i.instance_id().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !roll || old_instances.is_empty() || g.desired_capacity == 0 {
            self.call(|| {
                a.update_auto_scaling_group()
                    .auto_scaling_group_name(&g.name)
                    .launch_template(lt_spec(&g.launch_template_id))
                    .min_size(g.min_size as i32)
                    .max_size(g.max_size as i32)
                    .desired_capacity(g.desired_capacity as i32)
                    .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                    .send()
            })
            .await
            .map_err(up)?;
            return Ok(());
        }
        let desired = g.desired_capacity as i32;
        let surge = old_instances.len() as i32 + desired;
        self.progress(format!(
            "{address}: blue/green: starting {desired} instance(s) from {} before retiring {}",
            g.launch_template_id,
            old_instances.len()
        ));
        self.call(|| {
            a.update_auto_scaling_group()
                .auto_scaling_group_name(&g.name)
                .launch_template(lt_spec(&g.launch_template_id))
                .min_size(g.min_size as i32)
                .max_size((g.max_size as i32).max(surge))
                .desired_capacity(surge)
                .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                .send()
        })
        .await
        .map_err(up)?;
        let need = ((desired as u64 * g.min_healthy_percentage as u64).div_ceil(100))
            .max(desired as u64) as usize;
        self.wait_for(address, "the new instances to be InService", || async {
            let o = self
                .call(|| {
                    a.describe_auto_scaling_groups()
                        .auto_scaling_group_names(&g.name)
                        .send()
                })
                .await
                .map_err(up)?;
            let healthy = o
                .auto_scaling_groups()
                .first()
                .map(|x| {
                    x.instances()
                        .iter()
                        .filter(|i| {
                            i.launch_template().and_then(|t| t.launch_template_id())
                                == Some(g.launch_template_id.as_str())
                        })
                        .filter(|i| {
                            i.lifecycle_state().map(|s| s.as_str()) == Some("InService")
                                && i.health_status() == Some("Healthy")
                        })
                        .count()
                })
                .unwrap_or(0);
            Ok((healthy >= need).then_some(()))
        })
        .await?;
        for i in &old_instances {
            match self
                .call(|| {
                    a.terminate_instance_in_auto_scaling_group()
                        .instance_id(i)
                        .should_decrement_desired_capacity(true)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.message.contains("not part of") => {}
                Err(e) => return Err(up(e)),
            }
        }
        self.call(|| {
            a.update_auto_scaling_group()
                .auto_scaling_group_name(&g.name)
                .min_size(g.min_size as i32)
                .max_size(g.max_size as i32)
                .desired_capacity(desired)
                .send()
        })
        .await
        .map_err(up)?;
        Ok(())
    }

    pub(crate) async fn svc_delete(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<(), ProviderError> {
        let c = &self.c;
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
            Spec::IamRole(role) => {
                self.retry_in_use(address, "delete the role", || async {
                    self.call(|| c.iam.delete_role().role_name(&role.name).send())
                        .await
                        .map(|_| ())
                })
                .await
            }
            Spec::IamRolePolicyAttachment(a) => gone(
                self.call(|| {
                    c.iam
                        .detach_role_policy()
                        .role_name(&a.role)
                        .policy_arn(&a.policy_arn)
                        .send()
                })
                .await
                .map(|_| ()),
                "detach the policy",
            ),
            Spec::IamRolePolicy(p) => gone(
                self.call(|| {
                    c.iam
                        .delete_role_policy()
                        .role_name(&p.role)
                        .policy_name(&p.name)
                        .send()
                })
                .await
                .map(|_| ()),
                "delete the policy",
            ),
            Spec::IamInstanceProfile(p) => {
                let _ = self
                    .call(|| {
                        c.iam
                            .remove_role_from_instance_profile()
                            .instance_profile_name(&p.name)
                            .role_name(&p.role)
                            .send()
                    })
                    .await;
                gone(
                    self.call(|| {
                        c.iam
                            .delete_instance_profile()
                            .instance_profile_name(&p.name)
                            .send()
                    })
                    .await
                    .map(|_| ()),
                    "delete the instance profile",
                )
            }
            Spec::EcsCluster(_) => {
                self.retry_in_use(address, "delete the cluster", || async {
                    match self
                        .call(|| c.ecs.delete_cluster().cluster(id).send())
                        .await
                    {
                        Err(e)
                            if e.code().contains("ClusterContainsContainerInstances")
                                || e.code().contains("ClusterContainsServices")
                                || e.code().contains("ClusterContainsTasks") =>
                        {
                            Err(CallError {
                                code: Some("DependencyViolation".into()),
                                ..e
                            })
                        }
                        other => other.map(|_| ()),
                    }
                })
                .await
            }
            Spec::EcrRepository(e) => gone(
                self.call(|| {
                    c.ecr
                        .delete_repository()
                        .repository_name(&e.name)
                        .force(true)
                        .send()
                })
                .await
                .map(|_| ()),
                "delete the repository",
            ),
            Spec::EcsTaskDefinition(_) => {
                gone(
                    self.call(|| {
                        c.ecs
                            .deregister_task_definition()
                            .task_definition(id)
                            .send()
                    })
                    .await
                    .map(|_| ()),
                    "deregister the task definition",
                )?;
                // Deregistered revisions stay (INACTIVE) unless deleted; not every endpoint offers that.
                let _ = self
                    .call(|| c.ecs.delete_task_definitions().task_definitions(id).send())
                    .await;
                Ok(())
            }
            Spec::EcsService(s) => {
                let _ = self
                    .call(|| {
                        c.ecs
                            .update_service()
                            .cluster(&s.cluster)
                            .service(&s.name)
                            .desired_count(0)
                            .send()
                    })
                    .await;
                gone(
                    self.call(|| {
                        c.ecs
                            .delete_service()
                            .cluster(&s.cluster)
                            .service(&s.name)
                            .force(true)
                            .send()
                    })
                    .await
                    .map(|_| ()),
                    "delete the service",
                )?;
                self.wait_for(address, "the service to drain", || async {
                    match self
                        .call(|| {
                            c.ecs
                                .describe_services()
                                .cluster(&s.cluster)
                                .services(&s.name)
                                .send()
                        })
                        .await
                    {
                        Ok(o) => Ok(o
                            .services()
                            .iter()
                            .all(|x| x.status() == Some("INACTIVE"))
                            .then_some(())),
                        Err(e) if e.is_not_found() => Ok(Some(())),
                        Err(e) => Err(e.provider(address, "describe the service")),
                    }
                })
                .await
            }
            Spec::Elb(e) => gone(
                self.call(|| {
                    c.elb
                        .delete_load_balancer()
                        .load_balancer_name(&e.name)
                        .send()
                })
                .await
                .map(|_| ()),
                "delete the load balancer",
            ),
            Spec::AutoScalingGroup(g) => {
                gone(
                    self.call(|| {
                        c.autoscaling
                            .delete_auto_scaling_group()
                            .auto_scaling_group_name(&g.name)
                            .force_delete(true)
                            .send()
                    })
                    .await
                    .map(|_| ()),
                    "delete the group",
                )?;
                self.wait_for(address, "the group's instances to terminate", || async {
                    let o = self
                        .call(|| {
                            c.autoscaling
                                .describe_auto_scaling_groups()
                                .auto_scaling_group_names(&g.name)
                                .send()
                        })
                        .await
                        .map_err(|e| e.provider(address, "describe the group"))?;
                    Ok(o.auto_scaling_groups().is_empty().then_some(()))
                })
                .await
            }
            Spec::CloudwatchLogGroup(g) => gone(
                self.call(|| c.logs.delete_log_group().log_group_name(&g.name).send())
                    .await
                    .map(|_| ()),
                "delete the log group",
            ),
            Spec::S3Bucket(b) => {
                if b.force_destroy {
                    loop {
                        let l = match found(
                            self.call(|| c.s3.list_objects_v2().bucket(&b.bucket).send())
                                .await,
                        )
                        .map_err(|e| e.provider(address, "list the bucket"))?
                        {
                            Some(l) => l,
                            None => return Ok(()),
                        };
                        let keys: Vec<aws_sdk_s3::types::ObjectIdentifier> = l
                            .contents()
                            .iter()
                            .filter_map(|o| o.key())
                            .filter_map(|k| {
                                aws_sdk_s3::types::ObjectIdentifier::builder()
                                    .key(k)
                                    .build()
                                    .ok()
                            })
                            .collect();
                        if keys.is_empty() {
                            break;
                        }
                        let del = aws_sdk_s3::types::Delete::builder()
                            .set_objects(Some(keys))
                            .build()
                            .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                        self.call(|| {
                            c.s3.delete_objects()
                                .bucket(&b.bucket)
                                .delete(del.clone())
                                .send()
                        })
                        .await
                        .map_err(|e| e.provider(address, "empty the bucket"))?;
                    }
                }
                match self.call(|| c.s3.delete_bucket().bucket(&b.bucket).send()).await {
                    Err(e) if e.is("BucketNotEmpty") => Err(e.provider(address, "delete the bucket").with_hint("the bucket holds objects chronous did not put there: empty it, or set force_destroy")),
                    other => gone(other.map(|_| ()), "delete the bucket"),
                }
            }
            Spec::S3Object(o) => gone(
                self.call(|| c.s3.delete_object().bucket(&o.bucket).key(&o.key).send())
                    .await
                    .map(|_| ()),
                "delete the object",
            ),
            Spec::DbSubnetGroup(g) => {
                self.retry_in_use(address, "delete the DB subnet group", || async {
                    match self
                        .call(|| {
                            c.rds
                                .delete_db_subnet_group()
                                .db_subnet_group_name(&g.name)
                                .send()
                        })
                        .await
                    {
                        Err(e) if e.code() == "InvalidDBSubnetGroupStateFault" => Err(CallError {
                            code: Some("DependencyViolation".into()),
                            ..e
                        }),
                        other => other.map(|_| ()),
                    }
                })
                .await
            }
            Spec::DbInstance(d) => {
                let mut b = c
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(&d.identifier)
                    .skip_final_snapshot(d.skip_final_snapshot);
                if !d.skip_final_snapshot {
                    b = b.final_db_snapshot_identifier(format!(
                        "{}-final-{}",
                        d.identifier,
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|t| t.as_secs())
                            .unwrap_or(0)
                    ));
                }
                match self.call(|| b.clone().send()).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e)
                        if e.code() == "InvalidDBInstanceState"
                            && e.message.contains("already being deleted") => {}
                    Err(e) => return Err(e.provider(address, "delete the DB instance")),
                }
                self.wait_for(address, "the DB instance to be deleted", || async {
                    match found(
                        self.call(|| {
                            c.rds
                                .describe_db_instances()
                                .db_instance_identifier(&d.identifier)
                                .send()
                        })
                        .await,
                    ) {
                        Ok(None) => Ok(Some(())),
                        Ok(Some(o)) if o.db_instances().is_empty() => Ok(Some(())),
                        Ok(Some(_)) => Ok(None),
                        Err(e) => Err(e.provider(address, "describe the DB instance")),
                    }
                })
                .await
            }
            _ => unreachable!("an EC2 kind"),
        }
    }
}

/// The way forward when the backup is MySQL 5.6.
pub const MYSQL56_HINT: &str = "RDS retired MySQL 5.6 (instances were force-upgraded to 5.7 in 2021), so a 5.6 XtraBackup can no longer be restored into RDS: upgrade the source to 5.7 or 8.0, take a new full backup with the matching Percona XtraBackup (2.4 for 5.7, 8.0 for 8.0), set database.engine_version and database.restore.source_engine_version to match, delete the failed instance and apply again";

fn deployment_configuration(s: &EcsServiceSpec) -> aws_sdk_ecs::types::DeploymentConfiguration {
    let mut b = aws_sdk_ecs::types::DeploymentConfiguration::builder()
        .minimum_healthy_percent(s.deployment_minimum_healthy_percent as i32)
        .maximum_percent(s.deployment_maximum_percent as i32);
    b = b.deployment_circuit_breaker(
        aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
            .enable(s.circuit_breaker_enable)
            .rollback(s.circuit_breaker_rollback)
            .build(),
    );
    b.build()
}

fn lt_spec(id: &str) -> aws_sdk_autoscaling::types::LaunchTemplateSpecification {
    aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version("$Latest")
        .build()
}

fn elb_listener(
    l: &ElbListener,
) -> Result<aws_sdk_elasticloadbalancing::types::Listener, ProviderError> {
    aws_sdk_elasticloadbalancing::types::Listener::builder()
        .protocol(&l.lb_protocol)
        .load_balancer_port(l.lb_port as i32)
        .instance_protocol(&l.instance_protocol)
        .instance_port(l.instance_port as i32)
        .build()
        .map_err(|e| ProviderError::new(format!("listener: {e}")))
}

#[allow(dead_code)]
fn tag_address() -> &'static str {
    TAG_ADDRESS
}
