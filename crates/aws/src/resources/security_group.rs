//! `aws_security_group`: an EC2 security group without AWS's default egress rule (CreateSecurityGroup, DescribeSecurityGroups, RevokeSecurityGroupEgress, DeleteSecurityGroup).

use aws_sdk_ec2::types::{IpPermission, IpRange};
use chronous_core::resources::SecurityGroupSpec;

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
            ec2.describe_security_groups().group_ids(id).send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(g) = o.security_groups().first() else {
        return Ok(None);
    };
    let spec = SecurityGroupSpec {
        name: g.group_name().unwrap_or_default().into(),
        description: g.description().unwrap_or_default().into(),
        vpc_id: g.vpc_id().unwrap_or_default().into(),
        tags: user_tags(tag_pairs(g.tags())),
    };
    let arn = g
        .security_group_arn()
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "arn:aws:ec2:{}:{}:security-group/{id}",
                p.region(),
                g.owner_id().unwrap_or_default()
            )
        });
    Ok(Some(observed(
        id,
        &spec,
        out(&[("id", json!(id)), ("arn", json!(arn))]),
    )))
}

find_by_tags!(describe_security_groups.set_filters [], |o| o.security_groups(), group_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    g: &SecurityGroupSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(g);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::SecurityGroup, id, attrs, g);
    }
    let id: String = {
        let taken = p
            .call(|| {
                ec2.describe_security_groups()
                    .filters(filter("group-name", &[&g.name]))
                    .filters(filter("vpc-id", &[&g.vpc_id]))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "check the group name"))?;
        if let Some(other) = taken.security_groups().first() {
            return Err(ProviderError::new(format!(
                "{address}: a security group named `{}` already exists in {} ({}) and was not made by this environment",
                g.name,
                g.vpc_id,
                other.group_id().unwrap_or_default()
            ))
            .with_hint("remove that group or rename this one in chronous.toml"));
        }
        let o = p
            .call(|| {
                ec2.create_security_group()
                    .group_name(&g.name)
                    .description(&g.description)
                    .vpc_id(&g.vpc_id)
                    .tag_specifications(p.tag_spec(ResourceType::SecurityGroup, address, &g.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        let id = o.group_id().unwrap_or_default().to_string();
        // Like Terraform: a new group has exactly the rules chronous gives it,
        // not AWS's default allow-all egress.
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        match p
            .call(|| {
                ec2.revoke_security_group_egress()
                    .group_id(&id)
                    .ip_permissions(all.clone())
                    .send()
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.code().contains("InvalidPermission") => {}
            Err(e) => return Err(e.provider(address, "remove the default egress rule")),
        }
        id
    };
    settled!(p, address, Kind::SecurityGroup, &id, attrs)
}

update_tags_only!(SecurityGroup, SecurityGroupSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &SecurityGroupSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the security group", || async {
        p.call(|| ec2.delete_security_group().group_id(id).send())
            .await
            .map(|_| ())
    })
    .await
}
