//! The backend value ([`Backend`]): everything a command does differently on
//! the simulator and on AWS, behind one enum whose methods dispatch with an
//! exhaustive `match`: the `Provider` that plan and apply drive, what follows
//! an apply, the wait for a rollout, the push of `deploy --image`, what
//! `status` observes, `logs`, `ssh`, `tunnel` and the controller. Each arm calls its
//! backend's module: [`sim`] (the simulated cloud and its containers) or
//! [`aws`] (the SDK).

pub mod aws;
pub mod sim;

use std::path::Path;

use anyhow::{anyhow, Result};
use chronous_core::env::{self, Environment};
use chronous_core::plan::{Plan, Target};
use chronous_core::provider::{CreateRequest, Observed, ProviderError};
use chronous_core::resources::Spec;
use chronous_core::state::{ResourceRecord, State};
use chronous_sim::SimProvider;

// The Docker wrapper: the simulator's containers, and the push of
// `deploy --image` on AWS. Named here only.
use chronous_docker as docker;

use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

pub use aws::AwsBackend;
pub use sim::SimBackend;

/// The backend of one command.
pub enum Backend {
    Sim(SimBackend),
    Aws(Box<AwsBackend>),
}

/// What `status` shows besides the recorded state.
#[derive(Default)]
pub struct LiveStatus {
    /// The simulator's controller: load balancer, service, tasks, events.
    pub runtime: Option<chronous_sim::controller::Status>,
    /// The simulator's database container (`null` when there is none to show).
    pub database: serde_json::Value,
    /// On AWS, the ECS service as AWS describes it.
    pub service: Option<aws::rollout::ServiceView>,
}

impl Backend {
    /// The backend `kind` names, for the environment `env` in `dir`;
    /// `endpoint` is `--endpoint`.
    pub fn new(
        kind: env::Backend,
        env: &Environment,
        dir: &Path,
        endpoint: Option<&str>,
        json: bool,
    ) -> Backend {
        match kind {
            env::Backend::Sim => Backend::Sim(SimBackend::new()),
            env::Backend::Aws => Backend::Aws(Box::new(AwsBackend::new(env, dir, endpoint, json))),
        }
    }

    /// Which backend this is, as the state and `status` record it.
    pub fn kind(&self) -> env::Backend {
        match self {
            Backend::Sim(_) => env::Backend::Sim,
            Backend::Aws(_) => env::Backend::Aws,
        }
    }

    /// The `Provider` plan and apply drive.
    pub fn provider(&self, ctx: &Ctx) -> Result<Provider<'_>> {
        match self {
            Backend::Sim(s) => Ok(Provider::Sim(Box::new(s.open(ctx)?))),
            Backend::Aws(a) => Ok(Provider::Aws(a.provider(ctx)?)),
        }
    }

    /// The account and region a plan acts on: on AWS, who the credentials
    /// belong to; the simulator has no account to name.
    pub fn target(&self, ctx: &Ctx) -> Result<Option<Target>> {
        match self {
            Backend::Sim(_) => Ok(None),
            Backend::Aws(a) => a.target(ctx).map(Some),
        }
    }

    /// After an apply or destroy wrote the state: the simulator keeps its
    /// runtime in step (see [`SimBackend::after_apply`]).
    pub fn after_apply(&self, ctx: &Ctx, st: &State) -> Result<()> {
        match self {
            Backend::Sim(s) => s.after_apply(ctx, st),
            Backend::Aws(_) => Ok(()),
        }
    }

    /// Whether `apply` waits for the service's rollout after applying `p`: on
    /// AWS when `p` created or changed the ECS service; the simulator's
    /// controller rolls out in the background (`status` shows it).
    pub fn waits_after_apply(&self, p: &Plan) -> bool {
        match self {
            Backend::Sim(_) => false,
            Backend::Aws(_) => aws::rollout::touches_service(p),
        }
    }

    /// Follow the service's rollout to its end (after `deploy`, or `apply` on AWS).
    pub fn wait_rollout(&self, ctx: &Ctx, timeout: u64) -> Result<u8> {
        match self {
            Backend::Sim(s) => s.wait_rollout(ctx, timeout),
            Backend::Aws(a) => a.wait_rollout(ctx, timeout),
        }
    }

    /// `deploy --force-new-deployment`: a new deployment of the revision the
    /// service runs (ECS's UpdateService with forceNewDeployment). Returns
    /// what [`Backend::wait_forced`] waits for.
    pub fn force_new_deployment(&self, ctx: &Ctx) -> Result<u64> {
        match self {
            Backend::Sim(s) => s.force_new_deployment(ctx),
            Backend::Aws(a) => a.force_new_deployment(ctx).map(|()| 0),
        }
    }

    /// Follow the rollout of the deployment [`Backend::force_new_deployment`]
    /// started (`forced`: its number) to its end.
    pub fn wait_forced(&self, ctx: &Ctx, timeout: u64, forced: u64) -> Result<u8> {
        match self {
            Backend::Sim(s) => s.wait_forced(ctx, timeout, forced),
            Backend::Aws(a) => a.wait_rollout(ctx, timeout),
        }
    }

    /// `deploy --image`: make `repo:tag` available as `target_repo:tag` where the service pulls from.
    pub fn push(&self, ctx: &Ctx, repo: &str, tag: &str, target_repo: &str) -> Result<()> {
        match self {
            Backend::Sim(s) => s.push(ctx, repo, tag, target_repo),
            Backend::Aws(a) => a.push(ctx, repo, tag, target_repo).map(|_| ()),
        }
    }

    /// What `status` shows of the running environment; with `wait`, once it is healthy.
    pub fn observe(&self, ctx: &Ctx, st: &State, wait: bool, timeout: u64) -> Result<LiveStatus> {
        match self {
            Backend::Sim(s) => s.observe(ctx, st, wait, timeout),
            Backend::Aws(a) => {
                if wait {
                    // On AWS "healthy" is ECS's: the primary deployment COMPLETED,
                    // the desired count running, every ELB instance InService.
                    a.wait_rollout(ctx, timeout)?;
                }
                Ok(LiveStatus {
                    service: a.observe(ctx)?,
                    ..LiveStatus::default()
                })
            }
        }
    }

    /// `chronous logs [-f] [--since]`.
    pub fn logs(&self, ctx: &Ctx, follow: bool, since: Option<&str>) -> Result<u8> {
        match self {
            Backend::Sim(s) => s.logs(ctx, follow, since),
            Backend::Aws(a) => a.logs(ctx, follow, since),
        }
    }

    /// `chronous ssh [INSTANCE] [-- CMD...]`: a shell, or one command and its exit code.
    pub fn ssh(&self, ctx: &Ctx, instance: Option<&str>, command: &[String]) -> Result<u8> {
        match self {
            Backend::Sim(s) => s.ssh(ctx, instance, command),
            Backend::Aws(_) => aws::ssh::ssh(ctx, instance, command),
        }
    }

    /// `chronous tunnel TARGET[:PORT]` other than `rds`: where the bastion
    /// reaches it (a task on the simulator, a private host on AWS).
    pub fn tunnel_target(&self, ctx: &Ctx, target: &str, port: Option<u16>) -> Result<Remote> {
        match self {
            Backend::Sim(s) => s.task_target(ctx, target, port),
            Backend::Aws(_) => {
                let port = port
                    .or(ctx.env.service.host_port.filter(|p| *p != 0))
                    .ok_or_else(|| exit(crate::ui::EXIT_USAGE, format!("the service's host port is dynamic: say which port, as `{target}:PORT`")))?;
                Ok(Remote {
                    host: target.to_string(),
                    port,
                })
            }
        }
    }

    /// `chronous tunnel`: 127.0.0.1:`port` (0: a free one) forwarded to
    /// `remote` through the bastion, accepting when this returns.
    pub fn tunnel(&self, ctx: &Ctx, remote: &Remote, port: u16) -> Result<Forward> {
        match self {
            Backend::Sim(s) => Ok(Forward::Sim(s.tunnel(ctx, remote, port)?)),
            Backend::Aws(_) => Ok(Forward::Aws(aws::ssh::forward(ctx, remote, port)?)),
        }
    }

    /// `chronous controller`: the simulator's runtime in the foreground.
    pub fn controller(&self, ctx: &Ctx) -> Result<u8> {
        match self {
            Backend::Sim(_) => sim::controller::run(ctx),
            Backend::Aws(_) => Err(exit(
                EXIT_FAILURE,
                "the controller runs the simulator's runtime; this environment uses the aws backend",
            )),
        }
    }

    /// Whether this is the simulator with its real-container runtime (what a
    /// docker rehearsal needs).
    pub fn runs_containers(&self) -> bool {
        match self {
            Backend::Sim(s) => s.docker(),
            Backend::Aws(_) => false,
        }
    }
}

/// Where a tunnel leads, as the bastion reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub host: String,
    pub port: u16,
}

/// An open tunnel: a port on 127.0.0.1 forwarded through the bastion.
pub enum Forward {
    /// Each connection relayed by a `docker exec` into the bastion's container.
    Sim(sim::tunnel::Relay),
    /// `ssh -N -L` through the bastion's public IP.
    Aws(aws::ssh::SshForward),
}

impl Forward {
    pub fn port(&self) -> u16 {
        match self {
            Forward::Sim(r) => r.port,
            Forward::Aws(f) => f.port,
        }
    }

    /// Why the tunnel ended on its own, if it did (ssh exited).
    pub fn ended(&mut self) -> Option<String> {
        match self {
            Forward::Sim(_) => None,
            Forward::Aws(f) => f.ended(),
        }
    }

    /// Stop accepting and end the connections.
    pub fn close(self) {
        match self {
            Forward::Sim(r) => r.close(),
            Forward::Aws(f) => f.close(),
        }
    }
}

/// The last line of a completed rollout under `--json`, the same on both backends.
fn print_rollout_completed(seconds: f64, task_definition: &str) {
    println!(
        "{}",
        serde_json::json!({"event": "rollout", "outcome": "completed", "seconds": seconds, "task_definition": task_definition})
    );
}

/// The `Provider` of one command: core drives it through the one trait; this
/// enum only dispatches.
pub enum Provider<'a> {
    Sim(Box<SimProvider>),
    Aws(&'a chronous_aws::AwsProvider),
}

impl chronous_core::provider::Provider for Provider<'_> {
    async fn read(&self, r: &ResourceRecord) -> Result<Option<Observed>, ProviderError> {
        match self {
            Provider::Sim(p) => p.read(r).await,
            Provider::Aws(p) => p.read(r).await,
        }
    }
    async fn create(&self, req: CreateRequest<'_>) -> Result<Observed, ProviderError> {
        match self {
            Provider::Sim(p) => p.create(req).await,
            Provider::Aws(p) => p.create(req).await,
        }
    }
    async fn update(&self, r: &ResourceRecord, spec: &Spec) -> Result<Observed, ProviderError> {
        match self {
            Provider::Sim(p) => p.update(r, spec).await,
            Provider::Aws(p) => p.update(r, spec).await,
        }
    }
    async fn delete(&self, r: &ResourceRecord) -> Result<(), ProviderError> {
        match self {
            Provider::Sim(p) => p.delete(r).await,
            Provider::Aws(p) => p.delete(r).await,
        }
    }
}

impl Provider<'_> {
    /// What a data source reads during planning (AWS: the AMI look-up, as
    /// Terraform reads its data sources at plan time); `None` for the kinds
    /// known only once applied. The simulator resolves its look-ups at apply.
    pub async fn read_at_plan(
        &self,
        address: &str,
        spec: &Spec,
    ) -> Result<Option<Observed>, ProviderError> {
        match self {
            Provider::Sim(_) => Ok(None),
            Provider::Aws(p) => p.read_at_plan(address, spec).await,
        }
    }

    /// Fold the simulator's journal into its snapshot (AWS keeps nothing locally).
    pub fn compact(&self) -> Result<()> {
        match self {
            Provider::Sim(p) => p.compact().map_err(|e| anyhow!("{e}")),
            Provider::Aws(_) => Ok(()),
        }
    }
}
