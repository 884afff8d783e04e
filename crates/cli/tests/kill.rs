//! SIGKILL an apply (or destroy) at random points: the state always loads,
//! and the next apply converges with no duplicate object.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{code, Env};

#[test]
fn sigkill_at_random_points_never_corrupts_or_duplicates() {
    let seed: u64 = std::env::var("CHRONOUS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill test seed={seed} (reproduce with CHRONOUS_TEST_SEED={seed})");
    let mut rng = seed;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let env = Env::new("seed");
    let mut kills_mid_run = 0;
    for i in 0..80 {
        if kills_mid_run >= 20 {
            break;
        }
        // every other run a destroy, so deletes get killed too.
        let args: &[&str] = if i % 2 == 1 {
            &["destroy", "--auto-approve"]
        } else {
            &["apply", "--auto-approve"]
        };
        let par = (1 + next(10)).to_string();
        let mut a = args.to_vec();
        a.extend(["--parallelism", par.as_str()]);
        let mut child = env
            .cmd(&a)
            .env("CHRONOUS_SIM_LATENCY_MS", "60")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + next(250)));
        if child.try_wait().unwrap().is_none() {
            kills_mid_run += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The state always loads.
        let o = env.run(&["--json", "state", "list"]);
        assert_eq!(
            code(&o),
            0,
            "seed={seed} run {i}: state does not load: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // No object of the simulated cloud is duplicated for one address.
        let objs = env.sim_objects();
        let addrs: BTreeSet<&String> = objs.iter().map(|(a, _)| a).collect();
        assert_eq!(
            addrs.len(),
            objs.len(),
            "seed={seed} run {i}: duplicate objects: {objs:?}"
        );
    }
    assert!(
        kills_mid_run >= 20,
        "seed={seed}: only {kills_mid_run} kills landed while the command ran"
    );
    // The next apply converges.
    env.ok(&["apply", "--auto-approve"]);
    let state = env.state_addresses();
    let objs = env.sim_objects();
    assert_eq!(state.len(), 61, "seed={seed}");
    assert_eq!(objs.len(), 61, "seed={seed}: {objs:?}");
    let recorded: BTreeSet<String> = state.into_iter().collect();
    let live: BTreeSet<String> = objs.into_iter().map(|(a, _)| a).collect();
    assert_eq!(recorded, live, "seed={seed}");
    assert_eq!(
        code(&env.run(&["plan", "--detailed-exitcode"])),
        0,
        "seed={seed}"
    );
}
