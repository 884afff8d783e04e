//! The environment a command acts on ([`Ctx`]): the loaded, validated
//! `chronous.toml`, its folders and state store, the [`Backend`] value, and the
//! command's one async runtime (started on first use). Also the steps every
//! command shares around them: the lock, loading the recorded state, and the
//! first save of a new environment's state.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chronous_core::diag::Diagnostics;
use chronous_core::env::{self, Environment, Inputs, NoInputs};
use chronous_core::state::State;
use chronous_store::inputs::DiskInputs;
use chronous_store::{Holder, Lock, StateStore, StoreError};

use crate::backend::Backend;
use crate::cli::{ApplyArgs, Cli, Cmd, PlanArgs};
use crate::ui::{exit, exit_printed, EXIT_INVALID, EXIT_LOCKED};

pub const ENV_FILE: &str = "chronous.toml";
pub const STATE_DIR: &str = ".chronous";

/// The environment a command acts on.
pub struct Ctx {
    pub dir: PathBuf,
    pub env: Environment,
    pub backend: Backend,
    pub store: StateStore,
    pub json: bool,
    /// The file's warnings (validate lists them in --json).
    pub diagnostics: Diagnostics,
    /// Whether the file's warnings are shown (the commands that look at the configuration).
    warn: bool,
    /// Whether the files it names are looked at (the commands that plan toward it).
    inputs: bool,
    rt: OnceCell<tokio::runtime::Runtime>,
}

impl Ctx {
    /// Read and validate the environment file of `--env DIR` (or the current folder).
    pub fn load(cli: &Cli) -> Result<Ctx> {
        let dir = match &cli.env {
            Some(d) => d.clone(),
            None => std::env::current_dir().context("cannot read the current folder")?,
        };
        // Warnings are for the commands that look at the configuration.
        let warn = matches!(
            cli.cmd,
            Cmd::Validate
                | Cmd::Plan(_)
                | Cmd::Apply(ApplyArgs {
                    plan_file: None,
                    ..
                })
        );
        // The backup is looked at (exists, sha256) by the commands that plan
        // toward the file; destroy, status and the like work without it.
        let inputs = matches!(
            cli.cmd,
            Cmd::Validate
                | Cmd::Plan(PlanArgs { destroy: false, .. })
                | Cmd::Apply(_)
                | Cmd::Deploy(_)
                | Cmd::Rehearse(_)
        );
        let (env, diagnostics) = read_env(&dir, warn, inputs, cli.json)?;
        let kind = cli.backend.or(env.backend).unwrap_or(env::Backend::Sim);
        let backend = Backend::new(kind, &env, &dir, cli.endpoint.as_deref(), cli.json);
        let store = StateStore::new(&dir.join(STATE_DIR));
        Ok(Ctx {
            dir,
            env,
            backend,
            store,
            json: cli.json,
            diagnostics,
            warn,
            inputs,
            rt: OnceCell::new(),
        })
    }

    /// Read the environment file again (after `deploy` changed it); the
    /// backend and the runtime stay.
    pub fn reload(&mut self) -> Result<()> {
        (self.env, self.diagnostics) = read_env(&self.dir, self.warn, self.inputs, self.json)?;
        Ok(())
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }

    /// The command's async runtime, started on first use.
    pub fn rt(&self) -> Result<&tokio::runtime::Runtime> {
        if let Some(rt) = self.rt.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(self.rt.get_or_init(|| rt))
    }

    /// Take the environment's lock for `command`.
    pub fn lock(&self, command: &str) -> Result<Lock> {
        let holder = Holder {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: hostname(),
            time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            command: command.to_string(),
        };
        match Lock::acquire(&self.state_dir(), holder) {
            Ok(l) => {
                if let Some(p) = &l.previous {
                    eprintln!("warning: the previous command {p} ended without releasing its lock; continuing from what it recorded");
                }
                Ok(l)
            }
            Err(StoreError::Locked(h)) => Err(exit(
                EXIT_LOCKED,
                format!(
                    "environment `{}` is locked by {h}. Wait for it to finish; if that process is gone, run `chronous force-unlock {}`",
                    self.env.name, h.id
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The recorded state, checked to belong to this environment and backend.
    pub fn load_state(&self) -> Result<State> {
        let s = self.store.load()?;
        let s = match s {
            Some(s) => s,
            // The lineage is given when the state is first written, so a plan of a
            // new environment still applies (see `ensure_saved`).
            None => State::new(&self.env.name, self.backend.kind(), String::new()),
        };
        s.check(&self.env.name, self.backend.kind())?;
        Ok(s)
    }

    /// The recorded state as the runtime commands read it (status, logs,
    /// rollouts): an empty one when nothing is recorded.
    pub fn recorded(&self) -> Result<State> {
        Ok(self
            .store
            .load()?
            .unwrap_or_else(|| State::new(&self.env.name, self.backend.kind(), String::new())))
    }

    /// A new environment's state is written once before the first journal, so the
    /// journal always has a snapshot to replay onto.
    pub fn ensure_saved(&self, st: &mut State) -> Result<()> {
        if st.lineage.is_empty() {
            st.lineage = uuid::Uuid::new_v4().to_string();
        }
        if !self.store.snapshot_path().exists() {
            self.store.save(st)?;
        }
        Ok(())
    }
}

/// Read and validate `DIR/chronous.toml`, printing its diagnostics; with
/// `inputs`, the files it names are looked at too (a missing backup is an
/// error at its line; the backup's sha256 goes into the environment).
fn read_env(
    dir: &Path,
    warn: bool,
    inputs: bool,
    json: bool,
) -> Result<(Environment, Diagnostics)> {
    let file = dir.join(ENV_FILE);
    let source = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(exit(
                EXIT_INVALID,
                format!("no environment file {}: run chronous in an environment folder, or pass --env DIR (see fixtures/seed)", file.display()),
            ))
        }
        Err(e) => return Err(exit(EXIT_INVALID, format!("cannot read {}: {e}", file.display()))),
    };
    let disk = DiskInputs::new(dir);
    let looked: &dyn Inputs = if inputs { &disk } else { &NoInputs };
    let loaded = env::load_with(&file.display().to_string(), &source, looked);
    let d = &loaded.diagnostics;
    if d.has_errors() || (warn && !d.items.is_empty()) {
        if json && loaded.env.is_none() {
            println!(
                "{}",
                serde_json::json!({"valid": false, "diagnostics": d.located()})
            );
        } else {
            eprint!("{}", d.render());
        }
    }
    let Some(env) = loaded.env else {
        if !json {
            eprintln!(
                "{} error(s) in {}: nothing was run or written.",
                d.errors(),
                file.display()
            );
        }
        return Err(exit_printed(EXIT_INVALID));
    };
    Ok((env, loaded.diagnostics))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}
