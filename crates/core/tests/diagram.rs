//! `chronous graph`'s pictures of the fixture environments: the DOT of each
//! view is snapshotted; the SVG is parsed as XML and checked to hold one node
//! per resource (or endpoint) and every edge (one per dependency, or per
//! pair the reachability matrix allows), with no two nodes overlapping and
//! no edge label covering a node, a band's caption or another label.

use std::collections::BTreeSet;
use std::path::Path;

use chronous_core::diagram::{self, Diagram};
use chronous_core::env::{self, Environment};
use chronous_core::graph::DesiredGraph;
use chronous_core::resources::expand;

const FIXTURES: &[&str] = &["seed", "production"];

/// Every other valid environment of `fixtures/` (the reachability cases,
/// the placement warnings): drawn without a snapshot, checked the same way.
fn other_fixtures() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut names = Vec::new();
    for sub in ["reach", "warnings"] {
        let dir = root.join(sub);
        for e in
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(&root)
                .expect("under fixtures")
                .to_string_lossy()
                .into_owned();
            // fixtures/reach: a folder per environment (beside them, the
            // table of cases); fixtures/warnings: a file per environment.
            let environment = match sub {
                "reach" => p.join("chronous.toml").exists(),
                _ => p.extension().is_some_and(|x| x == "toml"),
            };
            if environment {
                names.push(rel);
            }
        }
    }
    names.sort();
    assert!(
        names.len() >= 10,
        "fixtures/reach and fixtures/warnings hold {} environments",
        names.len()
    );
    names
}

/// `name`: a folder of `fixtures/` holding chronous.toml, or a .toml file there.
fn environment(name: &str) -> Environment {
    let path = if name.ends_with(".toml") {
        name.to_string()
    } else {
        format!("{name}/chronous.toml")
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../fixtures/{path}"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let loaded = env::load(name, &text);
    loaded.env.unwrap_or_else(|| {
        panic!(
            "fixtures/{name} is invalid:\n{}",
            loaded.diagnostics.render()
        )
    })
}

fn views(name: &str) -> Vec<Diagram> {
    let e = environment(name);
    vec![
        diagram::resources::view(&e).expect("the fixture's graph is acyclic"),
        diagram::network::view(&e),
    ]
}

#[test]
fn dot_of_each_view_of_each_fixture() {
    for name in FIXTURES {
        for d in views(name) {
            insta::assert_snapshot!(
                format!("{name}-{}", d.view.as_str()),
                diagram::dot::render(&d)
            );
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn of(n: roxmltree::Node) -> Rect {
        let r = n
            .children()
            .find(|c| c.has_tag_name("rect"))
            .unwrap_or_else(|| panic!("{:?} has no rect", n.attribute("id")));
        let f = |a: &str| -> f64 {
            r.attribute(a)
                .expect("rect attribute")
                .parse()
                .expect("a number")
        };
        Rect {
            x: f("x"),
            y: f("y"),
            w: f("width"),
            h: f("height"),
        }
    }
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// The `<g class=CLASS>` elements of a parsed SVG.
fn groups<'a>(doc: &'a roxmltree::Document, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some(class))
        .collect()
}

fn check_svg(name: &str, d: &Diagram) -> (BTreeSet<String>, usize) {
    let svg = diagram::svg::render(d);
    let doc = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("{name} {}: the SVG is not XML: {e}", d.view.as_str()));
    assert!(doc
        .root_element()
        .has_tag_name(("http://www.w3.org/2000/svg", "svg")));
    let nodes = groups(&doc, "node");
    let ids: BTreeSet<String> = nodes
        .iter()
        .map(|n| n.attribute("id").expect("node id").to_string())
        .collect();
    assert_eq!(ids.len(), nodes.len(), "{name}: a node is drawn twice");
    let rects: Vec<Rect> = nodes.iter().map(|n| Rect::of(*n)).collect();
    for (i, a) in rects.iter().enumerate() {
        for (j, b) in rects.iter().enumerate().skip(i + 1) {
            assert!(
                !a.overlaps(b),
                "{name} {}: {:?} overlaps {:?}",
                d.view.as_str(),
                nodes[i].attribute("id"),
                nodes[j].attribute("id")
            );
        }
    }
    let labels: Vec<Rect> = groups(&doc, "edge-label")
        .into_iter()
        .map(Rect::of)
        .collect();
    for (i, l) in labels.iter().enumerate() {
        assert!(
            !rects.iter().any(|r| r.overlaps(l)),
            "{name} {}: edge label {i} covers a node",
            d.view.as_str()
        );
        assert!(
            !labels[..i].iter().any(|o| o.overlaps(l)),
            "{name} {}: edge label {i} covers another",
            d.view.as_str()
        );
    }
    // An edge drawn once for both directions says so in its title; an edge
    // out to the internet is a line of the node it leaves.
    let curves: usize = groups(&doc, "edge")
        .iter()
        .map(|g| {
            let title = g
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("");
            title.matches(" -> ").count()
        })
        .sum();
    let exits = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some("exit"))
        .count();
    (ids, curves + exits)
}

fn all_fixtures() -> Vec<String> {
    let mut all: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    all.extend(other_fixtures());
    all
}

#[test]
fn the_resource_svg_has_a_node_per_resource_and_an_edge_per_dependency() {
    for name in &all_fixtures() {
        let e = environment(name);
        let g = DesiredGraph::build(expand(&e)).expect("acyclic");
        let d = diagram::resources::view(&e).expect("acyclic");
        let (ids, edges) = check_svg(name, &d);
        let addresses: BTreeSet<String> = g.resources.iter().map(|r| r.address.clone()).collect();
        assert_eq!(
            ids, addresses,
            "{name}: the drawn nodes are not the resources"
        );
        assert_eq!(
            edges,
            g.deps.values().map(|d| d.len()).sum::<usize>(),
            "{name}: not one edge per dependency"
        );
    }
}

#[test]
fn every_dependency_points_left_into_an_earlier_column() {
    for name in &all_fixtures() {
        let d = diagram::resources::view(&environment(name)).expect("acyclic");
        for e in &d.edges {
            let (a, b) = (d.node(&e.from).expect("from"), d.node(&e.to).expect("to"));
            assert!(
                b.column < a.column,
                "{name}: {} (column {}) -> {} (column {})",
                a.id,
                a.column,
                b.id,
                b.column
            );
        }
    }
}

#[test]
fn the_network_svg_has_a_node_per_endpoint_and_the_edges_of_the_matrix() {
    for name in &all_fixtures() {
        let d = diagram::network::view(&environment(name));
        let (ids, edges) = check_svg(name, &d);
        let want: BTreeSet<String> = d.nodes.iter().map(|n| n.id.clone()).collect();
        assert_eq!(ids, want);
        assert_eq!(edges, d.edges.len());
        assert!(
            groups(
                &roxmltree::Document::parse(&diagram::svg::render(&d)).unwrap(),
                "box"
            )
            .len()
                == 1,
            "{name}: no VPC box"
        );
    }
}
