//! The guards of `--backend aws` and how its failures read, driving the
//! built binary: an endpoint nothing listens on.

mod common;

use common::Env;

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

fn aws_cmd(env: &Env, endpoint: &str, args: &[&str]) -> std::process::Command {
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
