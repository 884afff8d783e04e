//! A thin wrapper over bollard, the only crate of chronous that names bollard
//! types: the simulator runs its containers through it (the database restored
//! from the backup, the bastion, the service's tasks), and `deploy --image` on
//! AWS tags and pushes an image to ECR with [`Docker::push_image`].
//!
//! Everything created through [`Docker`] carries the labels
//! `chronous.environment=<env>`, `chronous.managed-by=chronous`, a role
//! (`chronous.role=db|task|bastion|helper|...`) and, where given, the resource
//! address (`chronous.address=<address>`), so [`Docker::sweep`] can remove an
//! environment's containers, volumes and networks, and only those.
//!
//! Secret hygiene: container environment values (passwords) never appear in
//! errors or in `Debug` output; Docker's own error messages are scrubbed of
//! them before they are wrapped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;

use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, KillContainerOptions,
    ListContainersOptions, LogOutput, LogsOptions, NetworkingConfig, RemoveContainerOptions,
    StopContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::image::CreateImageOptions;
use bollard::models::{EndpointSettings, HostConfig, Mount, MountTypeEnum, PortBinding};
use bollard::network::{CreateNetworkOptions, ListNetworksOptions};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use futures_util::stream::{Stream, StreamExt};

/// Label: the environment an object belongs to.
pub const LABEL_ENVIRONMENT: &str = "chronous.environment";
/// Label: always `chronous`.
pub const LABEL_MANAGED_BY: &str = "chronous.managed-by";
/// Label: what the object is for (`db`, `task`, `bastion`, `helper`, `network`, `db-data`, ...).
pub const LABEL_ROLE: &str = "chronous.role";
/// Label: the resource address the object simulates (`module.db.aws_db_instance.main`).
pub const LABEL_ADDRESS: &str = "chronous.address";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "chronous";

/// An error of the Docker layer. Messages say what failed and what to do; they
/// never contain container environment values.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker is unreachable at {socket} ({reason}): start the Docker daemon, or point DOCKER_HOST at a running one")]
    Unreachable { socket: String, reason: String },
    #[error("image `{image}` is not available locally and could not be pulled: {hint}")]
    ImageMissing { image: String, hint: String },
    #[error("{what} `{name}` does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{what} `{name}` already exists but does not belong to environment `{env}` (labels {labels}): remove or rename it, or use another environment name")]
    Foreign {
        what: &'static str,
        name: String,
        env: String,
        labels: String,
    },
    #[error("environment name `{env}` is already used on this Docker host by the folder {other_dir}: two folders cannot share an environment name; rename environment.name in one of them, or destroy the other first")]
    NameInUse { env: String, other_dir: String },
    #[error("Docker refused to {action}: {message} (HTTP {status})")]
    Api {
        action: String,
        status: u16,
        message: String,
    },
    #[error("Docker request failed while trying to {action}: {message}")]
    Request { action: String, message: String },
    #[error(
        "the registry {registry} refused the credentials for pushing {image} ({message}): {hint}"
    )]
    PushDenied {
        image: String,
        registry: String,
        message: String,
        hint: String,
    },
    #[error("pushing {image} to {registry} failed: {message}: {hint}")]
    Push {
        image: String,
        registry: String,
        message: String,
        hint: String,
    },
}

impl DockerError {
    /// True for [`DockerError::NotFound`] and Docker's 404 answers.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            DockerError::NotFound { .. } | DockerError::Api { status: 404, .. }
        )
    }
}

/// A bind or named-volume mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A named volume (created beforehand, labelled) at `target`.
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
    /// A host path at `target`.
    Bind {
        source: String,
        target: String,
        read_only: bool,
    },
}

/// What to create. `env` values are secrets: they are never printed by `Debug`
/// nor included in errors.
#[derive(Clone, Default)]
pub struct ContainerSpec {
    /// Container name (unique on the Docker host; prefix it with `chronous-<env>-`).
    pub name: String,
    pub image: String,
    /// Overrides the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's command.
    pub cmd: Option<Vec<String>>,
    /// Environment, `(NAME, value)`.
    pub env: Vec<(String, String)>,
    /// `chronous.role` label.
    pub role: String,
    /// `chronous.address` label, if any.
    pub address: Option<String>,
    /// Extra labels (the chronous labels above win over these).
    pub labels: BTreeMap<String, String>,
    /// Network to join; `None` means no network at all (`--network none`).
    pub network: Option<String>,
    /// DNS aliases on `network`.
    pub aliases: Vec<String>,
    pub mounts: Vec<MountSpec>,
    /// Memory limit in MiB.
    pub memory_mb: Option<u64>,
    /// Container TCP port to publish on 127.0.0.1 with an ephemeral host port
    /// (read it back with [`Docker::host_port`]).
    pub publish: Option<u16>,
    /// User to run as (`uid[:gid]` or a name known to the image).
    pub user: Option<String>,
    /// Join the network namespace of this (running) container
    /// (`--network container:<id>`); `network`, `aliases` and `publish` are
    /// then not used.
    pub netns_of: Option<String>,
    /// Kernel capabilities added (`--cap-add`), e.g. `NET_ADMIN`.
    pub cap_add: Vec<String>,
}

impl fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, _)| format!("{k}=<redacted>"))
            .collect();
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("entrypoint", &self.entrypoint)
            .field("cmd", &self.cmd)
            .field("env", &env)
            .field("role", &self.role)
            .field("address", &self.address)
            .field("labels", &self.labels)
            .field("network", &self.network)
            .field("aliases", &self.aliases)
            .field("mounts", &self.mounts)
            .field("memory_mb", &self.memory_mb)
            .field("publish", &self.publish)
            .field("user", &self.user)
            .field("netns_of", &self.netns_of)
            .field("cap_add", &self.cap_add)
            .finish()
    }
}

/// The IPv4 subnet and gateway Docker chose for a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    /// `172.18.0.0/16`.
    pub subnet: String,
    /// The host's address on it (`172.18.0.1`): what a published port's
    /// connections come from inside a container.
    pub gateway: String,
}

/// A container as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// Docker's state: `created`, `running`, `paused`, `restarting`, `exited`, `dead`, ...
    pub state: String,
    /// Docker's human status (`Up 3 seconds (healthy)`, `Exited (0) 2 minutes ago`).
    pub status: String,
    /// Running or paused (as `docker inspect` has it).
    pub running: bool,
    pub paused: bool,
    /// `chronous.role`, if labelled.
    pub role: Option<String>,
    /// `chronous.address`, if labelled.
    pub address: Option<String>,
}

/// Result of [`Docker::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of a container's log, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub text: String,
}

/// The lines of [`Docker::logs`].
pub type LogLines = Pin<Box<dyn Stream<Item = Result<LogLine, DockerError>> + Send>>;

/// What [`Docker::sweep`] removed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Container names.
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// `(object, error)` for what could not be removed.
    pub failed: Vec<(String, String)>,
}

impl SweepReport {
    /// Nothing failed.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The labels of an object of environment `env` with role `role`.
pub fn labels(env: &str, role: &str, address: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::new();
    l.insert(LABEL_ENVIRONMENT.to_string(), env.to_string());
    l.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    l.insert(LABEL_ROLE.to_string(), role.to_string());
    if let Some(a) = address {
        l.insert(LABEL_ADDRESS.to_string(), a.to_string());
    }
    l
}

/// The network of environment `env`.
pub fn network_name(env: &str) -> String {
    format!("chronous-{env}")
}

/// Whether `image` is one of chronous' own, built by `images/build.sh` and
/// never pulled from a registry.
pub fn is_chronous_image(image: &str) -> bool {
    image.starts_with("chronous/") || image.starts_with("chronous-")
}

fn env_filter(env: &str) -> String {
    format!("{LABEL_ENVIRONMENT}={env}")
}

fn sorted(m: HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

/// Replace every secret (of at least 3 characters) in `s` by `<redacted>`.
fn scrub(mut s: String, secrets: &[&str]) -> String {
    for secret in secrets {
        if secret.len() >= 3 && s.contains(secret) {
            s = s.replace(secret, "<redacted>");
        }
    }
    s
}

/// A connection to the local Docker daemon.
#[derive(Clone)]
pub struct Docker {
    inner: bollard::Docker,
    host: String,
    /// Labels added to everything this client creates (the owning folder).
    extra: HashMap<String, String>,
}

/// The label naming the environment folder that owns an object: two folders
/// with the same environment name on one Docker host would otherwise fight
/// over the same containers.
pub const LABEL_ENV_DIR: &str = "chronous.env-dir";

impl fmt::Debug for Docker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Docker").field("host", &self.host).finish()
    }
}

impl Docker {
    /// Mark everything this client creates as owned by the environment folder
    /// `dir`, and refuse if the environment's name is already used on this
    /// Docker host by objects of another folder.
    pub async fn owned_by(mut self, env: &str, dir: &str) -> Result<Self, DockerError> {
        for c in self.list(env, None).await? {
            if let Some(other) = c.labels.get(LABEL_ENV_DIR).filter(|d| d.as_str() != dir) {
                return Err(DockerError::NameInUse {
                    env: env.to_string(),
                    other_dir: other.clone(),
                });
            }
        }
        self.extra
            .insert(LABEL_ENV_DIR.to_string(), dir.to_string());
        Ok(self)
    }

    /// Connect with the local defaults (`DOCKER_HOST`, else
    /// `/var/run/docker.sock`), check the daemon answers and agree on the API
    /// version (Docker 20.10 speaks 1.41, older than bollard's default).
    pub async fn connect() -> Result<Self, DockerError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        Self::connect_to(&host).await
    }

    /// Connect to `host` (`unix:///path`, or `tcp://host:port` without TLS).
    pub async fn connect_to(host: &str) -> Result<Self, DockerError> {
        let unreachable = |reason: String| DockerError::Unreachable {
            socket: host.to_string(),
            reason,
        };
        let inner = if host.starts_with("unix://") || host.starts_with('/') {
            bollard::Docker::connect_with_unix(host, 120, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            bollard::Docker::connect_with_http(host, 120, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(unreachable(
                "unsupported address: use unix:///path/to/docker.sock or tcp://host:port"
                    .to_string(),
            ));
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let inner = inner
            .negotiate_version()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Docker {
            inner,
            host: host.to_string(),
            extra: HashMap::new(),
        })
    }

    /// The underlying bollard client, for what this wrapper does not cover.
    pub fn raw(&self) -> &bollard::Docker {
        &self.inner
    }

    /// Where the daemon was reached (`unix:///var/run/docker.sock`).
    pub fn host(&self) -> &str {
        &self.host
    }

    fn map(&self, action: impl Into<String>, e: bollard::errors::Error) -> DockerError {
        use bollard::errors::Error as E;
        let action = action.into();
        match e {
            E::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Api {
                action,
                status: status_code,
                message,
            },
            E::SocketNotFoundError(_) | E::HyperLegacyError { .. } | E::IOError { .. } => {
                DockerError::Unreachable {
                    socket: self.host.clone(),
                    reason: format!("while trying to {action}: {e}"),
                }
            }
            other => DockerError::Request {
                action,
                message: other.to_string(),
            },
        }
    }

    // ---------------------------------------------------------------- networks

    /// Create the bridge network `chronous-<env>` if it does not exist (Docker
    /// picks the subnet) and return its name. Refuses a network of that name
    /// that is not labelled for `env`.
    pub async fn ensure_network(&self, env: &str) -> Result<String, DockerError> {
        let name = network_name(env);
        if let Some(existing) = self.find_network(&name).await? {
            let l = existing.labels.unwrap_or_default();
            if l.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(env) {
                return Err(DockerError::Foreign {
                    what: "network",
                    name,
                    env: env.to_string(),
                    labels: format!("{:?}", sorted(l)),
                });
            }
            return Ok(name);
        }
        let opts = CreateNetworkOptions {
            name: name.clone(),
            check_duplicate: true,
            driver: "bridge".to_string(),
            labels: {
                let mut l = labels(env, "network", None);
                l.extend(self.extra.clone());
                l
            },
            ..Default::default()
        };
        match self.inner.create_network(opts).await {
            Ok(_) => Ok(name),
            // Created concurrently by someone else: fine if it is ours.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Box::pin(self.ensure_network(env)).await,
            Err(e) => Err(self.map(format!("create network {name}"), e)),
        }
    }

    async fn find_network(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::Network>, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("name".to_string(), vec![name.to_string()]);
        let nets = self
            .inner
            .list_networks(Some(ListNetworksOptions { filters }))
            .await
            .map_err(|e| self.map("list networks", e))?;
        // The name filter matches substrings.
        Ok(nets.into_iter().find(|n| n.name.as_deref() == Some(name)))
    }

    /// The subnet and gateway of network `name`; `None` if it does not exist.
    pub async fn network_info(&self, name: &str) -> Result<Option<NetworkInfo>, DockerError> {
        let Some(n) = self.find_network(name).await? else {
            return Ok(None);
        };
        let cfg = n
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.subnet.as_deref().is_some_and(|s| !s.contains(':')));
        Ok(cfg.and_then(|c| {
            Some(NetworkInfo {
                name: name.to_string(),
                subnet: c.subnet?,
                gateway: c.gateway?,
            })
        }))
    }

    /// The IPv4 address of a running container on network `network`.
    pub async fn container_ip(
        &self,
        container: &str,
        network: &str,
    ) -> Result<Option<String>, DockerError> {
        let c = match self.inner.inspect_container(container, None).await {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(self.map(format!("inspect container {container}"), e)),
        };
        Ok(c.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty()))
    }

    // ---------------------------------------------------------------- volumes

    /// Create the labelled named volume `name` if missing. Returns true if it
    /// was created now, false if it existed (and belongs to `env`).
    pub async fn ensure_volume(
        &self,
        env: &str,
        name: &str,
        role: &str,
        address: Option<&str>,
        extra: &BTreeMap<String, String>,
    ) -> Result<bool, DockerError> {
        if let Some(v) = self.volume_labels(name).await? {
            if v.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(env) {
                return Err(DockerError::Foreign {
                    what: "volume",
                    name: name.to_string(),
                    env: env.to_string(),
                    labels: format!("{v:?}"),
                });
            }
            return Ok(false);
        }
        let mut l: HashMap<String, String> = extra.clone().into_iter().collect();
        l.extend(self.extra.clone());
        l.extend(labels(env, role, address));
        let opts = CreateVolumeOptions {
            name: name.to_string(),
            driver: "local".to_string(),
            labels: l,
            ..Default::default()
        };
        self.inner
            .create_volume(opts)
            .await
            .map_err(|e| self.map(format!("create volume {name}"), e))?;
        Ok(true)
    }

    /// The labels of volume `name`, or `None` if it does not exist.
    pub async fn volume_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, DockerError> {
        match self.inner.inspect_volume(name).await {
            Ok(v) => Ok(Some(sorted(v.labels))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.map(format!("inspect volume {name}"), e)),
        }
    }

    /// Remove volume `name`; a missing volume is not an error.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        match self
            .inner
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.map(format!("remove volume {name}"), e)),
        }
    }

    /// Names of the volumes labelled for `env` (and `role`, if given).
    pub async fn list_volumes(
        &self,
        env: &str,
        role: Option<&str>,
    ) -> Result<Vec<String>, DockerError> {
        let mut label = vec![env_filter(env)];
        if let Some(r) = role {
            label.push(format!("{LABEL_ROLE}={r}"));
        }
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), label);
        let r = self
            .inner
            .list_volumes(Some(ListVolumesOptions { filters }))
            .await
            .map_err(|e| self.map("list volumes", e))?;
        let mut names: Vec<String> = r
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.sort();
        Ok(names)
    }

    // ---------------------------------------------------------------- images

    /// Whether image `name` is present locally.
    pub async fn image_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self.inner.inspect_image(name).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(self.map(format!("inspect image {name}"), e)),
        }
    }

    /// Give a local image another name, as a push into a registry would
    /// (the simulator's ECR is the local image store).
    pub async fn tag_image(&self, source: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        self.inner
            .tag_image(source, Some(bollard::image::TagImageOptions { repo, tag }))
            .await
            .map_err(|e| self.map(format!("tag image {source} as {repo}:{tag}"), e))
    }

    /// Push the local image `local_ref` to a registry as `target_ref`
    /// (`REGISTRY/REPOSITORY:TAG`): tag it, then push it with the registry's
    /// credentials, as `docker tag` + `docker push` after `docker login`.
    /// `progress` hears one line per layer step and the final digest. The
    /// password is never logged nor put in an error. Returns the pushed
    /// manifest's digest (`sha256:...`) when the registry reports it.
    pub async fn push_image(
        &self,
        local_ref: &str,
        target_ref: &str,
        username: &str,
        password: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Option<String>, DockerError> {
        if !self.image_exists(local_ref).await? {
            return Err(DockerError::ImageMissing {
                image: local_ref.to_string(),
                hint: "build it (for chronous's own images: `bash images/build.sh`) or `docker load` it, then deploy again".to_string(),
            });
        }
        let (repo, tag) = split_image(target_ref);
        let registry = repo.split('/').next().unwrap_or(repo).to_string();
        self.tag_image(local_ref, repo, tag).await?;
        let creds = bollard::auth::DockerCredentials {
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            serveraddress: Some(registry.clone()),
            ..Default::default()
        };
        let mut stream = self.inner.push_image(
            repo,
            Some(bollard::image::PushImageOptions { tag }),
            Some(creds),
        );
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(i) => i,
                Err(e) => {
                    let (status, message) = match e {
                        bollard::errors::Error::DockerStreamError { error } => (None, error),
                        bollard::errors::Error::DockerResponseServerError {
                            status_code,
                            message,
                        } => (Some(status_code), message),
                        other => match self.map(format!("push {target_ref}"), other) {
                            e @ DockerError::Unreachable { .. } => return Err(e),
                            other => (None, other.to_string()),
                        },
                    };
                    return Err(push_error(
                        target_ref,
                        &registry,
                        status,
                        scrub(message, &[password]),
                    ));
                }
            };
            let status = info.status.unwrap_or_default();
            if let Some(d) = status
                .split_whitespace()
                .skip_while(|w| *w != "digest:")
                .nth(1)
            {
                digest = Some(d.to_string());
                progress(&format!("{target_ref}: pushed, digest {d}"));
                continue;
            }
            // A line per finished layer ("Pushed", "Layer already exists"), not
            // the byte counts of "Pushing" nor the "Preparing"/"Waiting" steps.
            if status.is_empty() || matches!(status.as_str(), "Pushing" | "Preparing" | "Waiting") {
                continue;
            }
            progress(&format!("{target_ref}: {}", scrub(status, &[password])));
        }
        Ok(digest)
    }

    /// Make sure image `name` is present: chronous' own images must have been
    /// built (`bash images/build.sh`); others are pulled, which needs a
    /// reachable registry. Fails with [`DockerError::ImageMissing`] saying how
    /// to get the image.
    pub async fn ensure_image(&self, name: &str) -> Result<(), DockerError> {
        if self.image_exists(name).await? {
            return Ok(());
        }
        if is_chronous_image(name) {
            return Err(DockerError::ImageMissing {
                image: name.to_string(),
                hint: "chronous builds its own images from Debian packages, without a registry: run `bash images/build.sh` in the chronous repository".to_string(),
            });
        }
        let (repo, tag) = split_image(name);
        let opts = CreateImageOptions {
            from_image: repo.to_string(),
            tag: tag.to_string(),
            ..Default::default()
        };
        let mut pull = self.inner.create_image(Some(opts), None, None);
        let mut failure = None;
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error {
                        failure = Some(err);
                        break;
                    }
                }
                Err(e) => {
                    let e = self.map(format!("pull {name}"), e);
                    if matches!(e, DockerError::Unreachable { .. }) {
                        return Err(e);
                    }
                    failure = Some(match e {
                        DockerError::Api { message, .. } => message,
                        other => other.to_string(),
                    });
                    break;
                }
            }
        }
        if failure.is_none() && self.image_exists(name).await? {
            return Ok(());
        }
        let why = failure
            .unwrap_or_else(|| "the pull finished but the image is still missing".to_string());
        Err(DockerError::ImageMissing {
            image: name.to_string(),
            hint: format!("the pull failed ({why}); on a machine with registry access run `docker pull {name}`, or bring it here with `docker save {name} | gzip > image.tar.gz` there and `docker load -i image.tar.gz` here"),
        })
    }

    // ---------------------------------------------------------------- containers

    /// Create (not start) a container for `env` from `spec`; returns its id.
    pub async fn create_container(
        &self,
        env: &str,
        spec: &ContainerSpec,
    ) -> Result<String, DockerError> {
        let mut l: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        l.extend(self.extra.clone());
        l.extend(labels(env, &spec.role, spec.address.as_deref()));
        let mounts: Vec<Mount> = spec
            .mounts
            .iter()
            .map(|m| match m {
                MountSpec::Volume {
                    name,
                    target,
                    read_only,
                } => Mount {
                    typ: Some(MountTypeEnum::VOLUME),
                    source: Some(name.clone()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                MountSpec::Bind {
                    source,
                    target,
                    read_only,
                } => Mount {
                    typ: Some(MountTypeEnum::BIND),
                    source: Some(source.clone()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
            })
            .collect();
        let mut host = HostConfig {
            mounts: if mounts.is_empty() {
                None
            } else {
                Some(mounts)
            },
            memory: spec.memory_mb.map(|m| (m * 1024 * 1024) as i64),
            network_mode: Some(match &spec.netns_of {
                Some(c) => format!("container:{c}"),
                None => spec.network.clone().unwrap_or_else(|| "none".to_string()),
            }),
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            ..Default::default()
        };
        let mut exposed = None;
        if let Some(port) = spec.publish.filter(|_| spec.netns_of.is_none()) {
            let key = format!("{port}/tcp");
            let mut pb = HashMap::new();
            pb.insert(
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_string()),
                    host_port: Some(String::new()),
                }]),
            );
            host.port_bindings = Some(pb);
            let mut e = HashMap::new();
            e.insert(key, HashMap::new());
            exposed = Some(e);
        }
        let networking_config = spec
            .network
            .as_ref()
            .filter(|_| spec.netns_of.is_none())
            .map(|net| {
                let mut endpoints = HashMap::new();
                endpoints.insert(
                    net.clone(),
                    EndpointSettings {
                        aliases: if spec.aliases.is_empty() {
                            None
                        } else {
                            Some(spec.aliases.clone())
                        },
                        ..Default::default()
                    },
                );
                NetworkingConfig {
                    endpoints_config: endpoints,
                }
            });
        let config = Config {
            image: Some(spec.image.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(l),
            exposed_ports: exposed,
            user: spec.user.clone(),
            host_config: Some(host),
            networking_config,
            ..Default::default()
        };
        let secrets: Vec<&str> = spec.env.iter().map(|(_, v)| v.as_str()).collect();
        let opts = CreateContainerOptions {
            name: spec.name.clone(),
            platform: None,
        };
        match self.inner.create_container(Some(opts), config).await {
            Ok(r) => Ok(r.id),
            Err(e) => Err(
                match self.map(
                    format!("create container {} from {}", spec.name, spec.image),
                    e,
                ) {
                    DockerError::Api {
                        action,
                        status,
                        message,
                    } => DockerError::Api {
                        action,
                        status,
                        message: scrub(message, &secrets),
                    },
                    DockerError::Request { action, message } => DockerError::Request {
                        action,
                        message: scrub(message, &secrets),
                    },
                    other => other,
                },
            ),
        }
    }

    /// Start a created or stopped container (a running one is left as is).
    pub async fn start_container(&self, container: &str) -> Result<(), DockerError> {
        match self.inner.start_container::<String>(container, None).await {
            // 304: already started.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.map(format!("start container {container}"), e)),
        }
    }

    /// Create and start; returns the id.
    pub async fn run_container(
        &self,
        env: &str,
        spec: &ContainerSpec,
    ) -> Result<String, DockerError> {
        let id = self.create_container(env, spec).await?;
        self.start_container(&id).await?;
        Ok(id)
    }

    /// Create and start a short-lived container, wait (at most `timeout`)
    /// for it to exit, collect its exit code and output, and remove it.
    pub async fn run_to_end(
        &self,
        env: &str,
        spec: &ContainerSpec,
        timeout: std::time::Duration,
    ) -> Result<ExecOutput, DockerError> {
        let _ = self.remove_container(&spec.name).await;
        let id = self.create_container(env, spec).await?;
        let ran = async {
            self.start_container(&id).await?;
            match tokio::time::timeout(timeout, self.wait(&id)).await {
                Ok(code) => code,
                Err(_) => Err(DockerError::Request {
                    action: format!("run container {}", spec.name),
                    message: format!("it did not finish within {} s", timeout.as_secs()),
                }),
            }
        }
        .await;
        let out = match ran {
            Ok(exit_code) => {
                let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
                let mut lines = self.logs(&id, None, false);
                while let Some(Ok(l)) = lines.next().await {
                    match l.stream {
                        LogStream::Stdout => stdout.push(l.text),
                        LogStream::Stderr => stderr.push(l.text),
                    }
                }
                Ok(ExecOutput {
                    exit_code,
                    stdout: stdout.join("\n"),
                    stderr: stderr.join("\n"),
                })
            }
            Err(e) => Err(e),
        };
        let _ = self.remove_container(&id).await;
        out
    }

    /// Stop a container (SIGTERM, then SIGKILL after `timeout_s`). A stopped
    /// or missing container is not an error.
    pub async fn stop_container(&self, container: &str, timeout_s: i64) -> Result<(), DockerError> {
        match self
            .inner
            .stop_container(container, Some(StopContainerOptions { t: timeout_s }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(self.map(format!("stop container {container}"), e)),
        }
    }

    /// Kill a running container with SIGKILL (exit code 137), as a crash or
    /// the OOM killer would. A stopped or missing container is not an error.
    pub async fn kill_container(&self, container: &str) -> Result<(), DockerError> {
        let opts = KillContainerOptions { signal: "SIGKILL" };
        match self.inner.kill_container(container, Some(opts)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(()),
            Err(e) => Err(self.map(format!("kill container {container}"), e)),
        }
    }

    /// Remove a container, forcibly, with its anonymous volumes (named volumes
    /// stay). A missing container is not an error.
    pub async fn remove_container(&self, container: &str) -> Result<(), DockerError> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.inner.remove_container(container, Some(opts)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // 409: removal already in progress.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(self.map(format!("remove container {container}"), e)),
        }
    }

    /// Inspect one container by id or name; `None` if it does not exist.
    pub async fn inspect(&self, container: &str) -> Result<Option<ContainerInfo>, DockerError> {
        let c = match self.inner.inspect_container(container, None).await {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(self.map(format!("inspect container {container}"), e)),
        };
        let labels = sorted(
            c.config
                .as_ref()
                .and_then(|x| x.labels.clone())
                .unwrap_or_default(),
        );
        let st = c.state.unwrap_or_default();
        let state = st.status.map(|s| s.to_string()).unwrap_or_default();
        let health = st.health.and_then(|h| h.status).map(|s| s.to_string());
        Ok(Some(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: c.config.and_then(|x| x.image).unwrap_or_default(),
            role: labels.get(LABEL_ROLE).cloned(),
            address: labels.get(LABEL_ADDRESS).cloned(),
            labels,
            status: match (&health, st.exit_code) {
                (Some(h), _) if !h.is_empty() => format!("{state} ({h})"),
                (_, Some(code)) if state == "exited" => format!("exited ({code})"),
                _ => state.clone(),
            },
            running: st.running.unwrap_or(false),
            paused: st.paused.unwrap_or(false),
            state,
        }))
    }

    /// When a container last started (Docker's `State.StartedAt`); `None`
    /// if it does not exist.
    pub async fn started_at(&self, container: &str) -> Result<Option<String>, DockerError> {
        match self.inner.inspect_container(container, None).await {
            Ok(c) => Ok(c.state.and_then(|s| s.started_at)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.map(format!("inspect container {container}"), e)),
        }
    }

    /// The host port (on 127.0.0.1) that container port `port`/tcp is published on.
    pub async fn host_port(&self, container: &str, port: u16) -> Result<Option<u16>, DockerError> {
        let c = match self.inner.inspect_container(container, None).await {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(DockerError::NotFound {
                    what: "container",
                    name: container.to_string(),
                })
            }
            Err(e) => return Err(self.map(format!("inspect container {container}"), e)),
        };
        let ports = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
        Ok(ports
            .get(&format!("{port}/tcp"))
            .cloned()
            .flatten()
            .unwrap_or_default()
            .iter()
            .filter(|b| {
                b.host_ip
                    .as_deref()
                    .is_none_or(|ip| ip == "127.0.0.1" || ip.is_empty())
            })
            .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse().ok())))
    }

    /// The containers of `env` (all states), optionally only those of `role`, sorted by name.
    pub async fn list(
        &self,
        env: &str,
        role: Option<&str>,
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        let mut label = vec![env_filter(env)];
        if let Some(r) = role {
            label.push(format!("{LABEL_ROLE}={r}"));
        }
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), label);
        let opts = ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        };
        let list = self
            .inner
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.map("list containers", e))?;
        let mut out: Vec<ContainerInfo> = list
            .into_iter()
            .map(|c| {
                let labels = sorted(c.labels.unwrap_or_default());
                let state = c.state.unwrap_or_default();
                ContainerInfo {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    role: labels.get(LABEL_ROLE).cloned(),
                    address: labels.get(LABEL_ADDRESS).cloned(),
                    labels,
                    status: c.status.unwrap_or_default(),
                    // As `docker inspect` says: a paused container is still running.
                    running: state == "running" || state == "paused",
                    paused: state == "paused",
                    state,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Wait for a container to stop; returns its exit code.
    pub async fn wait(&self, container: &str) -> Result<i64, DockerError> {
        let mut s = self.inner.wait_container(
            container,
            Some(WaitContainerOptions {
                condition: "not-running".to_string(),
            }),
        );
        let mut code = None;
        while let Some(r) = s.next().await {
            match r {
                Ok(w) => code = Some(w.status_code),
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => {
                    code = Some(c)
                }
                Err(e) => return Err(self.map(format!("wait for container {container}"), e)),
            }
        }
        match code {
            Some(c) => Ok(c),
            None => self
                .inner
                .inspect_container(container, None)
                .await
                .map(|c| c.state.and_then(|s| s.exit_code).unwrap_or(-1))
                .map_err(|e| self.map(format!("inspect container {container}"), e)),
        }
    }

    /// Unpack a tar archive (plain, or gzip/bzip2/xz compressed) into `path`
    /// of a container (created or running; its volumes are mounted).
    pub async fn upload(
        &self,
        container: &str,
        path: &str,
        archive: Vec<u8>,
    ) -> Result<(), DockerError> {
        let opts = UploadToContainerOptions {
            path: path.to_string(),
            ..Default::default()
        };
        self.inner
            .upload_to_container(container, Some(opts), archive.into())
            .await
            .map_err(|e| self.map(format!("upload an archive into {container}:{path}"), e))
    }

    /// The contents of one regular file of a container (created or running);
    /// `None` if it does not exist.
    pub async fn read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, DockerError> {
        let mut s = self.inner.download_from_container(
            container,
            Some(DownloadFromContainerOptions {
                path: path.to_string(),
            }),
        );
        let mut tarball = Vec::new();
        while let Some(chunk) = s.next().await {
            match chunk {
                Ok(b) => tarball.extend_from_slice(&b),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(e) => return Err(self.map(format!("read {container}:{path}"), e)),
            }
        }
        let mut archive = tar::Archive::new(tarball.as_slice());
        let entries = archive.entries().map_err(|e| DockerError::Request {
            action: format!("read {container}:{path}"),
            message: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| DockerError::Request {
                action: format!("read {container}:{path}"),
                message: e.to_string(),
            })?;
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| {
                    DockerError::Request {
                        action: format!("read {container}:{path}"),
                        message: e.to_string(),
                    }
                })?;
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Run `cmd` in a running container (as its default user) and collect its
    /// exit code and output.
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput, DockerError> {
        let action = || {
            format!(
                "run `{}` in container {container}",
                cmd.first().copied().unwrap_or("")
            )
        };
        let opts = CreateExecOptions::<String> {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let created = self
            .inner
            .create_exec(container, opts)
            .await
            .map_err(|e| self.map(action(), e))?;
        let started = self
            .inner
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| self.map(action(), e))?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| self.map(action(), e))? {
                    LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    other => stdout.extend_from_slice(&other.into_bytes()),
                }
            }
        }
        // The exit code is set once the process is reaped, shortly after the stream ends.
        let mut exit_code = None;
        for _ in 0..200 {
            let info = self
                .inner
                .inspect_exec(&created.id)
                .await
                .map_err(|e| self.map(action(), e))?;
            if info.running != Some(true) {
                exit_code = info.exit_code;
                if exit_code.is_some() {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(ExecOutput {
            exit_code: exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// A container's log as lines (stdout and stderr, in order), since
    /// `since` (UNIX seconds; `None`: from the start), optionally following
    /// new output until the container stops.
    pub fn logs(&self, container: &str, since: Option<i64>, follow: bool) -> LogLines {
        self.logs_inner(container, since, follow, "all".to_string())
    }

    fn logs_inner(
        &self,
        container: &str,
        since: Option<i64>,
        follow: bool,
        tail: String,
    ) -> LogLines {
        let opts = LogsOptions::<String> {
            follow,
            stdout: true,
            stderr: true,
            since: since.unwrap_or(0),
            tail,
            ..Default::default()
        };
        let this = self.clone();
        let name = container.to_string();
        let raw = self.inner.logs(container, Some(opts));
        struct State<S> {
            raw: S,
            partial: [Vec<u8>; 2],
            ready: VecDeque<Result<LogLine, DockerError>>,
            done: bool,
        }
        let state = State {
            raw,
            partial: [Vec::new(), Vec::new()],
            ready: VecDeque::new(),
            done: false,
        };
        Box::pin(futures_util::stream::unfold(state, move |mut st| {
            let this = this.clone();
            let name = name.clone();
            async move {
                loop {
                    if let Some(item) = st.ready.pop_front() {
                        return Some((item, st));
                    }
                    if st.done {
                        return None;
                    }
                    match st.raw.next().await {
                        Some(Ok(out)) => {
                            let (idx, stream) = match out {
                                LogOutput::StdErr { .. } => (1, LogStream::Stderr),
                                _ => (0, LogStream::Stdout),
                            };
                            let buf = &mut st.partial[idx];
                            buf.extend_from_slice(&out.into_bytes());
                            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                                let line: Vec<u8> = buf.drain(..=pos).collect();
                                let text = String::from_utf8_lossy(&line[..line.len() - 1])
                                    .trim_end_matches('\r')
                                    .to_string();
                                st.ready.push_back(Ok(LogLine { stream, text }));
                            }
                        }
                        Some(Err(e)) => {
                            st.done = true;
                            st.ready.push_back(Err(
                                this.map(format!("read the log of container {name}"), e)
                            ));
                        }
                        None => {
                            st.done = true;
                            for (idx, stream) in [(0, LogStream::Stdout), (1, LogStream::Stderr)] {
                                if !st.partial[idx].is_empty() {
                                    let text = String::from_utf8_lossy(&std::mem::take(
                                        &mut st.partial[idx],
                                    ))
                                    .into_owned();
                                    st.ready.push_back(Ok(LogLine { stream, text }));
                                }
                            }
                        }
                    }
                }
            }
        }))
    }

    /// The last `n` lines of a container's log (stdout and stderr), joined
    /// with newlines, for error messages. Never fails: a log that cannot be
    /// read gives a note saying so.
    pub async fn log_tail(&self, container: &str, n: usize) -> String {
        let mut s = self.logs_inner(container, None, false, n.to_string());
        let mut lines = Vec::new();
        while let Some(l) = s.next().await {
            match l {
                Ok(l) => lines.push(l.text),
                Err(e) => {
                    lines.push(format!("(could not read the log: {e})"));
                    break;
                }
            }
        }
        lines.join("\n")
    }

    // ---------------------------------------------------------------- sweep

    /// Remove every container (forcibly, with its anonymous volumes), volume
    /// and network labelled `chronous.environment=<env>`, and nothing else.
    /// Objects that cannot be removed are listed in [`SweepReport::failed`];
    /// only an unreachable daemon is an error.
    pub async fn sweep(&self, env: &str) -> Result<SweepReport, DockerError> {
        let mut report = SweepReport::default();
        for c in self.list(env, None).await? {
            match self.remove_container(&c.id).await {
                Ok(()) => report.containers.push(c.name),
                Err(e @ DockerError::Unreachable { .. }) => return Err(e),
                Err(e) => report
                    .failed
                    .push((format!("container {}", c.name), e.to_string())),
            }
        }
        for v in self.list_volumes(env, None).await? {
            match self.remove_volume(&v).await {
                Ok(()) => report.volumes.push(v),
                Err(e @ DockerError::Unreachable { .. }) => return Err(e),
                Err(e) => report.failed.push((format!("volume {v}"), e.to_string())),
            }
        }
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![env_filter(env)]);
        let nets = self
            .inner
            .list_networks(Some(ListNetworksOptions { filters }))
            .await
            .map_err(|e| self.map("list networks", e))?;
        for n in nets {
            let name = n.name.unwrap_or_default();
            let id = n.id.unwrap_or_else(|| name.clone());
            match self.inner.remove_network(&id).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => report.networks.push(name),
                Err(e) => match self.map(format!("remove network {name}"), e) {
                    e @ DockerError::Unreachable { .. } => return Err(e),
                    e => report
                        .failed
                        .push((format!("network {name}"), e.to_string())),
                },
            }
        }
        Ok(report)
    }
}

/// A failed push, with what to do about it.
fn push_error(image: &str, registry: &str, status: Option<u16>, message: String) -> DockerError {
    let m = message.to_lowercase();
    let (image, registry) = (image.to_string(), registry.to_string());
    if m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("denied")
        || m.contains("no basic auth credentials")
        || status == Some(401)
    {
        return DockerError::PushDenied {
            image,
            registry,
            message,
            hint: "the registry credentials are wrong or expired (ECR's last 12 hours): run the deploy again for fresh ones; on AWS, check that the credentials in use may ecr:GetAuthorizationToken and ecr:PutImage / ecr:UploadLayerPart on the repository".to_string(),
        };
    }
    let hint = if m.contains("http response to https client") {
        "the registry speaks plain HTTP: Docker pushes over plain HTTP only to 127.0.0.0/8 or to registries listed in the daemon's insecure-registries"
    } else if m.contains("connection refused")
        || m.contains("no such host")
        || m.contains("timeout")
        || m.contains("i/o timeout")
    {
        "the Docker daemon cannot reach the registry: check the network (and a proxy the daemon uses), then deploy again"
    } else if m.contains("name unknown") || m.contains("repository") && m.contains("not exist") {
        "the repository does not exist in the registry: apply the environment first (it creates the ECR repository)"
    } else {
        "look at the Docker daemon's log for the cause, then deploy again"
    };
    DockerError::Push {
        image,
        registry,
        message,
        hint: hint.to_string(),
    }
}

/// `repo[:tag]` -> (repo, tag); a `:` inside a registry host:port is not a tag.
fn split_image(name: &str) -> (&str, &str) {
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split() {
        assert_eq!(split_image("mysql:5.7"), ("mysql", "5.7"));
        assert_eq!(
            split_image("percona/percona-xtrabackup:8.0"),
            ("percona/percona-xtrabackup", "8.0")
        );
        assert_eq!(
            split_image("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(split_image("busybox"), ("busybox", "latest"));
        assert!(is_chronous_image("chronous/mariadb:10.11"));
        assert!(is_chronous_image("chronous-payments-web-api:1.0"));
        assert!(!is_chronous_image("mysql:8.0"));
    }

    #[test]
    fn secrets_are_scrubbed_and_not_debug_printed() {
        let spec = ContainerSpec {
            env: vec![("MARIADB_PASSWORD".into(), "s3cret-pw".into())],
            ..Default::default()
        };
        let dbg = format!("{spec:?}");
        assert!(!dbg.contains("s3cret-pw"), "{dbg}");
        assert!(dbg.contains("MARIADB_PASSWORD=<redacted>"));
        assert_eq!(
            scrub("bad value s3cret-pw here".into(), &["s3cret-pw"]),
            "bad value <redacted> here"
        );
    }
}
