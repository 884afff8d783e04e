//! The command line: the global flags ([`Cli`]), the subcommands ([`Cmd`]) and
//! their arguments, as clap reads them, and the parsing of flag values clap
//! leaves as text (`--since`). What each command does is in `commands/`.

use std::path::PathBuf;

use anyhow::Result;
use chronous_core::env::Backend;
use clap::{Args, Parser, Subcommand};

use crate::ui::{exit, EXIT_USAGE};

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
    /// Open a shell on the private side through the bastion, or run one command there (`ssh -- CMD...`).
    Ssh {
        /// A container instance to reach (default: the bastion itself).
        instance: Option<String>,
        /// One command to run instead of a shell, after `--`; chronous exits with its exit code.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Forward a 127.0.0.1 port to the database (`rds`, the default) or to a task, through the bastion.
    Tunnel(TunnelArgs),
    /// Deploy a new image: a new task-definition revision and a rolling update of the service.
    Deploy(DeployArgs),
    /// Rehearse a change in the simulator and say what it will do.
    #[command(subcommand)]
    Rehearse(RehearseCmd),
    /// Review the environment file offline: lints with ids, severity, place and
    /// fix; `check reach`: who can reach what.
    Check(CheckArgs),
    /// Estimate the environment's monthly AWS cost from chronous's dated price table.
    Cost,
    /// Write chronous.toml describing what exists (from a Terraform state).
    Init(InitArgs),
    /// Adopt what exists into the state: from a Terraform state file, or from the account.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Run the environment's controller in the foreground (the CLI starts it on demand).
    #[command(hide = true)]
    Controller,
    /// Draw the environment as DOT (default, to stdout) or SVG: its resources, or its network.
    Graph(GraphArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(subcommand)]
    pub what: Option<CheckCmd>,
    /// Exit 2 when a finding is at or above this severity: info, low, medium,
    /// high or critical.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: chronous_core::review::Severity,
}

#[derive(Subcommand, Debug)]
pub enum CheckCmd {
    /// Who can reach what, decided offline from the security groups, subnets,
    /// routes and gateways: one question explained (`check reach bastion
    /// instances 22`), or with no arguments the full matrix.
    Reach(ReachArgs),
}

#[derive(Args, Debug)]
pub struct ReachArgs {
    /// Where the connection starts: internet, operator, elb, bastion,
    /// instances, tasks, database, private (a host in the private subnets).
    pub from: Option<String>,
    /// Where it goes (the same names).
    pub to: Option<String>,
    /// PORT[/PROTO]: 80, 80/tcp, 53/udp, icmp.
    #[arg(value_name = "PORT[/PROTO]")]
    pub service: Option<String>,
    /// Answer for what is deployed, as the state recorded it (last apply or refresh).
    #[arg(long)]
    pub deployed: bool,
    /// Answer for what is deployed, refreshed through the backend first (implies --deployed; the state is not written).
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Args, Debug)]
pub struct TunnelArgs {
    /// `rds` (the database), or TARGET[:PORT]: on the simulator a task id or
    /// container name (port: the container's), on AWS a private host.
    #[arg(default_value = "rds", value_name = "rds|TARGET[:PORT]")]
    pub target: String,
    /// The local port on 127.0.0.1 (default: a free one, printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["from_terraform", "from_aws"])))]
pub struct InitArgs {
    /// The Terraform state (format version 4) of the estate to describe.
    #[arg(long, value_name = "PATH")]
    pub from_terraform: Option<PathBuf>,
    /// Describe what exists in the account, in the VPC given by --vpc-id or --vpc-name (for an estate whose state is lost).
    #[arg(long, requires = "vpc")]
    pub from_aws: bool,
    /// With --from-aws: the region to read (default: AWS_REGION, AWS_DEFAULT_REGION).
    #[arg(long, value_name = "REGION", requires = "from_aws")]
    pub region: Option<String>,
    /// With --from-aws: the VPC by id.
    #[arg(long, value_name = "VPC_ID", group = "vpc", requires = "from_aws")]
    pub vpc_id: Option<String>,
    /// With --from-aws: the VPC by its Name tag.
    #[arg(long, value_name = "NAME", group = "vpc", requires = "from_aws")]
    pub vpc_name: Option<String>,
    /// With --from-aws: the prefix chronous names objects with (default: what the ECS cluster's name starts with).
    #[arg(long, value_name = "PREFIX", requires = "from_aws")]
    pub prefix: Option<String>,
    /// With --from-aws: where the database's XtraBackup is in S3 (default: looked for in a bucket named like the database).
    #[arg(long, value_name = "s3://BUCKET/KEY", requires = "from_aws")]
    pub backup_object: Option<String>,
    /// The environment's name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the XtraBackup the database was restored from is (the state does not say).
    #[arg(long, value_name = "PATH", default_value = "db-backup.tar.gz")]
    pub backup_file: String,
    /// Overwrite an existing chronous.toml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// Adopt the objects a Terraform state (format version 4) records. Changes nothing in AWS.
    Terraform {
        /// The state file (terraform.tfstate, or what `terraform state pull` prints).
        path: PathBuf,
    },
    /// Adopt what exists in the account for the addresses the state lacks, found
    /// by the names and tags the environment file implies. Changes nothing in AWS.
    Aws,
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
    /// Replace or delete objects adopted by `chronous import` where the file asks for it (held otherwise).
    #[arg(long)]
    pub allow_replace_adopted: bool,
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
    /// Replace or delete objects adopted by `chronous import` where the file asks for it (held otherwise).
    #[arg(long)]
    pub allow_replace_adopted: bool,
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
    #[arg(
        long,
        value_name = "REPO:TAG",
        required_unless_present = "force_new_deployment"
    )]
    pub image: Option<String>,
    /// Start a new deployment of the service's revision even when nothing
    /// changed (ECS's forceNewDeployment): every task is replaced under the
    /// deployment settings, pulling the image again (a mutable tag redeployed).
    #[arg(long)]
    pub force_new_deployment: bool,
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
    /// Rehearse an incident with no deployment: faults on the running service,
    /// what happens to traffic and when the service is steady again.
    Incident(IncidentArgs),
}

#[derive(Args, Debug)]
pub struct IncidentArgs {
    /// Faults to inject (at least one with a time; repeatable): crash@2m,
    /// failing-health@2m+5m (one task fails its health checks for 5 minutes),
    /// instance-lost@10m; bad-image, unhealthy-image, slow-start=4 say how the
    /// tasks started during the incident behave. Each timed fault hits one
    /// task or instance chosen by the seed; repeat it to hit more.
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
    /// How long to rehearse, e.g. 1h (default: until every fault has played
    /// out and the service is steady again, at most an hour more).
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<String>,
    /// Seed of every random choice (default: drawn and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write the timeline as an SVG picture.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
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
    /// Inject a fault into the running simulation (real containers); the
    /// controller and the load balancer react as ECS and a classic ELB would.
    #[command(subcommand)]
    Fault(FaultCmd),
    /// Bring the running environment back (after a Docker daemon restart, a
    /// reboot or killed processes): start its stopped database and bastion
    /// containers, the load balancer and the controller, and wait until the
    /// service is healthy behind the load balancer.
    Start {
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Run the environment's load balancer in the foreground; it supervises
    /// the controller (the CLI starts it on demand).
    #[command(hide = true)]
    Elb,
}

/// The faults of `chronous sim fault`, named as `rehearse deploy --fault` names them.
#[derive(Subcommand, Debug)]
pub enum FaultCmd {
    /// Kill a task's container (exit 137): ECS stops the task and starts a replacement.
    Crash {
        /// The task id, or its beginning (default: the oldest running task).
        task: Option<String>,
    },
    /// Make the load balancer's health checks of a task fail for a while.
    FailingHealth {
        /// The task id, or its beginning (default: the oldest running task).
        task: Option<String>,
        /// How long, in AWS time (divided by the time scale, as health checks are).
        #[arg(long = "for", value_name = "DURATION", default_value = "2m")]
        for_: String,
    },
    /// Lose a container instance and its tasks; its auto scaling group replaces it later.
    InstanceLost {
        /// The instance id, or its beginning (default: the instance of the oldest running task).
        instance: Option<String>,
        /// When the auto scaling group's replacement is launched, in AWS time.
        #[arg(long, value_name = "DURATION", default_value = "3m")]
        replace_after: String,
    },
    /// Restart the database container.
    RestartDb,
}

/// `--since DURATION` (30s, 10m, 1h) as the Unix time, in seconds, that long ago.
pub fn parse_since(s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s).map_err(|e| {
        exit(
            EXIT_USAGE,
            format!("--since {s}: {e} (write e.g. 30s, 10m, 1h)"),
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    Ok(now - d.as_secs() as i64)
}

/// What `chronous graph` draws.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GraphView {
    /// Every resource and what it depends on, by part of the topology.
    #[default]
    Resources,
    /// The VPC's tiers, the endpoints and their security groups, and who reaches whom on which port.
    Network,
}

/// The text `chronous graph` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT (render it with `dot -Tpng` if you like).
    Dot,
    /// A self-contained SVG laid out by chronous (no Graphviz needed).
    Svg,
    /// The nodes and edges as JSON (what --json prints).
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  chronous graph | dot -Tpng > resources.png\n  chronous graph network --out network.svg\n  chronous graph network --json\n"
)]
pub struct GraphArgs {
    /// Which picture.
    #[arg(value_enum, default_value_t = GraphView::Resources)]
    pub view: GraphView,
    /// dot, svg or json; default: from the --out file's extension (.svg, .json, else dot).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<GraphFormat>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Fill each resource by what this saved plan (`plan --out FILE`) does to it.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}
