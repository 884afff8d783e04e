//! Terraform's state file, format version 4 (Terraform 0.12 and later), as
//! far as chronous reads it: `version`, `terraform_version`, `serial`,
//! `lineage`, and `resources[]` with `mode`, `type`, `name`, `module`,
//! `provider` and `instances[]` (`index_key`, `schema_version`,
//! `attributes`). See fixtures/terraform/README.md.
//!
//! Secrets never leave this module: the attributes Terraform keeps in clear
//! text (`aws_db_instance.password` ...) are removed while parsing, and only
//! where they were is kept ([`TfState::secrets`]).

use serde::Deserialize;
use serde_json::Value;

/// The one format version chronous reads.
pub const TF_STATE_VERSION: u64 = 4;

/// Attributes of a Terraform resource type that hold a secret in clear text.
const SECRET_ATTRS: &[(&str, &str)] = &[
    ("aws_db_instance", "password"),
    ("aws_rds_cluster", "master_password"),
    ("aws_iam_access_key", "secret"),
    ("aws_iam_user_login_profile", "password"),
    ("aws_ssm_parameter", "value"),
    ("aws_secretsmanager_secret_version", "secret_string"),
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TfStateError {
    #[error("not a Terraform state file: it is not JSON ({0})")]
    NotJson(String),
    #[error("not a Terraform state file: {0}")]
    NotState(String),
    #[error("Terraform state format version {found}: chronous reads version 4 (Terraform 0.12 and later); run `terraform state pull` with a current Terraform to upgrade it")]
    Version { found: u64 },
}

#[derive(Debug, Clone, Deserialize)]
struct RawState {
    version: Option<Value>,
    terraform_version: Option<String>,
    serial: Option<u64>,
    lineage: Option<String>,
    resources: Option<Vec<RawResource>>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawResource {
    mode: String,
    #[serde(rename = "type")]
    tf_type: String,
    name: String,
    module: Option<String>,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawInstance {
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Value,
    /// A deposed object of a create-before-destroy Terraform left behind.
    deposed: Option<String>,
}

/// One object of the state: one instance of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct TfObject {
    /// Its full address: `module.vpc.aws_subnet.private[1]`, `data.aws_ami.latest_ecs`.
    pub address: String,
    /// `managed` or `data`.
    pub mode: String,
    pub tf_type: String,
    pub provider: String,
    /// Its attributes, without the secrets.
    pub attrs: Value,
}

impl TfObject {
    pub fn str(&self, k: &str) -> Option<&str> {
        self.attrs
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    pub fn id(&self) -> Option<&str> {
        self.str("id")
    }
    /// A list attribute as strings (a comma-joined string counts too).
    pub fn strs(&self, k: &str) -> Vec<String> {
        match self.attrs.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => s.split(',').map(str::to_string).collect(),
            _ => vec![],
        }
    }
    /// A `Name` tag.
    pub fn name_tag(&self) -> Option<&str> {
        self.attrs
            .get("tags")
            .and_then(|t| t.get("Name"))
            .and_then(Value::as_str)
    }
    /// The first element of a nested block (`listener[0]`).
    pub fn block(&self, k: &str) -> Option<&Value> {
        match self.attrs.get(k) {
            Some(Value::Array(a)) => a.first(),
            Some(v @ Value::Object(_)) => Some(v),
            _ => None,
        }
    }
}

/// Where a secret was (never its value).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SecretFound {
    pub address: String,
    pub attribute: String,
}

/// A parsed state.
#[derive(Debug, Clone, PartialEq)]
pub struct TfState {
    pub terraform_version: String,
    pub serial: u64,
    pub lineage: String,
    pub objects: Vec<TfObject>,
    /// Secrets the file holds in clear text, removed from `objects`.
    pub secrets: Vec<SecretFound>,
    /// Deposed objects of the state (an interrupted create-before-destroy), by address.
    pub deposed: Vec<String>,
}

/// `index_key` as Terraform prints it: `[0]`, `["a"]`.
fn index(k: &Option<Value>) -> String {
    match k {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        Some(v) => format!("[{v}]"),
    }
}

/// Parse a state file's text. The secrets are removed before anything else sees the attributes.
pub fn parse(text: &str) -> Result<TfState, TfStateError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        TfStateError::NotJson(format!(
            "line {} column {}: {}",
            e.line(),
            e.column(),
            short(&e)
        ))
    })?;
    if !v.is_object() {
        return Err(TfStateError::NotState(
            "the file is JSON but not an object".into(),
        ));
    }
    let raw: RawState = serde_json::from_value(v)
        .map_err(|e| TfStateError::NotState(format!("unexpected shape: {e}")))?;
    let version = match &raw.version {
        None => return Err(TfStateError::NotState("it has no `version` field".into())),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(_) => return Err(TfStateError::NotState("`version` is not a number".into())),
    };
    if version != TF_STATE_VERSION {
        return Err(TfStateError::Version { found: version });
    }
    let (Some(lineage), Some(resources)) = (raw.lineage, raw.resources) else {
        return Err(TfStateError::NotState(
            "it has no `lineage` or no `resources`".into(),
        ));
    };
    let mut objects = Vec::new();
    let mut secrets = Vec::new();
    let mut deposed = Vec::new();
    for r in resources {
        let module = r.module.map(|m| format!("{m}.")).unwrap_or_default();
        let data = if r.mode == "data" { "data." } else { "" };
        for mut i in r.instances {
            let address = format!(
                "{module}{data}{}.{}{}",
                r.tf_type,
                r.name,
                index(&i.index_key)
            );
            for (t, a) in SECRET_ATTRS {
                if *t == r.tf_type {
                    if let Some(o) = i.attributes.as_object_mut() {
                        if o.remove(*a).is_some_and(|v| !v.is_null() && v != "") {
                            secrets.push(SecretFound {
                                address: address.clone(),
                                attribute: a.to_string(),
                            });
                        }
                    }
                }
            }
            if r.tf_type == "aws_ecs_task_definition" {
                scrub_container_env(&mut i.attributes, &address, &mut secrets);
            }
            if i.deposed.is_some() {
                deposed.push(address);
                continue;
            }
            objects.push(TfObject {
                address,
                mode: r.mode.clone(),
                tf_type: r.tf_type.clone(),
                provider: r.provider.clone(),
                attrs: i.attributes,
            });
        }
    }
    Ok(TfState {
        terraform_version: raw.terraform_version.unwrap_or_default(),
        serial: raw.serial.unwrap_or(0),
        lineage,
        objects,
        secrets,
        deposed,
    })
}

/// serde_json's message without its position (given separately).
fn short(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The regions the state's objects are in, from their ARNs and availability
/// zones, with one object that shows each.
pub fn regions(objects: &[TfObject]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |region: &str, address: &str| {
        if !region.is_empty() && !out.iter().any(|(r, _)| r == region) {
            out.push((region.to_string(), address.to_string()));
        }
    };
    for o in objects {
        if let Some(arn) = o.str("arn") {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() == 6 && parts[0] == "arn" {
                add(parts[3], &o.address);
            }
        }
        if let Some(az) = o.str("availability_zone") {
            add(
                az.trim_end_matches(|c: char| c.is_ascii_lowercase()),
                &o.address,
            );
        }
        if let Some(r) = o.str("region") {
            add(r, &o.address);
        }
    }
    out
}

/// A variable of a container's plain environment that holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.contains("PASSWORD") || n.contains("SECRET") || n.ends_with("_TOKEN")
}

/// The value chronous keeps instead of a secret found in a plain environment.
pub const SCRUBBED: &str = "(sensitive: a secret in the plain environment)";

/// Secrets in a task definition's `container_definitions` (a JSON string):
/// replaced, and where they were recorded.
fn scrub_container_env(attrs: &mut Value, address: &str, secrets: &mut Vec<SecretFound>) {
    let Some(text) = attrs.get("container_definitions").and_then(Value::as_str) else {
        return;
    };
    let Ok(mut defs) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut found = false;
    for c in defs.as_array_mut().into_iter().flatten() {
        for kv in c
            .get_mut("environment")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let name = kv
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if is_secret_name(&name) {
                kv["value"] = Value::String(SCRUBBED.into());
                secrets.push(SecretFound {
                    address: address.to_string(),
                    attribute: format!("container_definitions.environment.{name}"),
                });
                found = true;
            }
        }
    }
    if found {
        attrs["container_definitions"] = Value::String(defs.to_string());
    }
}
