//! `chronous ssh` and `chronous tunnel` on AWS: OpenSSH through the bastion's
//! public IP, as the seed document does it (`ec2-user`, agent forwarding,
//! `-J` to reach a private host). The key is the private half of
//! `key_pair.public_key_file` when it lies beside it (`aws-ssh.pub` ->
//! `aws-ssh`), else whatever the SSH agent holds. The command lines are built
//! by pure functions ([`shell_args`], [`forward_args`]) so they can be tested
//! without an SSH server (moto has none).

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::super::Remote;
use crate::context::Ctx;
use crate::ui::{exit, EXIT_FAILURE};

/// The user of the ECS-optimized AMI and of the bastion's Amazon Linux.
const USER: &str = "ec2-user";

/// What ssh needs to reach the private side: the bastion's public IP and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub bastion: String,
    pub key: Option<PathBuf>,
}

/// The bastion of the recorded state and the environment's key.
pub fn via(ctx: &Ctx) -> Result<Via> {
    let st = ctx.recorded()?;
    let bastion = st
        .lookup("aws_instance.bastion", "public_ip")
        .and_then(|x| x.as_str().map(str::to_string))
        .ok_or_else(|| {
            exit(
                EXIT_FAILURE,
                "no bastion with a public IP is recorded: apply the environment first",
            )
        })?;
    Ok(Via {
        bastion,
        key: private_key(
            &ctx.dir,
            ctx.env
                .key_pair
                .as_ref()
                .map(|k| k.public_key_file.as_str()),
        ),
    })
}

/// The private key beside the key pair's public key file, if it is there.
fn private_key(dir: &Path, public_key_file: Option<&str>) -> Option<PathBuf> {
    let public = dir.join(public_key_file?);
    let private = public.with_extension("");
    (private != public && private.is_file()).then_some(private)
}

fn key_args(via: &Via) -> Vec<String> {
    match &via.key {
        Some(k) => vec![
            "-i".into(),
            k.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ],
        None => vec![],
    }
}

/// `ssh` arguments for a shell (no `command`) or one command, on the bastion
/// or, with `instance`, on that private host through it (`-J`).
pub fn shell_args(via: &Via, instance: Option<&str>, command: &[String]) -> Vec<String> {
    let mut a = vec!["-A".to_string()];
    a.extend(key_args(via));
    if instance.is_some() {
        a.push("-J".into());
        a.push(format!("{USER}@{}", via.bastion));
    }
    if !command.is_empty() {
        // Not interactive: fail rather than ask (CI), and take a new
        // bastion's host key the first time.
        a.extend(
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
            ]
            .map(String::from),
        );
    }
    // `--`: the host and the command after it are never read as ssh options.
    a.push("--".into());
    a.push(format!("{USER}@{}", instance.unwrap_or(&via.bastion)));
    a.extend(command.iter().cloned());
    a
}

/// `ssh -N -L 127.0.0.1:PORT:HOST:RPORT` through the bastion: the forward of `chronous tunnel`.
pub fn forward_args(via: &Via, local_port: u16, remote: &Remote) -> Vec<String> {
    let mut a = vec!["-N".to_string()];
    a.extend(key_args(via));
    a.extend(
        [
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "ServerAliveInterval=30",
            "-L",
        ]
        .map(String::from),
    );
    a.push(format!(
        "127.0.0.1:{local_port}:{}:{}",
        remote.host, remote.port
    ));
    a.push("--".into());
    a.push(format!("{USER}@{}", via.bastion));
    a
}

/// `chronous ssh [INSTANCE] [-- CMD...]` on AWS; the exit code of ssh (the
/// command's, or 255 when ssh itself failed).
pub fn ssh(ctx: &Ctx, instance: Option<&str>, command: &[String]) -> Result<u8> {
    let via = via(ctx)?;
    if !ctx.json && command.is_empty() {
        eprintln!("If the bastion refuses you: `ssh-add` your key, and check that operator_cidr is still your public IP (then apply).");
    }
    let status = Command::new("ssh")
        .args(shell_args(&via, instance, command))
        .status()
        .context("cannot run ssh (is OpenSSH installed?)")?;
    Ok(status.code().unwrap_or(1) as u8)
}

/// An open `ssh -L` forward.
pub struct SshForward {
    pub port: u16,
    child: Child,
}

/// A free port on 127.0.0.1 (ssh -L needs a number; 0 is "choose one" for us).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Start `ssh -N -L` to `remote` and wait until the local port accepts.
pub fn forward(ctx: &Ctx, remote: &Remote, port: u16) -> Result<SshForward> {
    let via = via(ctx)?;
    let port = if port == 0 { free_port()? } else { port };
    let mut child = Command::new("ssh")
        .args(forward_args(&via, port, remote))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh (is OpenSSH installed?)")?;
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let mut why = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut why);
            }
            return Err(exit(
                EXIT_FAILURE,
                format!(
                    "ssh -L through the bastion {} ended ({status}): {}; check `ssh-add -l` (or the key beside key_pair.public_key_file), that operator_cidr is your public IP, and that the database's security group admits the bastion",
                    via.bastion,
                    why.trim()
                ),
            ));
        }
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return Ok(SshForward { port, child });
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(exit(
                EXIT_FAILURE,
                format!(
                    "ssh -L through the bastion {} did not open 127.0.0.1:{port} within 60 s",
                    via.bastion
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl SshForward {
    /// Why the forward ended on its own, if it did.
    pub fn ended(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(format!("ssh ended ({s})")),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    pub fn close(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    //! The ssh command lines, checked as text: moto has no SSH server, so
    //! this is what the aws backend is tested on for `ssh` and `tunnel`.
    use super::*;

    fn via(key: bool) -> Via {
        Via {
            bastion: "203.0.113.7".into(),
            key: key.then(|| PathBuf::from("/env/aws-ssh")),
        }
    }

    #[test]
    fn ssh_forward_is_a_local_forward_through_the_bastion() {
        let r = Remote {
            host: "cak.abc.us-east-2.rds.amazonaws.com".into(),
            port: 3306,
        };
        assert_eq!(
            forward_args(&via(true), 40123, &r).join(" "),
            "-N -i /env/aws-ssh -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=30 \
             -L 127.0.0.1:40123:cak.abc.us-east-2.rds.amazonaws.com:3306 -- ec2-user@203.0.113.7"
        );
    }

    #[test]
    fn ssh_command_runs_on_the_bastion_or_jumps_to_the_instance() {
        let cmd = vec!["mysql".to_string(), "-e".into(), "select 1".into()];
        assert_eq!(
            shell_args(&via(false), None, &cmd).join(" "),
            "-A -o BatchMode=yes -o StrictHostKeyChecking=accept-new -- ec2-user@203.0.113.7 mysql -e select 1"
        );
        assert_eq!(
            shell_args(&via(false), Some("10.2.0.15"), &[]).join(" "),
            "-A -J ec2-user@203.0.113.7 -- ec2-user@10.2.0.15"
        );
    }

    #[test]
    fn ssh_key_is_the_private_half_beside_the_public_key_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("aws-ssh.pub"), "ssh-ed25519 AAAA").unwrap();
        assert_eq!(private_key(d.path(), Some("aws-ssh.pub")), None);
        std::fs::write(d.path().join("aws-ssh"), "key").unwrap();
        assert_eq!(
            private_key(d.path(), Some("aws-ssh.pub")),
            Some(d.path().join("aws-ssh"))
        );
        assert_eq!(private_key(d.path(), None), None);
    }
}
