//! `aws_ssm_parameter`: SSM Parameter Store (PutParameter, DescribeParameters,
//! GetParameter with decryption, ListTagsForResource, DeleteParameter): the database password as a `SecureString` that the
//! task definition names in `secrets`, so ECS hands it to the task as
//! `DB_PASSWORD` when it starts it.
//!
//! The value never enters the state, a plan, a log or an error: it is read
//! from the spec's `value_source` (`env:VAR` or `file:PATH`, as the RDS master
//! password is) at the moment the parameter is written, and on refresh the
//! stored value is decrypted and compared with the run-time one; only the
//! outcome (`value_matches_source`) is reported. When the run-time value is
//! not available during a refresh (a plan run without the password), the
//! comparison is skipped and the recorded outcome kept.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{
    ParameterMetadata, ParameterStringFilter, ParameterType, ResourceTypeForTagging, Tag,
};
use chronous_core::resources::SsmParameterSpec;

use super::common::*;

/// Describe the parameter; the stored value is compared with the run-time one, never reported.
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let want: SsmParameterSpec =
        serde_json::from_value(r.attrs.clone()).map_err(|e| spec_err(&r.address, e))?;
    p.ssm_observe(&r.address, &want, Some(want.value_matches_source))
        .await
}

/// Write the parameter, or adopt it when an interrupted apply wrote it already.
pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    want: &SsmParameterSpec,
) -> Result<Observed, ProviderError> {
    let ssm = &p.c.ssm;
    let mk = |e: CallError| e.provider(address, "create the parameter");
    // Read first: an interrupted apply may have written it already.
    if p.ssm_find(address, &want.name, "create the parameter")
        .await?
        .is_some()
    {
        let t = p
            .call(|| {
                ssm.list_tags_for_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(&want.name)
                    .send()
            })
            .await
            .map_err(mk)?;
        if !p.is_ours(address, t.tag_list().iter().map(|t| (t.key(), t.value()))) {
            return Err(ProviderError::new(format!(
                "{address}: an SSM parameter named `{}` already exists and was not made by this environment",
                want.name
            ))
            .with_hint("delete the other parameter (aws ssm delete-parameter), or give this environment another prefix in chronous.toml"));
        }
        return p.ssm_put(address, want, true).await;
    }
    p.ssm_put(address, want, false).await
}

/// Write the parameter again with the value read now.
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    want: &SsmParameterSpec,
) -> Result<Observed, ProviderError> {
    p.ssm_put(&r.address, want, true).await
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    want: &SsmParameterSpec,
) -> Result<(), ProviderError> {
    match p
        .call(|| p.c.ssm.delete_parameter().name(&want.name).send())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.provider(&r.address, "delete the parameter")),
    }
}

impl AwsProvider {
    /// The parameter named `name`, if it exists (DescribeParameters, exact name).
    async fn ssm_find(
        &self,
        address: &str,
        name: &str,
        what: &str,
    ) -> Result<Option<ParameterMetadata>, ProviderError> {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(name)
            .build()
            .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
        let d = self
            .call(|| {
                self.c
                    .ssm
                    .describe_parameters()
                    .parameter_filters(filter.clone())
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, what))?;
        Ok(d.parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .cloned())
    }

    /// What AWS holds for the parameter `want.name`. `prior_match` is kept
    /// when the run-time value cannot be read now (None: it must be).
    async fn ssm_observe(
        &self,
        address: &str,
        want: &SsmParameterSpec,
        prior_match: Option<bool>,
    ) -> Result<Option<Observed>, ProviderError> {
        let rd = |e: CallError| e.provider(address, "describe the parameter");
        let ssm = &self.c.ssm;
        let Some(meta) = self
            .ssm_find(address, &want.name, "describe the parameter")
            .await?
        else {
            return Ok(None);
        };
        let Some(g) = found(
            self.call(|| {
                ssm.get_parameter()
                    .name(&want.name)
                    .with_decryption(true)
                    .send()
            })
            .await,
        )
        .map_err(rd)?
        else {
            return Ok(None);
        };
        let Some(p) = g.parameter() else {
            return Ok(None);
        };
        let matches = match self.password(address, &want.value_source) {
            Ok(now) => p.value() == Some(now.expose()),
            Err(e) => prior_match.ok_or(e)?,
        };
        let arn = match p.arn().or(meta.arn()) {
            Some(a) => a.to_string(),
            None => format!(
                "arn:aws:ssm:{}:{}:parameter/{}",
                self.region(),
                self.account(address).await?,
                want.name.trim_start_matches('/')
            ),
        };
        let spec = SsmParameterSpec {
            name: want.name.clone(),
            description: meta.description().unwrap_or_default().to_string(),
            param_type: meta
                .r#type()
                .or(p.r#type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            // AWS answers the key it used; the default key may come back as its alias or unset.
            key_id: match meta.key_id() {
                None => want.key_id.clone(),
                Some(k) if k == want.key_id || k.ends_with(&format!(":{}", want.key_id)) => {
                    want.key_id.clone()
                }
                Some(k) => k.to_string(),
            },
            value_source: want.value_source.clone(),
            value_matches_source: matches,
        };
        Ok(Some(observed(
            want.name.clone(),
            &spec,
            BTreeMap::from([
                ("arn".to_string(), json!(arn)),
                ("name".to_string(), Value::String(want.name.clone())),
            ]),
        )))
    }

    /// Write the parameter with the value read now from `value_source`.
    async fn ssm_put(
        &self,
        address: &str,
        want: &SsmParameterSpec,
        overwrite: bool,
    ) -> Result<Observed, ProviderError> {
        let ssm = &self.c.ssm;
        let value = self.password(address, &want.value_source)?;
        let mut b = ssm
            .put_parameter()
            .name(&want.name)
            .description(&want.description)
            .r#type(ParameterType::from(want.param_type.as_str()))
            .key_id(&want.key_id)
            .value(value.expose())
            .overwrite(overwrite);
        if !overwrite {
            // Tags go with the first write only (AWS refuses them with Overwrite).
            b = b.set_tags(Some(
                self.tags(address, &BTreeMap::new())
                    .into_iter()
                    .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                    .collect(),
            ));
        }
        let res = self.call(|| b.clone().send()).await;
        drop(b);
        drop(value);
        res.map_err(|e| e.provider(address, "write the parameter"))?;
        for i in 0..20u64 {
            if let Some(o) = self.ssm_observe(address, want, None).await? {
                return Ok(o);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250 * (i + 1).min(8))).await;
        }
        Err(ProviderError::new(format!(
            "{address}: {} was written but SSM does not describe it",
            want.name
        ))
        .with_hint("run apply again: chronous adopts it once SSM shows it")
        .retryable())
    }
}
