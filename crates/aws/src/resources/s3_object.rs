//! `aws_s3_object`: the backup file as an S3 object, uploaded in parts above a threshold and checked against the local file (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload, HeadObject, DeleteObject). The file's sha256 is stored as object metadata and read back on refresh as `source_sha256`.

use chronous_core::resources::S3ObjectSpec;
use std::collections::BTreeMap;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::common::*;

/// The object metadata (`x-amz-meta-chronous-sha256`) holding the sha256 of
/// the uploaded file: S3's ETag is an MD5, and not even that for a multipart upload.
const SHA256_METADATA: &str = "chronous-sha256";

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let want: S3ObjectSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let Some(o) = p
        .describe(address, || {
            c.s3.head_object()
                .bucket(&want.bucket)
                .key(&want.key)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let etag = o.e_tag().unwrap_or_default().trim_matches('"').to_string();
    // The content's sha256 chronous stored with the object at upload: what S3
    // holds now (a different one, or none, when it was replaced outside chronous).
    let held = o.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned();
    let seen = S3ObjectSpec {
        source_sha256: held,
        ..want.clone()
    };
    Ok(Some(observed(
        id,
        &seen,
        out(&[("etag", json!(etag)), ("key", json!(want.key))]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    o: &S3ObjectSpec,
) -> Result<Observed, ProviderError> {
    put(p, address, &format!("{}/{}", o.bucket, o.key), o).await
}

/// Upload the file again (its content or the spec changed).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    o: &S3ObjectSpec,
) -> Result<Observed, ProviderError> {
    put(p, &r.address, &r.id, o).await
}

/// Upload the file as object `id` and describe it, with the ETag S3 answered.
async fn put(
    p: &AwsProvider,
    address: &str,
    id: &str,
    o: &S3ObjectSpec,
) -> Result<Observed, ProviderError> {
    let etag = Box::pin(p.upload(address, o)).await?;
    let mut ob = settled!(p, address, Kind::S3Object, id, attrs_of(o))?;
    ob.outputs.insert("etag".into(), json!(etag));
    Ok(ob)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    o: &S3ObjectSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the object", || {
        c.s3.delete_object().bucket(&o.bucket).key(&o.key).send()
    })
    .await
}

impl AwsProvider {
    /// Upload the backup, in parts above the threshold, and check what S3 stored
    /// against the local file (Content-MD5 per request, the ETag at the end).
    async fn upload(&self, address: &str, o: &S3ObjectSpec) -> Result<String, ProviderError> {
        let p = self.path(&o.source);
        let bytes = tokio::fs::read(&p).await.map_err(|e| {
            ProviderError::new(format!("{address}: cannot read {}: {e}", p.display())).with_hint("fix database.restore.backup_file, or create the backup file (fixtures/backup/make-backup.sh)")
        })?;
        let sha = hex::encode(Sha256::digest(&bytes));
        if let Some(want) = o.source_sha256.as_deref().filter(|w| *w != sha) {
            return Err(ProviderError::new(format!(
                "{address}: {} changed after the plan was made (its sha256 is {sha}, the plan has {want})",
                p.display()
            ))
            .with_hint("run plan again, and apply the plan that shows the new backup"));
        }
        let tagging = self
            .tags(address, &BTreeMap::new())
            .into_iter()
            .map(|(k, v)| format!("{}={}", url_encode(&k), url_encode(&v)))
            .collect::<Vec<_>>()
            .join("&");
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let s3 = &self.c.s3;
        let up = |e: CallError| e.provider(address, "upload the backup");
        let (etag, expected) = if (bytes.len() as u64) <= self.opts.multipart_threshold {
            let md5 = Md5::digest(&bytes);
            let r = self
                .call(|| {
                    s3.put_object()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.clone()))
                        .content_md5(b64(&md5))
                        .metadata(SHA256_METADATA, &sha)
                        .tagging(&tagging)
                        .send()
                })
                .await
                .map_err(up)?;
            (
                r.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                hex::encode(md5),
            )
        } else {
            let part = self.opts.multipart_part_size.max(5 * 1024 * 1024) as usize;
            let start = self
                .call(|| {
                    s3.create_multipart_upload()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .metadata(SHA256_METADATA, &sha)
                        .tagging(&tagging)
                        .send()
                })
                .await
                .map_err(up)?;
            let upload_id = start.upload_id().unwrap_or_default().to_string();
            let mut parts = Vec::new();
            let mut md5s = Vec::new();
            let result: Result<(), ProviderError> = async {
                for (i, chunk) in bytes.chunks(part).enumerate() {
                    let md5 = Md5::digest(chunk);
                    md5s.extend_from_slice(&md5);
                    let n = i as i32 + 1;
                    let r = self
                        .call(|| {
                            s3.upload_part()
                                .bucket(&o.bucket)
                                .key(&o.key)
                                .upload_id(&upload_id)
                                .part_number(n)
                                .content_md5(b64(&md5))
                                .body(aws_sdk_s3::primitives::ByteStream::from(chunk.to_vec()))
                                .send()
                        })
                        .await
                        .map_err(|e| e.provider(address, &format!("upload part {n}")))?;
                    parts.push(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(n)
                            .set_e_tag(r.e_tag().map(str::to_string))
                            .build(),
                    );
                    self.progress(format!(
                        "{address}: uploaded part {n} of {}",
                        bytes.len().div_ceil(part)
                    ));
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                let _ = self
                    .call(|| {
                        s3.abort_multipart_upload()
                            .bucket(&o.bucket)
                            .key(&o.key)
                            .upload_id(&upload_id)
                            .send()
                    })
                    .await;
                return Err(e);
            }
            let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build();
            let completed = self
                .call(|| {
                    s3.complete_multipart_upload()
                        .bucket(&o.bucket)
                        .key(&o.key)
                        .upload_id(&upload_id)
                        .multipart_upload(done.clone())
                        .send()
                })
                .await;
            let etag = match completed {
                Ok(r) => r.e_tag().unwrap_or_default().to_string(),
                // Completed (HTTP 200) but the answer did not decode (some emulators): ask S3 what it stored.
                Err(e) if e.status == Some(200) => self
                    .call(|| s3.head_object().bucket(&o.bucket).key(&o.key).send())
                    .await
                    .map_err(|e| e.provider(address, "check the uploaded backup"))?
                    .e_tag()
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => return Err(up(e)),
            };
            let n = bytes.len().div_ceil(part);
            (
                etag.trim_matches('"').to_string(),
                format!("{}-{n}", hex::encode(Md5::digest(&md5s))),
            )
        };
        if etag != expected {
            return Err(ProviderError::new(format!("{address}: S3 stored the backup with checksum {etag}, but the local file gives {expected}"))
                .with_hint("the upload was corrupted or the file changed while uploading: run apply again")
                .retryable());
        }
        Ok(etag)
    }
}
