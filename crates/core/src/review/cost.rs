//! `chronous cost`: a monthly estimate of what the environment's resources
//! cost on AWS, per resource and in total, from the dated table in
//! [`super::prices`]. One exhaustive `match` over the resource kinds says,
//! for each, what it is billed for: an hourly price, a price per GB that
//! depends on use (left out, and said so), or nothing.

use serde::Serialize;

use super::prices::{price, Item, HOURS_PER_MONTH, PRICES_AS_OF};
use crate::env::Environment;
use crate::resources::{expand, Resource, Spec};

/// One billed item of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    pub address: String,
    /// What is billed, e.g. `t2.nano instance (1 x 730 h)`.
    pub item: String,
    /// USD a month; `None` when the table has no price for it.
    pub monthly_usd: Option<f64>,
    /// The unit price used, USD.
    pub unit_usd: Option<f64>,
    /// Where the price was read, or why there is none.
    pub source: String,
}

/// The estimate of one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub environment: String,
    pub region: String,
    pub prices_as_of: &'static str,
    pub hours_per_month: f64,
    pub lines: Vec<CostLine>,
    /// The sum of the lines that have a price.
    pub total_usd: f64,
    /// How many lines have no price (the total leaves them out).
    pub unpriced: usize,
    /// What the estimate does not include, one sentence each.
    pub left_out: Vec<String>,
}

/// What the estimate never includes (usage-priced or outside the file).
const LEFT_OUT: &[&str] = &[
    "data transfer out to the internet and between availability zones (per GB)",
    "NAT gateway data processing (per GB processed)",
    "classic load balancer data processed (per GB)",
    "CloudWatch Logs ingestion and storage of the log group (per GB: depends on the volume the service writes)",
    "ECR storage of the images (per GB-month)",
    "S3 storage and requests of the backup bucket (per GB-month and per request)",
    "EBS root volumes of the EC2 instances (per GB-month; the size comes from the AMI)",
    "RDS backup storage beyond the free allowance (the provisioned storage size)",
    "public IPv4 addresses of an internet-facing load balancer (AWS assigns them per zone; the file does not say how many)",
    "KMS requests to decrypt the SSM SecureString (per 10,000 requests; the parameter itself is standard tier, free)",
];

/// The estimate for `env`, resource by resource in expansion order.
pub fn estimate(env: &Environment) -> Estimate {
    let resources = expand(env);
    let mut lines = Vec::new();
    for r in &resources {
        lines.extend(lines_of(&env.region, r, &resources));
    }
    let total_usd = cents(lines.iter().filter_map(|l| l.monthly_usd).sum::<f64>());
    let unpriced = lines.iter().filter(|l| l.monthly_usd.is_none()).count();
    Estimate {
        environment: env.name.clone(),
        region: env.region.clone(),
        prices_as_of: PRICES_AS_OF,
        hours_per_month: HOURS_PER_MONTH,
        lines,
        total_usd,
        unpriced,
        left_out: LEFT_OUT.iter().map(|s| s.to_string()).collect(),
    }
}

/// Rounded to a hundredth of a cent (no float noise in JSON).
fn cents(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// An hourly-priced line: `count` of `item` running the whole month.
fn hourly(region: &str, address: &str, what: &str, count: u32, item: Item<'_>) -> CostLine {
    let found = price(region, item);
    let unit = found.and_then(|p| p.usd);
    let source = match found {
        Some(p) if p.usd.is_some() => p.source.to_string(),
        Some(p) => format!(
            "no price for {what} in the table (as of {PRICES_AS_OF}): {}",
            p.source
        ),
        None => format!("no price for {what} in {region} in the table (as of {PRICES_AS_OF})"),
    };
    CostLine {
        address: address.to_string(),
        item: format!("{what}, {count} x {HOURS_PER_MONTH} h"),
        monthly_usd: unit.map(|u| cents(u * HOURS_PER_MONTH * count as f64)),
        unit_usd: unit,
        source,
    }
}

/// The instance type of the launch template an auto scaling group names.
fn launch_template_type<'a>(template_ref: &str, all: &'a [Resource]) -> Option<&'a str> {
    all.iter().find_map(|r| match &r.spec {
        Spec::LaunchTemplate(t) if template_ref.contains(&format!("{}.", r.address)) => {
            Some(t.instance_type.as_str())
        }
        _ => None,
    })
}

/// What one resource is billed for.
fn lines_of(region: &str, r: &Resource, all: &[Resource]) -> Vec<CostLine> {
    let a = r.address.as_str();
    match &r.spec {
        Spec::AutoScalingGroup(g) => {
            let t = launch_template_type(&g.launch_template_id, all).unwrap_or("?");
            vec![hourly(
                region,
                a,
                &format!("{t} EC2 instance"),
                g.desired_capacity,
                Item::Ec2Hour(t),
            )]
        }
        Spec::Instance(i) => {
            let mut v = vec![hourly(
                region,
                a,
                &format!("{} EC2 instance", i.instance_type),
                1,
                Item::Ec2Hour(&i.instance_type),
            )];
            if i.associate_public_ip_address {
                v.push(hourly(
                    region,
                    a,
                    "public IPv4 address",
                    1,
                    Item::PublicIpv4Hour,
                ));
            }
            v
        }
        Spec::NatGateway(_) => vec![hourly(region, a, "NAT gateway", 1, Item::NatGatewayHour)],
        Spec::Eip(_) => vec![hourly(
            region,
            a,
            "public IPv4 address (Elastic IP)",
            1,
            Item::PublicIpv4Hour,
        )],
        Spec::Elb(_) => vec![hourly(
            region,
            a,
            "classic load balancer",
            1,
            Item::ClassicElbHour,
        )],
        Spec::DbInstance(d) => db_lines(region, a, &d.instance_class, d.allocated_storage),
        // Free, or billed only by use (see LEFT_OUT).
        Spec::Vpc(_)
        | Spec::Subnet(_)
        | Spec::InternetGateway(_)
        | Spec::RouteTable(_)
        | Spec::RouteTableAssociation(_)
        | Spec::SecurityGroup(_)
        | Spec::SecurityGroupRule(_)
        | Spec::KeyPair(_)
        | Spec::AmiLookup(_)
        | Spec::IamRole(_)
        | Spec::IamRolePolicyAttachment(_)
        | Spec::IamRolePolicy(_)
        | Spec::IamInstanceProfile(_)
        | Spec::LaunchTemplate(_)
        | Spec::LaunchConfiguration(_)
        | Spec::EcsCluster(_)
        | Spec::EcrRepository(_)
        | Spec::EcsTaskDefinition(_)
        | Spec::EcsService(_)
        | Spec::CloudwatchLogGroup(_)
        | Spec::S3Bucket(_)
        | Spec::S3Object(_)
        | Spec::DbSubnetGroup(_)
        | Spec::SsmParameter(_)
        | Spec::Data(_) => Vec::new(),
    }
}

/// The database: its class by the hour, its gp2 storage by the GB-month.
fn db_lines(region: &str, a: &str, class: &str, storage_gb: u32) -> Vec<CostLine> {
    let instance = hourly(
        region,
        a,
        &format!("{class} MySQL single-AZ"),
        1,
        Item::RdsHour(class),
    );
    let what = format!("{storage_gb} GB gp2 storage");
    let found = price(region, Item::RdsGp2GbMonth);
    let unit = found.and_then(|p| p.usd);
    let source = match found {
        Some(p) if p.usd.is_some() => p.source.to_string(),
        Some(p) => format!(
            "no price for RDS gp2 storage in the table (as of {PRICES_AS_OF}): {}",
            p.source
        ),
        None => {
            format!("no price for RDS gp2 storage in {region} in the table (as of {PRICES_AS_OF})")
        }
    };
    let storage = CostLine {
        address: a.to_string(),
        item: what,
        monthly_usd: unit.map(|u| cents(u * storage_gb as f64)),
        unit_usd: unit,
        source,
    };
    vec![instance, storage]
}

impl Estimate {
    /// The estimate as a person reads it: one line per billed item, the
    /// total, what has no price, what is left out, and the sources.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "chronous cost: environment `{}` in {}, on-demand list prices as of {} ({} hours a month)\n",
            self.environment, self.region, self.prices_as_of, self.hours_per_month
        );
        let aw = self
            .lines
            .iter()
            .map(|l| l.address.len())
            .max()
            .unwrap_or(0);
        let iw = self.lines.iter().map(|l| l.item.len()).max().unwrap_or(0);
        for l in &self.lines {
            let money = match l.monthly_usd {
                Some(m) => format!("{:>9}", format!("${m:.2}")),
                None => format!("{:>9}", "no price"),
            };
            let _ = writeln!(o, "{:aw$}  {:iw$}  {money}", l.address, l.item);
        }
        let _ = writeln!(o);
        if self.unpriced == 0 {
            let _ = writeln!(o, "total: ${:.2} a month", self.total_usd);
        } else {
            let _ = writeln!(
                o,
                "total: ${:.2} a month for the priced lines; {} line(s) have no price in the table and are not in the total:",
                self.total_usd, self.unpriced
            );
            for l in self.lines.iter().filter(|l| l.monthly_usd.is_none()) {
                let _ = writeln!(o, "  - {}: {}", l.address, l.source);
            }
        }
        let _ = writeln!(o, "left out (billed by use, not in the file):");
        for s in &self.left_out {
            let _ = writeln!(o, "  - {s}");
        }
        let _ = writeln!(o, "sources:");
        let mut seen: Vec<&str> = Vec::new();
        for l in self.lines.iter().filter(|l| l.monthly_usd.is_some()) {
            if !seen.contains(&l.source.as_str()) {
                seen.push(&l.source);
                let _ = writeln!(o, "  - {}", l.source);
            }
        }
        o
    }
}
