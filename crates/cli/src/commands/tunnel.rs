//! `chronous tunnel [rds|TARGET[:PORT]] [--port N]`: a port on 127.0.0.1
//! forwarded through the bastion to the database (its RDS endpoint, from the
//! recorded state) or to a task / private host, on both backends (see
//! `Backend::tunnel`). As soon as the port accepts, prints its URL (text: the
//! URL alone on stdout; `--json`: one line with url, host, port, target,
//! remote), then runs until Ctrl-C or SIGTERM, like `ssh -L`, and closes
//! cleanly (exit 0). The password is never printed: the URL names the user.

use anyhow::Result;
use chronous_core::state::State;

use crate::backend::{Forward, Remote};
use crate::cli::TunnelArgs;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE, EXIT_USAGE};

/// Where the tunnel leads and the URL a client uses through it (`{port}` filled in later).
struct Target {
    name: String,
    remote: Remote,
    scheme: &'static str,
    /// `USER@` and `/DB` of a database URL.
    user: Option<String>,
    path: String,
}

impl Target {
    fn url(&self, port: u16) -> String {
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{}://{user}127.0.0.1:{port}{}", self.scheme, self.path)
    }
}

/// The database's endpoint as recorded by the last apply.
fn rds(ctx: &Ctx, st: &State) -> Result<Target> {
    let db = ctx.env.database.as_ref().ok_or_else(|| {
        exit(
            EXIT_FAILURE,
            "this environment has no [database]: tunnel to a task instead (`chronous tunnel TASK`)",
        )
    })?;
    let host = st
        .lookup("aws_db_instance.main", "address")
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| {
            exit(
                EXIT_FAILURE,
                format!("no database is recorded for `{}`: bring the environment up first (`chronous apply`)", ctx.env.name),
            )
        })?;
    let port = st
        .lookup("aws_db_instance.main", "port")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3306) as u16;
    Ok(Target {
        name: "rds".into(),
        remote: Remote { host, port },
        scheme: "mysql",
        user: Some(db.username.clone()),
        path: format!("/{}", db.name),
    })
}

fn parse(target: &str) -> Result<(&str, Option<u16>)> {
    match target.rsplit_once(':') {
        Some((t, p)) => {
            let port = p.parse().map_err(|_| {
                exit(
                    EXIT_USAGE,
                    format!("`{target}`: the port after `:` must be a number"),
                )
            })?;
            Ok((t, Some(port)))
        }
        None => Ok((target, None)),
    }
}

pub fn run(ctx: &Ctx, a: &TunnelArgs) -> Result<u8> {
    let st = ctx.recorded()?;
    let target = if a.target == "rds" {
        rds(ctx, &st)?
    } else {
        let (name, port) = parse(&a.target)?;
        Target {
            name: name.to_string(),
            remote: ctx.backend.tunnel_target(ctx, name, port)?,
            scheme: "http",
            user: None,
            path: String::new(),
        }
    };
    let mut fwd = ctx.backend.tunnel(ctx, &target.remote, a.port)?;
    // Ctrl-C and SIGTERM are caught from before the URL is printed: a script
    // that stops the tunnel as soon as it read the line gets a clean close.
    let mut signals = ctx.rt()?.block_on(async { Signals::new() })?;
    let port = fwd.port();
    let url = target.url(port);
    let remote = format!("{}:{}", target.remote.host, target.remote.port);
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"event": "tunnel", "url": url, "host": "127.0.0.1", "port": port, "target": target.name, "remote": remote, "via": "bastion"})
        );
    } else {
        println!("{url}");
        eprintln!(
            "Forwarding 127.0.0.1:{port} to {} ({remote}) through the bastion. Ctrl-C to close.",
            target.name
        );
    }
    let ended = wait(ctx, &mut fwd, &mut signals);
    fwd.close();
    match ended? {
        None => {
            if ctx.json {
                println!("{}", serde_json::json!({"event": "closed", "port": port}));
            } else {
                eprintln!("Tunnel closed.");
            }
            Ok(0)
        }
        Some(why) => Err(exit(
            EXIT_FAILURE,
            format!("the tunnel to {} ended: {why}", target.name),
        )),
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, registered once.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Within the runtime (tokio registers the handlers there).
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }
}

/// Until Ctrl-C or SIGTERM (`None`), or the forward ends on its own (why).
fn wait(ctx: &Ctx, fwd: &mut Forward, signals: &mut Signals) -> Result<Option<String>> {
    ctx.rt()?.block_on(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = signals.int.recv() => return Ok(None),
                _ = signals.term.recv() => return Ok(None),
                _ = tick.tick() => {
                    if let Some(why) = fwd.ended() {
                        return Ok(Some(why));
                    }
                }
            }
        }
    })
}
