//! What `status` shows of the simulator's runtime: the controller's view
//! (load balancer, service and deployments, tasks, events), waited on with
//! `--wait-healthy`, and the database container.

use std::time::{Duration, Instant};

use anyhow::Result;
use chronous_core::state::State;
use chronous_sim::controller::Status;
use comfy_table::Table;

use super::controller::{self, needs_controller};
use super::SimBackend;
use crate::backend::docker::Docker;
use crate::backend::LiveStatus;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

impl SimBackend {
    /// The controller's status (started on demand) and the database; with
    /// `wait`, once the service runs its desired count healthy.
    pub fn observe(&self, ctx: &Ctx, st: &State, wait: bool, timeout: u64) -> Result<LiveStatus> {
        let mut runtime = None;
        if self.docker() && needs_controller(st) {
            controller::ensure(ctx)?;
            runtime = Some(controller::fetch(ctx)?);
        }
        if wait {
            let Some(_) = runtime else {
                return Err(exit(
                    EXIT_FAILURE,
                    "nothing to wait for: no service runs in the simulator (apply first)",
                ));
            };
            runtime = Some(wait_healthy(ctx, timeout)?);
        }
        Ok(LiveStatus {
            runtime,
            database: self.database(ctx)?,
            service: None,
        })
    }

    /// The database container: ready, what made the backup, what restored it.
    fn database(&self, ctx: &Ctx) -> Result<serde_json::Value> {
        if !self.docker() || ctx.env.database.is_none() {
            return Ok(serde_json::Value::Null);
        }
        Ok(ctx.rt()?.block_on(async {
        let Ok(d) = Docker::connect().await else { return serde_json::json!({"summary": "Docker is not reachable"}) };
        let cs = d.list(&ctx.env.name, Some("db")).await.unwrap_or_default();
        match cs.first() {
            None => serde_json::json!({"ready": false, "summary": "not running"}),
            Some(c) => {
                let ready = c.running && chronous_sim::db::answers(&d, &c.id).await;
                let made = c.labels.get("chronous.backup-made-by").cloned().unwrap_or_default();
                let restored = c.labels.get("chronous.restored-by").cloned().unwrap_or_default();
                serde_json::json!({
                    "container": c.name, "ready": ready, "backup_made_by": made, "restored_by": restored,
                    "summary": format!("{} ({}){}{}", c.name, if ready { "ready" } else if c.running { "starting" } else { "stopped" },
                        if made.is_empty() { String::new() } else { format!(", backup made by {made}") },
                        if restored.is_empty() { String::new() } else { format!(", restored by {restored}") }),
                })
            }
        }
    }))
    }
}

/// Poll the controller until the service runs its desired count healthy.
fn wait_healthy(ctx: &Ctx, timeout: u64) -> Result<Status> {
    let t = Instant::now();
    let mut last = String::new();
    loop {
        let s = controller::fetch(ctx)?;
        let (desired, healthy) = s
            .service
            .as_ref()
            .map(|x| (x.desired, x.healthy))
            .unwrap_or((0, 0));
        let line = format!(
            "service: {healthy}/{desired} healthy; load balancer: {}",
            s.elb
                .as_ref()
                .map(|e| e
                    .instances
                    .iter()
                    .map(|i| format!("{} {:?}", i.id, i.state))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
        if line != last && !ctx.json {
            eprintln!("[{:>5.1}s] {line}", t.elapsed().as_secs_f64());
            last = line;
        }
        // Healthy behind the load balancer too: its registered instances
        // InService, up to the desired count (the scheduler's view of a task
        // it adopted can be ahead of the load balancer's checks).
        let behind_elb = s.elb.as_ref().is_none_or(|e| {
            let in_service = e
                .instances
                .iter()
                .filter(|i| i.state == chronous_sim::elb::State::InService)
                .count();
            in_service >= e.instances.len().min(desired as usize)
        });
        if healthy >= desired && desired > 0 && behind_elb {
            return Ok(s);
        }
        if t.elapsed() > Duration::from_secs(timeout) {
            return Err(exit(EXIT_FAILURE, format!("the service was not healthy within {timeout} s: see `chronous status` and `chronous logs`")));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The text `status` prints for the controller's view.
pub fn print_runtime(s: &Status) {
    println!(
        "\nController: pid {}, since {}, time scale {}{}",
        s.pid,
        s.started_at,
        s.time_scale,
        if s.time_scale == 1.0 {
            " (AWS timings)"
        } else {
            " (health checks run faster than on AWS)"
        }
    );
    for p in &s.processes {
        let what = match (p.running, p.pid) {
            (true, Some(pid)) => format!(
                "pid {pid}, up since {}",
                p.up_since.as_deref().unwrap_or("?")
            ),
            _ => "not running".to_string(),
        };
        let restarts = match p.restarts {
            0 => String::new(),
            1 => ", restarted 1 time".to_string(),
            n => format!(", restarted {n} times"),
        };
        let error = p
            .last_error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        println!("  {} process: {what}{restarts}{error}", p.role);
    }
    if !s.db_password_available {
        println!(
            "  warning: the controller has no database password; tasks cannot reach the database"
        );
    }
    if let Some(e) = &s.last_error {
        println!("  last error: {e}");
    }
    if let Some(elb) = &s.elb {
        println!(
            "\nLoad balancer {} at {}: {}",
            elb.name, elb.url, elb.health_check
        );
        if let Some(e) = &elb.error {
            println!("  error: {e}");
        }
        let mut t = Table::new();
        t.set_header(vec![
            "instance",
            "state",
            "reason",
            "ok",
            "fail",
            "last error",
        ]);
        for i in &elb.instances {
            t.add_row(vec![
                i.id.clone(),
                format!("{:?}", i.state),
                i.reason.to_string(),
                i.consecutive_ok.to_string(),
                i.consecutive_fail.to_string(),
                i.last_error.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
        if let Some(r) = &elb.reachability {
            let what = if r.allowed { "" } else { " time out" };
            println!(
                "  health checks to the instances on {}{what}: {}",
                r.service, r.summary
            );
        }
    }
    print_security_groups(&s.security_groups);
    if let Some(svc) = &s.service {
        println!(
            "\nService {}: desired {}, running {}, healthy {} (minimum {}%, maximum {}%){}",
            svc.name,
            svc.desired,
            svc.running,
            svc.healthy,
            svc.minimum_healthy_percent,
            svc.maximum_percent,
            if svc.steady { ", steady" } else { "" }
        );
        println!("  task definition {}", svc.task_definition);
        for d in &svc.deployments {
            println!(
                "  deployment {} {} {} {} ({} running){}",
                d.id,
                d.status,
                d.task_definition,
                d.rollout_state,
                d.running,
                if d.rollout_state == "FAILED" {
                    format!(": {}", d.rollout_state_reason)
                } else {
                    String::new()
                }
            );
        }
    }
    if !s.tasks.is_empty() {
        let mut t = Table::new();
        t.set_header(vec![
            "task", "status", "health", "instance", "address", "started",
        ]);
        for k in &s.tasks {
            t.add_row(vec![
                k.id.chars().take(12).collect::<String>(),
                k.stopped_reason
                    .as_ref()
                    .map(|r| format!("STOPPED ({r})"))
                    .unwrap_or_else(|| k.last_status.clone()),
                k.health.clone(),
                k.instance_id.clone(),
                k.host_addr.clone().unwrap_or_default(),
                k.started_at.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
    }
    if !s.events.is_empty() {
        println!("\nEvents (newest last):");
        for e in s
            .events
            .iter()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("  {}  {}", e.at, e.message);
        }
    }
}

/// The reachability engine's decisions the simulator enforces on its containers.
fn print_security_groups(sg: &chronous_sim::controller::SecurityGroups) {
    if sg.decisions.is_empty() && sg.error.is_none() {
        return;
    }
    println!("\nSecurity groups, enforced on the containers:");
    for d in &sg.decisions {
        println!("  {} -> {} {}: {}", d.from, d.to, d.service, d.summary);
    }
    if let Some(e) = &sg.error {
        println!("  error: {e}");
    }
}
