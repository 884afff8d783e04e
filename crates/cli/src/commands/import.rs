//! `chronous import terraform PATH`: adopt the objects a Terraform state
//! records. Core matches them to the environment's addresses
//! (`chronous_core::import`); here the file is read, every adopted object is
//! refreshed through the backend (an object missing from the account stops
//! the import), and the state is written once, atomically, under the lock.
//! Nothing in AWS changes, and no secret of the state file goes anywhere:
//! the parser drops them, the report only says where they were.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use chronous_core::engine;
use chronous_core::env::Backend as BackendKind;
use chronous_core::import::{self, Records, TerraformImport};
use chronous_core::plan::{self, Action, PlanOptions};
use chronous_core::resources::{expand, Resource};
use chronous_core::state::State;
use serde_json::{json, Value};

use crate::cli::ImportCmd;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_INVALID, EXIT_USAGE};

pub fn run(ctx: &Ctx, c: &ImportCmd) -> Result<u8> {
    match c {
        ImportCmd::Terraform { path } => terraform(ctx, path),
        ImportCmd::Aws => aws(ctx),
    }
}

/// One attribute where the account and the file disagree.
struct Conflict {
    tf_address: String,
    address: String,
    attribute: String,
    account: Value,
    file: Value,
    replace: bool,
}

fn terraform(ctx: &Ctx, path: &Path) -> Result<u8> {
    if ctx.backend.kind() != BackendKind::Aws {
        return Err(exit(EXIT_USAGE, "import adopts objects that exist in an AWS account: run it with --backend aws (or environment.backend = \"aws\")"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("cannot read the Terraform state {}: {e}", path.display()),
        )
    })?;
    let imp = import::from_terraform(&text, &ctx.env).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("{}: {e}; nothing was imported", path.display()),
        )
    })?;
    drop(text);
    let _lock = ctx.lock("chronous import terraform")?;
    let recorded = ctx.load_state()?;
    let desired = expand(&ctx.env);
    let attrs_of: BTreeMap<String, Value> = imp
        .objects
        .iter()
        .map(|o| (o.address.clone(), o.attrs.clone()))
        .collect();
    let recs = import::records(
        &desired,
        &imp.matched.adopted,
        &imp.matched.legacy,
        &attrs_of,
        "terraform",
        false,
    );
    let candidate = with_records(ctx, &recorded, recs)?;
    let refreshed = refresh_all(ctx, &candidate, &imp)?;
    let mut st = refreshed;
    if st.lineage.is_empty() {
        st.lineage = uuid::Uuid::new_v4().to_string();
    }
    st.serial += 1;
    ctx.store.save(&st)?;
    let conflicts = conflicts(&desired, &st, &imp)?;
    report(ctx, path, &imp, &st, &desired, &conflicts)?;
    Ok(0)
}

/// The recorded state with the adopted records added; an address already
/// recorded for another object is an error (nothing written).
fn with_records(ctx: &Ctx, recorded: &State, recs: Records) -> Result<State> {
    let mut st = recorded.clone();
    if st.is_empty() {
        st.backend = ctx.backend.kind();
    }
    for r in recs.resources {
        if let Some(old) = st.resources.get(&r.address) {
            if old.id != r.id {
                return Err(exit(EXIT_FAILURE, format!("{} is already recorded as {} in this environment's state; `chronous state show {}` shows it: nothing was imported", r.address, old.id, r.address)));
            }
            continue;
        }
        st.resources.insert(r.address.clone(), r);
    }
    for (k, r) in recs.deposed {
        st.deposed.entry(k).or_insert(r);
    }
    for (k, a) in recs.adopted {
        st.adopted.entry(k).or_insert(a);
    }
    Ok(st)
}

/// Read every adopted object through the backend; one that is gone, or a
/// failed read, stops the import before anything is written.
fn refresh_all(ctx: &Ctx, st: &State, imp: &TerraformImport) -> Result<State> {
    let rt = ctx.rt()?;
    let p = ctx.backend.provider(ctx)?;
    if !ctx.json {
        eprintln!(
            "Reading {} objects from the account...",
            st.resources.len() + st.deposed.len()
        );
    }
    let (mut refreshed, errors) = rt.block_on(engine::refresh(st, &p, 10));
    if let Some((a, e)) = errors.first() {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "could not read {a} ({} more): {e}; nothing was imported",
                errors.len() - 1
            ),
        ));
    }
    let tf_of = |address: &str| {
        imp.matched
            .adopted
            .iter()
            .chain(imp.matched.legacy.iter().map(|(a, _)| a))
            .find(|a| a.address == address)
            .map(|a| a.tf_address.clone())
            .unwrap_or_default()
    };
    let missing: Vec<String> = st
        .resources
        .values()
        .filter(|r| !refreshed.resources.contains_key(&r.address))
        .chain(
            st.deposed
                .iter()
                .filter(|(k, _)| !refreshed.deposed.contains_key(*k))
                .map(|(_, r)| r),
        )
        .map(|r| format!("{} ({} {})", tf_of(&r.address), r.address, r.id))
        .collect();
    if !missing.is_empty() {
        return Err(exit(EXIT_FAILURE, format!("{} object(s) of the state are not in the account: {}; the state is stale (run `terraform refresh`) or for another account: nothing was imported", missing.len(), missing.join(", "))));
    }
    refreshed.adopted = st.adopted.clone();
    Ok(refreshed)
}

/// Where the adopted objects differ from the file: the next plan's attribute
/// changes on them (chronous's own tags aside).
fn conflicts(desired: &[Resource], st: &State, imp: &TerraformImport) -> Result<Vec<Conflict>> {
    let opts = PlanOptions::default();
    let p = plan::plan(desired.to_vec(), st, st, &opts)?;
    let mut out = Vec::new();
    for c in &p.changes {
        let Some(a) = imp.matched.adopted.iter().find(|a| a.address == c.address) else {
            continue;
        };
        if c.action == Action::Create || c.action == Action::Delete {
            continue;
        }
        // The group's move off the legacy launch configuration is the plan's, not a conflict.
        let moving = |x: &plan::AttrChange| {
            c.kind == chronous_core::resources::Kind::AutoScalingGroup
                && x.name == "launch_template_id"
                && !imp.matched.legacy.is_empty()
        };
        for x in c
            .attrs
            .iter()
            .filter(|x| !x.name.starts_with("tags.chronous:") && !moving(x))
        {
            out.push(Conflict {
                tf_address: a.tf_address.clone(),
                address: c.address.clone(),
                attribute: x.name.clone(),
                account: x.before.clone().unwrap_or(Value::Null),
                file: x.after.clone().unwrap_or(Value::Null),
                replace: x.forces_replacement,
            });
        }
    }
    Ok(out)
}

/// What chronous will create itself: desired addresses nothing was adopted for.
fn to_create<'a>(desired: &'a [Resource], st: &State) -> Vec<&'a str> {
    desired
        .iter()
        .filter(|r| !st.resources.contains_key(&r.address))
        .map(|r| r.address.as_str())
        .collect()
}

fn secret_warning(path: &Path, imp: &TerraformImport) -> Option<String> {
    if imp.secrets.is_empty() {
        return None;
    }
    let at: Vec<String> = imp
        .secrets
        .iter()
        .map(|s| format!("{}.{}", s.address, s.attribute))
        .collect();
    Some(format!(
        "{} holds secrets in clear text ({}): chronous did not copy them anywhere. Rotate the database password (everyone who had the state file or its backups knows it), then give chronous the new one through CHRONOUS_DB_PASSWORD or database.password_file, and delete the old state file and its backups.",
        path.display(),
        at.join(", ")
    ))
}

fn report(
    ctx: &Ctx,
    path: &Path,
    imp: &TerraformImport,
    st: &State,
    desired: &[Resource],
    conflicts: &[Conflict],
) -> Result<()> {
    let m = &imp.matched;
    let id_of = |a: &str| {
        st.resources
            .get(a)
            .map(|r| r.id.clone())
            .unwrap_or_default()
    };
    let warning = secret_warning(path, imp);
    if ctx.json {
        let v = json!({
            "environment": ctx.env.name,
            "source": path.display().to_string(),
            "terraform_version": imp.terraform_version,
            "adopted": m.adopted.iter().map(|a| json!({"from": a.tf_address, "address": a.address, "id": id_of(&a.address)})).collect::<Vec<_>>(),
            "replaced": m.legacy.iter().map(|(a, by)| json!({"from": a.tf_address, "address": a.address, "id": a.id, "replaced_by": by})).collect::<Vec<_>>(),
            "absorbed": m.absorbed.iter().map(|(tf, into)| json!({"from": tf, "part_of": into})).collect::<Vec<_>>(),
            "unmanaged": m.unmanaged.iter().map(|u| json!({"from": u.tf_address, "reason": u.reason})).collect::<Vec<_>>(),
            "conflicts": conflicts.iter().map(|c| json!({"from": c.tf_address, "address": c.address, "attribute": c.attribute, "account": c.account, "file": c.file, "forces_replacement": c.replace})).collect::<Vec<_>>(),
            "to_create": to_create(desired, st),
            "secrets": imp.secrets,
            "warnings": warning.iter().collect::<Vec<_>>(),
            "changed_in_aws": false,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "Imported {} objects from {} (Terraform {}, serial {}) into `{}`:\n",
        m.adopted.len(),
        path.display(),
        imp.terraform_version,
        imp.serial,
        ctx.env.name
    );
    println!("Adopted:");
    for a in &m.adopted {
        println!(
            "  {} -> {} ({})",
            a.tf_address,
            a.address,
            id_of(&a.address)
        );
    }
    if !m.legacy.is_empty() {
        println!("\nReplaced by chronous (recorded as deposed: the next apply creates the replacement first, then destroys it):");
        for (a, by) in &m.legacy {
            println!(
                "  {} -> {} ({}), replaced by {by}",
                a.tf_address, a.address, a.id
            );
        }
    }
    if !m.absorbed.is_empty() {
        println!("\nPart of an adopted object:");
        for (tf, into) in &m.absorbed {
            println!("  {tf} -> {into}");
        }
    }
    if !m.unmanaged.is_empty() {
        println!("\nLeft unmanaged (chronous will not touch them):");
        for u in &m.unmanaged {
            println!("  {}: {}", u.tf_address, u.reason);
        }
    }
    if !conflicts.is_empty() {
        println!("\nConflicts with {} (the next plan shows them; replacements of adopted objects are held):", crate::context::ENV_FILE);
        for c in conflicts {
            let force = if c.replace {
                " (forces replacement)"
            } else {
                ""
            };
            println!(
                "  {} ({}): {}: {} in the account, {} in the file{force}",
                c.tf_address, c.address, c.attribute, c.account, c.file
            );
        }
    }
    let create = to_create(desired, st);
    if !create.is_empty() {
        println!(
            "\nNot in the state (chronous creates them): {}",
            create.join(", ")
        );
    }
    if let Some(w) = warning {
        eprintln!("\nwarning: {w}");
    }
    println!("\nNothing was changed in AWS. `chronous plan` shows what chronous would change.");
    Ok(())
}

/// `chronous import aws`: every desired address the state lacks, looked for in
/// the account by its name (named kinds) or its tags (EC2 kinds: chronous's own,
/// else the `Name` tag), in dependency order, read, and recorded if found.
fn aws(ctx: &Ctx) -> Result<u8> {
    if ctx.backend.kind() != BackendKind::Aws {
        return Err(exit(EXIT_USAGE, "import adopts objects that exist in an AWS account: run it with --backend aws (or environment.backend = \"aws\")"));
    }
    let _lock = ctx.lock("chronous import aws")?;
    let mut st = ctx.load_state()?;
    let rt = ctx.rt()?;
    let provider = ctx.backend.provider(ctx)?;
    let crate::backend::Provider::Aws(aws) = &provider else {
        return Err(exit(EXIT_USAGE, "import aws needs --backend aws"));
    };
    let graph = chronous_core::graph::DesiredGraph::build(expand(&ctx.env))?;
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for r in &graph.resources {
        if st.resources.contains_key(&r.address) {
            continue;
        }
        match rt.block_on(look_for(aws, &st, r))? {
            Some(rec) => {
                st.adopted.insert(
                    r.address.clone(),
                    chronous_core::state::Adopted {
                        source: "aws".into(),
                        from: format!("{} in the account", rec.id),
                        own_tags: false,
                    },
                );
                found.push((r.address.clone(), rec.id.clone()));
                st.resources.insert(r.address.clone(), rec);
            }
            None => missing.push(r.address.clone()),
        }
    }
    if !found.is_empty() {
        if st.lineage.is_empty() {
            st.lineage = uuid::Uuid::new_v4().to_string();
        }
        st.serial += 1;
        ctx.store.save(&st)?;
    }
    if ctx.json {
        let v = json!({
            "adopted": found.iter().map(|(a, id)| json!({"address": a, "id": id})).collect::<Vec<_>>(),
            "not_found": missing,
            "changed_in_aws": false,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("Found in the account and adopted ({}):", found.len());
    for (a, id) in &found {
        println!("  {a} ({id})");
    }
    if !missing.is_empty() {
        println!(
            "\nNot in the account (chronous creates them): {}",
            missing.join(", ")
        );
    }
    println!("\nNothing was changed in AWS. `chronous plan` shows what chronous would change.");
    Ok(0)
}

/// The object for desired resource `r`, if the account has one: its spec
/// resolved against what is recorded, its id by name or by a look-up, read.
async fn look_for(
    aws: &chronous_aws::AwsProvider,
    st: &State,
    r: &Resource,
) -> Result<Option<chronous_core::state::ResourceRecord>> {
    use chronous_core::provider::Provider as _;
    let spec = r.spec.to_attrs();
    let resolved = chronous_core::value::resolve(&spec, &|x| st.lookup(&x.address, &x.attr));
    // A reference to something not found stays unknown: the object may still
    // exist (found by its name), and its record does not claim the value.
    let Ok(typed) = chronous_core::resources::Spec::from_attrs(r.kind(), &resolved) else {
        return Ok(None);
    };
    let id = match import::id_by_name(&typed) {
        Some(id) => id,
        None => match aws.look_up(&r.address, &typed).await? {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    let rec = chronous_core::state::ResourceRecord {
        address: r.address.clone(),
        kind: r.kind(),
        id,
        attrs: resolved,
        outputs: BTreeMap::new(),
        deps: chronous_core::value::refs(&spec)
            .into_iter()
            .map(|x| x.address)
            .collect(),
        tainted: false,
    };
    Ok(aws.read(&rec).await?.map(|o| {
        let mut attrs = o.attrs;
        if r.kind() == chronous_core::resources::Kind::AutoScalingGroup
            && attrs["launch_template_id"] == chronous_core::value::UNKNOWN
        {
            // It launches from no template of chronous's (a launch configuration):
            // moving it to the template is a change the plan shows.
            attrs["launch_template_id"] = Value::String(String::new());
        }
        chronous_core::state::ResourceRecord {
            id: o.id,
            attrs,
            outputs: o.outputs,
            ..rec
        }
    }))
}
