//! One function per lint (the table is [`super::LintId`]). Each looks at
//! the validated environment, finds its place in the file as written
//! (`Cx::raw`), and says what is wrong and what to do.

use std::ops::Range;

use super::deploy::{guaranteed_downtime, healthy_kept, zero_downtime_settings};
use super::secrets::{classify, SecretKind};
use super::{Cx, Finding, LintId};
use crate::env::raw::{self, S};
use crate::env::{Protocol, Rule, Source, Tier};
use crate::reach::{reach, Endpoint, Service, Verdict};
use crate::resources::Spec;

/// A rule's source is the whole internet (0.0.0.0/0 or ::/0).
fn world(s: &Source) -> bool {
    matches!(s, Source::Cidr(n) if n.prefix_len() == 0)
}

/// Whether a rule admits TCP on `port`.
fn covers_tcp(r: &Rule, port: u16) -> bool {
    match r.protocol {
        Protocol::All => true,
        Protocol::Tcp => r.from_port <= port as i64 && port as i64 <= r.to_port,
        Protocol::Udp | Protocol::Icmp => false,
    }
}

/// How a rule's protocol and ports read in a message.
fn ports(r: &Rule) -> String {
    match r.protocol {
        Protocol::All => "all traffic".to_string(),
        Protocol::Icmp => "icmp".to_string(),
        Protocol::Tcp | Protocol::Udp if r.from_port == r.to_port => {
            format!("{}/{}", r.protocol.as_str(), r.from_port)
        }
        Protocol::Tcp | Protocol::Udp => {
            format!("{}/{}-{}", r.protocol.as_str(), r.from_port, r.to_port)
        }
    }
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Cidr(n) => n.to_string(),
        Source::Group(g) => format!("sg:{g}"),
        Source::Bastion => "bastion".into(),
        Source::Operator => "operator".into(),
        Source::Tier(t) => format!("tier:{}", t.as_str()),
    }
}

impl Cx<'_> {
    fn raw_group(&self, name: &str) -> Option<&raw::SecurityGroup> {
        self.raw
            .as_ref()?
            .security_groups
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(_, g)| g)
    }

    /// The place of ingress rule `i` of group `name` (its source). A valid
    /// file keeps every rule it writes, in order, so the indexes agree.
    fn ingress_span(&self, name: &str, i: usize) -> Option<Range<usize>> {
        Some(self.raw_group(name)?.ingress.get(i)?.source.span())
    }

    /// Every ingress rule of every group: (group, index, rule).
    fn ingress(&self) -> impl Iterator<Item = (&str, usize, &Rule)> {
        self.env.security_groups.iter().flat_map(|g| {
            g.ingress
                .iter()
                .enumerate()
                .map(move |(i, r)| (g.name.as_str(), i, r))
        })
    }

    fn raw_file(&self) -> Option<&raw::File> {
        self.raw.as_ref()
    }
}

/// The verdict for the internet reaching `to` on the service it receives
/// (the ELB's listener, the tasks' port, the database's port), when it is allowed.
fn internet_reaches(cx: &Cx<'_>, to: Endpoint) -> Option<(Service, Verdict)> {
    if !cx.net.has(to) {
        return None;
    }
    cx.net.services_of(to).into_iter().find_map(|(svc, _)| {
        let v = reach(&cx.net, Endpoint::Internet, to, svc);
        v.allowed.then_some((svc, v))
    })
}

/// The groups of an endpoint as the file names them.
fn groups_of(cx: &Cx<'_>, e: Endpoint) -> Vec<String> {
    match e {
        Endpoint::Elb => cx
            .env
            .load_balancer
            .iter()
            .flat_map(|lb| lb.security_groups.clone())
            .collect(),
        Endpoint::Tasks | Endpoint::Instances => cx.env.cluster.security_groups.clone(),
        Endpoint::Database => cx
            .env
            .database
            .iter()
            .flat_map(|d| d.security_groups.clone())
            .collect(),
        Endpoint::Bastion => cx
            .env
            .bastion
            .iter()
            .flat_map(|b| b.security_groups.clone())
            .collect(),
        Endpoint::Internet | Endpoint::Operator | Endpoint::PrivateSide => Vec::new(),
    }
}

/// The place of the first ingress rule of `e`'s groups that admits addresses
/// outside the VPC on `svc` (what to change when the internet gets in).
fn outside_rule_span(cx: &Cx<'_>, e: Endpoint, svc: Service) -> Option<Range<usize>> {
    let port = svc.port?;
    let groups = groups_of(cx, e);
    cx.ingress()
        .filter(|(g, _, r)| groups.iter().any(|x| x == g) && covers_tcp(r, port))
        .find(|(_, _, r)| matches!(r.source, Source::Cidr(_)) && from_outside(cx, r))
        .and_then(|(g, i, _)| cx.ingress_span(g, i))
}

/// The place of `name` in a list of names as written.
fn in_list(list: &[S<String>], name: &str) -> Option<Range<usize>> {
    list.iter().find(|s| s.get_ref() == name).map(|s| s.span())
}

/// CHR-SG-001: SSH (tcp/22) admitted from 0.0.0.0/0 or ::/0.
pub(super) fn ssh_open_to_world(cx: &Cx<'_>) -> Vec<Finding> {
    cx.ingress()
        .filter(|(_, _, r)| world(&r.source) && covers_tcp(r, 22))
        .map(|(g, i, r)| {
            Finding::new(
                LintId::SshOpenToWorld,
                match ports(r).as_str() {
                    "tcp/22" => format!(
                        "security group `{g}` admits SSH (tcp/22) from the whole internet ({})",
                        source_text(&r.source)
                    ),
                    other => format!(
                        "security group `{g}` admits {other} from the whole internet ({}), SSH (tcp/22) included",
                        source_text(&r.source)
                    ),
                },
                "admit SSH from `operator` (environment.operator_cidr) on the bastion's group, and from `bastion` on the others",
            )
            .at(cx.ingress_span(g, i), "anyone on the internet")
        })
        .collect()
}

/// CHR-SG-002: the database's port (MySQL, tcp/3306) admitted from the
/// whole internet, on any group; or any traffic from it on the database's groups.
pub(super) fn database_port_open_to_world(cx: &Cx<'_>) -> Vec<Finding> {
    let db_groups: Vec<&str> = cx
        .env
        .database
        .iter()
        .flat_map(|d| d.security_groups.iter().map(String::as_str))
        .collect();
    cx.ingress()
        .filter(|(g, _, r)| {
            world(&r.source)
                && (covers_tcp(r, 3306) || (db_groups.contains(g) && r.protocol != Protocol::Icmp))
        })
        .map(|(g, i, r)| {
            let whose = if db_groups.contains(&g) {
                "the database's group"
            } else {
                "MySQL's port"
            };
            Finding::new(
                LintId::DatabasePortOpenToWorld,
                format!(
                    "security group `{g}` admits {} from the whole internet ({}): {whose}",
                    ports(r),
                    source_text(&r.source)
                ),
                "admit MySQL only from the container instances' group (source = \"sg:<their group>\"), and from `bastion` for tunnels",
            )
            .at(cx.ingress_span(g, i), "anyone on the internet")
        })
        .collect()
}

/// CHR-DB-001: a subnet of the database's subnet group is public (RDS may
/// place the instance there; one flag then puts it on the internet).
pub(super) fn database_in_public_subnet(cx: &Cx<'_>) -> Vec<Finding> {
    let Some(db) = &cx.env.database else {
        return Vec::new();
    };
    db.subnets
        .iter()
        .filter(|s| cx.env.subnet(s).is_some_and(|x| x.tier == Tier::Public))
        .map(|s| {
            let span = cx
                .raw_file()
                .and_then(|r| r.database.as_ref())
                .and_then(|d| in_list(&d.subnets, s));
            Finding::new(
                LintId::DatabaseInPublicSubnet,
                format!("the database's subnet group includes `{s}`, a public subnet (a route to the internet gateway)"),
                "use subnets of tier \"database\" (no route to the internet) in database.subnets",
            )
            .at(span, "public subnet")
        })
        .collect()
}

/// CHR-DB-002: a production database destroyed without a final snapshot.
pub(super) fn production_database_without_final_snapshot(cx: &Cx<'_>) -> Vec<Finding> {
    let Some(db) = &cx.env.database else {
        return Vec::new();
    };
    if !(cx.env.production && db.skip_final_snapshot) {
        return Vec::new();
    }
    // skip_final_snapshot has no place of its own in the parsed file: the table's first key.
    let span = cx
        .raw_file()
        .and_then(|r| r.database.as_ref())
        .map(|d| d.identifier.span());
    vec![Finding::new(
        LintId::ProductionDatabaseWithoutFinalSnapshot,
        format!(
            "the production database `{}` has skip_final_snapshot = true: destroying or replacing it keeps no copy of its data",
            db.identifier
        ),
        "set database.skip_final_snapshot = false in a production environment",
    )
    .at(span, "in this [database]")]
}

/// The ports the API answers on and the groups in front of them: the load
/// balancer's listener on its groups, the instances' port on theirs.
fn api_doors(cx: &Cx<'_>) -> Vec<(String, u16, &'static str, Endpoint)> {
    let mut doors = Vec::new();
    if let Some(lb) = &cx.env.load_balancer {
        for g in &lb.security_groups {
            doors.push((
                g.clone(),
                lb.lb_port,
                "the load balancer's listener",
                Endpoint::Elb,
            ));
        }
    }
    let s = &cx.env.service;
    let port = s.host_port.filter(|p| *p != 0).unwrap_or(s.container_port);
    for g in &cx.env.cluster.security_groups {
        doors.push((
            g.clone(),
            port,
            "the API's port on the container instances",
            Endpoint::Tasks,
        ));
    }
    doors
}

/// CHR-DB-003: the internet reaches the database (a public address, a
/// route from the internet gateway and a group that admits it).
pub(super) fn database_reachable_from_internet(cx: &Cx<'_>) -> Vec<Finding> {
    let Some((svc, v)) = internet_reaches(cx, Endpoint::Database) else {
        return Vec::new();
    };
    vec![Finding::new(
        LintId::DatabaseReachableFromInternet,
        format!("the internet reaches the database on {svc}: {}", v.summary),
        "keep the database private: subnets of tier \"database\", no public access, and its group admitting only the instances' group and the bastion",
    )
    .at(outside_rule_span(cx, Endpoint::Database, svc), "admits the internet")]
}

/// CHR-NET-001: in an environment marked production, the internet reaches
/// the API (the load balancer's listener or the tasks' port), as the
/// reachability engine decides it from groups, subnets, routes and addresses.
pub(super) fn production_api_reachable_from_internet(cx: &Cx<'_>) -> Vec<Finding> {
    if !cx.env.production {
        return Vec::new();
    }
    [Endpoint::Elb, Endpoint::Tasks]
        .into_iter()
        .filter_map(|e| internet_reaches(cx, e).map(|(svc, v)| (e, svc, v)))
        .map(|(e, svc, v)| {
            Finding::new(
                LintId::ProductionApiReachableFromInternet,
                format!("production: the internet reaches the API ({}, {svc}): {}", cx.net.label(e), v.summary),
                "make the load balancer internal in the private subnets (load_balancer.internal = true) and admit only the API's clients (source = \"tier:private\")",
            )
            .at(outside_rule_span(cx, e, svc), "admits the internet")
        })
        .collect()
}

/// CHR-NET-002: in an environment marked production, a group in front of
/// the API admits the whole internet on the API's port. Even when the load
/// balancer is internal (nothing on the internet routes to it today), the
/// group says the opposite of "only Matrix-oSc across the private subnets".
pub(super) fn production_api_admits_internet(cx: &Cx<'_>) -> Vec<Finding> {
    if !cx.env.production {
        return Vec::new();
    }
    let internal = cx.env.load_balancer.as_ref().is_some_and(|lb| lb.internal);
    let mut out = Vec::new();
    for (g, port, what, e) in api_doors(cx) {
        if internet_reaches(cx, e).is_some() {
            continue; // CHR-NET-001 says more
        }
        for (gname, i, r) in cx.ingress().filter(|(n, _, _)| *n == g) {
            if !(world(&r.source) && covers_tcp(r, port)) {
                continue;
            }
            let today = if internal {
                "; the load balancer is internal, so only what routes into the VPC reaches it today, one change of internal or subnets away from everyone"
            } else {
                ""
            };
            out.push(
                Finding::new(
                    LintId::ProductionApiAdmitsInternet,
                    format!(
                        "production: security group `{gname}` admits the whole internet ({}) to {what} (tcp/{port}){today}",
                        source_text(&r.source)
                    ),
                    "admit only the clients that must reach the API (the seed's rule: source = \"tier:private\" for Matrix-oSc across the private subnets)",
                )
                .at(cx.ingress_span(gname, i), "anyone on the internet"),
            );
        }
    }
    out
}

/// CHR-LB-001: an internet-facing load balancer whose group admits the
/// whole internet on its listener, outside production (CHR-NET-002 says it there).
pub(super) fn load_balancer_open_to_world(cx: &Cx<'_>) -> Vec<Finding> {
    let Some(lb) = &cx.env.load_balancer else {
        return Vec::new();
    };
    if cx.env.production || lb.internal {
        return Vec::new();
    }
    let mut out = Vec::new();
    for g in &lb.security_groups {
        for (gname, i, r) in cx.ingress().filter(|(n, _, _)| n == g) {
            if world(&r.source) && covers_tcp(r, lb.lb_port) {
                out.push(
                    Finding::new(
                        LintId::LoadBalancerOpenToWorld,
                        format!(
                            "the load balancer `{}` is internet-facing and its group `{gname}` admits the whole internet ({}) on tcp/{}",
                            lb.name,
                            source_text(&r.source),
                            lb.lb_port
                        ),
                        "admit the clients that need the API (source = \"operator\", or their CIDR blocks); if the API is public on purpose, put it behind HTTPS and ignore this",
                    )
                    .at(cx.ingress_span(gname, i), "anyone on the internet"),
                );
            }
        }
    }
    out
}

/// Whether a rule's source can be outside the VPC (the operator, or a
/// CIDR block not inside the VPC's).
fn from_outside(cx: &Cx<'_>, r: &Rule) -> bool {
    match &r.source {
        Source::Operator => true,
        Source::Cidr(n) => match n {
            ipnet::IpNet::V4(v4) => !cx.env.network.cidr.contains(v4),
            ipnet::IpNet::V6(_) => true,
        },
        Source::Group(_) | Source::Bastion | Source::Tier(_) => false,
    }
}

/// CHR-BAS-001: neither the operator nor the internet reaches the bastion
/// on SSH (the engine's verdict), e.g. its SSH rule names its own group.
pub(super) fn bastion_unreachable(cx: &Cx<'_>) -> Vec<Finding> {
    let Some(b) = &cx.env.bastion else {
        return Vec::new();
    };
    let ssh = Service::tcp(22);
    let operator = reach(&cx.net, Endpoint::Operator, Endpoint::Bastion, ssh);
    let internet = reach(&cx.net, Endpoint::Internet, Endpoint::Bastion, ssh);
    if operator.allowed || internet.allowed {
        return Vec::new();
    }
    // Point at an SSH rule with an inside source, else at the bastion's groups.
    let inside = cx
        .ingress()
        .filter(|(g, _, _)| b.security_groups.iter().any(|x| x == g))
        .find(|(_, _, r)| covers_tcp(r, 22));
    let (span, label) = match inside {
        Some((g, i, r)) => (
            cx.ingress_span(g, i),
            format!("{} is inside the VPC", source_text(&r.source)),
        ),
        None => (
            cx.raw_file()
                .and_then(|r| r.bastion.as_ref())
                .and_then(|x| x.security_groups.first())
                .map(|s| s.span()),
            "no SSH rule from outside".to_string(),
        ),
    };
    vec![Finding::new(
        LintId::BastionUnreachable,
        format!(
            "nobody can reach the bastion on SSH (tcp/22), so `chronous ssh` and `tunnel` cannot work: {}",
            operator.summary
        ),
        "admit SSH from the operator on the bastion's group: { protocol = \"tcp\", port = 22, source = \"operator\" }",
    )
    .at(span, label)]
}

/// The name of an AWS managed policy that grants a whole service or
/// everything (`*FullAccess`, AdministratorAccess, PowerUserAccess), if
/// `arn` is one: CHR-IAM-001's test, also what import says of such an
/// attachment it leaves alone.
pub(crate) fn broad_policy(arn: &str) -> Option<&str> {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    (name.ends_with("FullAccess") || name == "AdministratorAccess" || name == "PowerUserAccess")
        .then_some(name)
}

/// CHR-IAM-001: a role gets a broad AWS managed policy. chronous's own
/// expansion attaches none; this fires on resources given to `check_with`
/// (recorded or imported ones).
pub(super) fn broad_managed_policy(cx: &Cx<'_>) -> Vec<Finding> {
    cx.resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::IamRolePolicyAttachment(a) => broad_policy(&a.policy_arn).map(|n| (r, n)),
            _ => None,
        })
        .map(|(r, name)| {
            let fix = if name == "CloudWatchLogsFullAccess" {
                format!("detach it: the container instances only need logs:CreateLogStream and logs:PutLogEvents on the log group `{}`, which AmazonEC2ContainerServiceforEC2Role already grants (chronous itself does not attach {name})", cx.env.logs.group)
            } else {
                format!("replace {name} with a policy that names only the actions and resources the role needs")
            };
            Finding::new(
                LintId::BroadManagedPolicy,
                format!("{} attaches the AWS managed policy {name} (every action of the service, on every resource)", r.address),
                fix,
            )
        })
        .collect()
}

/// The actions of a policy document's Allow statements.
fn allowed_actions(doc: &serde_json::Value) -> Vec<String> {
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(|e| e.as_str()) == Some("Allow"))
        .flat_map(|s| match s.get("Action") {
            Some(serde_json::Value::String(a)) => vec![a.clone()],
            Some(serde_json::Value::Array(v)) => v
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// CHR-IAM-002: an inline policy allows `*` or `service:*`.
pub(super) fn wildcard_policy_action(cx: &Cx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &cx.resources {
        let Spec::IamRolePolicy(p) = &r.spec else {
            continue;
        };
        let doc: serde_json::Value = serde_json::from_str(&p.policy).unwrap_or_default();
        for action in allowed_actions(&doc)
            .into_iter()
            .filter(|a| a == "*" || a.ends_with(":*"))
        {
            out.push(Finding::new(
                LintId::WildcardPolicyAction,
                format!("{} (policy `{}`) allows `{action}`: every action of the service", r.address, p.name),
                "list the actions the role needs (e.g. s3:GetObject on the one bucket) instead of a wildcard",
            ));
        }
    }
    out
}

/// CHR-SEC-001: a credential written in the file (service.environment);
/// a password there is validation's E0901, the file refused.
pub(super) fn secret_in_file(cx: &Cx<'_>) -> Vec<Finding> {
    let Some(raw) = cx.raw_file() else {
        return Vec::new();
    };
    raw.service
        .environment
        .iter()
        .filter_map(|(k, v)| match classify(k.get_ref(), v) {
            Some(SecretKind::Credential(what)) => Some((k, what)),
            Some(SecretKind::Password) | None => None,
        })
        .map(|(k, what)| {
            Finding::new(
                LintId::SecretInFile,
                format!("service.environment.{} looks like {what}, written in chronous.toml (and so in the task definition, the state and every plan)", k.get_ref()),
                "keep it out of the file: put it in SSM Parameter Store or Secrets Manager and give the task the parameter, or pass it at run time",
            )
            .at(Some(k.span()), what)
        })
        .collect()
}

/// CHR-DEP-001: the deployment settings guarantee downtime (the
/// rehearsal's own suggestion, without running it: `deploy`'s one decision).
pub(super) fn deployment_downtime(cx: &Cx<'_>) -> Vec<Finding> {
    let s = &cx.env.service;
    if !guaranteed_downtime(s.desired_count, s.minimum_healthy_percent) {
        return Vec::new();
    }
    let static_port = s.host_port.is_some_and(|p| p != 0);
    let span = cx
        .raw_file()
        .map(|r| r.service.minimum_healthy_percent.span());
    vec![Finding::new(
        LintId::DeploymentDowntime,
        format!(
            "every deployment has downtime: minimum_healthy_percent {}% of {} task(s) keeps {} healthy, so ECS stops the old task(s) before a new one is InService",
            s.minimum_healthy_percent,
            s.desired_count,
            healthy_kept(s.desired_count, s.minimum_healthy_percent)
        ),
        zero_downtime_settings(s.desired_count, static_port, cx.env.cluster.instance_count),
    )
    .at(span, "keeps no healthy task")]
}
