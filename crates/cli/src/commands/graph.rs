//! `chronous graph [resources|network] [--format dot|svg|json] [--out FILE]
//! [--plan FILE]`: a picture of the environment, from the file alone
//! (offline); `--plan` fills each resource by what a saved plan does to it. DOT goes to
//! stdout by default, like `terraform graph`; the SVG is laid out by core
//! (`diagram::svg`), so no Graphviz is needed. With `--out` the picture goes
//! to the file (written atomically) and one line says what was written.

use std::path::Path;

use anyhow::Result;
use chronous_core::diagram::{self, Diagram};
use chronous_core::plan::Plan;
use chronous_store::StoreError;

use crate::cli::{GraphArgs, GraphFormat, GraphView};
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

pub fn run(ctx: &Ctx, a: &GraphArgs) -> Result<u8> {
    let format = output_format(ctx.json, a)?;
    let mut d = build(ctx, a.view)?;
    if let Some(f) = &a.plan {
        if a.view != GraphView::Resources {
            return Err(exit(
                EXIT_USAGE,
                "--plan colours the resources view: run `chronous graph resources --plan FILE`",
            ));
        }
        diagram::resources::mark_plan(&mut d, &saved_plan(ctx, f)?);
    }
    let text = match format {
        GraphFormat::Dot => diagram::dot::render(&d),
        GraphFormat::Svg => diagram::svg::render(&d),
        GraphFormat::Json => serde_json::to_string_pretty(&d)? + "\n",
    };
    let Some(out) = &a.out else {
        print!("{text}");
        return Ok(0);
    };
    chronous_store::atomic_write_mode(out, text.as_bytes(), 0o644).map_err(|e| {
        let why = match e {
            StoreError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        exit(
            EXIT_FAILURE,
            format!(
                "cannot write the graph to {}: {why}. Check that the folder exists and is writable",
                out.display()
            ),
        )
    })?;
    let name = format_name(format);
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "view": d.view,
                "format": name,
                "out": out.display().to_string(),
                "nodes": d.nodes.len(),
                "edges": d.edges.len(),
            })
        );
    } else {
        println!(
            "Wrote the {} graph of `{}` ({} nodes, {} edges) as {} to {}.",
            d.view.as_str(),
            ctx.env.name,
            d.nodes.len(),
            d.edges.len(),
            name.to_uppercase(),
            out.display()
        );
    }
    Ok(0)
}

fn format_name(f: GraphFormat) -> &'static str {
    match f {
        GraphFormat::Dot => "dot",
        GraphFormat::Svg => "svg",
        GraphFormat::Json => "json",
    }
}

/// What the picture is written as: `--format`, else the `--out` file's
/// extension; `--json` alone prints the nodes and edges.
fn output_format(json: bool, a: &GraphArgs) -> Result<GraphFormat> {
    match (a.format, &a.out, json) {
        (Some(f), None, true) if f != GraphFormat::Json => Err(exit(
            EXIT_USAGE,
            format!(
                "--json prints the graph's nodes and edges as JSON, --format {} asks for {}: give one of them (or --out FILE to write the {} and get the summary as JSON)",
                format_name(f),
                format_name(f).to_uppercase(),
                format_name(f).to_uppercase()
            ),
        )),
        (Some(f), _, _) => Ok(f),
        (None, Some(out), _) => Ok(from_extension(out)),
        (None, None, true) => Ok(GraphFormat::Json),
        (None, None, false) => Ok(GraphFormat::Dot),
    }
}

fn from_extension(out: &Path) -> GraphFormat {
    match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => GraphFormat::Svg,
        Some("json") => GraphFormat::Json,
        _ => GraphFormat::Dot,
    }
}

fn build(ctx: &Ctx, view: GraphView) -> Result<Diagram> {
    match view {
        GraphView::Resources => diagram::resources::view(&ctx.env).map_err(|e| {
            exit(
                EXIT_FAILURE,
                format!("cannot draw the resources of `{}`: {e}", ctx.env.name),
            )
        }),
        GraphView::Network => Ok(diagram::network::view(&ctx.env)),
    }
}

/// A plan saved by `plan --out`, for this environment.
fn saved_plan(ctx: &Ctx, f: &Path) -> Result<Plan> {
    let bytes = std::fs::read(f).map_err(|e| {
        exit(
            EXIT_FAILURE,
            format!("cannot read the plan file {}: {e}", f.display()),
        )
    })?;
    let p: Plan = serde_json::from_slice(&bytes).map_err(|e| {
        exit(
            EXIT_FAILURE,
            format!(
                "{} is not a chronous plan ({e}): save one with `chronous plan --out FILE`",
                f.display()
            ),
        )
    })?;
    if p.environment != ctx.env.name {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "the plan {} is for environment `{}`, not `{}`",
                f.display(),
                p.environment,
                ctx.env.name
            ),
        ));
    }
    Ok(p)
}
