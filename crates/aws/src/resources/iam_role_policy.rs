//! `aws_iam_role_policy`: an inline policy of an IAM role (PutRolePolicy, GetRolePolicy, DeleteRolePolicy).

use chronous_core::resources::IamRolePolicySpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let want: IamRolePolicySpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let Some(o) = p
        .describe(address, || {
            c.iam
                .get_role_policy()
                .role_name(&want.role)
                .policy_name(&want.name)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let doc = url_decode(o.policy_document());
    let policy = if same_json(&doc, &want.policy) {
        want.policy.clone()
    } else {
        doc
    };
    let spec = IamRolePolicySpec { policy, ..want };
    Ok(Some(observed(id, &spec, out(&[("id", json!(id))]))))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    s: &IamRolePolicySpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(s);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        p.call(|| {
            c.iam
                .put_role_policy()
                .role_name(&s.role)
                .policy_name(&s.name)
                .policy_document(&s.policy)
                .send()
        })
        .await
        .map_err(mk)?;
        format!("{}:{}", s.role, s.name)
    };
    settled!(p, address, Kind::IamRolePolicy, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &IamRolePolicySpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(s);
    p.call(|| {
        c.iam
            .put_role_policy()
            .role_name(&s.role)
            .policy_name(&s.name)
            .policy_document(&s.policy)
            .send()
    })
    .await
    .map_err(up)?;
    settled!(p, address, Kind::IamRolePolicy, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &IamRolePolicySpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the policy", || {
        c.iam
            .delete_role_policy()
            .role_name(&s.role)
            .policy_name(&s.name)
            .send()
    })
    .await
}

/// The same JSON document (whitespace and key order aside).
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
