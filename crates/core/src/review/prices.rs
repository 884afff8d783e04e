//! The dated price table `chronous cost` estimates from, and validation's
//! NAT-cost warning (W0215) too: on-demand list prices in USD, by region,
//! each with where it was read. A price that could not be found is in the
//! table as `None` with the reason, never guessed; an estimate then says so.
//!
//! To update: read the prices again at the sources, change the figures and
//! `PRICES_AS_OF`, and review the snapshots of `chronous cost`.

/// The day the table was last checked against its sources.
pub const PRICES_AS_OF: &str = "2026-11-29";

/// Hours in a month, as AWS's own monthly figures use (8,760 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// What is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// An EC2 instance of this type (Linux, shared tenancy), per hour.
    Ec2Hour(&'a str),
    /// An RDS instance of this class (MySQL, single-AZ), per hour.
    RdsHour(&'a str),
    /// RDS General Purpose (gp2) storage, per GB-month.
    RdsGp2GbMonth,
    /// A NAT gateway, per hour (data processing is per GB: not estimated).
    NatGatewayHour,
    /// A classic load balancer, per hour (data processed is per GB: not estimated).
    ClassicElbHour,
    /// A public IPv4 address (Elastic IP or auto-assigned), per hour.
    PublicIpv4Hour,
}

/// One line of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub usd: Option<f64>,
    /// Where the figure was read, or why there is none.
    pub source: &'static str,
}

const VPC_PRICING: &str = "https://aws.amazon.com/vpc/pricing/ (NAT gateway example for US East (Ohio): $0.045 per hour, $0.045 per GB processed)";
const IPV4_BLOG: &str = "https://aws.amazon.com/blogs/networking-and-content-delivery/identify-and-optimize-public-ipv4-address-usage-on-aws/ ($0.005 per IP per hour for every public IPv4 address from 2024-02-01)";
const EC2_T2: &str = "https://aws.amazon.com/ec2/pricing/on-demand/ (t2 Linux rates, as copied in gist.github.com/franc3000/cfa43461aeb2e7bd4c2c53cb89f808a8; the copy names no region; us-east-1 and us-east-2 list the same t2 rates)";
const NOT_FOUND_ELB: &str = "https://aws.amazon.com/elasticloadbalancing/pricing/ shows its rates by script; no copy with the US East (Ohio) rate was found";
const NOT_FOUND_RDS: &str = "https://aws.amazon.com/rds/mysql/pricing/ shows its rates by script; no copy with the US East (Ohio) rate was found";

/// The price of `item` in `region`, when the table has the region and item.
pub fn price(region: &str, item: Item<'_>) -> Option<Price> {
    if region != "us-east-2" {
        return None;
    }
    let p = |usd: Option<f64>, source: &'static str| Some(Price { usd, source });
    match item {
        Item::Ec2Hour(t) => match t {
            "t2.nano" => p(Some(0.0058), EC2_T2),
            "t2.micro" => p(Some(0.0116), EC2_T2),
            "t2.small" => p(Some(0.023), EC2_T2),
            "t2.medium" => p(Some(0.0464), EC2_T2),
            "t2.large" => p(Some(0.0928), EC2_T2),
            _ => None,
        },
        Item::RdsHour(class) => match class {
            "db.t2.small" => p(None, NOT_FOUND_RDS),
            _ => None,
        },
        Item::RdsGp2GbMonth => p(None, NOT_FOUND_RDS),
        Item::NatGatewayHour => p(Some(0.045), VPC_PRICING),
        Item::ClassicElbHour => p(None, NOT_FOUND_ELB),
        Item::PublicIpv4Hour => p(Some(0.005), IPV4_BLOG),
    }
}

/// The NAT gateway's hourly price in `region`, when the table has it.
pub fn nat_gateway_hourly(region: &str) -> Option<f64> {
    price(region, Item::NatGatewayHour).and_then(|p| p.usd)
}
