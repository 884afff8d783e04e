//! Dependency graphs: of the desired resources, and of the operations of a plan.
//!
//! Edges mean "must happen after". The desired graph comes from the
//! references inside specs; the apply graph from a plan's changes, with the
//! extra rules for deletes (reverse order) and replacements.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::plan::{Action, Plan};
use crate::resources::Resource;
use crate::value::refs;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("`{from}` refers to `{to}`, which is not part of the environment")]
    Dangling { from: String, to: String },
    #[error("dependency cycle through: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("address `{0}` is used twice")]
    Duplicate(String),
}

/// Addresses a spec depends on: every resource it references.
pub fn dependencies(r: &Resource) -> BTreeSet<String> {
    refs(&r.spec.to_attrs())
        .into_iter()
        .map(|x| x.address)
        .filter(|a| a != &r.address)
        .collect()
}

/// Kahn's algorithm over `n` nodes; ties broken by the lowest index so the
/// order is a pure function of the input. `succ[i]` are the nodes after `i`.
pub fn topo_order(n: usize, succ: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut indeg = vec![0usize; n];
    for s in succ {
        for &j in s {
            indeg[j] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        out.push(i);
        for &j in &succ[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if out.len() == n {
        Ok(out)
    } else {
        Err((0..n).filter(|&i| indeg[i] > 0).collect())
    }
}

/// The desired resources in dependency order, with each one's dependencies.
#[derive(Debug, Clone)]
pub struct DesiredGraph {
    /// In dependency order: every resource comes after all it depends on.
    pub resources: Vec<Resource>,
    pub deps: BTreeMap<String, BTreeSet<String>>,
}

impl DesiredGraph {
    pub fn build(resources: Vec<Resource>) -> Result<DesiredGraph, GraphError> {
        let index: BTreeMap<&str, usize> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.address.as_str(), i))
            .collect();
        if index.len() != resources.len() {
            let mut seen = BTreeSet::new();
            for r in &resources {
                if !seen.insert(&r.address) {
                    return Err(GraphError::Duplicate(r.address.clone()));
                }
            }
        }
        let mut deps = BTreeMap::new();
        let mut succ = vec![Vec::new(); resources.len()];
        for (i, r) in resources.iter().enumerate() {
            let d = dependencies(r);
            for a in &d {
                let Some(&j) = index.get(a.as_str()) else {
                    return Err(GraphError::Dangling {
                        from: r.address.clone(),
                        to: a.clone(),
                    });
                };
                succ[j].push(i);
            }
            deps.insert(r.address.clone(), d);
        }
        let order = topo_order(resources.len(), &succ).map_err(|left| {
            GraphError::Cycle(left.iter().map(|&i| resources[i].address.clone()).collect())
        })?;
        let mut slots: Vec<Option<Resource>> = resources.into_iter().map(Some).collect();
        let resources = order
            .into_iter()
            .map(|i| slots[i].take().expect("each index once"))
            .collect();
        Ok(DesiredGraph { resources, deps })
    }
}

/// What one apply step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    /// Destroy the object recorded at the address.
    Delete,
    /// Destroy the old object of a create-before-destroy replacement.
    DeleteOld,
}

/// One step of an apply: an operation on the change at `change`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub change: usize,
    pub kind: OpKind,
}

/// The operations of a plan and the order they must respect.
#[derive(Debug, Clone)]
pub struct ApplyGraph {
    pub ops: Vec<Op>,
    /// `succ[i]`: operations that must wait for operation `i`.
    pub succ: Vec<Vec<usize>>,
    pub preds: Vec<usize>,
}

impl ApplyGraph {
    pub fn from_plan(plan: &Plan) -> Result<ApplyGraph, GraphError> {
        let mut ops: Vec<Op> = Vec::new();
        let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
        // The op that creates or updates the object at an address.
        let mut create_of: BTreeMap<&str, usize> = BTreeMap::new();
        // The ops that destroy an old object recorded at an address.
        let mut olds: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, c) in plan.changes.iter().enumerate() {
            let a = c.address.as_str();
            let mut op = |kind| {
                ops.push(Op { change: i, kind });
                ops.len() - 1
            };
            match c.action {
                Action::NoOp => {}
                Action::Create | Action::Update => {
                    let kind = if c.action == Action::Create {
                        OpKind::Create
                    } else {
                        OpKind::Update
                    };
                    create_of.insert(a, op(kind));
                }
                Action::Delete => {
                    let kind = if c.deposed.is_some() {
                        OpKind::DeleteOld
                    } else {
                        OpKind::Delete
                    };
                    olds.entry(a).or_default().push(op(kind));
                }
                Action::DeleteThenCreate => {
                    let d = op(OpKind::Delete);
                    let n = op(OpKind::Create);
                    edges.insert((d, n));
                    olds.entry(a).or_default().push(d);
                    create_of.insert(a, n);
                }
                Action::CreateThenDelete => {
                    let n = op(OpKind::Create);
                    let d = op(OpKind::DeleteOld);
                    edges.insert((n, d));
                    olds.entry(a).or_default().push(d);
                    create_of.insert(a, n);
                }
            }
        }
        for (me, op) in ops.iter().enumerate() {
            let c = &plan.changes[op.change];
            match op.kind {
                // After what it references is created or updated; an old object
                // it referenced (create-before-destroy) goes only after it moved on.
                OpKind::Create | OpKind::Update => {
                    for d in &c.deps {
                        if let Some(&dep) = create_of.get(d.as_str()) {
                            edges.insert((dep, me));
                        }
                        for &old in olds.get(d.as_str()).into_iter().flatten() {
                            if ops[old].kind == OpKind::DeleteOld {
                                edges.insert((me, old));
                            }
                        }
                    }
                }
                // Deletes in reverse: an old object goes before what it referenced.
                OpKind::Delete | OpKind::DeleteOld => {
                    for d in &c.prior_deps {
                        for &old in olds.get(d.as_str()).into_iter().flatten() {
                            if old != me {
                                edges.insert((me, old));
                            }
                        }
                    }
                }
            }
        }
        let mut succ = vec![Vec::new(); ops.len()];
        for &(a, b) in &edges {
            succ[a].push(b);
        }
        if let Err(left) = topo_order(ops.len(), &succ) {
            return Err(GraphError::Cycle(
                left.iter()
                    .map(|&i| {
                        format!(
                            "{} ({:?})",
                            plan.changes[ops[i].change].address, ops[i].kind
                        )
                    })
                    .collect(),
            ));
        }
        // An object updated so that it no longer refers to an object being
        // destroyed moves on first: the cloud refuses to delete what is still
        // referenced (DependencyViolation). This is added only where it
        // closes no cycle (an update that must itself wait for that destroy,
        // through a dependency replaced destroy-first, cannot go first).
        let mut soft: BTreeSet<(usize, usize)> = BTreeSet::new();
        for (me, op) in ops.iter().enumerate() {
            if op.kind != OpKind::Update {
                continue;
            }
            let c = &plan.changes[op.change];
            for d in c.prior_deps.iter().filter(|d| !c.deps.contains(d)) {
                for &old in olds.get(d.as_str()).into_iter().flatten() {
                    if !edges.contains(&(me, old)) {
                        soft.insert((me, old));
                    }
                }
            }
        }
        if !soft.is_empty() {
            let mut all = succ.clone();
            for &(a, b) in &soft {
                all[a].push(b);
            }
            let acyclic = topo_order(ops.len(), &all).is_ok();
            // Usually all of them fit; otherwise one by one, in order.
            for (a, b) in soft {
                if acyclic || !reaches(&succ, b, a) {
                    edges.insert((a, b));
                    succ[a].push(b);
                }
            }
        }
        let mut preds = vec![0usize; ops.len()];
        for &(_, b) in &edges {
            preds[b] += 1;
        }
        for s in &mut succ {
            s.sort_unstable();
        }
        Ok(ApplyGraph { ops, succ, preds })
    }
}

/// Whether `to` can be reached from `from` along `succ`.
fn reaches(succ: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; succ.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(succ[i].iter().copied());
        }
    }
    false
}
