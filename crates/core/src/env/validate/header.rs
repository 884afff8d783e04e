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
    pub account_id: Option<String>,
    pub allowed_regions: Vec<String>,
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
        let account_id = self.account_id(e);
        let allowed_regions = self.allowed_regions(e);
        Header {
            name,
            prefix,
            region,
            region_azs,
            backend,
            production: e.production,
            operator_cidr,
            account_id,
            allowed_regions,
        }
    }

    /// `account_id`: the 12 digits of an AWS account id, written as a string.
    fn account_id(&mut self, e: &raw::Environment) -> Option<String> {
        let a = e.account_id.as_ref()?;
        let id = a.get_ref().trim();
        if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
            return Some(id.to_string());
        }
        self.err(
            "E0104",
            format!("account_id `{}` is not an AWS account id", a.get_ref()),
            sp(a),
            "not 12 digits",
            "write the 12-digit id of the account this environment lives in, as `aws sts get-caller-identity` shows it, in quotes: account_id = \"123456789012\"",
        );
        None
    }

    /// `allowed_regions`: regions chronous knows, the environment's among them.
    fn allowed_regions(&mut self, e: &raw::Environment) -> Vec<String> {
        let Some(list) = &e.allowed_regions else {
            return vec![];
        };
        let mut out = Vec::new();
        for r in list.get_ref() {
            if REGIONS.iter().any(|(n, _)| n == r.get_ref()) {
                out.push(r.get_ref().clone());
            } else {
                self.err(
                    "E0105",
                    format!("unknown region `{}` in allowed_regions", r.get_ref()),
                    sp(r),
                    "not a region chronous knows",
                    "write region names as AWS does, e.g. \"us-east-2\"",
                );
            }
        }
        let region = e.region.get_ref();
        if !list.get_ref().iter().any(|r| r.get_ref() == region) {
            self.err(
                "E0106",
                format!("region `{region}` is not one of allowed_regions"),
                sp(&e.region),
                "not allowed for this environment",
                format!(
                    "this environment may live only in {}: fix region, or add it to allowed_regions if the environment really moves",
                    if list.get_ref().is_empty() {
                        "no region (allowed_regions is empty)".to_string()
                    } else {
                        list.get_ref().iter().map(|r| r.get_ref().as_str()).collect::<Vec<_>>().join(", ")
                    }
                ),
            );
        }
        out
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
