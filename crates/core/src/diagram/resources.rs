//! The resource view: every resource `expand` gives, an edge to each resource
//! it references (as `terraform graph`: `A -> B` means A depends on B), in a
//! band per part of the topology and a column per dependency depth, so every
//! edge points left.

use std::collections::BTreeMap;

use crate::env::Environment;
use crate::graph::{DesiredGraph, GraphError};
use crate::plan::{Action, Plan};
use crate::resources::{expand, Kind, Resource};

use super::{Band, Diagram, Edge, EdgeStyle, Mark, Node, View};

/// The part of the topology a resource belongs to: its band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Network,
    Security,
    Compute,
    Service,
    Data,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::Network,
        Group::Security,
        Group::Compute,
        Group::Service,
        Group::Data,
    ];

    pub fn of(kind: Kind) -> Group {
        match kind {
            Kind::Vpc
            | Kind::Subnet
            | Kind::InternetGateway
            | Kind::Eip
            | Kind::NatGateway
            | Kind::RouteTable
            | Kind::RouteTableAssociation => Group::Network,
            Kind::SecurityGroup
            | Kind::SecurityGroupRule
            | Kind::KeyPair
            | Kind::IamRole
            | Kind::IamRolePolicyAttachment
            | Kind::IamRolePolicy
            | Kind::IamInstanceProfile
            | Kind::SsmParameter => Group::Security,
            Kind::AmiLookup
            | Kind::LaunchTemplate
            | Kind::LaunchConfiguration
            | Kind::AutoScalingGroup
            | Kind::EcsCluster
            | Kind::Instance => Group::Compute,
            Kind::EcrRepository
            | Kind::EcsTaskDefinition
            | Kind::EcsService
            | Kind::Elb
            | Kind::CloudwatchLogGroup => Group::Service,
            Kind::S3Bucket
            | Kind::S3Object
            | Kind::DbSubnetGroup
            | Kind::DbInstance
            | Kind::Data => Group::Data,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Network => "network",
            Group::Security => "security",
            Group::Compute => "compute",
            Group::Service => "service",
            Group::Data => "data",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Group::Network => "network: VPC, subnets, gateways, routes",
            Group::Security => "security: groups and rules, IAM, key pair, secret",
            Group::Compute => "compute: container instances, bastion",
            Group::Service => "service: ECS service, task definition, load balancer, logs",
            Group::Data => "data: database, its backup in S3",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Group::Network => "#e8f1fb",
            Group::Security => "#fdeeee",
            Group::Compute => "#fff6e0",
            Group::Service => "#eaf7ea",
            Group::Data => "#f1ecf9",
        }
    }
}

/// The resource view of `env`.
pub fn view(env: &Environment) -> Result<Diagram, GraphError> {
    let g = DesiredGraph::build(expand(env))?;
    Ok(from_graph(&env.name, &g))
}

/// The resource view of a desired graph: `resources` are in dependency order,
/// so each one's depth is known when it is reached.
pub fn from_graph(name: &str, g: &DesiredGraph) -> Diagram {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &g.resources {
        let d = g.deps[&r.address]
            .iter()
            .map(|a| depth[a.as_str()] + 1)
            .max()
            .unwrap_or(0);
        depth.insert(&r.address, d);
    }
    // A resource nothing forces early sits just before its first dependent
    // (an image repository next to the task definition, not at the far
    // left), which keeps edges short: walk from the last.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, ds) in &g.deps {
        for d in ds {
            dependents.entry(d.as_str()).or_default().push(a.as_str());
        }
    }
    for r in g.resources.iter().rev() {
        if let Some(ds) = dependents.get(r.address.as_str()) {
            let latest = ds.iter().map(|d| depth[d]).min().unwrap_or(0);
            let d = depth
                .get_mut(r.address.as_str())
                .expect("every resource has a depth");
            *d = (*d).max(latest.saturating_sub(1));
        }
    }
    // Expansion order inside each band, which keeps related resources together.
    let mut order: Vec<&Resource> = g.resources.iter().collect();
    order.sort_by_key(|r| Group::of(r.kind()));
    let nodes: Vec<Node> = order
        .iter()
        .map(|r| Node {
            id: r.address.clone(),
            title: r.address[r.kind().name().len() + 1..].to_string(),
            lines: vec![r.kind().name().to_string()],
            band: Group::of(r.kind()).as_str().to_string(),
            column: depth[r.address.as_str()],
            mark: None,
        })
        .collect();
    let edges = order
        .iter()
        .flat_map(|r| {
            g.deps[&r.address].iter().map(|d| Edge {
                from: r.address.clone(),
                to: d.clone(),
                label: None,
                style: EdgeStyle::Solid,
            })
        })
        .collect();
    let bands = Group::ALL
        .iter()
        .filter(|grp| order.iter().any(|r| Group::of(r.kind()) == **grp))
        .map(|grp| Band {
            id: grp.as_str().to_string(),
            label: grp.label().to_string(),
            fill: grp.fill().to_string(),
        })
        .collect();
    Diagram {
        view: View::Resources,
        title: format!("environment `{name}`: {} resources", g.resources.len()),
        legend: "A → B: A refers to B (created after it)".to_string(),
        bands,
        boxes: vec![],
        nodes,
        edges,
    }
}

/// Fill the resources by what `plan` does to each (a saved `plan --out`);
/// the title counts the changes (an object to destroy that the file no
/// longer has is counted, not drawn).
pub fn mark_plan(d: &mut Diagram, plan: &Plan) {
    for n in &mut d.nodes {
        n.mark = Some(Mark::Unchanged);
    }
    for c in &plan.changes {
        let mark = match c.action {
            Action::NoOp => Mark::Unchanged,
            Action::Create => Mark::Create,
            Action::Update => Mark::Update,
            Action::DeleteThenCreate | Action::CreateThenDelete => Mark::Replace,
            Action::Delete => Mark::Destroy,
        };
        if let Some(n) = d.nodes.iter_mut().find(|n| n.id == c.address) {
            n.mark = Some(mark);
        }
    }
    // Counted as `plan` counts: a replacement is one to add and one to destroy.
    let (add, change, destroy, replace) = plan.counts();
    d.title = format!(
        "{} · plan: {} to add, {change} to change, {} to destroy",
        d.title,
        add + replace,
        destroy + replace
    );
    d.legend = format!(
        "{}\nfill: what the plan does: green create, yellow update, orange replace, red destroy, white nothing",
        d.legend
    );
}
