//! `aws_cloudwatch_log_group`: a CloudWatch Logs log group and its retention (CreateLogGroup, DescribeLogGroups, ListTagsForResource, PutRetentionPolicy, DeleteRetentionPolicy, DeleteLogGroup).

use chronous_core::resources::CloudwatchLogGroupSpec;
use std::collections::BTreeMap;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id) = (r.address.as_str(), r.id.as_str());
    let c = &p.c;
    let rd = |e: CallError| e.provider(address, "describe it");
    let o = p
        .call(|| {
            c.logs
                .describe_log_groups()
                .log_group_name_prefix(id)
                .send()
        })
        .await
        .map_err(rd)?;
    let Some(g) = o
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(id))
    else {
        return Ok(None);
    };
    let spec = CloudwatchLogGroupSpec {
        name: id.into(),
        retention_in_days: g.retention_in_days().map(|d| d as u32),
    };
    let arn = g
        .arn()
        .unwrap_or_default()
        .trim_end_matches(":*")
        .to_string();
    Ok(Some(observed(
        id,
        &spec,
        out(&[("arn", json!(arn)), ("name", json!(id))]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    g: &CloudwatchLogGroupSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(g);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let o = p
            .call(|| {
                c.logs
                    .describe_log_groups()
                    .log_group_name_prefix(&g.name)
                    .send()
            })
            .await
            .map_err(mk)?;
        if let Some(x) = o
            .log_groups()
            .iter()
            .find(|x| x.log_group_name() == Some(g.name.as_str()))
        {
            let arn = x
                .arn()
                .unwrap_or_default()
                .trim_end_matches(":*")
                .to_string();
            let t = p
                .call(|| c.logs.list_tags_for_resource().resource_arn(&arn).send())
                .await
                .map_err(mk)?;
            p.claim(
                address,
                "log group",
                &g.name,
                t.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
            return adopt!(
                p,
                address,
                Kind::CloudwatchLogGroup,
                g.name.clone(),
                attrs,
                g
            );
        }
        let mut b = c.logs.create_log_group().log_group_name(&g.name);
        for (k, v) in p.tags(address, &BTreeMap::new()) {
            b = b.tags(k, v);
        }
        p.call(|| b.clone().send()).await.map_err(mk)?;
        if let Some(d) = g.retention_in_days {
            p.call(|| {
                c.logs
                    .put_retention_policy()
                    .log_group_name(&g.name)
                    .retention_in_days(d as i32)
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "set the retention"))?;
        }
        g.name.clone()
    };
    settled!(p, address, Kind::CloudwatchLogGroup, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &CloudwatchLogGroupSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(g);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    if changed("retention_in_days") {
        match g.retention_in_days {
            Some(d) => p
                .call(|| {
                    c.logs
                        .put_retention_policy()
                        .log_group_name(&g.name)
                        .retention_in_days(d as i32)
                        .send()
                })
                .await
                .map(|_| ())
                .map_err(up)?,
            None => p
                .call(|| {
                    c.logs
                        .delete_retention_policy()
                        .log_group_name(&g.name)
                        .send()
                })
                .await
                .map(|_| ())
                .map_err(up)?,
        }
    }
    settled!(p, address, Kind::CloudwatchLogGroup, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &CloudwatchLogGroupSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the log group", || {
        c.logs.delete_log_group().log_group_name(&g.name).send()
    })
    .await
}
