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
    let rd = |e: CallError| e.provider(address, "describe it");
    let Some(o) = found(
        p.call(|| ec2.describe_addresses().allocation_ids(id).send())
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
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("id", json!(id)),
            ("public_ip", json!(a.public_ip().unwrap_or_default())),
        ]),
    )))
}

/// The object an earlier apply made for `address`, found by its tags (not one of `exclude`).
async fn find(
    p: &AwsProvider,
    address: &str,
    exclude: &[String],
) -> Result<Option<String>, ProviderError> {
    let f = p.own_filters(address);
    let o = p
        .call(|| {
            p.c.ec2
                .describe_addresses()
                .set_filters(Some(f.clone()))
                .send()
        })
        .await
        .map_err(|e| e.provider(address, LOOK))?;
    Ok(p.first_ours(address, exclude, o.addresses(), |v| {
        (v.allocation_id(), v.tags())
    }))
}

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
    settle(p, &record(address, Kind::Eip, &id, attrs), read).await
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    e: &EipSpec,
) -> Result<Observed, ProviderError> {
    let address = r.address.as_str();
    let id = r.id.clone();
    let old_tags = old_tags(r);
    p.sync_tags(address, &id, &old_tags, &e.tags).await?;
    settle(p, &record(address, Kind::Eip, &id, attrs_of(e)), read).await
}

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
