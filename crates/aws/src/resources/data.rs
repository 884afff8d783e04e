//! `chronous_data`: a value kept in the state only; no AWS API is called.
//! Its id is derived from the address, its attributes are the spec.

use chronous_core::resources::{DataSpec, Spec};

use super::common::*;

/// What the record holds is what there is.
pub(crate) async fn read(
    _p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    Ok(Some(Observed {
        id: r.id.clone(),
        attrs: r.attrs.clone(),
        outputs: r.outputs.clone(),
    }))
}

pub(crate) async fn create(
    _p: &AwsProvider,
    address: &str,
    d: &DataSpec,
) -> Result<Observed, ProviderError> {
    let id = format!(
        "data-{}",
        &hex::encode(sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(address.as_bytes())
        ))[..12]
    );
    Ok(Observed {
        id: id.clone(),
        attrs: Spec::Data(d.clone()).to_attrs(),
        outputs: std::collections::BTreeMap::from([("id".to_string(), Value::String(id))]),
    })
}

pub(crate) async fn update(
    _p: &AwsProvider,
    r: &ResourceRecord,
    d: &DataSpec,
) -> Result<Observed, ProviderError> {
    Ok(Observed {
        id: r.id.clone(),
        attrs: Spec::Data(d.clone()).to_attrs(),
        outputs: r.outputs.clone(),
    })
}

pub(crate) async fn delete(
    _p: &AwsProvider,
    _r: &ResourceRecord,
    _d: &DataSpec,
) -> Result<(), ProviderError> {
    Ok(())
}
