//! A reusable in-memory fake provider and helpers for Terraform-style core
//! tests: plan and apply against a fake cloud, then check the state, the
//! cloud and the order the engine ran things in.
//!
//! The fake behaves like the real backends where it matters to core:
//! - ids are deterministic (`fk000001`, `fk000002`, ... in creation order);
//! - every output a kind declares ([`Kind::outputs`]) is reported: the
//!   configured value when the spec has an attribute of that name (`name`,
//!   `bucket` ...), else a string holding the object's id (`fk000007` for
//!   `id`, `fk000007:arn` ...), so an object that refers to another by id or
//!   arn carries the other's id in its attrs;
//! - create adopts an object already made for the same address and kind
//!   whose id is not in `exclude_ids` (what an interrupted apply left);
//! - create and update refuse attrs that mention the id of an object that
//!   does not exist (`InvalidReference`), delete refuses while another live
//!   object's attrs mention the object's id (`DependencyViolation`), like AWS
//!   (references by name are not tracked by the fake: `check_order` covers them);
//! - a failure can be injected at the k-th mutating operation, either before
//!   the operation has any effect or after (the response was lost);
//! - operations yield a deterministic number of times before acting, so that
//!   with parallelism > 1 they complete in a different order than they started.
//!
//! Every refusal is also kept in [`FakeProvider::violations`], so a test can
//! tell an ordering bug from an injected failure.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use chronous_core::engine::{self, ApplyConfig, Event, Journal, JournalError, Outcome};
use chronous_core::env::{Backend, Environment};
use chronous_core::graph::{self, ApplyGraph, OpKind};
use chronous_core::plan::{self, Action, Plan, PlanOptions};
use chronous_core::provider::{CreateRequest, Observed, Provider, ProviderError};
use chronous_core::resources::{expand, Kind, Spec};
use chronous_core::state::{JournalEntry, ResourceRecord, State};
use serde_json::Value;

pub const SEED_TOML: &str = include_str!("../../../../fixtures/seed/chronous.toml");

/// The seed environment, validated.
pub fn seed_env() -> Environment {
    let loaded = chronous_core::env::load("seed", SEED_TOML);
    loaded.env.unwrap_or_else(|| {
        panic!(
            "the seed environment does not validate: {:?}",
            loaded.diagnostics.items
        )
    })
}

/// One object of the fake cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeObject {
    pub id: String,
    pub kind: Kind,
    pub address: String,
    pub attrs: Value,
    pub outputs: BTreeMap<String, Value>,
}

impl FakeObject {
    fn observed(&self) -> Observed {
        Observed {
            id: self.id.clone(),
            attrs: self.attrs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

/// When an injected failure strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// The operation fails before it has any effect.
    Before,
    /// The operation takes effect, then reports a failure (a lost response).
    After,
}

/// What the fake did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Create {
        address: String,
        id: String,
        adopted: bool,
    },
    Update {
        address: String,
        id: String,
    },
    Delete {
        address: String,
        id: String,
    },
    /// An injected failure (the operation is also logged above when it took effect).
    Injected {
        address: String,
        op: &'static str,
        mode: FailMode,
    },
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, FakeObject>,
    next_id: u64,
    /// Mutating operations (create, update, delete) so far.
    ops: u64,
    /// Fail the mutating operation with this number (1-based, counted from the fake's creation).
    fail_at: Option<(u64, FailMode)>,
    log: Vec<LogEntry>,
    violations: Vec<String>,
}

/// The in-memory fake cloud. Thread-safe, but the tests drive it with
/// `futures_executor::block_on`.
pub struct FakeProvider {
    inner: Mutex<Inner>,
    /// Whether operations yield before acting (see the module docs).
    pub yields: bool,
}

impl Default for FakeProvider {
    fn default() -> Self {
        FakeProvider::new()
    }
}

/// Every fake id mentioned in a value (`fk` followed by six digits).
pub fn ids_in(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk_strings(v, &mut |s| {
        let b = s.as_bytes();
        let mut i = 0;
        while i + 8 <= b.len() {
            if &b[i..i + 2] == b"fk"
                && b[i + 2..i + 8].iter().all(u8::is_ascii_digit)
                && b.get(i + 8).is_none_or(|c| !c.is_ascii_digit())
            {
                out.insert(s[i..i + 8].to_string());
                i += 8;
            } else {
                i += 1;
            }
        }
    });
    out
}

fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

fn map_strings(v: &Value, f: &impl Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), map_strings(x, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Yield `n` times (waking ourselves), then complete.
struct YieldN(u32);

impl Future for YieldN {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yields_for(address: &str, op: &str) -> u32 {
    // FNV-1a: deterministic across runs and platforms.
    let mut h: u32 = 0x811c9dc5;
    for b in address.bytes().chain(op.bytes()) {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h % 4
}

impl FakeProvider {
    pub fn new() -> FakeProvider {
        FakeProvider {
            inner: Mutex::new(Inner::default()),
            yields: true,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake cloud lock")
    }

    /// Fail the `k`-th mutating operation from now (1-based).
    pub fn fail_in(&self, k: u64, mode: FailMode) {
        let mut g = self.lock();
        g.fail_at = Some((g.ops + k, mode));
    }

    pub fn clear_failure(&self) {
        self.lock().fail_at = None;
    }

    /// Mutating operations performed (or attempted) so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    pub fn objects(&self) -> BTreeMap<String, FakeObject> {
        self.lock().objects.clone()
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    /// Refusals that no injected failure explains: ordering bugs.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    async fn pause(&self, address: &str, op: &str) {
        if self.yields {
            YieldN(yields_for(address, op)).await;
        }
    }

    /// Count one mutating operation; `Some(mode)` when it is the one to fail.
    fn tick(g: &mut Inner) -> Option<FailMode> {
        g.ops += 1;
        match g.fail_at {
            Some((k, mode)) if k == g.ops => Some(mode),
            _ => None,
        }
    }

    fn injected(g: &mut Inner, address: &str, op: &'static str, mode: FailMode) -> ProviderError {
        g.log.push(LogEntry::Injected {
            address: address.to_string(),
            op,
            mode,
        });
        ProviderError::new(format!("{address}: injected failure of {op} ({mode:?})")).retryable()
    }

    fn refuse(g: &mut Inner, message: String) -> ProviderError {
        g.violations.push(message.clone());
        ProviderError::new(message)
    }

    fn check_refs(g: &mut Inner, address: &str, attrs: &Value) -> Result<(), ProviderError> {
        for id in ids_in(attrs) {
            if !g.objects.contains_key(&id) {
                return Err(Self::refuse(
                    g,
                    format!("InvalidReference: {address} refers to {id}, which does not exist"),
                ));
            }
        }
        Ok(())
    }

    /// Outputs: an output the spec also configures (`name`, `bucket`,
    /// `key_name` ...) reports the configured value, as AWS does and as the
    /// planner assumes; every other one is derived from the id. A DB
    /// instance's endpoint is a host name and port, which AWS does not hold
    /// as a reference: as on AWS, it is derived from its identifier.
    fn outputs(kind: Kind, id: &str, attrs: &Value) -> BTreeMap<String, Value> {
        kind.outputs()
            .iter()
            .map(|o| {
                let v = match attrs.get(*o) {
                    Some(Value::String(s)) if *o != "id" => s.clone(),
                    _ if *o == "id" => id.to_string(),
                    _ if kind == Kind::DbInstance && *o != "arn" => {
                        let ident = attrs.get("identifier").and_then(Value::as_str);
                        format!("{}.db.example:{o}", ident.unwrap_or("db"))
                    }
                    _ => format!("{id}:{o}"),
                };
                (o.to_string(), Value::String(v))
            })
            .collect()
    }
}

impl Provider for FakeProvider {
    async fn read(&self, record: &ResourceRecord) -> Result<Option<Observed>, ProviderError> {
        self.pause(&record.address, "read").await;
        Ok(self
            .lock()
            .objects
            .get(&record.id)
            .map(FakeObject::observed))
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<Observed, ProviderError> {
        self.pause(req.address, "create").await;
        let mut g = self.lock();
        let fail = Self::tick(&mut g);
        if fail == Some(FailMode::Before) {
            return Err(Self::injected(
                &mut g,
                req.address,
                "create",
                FailMode::Before,
            ));
        }
        let kind = req.spec.kind();
        let attrs = req.spec.to_attrs();
        Self::check_refs(&mut g, req.address, &attrs)?;
        let existing = g
            .objects
            .values()
            .find(|o| {
                o.address == req.address && o.kind == kind && !req.exclude_ids.contains(&o.id)
            })
            .map(|o| o.id.clone());
        let adopted = existing.is_some();
        let id = match existing {
            Some(id) => id,
            None => {
                g.next_id += 1;
                format!("fk{:06}", g.next_id)
            }
        };
        let outputs = Self::outputs(kind, &id, &attrs);
        let o = FakeObject {
            id: id.clone(),
            kind,
            address: req.address.to_string(),
            attrs,
            outputs,
        };
        g.objects.insert(id.clone(), o.clone());
        g.log.push(LogEntry::Create {
            address: req.address.to_string(),
            id,
            adopted,
        });
        if fail == Some(FailMode::After) {
            return Err(Self::injected(
                &mut g,
                req.address,
                "create",
                FailMode::After,
            ));
        }
        Ok(o.observed())
    }

    async fn update(
        &self,
        record: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        self.pause(&record.address, "update").await;
        let mut g = self.lock();
        let fail = Self::tick(&mut g);
        if fail == Some(FailMode::Before) {
            return Err(Self::injected(
                &mut g,
                &record.address,
                "update",
                FailMode::Before,
            ));
        }
        if spec.kind() != record.kind {
            return Err(Self::refuse(
                &mut g,
                format!(
                    "{}: update with a {} spec of a {}",
                    record.address,
                    spec.kind(),
                    record.kind
                ),
            ));
        }
        let attrs = spec.to_attrs();
        Self::check_refs(&mut g, &record.address, &attrs)?;
        let Some(o) = g.objects.get_mut(&record.id) else {
            return Err(Self::refuse(
                &mut g,
                format!("NotFound: {} {} does not exist", record.address, record.id),
            ));
        };
        o.outputs = Self::outputs(o.kind, &o.id, &attrs);
        o.attrs = attrs;
        let o = o.clone();
        g.log.push(LogEntry::Update {
            address: record.address.clone(),
            id: record.id.clone(),
        });
        if fail == Some(FailMode::After) {
            return Err(Self::injected(
                &mut g,
                &record.address,
                "update",
                FailMode::After,
            ));
        }
        Ok(o.observed())
    }

    async fn delete(&self, record: &ResourceRecord) -> Result<(), ProviderError> {
        self.pause(&record.address, "delete").await;
        let mut g = self.lock();
        let fail = Self::tick(&mut g);
        if fail == Some(FailMode::Before) {
            return Err(Self::injected(
                &mut g,
                &record.address,
                "delete",
                FailMode::Before,
            ));
        }
        if g.objects.contains_key(&record.id) {
            let referrer = g
                .objects
                .values()
                .find(|o| o.id != record.id && ids_in(&o.attrs).contains(&record.id))
                .map(|o| format!("{} ({})", o.id, o.address));
            if let Some(r) = referrer {
                return Err(Self::refuse(
                    &mut g,
                    format!(
                        "DependencyViolation: {} {} cannot be deleted while {r} refers to it",
                        record.address, record.id
                    ),
                ));
            }
            g.objects.remove(&record.id);
            g.log.push(LogEntry::Delete {
                address: record.address.clone(),
                id: record.id.clone(),
            });
        }
        if fail == Some(FailMode::After) {
            return Err(Self::injected(
                &mut g,
                &record.address,
                "delete",
                FailMode::After,
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Driving plan and apply.

/// A journal that keeps every committed batch.
#[derive(Debug, Default)]
pub struct VecJournal {
    pub batches: Vec<Vec<JournalEntry>>,
}

impl Journal for VecJournal {
    fn commit(&mut self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        self.batches.push(entries.to_vec());
        Ok(())
    }
}

/// An apply progress event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Started(String, OpKind),
    Finished(String, OpKind),
    Failed(String, OpKind),
}

pub fn empty_state(env: &Environment) -> State {
    State::new(&env.name, Backend::Sim, "00000000-test-lineage".to_string())
}

/// Plan `env` against `state` (taken as both recorded and refreshed).
pub fn plan_env(env: &Environment, state: &State, destroy: bool) -> Plan {
    let opts = PlanOptions {
        destroy,
        ..Default::default()
    };
    plan::plan(expand(env), state, state, &opts).unwrap_or_else(|e| panic!("plan failed: {e}"))
}

/// Refresh `state` from the fake; reading the fake never fails.
pub fn refresh(state: &State, fake: &FakeProvider) -> State {
    let (s, errors) = futures_executor::block_on(engine::refresh(state, fake, 4));
    assert!(errors.is_empty(), "refresh errors: {errors:?}");
    s
}

/// What one apply did.
pub struct Applied {
    pub outcome: Outcome,
    pub events: Vec<Ev>,
    pub journal: VecJournal,
    /// The state before the apply.
    pub before: State,
}

pub fn apply(plan: &Plan, state: &mut State, fake: &FakeProvider, parallelism: usize) -> Applied {
    let before = state.clone();
    let mut journal = VecJournal::default();
    let mut events = Vec::new();
    let config = ApplyConfig {
        parallelism,
        cancel: None,
    };
    let outcome = futures_executor::block_on(engine::apply(
        plan,
        state,
        fake,
        &mut journal,
        &config,
        &mut |e| {
            events.push(match e {
                Event::Started { address, op } => Ev::Started(address.to_string(), op),
                Event::Finished { address, op, .. } => Ev::Finished(address.to_string(), op),
                Event::Failed { address, op, .. } => Ev::Failed(address.to_string(), op),
            })
        },
    ))
    .unwrap_or_else(|e| panic!("apply refused the plan: {e}"));
    Applied {
        outcome,
        events,
        journal,
        before,
    }
}

/// Refresh, plan and apply `env` until done: returns the last apply.
pub fn converge(
    env: &Environment,
    state: &mut State,
    fake: &FakeProvider,
    parallelism: usize,
) -> Result<Applied, String> {
    *state = refresh(state, fake);
    let p = plan_env(env, state, false);
    let a = apply(&p, state, fake, parallelism);
    if !a.outcome.ok() {
        return Err(format!(
            "apply failed: {:?}\nviolations: {:?}",
            a.outcome.failed,
            fake.violations()
        ));
    }
    check_order(&p, &a.events, Some(env))?;
    check_journal(&a, state)?;
    Ok(a)
}

// ---------------------------------------------------------------------------
// Checks.

/// Replaying the journal onto the state before the apply gives the state after it.
pub fn check_journal(a: &Applied, after: &State) -> Result<(), String> {
    let mut s = a.before.clone();
    for e in a.journal.batches.iter().flatten() {
        s.apply_entry(e);
    }
    if s.resources != after.resources || s.deposed != after.deposed {
        return Err("replaying the journal does not give the state the apply left".into());
    }
    if after.serial != a.before.serial + a.journal.batches.len() as u64 {
        return Err(format!(
            "serial {} after {} batches from {}",
            after.serial,
            a.journal.batches.len(),
            a.before.serial
        ));
    }
    Ok(())
}

/// Every operation started only once all it waits for had finished, by the
/// plan's [`ApplyGraph`] and, independently, by the desired dependencies
/// ([`graph::dependencies`]) and the recorded ones (deletes in reverse).
/// With `env`, creates and updates are also checked against the desired graph.
pub fn check_order(plan: &Plan, events: &[Ev], env: Option<&Environment>) -> Result<(), String> {
    let g = ApplyGraph::from_plan(plan).map_err(|e| e.to_string())?;
    let n = g.ops.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in g.succ.iter().enumerate() {
        for &j in s {
            preds[j].push(i);
        }
    }
    let mut by_key: BTreeMap<(String, OpKind), Vec<usize>> = BTreeMap::new();
    for (i, op) in g.ops.iter().enumerate() {
        by_key
            .entry((plan.changes[op.change].address.clone(), op.kind))
            .or_default()
            .push(i);
    }
    let mut started = vec![false; n];
    let mut finished = vec![false; n];
    // Independent bookkeeping by address.
    let desired_deps: BTreeMap<String, BTreeSet<String>> = env
        .map(|e| {
            expand(e)
                .iter()
                .map(|r| (r.address.clone(), graph::dependencies(r)))
                .collect()
        })
        .unwrap_or_default();
    let creating: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Create
                    | Action::Update
                    | Action::DeleteThenCreate
                    | Action::CreateThenDelete
            )
        })
        .map(|c| c.address.as_str())
        .collect();
    let deleting: BTreeMap<&str, usize> = {
        let mut m = BTreeMap::new();
        for c in plan.changes.iter().filter(|c| {
            matches!(
                c.action,
                Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
            )
        }) {
            *m.entry(c.address.as_str()).or_insert(0) += 1;
        }
        m
    };
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut deleted: BTreeMap<String, usize> = BTreeMap::new();
    for ev in events {
        match ev {
            Ev::Started(a, k) => {
                let cands = by_key
                    .get(&(a.clone(), *k))
                    .ok_or_else(|| format!("{a} {k:?} started but is not in the plan"))?;
                let i = cands
                    .iter()
                    .copied()
                    .find(|&i| !started[i] && preds[i].iter().all(|&p| finished[p]))
                    .ok_or_else(|| {
                        let waiting: Vec<String> = cands
                            .iter()
                            .flat_map(|&i| preds[i].iter().filter(|&&p| !finished[p]))
                            .map(|&p| {
                                format!(
                                    "{} {:?}",
                                    plan.changes[g.ops[p].change].address, g.ops[p].kind
                                )
                            })
                            .collect();
                        format!("{a} {k:?} started before {waiting:?} finished")
                    })?;
                started[i] = true;
                let c = &plan.changes[g.ops[i].change];
                match k {
                    OpKind::Create | OpKind::Update => {
                        for d in desired_deps
                            .get(a)
                            .into_iter()
                            .flatten()
                            .chain(c.deps.iter())
                        {
                            if creating.contains(d.as_str()) && !created.contains(d) {
                                return Err(format!("{a} {k:?} started before its dependency {d} was created or updated"));
                            }
                        }
                    }
                    OpKind::Delete | OpKind::DeleteOld => {
                        // Everything being destroyed that depended on this object goes first.
                        for other in plan
                            .changes
                            .iter()
                            .filter(|o| o.prior_deps.contains(a) && o.address != *a)
                        {
                            if deleting.contains_key(other.address.as_str()) {
                                let want = deleting[other.address.as_str()];
                                if deleted.get(&other.address).copied().unwrap_or(0) < want {
                                    return Err(format!("{a} {k:?} started before {} (which depended on it) was destroyed", other.address));
                                }
                            }
                        }
                    }
                }
            }
            Ev::Finished(a, k) => {
                let cands = &by_key[&(a.clone(), *k)];
                let i = cands
                    .iter()
                    .copied()
                    .find(|&i| started[i] && !finished[i])
                    .ok_or_else(|| format!("{a} {k:?} finished but was not running"))?;
                finished[i] = true;
                match k {
                    OpKind::Create | OpKind::Update => {
                        created.insert(a.clone());
                    }
                    OpKind::Delete | OpKind::DeleteOld => {
                        *deleted.entry(a.clone()).or_insert(0) += 1
                    }
                }
            }
            Ev::Failed(a, k) => {
                let cands = &by_key[&(a.clone(), *k)];
                cands
                    .iter()
                    .copied()
                    .find(|&i| started[i] && !finished[i])
                    .ok_or_else(|| format!("{a} {k:?} failed but was not running"))?;
            }
        }
    }
    Ok(())
}

/// The fake cloud holds exactly the state's objects (current and deposed),
/// with the same address, kind, attrs and outputs. Addresses in `except` may
/// differ (an operation whose effect happened but whose response was lost).
pub fn check_cloud_matches_state(
    fake: &FakeProvider,
    state: &State,
    except: &BTreeSet<String>,
) -> Result<(), String> {
    let objects = fake.objects();
    let mut seen = BTreeSet::new();
    for r in state.resources.values().chain(state.deposed.values()) {
        if except.contains(&r.address) {
            seen.insert(r.id.clone());
            continue;
        }
        let Some(o) = objects.get(&r.id) else {
            return Err(format!(
                "{} ({}) is in the state but not in the cloud",
                r.address, r.id
            ));
        };
        if o.address != r.address
            || o.kind != r.kind
            || o.attrs != r.attrs
            || o.outputs != r.outputs
        {
            return Err(format!(
                "{} ({}) differs between state and cloud:\n state {:?}\n cloud {:?}",
                r.address, r.id, r, o
            ));
        }
        if !seen.insert(r.id.clone()) {
            return Err(format!("{} is recorded twice", r.id));
        }
    }
    for o in objects.values() {
        if !seen.contains(&o.id) && !except.contains(&o.address) {
            return Err(format!("orphan in the cloud: {} ({})", o.address, o.id));
        }
    }
    let mut addrs = BTreeSet::new();
    for o in objects.values() {
        if !except.contains(&o.address)
            && !addrs.insert(o.address.clone())
            && !state.deposed.values().any(|d| d.address == o.address)
        {
            return Err(format!("two objects in the cloud for {}", o.address));
        }
    }
    Ok(())
}

/// The state's objects by address with attrs, every fake id replaced by the
/// address of the object it names: comparable across clouds whose ids differ.
pub fn normalized(state: &State) -> BTreeMap<String, Value> {
    let names: BTreeMap<String, String> = state
        .resources
        .values()
        .map(|r| (r.id.clone(), r.address.clone()))
        .collect();
    let f = |s: &str| {
        let mut out = s.to_string();
        for id in ids_in(&Value::String(s.to_string())) {
            let to = names
                .get(&id)
                .map(|a| format!("<{a}>"))
                .unwrap_or_else(|| format!("<unknown {id}>"));
            out = out.replace(&id, &to);
        }
        out
    };
    state
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), map_strings(&r.attrs, &f)))
        .collect()
}

/// Describe how two normalized states differ (for failure messages).
pub fn diff_normalized(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for k in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push_str(&format!("{k}:\n  {x:?}\n  {y:?}\n")),
        }
    }
    out
}
