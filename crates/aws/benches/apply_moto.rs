//! Apply of the seed to moto with a fixed latency injected per API call (a
//! delaying TCP proxy in front of moto holds each request for LATENCY before
//! passing it on), wall time next to the critical path of the apply graph.
//!
//! Run: `cargo bench -p chronous-aws --bench apply_moto` (needs moto_server:
//! `bash scripts/moto.sh`). `CHRONOUS_BENCH_LATENCY_MS` sets the latency (default 50).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronous_core::engine::{self, ApplyConfig, Event};
use chronous_core::graph::ApplyGraph;
use chronous_store::StateStore;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forward every connection to moto; the first bytes of each request wait `latency`.
async fn proxy(target: u16, latency: Duration, calls: Arc<AtomicUsize>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = l.accept().await else {
                return;
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                // Set when the server answered: the client's next bytes start a new request.
                let fresh = Arc::new(AtomicBool::new(true));
                let f2 = fresh.clone();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if fresh.swap(false, Ordering::SeqCst) {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(latency).await;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        f2.store(true, Ordering::SeqCst);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    port
}

fn main() {
    let latency = Duration::from_millis(
        std::env::var("CHRONOUS_BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let moto = Moto::start();
        set_password();
        let seed = seed_copy("bench", without_restore);
        let calls = Arc::new(AtomicUsize::new(0));
        let port = proxy(moto.port, latency, calls.clone()).await;
        let mut o = options(&moto, &seed.env.name, &seed.dir);
        o.endpoint = Some(format!("http://127.0.0.1:{port}"));
        let p = provider::<aws_smithy_runtime_api::client::http::SharedHttpClient>(o, None).await;
        // Warm moto (its first EC2 call loads the AMI catalogue) outside the timed region.
        let c = clients(&moto).await;
        let _ = c.ec2.describe_images().owners("amazon").send().await;

        let store = StateStore::new(&seed.dir.join(".chronous"));
        std::fs::create_dir_all(store.dir()).unwrap();
        let mut st = load_state(&store, &seed.env);
        let plan = refresh_plan(&p, &seed.env, &st, false).await;
        store.save(&st).unwrap();
        let graph = ApplyGraph::from_plan(&plan).unwrap();
        let mut journal = store.journal(&st).unwrap();
        let mut started: HashMap<String, Instant> = HashMap::new();
        let mut took: HashMap<String, Duration> = HashMap::new();
        let calls_before = calls.load(Ordering::SeqCst);
        let t0 = Instant::now();
        let outcome = engine::apply(&plan, &mut st, &p, &mut journal, &ApplyConfig { parallelism: 10, cancel: None }, &mut |e| match e {
            Event::Started { address, .. } => {
                started.insert(address.to_string(), Instant::now());
            }
            Event::Finished { address, .. } => {
                took.insert(address.to_string(), started[address].elapsed());
            }
            Event::Failed { .. } => {}
        })
        .await
        .unwrap();
        let wall = t0.elapsed();
        drop(journal);
        store.save(&st).unwrap();
        assert_ok(&outcome);
        let n_calls = calls.load(Ordering::SeqCst) - calls_before;

        // Longest chain of the apply graph: in steps, and weighted by each step's measured time.
        let n = graph.ops.len();
        let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
        for (i, s) in graph.succ.iter().enumerate() {
            for &j in s {
                preds[j].push(i);
            }
        }
        let order = {
            let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
            let mut q: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
            let mut out = vec![];
            while let Some(i) = q.pop() {
                out.push(i);
                for &j in &graph.succ[i] {
                    indeg[j] -= 1;
                    if indeg[j] == 0 {
                        q.push(j);
                    }
                }
            }
            out
        };
        let mut steps = vec![0usize; n];
        let mut weighted = vec![Duration::ZERO; n];
        let mut via: Vec<Option<usize>> = vec![None; n];
        for &i in &order {
            let w = took.get(&plan.changes[graph.ops[i].change].address).copied().unwrap_or_default();
            let (bs, bw, bv) = preds[i].iter().fold((0, Duration::ZERO, None), |(s, d, v), &j| (s.max(steps[j]), if weighted[j] > d { weighted[j] } else { d }, if weighted[j] > d { Some(j) } else { v }));
            steps[i] = bs + 1;
            weighted[i] = bw + w;
            via[i] = bv;
        }
        let chain = steps.iter().copied().max().unwrap_or(0);
        let (end, cp) = weighted.iter().enumerate().max_by_key(|(_, d)| **d).map(|(i, d)| (i, *d)).unwrap();
        let mut path = vec![];
        let mut cur = Some(end);
        while let Some(i) = cur {
            let a = &plan.changes[graph.ops[i].change].address;
            path.push(format!("{a} ({:.0} ms)", took.get(a).copied().unwrap_or_default().as_secs_f64() * 1e3));
            cur = via[i];
        }
        path.reverse();
        let naive = latency * chain as u32;
        println!("apply of the seed to moto, {} ms injected per API call, parallelism 10", latency.as_millis());
        println!("  resources: {}   API calls: {n_calls}   wall: {:.2} s", plan.changes.len(), wall.as_secs_f64());
        println!("  longest dependency chain: {chain} steps -> chain x latency = {:.2} s (one call per step)", naive.as_secs_f64());
        println!("  critical path weighted by each step's measured time: {:.2} s -> wall / critical path = {:.3}", cp.as_secs_f64(), wall.as_secs_f64() / cp.as_secs_f64());
        println!("  critical path: {}", path.join(" -> "));
    });
}
