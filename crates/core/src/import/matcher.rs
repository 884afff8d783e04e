//! Which object of a Terraform state is which chronous address.
//!
//! Matching is by resource type and identifying attributes, never by the
//! Terraform address alone (module paths, `count`/`for_each` keys and
//! renamed resources differ from chronous's addresses): CIDR blocks for the
//! network, names (with the `<prefix>-` chronous puts before some, a
//! `name_prefix` Terraform added after, or the `Name` tag) for named objects,
//! and structure for the rest: once an object is matched, each of its desired
//! attributes that references another object (`${aws_route_table.public.id}`)
//! tells which state object that other one is (the association's
//! `route_table_id`, the NAT gateway's `allocation_id`, ...). Security-group
//! rules compare their resolved rule (group, direction, protocol, ports,
//! sources).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::tfstate::TfObject;
use crate::resources::{name_of, Kind, Resource};
use crate::value::{refs, resolve, Ref};

/// A state object adopted at a chronous address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adoption {
    pub tf_address: String,
    pub address: String,
    pub kind: Kind,
    /// The id chronous's backend knows the object by.
    pub id: String,
}

/// A state object chronous leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmanaged {
    pub tf_address: String,
    pub reason: String,
}

/// What the state maps to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Matched {
    pub adopted: Vec<Adoption>,
    /// Objects chronous replaces by its own kind (a launch configuration by a
    /// launch template), kept as deposed objects of that address until the
    /// replacement is applied: (adoption, replacing address).
    pub legacy: Vec<(Adoption, String)>,
    /// Objects that are part of another one in chronous (an `aws_route` is a
    /// route of its `aws_route_table`): (Terraform address, chronous address).
    pub absorbed: Vec<(String, String)>,
    pub unmanaged: Vec<Unmanaged>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MatchError {
    #[error("two objects of the state claim {address}: {first} and {second}; remove one from the state (terraform state rm) or describe both in chronous.toml")]
    Duplicate {
        address: String,
        first: String,
        second: String,
    },
}

/// The chronous kind a Terraform resource type is, if chronous manages it.
pub fn kind_of(o: &TfObject) -> Option<Kind> {
    Some(match (o.mode.as_str(), o.tf_type.as_str()) {
        ("data", "aws_ami") => Kind::AmiLookup,
        ("data", _) => return None,
        (_, "aws_vpc") => Kind::Vpc,
        (_, "aws_subnet") => Kind::Subnet,
        (_, "aws_internet_gateway") => Kind::InternetGateway,
        (_, "aws_eip") => Kind::Eip,
        (_, "aws_nat_gateway") => Kind::NatGateway,
        (_, "aws_route_table") => Kind::RouteTable,
        (_, "aws_route_table_association") => Kind::RouteTableAssociation,
        (_, "aws_security_group") => Kind::SecurityGroup,
        (_, "aws_security_group_rule") => Kind::SecurityGroupRule,
        (_, "aws_key_pair") => Kind::KeyPair,
        (_, "aws_iam_role") => Kind::IamRole,
        (_, "aws_iam_role_policy_attachment") => Kind::IamRolePolicyAttachment,
        (_, "aws_iam_role_policy") => Kind::IamRolePolicy,
        (_, "aws_iam_instance_profile") => Kind::IamInstanceProfile,
        (_, "aws_launch_template") => Kind::LaunchTemplate,
        (_, "aws_launch_configuration") => Kind::LaunchConfiguration,
        (_, "aws_autoscaling_group") => Kind::AutoScalingGroup,
        (_, "aws_ecs_cluster") => Kind::EcsCluster,
        (_, "aws_ecr_repository") => Kind::EcrRepository,
        (_, "aws_ecs_task_definition") => Kind::EcsTaskDefinition,
        (_, "aws_ecs_service") => Kind::EcsService,
        (_, "aws_elb") => Kind::Elb,
        (_, "aws_cloudwatch_log_group") => Kind::CloudwatchLogGroup,
        (_, "aws_s3_bucket") => Kind::S3Bucket,
        (_, "aws_s3_bucket_object" | "aws_s3_object") => Kind::S3Object,
        (_, "aws_db_subnet_group") => Kind::DbSubnetGroup,
        (_, "aws_db_instance") => Kind::DbInstance,
        (_, "aws_instance") => Kind::Instance,
        (_, "aws_ssm_parameter") => Kind::SsmParameter,
        _ => return None,
    })
}

/// The order objects are matched in: what others are recognised by first.
fn rank(k: Kind) -> u8 {
    match k {
        Kind::Vpc => 0,
        Kind::Subnet => 1,
        Kind::InternetGateway | Kind::SecurityGroup | Kind::KeyPair | Kind::AmiLookup => 2,
        Kind::RouteTableAssociation | Kind::IamRole | Kind::EcsCluster | Kind::S3Bucket => 3,
        Kind::RouteTable | Kind::Instance | Kind::IamInstanceProfile | Kind::Elb => 4,
        Kind::NatGateway | Kind::SecurityGroupRule | Kind::IamRolePolicyAttachment => 5,
        Kind::Eip | Kind::IamRolePolicy | Kind::LaunchTemplate | Kind::LaunchConfiguration => 6,
        Kind::AutoScalingGroup | Kind::EcrRepository | Kind::CloudwatchLogGroup => 7,
        Kind::S3Object | Kind::DbSubnetGroup | Kind::SsmParameter => 7,
        Kind::DbInstance | Kind::EcsTaskDefinition => 8,
        Kind::EcsService => 9,
        Kind::Data => 10,
    }
}

/// Kinds of which an environment has at most one: the only candidate is it.
const SINGLE: &[Kind] = &[
    Kind::Vpc,
    Kind::InternetGateway,
    Kind::AmiLookup,
    Kind::KeyPair,
    Kind::EcsCluster,
    Kind::AutoScalingGroup,
    Kind::Elb,
    Kind::DbSubnetGroup,
    Kind::DbInstance,
    Kind::Instance,
    Kind::EcsService,
    Kind::EcsTaskDefinition,
];

/// The id chronous's backend knows an object by, from its state attributes.
fn chronous_id(kind: Kind, o: &TfObject) -> Option<String> {
    let s = |k: &str| o.str(k).map(str::to_string);
    match kind {
        Kind::EcsTaskDefinition | Kind::EcsCluster | Kind::EcsService => s("arn").or(s("id")),
        Kind::DbInstance => s("identifier").or(s("id")),
        Kind::KeyPair => s("key_name").or(s("id")),
        Kind::IamRole | Kind::IamInstanceProfile | Kind::AutoScalingGroup | Kind::Elb => {
            s("name").or(s("id"))
        }
        Kind::CloudwatchLogGroup | Kind::DbSubnetGroup | Kind::EcrRepository => {
            s("name").or(s("id"))
        }
        Kind::S3Bucket => s("bucket").or(s("id")),
        Kind::S3Object => Some(format!("{}/{}", s("bucket")?, s("key")?)),
        Kind::SsmParameter => s("name").or(s("id")),
        Kind::Eip => s("allocation_id").or(s("id")),
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::NatGateway
        | Kind::RouteTable
        | Kind::RouteTableAssociation
        | Kind::SecurityGroup
        | Kind::SecurityGroupRule
        | Kind::AmiLookup
        | Kind::IamRolePolicyAttachment
        | Kind::IamRolePolicy
        | Kind::LaunchTemplate
        | Kind::LaunchConfiguration
        | Kind::Instance
        | Kind::Data => s("id"),
    }
}

/// The name a state object has, for the kinds matched by name.
pub(crate) fn tf_name_of(kind: Kind, o: &TfObject) -> Option<String> {
    tf_name(kind, o)
}

fn tf_name(kind: Kind, o: &TfObject) -> Option<String> {
    let k = match kind {
        Kind::S3Bucket => "bucket",
        Kind::DbInstance => "identifier",
        Kind::EcsTaskDefinition => "family",
        Kind::KeyPair => "key_name",
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::Eip
        | Kind::NatGateway
        | Kind::RouteTable
        | Kind::RouteTableAssociation
        | Kind::SecurityGroup
        | Kind::SecurityGroupRule
        | Kind::AmiLookup
        | Kind::IamRole
        | Kind::IamRolePolicyAttachment
        | Kind::IamRolePolicy
        | Kind::IamInstanceProfile
        | Kind::LaunchTemplate
        | Kind::LaunchConfiguration
        | Kind::AutoScalingGroup
        | Kind::EcsCluster
        | Kind::EcrRepository
        | Kind::EcsService
        | Kind::Elb
        | Kind::CloudwatchLogGroup
        | Kind::S3Object
        | Kind::DbSubnetGroup
        | Kind::Instance
        | Kind::SsmParameter
        | Kind::Data => "name",
    };
    o.str(k).map(str::to_string)
}

/// Whether a state object's name is the desired `want` (chronous's
/// `<prefix>-NAME` for Terraform's `NAME`, or Terraform's `name_prefix` form
/// `NAME-<timestamp>`).
fn same_name(prefix: &str, have: &str, want: &str) -> bool {
    let bare = want.strip_prefix(&format!("{prefix}-")).unwrap_or(want);
    have == want
        || have == bare
        || have.strip_prefix(want).is_some_and(|r| r.starts_with('-'))
        || have
            .strip_prefix(bare)
            .is_some_and(|r| r.starts_with('-') && r[1..].chars().all(|c| c.is_ascii_digit()))
}

struct Ctx<'a> {
    prefix: &'a str,
    desired: &'a [Resource],
    /// chronous address -> the state object adopted there.
    at: BTreeMap<String, &'a TfObject>,
    /// a state object's id -> the chronous address its references imply.
    hints: BTreeMap<String, String>,
}

impl<'a> Ctx<'a> {
    /// The desired spec of `r` with references resolved from the adopted objects.
    fn resolved(&self, r: &Resource) -> Value {
        resolve(&r.spec.to_attrs(), &|x: &Ref| {
            self.at
                .get(&x.address)
                .and_then(|o| o.attrs.get(&x.attr))
                .map(super::as_output)
        })
    }

    /// Learn from a match: each desired attribute that is exactly a reference
    /// to another object's id names the state object holding that id.
    fn learn(&mut self, r: &Resource, o: &TfObject) {
        let spec = r.spec.to_attrs();
        let Some(obj) = spec.as_object() else { return };
        for (k, v) in obj {
            let tf = o.attrs.get(k);
            let pairs: Vec<(&Value, Option<&Value>)> = match (v, tf) {
                (Value::Array(a), Some(Value::Array(b))) if a.len() == b.len() => {
                    a.iter().zip(b.iter().map(Some)).collect()
                }
                _ => vec![(v, tf)],
            };
            for (want, have) in pairs {
                let (Some(Value::String(have)), Some(w)) = (have, want.as_str()) else {
                    continue;
                };
                let rs = refs(&Value::String(w.to_string()));
                if rs.len() == 1 && w.starts_with("${") && w.ends_with('}') {
                    let x = rs.into_iter().next().expect("one");
                    self.hints.entry(have.clone()).or_insert(x.address);
                }
            }
        }
    }

    fn candidates(&self, kind: Kind) -> impl Iterator<Item = &'a Resource> + '_ {
        self.desired
            .iter()
            .filter(move |r| r.kind() == kind && !self.at.contains_key(&r.address))
    }

    /// The desired resource a state object is, if any.
    fn find(&self, kind: Kind, o: &TfObject) -> Option<&'a Resource> {
        if let Some(a) = o.id().and_then(|id| self.hints.get(id)) {
            if let Some(r) = self
                .desired
                .iter()
                .find(|r| &r.address == a && r.kind() == kind)
            {
                return Some(r);
            }
        }
        let by_identity = self.candidates(kind).find(|r| self.same(kind, o, r));
        if by_identity.is_some() {
            return by_identity;
        }
        if kind == Kind::IamRole {
            // A role named otherwise: the one role the file trusts the same services with.
            let have = trusted(o);
            let mut same = self.candidates(kind).filter(|r| {
                let want: BTreeSet<String> = r.spec.to_attrs()["trusted_services"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                !have.is_empty() && want == have
            });
            if let (Some(r), None) = (same.next(), same.next()) {
                return Some(r);
            }
        }
        let mut all = self.candidates(kind);
        match (SINGLE.contains(&kind), all.next(), all.next()) {
            (true, Some(r), None) => Some(r),
            _ => None,
        }
    }

    /// Whether state object `o` is desired resource `r`, by its identifying attributes.
    fn same(&self, kind: Kind, o: &TfObject, r: &Resource) -> bool {
        let want = self.resolved(r);
        let w = |k: &str| {
            want.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match kind {
            Kind::Vpc | Kind::Subnet => o.str("cidr_block") == Some(w("cidr_block").as_str()),
            Kind::InternetGateway => o.str("vpc_id") == Some(w("vpc_id").as_str()),
            Kind::RouteTableAssociation => o.str("subnet_id") == Some(w("subnet_id").as_str()),
            Kind::IamRolePolicyAttachment => {
                o.str("role") == Some(w("role").as_str())
                    && o.str("policy_arn") == Some(w("policy_arn").as_str())
            }
            Kind::SecurityGroupRule => same_rule(o, &want),
            Kind::S3Object => {
                o.str("bucket") == Some(w("bucket").as_str())
                    && o.str("key") == Some(w("key").as_str())
            }
            Kind::IamRole => {
                let named = tf_name(kind, o)
                    .zip(name_of(&r.spec))
                    .is_some_and(|(h, n)| same_name(self.prefix, &h, &n));
                named
                    || o.address
                        .ends_with(&format!(".{}", &r.address["aws_iam_role.".len()..]))
            }
            Kind::Eip
            | Kind::NatGateway
            | Kind::RouteTable
            | Kind::SecurityGroup
            | Kind::KeyPair
            | Kind::AmiLookup
            | Kind::IamRolePolicy
            | Kind::IamInstanceProfile
            | Kind::LaunchTemplate
            | Kind::LaunchConfiguration
            | Kind::AutoScalingGroup
            | Kind::EcsCluster
            | Kind::EcrRepository
            | Kind::EcsTaskDefinition
            | Kind::EcsService
            | Kind::Elb
            | Kind::CloudwatchLogGroup
            | Kind::S3Bucket
            | Kind::DbSubnetGroup
            | Kind::DbInstance
            | Kind::Instance
            | Kind::SsmParameter
            | Kind::Data => match (tf_name(kind, o), name_of(&r.spec)) {
                (Some(h), Some(n)) => {
                    same_name(self.prefix, &h, &n)
                        || o.name_tag().is_some_and(|t| same_name(self.prefix, t, &n))
                }
                _ => false,
            },
        }
    }
}

/// A security-group rule: same group, direction, protocol, ports and sources.
fn same_rule(o: &TfObject, want: &Value) -> bool {
    let w = |k: &str| want.get(k).cloned().unwrap_or(Value::Null);
    let proto = o.str("protocol").map(|p| match p {
        "all" => "-1",
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        p => p,
    });
    let num = |k: &str| o.attrs.get(k).and_then(Value::as_i64);
    let ports = w("protocol") == "-1"
        || (num("from_port") == w("from_port").as_i64() && num("to_port") == w("to_port").as_i64());
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
    let want_cidrs = set(w("cidr_blocks")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default());
    o.str("security_group_id") == w("security_group_id").as_str()
        && o.str("type") == w("direction").as_str()
        && proto == w("protocol").as_str()
        && ports
        && set(o.strs("cidr_blocks")) == want_cidrs
        && o.str("source_security_group_id") == w("source_security_group_id").as_str()
}

/// Map every object of the state to a chronous address, or say why not.
pub fn match_state(
    objects: &[TfObject],
    desired: &[Resource],
    prefix: &str,
) -> Result<Matched, MatchError> {
    let mut order: Vec<(&TfObject, Option<Kind>)> =
        objects.iter().map(|o| (o, kind_of(o))).collect();
    order.sort_by_key(|(_, k)| k.map(rank).unwrap_or(11));
    let mut cx = Ctx {
        prefix,
        desired,
        at: BTreeMap::new(),
        hints: BTreeMap::new(),
    };
    // NAT gateways are recognised by the routes that use them.
    for o in objects.iter().filter(|o| o.tf_type == "aws_route") {
        route_hint(&mut cx, o);
    }
    let mut m = Matched::default();
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for (o, kind) in order {
        let Some(kind) = kind else {
            m.unmanaged.push(unmanaged_other(o, &cx));
            continue;
        };
        if kind == Kind::LaunchConfiguration {
            legacy(&mut m, o, desired);
            continue;
        }
        if kind == Kind::NatGateway {
            nat_hints(&mut cx);
        }
        let Some(r) = cx.find(kind, o) else {
            m.unmanaged.push(Unmanaged {
                tf_address: o.address.clone(),
                reason: not_desired(kind, o),
            });
            continue;
        };
        if let Some(first) = claimed.get(&r.address) {
            return Err(MatchError::Duplicate {
                address: r.address.clone(),
                first: first.clone(),
                second: o.address.clone(),
            });
        }
        claimed.insert(r.address.clone(), o.address.clone());
        cx.at.insert(r.address.clone(), o);
        cx.learn(r, o);
        m.adopted.push(Adoption {
            tf_address: o.address.clone(),
            address: r.address.clone(),
            kind,
            id: chronous_id(kind, o).unwrap_or_default(),
        });
    }
    duplicates(&cx, objects, &claimed)?;
    for (tf, into) in route_absorbed(&cx, objects) {
        m.unmanaged.retain(|u| u.tf_address != tf);
        m.absorbed.push((tf, into));
    }
    Ok(m)
}

/// `aws_route`s of adopted route tables: part of them in chronous.
fn route_absorbed(cx: &Ctx, objects: &[TfObject]) -> Vec<(String, String)> {
    objects
        .iter()
        .filter(|o| o.tf_type == "aws_route")
        .filter_map(|o| {
            let rt = o.str("route_table_id")?;
            let (a, _) = cx.at.iter().find(|(_, t)| t.id() == Some(rt))?;
            Some((o.address.clone(), a.clone()))
        })
        .collect()
}

/// Two state objects of a kind whose identity is unique (same name, same CIDR)
/// that were not both adopted: one was left unmanaged although it is the same object.
fn duplicates(
    cx: &Ctx,
    objects: &[TfObject],
    claimed: &BTreeMap<String, String>,
) -> Result<(), MatchError> {
    for o in objects {
        let Some(kind) = kind_of(o) else { continue };
        if claimed.values().any(|a| a == &o.address) || kind == Kind::LaunchConfiguration {
            continue;
        }
        for (address, first) in claimed {
            let Some(r) = cx
                .desired
                .iter()
                .find(|r| &r.address == address && r.kind() == kind)
            else {
                continue;
            };
            if cx.same(kind, o, r) {
                return Err(MatchError::Duplicate {
                    address: address.clone(),
                    first: first.clone(),
                    second: o.address.clone(),
                });
            }
        }
    }
    Ok(())
}

/// An `aws_route` of a matched route table: the NAT gateway it routes to is
/// the one the desired route table's route references.
fn route_hint(cx: &mut Ctx, route: &TfObject) {
    let (Some(rt), Some(cidr)) = (
        route.str("route_table_id"),
        route.str("destination_cidr_block"),
    ) else {
        return;
    };
    let rt = rt.to_string();
    let cidr = cidr.to_string();
    let nat = route.str("nat_gateway_id").map(str::to_string);
    cx.hints
        .insert(format!("route:{rt}:{cidr}"), nat.unwrap_or_default());
}

/// The hints an `aws_route` gives once its route table is known.
fn nat_hints(cx: &mut Ctx) {
    let mut add = Vec::new();
    for (address, o) in &cx.at {
        let Some(r) = cx
            .desired
            .iter()
            .find(|r| &r.address == address && r.kind() == Kind::RouteTable)
        else {
            continue;
        };
        let Some(id) = o.id() else { continue };
        let spec = r.spec.to_attrs();
        for route in spec
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cidr = route
                .get("cidr_block")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(nat) = cx
                .hints
                .get(&format!("route:{id}:{cidr}"))
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            let Some(w) = route.get("nat_gateway_id").and_then(Value::as_str) else {
                continue;
            };
            if let Some(x) = refs(&Value::String(w.to_string())).into_iter().next() {
                add.push((nat.clone(), x.address));
            }
        }
    }
    for (k, v) in add {
        cx.hints.entry(k).or_insert(v);
    }
}

fn legacy(m: &mut Matched, o: &TfObject, desired: &[Resource]) {
    let Some(lt) = desired.iter().find(|r| r.kind() == Kind::LaunchTemplate) else {
        m.unmanaged.push(Unmanaged {
            tf_address: o.address.clone(),
            reason: "the environment has no container instances' launch template to replace it"
                .into(),
        });
        return;
    };
    let a = Adoption {
        tf_address: o.address.clone(),
        address: format!(
            "aws_launch_configuration.{}",
            o.address
                .rsplit('.')
                .next()
                .unwrap_or("legacy")
                .split('[')
                .next()
                .unwrap_or("legacy")
        ),
        kind: Kind::LaunchConfiguration,
        id: o.str("name").or(o.id()).unwrap_or_default().to_string(),
    };
    m.legacy.push((a, lt.address.clone()));
}

/// Why a state object of a kind chronous manages is none of the desired ones.
fn not_desired(kind: Kind, o: &TfObject) -> String {
    let broad = (kind == Kind::IamRolePolicyAttachment)
        .then(|| o.str("policy_arn").zip(o.str("role")))
        .flatten()
        .and_then(|(arn, role)| crate::review::broad_policy(arn).map(|n| (arn, role, n)));
    match broad {
        Some((arn, role, name)) => format!(
            "attaches the AWS managed policy {name} to role {role}, which chronous does not attach (CHR-IAM-001: every action of the service, on every resource{}); chronous leaves it attached and never detaches it (so `destroy` cannot delete the role while it is): you may detach it (aws iam detach-role-policy --role-name {role} --policy-arn {arn})",
            if name == "CloudWatchLogsFullAccess" {
                "; the container instances' logs:CreateLogStream and logs:PutLogEvents come from AmazonEC2ContainerServiceforEC2Role"
            } else {
                ""
            }
        ),
        None => format!(
            "nothing in chronous.toml is this {} (no {kind} with its identifying attributes)",
            o.tf_type
        ),
    }
}

fn unmanaged_other(o: &TfObject, cx: &Ctx) -> Unmanaged {
    let reason = match o.tf_type.as_str() {
        "aws_route" => {
            let rt = o.str("route_table_id").unwrap_or_default();
            match cx.at.iter().find(|(_, t)| t.id() == Some(rt)) {
                Some((a, _)) => format!("a route of {a}: chronous keeps the routes inside the route table"),
                None => "a route of a route table chronous does not manage".into(),
            }
        }
        "aws_iam_policy_attachment" => "an exclusive policy attachment (aws_iam_policy_attachment): chronous attaches policies per role and leaves this one alone".into(),
        t if o.mode == "data" => format!("a data source ({t}): nothing to manage"),
        t => format!("chronous does not manage {t}"),
    };
    Unmanaged {
        tf_address: o.address.clone(),
        reason,
    }
}

/// The services a role's trust policy (`assume_role_policy`) lets assume it.
fn trusted(o: &TfObject) -> BTreeSet<String> {
    let doc: Value = o
        .str("assume_role_policy")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let mut out = BTreeSet::new();
    for st in doc["Statement"].as_array().into_iter().flatten() {
        match &st["Principal"]["Service"] {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Array(a) => out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string))),
            _ => {}
        }
    }
    out
}
