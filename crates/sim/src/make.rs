//! The identity and computed outputs of a new simulated object, one function
//! per resource kind: its id in AWS's format (`vpc-...`, an ARN, a name), the
//! unique name the control plane checks (if the kind has one), and the outputs
//! AWS would report (ARNs, DNS names, addresses, a key's fingerprint, an
//! object's etag). [`SimProvider::make`] dispatches with one exhaustive `match`
//! over core's `Spec`, so a kind added to core's `kinds!` table does not
//! compile here until the simulator says what an object of that kind gets.

use std::collections::BTreeMap;

use chronous_core::provider::ProviderError;
use chronous_core::resources::{
    AmiLookupSpec, AutoScalingGroupSpec, CloudwatchLogGroupSpec, DbInstanceSpec, DbSubnetGroupSpec,
    EcrRepositorySpec, EcsClusterSpec, EcsServiceSpec, EcsTaskDefinitionSpec, ElbSpec,
    IamInstanceProfileSpec, IamRoleSpec, InstanceSpec, KeyPairSpec, Kind, LaunchTemplateSpec,
    S3BucketSpec, S3ObjectSpec, SecurityGroupSpec, Spec, SsmParameterSpec,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cloud::Cloud;
use crate::{Runtime, SimProvider, ACCOUNT};

/// The outputs of an object, by name.
type Outputs = BTreeMap<String, Value>;
/// The id of a new object and its unique name, if its kind has one.
type Identity = (String, Option<String>);

/// Record `name` as the object's `name` output and its unique name.
fn named(id: String, name: String, out: &mut Outputs) -> Identity {
    out.insert("name".to_string(), json!(name));
    (id, Some(name))
}

impl SimProvider {
    /// Identity and computed outputs of a new object.
    pub(crate) fn make(
        &self,
        cloud: &mut Cloud,
        address: &str,
        spec: &Spec,
    ) -> Result<(String, Option<String>, Outputs), ProviderError> {
        let mut out = BTreeMap::new();
        let (id, name) = match spec {
            Spec::Vpc(_) => self.vpc(cloud, &mut out),
            Spec::Subnet(_) => self.subnet(cloud, &mut out),
            Spec::InternetGateway(_) => (cloud.new_id("igw"), None),
            Spec::Eip(_) => eip(cloud, &mut out),
            Spec::NatGateway(_) => (cloud.new_id("nat"), None),
            Spec::RouteTable(_) => (cloud.new_id("rtb"), None),
            Spec::RouteTableAssociation(_) => (cloud.new_id("rtbassoc"), None),
            Spec::SecurityGroup(s) => self.security_group(cloud, s, &mut out),
            Spec::SecurityGroupRule(_) => (cloud.new_id("sgr"), None),
            Spec::KeyPair(k) => self.key_pair(address, k, &mut out)?,
            Spec::AmiLookup(a) => ami_lookup(a, &mut out),
            Spec::IamRole(r) => iam_role(cloud, r, &mut out),
            Spec::IamRolePolicyAttachment(a) => (format!("{}/{}", a.role, a.policy_arn), None),
            Spec::IamRolePolicy(p) => (format!("{}:{}", p.role, p.name), None),
            Spec::IamInstanceProfile(p) => iam_instance_profile(cloud, p, &mut out),
            Spec::LaunchTemplate(l) => launch_template(cloud, l, &mut out),
            Spec::LaunchConfiguration(l) => named(l.name.clone(), l.name.clone(), &mut out),
            Spec::AutoScalingGroup(g) => self.auto_scaling_group(cloud, g, &mut out),
            Spec::EcsCluster(c) => self.ecs_cluster(c, &mut out),
            Spec::EcrRepository(r) => self.ecr_repository(r, &mut out),
            Spec::EcsTaskDefinition(t) => self.ecs_task_definition(cloud, t, &mut out),
            Spec::EcsService(s) => self.ecs_service(s, &mut out),
            Spec::Elb(e) => self.elb(cloud, address, e, &mut out)?,
            Spec::CloudwatchLogGroup(g) => self.log_group(g, &mut out),
            Spec::S3Bucket(b) => s3_bucket(b, &mut out),
            Spec::S3Object(o) => self.s3_object(address, o, &mut out)?,
            Spec::DbSubnetGroup(g) => self.db_subnet_group(g, &mut out),
            Spec::DbInstance(d) => self.db_instance(address, d, &mut out)?,
            Spec::SsmParameter(s) => self.ssm_parameter(address, s, &mut out)?,
            Spec::Data(_) => (cloud.new_id("data"), None),
            Spec::Instance(i) => instance(cloud, i, &mut out),
        };
        out.insert("id".into(), json!(id));
        Ok((id, name, out))
    }

    fn vpc(&self, cloud: &mut Cloud, out: &mut Outputs) -> Identity {
        let id = cloud.new_id("vpc");
        out.insert("arn".into(), json!(self.arn("ec2", &format!("vpc/{id}"))));
        (id, None)
    }

    fn subnet(&self, cloud: &mut Cloud, out: &mut Outputs) -> Identity {
        let id = cloud.new_id("subnet");
        out.insert(
            "arn".into(),
            json!(self.arn("ec2", &format!("subnet/{id}"))),
        );
        (id, None)
    }

    fn security_group(
        &self,
        cloud: &mut Cloud,
        s: &SecurityGroupSpec,
        out: &mut Outputs,
    ) -> Identity {
        let id = cloud.new_id("sg");
        out.insert(
            "arn".into(),
            json!(self.arn("ec2", &format!("security-group/{id}"))),
        );
        (id, Some(format!("{}/{}", s.vpc_id, s.name)))
    }

    fn key_pair(
        &self,
        address: &str,
        k: &KeyPairSpec,
        out: &mut Outputs,
    ) -> Result<Identity, ProviderError> {
        let path = self.path(&k.public_key);
        let key = std::fs::read(&path).map_err(|e| {
            ProviderError::new(format!(
                "{address}: cannot read the public key file {}: {e}",
                path.display()
            ))
            .with_hint(format!(
                "create it with `ssh-keygen -t ed25519 -f {}` or fix key_pair.public_key_file",
                path.with_extension("").display()
            ))
        })?;
        out.insert(
            "fingerprint".into(),
            json!(hex::encode(&Sha256::digest(&key)[..16])),
        );
        out.insert("key_name".into(), json!(k.key_name));
        Ok((k.key_name.clone(), Some(k.key_name.clone())))
    }

    fn auto_scaling_group(
        &self,
        cloud: &mut Cloud,
        g: &AutoScalingGroupSpec,
        out: &mut Outputs,
    ) -> Identity {
        out.insert(
            "arn".into(),
            json!(self.arn("autoscaling", &format!("autoScalingGroup:{}", g.name))),
        );
        let ids: Vec<String> = (0..g.desired_capacity).map(|_| cloud.new_id("i")).collect();
        out.insert("instance_ids".into(), json!(ids));
        named(g.name.clone(), g.name.clone(), out)
    }

    fn ecs_cluster(&self, c: &EcsClusterSpec, out: &mut Outputs) -> Identity {
        let arn = self.arn("ecs", &format!("cluster/{}", c.name));
        out.insert("arn".into(), json!(arn));
        named(arn, c.name.clone(), out)
    }

    fn ecr_repository(&self, r: &EcrRepositorySpec, out: &mut Outputs) -> Identity {
        out.insert(
            "arn".into(),
            json!(self.arn("ecr", &format!("repository/{}", r.name))),
        );
        out.insert(
            "repository_url".into(),
            json!(format!(
                "{ACCOUNT}.dkr.ecr.{}.amazonaws.com/{}",
                self.region, r.name
            )),
        );
        (r.name.clone(), Some(r.name.clone()))
    }

    /// A task definition's ARN names the next revision of its family.
    fn ecs_task_definition(
        &self,
        cloud: &mut Cloud,
        t: &EcsTaskDefinitionSpec,
        out: &mut Outputs,
    ) -> Identity {
        let rev = cloud
            .objects()
            .filter(|o| {
                o.kind == Kind::EcsTaskDefinition && o.attrs.get("family") == Some(&json!(t.family))
            })
            .filter_map(|o| o.outputs.get("revision").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        let arn = self.arn("ecs", &format!("task-definition/{}:{rev}", t.family));
        out.insert("arn".into(), json!(arn));
        out.insert("revision".into(), json!(rev));
        (arn, None)
    }

    fn ecs_service(&self, s: &EcsServiceSpec, out: &mut Outputs) -> Identity {
        let cluster = s.cluster.rsplit('/').next().unwrap_or("");
        let arn = self.arn("ecs", &format!("service/{cluster}/{}", s.name));
        out.insert("arn".into(), json!(arn));
        named(arn, format!("{cluster}/{}", s.name), out)
    }

    /// A classic ELB's DNS name: on the docker runtime a free port on
    /// loopback, which the controller serves; on the model runtime AWS's form.
    fn elb(
        &self,
        cloud: &mut Cloud,
        address: &str,
        e: &ElbSpec,
        out: &mut Outputs,
    ) -> Result<Identity, ProviderError> {
        let h = hex::encode(Sha256::digest(
            format!("{}{}", e.name, cloud.next_seq()).as_bytes(),
        ));
        out.insert(
            "arn".into(),
            json!(self.arn("elasticloadbalancing", &format!("loadbalancer/{}", e.name))),
        );
        let dns = match self.opts.runtime {
            // The simulated ELB listens on loopback; the controller serves it.
            Runtime::Docker => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| {
                    ProviderError::new(format!(
                        "{address}: no free port on 127.0.0.1 for the load balancer: {e}"
                    ))
                })?;
                format!(
                    "127.0.0.1:{}",
                    l.local_addr().map(|a| a.port()).unwrap_or(0)
                )
            }
            Runtime::Model => format!(
                "{}-{}.{}.elb.amazonaws.com",
                e.name,
                u32::from_str_radix(&h[..8], 16).unwrap_or(0) % 1_000_000_000,
                self.region
            ),
        };
        out.insert("dns_name".into(), json!(dns));
        Ok(named(e.name.clone(), e.name.clone(), out))
    }

    fn log_group(&self, g: &CloudwatchLogGroupSpec, out: &mut Outputs) -> Identity {
        out.insert(
            "arn".into(),
            json!(self.arn("logs", &format!("log-group:{}", g.name))),
        );
        named(g.name.clone(), g.name.clone(), out)
    }

    fn s3_object(
        &self,
        address: &str,
        o: &S3ObjectSpec,
        out: &mut Outputs,
    ) -> Result<Identity, ProviderError> {
        out.extend(self.upload(address, o)?);
        out.insert("key".into(), json!(o.key));
        Ok((format!("{}/{}", o.bucket, o.key), None))
    }

    fn db_subnet_group(&self, g: &DbSubnetGroupSpec, out: &mut Outputs) -> Identity {
        out.insert(
            "arn".into(),
            json!(self.arn("rds", &format!("subgrp:{}", g.name))),
        );
        named(g.name.clone(), g.name.clone(), out)
    }

    /// A DB instance: refused without a password at run time or without its
    /// backup file; its endpoint is in RDS's form.
    fn db_instance(
        &self,
        address: &str,
        d: &DbInstanceSpec,
        out: &mut Outputs,
    ) -> Result<Identity, ProviderError> {
        self.check_password(address, &d.password_source)?;
        if let Some(r) = &d.restore {
            let p = self.path(&r.backup_file);
            if !p.is_file() {
                return Err(ProviderError::new(format!("{address}: the backup file {} does not exist", p.display()))
                    .with_hint("fix database.restore.backup_file, or create the backup (fixtures/backup/make-backup.sh)"));
            }
        }
        let h = hex::encode(Sha256::digest(d.identifier.as_bytes()));
        let host = format!(
            "{}.c{}.{}.rds.amazonaws.com",
            d.identifier,
            &h[..12],
            self.region
        );
        out.insert(
            "arn".into(),
            json!(self.arn("rds", &format!("db:{}", d.identifier))),
        );
        out.insert("address".into(), json!(host));
        out.insert("port".into(), json!("3306"));
        out.insert("endpoint".into(), json!(format!("{host}:3306")));
        Ok((d.identifier.clone(), Some(d.identifier.clone())))
    }

    fn ssm_parameter(
        &self,
        address: &str,
        s: &SsmParameterSpec,
        out: &mut Outputs,
    ) -> Result<Identity, ProviderError> {
        // The value is not kept: the simulator injects DB_PASSWORD into
        // the tasks itself, read from the same source at run time.
        self.check_password(address, &s.value_source)?;
        out.insert(
            "arn".into(),
            json!(self.arn(
                "ssm",
                &format!("parameter/{}", s.name.trim_start_matches('/'))
            )),
        );
        Ok(named(s.name.clone(), s.name.clone(), out))
    }
}

fn eip(cloud: &mut Cloud, out: &mut Outputs) -> Identity {
    let n = cloud.next_seq();
    out.insert(
        "public_ip".into(),
        json!(format!("198.51.100.{}", n % 250 + 1)),
    );
    (cloud.new_id("eipalloc"), None)
}

/// An AMI found by name or through an SSM parameter: a stable id from the
/// lookup key, and the name of the image AWS would find.
fn ami_lookup(a: &AmiLookupSpec, out: &mut Outputs) -> Identity {
    let key = a.ssm_parameter.as_deref().unwrap_or(&a.name_pattern);
    let h = hex::encode(Sha256::digest(key.as_bytes()));
    let name = match &a.ssm_parameter {
        Some(_) => "amzn2-ami-ecs-hvm-2.0.20241001-x86_64-ebs".to_string(),
        None => a.name_pattern.replace('*', "2.0.20241001"),
    };
    out.insert("name".into(), json!(name));
    (format!("ami-{}", &h[..17]), None)
}

fn iam_role(cloud: &mut Cloud, r: &IamRoleSpec, out: &mut Outputs) -> Identity {
    out.insert(
        "arn".into(),
        json!(format!("arn:aws:iam::{ACCOUNT}:role/{}", r.name)),
    );
    let id = cloud.new_id("AROA").replace('-', "").to_uppercase();
    named(id, r.name.clone(), out)
}

fn iam_instance_profile(
    cloud: &mut Cloud,
    p: &IamInstanceProfileSpec,
    out: &mut Outputs,
) -> Identity {
    out.insert(
        "arn".into(),
        json!(format!(
            "arn:aws:iam::{ACCOUNT}:instance-profile/{}",
            p.name
        )),
    );
    let id = cloud.new_id("AIPA").replace('-', "").to_uppercase();
    named(id, p.name.clone(), out)
}

fn launch_template(cloud: &mut Cloud, l: &LaunchTemplateSpec, out: &mut Outputs) -> Identity {
    let id = cloud.new_id("lt");
    let name = format!("{}{}", l.name_prefix, &id[3..11]);
    out.insert("latest_version".into(), json!(1));
    named(id, name, out)
}

fn s3_bucket(b: &S3BucketSpec, out: &mut Outputs) -> Identity {
    out.insert("arn".into(), json!(format!("arn:aws:s3:::{}", b.bucket)));
    out.insert("bucket".into(), json!(b.bucket));
    (b.bucket.clone(), Some(b.bucket.clone()))
}

/// An EC2 instance (the bastion): a private address in its subnet's block,
/// and a public one if asked for.
fn instance(cloud: &mut Cloud, i: &InstanceSpec, out: &mut Outputs) -> Identity {
    let id = cloud.new_id("i");
    let n = cloud.next_seq();
    let cidr = cloud
        .get(&i.subnet_id)
        .and_then(|s| {
            s.attrs
                .get("cidr_block")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "10.0.0.0/24".into());
    let base: std::net::Ipv4Addr = cidr
        .split('/')
        .next()
        .unwrap_or("10.0.0.0")
        .parse()
        .unwrap_or(std::net::Ipv4Addr::new(10, 0, 0, 0));
    let ip = std::net::Ipv4Addr::from(u32::from(base) + 10 + (n % 200) as u32);
    out.insert("private_ip".into(), json!(ip.to_string()));
    if i.associate_public_ip_address {
        out.insert(
            "public_ip".into(),
            json!(format!("203.0.113.{}", n % 250 + 1)),
        );
    }
    (id, None)
}
