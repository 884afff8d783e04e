//! The environment's security groups, enforced on the simulator's containers.
//!
//! What may connect to what is decided by core's reachability engine
//! ([`chronous_core::reach`], the one `chronous check reach` answers with),
//! on the security groups, rules, subnets and routes of the applied specs
//! (the state's records after an apply: what was applied, not what the file
//! says now). [`policy`] turns the engine's verdicts into a [`Policy`], kept
//! in `.chronous/security-groups.json` for the controller. The
//! simulator carries three kinds of traffic that a security group can stop:
//!
//! * the load balancer's health checks and requests to a task: they come from
//!   the host, through the task's published port, so inside the task's network
//!   namespace they come from the environment network's gateway address;
//! * a task's connections to the database: from the task's address on the
//!   environment network `chronous-<env>`;
//! * the bastion's connections to the database (`chronous tunnel`, `chronous
//!   ssh`): from the bastion's address on that network (the gateway, the host,
//!   stands for the operator's address).
//!
//! Each decision becomes an iptables rule in the network namespace of the
//! container it protects: a short-lived container of [`IMAGE`] joins that
//! namespace (`--network container:<id>`, `NET_ADMIN`) and replaces its
//! filter table with `iptables-restore`; the rules stay with the namespace
//! when it exits. A blocked source is dropped, as a security group drops
//! packets: the client's connection times out, it is not refused. Connections
//! already open stay open (security groups are stateful, and AWS does not
//! interrupt tracked connections when a rule goes).
//!
//! What was loaded into which container is kept in `.chronous/firewall.json`
//! (container id -> rules), so that rules are loaded only when they change;
//! both the CLI (after an apply) and the controller (every tick, for the tasks
//! it starts) call [`sync`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chronous_core::reach::{self, Endpoint, Network, Service, Verdict};
use chronous_core::resources::{Kind, Resource, Spec};
use chronous_docker::{ContainerInfo, ContainerSpec, Docker, DockerError, NetworkInfo};
use serde::{Deserialize, Serialize};

/// The image whose iptables loads the rules (built by `images/build.sh`).
pub const IMAGE: &str = "chronous/netfilter:bookworm";
/// `chronous.role` of the short-lived containers that load rules.
pub const ROLE: &str = "firewall";

/// One decision of the reachability engine that the simulator enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The engine's endpoint names (`elb`, `instances`, `tasks`, `bastion`, ...).
    pub from: String,
    pub to: String,
    /// `tcp/80`.
    pub service: String,
    pub allowed: bool,
    /// The engine's one-line explanation (its verdict's summary).
    pub summary: String,
}

impl Decision {
    fn of(from: Endpoint, to: Endpoint, port: u16, v: &Verdict) -> Decision {
        Decision {
            from: from.as_str().to_string(),
            to: to.as_str().to_string(),
            service: format!("tcp/{port}"),
            allowed: v.allowed,
            summary: v.summary.clone(),
        }
    }
}

/// What the applied security groups decide for the simulator's traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The load balancer to the instances on the listener's instance port.
    pub elb_to_tasks: Option<TaskPolicy>,
    /// The database's port from the tasks, the bastion and the operator.
    pub database: Option<DbPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPolicy {
    /// The task's container port the instance port maps to.
    pub container_port: u16,
    pub elb: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbPolicy {
    pub port: u16,
    pub from_tasks: Decision,
    pub from_bastion: Decision,
    pub from_operator: Decision,
}

impl Policy {
    /// Every decision, for `status`.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut v = Vec::new();
        if let Some(t) = &self.elb_to_tasks {
            v.push(t.elb.clone());
        }
        if let Some(d) = &self.database {
            v.extend([
                d.from_tasks.clone(),
                d.from_bastion.clone(),
                d.from_operator.clone(),
            ]);
        }
        v
    }
}

fn tcp(port: u16) -> Service {
    Service {
        proto: reach::Proto::Tcp,
        port: Some(port),
    }
}

/// The port the simulated database listens on (the endpoint's port).
const DB_PORT: u16 = 3306;

/// The decisions for the environment `resources` describe (the applied
/// specs: the state's records), on the engine's model `net` of them.
pub fn policy(net: &Network, resources: &[Resource]) -> Policy {
    let mut p = Policy::default();
    let instance_port = resources.iter().find_map(|r| match &r.spec {
        Spec::Elb(e) => Some(e.listener.instance_port),
        _ => None,
    });
    let mappings = resources.iter().find_map(|r| match &r.spec {
        Spec::EcsTaskDefinition(t) => Some(t.container.port_mappings.clone()),
        _ => None,
    });
    if let Some(instance_port) = instance_port {
        let mappings = mappings.unwrap_or_default();
        let container_port = mappings
            .iter()
            .find(|m| m.host_port == instance_port)
            .or(mappings.first())
            .map(|m| m.container_port)
            .unwrap_or(instance_port);
        let v = reach::reach(net, Endpoint::Elb, Endpoint::Instances, tcp(instance_port));
        p.elb_to_tasks = Some(TaskPolicy {
            container_port,
            elb: Decision::of(Endpoint::Elb, Endpoint::Instances, instance_port, &v),
        });
    }
    if resources.iter().any(|r| r.kind() == Kind::DbInstance) {
        let d = |from| {
            let v = reach::reach(net, from, Endpoint::Database, tcp(DB_PORT));
            Decision::of(from, Endpoint::Database, DB_PORT, &v)
        };
        p.database = Some(DbPolicy {
            port: DB_PORT,
            from_tasks: d(Endpoint::Tasks),
            from_bastion: d(Endpoint::Bastion),
            from_operator: d(Endpoint::Operator),
        });
    }
    p
}

/// Where the decisions of the last apply are kept for the controller.
pub fn policy_path(state_dir: &Path) -> PathBuf {
    state_dir.join("security-groups.json")
}

/// Keep the decisions of an apply (an empty policy removes the file).
pub fn write_policy(state_dir: &Path, p: &Policy) -> Result<(), FirewallError> {
    let path = policy_path(state_dir);
    if *p == Policy::default() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(keep_error(&path, e)),
            _ => Ok(()),
        };
    }
    let bytes = serde_json::to_vec_pretty(p).map_err(|e| keep_error(&path, e))?;
    chronous_store::atomic_write(&path, &bytes).map_err(|e| keep_error(&path, e))
}

fn keep_error(path: &Path, e: impl std::fmt::Display) -> FirewallError {
    FirewallError::Keep {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The decisions of the last apply (none when nothing was applied).
pub fn read_policy(state_dir: &Path) -> Policy {
    std::fs::read(policy_path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The filter table every container starts with: everything accepted.
const HEADER: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
/// Loopback and the packets of connections already open always pass.
const STATEFUL: &str =
    "-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n";

fn verdict(allowed: bool) -> &'static str {
    if allowed {
        "ACCEPT"
    } else {
        "DROP"
    }
}

/// The rules of a task's network namespace: the load balancer's new
/// connections to the container port are dropped when its group does not
/// admit the load balancer.
pub fn task_rules(t: &TaskPolicy, net: &NetworkInfo) -> String {
    let mut s = HEADER.to_string();
    if !t.elb.allowed {
        s.push_str(STATEFUL);
        s.push_str(&format!(
            "-A INPUT -s {}/32 -p tcp --dport {} -j DROP\n",
            net.gateway, t.container_port
        ));
    }
    s.push_str("COMMIT\n");
    s
}

/// The rules of the database's network namespace: its port from the
/// operator's host (the gateway), the bastion and the tasks (the rest of the
/// environment network) as decided; anything else from that network dropped.
pub fn db_rules(d: &DbPolicy, net: &NetworkInfo, bastion_ip: Option<&str>) -> String {
    let mut s = HEADER.to_string();
    s.push_str(STATEFUL);
    let port = d.port;
    s.push_str(&format!(
        "-A INPUT -s {}/32 -p tcp --dport {port} -j {}\n",
        net.gateway,
        verdict(d.from_operator.allowed)
    ));
    if let Some(ip) = bastion_ip {
        s.push_str(&format!(
            "-A INPUT -s {ip}/32 -p tcp --dport {port} -j {}\n",
            verdict(d.from_bastion.allowed)
        ));
    }
    s.push_str(&format!(
        "-A INPUT -s {} -p tcp --dport {port} -j {}\n",
        net.subnet,
        verdict(d.from_tasks.allowed)
    ));
    s.push_str(&format!("-A INPUT -s {} -j DROP\n", net.subnet));
    s.push_str("COMMIT\n");
    s
}

/// Why the rules of a container could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot enforce the security groups on {container}: {source}")]
    Docker {
        container: String,
        #[source]
        source: DockerError,
    },
    #[error("cannot enforce the security groups: {0}")]
    List(#[source] DockerError),
    #[error("cannot write {path}: {reason}")]
    Keep { path: String, reason: String },
    #[error("cannot enforce the security groups on {container}: iptables-restore exited {code}: {output}")]
    Load {
        container: String,
        code: i64,
        output: String,
    },
}

static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Load `rules` into the network namespace of `container`.
pub async fn load(
    docker: &Docker,
    env: &str,
    container: &ContainerInfo,
    rules: &str,
) -> Result<(), FirewallError> {
    let err = |source| FirewallError::Docker {
        container: container.name.clone(),
        source,
    };
    docker.ensure_image(IMAGE).await.map_err(err)?;
    let spec = ContainerSpec {
        // Unique: the CLI and the controller may load rules at the same time.
        name: format!(
            "{}-fw-{}-{}",
            container.name,
            std::process::id(),
            LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        image: IMAGE.into(),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "printf '%s' \"$RULES\" | iptables-restore".into(),
        ]),
        env: vec![("RULES".into(), rules.to_string())],
        role: ROLE.into(),
        address: container.address.clone(),
        netns_of: Some(container.id.clone()),
        cap_add: vec!["NET_ADMIN".into()],
        ..Default::default()
    };
    let out = docker
        .run_to_end(env, &spec, Duration::from_secs(60))
        .await
        .map_err(err)?;
    if out.exit_code != 0 {
        return Err(FirewallError::Load {
            container: container.name.clone(),
            code: out.exit_code,
            output: format!("{}{}", out.stdout, out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Where the rules loaded into each container are kept.
pub fn kept_path(state_dir: &Path) -> PathBuf {
    state_dir.join("firewall.json")
}

/// A container to protect and the rules it should have.
#[derive(Debug, Clone)]
pub struct Target {
    pub container: ContainerInfo,
    /// What the loaded rules are kept under: the container's id, and for the
    /// database the time it (re)started (a restart brings a new network
    /// namespace, without rules).
    pub key: String,
    pub rules: String,
}

/// The rules each protected container should have now: the database and
/// the given (running, registered) task containers.
pub async fn wanted(
    docker: &Docker,
    env: &str,
    policy: &Policy,
    tasks: &[&ContainerInfo],
) -> Result<Vec<Target>, DockerError> {
    let Some(net) = docker
        .network_info(&chronous_docker::network_name(env))
        .await?
    else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    if let Some(t) = &policy.elb_to_tasks {
        let rules = task_rules(t, &net);
        v.extend(tasks.iter().map(|c| Target {
            container: (*c).clone(),
            key: c.id.clone(),
            rules: rules.clone(),
        }));
    }
    if let Some(d) = &policy.database {
        let bastion = docker
            .list(env, Some("bastion"))
            .await?
            .into_iter()
            .find(|c| c.running);
        let bastion_ip = match &bastion {
            Some(b) => docker.container_ip(&b.id, &net.name).await?,
            None => None,
        };
        let rules = db_rules(d, &net, bastion_ip.as_deref());
        for c in docker.list(env, Some("db")).await? {
            if c.running {
                let started = docker.started_at(&c.id).await?.unwrap_or_default();
                v.push(Target {
                    key: format!("{}@{started}", c.id),
                    container: c,
                    rules: rules.clone(),
                });
            }
        }
    }
    Ok(v)
}

/// Load the rules of every container in `want` whose rules changed since
/// they were last loaded (`.chronous/firewall.json`). The first error is
/// returned after the others were tried.
pub async fn sync(
    docker: &Docker,
    env: &str,
    state_dir: &Path,
    want: &[Target],
    keep_others: bool,
) -> Result<(), FirewallError> {
    let path = kept_path(state_dir);
    let mut kept: BTreeMap<String, String> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let before = kept.clone();
    if !keep_others {
        kept.retain(|key, _| want.iter().any(|t| &t.key == key));
    }
    let mut first_error = None;
    for t in want {
        // A container never loaded has no rules: open needs no load.
        let open = !kept.contains_key(&t.key) && t.rules == format!("{HEADER}COMMIT\n");
        if open || kept.get(&t.key) == Some(&t.rules) {
            kept.insert(t.key.clone(), t.rules.clone());
            continue;
        }
        match load(docker, env, &t.container, &t.rules).await {
            Ok(()) => {
                kept.insert(t.key.clone(), t.rules.clone());
            }
            Err(e) => {
                kept.remove(&t.key);
                first_error.get_or_insert(e);
            }
        }
    }
    if kept != before {
        if let Ok(bytes) = serde_json::to_vec_pretty(&kept) {
            let _ = chronous_store::atomic_write(&path, &bytes);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// After an apply: keep its decisions for the controller and load the
/// database's rules (the tasks' are the controller's: it knows which run).
pub async fn enforce_applied(
    docker: &Docker,
    env: &str,
    state_dir: &Path,
    p: &Policy,
) -> Result<(), FirewallError> {
    write_policy(state_dir, p)?;
    let want = wanted(docker, env, p, &[])
        .await
        .map_err(FirewallError::List)?;
    sync(docker, env, state_dir, &want, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(allowed: bool, summary: &str) -> Decision {
        Decision {
            from: "x".into(),
            to: "y".into(),
            service: "tcp/1".into(),
            allowed,
            summary: summary.into(),
        }
    }

    fn net() -> NetworkInfo {
        NetworkInfo {
            name: "chronous-t".into(),
            subnet: "172.30.0.0/16".into(),
            gateway: "172.30.0.1".into(),
        }
    }

    /// The seed's file, changed by `edit`, as the engine decides it.
    fn seed_policy(edit: impl Fn(String) -> String) -> Policy {
        let text = edit(include_str!("../../../fixtures/seed/chronous.toml").to_string());
        let env = chronous_core::env::load("chronous.toml", &text)
            .env
            .expect("a valid environment");
        let resources = chronous_core::resources::expand(&env);
        policy(&Network::from_env(&env), &resources)
    }

    #[test]
    fn the_seed_admits_the_elb_and_the_tasks_and_nobody_else_at_the_database() {
        insta::assert_snapshot!(
            "policy-seed",
            serde_json::to_string_pretty(&seed_policy(|t| t)).unwrap()
        );
    }

    #[test]
    fn a_group_without_its_rule_blocks_with_the_engines_reason() {
        let p = seed_policy(|t| {
            t.lines()
                .filter(|l| !l.contains("source = \"sg:elb_http\"") && !l.contains("source = \"tier:private\""))
                .map(|l| l.replace(
                    "{ protocol = \"tcp\", port = 3306, source = \"sg:sg_payments_api_internal\", description = \"MySQL from the container instances\" },",
                    "{ protocol = \"tcp\", port = 3306, source = \"bastion\" },",
                ))
                .collect::<Vec<_>>()
                .join("\n")
        });
        insta::assert_snapshot!(
            "policy-seed-elb-and-tasks-removed-bastion-added",
            serde_json::to_string_pretty(&p).unwrap()
        );
    }

    #[test]
    fn a_task_drops_the_load_balancer_only_when_blocked() {
        let mut t = TaskPolicy {
            container_port: 8080,
            elb: decision(true, "allowed"),
        };
        insta::assert_snapshot!("task-allowed", task_rules(&t, &net()));
        t.elb.allowed = false;
        insta::assert_snapshot!("task-blocked", task_rules(&t, &net()));
    }

    #[test]
    fn the_database_admits_each_source_as_decided_most_specific_first() {
        let d = DbPolicy {
            port: 3306,
            from_tasks: decision(false, "blocked"),
            from_bastion: decision(true, "allowed"),
            from_operator: decision(false, "blocked"),
        };
        insta::assert_snapshot!("db-bastion-only", db_rules(&d, &net(), Some("172.30.0.3")));
        let d = DbPolicy {
            from_tasks: decision(true, "allowed"),
            from_bastion: decision(false, "blocked"),
            ..d
        };
        insta::assert_snapshot!("db-tasks-only-no-bastion", db_rules(&d, &net(), None));
    }
}
