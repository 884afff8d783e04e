//! Test helpers: moto on a free loopback port, providers against it, the
//! seed environment in a temporary folder, and plan + apply through core.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chronous_aws::{sdk_config, AwsClients, AwsOptions, AwsProvider};
use chronous_core::engine::{self, ApplyConfig, Journal, JournalError, Outcome};
use chronous_core::env::{self, Backend, Environment};
use chronous_core::plan::{self, Plan, PlanOptions};
use chronous_core::resources::{self, DbInstanceSpec, DbRestore};
use chronous_core::state::{JournalEntry, State};
use chronous_store::StateStore;

pub const REGION: &str = "us-east-2";

/// A moto server on a free port of 127.0.0.1, stopped on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
    _log: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Moto {
        // Dummy credentials for the SDK's standard chain; nothing reads a real profile.
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/chronous-test-aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/chronous-test-aws-credentials",
        );
        std::env::remove_var("AWS_PROFILE");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}): install it with `bash scripts/moto.sh` (python3 -m pip install 'moto[server]') and make sure it is on PATH")
            });
        let mut m = Moto {
            child,
            port,
            _log: log,
        };
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = m.child.try_wait() {
                let mut s = String::new();
                let _ =
                    std::fs::File::open(m._log.path()).and_then(|mut f| f.read_to_string(&mut s));
                panic!("moto_server exited ({status}) before answering:\n{s}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One AWS query-protocol call straight to moto (for what the SDK is mocked for).
    pub fn query(&self, service: &str, form: &[(&str, String)]) -> String {
        query(self.port, service, form)
    }
}

/// Send a query-protocol body to the moto on `port`: (status, body).
pub fn forward(port: u16, service: &str, body: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("moto");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    (status, out[split..].to_vec())
}

/// One AWS query-protocol call to the moto on `port`.
pub fn query(port: u16, service: &str, form: &[(&str, String)]) -> String {
    {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("moto");
        let req = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            port,
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn options(moto: &Moto, env_name: &str, env_dir: &Path) -> AwsOptions {
    let mut o = AwsOptions::new(REGION, env_name, env_dir);
    o.endpoint = Some(moto.url());
    o.max_attempts = 3;
    o.poll_interval = Duration::from_millis(100);
    o.wait_timeout = Duration::from_secs(120);
    o.throttle_backoff = Duration::from_millis(50);
    o
}

/// A provider against moto; `rds_http` stands in for the RDS calls moto lacks.
pub async fn provider<H: aws_smithy_runtime_api::client::http::HttpClient + 'static>(
    opts: AwsOptions,
    rds_http: Option<H>,
) -> AwsProvider {
    let conf = sdk_config(&opts).await.expect("sdk config");
    let mut c = AwsClients::from_conf(&conf, true);
    if let Some(h) = rds_http {
        c.rds = aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&conf)
                .http_client(h)
                .build(),
        );
    }
    AwsProvider::with_clients(c, opts)
}

/// Clients for checks made independently of the provider.
pub async fn clients(moto: &Moto) -> AwsClients {
    let opts = options(moto, "check", Path::new("."));
    let conf = sdk_config(&opts).await.expect("sdk config");
    AwsClients::from_conf(&conf, true)
}

/// A copy of fixtures/seed (and the backup beside it) in a temporary folder.
pub struct SeedCopy {
    pub root: tempfile::TempDir,
    pub dir: PathBuf,
    pub env: Environment,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn seed_copy(name: &str, edit: impl Fn(String) -> String) -> SeedCopy {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("seed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(root.path().join("backup")).unwrap();
    let src = repo_root().join("fixtures");
    std::fs::copy(src.join("seed/aws-ssh.pub"), dir.join("aws-ssh.pub")).unwrap();
    std::fs::copy(
        src.join("backup/db-backup.tar.gz"),
        root.path().join("backup/db-backup.tar.gz"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(src.join("seed/chronous.toml"))
        .unwrap()
        .replace("name = \"seed\"", &format!("name = \"{name}\""));
    let toml = edit(toml);
    std::fs::write(dir.join("chronous.toml"), &toml).unwrap();
    let loaded = env::load("chronous.toml", &toml);
    let env = loaded
        .env
        .unwrap_or_else(|| panic!("seed copy invalid:\n{}", loaded.diagnostics.render()));
    SeedCopy { root, dir, env }
}

/// Remove the `[database.restore]` table from an environment file.
pub fn without_restore(toml: String) -> String {
    let mut out = String::new();
    let mut skip = false;
    for l in toml.lines() {
        if l.starts_with('[') {
            skip = l.trim() == "[database.restore]";
        }
        if !skip {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// A journal that keeps what it is given.
#[derive(Default)]
pub struct MemJournal(pub Vec<JournalEntry>);

impl Journal for MemJournal {
    fn commit(&mut self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        self.0.extend_from_slice(entries);
        Ok(())
    }
}

/// The recorded state of the store (a new one when nothing is recorded).
pub fn load_state(store: &StateStore, env: &Environment) -> State {
    store
        .load()
        .expect("state loads")
        .unwrap_or_else(|| State::new(&env.name, Backend::Aws, format!("lineage-{}", env.name)))
}

/// Refresh, then plan the environment (or its destruction) against the recorded state.
pub async fn refresh_plan(
    p: &AwsProvider,
    env: &Environment,
    recorded: &State,
    destroy: bool,
) -> Plan {
    let (refreshed, errors) = engine::refresh(recorded, p, 10).await;
    assert!(errors.is_empty(), "refresh failed: {errors:?}");
    plan::plan(
        resources::expand(env),
        recorded,
        &refreshed,
        &PlanOptions {
            destroy,
            ..Default::default()
        },
    )
    .expect("plan")
}

/// Plan and apply through core with the durable state store, as the CLI does.
pub async fn converge(
    p: &AwsProvider,
    env: &Environment,
    store: &StateStore,
    destroy: bool,
) -> (Plan, Outcome) {
    let mut st = load_state(store, env);
    let plan = refresh_plan(p, env, &st, destroy).await;
    store.save(&st).expect("save");
    let outcome = {
        let mut journal = store.journal(&st).expect("journal");
        engine::apply(
            &plan,
            &mut st,
            p,
            &mut journal,
            &ApplyConfig {
                parallelism: 10,
                cancel: None,
            },
            &mut |_| {},
        )
        .await
        .expect("apply")
    };
    store.save(&st).expect("save");
    (plan, outcome)
}

pub fn assert_ok(outcome: &Outcome) {
    assert!(
        outcome.ok(),
        "apply failed: {}",
        outcome
            .failed
            .iter()
            .map(|f| format!(
                "\n  {}: {} (hint: {:?})",
                f.address, f.error.message, f.error.hint
            ))
            .collect::<String>()
    );
}

pub fn set_password() {
    std::env::set_var("CHRONOUS_DB_PASSWORD", "s3cret-test-pw-1");
}

/// Options for tests against aws-smithy-mocks: no endpoint, short polls.
pub fn mock_options() -> AwsOptions {
    let mut o = AwsOptions::new(REGION, "mocked", std::env::temp_dir());
    o.endpoint = None;
    o.poll_interval = Duration::from_millis(5);
    o.wait_timeout = Duration::from_secs(10);
    o.throttle_backoff = Duration::from_millis(5);
    o
}

/// Clients that are never called, for the services a mock test does not mock.
pub fn unused_clients() -> AwsClients {
    let conf = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(REGION))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    AwsClients::from_conf(&conf, false)
}

/// The seed's database restored from its backup of MySQL `source_version`
/// (the password from CHRONOUS_MOCK_DB_PASSWORD).
pub fn db_spec(source_version: &str) -> DbInstanceSpec {
    DbInstanceSpec {
        identifier: "cak".into(),
        engine: "mysql".into(),
        engine_version: source_version.into(),
        instance_class: "db.t2.small".into(),
        allocated_storage: 20,
        username: "dev".into(),
        db_name: "db".into(),
        password_source: chronous_core::secret::SecretSource::Env(
            "CHRONOUS_MOCK_DB_PASSWORD".into(),
        ),
        db_subnet_group_name: "cak-db".into(),
        vpc_security_group_ids: vec!["sg-rds".into()],
        skip_final_snapshot: true,
        publicly_accessible: false,
        restore: Some(DbRestore {
            bucket: "cak-xtrabackup".into(),
            prefix: "data".into(),
            object_key: "data/db-backup.tar.gz".into(),
            ingestion_role_arn: "arn:aws:iam::123456789012:role/cak-rds_s3_import".into(),
            ingestion_policy: "cak-rds_s3_import:s3-backup-read".into(),
            source_engine: "mysql".into(),
            source_engine_version: source_version.into(),
            backup_file: "../backup/db-backup.tar.gz".into(),
            backup_sha256: None,
        }),
    }
}
