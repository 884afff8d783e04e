//! An apply of the seed to moto killed at random points (the apply future is
//! dropped mid-flight, as a killed process would stop: whatever AWS did is
//! done, whatever was not journaled is not recorded), then run again: no
//! duplicate object (counted by the chronous:address tag) and the state
//! converges. Also: the backup upload in parts, checked against the local file,
//! and the AMI taken from an SSM parameter.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chronous_core::provider::{CreateRequest, Provider};
use chronous_core::resources::{AmiLookupSpec, S3BucketSpec, S3ObjectSpec, Spec};
use chronous_store::StateStore;
use common::*;
use rand::{Rng, SeedableRng};

/// How many live objects carry each chronous:address tag of the environment.
async fn counts_by_address(c: &chronous_aws::AwsClients, env: &str) -> BTreeMap<String, usize> {
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    let f = || {
        vec![aws_sdk_ec2::types::Filter::builder()
            .name("tag:chronous:environment")
            .values(env)
            .build()]
    };
    let mut add = |tags: &[aws_sdk_ec2::types::Tag]| {
        if let Some(a) = tags
            .iter()
            .find(|t| t.key() == Some("chronous:address"))
            .and_then(|t| t.value())
        {
            *n.entry(a.to_string()).or_default() += 1;
        }
    };
    let e = &c.ec2;
    e.describe_vpcs()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .vpcs()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_subnets()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_internet_gateways()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_addresses()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .addresses()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_nat_gateways()
        .set_filter(Some(f()))
        .send()
        .await
        .unwrap()
        .nat_gateways()
        .iter()
        .filter(|x| x.state().map(|s| s.as_str()) != Some("deleted"))
        .for_each(|x| add(x.tags()));
    e.describe_route_tables()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .route_tables()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_security_groups()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .security_groups()
        .iter()
        .for_each(|x| add(x.tags()));
    e.describe_launch_templates()
        .send()
        .await
        .unwrap()
        .launch_templates()
        .iter()
        .for_each(|x| add(x.tags()));
    for r in e
        .describe_instances()
        .set_filters(Some(f()))
        .send()
        .await
        .unwrap()
        .reservations()
    {
        r.instances()
            .iter()
            .filter(|i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated"))
            .for_each(|x| add(x.tags()));
    }
    let tds = c
        .ecs
        .list_task_definitions()
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    for arn in tds.task_definition_arns() {
        let d = c
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        if let Some(a) = d
            .tags()
            .iter()
            .find(|t| t.key() == Some("chronous:address"))
            .and_then(|t| t.value())
        {
            *n.entry(a.to_string()).or_default() += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_killed_at_random_points_then_run_again_converges_without_duplicates() {
    let started = std::time::Instant::now();
    let moto = Moto::start();
    set_password();
    // CreateDBInstance path here (the restore path is in moto_seed.rs and mocks.rs).
    let seed = seed_copy("crashenv", without_restore);
    let p = provider::<aws_smithy_runtime_api::client::http::SharedHttpClient>(
        options(&moto, &seed.env.name, &seed.dir),
        None,
    )
    .await;
    let store = StateStore::new(&seed.dir.join(".chronous"));
    std::fs::create_dir_all(store.dir()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);

    let mut kills = 0;
    let mut rounds = 0;
    while kills < 12 && rounds < 40 {
        rounds += 1;
        let cut = Duration::from_millis(rng.gen_range(20..900));
        match tokio::time::timeout(cut, converge(&p, &seed.env, &store, false)).await {
            Err(_) => {
                kills += 1;
                // A killed apply's last request may still be in flight; the
                // next run starts once it has landed, as a re-run after a
                // killed process does (seconds later, not microseconds: one
                // that raced such a request could adopt nothing and make a
                // second Elastic IP, since AllocateAddress takes no client
                // token).
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Ok((plan, outcome)) => {
                assert_ok(&outcome);
                if !plan.has_changes() {
                    // Converged before the cut: start over from nothing to keep killing.
                    let (_, o) = converge(&p, &seed.env, &store, true).await;
                    assert_ok(&o);
                }
            }
        }
    }
    assert!(kills >= 10, "only {kills} kills");

    // Run again to the end.
    let (_, outcome) = converge(&p, &seed.env, &store, false).await;
    assert_ok(&outcome);
    let st = load_state(&store, &seed.env);
    let again = refresh_plan(&p, &seed.env, &st, false).await;
    assert!(!again.has_changes(), "not converged:\n{}", again.render());

    let c = clients(&moto).await;
    let counts = counts_by_address(&c, &seed.env.name).await;
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates after {kills} kills: {dups:?}");
    // Every tagged object is one the state records.
    for a in counts.keys() {
        assert!(
            st.resources.contains_key(a),
            "{a} exists in AWS but not in the state"
        );
    }
    assert_eq!(
        c.rds
            .describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances()
            .len(),
        1
    );
    assert_eq!(
        c.autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()
            .len(),
        1
    );
    eprintln!(
        "{kills} kills in {rounds} rounds, converged in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_uploads_in_parts_with_checksums_and_adopts_the_bucket() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    // 11 MiB of varied bytes: three 5 MiB parts.
    let mut data = vec![0u8; 11 * 1024 * 1024];
    rand::rngs::StdRng::seed_from_u64(1).fill(&mut data[..]);
    std::fs::write(dir.path().join("big.tar.gz"), &data).unwrap();
    let mut o = options(&moto, "uploads", dir.path());
    o.multipart_threshold = 5 * 1024 * 1024;
    o.multipart_part_size = 5 * 1024 * 1024;
    let p = provider::<aws_smithy_runtime_api::client::http::SharedHttpClient>(o, None).await;
    let bucket = Spec::S3Bucket(S3BucketSpec {
        bucket: "chronous-upload-test".into(),
        force_destroy: true,
    });
    let b = p
        .create(CreateRequest {
            address: "aws_s3_bucket.xtrabackup",
            spec: &bucket,
            exclude_ids: &[],
        })
        .await
        .expect("bucket");
    assert_eq!(
        b.outputs["bucket"],
        serde_json::json!("chronous-upload-test")
    );
    // Creating it again (a crashed apply) adopts it.
    let again = p
        .create(CreateRequest {
            address: "aws_s3_bucket.xtrabackup",
            spec: &bucket,
            exclude_ids: &[],
        })
        .await
        .expect("adopted");
    assert_eq!(again.id, b.id);
    // Another address may not take it.
    let e = p
        .create(CreateRequest {
            address: "aws_s3_bucket.other",
            spec: &bucket,
            exclude_ids: &[],
        })
        .await
        .expect_err("not ours");
    assert!(
        e.message
            .contains("already exists and was not made by this environment"),
        "{}",
        e.message
    );

    let obj = Spec::S3Object(S3ObjectSpec {
        bucket: "chronous-upload-test".into(),
        key: "data/big.tar.gz".into(),
        source: "big.tar.gz".into(),
        source_sha256: None,
    });
    let o = p
        .create(CreateRequest {
            address: "aws_s3_object.xtrabackup",
            spec: &obj,
            exclude_ids: &[],
        })
        .await
        .expect("multipart upload");
    let etag = o.outputs["etag"].as_str().unwrap().to_string();
    assert!(etag.ends_with("-3"), "a 3-part upload's ETag: {etag}");
    let c = clients(&moto).await;
    let got =
        c.s3.get_object()
            .bucket("chronous-upload-test")
            .key("data/big.tar.gz")
            .send()
            .await
            .unwrap();
    let meta = got.metadata().cloned().unwrap_or_default();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), data.len());
    assert!(body == data[..], "the stored object is the file");
    use sha2::Digest;
    assert_eq!(
        meta.get("chronous-sha256"),
        Some(&hex::encode(sha2::Sha256::digest(&data)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ami_can_come_from_the_recommended_ecs_ami_parameter() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let p = provider::<aws_smithy_runtime_api::client::http::SharedHttpClient>(
        options(&moto, "ami", dir.path()),
        None,
    )
    .await;
    let param = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id";
    // What the parameter holds, read independently.
    let c = clients(&moto).await;
    let want = c
        .ssm
        .get_parameter()
        .name(param)
        .send()
        .await
        .expect("moto serves AWS's public ECS AMI parameters")
        .parameter()
        .and_then(|p| p.value())
        .unwrap()
        .to_string();
    assert!(want.starts_with("ami-"), "{want}");
    let spec = Spec::AmiLookup(AmiLookupSpec {
        name_pattern: String::new(),
        owners: vec![],
        most_recent: true,
        ssm_parameter: Some(param.into()),
    });
    let o = p
        .create(CreateRequest {
            address: "aws_ami_lookup.ecs",
            spec: &spec,
            exclude_ids: &[],
        })
        .await
        .expect("the AMI from the parameter");
    assert_eq!(o.id, want);
    assert_eq!(o.outputs["id"], serde_json::json!(want));
    // A parameter that does not exist: a clear error naming the setting.
    let missing = Spec::AmiLookup(AmiLookupSpec {
        name_pattern: String::new(),
        owners: vec![],
        most_recent: true,
        ssm_parameter: Some("/chronous/no-such-ami".into()),
    });
    let e = p
        .create(CreateRequest {
            address: "aws_ami_lookup.ecs",
            spec: &missing,
            exclude_ids: &[],
        })
        .await
        .expect_err("no such parameter");
    let text = format!("{} {}", e.message, e.hint.clone().unwrap_or_default());
    assert!(
        text.contains("aws_ami_lookup.ecs") && text.contains("cluster.ami.ssm_parameter"),
        "{text}"
    );
}
