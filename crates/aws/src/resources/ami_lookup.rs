//! `aws_ami_lookup`: the newest AMI matching a name, or the id an SSM parameter holds (EC2 DescribeImages, SSM GetParameter); nothing is created or deleted.

use chronous_core::resources::AmiLookupSpec;

use super::common::*;
use super::ec2_common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, prior) = (r.address.as_str(), &r.attrs);
    let spec: AmiLookupSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    look_up(p, address, &spec).await.map(Some)
}

/// Nothing is made: the look-up is done (at plan time on AWS, see `AwsProvider::read_at_plan`).
pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    a: &AmiLookupSpec,
) -> Result<Observed, ProviderError> {
    look_up(p, address, a).await
}

/// The image the spec names now, with its id and name as outputs.
async fn look_up(
    p: &AwsProvider,
    address: &str,
    spec: &AmiLookupSpec,
) -> Result<Observed, ProviderError> {
    let (ami, name) = p.newest_ami(address, spec).await?;
    Ok(observed(
        ami.clone(),
        spec,
        out(&[("id", json!(ami)), ("name", json!(name))]),
    ))
}

update_nothing!(AmiLookup, AmiLookupSpec);

/// A look-up owns nothing on AWS.
pub(crate) async fn delete(
    _p: &AwsProvider,
    _r: &ResourceRecord,
    _: &AmiLookupSpec,
) -> Result<(), ProviderError> {
    Ok(())
}

impl AwsProvider {
    /// The newest image matching the name pattern of the given owners (by
    /// creation date, then by name: emulators give every image the same date).
    pub(crate) async fn newest_ami(
        &self,
        address: &str,
        spec: &AmiLookupSpec,
    ) -> Result<(String, String), ProviderError> {
        if let Some(param) = &spec.ssm_parameter {
            return self.ami_from_parameter(address, param).await;
        }
        let o = self
            .call(|| {
                self.c
                    .ec2
                    .describe_images()
                    .set_owners(Some(spec.owners.clone()))
                    .filters(filter("name", &[&spec.name_pattern]))
                    .filters(filter("state", &["available"]))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "look up the AMI"))?;
        let best = o
            .images()
            .iter()
            .max_by(|a, b| (a.creation_date(), a.name()).cmp(&(b.creation_date(), b.name())))
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "{address}: no AMI named like `{}` from owner(s) {} in {}",
                    spec.name_pattern,
                    spec.owners.join(", "),
                    self.region()
                ))
                .with_hint("check cluster.ami (name pattern and owner) and the region")
            })?;
        Ok((
            best.image_id().unwrap_or_default().to_string(),
            best.name().unwrap_or_default().to_string(),
        ))
    }

    /// The AMI whose id the SSM parameter holds (as AWS publishes the
    /// recommended ECS-optimized AMI), with its name.
    async fn ami_from_parameter(
        &self,
        address: &str,
        param: &str,
    ) -> Result<(String, String), ProviderError> {
        let g = self
            .call(|| self.c.ssm.get_parameter().name(param).send())
            .await
            .map_err(|e| {
                e.provider(address, "read the AMI parameter").with_hint(format!(
                    "check cluster.ami.ssm_parameter (`{param}`) and the region; `aws ssm get-parameter --name {param}` shows what it holds"
                ))
            })?;
        let id = g
            .parameter()
            .and_then(|p| p.value())
            .map(str::trim)
            .filter(|v| v.starts_with("ami-"))
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "{address}: the SSM parameter `{param}` does not hold an AMI id"
                ))
                .with_hint("point cluster.ami.ssm_parameter at a parameter whose value is ami-..., e.g. /aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id")
            })?
            .to_string();
        let o = self
            .call(|| self.c.ec2.describe_images().image_ids(&id).send())
            .await
            .map_err(|e| e.provider(address, "describe the AMI the parameter names"))?;
        let name = o
            .images()
            .first()
            .and_then(|i| i.name())
            .unwrap_or_default()
            .to_string();
        Ok((id, name))
    }
}
