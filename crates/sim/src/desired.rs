//! What the simulated control plane says should be running: read from the
//! [`Cloud`] store by the controller on every reconcile.

use std::time::Duration;

use chronous_core::ecs::registered_memory;
use chronous_core::env::instance_type;
use chronous_core::resources::{
    EcsServiceSpec, EcsTaskDefinitionSpec, ElbSpec, Kind, LaunchTemplateSpec,
};
use serde_json::Value;

use crate::cloud::{Cloud, Object};

/// The load balancer to serve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ElbDesired {
    pub name: String,
    pub port: u16,
    pub instance_port: u16,
    pub target: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The interval and timeout as AWS would run them (before the time scale).
    pub aws_interval_s: u32,
    pub aws_timeout_s: u32,
}

/// A modelled container instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDesired {
    pub id: String,
    pub instance_type: String,
    pub memory_mib: u32,
    pub cpu_units: u32,
}

/// The service and the revision it should run.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDesired {
    pub name: String,
    pub arn: String,
    pub desired_count: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub grace: Duration,
    /// The health-check grace period as configured (AWS seconds, unscaled).
    pub aws_grace_s: u32,
    /// The deployment circuit breaker: `Some(rollback)` when enabled.
    pub circuit_breaker: Option<bool>,
    pub task_definition: String,
    pub revision: u64,
    pub container: chronous_core::resources::ContainerDefinition,
    pub behind_elb: bool,
    /// How many deployments were forced on the service (UpdateService with
    /// forceNewDeployment): each new one is a new deployment of the same revision.
    pub forced_deployments: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub elb: Option<ElbDesired>,
    pub service: Option<ServiceDesired>,
    pub instances: Vec<InstanceDesired>,
    pub cluster: Option<String>,
    pub log_group: Option<String>,
    pub stream_prefix: Option<String>,
}

fn first<'a>(cloud: &'a Cloud, kind: Kind) -> Option<&'a Object> {
    let mut v: Vec<&Object> = cloud.objects().filter(|o| o.kind == kind).collect();
    v.sort_by(|a, b| a.address.cmp(&b.address).then(a.id.cmp(&b.id)));
    v.into_iter().next()
}

/// The `host:port` a simulated ELB's DNS name stands for.
pub fn elb_port(dns_name: &str) -> Option<u16> {
    dns_name.rsplit(':').next()?.parse().ok()
}

/// Read the desired runtime from the control plane, scaling health-check
/// times by `time_scale` (1 = AWS's own timings).
pub fn read(cloud: &Cloud, time_scale: f64) -> Desired {
    let mut d = Desired::default();
    let scale = |s: u32| Duration::from_secs_f64((s as f64 / time_scale).max(0.05));
    if let Some(o) = first(cloud, Kind::Elb) {
        if let (Ok(spec), Some(port)) = (
            serde_json::from_value::<ElbSpec>(o.attrs.clone()),
            o.outputs
                .get("dns_name")
                .and_then(Value::as_str)
                .and_then(elb_port),
        ) {
            d.elb = Some(ElbDesired {
                name: spec.name,
                port,
                instance_port: spec.listener.instance_port,
                target: spec.health_check.target,
                interval: scale(spec.health_check.interval),
                timeout: scale(spec.health_check.timeout),
                healthy_threshold: spec.health_check.healthy_threshold,
                unhealthy_threshold: spec.health_check.unhealthy_threshold,
                aws_interval_s: spec.health_check.interval,
                aws_timeout_s: spec.health_check.timeout,
            });
        }
    }
    if let Some(asg) = first(cloud, Kind::AutoScalingGroup) {
        let lt_id = asg
            .attrs
            .get("launch_template_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let itype = cloud
            .get(lt_id)
            .and_then(|lt| serde_json::from_value::<LaunchTemplateSpec>(lt.attrs.clone()).ok())
            .map(|s| s.instance_type)
            .unwrap_or_else(|| "t2.nano".into());
        let (mem, vcpu) = instance_type(&itype).unwrap_or((512, 1));
        for id in asg
            .outputs
            .get("instance_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            d.instances.push(InstanceDesired {
                id: id.to_string(),
                instance_type: itype.clone(),
                memory_mib: registered_memory(mem),
                cpu_units: vcpu * 1024,
            });
        }
    }
    d.cluster = first(cloud, Kind::EcsCluster).and_then(|c| {
        c.outputs
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(lg) = first(cloud, Kind::CloudwatchLogGroup) {
        d.log_group = lg
            .attrs
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(svc) = first(cloud, Kind::EcsService) {
        if let Ok(spec) = serde_json::from_value::<EcsServiceSpec>(svc.attrs.clone()) {
            // A service rolled back by ECS may run a deregistered (INACTIVE) revision.
            if let Some(td) = cloud.task_definition(&spec.task_definition) {
                if let Ok(tds) = serde_json::from_value::<EcsTaskDefinitionSpec>(td.attrs.clone()) {
                    d.stream_prefix = tds
                        .container
                        .log_configuration
                        .options
                        .get("awslogs-stream-prefix")
                        .cloned();
                    d.service = Some(ServiceDesired {
                        name: spec.name,
                        arn: svc.id.clone(),
                        desired_count: spec.desired_count,
                        minimum_healthy_percent: spec.deployment_minimum_healthy_percent,
                        maximum_percent: spec.deployment_maximum_percent,
                        grace: Duration::from_secs_f64(
                            spec.health_check_grace_period_seconds as f64 / time_scale,
                        ),
                        aws_grace_s: spec.health_check_grace_period_seconds,
                        circuit_breaker: spec
                            .circuit_breaker_enable
                            .then_some(spec.circuit_breaker_rollback),
                        task_definition: td.id.clone(),
                        revision: td
                            .outputs
                            .get("revision")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        container: tds.container,
                        behind_elb: spec.load_balancer.is_some(),
                        forced_deployments: svc
                            .outputs
                            .get(crate::cloud::FORCED_DEPLOYMENTS)
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                    });
                }
            }
        }
    }
    d
}

/// The local image a task definition's image stands for: the registry part of
/// an ECR reference is dropped, since ECR resolves from the local image store.
pub fn local_image(image: &str) -> String {
    match image.split_once('/') {
        Some((registry, rest)) if registry.contains(".dkr.ecr.") => rest.to_string(),
        _ => image.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_references_resolve_to_local_images() {
        assert_eq!(
            local_image(
                "123456789012.dkr.ecr.us-east-2.amazonaws.com/chronous-payments-web-api:1.0"
            ),
            "chronous-payments-web-api:1.0"
        );
        assert_eq!(
            local_image("chronous-payments-web-api:1.0"),
            "chronous-payments-web-api:1.0"
        );
        assert_eq!(
            local_image("docker.io/library/nginx:1"),
            "docker.io/library/nginx:1"
        );
        assert_eq!(elb_port("127.0.0.1:41234"), Some(41234));
    }
}
