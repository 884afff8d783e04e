//! `aws_internet_gateway`: an EC2 internet gateway attached to the VPC (CreateInternetGateway, AttachInternetGateway, DescribeInternetGateways, DetachInternetGateway, DeleteInternetGateway).

use chronous_core::resources::InternetGatewaySpec;

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
        p.call(|| {
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
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
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
                .describe_internet_gateways()
                .set_filters(Some(f.clone()))
                .send()
        })
        .await
        .map_err(|e| e.provider(address, LOOK))?;
    Ok(p.first_ours(address, exclude, o.internet_gateways(), |v| {
        (v.internet_gateway_id(), v.tags())
    }))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    g: &InternetGatewaySpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(g);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        let _ = p
            .call(|| {
                ec2.attach_internet_gateway()
                    .internet_gateway_id(&id)
                    .vpc_id(&g.vpc_id)
                    .send()
            })
            .await;
        return adopt!(p, address, Kind::InternetGateway, id, attrs, g);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.create_internet_gateway()
                    .tag_specifications(p.tag_spec(ResourceType::InternetGateway, address, &g.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        let id = o
            .internet_gateway()
            .and_then(|v| v.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        p.call(|| {
            ec2.attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(&g.vpc_id)
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "attach it to the VPC"))?;
        id
    };
    settle(p, &record(address, Kind::InternetGateway, &id, attrs), read).await
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &InternetGatewaySpec,
) -> Result<Observed, ProviderError> {
    let address = r.address.as_str();
    let id = r.id.clone();
    let old_tags = old_tags(r);
    p.sync_tags(address, &id, &old_tags, &g.tags).await?;
    settle(
        p,
        &record(address, Kind::InternetGateway, &id, attrs_of(g)),
        read,
    )
    .await
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &InternetGatewaySpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "detach the internet gateway", || async {
        match p
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
        address,
        p.call(|| ec2.delete_internet_gateway().internet_gateway_id(id).send())
            .await
            .map(|_| ()),
        "delete the internet gateway",
    )
}
