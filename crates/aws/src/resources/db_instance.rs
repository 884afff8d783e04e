//! `aws_db_instance`: the RDS MySQL instance, restored from the XtraBackup in S3 or created empty, and waited for (RestoreDBInstanceFromS3, CreateDBInstance, DescribeDBInstances, ModifyDBInstance, DeleteDBInstance).

use std::time::Duration;

use chronous_core::resources::DbInstanceSpec;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let want: DbInstanceSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let Some(o) = p
        .describe(address, || {
            c.rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(d) = o.db_instances().first() else {
        return Ok(None);
    };
    if d.db_instance_status() == Some("deleting") {
        return Ok(None);
    }
    Ok(Some(p.db_observed(id, d, &want)))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    d: &DbInstanceSpec,
) -> Result<Observed, ProviderError> {
    Box::pin(p.create_db(address, d)).await
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    d: &DbInstanceSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(d);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    if [
        "instance_class",
        "allocated_storage",
        "engine_version",
        "vpc_security_group_ids",
        "publicly_accessible",
    ]
    .iter()
    .any(|k| changed(k))
    {
        let mut b = c
            .rds
            .modify_db_instance()
            .db_instance_identifier(&d.identifier)
            .apply_immediately(true)
            .db_instance_class(&d.instance_class)
            .allocated_storage(d.allocated_storage as i32)
            .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
            .publicly_accessible(d.publicly_accessible);
        if changed("engine_version") {
            b = b
                .engine_version(&d.engine_version)
                .allow_major_version_upgrade(true);
        }
        p.call(|| b.clone().send()).await.map_err(up)?;
        // RDS starts modifying a moment later.
        tokio::time::sleep(p.opts.poll_interval.min(Duration::from_secs(5))).await;
    }
    p.wait_db(address, d).await
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    d: &DbInstanceSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let mut b = c
        .rds
        .delete_db_instance()
        .db_instance_identifier(&d.identifier)
        .skip_final_snapshot(d.skip_final_snapshot);
    if !d.skip_final_snapshot {
        b = b.final_db_snapshot_identifier(format!(
            "{}-final-{}",
            d.identifier,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_secs())
                .unwrap_or(0)
        ));
    }
    match p.call(|| b.clone().send()).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e)
            if e.code() == "InvalidDBInstanceState"
                && e.message.contains("already being deleted") => {}
        Err(e) => return Err(e.provider(address, "delete the DB instance")),
    }
    p.wait_for(address, "the DB instance to be deleted", || async {
        match found(
            p.call(|| {
                c.rds
                    .describe_db_instances()
                    .db_instance_identifier(&d.identifier)
                    .send()
            })
            .await,
        ) {
            Ok(None) => Ok(Some(())),
            Ok(Some(o)) if o.db_instances().is_empty() => Ok(Some(())),
            Ok(Some(_)) => Ok(None),
            Err(e) => Err(e.provider(address, "describe the DB instance")),
        }
    })
    .await
}

impl AwsProvider {
    fn db_observed(
        &self,
        id: &str,
        d: &aws_sdk_rds::types::DbInstance,
        want: &DbInstanceSpec,
    ) -> Observed {
        let version = d.engine_version().unwrap_or_default().to_string();
        // `8.0` in the file, `8.0.39` at AWS: the same choice.
        let version = if version.starts_with(&format!("{}.", want.engine_version)) {
            want.engine_version.clone()
        } else {
            version
        };
        let sgs: Vec<String> = d
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect();
        let spec = DbInstanceSpec {
            identifier: d.db_instance_identifier().unwrap_or(id).into(),
            engine: d.engine().unwrap_or_default().into(),
            engine_version: version,
            instance_class: d.db_instance_class().unwrap_or_default().into(),
            allocated_storage: d.allocated_storage().unwrap_or(0) as u32,
            username: d.master_username().unwrap_or_default().into(),
            db_name: d.db_name().unwrap_or_default().into(),
            password_source: want.password_source.clone(),
            db_subnet_group_name: d
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or_default()
                .into(),
            vpc_security_group_ids: like_recorded(sgs, Some(&json!(want.vpc_security_group_ids))),
            skip_final_snapshot: want.skip_final_snapshot,
            publicly_accessible: d.publicly_accessible().unwrap_or(false),
            restore: want.restore.clone(),
        };
        let host = d
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_string();
        let port = d.endpoint().and_then(|e| e.port()).unwrap_or(3306);
        observed(
            id,
            &spec,
            out(&[
                ("arn", json!(d.db_instance_arn().unwrap_or_default())),
                ("address", json!(host)),
                ("port", json!(port.to_string())),
                ("endpoint", json!(format!("{host}:{port}"))),
            ]),
        )
    }

    async fn create_db(
        &self,
        address: &str,
        d: &DbInstanceSpec,
    ) -> Result<Observed, ProviderError> {
        let rds = &self.c.rds;
        let mk = |e: CallError| e.provider(address, "create the DB instance");
        if let Some(o) = found(
            self.call(|| {
                rds.describe_db_instances()
                    .db_instance_identifier(&d.identifier)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            if let Some(x) = o.db_instances().first() {
                if !self.is_ours(
                    address,
                    x.tag_list()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                ) {
                    return Err(ProviderError::new(format!("{address}: a DB instance named `{}` already exists and was not made by this environment", d.identifier))
                        .with_hint("rename database.identifier in chronous.toml or remove the other instance"));
                }
                // Made by an interrupted apply: wait for it, as the create would have.
                return self.wait_db(address, d).await;
            }
        }
        let password = self.password(address, &d.password_source)?;
        match &d.restore {
            Some(r) => {
                self.progress(format!(
                    "{address}: restoring {} from s3://{}/{} (MySQL {})",
                    d.identifier, r.bucket, r.prefix, r.source_engine_version
                ));
                self.call(|| {
                    rds.restore_db_instance_from_s3()
                        .db_instance_identifier(&d.identifier)
                        .db_instance_class(&d.instance_class)
                        .engine(&d.engine)
                        .engine_version(&d.engine_version)
                        .allocated_storage(d.allocated_storage as i32)
                        .master_username(&d.username)
                        .master_user_password(password.expose())
                        .db_name(&d.db_name)
                        .db_subnet_group_name(&d.db_subnet_group_name)
                        .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
                        .publicly_accessible(d.publicly_accessible)
                        .source_engine(&r.source_engine)
                        .source_engine_version(&r.source_engine_version)
                        .s3_bucket_name(&r.bucket)
                        .s3_prefix(&r.prefix)
                        .s3_ingestion_role_arn(&r.ingestion_role_arn)
                        .set_tags(Some(self.rds_tags(address)))
                        .send()
                })
                .await
                .map_err(|e| {
                    let pe = e.provider(address, "restore the DB instance from S3");
                    // Only RDS refusing the parameters is about the backup's
                    // version; a network, endpoint or permission failure keeps its own hint.
                    if r.source_engine_version.starts_with("5.6") && refuses_version(&e) {
                        pe.with_hint(MYSQL56_HINT)
                    } else {
                        pe
                    }
                })?;
            }
            None => {
                self.call(|| {
                    rds.create_db_instance()
                        .db_instance_identifier(&d.identifier)
                        .db_instance_class(&d.instance_class)
                        .engine(&d.engine)
                        .engine_version(&d.engine_version)
                        .allocated_storage(d.allocated_storage as i32)
                        .master_username(&d.username)
                        .master_user_password(password.expose())
                        .db_name(&d.db_name)
                        .db_subnet_group_name(&d.db_subnet_group_name)
                        .set_vpc_security_group_ids(Some(d.vpc_security_group_ids.clone()))
                        .publicly_accessible(d.publicly_accessible)
                        .set_tags(Some(self.rds_tags(address)))
                        .send()
                })
                .await
                .map_err(mk)?;
            }
        }
        drop(password);
        self.wait_db(address, d).await
    }

    /// Wait until the instance is `available`; a rejected backup ends in `incompatible-restore`.
    async fn wait_db(&self, address: &str, d: &DbInstanceSpec) -> Result<Observed, ProviderError> {
        let rds = &self.c.rds;
        self.wait_for(address, "the DB instance to become available", || async {
            let o = match found(self.call(|| rds.describe_db_instances().db_instance_identifier(&d.identifier).send()).await) {
                Ok(Some(o)) => o,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e.provider(address, "describe the DB instance")),
            };
            let Some(x) = o.db_instances().first() else { return Ok(None) };
            match x.db_instance_status().unwrap_or_default() {
                "available" => Ok(Some(self.db_observed(&d.identifier, x, d))),
                "incompatible-restore" => {
                    let v = d.restore.as_ref().map(|r| r.source_engine_version.clone()).unwrap_or_default();
                    let mut e = ProviderError::new(format!(
                        "{address}: RDS could not restore the backup into `{}`: the instance is in state incompatible-restore (source MySQL {v}, target {} {})",
                        d.identifier, d.engine, d.engine_version
                    ));
                    e = e.with_hint(if v.starts_with("5.6") {
                        MYSQL56_HINT.to_string()
                    } else {
                        "the backup is not one RDS can import: it must be a full Percona XtraBackup of the same major version (XtraBackup 2.4 for 5.7, 8.0 for 8.0); check the instance's events in the RDS console, delete the instance (chronous destroy or the console), fix the backup, then apply again".to_string()
                    });
                    Err(e)
                }
                "failed" | "incompatible-parameters" | "incompatible-network" | "storage-full" | "inaccessible-encryption-credentials" => Err(ProviderError::new(format!(
                    "{address}: the DB instance `{}` is in state {}",
                    d.identifier,
                    x.db_instance_status().unwrap_or_default()
                ))
                .with_hint("look at the instance's events in the RDS console; fix the cause, delete the instance, and apply again")),
                _ => Ok(None),
            }
        })
        .await
    }
}

/// Whether RDS refused the restore's parameters (an engine version it no
/// longer takes answers InvalidParameterValue or InvalidParameterCombination).
fn refuses_version(e: &CallError) -> bool {
    e.failure == crate::Failure::Aws
        && (e.is("InvalidParameterValue") || e.is("InvalidParameterCombination"))
}

/// The way forward when the backup is MySQL 5.6.
pub const MYSQL56_HINT: &str = "RDS retired MySQL 5.6 (instances were force-upgraded to 5.7 in 2021), so a 5.6 XtraBackup can no longer be restored into RDS: upgrade the source to 5.7 or 8.0, take a new full backup with the matching Percona XtraBackup (2.4 for 5.7, 8.0 for 8.0), set database.engine_version and database.restore.source_engine_version to match, delete the failed instance and apply again";
