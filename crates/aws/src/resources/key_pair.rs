//! `aws_key_pair`: an EC2 key pair imported from a public key file (ImportKeyPair, DescribeKeyPairs, DeleteKeyPair).

use chronous_core::resources::KeyPairSpec;
use std::collections::BTreeMap;

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
    let Some(o) = p
        .describe(address, || ec2.describe_key_pairs().key_names(id).send())
        .await?
    else {
        return Ok(None);
    };
    let Some(k) = o.key_pairs().first() else {
        return Ok(None);
    };
    let spec = KeyPairSpec {
        key_name: k.key_name().unwrap_or_default().into(),
        public_key: pstr("public_key"),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("id", json!(k.key_pair_id().unwrap_or(id))),
            ("key_name", json!(k.key_name().unwrap_or(id))),
            (
                "fingerprint",
                json!(k.key_fingerprint().unwrap_or_default()),
            ),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    k: &KeyPairSpec,
) -> Result<Observed, ProviderError> {
    let ec2 = &p.c.ec2;
    let attrs = attrs_of(k);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let file = p.path(&k.public_key);
        let material = std::fs::read(&file).map_err(|e| {
            ProviderError::new(format!(
                "{address}: cannot read the public key file {}: {e}",
                file.display()
            ))
            .with_hint(format!(
                "create it with `ssh-keygen -t ed25519 -f {}` or fix key_pair.public_key_file",
                file.with_extension("").display()
            ))
        })?;
        let existing = found(
            p.call(|| ec2.describe_key_pairs().key_names(&k.key_name).send())
                .await,
        )
        .map_err(|e| e.provider(address, "look up the key pair"))?;
        if let Some(kp) = existing.as_ref().and_then(|o| o.key_pairs().first()) {
            if !p.is_ours(address, tag_pairs(kp.tags())) {
                return Err(ProviderError::new(format!("{address}: a key pair named `{}` already exists and was not imported by this environment", k.key_name))
                    .with_hint("delete it in the EC2 console (if it is the same key) or rename key_pair.name in chronous.toml"));
            }
        } else {
            p.call(|| {
                ec2.import_key_pair()
                    .key_name(&k.key_name)
                    .public_key_material(aws_smithy_types::Blob::new(material.clone()))
                    .tag_specifications(p.tag_spec(
                        ResourceType::KeyPair,
                        address,
                        &BTreeMap::new(),
                    ))
                    .send()
            })
            .await
            .map_err(mk)?;
        }
        k.key_name.clone()
    };
    settled!(p, address, Kind::KeyPair, &id, attrs)
}

update_nothing!(KeyPair, KeyPairSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    k: &KeyPairSpec,
) -> Result<(), ProviderError> {
    let ec2 = &p.c.ec2;
    let address = r.address.as_str();
    p.delete_call(address, "delete the key pair", || {
        ec2.delete_key_pair().key_name(&k.key_name).send()
    })
    .await
}
