//! The simulated RDS instance against a real Docker daemon: restore of the
//! mariabackup fixture, idempotence, refusal of corrupt backups without
//! leftovers, and the environment sweep.
//!
//! Needs Docker and the local images (`images/build.sh`, run automatically
//! when `chronous/mariadb:10.11` is missing). Every test uses its own
//! environment name and sweeps it on exit, also on failure.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chronous_docker::{ContainerSpec, Docker, DockerError, LogStream, MountSpec};
use chronous_sim::db::{self, DbConfig, DbError, DbImages, Outcome, Tool};
use common::{cli_everything, cli_objects, ensure_images, fixture, EnvGuard};
use futures_util::StreamExt;

const PASSWORD: &str = "Pw-4-test_not-in-errors";

fn expected_checksums() -> BTreeMap<String, (u64, u64)> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("db-backup.checksums.json")).unwrap())
            .unwrap();
    json["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, v)| {
            (
                t.clone(),
                (v["checksum"].as_u64().unwrap(), v["rows"].as_u64().unwrap()),
            )
        })
        .collect()
}

fn config(env: &str, backup: Option<PathBuf>) -> DbConfig {
    DbConfig::new(
        env,
        "module.db.aws_db_instance.payments",
        "payments-db",
        "payments-db.c0a1b2c3d4e5.eu-west-1.rds.amazonaws.com",
        "dev",
        PASSWORD,
        "paymentsdb",
        backup,
    )
}

/// The server's protocol greeting on the published port (proves 127.0.0.1:<port> reaches mariadbd).
fn greeting(port: u16) -> String {
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the published port");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 128];
    let n = s.read(&mut buf).expect("read the greeting");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_matches_checksums_and_is_idempotent() {
    ensure_images();
    let guard = EnvGuard::new("dbrestore");
    let env = guard.env.clone();
    let docker = Docker::connect().await.unwrap();
    let cfg = config(&env, Some(fixture("db-backup.tar.gz")));

    let t = Instant::now();
    let rt = db::restore_and_start(&docker, &cfg)
        .await
        .unwrap_or_else(|e| panic!("restore: {e}"));
    let first = t.elapsed();
    eprintln!(
        "restore: {first:?} ({:?}); made by {:?}, restored by {:?}",
        rt.timings, rt.made_by, rt.restored_by
    );
    assert_eq!(rt.outcome, Outcome::Restored);
    assert_eq!(rt.tool, Some(Tool::Mariabackup));
    assert!(
        rt.made_by.as_deref().unwrap().contains("10.11.18-MariaDB"),
        "{:?}",
        rt.made_by
    );
    assert!(
        rt.restored_by.as_deref().unwrap().contains("mariabackup"),
        "{:?}",
        rt.restored_by
    );
    assert!(
        rt.server_version.starts_with("10.11."),
        "{}",
        rt.server_version
    );
    let info = rt.backup.as_ref().unwrap();
    assert_eq!(info.backup_type, "full-backuped");
    assert_eq!(info.checkpoints_file, "xtrabackup_checkpoints");
    assert!(
        info.files.contains(&"paymentsdb".to_string()),
        "{:?}",
        info.files
    );

    // The data: CHECKSUM TABLE ... EXTENDED of every table, as the fixture recorded it.
    let sums = db::checksums(&docker, &rt.container_id, "paymentsdb")
        .await
        .unwrap();
    assert_eq!(sums, expected_checksums());

    // Reachable on 127.0.0.1:<published port>, by its RDS host name on the
    // environment network, and as the master user with the configured password.
    assert!(
        greeting(rt.host_port).contains(&rt.server_version),
        "no greeting with {}",
        rt.server_version
    );
    let dns = docker
        .exec(&rt.container_id, &["getent", "hosts", &cfg.dns_name])
        .await
        .unwrap();
    assert_eq!(dns.exit_code, 0, "{dns:?}");
    let pw = format!("--password={PASSWORD}");
    let login = docker
        .exec(
            &rt.container_id,
            &[
                "mariadb",
                "-h",
                "db",
                "-u",
                "dev",
                &pw,
                "-N",
                "-e",
                "SELECT CURRENT_USER()",
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (login.exit_code, login.stdout.trim()),
        (0, "dev@%"),
        "{login:?}"
    );

    // Labels.
    let listed = docker.list(&env, Some("db")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].running);
    assert_eq!(listed[0].address.as_deref(), Some(cfg.address.as_str()));
    assert_eq!(
        listed[0]
            .labels
            .get("chronous.managed-by")
            .map(String::as_str),
        Some("chronous")
    );
    assert!(!listed[0].labels.values().any(|v| v.contains(PASSWORD)));

    // Logs as lines.
    let mut lines = docker.logs(&rt.container_id, None, false);
    let mut ready = false;
    while let Some(l) = lines.next().await {
        let l = l.unwrap();
        ready |= l.stream == LogStream::Stderr && l.text.contains("ready for connections");
    }
    assert!(ready, "no `ready for connections` line in the server log");

    // Again: the running server is adopted.
    let t = Instant::now();
    let again = db::restore_and_start(&docker, &cfg).await.unwrap();
    eprintln!("second call (running): {:?}", t.elapsed());
    assert_eq!(again.outcome, Outcome::AlreadyRunning);
    assert_eq!(again.container_id, rt.container_id);
    assert_eq!(cli_objects("container", &env).len(), 1);
    assert_eq!(cli_objects("volume", &env), vec![rt.volume.clone()]);

    // After a crash of the server: the prepared volume is served again, no new restore.
    docker.stop_container(&rt.container_id, 10).await.unwrap();
    let t = Instant::now();
    let restarted = db::restore_and_start(&docker, &cfg).await.unwrap();
    eprintln!("third call (server stopped): {:?}", t.elapsed());
    assert_eq!(restarted.outcome, Outcome::Restarted);
    assert_eq!(cli_objects("container", &env).len(), 1);
    assert_eq!(cli_objects("volume", &env), vec![rt.volume.clone()]);
    assert_eq!(
        db::checksums(&docker, &restarted.container_id, "paymentsdb")
            .await
            .unwrap(),
        expected_checksums()
    );

    // Asking for other data on the same instance is refused (restore means a new instance).
    let err = db::restore_and_start(&docker, &config(&env, None))
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::SourceChanged { .. }), "{err}");
    assert!(!err.to_string().contains(PASSWORD));
    let still = docker
        .inspect(&restarted.container_id)
        .await
        .unwrap()
        .expect("server kept");
    assert!(still.running, "a refused request leaves the server running");

    db::stop_and_remove(&docker, &env, &cfg.identifier)
        .await
        .unwrap();
    assert!(cli_objects("container", &env).is_empty());
    assert!(cli_objects("volume", &env).is_empty());

    let report = docker.sweep(&env).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.networks, vec![format!("chronous-{env}")]);
    assert!(
        cli_everything(&env).is_empty(),
        "{:?}",
        cli_everything(&env)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_instance_without_backup() {
    ensure_images();
    let guard = EnvGuard::new("dbempty");
    let docker = Docker::connect().await.unwrap();
    let cfg = config(&guard.env, None);
    let t = Instant::now();
    let rt = db::restore_and_start(&docker, &cfg)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    eprintln!("empty instance: {:?}", t.elapsed());
    assert_eq!(rt.outcome, Outcome::Created);
    assert_eq!(
        (rt.made_by.as_deref(), rt.restored_by.as_deref()),
        (None, None)
    );
    let dbs = docker
        .exec(
            &rt.container_id,
            &["mariadb", "-N", "-e", "SHOW DATABASES LIKE 'paymentsdb'"],
        )
        .await
        .unwrap();
    assert_eq!(dbs.stdout.trim(), "paymentsdb", "{dbs:?}");
    assert!(db::checksums(&docker, &rt.container_id, "paymentsdb")
        .await
        .unwrap()
        .is_empty());
    let again = db::restore_and_start(&docker, &cfg).await.unwrap();
    assert_eq!(
        (again.outcome, &again.container_id),
        (Outcome::AlreadyRunning, &rt.container_id)
    );
    assert_eq!(cli_objects("volume", &guard.env).len(), 1);
}

/// A restore interrupted after the upload (helper left, volume holding the
/// unprepared backup) is redone from a fresh volume on the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_an_interrupted_restore() {
    ensure_images();
    let guard = EnvGuard::new("dbcrash");
    let env = guard.env.clone();
    let docker = Docker::connect().await.unwrap();
    let backup = fixture("db-backup.tar.gz");
    let cfg = config(&env, Some(backup.clone()));
    let info = db::detect(&backup).unwrap();
    let names = db::DbNames::new(&env, &cfg.identifier);

    // What a crash between step 4 (upload) and step 5 (prepare) leaves.
    let mut extra = BTreeMap::new();
    extra.insert(
        db::LABEL_DB_SOURCE.to_string(),
        format!("backup-sha256:{}", info.sha256),
    );
    docker
        .ensure_volume(&env, &names.volume, "db-data", Some(&cfg.address), &extra)
        .await
        .unwrap();
    let helper = ContainerSpec {
        name: names.helper.clone(),
        image: common::MARIADB_IMAGE.into(),
        entrypoint: Some(vec!["true".into()]),
        role: "helper".into(),
        mounts: vec![MountSpec::Volume {
            name: names.volume.clone(),
            target: "/var/lib/mysql".into(),
            read_only: false,
        }],
        ..Default::default()
    };
    docker.create_container(&env, &helper).await.unwrap();
    docker
        .upload(
            &names.helper,
            "/var/lib/mysql",
            std::fs::read(&backup).unwrap(),
        )
        .await
        .unwrap();

    let rt = db::restore_and_start(&docker, &cfg)
        .await
        .unwrap_or_else(|e| panic!("restore after a crash: {e}"));
    assert_eq!(rt.outcome, Outcome::Restored);
    assert_eq!(cli_objects("container", &env), vec![names.server.clone()]);
    assert_eq!(cli_objects("volume", &env), vec![names.volume.clone()]);
    assert_eq!(
        db::checksums(&docker, &rt.container_id, "paymentsdb")
            .await
            .unwrap(),
        expected_checksums()
    );
}

// ------------------------------------------------------------------ corrupt backups

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o640);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_backups_fail_cleanly() {
    ensure_images();
    let guard = EnvGuard::new("dbcorrupt");
    let env = guard.env.clone();
    let docker = Docker::connect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut x: u64 = 0x9E3779B97F4A7C15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let real = std::fs::read(fixture("db-backup.tar.gz")).unwrap();
    let cases = [
        (
            write(dir.path(), "random.tar.gz", &random),
            "not gzip-compressed",
        ),
        (write(dir.path(), "empty.tar.gz", b""), "the file is empty"),
        (
            write(
                dir.path(),
                "text.tar.gz",
                &gzip(b"this is not a tar archive at all\n".repeat(40).as_slice()),
            ),
            "gzip-compressed, but reading the tar archive inside failed",
        ),
        (
            write(
                dir.path(),
                "other.tar.gz",
                &tarball(&[("hello.txt", "hi\n"), ("docs/readme.md", "# x\n")]),
            ),
            "without xtrabackup_checkpoints",
        ),
        (
            write(
                dir.path(),
                "nested.tar.gz",
                &tarball(&[(
                    "backup/xtrabackup_checkpoints",
                    "backup_type = full-backuped\n",
                )]),
            ),
            "there is a backup/xtrabackup_checkpoints",
        ),
        (
            write(dir.path(), "truncated.tar.gz", &real[..real.len() / 2]),
            "gzip-compressed, but reading the tar archive inside failed",
        ),
    ];
    for (path, want) in &cases {
        let err = db::detect(path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, DbError::NotABackup { .. }),
            "{}: {msg}",
            path.display()
        );
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains("corrupt or not an XtraBackup")
                && msg.contains(want),
            "{}: {msg}",
            path.display()
        );
        let err = db::restore_and_start(&docker, &config(&env, Some(path.clone())))
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::NotABackup { .. }), "{err}");
        assert!(
            cli_everything(&env).is_empty(),
            "{}: left {:?}",
            path.display(),
            cli_everything(&env)
        );
    }

    // Metadata that passes detection, but no data: mariabackup --prepare fails
    // in the helper; the error carries its log, and helper and volume are gone.
    let hollow = write(
        dir.path(),
        "hollow.tar.gz",
        &tarball(&[
            ("xtrabackup_checkpoints", "backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 44388\nlast_lsn = 167308\n"),
            ("xtrabackup_info", "tool_name = mariabackup\ntool_version = 10.11.18-MariaDB\nserver_version = 10.11.18-MariaDB-0+deb12u1\n"),
        ]),
    );
    let info = db::detect(&hollow).unwrap();
    assert_eq!((info.tool, info.members), (Tool::Mariabackup, 2));
    let err = db::restore_and_start(&docker, &config(&env, Some(hollow)))
        .await
        .unwrap_err();
    let msg = err.to_string();
    match &err {
        DbError::PrepareFailed {
            exit_code,
            log_tail,
            ..
        } => assert!(*exit_code != 0 && !log_tail.is_empty(), "{msg}"),
        other => panic!("expected PrepareFailed, got {other}"),
    }
    assert!(!msg.contains(PASSWORD));
    eprintln!("prepare failure reads:\n{msg}");
    assert!(
        cli_everything(&env).is_empty(),
        "left {:?}",
        cli_everything(&env)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percona_backup_without_its_images_is_image_missing() {
    let guard = EnvGuard::new("dbpercona");
    let docker = Docker::connect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "mysql57.tar.gz",
        &tarball(&[
            ("ibdata1", "x"),
            ("xtrabackup_checkpoints", "backup_type = full-backuped\n"),
            (
                "xtrabackup_info",
                "tool_name = xtrabackup\ntool_version = 2.4.29\nserver_version = 5.7.44-log\n",
            ),
        ]),
    );
    let info = db::detect(&p).unwrap();
    assert_eq!(
        (info.tool, info.server_major_minor().as_deref()),
        (Tool::Xtrabackup, Some("5.7"))
    );
    // An unresolvable registry keeps the pull failing even where a registry is reachable.
    let mut cfg = config(&guard.env, Some(p));
    cfg.images = DbImages {
        xtrabackup_repo: "registry.invalid/percona/percona-xtrabackup".into(),
        mysql_repo: "registry.invalid/mysql".into(),
        ..DbImages::default()
    };
    let err = db::restore_and_start(&docker, &cfg).await.unwrap_err();
    match &err {
        DbError::Docker(DockerError::ImageMissing { image, hint }) => {
            assert_eq!(image, "registry.invalid/percona/percona-xtrabackup:2.4");
            assert!(
                hint.contains("docker pull") && hint.contains("docker load"),
                "{hint}"
            );
        }
        other => panic!("expected ImageMissing, got {other}"),
    }
    eprintln!("percona backup reads: {err}");
    assert!(cli_everything(&guard.env).is_empty());
}

// ------------------------------------------------------------------ docker layer

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_only_its_environment() {
    ensure_images();
    let a = EnvGuard::new("sweep");
    let b = EnvGuard::new("sweep");
    let docker = Docker::connect().await.unwrap();

    let mut ids = BTreeMap::new();
    for env in [&a.env, &b.env] {
        let net = docker.ensure_network(env).await.unwrap();
        assert_eq!(
            docker.ensure_network(env).await.unwrap(),
            net,
            "ensure_network is idempotent"
        );
        let vol = format!("chronous-{env}-scratch");
        assert!(docker
            .ensure_volume(env, &vol, "scratch", None, &BTreeMap::new())
            .await
            .unwrap());
        assert!(!docker
            .ensure_volume(env, &vol, "scratch", None, &BTreeMap::new())
            .await
            .unwrap());
        let spec = ContainerSpec {
            name: format!("chronous-{env}-task"),
            image: common::MARIADB_IMAGE.to_string(),
            entrypoint: Some(vec!["bash".into()]),
            cmd: Some(vec![
                "-c".into(),
                "echo out-1; echo err-1 >&2; echo out-2; exec sleep 300".into(),
            ]),
            env: vec![("SECRET_TOKEN".into(), "tok-should-not-leak".into())],
            role: "task".into(),
            address: Some("aws_ecs_service.web".into()),
            network: Some(net.clone()),
            aliases: vec!["web".into()],
            mounts: vec![MountSpec::Volume {
                name: vol.clone(),
                target: "/data".into(),
                read_only: false,
            }],
            memory_mb: Some(128),
            publish: Some(8080),
            ..Default::default()
        };
        let id = docker.run_container(env, &spec).await.unwrap();
        // The same name again: Docker's conflict, without the secret.
        let err = docker.create_container(env, &spec).await.unwrap_err();
        assert!(
            matches!(err, DockerError::Api { status: 409, .. })
                && !err.to_string().contains("tok-should-not-leak"),
            "{err}"
        );
        ids.insert(env.clone(), id);
    }

    let id_a = &ids[&a.env];
    let port = docker
        .host_port(id_a, 8080)
        .await
        .unwrap()
        .expect("published port");
    assert!(port > 0);
    let out = docker
        .exec(id_a, &["bash", "-c", "echo hi; echo oops >&2; exit 3"])
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "hi\n", "oops\n")
    );
    // Logs: stdout and stderr lines.
    let mut got = Vec::new();
    for _ in 0..50 {
        got = docker
            .logs(id_a, None, false)
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
            .await;
        if got.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let texts: Vec<(LogStream, &str)> = got.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert!(
        texts.contains(&(LogStream::Stdout, "out-1"))
            && texts.contains(&(LogStream::Stderr, "err-1"))
            && texts.contains(&(LogStream::Stdout, "out-2")),
        "{texts:?}"
    );
    // Following: the lines so far arrive, then the stream waits for more (dropped here).
    let mut follow = docker.logs(id_a, None, true);
    let mut first = Vec::new();
    while first.len() < 3 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(5), follow.next())
            .await
            .expect("a followed line")
            .expect("stream open")
            .unwrap();
        first.push(line.text);
    }
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), follow.next())
            .await
            .is_err(),
        "follow waits for new output"
    );
    drop(follow);
    let listed = docker.list(&a.env, Some("task")).await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].running, listed[0].role.as_deref()),
        (1, true, Some("task"))
    );
    assert!(docker.list(&a.env, Some("db")).await.unwrap().is_empty());

    let report = docker.sweep(&a.env).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.containers, vec![format!("chronous-{}-task", a.env)]);
    assert_eq!(report.volumes, vec![format!("chronous-{}-scratch", a.env)]);
    assert_eq!(report.networks, vec![format!("chronous-{}", a.env)]);
    assert!(
        cli_everything(&a.env).is_empty(),
        "{:?}",
        cli_everything(&a.env)
    );
    // The other environment is untouched.
    assert_eq!(
        cli_everything(&b.env).len(),
        3,
        "{:?}",
        cli_everything(&b.env)
    );
    assert!(docker.inspect(&ids[&b.env]).await.unwrap().unwrap().running);
    docker.sweep(&b.env).await.unwrap();
    assert!(cli_everything(&b.env).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_missing_images_and_daemon() {
    let docker = Docker::connect().await.unwrap();
    let err = docker
        .ensure_image("chronous/does-not-exist:0")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DockerError::ImageMissing { hint, .. } if hint.contains("bash images/build.sh")),
        "{err}"
    );
    let err = Docker::connect_to("unix:///nonexistent/docker.sock")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DockerError::Unreachable { .. })
            && msg.contains("unix:///nonexistent/docker.sock")
            && msg.contains("DOCKER_HOST"),
        "{msg}"
    );
}
