//! `aws_ecs_cluster`: an ECS cluster (CreateCluster, DescribeClusters, DeleteCluster).

use chronous_core::resources::EcsClusterSpec;

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
        .call(|| c.ecs.describe_clusters().clusters(id).send())
        .await
        .map_err(rd)?;
    let Some(cl) = o.clusters().iter().find(|x| x.status() != Some("INACTIVE")) else {
        return Ok(None);
    };
    let name = cl.cluster_name().unwrap_or_default();
    Ok(Some(observed(
        cl.cluster_arn().unwrap_or(id),
        &EcsClusterSpec { name: name.into() },
        out(&[
            ("arn", json!(cl.cluster_arn().unwrap_or(id))),
            ("name", json!(name)),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    cl: &EcsClusterSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(cl);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let o = p
            .call(|| {
                c.ecs
                    .describe_clusters()
                    .clusters(&cl.name)
                    .include(aws_sdk_ecs::types::ClusterField::Tags)
                    .send()
            })
            .await
            .map_err(mk)?;
        if let Some(x) = o.clusters().iter().find(|x| x.status() == Some("ACTIVE")) {
            p.claim(
                address,
                "ECS cluster",
                &cl.name,
                x.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            )?;
            return adopt!(
                p,
                address,
                Kind::EcsCluster,
                x.cluster_arn().unwrap_or_default(),
                attrs,
                cl
            );
        }
        let o = p
            .call(|| {
                c.ecs
                    .create_cluster()
                    .cluster_name(&cl.name)
                    .set_tags(Some(p.ecs_tags(address)))
                    .send()
            })
            .await
            .map_err(mk)?;
        o.cluster()
            .and_then(|x| x.cluster_arn())
            .unwrap_or_default()
            .to_string()
    };
    settled!(p, address, Kind::EcsCluster, &id, attrs)
}

update_nothing!(EcsCluster, EcsClusterSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &EcsClusterSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the cluster", || async {
        match p.call(|| c.ecs.delete_cluster().cluster(id).send()).await {
            Err(e)
                if e.code().contains("ClusterContainsContainerInstances")
                    || e.code().contains("ClusterContainsServices")
                    || e.code().contains("ClusterContainsTasks") =>
            {
                Err(CallError {
                    code: Some("DependencyViolation".into()),
                    ..e
                })
            }
            other => other.map(|_| ()),
        }
    })
    .await
}
