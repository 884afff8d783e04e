//! Inputs that used to be found late (issue #10, item 4): a backup file that
//! does not exist, task counts that can never be placed, and a backup whose
//! content changed under the same path. Each is reported before anything
//! runs, at its place in chronous.toml.

mod common;

use common::{code, Env};

/// `ui::EXIT_INVALID`.
const EXIT_INVALID: i32 = 3;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_missing_backup_file_is_an_error_located_at_backup_file_and_nothing_runs() {
    let env = Env::new("seed");
    env.edit(
        "backup_file = \"../backup/db-backup.tar.gz\"",
        "backup_file = \"../backup/no-such-backup.tar.gz\"",
    );
    let o = env.run(&["validate"]);
    let err = stderr(&o);
    assert_eq!(code(&o), EXIT_INVALID, "{err}");
    assert!(err.contains("no-such-backup.tar.gz"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    // Located at the value of backup_file: line 132 of the seed, column 15.
    assert!(err.contains("chronous.toml:132:15"), "{err}");

    // plan and apply refuse the same way, before any step: nothing is written.
    for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let o = env.run(args);
        assert_eq!(code(&o), EXIT_INVALID, "{args:?}: {}", stderr(&o));
        assert!(
            !env.dir.join(".chronous").exists(),
            "{args:?} wrote {}",
            env.dir.join(".chronous").display()
        );
    }

    // --json: the diagnostic with its code and place.
    let o = env.run(&["--json", "validate"]);
    assert_eq!(code(&o), EXIT_INVALID);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["line"], 132, "{v}");
    assert_eq!(errors[0]["column"], 15, "{v}");
}

#[test]
fn two_tasks_with_a_static_host_port_on_one_instance_warn_like_ecs() {
    let env = Env::new("seed");
    env.edit("desired_count = 1", "desired_count = 2");
    let o = env.run(&["validate"]);
    let err = stderr(&o);
    // ECS accepts such a service: a warning, worded as ECS's placement event.
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("is already using a port required by your task"),
        "{err}"
    );
    // In --json too, as a warning.
    let v = env.json(&["validate"]);
    assert_eq!(v["valid"], true, "{v}");
    let placement: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics in {v}"))
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .is_some_and(|m| m.contains("already using a port"))
        })
        .collect();
    assert_eq!(placement.len(), 1, "{v}");
    assert_eq!(placement[0]["severity"], "warning", "{v}");
}

#[test]
fn no_container_instance_at_all_warns_like_ecs() {
    let env = Env::new("seed");
    env.edit("instance_count = 1", "instance_count = 0");
    let o = env.run(&["validate"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("No Container Instances were found in your cluster"),
        "{err}"
    );
}
#[test]
fn a_changed_backup_shows_in_plan_as_the_database_replaced_with_its_data_lost() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));

    // Same path, new content.
    let backup = env.root.path().join("backup/db-backup.tar.gz");
    let mut bytes = std::fs::read(&backup).unwrap();
    bytes.extend_from_slice(b"a newer backup");
    std::fs::write(&backup, bytes).unwrap();

    let o = env.run(&["plan", "--detailed-exitcode"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 2, "{text}");
    assert!(text.contains("-/+ aws_db_instance.main"), "{text}");
    assert!(text.contains("~ aws_s3_object.xtrabackup"), "{text}");
    assert!(
        text.contains("every row written since the last restore is lost"),
        "{text}"
    );

    let plan = env.json(&["plan"]);
    let db = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "aws_db_instance.main")
        .unwrap();
    assert_eq!(db["action"], "delete_then_create", "{db}");
    assert!(
        db["data_loss"]
            .as_str()
            .is_some_and(|s| s.contains("every row written since the last restore is lost")),
        "{db}"
    );

    // Applying restores the new backup; then nothing is left to do.
    env.ok(&["apply", "--auto-approve"]);
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn a_backup_changed_after_the_plan_is_not_uploaded() {
    let env = Env::new("seed");
    env.ok(&["apply", "--auto-approve"]);
    let backup = env.root.path().join("backup/db-backup.tar.gz");
    let mut newer = std::fs::read(&backup).unwrap();
    newer.extend_from_slice(b"a newer backup");
    std::fs::write(&backup, &newer).unwrap();
    let saved = env.dir.join("new-backup.plan");
    env.ok(&["plan", "--out", saved.to_str().unwrap()]);

    // The file changes again between plan and apply: the plan's upload is refused.
    newer.extend_from_slice(b", and newer still");
    std::fs::write(&backup, &newer).unwrap();
    let o = env.run(&["apply", saved.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("changed after the plan was made"), "{err}");
    // No database was restored from a backup the plan did not show; the
    // next plan continues with the file as it is now.
    let plan = env.json(&["plan"]);
    let db = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "aws_db_instance.main")
        .unwrap();
    assert!(
        ["create", "delete_then_create"].contains(&db["action"].as_str().unwrap()),
        "{db}"
    );
    let sum = std::process::Command::new("sha256sum")
        .arg(&backup)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    let sum = sum.split_whitespace().next().unwrap();
    assert_eq!(db["spec"]["restore"]["backup_sha256"], sum, "{db}");
    env.ok(&["apply", "--auto-approve"]);
    let o = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}
