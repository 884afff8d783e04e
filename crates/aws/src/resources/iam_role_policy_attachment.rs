//! `aws_iam_role_policy_attachment`: a managed policy attached to an IAM role (AttachRolePolicy, ListAttachedRolePolicies, DetachRolePolicy).

use chronous_core::resources::IamRolePolicyAttachmentSpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let want: IamRolePolicyAttachmentSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let Some(o) = p
        .describe(address, || {
            c.iam
                .list_attached_role_policies()
                .role_name(&want.role)
                .max_items(1000)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    if !o
        .attached_policies()
        .iter()
        .any(|p| p.policy_arn() == Some(want.policy_arn.as_str()))
    {
        return Ok(None);
    }
    Ok(Some(observed(id, &want, out(&[("id", json!(id))]))))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    a: &IamRolePolicyAttachmentSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(a);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        p.call(|| {
            c.iam
                .attach_role_policy()
                .role_name(&a.role)
                .policy_arn(&a.policy_arn)
                .send()
        })
        .await
        .map_err(mk)?;
        format!("{}/{}", a.role, a.policy_arn)
    };
    settled!(p, address, Kind::IamRolePolicyAttachment, &id, attrs)
}

update_nothing!(IamRolePolicyAttachment, IamRolePolicyAttachmentSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    a: &IamRolePolicyAttachmentSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "detach the policy", || {
        c.iam
            .detach_role_policy()
            .role_name(&a.role)
            .policy_arn(&a.policy_arn)
            .send()
    })
    .await
}
