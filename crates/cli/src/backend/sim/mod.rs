//! The simulator as the CLI sees it ([`SimBackend`]): the `Provider` over the
//! simulated cloud, what its runtime does after an apply (the controller on
//! demand, the final sweep after a destroy), the push of `deploy --image` into
//! the local image store, `logs` and `ssh` on the real containers. The
//! controller process, `status` and the rollout watch are in the submodules.

pub mod controller;
pub mod rollout;
pub mod status;
pub mod tunnel;

use std::io::Write as _;
use std::process::Command;

use anyhow::{anyhow, Context as _, Result};
use chronous_core::state::State;
use chronous_sim::{Runtime, SimOptions, SimProvider};

use super::docker::Docker;
use super::Remote;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

/// The simulator: its options (`CHRONOUS_SIM_*`), read once per command.
pub struct SimBackend {
    opts: SimOptions,
}

impl Default for SimBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl SimBackend {
    pub fn new() -> SimBackend {
        SimBackend {
            opts: SimOptions::from_env(),
        }
    }

    /// Whether the simulator runs real containers (`Runtime::Docker`), not the model only.
    pub fn docker(&self) -> bool {
        self.opts.runtime == Runtime::Docker
    }

    /// The simulated cloud of the environment, as a `Provider`.
    pub fn open(&self, ctx: &Ctx) -> Result<SimProvider> {
        SimProvider::open(
            &ctx.dir,
            &ctx.state_dir(),
            &ctx.env.name,
            &ctx.env.region,
            self.opts.clone(),
        )
        .map_err(|e| anyhow!("{e}"))
    }

    /// After an apply or destroy on the simulator: keep the controller in step
    /// with the control plane; after a full destroy, stop it and sweep everything
    /// the environment's label names.
    pub fn after_apply(&self, ctx: &Ctx, st: &State) -> Result<()> {
        if !self.docker() {
            return Ok(());
        }
        // The database's firewall before the command returns: what was just
        // applied holds from now on (the tasks' rules are the controller's).
        let enforced = self.enforce_security_groups(ctx, st);
        if controller::needs_controller(st) {
            controller::ensure(ctx)?;
            return enforced;
        }
        enforced?;
        controller::shutdown(ctx)?;
        let rt = ctx.rt()?;
        if st.resources.is_empty() {
            let report = rt.block_on(async {
                let d = Docker::connect().await?;
                d.sweep(&ctx.env.name).await
            })?;
            if !ctx.json {
                println!(
                    "Removed what the simulator ran for `{}`: {} container(s), {} volume(s), {} network(s) labelled chronous.environment={}.",
                    ctx.env.name,
                    report.containers.len(),
                    report.volumes.len(),
                    report.networks.len(),
                    ctx.env.name
                );
            }
            if !report.failed.is_empty() {
                let what: Vec<String> = report
                    .failed
                    .iter()
                    .map(|(n, e)| format!("{n}: {e}"))
                    .collect();
                return Err(exit(
                    EXIT_FAILURE,
                    format!("could not remove everything: {}", what.join("; ")),
                ));
            }
        }
        Ok(())
    }

    /// The reachability engine's decisions on the applied specs (the
    /// state's records), kept for the controller; the database's rules loaded.
    fn enforce_security_groups(&self, ctx: &Ctx, st: &State) -> Result<()> {
        use chronous_core::reach::{recorded_resources, Facts, Network};
        use chronous_sim::firewall;
        let resources = recorded_resources(st);
        let net = Network::from_resources(&resources, &Facts::from_env(&ctx.env).with_state(st));
        let policy = firewall::policy(&net, &resources);
        let failed = |e: firewall::FirewallError| {
            exit(
                EXIT_FAILURE,
                format!("{e} (what was applied is kept: apply again once this is fixed)"),
            )
        };
        if st.resources.is_empty() {
            // Destroyed: nothing to protect (the sweep removes the containers).
            let _ = std::fs::remove_file(firewall::kept_path(&ctx.state_dir()));
            return firewall::write_policy(&ctx.state_dir(), &policy).map_err(failed);
        }
        ctx.rt()?.block_on(async {
            let d = Docker::connect().await?;
            firewall::enforce_applied(&d, &ctx.env.name, &ctx.state_dir(), &policy)
                .await
                .map_err(failed)
        })
    }

    /// Make `repo:tag` available as `target_repo:tag` where the service pulls from:
    /// in the simulator, the local image store (a `docker tag`, as a push to ECR).
    pub fn push(&self, ctx: &Ctx, repo: &str, tag: &str, target_repo: &str) -> Result<()> {
        if !self.docker() {
            return Ok(());
        }
        ctx.rt()?.block_on(async {
            let d = Docker::connect().await?;
            let source = format!("{repo}:{tag}");
            if !d.image_exists(&source).await? {
                return Err(exit(EXIT_FAILURE, format!("image {source} is not in the local Docker image store: build it, or `docker load` it")));
            }
            if repo != target_repo {
                d.tag_image(&source, target_repo, tag).await?;
                if !ctx.json {
                    println!("Pushed {source} as {target_repo}:{tag} (the simulator's ECR is the local image store).");
                }
            }
            Ok(())
        })
    }

    /// `chronous logs [-f] [--since]`: the task containers' output, one stream per task.
    pub fn logs(&self, ctx: &Ctx, follow: bool, since: Option<&str>) -> Result<u8> {
        if !self.docker() {
            return Err(exit(EXIT_FAILURE, "logs come from the simulator's real-container runtime (CloudWatch logs come with the aws backend)"));
        }
        let since = since.map(crate::cli::parse_since).transpose()?;
        let json = ctx.json;
        ctx.rt()?.block_on(async {
            use futures_util::StreamExt;
            let d = Docker::connect().await?;
            let mut cs = d.list(&ctx.env.name, Some("task")).await?;
            cs.sort_by(|a, b| a.labels.get("chronous.started-at").cmp(&b.labels.get("chronous.started-at")));
            if cs.is_empty() {
                eprintln!("no task has run yet in `{}`", ctx.env.name);
            }
            let mut streams = Vec::new();
            for c in &cs {
                let name = c.labels.get("chronous.log-stream").cloned().unwrap_or_else(|| c.name.clone());
                let group = c.labels.get("chronous.log-group").cloned().unwrap_or_default();
                let s = d.logs(&c.id, since, follow && c.running).map(move |l| (group.clone(), name.clone(), l));
                streams.push(Box::pin(s));
            }
            let mut all = futures_util::stream::select_all(streams);
            let mut out = std::io::stdout().lock();
            while let Some((group, stream, line)) = all.next().await {
                let line = line?;
                if json {
                    writeln!(out, "{}", serde_json::json!({"log_group": group, "log_stream": stream, "message": line.text}))?;
                } else {
                    writeln!(out, "{stream} {}", line.text)?;
                }
            }
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(0)
    }

    /// `chronous ssh [-- CMD...]`: a shell on the private side, through the
    /// simulated bastion, or one command there (its exit code).
    pub fn ssh(&self, ctx: &Ctx, instance: Option<&str>, command: &[String]) -> Result<u8> {
        self.needs_bastion()?;
        let id = tunnel::bastion(ctx)?;
        if let Some(i) = instance {
            eprintln!("note: container instances are modelled in the simulator; {i} has no shell of its own. This runs on the bastion, on the environment's private network: the tasks and the database are reachable from here.");
        }
        if !command.is_empty() {
            return tunnel::run_command(&id, command);
        }
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
        let mut cmd = Command::new("docker");
        cmd.arg("exec");
        if interactive {
            cmd.arg("-it");
        } else {
            cmd.arg("-i");
        }
        cmd.arg(&id).arg("bash");
        let status = cmd
            .status()
            .context("cannot run `docker exec` (is the docker command installed?)")?;
        Ok(status.code().unwrap_or(1) as u8)
    }

    /// `chronous tunnel`: `remote` reached through the bastion's container.
    pub fn tunnel(&self, ctx: &Ctx, remote: &Remote, port: u16) -> Result<tunnel::Relay> {
        self.needs_bastion()?;
        let id = tunnel::bastion(ctx)?;
        tunnel::probe(ctx, &id, remote)?;
        tunnel::open(&id, remote, port, ctx.json)
    }

    /// A task of the service as the bastion reaches it (`tunnel TASK[:PORT]`).
    pub fn task_target(&self, ctx: &Ctx, target: &str, port: Option<u16>) -> Result<Remote> {
        self.needs_bastion()?;
        Ok(Remote {
            host: tunnel::task_host(ctx, target)?,
            port: port.unwrap_or(ctx.env.service.container_port),
        })
    }

    fn needs_bastion(&self) -> Result<()> {
        if self.docker() {
            return Ok(());
        }
        Err(exit(EXIT_FAILURE, "the model runtime runs no bastion: use the docker runtime (unset CHRONOUS_SIM_RUNTIME)"))
    }
}
