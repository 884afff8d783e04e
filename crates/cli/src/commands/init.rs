//! `chronous init --from-terraform PATH` / `--from-aws`: write chronous.toml
//! (and the key pair's public key) describing the estate a Terraform state
//! records, or what one VPC of the account holds (read by the aws crate's
//! `discover`, in the shape of a Terraform state), through core's one writer
//! (`import::init`), and say, located, what the file does not express.
//! Runs before any environment file exists; reads no secret (the parser and
//! the account reads drop them).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chronous_aws::{AwsOptions, AwsProvider, VpcSelector};
use chronous_core::env::Backend;
use chronous_core::import::init::{InitFile, Note};
use chronous_core::import::{self, init, SecretFound};
use serde_json::json;

use crate::cli::{Cli, InitArgs};
use crate::context::ENV_FILE;
use crate::ui::{exit, exit_hint, EXIT_FAILURE, EXIT_INVALID, EXIT_USAGE};

pub fn run(cli: &Cli, a: &InitArgs) -> Result<u8> {
    let dir = match &cli.env {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let file = dir.join(ENV_FILE);
    if file.exists() && !a.force {
        return Err(exit(EXIT_FAILURE, format!("{} exists: chronous init writes a new environment file; pass --force to overwrite it", file.display())));
    }
    let name = a.name.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "env".into())
    });
    match &a.from_terraform {
        Some(path) => from_terraform(cli, a, &dir, &file, &name, path),
        None => from_aws(cli, a, &dir, &file, &name),
    }
}

fn from_terraform(
    cli: &Cli,
    a: &InitArgs,
    dir: &Path,
    file: &Path,
    name: &str,
    path: &Path,
) -> Result<u8> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("cannot read the Terraform state {}: {e}", path.display()),
        )
    })?;
    let st = import::parse(&text).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("{}: {e}; nothing was written", path.display()),
        )
    })?;
    drop(text);
    let out = init::from_terraform(&st.objects, name, &a.backup_file).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("{}: {e}; nothing was written", path.display()),
        )
    })?;
    write(dir, file, &out)?;
    let source = path.display().to_string();
    report(cli, file, &source, &out.notes, &st.secrets)?;
    if !st.secrets.is_empty() {
        let at: Vec<String> = st
            .secrets
            .iter()
            .map(|s| format!("{}.{}", s.address, s.attribute))
            .collect();
        eprintln!("\nwarning: {} holds secrets in clear text ({}): they were not written anywhere. Rotate the database password; chronous reads the new one from CHRONOUS_DB_PASSWORD or database.password_file.", path.display(), at.join(", "));
    }
    if !cli.json {
        println!(
            "\nNext: `chronous import terraform {}` (with --backend aws), then `chronous plan`.",
            path.display()
        );
    }
    Ok(0)
}

/// `--from-aws`: connect (the identity first), read the VPC's estate, write the file.
fn from_aws(cli: &Cli, a: &InitArgs, dir: &Path, file: &Path, name: &str) -> Result<u8> {
    if cli.backend == Some(Backend::Sim) {
        return Err(exit_hint(EXIT_USAGE, "init --from-aws reads what exists in an AWS account: the simulator has none to read", "drop --backend sim (or pass --backend aws); to start from nothing, copy fixtures/seed/chronous.toml"));
    }
    let region = a
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            exit(
                EXIT_USAGE,
                "init --from-aws needs a region: pass --region (or set AWS_REGION)",
            )
        })?;
    let sel = match (&a.vpc_id, &a.vpc_name) {
        (Some(i), _) => VpcSelector::Id(i.clone()),
        (None, Some(n)) => VpcSelector::Name(n.clone()),
        (None, None) => return Err(exit(
            EXIT_USAGE,
            "init --from-aws needs the VPC to describe: pass --vpc-id vpc-... or --vpc-name NAME",
        )),
    };
    let backup = match &a.backup_object {
        None => None,
        Some(s) => Some(
            s.strip_prefix("s3://")
                .and_then(|r| r.split_once('/'))
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .map(|(b, k)| (b.to_string(), k.to_string()))
                .ok_or_else(|| {
                    exit(
                        EXIT_USAGE,
                        format!("--backup-object {s}: expected s3://BUCKET/KEY"),
                    )
                })?,
        ),
    };
    let mut opts = AwsOptions::new(&region, name, PathBuf::from(dir));
    if let Some(e) = &cli.endpoint {
        opts.endpoint = Some(e.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let p = rt
        .block_on(AwsProvider::connect(opts))
        .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
    let id = rt
        .block_on(p.identity())
        .map_err(|e| exit_hint(EXIT_FAILURE, e.to_string(), e.hint()))?
        .clone();
    if !cli.json {
        eprintln!(
            "Reading the VPC with {sel} in account {} ({region})...",
            id.account
        );
    }
    let found = rt.block_on(p.discover(&sel, backup)).map_err(|e| {
        exit_hint(
            EXIT_FAILURE,
            format!("init --from-aws: {e}; nothing was written"),
            e.hint(),
        )
    })?;
    let out = init::from_aws(
        &found.objects,
        name,
        &a.backup_file,
        &id.account,
        a.prefix.as_deref(),
    )
    .map_err(|e| {
        exit(
            EXIT_INVALID,
            format!(
                "{} in account {}: {e}; nothing was written",
                found.vpc_id, id.account
            ),
        )
    })?;
    write(dir, file, &out)?;
    let notes: Vec<Note> = found.notes.iter().chain(&out.notes).cloned().collect();
    let source = format!("{} in account {} ({region})", found.vpc_id, id.account);
    report(cli, file, &source, &notes, &[])?;
    if !cli.json {
        println!(
            "\nNext: `chronous --backend aws import aws`, then `chronous --backend aws plan`."
        );
    }
    Ok(0)
}

fn write(dir: &Path, file: &Path, out: &InitFile) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some((f, key)) = &out.public_key {
        let p = dir.join(f);
        if !p.exists() {
            chronous_store::atomic_write(&p, key.as_bytes())?;
        }
    }
    chronous_store::atomic_write(file, out.toml.as_bytes())?;
    Ok(())
}

fn report(
    cli: &Cli,
    file: &Path,
    source: &str,
    notes: &[Note],
    secrets: &[SecretFound],
) -> Result<()> {
    if cli.json {
        let v = json!({"written": file.display().to_string(), "source": source, "notes": notes, "secrets": secrets});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("Wrote {} from {source}.", file.display());
    if !notes.is_empty() {
        println!("\nWhat the file does not say:");
        for n in notes {
            let at = if n.attribute.is_empty() {
                n.tf_address.clone()
            } else {
                format!("{}.{}", n.tf_address, n.attribute)
            };
            println!("  {at}: {}", n.message);
        }
    }
    Ok(())
}
