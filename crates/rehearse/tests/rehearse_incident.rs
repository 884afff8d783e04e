//! `rehearse incident` on the modelled runtime: one scenario per fault kind
//! on the seed environment (one instance, desired 1) and on a two-instance
//! variant, the timeline and the report as snapshots.

use chronous_core::env::{self, Environment};
use chronous_rehearse::incident::{rehearse_incident, Incident, IncidentInput, IncidentOutcome};
use chronous_rehearse::rehearse::{FaultSpec, RehearseError};

const SEED_TOML: &str = include_str!("../../../fixtures/seed/chronous.toml");

fn seed_env() -> Environment {
    let loaded = env::load("seed", SEED_TOML);
    loaded
        .env
        .unwrap_or_else(|| panic!("seed does not validate: {:?}", loaded.diagnostics.items))
}

/// The seed environment with `instances` container instances and `desired`
/// tasks, the faults parsed as `--fault` spells them, seed 42.
fn input(instances: u32, desired: u32, faults: &[&str]) -> IncidentInput {
    let mut e = seed_env();
    e.cluster.instance_count = instances;
    e.service.desired_count = desired;
    let mut i = IncidentInput::from_environment(&e);
    i.seed = 42;
    i.faults = faults.iter().map(|f| f.parse().unwrap()).collect();
    i
}

fn run(i: &IncidentInput) -> Incident {
    let r = rehearse_incident(i).unwrap();
    let again = rehearse_incident(i).unwrap();
    assert_eq!(r, again, "the same seed gave another rehearsal");
    r
}

fn kinds_at(r: &Incident, at_ms: u64) -> Vec<&str> {
    r.timeline
        .iter()
        .filter(|e| e.at_ms == at_ms)
        .map(|e| e.kind.as_str())
        .collect()
}

#[test]
fn crash_of_the_only_task_is_an_outage_until_its_replacement_is_in_service() {
    let r = run(&input(1, 1, &["crash@2m"]));
    assert_eq!(
        kinds_at(&r, 120_000)[..3],
        ["fault", "task_stopped", "ecs_started"]
    );
    assert_eq!(r.stopped.len(), 1);
    assert_eq!(r.stopped[0].at_ms, 120_000);
    assert_eq!(r.stopped[0].exit_code, Some(137));
    assert!(r.stopped[0]
        .reason
        .contains("Essential container in task exited"));
    assert_eq!(r.started.len(), 1);
    let in_service = r.started[0].in_service_at_ms.expect("InService");
    assert_eq!(r.zero_healthy, vec![(120_000, in_service)]);
    // Start (8 s) + first check phase + 10 passes at 30 s.
    assert!(
        (270_000..=310_000).contains(&r.predicted_downtime_ms),
        "{}",
        r.predicted_downtime_ms
    );
    assert_eq!(
        r.outcome,
        IncidentOutcome::Recovered {
            steady_at_ms: in_service
        }
    );
    assert_eq!(r.duration_ms, in_service, "ends when steady again");
    assert!(r
        .suggestions
        .iter()
        .any(|s| s.contains("desired_count = 2")));
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn failing_health_on_one_of_two_instances_with_desired_2_keeps_traffic_up() {
    let r = run(&input(2, 2, &["failing-health@2m+5m"]));
    assert_eq!(r.predicted_downtime_ms, 0);
    assert!(r.zero_healthy.is_empty());
    // The ELB takes it out after 2 failed checks, ECS replaces it.
    assert!(r.timeline.iter().any(|e| e.kind == "elb_out_of_service"));
    assert!(r.timeline.iter().any(|e| e.kind == "ecs_unhealthy"));
    assert_eq!(r.stopped.len(), 1);
    assert!(
        r.stopped[0]
            .reason
            .starts_with("Task failed ELB health checks in (elb cak-payments-elb)"),
        "{}",
        r.stopped[0].reason
    );
    assert_eq!(r.started.len(), 1);
    assert!(matches!(r.outcome, IncidentOutcome::Recovered { .. }));
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn failing_health_with_desired_1_on_two_instances_is_an_outage() {
    let r = run(&input(2, 1, &["failing-health@2m+5m"]));
    assert!(r.predicted_downtime_ms > 0);
    assert_eq!(r.zero_healthy.len(), 1);
    // OutOfService after unhealthy_threshold (2) failed checks, within a minute of the fault.
    assert!(
        r.zero_healthy[0].0 > 120_000 && r.zero_healthy[0].0 <= 190_000,
        "{:?}",
        r.zero_healthy
    );
    assert_eq!(r.stopped.len(), 1);
    assert!(matches!(r.outcome, IncidentOutcome::Recovered { .. }));
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn failing_health_shorter_than_the_unhealthy_threshold_changes_nothing() {
    // 2 failed checks at 30 s are needed; a 20 s failure is seen at most once.
    let r = run(&input(1, 1, &["failing-health@2m+20s"]));
    assert_eq!(r.outcome, IncidentOutcome::Unaffected);
    assert_eq!(r.predicted_downtime_ms, 0);
    assert!(r.stopped.is_empty() && r.started.is_empty());
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn instance_lost_on_one_instance_waits_for_its_replacement() {
    let r = run(&input(1, 1, &["instance-lost@2m"]));
    assert_eq!(
        kinds_at(&r, 120_000)[..3],
        ["fault", "task_stopped", "ecs_instance_lost"]
    );
    assert!(
        r.stopped[0].reason.starts_with("Host EC2 (instance i-"),
        "{}",
        r.stopped[0].reason
    );
    // The Auto Scaling group's new instance registers 3 min later; the task
    // is placed on it.
    let up = r
        .timeline
        .iter()
        .find(|e| e.kind == "instance_registered")
        .expect("instance replaced");
    assert_eq!(up.at_ms, 300_000);
    assert_eq!(r.started.len(), 1);
    assert_eq!(r.started[0].instance, up.instance.clone().unwrap());
    assert!(
        r.predicted_downtime_ms > 180_000 + 270_000,
        "{}",
        r.predicted_downtime_ms
    );
    assert!(matches!(r.outcome, IncidentOutcome::Recovered { .. }));
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn instance_lost_with_a_task_on_each_of_two_instances_keeps_traffic_up() {
    let r = run(&input(2, 2, &["instance-lost@2m"]));
    assert_eq!(r.predicted_downtime_ms, 0);
    assert_eq!(r.stopped.len(), 1);
    // The static host port: the replacement waits for the new instance.
    assert_eq!(r.started.len(), 1);
    assert!(r.started[0].at_ms >= 300_000, "{:?}", r.started);
    assert!(matches!(r.outcome, IncidentOutcome::Recovered { .. }));
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn slow_start_makes_the_replacement_later() {
    let plain = run(&input(1, 1, &["crash@2m"]));
    let slow = run(&input(1, 1, &["crash@2m", "slow-start=4"]));
    let running = |r: &Incident| {
        r.timeline
            .iter()
            .find(|e| e.kind == "task_running")
            .map(|e| e.at_ms)
            .unwrap()
    };
    // Start takes 5 s; four times as long is 15 s more.
    assert_eq!(running(&slow), running(&plain) + 15_000);
    assert!(slow.predicted_downtime_ms > plain.predicted_downtime_ms);
    insta::assert_snapshot!(slow.render_text());
}

#[test]
fn bad_image_leaves_the_service_down_until_the_rehearsal_ends() {
    let r = run(&input(1, 1, &["crash@2m", "bad-image"]));
    let IncidentOutcome::NotRecovered { reason } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(!reason.is_empty());
    assert!(r.down_at_end);
    assert!(r.started.iter().all(|t| t.in_service_at_ms.is_none()));
    assert!(r
        .timeline
        .iter()
        .any(|e| e.message.contains("CannotPullContainerError")));
    // Bounded: an hour after the last fault.
    assert_eq!(r.duration_ms, 120_000 + 3_600_000);
    insta::assert_snapshot!(r.render_text());
}

#[test]
fn unhealthy_image_replacements_never_take_traffic() {
    let r = run(&input(1, 1, &["crash@2m", "unhealthy-image"]));
    assert!(matches!(r.outcome, IncidentOutcome::NotRecovered { .. }));
    assert!(r.down_at_end);
    assert!(r.started.len() >= 2, "ECS keeps replacing: {:?}", r.started);
    assert!(r.started.iter().all(|t| t.in_service_at_ms.is_none()));
}

#[test]
fn crash_then_instance_lost_for_an_hour() {
    let mut i = input(1, 1, &["crash@2m", "instance-lost@10m"]);
    i.horizon_ms = Some(3_600_000);
    let r = run(&i);
    assert_eq!(r.duration_ms, 3_600_000);
    assert_eq!(r.stopped.len(), 2);
    assert_eq!(r.zero_healthy.len(), 2);
    assert!(matches!(r.outcome, IncidentOutcome::Recovered { .. }));
    insta::assert_snapshot!(r.render_text());
    insta::assert_snapshot!(
        "crash_then_instance_lost_for_an_hour_json",
        serde_json::to_string_pretty(&r.to_json()).unwrap()
    );
    let svg = r.render_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("crash@2m, instance-lost@10m"));
}

#[test]
fn another_seed_can_hit_another_task() {
    let tasks = |seed| {
        let mut i = input(2, 2, &["crash@2m"]);
        i.seed = seed;
        run(&i).stopped[0].instance.clone()
    };
    let hit: std::collections::BTreeSet<String> = (0..8).map(tasks).collect();
    assert_eq!(hit.len(), 2, "{hit:?}");
}

#[test]
fn nothing_timed_or_a_fault_after_the_end_is_refused() {
    let none = input(1, 1, &["slow-start=4"]);
    assert!(matches!(
        rehearse_incident(&none),
        Err(RehearseError::NoTimedFault)
    ));
    let mut late = input(1, 1, &["crash@2m", "instance-lost@2h"]);
    late.horizon_ms = Some(3_600_000);
    let Err(e) = rehearse_incident(&late) else {
        panic!("a fault after the end was accepted")
    };
    assert_eq!(
        e.to_string(),
        "fault `instance-lost@2h` falls after the end of the rehearsal at 1h"
    );
    assert!(matches!(
        e,
        RehearseError::FaultAfterEnd {
            fault: FaultSpec::InstanceLost { at_ms: 7_200_000 },
            end_ms: 3_600_000
        }
    ));
}
