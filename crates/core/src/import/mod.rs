//! Adopting what exists: a Terraform state (format version 4) read and
//! matched to the environment's addresses ([`from_terraform`]), and the
//! records chronous writes for what it adopts ([`records`]), before the
//! backend refreshes them. Pure: the caller reads the file, refreshes through
//! its provider and writes the state.
//!
//! No secret goes further than the parser: [`tfstate::parse`] removes the
//! attributes Terraform keeps in clear text and says where they were.

pub mod init;
pub mod matcher;
pub mod tfstate;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::env::Environment;
use crate::resources::{expand, Kind, Resource, Spec};
use crate::state::{deposed_key, Adopted, ResourceRecord};
use crate::value::{refs, resolve, Ref};

pub use matcher::{match_state, Adoption, MatchError, Matched, Unmanaged};
pub use tfstate::{parse, SecretFound, TfObject, TfState, TfStateError};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    #[error(transparent)]
    State(#[from] TfStateError),
    #[error("the state describes objects in region {found} ({at}), but the environment is in {expected}: import the state of this environment's region, or set environment.region")]
    Region {
        found: String,
        at: String,
        expected: String,
    },
    #[error(transparent)]
    Match(#[from] MatchError),
}

/// A Terraform state matched to an environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerraformImport {
    pub terraform_version: String,
    pub serial: u64,
    pub lineage: String,
    pub matched: Matched,
    /// Where the state holds secrets in clear text (never the values).
    pub secrets: Vec<SecretFound>,
    #[serde(skip)]
    pub objects: Vec<TfObject>,
}

/// Parse `text` (a state file), check its region and match its objects to `env`'s addresses.
pub fn from_terraform(text: &str, env: &Environment) -> Result<TerraformImport, ImportError> {
    let st = parse(text)?;
    if let Some((found, at)) = tfstate::regions(&st.objects)
        .into_iter()
        .find(|(r, _)| *r != env.region)
    {
        return Err(ImportError::Region {
            found,
            at,
            expected: env.region.clone(),
        });
    }
    let desired = expand(env);
    let matched = match_state(&st.objects, &desired, &env.prefix)?;
    Ok(TerraformImport {
        terraform_version: st.terraform_version,
        serial: st.serial,
        lineage: st.lineage,
        matched,
        secrets: st.secrets,
        objects: st.objects,
    })
}

/// What the state records for the adopted objects before the backend reads
/// them: each desired spec with its references resolved from the adopted
/// objects' attributes (what the backend cannot observe, such as where the
/// password comes from, is the file's), and the legacy objects as deposed
/// records of the address that replaces them.
pub struct Records {
    pub resources: Vec<ResourceRecord>,
    /// (deposed key, record).
    pub deposed: Vec<(String, ResourceRecord)>,
    /// Provenance by address or deposed key.
    pub adopted: BTreeMap<String, Adopted>,
}

/// The records of `adopted` objects (found by `source`: `terraform` or `aws`)
/// and `legacy` ones, with `attrs_of` giving each adopted object's attributes
/// as its source describes them (for resolving references).
pub fn records(
    desired: &[Resource],
    adopted: &[Adoption],
    legacy: &[(Adoption, String)],
    attrs_of: &BTreeMap<String, Value>,
    source: &str,
    own_tags: bool,
) -> Records {
    let at: BTreeMap<&str, &Value> = adopted
        .iter()
        .filter_map(|a| attrs_of.get(&a.tf_address).map(|v| (a.address.as_str(), v)))
        .collect();
    let mut out = Records {
        resources: Vec::new(),
        deposed: Vec::new(),
        adopted: BTreeMap::new(),
    };
    for a in adopted {
        let Some(r) = desired.iter().find(|r| r.address == a.address) else {
            continue;
        };
        let spec = r.spec.to_attrs();
        let mut attrs = resolve(&spec, &|x: &Ref| {
            at.get(x.address.as_str())
                .and_then(|v| v.get(&x.attr))
                .map(as_output)
        });
        let mut deps: Vec<String> = refs(&spec).into_iter().map(|x| x.address).collect();
        deps.dedup();
        if a.kind == Kind::AutoScalingGroup {
            for (l, _) in legacy {
                // It launches from the legacy object: moving to the template is an update.
                attrs["launch_template_id"] = Value::String(String::new());
                deps.push(l.address.clone());
            }
        }
        out.adopted
            .insert(a.address.clone(), provenance(source, a, own_tags));
        // What the backend will report, as the source describes it (the refresh replaces it).
        let outputs = a
            .kind
            .outputs()
            .iter()
            .filter_map(|o| {
                let v = at.get(a.address.as_str())?.get(*o)?;
                Some((o.to_string(), as_output(v)))
            })
            .collect();
        out.resources.push(ResourceRecord {
            address: a.address.clone(),
            kind: a.kind,
            id: a.id.clone(),
            attrs,
            outputs,
            deps,
            tainted: false,
        });
    }
    for (l, _) in legacy {
        let v = attrs_of.get(&l.tf_address).cloned().unwrap_or(Value::Null);
        let key = deposed_key(&l.address, &l.id);
        out.adopted
            .insert(key.clone(), provenance(source, l, own_tags));
        out.deposed.push((
            key,
            ResourceRecord {
                address: l.address.clone(),
                kind: l.kind,
                id: l.id.clone(),
                attrs: launch_configuration_attrs(&v),
                outputs: BTreeMap::new(),
                deps: vec![],
                tainted: false,
            },
        ));
    }
    out
}

fn provenance(source: &str, a: &Adoption, own_tags: bool) -> Adopted {
    Adopted {
        source: source.to_string(),
        from: a.tf_address.clone(),
        own_tags,
    }
}

/// A launch configuration's attributes (Terraform's) in chronous's spec shape.
pub fn launch_configuration_attrs(v: &Value) -> Value {
    let s = |k: &str| v.get(k).cloned().unwrap_or(Value::String(String::new()));
    serde_json::json!({
        "name": s("name"),
        "image_id": s("image_id"),
        "instance_type": s("instance_type"),
        "key_name": v.get("key_name").filter(|k| k.as_str().is_some_and(|k| !k.is_empty())).cloned(),
        "iam_instance_profile": s("iam_instance_profile"),
        "security_groups": v.get("security_groups").cloned().unwrap_or(Value::Array(vec![])),
        "user_data": s("user_data"),
    })
}

/// A referenced attribute as chronous's backends report outputs: scalars as strings.
pub(crate) fn as_output(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// The id a backend knows an object by when that id follows from the spec
/// (`resolved`: references replaced) alone: its name for the named kinds.
/// `None` for the kinds only a look-up in the account can find (EC2 ids).
pub fn id_by_name(resolved: &Spec) -> Option<String> {
    match resolved {
        Spec::IamRole(s) => Some(s.name.clone()),
        Spec::IamInstanceProfile(s) => Some(s.name.clone()),
        Spec::AutoScalingGroup(s) => Some(s.name.clone()),
        Spec::KeyPair(s) => Some(s.key_name.clone()),
        Spec::Elb(s) => Some(s.name.clone()),
        Spec::CloudwatchLogGroup(s) => Some(s.name.clone()),
        Spec::S3Bucket(s) => Some(s.bucket.clone()),
        Spec::S3Object(s) => Some(format!("{}/{}", s.bucket, s.key)),
        Spec::DbSubnetGroup(s) => Some(s.name.clone()),
        Spec::DbInstance(s) => Some(s.identifier.clone()),
        Spec::EcrRepository(s) => Some(s.name.clone()),
        Spec::SsmParameter(s) => Some(s.name.clone()),
        Spec::EcsCluster(s) => Some(s.name.clone()),
        Spec::EcsTaskDefinition(s) => Some(s.family.clone()),
        Spec::EcsService(s) => Some(s.name.clone()),
        Spec::IamRolePolicyAttachment(s) => Some(format!("{}/{}", s.role, s.policy_arn)),
        Spec::IamRolePolicy(s) => Some(format!("{}:{}", s.role, s.name)),
        // Read by the rule itself; the id only names it.
        Spec::SecurityGroupRule(s) => Some(format!(
            "{}|{}|{}|{}|{}",
            s.security_group_id, s.direction, s.protocol, s.from_port, s.to_port
        )),
        // Looked up again by its filters on every read.
        Spec::AmiLookup(_) => Some(String::new()),
        Spec::Vpc(_)
        | Spec::Subnet(_)
        | Spec::InternetGateway(_)
        | Spec::Eip(_)
        | Spec::NatGateway(_)
        | Spec::RouteTable(_)
        | Spec::RouteTableAssociation(_)
        | Spec::SecurityGroup(_)
        | Spec::LaunchTemplate(_)
        | Spec::LaunchConfiguration(_)
        | Spec::Instance(_)
        | Spec::Data(_) => None,
    }
}
