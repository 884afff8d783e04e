//! The simulated RDS instance: a MariaDB (or, with a registry, MySQL) server
//! container restored from the environment's XtraBackup-format backup.
//!
//! The restore follows `fixtures/backup/README.md`: detect the tool from the
//! tarball's metadata on the host ([`detect`]); create a labelled named volume;
//! create (not start) a helper container mounting it; upload the `.tar.gz` as
//! it is (Docker unpacks it); start the helper to run `--prepare` and fix the
//! ownership; remove the helper; start the server on the environment network
//! with the RDS endpoint host as a DNS alias; wait until it answers.
//!
//! Idempotent: a running server is adopted, a volume that already holds the
//! prepared backup is served again without a new restore, and a crashed,
//! half-done restore is redone from a fresh volume. The master password is
//! passed to the container environment only: it is never logged, labelled or
//! put into an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chronous_docker::{ContainerSpec, Docker, DockerError, MountSpec, LABEL_ENVIRONMENT};
use sha2::{Digest, Sha256};

/// Label on the data volume and the server: where the data came from
/// (`backup-sha256:<hex>` or `empty`).
pub const LABEL_DB_SOURCE: &str = "chronous.db-source";
/// Label on the data volume and the server: the DB instance identifier.
pub const LABEL_DB_IDENTIFIER: &str = "chronous.db-identifier";

const DATADIR: &str = "/var/lib/mysql";

/// The tool that made a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// MariaDB's `mariabackup` (prepared and served by `chronous/mariadb`).
    Mariabackup,
    /// Percona XtraBackup (MySQL; prepared by `percona/percona-xtrabackup`, served by `mysql`).
    Xtrabackup,
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tool::Mariabackup => "mariabackup",
            Tool::Xtrabackup => "xtrabackup",
        })
    }
}

/// What [`detect`] found in a backup tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub tool: Tool,
    /// `tool_version` of `*_info` (`10.11.18-MariaDB`), if it has one.
    pub tool_version: Option<String>,
    /// `server_version` of `*_info` (`10.11.18-MariaDB-0+deb12u1`, `5.6.41-log`).
    pub server_version: Option<String>,
    /// `backup_type` of `*_checkpoints`: `full-backuped` (not prepared) or `full-prepared`.
    pub backup_type: String,
    /// Name of the checkpoints file (`xtrabackup_checkpoints` or `mariadb_backup_checkpoints`).
    pub checkpoints_file: String,
    /// Top-level names in the archive, sorted.
    pub files: Vec<String>,
    /// Number of archive members.
    pub members: usize,
    /// Size of the tarball in bytes.
    pub bytes: u64,
    /// sha256 of the tarball.
    pub sha256: String,
}

impl BackupInfo {
    /// `mariabackup 10.11.18-MariaDB (server 10.11.18-MariaDB-0+deb12u1)`.
    pub fn made_by(&self) -> String {
        format!(
            "{} {} (server {})",
            self.tool,
            self.tool_version.as_deref().unwrap_or("(version unknown)"),
            self.server_version.as_deref().unwrap_or("unknown")
        )
    }

    /// `major.minor` of the server that was backed up (`10.11`, `5.6`).
    pub fn server_major_minor(&self) -> Option<String> {
        let v = self.server_version.as_deref()?;
        let mut it = v.split(|c: char| !c.is_ascii_digit());
        let (a, b) = (it.next()?, it.next()?);
        (!a.is_empty() && !b.is_empty()).then(|| format!("{a}.{b}"))
    }
}

/// Errors of the simulated database. They never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot read the backup {path}: {source}; check the path (database.restore.backup_file) and its permissions")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is corrupt or not an XtraBackup backup: {found}. Expected a .tar.gz of a `mariabackup --backup` or `xtrabackup --backup` target directory, with xtrabackup_checkpoints (or mariadb_backup_checkpoints) at the top level of the archive"
    )]
    NotABackup { path: PathBuf, found: String },
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("DB instance `{identifier}`: {reason}")]
    Config { identifier: String, reason: String },
    #[error(
        "DB instance `{identifier}`: volume {volume} holds data from {found}, but the configuration asks for {wanted}: an RDS restore always creates a new instance, so destroy this one (its data goes with it) and apply again"
    )]
    SourceChanged {
        identifier: String,
        volume: String,
        found: String,
        wanted: String,
    },
    #[error("DB instance `{identifier}`: `{tool} --prepare` of {backup} failed (exit code {exit_code}); the last lines of its log:\n{log_tail}")]
    PrepareFailed {
        identifier: String,
        tool: Tool,
        backup: PathBuf,
        exit_code: i64,
        log_tail: String,
    },
    #[error("DB instance `{identifier}`: `{tool} --prepare` of {backup} did not finish within {secs} s; the last lines of its log:\n{log_tail}")]
    PrepareTimeout {
        identifier: String,
        tool: Tool,
        backup: PathBuf,
        secs: u64,
        log_tail: String,
    },
    #[error("DB instance `{identifier}`: the server container {container} stopped before it was ready; the last lines of its log:\n{log_tail}")]
    ServerExited {
        identifier: String,
        container: String,
        log_tail: String,
    },
    #[error(
        "DB instance `{identifier}`: the server container {container} was not ready after {secs} s (see `chronous logs`, or `docker logs {container}`); the last lines of its log:\n{log_tail}"
    )]
    NotReady {
        identifier: String,
        container: String,
        secs: u64,
        log_tail: String,
    },
    #[error("container {container}: {what} failed (exit code {exit_code}): {stderr}")]
    Query {
        container: String,
        what: String,
        exit_code: i64,
        stderr: String,
    },
    #[error(transparent)]
    Docker(#[from] DockerError),
}

/// The images of the simulated database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbImages {
    /// Prepares mariabackup backups and serves them, and empty instances
    /// (`chronous/mariadb:10.11`, built by `images/build.sh`).
    pub mariadb: String,
    /// Repository of the Percona XtraBackup images; the tag is `2.4` for
    /// MySQL 5.6/5.7 and `8.0` for 8.0 (`percona/percona-xtrabackup`).
    pub xtrabackup_repo: String,
    /// Repository of the MySQL server images; the tag is the backup's server
    /// `major.minor` (`mysql`).
    pub mysql_repo: String,
}

impl Default for DbImages {
    fn default() -> Self {
        DbImages {
            mariadb: "chronous/mariadb:10.11".to_string(),
            xtrabackup_repo: "percona/percona-xtrabackup".to_string(),
            mysql_repo: "mysql".to_string(),
        }
    }
}

/// Which server family runs the instance (decides env names and commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `chronous/mariadb`: MARIADB_* env, applied on any datadir.
    Chronous,
    /// The public `mysql` image: MYSQL_* env, applied only to an empty datadir.
    Mysql,
}

#[derive(Debug, Clone)]
struct Plan {
    prepare_image: Option<String>,
    serve_image: String,
    flavor: Flavor,
}

impl DbImages {
    fn plan(&self, backup: Option<&BackupInfo>) -> Result<Plan, DbError> {
        let Some(info) = backup else {
            return Ok(Plan {
                prepare_image: None,
                serve_image: self.mariadb.clone(),
                flavor: Flavor::Chronous,
            });
        };
        match info.tool {
            Tool::Mariabackup => Ok(Plan {
                prepare_image: Some(self.mariadb.clone()),
                serve_image: self.mariadb.clone(),
                flavor: Flavor::Chronous,
            }),
            Tool::Xtrabackup => {
                let mm = info.server_major_minor().ok_or_else(|| DbError::Unsupported {
                    path: info.path.clone(),
                    reason: "made by Percona XtraBackup, but its xtrabackup_info has no server_version, so the MySQL version to restore into is unknown: recreate the backup with xtrabackup_info".to_string(),
                })?;
                let xb = match mm.as_str() {
                    "5.6" | "5.7" => "2.4",
                    "8.0" => "8.0",
                    other => {
                        return Err(DbError::Unsupported {
                            path: info.path.clone(),
                            reason: format!(
                                "made by Percona XtraBackup from MySQL {other}; RDS imports XtraBackup backups of MySQL 5.6/5.7 (XtraBackup 2.4) and 8.0 (XtraBackup 8.0) only: back up a 5.7 or 8.0 server instead"
                            ),
                        })
                    }
                };
                Ok(Plan {
                    prepare_image: Some(format!("{}:{xb}", self.xtrabackup_repo)),
                    serve_image: format!("{}:{mm}", self.mysql_repo),
                    flavor: Flavor::Mysql,
                })
            }
        }
    }
}

/// The simulated DB instance to run.
#[derive(Clone)]
pub struct DbConfig {
    /// Environment name (labels, network `chronous-<env>`).
    pub env: String,
    /// Resource address (`chronous.address` label).
    pub address: String,
    /// DB instance identifier (container and volume names).
    pub identifier: String,
    /// The RDS endpoint host, a DNS alias of the server on the environment network.
    pub dns_name: String,
    /// Master user name.
    pub username: String,
    /// Master password: only ever passed to the server's environment.
    pub password: String,
    /// Database to create if missing (empty: none).
    pub database: String,
    /// The backup to restore; `None` starts an empty server.
    pub backup: Option<PathBuf>,
    pub images: DbImages,
    /// Memory limit of the server container, MiB.
    pub memory_mb: Option<u64>,
    /// How long the server may take to answer (default 60 s).
    pub ready_timeout: Duration,
    /// How long `--prepare` may take (default 10 min).
    pub prepare_timeout: Duration,
}

impl DbConfig {
    /// A configuration with the default images, no memory limit and the default timeouts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        env: impl Into<String>,
        address: impl Into<String>,
        identifier: impl Into<String>,
        dns_name: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
        database: impl Into<String>,
        backup: Option<PathBuf>,
    ) -> Self {
        DbConfig {
            env: env.into(),
            address: address.into(),
            identifier: identifier.into(),
            dns_name: dns_name.into(),
            username: username.into(),
            password: password.into(),
            database: database.into(),
            backup,
            images: DbImages::default(),
            memory_mb: None,
            ready_timeout: Duration::from_secs(60),
            prepare_timeout: Duration::from_secs(600),
        }
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("env", &self.env)
            .field("address", &self.address)
            .field("identifier", &self.identifier)
            .field("dns_name", &self.dns_name)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("backup", &self.backup)
            .field("images", &self.images)
            .field("memory_mb", &self.memory_mb)
            .field("ready_timeout", &self.ready_timeout)
            .field("prepare_timeout", &self.prepare_timeout)
            .finish()
    }
}

/// What [`restore_and_start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The backup was unpacked and prepared into a new volume, and the server started.
    Restored,
    /// An empty server was initialised on a new volume.
    Created,
    /// The volume already held the data (prepared backup or earlier server):
    /// only the server container was (re)created.
    Restarted,
    /// The server was already running with this data: nothing was done.
    AlreadyRunning,
}

/// Timings of [`restore_and_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// Detecting the tool (reading the whole tarball on the host).
    pub detect: Duration,
    /// Upload into the helper container.
    pub upload: Duration,
    /// `--prepare` and ownership fix (helper start to exit).
    pub prepare: Duration,
    /// Server container creation to ready.
    pub ready: Duration,
    pub total: Duration,
    /// Server containers created until one was ready (normally 1; see `start_server`).
    pub server_attempts: u32,
}

/// A running simulated DB instance.
#[derive(Debug, Clone)]
pub struct DbRuntime {
    pub container_id: String,
    pub container_name: String,
    pub volume: String,
    pub network: String,
    /// 3306 published on 127.0.0.1.
    pub host_port: u16,
    pub image: String,
    pub outcome: Outcome,
    pub backup: Option<BackupInfo>,
    pub tool: Option<Tool>,
    /// `mariabackup 10.11.18-MariaDB (server 10.11.18-MariaDB-0+deb12u1)`.
    pub made_by: Option<String>,
    /// `mariabackup based on MariaDB server 10.11.18-MariaDB ... (server 10.11.18-MariaDB-0+deb12u1)`.
    pub restored_by: Option<String>,
    /// `SELECT VERSION()` of the running server.
    pub server_version: String,
    pub timings: Timings,
}

// ------------------------------------------------------------------ detect

/// Reads through a file, hashing and counting what it reads.
struct Hashing<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
    bytes: &'a mut u64,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        *self.bytes += n as u64;
        Ok(n)
    }
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

fn describe_start(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if bytes.is_empty() {
        "the file is empty".to_string()
    } else {
        format!(
            "not gzip-compressed (it starts with bytes {})",
            hex.join(" ")
        )
    }
}

/// Identify the tool, versions and state of a backup tarball (`.tar.gz`, or
/// a plain `.tar`) on the host, reading it through once.
///
/// Rule (fixtures/backup/README.md): `mariadb_backup_checkpoints` at the top
/// level -> prefix `mariadb_backup`, else `xtrabackup_checkpoints` -> prefix
/// `xtrabackup`, else not a backup; the tool is `tool_name` of
/// `<prefix>_info` (mariabackup 10.11 still writes `xtrabackup_*` files),
/// falling back to the prefix without an info file.
pub fn detect(backup_path: &Path) -> Result<BackupInfo, DbError> {
    let path = backup_path.to_path_buf();
    let file = std::fs::File::open(&path).map_err(|e| DbError::Read {
        path: path.clone(),
        source: e,
    })?;
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    let reader = Hashing {
        inner: io::BufReader::new(file),
        hasher: &mut hasher,
        bytes: &mut bytes,
    };
    let listing = list(&path, reader)?;
    identify(path, listing, bytes, hex::encode(hasher.finalize()))
}

/// What one pass through a backup tarball found.
struct Listing {
    gzip: bool,
    /// The names at the top level of the archive.
    top: BTreeSet<String>,
    /// The first `*_checkpoints` file below the top level.
    nested_checkpoints: Option<String>,
    /// The metadata files at the top level (checkpoints and info), by name.
    meta: BTreeMap<String, String>,
    members: usize,
}

fn not_backup(path: &Path, found: String) -> DbError {
    DbError::NotABackup {
        path: path.to_path_buf(),
        found,
    }
}

/// Sniff the format from the first 512 bytes (gzip, or a plain tar), then
/// list the archive through [`list_members`].
fn list<'r>(path: &Path, mut reader: impl Read + 'r) -> Result<Listing, DbError> {
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| DbError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let plain_tar = head.len() >= 262 && &head[257..262] == b"ustar";
    if head.starts_with(b"XBSTCK01") {
        return Err(DbError::Unsupported {
            path: path.to_path_buf(),
            reason: "this is an xbstream archive; extract it (`xbstream -x -C DIR < FILE`) and make a tarball of the directory (`tar -C DIR -czf backup.tar.gz .`)".to_string(),
        });
    }
    if !gzip && !plain_tar {
        return Err(not_backup(path, describe_start(&head)));
    }
    let stream = io::Cursor::new(head).chain(reader);
    let decoded: Box<dyn Read + 'r> = if gzip {
        Box::new(flate2::read::GzDecoder::new(stream))
    } else {
        Box::new(stream)
    };
    let what = if gzip {
        "gzip-compressed, but reading the tar archive inside failed"
    } else {
        "reading the tar archive failed"
    };
    list_members(path, decoded, what, gzip)
}

/// List the members of a tar archive, keep the metadata files at its top
/// level, and read it to its end. `what` words a failure to read it.
fn list_members(
    path: &Path,
    decoded: impl Read,
    what: &str,
    gzip: bool,
) -> Result<Listing, DbError> {
    let mut archive = tar::Archive::new(decoded);
    let mut top = BTreeSet::new();
    let mut nested_checkpoints = None;
    let mut meta: BTreeMap<String, String> = BTreeMap::new();
    let mut members = 0usize;
    {
        let entries = archive
            .entries()
            .map_err(|e| not_backup(path, format!("{what}: {e}")))?;
        for entry in entries {
            let mut entry = entry
                .map_err(|e| not_backup(path, format!("{what} after {members} members: {e}")))?;
            members += 1;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = raw.trim_start_matches("./").trim_start_matches('/');
            if name.is_empty() {
                continue;
            }
            let (first, rest) = match name.split_once('/') {
                Some((a, b)) => (a, b),
                None => (name, ""),
            };
            top.insert(first.to_string());
            let leaf = name.rsplit('/').next().unwrap_or(name);
            if !rest.is_empty() && leaf.ends_with("_checkpoints") && nested_checkpoints.is_none() {
                nested_checkpoints = Some(name.to_string());
            }
            let wanted = [
                "mariadb_backup_checkpoints",
                "mariadb_backup_info",
                "xtrabackup_checkpoints",
                "xtrabackup_info",
            ];
            if rest.is_empty() && wanted.contains(&name) && entry.header().entry_type().is_file() {
                let mut text = String::new();
                (&mut entry)
                    .take(1 << 20)
                    .read_to_string(&mut text)
                    .map_err(|e| not_backup(path, format!("{what}: {name}: {e}")))?;
                meta.insert(name.to_string(), text);
            }
        }
    }
    // Read to the end, so the gzip trailer (CRC) is checked and the hash covers the file.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| not_backup(path, format!("{what} at its end: {e}")))?;
    Ok(Listing {
        gzip,
        top,
        nested_checkpoints,
        meta,
        members,
    })
}

/// The tool, versions and type of the backup a [`Listing`] describes, by the
/// rule of [`detect`].
fn identify(
    path: PathBuf,
    listing: Listing,
    bytes: u64,
    sha256: String,
) -> Result<BackupInfo, DbError> {
    let prefix = checkpoints_prefix(&path, &listing)?;
    let Listing {
        top, meta, members, ..
    } = listing;
    let checkpoints_file = format!("{prefix}_checkpoints");
    let checkpoints = &meta[&checkpoints_file];
    let info = meta
        .get(&format!("{prefix}_info"))
        .map(String::as_str)
        .unwrap_or("");
    let backup_type = field(checkpoints, "backup_type")
        .ok_or_else(|| {
            not_backup(
                &path,
                format!(
                    "{checkpoints_file} has no backup_type line (it holds {} bytes)",
                    checkpoints.len()
                ),
            )
        })?
        .to_string();
    if backup_type.starts_with("incremental") {
        return Err(DbError::Unsupported {
            path,
            reason: format!("an incremental backup ({checkpoints_file}: backup_type = {backup_type}); RDS imports full backups only: make a full backup"),
        });
    }
    let tool = match field(info, "tool_name") {
        None => {
            if prefix == "mariadb_backup" {
                Tool::Mariabackup
            } else {
                Tool::Xtrabackup
            }
        }
        Some(t) if t.contains("mariabackup") || t.contains("mariadb-backup") || t.contains("mariadb_backup") => Tool::Mariabackup,
        Some(t) if t.contains("xtrabackup") || t.contains("innobackupex") => Tool::Xtrabackup,
        Some(t) => {
            return Err(DbError::Unsupported {
                path,
                reason: format!("{prefix}_info says tool_name = {t}; only mariabackup and Percona XtraBackup backups can be restored"),
            })
        }
    };
    Ok(BackupInfo {
        tool,
        tool_version: field(info, "tool_version").map(str::to_string),
        server_version: field(info, "server_version").map(str::to_string),
        backup_type,
        checkpoints_file,
        files: top.into_iter().collect(),
        members,
        bytes,
        sha256,
        path,
    })
}

/// `mariadb_backup` or `xtrabackup`: the prefix of the checkpoints file at
/// the top level of the archive; without one it is not a backup.
fn checkpoints_prefix(path: &Path, listing: &Listing) -> Result<&'static str, DbError> {
    let Listing {
        gzip,
        top,
        nested_checkpoints,
        meta,
        members,
    } = listing;
    if *members == 0 {
        return Err(not_backup(
            path,
            format!(
                "{} holds an empty tar archive",
                if *gzip {
                    "a gzip stream that"
                } else {
                    "the file"
                }
            ),
        ));
    }
    if meta.contains_key("mariadb_backup_checkpoints") {
        Ok("mariadb_backup")
    } else if meta.contains_key("xtrabackup_checkpoints") {
        Ok("xtrabackup")
    } else {
        let listed: Vec<&str> = top.iter().map(String::as_str).take(8).collect();
        let more = if top.len() > 8 {
            format!(" and {} more", top.len() - 8)
        } else {
            String::new()
        };
        let mut found = format!("a tar archive of {members} members (top level: {}{more}) without xtrabackup_checkpoints or mariadb_backup_checkpoints", listed.join(", "));
        if let Some(n) = nested_checkpoints {
            found.push_str(&format!("; there is a {n}: make the tarball from inside the backup directory (`tar -C DIR -czf backup.tar.gz .`)"));
        }
        Err(not_backup(path, found))
    }
}

// ------------------------------------------------------------------ names

/// Docker object names of one DB instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbNames {
    /// `chronous-<env>-<identifier>`
    pub server: String,
    /// `chronous-<env>-<identifier>-restore`
    pub helper: String,
    /// `chronous-<env>-<identifier>-data`
    pub volume: String,
}

impl DbNames {
    pub fn new(env: &str, identifier: &str) -> Self {
        DbNames {
            server: format!("chronous-{env}-{identifier}"),
            helper: format!("chronous-{env}-{identifier}-restore"),
            volume: format!("chronous-{env}-{identifier}-data"),
        }
    }
}

fn check_name(identifier: &str, what: &str, value: &str) -> Result<(), DbError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(DbError::Config {
            identifier: identifier.to_string(),
            reason: format!("the {what} `{value}` cannot be part of a Docker name: use letters, digits, `-`, `_` and `.`, starting with a letter or digit"),
        })
    }
}

// ------------------------------------------------------------------ restore

fn source_of(info: Option<&BackupInfo>) -> String {
    match info {
        Some(i) => format!("backup-sha256:{}", i.sha256),
        None => "empty".to_string(),
    }
}

fn describe_source(s: &str) -> String {
    match s.strip_prefix("backup-sha256:") {
        Some(h) => format!("the backup with sha256 {}", &h[..h.len().min(16)]),
        None if s == "empty" => "an empty instance (no backup)".to_string(),
        None => format!("`{s}`"),
    }
}

/// Restore the backup of `cfg` (if any) into the instance's volume and run
/// the server; see the module documentation. Calling it again adopts what
/// exists (no duplicate containers or volumes).
pub async fn restore_and_start(docker: &Docker, cfg: &DbConfig) -> Result<DbRuntime, DbError> {
    let t0 = Instant::now();
    let id = cfg.identifier.as_str();
    check_config(cfg)?;
    let mut timings = Timings::default();

    // 1. The backup, on the host: a bad one fails before anything is created.
    let info = read_backup(cfg, &mut timings).await?;
    let plan = cfg.images.plan(info.as_ref())?;
    if let Some(img) = &plan.prepare_image {
        docker.ensure_image(img).await?;
    }
    docker.ensure_image(&plan.serve_image).await?;

    let names = DbNames::new(&cfg.env, id);
    let source = source_of(info.as_ref());
    let mut extra = BTreeMap::new();
    extra.insert(LABEL_DB_SOURCE.to_string(), source.clone());
    extra.insert(LABEL_DB_IDENTIFIER.to_string(), id.to_string());

    // 2. The data volume must hold this data (or nothing yet); checked before
    //    anything is changed, so a refused request has no effect.
    check_volume(docker, cfg, &names, &source).await?;
    // 3. A server that already runs on this data is adopted as it is.
    if let Some(cid) = adopt_server(docker, cfg, &names, &plan, &source, &mut timings).await? {
        return finish(
            docker,
            cfg,
            &names,
            &plan,
            info,
            Outcome::AlreadyRunning,
            cid,
            timings,
            t0,
        )
        .await;
    }
    // A helper left by an interrupted restore.
    docker.remove_container(&names.helper).await?;

    // 4. Restore into the volume, unless it already holds the prepared data.
    let outcome = restore_volume(
        docker,
        cfg,
        &names,
        &plan,
        info.as_ref(),
        &extra,
        &mut timings,
    )
    .await?;

    // 5. The server.
    let network = docker.ensure_network(&cfg.env).await?;
    let spec = server_spec(cfg, &names, &plan, &network, &extra);
    let t = Instant::now();
    let (cid, attempts) = start_server(docker, cfg, &spec, plan.flavor).await?;
    timings.server_attempts = attempts;
    timings.ready = t.elapsed();
    finish(docker, cfg, &names, &plan, info, outcome, cid, timings, t0).await
}

/// Refuse names Docker cannot use and an empty master user or password.
fn check_config(cfg: &DbConfig) -> Result<(), DbError> {
    let id = cfg.identifier.as_str();
    check_name(id, "environment name", &cfg.env)?;
    check_name(id, "DB instance identifier", id)?;
    if cfg.password.is_empty() {
        return Err(DbError::Config {
            identifier: id.to_string(),
            reason: "the master password is empty: set one".to_string(),
        });
    }
    if cfg.username.is_empty() {
        return Err(DbError::Config {
            identifier: id.to_string(),
            reason: "the master username is empty: set one".to_string(),
        });
    }
    Ok(())
}

/// [`detect`] the backup of `cfg`, if it has one, off the async runtime.
async fn read_backup(cfg: &DbConfig, timings: &mut Timings) -> Result<Option<BackupInfo>, DbError> {
    let Some(p) = &cfg.backup else {
        return Ok(None);
    };
    let p = p.clone();
    let t = Instant::now();
    let info = tokio::task::spawn_blocking(move || detect(&p))
        .await
        .map_err(|e| DbError::Config {
            identifier: cfg.identifier.clone(),
            reason: format!("reading the backup was interrupted: {e}"),
        })??;
    timings.detect = t.elapsed();
    Ok(Some(info))
}

/// The data volume, if it exists, must belong to the environment and hold
/// the data of `source`.
async fn check_volume(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    source: &str,
) -> Result<(), DbError> {
    let Some(l) = docker.volume_labels(&names.volume).await? else {
        return Ok(());
    };
    if l.get(LABEL_ENVIRONMENT) != Some(&cfg.env) {
        return Err(DockerError::Foreign {
            what: "volume",
            name: names.volume.clone(),
            env: cfg.env.clone(),
            labels: format!("{l:?}"),
        }
        .into());
    }
    let found = l
        .get(LABEL_DB_SOURCE)
        .cloned()
        .unwrap_or_else(|| "(unlabelled)".to_string());
    if found != source {
        return Err(DbError::SourceChanged {
            identifier: cfg.identifier.clone(),
            volume: names.volume.clone(),
            found: describe_source(&found),
            wanted: describe_source(source),
        });
    }
    Ok(())
}

/// The id of the server container if it already runs this data with this
/// image (once it answers); a stopped, crashed or outdated one is removed,
/// to be recreated with the current settings.
async fn adopt_server(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    source: &str,
    timings: &mut Timings,
) -> Result<Option<String>, DbError> {
    let Some(c) = docker.inspect(&names.server).await? else {
        return Ok(None);
    };
    if c.labels.get(LABEL_ENVIRONMENT) != Some(&cfg.env) {
        return Err(DockerError::Foreign {
            what: "container",
            name: names.server.clone(),
            env: cfg.env.clone(),
            labels: format!("{:?}", c.labels),
        }
        .into());
    }
    if c.running
        && c.labels.get(LABEL_DB_SOURCE).map(String::as_str) == Some(source)
        && c.image == plan.serve_image
    {
        let t = Instant::now();
        wait_ready(docker, cfg, &names.server, plan.flavor).await?;
        timings.ready = t.elapsed();
        return Ok(Some(c.id));
    }
    // Stopped, crashed or outdated: recreated below with the current settings.
    docker.remove_container(&names.server).await?;
    Ok(None)
}

/// Make the data volume and restore the backup into it, unless it already
/// holds the prepared data; a restore that did not finish starts again from
/// an empty volume, and a failed one leaves nothing half-restored behind.
async fn restore_volume(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    info: Option<&BackupInfo>,
    extra: &BTreeMap<String, String>,
    timings: &mut Timings,
) -> Result<Outcome, DbError> {
    let ensure_volume = || {
        docker.ensure_volume(
            &cfg.env,
            &names.volume,
            "db-data",
            Some(&cfg.address),
            extra,
        )
    };
    let created = ensure_volume().await?;
    let Some(info) = info else {
        return Ok(if created {
            Outcome::Created
        } else {
            Outcome::Restarted
        });
    };
    if !created && volume_is_prepared(docker, cfg, names, plan, info).await? {
        return Ok(Outcome::Restarted);
    }
    if !created {
        // A restore that did not finish: start again from an empty volume.
        docker.remove_volume(&names.volume).await?;
        ensure_volume().await?;
    }
    if let Err(e) = prepare(docker, cfg, names, plan, info, timings).await {
        // Leave nothing half-restored behind.
        let _ = docker.remove_container(&names.helper).await;
        let _ = docker.remove_volume(&names.volume).await;
        return Err(e);
    }
    Ok(Outcome::Restored)
}

/// Create and start the server and wait until it answers. chronous/mariadb's
/// entrypoint removes its `--init-file` once the server socket exists, which
/// can be before mariadbd has read it (the server then aborts with
/// `Can't create/write to file '/run/mysqld/chronous-init.sql' (Errcode: 2 ...)`):
/// that start is retried with a new container, twice at most.
async fn start_server(
    docker: &Docker,
    cfg: &DbConfig,
    spec: &ContainerSpec,
    flavor: Flavor,
) -> Result<(String, u32), DbError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let cid = docker.run_container(&cfg.env, spec).await?;
        match wait_ready(docker, cfg, &spec.name, flavor).await {
            Ok(()) => return Ok((cid, attempt)),
            Err(DbError::ServerExited { log_tail, .. })
                if attempt < 3 && log_tail.contains("chronous-init.sql' (Errcode: 2") =>
            {
                docker.remove_container(&cid).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

fn helper_spec(cfg: &DbConfig, names: &DbNames, plan: &Plan, info: &BackupInfo) -> ContainerSpec {
    let script = match info.tool {
        Tool::Mariabackup => format!("set -e; mariabackup --prepare --target-dir={DATADIR} --use-memory=64M; chown -R mysql:mysql {DATADIR}"),
        // The official mysql image runs mysqld as uid/gid 999.
        Tool::Xtrabackup => format!("set -e; xtrabackup --prepare --target-dir={DATADIR} --use-memory=64M; chown -R 999:999 {DATADIR}"),
    };
    ContainerSpec {
        name: names.helper.clone(),
        image: plan.prepare_image.clone().unwrap_or_default(),
        entrypoint: Some(vec!["bash".to_string()]),
        cmd: Some(vec!["-c".to_string(), script]),
        role: "helper".to_string(),
        address: Some(cfg.address.clone()),
        network: None,
        mounts: vec![MountSpec::Volume {
            name: names.volume.clone(),
            target: DATADIR.to_string(),
            read_only: false,
        }],
        user: (info.tool == Tool::Xtrabackup).then(|| "root".to_string()),
        ..Default::default()
    }
}

/// Whether the existing volume holds the prepared backup (checkpoints say
/// `full-prepared`), read through a created, never started helper.
async fn volume_is_prepared(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    info: &BackupInfo,
) -> Result<bool, DbError> {
    docker
        .create_container(&cfg.env, &helper_spec(cfg, names, plan, info))
        .await?;
    let file = docker
        .read_file(
            &names.helper,
            &format!("{DATADIR}/{}", info.checkpoints_file),
        )
        .await;
    docker.remove_container(&names.helper).await?;
    let text = file?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // Percona XtraBackup writes `full-prepared` after --prepare; mariabackup
    // 10.11 writes `log-applied`. Until then it says `full-backuped`.
    Ok(matches!(
        field(&text, "backup_type"),
        Some("full-prepared" | "log-applied")
    ))
}

/// Steps 3-6 of the README: helper, upload, prepare + chown, remove helper.
async fn prepare(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    info: &BackupInfo,
    timings: &mut Timings,
) -> Result<(), DbError> {
    docker
        .create_container(&cfg.env, &helper_spec(cfg, names, plan, info))
        .await?;
    let t = Instant::now();
    let path = info.path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| DbError::Read {
            path: info.path.clone(),
            source: io::Error::other(e.to_string()),
        })?
        .map_err(|e| DbError::Read {
            path: info.path.clone(),
            source: e,
        })?;
    docker.upload(&names.helper, DATADIR, bytes).await?;
    timings.upload = t.elapsed();

    let t = Instant::now();
    docker.start_container(&names.helper).await?;
    let code = match tokio::time::timeout(cfg.prepare_timeout, docker.wait(&names.helper)).await {
        Ok(code) => code?,
        Err(_) => {
            let log_tail = docker.log_tail(&names.helper, 30).await;
            return Err(DbError::PrepareTimeout {
                identifier: cfg.identifier.clone(),
                tool: info.tool,
                backup: info.path.clone(),
                secs: cfg.prepare_timeout.as_secs(),
                log_tail,
            });
        }
    };
    timings.prepare = t.elapsed();
    let tail = docker.log_tail(&names.helper, 30).await;
    let completed = tail
        .lines()
        .rev()
        .take(5)
        .any(|l| l.contains("completed OK!"));
    if code != 0 || !completed {
        return Err(DbError::PrepareFailed {
            identifier: cfg.identifier.clone(),
            tool: info.tool,
            backup: info.path.clone(),
            exit_code: code,
            log_tail: tail,
        });
    }
    docker.remove_container(&names.helper).await?;
    Ok(())
}

fn server_spec(
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    network: &str,
    extra: &BTreeMap<String, String>,
) -> ContainerSpec {
    let p = match plan.flavor {
        Flavor::Chronous => "MARIADB",
        Flavor::Mysql => "MYSQL",
    };
    let mut env = vec![(format!("{p}_ROOT_PASSWORD"), cfg.password.clone())];
    // A master user named root is root itself.
    if cfg.username != "root" {
        env.push((format!("{p}_USER"), cfg.username.clone()));
        env.push((format!("{p}_PASSWORD"), cfg.password.clone()));
    }
    if !cfg.database.is_empty() {
        env.push((format!("{p}_DATABASE"), cfg.database.clone()));
    }
    let mut aliases = vec![];
    if !cfg.dns_name.is_empty() {
        aliases.push(cfg.dns_name.clone());
    }
    aliases.push("db".to_string());
    ContainerSpec {
        name: names.server.clone(),
        image: plan.serve_image.clone(),
        env,
        role: "db".to_string(),
        address: Some(cfg.address.clone()),
        labels: extra.clone(),
        network: Some(network.to_string()),
        aliases,
        mounts: vec![MountSpec::Volume {
            name: names.volume.clone(),
            target: DATADIR.to_string(),
            read_only: false,
        }],
        memory_mb: cfg.memory_mb,
        publish: Some(3306),
        ..Default::default()
    }
}

fn ready_cmd(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        Flavor::Chronous => &["chronous-db-ready"],
        Flavor::Mysql => &["mysqladmin", "--protocol=socket", "ping", "--silent"],
    }
}

/// Whether the database server in `container` answers its readiness check,
/// whichever image runs it (the chronous image's, else the public one's): what
/// `status` reports and `sim start` waits for after starting it again.
pub async fn answers(docker: &Docker, container: &str) -> bool {
    for flavor in [Flavor::Chronous, Flavor::Mysql] {
        if docker
            .exec(container, ready_cmd(flavor))
            .await
            .is_ok_and(|o| o.exit_code == 0)
        {
            return true;
        }
    }
    false
}

/// Poll the readiness command until it succeeds, the container stops, or the timeout passes.
async fn wait_ready(
    docker: &Docker,
    cfg: &DbConfig,
    container: &str,
    flavor: Flavor,
) -> Result<(), DbError> {
    let deadline = Instant::now() + cfg.ready_timeout;
    loop {
        let running = docker.inspect(container).await?.is_some_and(|c| c.running);
        if !running {
            let log_tail = docker.log_tail(container, 30).await;
            return Err(DbError::ServerExited {
                identifier: cfg.identifier.clone(),
                container: container.to_string(),
                log_tail,
            });
        }
        match docker.exec(container, ready_cmd(flavor)).await {
            Ok(o) if o.exit_code == 0 => return Ok(()),
            Ok(_) => {}
            // The container stopped between the inspect and the exec: seen on the next round.
            Err(DockerError::Api { status: 409, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            let log_tail = docker.log_tail(container, 30).await;
            return Err(DbError::NotReady {
                identifier: cfg.identifier.clone(),
                container: container.to_string(),
                secs: cfg.ready_timeout.as_secs(),
                log_tail,
            });
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    docker: &Docker,
    cfg: &DbConfig,
    names: &DbNames,
    plan: &Plan,
    info: Option<BackupInfo>,
    outcome: Outcome,
    container_id: String,
    mut timings: Timings,
    t0: Instant,
) -> Result<DbRuntime, DbError> {
    let host_port = docker.host_port(&names.server, 3306).await?.ok_or_else(|| DbError::Config {
        identifier: cfg.identifier.clone(),
        reason: format!("container {} has no published port for 3306: remove it (`docker rm -f {}`) and apply again", names.server, names.server),
    })?;
    let client = match plan.flavor {
        Flavor::Chronous => "mariadb",
        Flavor::Mysql => "mysql",
    };
    let v = docker
        .exec(
            &names.server,
            &[
                client,
                "--batch",
                "--skip-column-names",
                "-e",
                "SELECT VERSION()",
            ],
        )
        .await?;
    let server_version = if v.exit_code == 0 {
        v.stdout.trim().to_string()
    } else {
        String::new()
    };
    let restored_by = match (&info, plan.flavor) {
        (Some(_), Flavor::Chronous) => {
            let o = docker
                .exec(&names.server, &["mariabackup", "--version"])
                .await?;
            let tool = format!("{}{}", o.stdout, o.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("mariabackup")
                .trim()
                .to_string();
            Some(format!("{tool} (server {server_version})"))
        }
        (Some(_), Flavor::Mysql) => Some(format!(
            "{} (server {server_version})",
            plan.prepare_image.as_deref().unwrap_or("xtrabackup")
        )),
        (None, _) => None,
    };
    timings.total = t0.elapsed();
    Ok(DbRuntime {
        container_id,
        container_name: names.server.clone(),
        volume: names.volume.clone(),
        network: chronous_docker::network_name(&cfg.env),
        host_port,
        image: plan.serve_image.clone(),
        outcome,
        tool: info.as_ref().map(|i| i.tool),
        made_by: info.as_ref().map(BackupInfo::made_by),
        restored_by,
        backup: info,
        server_version,
        timings,
    })
}

/// Remove the instance's server container, any restore helper and the data volume.
pub async fn stop_and_remove(docker: &Docker, env: &str, identifier: &str) -> Result<(), DbError> {
    let names = DbNames::new(env, identifier);
    for c in [&names.server, &names.helper] {
        if let Some(info) = docker.inspect(c).await? {
            if info.labels.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(env) {
                return Err(DockerError::Foreign {
                    what: "container",
                    name: c.clone(),
                    env: env.to_string(),
                    labels: format!("{:?}", info.labels),
                }
                .into());
            }
            docker.stop_container(c, 10).await?;
            docker.remove_container(c).await?;
        }
    }
    if let Some(l) = docker.volume_labels(&names.volume).await? {
        if l.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(env) {
            return Err(DockerError::Foreign {
                what: "volume",
                name: names.volume,
                env: env.to_string(),
                labels: format!("{l:?}"),
            }
            .into());
        }
        docker.remove_volume(&names.volume).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ checksums

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

async fn query(
    docker: &Docker,
    container: &str,
    what: &str,
    sql: &str,
) -> Result<Vec<Vec<String>>, DbError> {
    let o = docker
        .exec(
            container,
            &[
                "mariadb",
                "--batch",
                "--skip-column-names",
                "--raw",
                "-e",
                sql,
            ],
        )
        .await?;
    if o.exit_code != 0 {
        return Err(DbError::Query {
            container: container.to_string(),
            what: what.to_string(),
            exit_code: o.exit_code,
            stderr: o.stderr.trim().to_string(),
        });
    }
    Ok(o.stdout
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

/// `CHECKSUM TABLE ... EXTENDED` and `COUNT(*)` of every base table of
/// `database`, as `table -> (checksum, rows)` (like fixtures/backup/checksums.py).
/// Runs the `mariadb` client inside the container as OS root over the socket.
pub async fn checksums(
    docker: &Docker,
    container: &str,
    database: &str,
) -> Result<BTreeMap<String, (u64, u64)>, DbError> {
    let tables: Vec<String> = query(
        docker,
        container,
        "listing the tables",
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' AND table_type = 'BASE TABLE' ORDER BY table_name",
            database.replace('\\', "\\\\").replace('\'', "''")
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| r.into_iter().next())
    .collect();
    let mut out = BTreeMap::new();
    if tables.is_empty() {
        return Ok(out);
    }
    let full: Vec<String> = tables
        .iter()
        .map(|t| format!("{}.{}", ident(database), ident(t)))
        .collect();
    let sums = query(
        docker,
        container,
        "CHECKSUM TABLE",
        &format!("CHECKSUM TABLE {} EXTENDED", full.join(", ")),
    )
    .await?;
    let counts_sql: Vec<String> = tables
        .iter()
        .zip(&full)
        .enumerate()
        .map(|(i, (_, f))| format!("SELECT {i}, COUNT(*) FROM {f}"))
        .collect();
    let counts = query(
        docker,
        container,
        "counting rows",
        &counts_sql.join(" UNION ALL "),
    )
    .await?;
    let bad = |what: &str, row: &[String]| DbError::Query {
        container: container.to_string(),
        what: what.to_string(),
        exit_code: 0,
        stderr: format!("unexpected output row {row:?}"),
    };
    if sums.len() != tables.len() || counts.len() != tables.len() {
        return Err(DbError::Query {
            container: container.to_string(),
            what: "CHECKSUM TABLE".to_string(),
            exit_code: 0,
            stderr: format!(
                "{} tables, but {} checksums and {} counts",
                tables.len(),
                sums.len(),
                counts.len()
            ),
        });
    }
    for (i, t) in tables.iter().enumerate() {
        // CHECKSUM TABLE answers in the order asked: `db.table<TAB>checksum`.
        let sum = sums[i]
            .get(1)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("CHECKSUM TABLE", &sums[i]))?;
        let row = counts
            .iter()
            .find(|r| r.first().and_then(|s| s.parse::<usize>().ok()) == Some(i))
            .ok_or_else(|| bad("COUNT(*)", &[]))?;
        let rows = row
            .get(1)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("COUNT(*)", row))?;
        out.insert(t.clone(), (sum, rows));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_versions() {
        let info = "uuid = x\ntool_name = mariabackup\ntool_version = 10.11.18-MariaDB\nserver_version = 10.11.18-MariaDB-0+deb12u1\n";
        assert_eq!(field(info, "tool_name"), Some("mariabackup"));
        assert_eq!(field(info, "nope"), None);
        let b = BackupInfo {
            path: "x".into(),
            tool: Tool::Xtrabackup,
            tool_version: None,
            server_version: Some("5.6.41-log".into()),
            backup_type: "full-backuped".into(),
            checkpoints_file: "xtrabackup_checkpoints".into(),
            files: vec![],
            members: 1,
            bytes: 1,
            sha256: String::new(),
        };
        assert_eq!(b.server_major_minor().as_deref(), Some("5.6"));
        let plan = DbImages::default().plan(Some(&b)).unwrap();
        assert_eq!(
            plan.prepare_image.as_deref(),
            Some("percona/percona-xtrabackup:2.4")
        );
        assert_eq!(plan.serve_image, "mysql:5.6");
        let b8 = BackupInfo {
            server_version: Some("8.0.36".into()),
            ..b.clone()
        };
        assert_eq!(
            DbImages::default()
                .plan(Some(&b8))
                .unwrap()
                .prepare_image
                .as_deref(),
            Some("percona/percona-xtrabackup:8.0")
        );
        let b84 = BackupInfo {
            server_version: Some("8.4.1".into()),
            ..b
        };
        assert!(matches!(
            DbImages::default().plan(Some(&b84)),
            Err(DbError::Unsupported { .. })
        ));
    }

    #[test]
    fn config_debug_hides_the_password() {
        let cfg = DbConfig::new("e", "a", "i", "h", "dev", "hunter2-secret", "db", None);
        assert!(!format!("{cfg:?}").contains("hunter2-secret"));
    }
}
