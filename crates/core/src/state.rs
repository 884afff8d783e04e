//! The state format: what chronous recorded about every object it manages.
//!
//! A [`State`] is versioned JSON with a `lineage` (fixed for the life of an
//! environment) and a `serial` (bumped on every write). Durable storage lives
//! outside core (`chronous-store`): a snapshot plus an append-only journal of
//! [`JournalEntry`]s, one batch per group of completed steps. Replaying the
//! journal onto the snapshot with [`State::apply_entry`] gives the current state.
//!
//! No secret is ever stored: specs carry where a password comes from
//! (`password_source`), never its value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::Backend;
use crate::resources::Kind;

pub const STATE_FORMAT_VERSION: u32 = 1;

/// One object chronous manages, as last applied or refreshed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub address: String,
    pub kind: Kind,
    /// The backend's id for the object.
    pub id: String,
    /// Resolved attributes (the spec with every reference replaced).
    pub attrs: Value,
    /// Computed attributes reported by the backend (`id`, `arn`, `dns_name` ...).
    pub outputs: BTreeMap<String, Value>,
    /// Addresses this object referenced when it was applied.
    pub deps: Vec<String>,
    /// Marked for replacement by `chronous replace`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tainted: bool,
}

impl ResourceRecord {
    /// Value of an attribute or computed output, outputs first.
    pub fn get(&self, attr: &str) -> Option<Value> {
        self.outputs
            .get(attr)
            .cloned()
            .or_else(|| self.attrs.get(attr).cloned())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub lineage: String,
    pub serial: u64,
    pub environment: String,
    pub backend: Backend,
    pub resources: BTreeMap<String, ResourceRecord>,
    /// Old objects of a create-before-destroy replacement not yet destroyed,
    /// keyed `ADDRESS (deposed ID)`.
    #[serde(default)]
    pub deposed: BTreeMap<String, ResourceRecord>,
    /// Objects adopted by `chronous import` and not changed by chronous since,
    /// by address (deposed keys included): the plan does not replace or
    /// delete them without `--allow-replace-adopted`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adopted: BTreeMap<String, Adopted>,
}

/// Where an adopted object came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// `terraform` or `aws`.
    pub source: String,
    /// The Terraform address (`module.vpc.aws_vpc.this[0]`), or how the
    /// account look-up found it (`Name tag cak-vpc`).
    pub from: String,
    /// Whether it carries chronous's own tags (`chronous:environment`,
    /// `chronous:address`) already.
    pub own_tags: bool,
}

/// One durable change to the state, as written to the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalEntry {
    /// An object was created, updated or refreshed.
    Put { record: ResourceRecord },
    /// The object at this address was destroyed (or found gone).
    Remove { address: String },
    /// A create-before-destroy replacement: the current object becomes
    /// deposed under `deposed_key`, the new one takes the address.
    Replaced {
        record: ResourceRecord,
        deposed_key: String,
    },
    /// A deposed object was destroyed.
    RemoveDeposed { deposed_key: String },
    /// `chronous replace`: the object will be replaced by the next apply.
    Taint { address: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StateError {
    #[error("state format version {found} is newer than this chronous understands ({supported}); upgrade chronous")]
    TooNew { found: u32, supported: u32 },
    #[error("state belongs to environment `{found}`, not `{expected}`: each environment keeps its state in its own folder")]
    WrongEnvironment { found: String, expected: String },
    #[error("the state is managed by the {found:?} backend, not {expected:?}; run with --backend {found:?} (lower case), or destroy it first")]
    WrongBackend { found: Backend, expected: Backend },
}

impl State {
    pub fn new(environment: &str, backend: Backend, lineage: String) -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            lineage,
            serial: 0,
            environment: environment.to_string(),
            backend,
            resources: BTreeMap::new(),
            deposed: BTreeMap::new(),
            adopted: BTreeMap::new(),
        }
    }

    pub fn check(&self, environment: &str, backend: Backend) -> Result<(), StateError> {
        if self.format_version > STATE_FORMAT_VERSION {
            return Err(StateError::TooNew {
                found: self.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        if self.environment != environment {
            return Err(StateError::WrongEnvironment {
                found: self.environment.clone(),
                expected: environment.to_string(),
            });
        }
        if self.backend != backend && !self.is_empty() {
            return Err(StateError::WrongBackend {
                found: self.backend,
                expected: backend,
            });
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.deposed.is_empty()
    }

    /// Apply one journal entry. Entries are idempotent: replaying a journal
    /// twice gives the same state.
    pub fn apply_entry(&mut self, e: &JournalEntry) {
        match e {
            JournalEntry::Put { record } => {
                // Changed by chronous: its own from now on.
                self.adopted.remove(&record.address);
                self.resources
                    .insert(record.address.clone(), record.clone());
            }
            JournalEntry::Remove { address } => {
                self.adopted.remove(address);
                self.resources.remove(address);
            }
            JournalEntry::Replaced {
                record,
                deposed_key,
            } => {
                self.adopted.remove(&record.address);
                if let Some(old) = self.resources.remove(&record.address) {
                    if old.id != record.id {
                        self.deposed.insert(deposed_key.clone(), old);
                    }
                }
                self.resources
                    .insert(record.address.clone(), record.clone());
            }
            JournalEntry::RemoveDeposed { deposed_key } => {
                self.adopted.remove(deposed_key);
                self.deposed.remove(deposed_key);
            }
            JournalEntry::Taint { address } => {
                if let Some(r) = self.resources.get_mut(address) {
                    r.tainted = true;
                }
            }
        }
    }

    /// Look up `address.attr` among the recorded objects.
    pub fn lookup(&self, address: &str, attr: &str) -> Option<Value> {
        self.resources.get(address).and_then(|r| r.get(attr))
    }
}

/// The key a deposed object is kept under.
pub fn deposed_key(address: &str, id: &str) -> String {
    format!("{address} (deposed {id})")
}

/// The environment's outputs, as the seed's Terraform gave them.
pub fn outputs(state: &State, azs: &[String]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let s = |v: Option<Value>| v.unwrap_or(Value::Null);
    out.insert(
        "elb_dns".to_string(),
        s(state.lookup("aws_elb.main", "dns_name")),
    );
    out.insert(
        "bastion_public_ip".to_string(),
        s(state.lookup("aws_instance.bastion", "public_ip")),
    );
    out.insert(
        "rds_endpoint".to_string(),
        s(state.lookup("aws_db_instance.main", "endpoint")),
    );
    out.insert(
        "availability_zones".to_string(),
        Value::Array(azs.iter().map(|a| Value::String(a.clone())).collect()),
    );
    out
}
