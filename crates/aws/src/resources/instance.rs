//! `aws_instance`: an EC2 instance (the bastion), waited for until running (RunInstances, DescribeInstances, ModifyInstanceAttribute, Stop/StartInstances, TerminateInstances).

use aws_sdk_ec2::types::{InstanceStateName, InstanceType};
use chronous_core::resources::InstanceSpec;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let ec2 = &p.c.ec2;
    let Some(o) = p
        .describe(address, || ec2.describe_instances().instance_ids(id).send())
        .await?
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
    Ok(Some(observed(id, &spec, o)))
}

find_by_tags!(
    describe_instances.set_filters[filter(
        "instance-state-name",
        &["pending", "running", "stopping", "stopped"]
    )],
    |o| o.reservations().iter().flat_map(|r| r.instances()),
    instance_id
);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    i: &InstanceSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(i);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        p.wait_instance(address, &id, InstanceStateName::Running)
            .await?;
        return adopt!(p, address, Kind::Instance, id, attrs, i);
    }
    let id: String = {
        let ni = aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(&i.subnet_id)
            .set_groups(Some(i.vpc_security_group_ids.clone()))
            .associate_public_ip_address(i.associate_public_ip_address)
            .build();
        let o = p
            .call(|| {
                ec2.run_instances()
                    .image_id(&i.ami)
                    .instance_type(InstanceType::from(i.instance_type.as_str()))
                    .min_count(1)
                    .max_count(1)
                    .set_key_name(i.key_name.clone())
                    .network_interfaces(ni.clone())
                    .tag_specifications(p.tag_spec(ResourceType::Instance, address, &i.tags))
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
        p.wait_instance(address, &id, InstanceStateName::Running)
            .await?;
        id
    };
    settled!(p, address, Kind::Instance, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    i: &InstanceSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let old_tags = old_tags(r);
    let sgs: Vec<String> = r
        .attrs
        .get("vpc_security_group_ids")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if sgs != i.vpc_security_group_ids {
        p.call(|| {
            ec2.modify_instance_attribute()
                .instance_id(&id)
                .set_groups(Some(i.vpc_security_group_ids.clone()))
                .send()
        })
        .await
        .map_err(up)?;
    }
    if r.attrs.get("instance_type") != Some(&json!(i.instance_type)) {
        p.progress(format!(
            "{address}: stopping {id} to change its type to {}",
            i.instance_type
        ));
        p.call(|| ec2.stop_instances().instance_ids(&id).send())
            .await
            .map_err(up)?;
        p.wait_instance(address, &id, InstanceStateName::Stopped)
            .await?;
        p.call(|| {
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
        p.call(|| ec2.start_instances().instance_ids(&id).send())
            .await
            .map_err(up)?;
        p.wait_instance(address, &id, InstanceStateName::Running)
            .await?;
    }
    p.sync_tags(address, &id, &old_tags, &i.tags).await?;
    settled!(p, address, Kind::Instance, &id, attrs_of(i))
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &InstanceSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.delete_call(address, "terminate the instance", || {
        ec2.terminate_instances().instance_ids(id).send()
    })
    .await?;
    p.wait_instance(address, id, InstanceStateName::Terminated)
        .await
}

impl AwsProvider {
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
}
