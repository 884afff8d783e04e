//! `aws_iam_instance_profile`: an IAM instance profile holding one role (CreateInstanceProfile, AddRoleToInstanceProfile, GetInstanceProfile, RemoveRoleFromInstanceProfile, DeleteInstanceProfile).

use chronous_core::resources::IamInstanceProfileSpec;

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
            c.iam
                .get_instance_profile()
                .instance_profile_name(id)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(p) = o.instance_profile() else {
        return Ok(None);
    };
    let spec = IamInstanceProfileSpec {
        name: p.instance_profile_name().into(),
        role: p
            .roles()
            .first()
            .map(|r| r.role_name().to_string())
            .unwrap_or_default(),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(p.arn())),
            ("name", json!(p.instance_profile_name())),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    s: &IamInstanceProfileSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(s);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if let Some(o) = found(
            p.call(|| {
                c.iam
                    .get_instance_profile()
                    .instance_profile_name(&s.name)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            let tags = o
                .instance_profile()
                .map(|r| {
                    r.tags()
                        .iter()
                        .map(|t| (t.key(), t.value()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            p.claim(address, "instance profile", &s.name, tags)?;
            return adopt!(
                p,
                address,
                Kind::IamInstanceProfile,
                s.name.clone(),
                attrs,
                s
            );
        }
        p.call(|| {
            c.iam
                .create_instance_profile()
                .instance_profile_name(&s.name)
                .set_tags(Some(p.iam_tags(address)))
                .send()
        })
        .await
        .map_err(mk)?;
        p.call(|| {
            c.iam
                .add_role_to_instance_profile()
                .instance_profile_name(&s.name)
                .role_name(&s.role)
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "add the role"))?;
        s.name.clone()
    };
    settled!(p, address, Kind::IamInstanceProfile, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &IamInstanceProfileSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(s);
    let old = r
        .attrs
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if old != s.role {
        if !old.is_empty() {
            let _ = p
                .call(|| {
                    c.iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(&s.name)
                        .role_name(&old)
                        .send()
                })
                .await;
        }
        p.call(|| {
            c.iam
                .add_role_to_instance_profile()
                .instance_profile_name(&s.name)
                .role_name(&s.role)
                .send()
        })
        .await
        .map_err(up)?;
    }
    settled!(p, address, Kind::IamInstanceProfile, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &IamInstanceProfileSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let _ = p
        .call(|| {
            c.iam
                .remove_role_from_instance_profile()
                .instance_profile_name(&s.name)
                .role_name(&s.role)
                .send()
        })
        .await;
    p.delete_call(address, "delete the instance profile", || {
        c.iam
            .delete_instance_profile()
            .instance_profile_name(&s.name)
            .send()
    })
    .await
}
