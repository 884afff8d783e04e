//! `aws_vpc`: an EC2 VPC (CreateVpc, DescribeVpcs, DescribeVpcAttribute, ModifyVpcAttribute, DeleteVpc).

use aws_sdk_ec2::types::AttributeBooleanValue;
use chronous_core::resources::VpcSpec;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id) = (r.address.as_str(), r.id.as_str());
    let ec2 = &p.c.ec2;
    let rd = |e: CallError| e.provider(address, "describe it");
    let Some(o) = p
        .describe(address, || ec2.describe_vpcs().vpc_ids(id).send())
        .await?
    else {
        return Ok(None);
    };
    let Some(v) = o.vpcs().first() else {
        return Ok(None);
    };
    let dns = p
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
        p.region(),
        v.owner_id().unwrap_or_default()
    );
    Ok(Some(observed(
        id,
        &spec,
        out(&[("id", json!(id)), ("arn", json!(arn))]),
    )))
}

find_by_tags!(describe_vpcs.set_filters [], |o| o.vpcs(), vpc_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    v: &VpcSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(v);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::Vpc, id, attrs, v);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.create_vpc()
                    .cidr_block(&v.cidr_block)
                    .tag_specifications(p.tag_spec(ResourceType::Vpc, address, &v.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        let id = o
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string();
        p.call(|| {
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
    };
    settled!(p, address, Kind::Vpc, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    v: &VpcSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let old_tags = old_tags(r);
    if r.attrs.get("enable_dns_hostnames") != Some(&json!(v.enable_dns_hostnames)) {
        p.call(|| {
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
    p.sync_tags(address, &id, &old_tags, &v.tags).await?;
    settled!(p, address, Kind::Vpc, &id, attrs_of(v))
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &VpcSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the VPC", || async {
        p.call(|| ec2.delete_vpc().vpc_id(id).send())
            .await
            .map(|_| ())
    })
    .await
}
