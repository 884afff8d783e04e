//! The `[network]` section: the VPC block, availability zones, NAT mode and
//! subnets (names, tiers, zones, blocks inside the VPC and not overlapping),
//! and the cost warning for one NAT gateway per private subnet.

use ipnet::Ipv4Net;

use super::{sp, Validator};
use crate::env::raw;
use crate::env::{az_in_region, NatMode, Network, Subnet, Tier};
use crate::review::prices::{nat_gateway_hourly, HOURS_PER_MONTH};

/// What the subnets of a network are checked against.
struct Zones<'a> {
    region: &'a str,
    region_azs: Option<&'a str>,
    azs: &'a [String],
    vpc: Option<Ipv4Net>,
}

impl Validator {
    pub(super) fn network(
        &mut self,
        n: &raw::Network,
        region: &str,
        region_azs: Option<&str>,
    ) -> Network {
        let vpc = self.cidr4("VPC CIDR", &n.cidr);
        if let Some(v) = vpc {
            if !(16..=28).contains(&v.prefix_len()) {
                self.err(
                    "E0204",
                    format!(
                        "VPC CIDR `{v}` has prefix length /{}; AWS allows /16 to /28",
                        v.prefix_len()
                    ),
                    sp(&n.cidr),
                    "VPC size not allowed",
                    "use a prefix between /16 and /28",
                );
            }
        }
        let azs = self.azs(n, region, region_azs);
        let nat = self.nat(n);
        let zones = Zones {
            region,
            region_azs,
            azs: &azs,
            vpc,
        };
        let mut subnets: Vec<Subnet> = Vec::new();
        let mut tiers_ok = true;
        for s in &n.subnets {
            if let Some(subnet) = self.subnet(s, &zones, &subnets, &mut tiers_ok) {
                subnets.push(subnet);
            }
        }
        // Judged on the tiers as written: a subnet left out for a bad CIDR still has its tier.
        for tier in [Tier::Public, Tier::Private] {
            if tiers_ok
                && !n.subnets.iter().any(|s| s.tier.get_ref() == tier.as_str())
                && !n.subnets.is_empty()
            {
                self.err(
                    "E0214",
                    format!("the network has no {} subnet", tier.as_str()),
                    sp(&n.cidr),
                    "in this network",
                    format!(
                        "add a [[network.subnets]] with tier = \"{}\"",
                        tier.as_str()
                    ),
                );
            }
        }
        Network {
            cidr: vpc.unwrap_or_else(|| "10.0.0.0/16".parse().expect("literal")),
            azs,
            nat,
            subnets,
        }
    }

    fn azs(&mut self, n: &raw::Network, region: &str, region_azs: Option<&str>) -> Vec<String> {
        let mut azs = Vec::new();
        for az in n.azs.get_ref() {
            let ok = region_azs.is_some_and(|letters| az_in_region(az.get_ref(), region, letters));
            if region_azs.is_some() && !ok {
                let letters = region_azs.unwrap_or("");
                let list: Vec<String> = letters.chars().map(|c| format!("{region}{c}")).collect();
                self.err(
                    "E0205",
                    format!(
                        "availability zone `{}` is not in region {region}",
                        az.get_ref()
                    ),
                    sp(az),
                    "AZ not in the region",
                    format!("the zones of {region} are {}", list.join(", ")),
                );
            }
            azs.push(az.get_ref().clone());
        }
        if azs.is_empty() {
            self.err(
                "E0206",
                "the network lists no availability zones",
                sp(&n.azs),
                "empty",
                "list the zones to use, e.g. [\"us-east-2a\"]",
            );
        }
        azs
    }

    fn nat(&mut self, n: &raw::Network) -> NatMode {
        match n.nat.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("per_subnet") => NatMode::PerSubnet,
            Some("single") => NatMode::Single,
            Some("none") => NatMode::None,
            Some(other) => {
                let s = n.nat.as_ref().expect("some");
                self.err(
                    "E0207",
                    format!("unknown NAT mode `{other}`"),
                    sp(s),
                    "unknown value",
                    "use `per_subnet` (one NAT gateway per private subnet), `single` or `none`",
                );
                NatMode::PerSubnet
            }
        }
    }

    /// One `[[network.subnets]]`; None when it is left out for an error
    /// (`tiers_ok` turns false when its tier is unknown).
    fn subnet(
        &mut self,
        s: &raw::Subnet,
        zones: &Zones<'_>,
        subnets: &[Subnet],
        tiers_ok: &mut bool,
    ) -> Option<Subnet> {
        let sname = self.name("subnet name", &s.name);
        if subnets.iter().any(|x| x.name == sname) {
            self.err(
                "E0208",
                format!("subnet `{sname}` is defined twice"),
                sp(&s.name),
                "duplicate name",
                "give every subnet its own name",
            );
        }
        let tier = match s.tier.get_ref().as_str() {
            "public" => Some(Tier::Public),
            "private" => Some(Tier::Private),
            "database" => Some(Tier::Database),
            other => {
                self.err(
                    "E0209",
                    format!("unknown subnet tier `{other}`"),
                    sp(&s.tier),
                    "unknown tier",
                    "use `public`, `private` or `database`",
                );
                *tiers_ok = false;
                None
            }
        };
        self.subnet_zone(s, &sname, zones);
        let cidr = self.cidr4("subnet CIDR", &s.cidr)?;
        if let Some(v) = zones.vpc {
            if !v.contains(&cidr) {
                self.err(
                    "E0211",
                    format!("subnet `{sname}` ({cidr}) is outside the VPC {v}"),
                    sp(&s.cidr),
                    "outside the VPC",
                    format!("choose a block inside {v}"),
                );
                return None;
            }
        }
        if !(16..=28).contains(&cidr.prefix_len()) {
            self.err(
                "E0212",
                format!(
                    "subnet `{sname}` has prefix /{}; AWS allows /16 to /28",
                    cidr.prefix_len()
                ),
                sp(&s.cidr),
                "subnet size not allowed",
                "use a prefix between /16 and /28",
            );
        }
        if let Some(other) = subnets
            .iter()
            .find(|o| o.cidr.contains(&cidr) || cidr.contains(&o.cidr))
        {
            self.err(
                "E0213",
                format!(
                    "subnet `{sname}` ({cidr}) overlaps subnet `{}` ({})",
                    other.name, other.cidr
                ),
                sp(&s.cidr),
                format!("overlaps `{}`", other.name),
                "subnets of one VPC must not overlap: give one of the two another block",
            );
        }
        // A subnet with a wrong tier is reported above and left out, so that
        // no check downstream reasons about a tier it does not have.
        Some(Subnet {
            name: sname,
            tier: tier?,
            cidr,
            az: s.az.get_ref().clone(),
        })
    }

    /// A subnet's zone must be one the network lists.
    fn subnet_zone(&mut self, s: &raw::Subnet, sname: &str, zones: &Zones<'_>) {
        if zones.azs.contains(s.az.get_ref()) {
            return;
        }
        let (region, azs) = (zones.region, zones.azs);
        let in_region = zones
            .region_azs
            .is_some_and(|letters| az_in_region(s.az.get_ref(), region, letters));
        if in_region {
            self.err(
                "E0210",
                format!(
                    "subnet `{sname}` is in zone `{}`, which the network does not list",
                    s.az.get_ref()
                ),
                sp(&s.az),
                "zone not in network.azs",
                format!("add it to network.azs or use one of: {}", azs.join(", ")),
            );
        } else {
            self.err(
                "E0205",
                format!(
                    "availability zone `{}` is not in region {region}",
                    s.az.get_ref()
                ),
                sp(&s.az),
                "AZ not in the region",
                format!("use one of: {}", azs.join(", ")),
            );
        }
    }

    /// Checked last of all: one NAT gateway per private subnet costs money
    /// (the hourly price from `review::prices`, when it has the region).
    pub(super) fn nat_cost(&mut self, n: &raw::Network, network: &Network, region: &str) {
        let nat_written_ok = n.nat.as_ref().is_none_or(|s| s.get_ref() == "per_subnet");
        if nat_written_ok
            && network.nat == NatMode::PerSubnet
            && network.subnets_of(Tier::Private).count() > 1
        {
            let k = network.subnets_of(Tier::Private).count();
            let span = n.nat.as_ref().map(sp).unwrap_or(sp(&n.cidr));
            let cost = match nat_gateway_hourly(region) {
                Some(h) => format!(
                    ": about ${:.2}/month before data, against ${:.2} for one shared gateway",
                    k as f64 * h * HOURS_PER_MONTH,
                    h * HOURS_PER_MONTH
                ),
                None => ", each billed by the hour, against one for a shared gateway".to_string(),
            };
            self.warn(
                "W0215",
                format!("nat = per_subnet creates {k} NAT gateways{cost}"),
                span,
                "one NAT gateway per private subnet",
                "set network.nat = \"single\" unless each zone must survive the loss of another",
            );
        }
    }
}
