//! `aws_launch_configuration`: an EC2 Auto Scaling launch configuration
//! (DescribeLaunchConfigurations, DeleteLaunchConfiguration). chronous never
//! makes one: it uses launch templates. One adopted from Terraform is kept as a
//! deposed object of the launch template that replaces it, and deleted once
//! the auto scaling group launches from the template.

use chronous_core::resources::LaunchConfigurationSpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let rd = |e: CallError| e.provider(address, "describe it");
    let o = p
        .call(|| {
            c.autoscaling
                .describe_launch_configurations()
                .launch_configuration_names(id)
                .send()
        })
        .await
        .map_err(rd)?;
    let Some(l) = o.launch_configurations().first() else {
        return Ok(None);
    };
    let spec = LaunchConfigurationSpec {
        name: l.launch_configuration_name().unwrap_or(id).into(),
        image_id: l.image_id().unwrap_or_default().into(),
        instance_type: l.instance_type().unwrap_or_default().into(),
        key_name: l.key_name().filter(|k| !k.is_empty()).map(str::to_string),
        iam_instance_profile: l.iam_instance_profile().unwrap_or_default().into(),
        security_groups: like_recorded(l.security_groups().to_vec(), prior.get("security_groups")),
        // AWS returns it base64-encoded, Terraform records a hash: the recorded one stays.
        user_data: prior
            .get("user_data")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("name", json!(id)),
            (
                "arn",
                json!(l.launch_configuration_arn().unwrap_or_default()),
            ),
        ]),
    )))
}

/// chronous makes launch templates, never launch configurations.
pub(crate) async fn create(
    _: &AwsProvider,
    address: &str,
    _: &LaunchConfigurationSpec,
) -> Result<Observed, ProviderError> {
    Err(ProviderError::of(
        chronous_core::provider::ErrorKind::Refused,
        format!("{address}: chronous does not create launch configurations"),
    )
    .with_hint("describe the container instances in [cluster]: chronous makes a launch template"))
}

pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    l: &LaunchConfigurationSpec,
) -> Result<Observed, ProviderError> {
    create(p, &r.address, l).await
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &LaunchConfigurationSpec,
) -> Result<(), ProviderError> {
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.retry_in_use(address, "delete the launch configuration", || async {
        p.call(|| {
            p.c.autoscaling
                .delete_launch_configuration()
                .launch_configuration_name(id)
                .send()
        })
        .await
        .map(|_| ())
    })
    .await
}
