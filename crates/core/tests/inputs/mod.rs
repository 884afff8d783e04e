//! The files a fixture names, looked at on disk for core's validation (the
//! CLI does the same through `chronous_store::inputs`; core itself does no I/O).

use std::io::Read;
use std::path::PathBuf;

use chronous_core::env::{FileFacts, Inputs};
use sha2::{Digest, Sha256};

/// Files relative to a folder.
pub struct Disk(pub PathBuf);

impl Inputs for Disk {
    fn backup_file(&self, path: &str) -> Option<FileFacts> {
        let p = self.0.join(path);
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&p).and_then(|mut f| f.read_to_end(&mut bytes));
        Some(match read {
            Ok(_) => FileFacts::Read {
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileFacts::Missing,
            Err(e) => FileFacts::Unreadable(e.to_string()),
        })
    }
}
