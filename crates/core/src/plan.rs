//! The planner: desired resources against recorded (refreshed) state, to an
//! ordered list of changes. Plans are data, like Terraform's `plans.Action`;
//! they render as text (`+ ~ -/+ +/- -`) and as JSON, and a saved plan is
//! applied exactly as it was shown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::Backend;
use crate::graph::{DesiredGraph, GraphError};
use crate::resources::{Kind, Resource};
use crate::state::{ResourceRecord, State};
use crate::value::{has_unknown, resolve, UNKNOWN};

pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Replace: destroy the old object, then create the new one.
    DeleteThenCreate,
    /// Replace: create the new object, then destroy the old one.
    CreateThenDelete,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
        }
    }
    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }
}

/// One attribute that changes. `None`: the attribute is absent on that
/// side, which is not the same as a `null` value; a saved plan keeps the
/// difference (absent sides are left out of the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub before: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub after: Option<Value>,
    pub forces_replacement: bool,
}

/// A value that is present in the JSON, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What happens to one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    /// Why: "forces replacement", "tainted", "deleted outside chronous" ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<AttrChange>,
    /// The desired spec with references unresolved: apply resolves it when
    /// its dependencies are done. None for deletes.
    pub spec: Option<Value>,
    /// Addresses the desired object depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Addresses the recorded object depended on (for delete ordering).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_deps: Vec<String>,
    /// For the destroy of a deposed object: its key in the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposed: Option<String>,
    /// The recorded object's id, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_id: Option<String>,
    /// What the change does to stored data, when it loses some (a database
    /// replaced): shown as its own line in the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<String>,
    /// A replacement or delete of an adopted object that this plan does not
    /// make (action `no_op`), and why: `--allow-replace-adopted` makes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// A plan: the state it was made against, and its changes in dependency order
/// (deletes of objects no longer wanted come last, in reverse order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub environment: String,
    pub backend: Backend,
    pub lineage: String,
    pub serial: u64,
    pub destroy: bool,
    pub changes: Vec<Change>,
    /// Changes made outside chronous that refresh found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// Where the plan applies on a real cloud: the account and region the
    /// backend's credentials act on (set by the caller; none on the simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Data sources read while planning (the AMI a look-up names), as
    /// Terraform reads its data sources at plan time: what the plan shows of
    /// them is what apply records first, before any step, so the objects that
    /// use them get exactly the values shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_sources: Vec<ResourceRecord>,
}

/// The account and region a plan acts on, and who acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub account: String,
    pub region: String,
    /// The caller's ARN.
    pub principal: String,
}

/// An object changed or deleted outside chronous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: String,
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<AttrChange>,
}

#[derive(Debug, Default, Clone)]
pub struct PlanOptions {
    pub destroy: bool,
    /// Addresses to replace even if nothing changed (`--replace`).
    pub replace: BTreeSet<String>,
    /// Replace or delete objects adopted by `chronous import` when the file
    /// asks for it (otherwise such changes are held and shown as held).
    pub allow_replace_adopted: bool,
    /// Adopted addresses whose replacement this plan makes anyway: a
    /// deployment's new task-definition revision (`chronous deploy`).
    pub allow_adopted: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("no resource `{0}` in the state; `chronous state list` shows the addresses")]
    UnknownAddress(String),
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut add = 0;
        let mut change = 0;
        let mut destroy = 0;
        let mut replace = 0;
        for c in &self.changes {
            match c.action {
                Action::Create => add += 1,
                Action::Update => change += 1,
                Action::Delete => destroy += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => replace += 1,
                Action::NoOp => {}
            }
        }
        (add, change, destroy, replace)
    }

    /// The plan as a person reads it, in the manner of Terraform.
    pub fn render(&self) -> String {
        let mut o = String::new();
        if let Some(t) = &self.target {
            let _ = writeln!(
                o,
                "AWS account {} in {}, as {}.\n",
                t.account, t.region, t.principal
            );
        }
        if !self.drift.is_empty() {
            let _ = writeln!(
                o,
                "Objects changed outside chronous since the last apply:\n"
            );
            for d in &self.drift {
                if d.deleted {
                    let _ = writeln!(o, "  # {} was deleted", d.address);
                } else {
                    let _ = writeln!(o, "  # {} changed", d.address);
                    for a in &d.attrs {
                        let _ = writeln!(
                            o,
                            "      ~ {}: {} -> {}",
                            a.name,
                            show(&a.before),
                            show(&a.after)
                        );
                    }
                }
            }
            o.push('\n');
        }
        if !self.has_changes() {
            let _ = writeln!(
                o,
                "No changes. The environment `{}` matches its configuration.",
                self.environment
            );
            self.render_held(&mut o);
            return o;
        }
        let _ = writeln!(
            o,
            "chronous will perform these actions on `{}` ({:?} backend):\n",
            self.environment, self.backend
        );
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            let what = match c.action {
                Action::Create => "will be created".to_string(),
                Action::Update => "will be updated in place".to_string(),
                Action::Delete if c.deposed.is_some() => {
                    "(deposed object) will be destroyed".to_string()
                }
                Action::Delete => "will be destroyed".to_string(),
                Action::DeleteThenCreate => "must be replaced (destroy, then create)".to_string(),
                Action::CreateThenDelete => {
                    "must be replaced (create the new one, then destroy the old)".to_string()
                }
                Action::NoOp => String::new(),
            };
            let _ = writeln!(
                o,
                "  # {} {what}",
                c.deposed.as_deref().unwrap_or(&c.address)
            );
            for r in &c.reasons {
                let _ = writeln!(o, "  # ({r})");
            }
            if let Some(d) = &c.data_loss {
                let _ = writeln!(o, "  # DATA LOSS: {d}");
            }
            let _ = writeln!(o, "{:>3} {}", c.action.symbol(), c.address);
            match c.action {
                Action::Create => {
                    for a in &c.attrs {
                        let _ = writeln!(o, "      + {} = {}", a.name, show(&a.after));
                    }
                }
                Action::Delete => {}
                _ => {
                    for a in &c.attrs {
                        let force = if a.forces_replacement {
                            "  # forces replacement"
                        } else {
                            ""
                        };
                        let _ = writeln!(
                            o,
                            "      ~ {}: {} -> {}{force}",
                            a.name,
                            show(&a.before),
                            show(&a.after)
                        );
                    }
                }
            }
            o.push('\n');
        }
        let (add, change, destroy, replace) = self.counts();
        let _ = writeln!(
            o,
            "Plan: {} to add, {change} to change, {} to destroy.",
            add + replace,
            destroy + replace
        );
        self.render_held(&mut o);
        o
    }

    /// Changes the plan holds back (adopted objects), after the summary.
    fn render_held(&self, o: &mut String) {
        let held: Vec<&Change> = self.changes.iter().filter(|c| c.held.is_some()).collect();
        if held.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "\nHeld: {} change(s) to adopted objects this plan does not make:\n",
            held.len()
        );
        for c in held {
            let _ = writeln!(o, "  # {} ({})", c.address, c.held.as_deref().unwrap_or(""));
            for a in &c.attrs {
                let force = if a.forces_replacement {
                    "  # forces replacement"
                } else {
                    ""
                };
                let _ = writeln!(
                    o,
                    "      ~ {}: {} -> {}{force}",
                    a.name,
                    show(&a.before),
                    show(&a.after)
                );
            }
        }
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) if s == UNKNOWN => UNKNOWN.into(),
        Some(v) if has_unknown(v) => format!("{v} {UNKNOWN}"),
        Some(v) => v.to_string(),
    }
}

/// Content hashes of local files: absent on one side means not known there
/// (the file was not looked at, or the state was written before chronous
/// recorded the hash), which is no reason to upload or restore again.
const UNKNOWN_WHEN_ABSENT: &[(Kind, &str)] = &[
    (Kind::S3Object, "source_sha256"),
    (Kind::DbInstance, "restore.backup_sha256"),
];

/// What replacing a database does to its data, in the plan's words.
fn data_loss(change: &Change) -> Option<String> {
    if change.kind != Kind::DbInstance || !change.action.is_replace() {
        return None;
    }
    let restore = change
        .spec
        .as_ref()
        .is_some_and(|s| s.get("restore").is_some_and(|r| !r.is_null()));
    let new_backup = change
        .attrs
        .iter()
        .any(|a| a.name == "restore.backup_sha256");
    Some(if new_backup {
        "the backup changed, and RDS restores from S3 only when it creates an instance (RestoreDBInstanceFromS3): the instance is destroyed and created again from the new backup, so every row written since the last restore is lost".to_string()
    } else if restore {
        "the instance is destroyed and created again from the backup, so every row written since the last restore is lost".to_string()
    } else {
        "the instance is destroyed and created again empty, so every row in it is lost".to_string()
    })
}

fn diff(kind: Kind, before: &Value, after: &Value) -> Vec<AttrChange> {
    let mut out = Vec::new();
    diff_into(&mut out, "", None, before, after, kind);
    out
}

/// Changed attributes, descending into objects so that a nested change shows
/// as `container.image` rather than the whole container. Whether a change
/// forces replacement is decided by its top-level attribute.
fn diff_into(
    out: &mut Vec<AttrChange>,
    prefix: &str,
    top: Option<&str>,
    before: &Value,
    after: &Value,
    kind: Kind,
) {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for k in keys {
        let (bv, av) = (b.get(k), a.get(k));
        if bv == av && !av.is_some_and(has_unknown) {
            continue;
        }
        let name = format!("{prefix}{k}");
        if (bv.is_none() || av.is_none())
            && UNKNOWN_WHEN_ABSENT
                .iter()
                .any(|(k, n)| *k == kind && *n == name)
        {
            continue;
        }
        let top = top.unwrap_or(k);
        if let (Some(x @ Value::Object(_)), Some(y @ Value::Object(_))) = (bv, av) {
            diff_into(out, &format!("{name}."), Some(top), x, y, kind);
            continue;
        }
        out.push(AttrChange {
            name,
            before: bv.cloned(),
            after: av.cloned(),
            forces_replacement: kind.force_new().contains(&top),
        });
    }
}

fn all_attrs(v: &Value) -> Vec<AttrChange> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, x)| AttrChange {
                    name: k.clone(),
                    before: None,
                    after: Some(x.clone()),
                    forces_replacement: false,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Compare what was recorded with what refresh observed.
pub fn drift(recorded: &State, refreshed: &State) -> Vec<Drift> {
    let mut out = Vec::new();
    for (a, r) in &recorded.resources {
        match refreshed.resources.get(a) {
            None => out.push(Drift {
                address: a.clone(),
                deleted: true,
                attrs: vec![],
            }),
            Some(now) if now.attrs != r.attrs => out.push(Drift {
                address: a.clone(),
                deleted: false,
                attrs: diff(r.kind, &r.attrs, &now.attrs),
            }),
            _ => {}
        }
    }
    out
}

/// Make a plan. `state` is the refreshed state; `recorded` the state as last
/// written (the difference between the two is reported as drift).
pub fn plan(
    desired: Vec<Resource>,
    recorded: &State,
    state: &State,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    for a in &opts.replace {
        if !state.resources.contains_key(a) {
            return Err(PlanError::UnknownAddress(a.clone()));
        }
    }
    let graph = DesiredGraph::build(if opts.destroy { vec![] } else { desired })?;
    let mut changes = desired_changes(&graph, recorded, state, opts);
    create_before_destroy_upstream(&mut changes);
    changes.extend(deletes(&graph, state, opts));

    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        environment: state.environment.clone(),
        backend: state.backend,
        lineage: state.lineage.clone(),
        serial: state.serial,
        destroy: opts.destroy,
        changes,
        drift: drift(recorded, state),
        target: None,
        data_sources: vec![],
    };
    // Refuse plans whose steps cannot be ordered.
    crate::graph::ApplyGraph::from_plan(&plan)?;
    Ok(plan)
}

/// One change per desired resource, in the graph's order.
fn desired_changes(
    graph: &DesiredGraph,
    recorded: &State,
    state: &State,
    opts: &PlanOptions,
) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    let mut action_of: BTreeMap<String, Action> = BTreeMap::new();
    let mut after_of: BTreeMap<String, Value> = BTreeMap::new();

    for r in &graph.resources {
        let deps: Vec<String> = graph.deps[&r.address].iter().cloned().collect();
        let spec = r.spec.to_attrs();
        // A referenced attribute the dependency configures is known from its
        // desired value; a computed one only while the object is kept.
        let after = resolve(&spec, &|x| {
            if let Some(v) = after_of
                .get(&x.address)
                .and_then(|a| a.get(&x.attr))
                .filter(|v| !has_unknown(v))
            {
                return Some(v.clone());
            }
            match action_of.get(&x.address) {
                Some(Action::Create | Action::DeleteThenCreate | Action::CreateThenDelete) => None,
                _ => state.lookup(&x.address, &x.attr),
            }
        });
        let kind = r.kind();
        let mut change = Change {
            address: r.address.clone(),
            kind,
            action: Action::NoOp,
            reasons: vec![],
            attrs: vec![],
            spec: Some(spec),
            deps,
            prior_deps: vec![],
            deposed: None,
            prior_id: None,
            data_loss: None,
            held: None,
        };
        match state.resources.get(&r.address) {
            None => {
                change.action = Action::Create;
                if recorded.resources.contains_key(&r.address) {
                    change
                        .reasons
                        .push("it was deleted outside chronous".into());
                } else if !state.adopted.is_empty() {
                    change.reasons.push(
                        "chronous adds it: no object adopted by chronous import is this one".into(),
                    );
                }
                change.attrs = all_attrs(&after);
            }
            Some(rec) => {
                let adopted = state.adopted.contains_key(&r.address);
                update_or_replace(&mut change, rec, &after, opts, adopted);
                adopted_change(&mut change, state, &after, opts);
            }
        }
        action_of.insert(r.address.clone(), change.action);
        after_of.insert(r.address.clone(), after);
        changes.push(change);
    }
    changes
}

/// The action for a desired resource that has an object: nothing, an update
/// in place, or a replacement (and why). `adopted`: imported and not changed
/// by chronous since.
fn update_or_replace(
    change: &mut Change,
    rec: &crate::state::ResourceRecord,
    after: &Value,
    opts: &PlanOptions,
    adopted: bool,
) {
    let kind = change.kind;
    change.prior_deps = rec.deps.clone();
    change.prior_id = Some(rec.id.clone());
    change.attrs = diff(kind, &rec.attrs, after);
    if adopted {
        // What an adopted object's record could not know when it was
        // imported (a reference to an object chronous creates): not a change.
        change
            .attrs
            .retain(|a| !a.before.as_ref().is_some_and(has_unknown));
    }
    let replace = if rec.tainted {
        change
            .reasons
            .push("it is marked for replacement (chronous replace)".into());
        true
    } else if opts.replace.contains(&change.address) {
        change
            .reasons
            .push("replacement requested with --replace".into());
        true
    } else if change.attrs.iter().any(|a| a.forces_replacement) {
        let names: Vec<&str> = change
            .attrs
            .iter()
            .filter(|a| a.forces_replacement)
            .map(|a| a.name.as_str())
            .collect();
        change.reasons.push(format!(
            "{} cannot change in place: forces replacement",
            names.join(", ")
        ));
        true
    } else {
        false
    };
    change.action = if replace {
        if kind.create_before_destroy() {
            Action::CreateThenDelete
        } else {
            Action::DeleteThenCreate
        }
    } else if change.attrs.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    change.data_loss = data_loss(change);
}

/// Kinds of which two objects cannot exist at once (a DB instance's
/// identifier is unique in the region, and the file fixes it).
const ONE_AT_A_TIME: &[Kind] = &[Kind::DbInstance];

/// A create-before-destroy replacement needs what it depends on to be
/// replaced the same way, or the old dependency would be destroyed first;
/// except a kind replaced [`ONE_AT_A_TIME`], destroyed before the old
/// dependent is.
fn create_before_destroy_upstream(changes: &mut [Change]) {
    let index: BTreeMap<String, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.clone(), i))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..changes.len()).rev() {
            if changes[i].action != Action::CreateThenDelete {
                continue;
            }
            for d in changes[i].deps.clone() {
                let j = index[&d];
                if changes[j].action == Action::DeleteThenCreate
                    && ONE_AT_A_TIME.contains(&changes[j].kind)
                {
                    // Its new object cannot exist beside the old one: it
                    // stays destroy-first, and the old dependent may outlive
                    // the old object (it holds its address, which AWS does not check).
                    if changes[i].prior_deps.contains(&d) {
                        changes[i].prior_deps.retain(|x| *x != d);
                        changed = true;
                    }
                    continue;
                }
                if changes[j].action == Action::DeleteThenCreate {
                    changes[j].action = Action::CreateThenDelete;
                    let why = format!(
                        "created before the old one is destroyed, because {} is",
                        changes[i].address
                    );
                    changes[j].reasons.push(why);
                    changed = true;
                }
            }
        }
    }
}

/// Objects no longer wanted, in reverse dependency order of the state, then
/// the deposed objects of earlier replacements.
fn deletes(graph: &DesiredGraph, state: &State, opts: &PlanOptions) -> Vec<Change> {
    let wanted: BTreeSet<&str> = graph.resources.iter().map(|r| r.address.as_str()).collect();
    let gone: Vec<&crate::state::ResourceRecord> = state
        .resources
        .values()
        .filter(|r| !wanted.contains(r.address.as_str()))
        .collect();
    let mut deletes: Vec<Change> = reverse_dependency_order(&gone)
        .into_iter()
        .map(|r| {
            let mut c = delete_change(r, opts);
            hold_delete(&mut c, state, opts);
            c
        })
        .collect();
    for (key, r) in &state.deposed {
        let reason = match state.adopted.get(key) {
            Some(a) => legacy_reason(r, a),
            None => "the old object of an earlier replacement was not destroyed yet".into(),
        };
        deletes.push(Change {
            address: r.address.clone(),
            kind: r.kind,
            action: Action::Delete,
            reasons: vec![reason],
            attrs: vec![],
            spec: None,
            deps: vec![],
            prior_deps: r.deps.clone(),
            deposed: Some(key.clone()),
            prior_id: Some(r.id.clone()),
            data_loss: None,
            held: None,
        });
    }
    deletes
}

fn delete_change(r: &crate::state::ResourceRecord, opts: &PlanOptions) -> Change {
    Change {
        address: r.address.clone(),
        kind: r.kind,
        action: Action::Delete,
        reasons: if opts.destroy {
            vec![]
        } else {
            vec!["it is no longer in the environment file".into()]
        },
        attrs: vec![],
        spec: None,
        deps: vec![],
        prior_deps: r.deps.clone(),
        deposed: None,
        prior_id: Some(r.id.clone()),
        data_loss: None,
        held: None,
    }
}

/// Recorded objects ordered so that each comes before everything it depended on.
fn reverse_dependency_order<'a>(
    records: &[&'a crate::state::ResourceRecord],
) -> Vec<&'a crate::state::ResourceRecord> {
    let index: BTreeMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.as_str(), i))
        .collect();
    let mut succ = vec![Vec::new(); records.len()];
    for (i, r) in records.iter().enumerate() {
        for d in &r.deps {
            if let Some(&j) = index.get(d.as_str()) {
                // i depended on j: delete i before j.
                succ[i].push(j);
            }
        }
    }
    match crate::graph::topo_order(records.len(), &succ) {
        Ok(order) => order.into_iter().map(|i| records[i]).collect(),
        Err(_) => records.to_vec(),
    }
}

/// What the plan does differently for an object adopted by `chronous import`
/// and not changed by chronous since: a replacement is held unless
/// `--allow-replace-adopted`; one without chronous's own tags gets them.
fn adopted_change(change: &mut Change, state: &State, after: &Value, opts: &PlanOptions) {
    let Some(a) = state.adopted.get(&change.address) else {
        return;
    };
    if change.action.is_replace()
        && !opts.allow_replace_adopted
        && !opts.allow_adopted.contains(&change.address)
    {
        let why = std::mem::take(&mut change.reasons).join("; ");
        change.held = Some(format!(
            "adopted from {} ({}); {why}; chronous does not replace an adopted object unless asked: --allow-replace-adopted",
            a.source, a.from
        ));
        change.action = Action::NoOp;
        change.data_loss = None;
        return;
    }
    if change.kind == Kind::AutoScalingGroup {
        for (key, old) in &state.deposed {
            if old.kind == Kind::LaunchConfiguration && change.prior_deps.contains(&old.address) {
                change.reasons.push(format!(
                    "it launches from the launch configuration {} ({key}); it moves to the launch template: new instances start from it before the old ones are retired (blue/green), so the running instances keep serving",
                    old.id
                ));
            }
        }
    }
    if !a.own_tags && after.get("tags").is_some_and(Value::is_object) {
        for (k, v) in [
            ("chronous:environment", &state.environment),
            ("chronous:address", &change.address),
        ] {
            change.attrs.push(AttrChange {
                name: format!("tags.{k}"),
                before: None,
                after: Some(Value::String(v.clone())),
                forces_replacement: false,
            });
        }
        change.reasons.push(format!(
            "adopted from {} ({}): chronous adds its own tags, by which it finds its objects",
            a.source, a.from
        ));
        if change.action == Action::NoOp {
            change.action = Action::Update;
        }
    } else if change.action == Action::Update && change.reasons.is_empty() {
        change.reasons.push(format!(
            "the file differs from the object adopted from {} ({})",
            a.source, a.from
        ));
    }
}

/// An adopted object the file no longer describes is kept unless asked.
fn hold_delete(change: &mut Change, state: &State, opts: &PlanOptions) {
    if opts.allow_replace_adopted || opts.destroy {
        return;
    }
    if let Some(a) = state.adopted.get(&change.address) {
        change.held = Some(format!(
            "adopted from {} ({}); it is not in the environment file; chronous does not delete an adopted object unless asked: --allow-replace-adopted",
            a.source, a.from
        ));
        change.reasons.clear();
        change.action = Action::NoOp;
    }
}

/// Why a legacy object adopted as deposed (a launch configuration) goes.
fn legacy_reason(r: &crate::state::ResourceRecord, a: &crate::state::Adopted) -> String {
    format!(
        "{} {} adopted from {} ({}) is replaced by a launch template: destroyed after the new template exists and the auto scaling group launches from it",
        r.kind, r.id, a.source, a.from
    )
}
