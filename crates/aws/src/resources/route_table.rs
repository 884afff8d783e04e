//! `aws_route_table`: an EC2 route table and its routes (CreateRouteTable, DescribeRouteTables, CreateRoute, ReplaceRoute, DeleteRoute, DeleteRouteTable).

use chronous_core::resources::Route;
use chronous_core::resources::RouteTableSpec;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let ec2 = &p.c.ec2;
    let Some(o) = p
        .describe(address, || {
            ec2.describe_route_tables().route_table_ids(id).send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(t) = o.route_tables().first() else {
        return Ok(None);
    };
    let mut routes: Vec<Route> = t
        .routes()
        .iter()
        .filter(|r| {
            r.gateway_id() != Some("local")
                && r.origin().map(|o| o.as_str()) != Some("CreateRouteTable")
        })
        .filter_map(|r| {
            Some(Route {
                cidr_block: r.destination_cidr_block()?.to_string(),
                gateway_id: r.gateway_id().map(str::to_string),
                nat_gateway_id: r.nat_gateway_id().map(str::to_string),
            })
        })
        .collect();
    let rec: Vec<Route> = prior
        .get("routes")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let (mut a, mut b) = (routes.clone(), rec.clone());
    a.sort();
    b.sort();
    if a == b {
        routes = rec;
    }
    let spec = RouteTableSpec {
        vpc_id: t.vpc_id().unwrap_or_default().into(),
        routes,
        tags: user_tags(tag_pairs(t.tags())),
    };
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
}

find_by_tags!(describe_route_tables.set_filters [], |o| o.route_tables(), route_table_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    t: &RouteTableSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(t);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::RouteTable, id, attrs, t);
    }
    let id: String = {
        let o = p
            .call(|| {
                ec2.create_route_table()
                    .vpc_id(&t.vpc_id)
                    .tag_specifications(p.tag_spec(ResourceType::RouteTable, address, &t.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        let id = o
            .route_table()
            .and_then(|v| v.route_table_id())
            .unwrap_or_default()
            .to_string();
        p.sync_routes(address, &id, &[], &t.routes).await?;
        id
    };
    settled!(p, address, Kind::RouteTable, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    t: &RouteTableSpec,
) -> Result<Observed, ProviderError> {
    let address = r.address.as_str();
    let id = r.id.clone();
    let old_tags = old_tags(r);
    let have: Vec<Route> = r
        .attrs
        .get("routes")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    p.sync_routes(address, &id, &have, &t.routes).await?;
    p.sync_tags(address, &id, &old_tags, &t.tags).await?;
    settled!(p, address, Kind::RouteTable, &id, attrs_of(t))
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &RouteTableSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the route table", || async {
        p.call(|| ec2.delete_route_table().route_table_id(id).send())
            .await
            .map(|_| ())
    })
    .await
}

impl AwsProvider {
    async fn sync_routes(
        &self,
        address: &str,
        id: &str,
        have: &[Route],
        want: &[Route],
    ) -> Result<(), ProviderError> {
        let ec2 = &self.c.ec2;
        for r in have {
            if !want.iter().any(|w| w.cidr_block == r.cidr_block) {
                match self
                    .call(|| {
                        ec2.delete_route()
                            .route_table_id(id)
                            .destination_cidr_block(&r.cidr_block)
                            .send()
                    })
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        return Err(
                            e.provider(address, &format!("remove the route to {}", r.cidr_block))
                        )
                    }
                }
            }
        }
        for w in want {
            match have.iter().find(|r| r.cidr_block == w.cidr_block) {
                Some(r) if r == w => {}
                Some(_) => {
                    self.call(|| {
                        ec2.replace_route()
                            .route_table_id(id)
                            .destination_cidr_block(&w.cidr_block)
                            .set_gateway_id(w.gateway_id.clone())
                            .set_nat_gateway_id(w.nat_gateway_id.clone())
                            .send()
                    })
                    .await
                    .map_err(|e| {
                        e.provider(address, &format!("change the route to {}", w.cidr_block))
                    })?;
                }
                None => {
                    match self
                        .call(|| {
                            ec2.create_route()
                                .route_table_id(id)
                                .destination_cidr_block(&w.cidr_block)
                                .set_gateway_id(w.gateway_id.clone())
                                .set_nat_gateway_id(w.nat_gateway_id.clone())
                                .send()
                        })
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.is("RouteAlreadyExists") => {
                            self.call(|| {
                                ec2.replace_route()
                                    .route_table_id(id)
                                    .destination_cidr_block(&w.cidr_block)
                                    .set_gateway_id(w.gateway_id.clone())
                                    .set_nat_gateway_id(w.nat_gateway_id.clone())
                                    .send()
                            })
                            .await
                            .map_err(|e| {
                                e.provider(
                                    address,
                                    &format!("change the route to {}", w.cidr_block),
                                )
                            })?;
                        }
                        Err(e) => {
                            return Err(
                                e.provider(address, &format!("add the route to {}", w.cidr_block))
                            )
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
