//! The `[environment]` section: names, region, backend, the operator's CIDR.

use ipnet::IpNet;

use super::{sp, Validator};
use crate::env::raw;
use crate::env::{Backend, REGIONS};

/// `[environment]`, validated.
pub(super) struct Header {
    pub name: String,
    pub prefix: String,
    pub region: String,
    /// The zone letters of the region, when chronous knows it.
    pub region_azs: Option<&'static str>,
    pub backend: Option<Backend>,
    pub production: bool,
    pub operator_cidr: IpNet,
}

impl Validator {
    pub(super) fn header(&mut self, e: &raw::Environment) -> Header {
        let name = self.name("environment name", &e.name);
        let prefix = self.name("prefix", &e.prefix);
        let region = e.region.get_ref().clone();
        let region_azs = REGIONS.iter().find(|(n, _)| *n == region).map(|(_, l)| *l);
        if region_azs.is_none() {
            let known: Vec<&str> = REGIONS.iter().map(|(n, _)| *n).collect();
            self.err(
                "E0102",
                format!("unknown region `{region}`"),
                sp(&e.region),
                "not a region chronous knows",
                format!("use one of: {}", known.join(", ")),
            );
        }
        let backend = e
            .backend
            .as_ref()
            .and_then(|b| match b.get_ref().parse::<Backend>() {
                Ok(b) => Some(b),
                Err(m) => {
                    self.err(
                        "E0103",
                        m,
                        sp(b),
                        "unknown backend",
                        "pin `sim` or `aws`, or leave `backend` out",
                    );
                    None
                }
            });
        let operator_cidr = self.operator_cidr(e);
        Header {
            name,
            prefix,
            region,
            region_azs,
            backend,
            production: e.production,
            operator_cidr,
        }
    }

    fn operator_cidr(&mut self, e: &raw::Environment) -> IpNet {
        let operator_cidr = match e.operator_cidr.get_ref().parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => {
                self.err(
                    "E0201",
                    format!(
                        "operator_cidr `{}` is not a valid CIDR block",
                        e.operator_cidr.get_ref()
                    ),
                    sp(&e.operator_cidr),
                    "malformed CIDR",
                    "write the operator's public IP as a.b.c.d/32",
                );
                "0.0.0.0/32".parse().expect("literal")
            }
        };
        if operator_cidr.prefix_len() == 0 {
            self.err(
                "E0203",
                "operator_cidr opens the bastion and load balancer to the whole internet",
                sp(&e.operator_cidr),
                "/0 is everyone",
                "write your own public IP as a.b.c.d/32",
            );
        }
        operator_cidr
    }
}
