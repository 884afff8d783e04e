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
    let Some(o) = p
        .describe(address, || {
            ec2.describe_internet_gateways()
                .internet_gateway_ids(id)
                .send()
        })
        .await?
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

find_by_tags!(describe_internet_gateways.set_filters [], |o| o.internet_gateways(), internet_gateway_id);

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
    settled!(p, address, Kind::InternetGateway, &id, attrs)
}

update_tags_only!(InternetGateway, InternetGatewaySpec);

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
    p.delete_call(address, "delete the internet gateway", || {
        ec2.delete_internet_gateway().internet_gateway_id(id).send()
    })
    .await
}
