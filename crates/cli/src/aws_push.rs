//! `chronous deploy --image REPO:TAG` on AWS, first step: push the local image
//! to the environment's ECR repository. ECR's GetAuthorizationToken (the aws
//! crate) gives the registry and its credentials; the simulator crate's Docker
//! wrapper tags and pushes through the Docker Engine API. The registry password
//! is passed along, never printed.

use anyhow::Result;
use chronous_aws::{AwsOptions, AwsProvider};
use chronous_docker::Docker;

use crate::runtime::EnvView;
use crate::ui::{exit, EXIT_FAILURE};

/// An image in the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// `REGISTRY/REPOSITORY:TAG`.
    pub image: String,
    pub digest: Option<String>,
}

/// Push the local `local_ref` to the account's registry as `target_repo:tag`.
pub async fn push_with(
    p: &AwsProvider,
    d: &Docker,
    local_ref: &str,
    target_repo: &str,
    tag: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Pushed> {
    let auth = p
        .registry_auth()
        .await
        .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
    let image = format!("{}/{target_repo}:{tag}", auth.registry);
    let digest = d
        .push_image(local_ref, &image, &auth.username, &auth.password, progress)
        .await
        .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
    Ok(Pushed { image, digest })
}

/// `deploy --image REPO:TAG` on AWS: push, printing progress (JSON lines under --json).
pub fn push(
    v: &EnvView<'_>,
    endpoint: Option<&str>,
    repo: &str,
    tag: &str,
    target_repo: &str,
) -> Result<Pushed> {
    let mut opts = AwsOptions::new(&v.env.region, &v.env.name, v.dir);
    if let Some(e) = endpoint {
        opts.endpoint = Some(e.to_string());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = v.json;
    let pushed = rt.block_on(async {
        let p = AwsProvider::connect(opts)
            .await
            .map_err(|e| exit(EXIT_FAILURE, e.to_string()))?;
        let d = Docker::connect().await?;
        let mut on = |line: &str| {
            if json {
                println!("{}", serde_json::json!({"event": "push", "message": line}));
            } else {
                println!("{line}");
            }
        };
        push_with(&p, &d, &format!("{repo}:{tag}"), target_repo, tag, &mut on).await
    })?;
    if json {
        println!(
            "{}",
            serde_json::json!({"event": "pushed", "image": pushed.image, "digest": pushed.digest})
        );
    } else {
        println!(
            "Pushed {repo}:{tag} to {}{}.",
            pushed.image,
            pushed
                .digest
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    //! The push against a real registry: `chronous/registry:2` (Debian's
    //! docker-registry, built by images/build.sh) with htpasswd auth on
    //! 127.0.0.1, the ECR token mocked to point at it.

    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use chronous_docker::ContainerSpec;

    use super::*;

    const REGISTRY_IMAGE: &str = "chronous/registry:2";
    const APP_IMAGE: &str = "chronous-payments-web-api:1.0";

    /// Removes the registry container and the pushed tag, passed or failed.
    struct Guard {
        container: String,
        tags: Vec<String>,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", "-v", &self.container])
                .output();
            for t in &self.tags {
                let _ = std::process::Command::new("docker")
                    .args(["rmi", t])
                    .output();
            }
        }
    }

    fn b64(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut o = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    o.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    o.push('=');
                }
            }
        }
        o
    }

    /// GET with basic auth: (status, headers, body).
    fn get(
        port: u16,
        path: &str,
        auth: Option<(&str, &str)>,
        accept: &str,
    ) -> (u16, String, String) {
        // Status 0: no answer (the registry is still starting).
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return (0, String::new(), String::new());
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let auth = auth
            .map(|(u, p)| format!("Authorization: Basic {}\r\n", b64(&format!("{u}:{p}"))))
            .unwrap_or_default();
        if write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .is_err()
        {
            return (0, String::new(), String::new());
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploy_push_reaches_the_registry_named_by_the_ecr_token() {
        let env = format!("pushtest{}", std::process::id());
        let d = Docker::connect()
            .await
            .expect("Docker is needed for this test");
        for img in [REGISTRY_IMAGE, APP_IMAGE] {
            assert!(
                d.image_exists(img).await.unwrap(),
                "{img} is missing: run `bash images/build.sh`"
            );
        }
        let password = format!("reg-pw-{}", std::process::id());
        let name = format!("chronous-{env}-registry");
        let mut guard = Guard {
            container: name.clone(),
            tags: vec![],
        };
        let spec = ContainerSpec {
            name: name.clone(),
            image: REGISTRY_IMAGE.into(),
            env: vec![
                ("REGISTRY_USER".into(), "AWS".into()),
                ("REGISTRY_PASSWORD".into(), password.clone()),
            ],
            role: "registry".into(),
            network: Some("bridge".into()),
            publish: Some(5000),
            ..Default::default()
        };
        d.run_container(&env, &spec).await.expect("registry starts");
        let labels = d
            .list(&env, Some("registry"))
            .await
            .expect("list")
            .into_iter()
            .find(|c| c.name == name)
            .expect("the registry carries the environment's label")
            .labels;
        assert_eq!(labels.get("chronous.environment"), Some(&env));
        let port = d.host_port(&name, 5000).await.unwrap().expect("published");
        let t = Instant::now();
        while get(port, "/v2/", None, "*/*").0 != 401 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the registry did not answer"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        let tag = format!("deploy-{}", std::process::id());
        let registry = format!("127.0.0.1:{port}");
        guard
            .tags
            .push(format!("{registry}/chronous-payments-web-api:{tag}"));
        let mut opts = AwsOptions::new("us-east-2", &env, std::env::temp_dir());
        opts.endpoint = None;
        let p = chronous_aws::testing::with_registry_token(
            opts.clone(),
            &format!("http://{registry}"),
            "AWS",
            &password,
        );
        let mut lines = Vec::new();
        let pushed = push_with(
            &p,
            &d,
            APP_IMAGE,
            "chronous-payments-web-api",
            &tag,
            &mut |l: &str| lines.push(l.to_string()),
        )
        .await
        .expect("push");
        assert_eq!(
            pushed.image,
            format!("{registry}/chronous-payments-web-api:{tag}")
        );
        let digest = pushed
            .digest
            .clone()
            .expect("the registry reports the digest");
        assert!(digest.starts_with("sha256:"), "{digest}");
        assert!(lines.iter().any(|l| l.contains("digest")), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains(&password)), "{lines:?}");

        // The registry has it: the tag, and the manifest under the digest Docker reported.
        let (status, _, body) = get(
            port,
            "/v2/chronous-payments-web-api/tags/list",
            Some(("AWS", &password)),
            "application/json",
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["name"], "chronous-payments-web-api");
        assert!(
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == tag.as_str()),
            "{body}"
        );
        let (status, head, _) = get(
            port,
            &format!("/v2/chronous-payments-web-api/manifests/{tag}"),
            Some(("AWS", &password)),
            "application/vnd.docker.distribution.manifest.v2+json",
        );
        assert_eq!(status, 200, "{head}");
        assert!(
            head.to_lowercase()
                .contains(&format!("docker-content-digest: {digest}")),
            "{head}"
        );
        // Without credentials the registry refuses: the push above did authenticate.
        assert_eq!(
            get(port, "/v2/chronous-payments-web-api/tags/list", None, "*/*").0,
            401
        );

        // Wrong credentials: refused, said so, the password not repeated.
        let bad = chronous_aws::testing::with_registry_token(
            opts,
            &format!("http://{registry}"),
            "AWS",
            "not-the-password",
        );
        let e = push_with(
            &bad,
            &d,
            APP_IMAGE,
            "chronous-payments-web-api",
            &format!("{tag}-bad"),
            &mut |_: &str| {},
        )
        .await
        .expect_err("wrong password");
        guard
            .tags
            .push(format!("{registry}/chronous-payments-web-api:{tag}-bad"));
        let msg = e.to_string();
        assert!(msg.contains("refused the credentials"), "{msg}");
        assert!(!msg.contains("not-the-password"), "{msg}");
        drop(guard);
    }
}
