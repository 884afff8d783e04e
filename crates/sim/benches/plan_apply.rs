//! Plan + apply of synthetic graphs in the simulated control plane, with the
//! state made durable as the CLI does it (`chronous apply --backend sim`):
//! the real `StateStore` journal (one fsynced line per batch of completed
//! steps, committed before any dependent step starts), the final snapshot
//! save, and the simulator's own store (log + compaction).
//!
//! Run: `cargo bench -p chronous-sim --bench plan_apply`
//!
//! Environment knobs: `BENCH_SIZES` (default `1000,10000`), `BENCH_RUNS`
//! (default 5), `BENCH_SEED` (default 42), `BENCH_PARALLELISM` (default 10),
//! `BENCH_DIR` (default `<workspace>/target/bench-plan-apply`, which must be on
//! a real disk, not tmpfs, for the fsyncs to mean something).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chronous_core::engine::{self, ApplyConfig, Journal, JournalError, Outcome};
use chronous_core::env::Backend;
use chronous_core::plan::{self, Plan, PlanOptions};
use chronous_core::resources::{DataSpec, Resource, Spec};
use chronous_core::state::{JournalEntry, State};
use chronous_sim::{SimOptions, SimProvider};
use chronous_store::{StateJournal, StateStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ENV: &str = "bench";
const REGION: &str = "eu-west-1";

/// The real journal, counting its fsynced batches.
struct Counting {
    inner: StateJournal,
    batches: usize,
    entries: usize,
}

impl Journal for Counting {
    fn commit(&mut self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        self.inner.commit(entries)?;
        self.batches += 1;
        self.entries += entries.len();
        Ok(())
    }
}

/// N `chronous_data` resources, each referring to up to 3 random earlier ones.
fn synthetic(n: usize, seed: u64) -> Vec<Resource> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut deps = BTreeSet::new();
            if i > 0 {
                let k = rng.gen_range(0..=3usize);
                for _ in 0..k {
                    deps.insert(rng.gen_range(0..i));
                }
            }
            Resource {
                address: format!("chronous_data.r{i}"),
                spec: Spec::Data(DataSpec {
                    input: deps
                        .into_iter()
                        .map(|k| format!("${{chronous_data.r{k}.id}}"))
                        .collect(),
                    replace_on: String::new(),
                }),
            }
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    // As the CLI: one thread.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

struct Env {
    dir: PathBuf,
    store: StateStore,
}

impl Env {
    fn state_dir(&self) -> PathBuf {
        self.dir.join(".chronous")
    }
    fn provider(&self) -> SimProvider {
        SimProvider::open(
            &self.dir,
            &self.state_dir(),
            ENV,
            REGION,
            SimOptions::default(),
        )
        .expect("sim opens")
    }
    fn load(&self) -> State {
        let s = self
            .store
            .load()
            .expect("state loads")
            .unwrap_or_else(|| State::new(ENV, Backend::Sim, "bench-lineage".into()));
        s.check(ENV, Backend::Sim).expect("state fits");
        s
    }
}

/// Load, open the simulator, refresh, plan: what `chronous plan` does.
fn do_plan(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    desired: Vec<Resource>,
    destroy: bool,
    parallelism: usize,
) -> (State, Plan) {
    let recorded = env.load();
    let provider = env.provider();
    let (refreshed, errors) = rt.block_on(engine::refresh(&recorded, &provider, parallelism));
    assert!(errors.is_empty(), "refresh errors: {errors:?}");
    let opts = PlanOptions {
        destroy,
        ..Default::default()
    };
    let p = plan::plan(desired, &recorded, &refreshed, &opts).expect("plans");
    (recorded, p)
}

/// What the CLI's `apply_plan` does: snapshot if new, journal, walk, save, compact.
fn do_apply(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    mut st: State,
    p: &Plan,
    parallelism: usize,
) -> (Outcome, usize, usize, Duration) {
    if !env.store.snapshot_path().exists() {
        env.store.save(&st).expect("initial snapshot");
    }
    let provider = env.provider();
    let mut journal = Counting {
        inner: env.store.journal(&st).expect("journal"),
        batches: 0,
        entries: 0,
    };
    let config = ApplyConfig {
        parallelism,
        cancel: None,
    };
    let outcome = rt
        .block_on(engine::apply(
            p,
            &mut st,
            &provider,
            &mut journal,
            &config,
            &mut |_| {},
        ))
        .expect("applies");
    let (batches, entries) = (journal.batches, journal.entries);
    drop(journal);
    let t = Instant::now();
    env.store.save(&st).expect("snapshot");
    provider.compact().expect("compacts");
    let finish = t.elapsed();
    assert!(outcome.ok(), "apply failed: {:?}", outcome.failed.first());
    (outcome, batches, entries, finish)
}

#[derive(Default, Clone)]
struct Run {
    plan_create: Duration,
    apply: Duration,
    /// Of `apply`: the final state snapshot save + simulator compaction.
    apply_finish: Duration,
    apply_steps: usize,
    batches: usize,
    noop_plan: Duration,
    destroy_plan: Duration,
    destroy_apply: Duration,
    destroy_steps: usize,
    destroy_batches: usize,
    snapshot_bytes: u64,
    sim_bytes: u64,
}

fn one_run(root: &Path, n: usize, seed: u64, parallelism: usize) -> Run {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("n{n}-"))
        .tempdir_in(root)
        .expect("temp dir");
    let env = Env {
        dir: tmp.path().to_path_buf(),
        store: StateStore::new(&tmp.path().join(".chronous")),
    };
    let rt = runtime();
    let desired = synthetic(n, seed);
    let mut r = Run::default();

    // (a) plan from empty.
    let t = Instant::now();
    let (st, p) = do_plan(&rt, &env, desired.clone(), false, parallelism);
    r.plan_create = t.elapsed();
    assert_eq!(p.counts(), (n, 0, 0, 0));

    // (b) apply, journal fsynced per batch, final snapshot + sim compaction.
    let t = Instant::now();
    let (o, batches, entries, finish) = do_apply(&rt, &env, st, &p, parallelism);
    r.apply = t.elapsed();
    r.apply_finish = finish;
    r.apply_steps = o.completed;
    r.batches = batches;
    assert_eq!((o.completed, entries), (n, n));
    r.snapshot_bytes = std::fs::metadata(env.store.snapshot_path())
        .map(|m| m.len())
        .unwrap_or(0);
    r.sim_bytes = std::fs::metadata(env.state_dir().join("sim/objects.json"))
        .map(|m| m.len())
        .unwrap_or(0);
    // The durable state is what was applied.
    let loaded = env.load();
    assert_eq!(loaded.resources.len(), n);
    assert_eq!(env.provider().with_cloud(|c| c.objects().count()), n);

    // (c) no-change plan, including refresh.
    let t = Instant::now();
    let (_, p) = do_plan(&rt, &env, desired, false, parallelism);
    r.noop_plan = t.elapsed();
    assert!(
        !p.has_changes(),
        "second plan should be empty: {:?}",
        p.counts()
    );
    assert!(p.drift.is_empty());

    // (d) destroy: plan + apply.
    let t = Instant::now();
    let (st, p) = do_plan(&rt, &env, vec![], true, parallelism);
    r.destroy_plan = t.elapsed();
    assert_eq!(p.counts(), (0, 0, n, 0));
    let t = Instant::now();
    let (o, batches, _, _) = do_apply(&rt, &env, st, &p, parallelism);
    r.destroy_apply = t.elapsed();
    r.destroy_steps = o.completed;
    r.destroy_batches = batches;
    assert!(env.load().is_empty());
    assert_eq!(env.provider().with_cloud(|c| c.objects().count()), 0);
    r
}

fn median_dur(xs: &mut [Duration]) -> Duration {
    xs.sort();
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2
    }
}

fn median_of(runs: &[Run], f: impl Fn(&Run) -> Duration) -> Duration {
    let mut v: Vec<Duration> = runs.iter().map(f).collect();
    median_dur(&mut v)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Reset the peak RSS (VmHWM) so each size reports its own (Linux >= 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let env_or = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let sizes: Vec<usize> = env_or("BENCH_SIZES", "1000,10000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = env_or("BENCH_RUNS", "5").parse().expect("BENCH_RUNS");
    let seed: u64 = env_or("BENCH_SEED", "42").parse().expect("BENCH_SEED");
    let parallelism: usize = env_or("BENCH_PARALLELISM", "10")
        .parse()
        .expect("BENCH_PARALLELISM");
    let root = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-plan-apply")
        });
    std::fs::create_dir_all(&root).expect("bench dir");
    let root = root.canonicalize().expect("bench dir");
    println!(
        "plan_apply: seed {seed}, parallelism {parallelism}, {runs} run(s) per size, dir {}",
        root.display()
    );

    for &n in &sizes {
        let g = synthetic(n, seed);
        let edges: usize = g
            .iter()
            .map(|r| {
                if let Spec::Data(d) = &r.spec {
                    d.input.len()
                } else {
                    0
                }
            })
            .sum();
        let resettable = reset_peak();
        let mut all = Vec::new();
        for i in 0..runs {
            let r = one_run(&root, n, seed, parallelism);
            println!(
                "  n={n} run {}: plan {:.1} ms, apply {:.1} ms (of which save+compact {:.1} ms; {} steps, {} fsynced batches), no-change plan {:.1} ms, destroy plan {:.1} ms + apply {:.1} ms ({} steps, {} batches)",
                i + 1,
                ms(r.plan_create),
                ms(r.apply),
                ms(r.apply_finish),
                r.apply_steps,
                r.batches,
                ms(r.noop_plan),
                ms(r.destroy_plan),
                ms(r.destroy_apply),
                r.destroy_steps,
                r.destroy_batches
            );
            all.push(r);
        }
        let hwm = status_kib("VmHWM:");
        let plan_c = median_of(&all, |r| r.plan_create);
        let apply = median_of(&all, |r| r.apply);
        let noop = median_of(&all, |r| r.noop_plan);
        let dplan = median_of(&all, |r| r.destroy_plan);
        let dapply = median_of(&all, |r| r.destroy_apply);
        let total = median_of(&all, |r| r.plan_create + r.apply);
        let last = all.last().expect("a run");
        println!("\n== {n} resources ({edges} references), median of {runs} ==");
        println!(
            "  (a) plan from empty              {:>9.1} ms   {:>9.0} resources/s",
            ms(plan_c),
            n as f64 / plan_c.as_secs_f64()
        );
        println!(
            "  (b) apply, p={parallelism}, durable          {:>9.1} ms   {:>9.0} steps/s   {} fsynced journal batches",
            ms(apply),
            last.apply_steps as f64 / apply.as_secs_f64(),
            last.batches
        );
        println!(
            "      of which snapshot save + sim compaction {:.1} ms",
            ms(median_of(&all, |r| r.apply_finish))
        );
        println!("      plan + apply                 {:>9.1} ms", ms(total));
        println!(
            "  (c) no-change plan (w/ refresh)  {:>9.1} ms   {:>9.0} resources/s",
            ms(noop),
            n as f64 / noop.as_secs_f64()
        );
        println!("  (d) destroy plan                 {:>9.1} ms", ms(dplan));
        println!(
            "      destroy apply                {:>9.1} ms   {:>9.0} steps/s   {} fsynced journal batches",
            ms(dapply),
            last.destroy_steps as f64 / dapply.as_secs_f64(),
            last.destroy_batches
        );
        println!(
            "  state snapshot {} KiB, sim snapshot {} KiB",
            last.snapshot_bytes / 1024,
            last.sim_bytes / 1024
        );
        println!(
            "  peak RSS (VmHWM) {:.1} MiB{}\n",
            hwm as f64 / 1024.0,
            if resettable {
                " (reset before this size)"
            } else {
                " (process peak so far)"
            }
        );
    }
}
