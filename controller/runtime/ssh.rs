/*! `ssh://[user@]host[:port][/path/to/engine.sock]` endpoints: the system's `ssh` forwards a
local Unix socket (in a fresh private folder) to the engine's socket on the other machine
(`/var/run/docker.sock` unless the URL names another), and devarch talks to that socket as to a
local one. The tunnel lives as long as the runtime that uses it.

`DEVARCH_SSH_COMMAND` replaces `ssh` (like git's `GIT_SSH_COMMAND`), e.g.
`ssh -i ~/.ssh/devarch -o StrictHostKeyChecking=accept-new`. `ssh` runs with `BatchMode=yes`:
keys or an agent, never a password prompt.
*/

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engine socket on the other machine when the URL names none (Docker's).
const DEFAULT_REMOTE_SOCKET: &str = "/var/run/docker.sock";
/// Longest wait for the tunnel's socket to appear.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// Where an `ssh://` endpoint points.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SshTarget {
    /// `user@host` or `host`.
    destination: String,
    /// `-p` port.
    port: Option<u16>,
    /// The engine's socket on the other machine.
    socket: String,
}

impl SshTarget {
    /// Parses `ssh://[user@]host[:port][/socket]`.
    pub(super) fn parse(endpoint: &str) -> Result<SshTarget, String> {
        let rest = endpoint
            .strip_prefix("ssh://")
            .ok_or_else(|| "not an ssh:// endpoint".to_string())?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("port {p:?} is not a number"))?,
                ),
            ),
            _ => (hostport, None),
        };
        let safe = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-[]:".contains(c))
        };
        if !safe(host) || user.is_some_and(|u| !safe(u)) {
            return Err(format!("{authority:?} is not [user@]host[:port]"));
        }
        Ok(SshTarget {
            destination: match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_string(),
            },
            port,
            socket: if path.is_empty() || path == "/" {
                DEFAULT_REMOTE_SOCKET.to_string()
            } else {
                path.to_string()
            },
        })
    }
}

/// A running `ssh -L local.sock:remote.sock`; stopped when dropped.
pub struct SshTunnel {
    child: Child,
    /// The forwarded socket on this machine.
    pub(super) socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SshTunnel {
    /// Starts the tunnel and waits for its socket.
    pub(super) async fn open(target: &SshTarget) -> Result<SshTunnel, String> {
        let command = std::env::var("DEVARCH_SSH_COMMAND").unwrap_or_else(|_| "ssh".into());
        let words =
            shell_words::split(&command).map_err(|e| format!("DEVARCH_SSH_COMMAND: {e}"))?;
        let (program, args) = words
            .split_first()
            .ok_or_else(|| "DEVARCH_SSH_COMMAND is empty".to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("devarch-ssh-")
            .tempdir()
            .map_err(|e| format!("cannot make the tunnel's folder: {e}"))?;
        let socket = dir.path().join("engine.sock");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .args([
                "-nNT",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "BatchMode=yes",
            ])
            .args(["-o", "StreamLocalBindUnlink=yes"]);
        if let Some(p) = target.port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg("-L")
            .arg(format!("{}:{}", socket.display(), target.socket))
            .arg("--")
            .arg(&target.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let mut tunnel = SshTunnel {
            child,
            socket,
            _dir: dir,
        };
        let start = Instant::now();
        while !tunnel.socket.exists() {
            if let Ok(Some(status)) = tunnel.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = tunnel.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.by_ref().take(4096).read_to_string(&mut err);
                }
                return Err(format!(
                    "ssh to {} exited ({status}): {}",
                    target.destination,
                    crate::printable::line(err.trim())
                ));
            }
            if start.elapsed() > OPEN_TIMEOUT {
                return Err(format!(
                    "ssh to {} did not open the tunnel within {}s",
                    target.destination,
                    OPEN_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(tunnel)
    }
}

#[cfg(test)]
mod tests {
    use super::SshTarget;

    #[test]
    fn parses_ssh_urls() {
        assert_eq!(
            SshTarget::parse("ssh://root@127.0.0.1:2222/run/x.sock").unwrap(),
            SshTarget {
                destination: "root@127.0.0.1".into(),
                port: Some(2222),
                socket: "/run/x.sock".into()
            }
        );
        let t = SshTarget::parse("ssh://build-host").unwrap();
        assert_eq!((t.destination.as_str(), t.port), ("build-host", None));
        assert_eq!(t.socket, "/var/run/docker.sock");
        for bad in [
            "ssh://-oProxyCommand=x",
            "ssh://a b",
            "ssh://h:port",
            "tcp://h",
        ] {
            assert!(SshTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
