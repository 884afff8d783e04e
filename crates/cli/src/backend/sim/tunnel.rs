//! `chronous tunnel` and `chronous ssh -- CMD` on the simulator, through the
//! bastion's container. A tunnel is a listener on 127.0.0.1 whose every
//! accepted connection is relayed by a `docker exec -i` into the bastion
//! running a small relay (Python 3, which the bastion's image has) that
//! connects to the target's name and port on the environment's network: the
//! bytes go through the bastion, as `ssh -L` sends them on AWS, and the
//! database is reached by its RDS endpoint name, as the bastion resolves it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::super::docker::Docker;
use super::super::Remote;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

/// The relay run in the bastion for one connection: `python3 -c RELAY HOST
/// PORT [probe]`. It connects to HOST:PORT, copies stdin to the socket
/// (half-closing it at end of input) and the socket to stdout; with a third
/// argument it only checks that HOST:PORT accepts. Exit 2: unreachable.
const RELAY: &str = r#"import os, socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=10)
except OSError as e:
    sys.stderr.write("the bastion cannot reach %s:%d: %s\n" % (host, port, e.strerror or e))
    sys.exit(2)
if len(sys.argv) > 3:
    sys.exit(0)
s.settimeout(None)
def up():
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        s.sendall(b)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=up, daemon=True).start()
out = sys.stdout.buffer
while True:
    try:
        b = s.recv(65536)
    except OSError:
        break
    if not b:
        break
    out.write(b)
    out.flush()
"#;

/// The running bastion container of the environment (its id).
pub fn bastion(ctx: &Ctx) -> Result<String> {
    let id = ctx.rt()?.block_on(async {
        let d = Docker::connect().await?;
        Ok::<_, anyhow::Error>(
            d.list(&ctx.env.name, Some("bastion"))
                .await?
                .into_iter()
                .find(|c| c.running)
                .map(|c| c.id),
        )
    })?;
    id.ok_or_else(|| {
        exit(
            EXIT_FAILURE,
            format!(
                "no bastion runs for `{}`: bring the environment up first (`chronous apply`)",
                ctx.env.name
            ),
        )
    })
}

/// A task of the service, by its task id (or the end of it, as `status`
/// shows) or its container's name: the name the bastion reaches it by.
pub fn task_host(ctx: &Ctx, target: &str) -> Result<String> {
    let tasks = ctx.rt()?.block_on(async {
        let d = Docker::connect().await?;
        Ok::<_, anyhow::Error>(d.list(&ctx.env.name, Some("task")).await?)
    })?;
    let found = tasks.iter().filter(|c| c.running).find(|c| {
        c.name == target
            || c.labels
                .get("chronous.task-id")
                .is_some_and(|id| id == target || id.ends_with(&format!("/{target}")))
    });
    match found {
        Some(c) => Ok(c.name.clone()),
        None => {
            let running: Vec<String> = tasks
                .iter()
                .filter(|c| c.running)
                .map(|c| {
                    c.labels
                        .get("chronous.task-id")
                        .and_then(|id| id.rsplit('/').next())
                        .unwrap_or(&c.name)
                        .to_string()
                })
                .collect();
            Err(exit(
                EXIT_FAILURE,
                format!(
                    "no running task `{target}` in `{}` (running: {}); the targets are `rds` or a task id as `chronous status` shows it",
                    ctx.env.name,
                    if running.is_empty() { "none".to_string() } else { running.join(", ") }
                ),
            ))
        }
    }
}

/// Check from the bastion that `remote` accepts connections: a clear error
/// now rather than a refused connection later.
pub fn probe(ctx: &Ctx, bastion: &str, remote: &Remote) -> Result<()> {
    let port = remote.port.to_string();
    let out = ctx.rt()?.block_on(async {
        let d = Docker::connect().await?;
        Ok::<_, anyhow::Error>(
            d.exec(
                bastion,
                &["python3", "-c", RELAY, &remote.host, &port, "probe"],
            )
            .await?,
        )
    })?;
    if out.exit_code == 0 {
        return Ok(());
    }
    let why = out.stderr.trim();
    // The simulator enforces the security groups: say so when they are why.
    let policy = chronous_sim::firewall::read_policy(&ctx.state_dir());
    if let Some(d) = policy
        .database
        .filter(|d| d.port == remote.port && !d.from_bastion.allowed)
    {
        return Err(exit(
            EXIT_FAILURE,
            format!(
                "the security groups do not let the bastion reach the database ({}): {}; add a rule to the database's group such as {{ protocol = \"tcp\", port = {}, source = \"bastion\" }} and apply",
                if why.is_empty() { "no connection" } else { why },
                d.from_bastion.summary,
                d.port
            ),
        ));
    }
    Err(exit(
        EXIT_FAILURE,
        format!(
            "{}; is the environment up? (`chronous status`)",
            if why.is_empty() {
                format!("the relay in the bastion failed (exit {})", out.exit_code)
            } else {
                why.to_string()
            }
        ),
    ))
}

/// One relayed connection: the client's socket and the `docker exec` carrying it.
struct Conn {
    stream: TcpStream,
    child: Arc<Mutex<Option<Child>>>,
}

/// An open tunnel on the simulator: the listener's port and thread, and the
/// connections it relays.
pub struct Relay {
    pub port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, Conn>>>,
    accept: Option<JoinHandle<()>>,
}

/// Listen on 127.0.0.1:`port` (0: a free one) and relay every connection to
/// `remote` through the bastion container `bastion`.
pub fn open(bastion: &str, remote: &Remote, port: u16, quiet: bool) -> Result<Relay> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        exit(
            EXIT_FAILURE,
            format!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port, or 0 for a free one)"),
        )
    })?;
    let port = listener.local_addr()?.port();
    let stop = Arc::new(AtomicBool::new(false));
    let conns: Arc<Mutex<HashMap<u64, Conn>>> = Arc::default();
    let (s, c) = (stop.clone(), conns.clone());
    let (bastion, remote) = (bastion.to_string(), remote.clone());
    let accept = std::thread::spawn(move || {
        let next = AtomicU64::new(0);
        for stream in listener.incoming() {
            if s.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let n = next.fetch_add(1, Ordering::SeqCst);
            if let Err(e) = relay(n, stream, &bastion, &remote, &c, quiet) {
                eprintln!("tunnel: {e:#}");
            }
        }
    });
    Ok(Relay {
        port,
        stop,
        conns,
        accept: Some(accept),
    })
}

/// Start relaying one accepted connection (returns at once; two threads copy).
fn relay(
    n: u64,
    stream: TcpStream,
    bastion: &str,
    remote: &Remote,
    conns: &Arc<Mutex<HashMap<u64, Conn>>>,
    quiet: bool,
) -> Result<()> {
    stream.set_nodelay(true).ok();
    let mut child = Command::new("docker")
        .args(["exec", "-i", bastion, "python3", "-c", RELAY])
        .arg(&remote.host)
        .arg(remote.port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `docker exec` (is the docker command installed?)")?;
    let mut to_relay = child.stdin.take().context("no stdin")?;
    let mut from_relay = child.stdout.take().context("no stdout")?;
    let mut errors = child.stderr.take().context("no stderr")?;
    let child = Arc::new(Mutex::new(Some(child)));
    conns.lock().expect("tunnel lock").insert(
        n,
        Conn {
            stream: stream.try_clone()?,
            child: child.clone(),
        },
    );
    let mut from_client = stream.try_clone()?;
    std::thread::spawn(move || {
        pump(&mut from_client, &mut to_relay);
        // End of the client's input: the relay half-closes toward the target.
    });
    let mut to_client = stream;
    let conns = conns.clone();
    std::thread::spawn(move || {
        pump(&mut from_relay, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
        let mut why = String::new();
        let _ = errors.read_to_string(&mut why);
        if let Some(mut c) = child.lock().expect("tunnel lock").take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        conns.lock().expect("tunnel lock").remove(&n);
        if !quiet && !why.trim().is_empty() {
            eprintln!("tunnel: {}", why.trim());
        }
    });
    Ok(())
}

/// Copy until end of input, each read written at once. (Not `io::copy`:
/// between a socket and a pipe it splices, and a MySQL client's login then
/// stalled in this relay.)
fn pump(from: &mut impl Read, to: &mut impl Write) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                    return;
                }
            }
        }
    }
}

impl Relay {
    /// Stop accepting, end every relayed connection and its `docker exec`.
    pub fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the listener so it sees `stop`.
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let conns: Vec<Conn> = self
            .conns
            .lock()
            .expect("tunnel lock")
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in conns {
            let _ = c.stream.shutdown(Shutdown::Both);
            if let Some(mut child) = c.child.lock().expect("tunnel lock").take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::io::stdout().flush();
    }
}

/// `chronous ssh -- CMD...` on the simulator: the command in the bastion's
/// shell (as ssh hands it to the remote shell), stdin, stdout and stderr
/// passed through; its exit code.
pub fn run_command(bastion: &str, command: &[String]) -> Result<u8> {
    let status = Command::new("docker")
        .args(["exec", "-i", bastion, "bash", "-c"])
        .arg(command.join(" "))
        .status()
        .context("cannot run `docker exec` (is the docker command installed?)")?;
    Ok(status.code().unwrap_or(1) as u8)
}
