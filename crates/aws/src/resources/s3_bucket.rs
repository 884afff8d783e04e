//! `aws_s3_bucket`: an S3 bucket (CreateBucket, HeadBucket, GetBucketTagging, PutBucketTagging, ListObjectsV2, DeleteObjects, DeleteBucket).

use chronous_core::resources::S3BucketSpec;
use std::collections::BTreeMap;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    if p.describe(address, || c.s3.head_bucket().bucket(id).send())
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let spec = S3BucketSpec {
        bucket: id.into(),
        force_destroy: prior
            .get("force_destroy")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(format!("arn:aws:s3:::{id}"))),
            ("bucket", json!(id)),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    b: &S3BucketSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(b);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if found(p.call(|| c.s3.head_bucket().bucket(&b.bucket).send()).await)
            .map_err(mk)?
            .is_some()
        {
            // Ours when tagged for this address, or untagged (a create that stopped before tagging:
            // head_bucket only answers 200 for buckets this account owns).
            let tags = match p
                .call(|| c.s3.get_bucket_tagging().bucket(&b.bucket).send())
                .await
            {
                Ok(t) => t
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect::<Vec<_>>(),
                Err(e) if e.code() == "NoSuchTagSet" || e.is_not_found() => vec![],
                Err(e) => return Err(mk(e)),
            };
            if !tags.is_empty() {
                p.claim(
                    address,
                    "bucket",
                    &b.bucket,
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )?;
            }
        } else {
            let mut req = c.s3.create_bucket().bucket(&b.bucket);
            if p.region() != "us-east-1" {
                req = req.create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                            p.region(),
                        ))
                        .build(),
                );
            }
            match p.call(|| req.clone().send()).await {
                Ok(_) => {}
                Err(e) if e.is("BucketAlreadyOwnedByYou") => {}
                Err(e) if e.is("BucketAlreadyExists") => {
                    return Err(e.provider(address, "create the bucket").with_hint("S3 bucket names are global: choose another database.restore.bucket in chronous.toml"))
                }
                Err(e) => return Err(mk(e)),
            }
        }
        let set: Vec<aws_sdk_s3::types::Tag> = p
            .tags(address, &BTreeMap::new())
            .into_iter()
            .filter_map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect();
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
        p.call(|| {
            c.s3.put_bucket_tagging()
                .bucket(&b.bucket)
                .tagging(tagging.clone())
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "tag the bucket"))?;
        b.bucket.clone()
    };
    settled!(p, address, Kind::S3Bucket, &id, attrs)
}

update_nothing!(S3Bucket, S3BucketSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    b: &S3BucketSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    if b.force_destroy {
        loop {
            let l = match found(
                p.call(|| c.s3.list_objects_v2().bucket(&b.bucket).send())
                    .await,
            )
            .map_err(|e| e.provider(address, "list the bucket"))?
            {
                Some(l) => l,
                None => return Ok(()),
            };
            let keys: Vec<aws_sdk_s3::types::ObjectIdentifier> = l
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                        .ok()
                })
                .collect();
            if keys.is_empty() {
                break;
            }
            let del = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(keys))
                .build()
                .map_err(|e| ProviderError::new(format!("{address}: {e}")))?;
            p.call(|| {
                c.s3.delete_objects()
                    .bucket(&b.bucket)
                    .delete(del.clone())
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "empty the bucket"))?;
        }
    }
    match p
        .call(|| c.s3.delete_bucket().bucket(&b.bucket).send())
        .await
    {
        Err(e) if e.is("BucketNotEmpty") => Err(e
            .provider(address, "delete the bucket")
            .with_hint(
            "the bucket holds objects chronous did not put there: empty it, or set force_destroy",
        )),
        other => gone(address, other.map(|_| ()), "delete the bucket"),
    }
}
