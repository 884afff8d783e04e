//! `aws_iam_role`: an IAM role and its trust policy (CreateRole, GetRole, UpdateAssumeRolePolicy, DeleteRole).

use chronous_core::resources::IamRoleSpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let Some(o) = p
        .describe(address, || c.iam.get_role().role_name(id).send())
        .await?
    else {
        return Ok(None);
    };
    let Some(role) = o.role() else {
        return Ok(None);
    };
    let spec = IamRoleSpec {
        name: role.role_name().into(),
        trusted_services: trusted(
            role.assume_role_policy_document().unwrap_or("{}"),
            prior.get("trusted_services"),
        ),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(role.arn())),
            ("name", json!(role.role_name())),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    r: &IamRoleSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(r);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if let Some(o) =
            found(p.call(|| c.iam.get_role().role_name(&r.name).send()).await).map_err(mk)?
        {
            let tags = o
                .role()
                .map(|r| {
                    r.tags()
                        .iter()
                        .map(|t| (t.key(), t.value()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            p.claim(address, "IAM role", &r.name, tags)?;
            return adopt!(p, address, Kind::IamRole, r.name.clone(), attrs, r);
        }
        p.call(|| {
            c.iam
                .create_role()
                .role_name(&r.name)
                .assume_role_policy_document(trust_policy(&r.trusted_services))
                .set_tags(Some(p.iam_tags(address)))
                .send()
        })
        .await
        .map_err(mk)?;
        r.name.clone()
    };
    settled!(p, address, Kind::IamRole, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    role: &IamRoleSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(role);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    if changed("trusted_services") {
        p.call(|| {
            c.iam
                .update_assume_role_policy()
                .role_name(&role.name)
                .policy_document(trust_policy(&role.trusted_services))
                .send()
        })
        .await
        .map_err(up)?;
    }
    settled!(p, address, Kind::IamRole, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    role: &IamRoleSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.retry_in_use(address, "delete the role", || async {
        p.call(|| c.iam.delete_role().role_name(&role.name).send())
            .await
            .map(|_| ())
    })
    .await
}

fn trust_policy(services: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The services a trust policy lets assume the role, in the recorded order when unchanged.
fn trusted(doc: &str, prior: Option<&Value>) -> Vec<String> {
    let v: Value = serde_json::from_str(&url_decode(doc)).unwrap_or(Value::Null);
    let mut out = Vec::new();
    let stmts = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o) => vec![o.clone()],
        None => vec![],
    };
    for s in stmts {
        match s.get("Principal").and_then(|p| p.get("Service")) {
            Some(Value::String(x)) => out.push(x.clone()),
            Some(Value::Array(a)) => {
                out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
            }
            _ => {}
        }
    }
    like_recorded(out, prior)
}
