//! The matrix and single verdicts as text.

use super::{Endpoint, Hop, Matrix, Service, Verdict};

fn hop(h: Hop) -> &'static str {
    match h {
        Hop::Endpoint => "endpoint",
        Hop::Listener => "listener",
        Hop::Route => "route",
        Hop::Egress => "egress",
        Hop::Ingress => "ingress",
    }
}

/// `allowed by X` -> `X`; `blocked: Y` -> `Y`.
fn why(v: &Verdict) -> &str {
    v.summary
        .strip_prefix("allowed by ")
        .or_else(|| v.summary.strip_prefix("blocked: "))
        .or_else(|| v.summary.strip_prefix("allowed: "))
        .unwrap_or(&v.summary)
}

pub(super) fn matrix(m: &Matrix) -> String {
    let header = ["FROM", "TO", "SERVICE", "VERDICT", "WHY"];
    let rows: Vec<[String; 5]> = m
        .rows
        .iter()
        .map(|r| {
            [
                r.from.as_str().to_string(),
                r.to.as_str().to_string(),
                format!("{} {}", r.service, r.what),
                match (r.verdict.allowed, r.verdict.partial) {
                    (true, false) => "allowed",
                    (true, true) => "partly",
                    (false, _) => "blocked",
                }
                .to_string(),
                why(&r.verdict).to_string(),
            ]
        })
        .collect();
    let mut w = [0usize; 4];
    for (i, h) in header.iter().take(4).enumerate() {
        w[i] = rows
            .iter()
            .map(|r| r[i].len())
            .chain([h.len()])
            .max()
            .unwrap_or(0);
    }
    let line = |c: [&str; 5]| {
        format!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        )
        .trim_end()
        .to_string()
    };
    let mut out = format!("Who can reach what in `{}`:\n\n", m.environment);
    out.push_str(&line(header));
    out.push('\n');
    let mut last: Option<(Endpoint, Service)> = None;
    for (r, cells) in m.rows.iter().zip(&rows) {
        if last.is_some_and(|l| l.0 != r.to) {
            out.push('\n');
        }
        last = Some((r.to, r.service));
        out.push_str(&line([
            &cells[0], &cells[1], &cells[2], &cells[3], &cells[4],
        ]));
        out.push('\n');
    }
    let allowed = m.rows.iter().filter(|r| r.verdict.allowed).count();
    out.push_str(&format!(
        "\n{} questions: {allowed} allowed, {} blocked.\n",
        m.rows.len(),
        m.rows.len() - allowed
    ));
    out
}

pub(super) fn verdict(v: &Verdict, from: Endpoint, to: Endpoint, service: Service) -> String {
    let word = match (v.allowed, v.partial) {
        (true, false) => "allowed",
        (true, true) => "allowed for some placements",
        (false, _) => "blocked",
    };
    let mut out = format!("{from} -> {to} {service}: {word}\n  {}\n", v.summary);
    for s in &v.steps {
        let mark = if s.ok { "ok" } else { "NO" };
        out.push_str(&format!("  {mark:2} {:8}  {}", hop(s.hop), s.detail));
        if let Some(by) = &s.by {
            out.push_str(&format!("  [{by}]"));
        }
        out.push('\n');
    }
    out
}
