//! Every file in `fixtures/warnings` is the seed environment with one thing
//! AWS accepts but that cannot work as written (tasks ECS can never place, a
//! deployment with no room for its new task). Each must load (AWS would take
//! it) with a located warning that says what ECS will report and what to do;
//! the rendered diagnostics are snapshotted.

mod inputs;

use std::path::{Path, PathBuf};

use chronous_core::diag::Severity;
use chronous_core::env;

/// The placement warnings, one fixture each at least.
const CODES: &[&str] = &["W0810", "W0811", "W0812", "W0813"];

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/warnings");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_questionable_environment_loads_with_a_located_warning() {
    let mut seen: Vec<&str> = Vec::new();
    for path in fixtures() {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let stem = file_name.trim_end_matches(".toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let shown = format!("fixtures/warnings/{file_name}");
        let dir = path.parent().expect("fixture folder");
        let loaded = env::load_with(&shown, &text, &inputs::Disk(dir.to_path_buf()));
        let d = &loaded.diagnostics;
        assert!(
            loaded.env.is_some(),
            "{shown}: rejected, but AWS accepts it:\n{}",
            d.render()
        );
        let ours: Vec<_> = d.items.iter().filter(|x| CODES.contains(&x.code)).collect();
        assert!(
            !ours.is_empty(),
            "{shown}: no placement warning:\n{}",
            d.render()
        );
        for x in ours {
            assert_eq!(x.severity, Severity::Warning, "{shown}: {}", x.code);
            assert!(
                x.span.is_some(),
                "{shown}: {} has no place in the file",
                x.code
            );
            assert!(
                x.hint.as_deref().is_some_and(|h| !h.is_empty()),
                "{shown}: {} says nothing about what to do",
                x.code
            );
            assert!(
                x.message.contains("was unable to place a task"),
                "{shown}: {} is not worded as ECS's event: {}",
                x.code,
                x.message
            );
            seen.push(x.code);
        }
        insta::with_settings!({ snapshot_suffix => stem, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("warning", d.render());
        });
    }
    for c in CODES {
        assert!(
            seen.contains(c),
            "no fixture in fixtures/warnings shows {c}"
        );
    }
}

#[test]
fn the_seed_has_no_placement_warning_and_its_backup_hash_is_known() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/seed");
    let text = std::fs::read_to_string(dir.join("chronous.toml")).unwrap();
    let loaded = env::load_with("seed", &text, &inputs::Disk(dir.clone()));
    assert!(
        loaded
            .diagnostics
            .items
            .iter()
            .all(|x| !CODES.contains(&x.code)),
        "{}",
        loaded.diagnostics.render()
    );
    let env = loaded.env.expect("the seed validates");
    let rs = env.database.unwrap().restore.unwrap();
    let bytes = std::fs::read(dir.join(&rs.backup_file)).unwrap();
    use sha2::Digest;
    assert_eq!(
        rs.backup_sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
    );
}
