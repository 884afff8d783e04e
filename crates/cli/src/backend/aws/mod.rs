//! AWS as the CLI sees it ([`AwsBackend`]): the `AwsOptions` of the command,
//! built in one place, and the `AwsProvider` connected once on the command's
//! runtime and shared by plan, apply, the rollout wait, `status`, `logs` and
//! the push of `deploy --image`. Connecting asks who the credentials belong to
//! before anything else ([`AwsBackend::provider`]): no credentials, an
//! endpoint that cannot be reached or the account of another environment
//! (`environment.account_id`) end the command there, with one error; `ssh` and `tunnel` through the bastion ([`ssh`]). The rollout wait
//! and `status`'s view of the service are in [`rollout`], the push in [`push`].

pub mod push;
pub mod rollout;
pub mod ssh;

use std::cell::OnceCell;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chronous_aws::{AwsOptions, AwsProvider, Identity};
use chronous_core::env::Environment;
use chronous_core::plan::Target;

use crate::context::Ctx;
use crate::ui::{exit, exit_hint, EXIT_FAILURE};

/// The AWS backend of one command.
pub struct AwsBackend {
    opts: AwsOptions,
    /// `environment.account_id`: the only account this environment may act on.
    account_id: Option<String>,
    provider: OnceCell<AwsProvider>,
}

impl AwsBackend {
    /// The options of `env` in `dir`: its region, `--endpoint` (else
    /// `AWS_ENDPOINT_URL`), progress lines on stderr unless `json`.
    pub fn new(env: &Environment, dir: &Path, endpoint: Option<&str>, json: bool) -> AwsBackend {
        let mut opts = AwsOptions::new(&env.region, &env.name, dir);
        if let Some(e) = endpoint {
            opts.endpoint = Some(e.to_string());
        }
        if !json {
            opts.progress = Some(std::sync::Arc::new(|line: &str| eprintln!("{line}")));
        }
        AwsBackend {
            opts,
            account_id: env.account_id.clone(),
            provider: OnceCell::new(),
        }
    }

    /// The provider, connected on first use, once the credentials are known
    /// to belong to the environment's account (STS GetCallerIdentity): the
    /// first call of every command on AWS.
    pub fn provider(&self, ctx: &Ctx) -> Result<&AwsProvider> {
        if let Some(p) = self.provider.get() {
            return Ok(p);
        }
        let rt = ctx.rt()?;
        let p = rt
            .block_on(AwsProvider::connect(self.opts.clone()))
            .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
        let id = rt
            .block_on(p.identity())
            .map_err(|e| exit_hint(EXIT_FAILURE, e.to_string(), e.hint()))?
            .clone();
        self.check_account(ctx, &id)?;
        Ok(self.provider.get_or_init(|| p))
    }

    /// Refuse the credentials of another account than `environment.account_id`;
    /// without it, say once which account this is.
    fn check_account(&self, ctx: &Ctx, id: &Identity) -> Result<()> {
        match &self.account_id {
            Some(want) if *want != id.account => Err(exit_hint(
                EXIT_FAILURE,
                format!(
                    "the AWS credentials are of account {} ({}), but environment `{}` lives in account {want} (environment.account_id): nothing was done",
                    id.account, id.arn, ctx.env.name
                ),
                format!("use credentials of account {want} (AWS_PROFILE), or run chronous in the folder of the environment that lives in account {}", id.account),
            )),
            Some(_) => Ok(()),
            None => {
                eprintln!(
                    "warning: acting on AWS account {} in {} as {}; add account_id = \"{}\" to [environment] in chronous.toml so that chronous refuses the credentials of any other account",
                    id.account, self.opts.region, id.arn, id.account
                );
                Ok(())
            }
        }
    }

    /// The account and region a plan acts on, and who acts.
    pub fn target(&self, ctx: &Ctx) -> Result<Target> {
        let p = self.provider(ctx)?;
        let id = ctx
            .rt()?
            .block_on(p.identity())
            .map_err(|e| exit_hint(EXIT_FAILURE, e.to_string(), e.hint()))?;
        Ok(Target {
            account: id.account.clone(),
            region: self.opts.region.clone(),
            principal: id.arn.clone(),
        })
    }

    /// The provider's clients with a shorter pause between polls, for waiting on a rollout.
    fn rollout_provider(&self, ctx: &Ctx) -> Result<AwsProvider> {
        let clients = self.provider(ctx)?.clients().clone();
        let mut opts = self.opts.clone();
        opts.poll_interval = Duration::from_secs(5);
        Ok(AwsProvider::with_clients(clients, opts))
    }

    /// `chronous logs` on AWS: the log group's streams of the service, from CloudWatch.
    pub fn logs(&self, ctx: &Ctx, follow: bool, since: Option<&str>) -> Result<u8> {
        let p = self.provider(ctx)?;
        let rt = ctx.rt()?;
        let group = ctx.env.logs.group.clone();
        let prefix = ctx.env.logs.stream_prefix.clone();
        let mut start = since
            .map(crate::cli::parse_since)
            .transpose()?
            .map(|s| s * 1000);
        loop {
            let events = rt
                .block_on(p.log_events(&group, Some(&prefix), start, 10_000))
                .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
            for e in &events {
                if ctx.json {
                    println!(
                        "{}",
                        serde_json::json!({"log_group": group, "log_stream": e.stream, "timestamp": e.timestamp, "message": e.message})
                    );
                } else {
                    println!("{} {}", e.stream, e.message);
                }
            }
            if let Some(last) = events.last() {
                start = Some(last.timestamp + 1);
            }
            if !follow {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}
