//! Subcommands. Low-level arguments ([`Cli`]) become a [`Ctx`] (the loaded,
//! validated environment and its folders), then each command runs on it.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use chronous_core::engine::{self, ApplyConfig, Event, Outcome};
use chronous_core::env::{self, Backend, Environment};
use chronous_core::plan::{self, Plan, PlanOptions};
use chronous_core::resources;
use chronous_core::state::{self, JournalEntry, State};
use chronous_sim::{SimOptions, SimProvider};
use chronous_store::{Holder, Lock, StateStore, StoreError};
use clap::{Args, Parser, Subcommand};

use crate::ui::{self, exit, exit_printed, EXIT_CHANGES, EXIT_FAILURE, EXIT_INVALID, EXIT_LOCKED};

pub const ENV_FILE: &str = "chronous.toml";
pub const STATE_DIR: &str = ".chronous";

#[derive(Parser, Debug)]
#[command(
    name = "chronous",
    version,
    about = "Stand up, rehearse and deploy the chronous payments topology (ECS on EC2, classic ELB, RDS from XtraBackup)."
)]
pub struct Cli {
    /// The environment folder (holding chronous.toml); default: the current folder.
    #[arg(long, global = true, value_name = "DIR")]
    pub env: Option<PathBuf>,
    /// sim (offline rehearsal, the default) or aws; overrides environment.backend.
    #[arg(long, global = true, value_name = "BACKEND")]
    pub backend: Option<Backend>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Another AWS endpoint for every service (moto, LocalStack); also AWS_ENDPOINT_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check the environment file and report every problem with its place.
    Validate,
    /// Show what apply would do (refreshes first).
    Plan(PlanArgs),
    /// Apply a saved plan, or plan and apply after approval.
    Apply(ApplyArgs),
    /// Destroy everything the environment manages.
    Destroy(DestroyArgs),
    /// Mark an object for replacement by the next apply (Terraform's taint).
    Replace {
        /// The address, e.g. aws_launch_template.container_instances.
        address: String,
    },
    /// Read the recorded state.
    #[command(subcommand)]
    State(StateCmd),
    /// Print the environment's outputs (ELB DNS name, bastion IP, RDS endpoint, AZs).
    Output {
        /// One output only.
        name: Option<String>,
    },
    /// Release a lock left by a command that is gone.
    ForceUnlock {
        /// The lock id, as the lock message gives it.
        id: String,
    },
    /// Act on the simulated cloud directly.
    #[command(subcommand)]
    Sim(SimCmd),
    /// Show every resource with its live state (tasks and their health, ELB, database).
    Status {
        /// Wait until the service runs its desired count, healthy behind the load balancer.
        #[arg(long)]
        wait_healthy: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Print the service's logs (the log group's streams: one per task).
    Logs {
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// Only lines newer than this (e.g. 10m, 1h, 30s).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
    },
    /// Open a shell on the private side through the bastion.
    Ssh {
        /// A container instance to reach (default: the bastion itself).
        instance: Option<String>,
    },
    /// Deploy a new image: a new task-definition revision and a rolling update of the service.
    Deploy(DeployArgs),
    /// Rehearse a change in the simulator and say what it will do.
    #[command(subcommand)]
    Rehearse(RehearseCmd),
    /// Run the environment's controller in the foreground (the CLI starts it on demand).
    #[command(hide = true)]
    Controller,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Save the plan to FILE for `chronous apply FILE`.
    #[arg(long = "out", short = 'o', value_name = "FILE", alias = "-out")]
    pub out: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan the destruction of everything.
    #[arg(long)]
    pub destroy: bool,
    /// Replace this address even if nothing changed (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub replace: Vec<String>,
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`.
    pub plan_file: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many steps may run at once.
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    /// Replace this address even if nothing changed (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub replace: Vec<String>,
    /// On AWS, do not wait for the ECS service's rollout after changing it.
    #[arg(long)]
    pub no_wait: bool,
    /// On AWS, give up waiting for the service's rollout after this many seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub rollout_timeout: u64,
}

#[derive(Args, Debug)]
pub struct DestroyArgs {
    /// Destroy without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Required to destroy an environment marked `production = true`.
    #[arg(long)]
    pub allow_production: bool,
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The image, as REPOSITORY:TAG, from the local Docker image store (on AWS,
    /// pushed to the environment's ECR repository first).
    #[arg(long, value_name = "REPO:TAG")]
    pub image: String,
    /// Deploy without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Give up watching the rollout after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
}

#[derive(Subcommand, Debug)]
pub enum RehearseCmd {
    /// Rehearse a deployment: a timeline, the predicted downtime, settings that avoid it.
    Deploy(RehearseArgs),
}

#[derive(Args, Debug)]
pub struct RehearseArgs {
    /// The image to deploy (default: the current one, a forced new deployment).
    #[arg(long, value_name = "REPO:TAG")]
    pub image: Option<String>,
    /// `model` (virtual clock, seconds for hours) or `docker` (a real rollout of
    /// the running simulated environment under load, measured next to the model).
    #[arg(long, default_value = "model")]
    pub runtime: String,
    /// Seed of every random choice (default: drawn and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults to inject: crash@90s, failing-health@60s+300s, instance-lost@2m,
    /// bad-image, unhealthy-image, slow-start=4 (repeatable).
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
    /// Also write the timeline as an SVG picture.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Requests per second of the load during a docker rehearsal.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum StateCmd {
    /// List the recorded addresses.
    List,
    /// Show one recorded object.
    Show { address: String },
}

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Change an object in the simulated cloud behind chronous's back, as the AWS console would.
    ConsoleSet {
        address: String,
        attribute: String,
        /// The new value, as JSON (a bare word is taken as a string).
        value: String,
    },
    /// Delete an object from the simulated cloud behind chronous's back.
    ConsoleDelete { address: String },
    /// List the objects of the simulated cloud.
    Objects,
}

/// The environment a command acts on.
struct Ctx {
    endpoint: Option<String>,
    dir: PathBuf,
    env: Environment,
    backend: Backend,
    store: StateStore,
    json: bool,
}

impl Ctx {
    fn state_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }
    pub fn view(&self) -> crate::runtime::EnvView<'_> {
        crate::runtime::EnvView {
            dir: &self.dir,
            state_dir: self.state_dir(),
            env: &self.env,
            backend: self.backend,
            json: self.json,
        }
    }
}

fn load_env(cli: &Cli) -> Result<Ctx> {
    let dir = match &cli.env {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
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
    let loaded = env::load(&file.display().to_string(), &source);
    let d = &loaded.diagnostics;
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
    if d.has_errors() || (warn && !d.items.is_empty()) {
        if cli.json && loaded.env.is_none() {
            println!(
                "{}",
                serde_json::json!({"valid": false, "diagnostics": d.located()})
            );
        } else {
            eprint!("{}", d.render());
        }
    }
    let Some(env) = loaded.env else {
        if !cli.json {
            eprintln!(
                "{} error(s) in {}: nothing was run or written.",
                d.errors(),
                file.display()
            );
        }
        return Err(exit_printed(EXIT_INVALID));
    };
    let backend = cli.backend.or(env.backend).unwrap_or(Backend::Sim);
    let store = StateStore::new(&dir.join(STATE_DIR));
    Ok(Ctx {
        endpoint: cli.endpoint.clone(),
        dir,
        env,
        backend,
        store,
        json: cli.json,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

fn lock(ctx: &Ctx, command: &str) -> Result<Lock> {
    let holder = Holder {
        id: uuid::Uuid::new_v4().to_string(),
        pid: std::process::id(),
        host: hostname(),
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command: command.to_string(),
    };
    match Lock::acquire(&ctx.state_dir(), holder) {
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
                ctx.env.name, h.id
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

fn load_state(ctx: &Ctx) -> Result<State> {
    let s = ctx.store.load()?;
    let s = match s {
        Some(s) => s,
        // The lineage is given when the state is first written, so a plan of a
        // new environment still applies (see `ensure_saved`).
        None => State::new(&ctx.env.name, ctx.backend, String::new()),
    };
    s.check(&ctx.env.name, ctx.backend)?;
    Ok(s)
}

/// The backend chosen for this run. Core drives it through the one
/// `Provider` trait; this enum only dispatches.
enum Backends {
    Sim(SimProvider),
    Aws(chronous_aws::AwsProvider),
}

impl chronous_core::provider::Provider for Backends {
    async fn read(
        &self,
        r: &chronous_core::state::ResourceRecord,
    ) -> Result<Option<chronous_core::provider::Observed>, chronous_core::provider::ProviderError>
    {
        match self {
            Backends::Sim(p) => p.read(r).await,
            Backends::Aws(p) => p.read(r).await,
        }
    }
    async fn create(
        &self,
        req: chronous_core::provider::CreateRequest<'_>,
    ) -> Result<chronous_core::provider::Observed, chronous_core::provider::ProviderError> {
        match self {
            Backends::Sim(p) => p.create(req).await,
            Backends::Aws(p) => p.create(req).await,
        }
    }
    async fn update(
        &self,
        r: &chronous_core::state::ResourceRecord,
        spec: &chronous_core::resources::Spec,
    ) -> Result<chronous_core::provider::Observed, chronous_core::provider::ProviderError> {
        match self {
            Backends::Sim(p) => p.update(r, spec).await,
            Backends::Aws(p) => p.update(r, spec).await,
        }
    }
    async fn delete(
        &self,
        r: &chronous_core::state::ResourceRecord,
    ) -> Result<(), chronous_core::provider::ProviderError> {
        match self {
            Backends::Sim(p) => p.delete(r).await,
            Backends::Aws(p) => p.delete(r).await,
        }
    }
}

impl Backends {
    fn compact(&self) -> Result<()> {
        match self {
            Backends::Sim(p) => p.compact().map_err(|e| anyhow::anyhow!("{e}")),
            Backends::Aws(_) => Ok(()),
        }
    }
}

fn provider(ctx: &Ctx) -> Result<Backends> {
    match ctx.backend {
        Backend::Sim => Ok(Backends::Sim(
            SimProvider::open(
                &ctx.dir,
                &ctx.state_dir(),
                &ctx.env.name,
                &ctx.env.region,
                SimOptions::from_env(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        Backend::Aws => {
            let mut opts = chronous_aws::AwsOptions::new(&ctx.env.region, &ctx.env.name, &ctx.dir);
            if let Some(e) = &ctx.endpoint {
                opts.endpoint = Some(e.clone());
            }
            if !ctx.json {
                opts.progress = Some(std::sync::Arc::new(|line: &str| eprintln!("{line}")));
            }
            let p = runtime()?
                .block_on(chronous_aws::AwsProvider::connect(opts))
                .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
            Ok(Backends::Aws(p))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cli: Cli) -> Result<u8> {
    match &cli.cmd {
        Cmd::Validate => {
            let ctx = load_env(&cli)?;
            let n = resources::expand(&ctx.env).len();
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"valid": true, "environment": ctx.env.name, "resources": n})
                );
            } else {
                println!(
                    "{}: valid. Environment `{}` expands to {n} resources.",
                    ctx.dir.join(ENV_FILE).display(),
                    ctx.env.name
                );
            }
            Ok(0)
        }
        Cmd::Plan(a) => {
            let ctx = load_env(&cli)?;
            let _lock = lock(&ctx, "chronous plan")?;
            let recorded = load_state(&ctx)?;
            let p = backend_plan(&ctx, &recorded, a.destroy, &a.replace, a.parallelism)?;
            show_plan(&ctx, &p);
            if let Some(out) = &a.out {
                chronous_store::atomic_write(out, &serde_json::to_vec_pretty(&p)?)?;
                if !ctx.json {
                    println!(
                        "\nSaved the plan to {}. Apply exactly this plan with: chronous apply {}",
                        out.display(),
                        out.display()
                    );
                }
            }
            Ok(if a.detailed_exitcode && p.has_changes() {
                EXIT_CHANGES
            } else {
                0
            })
        }
        Cmd::Apply(a) => {
            let ctx = load_env(&cli)?;
            let _lock = lock(&ctx, "chronous apply")?;
            let recorded = load_state(&ctx)?;
            let p = match &a.plan_file {
                Some(f) => {
                    let bytes = std::fs::read(f)
                        .with_context(|| format!("cannot read the plan file {}", f.display()))?;
                    let p: Plan = serde_json::from_slice(&bytes)
                        .with_context(|| format!("{} is not a chronous plan", f.display()))?;
                    if p.environment != ctx.env.name {
                        bail!(
                            "the plan {} is for environment `{}`, not `{}`",
                            f.display(),
                            p.environment,
                            ctx.env.name
                        );
                    }
                    engine::check_plan(&p, &recorded)?;
                    p
                }
                None => {
                    let p = backend_plan(&ctx, &recorded, false, &a.replace, a.parallelism)?;
                    show_plan(&ctx, &p);
                    if p.has_changes() && !a.auto_approve {
                        approve(&ctx, "Do you want to perform these actions?")?;
                    }
                    p
                }
            };
            let code = apply_plan(&ctx, recorded, &p, a.parallelism)?;
            if ctx.backend == Backend::Aws && !a.no_wait && crate::aws_rollout::touches_service(&p)
            {
                return crate::aws_rollout::wait(
                    &ctx.view(),
                    ctx.endpoint.as_deref(),
                    a.rollout_timeout,
                );
            }
            Ok(code)
        }
        Cmd::Destroy(a) => {
            let ctx = load_env(&cli)?;
            if ctx.env.production && !a.allow_production {
                return Err(exit(
                    EXIT_FAILURE,
                    format!(
                        "environment `{}` is marked production: chronous will not destroy it. Change it with a blue/green deployment instead; if you really mean to destroy it, pass --allow-production",
                        ctx.env.name
                    ),
                ));
            }
            let _lock = lock(&ctx, "chronous destroy")?;
            let recorded = load_state(&ctx)?;
            let p = backend_plan(&ctx, &recorded, true, &[], a.parallelism)?;
            show_plan(&ctx, &p);
            if p.has_changes() && !a.auto_approve {
                approve(
                    &ctx,
                    &format!(
                        "Do you really want to destroy every object of `{}`?",
                        ctx.env.name
                    ),
                )?;
            }
            apply_plan(&ctx, recorded, &p, a.parallelism)
        }
        Cmd::Replace { address } => {
            let ctx = load_env(&cli)?;
            let _lock = lock(&ctx, "chronous replace")?;
            let mut st = load_state(&ctx)?;
            if !st.resources.contains_key(address) {
                return Err(exit(EXIT_FAILURE, format!("no object `{address}` in the state; `chronous state list` shows the addresses")));
            }
            ensure_saved(&ctx, &mut st)?;
            let e = JournalEntry::Taint {
                address: address.clone(),
            };
            let mut j = ctx.store.journal(&st)?;
            engine::Journal::commit(&mut j, std::slice::from_ref(&e))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            st.apply_entry(&e);
            st.serial += 1;
            ctx.store.save(&st)?;
            if ctx.json {
                println!("{}", serde_json::json!({"marked_for_replacement": address}));
            } else {
                println!(
                    "{address} is marked for replacement: the next plan and apply replace it."
                );
            }
            Ok(0)
        }
        Cmd::State(s) => {
            let ctx = load_env(&cli)?;
            let st = load_state(&ctx)?;
            match s {
                StateCmd::List => {
                    if ctx.json {
                        let v: Vec<_> = st.resources.values().map(|r| serde_json::json!({"address": r.address, "id": r.id, "tainted": r.tainted})).collect();
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        for r in st.resources.values() {
                            println!("{}{}", r.address, if r.tainted { " (tainted)" } else { "" });
                        }
                        for k in st.deposed.keys() {
                            println!("{k}");
                        }
                    }
                }
                StateCmd::Show { address } => {
                    let r = st
                        .resources
                        .get(address)
                        .or_else(|| st.deposed.get(address))
                        .ok_or_else(|| exit(EXIT_FAILURE, format!("no object `{address}` in the state; `chronous state list` shows the addresses")))?;
                    if ctx.json {
                        println!("{}", serde_json::to_string_pretty(r)?);
                    } else {
                        println!(
                            "# {}{}",
                            r.address,
                            if r.tainted { " (tainted)" } else { "" }
                        );
                        println!("id = {}", r.id);
                        if let Some(o) = r.attrs.as_object() {
                            for (k, v) in o {
                                println!("{k} = {v}");
                            }
                        }
                        for (k, v) in &r.outputs {
                            println!("{k} = {v}  (computed)");
                        }
                    }
                }
            }
            Ok(0)
        }
        Cmd::Output { name } => {
            let ctx = load_env(&cli)?;
            let st = load_state(&ctx)?;
            let outs = state::outputs(&st, &ctx.env.network.azs);
            match name {
                Some(n) => {
                    let v = outs.get(n).ok_or_else(|| {
                        exit(
                            EXIT_FAILURE,
                            format!(
                                "no output `{n}`; the outputs are: {}",
                                outs.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })?;
                    match (ctx.json, v) {
                        (false, serde_json::Value::String(s)) => println!("{s}"),
                        _ => println!("{v}"),
                    }
                }
                None if ctx.json => println!("{}", serde_json::to_string_pretty(&outs)?),
                None => {
                    if st.resources.is_empty() {
                        eprintln!("warning: nothing is deployed yet: run `chronous apply` first");
                    }
                    for (k, v) in &outs {
                        println!("{k} = {v}");
                    }
                }
            }
            Ok(0)
        }
        Cmd::ForceUnlock { id } => {
            let ctx = load_env(&cli)?;
            match Lock::force_unlock(&ctx.state_dir(), id) {
                Ok(h) => {
                    println!("Released the lock of {h}.");
                    Ok(0)
                }
                Err(e) => Err(exit(EXIT_FAILURE, e.to_string())),
            }
        }
        Cmd::Status {
            wait_healthy,
            timeout,
        } => {
            let ctx = load_env(&cli)?;
            if ctx.backend == Backend::Aws {
                let endpoint = ctx.endpoint.as_deref();
                if *wait_healthy {
                    // On AWS "healthy" is ECS's: the primary deployment COMPLETED,
                    // the desired count running, every ELB instance InService.
                    crate::aws_rollout::wait(&ctx.view(), endpoint, *timeout)?;
                }
                let svc = crate::aws_rollout::observe(&ctx.view(), endpoint)?;
                return crate::runtime::status(&ctx.view(), false, *timeout, svc.as_ref());
            }
            crate::runtime::status(&ctx.view(), *wait_healthy, *timeout, None)
        }
        Cmd::Logs { follow, since } => {
            let ctx = load_env(&cli)?;
            crate::runtime::logs(
                &ctx.view(),
                *follow,
                since.as_deref(),
                ctx.endpoint.as_deref(),
            )
        }
        Cmd::Ssh { instance } => {
            let ctx = load_env(&cli)?;
            crate::runtime::ssh(&ctx.view(), instance.as_deref())
        }
        Cmd::Deploy(a) => deploy(&cli, a),
        Cmd::Rehearse(RehearseCmd::Deploy(a)) => rehearse(&cli, a),
        Cmd::Controller => {
            let ctx = load_env(&cli)?;
            crate::runtime::controller(&ctx.view())
        }
        Cmd::Sim(s) => {
            let ctx = load_env(&cli)?;
            let Backends::Sim(p) = provider(&Ctx {
                backend: Backend::Sim,
                ..ctx
            })?
            else {
                return Err(exit(EXIT_FAILURE, "the sim console acts on the simulator"));
            };
            match s {
                SimCmd::ConsoleSet {
                    address,
                    attribute,
                    value,
                } => {
                    let v: serde_json::Value = serde_json::from_str(value)
                        .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
                    let id = p
                        .with_cloud(|c| c.console_set(address, attribute, v))
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("Changed {attribute} of {address} ({id}) in the simulated cloud.");
                }
                SimCmd::ConsoleDelete { address } => {
                    let ids = p
                        .with_cloud(|c| c.console_delete(address))
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!(
                        "Deleted {address} ({}) from the simulated cloud.",
                        ids.join(", ")
                    );
                }
                SimCmd::Objects => {
                    let mut objs: Vec<_> = p.with_cloud(|c| {
                        c.objects()
                            .map(|o| (o.address.clone(), o.id.clone(), o.kind))
                            .collect()
                    });
                    objs.sort();
                    if cli.json {
                        let v: Vec<_> = objs
                            .iter()
                            .map(|(a, i, k)| serde_json::json!({"address": a, "id": i, "kind": k}))
                            .collect();
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        for (a, i, _) in objs {
                            println!("{a}\t{i}");
                        }
                    }
                }
            }
            p.compact().map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(0)
        }
    }
}

/// `chronous deploy --image REPO:TAG`: push the image (the simulator's ECR is
/// the local image store), set the tag in the environment file (the file stays
/// the truth), plan and apply the new revision, then watch the rollout.
fn deploy(cli: &Cli, a: &DeployArgs) -> Result<u8> {
    let ctx = load_env(cli)?;
    let Some((repo, tag)) = a
        .image
        .rsplit_once(':')
        .filter(|(r, t)| !r.is_empty() && !t.is_empty() && !t.contains('/'))
    else {
        return Err(exit(
            crate::ui::EXIT_USAGE,
            format!("--image {}: give the image as REPOSITORY:TAG", a.image),
        ));
    };
    let key = ctx.env.service.image.clone();
    let target_repo = ctx
        .env
        .image(&key)
        .map(|i| i.repository.clone())
        .unwrap_or_default();
    if ctx.backend == Backend::Aws {
        crate::aws_push::push(
            &ctx.view(),
            ctx.endpoint.as_deref(),
            repo,
            tag,
            &target_repo,
        )?;
    } else {
        crate::runtime::push_image(&ctx.view(), repo, tag, &target_repo)?;
    }
    let file = ctx.dir.join(ENV_FILE);
    let text = std::fs::read_to_string(&file)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} does not parse", file.display()))?;
    let current = doc["images"][&key]["tag"].as_str().map(str::to_string);
    if current.as_deref() != Some(tag) {
        doc["images"][&key]["tag"] = toml_edit::value(tag);
        let tmp = file.with_extension("toml.tmp");
        std::fs::write(&tmp, doc.to_string())?;
        std::fs::set_permissions(&tmp, std::fs::metadata(&file)?.permissions())?;
        std::fs::rename(&tmp, &file)?;
        if !ctx.json {
            println!(
                "{}: images.{key}.tag = \"{tag}\" (was {})",
                file.display(),
                current.unwrap_or_else(|| "unset".into())
            );
        }
    }
    let ctx = load_env(cli)?;
    let lock_guard = lock(&ctx, "chronous deploy")?;
    let recorded = load_state(&ctx)?;
    let p = backend_plan(&ctx, &recorded, false, &[], a.parallelism)?;
    show_plan(&ctx, &p);
    if p.has_changes() && !a.auto_approve {
        approve(&ctx, &format!("Deploy {repo}:{tag} to `{}`?", ctx.env.name))?;
    }
    apply_plan(&ctx, recorded, &p, a.parallelism)?;
    drop(lock_guard);
    if ctx.backend == Backend::Aws {
        return crate::aws_rollout::wait(&ctx.view(), ctx.endpoint.as_deref(), a.timeout);
    }
    let st = load_state(&ctx)?;
    let revision = st
        .resources
        .values()
        .find(|r| r.kind == chronous_core::resources::Kind::EcsTaskDefinition)
        .map(|r| r.id.clone());
    crate::runtime::watch_rollout(&ctx.view(), a.timeout, revision.as_deref())
}

/// `chronous rehearse deploy`.
fn rehearse(cli: &Cli, a: &RehearseArgs) -> Result<u8> {
    use chronous_rehearse::rehearse::{rehearse_deploy, FaultSpec, RehearseInput};
    let ctx = load_env(cli)?;
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        t % 1_000_000_007
    });
    let mut input = RehearseInput::from_environment(&ctx.env, a.image.as_deref());
    input.seed = seed;
    for f in &a.faults {
        input.faults.push(
            f.parse::<FaultSpec>()
                .map_err(|e| exit(crate::ui::EXIT_USAGE, e.to_string()))?,
        );
    }
    let predicted = rehearse_deploy(&input)
        .map_err(|e| anyhow::anyhow!("the rehearsal failed: {e} (reproduce with --seed {seed})"))?;
    if let Some(svg) = &a.svg {
        std::fs::write(svg, predicted.render_svg())
            .with_context(|| format!("cannot write {}", svg.display()))?;
    }
    match a.runtime.as_str() {
        "model" => {
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&predicted)?);
            } else {
                print!("{}", predicted.render_text());
                println!("(reproduce with --seed {seed})");
                if let Some(svg) = &a.svg {
                    println!("timeline picture: {}", svg.display());
                }
            }
            Ok(0)
        }
        "docker" => {
            if !a.faults.is_empty() {
                return Err(exit(crate::ui::EXIT_USAGE, "faults are injected in the model runtime; in the docker runtime, use docker kill / docker pause on the task containers"));
            }
            if !ctx.json {
                print!("{}", predicted.render_text());
                println!("\nNow the same deployment for real, under load ({} requests/s through the load balancer):\n", a.rate);
            }
            crate::runtime::rehearse_docker(cli, &ctx.view(), a, &predicted)
        }
        other => Err(exit(
            crate::ui::EXIT_USAGE,
            format!("--runtime {other}: use model or docker"),
        )),
    }
}

/// The deployment of a rehearsal under load: with `--image`, as `deploy`;
/// without, a forced new deployment (the task definition is replaced).
pub fn rehearse_rollout(cli: &Cli, image: Option<&str>, timeout: u64) -> Result<u8> {
    match image {
        Some(i) => deploy(
            cli,
            &DeployArgs {
                image: i.to_string(),
                auto_approve: true,
                timeout,
                parallelism: 10,
            },
        ),
        None => {
            let ctx = load_env(cli)?;
            {
                let _lock = lock(&ctx, "chronous rehearse deploy")?;
                let recorded = load_state(&ctx)?;
                let td = recorded
                    .resources
                    .values()
                    .find(|r| r.kind == chronous_core::resources::Kind::EcsTaskDefinition)
                    .map(|r| r.address.clone())
                    .ok_or_else(|| {
                        exit(
                            EXIT_FAILURE,
                            "nothing is deployed: apply the environment first",
                        )
                    })?;
                let p = backend_plan(&ctx, &recorded, false, &[td], 10)?;
                if !ctx.json {
                    print!("{}", p.render());
                }
                apply_plan(&ctx, recorded, &p, 10)?;
            }
            let st = load_state(&ctx)?;
            let revision = st
                .resources
                .values()
                .find(|r| r.kind == chronous_core::resources::Kind::EcsTaskDefinition)
                .map(|r| r.id.clone());
            crate::runtime::watch_rollout(&ctx.view(), timeout, revision.as_deref())
        }
    }
}

fn backend_plan(
    ctx: &Ctx,
    recorded: &State,
    destroy: bool,
    replace: &[String],
    parallelism: usize,
) -> Result<Plan> {
    let rt = runtime()?;
    let p = provider(ctx)?;
    if !ctx.json && !recorded.is_empty() {
        eprintln!(
            "Refreshing {} recorded objects...",
            recorded.resources.len() + recorded.deposed.len()
        );
    }
    let (refreshed, errors) = rt.block_on(engine::refresh(recorded, &p, parallelism));
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|(a, e)| format!("  {a}: {e}")).collect();
        bail!(
            "could not refresh {} object(s):\n{}",
            errors.len(),
            lines.join("\n")
        );
    }
    let opts = PlanOptions {
        destroy,
        replace: replace.iter().cloned().collect::<BTreeSet<_>>(),
    };
    let desired = resources::expand(&ctx.env);
    Ok(plan::plan(desired, recorded, &refreshed, &opts)?)
}

fn show_plan(ctx: &Ctx, p: &Plan) {
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(p).expect("plans serialize")
        );
    } else {
        print!("{}", p.render());
    }
}

fn approve(ctx: &Ctx, question: &str) -> Result<()> {
    if ctx.json || !std::io::stdin().is_terminal() {
        return Err(exit(EXIT_FAILURE, "approval is needed but there is no terminal to ask on: review the plan, then pass --auto-approve (or apply a saved plan file)"));
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        return Err(exit(EXIT_FAILURE, "cancelled: nothing was changed"));
    }
    Ok(())
}

/// A new environment's state is written once before the first journal, so the
/// journal always has a snapshot to replay onto.
fn ensure_saved(ctx: &Ctx, st: &mut State) -> Result<()> {
    if st.lineage.is_empty() {
        st.lineage = uuid::Uuid::new_v4().to_string();
    }
    if !ctx.store.snapshot_path().exists() {
        ctx.store.save(st)?;
    }
    Ok(())
}

fn apply_plan(ctx: &Ctx, mut st: State, p: &Plan, parallelism: usize) -> Result<u8> {
    if !p.has_changes() {
        if !ctx.json {
            println!("\nNothing to do.");
        }
        return Ok(0);
    }
    ensure_saved(ctx, &mut st)?;
    let rt = runtime()?;
    let provider = provider(ctx)?;
    let mut journal = ctx.store.journal(&st)?;
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c.store(true, Ordering::SeqCst);
            }
        });
    }
    let started = Instant::now();
    let mut starts: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    let json = ctx.json;
    let mut on_event = |e: Event<'_>| match e {
        Event::Started { address, op } => {
            starts.insert(format!("{address}{op:?}"), Instant::now());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "started", "address": address, "op": op})
                );
            } else {
                println!("{address}: {}", ui::past_tense(op).0);
            }
        }
        Event::Finished { address, op, id } => {
            let took = starts
                .get(&format!("{address}{op:?}"))
                .map(|t| t.elapsed().as_secs_f64())
                .unwrap_or(0.0);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "finished", "address": address, "op": op, "id": id, "seconds": took})
                );
            } else {
                let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
                println!("{address}: {} after {took:.2}s{id}", ui::past_tense(op).1);
            }
        }
        Event::Failed { address, op, error } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "failed", "address": address, "op": op, "error": error.message, "hint": error.hint})
                );
            } else {
                eprintln!("{address}: {:?} failed: {}", op, error.message);
                if let Some(h) = &error.hint {
                    eprintln!("  hint: {h}");
                }
            }
        }
    };
    let config = ApplyConfig {
        parallelism,
        cancel: Some(&cancel),
    };
    let outcome: Outcome = rt.block_on(engine::apply(
        p,
        &mut st,
        &provider,
        &mut journal,
        &config,
        &mut on_event,
    ))?;
    drop(journal);
    // Compact: the journal is folded into a new snapshot.
    ctx.store.save(&st)?;
    provider.compact()?;
    crate::runtime::after_apply(&ctx.view(), &st)?;
    let secs = started.elapsed().as_secs_f64();
    let (add, change, destroy, replace) = p.counts();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "summary", "ok": outcome.ok(), "completed": outcome.completed, "failed": outcome.failed.len(),
                "not_started": outcome.not_started, "interrupted": outcome.interrupted, "seconds": secs, "serial": st.serial,
            })
        );
    }
    if let Some(e) = &outcome.journal_error {
        return Err(exit(EXIT_FAILURE, format!("{e}. Steps that completed after the last recorded one are adopted by the next apply.")));
    }
    if !outcome.ok() {
        if !ctx.json {
            let why = if outcome.interrupted {
                "interrupted"
            } else {
                "failed"
            };
            eprintln!(
                "\nApply {why}: {} step(s) completed and recorded, {} failed, {} not started. Run `chronous apply` again to continue from here.",
                outcome.completed,
                outcome.failed.len(),
                outcome.not_started
            );
        }
        return Err(exit_printed(EXIT_FAILURE));
    }
    if !ctx.json {
        if p.destroy {
            println!(
                "\nDestroy complete! Resources: {} destroyed in {secs:.2}s.",
                destroy
            );
        } else {
            println!("\nApply complete! Resources: {} added, {change} changed, {} destroyed in {secs:.2}s.", add + replace, destroy + replace);
            let outs = state::outputs(&st, &ctx.env.network.azs);
            println!("\nOutputs:\n");
            for (k, v) in outs {
                println!("{k} = {v}");
            }
        }
    }
    let _ = Path::new(".");
    Ok(0)
}
