//! `aws_route_table_association`: a subnet's EC2 route table association (AssociateRouteTable, ReplaceRouteTableAssociation, DescribeRouteTables, DisassociateRouteTable).

use chronous_core::resources::RouteTableAssociationSpec;

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
            ec2.describe_route_tables()
                .filters(filter("association.route-table-association-id", &[id]))
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(a) = o
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.route_table_association_id() == Some(id))
    else {
        return Ok(None);
    };
    let spec = RouteTableAssociationSpec {
        subnet_id: a.subnet_id().unwrap_or_default().into(),
        route_table_id: a.route_table_id().unwrap_or_default().into(),
    };
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    a: &RouteTableAssociationSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(a);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        // The subnet may already be associated (an interrupted apply, or by hand).
        let o = p
            .call(|| {
                ec2.describe_route_tables()
                    .filters(filter("association.subnet-id", &[&a.subnet_id]))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "look up the subnet's association"))?;
        let existing = o
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|x| x.subnet_id() == Some(a.subnet_id.as_str()))
            .cloned();
        match existing {
            Some(x) if x.route_table_id() == Some(a.route_table_id.as_str()) => x
                .route_table_association_id()
                .unwrap_or_default()
                .to_string(),
            Some(x) => {
                let aid = x
                    .route_table_association_id()
                    .unwrap_or_default()
                    .to_string();
                let o = p
                    .call(|| {
                        ec2.replace_route_table_association()
                            .association_id(&aid)
                            .route_table_id(&a.route_table_id)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                o.new_association_id().unwrap_or_default().to_string()
            }
            None => {
                let o = p
                    .call(|| {
                        ec2.associate_route_table()
                            .subnet_id(&a.subnet_id)
                            .route_table_id(&a.route_table_id)
                            .send()
                    })
                    .await
                    .map_err(mk)?;
                o.association_id().unwrap_or_default().to_string()
            }
        }
    };
    settled!(p, address, Kind::RouteTableAssociation, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    a: &RouteTableAssociationSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let mut new_id = id.clone();
    if r.attrs.get("route_table_id") != Some(&json!(a.route_table_id)) {
        let o = p
            .call(|| {
                ec2.replace_route_table_association()
                    .association_id(&id)
                    .route_table_id(&a.route_table_id)
                    .send()
            })
            .await
            .map_err(up)?;
        new_id = o.new_association_id().unwrap_or_default().to_string();
    }
    settled!(
        p,
        address,
        Kind::RouteTableAssociation,
        &new_id,
        attrs_of(a)
    )
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &RouteTableAssociationSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.delete_call(address, "disassociate the route table", || {
        ec2.disassociate_route_table().association_id(id).send()
    })
    .await
}

/// The association of the spec's subnet with the spec's route table, made by
/// anyone (`chronous import aws`).
pub(crate) async fn find_for(
    p: &AwsProvider,
    address: &str,
    a: &RouteTableAssociationSpec,
) -> Result<Option<String>, ProviderError> {
    let o = p
        .call(|| {
            p.c.ec2
                .describe_route_tables()
                .filters(filter("association.subnet-id", &[&a.subnet_id]))
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "look it up"))?;
    Ok(o.route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|x| {
            x.subnet_id() == Some(a.subnet_id.as_str())
                && x.route_table_id() == Some(a.route_table_id.as_str())
        })
        .and_then(|x| x.route_table_association_id().map(str::to_string)))
}
