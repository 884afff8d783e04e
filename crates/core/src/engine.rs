//! The apply walker and refresh: generic over a [`Provider`] and a durable
//! [`Journal`], with bounded parallelism and no runtime of its own.
//!
//! Apply walks the plan's [`ApplyGraph`]: an operation starts when all it
//! waits for are done, at most `parallelism` at once. Completions that arrive
//! together are committed to the journal as one batch (one fsync) before any
//! operation that waits for them starts. A failure stops new operations, lets
//! running ones finish and records everything that completed; the next apply
//! plans again from the recorded state and continues.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;

use crate::graph::{ApplyGraph, GraphError, OpKind};
use crate::plan::{Action, Change, Plan};
use crate::provider::{CreateRequest, Observed, Provider, ProviderError};
use crate::resources::Spec;
use crate::state::{deposed_key, JournalEntry, ResourceRecord, State};
use crate::value::{has_unknown, resolve};

/// Durable storage of state changes. `commit` returns only once the entries
/// would survive a crash.
pub trait Journal {
    fn commit(&mut self, entries: &[JournalEntry]) -> Result<(), JournalError>;
}

/// A journal could not make a batch durable. Carries the cause (the store's
/// own error), which its text names after "could not record the state: ".
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not record the state: {source}")]
pub struct JournalError {
    source: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl JournalError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> JournalError {
        JournalError {
            source: Arc::new(source),
        }
    }
}

/// A journal that keeps nothing, for callers that persist state otherwise.
pub struct NoJournal;

impl Journal for NoJournal {
    fn commit(&mut self, _: &[JournalEntry]) -> Result<(), JournalError> {
        Ok(())
    }
}

/// Progress of an apply, for the person watching.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Started {
        address: &'a str,
        op: OpKind,
    },
    Finished {
        address: &'a str,
        op: OpKind,
        id: Option<&'a str>,
    },
    Failed {
        address: &'a str,
        op: OpKind,
        error: &'a ProviderError,
    },
}

#[derive(Debug, Clone)]
pub struct StepFailure {
    pub address: String,
    pub op: OpKind,
    pub error: ProviderError,
}

/// How an apply ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub completed: usize,
    pub failed: Vec<StepFailure>,
    /// Operations never started because something failed first.
    pub not_started: usize,
    pub journal_error: Option<JournalError>,
    /// The cancel flag was raised: running steps finished, no new one started.
    pub interrupted: bool,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.journal_error.is_none() && self.not_started == 0
    }
}

/// How to walk: at most `parallelism` steps at once; `cancel` (set from a
/// signal handler) stops new steps from starting.
#[derive(Debug, Clone, Copy)]
pub struct ApplyConfig<'a> {
    pub parallelism: usize,
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Default for ApplyConfig<'_> {
    fn default() -> Self {
        ApplyConfig {
            parallelism: 10,
            cancel: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("the plan was made for state serial {plan} of lineage {plan_lineage}, but the state is now serial {state} of lineage {state_lineage}: make a new plan")]
    StalePlan {
        plan: u64,
        plan_lineage: String,
        state: u64,
        state_lineage: String,
    },
}

enum Prepared {
    Create { spec: Spec, exclude: Vec<String> },
    Update { record: ResourceRecord, spec: Spec },
    Delete { record: Option<ResourceRecord> },
}

fn resolved_spec(change: &Change, state: &State) -> Result<Spec, ProviderError> {
    let spec = change.spec.as_ref().ok_or_else(|| {
        ProviderError::new(format!(
            "{}: the plan holds no spec to apply",
            change.address
        ))
    })?;
    let v = resolve(spec, &|r| state.lookup(&r.address, &r.attr));
    if has_unknown(&v) {
        return Err(ProviderError::new(format!(
            "{}: a value it refers to is still unknown",
            change.address
        ))
        .with_hint("this is a bug in chronous's ordering; run the apply again and report it"));
    }
    Spec::from_attrs(change.kind, &v).map_err(|e| {
        ProviderError::new(format!(
            "{}: resolved spec does not fit its type: {e}",
            change.address
        ))
    })
}

fn prepare(change: &Change, op: OpKind, state: &State) -> Result<Prepared, ProviderError> {
    Ok(match op {
        OpKind::Create => {
            // The old object of a create-before-destroy replacement must not be
            // adopted as the new one. For a plain create, the recorded object
            // (if any) was found deleted by refresh: adopting what is left of
            // it is what an apply after a crash does too.
            let mut exclude: Vec<String> = state
                .resources
                .get(&change.address)
                .filter(|_| change.action == Action::CreateThenDelete)
                .map(|r| r.id.clone())
                .into_iter()
                .collect();
            exclude.extend(
                state
                    .deposed
                    .values()
                    .filter(|r| r.address == change.address)
                    .map(|r| r.id.clone()),
            );
            Prepared::Create {
                spec: resolved_spec(change, state)?,
                exclude,
            }
        }
        OpKind::Update => {
            let record = state
                .resources
                .get(&change.address)
                .cloned()
                .ok_or_else(|| {
                    ProviderError::new(format!("{}: nothing recorded to update", change.address))
                })?;
            Prepared::Update {
                record,
                spec: resolved_spec(change, state)?,
            }
        }
        OpKind::Delete => Prepared::Delete {
            record: state.resources.get(&change.address).cloned(),
        },
        OpKind::DeleteOld => Prepared::Delete {
            record: state.deposed.get(&old_key(change)).cloned(),
        },
    })
}

fn old_key(change: &Change) -> String {
    change
        .deposed
        .clone()
        .unwrap_or_else(|| deposed_key(&change.address, change.prior_id.as_deref().unwrap_or("")))
}

fn record_of(change: &Change, o: Observed) -> ResourceRecord {
    ResourceRecord {
        address: change.address.clone(),
        kind: change.kind,
        id: o.id,
        attrs: o.attrs,
        outputs: o.outputs,
        deps: change.deps.clone(),
        tainted: false,
    }
}

async fn run<P: Provider>(
    provider: &P,
    address: &str,
    prepared: Prepared,
) -> Result<Option<Observed>, ProviderError> {
    match prepared {
        Prepared::Create { spec, exclude } => provider
            .create(CreateRequest {
                address,
                spec: &spec,
                exclude_ids: &exclude,
            })
            .await
            .map(Some),
        Prepared::Update { record, spec } => provider.update(&record, &spec).await.map(Some),
        Prepared::Delete {
            record: Some(record),
        } => provider.delete(&record).await.map(|_| None),
        Prepared::Delete { record: None } => Ok(None),
    }
}

/// Check that a saved plan still fits the state it is applied to.
pub fn check_plan(plan: &Plan, state: &State) -> Result<(), ApplyError> {
    if plan.serial != state.serial || plan.lineage != state.lineage {
        return Err(ApplyError::StalePlan {
            plan: plan.serial,
            plan_lineage: plan.lineage.clone(),
            state: state.serial,
            state_lineage: state.lineage.clone(),
        });
    }
    Ok(())
}

/// Apply a plan to `state`, recording each batch of completed steps in `journal`.
pub async fn apply<P: Provider, J: Journal>(
    plan: &Plan,
    state: &mut State,
    provider: &P,
    journal: &mut J,
    config: &ApplyConfig<'_>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome, ApplyError> {
    let graph = ApplyGraph::from_plan(plan)?;
    let parallelism = config.parallelism.max(1);
    let mut waiting = graph.preds.clone();
    let mut ready: VecDeque<usize> = (0..graph.ops.len()).filter(|&i| waiting[i] == 0).collect();
    let mut inflight = FuturesUnordered::new();
    let mut outcome = Outcome::default();
    let mut stop = false;
    let mut started = 0usize;
    if !record_data_sources(plan, state, journal, &mut outcome) {
        outcome.not_started = graph.ops.len();
        return Ok(outcome);
    }

    loop {
        if config
            .cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
            && !stop
        {
            stop = true;
            outcome.interrupted = true;
        }
        while !stop && inflight.len() < parallelism {
            let Some(i) = ready.pop_front() else { break };
            let op = &graph.ops[i];
            let change = &plan.changes[op.change];
            on_event(Event::Started {
                address: &change.address,
                op: op.kind,
            });
            started += 1;
            let prepared = prepare(change, op.kind, state);
            inflight.push(async move {
                let r = match prepared {
                    Ok(p) => run(provider, &change.address, p).await,
                    Err(e) => Err(e),
                };
                (i, r)
            });
        }
        let Some(first) = inflight.next().await else {
            break;
        };
        let mut batch = vec![first];
        while let Some(Some(more)) = inflight.next().now_or_never() {
            batch.push(more);
        }
        let mut entries = Vec::with_capacity(batch.len());
        let mut done = Vec::with_capacity(batch.len());
        for (i, result) in batch {
            let op = &graph.ops[i];
            let change = &plan.changes[op.change];
            match result {
                Ok(observed) => {
                    let entry = match (op.kind, observed) {
                        (OpKind::Create, Some(o)) if change.action == Action::CreateThenDelete => {
                            JournalEntry::Replaced {
                                record: record_of(change, o),
                                deposed_key: old_key(change),
                            }
                        }
                        (OpKind::Create | OpKind::Update, Some(o)) => JournalEntry::Put {
                            record: record_of(change, o),
                        },
                        (OpKind::DeleteOld, _) => JournalEntry::RemoveDeposed {
                            deposed_key: old_key(change),
                        },
                        _ => JournalEntry::Remove {
                            address: change.address.clone(),
                        },
                    };
                    state.apply_entry(&entry);
                    entries.push(entry);
                    done.push(i);
                }
                Err(error) => {
                    stop = true;
                    on_event(Event::Failed {
                        address: &change.address,
                        op: op.kind,
                        error: &error,
                    });
                    outcome.failed.push(StepFailure {
                        address: change.address.clone(),
                        op: op.kind,
                        error,
                    });
                }
            }
        }
        if !entries.is_empty() {
            if let Err(e) = journal.commit(&entries) {
                outcome.journal_error = Some(e);
                // Nothing after this point is recorded: do not start more.
                while inflight.next().await.is_some() {}
                break;
            }
            state.serial += 1;
        }
        for i in done {
            let op = &graph.ops[i];
            let change = &plan.changes[op.change];
            let id = state
                .resources
                .get(&change.address)
                .map(|r| r.id.as_str())
                .filter(|_| matches!(op.kind, OpKind::Create | OpKind::Update));
            on_event(Event::Finished {
                address: &change.address,
                op: op.kind,
                id,
            });
            outcome.completed += 1;
            for &j in &graph.succ[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.push_back(j);
                }
            }
        }
    }
    outcome.not_started = graph.ops.len() - started;
    Ok(outcome)
}

/// Record the data sources the plan read before any step uses them (see
/// [`Plan::data_sources`]); `false` when the journal failed.
fn record_data_sources<J: Journal>(
    plan: &Plan,
    state: &mut State,
    journal: &mut J,
    outcome: &mut Outcome,
) -> bool {
    if plan.data_sources.is_empty() {
        return true;
    }
    let entries: Vec<JournalEntry> = plan
        .data_sources
        .iter()
        .map(|r| JournalEntry::Put { record: r.clone() })
        .collect();
    if let Err(e) = journal.commit(&entries) {
        outcome.journal_error = Some(e);
        return false;
    }
    for e in &entries {
        state.apply_entry(e);
    }
    state.serial += 1;
    true
}

/// Refresh every recorded object from the backend. Returns the refreshed
/// state (objects found gone are removed) and the objects that could not be read.
pub async fn refresh<P: Provider>(
    state: &State,
    provider: &P,
    parallelism: usize,
) -> (State, Vec<(String, ProviderError)>) {
    let mut out = state.clone();
    let mut errors = Vec::new();
    let records: Vec<(Option<String>, &ResourceRecord)> = state
        .resources
        .values()
        .map(|r| (None, r))
        .chain(state.deposed.iter().map(|(k, r)| (Some(k.clone()), r)))
        .collect();
    let results: Vec<_> = futures_util::stream::iter(
        records
            .into_iter()
            .map(|(key, r)| async move { (key, r, provider.read(r).await) }),
    )
    .buffer_unordered(parallelism.max(1))
    .collect()
    .await;
    let mut sorted: BTreeMap<(Option<String>, String), _> = BTreeMap::new();
    for (key, r, res) in results {
        sorted.insert((key, r.address.clone()), (r, res));
    }
    for ((key, address), (r, res)) in sorted {
        match (key, res) {
            (None, Ok(Some(o))) => {
                let rec = out
                    .resources
                    .get_mut(&address)
                    .expect("refreshing a recorded object");
                rec.id = o.id;
                rec.attrs = o.attrs;
                rec.outputs = o.outputs;
                let _ = r;
            }
            (None, Ok(None)) => {
                out.resources.remove(&address);
            }
            (Some(k), Ok(None)) => {
                out.deposed.remove(&k);
            }
            (Some(_), Ok(Some(_))) => {}
            (_, Err(e)) => errors.push((address, e)),
        }
    }
    (out, errors)
}
