//! Every file in `fixtures/invalid` is the seed environment with one problem
//! introduced. Each must be rejected with at least one error, and the rendered
//! diagnostics (file:line:column, label, hint) are snapshotted so a reviewer
//! sees exactly what a person would read. The files a fixture names (the
//! backup) are looked at relative to `fixtures/invalid`, as the CLI looks at
//! them relative to the environment folder.

mod inputs;

use std::path::{Path, PathBuf};

use chronous_core::diag::Severity;
use chronous_core::env;

/// Fewer files than this means a fixture was deleted.
const MIN_CASES: usize = 36;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_environment_is_rejected_with_a_located_message() {
    let files = fixtures();
    assert!(
        files.len() >= MIN_CASES,
        "expected at least {MIN_CASES} files in fixtures/invalid, found {}",
        files.len()
    );
    for path in files {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let stem = file_name.trim_end_matches(".toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let shown = format!("fixtures/invalid/{file_name}");
        let dir = path.parent().expect("fixture folder");
        let loaded = env::load_with(&shown, &text, &inputs::Disk(dir.to_path_buf()));
        assert!(loaded.env.is_none(), "{shown}: accepted, but it is invalid");
        let d = &loaded.diagnostics;
        assert!(
            d.items.iter().any(|x| x.severity == Severity::Error),
            "{shown}: no error diagnostic"
        );
        for x in d.items.iter().filter(|x| x.severity == Severity::Error) {
            assert!(
                x.span.is_some(),
                "{shown}: error {} has no place in the file",
                x.code
            );
            assert!(
                x.hint.as_deref().is_some_and(|h| !h.is_empty()),
                "{shown}: error {} says nothing about what to do",
                x.code
            );
        }
        insta::with_settings!({ snapshot_suffix => stem, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("invalid", d.render());
        });
    }
}
