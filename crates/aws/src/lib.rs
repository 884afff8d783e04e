//! The AWS backend of chronous.
//!
//! [`AwsProvider`] implements core's [`Provider`] through the official AWS SDK
//! for Rust, one object at a time. Every object it makes carries the tags
//! `chronous:environment=<env>` and `chronous:address=<address>`; before any
//! create it looks the object up by those tags (or by its unique name) and
//! adopts what an interrupted apply left behind, because AWS client tokens are
//! not honoured everywhere (and emulators such as moto ignore them).
//!
//! `read` maps what AWS describes back into the attribute shape of the spec,
//! so changes made outside chronous show up as attribute changes in the plan.
//!
//! Only this crate names aws-sdk types.

mod call;
pub mod deploy;
pub mod discover;
pub mod logs;
mod resources;
#[cfg(feature = "test-util")]
pub mod testing;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use chronous_core::provider::{CreateRequest, Observed, Provider, ProviderError};
use chronous_core::resources::Spec;
use chronous_core::state::ResourceRecord;
use tokio::sync::OnceCell;

use resources::common::spec_err;
use resources::*;

pub use call::{CallError, Failure};
pub use deploy::{
    ObservedEvent, RegistryAuth, RegistryAuthError, RolloutDone, RolloutError, RolloutEvent,
    RolloutProgress, RolloutTarget, ServiceObservation,
};
pub use discover::{DiscoverError, Discovered, VpcSelector};

/// Tag naming the environment an object belongs to.
pub const TAG_ENV: &str = "chronous:environment";
/// Tag naming the address an object was made for.
pub const TAG_ADDRESS: &str = "chronous:address";

/// Something to tell the person watching (waits, rollouts).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How to reach AWS, and how patiently.
#[derive(Clone)]
pub struct AwsOptions {
    /// The environment's region (`us-east-2`).
    pub region: String,
    /// Another endpoint for every service (moto, LocalStack): `--endpoint` or
    /// `AWS_ENDPOINT_URL`. S3 then uses path-style addressing.
    pub endpoint: Option<String>,
    /// The environment's name: the value of the `chronous:environment` tag.
    pub env_name: String,
    /// The environment folder: key files and the backup file are relative to it.
    pub env_dir: PathBuf,
    /// Attempts per API call in the SDK's standard retry mode (default 5).
    pub max_attempts: u32,
    /// Further tries of a call AWS keeps throttling after the SDK's own retries.
    pub throttle_retries: u32,
    /// First pause of that backoff (doubles up to 20 s).
    pub throttle_backoff: Duration,
    /// Longest wait for an object to become ready (NAT gateway, DB instance ...).
    pub wait_timeout: Duration,
    /// Pause between two polls of a waiter.
    pub poll_interval: Duration,
    /// Files above this size go up to S3 in parts.
    pub multipart_threshold: u64,
    /// Size of each part of a multipart upload (at least 5 MiB on AWS).
    pub multipart_part_size: u64,
    /// Called with a line for the person watching (waits, rollouts).
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsOptions")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("env_name", &self.env_name)
            .field("env_dir", &self.env_dir)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl AwsOptions {
    /// Defaults for an environment: endpoint from `AWS_ENDPOINT_URL` when set.
    pub fn new(
        region: impl Into<String>,
        env_name: impl Into<String>,
        env_dir: impl Into<PathBuf>,
    ) -> AwsOptions {
        AwsOptions {
            region: region.into(),
            endpoint: std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|s| !s.is_empty()),
            env_name: env_name.into(),
            env_dir: env_dir.into(),
            max_attempts: 5,
            throttle_retries: 5,
            throttle_backoff: Duration::from_millis(500),
            wait_timeout: Duration::from_secs(40 * 60),
            poll_interval: Duration::from_secs(10),
            multipart_threshold: 64 * 1024 * 1024,
            multipart_part_size: 16 * 1024 * 1024,
            progress: None,
        }
    }
}

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region: set environment.region in chronous.toml (or AWS_REGION)")]
    NoRegion,
    #[error("the AWS endpoint `{0}` is not a URL: pass --endpoint http://HOST:PORT (or unset AWS_ENDPOINT_URL)")]
    BadEndpoint(String),
    #[error("no AWS credentials found: configure a profile (AWS_PROFILE), environment variables (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or an instance role")]
    NoCredentials,
}

/// The SDK clients the provider drives (one per service).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub ec2: aws_sdk_ec2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub rds: aws_sdk_rds::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
}

impl AwsClients {
    /// Clients for every service from one SDK configuration (S3 path-style when `path_style`).
    pub fn from_conf(conf: &aws_config::SdkConfig, path_style: bool) -> AwsClients {
        let s3 = aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(path_style)
            .build();
        AwsClients {
            ec2: aws_sdk_ec2::Client::new(conf),
            ecs: aws_sdk_ecs::Client::new(conf),
            rds: aws_sdk_rds::Client::new(conf),
            ecr: aws_sdk_ecr::Client::new(conf),
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: aws_sdk_iam::Client::new(conf),
            elb: aws_sdk_elasticloadbalancing::Client::new(conf),
            autoscaling: aws_sdk_autoscaling::Client::new(conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(conf),
            ssm: aws_sdk_ssm::Client::new(conf),
            sts: aws_sdk_sts::Client::new(conf),
        }
    }
}

/// The AWS backend.
pub struct AwsProvider {
    pub(crate) c: AwsClients,
    pub(crate) opts: AwsOptions,
    account: OnceCell<String>,
    /// Who the credentials belong to, once asked ([`AwsProvider::identity`]).
    pub(crate) identity: OnceCell<Identity>,
}

/// Who the credentials belong to, as STS GetCallerIdentity answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// The 12-digit account id.
    pub account: String,
    /// The caller's ARN (`arn:aws:iam::123456789012:user/ci`, an assumed role ...).
    pub arn: String,
}

/// The SDK configuration chronous uses: the standard chain (profiles,
/// environment, instance roles), the environment's region, standard retries.
pub async fn sdk_config(opts: &AwsOptions) -> Result<aws_config::SdkConfig, AwsError> {
    if opts.region.is_empty() {
        return Err(AwsError::NoRegion);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(opts.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(e) = &opts.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(AwsError::BadEndpoint(e.clone()));
        }
        loader = loader.endpoint_url(e.clone());
    }
    let conf = loader.load().await;
    if conf.credentials_provider().is_none() {
        return Err(AwsError::NoCredentials);
    }
    Ok(conf)
}

impl AwsProvider {
    /// Set up the clients from the standard AWS configuration chain.
    pub async fn connect(opts: AwsOptions) -> Result<AwsProvider, AwsError> {
        let conf = sdk_config(&opts).await?;
        let clients = AwsClients::from_conf(&conf, opts.endpoint.is_some());
        Ok(AwsProvider::with_clients(clients, opts))
    }

    /// A provider over clients made elsewhere (tests with aws-smithy-mocks).
    pub fn with_clients(clients: AwsClients, opts: AwsOptions) -> AwsProvider {
        AwsProvider {
            c: clients,
            opts,
            account: OnceCell::new(),
            identity: OnceCell::new(),
        }
    }

    /// The clients, for callers that inspect AWS directly (status, tests).
    pub fn clients(&self) -> &AwsClients {
        &self.c
    }

    pub fn options(&self) -> &AwsOptions {
        &self.opts
    }

    pub(crate) fn progress(&self, line: impl AsRef<str>) {
        if let Some(p) = &self.opts.progress {
            p(line.as_ref());
        }
    }

    /// Who the credentials belong to (STS GetCallerIdentity, asked once):
    /// the first call every command on AWS makes, so that missing or wrong
    /// credentials, an unreachable endpoint and the wrong account are one
    /// error before anything else.
    pub async fn identity(&self) -> Result<&Identity, CallError> {
        self.identity
            .get_or_try_init(|| async {
                let o = self
                    .call(|| self.c.sts.get_caller_identity().send())
                    .await?;
                Ok(Identity {
                    account: o.account().unwrap_or_default().to_string(),
                    arn: o.arn().unwrap_or_default().to_string(),
                })
            })
            .await
    }

    /// The account id: the identity's when it was asked, else from the
    /// caller's own security groups (cached).
    pub(crate) async fn account(&self, address: &str) -> Result<String, ProviderError> {
        if let Some(i) = self.identity.get().filter(|i| !i.account.is_empty()) {
            return Ok(i.account.clone());
        }
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .call(|| self.c.ec2.describe_security_groups().max_results(5).send())
                    .await
                    .map_err(|e| e.provider(address, "find the account id"))?;
                Ok::<_, ProviderError>(
                    out.security_groups()
                        .iter()
                        .find_map(|g| g.owner_id().map(str::to_string))
                        .unwrap_or_else(|| "000000000000".into()),
                )
            })
            .await
            .cloned()
    }

    /// The tags every object gets: the environment's and the address's, plus `extra`.
    pub(crate) fn tags(
        &self,
        address: &str,
        extra: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut t: Vec<(String, String)> =
            extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        t.push((TAG_ENV.into(), self.opts.env_name.clone()));
        t.push((TAG_ADDRESS.into(), address.into()));
        t
    }

    /// Whether a tag list marks an object as this environment's `address`.
    pub(crate) fn is_ours<'a>(
        &self,
        address: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        let mut env = false;
        let mut addr = false;
        for (k, v) in tags {
            env |= k == TAG_ENV && v == self.opts.env_name;
            addr |= k == TAG_ADDRESS && v == address;
        }
        env && addr
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.opts.env_dir.join(rel)
    }

    pub(crate) fn region(&self) -> &str {
        &self.opts.region
    }

    /// Poll `f` until it gives `Some`, every `poll_interval`, for at most `wait_timeout`.
    pub(crate) async fn wait_for<T, F, Fut>(
        &self,
        address: &str,
        what: &str,
        mut f: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
    {
        let start = tokio::time::Instant::now();
        let mut announced = false;
        loop {
            if let Some(v) = f().await? {
                return Ok(v);
            }
            if start.elapsed() >= self.opts.wait_timeout {
                return Err(ProviderError::of(chronous_core::provider::ErrorKind::Timeout, format!("{address}: gave up waiting after {}s for {what}", start.elapsed().as_secs()))
                    .with_hint("look at the object in the AWS console; when it is ready, run apply again: chronous adopts it")
                    .retryable());
            }
            if !announced
                || start.elapsed().as_secs() % 60 < self.opts.poll_interval.as_secs().max(1)
            {
                self.progress(format!(
                    "{address}: waiting for {what} ({}s)",
                    start.elapsed().as_secs()
                ));
                announced = true;
            }
            tokio::time::sleep(self.opts.poll_interval).await;
        }
    }
}

impl Provider for AwsProvider {
    async fn read(&self, record: &ResourceRecord) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from_attrs(record.kind, &record.attrs)
            .map_err(|e| spec_err(&record.address, e))?;
        Box::pin(self.read_spec(record, &spec)).await
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<Observed, ProviderError> {
        Box::pin(self.create_spec(req.address, req.spec, req.exclude_ids)).await
    }

    async fn update(
        &self,
        record: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        // The record is what was last applied; change the object from what it
        // is now (a change made outside chronous included).
        let recorded = Spec::from_attrs(record.kind, &record.attrs)
            .map_err(|e| spec_err(&record.address, e))?;
        let live = match Box::pin(self.read_spec(record, &recorded)).await? {
            Some(o) => ResourceRecord {
                id: o.id,
                attrs: o.attrs,
                outputs: o.outputs,
                ..record.clone()
            },
            None => {
                return Err(ProviderError::new(format!(
                    "{}: {} {} no longer exists",
                    record.address, record.kind, record.id
                ))
                .with_hint("it was deleted outside chronous: run plan again, it will be created"))
            }
        };
        Box::pin(self.update_spec(&live, spec)).await
    }

    async fn delete(&self, record: &ResourceRecord) -> Result<(), ProviderError> {
        let spec = Spec::from_attrs(record.kind, &record.attrs)
            .map_err(|e| spec_err(&record.address, e))?;
        Box::pin(self.delete_spec(record, &spec)).await
    }
}

/// The one dispatch from a kind to its module (`resources/`): an exhaustive
/// `match` per operation, without a wildcard arm, so that a kind added to
/// core's table does not compile until it is handled here.
impl AwsProvider {
    /// Describe the object `r` records; `spec` is its recorded spec.
    async fn read_spec(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Option<Observed>, ProviderError> {
        match spec {
            Spec::Vpc(_) => vpc::read(self, r).await,
            Spec::Subnet(_) => subnet::read(self, r).await,
            Spec::InternetGateway(_) => internet_gateway::read(self, r).await,
            Spec::Eip(_) => eip::read(self, r).await,
            Spec::NatGateway(_) => nat_gateway::read(self, r).await,
            Spec::RouteTable(_) => route_table::read(self, r).await,
            Spec::RouteTableAssociation(_) => route_table_association::read(self, r).await,
            Spec::SecurityGroup(_) => security_group::read(self, r).await,
            Spec::SecurityGroupRule(_) => security_group_rule::read(self, r).await,
            Spec::KeyPair(_) => key_pair::read(self, r).await,
            Spec::AmiLookup(_) => ami_lookup::read(self, r).await,
            Spec::IamRole(_) => iam_role::read(self, r).await,
            Spec::IamRolePolicyAttachment(_) => iam_role_policy_attachment::read(self, r).await,
            Spec::IamRolePolicy(_) => iam_role_policy::read(self, r).await,
            Spec::IamInstanceProfile(_) => iam_instance_profile::read(self, r).await,
            Spec::LaunchTemplate(_) => launch_template::read(self, r).await,
            Spec::LaunchConfiguration(_) => launch_configuration::read(self, r).await,
            Spec::AutoScalingGroup(_) => autoscaling_group::read(self, r).await,
            Spec::EcsCluster(_) => ecs_cluster::read(self, r).await,
            Spec::EcrRepository(_) => ecr_repository::read(self, r).await,
            Spec::EcsTaskDefinition(_) => ecs_task_definition::read(self, r).await,
            Spec::EcsService(_) => ecs_service::read(self, r).await,
            Spec::Elb(_) => elb::read(self, r).await,
            Spec::CloudwatchLogGroup(_) => cloudwatch_log_group::read(self, r).await,
            Spec::S3Bucket(_) => s3_bucket::read(self, r).await,
            Spec::S3Object(_) => s3_object::read(self, r).await,
            Spec::DbSubnetGroup(_) => db_subnet_group::read(self, r).await,
            Spec::DbInstance(_) => db_instance::read(self, r).await,
            Spec::Instance(_) => instance::read(self, r).await,
            Spec::SsmParameter(_) => ssm_parameter::read(self, r).await,
            Spec::Data(_) => data::read(self, r).await,
        }
    }

    /// Create the object for address `a` (or adopt what an interrupted apply
    /// made, not one of the ids in `x`).
    async fn create_spec(
        &self,
        a: &str,
        spec: &Spec,
        x: &[String],
    ) -> Result<Observed, ProviderError> {
        match spec {
            Spec::Vpc(s) => vpc::create(self, a, s, x).await,
            Spec::Subnet(s) => subnet::create(self, a, s, x).await,
            Spec::InternetGateway(s) => internet_gateway::create(self, a, s, x).await,
            Spec::Eip(s) => eip::create(self, a, s, x).await,
            Spec::NatGateway(s) => nat_gateway::create(self, a, s, x).await,
            Spec::RouteTable(s) => route_table::create(self, a, s, x).await,
            Spec::RouteTableAssociation(s) => route_table_association::create(self, a, s).await,
            Spec::SecurityGroup(s) => security_group::create(self, a, s, x).await,
            Spec::SecurityGroupRule(s) => security_group_rule::create(self, a, s).await,
            Spec::KeyPair(s) => key_pair::create(self, a, s).await,
            Spec::AmiLookup(s) => ami_lookup::create(self, a, s).await,
            Spec::IamRole(s) => iam_role::create(self, a, s).await,
            Spec::IamRolePolicyAttachment(s) => {
                iam_role_policy_attachment::create(self, a, s).await
            }
            Spec::IamRolePolicy(s) => iam_role_policy::create(self, a, s).await,
            Spec::IamInstanceProfile(s) => iam_instance_profile::create(self, a, s).await,
            Spec::LaunchTemplate(s) => launch_template::create(self, a, s, x).await,
            Spec::LaunchConfiguration(s) => launch_configuration::create(self, a, s).await,
            Spec::AutoScalingGroup(s) => autoscaling_group::create(self, a, s).await,
            Spec::EcsCluster(s) => ecs_cluster::create(self, a, s).await,
            Spec::EcrRepository(s) => ecr_repository::create(self, a, s).await,
            Spec::EcsTaskDefinition(s) => ecs_task_definition::create(self, a, s, x).await,
            Spec::EcsService(s) => ecs_service::create(self, a, s).await,
            Spec::Elb(s) => elb::create(self, a, s).await,
            Spec::CloudwatchLogGroup(s) => cloudwatch_log_group::create(self, a, s).await,
            Spec::S3Bucket(s) => s3_bucket::create(self, a, s).await,
            Spec::S3Object(s) => s3_object::create(self, a, s).await,
            Spec::DbSubnetGroup(s) => db_subnet_group::create(self, a, s).await,
            Spec::DbInstance(s) => db_instance::create(self, a, s).await,
            Spec::Instance(s) => instance::create(self, a, s, x).await,
            Spec::SsmParameter(s) => ssm_parameter::create(self, a, s).await,
            Spec::Data(s) => data::create(self, a, s).await,
        }
    }

    /// Bring the object to `spec`; `r` is what AWS shows now.
    async fn update_spec(
        &self,
        r: &ResourceRecord,
        spec: &Spec,
    ) -> Result<Observed, ProviderError> {
        match spec {
            Spec::Vpc(s) => vpc::update(self, r, s).await,
            Spec::Subnet(s) => subnet::update(self, r, s).await,
            Spec::InternetGateway(s) => internet_gateway::update(self, r, s).await,
            Spec::Eip(s) => eip::update(self, r, s).await,
            Spec::NatGateway(s) => nat_gateway::update(self, r, s).await,
            Spec::RouteTable(s) => route_table::update(self, r, s).await,
            Spec::RouteTableAssociation(s) => route_table_association::update(self, r, s).await,
            Spec::SecurityGroup(s) => security_group::update(self, r, s).await,
            Spec::SecurityGroupRule(s) => security_group_rule::update(self, r, s).await,
            Spec::KeyPair(s) => key_pair::update(self, r, s).await,
            Spec::AmiLookup(s) => ami_lookup::update(self, r, s).await,
            Spec::IamRole(s) => iam_role::update(self, r, s).await,
            Spec::IamRolePolicyAttachment(s) => {
                iam_role_policy_attachment::update(self, r, s).await
            }
            Spec::IamRolePolicy(s) => iam_role_policy::update(self, r, s).await,
            Spec::IamInstanceProfile(s) => iam_instance_profile::update(self, r, s).await,
            Spec::LaunchTemplate(s) => launch_template::update(self, r, s).await,
            Spec::LaunchConfiguration(s) => launch_configuration::update(self, r, s).await,
            Spec::AutoScalingGroup(s) => autoscaling_group::update(self, r, s).await,
            Spec::EcsCluster(s) => ecs_cluster::update(self, r, s).await,
            Spec::EcrRepository(s) => ecr_repository::update(self, r, s).await,
            Spec::EcsTaskDefinition(s) => ecs_task_definition::update(self, r, s).await,
            Spec::EcsService(s) => ecs_service::update(self, r, s).await,
            Spec::Elb(s) => elb::update(self, r, s).await,
            Spec::CloudwatchLogGroup(s) => cloudwatch_log_group::update(self, r, s).await,
            Spec::S3Bucket(s) => s3_bucket::update(self, r, s).await,
            Spec::S3Object(s) => s3_object::update(self, r, s).await,
            Spec::DbSubnetGroup(s) => db_subnet_group::update(self, r, s).await,
            Spec::DbInstance(s) => db_instance::update(self, r, s).await,
            Spec::Instance(s) => instance::update(self, r, s).await,
            Spec::SsmParameter(s) => ssm_parameter::update(self, r, s).await,
            Spec::Data(s) => data::update(self, r, s).await,
        }
    }

    async fn delete_spec(&self, r: &ResourceRecord, spec: &Spec) -> Result<(), ProviderError> {
        match spec {
            Spec::Vpc(s) => vpc::delete(self, r, s).await,
            Spec::Subnet(s) => subnet::delete(self, r, s).await,
            Spec::InternetGateway(s) => internet_gateway::delete(self, r, s).await,
            Spec::Eip(s) => eip::delete(self, r, s).await,
            Spec::NatGateway(s) => nat_gateway::delete(self, r, s).await,
            Spec::RouteTable(s) => route_table::delete(self, r, s).await,
            Spec::RouteTableAssociation(s) => route_table_association::delete(self, r, s).await,
            Spec::SecurityGroup(s) => security_group::delete(self, r, s).await,
            Spec::SecurityGroupRule(s) => security_group_rule::delete(self, r, s).await,
            Spec::KeyPair(s) => key_pair::delete(self, r, s).await,
            Spec::AmiLookup(s) => ami_lookup::delete(self, r, s).await,
            Spec::IamRole(s) => iam_role::delete(self, r, s).await,
            Spec::IamRolePolicyAttachment(s) => {
                iam_role_policy_attachment::delete(self, r, s).await
            }
            Spec::IamRolePolicy(s) => iam_role_policy::delete(self, r, s).await,
            Spec::IamInstanceProfile(s) => iam_instance_profile::delete(self, r, s).await,
            Spec::LaunchTemplate(s) => launch_template::delete(self, r, s).await,
            Spec::LaunchConfiguration(s) => launch_configuration::delete(self, r, s).await,
            Spec::AutoScalingGroup(s) => autoscaling_group::delete(self, r, s).await,
            Spec::EcsCluster(s) => ecs_cluster::delete(self, r, s).await,
            Spec::EcrRepository(s) => ecr_repository::delete(self, r, s).await,
            Spec::EcsTaskDefinition(s) => ecs_task_definition::delete(self, r, s).await,
            Spec::EcsService(s) => ecs_service::delete(self, r, s).await,
            Spec::Elb(s) => elb::delete(self, r, s).await,
            Spec::CloudwatchLogGroup(s) => cloudwatch_log_group::delete(self, r, s).await,
            Spec::S3Bucket(s) => s3_bucket::delete(self, r, s).await,
            Spec::S3Object(s) => s3_object::delete(self, r, s).await,
            Spec::DbSubnetGroup(s) => db_subnet_group::delete(self, r, s).await,
            Spec::DbInstance(s) => db_instance::delete(self, r, s).await,
            Spec::Instance(s) => instance::delete(self, r, s).await,
            Spec::SsmParameter(s) => ssm_parameter::delete(self, r, s).await,
            Spec::Data(s) => data::delete(self, r, s).await,
        }
    }
}

impl AwsProvider {
    /// What a data source reads, during planning (as Terraform reads its data
    /// sources at plan time): the AMI a look-up names, the id of a
    /// `chronous_data`; `None` for the kinds that make an object, which are
    /// known only once applied. `spec` is fully resolved.
    pub async fn read_at_plan(
        &self,
        address: &str,
        spec: &Spec,
    ) -> Result<Option<Observed>, ProviderError> {
        match spec {
            Spec::AmiLookup(s) => ami_lookup::create(self, address, s).await.map(Some),
            Spec::Data(s) => data::create(self, address, s).await.map(Some),
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
            | Spec::IamRole(_)
            | Spec::IamRolePolicyAttachment(_)
            | Spec::IamRolePolicy(_)
            | Spec::IamInstanceProfile(_)
            | Spec::LaunchTemplate(_)
            | Spec::LaunchConfiguration(_)
            | Spec::AutoScalingGroup(_)
            | Spec::EcsCluster(_)
            | Spec::EcrRepository(_)
            | Spec::EcsTaskDefinition(_)
            | Spec::EcsService(_)
            | Spec::Elb(_)
            | Spec::CloudwatchLogGroup(_)
            | Spec::S3Bucket(_)
            | Spec::S3Object(_)
            | Spec::DbSubnetGroup(_)
            | Spec::DbInstance(_)
            | Spec::Instance(_)
            | Spec::SsmParameter(_) => Ok(None),
        }
    }

    /// The id of an object that exists for `address` although the state does
    /// not record it (`chronous import aws`): one an earlier apply made (its
    /// chronous tags), else for the EC2 kinds the one object whose `Name` tag
    /// is the spec's (made by hand or by another tool). `spec` is resolved.
    /// `None` for the kinds that are found by their name (core's
    /// `import::id_by_name`) and when nothing is found.
    pub async fn look_up(
        &self,
        address: &str,
        spec: &Spec,
    ) -> Result<Option<String>, ProviderError> {
        let name = chronous_core::resources::tags_of(spec).and_then(|t| t.get("Name").cloned());
        macro_rules! ec2 {
            ($m:ident) => {{
                if let Some(id) = $m::find(self, address, &[]).await? {
                    return Ok(Some(id));
                }
                match &name {
                    Some(n) => $m::find_named(self, address, n).await,
                    None => Ok(None),
                }
            }};
        }
        match spec {
            Spec::Vpc(_) => ec2!(vpc),
            Spec::Subnet(_) => ec2!(subnet),
            Spec::InternetGateway(_) => ec2!(internet_gateway),
            Spec::Eip(_) => ec2!(eip),
            Spec::NatGateway(_) => ec2!(nat_gateway),
            Spec::RouteTable(_) => ec2!(route_table),
            Spec::SecurityGroup(_) => ec2!(security_group),
            Spec::Instance(_) => ec2!(instance),
            Spec::LaunchTemplate(_) => ec2!(launch_template),
            Spec::RouteTableAssociation(a) => {
                route_table_association::find_for(self, address, a).await
            }
            Spec::SecurityGroupRule(_)
            | Spec::KeyPair(_)
            | Spec::AmiLookup(_)
            | Spec::IamRole(_)
            | Spec::IamRolePolicyAttachment(_)
            | Spec::IamRolePolicy(_)
            | Spec::IamInstanceProfile(_)
            | Spec::LaunchConfiguration(_)
            | Spec::AutoScalingGroup(_)
            | Spec::EcsCluster(_)
            | Spec::EcrRepository(_)
            | Spec::EcsTaskDefinition(_)
            | Spec::EcsService(_)
            | Spec::Elb(_)
            | Spec::CloudwatchLogGroup(_)
            | Spec::S3Bucket(_)
            | Spec::S3Object(_)
            | Spec::DbSubnetGroup(_)
            | Spec::DbInstance(_)
            | Spec::SsmParameter(_)
            | Spec::Data(_) => Ok(None),
        }
    }
}
