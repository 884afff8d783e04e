//! Whether the service's tasks can ever be placed on the cluster's container
//! instances: a static host port (one task per instance), memory and CPU
//! against what an instance registers with ECS, the number of instances, and
//! the room a deployment needs to start a new task. ECS accepts such a
//! service and then never reaches a steady state, so these are warnings,
//! worded as the service event ECS would record (`core::ecs::PlacementError`).

use super::{sp, Validator};
use crate::ecs::{registered_memory, PlacementError, Unmet};
use crate::env::raw;
use crate::env::{instance_type, Cluster, Service};

/// How many tasks one container instance holds, and the requirement that
/// limits it (in the order ECS checks them: port, memory, CPU).
fn per_instance(s: &Service, memory_mib: u32, cpu_units: u32) -> (u32, Unmet) {
    let by_port = if s.host_port.is_some_and(|p| p != 0) {
        1
    } else {
        u32::MAX
    };
    let by_memory = memory_mib / s.memory_mib.max(1);
    // No CPU reserved (0): CPU does not limit placement.
    let by_cpu = cpu_units.checked_div(s.cpu).unwrap_or(u32::MAX);
    let n = by_port.min(by_memory).min(by_cpu);
    let unmet = if by_port == n {
        Unmet::Port
    } else if by_memory == n {
        Unmet::Memory
    } else {
        Unmet::Cpu
    };
    (n, unmet)
}

/// The event ECS records when the closest instance misses `unmet`.
fn event(service: &str, unmet: Unmet) -> String {
    format!("(service {service}) was unable to place a task because no container instance met all of its requirements. The closest matching container instance {unmet}.")
}

impl Validator {
    pub(super) fn placement(&mut self, r: &raw::File, c: &Cluster, s: &Service) {
        let d = s.desired_count;
        let Some((total_mib, vcpus)) = instance_type(&c.instance_type) else {
            return;
        };
        if d == 0 || s.memory_mib > total_mib || s.cpu > vcpus * 1024 {
            // Nothing to place, or E0802/E0803 said it already.
            return;
        }
        let n = c.instance_count;
        if n == 0 {
            let at = r
                .cluster
                .instance_count
                .as_ref()
                .map(sp)
                .unwrap_or(sp(&r.cluster.name));
            self.warn(
                "W0810",
                format!(
                    "no task of the service can ever run: the cluster has no container instance, and ECS will report `{}`",
                    PlacementError::NoInstances { service: s.name.clone() }
                ),
                at,
                format!("0 instances for desired_count {d}"),
                "set cluster.instance_count to at least 1, or service.desired_count = 0 to keep the service without tasks",
            );
            return;
        }
        let memory = registered_memory(total_mib);
        let (per, unmet) = per_instance(s, memory, vcpus * 1024);
        let svc = &r.service;
        if per == 0 {
            // Fits the instance type, not what the instance registers with ECS.
            self.warn(
                "W0811",
                format!(
                    "no task of the service can ever run: a {} registers {memory} MiB with ECS (the agent and the OS keep the rest), less than the task's {} MiB, and ECS will report `{}`",
                    c.instance_type, s.memory_mib, event(&s.name, Unmet::Memory)
                ),
                sp(&svc.memory),
                format!("more than the {memory} MiB a {} registers", c.instance_type),
                format!("lower service.memory to at most {memory}, or choose a larger cluster.instance_type"),
            );
            return;
        }
        let capacity = per.saturating_mul(n);
        if d > capacity {
            let needed = d.div_ceil(per);
            self.warn(
                "W0812",
                format!(
                    "ECS can place only {capacity} of the {d} desired tasks on {n} {} instance(s), and will report `{}`",
                    c.instance_type, event(&s.name, unmet)
                ),
                sp(&svc.desired_count),
                format!("{per} task(s) per instance: {}", limit(unmet, s, memory)),
                cure(unmet, needed, memory),
            );
            return;
        }
        self.deployment_room(r, s, capacity, per, unmet, memory);
    }

    /// A deployment starts a new task before it stops an old one when
    /// minimum_healthy_percent keeps every old task: that new task needs room.
    fn deployment_room(
        &mut self,
        r: &raw::File,
        s: &Service,
        capacity: u32,
        per: u32,
        unmet: Unmet,
        memory: u32,
    ) {
        let d = s.desired_count;
        let max_tasks = (s.maximum_percent as u64 * d as u64 / 100) as u32;
        let min_healthy = (s.minimum_healthy_percent as u64 * d as u64).div_ceil(100) as u32;
        // Neither start nor stop is E0806's, reported with the percentages.
        if min_healthy < d || max_tasks <= d || capacity > d {
            return;
        }
        let stop_min = ((d - 1) * 100) / d;
        let needed = (d + 1).div_ceil(per);
        self.warn(
            "W0813",
            format!(
                "a deployment can never finish: minimum_healthy_percent {}% keeps all {d} old tasks running, and the new task has no room ({d} task(s) fill the {capacity} place(s)); ECS will report `{}`",
                s.minimum_healthy_percent,
                event(&s.name, unmet)
            ),
            sp(&r.service.minimum_healthy_percent),
            format!("{per} task(s) per instance: {}", limit(unmet, s, memory)),
            format!(
                "set minimum_healthy_percent = {stop_min} (stop an old task first), or {}",
                cure(unmet, needed, memory)
            ),
        );
    }
}

/// What limits the tasks on one instance.
fn limit(unmet: Unmet, s: &Service, memory: u32) -> String {
    match unmet {
        Unmet::Port => format!("host port {} is static", s.host_port.unwrap_or(0)),
        Unmet::Memory => format!("{} MiB each of {memory} MiB", s.memory_mib),
        Unmet::Cpu => format!("{} CPU units each", s.cpu),
    }
}

/// How to make room for `needed` instances' worth of tasks.
fn cure(unmet: Unmet, needed: u32, memory: u32) -> String {
    match unmet {
        Unmet::Port => format!(
            "raise cluster.instance_count to {needed}, or remove service.host_port (a dynamic host port lets tasks share an instance)"
        ),
        Unmet::Memory => format!(
            "raise cluster.instance_count to {needed}, lower service.memory (an instance registers {memory} MiB), or choose a larger cluster.instance_type"
        ),
        Unmet::Cpu => format!(
            "raise cluster.instance_count to {needed}, lower service.cpu, or choose a larger cluster.instance_type"
        ),
    }
}
