//! The `[service]` section: the ECS service and its task definition (image,
//! ports, memory and CPU that must fit the cluster's instance type, desired
//! count, the deployment percentages ECS accepts and can deploy with, grace
//! period, and no password in the task's environment).

use super::{sp, Validator};
use crate::env::raw;
use crate::env::{instance_type, Service};
use crate::review::secrets::is_password_name;

impl Validator {
    pub(super) fn service(&mut self, r: &raw::File) -> Service {
        let s = &r.service;
        if !r.images.keys().any(|k| k.get_ref() == s.image.get_ref()) {
            let names: Vec<&str> = r.images.keys().map(|k| k.get_ref().as_str()).collect();
            self.err(
                "E0801",
                format!("unknown image `{}`", s.image.get_ref()),
                sp(&s.image),
                "no such image",
                if names.is_empty() {
                    format!(
                        "define it as [images.{}] with repository and tag",
                        s.image.get_ref()
                    )
                } else {
                    format!(
                        "define [images.{}] or use one of: {}",
                        s.image.get_ref(),
                        names.join(", ")
                    )
                },
            );
        }
        let container_port = self.port("container_port", &s.container_port);
        let host_port = s.host_port.as_ref().map(|p| self.port("host_port", p));
        let memory_mib = self.positive(
            "service.memory",
            &s.memory,
            4,
            1_000_000,
            "task memory is in MiB, at least 4",
        );
        let cpu = match &s.cpu {
            Some(v) => self.positive("service.cpu", v, 0, 10240, "cpu units: 1024 per vCPU"),
            None => 0,
        };
        self.fits_instance(s, &r.cluster, memory_mib, cpu);
        let desired = self.positive(
            "service.desired_count",
            &s.desired_count,
            0,
            1000,
            "desired_count is 0 to 1000",
        );
        let (min, max) = self.percentages(s, desired);
        let health_check_grace_period = match &s.health_check_grace_period {
            Some(v) => self.positive(
                "health_check_grace_period",
                v,
                0,
                2_147_483_647,
                "seconds, 0 or more",
            ),
            None => 0,
        };
        self.no_password_in_environment(s);
        Service {
            name: self.name("service name", &s.name),
            task_family: self.name("task family", &s.task_family),
            container_name: self.name("container name", &s.container_name),
            image: s.image.get_ref().clone(),
            container_port,
            host_port,
            memory_mib,
            cpu,
            essential: s.essential,
            desired_count: desired,
            minimum_healthy_percent: min.clamp(0, 100) as u32,
            maximum_percent: max.clamp(0, 200) as u32,
            health_check_grace_period,
            circuit_breaker_enable: s.circuit_breaker.as_ref().is_some_and(|c| c.enable),
            circuit_breaker_rollback: s.circuit_breaker.as_ref().is_some_and(|c| c.rollback),
            environment: s
                .environment
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
        }
    }

    /// A task must fit the cluster's instance type (when chronous knows it).
    fn fits_instance(&mut self, s: &raw::Service, c: &raw::Cluster, memory_mib: u32, cpu: u32) {
        let Some((mem, vcpu)) = instance_type(c.instance_type.get_ref()) else {
            return;
        };
        if memory_mib > mem {
            self.err(
                "E0802",
                format!("task memory {memory_mib} MiB is more than a {} has ({mem} MiB)", c.instance_type.get_ref()),
                sp(&s.memory),
                "does not fit the instance",
                format!("lower service.memory to at most {mem} or choose a larger cluster.instance_type"),
            );
        }
        if cpu > vcpu * 1024 {
            self.err(
                "E0803",
                format!(
                    "task cpu {cpu} units is more than a {} has ({} units)",
                    c.instance_type.get_ref(),
                    vcpu * 1024
                ),
                s.cpu.as_ref().map(sp).unwrap_or(sp(&s.memory)),
                "does not fit the instance",
                "lower service.cpu or choose a larger instance type",
            );
        }
    }

    /// minimumHealthyPercent and maximumPercent as written: within what ECS
    /// accepts, and leaving room to stop or start a task during a deployment.
    fn percentages(&mut self, s: &raw::Service, desired: u32) -> (i64, i64) {
        let min = *s.minimum_healthy_percent.get_ref();
        let max = *s.maximum_percent.get_ref();
        let mut pct_ok = true;
        if !(0..=100).contains(&min) {
            pct_ok = false;
            self.err(
                "E0804",
                format!("minimum_healthy_percent {min} is outside 0-100"),
                sp(&s.minimum_healthy_percent),
                "ECS rejects this",
                "ECS accepts 0 to 100 for a REPLICA service",
            );
        }
        if !(100..=200).contains(&max) {
            pct_ok = false;
            self.err(
                "E0805",
                format!("maximum_percent {max} is outside 100-200"),
                sp(&s.maximum_percent),
                "ECS rejects this",
                "for a rolling update use 100 to 200 (the default is 200)",
            );
        }
        if pct_ok && desired > 0 {
            let d = desired as i64;
            let floor_max = (max * d) / 100;
            let ceil_min = (min * d + 99) / 100;
            if floor_max <= d && ceil_min >= d {
                // The smallest maximum that lets one more task start, and the
                // largest minimum that lets one task stop.
                let start_max = ((d + 1) * 100 + d - 1) / d;
                let stop_min = ((d - 1) * 100) / d;
                self.err(
                    "E0806",
                    format!(
                        "with desired_count {d}, minimum {min}% and maximum {max}% ECS can neither stop nor start a task during a deployment"
                    ),
                    sp(&s.maximum_percent),
                    format!("at most {floor_max} running, at least {ceil_min} healthy"),
                    format!(
                        "set maximum_percent = {start_max} (start a new task first) or minimum_healthy_percent = {stop_min} (stop an old task first)"
                    ),
                );
            }
        }
        (min, max)
    }

    /// The database password is injected at run time, never written here
    /// (other credentials are the lint CHR-SEC-001's: `review::secrets`).
    fn no_password_in_environment(&mut self, s: &raw::Service) {
        for k in s
            .environment
            .keys()
            .filter(|k| is_password_name(k.get_ref()))
        {
            self.err(
                "E0901",
                format!("a password is written in the environment file (service.environment.{})", k.get_ref()),
                sp(k),
                "secret in the file",
                format!(
                    "remove {}: the database password is injected at run time from CHRONOUS_DB_PASSWORD or database.password_file",
                    k.get_ref()
                ),
            );
        }
    }
}
