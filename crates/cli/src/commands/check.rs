//! `chronous check [--fail-on SEVERITY]`: the review's lints on the
//! environment file, offline (core's `review::check`), printed like
//! validate's diagnostics with the fix as a note, then a one-line summary.
//! Exit 2 when a finding is at or above `--fail-on` (default high), else 0;
//! an invalid file is exit 3 before any lint runs.

use anyhow::Result;
use chronous_core::review;

use crate::cli::CheckArgs;
use crate::context::Ctx;
use crate::ui::EXIT_FINDINGS;

pub fn run(ctx: &Ctx, a: &CheckArgs) -> Result<u8> {
    let d = &ctx.diagnostics;
    let report = review::check(&d.file, &d.source, &ctx.env);
    let failing = report.at_or_above(a.fail_on);
    if ctx.json {
        let counts: serde_json::Map<String, serde_json::Value> = review::Severity::ALL
            .iter()
            .map(|s| {
                let n = report.findings.iter().filter(|f| f.severity == *s).count();
                (s.as_str().to_string(), n.into())
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "environment": ctx.env.name,
                "fail_on": a.fail_on,
                "failing": failing,
                "counts": counts,
                "findings": report.located(),
            })
        );
    } else {
        print!("{}", report.render());
        println!("{}", report.summary(a.fail_on));
    }
    Ok(if failing > 0 { EXIT_FINDINGS } else { 0 })
}
