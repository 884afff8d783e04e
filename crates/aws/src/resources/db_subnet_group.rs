//! `aws_db_subnet_group`: an RDS DB subnet group (CreateDBSubnetGroup, DescribeDBSubnetGroups, ModifyDBSubnetGroup, DeleteDBSubnetGroup).

use chronous_core::resources::DbSubnetGroupSpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let Some(o) = p
        .describe(address, || {
            c.rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(id)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(g) = o.db_subnet_groups().first() else {
        return Ok(None);
    };
    let subnets: Vec<String> = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    let spec = DbSubnetGroupSpec {
        name: g.db_subnet_group_name().unwrap_or(id).into(),
        subnet_ids: like_recorded(subnets, prior.get("subnet_ids")),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(g.db_subnet_group_arn().unwrap_or_default())),
            ("name", json!(id)),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    g: &DbSubnetGroupSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(g);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if let Some(o) = found(
            p.call(|| {
                c.rds
                    .describe_db_subnet_groups()
                    .db_subnet_group_name(&g.name)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            let arn = o
                .db_subnet_groups()
                .first()
                .and_then(|x| x.db_subnet_group_arn())
                .unwrap_or_default()
                .to_string();
            let t = p
                .call(|| c.rds.list_tags_for_resource().resource_name(&arn).send())
                .await
                .map_err(mk)?;
            p.claim(
                address,
                "DB subnet group",
                &g.name,
                t.tag_list()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            )?;
            return adopt!(p, address, Kind::DbSubnetGroup, g.name.clone(), attrs, g);
        }
        p.call(|| {
            c.rds
                .create_db_subnet_group()
                .db_subnet_group_name(&g.name)
                .db_subnet_group_description(format!("chronous {}: {address}", p.opts.env_name))
                .set_subnet_ids(Some(g.subnet_ids.clone()))
                .set_tags(Some(p.rds_tags(address)))
                .send()
        })
        .await
        .map_err(mk)?;
        g.name.clone()
    };
    settled!(p, address, Kind::DbSubnetGroup, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &DbSubnetGroupSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(g);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    if changed("subnet_ids") {
        p.call(|| {
            c.rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&g.name)
                .set_subnet_ids(Some(g.subnet_ids.clone()))
                .send()
        })
        .await
        .map_err(up)?;
    }
    settled!(p, address, Kind::DbSubnetGroup, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &DbSubnetGroupSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.retry_in_use(address, "delete the DB subnet group", || async {
        match p
            .call(|| {
                c.rds
                    .delete_db_subnet_group()
                    .db_subnet_group_name(&g.name)
                    .send()
            })
            .await
        {
            Err(e) if e.code() == "InvalidDBSubnetGroupStateFault" => Err(CallError {
                code: Some("DependencyViolation".into()),
                ..e
            }),
            other => other.map(|_| ()),
        }
    })
    .await
}
