//! Pictures of an environment (`chronous graph`): a [`Diagram`] is plain data
//! (bands of nodes, boxes around bands, edges), built by one function per
//! view and written out as Graphviz DOT ([`dot::render`]) or as a
//! self-contained SVG laid out here ([`svg::render`]), with no Graphviz
//! needed. Everything is text in, text out: pure like the rest of core.
//!
//! - [`resources::view`]: every resource of the environment and what it
//!   depends on, in bands by what it is (network, security, compute,
//!   service, data), columns by dependency depth.
//! - [`network::view`]: the VPC with a band per subnet tier, the endpoints in
//!   them with their security groups, the internet and the operator outside,
//!   and an edge for every connection the reachability matrix allows,
//!   labelled with its ports.

pub mod dot;
pub mod network;
pub mod resources;
pub mod svg;

use serde::Serialize;

/// Which picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Resources,
    Network,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Resources => "resources",
            View::Network => "network",
        }
    }
}

/// A picture: horizontal bands (top to bottom), each holding nodes in
/// columns; boxes drawn around runs of bands; edges between nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagram {
    pub view: View,
    pub title: String,
    /// One line under the title: how to read the edges.
    pub legend: String,
    pub bands: Vec<Band>,
    /// Boxes around consecutive bands (the VPC around the tiers).
    pub boxes: Vec<Enclosure>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A horizontal band of the picture (a DOT cluster).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub id: String,
    pub label: String,
    /// Background colour (`#rrggbb`).
    pub fill: String,
}

/// A box drawn around consecutive bands (a DOT cluster holding clusters).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enclosure {
    pub id: String,
    pub label: String,
    /// The ids of the bands inside, in order.
    pub bands: Vec<String>,
}

/// One node: a resource, or an endpoint of the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Unique in the diagram (a resource's address, an endpoint's name).
    pub id: String,
    /// The first line, in bold.
    pub title: String,
    /// The lines under it.
    pub lines: Vec<String>,
    /// The id of its band.
    pub band: String,
    /// Its column (from the left; columns are shared by all bands).
    pub column: usize,
    /// What a saved plan does to it (`graph --plan`), shown as its fill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
}

/// What a plan does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Unchanged,
    Create,
    Update,
    Replace,
    Destroy,
}

impl Mark {
    /// The node's fill.
    pub fn fill(self) -> &'static str {
        match self {
            Mark::Unchanged => "#ffffff",
            Mark::Create => "#cdeccd",
            Mark::Update => "#fbeaa8",
            Mark::Replace => "#fbcf9d",
            Mark::Destroy => "#f4b7b7",
        }
    }
}

/// How an edge is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeStyle {
    /// A dependency, or a connection inside the VPC the security groups allow.
    Solid,
    /// A connection from outside the VPC (the internet, the operator): dashed.
    Inbound,
    /// A connection out of the VPC to the internet: dotted in DOT; in the SVG
    /// a line `→ internet: PORTS` in the node it leaves, so that a handful of
    /// alike edges do not cross the whole picture.
    Outbound,
}

/// One edge, `from` -> `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
    pub style: EdgeStyle,
}

impl Diagram {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}
