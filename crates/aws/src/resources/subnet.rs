//! `aws_subnet`: an EC2 subnet (CreateSubnet, DescribeSubnets, ModifySubnetAttribute, DeleteSubnet).

use aws_sdk_ec2::types::AttributeBooleanValue;
use chronous_core::resources::SubnetSpec;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id) = (r.address.as_str(), r.id.as_str());
    let ec2 = &p.c.ec2;
    let Some(o) = p
        .describe(address, || ec2.describe_subnets().subnet_ids(id).send())
        .await?
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
            p.region(),
            s.owner_id().unwrap_or_default()
        )
    });
    Ok(Some(observed(
        id,
        &spec,
        out(&[("id", json!(id)), ("arn", json!(arn))]),
    )))
}

find_by_tags!(describe_subnets.set_filters [], |o| o.subnets(), subnet_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    s: &SubnetSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(s);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::Subnet, id, attrs, s);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.create_subnet()
                    .vpc_id(&s.vpc_id)
                    .cidr_block(&s.cidr_block)
                    .availability_zone(&s.availability_zone)
                    .tag_specifications(p.tag_spec(ResourceType::Subnet, address, &s.tags))
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
            p.call(|| {
                ec2.modify_subnet_attribute()
                    .subnet_id(&id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "map public IPs on launch"))?;
        }
        id
    };
    settled!(p, address, Kind::Subnet, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &SubnetSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let old_tags = old_tags(r);
    if r.attrs.get("map_public_ip_on_launch") != Some(&json!(s.map_public_ip_on_launch)) {
        p.call(|| {
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
    p.sync_tags(address, &id, &old_tags, &s.tags).await?;
    settled!(p, address, Kind::Subnet, &id, attrs_of(s))
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &SubnetSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the subnet", || async {
        p.call(|| ec2.delete_subnet().subnet_id(id).send())
            .await
            .map(|_| ())
    })
    .await
}
