//! Property tests of the ECS scheduler on the modelled runtime.
//!
//! Cases come from proptest with a ChaCha generator seeded by
//! `CHRONOUS_PROP_SEED` (default 20240601); every failure prints the seed and
//! the case, so `CHRONOUS_PROP_SEED=N cargo test -p chronous-rehearse --test rehearse_props`
//! replays it. `CHRONOUS_PROP_CASES` sets the number of cases (default 96).

use chronous_core::ecs::registered_memory;
use chronous_core::ecs::{
    ContainerInstance, Millis, RolloutState, ServiceConfig, TaskDefinition, TaskStatus,
};
use chronous_core::env::instance_type;
use chronous_rehearse::model::{ElbModel, Fault, FaultKind, Model, ModelConfig, Timings};
use chronous_rehearse::rehearse::{rehearse_deploy, FaultSpec, Outcome, RehearseInput};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

#[derive(Debug, Clone)]
struct Case {
    desired: u32,
    min: u32,
    max: u32,
    instances: u32,
    itype: &'static str,
    static_port: bool,
    memory: u32,
    cpu: u32,
    seed: u64,
    faults: Vec<FaultSpec>,
}

fn case() -> impl Strategy<Value = Case> {
    let fault = prop_oneof![
        (0u64..1_800).prop_map(|s| FaultSpec::Crash { at_ms: s * 1000 }),
        (0u64..1_800, 30u64..600).prop_map(|(s, d)| FaultSpec::FailingHealthChecks {
            at_ms: s * 1000,
            duration_ms: d * 1000
        }),
        (0u64..1_800).prop_map(|s| FaultSpec::InstanceLost { at_ms: s * 1000 }),
        Just(FaultSpec::BadImage),
        Just(FaultSpec::UnhealthyImage),
        (2u32..6).prop_map(|f| FaultSpec::SlowStart { factor: f }),
    ];
    (
        1u32..=10,
        0u32..=100,
        100u32..=200,
        1u32..=4,
        prop_oneof![Just("t2.nano"), Just("t2.micro"), Just("t3.small")],
        any::<bool>(),
        prop_oneof![Just(64u32), Just(128), Just(256), Just(400)],
        prop_oneof![Just(0u32), Just(256), Just(512)],
        any::<u64>(),
        prop::collection::vec(fault, 0..4),
    )
        .prop_map(
            |(desired, min, max, instances, itype, static_port, memory, cpu, seed, faults)| Case {
                desired,
                min,
                max,
                instances,
                itype,
                static_port,
                memory,
                cpu,
                seed,
                faults,
            },
        )
}

fn input(c: &Case, faults: bool) -> RehearseInput {
    let (mem, vcpu) = instance_type(c.itype).unwrap();
    let td = TaskDefinition {
        arn: "chronous-payment:1".into(),
        image: "chronous-payments-web-api:1.0".into(),
        memory_mib: c.memory,
        cpu: c.cpu,
        container_port: 80,
        host_port: if c.static_port { 80 } else { 0 },
        essential: true,
    };
    RehearseInput {
        service: ServiceConfig {
            name: "payments_api-service".into(),
            cluster: "cak-cluster-1".into(),
            desired_count: c.desired,
            minimum_healthy_percent: c.min,
            maximum_percent: c.max,
            health_check_grace_ms: 0,
            load_balancer: Some("cak-payments-elb".into()),
            circuit_breaker: None,
        },
        next: TaskDefinition {
            arn: "chronous-payment:2".into(),
            image: "chronous-payments-web-api:1.1".into(),
            ..td.clone()
        },
        current: td,
        instance_type: c.itype.into(),
        instances: (0..c.instances)
            .map(|i| ContainerInstance {
                id: format!("i-{i:017x}"),
                memory_mib: registered_memory(mem),
                cpu_units: vcpu * 1024,
            })
            .collect(),
        elb: Some(ElbModel {
            name: "cak-payments-elb".into(),
            interval_ms: 30_000,
            timeout_ms: 5_000,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        }),
        timings: Timings::default(),
        seed: c.seed,
        faults: if faults { c.faults.clone() } else { vec![] },
        horizon_ms: 8 * 3_600_000,
    }
}

/// Drive the model step by step and check the invariants after every step.
fn check_invariants(c: &Case) -> Result<(), TestCaseError> {
    let i = input(c, true);
    let cfg = ModelConfig {
        service: i.service.clone(),
        instances: i.instances.clone(),
        elb: i.elb.clone(),
        timings: i.timings.clone(),
        replace_lost_instances: true,
    };
    let max_tasks = (c.max * c.desired) / 100;
    let min_healthy = (c.min * c.desired).div_ceil(100);
    let mut m = Model::new(cfg, i.current.clone(), c.seed).unwrap();
    let t0: Millis = 3_600_000;
    m.schedule_deploy(t0, i.next.clone());
    for f in &c.faults {
        let (at, kind) = match f {
            FaultSpec::Crash { at_ms } => (*at_ms, FaultKind::TaskCrash { exit_code: 137 }),
            FaultSpec::FailingHealthChecks { at_ms, duration_ms } => (
                *at_ms,
                FaultKind::FailingHealthChecks {
                    duration_ms: *duration_ms,
                },
            ),
            FaultSpec::InstanceLost { at_ms } => (*at_ms, FaultKind::InstanceLost),
            FaultSpec::BadImage => {
                m.set_behaviour(
                    &i.next.arn,
                    chronous_rehearse::model::Behaviour::CannotStart,
                );
                continue;
            }
            FaultSpec::UnhealthyImage => {
                m.set_behaviour(
                    &i.next.arn,
                    chronous_rehearse::model::Behaviour::FailsHealthCheck,
                );
                continue;
            }
            FaultSpec::SlowStart { factor } => {
                m.set_behaviour(
                    &i.next.arn,
                    chronous_rehearse::model::Behaviour::SlowStart { factor: *factor },
                );
                continue;
            }
        };
        m.inject(Fault {
            at_ms: t0 + at,
            kind,
        });
    }
    let mut healthy = m.service().counts().healthy;
    while let Some(step) = m.step().unwrap() {
        if step.at_ms > t0 + 3 * 3_600_000 {
            break;
        }
        let counts = m.service().counts();
        prop_assert!(
            counts.active <= max_tasks,
            "{} tasks RUNNING or PENDING at {} ms, more than floor({}% x {}) = {}",
            counts.active,
            step.at_ms,
            c.max,
            c.desired,
            max_tasks
        );
        if !step.fault && counts.healthy < healthy {
            prop_assert!(
                counts.healthy >= min_healthy,
                "healthy tasks dropped from {} to {} at {} ms without a fault, below ceil({}% x {}) = {}",
                healthy, counts.healthy, step.at_ms, c.min, c.desired, min_healthy
            );
        }
        healthy = counts.healthy;
    }
    Ok(())
}

fn no_faults_completes_or_says_why(c: &Case) -> Result<(), TestCaseError> {
    let i = input(c, false);
    let r = rehearse_deploy(&i).unwrap();
    match &r.outcome {
        Outcome::Completed => {
            // Every task of the service is on the new revision.
            let last = r.lanes.iter().filter(|l| {
                l.segments
                    .last()
                    .is_some_and(|s| s.1 == r.duration_ms && s.2 != "stopping")
            });
            for l in last {
                prop_assert_eq!(&l.task_definition, "chronous-payment:2", "{:?}", l);
            }
        }
        Outcome::Stuck { reason } => {
            prop_assert!(
                reason.contains("was unable to place a task because no container instance met all of its requirements")
                    || reason.contains("was unable to stop or start tasks during a deployment because of the service deployment configuration"),
                "stuck without an ECS reason: {reason}"
            );
        }
        Outcome::Failed { reason, .. } => {
            prop_assert!(false, "failed without faults: {reason}");
        }
    }
    Ok(())
}

fn same_seed_same_timeline(c: &Case) -> Result<(), TestCaseError> {
    let mut i = input(c, true);
    i.horizon_ms = 3_600_000;
    let a = serde_json::to_string(&rehearse_deploy(&i).unwrap()).unwrap();
    let b = serde_json::to_string(&rehearse_deploy(&i).unwrap()).unwrap();
    prop_assert_eq!(a, b);
    Ok(())
}

fn run(name: &str, f: fn(&Case) -> Result<(), TestCaseError>) {
    let seed: u64 = std::env::var("CHRONOUS_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20240601);
    let cases: u32 = std::env::var("CHRONOUS_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    if let Err(e) = runner.run(&case(), |c| f(&c)) {
        panic!("{name}: {e}\nreproduce with CHRONOUS_PROP_SEED={seed}");
    }
}

#[test]
fn running_plus_pending_within_maximum_and_healthy_within_minimum() {
    run("invariants", check_invariants);
}

#[test]
fn without_faults_a_deployment_completes_on_the_new_revision_or_says_why() {
    run("no faults", no_faults_completes_or_says_why);
}

#[test]
fn the_same_seed_gives_the_same_timeline() {
    run("determinism", same_seed_same_timeline);
}

#[test]
fn thirty_days_with_random_faults_is_deterministic() {
    // The swarm: fault rates from the seed, a deploy every hour, twice.
    let c = Case {
        desired: 2,
        min: 50,
        max: 200,
        instances: 2,
        itype: "t2.nano",
        static_port: true,
        memory: 128,
        cpu: 0,
        seed: 7,
        faults: vec![],
    };
    let log = || {
        let i = input(&c, false);
        let cfg = ModelConfig {
            service: i.service.clone(),
            instances: i.instances.clone(),
            elb: i.elb.clone(),
            timings: i.timings.clone(),
            replace_lost_instances: true,
        };
        let mut m = Model::new(cfg, i.current.clone(), c.seed).unwrap();
        let rates = chronous_rehearse::model::FaultRates {
            crash_per_day: 2.0,
            failing_health_per_day: 2.0,
            instance_lost_per_day: 0.5,
        };
        let faults = rates.generate(m.rng(), 0, 3 * 86_400_000);
        for f in faults {
            m.inject(f);
        }
        for h in 1..72u64 {
            let mut td = i.current.clone();
            td.arn = format!("chronous-payment:{}", h + 1);
            m.schedule_deploy(h * 3_600_000, td);
        }
        m.run_until(3 * 86_400_000).unwrap();
        let live = m
            .service()
            .tasks()
            .filter(|t| t.last_status != TaskStatus::Stopped)
            .count();
        assert!(live > 0);
        assert_ne!(m.service().primary().rollout_state, RolloutState::Failed);
        chronous_rehearse::model::log_lines(m.log())
    };
    let a = log();
    let b = log();
    assert!(a.len() > 1000, "{}", a.len());
    assert_eq!(a, b);
}
