//! The guards of `--backend aws` and how its failures read, driving the
//! built binary: an endpoint nothing listens on, no credentials, the
//! credentials of another account than `environment.account_id` (each one
//! error before any step, verified with moto's request recorder), and the
//! plan's header (account, region) and the AMI read while planning.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{code, Env};

/// moto on a free loopback port recording every request it gets; stopped on drop.
struct Moto {
    child: Child,
    url: String,
    /// moto's working folder: the recording is written there.
    dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// moto as the account `account` (moto's default: 123456789012).
    fn start(account: Option<&str>) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("moto_server");
        c.current_dir(dir.path())
            .env(
                "MOTO_RECORDER_FILEPATH",
                dir.path().join("moto_recording").to_str().unwrap(),
            )
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_ENABLE_RECORDING", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(a) = account {
            c.env("MOTO_ACCOUNT_ID", a);
        }
        let child = c
            .spawn()
            .expect("moto_server is not installed: run `bash scripts/moto.sh`");
        let m = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        m.post("/moto-api/recorder/start-recording");
        m
    }

    fn post(&self, path: &str) {
        let o = Command::new("python3")
            .args([
                "-c",
                "import sys,urllib.request;urllib.request.urlopen(urllib.request.Request(sys.argv[1],method='POST'))",
                &format!("{}{path}", self.url),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// Every request moto got since it started, as `service Action`.
    fn calls(&self) -> Vec<String> {
        // moto writes the file at the first request it records.
        if !self.dir.path().join("moto_recording").exists() {
            return vec![];
        }
        let o = Command::new("python3")
            .args(["-c", RECORDED, &self.url])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// moto's recording as `service Action` lines: the service from the
/// signature's scope, the action from a query body or the JSON target header.
const RECORDED: &str = r#"
import base64, json, sys, urllib.parse, urllib.request
for line in urllib.request.urlopen(sys.argv[1] + "/moto-api/recorder/download-recording").read().decode().splitlines():
    if not line.strip():
        continue
    r = json.loads(line)
    h = r["headers"]
    service = h.get("Authorization", "").split("/")[3] if "/" in h.get("Authorization", "") else "?"
    body = r.get("body") or ""
    if r.get("body_encoded"):
        body = base64.b64decode(body).decode("latin-1")
    action = urllib.parse.parse_qs(body).get("Action", [h.get("X-Amz-Target", "?").split(".")[-1]])[0]
    print(service, action)
"#;

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Lines of a plan worth pinning here: its header, the AMI look-up and
/// what uses the AMI, the totals (the rest is `pins.rs`'s).
const PLAN_LINES: &[&str] = &[
    "actions on",
    "AWS account",
    "ami",
    "image_id",
    "Plan:",
    "No changes",
];

/// What a person reads (stdout then stderr), with the temporary folder and
/// the port scrubbed, the lines of parallel steps sorted, and of a plan
/// only the lines [`PLAN_LINES`] name.
fn shown(env: &Env, port: u16, o: &std::process::Output) -> String {
    let root = env.root.path().to_str().unwrap().to_string();
    let scrub = |s: &[u8], keep: &dyn Fn(&str) -> bool| {
        let s = String::from_utf8_lossy(s)
            .replace(&root, "[ROOT]")
            .replace(&port.to_string(), "[PORT]");
        let mut lines: Vec<&str> = s.lines().filter(|l| keep(l)).collect();
        lines.sort();
        lines.join("\n")
    };
    format!(
        "exit: {:?}\n--- stdout (sorted; plan lines about the AMI, the header and totals)\n{}\n--- stderr (sorted)\n{}\n",
        o.status.code(),
        scrub(&o.stdout, &|l: &str| PLAN_LINES.iter().any(|k| l.contains(k))),
        scrub(&o.stderr, &|l: &str| !l.trim().is_empty())
    )
}

fn aws_cmd(env: &Env, endpoint: &str, args: &[&str]) -> Command {
    let mut c = env.cmd(&[&["--backend", "aws", "--endpoint", endpoint], args].concat());
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    c
}

#[test]
fn pins_an_unreachable_endpoint() {
    let env = Env::new("seed");
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let plan = aws_cmd(&env, &url, &["plan"]).output().unwrap();
    insta::assert_snapshot!("unreachable-plan", shown(&env, port, &plan));
    let apply = aws_cmd(&env, &url, &["apply", "--auto-approve", "--no-wait"])
        .output()
        .unwrap();
    insta::assert_snapshot!("unreachable-apply", shown(&env, port, &apply));
}

/// `account_id = "..."` in the file's `[environment]`.
fn pin_account(env: &Env, account: &str) {
    env.edit(
        "operator_cidr = \"203.0.113.10/32\"\n",
        &format!("operator_cidr = \"203.0.113.10/32\"\naccount_id = \"{account}\"\n"),
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The lines of chronous's own errors (not the file's warnings).
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn credentials_of_another_account_are_refused_before_any_other_call() {
    let moto = Moto::start(None);
    let env = Env::new("seed");
    pin_account(&env, "210987654321");
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve", "--no-wait"],
        &["destroy", "--auto-approve"],
    ] {
        let o = aws_cmd(&env, &moto.url, args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(code(&o), 1, "{args:?}: {err}");
        assert_eq!(
            error_lines(&err),
            ["error: the AWS credentials are of account 123456789012 (arn:aws:sts::123456789012:user/moto), but environment `seed` lives in account 210987654321 (environment.account_id): nothing was done"],
            "{args:?}: {err}"
        );
        assert!(
            err.contains("  hint: use credentials of account 210987654321"),
            "{err}"
        );
        assert!(!text(&o.stdout).contains("Creating"), "{args:?}");
    }
    assert_eq!(
        moto.calls(),
        ["sts GetCallerIdentity"; 3],
        "one identity check per command, nothing else"
    );
    assert!(!env.dir.join(".chronous/state.json").exists());
}

#[test]
fn no_credentials_is_one_error_and_no_step_starts() {
    let moto = Moto::start(None);
    let env = Env::new("seed");
    let home = tempfile::tempdir().unwrap();
    let mut c = env.cmd(&[
        "--backend",
        "aws",
        "--endpoint",
        &moto.url,
        "apply",
        "--auto-approve",
    ]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let o = c.output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert_eq!(
        error_lines(&err),
        ["error: no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), in a profile (AWS_PROFILE, ~/.aws/config, ~/.aws/credentials) or from an instance or container role"],
        "{err}"
    );
    let hint = err
        .lines()
        .find(|l| l.starts_with("  hint:"))
        .unwrap_or_default();
    assert!(
        hint.contains("AWS_PROFILE")
            && hint.contains("aws configure")
            && hint.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    assert!(!text(&o.stdout).contains("Creating"));
    assert!(
        moto.calls().is_empty(),
        "no request was sent: {:?}",
        moto.calls()
    );
    assert!(!env.dir.join(".chronous/state.json").exists());
}

#[test]
fn the_plan_names_the_account_and_region_and_shows_the_ami() {
    let moto = Moto::start(None);
    let env = Env::new("seed");
    // Without account_id: a warning naming the account, once.
    let o = aws_cmd(&env, &moto.url, &["plan"]).output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 0, "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("warning: acting on"))
        .collect();
    assert_eq!(
        warnings,
        ["warning: acting on AWS account 123456789012 in us-east-2 as arn:aws:sts::123456789012:user/moto; add account_id = \"123456789012\" to [environment] in chronous.toml so that chronous refuses the credentials of any other account"]
    );

    pin_account(&env, "123456789012");
    let o = aws_cmd(&env, &moto.url, &["plan"]).output().unwrap();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(code(&o), 0, "{err}");
    assert!(!err.contains("warning: acting on"), "{err}");
    assert_eq!(
        out.lines().next(),
        Some("AWS account 123456789012 in us-east-2, as arn:aws:sts::123456789012:user/moto.")
    );
    assert!(
        err.contains("aws_ami_lookup.ecs: Read complete after"),
        "{err}"
    );
    let image = out
        .lines()
        .find(|l| l.trim_start().starts_with("+ image_id = "))
        .expect("the launch template's image");
    assert!(image.contains("\"ami-"), "{image}");
    assert!(!out.contains("aws_ami_lookup.ecs will be created"), "{out}");

    let o = aws_cmd(&env, &moto.url, &["--json", "plan"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["target"]["account"], "123456789012");
    assert_eq!(p["target"]["region"], "us-east-2");
    let read = &p["data_sources"][0];
    assert_eq!(read["address"], "aws_ami_lookup.ecs", "{p}");
    let lt = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "aws_launch_template.container_instances")
        .unwrap();
    let shown = lt["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "image_id")
        .unwrap();
    assert_eq!(shown["after"], read["id"], "the plan uses the AMI it read");
    // Planning reads: who the credentials are, and the AMI; it makes nothing.
    let calls = moto.calls();
    assert!(
        calls
            .iter()
            .all(|c| c == "sts GetCallerIdentity" || c == "ec2 DescribeImages"),
        "{calls:?}"
    );
}

#[test]
fn a_saved_plan_is_not_applied_with_the_credentials_of_another_account() {
    let made = Moto::start(None);
    let other = Moto::start(Some("210987654321"));
    let env = Env::new("seed");
    let file = env.root.path().join("seed.plan");
    let o = aws_cmd(&env, &made.url, &["plan", "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = aws_cmd(
        &env,
        &other.url,
        &["apply", file.to_str().unwrap(), "--no-wait"],
    )
    .output()
    .unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("was made for AWS account 123456789012 in us-east-2, but the credentials are of account 210987654321 in us-east-2: nothing was done"),
        "{err}"
    );
    assert_eq!(other.calls(), ["sts GetCallerIdentity"]);
}

/// An endpoint that knows who the caller is and where the AMI is (moto
/// behind it) but answers every other call with a web page, as an emulator
/// lacking the operations does: printed its port, then serves.
const HALF_AN_EMULATOR: &str = r#"
import http.server, socketserver, sys, urllib.request
moto = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        if "/sts/" in auth or b"Action=DescribeImages" in body:
            req = urllib.request.Request(moto + self.path, data=body, method="POST",
                headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")})
            with urllib.request.urlopen(req) as r:
                data, status, ctype = r.read(), r.status, r.headers.get("Content-Type", "text/xml")
        else:
            data, status, ctype = b"<!DOCTYPE html><html><title>500 Internal Server Error</title><h1>Internal Server Error</h1></html>", 500, "text/html"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn steps_failing_alike_are_reported_once_with_the_steps_they_hit() {
    use std::io::BufRead;
    let moto = Moto::start(None);
    let mut child = Command::new("python3")
        .args(["-c", HALF_AN_EMULATOR, &moto.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _proxy = Proxy(child);
    let url = format!("http://127.0.0.1:{}", line.trim());
    let env = Env::new("seed");
    pin_account(&env, "123456789012");
    let o = aws_cmd(&env, &url, &["apply", "--auto-approve", "--no-wait"])
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    let report = &err[err
        .find("\nError:\n")
        .expect("the errors, once, at the end")..];
    // The IAM roles started together fail on the same call the same way: one
    // error, with the number of steps and their addresses.
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(" steps failed with the same error: iam GetRole failed: "))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        lines[at].ends_with(
            "iam GetRole failed: the endpoint answered HTTP 500 with an HTML page (not an AWS API response)"
        ),
        "{}",
        lines[at]
    );
    let n: usize = lines[at].trim().split(' ').next().unwrap().parse().unwrap();
    let listed: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    aws_"))
        .map(|l| l.trim())
        .collect();
    assert!(n >= 2, "{report}");
    assert_eq!(listed.len(), n, "{report}");
    assert!(
        listed.iter().all(|a| a.starts_with("aws_iam_role.")),
        "{report}"
    );
    // Every failed step is in the report exactly once.
    let failed: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_suffix(": Create failed"))
        .collect();
    assert!(failed.len() > n, "{err}");
    for a in &failed {
        let mentions = lines
            .iter()
            .filter(|l| l.trim() == *a || l.starts_with(&format!("  {a}: ")))
            .count();
        assert_eq!(mentions, 1, "{a}: {report}");
    }
    assert!(report.contains("hint: is --endpoint / AWS_ENDPOINT_URL right, does it implement "));
    for never in [
        "<html",
        "DOCTYPE",
        "MySQL 5.6",
        "DispatchFailure",
        "ServiceError",
    ] {
        assert!(!report.contains(never), "`{never}` in: {report}");
    }
    // Each failed step says so once as it ends; why is said in the report only.
    assert!(
        err.contains("aws_iam_role.ecs_ec2: Create failed\n"),
        "{err}"
    );
}
