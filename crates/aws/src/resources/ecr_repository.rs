//! `aws_ecr_repository`: an ECR repository (CreateRepository, DescribeRepositories, ListTagsForResource, PutImageTagMutability, PutImageScanningConfiguration, DeleteRepository).

use chronous_core::resources::EcrRepositorySpec;
use std::collections::BTreeMap;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id) = (r.address.as_str(), r.id.as_str());
    let c = &p.c;
    let Some(o) = p
        .describe(address, || {
            c.ecr.describe_repositories().repository_names(id).send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(r) = o.repositories().first() else {
        return Ok(None);
    };
    let spec = EcrRepositorySpec {
        name: r.repository_name().unwrap_or_default().into(),
        image_tag_mutability: r
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "MUTABLE".into()),
        scan_on_push: r
            .image_scanning_configuration()
            .map(|s| s.scan_on_push())
            .unwrap_or(false),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(r.repository_arn().unwrap_or_default())),
            (
                "repository_url",
                json!(r.repository_uri().unwrap_or_default()),
            ),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    r: &EcrRepositorySpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(r);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if let Some(o) = found(
            p.call(|| {
                c.ecr
                    .describe_repositories()
                    .repository_names(&r.name)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            let arn = o
                .repositories()
                .first()
                .and_then(|x| x.repository_arn())
                .unwrap_or_default()
                .to_string();
            let t = p
                .call(|| c.ecr.list_tags_for_resource().resource_arn(&arn).send())
                .await
                .map_err(mk)?;
            p.claim(
                address,
                "ECR repository",
                &r.name,
                t.tags().iter().map(|t| (t.key(), t.value())),
            )?;
            return adopt!(p, address, Kind::EcrRepository, r.name.clone(), attrs, r);
        }
        let tags: Vec<aws_sdk_ecr::types::Tag> = p
            .tags(address, &BTreeMap::new())
            .into_iter()
            .filter_map(|(k, v)| {
                aws_sdk_ecr::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect();
        p.call(|| {
            c.ecr
                .create_repository()
                .repository_name(&r.name)
                .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::from(
                    r.image_tag_mutability.as_str(),
                ))
                .image_scanning_configuration(
                    aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                        .scan_on_push(r.scan_on_push)
                        .build(),
                )
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(mk)?;
        r.name.clone()
    };
    settled!(p, address, Kind::EcrRepository, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    e: &EcrRepositorySpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(e);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    if changed("image_tag_mutability") {
        p.call(|| {
            c.ecr
                .put_image_tag_mutability()
                .repository_name(&e.name)
                .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::from(
                    e.image_tag_mutability.as_str(),
                ))
                .send()
        })
        .await
        .map_err(up)?;
    }
    if changed("scan_on_push") {
        p.call(|| {
            c.ecr
                .put_image_scanning_configuration()
                .repository_name(&e.name)
                .image_scanning_configuration(
                    aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                        .scan_on_push(e.scan_on_push)
                        .build(),
                )
                .send()
        })
        .await
        .map_err(up)?;
    }
    settled!(p, address, Kind::EcrRepository, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    e: &EcrRepositorySpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the repository", || {
        c.ecr
            .delete_repository()
            .repository_name(&e.name)
            .force(true)
            .send()
    })
    .await
}
