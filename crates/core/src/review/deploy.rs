//! The one decision about deployment settings that `check` (lint
//! CHR-DEP-001) and `rehearse deploy` (its suggestion) share, so they cannot
//! disagree: whether every rolling deployment of the service has a moment
//! with no healthy task behind the load balancer, and the settings that avoid it.

/// ceil(minimumHealthyPercent × desired / 100): the healthy tasks ECS keeps
/// during a deployment (as `ecs::ServiceConfig::min_healthy`).
fn kept_healthy(desired: u32, minimum_healthy_percent: u32) -> u32 {
    (minimum_healthy_percent as u64 * desired as u64).div_ceil(100) as u32
}

/// Whether every deployment has downtime: with minimumHealthyPercent keeping
/// no healthy task, ECS stops the old tasks before a new one is healthy
/// (InService only after healthy_threshold passing checks), whatever
/// maximumPercent and the spare capacity are.
pub fn guaranteed_downtime(desired: u32, minimum_healthy_percent: u32) -> bool {
    desired > 0 && kept_healthy(desired, minimum_healthy_percent) == 0
}

/// How many healthy tasks a deployment keeps, for messages.
pub fn healthy_kept(desired: u32, minimum_healthy_percent: u32) -> u32 {
    kept_healthy(desired, minimum_healthy_percent)
}

/// The settings that avoid the outage: minimum 100 / maximum 200 (a new task
/// starts before an old one stops) and, with a static host port, a free
/// container instance for it. `instances`: the cluster's instance count now.
pub fn zero_downtime_settings(desired: u32, static_host_port: bool, instances: u32) -> String {
    if static_host_port {
        let need = (desired + 1).max(instances);
        format!(
            "minimum 100 / maximum 200 on {} avoids the outage (service.minimum_healthy_percent = 100, service.maximum_percent = 200, cluster.instance_count = {need}): a new task starts on a free instance and the old one stops once the new one is InService",
            match need {
                1 => "one instance".to_string(),
                2 => "two instances".to_string(),
                k => format!("{k} instances"),
            }
        )
    } else {
        "minimum 100 / maximum 200 avoids the outage (service.minimum_healthy_percent = 100, service.maximum_percent = 200): new tasks start before old ones stop".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_only_when_no_healthy_task_is_kept() {
        // (desired, minimum %, expected)
        let table = [
            (1, 0, true),
            (1, 1, false),
            (1, 50, false),
            (2, 0, true),
            (2, 49, false),
            (4, 24, false),
            (100, 0, true),
            (100, 1, false),
            (0, 0, false),
        ];
        for (d, min, want) in table {
            assert_eq!(guaranteed_downtime(d, min), want, "desired {d}, min {min}");
        }
    }
}
