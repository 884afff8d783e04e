//! `chronous deploy --image REPO:TAG`: push the image where the service pulls
//! from (the backend's push), set the tag in the environment file (the file
//! stays the truth), plan and apply the new revision, then follow the rollout
//! (the backend's wait). `--force-new-deployment` (alone, or with an image
//! whose revision did not change) starts a new deployment of the same
//! revision, as ECS's UpdateService with forceNewDeployment.

use std::path::Path;

use anyhow::{Context as _, Result};
use chronous_core::plan::{Action, Plan};

use crate::cli::DeployArgs;
use crate::context::{Ctx, ENV_FILE};
use crate::planning::{apply_plan, approve, refresh_and_plan_with, show_plan};
use crate::ui::{exit, EXIT_USAGE};

pub fn run(ctx: &mut Ctx, a: &DeployArgs) -> Result<u8> {
    let Some(image) = a.image.as_deref() else {
        // `--force-new-deployment` alone: the revision the service runs, again.
        let forced = {
            let _lock = ctx.lock("chronous deploy")?;
            ctx.backend.force_new_deployment(ctx)?
        };
        return ctx.backend.wait_forced(ctx, a.timeout, forced);
    };
    let Some((repo, tag)) = image
        .rsplit_once(':')
        .filter(|(r, t)| !r.is_empty() && !t.is_empty() && !t.contains('/'))
    else {
        return Err(exit(
            EXIT_USAGE,
            format!("--image {image}: give the image as REPOSITORY:TAG"),
        ));
    };
    let key = ctx.env.service.image.clone();
    let target_repo = ctx
        .env
        .image(&key)
        .map(|i| i.repository.clone())
        .unwrap_or_default();
    ctx.backend.push(ctx, repo, tag, &target_repo)?;
    set_tag(&ctx.dir.join(ENV_FILE), &key, tag, ctx.json)?;
    ctx.reload()?;
    let forced = {
        let _lock = ctx.lock("chronous deploy")?;
        let recorded = ctx.load_state()?;
        // A deployment is the explicit ask for a new revision, even of a
        // task definition adopted by `chronous import`.
        let opts = chronous_core::plan::PlanOptions {
            allow_adopted: chronous_core::resources::expand(&ctx.env)
                .iter()
                .filter(|r| r.kind() == chronous_core::resources::Kind::EcsTaskDefinition)
                .map(|r| r.address.clone())
                .collect(),
            ..Default::default()
        };
        let p = refresh_and_plan_with(ctx, &recorded, opts, a.parallelism)?;
        show_plan(ctx, &p);
        if p.has_changes() && !a.auto_approve {
            approve(ctx, &format!("Deploy {repo}:{tag} to `{}`?", ctx.env.name))?;
        }
        apply_plan(ctx, recorded, &p, a.parallelism)?;
        // A new revision already replaces every task; the same one (a mutable
        // tag pushed again) needs a forced deployment to be pulled again.
        (a.force_new_deployment && !touches_service(&p))
            .then(|| ctx.backend.force_new_deployment(ctx))
            .transpose()?
    };
    match forced {
        Some(n) => ctx.backend.wait_forced(ctx, a.timeout, n),
        None => ctx.backend.wait_rollout(ctx, a.timeout),
    }
}

/// Whether applying `p` creates or changes the ECS service (a new revision included).
fn touches_service(p: &Plan) -> bool {
    p.changes.iter().any(|c| {
        c.address.starts_with("aws_ecs_service.")
            && !matches!(c.action, Action::NoOp | Action::Delete)
    })
}

/// Set `images.KEY.tag` in the environment file `file`, keeping its layout,
/// comments and permissions; the file is replaced atomically.
fn set_tag(file: &Path, key: &str, tag: &str, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} does not parse", file.display()))?;
    let current = doc["images"][key]["tag"].as_str().map(str::to_string);
    if current.as_deref() == Some(tag) {
        return Ok(());
    }
    doc["images"][key]["tag"] = toml_edit::value(tag);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(file)?.permissions());
    chronous_store::atomic_write_mode(file, doc.to_string().as_bytes(), mode & 0o7777)?;
    if !json {
        println!(
            "{}: images.{key}.tag = \"{tag}\" (was {})",
            file.display(),
            current.unwrap_or_else(|| "unset".into())
        );
    }
    Ok(())
}
