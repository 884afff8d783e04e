//! `chronous init --from-terraform PATH`: write chronous.toml (and the key
//! pair's public key) describing the estate a Terraform state records
//! (core's `import::init`), and say, located, what the file does not express.
//! Runs before any environment file exists; reads no secret (the parser drops them).

use anyhow::{Context as _, Result};
use chronous_core::import::{self, init};
use serde_json::json;

use crate::cli::{Cli, InitArgs};
use crate::context::ENV_FILE;
use crate::ui::{exit, EXIT_FAILURE, EXIT_INVALID};

pub fn run(cli: &Cli, a: &InitArgs) -> Result<u8> {
    let dir = match &cli.env {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let file = dir.join(ENV_FILE);
    if file.exists() && !a.force {
        return Err(exit(EXIT_FAILURE, format!("{} exists: chronous init writes a new environment file; pass --force to overwrite it", file.display())));
    }
    let path = &a.from_terraform;
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
    let name = a.name.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "env".into())
    });
    let out = init::from_terraform(&st.objects, &name, &a.backup_file).map_err(|e| {
        exit(
            EXIT_INVALID,
            format!("{}: {e}; nothing was written", path.display()),
        )
    })?;
    std::fs::create_dir_all(&dir)?;
    if let Some((f, key)) = &out.public_key {
        let p = dir.join(f);
        if !p.exists() {
            chronous_store::atomic_write(&p, key.as_bytes())?;
        }
    }
    chronous_store::atomic_write(&file, out.toml.as_bytes())?;
    if cli.json {
        let v = json!({"written": file.display().to_string(), "notes": out.notes, "secrets": st.secrets});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("Wrote {} from {}.", file.display(), path.display());
    if !out.notes.is_empty() {
        println!("\nWhat the file does not say:");
        for n in &out.notes {
            let at = if n.attribute.is_empty() {
                n.tf_address.clone()
            } else {
                format!("{}.{}", n.tf_address, n.attribute)
            };
            println!("  {at}: {}", n.message);
        }
    }
    if !st.secrets.is_empty() {
        let at: Vec<String> = st
            .secrets
            .iter()
            .map(|s| format!("{}.{}", s.address, s.attribute))
            .collect();
        eprintln!("\nwarning: {} holds secrets in clear text ({}): they were not written anywhere. Rotate the database password; chronous reads the new one from CHRONOUS_DB_PASSWORD or database.password_file.", path.display(), at.join(", "));
    }
    println!(
        "\nNext: `chronous import terraform {}` (with --backend aws), then `chronous plan`.",
        path.display()
    );
    Ok(0)
}
