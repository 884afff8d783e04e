//! `aws_launch_template`: an EC2 launch template for the container instances (CreateLaunchTemplate, DescribeLaunchTemplates, DescribeLaunchTemplateVersions, DeleteLaunchTemplate).

use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
};
use base64::Engine as _;
use chronous_core::resources::LaunchTemplateSpec;
use sha2::{Digest, Sha256};

use crate::TAG_ENV;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let ec2 = &p.c.ec2;
    let pstr = |k: &str| {
        prior
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let rd = |e: CallError| e.provider(address, "describe it");
    let Some(o) = p
        .describe(address, || {
            ec2.describe_launch_templates()
                .launch_template_ids(id)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(t) = o.launch_templates().first() else {
        return Ok(None);
    };
    let name = t.launch_template_name().unwrap_or_default().to_string();
    let v = p
        .call(|| {
            ec2.describe_launch_template_versions()
                .launch_template_id(id)
                .versions("$Latest")
                .send()
        })
        .await
        .map_err(rd)?;
    let Some(d) = v
        .launch_template_versions()
        .first()
        .and_then(|x| x.launch_template_data())
    else {
        return Ok(None);
    };
    let prefix = pstr("name_prefix");
    let sgs: Vec<String> = d.security_group_ids().to_vec();
    let profile = d
        .iam_instance_profile()
        .and_then(|p| p.arn().or(p.name()))
        .unwrap_or_default()
        .to_string();
    let user_data = d
        .user_data()
        .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let spec = LaunchTemplateSpec {
        name_prefix: if name.starts_with(&prefix) {
            prefix
        } else {
            name.clone()
        },
        image_id: d.image_id().unwrap_or_default().into(),
        instance_type: d
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        key_name: d.key_name().map(str::to_string),
        iam_instance_profile: profile,
        security_group_ids: like_recorded(sgs, prior.get("security_group_ids")),
        user_data,
        tags: user_tags(tag_pairs(t.tags())),
    };
    let latest = t.latest_version_number().unwrap_or(1);
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("id", json!(id)),
            ("name", json!(name)),
            ("latest_version", json!(latest)),
        ]),
    )))
}

find_by_tags!(describe_launch_templates.set_filters [], |o| o.launch_templates(), launch_template_id);

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    l: &LaunchTemplateSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(l);
    let mk = |e: CallError| e.provider(address, "create it");
    if let Some(id) = find(p, address, exclude).await? {
        // Adopt what an interrupted apply made, then bring it to the spec.
        return adopt!(p, address, Kind::LaunchTemplate, id, attrs, l);
    }
    let id: String = {
        let h = hex::encode(Sha256::digest(
            format!("{address}{:?}", std::time::SystemTime::now()).as_bytes(),
        ));
        let name = format!("{}{}", l.name_prefix, &h[..12]);
        let mut inst_tags = l.tags.clone();
        inst_tags.insert(TAG_ENV.into(), p.opts.env_name.clone());
        let data = RequestLaunchTemplateData::builder()
            .image_id(&l.image_id)
            .instance_type(InstanceType::from(l.instance_type.as_str()))
            .set_key_name(l.key_name.clone())
            .iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .arn(&l.iam_instance_profile)
                    .build(),
            )
            .set_security_group_ids(Some(l.security_group_ids.clone()))
            .user_data(base64::engine::general_purpose::STANDARD.encode(&l.user_data))
            .tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(
                        inst_tags
                            .iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build(),
            )
            .build();
        let o = p
            .call(|| {
                ec2.create_launch_template()
                    .launch_template_name(&name)
                    .launch_template_data(data.clone())
                    .tag_specifications(p.tag_spec(ResourceType::LaunchTemplate, address, &l.tags))
                    .send()
            })
            .await
            .map_err(mk)?;
        o.launch_template()
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default()
            .to_string()
    };
    settled!(p, address, Kind::LaunchTemplate, &id, attrs)
}

update_tags_only!(LaunchTemplate, LaunchTemplateSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &LaunchTemplateSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.delete_call(address, "delete the launch template", || {
        ec2.delete_launch_template().launch_template_id(id).send()
    })
    .await
}
