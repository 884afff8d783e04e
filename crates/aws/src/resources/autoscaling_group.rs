//! `aws_autoscaling_group`: an Auto Scaling group, rolled blue/green to a new launch template (CreateAutoScalingGroup, DescribeAutoScalingGroups, UpdateAutoScalingGroup, TerminateInstanceInAutoScalingGroup, DeleteAutoScalingGroup).

use chronous_core::resources::AutoScalingGroupSpec;
use std::collections::BTreeMap;

use crate::TAG_ENV;

use super::common::*;

/// Describe the object in the shape of its spec (`None`: it no longer exists).
pub(crate) async fn read(
    p: &AwsProvider,
    r: &ResourceRecord,
) -> Result<Option<Observed>, ProviderError> {
    let (address, id, prior) = (r.address.as_str(), r.id.as_str(), &r.attrs);
    let c = &p.c;
    let pstr = |k: &str| {
        prior
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let rd = |e: CallError| e.provider(address, "describe it");
    let o = p
        .call(|| {
            c.autoscaling
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(id)
                .send()
        })
        .await
        .map_err(rd)?;
    let Some(g) = o.auto_scaling_groups().first() else {
        return Ok(None);
    };
    if g.status().is_some_and(|s| s.starts_with("Delete")) {
        return Ok(None);
    }
    let subnets: Vec<String> = g
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let spec = AutoScalingGroupSpec {
        name: g.auto_scaling_group_name().unwrap_or_default().into(),
        launch_template_id: g
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .map(str::to_string)
            .unwrap_or_else(|| pstr("launch_template_id")),
        min_size: g.min_size().unwrap_or(0) as u32,
        max_size: g.max_size().unwrap_or(0) as u32,
        desired_capacity: g.desired_capacity().unwrap_or(0) as u32,
        vpc_zone_identifier: like_recorded(subnets, prior.get("vpc_zone_identifier")),
        min_healthy_percentage: prior
            .get("min_healthy_percentage")
            .and_then(Value::as_u64)
            .unwrap_or(100) as u32,
    };
    let ids: Vec<&str> = g
        .instances()
        .iter()
        .filter_map(|i| i.instance_id())
        .collect();
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", json!(g.auto_scaling_group_arn().unwrap_or_default())),
            ("name", json!(id)),
            ("instance_ids", json!(ids)),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    g: &AutoScalingGroupSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(g);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        let o = p
            .call(|| {
                c.autoscaling
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(&g.name)
                    .send()
            })
            .await
            .map_err(mk)?;
        if let Some(x) = o.auto_scaling_groups().first() {
            p.claim(
                address,
                "auto scaling group",
                &g.name,
                x.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            )?;
            return adopt!(p, address, Kind::AutoScalingGroup, g.name.clone(), attrs, g);
        }
        let tags: Vec<aws_sdk_autoscaling::types::Tag> = p
            .tags(address, &BTreeMap::new())
            .into_iter()
            .map(|(k, v)| {
                // The instances carry the environment's tag, not the group's address.
                let propagate = k == TAG_ENV;
                aws_sdk_autoscaling::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .propagate_at_launch(propagate)
                    .resource_id(&g.name)
                    .resource_type("auto-scaling-group")
                    .build()
            })
            .collect();
        p.call(|| {
            c.autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(&g.name)
                .launch_template(lt_spec(&g.launch_template_id))
                .min_size(g.min_size as i32)
                .max_size(g.max_size as i32)
                .desired_capacity(g.desired_capacity as i32)
                .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(mk)?;
        g.name.clone()
    };
    settled!(p, address, Kind::AutoScalingGroup, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &AutoScalingGroupSpec,
) -> Result<Observed, ProviderError> {
    let address = r.address.as_str();
    let id = r.id.clone();
    let attrs = attrs_of(g);
    Box::pin(p.update_asg(r, g)).await?;
    settled!(p, address, Kind::AutoScalingGroup, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    g: &AutoScalingGroupSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the group", || {
        c.autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(&g.name)
            .force_delete(true)
            .send()
    })
    .await?;
    p.wait_for(address, "the group's instances to terminate", || async {
        let o = p
            .call(|| {
                c.autoscaling
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(&g.name)
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "describe the group"))?;
        Ok(o.auto_scaling_groups().is_empty().then_some(()))
    })
    .await
}

impl AwsProvider {
    /// A new launch template (or size) reaches the group blue/green: the
    /// group grows by the new instances, waits until they are InService, then
    /// the old ones are terminated and the group shrinks back.
    async fn update_asg(
        &self,
        r: &ResourceRecord,
        g: &AutoScalingGroupSpec,
    ) -> Result<(), ProviderError> {
        let a = &self.c.autoscaling;
        let address = r.address.as_str();
        let up = |e: CallError| e.provider(address, "change the auto scaling group");
        let old_lt = r
            .attrs
            .get("launch_template_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let roll = old_lt != g.launch_template_id;
        let current = self
            .call(|| {
                a.describe_auto_scaling_groups()
                    .auto_scaling_group_names(&g.name)
                    .send()
            })
            .await
            .map_err(up)?;
        let old_instances: Vec<String> = current
            .auto_scaling_groups()
            .first()
            .map(|x| {
                x.instances()
                    .iter()
                    .filter(|i| {
                        i.launch_template().and_then(|t| t.launch_template_id())
                            != Some(g.launch_template_id.as_str())
                    })
                    .filter_map(|i| i.instance_id().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !roll || old_instances.is_empty() || g.desired_capacity == 0 {
            self.call(|| {
                a.update_auto_scaling_group()
                    .auto_scaling_group_name(&g.name)
                    .launch_template(lt_spec(&g.launch_template_id))
                    .min_size(g.min_size as i32)
                    .max_size(g.max_size as i32)
                    .desired_capacity(g.desired_capacity as i32)
                    .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                    .send()
            })
            .await
            .map_err(up)?;
            return Ok(());
        }
        let desired = g.desired_capacity as i32;
        let surge = old_instances.len() as i32 + desired;
        self.progress(format!(
            "{address}: blue/green: starting {desired} instance(s) from {} before retiring {}",
            g.launch_template_id,
            old_instances.len()
        ));
        self.call(|| {
            a.update_auto_scaling_group()
                .auto_scaling_group_name(&g.name)
                .launch_template(lt_spec(&g.launch_template_id))
                .min_size(g.min_size as i32)
                .max_size((g.max_size as i32).max(surge))
                .desired_capacity(surge)
                .vpc_zone_identifier(g.vpc_zone_identifier.join(","))
                .send()
        })
        .await
        .map_err(up)?;
        let need = ((desired as u64 * g.min_healthy_percentage as u64).div_ceil(100))
            .max(desired as u64) as usize;
        self.wait_for(address, "the new instances to be InService", || async {
            let o = self
                .call(|| {
                    a.describe_auto_scaling_groups()
                        .auto_scaling_group_names(&g.name)
                        .send()
                })
                .await
                .map_err(up)?;
            let healthy = o
                .auto_scaling_groups()
                .first()
                .map(|x| {
                    x.instances()
                        .iter()
                        .filter(|i| {
                            i.launch_template().and_then(|t| t.launch_template_id())
                                == Some(g.launch_template_id.as_str())
                        })
                        .filter(|i| {
                            i.lifecycle_state().map(|s| s.as_str()) == Some("InService")
                                && i.health_status() == Some("Healthy")
                        })
                        .count()
                })
                .unwrap_or(0);
            Ok((healthy >= need).then_some(()))
        })
        .await?;
        for i in &old_instances {
            match self
                .call(|| {
                    a.terminate_instance_in_auto_scaling_group()
                        .instance_id(i)
                        .should_decrement_desired_capacity(true)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.message.contains("not part of") => {}
                Err(e) => return Err(up(e)),
            }
        }
        self.call(|| {
            a.update_auto_scaling_group()
                .auto_scaling_group_name(&g.name)
                .min_size(g.min_size as i32)
                .max_size(g.max_size as i32)
                .desired_capacity(desired)
                .send()
        })
        .await
        .map_err(up)?;
        Ok(())
    }
}

fn lt_spec(id: &str) -> aws_sdk_autoscaling::types::LaunchTemplateSpecification {
    aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version("$Latest")
        .build()
}
