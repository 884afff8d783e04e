//! `aws_ecs_service`: an ECS service behind the classic ELB (CreateService, DescribeServices, UpdateService, DeleteService).

use chronous_core::resources::EcsServiceSpec;
use chronous_core::resources::ServiceLoadBalancer;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let rd = |e: CallError| e.provider(address, "describe it");
    let want: EcsServiceSpec =
        serde_json::from_value(prior.clone()).map_err(|e| spec_err(address, e))?;
    let o = match p
        .call(|| {
            c.ecs
                .describe_services()
                .cluster(&want.cluster)
                .services(&want.name)
                .send()
        })
        .await
    {
        Ok(o) => o,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(rd(e)),
    };
    let Some(s) = o
        .services()
        .iter()
        .find(|s| s.status() == Some("ACTIVE") || s.status() == Some("DRAINING"))
    else {
        return Ok(None);
    };
    if s.status() == Some("DRAINING") {
        return Ok(None);
    }
    // An emulator may not keep the deployment configuration; AWS always answers it.
    let dc = s.deployment_configuration();
    let cb = dc.and_then(|d| d.deployment_circuit_breaker());
    let spec = EcsServiceSpec {
        name: s.service_name().unwrap_or_default().into(),
        cluster: s.cluster_arn().unwrap_or_default().into(),
        task_definition: s.task_definition().unwrap_or_default().into(),
        desired_count: s.desired_count() as u32,
        launch_type: s
            .launch_type()
            .map(|l| l.as_str().to_string())
            .unwrap_or_else(|| want.launch_type.clone()),
        deployment_minimum_healthy_percent: dc
            .and_then(|d| d.minimum_healthy_percent())
            .map(|x| x as u32)
            .unwrap_or(want.deployment_minimum_healthy_percent),
        deployment_maximum_percent: dc
            .and_then(|d| d.maximum_percent())
            .map(|x| x as u32)
            .unwrap_or(want.deployment_maximum_percent),
        health_check_grace_period_seconds: s
            .health_check_grace_period_seconds()
            .map(|x| x as u32)
            .unwrap_or(want.health_check_grace_period_seconds),
        circuit_breaker_enable: cb
            .map(|b| b.enable())
            .unwrap_or(want.circuit_breaker_enable),
        circuit_breaker_rollback: cb
            .map(|b| b.rollback())
            .unwrap_or(want.circuit_breaker_rollback),
        iam_role: s.role_arn().map(str::to_string).or(want.iam_role.clone()),
        depends_on: want.depends_on.clone(),
        load_balancer: s.load_balancers().first().map(|l| ServiceLoadBalancer {
            elb_name: l.load_balancer_name().unwrap_or_default().into(),
            container_name: l.container_name().unwrap_or_default().into(),
            container_port: l.container_port().unwrap_or(0) as u16,
        }),
    };
    Ok(Some(observed(
        s.service_arn().unwrap_or(id),
        &spec,
        out(&[
            ("arn", json!(s.service_arn().unwrap_or(id))),
            ("name", json!(s.service_name().unwrap_or_default())),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    s: &EcsServiceSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(s);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let o = p
            .call(|| {
                c.ecs
                    .describe_services()
                    .cluster(&s.cluster)
                    .services(&s.name)
                    .include(aws_sdk_ecs::types::ServiceField::Tags)
                    .send()
            })
            .await
            .map_err(mk)?;
        if let Some(x) = o.services().iter().find(|x| x.status() == Some("ACTIVE")) {
            p.claim(
                address,
                "ECS service",
                &s.name,
                x.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            )?;
            return adopt!(
                p,
                address,
                Kind::EcsService,
                x.service_arn().unwrap_or_default(),
                attrs,
                s
            );
        }
        let mut b = c
            .ecs
            .create_service()
            .cluster(&s.cluster)
            .service_name(&s.name)
            .task_definition(&s.task_definition)
            .desired_count(s.desired_count as i32)
            .launch_type(aws_sdk_ecs::types::LaunchType::from(s.launch_type.as_str()))
            .deployment_configuration(deployment_configuration(s))
            .set_tags(Some(p.ecs_tags(address)));
        if let Some(lb) = &s.load_balancer {
            b = b
                .load_balancers(
                    aws_sdk_ecs::types::LoadBalancer::builder()
                        .load_balancer_name(&lb.elb_name)
                        .container_name(&lb.container_name)
                        .container_port(lb.container_port as i32)
                        .build(),
                )
                .set_role(s.iam_role.clone())
                .health_check_grace_period_seconds(s.health_check_grace_period_seconds as i32);
        }
        let o = p.call(|| b.clone().send()).await.map_err(|e| {
            let pe = e.provider(address, "create the service");
            if e.code().contains("InvalidParameter") && e.message.contains("role") {
                pe.with_hint("the service role may not be usable yet (IAM is eventually consistent): run apply again in a minute").retryable()
            } else {
                pe
            }
        })?;
        o.service()
            .and_then(|x| x.service_arn())
            .unwrap_or_default()
            .to_string()
    };
    settled!(p, address, Kind::EcsService, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &EcsServiceSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(s);
    let changed = |k: &str| r.attrs.get(k) != attrs.get(k);
    let mut b = c
        .ecs
        .update_service()
        .cluster(&s.cluster)
        .service(&s.name)
        .task_definition(&s.task_definition)
        .desired_count(s.desired_count as i32)
        .deployment_configuration(deployment_configuration(s));
    if s.load_balancer.is_some() {
        b = b.health_check_grace_period_seconds(s.health_check_grace_period_seconds as i32);
    }
    p.call(|| b.clone().send()).await.map_err(up)?;
    if changed("task_definition") {
        p.progress(format!(
            "{address}: rolling out {} (minimum healthy {}%, maximum {}%)",
            s.task_definition, s.deployment_minimum_healthy_percent, s.deployment_maximum_percent
        ));
    }
    settled!(p, address, Kind::EcsService, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    s: &EcsServiceSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let _ = p
        .call(|| {
            c.ecs
                .update_service()
                .cluster(&s.cluster)
                .service(&s.name)
                .desired_count(0)
                .send()
        })
        .await;
    p.delete_call(address, "delete the service", || {
        c.ecs
            .delete_service()
            .cluster(&s.cluster)
            .service(&s.name)
            .force(true)
            .send()
    })
    .await?;
    p.wait_for(address, "the service to drain", || async {
        match p
            .call(|| {
                c.ecs
                    .describe_services()
                    .cluster(&s.cluster)
                    .services(&s.name)
                    .send()
            })
            .await
        {
            Ok(o) => Ok(o
                .services()
                .iter()
                .all(|x| x.status() == Some("INACTIVE"))
                .then_some(())),
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(e.provider(address, "describe the service")),
        }
    })
    .await
}

fn deployment_configuration(s: &EcsServiceSpec) -> aws_sdk_ecs::types::DeploymentConfiguration {
    let mut b = aws_sdk_ecs::types::DeploymentConfiguration::builder()
        .minimum_healthy_percent(s.deployment_minimum_healthy_percent as i32)
        .maximum_percent(s.deployment_maximum_percent as i32);
    b = b.deployment_circuit_breaker(
        aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
            .enable(s.circuit_breaker_enable)
            .rollback(s.circuit_breaker_rollback)
            .build(),
    );
    b.build()
}
