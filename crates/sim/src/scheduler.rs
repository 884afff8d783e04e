//! The service scheduler of the simulator's real-container runtime: given the
//! desired service, the modelled container instances and the tasks as they
//! are, decide which tasks to start (and where) and which to stop, with ECS's
//! rules: at most floor(maximum% x desired) tasks running or pending, at least
//! ceil(minimum% x desired) healthy while old or unhealthy tasks are stopped,
//! static host ports and memory checked at placement.
//!
//! Pure: the controller feeds it observations and carries out its decisions.

use crate::desired::{InstanceDesired, ServiceDesired};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    /// Not (yet) reported healthy: registration in progress, or no load balancer check yet.
    Unknown,
    Healthy,
    /// The load balancer marked it unhealthy after the grace period.
    Unhealthy,
}

/// A task as the controller observes it (stopped tasks are not passed in).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub id: String,
    pub task_definition: String,
    pub instance_id: String,
    /// The modelled host port it holds on its instance (0: dynamic).
    pub host_port: u16,
    pub memory_mib: u32,
    pub cpu: u32,
    pub health: Health,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Start {
        instance_id: String,
    },
    Stop {
        task_id: String,
        reason: String,
    },
    /// ECS's service event when no instance can take a task.
    CannotPlace {
        message: String,
    },
}

/// Where a new task can go: the instance with free host port, memory and CPU
/// that runs the fewest tasks; otherwise the ECS reason.
pub fn place(
    svc: &ServiceDesired,
    instances: &[InstanceDesired],
    tasks: &[TaskView],
    planned: &[String],
) -> Result<String, String> {
    let c = &svc.container;
    let host_port = c.port_mappings.first().map(|p| p.host_port).unwrap_or(0);
    let mut reasons: Vec<(String, &'static str)> = Vec::new();
    let mut best: Option<(usize, &InstanceDesired)> = None;
    for i in instances {
        let on: Vec<&TaskView> = tasks.iter().filter(|t| t.instance_id == i.id).collect();
        let extra = planned.iter().filter(|p| *p == &i.id).count();
        let used_mem: u32 = on.iter().map(|t| t.memory_mib).sum::<u32>() + extra as u32 * c.memory;
        let used_cpu: u32 = on.iter().map(|t| t.cpu).sum::<u32>() + extra as u32 * c.cpu;
        if host_port != 0 && (on.iter().any(|t| t.host_port == host_port) || extra > 0) {
            reasons.push((
                i.id.clone(),
                "is already using a port required by your task",
            ));
            continue;
        }
        if used_mem + c.memory > i.memory_mib {
            reasons.push((i.id.clone(), "has insufficient memory available"));
            continue;
        }
        if used_cpu + c.cpu > i.cpu_units {
            reasons.push((i.id.clone(), "has insufficient CPU units available"));
            continue;
        }
        let n = on.len() + extra;
        if best.is_none_or(|(m, _)| n < m) {
            best = Some((n, i));
        }
    }
    match best {
        Some((_, i)) => Ok(i.id.clone()),
        None => {
            let closest = reasons
                .first()
                .map(|(id, why)| format!(" The closest matching (container-instance {id}) {why}."))
                .unwrap_or_else(|| {
                    " The cluster has no registered container instances.".to_string()
                });
            Err(format!(
                "(service {}) was unable to place a task because no container instance met all of its requirements.{closest} For more information, see the Troubleshooting section.",
                svc.name
            ))
        }
    }
}

/// One reconcile step of the service: what to start and what to stop now.
pub fn decide(
    svc: &ServiceDesired,
    instances: &[InstanceDesired],
    tasks: &[TaskView],
) -> Vec<Decision> {
    let d = svc.desired_count as u64;
    let max_total = (svc.maximum_percent as u64 * d) / 100;
    let min_healthy = (svc.minimum_healthy_percent as u64 * d).div_ceil(100);
    let mut out = Vec::new();
    let mut live: Vec<&TaskView> = tasks.iter().collect();
    let is_new = |t: &TaskView| t.task_definition == svc.task_definition;
    let mut healthy = live.iter().filter(|t| t.health == Health::Healthy).count() as u64;

    // Stop: unhealthy tasks first, then tasks of an old revision, then extra new ones.
    let mut candidates: Vec<(&TaskView, &str)> = Vec::new();
    for t in &live {
        if t.health == Health::Unhealthy {
            candidates.push((t, "Task failed ELB health checks"));
        }
    }
    for t in &live {
        if t.health != Health::Unhealthy && !is_new(t) {
            candidates.push((t, "Task replaced by a new deployment"));
        }
    }
    let news: Vec<&TaskView> = live
        .iter()
        .copied()
        .filter(|t| is_new(t) && t.health != Health::Unhealthy)
        .collect();
    if news.len() as u64 > d {
        let mut extra = news.clone();
        // Keep healthy ones: stop the least healthy first.
        extra.sort_by_key(|t| match t.health {
            Health::Healthy => 1,
            _ => 0,
        });
        for t in extra.into_iter().take(news.len() - d as usize) {
            candidates.push((t, "Service scaled in"));
        }
    }
    let mut stopped: Vec<String> = Vec::new();
    for (t, reason) in candidates {
        if stopped.contains(&t.id) {
            continue;
        }
        // An unhealthy task: if maximum% leaves room, its replacement starts
        // first and it is stopped once the room is used; otherwise it goes now.
        if t.health == Health::Unhealthy && (live.len() as u64) < max_total {
            continue;
        }
        let counts = t.health == Health::Healthy;
        if counts && healthy.saturating_sub(1) < min_healthy {
            continue;
        }
        // Old healthy tasks go only as new ones take over, unless minimum% allows.
        if counts {
            healthy -= 1;
        }
        stopped.push(t.id.clone());
        out.push(Decision::Stop {
            task_id: t.id.clone(),
            reason: reason.to_string(),
        });
    }
    live.retain(|t| !stopped.contains(&t.id));

    // Start: new tasks while below desired and within maximum%.
    let mut total = live.len() as u64;
    let mut new_count = live
        .iter()
        .filter(|t| is_new(t) && t.health != Health::Unhealthy)
        .count() as u64;
    let mut planned: Vec<String> = Vec::new();
    let remaining: Vec<TaskView> = live.iter().map(|t| (*t).clone()).collect();
    while new_count < d && total < max_total {
        match place(svc, instances, &remaining, &planned) {
            Ok(i) => {
                planned.push(i.clone());
                out.push(Decision::Start { instance_id: i });
                total += 1;
                new_count += 1;
            }
            Err(message) => {
                out.push(Decision::CannotPlace { message });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronous_core::resources::{ContainerDefinition, LogConfiguration, PortMapping};
    use std::time::Duration;

    fn svc(d: u32, min: u32, max: u32, td: &str, host_port: u16) -> ServiceDesired {
        ServiceDesired {
            name: "payments_api-service".into(),
            arn: "arn".into(),
            desired_count: d,
            minimum_healthy_percent: min,
            maximum_percent: max,
            grace: Duration::ZERO,
            task_definition: td.into(),
            revision: 1,
            container: ContainerDefinition {
                name: "payments_api".into(),
                image: "img".into(),
                essential: true,
                cpu: 0,
                memory: 128,
                port_mappings: vec![PortMapping {
                    container_port: 80,
                    host_port,
                    protocol: "tcp".into(),
                }],
                environment: Default::default(),
                log_configuration: LogConfiguration {
                    log_driver: "awslogs".into(),
                    options: Default::default(),
                },
            },
            behind_elb: true,
        }
    }
    fn inst(id: &str) -> InstanceDesired {
        InstanceDesired {
            id: id.into(),
            instance_type: "t2.nano".into(),
            memory_mib: 460,
            cpu_units: 1024,
        }
    }
    fn task(id: &str, td: &str, i: &str, health: Health) -> TaskView {
        TaskView {
            id: id.into(),
            task_definition: td.into(),
            instance_id: i.into(),
            host_port: 80,
            memory_mib: 128,
            cpu: 0,
            health,
        }
    }

    #[test]
    fn seed_settings_stop_then_start() {
        let s = svc(1, 0, 100, "td:2", 80);
        let d = decide(
            &s,
            &[inst("i-1")],
            &[task("a", "td:1", "i-1", Health::Healthy)],
        );
        assert_eq!(
            d,
            vec![
                Decision::Stop {
                    task_id: "a".into(),
                    reason: "Task replaced by a new deployment".into()
                },
                Decision::Start {
                    instance_id: "i-1".into()
                }
            ]
        );
    }

    #[test]
    fn min_100_max_200_on_one_instance_with_a_static_port_cannot_place() {
        let s = svc(1, 100, 200, "td:2", 80);
        let d = decide(
            &s,
            &[inst("i-1")],
            &[task("a", "td:1", "i-1", Health::Healthy)],
        );
        assert_eq!(d.len(), 1);
        let Decision::CannotPlace { message } = &d[0] else {
            panic!("{d:?}")
        };
        assert!(
            message.contains("is already using a port required by your task"),
            "{message}"
        );
    }

    #[test]
    fn min_100_max_200_on_two_instances_starts_first_then_stops_old_when_new_is_healthy() {
        let s = svc(1, 100, 200, "td:2", 80);
        let is = [inst("i-1"), inst("i-2")];
        let d = decide(&s, &is, &[task("a", "td:1", "i-1", Health::Healthy)]);
        assert_eq!(
            d,
            vec![Decision::Start {
                instance_id: "i-2".into()
            }]
        );
        let d = decide(
            &s,
            &is,
            &[
                task("a", "td:1", "i-1", Health::Healthy),
                task("b", "td:2", "i-2", Health::Unknown),
            ],
        );
        assert!(d.is_empty(), "{d:?}");
        let d = decide(
            &s,
            &is,
            &[
                task("a", "td:1", "i-1", Health::Healthy),
                task("b", "td:2", "i-2", Health::Healthy),
            ],
        );
        assert_eq!(
            d,
            vec![Decision::Stop {
                task_id: "a".into(),
                reason: "Task replaced by a new deployment".into()
            }]
        );
    }

    #[test]
    fn unhealthy_task_is_replaced_stop_first_when_maximum_leaves_no_room() {
        let s = svc(1, 0, 100, "td:1", 80);
        let d = decide(
            &s,
            &[inst("i-1")],
            &[task("a", "td:1", "i-1", Health::Unhealthy)],
        );
        assert_eq!(
            d,
            vec![
                Decision::Stop {
                    task_id: "a".into(),
                    reason: "Task failed ELB health checks".into()
                },
                Decision::Start {
                    instance_id: "i-1".into()
                }
            ]
        );
    }

    #[test]
    fn missing_tasks_are_started_up_to_desired() {
        let s = svc(2, 0, 100, "td:1", 0);
        let d = decide(&s, &[inst("i-1")], &[]);
        assert_eq!(
            d,
            vec![
                Decision::Start {
                    instance_id: "i-1".into()
                },
                Decision::Start {
                    instance_id: "i-1".into()
                }
            ]
        );
    }
}
