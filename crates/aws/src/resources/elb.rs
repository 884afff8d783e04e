//! `aws_elb`: a classic Elastic Load Balancer, its listener and health check (CreateLoadBalancer, DescribeLoadBalancers, DescribeTags, ConfigureHealthCheck, listener and subnet calls, DeleteLoadBalancer).

use chronous_core::resources::ElbSpec;
use std::collections::BTreeMap;

use chronous_core::resources::{ElbHealthCheck, ElbListener};

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
            c.elb
                .describe_load_balancers()
                .load_balancer_names(id)
                .send()
        })
        .await?
    else {
        return Ok(None);
    };
    let Some(lb) = o.load_balancer_descriptions().first() else {
        return Ok(None);
    };
    let l = lb
        .listener_descriptions()
        .first()
        .and_then(|d| d.listener());
    let hc = lb.health_check();
    let spec = ElbSpec {
        name: lb.load_balancer_name().unwrap_or_default().into(),
        internal: lb.scheme() == Some("internal"),
        subnets: like_recorded(lb.subnets().to_vec(), prior.get("subnets")),
        security_groups: like_recorded(lb.security_groups().to_vec(), prior.get("security_groups")),
        listener: ElbListener {
            lb_port: l.map(|l| l.load_balancer_port()).unwrap_or(0) as u16,
            lb_protocol: l.map(|l| l.protocol().to_uppercase()).unwrap_or_default(),
            instance_port: l.map(|l| l.instance_port()).unwrap_or(0) as u16,
            instance_protocol: l
                .and_then(|l| l.instance_protocol())
                .map(str::to_uppercase)
                .unwrap_or_default(),
        },
        health_check: ElbHealthCheck {
            target: hc.map(|h| h.target().to_string()).unwrap_or_default(),
            interval: hc.map(|h| h.interval()).unwrap_or(0) as u32,
            timeout: hc.map(|h| h.timeout()).unwrap_or(0) as u32,
            healthy_threshold: hc.map(|h| h.healthy_threshold()).unwrap_or(0) as u32,
            unhealthy_threshold: hc.map(|h| h.unhealthy_threshold()).unwrap_or(0) as u32,
        },
    };
    let arn = match r.outputs.get("arn") {
        Some(a) => a.clone(),
        None => json!(format!(
            "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/{id}",
            p.region(),
            p.account(address).await?
        )),
    };
    Ok(Some(observed(
        id,
        &spec,
        out(&[
            ("arn", arn),
            ("dns_name", json!(lb.dns_name().unwrap_or_default())),
            ("name", json!(id)),
        ]),
    )))
}

pub(crate) async fn create(
    p: &AwsProvider,
    address: &str,
    e: &ElbSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let attrs = attrs_of(e);
    let mk = |e: CallError| e.provider(address, "create it");
    let id: String = {
        if let Some(o) = found(
            p.call(|| {
                c.elb
                    .describe_load_balancers()
                    .load_balancer_names(&e.name)
                    .send()
            })
            .await,
        )
        .map_err(mk)?
        {
            if !o.load_balancer_descriptions().is_empty() {
                let t = p
                    .call(|| c.elb.describe_tags().load_balancer_names(&e.name).send())
                    .await
                    .map_err(mk)?;
                let tags: Vec<(&str, &str)> = t
                    .tag_descriptions()
                    .iter()
                    .flat_map(|d| d.tags())
                    .map(|t| (t.key(), t.value().unwrap_or_default()))
                    .collect();
                p.claim(address, "load balancer", &e.name, tags)?;
                return adopt!(p, address, Kind::Elb, e.name.clone(), attrs, e);
            }
        }
        let tags: Vec<aws_sdk_elasticloadbalancing::types::Tag> = p
            .tags(address, &BTreeMap::new())
            .into_iter()
            .filter_map(|(k, v)| {
                aws_sdk_elasticloadbalancing::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect();
        let mut b = c
            .elb
            .create_load_balancer()
            .load_balancer_name(&e.name)
            .listeners(elb_listener(&e.listener)?)
            .set_subnets(Some(e.subnets.clone()))
            .set_security_groups(Some(e.security_groups.clone()))
            .set_tags(Some(tags));
        if e.internal {
            b = b.scheme("internal");
        }
        p.call(|| b.clone().send()).await.map_err(mk)?;
        p.configure_health_check(address, e).await?;
        e.name.clone()
    };
    settled!(p, address, Kind::Elb, &id, attrs)
}

/// Bring the object to the spec (`r` is what AWS shows now).
pub(crate) async fn update(
    p: &AwsProvider,
    r: &ResourceRecord,
    e: &ElbSpec,
) -> Result<Observed, ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    let id = r.id.clone();
    let up = |e: CallError| e.provider(address, "change it");
    let attrs = attrs_of(e);
    let old: ElbSpec = serde_json::from_value(r.attrs.clone()).map_err(|x| spec_err(address, x))?;
    let add: Vec<String> = e
        .subnets
        .iter()
        .filter(|s| !old.subnets.contains(s))
        .cloned()
        .collect();
    let del: Vec<String> = old
        .subnets
        .iter()
        .filter(|s| !e.subnets.contains(s))
        .cloned()
        .collect();
    if !add.is_empty() {
        p.call(|| {
            c.elb
                .attach_load_balancer_to_subnets()
                .load_balancer_name(&e.name)
                .set_subnets(Some(add.clone()))
                .send()
        })
        .await
        .map_err(up)?;
    }
    if !del.is_empty() {
        p.call(|| {
            c.elb
                .detach_load_balancer_from_subnets()
                .load_balancer_name(&e.name)
                .set_subnets(Some(del.clone()))
                .send()
        })
        .await
        .map_err(up)?;
    }
    if old.security_groups != e.security_groups {
        p.call(|| {
            c.elb
                .apply_security_groups_to_load_balancer()
                .load_balancer_name(&e.name)
                .set_security_groups(Some(e.security_groups.clone()))
                .send()
        })
        .await
        .map_err(up)?;
    }
    if old.listener != e.listener {
        if old.listener.lb_port != 0 {
            p.call(|| {
                c.elb
                    .delete_load_balancer_listeners()
                    .load_balancer_name(&e.name)
                    .load_balancer_ports(old.listener.lb_port as i32)
                    .send()
            })
            .await
            .map_err(up)?;
        }
        p.call(|| {
            let l = elb_listener(&e.listener).expect("checked at create");
            c.elb
                .create_load_balancer_listeners()
                .load_balancer_name(&e.name)
                .listeners(l)
                .send()
        })
        .await
        .map_err(up)?;
    }
    if old.health_check != e.health_check {
        p.configure_health_check(address, e).await?;
    }
    settled!(p, address, Kind::Elb, &id, attrs)
}

pub(crate) async fn delete(
    p: &AwsProvider,
    r: &ResourceRecord,
    e: &ElbSpec,
) -> Result<(), ProviderError> {
    let c = &p.c;
    let address = r.address.as_str();
    p.delete_call(address, "delete the load balancer", || {
        c.elb
            .delete_load_balancer()
            .load_balancer_name(&e.name)
            .send()
    })
    .await
}

impl AwsProvider {
    async fn configure_health_check(
        &self,
        address: &str,
        e: &ElbSpec,
    ) -> Result<(), ProviderError> {
        let h = &e.health_check;
        let hc = aws_sdk_elasticloadbalancing::types::HealthCheck::builder()
            .target(&h.target)
            .interval(h.interval as i32)
            .timeout(h.timeout as i32)
            .healthy_threshold(h.healthy_threshold as i32)
            .unhealthy_threshold(h.unhealthy_threshold as i32)
            .build()
            .map_err(|x| ProviderError::new(format!("{address}: health check: {x}")))?;
        self.call(|| {
            self.c
                .elb
                .configure_health_check()
                .load_balancer_name(&e.name)
                .health_check(hc.clone())
                .send()
        })
        .await
        .map_err(|x| x.provider(address, "configure the health check"))?;
        Ok(())
    }
}

fn elb_listener(
    l: &ElbListener,
) -> Result<aws_sdk_elasticloadbalancing::types::Listener, ProviderError> {
    aws_sdk_elasticloadbalancing::types::Listener::builder()
        .protocol(&l.lb_protocol)
        .load_balancer_port(l.lb_port as i32)
        .instance_protocol(&l.instance_protocol)
        .instance_port(l.instance_port as i32)
        .build()
        .map_err(|e| ProviderError::new(format!("listener: {e}")))
}
