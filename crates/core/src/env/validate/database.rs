//! The `[database]` section: the RDS MySQL instance (no password in the file,
//! a DB subnet group over two zones, engine, class, storage) and its
//! `[database.restore]` from an XtraBackup (what RestoreDBInstanceFromS3 accepts).

use std::collections::BTreeSet;

use super::{sp, Refs, Validator};
use crate::env::raw;
use crate::env::{Database, FileFacts, Inputs, Network, Restore, DB_CLASSES};

impl Validator {
    pub(super) fn database(
        &mut self,
        db: &raw::Database,
        network: &Network,
        refs: &Refs,
        inputs: &dyn Inputs,
    ) -> Database {
        for p in [&db.password, &db.master_password].into_iter().flatten() {
            self.err(
                "E0901",
                "a password is written in the environment file",
                sp(p),
                "secret in the file",
                "delete this line: the password is read at run time from CHRONOUS_DB_PASSWORD, or from the file named by database.password_file",
            );
        }
        for s in &db.subnets {
            self.known_subnet(refs, s);
        }
        for s in &db.security_groups {
            self.known_sg(refs, s);
        }
        let zones: BTreeSet<&str> = db
            .subnets
            .iter()
            .filter_map(|s| network.subnets.iter().find(|x| &x.name == s.get_ref()))
            .map(|s| s.az.as_str())
            .collect();
        if zones.len() < 2
            && db
                .subnets
                .iter()
                .all(|s| network.subnets.iter().any(|x| &x.name == s.get_ref()))
        {
            self.err(
                "E1201",
                "an RDS DB subnet group needs subnets in at least two availability zones",
                db.subnets.first().map(sp).unwrap_or(sp(&db.identifier)),
                match zones.first() {
                    Some(z) => format!("every database subnet is in {z}"),
                    None => "no database subnet".to_string(),
                },
                "add a subnet of another zone to database.subnets",
            );
        }
        if db.engine.get_ref() != "mysql" {
            self.err(
                "E1202",
                format!("engine `{}` is not supported", db.engine.get_ref()),
                sp(&db.engine),
                "unsupported engine",
                "chronous deploys `mysql`",
            );
        }
        if !DB_CLASSES.contains(&db.instance_class.get_ref().as_str()) {
            self.err(
                "E1203",
                format!(
                    "unknown DB instance class `{}`",
                    db.instance_class.get_ref()
                ),
                sp(&db.instance_class),
                "unknown class",
                format!("use one of: {}", DB_CLASSES.join(", ")),
            );
        }
        let storage = self.positive(
            "allocated_storage",
            &db.allocated_storage,
            20,
            65536,
            "MySQL on RDS takes 20 to 65536 GiB",
        );
        let restore = db.restore.as_ref().map(|rs| self.restore(db, rs, inputs));
        Database {
            identifier: self.name("database identifier", &db.identifier),
            engine: db.engine.get_ref().clone(),
            engine_version: db.engine_version.get_ref().clone(),
            instance_class: db.instance_class.get_ref().clone(),
            allocated_storage: storage,
            username: db.username.get_ref().clone(),
            name: db.name.get_ref().clone(),
            skip_final_snapshot: db.skip_final_snapshot,
            subnets: db.subnets.iter().map(|s| s.get_ref().clone()).collect(),
            security_groups: db
                .security_groups
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
            password_file: db.password_file.as_ref().map(|s| s.get_ref().clone()),
            restore,
        }
    }

    /// A restore from an XtraBackup: the class, the backup's MySQL major
    /// version against the instance's, and the backup file itself.
    fn restore(&mut self, db: &raw::Database, rs: &raw::Restore, inputs: &dyn Inputs) -> Restore {
        if db.instance_class.get_ref() == "db.t2.micro" {
            self.err(
                "E1204",
                "RestoreDBInstanceFromS3 does not support db.t2.micro",
                sp(&db.instance_class),
                "not supported for restore",
                "use db.t2.small or larger",
            );
        }
        let major = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        if major(rs.source_engine_version.get_ref()) != major(db.engine_version.get_ref()) {
            self.err(
                "E1205",
                format!(
                    "the backup is from MySQL {} but the instance runs {}: RDS restores only into the same major version",
                    rs.source_engine_version.get_ref(),
                    db.engine_version.get_ref()
                ),
                sp(&rs.source_engine_version),
                "major version differs",
                "restore into the backup's major version, then upgrade",
            );
        }
        if major(db.engine_version.get_ref()) == "5.6" {
            self.warn(
                "W1206",
                "RDS retired MySQL 5.6: a 5.6 XtraBackup can no longer be restored with --backend aws",
                sp(&db.engine_version),
                "retired engine version",
                "the simulator still rehearses it; for AWS take the backup from MySQL 5.7 (XtraBackup 2.4) or 8.0 (XtraBackup 8.0) and set engine_version and source_engine_version to match",
            );
        }
        let backup_sha256 = self.backup_file(rs, inputs);
        Restore {
            backup_file: rs.backup_file.get_ref().clone(),
            backup_sha256,
            bucket: rs.bucket.get_ref().clone(),
            key: rs.key.get_ref().clone(),
            source_engine_version: rs.source_engine_version.get_ref().clone(),
        }
    }

    /// The backup file, as the caller found it: it must exist and be
    /// readable (apply uploads it, and restores the database from it). Its
    /// sha256 when it was read.
    fn backup_file(&mut self, rs: &raw::Restore, inputs: &dyn Inputs) -> Option<String> {
        let path = rs.backup_file.get_ref();
        match inputs.backup_file(path)? {
            FileFacts::Read { sha256, .. } => Some(sha256),
            FileFacts::Missing => {
                self.err(
                    "E1207",
                    format!("the backup file `{path}` does not exist"),
                    sp(&rs.backup_file),
                    "no such file",
                    "backup_file is relative to the environment folder: fix the path, or make the backup first (fixtures/backup/make-backup.sh makes one)",
                );
                None
            }
            FileFacts::Unreadable(why) => {
                self.err(
                    "E1208",
                    format!("the backup file `{path}` cannot be read: {why}"),
                    sp(&rs.backup_file),
                    "cannot read this file",
                    "give chronous read access to the file (it uploads it and restores the database from it), or point backup_file at a readable copy",
                );
                None
            }
        }
    }
}
