//! The `chronous` command: flags, printing and glue. Everything else lives in
//! the library crates; this is the only place that prints or uses `anyhow`.

mod backend;
mod cli;
mod commands;
mod context;
mod planning;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ui::EXIT_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e
                .downcast_ref::<ui::Exit>()
                .map(|x| x.code)
                .unwrap_or(ui::EXIT_FAILURE);
            if let Some(x) = e.downcast_ref::<ui::Exit>() {
                if x.printed {
                    return ExitCode::from(code);
                }
            }
            let hint = e.downcast_ref::<ui::Exit>().and_then(|x| x.hint.clone());
            if json {
                let mut v = serde_json::json!({"error": format!("{e:#}")});
                if let Some(h) = &hint {
                    v["hint"] = serde_json::json!(h);
                }
                println!("{v}");
            } else {
                eprintln!("error: {e:#}");
                if let Some(h) = hint {
                    eprintln!("  hint: {h}");
                }
            }
            ExitCode::from(code)
        }
    }
}
