//! Scenario tests of `rehearse deploy` on the modelled runtime, timelines as snapshots.

use chronous_core::ecs::CircuitBreaker;
use chronous_core::env::{self, Environment};
use chronous_rehearse::rehearse::{rehearse_deploy, FaultSpec, Outcome, RehearseInput};

const SEED_TOML: &str = include_str!("../../../fixtures/seed/chronous.toml");

fn seed_env() -> Environment {
    let loaded = env::load("seed", SEED_TOML);
    loaded
        .env
        .unwrap_or_else(|| panic!("seed does not validate: {:?}", loaded.diagnostics.items))
}

/// The seed environment with some service/cluster settings changed.
fn input(min: u32, max: u32, instances: u32) -> RehearseInput {
    let mut e = seed_env();
    e.service.minimum_healthy_percent = min;
    e.service.maximum_percent = max;
    e.cluster.instance_count = instances;
    let mut i = RehearseInput::from_environment(&e, Some("chronous-payments-web-api:1.1"));
    i.seed = 42;
    i
}

#[test]
fn seed_settings_stop_then_start_with_downtime() {
    let r = rehearse_deploy(&input(0, 100, 1)).unwrap();
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(r.zero_healthy.len(), 1);
    // Stop (2 s) + placement + start (8 s) + first check phase + 10 passes at 30 s.
    assert!(
        r.predicted_downtime_ms >= 280_000 && r.predicted_downtime_ms <= 320_000,
        "{}",
        r.predicted_downtime_ms
    );
    let kinds: Vec<&str> = r.timeline.iter().map(|e| e.kind.as_str()).collect();
    let stop = kinds.iter().position(|k| *k == "task_stopping").unwrap();
    let start = kinds
        .iter()
        .position(|k| *k == "task_provisioning")
        .unwrap();
    assert!(stop < start, "{kinds:?}");
    assert!(
        r.suggestions
            .iter()
            .any(|s| s.contains("minimum 100 / maximum 200 on two instances avoids the outage")),
        "{:?}",
        r.suggestions
    );
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn min_100_max_200_static_port_one_instance_is_stuck_with_the_placement_event() {
    let mut i = input(100, 200, 1);
    i.horizon_ms = 900_000;
    let r = rehearse_deploy(&i).unwrap();
    let Outcome::Stuck { reason } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(reason.contains("was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance i-"), "{reason}");
    assert!(
        reason.contains("is already using a port required by your task"),
        "{reason}"
    );
    assert_eq!(r.predicted_downtime_ms, 0);
    assert!(r.suggestions.iter().any(|s| s.starts_with("needs a free host port: add a second container instance (cluster.instance_count = 2), or use dynamic host ports (host_port = 0) with an ALB target group")), "{:?}", r.suggestions);
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn min_100_max_200_on_two_instances_has_zero_downtime() {
    let r = rehearse_deploy(&input(100, 200, 2)).unwrap();
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(r.predicted_downtime_ms, 0);
    assert!(r.zero_healthy.is_empty());
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn unhealthy_image_trips_the_circuit_breaker_and_rolls_back() {
    let mut i = input(100, 200, 2);
    i.service.circuit_breaker = Some(CircuitBreaker { rollback: true });
    i.faults = vec![FaultSpec::UnhealthyImage];
    i.horizon_ms = 3 * 3_600_000;
    let r = rehearse_deploy(&i).unwrap();
    let Outcome::Failed {
        reason,
        rolled_back,
    } = &r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert!(rolled_back);
    assert!(
        reason.contains("deployment failed: tasks failed health checks."),
        "{reason}"
    );
    assert!(r.timeline.iter().any(|e| e.kind == "ecs_rolling_back"));
    assert_eq!(
        r.predicted_downtime_ms, 0,
        "min 100 keeps the old task in service"
    );
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn bad_image_fails_to_start_without_rollback() {
    let mut i = input(0, 100, 1);
    i.service.circuit_breaker = Some(CircuitBreaker { rollback: false });
    i.faults = vec![FaultSpec::BadImage];
    let r = rehearse_deploy(&i).unwrap();
    let Outcome::Failed {
        reason,
        rolled_back,
    } = &r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert!(!rolled_back);
    assert!(
        reason.ends_with("deployment failed: tasks failed to start."),
        "{reason}"
    );
    assert!(r.down_at_end);
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn json_and_svg_render() {
    let r = rehearse_deploy(&input(0, 100, 1)).unwrap();
    let j = serde_json::to_string(&r).unwrap();
    let back: chronous_rehearse::rehearse::Rehearsal = serde_json::from_str(&j).unwrap();
    assert_eq!(back, r);
    assert_eq!(r.to_json()["outcome"]["status"], "completed");
    let svg = r.render_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("zero healthy targets"));
    insta::assert_snapshot!(svg);
}

#[test]
fn faults_parse_from_flags() {
    assert_eq!(
        "crash@90s".parse::<FaultSpec>().unwrap(),
        FaultSpec::Crash { at_ms: 90_000 }
    );
    assert_eq!(
        "failing-health@1m+300s".parse::<FaultSpec>().unwrap(),
        FaultSpec::FailingHealthChecks {
            at_ms: 60_000,
            duration_ms: 300_000
        }
    );
    assert_eq!(
        "instance-lost@2m".parse::<FaultSpec>().unwrap(),
        FaultSpec::InstanceLost { at_ms: 120_000 }
    );
    assert_eq!(
        "bad-image".parse::<FaultSpec>().unwrap(),
        FaultSpec::BadImage
    );
    assert_eq!(
        "slow-start=4".parse::<FaultSpec>().unwrap(),
        FaultSpec::SlowStart { factor: 4 }
    );
    let e = "explode".parse::<FaultSpec>().unwrap_err();
    assert!(e.to_string().contains("unknown fault"), "{e}");
}

/// A fault after the deployment has completed (the seed's deploy completes at
/// about +5m) is rehearsed, not silently dropped: the crash at +40m shows in
/// the timeline and the run goes on until the service is steady again.
#[test]
fn a_fault_after_the_deployment_completed_is_rehearsed() {
    let plain = rehearse_deploy(&input(0, 100, 1)).unwrap();
    let mut i = input(0, 100, 1);
    i.faults = vec![FaultSpec::Crash { at_ms: 2_400_000 }];
    let r = rehearse_deploy(&i).unwrap();
    assert_ne!(
        r.render_text(),
        plain.render_text(),
        "crash@40m gave the same rehearsal as no fault"
    );
    assert!(
        r.timeline
            .iter()
            .any(|e| e.kind == "fault" && e.at_ms == 2_400_000),
        "no fault at +40m in the timeline"
    );
    assert!(r.duration_ms > 2_400_000, "{}", r.duration_ms);
}
