//! `aws_security_group_rule`: one ingress or egress rule of an EC2 security group (AuthorizeSecurityGroupIngress/Egress, DescribeSecurityGroups, UpdateSecurityGroupRuleDescriptionsIngress/Egress, RevokeSecurityGroupIngress/Egress).

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
use chronous_core::resources::SecurityGroupRuleSpec;
use sha2::{Digest, Sha256};

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let ec2 = &p.c.ec2;
    let want: SecurityGroupRuleSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let gid = want.security_group_id.clone();
    let Some(o) = p
        .describe(address, || {
            ec2.describe_security_groups().group_ids(gid.clone()).send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(g) = o.security_groups().first() else {
        return Ok(None);
    };
    let perms = if want.direction == "egress" {
        g.ip_permissions_egress()
    } else {
        g.ip_permissions()
    };
    let same = |p: &&IpPermission| {
        proto(p.ip_protocol().unwrap_or_default()) == want.protocol
            && (want.protocol == "-1"
                || (p.from_port().unwrap_or(-1) as i64 == want.from_port
                    && p.to_port().unwrap_or(-1) as i64 == want.to_port))
    };
    let mut cidrs = Vec::new();
    let mut description: Option<String> = None;
    let mut source = None;
    for p in perms.iter().filter(same) {
        match &want.source_security_group_id {
            Some(src) => {
                if let Some(pair) = p
                    .user_id_group_pairs()
                    .iter()
                    .find(|x| x.group_id() == Some(src))
                {
                    source = Some(src.clone());
                    description = Some(pair.description().unwrap_or_default().to_string());
                }
            }
            None => {
                for r in p.ip_ranges() {
                    let c = r.cidr_ip().unwrap_or_default();
                    if want.cidr_blocks.iter().any(|w| w == c) && !cidrs.contains(&c.to_string()) {
                        cidrs.push(c.to_string());
                        if description.is_none() {
                            description = Some(r.description().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        }
    }
    if source.is_none() && cidrs.is_empty() {
        return Ok(None);
    }
    let cidr_blocks = like_recorded(cidrs, prior.get("cidr_blocks"));
    let spec = SecurityGroupRuleSpec {
        cidr_blocks,
        source_security_group_id: source,
        description: description.unwrap_or_default(),
        ..want
    };
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
}

/// Send the ingress or the egress form of an EC2 security-group call (two
/// operations of the API) for the rule's direction; `Ok(())` or the failure.
macro_rules! by_direction {
    ($p:expr, $rule:expr, $perm:expr, $ingress:ident, $egress:ident) => {{
        let ec2 = &$p.c.ec2;
        if $rule.direction == "egress" {
            $p.call(|| {
                ec2.$egress()
                    .group_id(&$rule.security_group_id)
                    .ip_permissions($perm.clone())
                    .send()
            })
            .await
            .map(|_| ())
        } else {
            $p.call(|| {
                ec2.$ingress()
                    .group_id(&$rule.security_group_id)
                    .ip_permissions($perm.clone())
                    .send()
            })
            .await
            .map(|_| ())
        }
    }};
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    r: &SecurityGroupRuleSpec,
) -> Result<Observed, ProviderError> {
    let attrs = attrs_of(r);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let id = rule_id(r);
        let perm = permission(r);
        let res = by_direction!(
            p,
            r,
            perm,
            authorize_security_group_ingress,
            authorize_security_group_egress
        );
        match res {
            Ok(()) => {}
            // Already there (an interrupted apply, or AWS's own default egress): adopt it.
            Err(e) if e.is("InvalidPermission.Duplicate") => {
                let rec = record(address, Kind::SecurityGroupRule, &id, attrs.clone());
                let now = settle(p, &rec, read).await?;
                if now.attrs != attrs {
                    return update(p, &live(rec, now), r).await;
                }
                return Ok(now);
            }
            Err(e) => return Err(mk(e)),
        }
        id
    };
    settled!(p, address, Kind::SecurityGroupRule, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    rule: &SecurityGroupRuleSpec,
) -> Result<Observed, ProviderError> {
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    if r.attrs.get("description") != Some(&json!(rule.description)) {
        let perm = permission(rule);
        by_direction!(
            p,
            rule,
            perm,
            update_security_group_rule_descriptions_ingress,
            update_security_group_rule_descriptions_egress
        )
        .map_err(up)?;
    }
    settled!(p, address, Kind::SecurityGroupRule, &id, attrs_of(rule))
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    rule: &SecurityGroupRuleSpec,
) -> Result<(), ProviderError> {
    let address = r.address.as_str();
    let perm = permission(rule);
    let res = by_direction!(
        p,
        rule,
        perm,
        revoke_security_group_ingress,
        revoke_security_group_egress
    );
    match res {
        Err(e) if e.code().starts_with("InvalidPermission") => Ok(()),
        other => gone(address, other, "revoke the rule"),
    }
}

/// The protocol as the spec writes it (AWS may answer with a number).
fn proto(p: &str) -> String {
    match p {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        other => other.to_lowercase(),
    }
}

/// The id chronous gives a rule: AWS identifies a rule by its content.
pub(crate) fn rule_id(r: &SecurityGroupRuleSpec) -> String {
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        r.security_group_id,
        r.direction,
        r.protocol,
        r.from_port,
        r.to_port,
        r.cidr_blocks.join(","),
        r.source_security_group_id.as_deref().unwrap_or("")
    );
    format!(
        "sgrule-{}",
        &hex::encode(Sha256::digest(key.as_bytes()))[..16]
    )
}

fn permission(r: &SecurityGroupRuleSpec) -> IpPermission {
    let desc = Some(r.description.clone()).filter(|d| !d.is_empty());
    let mut p = IpPermission::builder().ip_protocol(&r.protocol);
    if r.protocol != "-1" {
        p = p.from_port(r.from_port as i32).to_port(r.to_port as i32);
    }
    match &r.source_security_group_id {
        Some(g) => {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(desc)
                    .build(),
            )
        }
        None => {
            for c in &r.cidr_blocks {
                p = p.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(c)
                        .set_description(desc.clone())
                        .build(),
                );
            }
        }
    }
    p.build()
}
