//! 30 days of the seed environment on the modelled runtime: 30 s health
//! checks, a deploy every hour, random faults (seeded). Prints wall time and
//! queue events per second.
//!
//! `cargo bench -p chronous-rehearse --bench model_30_days`
//! knobs: BENCH_SEED=42 BENCH_RUNS=5 BENCH_DAYS=30

use std::time::Instant;

use chronous_core::env;
use chronous_rehearse::model::{FaultRates, Model, ModelConfig};
use chronous_rehearse::rehearse::RehearseInput;

const SEED_TOML: &str = include_str!("../../../fixtures/seed/chronous.toml");

fn main() {
    let seed: u64 = std::env::var("BENCH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let days: u64 = std::env::var("BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let e = env::load("seed", SEED_TOML).env.expect("seed validates");
    let input = RehearseInput::from_environment(&e, None);
    let horizon = days * 86_400_000;
    println!("model_30_days: seed {seed}, {days} days, {runs} runs");
    let mut times = Vec::new();
    let mut last = (0u64, 0usize, 0u64);
    for _ in 0..runs {
        let start = Instant::now();
        let cfg = ModelConfig {
            service: input.service.clone(),
            instances: input.instances.clone(),
            elb: input.elb.clone(),
            timings: input.timings.clone(),
            replace_lost_instances: true,
        };
        let mut m = Model::new(cfg, input.current.clone(), seed).expect("model");
        let rates = FaultRates {
            crash_per_day: 1.0,
            failing_health_per_day: 1.0,
            instance_lost_per_day: 0.1,
        };
        let faults = rates.generate(m.rng(), 0, horizon);
        let nfaults = faults.len();
        for f in faults {
            m.inject(f);
        }
        for h in 1..days * 24 {
            let mut td = input.current.clone();
            td.arn = format!("{}:{}", e.service.task_family, h + 1);
            m.schedule_deploy(h * 3_600_000, td);
        }
        m.run_until(horizon).expect("run");
        let el = start.elapsed();
        let completed = m
            .log()
            .iter()
            .filter(|l| l.message.ends_with("deployment completed."))
            .count();
        last = (m.events_processed(), nfaults, completed as u64);
        times.push(el.as_secs_f64());
        std::hint::black_box(m.log().len());
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = times[times.len() / 2];
    println!(
        "events {} (faults {}, deployments completed {}), wall median {:.1} ms (min {:.1}, max {:.1}), {:.2} M events/s, {:.0}x faster than real time",
        last.0,
        last.1,
        last.2,
        med * 1e3,
        times[0] * 1e3,
        times[times.len() - 1] * 1e3,
        last.0 as f64 / med / 1e6,
        horizon as f64 / 1e3 / med
    );
}
