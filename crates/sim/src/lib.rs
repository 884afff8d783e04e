//! The simulator backend of chronous.
//!
//! [`SimProvider`] implements core's [`Provider`] over the simulated control
//! plane in [`cloud`]: it records every object with AWS-like ids and ARNs
//! under the environment's `.chronous/sim/` folder, refuses what AWS refuses
//! (a taken name, a reference to an object that does not exist, deleting an
//! object something still refers to) and adopts, instead of duplicating, an
//! object it created for the same address before a crash.

pub mod cloud;
pub mod controller;
pub mod db;
pub mod desired;
pub mod elb;
pub mod elb_process;
pub mod firewall;
pub mod load;
mod make;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chronous_core::provider::{CreateRequest, ErrorKind, Observed, Provider, ProviderError};
use chronous_core::resources::{Kind, S3ObjectSpec, Spec};
use chronous_core::secret::{Secret, SecretSource};
use chronous_core::state::ResourceRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cloud::{Cloud, CloudError, Object};

/// The account id the simulator reports (moto's, too).
pub const ACCOUNT: &str = "123456789012";

/// Which runtime stands behind the simulated control plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Real containers: the database restored from the backup, the bastion,
    /// the service's tasks, and a real HTTP load balancer on 127.0.0.1.
    #[default]
    Docker,
    /// The control plane only: objects are recorded, nothing is run.
    Model,
}

/// Options of the simulator: its runtime, plus fault injection and pacing for tests.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// `CHRONOUS_SIM_RUNTIME=docker|model`.
    pub runtime: Runtime,
    /// Addresses whose create, update or delete fails (`CHRONOUS_SIM_FAIL_ON`).
    pub fail_on: Vec<String>,
    /// Latency added to every step (`CHRONOUS_SIM_LATENCY_MS`).
    pub latency: Duration,
}

impl SimOptions {
    /// Read the options from `CHRONOUS_SIM_FAIL_ON` (comma-separated addresses)
    /// and `CHRONOUS_SIM_LATENCY_MS`.
    pub fn from_env() -> SimOptions {
        SimOptions {
            runtime: match std::env::var("CHRONOUS_SIM_RUNTIME").as_deref() {
                Ok("model") => Runtime::Model,
                _ => Runtime::Docker,
            },
            fail_on: std::env::var("CHRONOUS_SIM_FAIL_ON")
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            latency: Duration::from_millis(
                std::env::var("CHRONOUS_SIM_LATENCY_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
        }
    }
}

pub struct SimProvider {
    env_dir: PathBuf,
    env_name: String,
    region: String,
    cloud: Mutex<Cloud>,
    opts: SimOptions,
    docker: tokio::sync::OnceCell<chronous_docker::Docker>,
}

/// The image the simulated bastion runs (a shell on the private network).
pub const BASTION_IMAGE: &str = "chronous/debian-base:bookworm";

/// What the docker runtime runs for an object of a kind: the one table of it,
/// read by create (start it), read (is it still there) and delete (stop it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// The database container, restored from the backup.
    Database,
    /// The bastion's container.
    Bastion,
    /// Nothing runs, but the task definition's image must be in the local store.
    ImageCheck,
    /// The control plane alone holds it.
    Nothing,
}

fn runs(kind: Kind) -> Runs {
    match kind {
        Kind::DbInstance => Runs::Database,
        Kind::Instance => Runs::Bastion,
        Kind::EcsTaskDefinition => Runs::ImageCheck,
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::Eip
        | Kind::NatGateway
        | Kind::RouteTable
        | Kind::RouteTableAssociation
        | Kind::SecurityGroup
        | Kind::SecurityGroupRule
        | Kind::KeyPair
        | Kind::AmiLookup
        | Kind::IamRole
        | Kind::IamRolePolicyAttachment
        | Kind::IamRolePolicy
        | Kind::IamInstanceProfile
        | Kind::LaunchTemplate
        | Kind::LaunchConfiguration
        | Kind::AutoScalingGroup
        | Kind::EcsCluster
        | Kind::EcrRepository
        | Kind::EcsService
        | Kind::Elb
        | Kind::CloudwatchLogGroup
        | Kind::S3Bucket
        | Kind::S3Object
        | Kind::DbSubnetGroup
        | Kind::SsmParameter
        | Kind::Data => Runs::Nothing,
    }
}

fn err(e: CloudError) -> ProviderError {
    match e {
        CloudError::Store(s) => ProviderError::of(ErrorKind::Local, format!("simulator store: {s}"))
            .with_hint("check the permissions and free space of the environment folder"),
        CloudError::DependencyViolation { .. } => ProviderError::of(ErrorKind::Conflict, e.to_string()),
        CloudError::NoObject(_) => ProviderError::of(ErrorKind::NotFound, e.to_string()),
        CloudError::Corrupt { .. } => ProviderError::of(ErrorKind::Local, e.to_string())
            .with_hint("the simulator's store is damaged: remove .chronous/sim and run apply again (the simulated objects are made again)"),
        CloudError::NoAttributes | CloudError::NoAttribute { .. } => {
            ProviderError::of(ErrorKind::Refused, e.to_string())
        }
    }
}

impl SimProvider {
    /// Open the simulated cloud of the environment in `env_dir` (state folder `state_dir`).
    pub fn open(
        env_dir: &Path,
        state_dir: &Path,
        env_name: &str,
        region: &str,
        opts: SimOptions,
    ) -> Result<SimProvider, ProviderError> {
        let cloud = Cloud::open(&Cloud::dir_of(state_dir), env_name).map_err(err)?;
        // One environment, one runtime: objects made for one mean nothing to the other.
        let marker = Cloud::dir_of(state_dir).join("runtime");
        let want = match opts.runtime {
            Runtime::Docker => "docker",
            Runtime::Model => "model",
        };
        match std::fs::read_to_string(&marker) {
            Ok(had) if had.trim() != want && cloud.objects().next().is_some() => {
                return Err(ProviderError::new(format!(
                    "environment `{env_name}` was applied with the simulator's {} runtime, not the {want} runtime",
                    had.trim()
                ))
                .with_hint(format!("run with CHRONOUS_SIM_RUNTIME={}, or destroy it with that runtime first", had.trim())));
            }
            Ok(had) if had.trim() == want => {}
            _ => {
                let _ = std::fs::create_dir_all(Cloud::dir_of(state_dir));
                let _ = std::fs::write(&marker, want);
            }
        }
        Ok(SimProvider {
            env_dir: env_dir.to_path_buf(),
            env_name: env_name.to_string(),
            region: region.to_string(),
            cloud: Mutex::new(cloud),
            opts,
            docker: tokio::sync::OnceCell::new(),
        })
    }

    /// Fold the simulator's log into its snapshot (after an apply).
    pub fn compact(&self) -> Result<(), ProviderError> {
        self.cloud
            .lock()
            .expect("cloud lock")
            .compact()
            .map_err(err)
    }

    /// Run `f` on the simulated cloud (for the `sim console` commands and status).
    pub fn with_cloud<T>(&self, f: impl FnOnce(&mut Cloud) -> T) -> T {
        f(&mut self.cloud.lock().expect("cloud lock"))
    }

    async fn pace(&self, address: &str, what: &str) -> Result<(), ProviderError> {
        if !self.opts.latency.is_zero() {
            tokio::time::sleep(self.opts.latency).await;
        }
        if self.opts.fail_on.iter().any(|a| a == address) {
            return Err(ProviderError::new(format!("{address}: injected fault on {what} (CHRONOUS_SIM_FAIL_ON)"))
                .with_hint("unset CHRONOUS_SIM_FAIL_ON and apply again: chronous continues from what completed"));
        }
        Ok(())
    }

    async fn docker(&self, address: &str) -> Result<&chronous_docker::Docker, ProviderError> {
        let dir = std::fs::canonicalize(&self.env_dir)
            .unwrap_or_else(|_| self.env_dir.clone())
            .display()
            .to_string();
        let env = self.env_name.clone();
        self.docker.get_or_try_init(|| async move { chronous_docker::Docker::connect().await?.owned_by(&env, &dir).await }).await.map_err(|e| {
            ProviderError::of(ErrorKind::Unreachable, format!("{address}: {e}"))
                .with_hint("start the Docker daemon, or rehearse the control plane only with CHRONOUS_SIM_RUNTIME=model")
        })
    }

    /// Start what the docker runtime runs for an object being created.
    async fn run_for(
        &self,
        address: &str,
        spec: &Spec,
        outputs: &mut BTreeMap<String, Value>,
    ) -> Result<(), ProviderError> {
        if self.opts.runtime != Runtime::Docker {
            return Ok(());
        }
        match spec {
            Spec::DbInstance(d) => {
                let password = self.password(address, &d.password_source)?;
                let docker = self.docker(address).await?;
                let host = outputs
                    .get("address")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let cfg = db::DbConfig::new(
                    &self.env_name,
                    address,
                    &d.identifier,
                    host,
                    &d.username,
                    password.expose(),
                    &d.db_name,
                    d.restore.as_ref().map(|r| self.path(&r.backup_file)),
                );
                let rt = db::restore_and_start(docker, &cfg).await.map_err(|e| {
                    ProviderError::new(format!("{address}: {e}"))
                        .with_hint("fix the cause above and apply again: what completed is kept")
                })?;
                outputs.insert("container".into(), json!(rt.container_name));
                if let Some(m) = rt.made_by {
                    outputs.insert("backup_made_by".into(), json!(m));
                }
                if let Some(r) = rt.restored_by {
                    outputs.insert("restored_by".into(), json!(r));
                }
                outputs.insert("server_version".into(), json!(rt.server_version));
            }
            Spec::Instance(_) => {
                let docker = self.docker(address).await?;
                let existing = docker
                    .list(&self.env_name, Some("bastion"))
                    .await
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                if let Some(c) = existing
                    .iter()
                    .find(|c| c.address.as_deref() == Some(address) && c.running)
                {
                    outputs.insert("container".into(), json!(c.name));
                    return Ok(());
                }
                for c in existing
                    .iter()
                    .filter(|c| c.address.as_deref() == Some(address))
                {
                    let _ = docker.remove_container(&c.id).await;
                }
                docker
                    .ensure_image(BASTION_IMAGE)
                    .await
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                let network = docker
                    .ensure_network(&self.env_name)
                    .await
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                let name = format!("chronous-{}-bastion", self.env_name);
                let spec = chronous_docker::ContainerSpec {
                    name: name.clone(),
                    image: BASTION_IMAGE.into(),
                    cmd: Some(vec!["sleep".into(), "infinity".into()]),
                    role: "bastion".into(),
                    address: Some(address.to_string()),
                    network: Some(network),
                    aliases: vec!["bastion".into()],
                    ..Default::default()
                };
                docker
                    .run_container(&self.env_name, &spec)
                    .await
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
                outputs.insert("container".into(), json!(name));
            }
            Spec::EcsTaskDefinition(t) => {
                // ECR resolves from the local image store: say now if the image is not there.
                let image = desired::local_image(&t.container.image);
                let docker = self.docker(address).await?;
                if !docker
                    .image_exists(&image)
                    .await
                    .map_err(|e| ProviderError::new(format!("{address}: {e}")))?
                {
                    return Err(ProviderError::new(format!("{address}: image `{image}` is not in the local Docker image store")).with_hint(
                        "build it (bash images/build.sh builds the reference app), `docker load` it, or `docker tag` a local image with that name",
                    ));
                }
            }
            // Nothing runs for these kinds: the control plane alone holds them.
            Spec::Vpc(_)
            | Spec::Subnet(_)
            | Spec::InternetGateway(_)
            | Spec::Eip(_)
            | Spec::NatGateway(_)
            | Spec::RouteTable(_)
            | Spec::RouteTableAssociation(_)
            | Spec::SecurityGroup(_)
            | Spec::SecurityGroupRule(_)
            | Spec::KeyPair(_)
            | Spec::AmiLookup(_)
            | Spec::IamRole(_)
            | Spec::IamRolePolicyAttachment(_)
            | Spec::IamRolePolicy(_)
            | Spec::IamInstanceProfile(_)
            | Spec::LaunchTemplate(_)
            | Spec::AutoScalingGroup(_)
            | Spec::LaunchConfiguration(_)
            | Spec::EcsCluster(_)
            | Spec::EcrRepository(_)
            | Spec::EcsService(_)
            | Spec::Elb(_)
            | Spec::CloudwatchLogGroup(_)
            | Spec::S3Bucket(_)
            | Spec::S3Object(_)
            | Spec::DbSubnetGroup(_)
            | Spec::SsmParameter(_)
            | Spec::Data(_) => {}
        }
        Ok(())
    }

    /// Stop what the docker runtime runs for an object being deleted.
    async fn stop_for(&self, record: &ResourceRecord) -> Result<(), ProviderError> {
        if self.opts.runtime != Runtime::Docker {
            return Ok(());
        }
        match runs(record.kind) {
            Runs::Database => {
                let docker = self.docker(&record.address).await?;
                db::stop_and_remove(docker, &self.env_name, &record.id)
                    .await
                    .map_err(|e| ProviderError::new(format!("{}: {e}", record.address)))?;
            }
            Runs::Bastion => {
                let docker = self.docker(&record.address).await?;
                let cs = docker
                    .list(&self.env_name, Some("bastion"))
                    .await
                    .map_err(|e| ProviderError::new(format!("{}: {e}", record.address)))?;
                for c in cs
                    .iter()
                    .filter(|c| c.address.as_deref() == Some(record.address.as_str()))
                {
                    docker
                        .remove_container(&c.id)
                        .await
                        .map_err(|e| ProviderError::new(format!("{}: {e}", record.address)))?;
                }
            }
            Runs::ImageCheck | Runs::Nothing => {}
        }
        Ok(())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env_dir.join(rel)
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{ACCOUNT}:{rest}", self.region)
    }

    /// Check the ids a spec names exist, as AWS answers `...NotFound`.
    fn check_refs(cloud: &Cloud, address: &str, attrs: &Value) -> Result<(), ProviderError> {
        const PREFIXES: &[&str] = &[
            "vpc-",
            "subnet-",
            "igw-",
            "eipalloc-",
            "nat-",
            "rtb-",
            "sg-",
            "lt-",
            "ami-",
        ];
        let mut bad = None;
        fn walk<'a>(v: &'a Value, f: &mut impl FnMut(&'a str)) {
            match v {
                Value::String(s) => f(s),
                Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
                Value::Object(o) => o.values().for_each(|x| walk(x, f)),
                _ => {}
            }
        }
        walk(attrs, &mut |s| {
            if bad.is_none()
                && PREFIXES
                    .iter()
                    .any(|p| s.starts_with(p) && !s.contains(' '))
                && cloud.get(s).is_none()
            {
                bad = Some(s.to_string());
            }
        });
        match bad {
            Some(id) => Err(ProviderError::new(format!(
                "{address}: InvalidID.NotFound: `{id}` does not exist"
            ))),
            None => Ok(()),
        }
    }

    /// Upload the object's file: refused when its content is not the one the
    /// plan was made with (`source_sha256`, when the plan knew it).
    fn upload(
        &self,
        address: &str,
        o: &S3ObjectSpec,
    ) -> Result<BTreeMap<String, Value>, ProviderError> {
        let p = self.path(&o.source);
        let bytes = std::fs::read(&p).map_err(|e| {
            ProviderError::new(format!("{address}: cannot read {}: {e}", p.display()))
                .with_hint("fix database.restore.backup_file, or create the backup file")
        })?;
        let sha = Sha256::digest(&bytes);
        let sha_hex = hex::encode(sha.as_slice());
        if let Some(want) = o.source_sha256.as_deref().filter(|w| *w != sha_hex) {
            return Err(ProviderError::new(format!(
                "{address}: {} changed after the plan was made (its sha256 is {sha_hex}, the plan has {want})",
                p.display()
            ))
            .with_hint("run plan again, and apply the plan that shows the new backup"));
        }
        let mut out = BTreeMap::new();
        out.insert("etag".to_string(), json!(hex::encode(&sha[..16])));
        out.insert("size".to_string(), json!(bytes.len()));
        Ok(out)
    }

    fn check_password(&self, address: &str, source: &SecretSource) -> Result<(), ProviderError> {
        self.password(address, source).map(|_| ())
    }

    /// The database password, read now from where the spec says; never stored.
    fn password(&self, address: &str, source: &SecretSource) -> Result<Secret, ProviderError> {
        chronous_store::secret::read_for(address, source, &self.env_dir)
    }

    fn observed(o: &Object) -> Observed {
        Observed {
            id: o.id.clone(),
            attrs: o.attrs.clone(),
            outputs: o.outputs.clone(),
        }
    }
}

impl Provider for SimProvider {
    async fn read(&self, record: &ResourceRecord) -> Result<Option<Observed>, ProviderError> {
        // A database or bastion whose container is gone (removed with docker)
        // is, to the simulated cloud, an instance deleted outside chronous.
        let role = match runs(record.kind) {
            Runs::Database => Some("db"),
            Runs::Bastion => Some("bastion"),
            Runs::ImageCheck | Runs::Nothing => None,
        };
        if let (Runtime::Docker, Some(role)) = (self.opts.runtime, role) {
            let docker = self.docker(&record.address).await?;
            let cs = docker
                .list(&self.env_name, Some(role))
                .await
                .map_err(|e| ProviderError::new(format!("{}: {e}", record.address)))?;
            if !cs
                .iter()
                .any(|c| c.address.as_deref() == Some(record.address.as_str()) && c.running)
            {
                // The simulated cloud agrees: the instance is gone from the
                // control plane too, so nothing refers to it any more.
                let mut cloud = self.cloud.lock().expect("cloud lock");
                cloud.forget(&record.id).map_err(err)?;
                return Ok(None);
            }
        }
        let cloud = self.cloud.lock().expect("cloud lock");
        Ok(cloud.get(&record.id).map(Self::observed))
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<Observed, ProviderError> {
        self.pace(req.address, "create").await?;
        let attrs = req.spec.to_attrs();
        let mut cloud = self.cloud.lock().expect("cloud lock");
        Self::check_refs(&cloud, req.address, &attrs)?;
        // Adopt what an interrupted apply created for this address.
        if let Some(existing) = cloud
            .find_by_address(req.spec.kind(), req.address, req.exclude_ids)
            .cloned()
        {
            let mut o = existing;
            o.attrs = attrs;
            if self.opts.runtime == Runtime::Docker && runs(req.spec.kind()) != Runs::Nothing {
                // What the runtime runs for it is (re)started: idempotent when it already runs.
                drop(cloud);
                self.run_for(req.address, req.spec, &mut o.outputs).await?;
                cloud = self.cloud.lock().expect("cloud lock");
            }
            cloud.put(o.clone()).map_err(err)?;
            return Ok(Self::observed(&o));
        }
        let (id, name, mut outputs) = self.make(&mut cloud, req.address, req.spec)?;
        if let Some(n) = &name {
            if cloud.name_taken(req.spec.kind(), n, None) || cloud.get(&id).is_some() {
                return Err(ProviderError::new(format!("{}: a {} named `{n}` already exists", req.address, req.spec.kind()))
                    .with_hint("another environment or a manual change uses that name: rename it in the environment file or remove the other object"));
            }
        }
        if self.opts.runtime == Runtime::Docker && runs(req.spec.kind()) != Runs::Nothing {
            // The runtime work takes a while: the control plane is not held meanwhile.
            drop(cloud);
            self.run_for(req.address, req.spec, &mut outputs).await?;
            cloud = self.cloud.lock().expect("cloud lock");
        }
        let o = Object {
            id,
            kind: req.spec.kind(),
            address: req.address.to_string(),
            name,
            attrs,
            outputs,
        };
        cloud.put(o.clone()).map_err(err)?;
        Ok(Self::observed(&o))
    }

    async fn update(
        &self,
        record: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        self.pace(&record.address, "update").await?;
        let attrs = spec.to_attrs();
        let mut cloud = self.cloud.lock().expect("cloud lock");
        Self::check_refs(&cloud, &record.address, &attrs)?;
        let mut o = cloud.get(&record.id).cloned().ok_or_else(|| {
            ProviderError::new(format!(
                "{}: {} {} no longer exists",
                record.address, record.kind, record.id
            ))
            .with_hint("run plan again: it will be created")
        })?;
        match spec {
            // A new launch template rolls out: new instances first, then the old ones go.
            Spec::AutoScalingGroup(g)
                if o.attrs.get("launch_template_id") != attrs.get("launch_template_id")
                    || o.attrs.get("desired_capacity") != attrs.get("desired_capacity") =>
            {
                let ids: Vec<String> = (0..g.desired_capacity).map(|_| cloud.new_id("i")).collect();
                o.outputs.insert("instance_ids".into(), json!(ids));
            }
            Spec::S3Object(s) => {
                o.outputs.extend(self.upload(&record.address, s)?);
            }
            Spec::DbInstance(d) => self.check_password(&record.address, &d.password_source)?,
            Spec::SsmParameter(p) => self.check_password(&record.address, &p.value_source)?,
            // The ASG without a new template or capacity, and every other kind: attributes only.
            Spec::AutoScalingGroup(_) => {}
            Spec::Vpc(_)
            | Spec::Subnet(_)
            | Spec::InternetGateway(_)
            | Spec::Eip(_)
            | Spec::NatGateway(_)
            | Spec::RouteTable(_)
            | Spec::RouteTableAssociation(_)
            | Spec::SecurityGroup(_)
            | Spec::SecurityGroupRule(_)
            | Spec::KeyPair(_)
            | Spec::AmiLookup(_)
            | Spec::IamRole(_)
            | Spec::IamRolePolicyAttachment(_)
            | Spec::IamRolePolicy(_)
            | Spec::IamInstanceProfile(_)
            | Spec::LaunchTemplate(_)
            | Spec::EcsCluster(_)
            | Spec::EcrRepository(_)
            | Spec::EcsTaskDefinition(_)
            | Spec::EcsService(_)
            | Spec::Elb(_)
            | Spec::CloudwatchLogGroup(_)
            | Spec::S3Bucket(_)
            | Spec::DbSubnetGroup(_)
            | Spec::Instance(_)
            | Spec::LaunchConfiguration(_)
            | Spec::Data(_) => {}
        }
        o.attrs = attrs;
        cloud.put(o.clone()).map_err(err)?;
        Ok(Self::observed(&o))
    }

    async fn delete(&self, record: &ResourceRecord) -> Result<(), ProviderError> {
        self.pace(&record.address, "delete").await?;
        self.stop_for(record).await?;
        let mut cloud = self.cloud.lock().expect("cloud lock");
        cloud.delete(&record.id).map_err(|e| {
            let pe = err(e);
            ProviderError {
                message: format!("{}: {}", record.address, pe.message),
                ..pe
            }
        })
    }
}
