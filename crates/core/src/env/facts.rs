//! Facts about AWS that validation and expansion need: the regions chronous
//! knows and their availability zones, EC2 instance type sizes, RDS DB
//! classes, the retention periods CloudWatch Logs offers, and the addresses
//! AWS reserves in a subnet. Plain tables, no logic beyond looking a value
//! up. Prices are in `review::prices` (dated, with their sources).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Regions chronous knows, with their availability-zone letters.
pub const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "abcdef"),
    ("us-east-2", "abc"),
    ("us-west-1", "ac"),
    ("us-west-2", "abcd"),
    ("ca-central-1", "abd"),
    ("eu-west-1", "abc"),
    ("eu-west-2", "abc"),
    ("eu-west-3", "abc"),
    ("eu-central-1", "abc"),
    ("eu-north-1", "abc"),
    ("ap-south-1", "abc"),
    ("ap-northeast-1", "acd"),
    ("ap-northeast-2", "abcd"),
    ("ap-southeast-1", "abc"),
    ("ap-southeast-2", "abc"),
    ("sa-east-1", "abc"),
];

/// Memory (MiB) and vCPUs of the EC2 instance types chronous knows.
pub const INSTANCE_TYPES: &[(&str, u32, u32)] = &[
    ("t2.nano", 512, 1),
    ("t2.micro", 1024, 1),
    ("t2.small", 2048, 1),
    ("t2.medium", 4096, 2),
    ("t2.large", 8192, 2),
    ("t3.nano", 512, 2),
    ("t3.micro", 1024, 2),
    ("t3.small", 2048, 2),
    ("t3.medium", 4096, 2),
    ("t3.large", 8192, 2),
    ("m5.large", 8192, 2),
    ("m5.xlarge", 16384, 4),
    ("c5.large", 4096, 2),
];

pub fn instance_type(name: &str) -> Option<(u32, u32)> {
    INSTANCE_TYPES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, m, c)| (*m, *c))
}

/// DB instance classes RDS offers for MySQL that chronous knows.
pub const DB_CLASSES: &[&str] = &[
    "db.t2.micro",
    "db.t2.small",
    "db.t2.medium",
    "db.t3.micro",
    "db.t3.small",
    "db.t3.medium",
    "db.t3.large",
    "db.m5.large",
    "db.r5.large",
];

/// Whether `az` is one of `region`'s zones, given the region's zone letters.
pub fn az_in_region(az: &str, region: &str, letters: &str) -> bool {
    az.len() == region.len() + 1
        && az.starts_with(region)
        && az.chars().last().is_some_and(|c| letters.contains(c))
}

/// The retention periods (days) CloudWatch Logs offers.
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653,
];

/// The first IPv4 address a CIDR hands out to hosts (AWS reserves the first four).
pub fn first_host(n: &Ipv4Net) -> Ipv4Addr {
    let base = u32::from(n.network());
    Ipv4Addr::from(base + 4)
}
