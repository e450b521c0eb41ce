//! Running a command for vipd (exec trackers, notify hooks): as the script
//! user, without a shell unless the configuration asked for one, with a
//! clean environment, in its own process group, killed whole after its
//! timeout, with bounded output kept for the log.
//!
//! Every descriptor vipd opens is close-on-exec (the VRRP and packet
//! sockets, netlink, the timerfd, the control socket); the child also
//! closes every descriptor above stderr before exec, so nothing vipd itself
//! inherited without close-on-exec reaches a script either. A lab test
//! checks that a script sees only 0, 1 and 2.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::config::Command;

/// The user scripts run as, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The user the Debian package creates for scripts.
pub const DEFAULT_SCRIPT_USER: &str = "vipd-script";

impl ScriptUser {
    /// `name`, or the default: `vipd-script` where it exists, else `nobody`.
    pub fn resolve(name: Option<&str>) -> Result<ScriptUser, String> {
        let lookup = |n: &str| nix::unistd::User::from_name(n).ok().flatten();
        let user = match name {
            Some(n) => lookup(n).ok_or_else(|| {
                format!("script_user {n:?} does not exist on this host: create it (adduser --system {n}) or name another user")
            })?,
            None => lookup(DEFAULT_SCRIPT_USER)
                .or_else(|| lookup("nobody"))
                .ok_or("neither vipd-script nor nobody exists: set script_user")?,
        };
        Ok(ScriptUser {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal (not by us).
    Signal(i32),
    /// Still running at its timeout: killed, with its process group.
    TimedOut,
    /// Could not be started (missing, not executable, no such user...).
    NotStarted(String),
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::TimedOut => f.write_str("timed out"),
            Exit::NotStarted(e) => write!(f, "could not start: {e}"),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub exit: Exit,
    pub duration: Duration,
    /// The start of its output (stdout then stderr), at most [`OUTPUT_LIMIT`].
    pub output: String,
}

/// What is kept of a command's output.
pub const OUTPUT_LIMIT: usize = 4096;

/// Runs `cmd` as `user` (None: as vipd itself, for tests) with `env` added
/// to a minimal environment; kills it and its process group at `timeout`.
pub async fn run(
    cmd: &Command,
    user: Option<&ScriptUser>,
    env: &[(String, String)],
    timeout: Duration,
) -> Ran {
    let started = Instant::now();
    let Some((program, args)) = cmd.argv.split_first() else {
        return Ran {
            exit: Exit::NotStarted("empty command".into()),
            duration: Duration::ZERO,
            output: String::new(),
        };
    };
    let mut c = std::process::Command::new(program);
    c.args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let ids = user.map(|u| (u.uid, u.gid));
    // SAFETY: between fork and exec only async-signal-safe calls: setsid,
    // setgroups, setgid, setuid.
    unsafe {
        c.pre_exec(move || {
            close_from(3);
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if let Some((uid, gid)) = ids {
                let gid = nix::unistd::Gid::from_raw(gid);
                nix::unistd::setgroups(&[gid]).map_err(std::io::Error::from)?;
                nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
                nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))
                    .map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    let mut child = match tokio::process::Command::from(c).kill_on_drop(true).spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return Ran {
                exit: Exit::NotStarted(e.to_string()),
                duration: started.elapsed(),
                output: String::new(),
            };
        }
    };
    let pgid = child.id().map(|p| p as i32);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            read_bounded(s, &mut out).await;
        }
        if let Some(s) = stderr.as_mut() {
            read_bounded(s, &mut out).await;
        }
        out
    };
    let waited = tokio::time::timeout(timeout, async {
        let out = collect.await;
        (child.wait().await, out)
    })
    .await;
    let (exit, output) = match waited {
        Ok((Ok(status), out)) => (exit_of(status), out),
        Ok((Err(e), out)) => (Exit::NotStarted(e.to_string()), out),
        Err(_) => {
            if let Some(pg) = pgid {
                // The whole group: a shell's children go too.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pg),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            (Exit::TimedOut, Vec::new())
        }
    };
    Ran {
        exit,
        duration: started.elapsed(),
        output: String::from_utf8_lossy(&output).trim_end().to_string(),
    }
}

/// Marks every descriptor from `first` on close-on-exec, in the child
/// before exec (closing them outright would also close the pipe the
/// standard library uses to report a failed exec): close_range(2) with
/// CLOSE_RANGE_CLOEXEC (Linux 5.11+), else fcntl(2) on each possible
/// descriptor. Both are async-signal-safe.
fn close_from(first: libc::c_uint) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range on our own descriptor table; failure is handled.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `lim`.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_int
    } else {
        1024
    };
    for fd in first as libc::c_int..max {
        // SAFETY: flags of a descriptor number; EBADF for unused ones is fine.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Reads until EOF, keeping at most [`OUTPUT_LIMIT`] bytes in `out` (the
/// rest is read and dropped, so the child never blocks on a full pipe).
async fn read_bounded(r: &mut (impl AsyncReadExt + Unpin), out: &mut Vec<u8>) {
    let mut buf = [0u8; 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(line: &str) -> Command {
        Command::shell(line)
    }

    #[tokio::test]
    async fn exit_codes_output_and_timeouts() {
        let r = run(
            &sh("echo hello; echo oops >&2; exit 3"),
            None,
            &[],
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.exit, Exit::Code(3));
        assert_eq!(r.output, "hello\noops");
        let r = run(
            &sh("sleep 5 & sleep 5"),
            None,
            &[],
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(r.exit, Exit::TimedOut);
        assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
        let r = run(
            &Command::argv(vec!["/nonexistent/x".into()]),
            None,
            &[],
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(r.exit, Exit::NotStarted(_)), "{:?}", r.exit);
        assert!(!r.exit.success());
        let r = run(&sh("kill -TERM $$"), None, &[], Duration::from_secs(5)).await;
        assert_eq!(r.exit, Exit::Signal(15));
    }

    // A descriptor without close-on-exec (as vipd may have inherited one)
    // still does not reach the script.
    #[tokio::test]
    async fn no_descriptor_is_inherited() {
        // SAFETY: dup of stdin, without O_CLOEXEC on the copy.
        let fd = unsafe { libc::dup(0) };
        assert!(fd > 2);
        let r = run(
            &sh("ls /proc/self/fd | tr '\\n' ' '"),
            None,
            &[],
            Duration::from_secs(5),
        )
        .await;
        // SAFETY: our own copy.
        unsafe { libc::close(fd) };
        assert_eq!(r.output.trim(), "0 1 2 3", "ls's own directory is 3");
    }

    #[tokio::test]
    async fn environment_is_clean_and_output_bounded() {
        let env = vec![("VIPD_STATE".to_string(), "MASTER".to_string())];
        let r = run(
            &sh("echo \"$VIPD_STATE $HOME ${USER:-none}\""),
            None,
            &env,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.output, "MASTER / none");
        let r = run(
            &sh("head -c 100000 /dev/zero | tr '\\0' x"),
            None,
            &[],
            Duration::from_secs(5),
        )
        .await;
        assert!(r.exit.success());
        assert_eq!(r.output.len(), OUTPUT_LIMIT);
    }
}
