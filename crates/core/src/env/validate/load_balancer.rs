//! The `[load_balancer]` section: the classic ELB (subnets, security groups,
//! listener that must reach the task's static host port, health check within
//! the classic ELB's limits and a target it understands).

use super::{sp, Refs, Validator, S};
use crate::env::raw;
use crate::env::{HealthCheck, LoadBalancer};

impl Validator {
    /// `s` and `host_port`: the service the load balancer sends to.
    pub(super) fn load_balancer(
        &mut self,
        lb: &raw::LoadBalancer,
        s: &raw::Service,
        host_port: Option<u16>,
        refs: &Refs,
    ) -> LoadBalancer {
        for s in &lb.subnets {
            self.known_subnet(refs, s);
        }
        for s in &lb.security_groups {
            self.known_sg(refs, s);
        }
        let lb_port = self.port("listener.lb_port", &lb.listener.lb_port);
        let instance_port = self.port("listener.instance_port", &lb.listener.instance_port);
        let proto = lb.listener.protocol.get_ref().to_ascii_uppercase();
        if !["HTTP", "TCP"].contains(&proto.as_str()) {
            self.err(
                "E1001",
                format!(
                    "listener protocol `{}` is not supported",
                    lb.listener.protocol.get_ref()
                ),
                sp(&lb.listener.protocol),
                "unsupported protocol",
                "use HTTP or TCP (HTTPS/SSL need a certificate, which chronous does not manage)",
            );
        }
        if let Some(hp) = host_port {
            if hp != 0 && instance_port != hp {
                self.err(
                    "E1002",
                    format!("the load balancer sends to instance port {instance_port} but the task listens on host port {hp}"),
                    sp(&lb.listener.instance_port),
                    "no task listens here",
                    format!("set listener.instance_port = {hp}"),
                );
            }
        } else {
            self.err(
                "E1003",
                "a classic ELB needs a static host port: service.host_port is not set",
                sp(&s.container_port),
                "dynamic host port",
                "set service.host_port (classic ELBs send to one fixed instance port)",
            );
        }
        let health_check = self.health_check(&lb.health_check);
        LoadBalancer {
            name: self.name("load balancer name", &lb.name),
            internal: lb.internal,
            subnets: lb.subnets.iter().map(|s| s.get_ref().clone()).collect(),
            security_groups: lb
                .security_groups
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
            lb_port,
            instance_port,
            protocol: proto,
            health_check,
        }
    }

    fn health_check(&mut self, hc: &raw::HealthCheck) -> HealthCheck {
        let interval = self.positive(
            "health_check.interval",
            &hc.interval,
            5,
            300,
            "classic ELB intervals are 5-300 seconds",
        );
        let timeout = self.positive(
            "health_check.timeout",
            &hc.timeout,
            2,
            60,
            "classic ELB timeouts are 2-60 seconds",
        );
        if timeout >= interval
            && (5..=300).contains(hc.interval.get_ref())
            && (2..=60).contains(hc.timeout.get_ref())
        {
            self.err(
                "E1004",
                format!("health_check.timeout {timeout} must be less than the interval {interval}"),
                sp(&hc.timeout),
                "not less than the interval",
                format!("use a timeout below {interval} seconds"),
            );
        }
        let healthy_threshold = self.positive(
            "health_check.healthy_threshold",
            &hc.healthy_threshold,
            2,
            10,
            "classic ELB thresholds are 2-10",
        );
        let unhealthy_threshold = self.positive(
            "health_check.unhealthy_threshold",
            &hc.unhealthy_threshold,
            2,
            10,
            "classic ELB thresholds are 2-10",
        );
        self.health_target(&hc.target);
        HealthCheck {
            target: hc.target.get_ref().clone(),
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        }
    }

    fn health_target(&mut self, t: &S<String>) {
        let v = t.get_ref();
        let bad = |me: &mut Validator, why: &str| {
            me.err(
                "E1005",
                format!("health check target `{v}` is not valid: {why}"),
                sp(t),
                "bad target",
                "write TCP:port, SSL:port, HTTP:port/path or HTTPS:port/path, e.g. HTTP:80/gettoken",
            );
        };
        let Some((proto, rest)) = v.split_once(':') else {
            return bad(self, "no protocol");
        };
        let (port, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        match proto {
            "HTTP" | "HTTPS" if path.is_none() => return bad(self, "HTTP targets need a path"),
            "TCP" | "SSL" if path.is_some() => return bad(self, "TCP targets take no path"),
            "HTTP" | "HTTPS" | "TCP" | "SSL" => {}
            _ => return bad(self, "unknown protocol"),
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            _ => bad(self, "port must be 1-65535"),
        }
    }
}
