//! `aws_nat_gateway`: an EC2 NAT gateway, waited for until available (CreateNatGateway, DescribeNatGateways, DeleteNatGateway).

use chronous_core::resources::NatGatewaySpec;

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
            ec2.describe_nat_gateways().nat_gateway_ids(id).send()
        })
        .await?
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
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
}

find_by_tags!(
    describe_nat_gateways.set_filter[filter("state", &["pending", "available"])],
    |o| o.nat_gateways(),
    nat_gateway_id
);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    n: &NatGatewaySpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(n);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        p.wait_nat(address, &id).await?;
        return adopt!(p, address, Kind::NatGateway, id, attrs, n);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.create_nat_gateway()
                    .subnet_id(&n.subnet_id)
                    .allocation_id(&n.allocation_id)
                    .tag_specifications(p.tag_spec(ResourceType::Natgateway, address, &n.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        let id = o
            .nat_gateway()
            .and_then(|v| v.nat_gateway_id())
            .unwrap_or_default()
            .to_string();
        p.wait_nat(address, &id).await?;
        id
    };
    settled!(p, address, Kind::NatGateway, &id, attrs)
}

update_tags_only!(NatGateway, NatGatewaySpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &NatGatewaySpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.delete_call(address, "delete the NAT gateway", || {
        ec2.delete_nat_gateway().nat_gateway_id(id).send()
    })
    .await?;
    p.wait_for(address, "the NAT gateway to be deleted", || async {
        let o = found(
            p.call(|| ec2.describe_nat_gateways().nat_gateway_ids(id).send())
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

impl AwsProvider {
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
}
