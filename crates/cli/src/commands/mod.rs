//! The subcommands: [`run`] loads the environment into a [`Ctx`] and
//! dispatches to the command's module with one exhaustive `match`. `logs`,
//! `ssh` and `controller` are the backend's own (see `crate::backend`).

mod apply;
mod check;
mod cost;
mod deploy;
mod destroy;
mod force_unlock;
mod graph;
mod import;
mod init;
mod output;
mod plan;
mod reach;
mod rehearse;
mod replace;
mod sim;
mod state;
mod status;
mod tunnel;
mod validate;

use anyhow::Result;

use crate::cli::{CheckArgs, CheckCmd, Cli, Cmd, RehearseCmd};
use crate::context::Ctx;

/// Run the command `cli` names; the exit code on success.
pub fn run(cli: Cli) -> Result<u8> {
    // `init` writes the environment file the others read.
    if let Cmd::Init(a) = &cli.cmd {
        return init::run(&cli, a);
    }
    let mut ctx = Ctx::load(&cli)?;
    match &cli.cmd {
        Cmd::Validate => validate::run(&ctx),
        Cmd::Plan(a) => plan::run(&ctx, a),
        Cmd::Apply(a) => apply::run(&ctx, a),
        Cmd::Destroy(a) => destroy::run(&ctx, a),
        Cmd::Replace { address } => replace::run(&ctx, address),
        Cmd::State(s) => state::run(&ctx, s),
        Cmd::Output { name } => output::run(&ctx, name.as_deref()),
        Cmd::ForceUnlock { id } => force_unlock::run(&ctx, id),
        Cmd::Sim(s) => sim::run(&ctx, s),
        Cmd::Status {
            wait_healthy,
            timeout,
        } => status::run(&ctx, *wait_healthy, *timeout),
        Cmd::Logs { follow, since } => ctx.backend.logs(&ctx, *follow, since.as_deref()),
        Cmd::Ssh { instance, command } => ctx.backend.ssh(&ctx, instance.as_deref(), command),
        Cmd::Tunnel(a) => tunnel::run(&ctx, a),
        Cmd::Deploy(a) => deploy::run(&mut ctx, a),
        Cmd::Rehearse(RehearseCmd::Deploy(a)) => rehearse::run(&mut ctx, a),
        Cmd::Rehearse(RehearseCmd::Incident(a)) => rehearse::incident(&mut ctx, a),
        Cmd::Cost => cost::run(&ctx),
        Cmd::Import(c) => import::run(&ctx, c),
        Cmd::Init(a) => init::run(&cli, a),
        Cmd::Controller => ctx.backend.controller(&ctx),
        Cmd::Check(CheckArgs {
            what: Some(CheckCmd::Reach(a)),
            ..
        }) => reach::run(&ctx, a),
        Cmd::Check(a @ CheckArgs { what: None, .. }) => check::run(&ctx, a),
        Cmd::Graph(a) => graph::run(&ctx, a),
    }
}
