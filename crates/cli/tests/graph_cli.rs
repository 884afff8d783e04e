//! `chronous graph`: the views, the formats, `--out` (and the format taken
//! from its extension), `--json`, and the exit codes of misuse. The command
//! reads the file only: it writes nothing in the environment folder.

mod common;

use std::path::Path;

use chronous_core::diagram;
use common::{code, Env};

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn seed_env() -> chronous_core::env::Environment {
    let text = std::fs::read_to_string(common::repo().join("fixtures/seed/chronous.toml")).unwrap();
    chronous_core::env::load("seed", &text)
        .env
        .expect("the seed is valid")
}

#[test]
fn default_is_the_resource_dot_on_stdout_and_nothing_is_written() {
    let e = Env::new("seed");
    let before = listing(&e.dir);
    let out = e.ok(&["graph"]);
    let want = diagram::dot::render(&diagram::resources::view(&seed_env()).unwrap());
    assert_eq!(out, want);
    assert!(out.starts_with("digraph \"chronous_resources\" {"));
    assert_eq!(e.ok(&["graph", "resources", "--format", "dot"]), want);
    assert_eq!(
        listing(&e.dir),
        before,
        "graph wrote into the environment folder"
    );
}

#[test]
fn network_svg_on_stdout_is_the_core_rendering() {
    let e = Env::new("seed");
    let out = e.ok(&["graph", "network", "--format", "svg"]);
    assert_eq!(
        out,
        diagram::svg::render(&diagram::network::view(&seed_env()))
    );
    assert!(out.starts_with("<?xml"));
    assert!(out.contains("<g class=\"node\" id=\"database\">"));
}

#[test]
fn out_writes_the_file_in_the_format_of_its_extension_and_says_so() {
    let e = Env::new("seed");
    let dest = e.root.path().join("pictures");
    std::fs::create_dir(&dest).unwrap();
    let svg = dest.join("network.svg");
    let said = e.ok(&["graph", "network", "--out", svg.to_str().unwrap()]);
    assert!(
        said.starts_with("Wrote the network graph of `seed` ("),
        "{said}"
    );
    assert!(said.contains("as SVG to"), "{said}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        text,
        diagram::svg::render(&diagram::network::view(&seed_env()))
    );
    // --format wins over the extension; -o is --out.
    let dot = dest.join("resources.svg");
    e.ok(&["graph", "--format", "dot", "-o", dot.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&dot)
        .unwrap()
        .starts_with("digraph"));
    // .json: the nodes and edges; --json: the summary as JSON.
    let json = dest.join("g.json");
    let v: serde_json::Value = e.json(&["graph", "--out", json.to_str().unwrap()]);
    assert_eq!(v["format"], "json");
    assert_eq!(v["view"], "resources");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["nodes"], file["nodes"].as_array().unwrap().len());
    assert_eq!(v["edges"], file["edges"].as_array().unwrap().len());
    // Nothing but the three pictures: no temporary file left behind.
    assert_eq!(listing(&dest), ["g.json", "network.svg", "resources.svg"]);
}

#[test]
fn json_gives_the_nodes_and_edges() {
    let e = Env::new("seed");
    let v = e.json(&["graph"]);
    let n = e.json(&["validate"])["resources"].as_u64().unwrap() as usize;
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), n, "one node per resource");
    assert!(nodes
        .iter()
        .any(|x| x["id"] == "aws_db_instance.main" && x["band"] == "data"));
    assert!(v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["from"] == "aws_subnet.public_a" && x["to"] == "aws_vpc.main"));
    let net = e.json(&["graph", "network"]);
    assert_eq!(net["view"], "network");
    let edges = net["edges"].as_array().unwrap();
    assert!(edges
        .iter()
        .any(|x| x["from"] == "operator" && x["to"] == "bastion" && x["label"] == "tcp/22"));
    assert_eq!(
        e.ok(&["graph", "--format", "json"]),
        e.ok(&["graph", "--json"])
    );
}

#[test]
fn misuse_exits_64_an_unwritable_out_1_and_an_invalid_file_3() {
    let e = Env::new("seed");
    let o = e.run(&["--json", "graph", "--format", "svg"]);
    assert_eq!(code(&o), 64);
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(err["error"].as_str().unwrap().contains("--json"), "{err}");
    assert_eq!(code(&e.run(&["graph", "everything"])), 64);
    assert_eq!(code(&e.run(&["graph", "--format", "png"])), 64);
    let missing = e.root.path().join("no-such-folder/g.svg");
    let o = e.run(&["graph", "--out", missing.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot write the graph to {}: ",
            missing.display()
        )) && stderr.lines().count() == 1,
        "{stderr}"
    );
    e.edit("[network]", "[network]\nbogus = 1");
    let o = e.run(&["graph"]);
    assert_eq!(code(&o), 3);
    assert!(o.stdout.is_empty());
}

#[test]
fn plan_fills_each_resource_by_what_the_saved_plan_does() {
    let e = Env::new("seed");
    let plan = e.root.path().join("seed.plan");
    e.ok(&["plan", "--out", plan.to_str().unwrap()]);
    let p = plan.to_str().unwrap();
    let v = e.json(&["graph", "--plan", p]);
    let nodes = v["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty());
    assert!(nodes.iter().all(|n| n["mark"] == "create"), "{v}");
    let title = v["title"].as_str().unwrap();
    assert!(
        title.ends_with(&format!(
            "plan: {} to add, 0 to change, 0 to destroy",
            nodes.len()
        )),
        "{title}"
    );
    let dot = e.ok(&["graph", "--plan", p]);
    assert!(
        dot.contains(r##""aws_vpc.main" [label="main\naws_vpc", fillcolor="#cdeccd"];"##),
        "{dot}"
    );
    let svg = e.ok(&["graph", "--plan", p, "--format", "svg"]);
    assert_eq!(svg.matches(r##"fill="#cdeccd""##).count(), nodes.len());
    // Without --plan nothing is filled.
    assert!(e.json(&["graph"])["nodes"][0].get("mark").is_none());
    // Misuse: the network view, a missing file, another environment's plan.
    assert_eq!(code(&e.run(&["graph", "network", "--plan", p])), 64);
    let o = e.run(&["graph", "--plan", "no-such.plan"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr)
        .starts_with("error: cannot read the plan file no-such.plan: "));
    let other = Env::new("production");
    let theirs = other.root.path().join("production.plan");
    other.ok(&["plan", "--out", theirs.to_str().unwrap()]);
    let o = e.run(&["graph", "--plan", theirs.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is for environment `production`, not `seed`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
