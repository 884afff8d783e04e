//! A [`Diagram`] as Graphviz DOT: bands are clusters, boxes are clusters
//! around them, nodes keep their ids (a resource's address) so the text can
//! be searched and post-processed like `terraform graph`'s.

use std::fmt::Write as _;

use super::{Diagram, EdgeStyle, Node, View};

/// A DOT string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn node_line(n: &Node) -> String {
    let mut label = n.title.clone();
    for l in &n.lines {
        label.push('\n');
        label.push_str(l);
    }
    match n.mark {
        Some(m) => format!(
            "{} [label={}, fillcolor={}]",
            quote(&n.id),
            quote(&label),
            quote(m.fill())
        ),
        None => format!("{} [label={}]", quote(&n.id), quote(&label)),
    }
}

/// The DOT text of `d`.
pub fn render(d: &Diagram) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "digraph {} {{",
        quote(&format!("chronous_{}", d.view.as_str()))
    );
    // Resources: dependencies to the left, as `terraform graph` draws them;
    // the network: from the outside down to the database.
    let rankdir = match d.view {
        View::Resources => "RL",
        View::Network => "TB",
    };
    let _ = writeln!(
        w,
        "  graph [rankdir={rankdir}, compound=true, fontname=\"Helvetica\", fontsize=12, labelloc=t, label={}];",
        quote(&format!("{}\n{}", d.title, d.legend))
    );
    let _ = writeln!(
        w,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];"
    );
    let _ = writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=9];");
    let mut done = vec![false; d.bands.len()];
    for (i, band) in d.bands.iter().enumerate() {
        if done[i] {
            continue;
        }
        let boxed = d.boxes.iter().find(|b| b.bands.contains(&band.id));
        match boxed {
            Some(b) => {
                let _ = writeln!(w, "  subgraph {} {{", quote(&format!("cluster_{}", b.id)));
                let _ = writeln!(
                    w,
                    "    label={}; style=rounded; color=\"#555555\";",
                    quote(&b.label)
                );
                for (j, inner) in d.bands.iter().enumerate() {
                    if b.bands.contains(&inner.id) {
                        band_lines(w, d, j, "    ");
                        done[j] = true;
                    }
                }
                let _ = writeln!(w, "  }}");
            }
            None => {
                band_lines(w, d, i, "  ");
                done[i] = true;
            }
        }
    }
    for e in &d.edges {
        let mut attrs = Vec::new();
        if let Some(l) = &e.label {
            attrs.push(format!("label={}", quote(l)));
        }
        match e.style {
            EdgeStyle::Solid => {}
            EdgeStyle::Inbound => attrs.push("style=dashed".to_string()),
            // Out to the internet: drawn, but not allowed to pull the internet under the VPC.
            EdgeStyle::Outbound => attrs.push("style=dotted, constraint=false".to_string()),
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(w, "  {} -> {}{attrs};", quote(&e.from), quote(&e.to));
    }
    o.push_str("}\n");
    o
}

fn band_lines(w: &mut String, d: &Diagram, i: usize, indent: &str) {
    let band = &d.bands[i];
    let _ = writeln!(
        w,
        "{indent}subgraph {} {{",
        quote(&format!("cluster_{}", band.id))
    );
    let _ = writeln!(
        w,
        "{indent}  label={}; style=filled; color=\"#bbbbbb\"; fillcolor={};",
        quote(&band.label),
        quote(&band.fill)
    );
    for n in d.nodes.iter().filter(|n| n.band == band.id) {
        let _ = writeln!(w, "{indent}  {};", node_line(n));
    }
    let _ = writeln!(w, "{indent}}}");
}
