//! Durable local files for chronous.
//!
//! - [`atomic_write`]: temp file, fsync, rename, fsync of the folder; mode 0600.
//! - [`StateStore`]: the state as a snapshot (`state.json`, previous one kept
//!   as `state.json.backup`) plus an append-only journal (`state.journal`) of
//!   batches of [`JournalEntry`]s, each line checksummed, fsynced once per
//!   batch. Loading replays the journal onto the snapshot; a torn last line
//!   (a crash mid-write) is ignored. Compaction writes a new snapshot and
//!   drops the journal, so an apply never rewrites the whole state per step.
//! - [`Lock`]: an exclusive lock on an environment (a kernel `flock`, so a
//!   killed holder never leaves it stuck) with a record of the holder.
//! - [`Log`]: the same journal mechanism for any serializable record, used by
//!   the simulator's own store.
//! - [`secret::read_secret`]: the one reader of secrets (`env:` / `file:`).
//! - [`inputs::DiskInputs`]: the files an environment names (the backup),
//!   looked at for validation: exists, readable, size and sha256.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chronous_core::engine::{Journal, JournalError};
use chronous_core::state::{JournalEntry, State};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod inputs;
pub mod secret;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid chronous state file: {message}. The previous version is kept in {backup}")]
    Corrupt {
        path: PathBuf,
        message: String,
        backup: PathBuf,
    },
    #[error("the environment is locked by {0}")]
    Locked(Holder),
    #[error("lock id `{given}` does not match the lock recorded ({recorded})")]
    WrongLockId { given: String, recorded: String },
    #[error("the lock is still held by a running process ({0}); stop that process first")]
    StillHeld(Holder),
    #[error("the environment is not locked")]
    NotLocked,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `bytes` to `path` atomically: readers see the old file or the new
/// one, never a part. The file gets mode 0600.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    atomic_write_mode(path, bytes, 0o600)
}

/// [`atomic_write`] with the file's permission bits given (a file the user
/// owns and reads, such as chronous.toml, keeps its mode).
pub fn atomic_write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    // A bare file name's parent is "": the current folder.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Create a folder (and its parents) readable by its owner only.
pub fn private_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

// ---------------------------------------------------------------------------
// Checksummed append-only logs.

fn encode_line(json: &str) -> String {
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

fn decode_line(line: &str) -> Option<&str> {
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32fast::hash(json.as_bytes()) == crc).then_some(json)
}

/// Read the valid lines of a log: stops at the first torn or corrupt line.
fn read_lines(path: &Path) -> Result<Vec<String>, StoreError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(path)(e)),
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        match decode_line(&line) {
            Some(json) => out.push(json.to_string()),
            None => break,
        }
    }
    Ok(out)
}

/// An append-only file of checksummed JSON lines, fsynced per append.
pub struct Log {
    path: PathBuf,
    file: File,
    sync: bool,
}

impl Log {
    /// Open (creating) a log. `sync: false` skips the fsync: the lines then
    /// survive a killed process but not a power loss.
    pub fn open(path: &Path, sync: bool) -> Result<Log, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
            sync,
        })
    }

    pub fn append<T: Serialize>(&mut self, records: &[T]) -> Result<(), StoreError> {
        let mut buf = String::new();
        for r in records {
            let json = serde_json::to_string(r).expect("records serialize");
            buf.push_str(&encode_line(&json));
        }
        self.file
            .write_all(buf.as_bytes())
            .map_err(io(&self.path))?;
        if self.sync {
            self.file.sync_data().map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Every valid record of the log at `path`, in order.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, StoreError> {
        Ok(read_lines(path)?
            .into_iter()
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect())
    }
}

// ---------------------------------------------------------------------------
// The state store.

#[derive(Debug, Serialize, Deserialize)]
struct JournalHeader {
    lineage: String,
    base_serial: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum JournalLine {
    Header(JournalHeader),
    Batch { batch: Vec<JournalEntry> },
}

/// The state of one environment, under its `.chronous` folder.
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: &Path) -> StateStore {
        StateStore {
            dir: dir.to_path_buf(),
        }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join("state.json.backup")
    }
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("state.journal")
    }

    /// The current state: the snapshot with the journal replayed onto it.
    /// `None` when nothing was ever recorded.
    pub fn load(&self) -> Result<Option<State>, StoreError> {
        let snap = self.snapshot_path();
        let mut state: Option<State> = match fs::read(&snap) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    path: snap.clone(),
                    message: e.to_string(),
                    backup: self.backup_path(),
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&snap)(e)),
        };
        let lines = read_lines(&self.journal_path())?;
        let mut it = lines.iter();
        let header = it
            .next()
            .and_then(|l| match serde_json::from_str::<JournalLine>(l) {
                Ok(JournalLine::Header(h)) => Some(h),
                _ => None,
            });
        if let (Some(h), Some(s)) = (header, state.as_mut()) {
            // A journal written against an older snapshot was compacted already.
            if h.lineage == s.lineage && h.base_serial == s.serial {
                for l in it {
                    let Ok(JournalLine::Batch { batch }) = serde_json::from_str::<JournalLine>(l)
                    else {
                        break;
                    };
                    for e in &batch {
                        s.apply_entry(e);
                    }
                    s.serial += 1;
                }
            }
        }
        Ok(state)
    }

    /// Write `state` as the new snapshot (the old one becomes the backup)
    /// and drop the journal.
    pub fn save(&self, state: &State) -> Result<(), StoreError> {
        private_dir(&self.dir)?;
        let snap = self.snapshot_path();
        if let Ok(old) = fs::read(&snap) {
            atomic_write(&self.backup_path(), &old)?;
        }
        let json = serde_json::to_vec_pretty(state).expect("state serializes");
        atomic_write(&snap, &json)?;
        match fs::remove_file(self.journal_path()) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.journal_path())(e)),
        }
    }

    /// A journal for an apply starting from `state` (which must be saved).
    pub fn journal(&self, state: &State) -> Result<StateJournal, StoreError> {
        private_dir(&self.dir)?;
        let path = self.journal_path();
        // A journal left over from an earlier, compacted run is replaced.
        let _ = fs::remove_file(&path);
        let mut log = Log::open(&path, true)?;
        log.append(&[JournalLine::Header(JournalHeader {
            lineage: state.lineage.clone(),
            base_serial: state.serial,
        })])?;
        Ok(StateJournal { log })
    }
}

/// The journal of one apply: one fsynced line per batch of completed steps.
pub struct StateJournal {
    log: Log,
}

impl Journal for StateJournal {
    fn commit(&mut self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        self.log
            .append(&[JournalLine::Batch {
                batch: entries.to_vec(),
            }])
            .map_err(JournalError::new)
    }
}

// ---------------------------------------------------------------------------
// The environment lock.

/// Who holds an environment's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// When it was taken (RFC 3339, UTC), as told by the caller.
    pub time: String,
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (pid {} on {}, since {}, lock id {})",
            self.command, self.pid, self.host, self.time, self.id
        )
    }
}

/// An exclusive lock on an environment, released on drop.
pub struct Lock {
    file: File,
    info: PathBuf,
    /// A holder that ended without releasing (killed): its work may be incomplete.
    pub previous: Option<Holder>,
}

fn lock_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("lock"), dir.join("lock.json"))
}

fn read_holder(path: &Path) -> Option<Holder> {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

impl Lock {
    /// Take the lock of the environment whose state lives in `dir`, or say who has it.
    pub fn acquire(dir: &Path, holder: Holder) -> Result<Lock, StoreError> {
        private_dir(dir)?;
        let (path, info) = lock_paths(dir);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let h = read_holder(&info).unwrap_or(Holder {
                    id: "?".into(),
                    pid: 0,
                    host: "?".into(),
                    time: "?".into(),
                    command: "another chronous command".into(),
                });
                return Err(StoreError::Locked(h));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let previous = read_holder(&info);
        atomic_write(
            &info,
            &serde_json::to_vec_pretty(&holder).expect("holder serializes"),
        )?;
        Ok(Lock {
            file,
            info,
            previous,
        })
    }

    /// Clear a lock record left by a holder that is gone. Refuses while a
    /// running process holds the lock.
    pub fn force_unlock(dir: &Path, id: &str) -> Result<Holder, StoreError> {
        let (path, info) = lock_paths(dir);
        let recorded = read_holder(&info).ok_or(StoreError::NotLocked)?;
        if recorded.id != id {
            return Err(StoreError::WrongLockId {
                given: id.to_string(),
                recorded: recorded.id,
            });
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                fs::remove_file(&info).map_err(io(&info))?;
                Ok(recorded)
            }
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::StillHeld(recorded)),
            Err(fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// The recorded holder, if any.
    pub fn holder(dir: &Path) -> Option<Holder> {
        read_holder(&lock_paths(dir).1)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.info);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronous_core::env::Backend;
    use chronous_core::resources::Kind;
    use chronous_core::state::ResourceRecord;

    fn rec(a: &str) -> ResourceRecord {
        ResourceRecord {
            address: a.into(),
            kind: Kind::Vpc,
            id: format!("id-{a}"),
            attrs: serde_json::json!({}),
            outputs: Default::default(),
            deps: vec![],
            tainted: false,
        }
    }

    #[test]
    fn journal_replays_onto_snapshot_and_ignores_a_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let store = StateStore::new(d.path());
        let mut s = State::new("e", Backend::Sim, "L".into());
        store.save(&s).unwrap();
        let mut j = store.journal(&s).unwrap();
        for a in ["aws_vpc.a", "aws_vpc.b"] {
            let e = JournalEntry::Put { record: rec(a) };
            j.commit(std::slice::from_ref(&e)).unwrap();
            s.apply_entry(&e);
            s.serial += 1;
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.journal_path())
            .unwrap();
        f.write_all(b"0badc0de {\"batch\":[{\"op\":\"remo").unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, s);
        assert_eq!(loaded.serial, 2);
        store.save(&loaded).unwrap();
        assert!(!store.journal_path().exists());
        assert_eq!(store.load().unwrap().unwrap(), s);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(store.snapshot_path())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(store.backup_path().exists());
    }

    #[test]
    fn lock_names_its_holder_and_is_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let h = Holder {
            id: "abc".into(),
            pid: 1,
            host: "h".into(),
            time: "t".into(),
            command: "chronous apply".into(),
        };
        let l = Lock::acquire(d.path(), h.clone()).unwrap();
        match Lock::acquire(d.path(), h.clone()) {
            Err(StoreError::Locked(x)) => assert_eq!(x, h),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        assert!(matches!(
            Lock::force_unlock(d.path(), "abc"),
            Err(StoreError::StillHeld(_))
        ));
        drop(l);
        assert!(Lock::acquire(d.path(), h).is_ok());
    }
}
