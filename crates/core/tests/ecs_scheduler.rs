//! The pure ECS service scheduler, driven by hand: rounding, placement,
//! start-first / stop-first replacement, grace period, essential exits, the
//! circuit breaker, and the wording of service events.

use chronous_core::ecs::{
    circuit_breaker_threshold, AdoptedTask, CircuitBreaker, Command, ContainerInstance, EventKind,
    Observation, Output, RolloutState, Service, ServiceConfig, TaskDefinition, TaskStatus,
};

fn cfg(d: u32, min: u32, max: u32) -> ServiceConfig {
    ServiceConfig {
        name: "svc".into(),
        cluster: "c".into(),
        desired_count: d,
        minimum_healthy_percent: min,
        maximum_percent: max,
        health_check_grace_ms: 0,
        load_balancer: Some("elb".into()),
        circuit_breaker: None,
    }
}
fn td(rev: u32, host_port: u16) -> TaskDefinition {
    TaskDefinition {
        arn: format!("fam:{rev}"),
        image: format!("img:{rev}"),
        memory_mib: 128,
        cpu: 0,
        container_port: 80,
        host_port,
        essential: true,
    }
}
fn inst(n: u32) -> Vec<ContainerInstance> {
    (1..=n)
        .map(|i| ContainerInstance {
            id: format!("i-{i}"),
            memory_mib: 460,
            cpu_units: 1024,
        })
        .collect()
}
fn started(o: &Output) -> Vec<String> {
    o.commands
        .iter()
        .filter_map(|c| match c {
            Command::StartTask { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}
fn stopped(o: &Output) -> Vec<String> {
    o.commands
        .iter()
        .filter_map(|c| match c {
            Command::StopTask { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}
/// Take a started task to RUNNING and InService.
fn up(s: &mut Service, t: &str, now: u64) -> Output {
    s.observe(now, Observation::TaskPending { task: t.into() })
        .unwrap();
    s.observe(now, Observation::TaskRunning { task: t.into() })
        .unwrap();
    s.observe(
        now,
        Observation::TaskHealth {
            task: t.into(),
            healthy: true,
        },
    )
    .unwrap()
}
fn steady(c: ServiceConfig, n: u32, port: u16) -> (Service, Vec<String>) {
    let (mut s, o) = Service::create(c, td(1, port), inst(n), 1, 0).unwrap();
    let ts = started(&o);
    for t in &ts {
        up(&mut s, t, 1_000);
    }
    assert_eq!(s.primary().rollout_state, RolloutState::Completed);
    (s, ts)
}

#[test]
fn rounding_min_up_max_down_and_threshold() {
    let c = cfg(3, 50, 150);
    assert_eq!(c.min_healthy(), 2); // ceil(1.5)
    assert_eq!(c.max_tasks(), 4); // floor(4.5)
    assert!(!cfg(1, 100, 100).can_replace());
    assert!(cfg(1, 0, 100).can_replace());
    assert_eq!(circuit_breaker_threshold(1), 3);
    assert_eq!(circuit_breaker_threshold(9), 5);
    assert_eq!(circuit_breaker_threshold(1000), 200);
}

#[test]
fn create_reaches_steady_state_with_ecs_wording() {
    let (mut s, o) = Service::create(cfg(1, 0, 100), td(1, 80), inst(1), 1, 0).unwrap();
    let t = started(&o)[0].clone();
    assert_eq!(
        o.events[0].message,
        format!("(service svc) has started 1 tasks: (task {t}).")
    );
    let o = up(&mut s, &t, 1_000);
    let msgs: Vec<&str> = o.events.iter().map(|e| e.message.as_str()).collect();
    assert!(
        msgs[0].starts_with("(service svc) (deployment ecs-svc/")
            && msgs[0].ends_with(") deployment completed."),
        "{msgs:?}"
    );
    assert_eq!(msgs[1], "(service svc) has reached a steady state.");
}

#[test]
fn min_0_max_100_stops_then_starts_after_the_port_is_free() {
    let (mut s, old) = steady(cfg(1, 0, 100), 1, 80);
    let o = s.update(10_000, td(2, 80));
    assert_eq!(stopped(&o), old);
    assert!(
        started(&o).is_empty(),
        "the port is held until the old task is STOPPED"
    );
    assert!(!o.events.iter().any(|e| e.kind == EventKind::UnableToPlace));
    assert_eq!(
        o.events
            .iter()
            .find(|e| e.kind == EventKind::Stopped)
            .unwrap()
            .message,
        format!(
            "(service svc) has stopped 1 running tasks: (task {}).",
            old[0]
        )
    );
    let o = s
        .observe(
            12_000,
            Observation::TaskStopped {
                task: old[0].clone(),
            },
        )
        .unwrap();
    assert_eq!(started(&o).len(), 1);
}

#[test]
fn min_100_max_200_one_instance_static_port_cannot_place() {
    let (mut s, _) = steady(cfg(1, 100, 200), 1, 80);
    let o = s.update(10_000, td(2, 80));
    assert!(o.commands.is_empty(), "{o:?}");
    let e = o
        .events
        .iter()
        .find(|e| e.kind == EventKind::UnableToPlace)
        .unwrap();
    assert_eq!(e.message, "(service svc) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance i-1) is already using a port required by your task. For more information, see the Troubleshooting section.");
}

#[test]
fn dynamic_ports_place_beside_and_memory_is_checked() {
    let (mut s, _) = steady(cfg(1, 100, 200), 1, 0);
    let o = s.update(10_000, td(2, 0));
    assert_eq!(started(&o).len(), 1);
    let mut big = td(3, 0);
    big.memory_mib = 400;
    let o = s.update(20_000, big);
    assert!(
        o.events
            .iter()
            .any(|e| e.message.contains("has insufficient memory available")),
        "{o:?}"
    );
}

#[test]
fn unhealthy_task_start_first_when_room_else_stop_first() {
    // Room (max 200): the replacement starts, the unhealthy task stays until it is healthy.
    let (mut s, old) = steady(cfg(1, 100, 200), 2, 80);
    let o = s
        .observe(
            5_000,
            Observation::TaskHealth {
                task: old[0].clone(),
                healthy: false,
            },
        )
        .unwrap();
    assert!(stopped(&o).is_empty());
    let new = started(&o);
    assert_eq!(new.len(), 1);
    assert!(o.events[0].message.contains("(port 80) is unhealthy in (elb elb) due to (reason Instance has failed at least the UnhealthyThreshold number of health checks consecutively.)"));
    s.observe(
        9_000,
        Observation::TaskPending {
            task: new[0].clone(),
        },
    )
    .unwrap();
    let o = s
        .observe(
            9_000,
            Observation::TaskRunning {
                task: new[0].clone(),
            },
        )
        .unwrap();
    assert!(
        stopped(&o).is_empty(),
        "kept until the replacement is healthy"
    );
    let o = s
        .observe(
            9_000,
            Observation::TaskHealth {
                task: new[0].clone(),
                healthy: true,
            },
        )
        .unwrap();
    assert_eq!(stopped(&o), old);
    // No room (max 100): stop first.
    let (mut s, old) = steady(cfg(1, 0, 100), 1, 80);
    let o = s
        .observe(
            5_000,
            Observation::TaskHealth {
                task: old[0].clone(),
                healthy: false,
            },
        )
        .unwrap();
    assert_eq!(stopped(&o), old);
}

#[test]
fn grace_period_defers_unhealthy_reports() {
    let mut c = cfg(1, 0, 100);
    c.health_check_grace_ms = 60_000;
    let (mut s, o) = Service::create(c, td(1, 80), inst(1), 1, 0).unwrap();
    let t = started(&o)[0].clone();
    s.observe(1_000, Observation::TaskPending { task: t.clone() })
        .unwrap();
    s.observe(1_000, Observation::TaskRunning { task: t.clone() })
        .unwrap();
    let o = s
        .observe(
            30_000,
            Observation::TaskHealth {
                task: t.clone(),
                healthy: false,
            },
        )
        .unwrap();
    assert!(o.commands.is_empty());
    assert_eq!(s.next_wakeup(30_000), Some(61_000));
    let o = s.tick(61_000);
    assert_eq!(stopped(&o), vec![t]);
}

#[test]
fn essential_exit_is_replaced_and_lost_instances_stop_their_tasks() {
    let (mut s, old) = steady(cfg(1, 0, 100), 2, 80);
    let o = s
        .observe(
            5_000,
            Observation::TaskExited {
                task: old[0].clone(),
                exit_code: 137,
                essential: true,
            },
        )
        .unwrap();
    assert_eq!(
        s.task(&old[0]).unwrap().stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    assert_eq!(started(&o).len(), 1);
    let new = started(&o)[0].clone();
    let inst = s.task(&new).unwrap().instance.clone();
    let o = s
        .observe(
            6_000,
            Observation::InstanceLost {
                instance: inst.clone(),
            },
        )
        .unwrap();
    assert_eq!(s.task(&new).unwrap().last_status, TaskStatus::Stopped);
    assert_eq!(
        s.task(&new).unwrap().stopped_reason.clone().unwrap(),
        format!("Host EC2 (instance {inst}) terminated.")
    );
    assert_eq!(started(&o).len(), 1);
}

#[test]
fn circuit_breaker_stage_1_fails_and_rolls_back() {
    let mut c = cfg(1, 0, 100);
    c.circuit_breaker = Some(CircuitBreaker { rollback: true });
    let (mut s, old) = steady(c, 1, 80);
    let first = s.primary().id.clone();
    let mut all = s.update(10_000, td(2, 80)).events;
    s.observe(
        12_000,
        Observation::TaskStopped {
            task: old[0].clone(),
        },
    )
    .unwrap();
    let mut now = 12_000;
    for _ in 0..3 {
        let t = s
            .tasks()
            .find(|t| t.task_definition == "fam:2" && t.last_status.is_active())
            .map(|t| t.id.clone());
        let Some(t) = t else {
            now = s.next_wakeup(now).unwrap();
            all.extend(s.tick(now).events);
            continue;
        };
        let o = s
            .observe(
                now,
                Observation::TaskFailedToStart {
                    task: t,
                    reason: "CannotPullContainerError".into(),
                },
            )
            .unwrap();
        all.extend(o.events.clone());
        if let Some(w) = s.next_wakeup(now) {
            now = w;
            all.extend(s.tick(now).events);
        }
    }
    let failed = all
        .iter()
        .find(|e| e.kind == EventKind::DeploymentFailed)
        .expect("failed");
    assert!(
        failed
            .message
            .ends_with("deployment failed: tasks failed to start."),
        "{}",
        failed.message
    );
    let rb = all
        .iter()
        .find(|e| e.kind == EventKind::RollingBack)
        .expect("rollback");
    assert!(rb.message.contains("with task definition fam:1"));
    assert_eq!(s.primary().task_definition, "fam:1");
    assert_ne!(s.primary().id, first);
    assert!(s.primary().rollback_of.is_some());
}

#[test]
fn impossible_percentages_are_reported() {
    let (mut s, _) = steady(cfg(1, 100, 100), 1, 80);
    let o = s.update(10_000, td(2, 80));
    assert!(o.events.iter().any(|e| e.message == "(service svc) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."));
    assert!(Service::create(cfg(1, 0, 250), td(1, 80), inst(1), 1, 0).is_err());
}

fn adopted(id: &str, rev: u32, instance: &str, port: u16, healthy: bool) -> AdoptedTask {
    AdoptedTask {
        id: id.into(),
        task_definition: format!("fam:{rev}"),
        instance: instance.into(),
        host_port: port,
        memory_mib: 128,
        cpu: 0,
        running_since: 5_000,
        healthy,
    }
}

#[test]
fn adopting_running_tasks_starts_nothing_and_registers_them_again() {
    let (mut s, o) = Service::adopt(
        cfg(2, 50, 200),
        vec![td(1, 80)],
        inst(2),
        vec![
            adopted("a", 1, "i-1", 80, false),
            adopted("b", 1, "i-2", 80, false),
        ],
        7,
        60_000,
    )
    .unwrap();
    assert!(started(&o).is_empty() && stopped(&o).is_empty(), "{o:?}");
    let registered: Vec<&str> = o
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::RegisterTarget { task, .. } => Some(task.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(registered, ["a", "b"]);
    assert_eq!(s.primary().rollout_state, RolloutState::Completed);
    assert_eq!(s.task("a").unwrap().running_at, Some(5_000));
    // Health is unknown until the load balancer says so again.
    assert_eq!(s.counts().healthy, 0);
    for t in ["a", "b"] {
        s.observe(
            61_000,
            Observation::TaskHealth {
                task: t.into(),
                healthy: true,
            },
        )
        .unwrap();
    }
    assert_eq!(s.counts().healthy, 2);
    // The ports the adopted tasks hold are taken: a third task cannot be placed.
    let o = s
        .update_config(62_000, cfg(3, 50, 200))
        .expect("valid percentages");
    assert!(started(&o).is_empty(), "{o:?}");
    assert!(
        o.events.iter().any(|e| e.kind == EventKind::UnableToPlace
            && e.message
                .contains("is already using a port required by your task")),
        "{:?}",
        o.events
    );
}

#[test]
fn adopting_in_the_middle_of_a_rollout_carries_it_on() {
    let (mut s, o) = Service::adopt(
        cfg(1, 100, 200),
        vec![td(2, 0), td(1, 0)],
        inst(1),
        vec![adopted("old", 1, "i-1", 0, true)],
        7,
        60_000,
    )
    .unwrap();
    assert_eq!(s.deployments().len(), 2);
    assert_eq!(s.primary().task_definition, "fam:2");
    assert_eq!(s.primary().rollout_state, RolloutState::InProgress);
    let new = started(&o);
    assert_eq!(new.len(), 1, "the new revision's task starts: {o:?}");
    // The old task is healthy; it goes only once the new one is.
    s.observe(
        60_500,
        Observation::TaskHealth {
            task: "old".into(),
            healthy: true,
        },
    )
    .unwrap();
    let o = up(&mut s, &new[0], 61_000);
    assert_eq!(stopped(&o), ["old"]);
    s.observe(62_000, Observation::TaskStopped { task: "old".into() })
        .unwrap();
    assert_eq!(s.primary().rollout_state, RolloutState::Completed);
    assert_eq!(s.deployments().len(), 1);
}

#[test]
fn update_config_scales_without_a_new_deployment() {
    let (mut s, _) = steady(cfg(1, 0, 100), 2, 0);
    let first = s.primary().id.clone();
    let o = s.update_config(10_000, cfg(3, 0, 100)).unwrap();
    assert_eq!(started(&o).len(), 2, "{o:?}");
    assert_eq!(s.primary().id, first);
    let o = s.update_config(20_000, cfg(1, 0, 100)).unwrap();
    assert_eq!(stopped(&o).len(), 2, "{o:?}");
    assert!(matches!(
        s.update_config(30_000, cfg(1, 0, 300)),
        Err(chronous_core::ecs::EcsError::InvalidPercentages { .. })
    ));
    assert_eq!(s.config().maximum_percent, 100);
}

/// UpdateService with forceNewDeployment and the revision the service already
/// runs (a mutable tag pushed again): a new PRIMARY deployment that replaces
/// every task under the deployment settings, as a new revision would, and
/// completes once the new tasks are healthy.
#[test]
fn a_forced_new_deployment_of_the_same_revision_replaces_every_task() {
    let (mut s, old) = steady(cfg(2, 50, 200), 2, 0);
    let first = s.primary().id.clone();
    let o = s.update(10_000, td(1, 0));
    assert_ne!(s.primary().id, first, "a new deployment");
    assert_eq!(s.primary().rollout_state, RolloutState::InProgress);
    assert_eq!(s.primary().task_definition, "fam:1");
    assert_eq!(s.deployments().len(), 2, "{:?}", s.deployments());
    let new = started(&o);
    assert_eq!(new.len(), 2, "start-first with maximum 200%: {o:?}");
    assert!(new.iter().all(|t| !old.contains(t)));
    // The old tasks are stopped as far as minimumHealthyPercent allows, the
    // rest once the new ones are healthy.
    let mut stops = stopped(&o);
    assert_eq!(stops.len(), 1, "50 % of 2 may stop at once: {o:?}");
    for t in &new {
        stops.extend(stopped(&up(&mut s, t, 20_000)));
    }
    let mut now = 21_000;
    while stops.len() < old.len() && now < 60_000 {
        stops.extend(stopped(&s.tick(now)));
        now += 1_000;
    }
    let mut stops_sorted = stops.clone();
    stops_sorted.sort();
    let mut old_sorted = old.clone();
    old_sorted.sort();
    assert_eq!(stops_sorted, old_sorted, "every old task is stopped");
    for t in &old {
        s.observe(now, Observation::TaskStopped { task: t.clone() })
            .unwrap();
    }
    s.tick(now + 1_000);
    assert_eq!(s.primary().rollout_state, RolloutState::Completed);
    assert_eq!(s.deployments().len(), 1);
    assert_eq!(s.primary().task_definition, "fam:1");
    // The same again through the named call.
    let o = s.force_new_deployment(30_000);
    assert_eq!(started(&o).len(), 2);
}
