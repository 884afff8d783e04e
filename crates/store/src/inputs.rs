//! The files an environment names, looked at for core's validation
//! ([`chronous_core::env::Inputs`]): whether the backup exists and can be
//! read, its size and the sha256 of its content. The hash is what `plan`
//! compares with the one recorded when the backup was uploaded and restored.

use std::io::Read;
use std::path::{Path, PathBuf};

use chronous_core::env::{FileFacts, Inputs};
use sha2::{Digest, Sha256};

/// Looks at files relative to the environment folder.
pub struct DiskInputs {
    dir: PathBuf,
}

impl DiskInputs {
    pub fn new(env_dir: &Path) -> DiskInputs {
        DiskInputs {
            dir: env_dir.to_path_buf(),
        }
    }
}

impl Inputs for DiskInputs {
    fn backup_file(&self, path: &str) -> Option<FileFacts> {
        Some(file_facts(&self.dir.join(path)))
    }
}

/// Whether `path` is a readable file, with its size and sha256 (read in
/// blocks: a backup may be larger than memory).
pub fn file_facts(path: &Path) -> FileFacts {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileFacts::Missing,
        Err(e) => return FileFacts::Unreadable(e.to_string()),
    };
    match f.metadata() {
        Ok(m) if m.is_dir() => return FileFacts::Unreadable("it is a folder, not a file".into()),
        Ok(_) => {}
        Err(e) => return FileFacts::Unreadable(e.to_string()),
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                bytes += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return FileFacts::Unreadable(e.to_string()),
        }
    }
    FileFacts::Read {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_a_missing_one_and_a_folder_are_said_so() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b.tar.gz"), b"abc").unwrap();
        let i = DiskInputs::new(d.path());
        assert_eq!(
            i.backup_file("b.tar.gz"),
            Some(FileFacts::Read {
                bytes: 3,
                // sha256("abc"), FIPS 180-2 appendix B.1.
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
            })
        );
        assert_eq!(i.backup_file("none.tar.gz"), Some(FileFacts::Missing));
        assert!(matches!(i.backup_file("."), Some(FileFacts::Unreadable(_))));
    }
}
