//! `aws_eip`: an EC2 Elastic IP address (AllocateAddress, DescribeAddresses, ReleaseAddress).

use aws_sdk_ec2::types::DomainType;
use chronous_core::resources::EipSpec;

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
        .describe(address, || {
            ec2.describe_addresses().allocation_ids(id).send()
        })
        .await?
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
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("id", json!(id)),
            ("public_ip", json!(a.public_ip().unwrap_or_default())),
        ]),
    )))
}

find_by_tags!(describe_addresses.set_filters [], |o| o.addresses(), allocation_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    e: &EipSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(e);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::Eip, id, attrs, e);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.allocate_address()
                    .domain(DomainType::from(e.domain.as_str()))
                    .tag_specifications(p.tag_spec(ResourceType::ElasticIp, address, &e.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        o.allocation_id().unwrap_or_default().to_string()
    };
    settled!(p, address, Kind::Eip, &id, attrs)
}

update_tags_only!(Eip, EipSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &EipSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "release the address", || async {
        p.call(|| ec2.release_address().allocation_id(id).send())
            .await
            .map(|_| ())
    })
    .await
}
