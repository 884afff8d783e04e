//! `aws_ecs_task_definition`: a revision of an ECS task definition (RegisterTaskDefinition, ListTaskDefinitions, DescribeTaskDefinition, DeregisterTaskDefinition, DeleteTaskDefinitions).

use chronous_core::resources::EcsTaskDefinitionSpec;
use chronous_core::resources::{ContainerDefinition, LogConfiguration, PortMapping};

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let Some(o) = p
        .describe(address, || {
            c.ecs.describe_task_definition().task_definition(id).send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(td) = o.task_definition() else {
        return Ok(None);
    };
    if td.status().map(|s| s.as_str()) == Some("INACTIVE")
        || td.status().map(|s| s.as_str()) == Some("DELETE_IN_PROGRESS")
    {
        return Ok(None);
    }
    let Some(cd) = td.container_definitions().first() else {
        return Ok(None);
    };
    let want: Option<EcsTaskDefinitionSpec> = serde_json::from_value(prior.clone()).ok();
    let lc = cd.log_configuration();
    let spec = EcsTaskDefinitionSpec {
        family: td.family().unwrap_or_default().into(),
        network_mode: td
            .network_mode()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "bridge".into()),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        execution_role_arn: td.execution_role_arn().map(str::to_string),
        container: ContainerDefinition {
            name: cd.name().unwrap_or_default().into(),
            image: cd.image().unwrap_or_default().into(),
            essential: cd.essential().unwrap_or(true),
            cpu: cd.cpu() as u32,
            memory: cd.memory().unwrap_or(0) as u32,
            port_mappings: cd
                .port_mappings()
                .iter()
                .map(|p| PortMapping {
                    container_port: p.container_port().unwrap_or(0) as u16,
                    host_port: p.host_port().unwrap_or(0) as u16,
                    protocol: p
                        .protocol()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_else(|| "tcp".into()),
                })
                .collect(),
            environment: cd
                .environment()
                .iter()
                .map(|kv| {
                    let name = kv.name().unwrap_or_default().to_string();
                    let value = kv.value().unwrap_or_default();
                    (name.clone(), plain_value(&name, value))
                })
                .collect(),
            secrets: cd
                .secrets()
                .iter()
                .map(|s| (s.name().to_string(), s.value_from().to_string()))
                .collect(),
            log_configuration: LogConfiguration {
                log_driver: lc
                    .map(|l| l.log_driver().as_str().to_string())
                    .unwrap_or_default(),
                options: lc
                    .and_then(|l| l.options())
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            },
        },
    };
    // AWS may answer the compatibilities in another order.
    let spec = match want {
        Some(w)
            if {
                let mut a = w.requires_compatibilities.clone();
                let mut b = spec.requires_compatibilities.clone();
                a.sort();
                b.sort();
                a == b
            } =>
        {
            EcsTaskDefinitionSpec {
                requires_compatibilities: w.requires_compatibilities,
                ..spec
            }
        }
        _ => spec,
    };
    let arn = td.task_definition_arn().unwrap_or(id);
    Ok(Some(observed(
        arn,
        &spec,
        out(&[("arn", json!(arn)), ("revision", json!(td.revision()))]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    t: &EcsTaskDefinitionSpec,
    exclude: &[String],
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(t);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        // A revision an interrupted apply registered, with this very content.
        let list = p
            .call(|| {
                c.ecs
                    .list_task_definitions()
                    .family_prefix(&t.family)
                    .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                    .sort(aws_sdk_ecs::types::SortOrder::Desc)
                    .send()
            })
            .await
            .map_err(mk)?;
        for arn in list
            .task_definition_arns()
            .iter()
            .filter(|a| !exclude.contains(a))
            .take(5)
        {
            let d = p
                .call(|| {
                    c.ecs
                        .describe_task_definition()
                        .task_definition(arn)
                        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                        .send()
                })
                .await
                .map_err(mk)?;
            if d.task_definition().and_then(|x| x.family()) != Some(t.family.as_str()) {
                continue;
            }
            if p.is_ours(
                address,
                d.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            ) {
                let rec = record(address, Kind::EcsTaskDefinition, arn, attrs.clone());
                let now = settle(p, &rec, read).await?;
                if now.attrs == attrs {
                    return Ok(now);
                }
            }
        }
        p.register_task_definition(address, t).await?
    };
    settled!(p, address, Kind::EcsTaskDefinition, &id, attrs)
}

update_nothing!(EcsTaskDefinition, EcsTaskDefinitionSpec);

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    _: &EcsTaskDefinitionSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.as_str();
    p.delete_call(address, "deregister the task definition", || {
        c.ecs
            .deregister_task_definition()
            .task_definition(id)
            .send()
    })
    .await?;
    // Deregistered revisions stay (INACTIVE) unless deleted; not every endpoint offers that.
    let _ = p
        .call(|| c.ecs.delete_task_definitions().task_definitions(id).send())
        .await;
    Ok(())
}

impl AwsProvider {
    async fn register_task_definition(
        &self,
        address: &str,
        t: &EcsTaskDefinitionSpec,
    ) -> Result<String, ProviderError> {
        use aws_sdk_ecs::types as et;
        let cd = &t.container;
        let mut lc = et::LogConfiguration::builder().log_driver(et::LogDriver::from(
            cd.log_configuration.log_driver.as_str(),
        ));
        for (k, v) in &cd.log_configuration.options {
            lc = lc.options(k, v);
        }
        let lc = lc
            .build()
            .map_err(|e| ProviderError::new(format!("{address}: log configuration: {e}")))?;
        let mut b = et::ContainerDefinition::builder()
            .name(&cd.name)
            .image(&cd.image)
            .essential(cd.essential)
            .cpu(cd.cpu as i32)
            .memory(cd.memory as i32)
            .log_configuration(lc);
        for p in &cd.port_mappings {
            b = b.port_mappings(
                et::PortMapping::builder()
                    .container_port(p.container_port as i32)
                    .host_port(p.host_port as i32)
                    .protocol(et::TransportProtocol::from(p.protocol.as_str()))
                    .build(),
            );
        }
        for (k, v) in &cd.environment {
            b = b.environment(et::KeyValuePair::builder().name(k).value(v).build());
        }
        for (k, v) in &cd.secrets {
            b = b.secrets(
                et::Secret::builder()
                    .name(k)
                    .value_from(v)
                    .build()
                    .map_err(|e| ProviderError::new(format!("{address}: secret {k}: {e}")))?,
            );
        }
        let def = b.build();
        let o = self
            .call(|| {
                self.c
                    .ecs
                    .register_task_definition()
                    .family(&t.family)
                    .network_mode(et::NetworkMode::from(t.network_mode.as_str()))
                    .set_requires_compatibilities(Some(
                        t.requires_compatibilities
                            .iter()
                            .map(|c| et::Compatibility::from(c.as_str()))
                            .collect(),
                    ))
                    .container_definitions(def.clone())
                    .set_execution_role_arn(t.execution_role_arn.clone())
                    .set_tags(Some(self.ecs_tags(address)))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "register the task definition"))?;
        Ok(o.task_definition()
            .and_then(|x| x.task_definition_arn())
            .unwrap_or_default()
            .to_string())
    }
}

/// What is recorded of a plain environment variable: its value, except for a
/// secret someone put in the plain environment (a task definition made by
/// hand or by Terraform with the password in it): chronous never records or
/// prints it; the plan shows the variable replaced by the SSM parameter.
fn plain_value(name: &str, value: &str) -> String {
    if chronous_core::import::tfstate::is_secret_name(name) {
        chronous_core::import::tfstate::SCRUBBED.to_string()
    } else {
        value.to_string()
    }
}
