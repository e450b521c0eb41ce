//! `process` trackers: how many processes match, from /proc (no `pidof` or
//! `killall` is forked). Each matching process is watched through a pidfd
//! (Linux 5.3+), which becomes readable the moment it exits: a death is
//! reported at once, a new process at the next interval's scan. Without
//! pidfd (older kernels) deaths are seen at the next scan too.
//!
//! A process matches by name as `pidof` matches it: its `comm` (the kernel
//! keeps 15 characters) or the base name of its first argument; zombies and
//! kernel threads never match. Or by the PID in a pidfile.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use tokio::io::unix::AsyncFd;

use super::{Reporter, interval};
use crate::config::ProcessMatch;
use crate::health::Outcome;

pub async fn run(m: &ProcessMatch, every: std::time::Duration, out: Reporter) {
    let mut tick = interval(every);
    // The first tick is now: the loop reports at once, and a second report
    // right away would count twice toward rise/fall.
    tick.tick().await;
    loop {
        let pids = matching(m);
        if !out.send(outcome(m, pids.len())) {
            return;
        }
        let watched: Vec<AsyncFd<OwnedFd>> = pids.iter().filter_map(|p| pidfd(*p)).collect();
        tokio::select! {
            _ = tick.tick() => {}
            _ = any_exit(&watched), if !watched.is_empty() => {}
        }
    }
}

/// Good while enough match (or none, for `absent`).
pub fn outcome(m: &ProcessMatch, count: usize) -> Outcome {
    let what = m
        .name
        .clone()
        .or_else(|| {
            m.pidfile
                .as_ref()
                .map(|p| format!("pidfile {}", p.display()))
        })
        .unwrap_or_default();
    match (m.absent, count) {
        (true, 0) => Outcome::Good,
        (true, n) => Outcome::Bad(format!("{n} {what} running, none wanted")),
        (false, n) if n >= m.min_count as usize => Outcome::Good,
        (false, n) => Outcome::Bad(format!("{n} {what} running, {} wanted", m.min_count)),
    }
}

/// The PIDs of the live processes that match.
pub fn matching(m: &ProcessMatch) -> Vec<i32> {
    matching_in(Path::new("/proc"), m)
}

fn matching_in(proc: &Path, m: &ProcessMatch) -> Vec<i32> {
    if let Some(pf) = &m.pidfile {
        return std::fs::read_to_string(pf)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 0 && alive(&proc.join(p.to_string())))
            .into_iter()
            .collect();
    }
    let Some(name) = &m.name else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path();
            (alive(&p) && named(&p, name)).then_some(pid)
        })
        .collect()
}

/// Not a zombie (or gone): its state in /proc/PID/stat is not `Z`/`X`.
fn alive(p: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(p.join("stat")) else {
        return false;
    };
    // pid (comm) state ...: comm may hold spaces and ')', so from the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
}

/// `comm` (15 characters kept) or argv[0]'s base name is `name`; kernel
/// threads (no command line) never match.
fn named(p: &Path, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(p.join("cmdline")) else {
        return false;
    };
    let Some(argv0) = cmdline.split(|b| *b == 0).next().filter(|a| !a.is_empty()) else {
        return false;
    };
    let base = argv0.rsplit(|b| *b == b'/').next().unwrap_or(argv0);
    if base == name.as_bytes() {
        return true;
    }
    let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
    let short: String = name.chars().take(15).collect();
    comm.trim_end_matches('\n') == short
}

/// A pidfd for `pid`, readable once it exits; None where the kernel has no
/// pidfd_open or the process is already gone.
fn pidfd(pid: i32) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open(pid, 0) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor we own from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: `owned` is a valid descriptor that the AsyncFd owns from here on.
    unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.ok()
}

/// Until one of the watched processes exits.
async fn any_exit(fds: &[AsyncFd<OwnedFd>]) {
    let waits = fds.iter().map(|f| Box::pin(f.readable()));
    let _ = futures::future::select_all(waits).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn by_name(n: &str) -> ProcessMatch {
        ProcessMatch {
            name: Some(n.into()),
            pidfile: None,
            min_count: 1,
            absent: false,
        }
    }

    #[test]
    fn counts_and_verdicts() {
        let m = by_name("haproxy");
        assert_eq!(outcome(&m, 1), Outcome::Good);
        assert_eq!(
            outcome(&m, 0),
            Outcome::Bad("0 haproxy running, 1 wanted".into())
        );
        let two = ProcessMatch {
            min_count: 2,
            ..by_name("w")
        };
        assert!(matches!(outcome(&two, 1), Outcome::Bad(_)));
        let absent = ProcessMatch {
            absent: true,
            ..by_name("evil")
        };
        assert_eq!(outcome(&absent, 0), Outcome::Good);
        assert!(matches!(outcome(&absent, 1), Outcome::Bad(_)));
    }

    // A process found by name and by pidfile; its death seen through the
    // pidfd well before the next scan.
    #[tokio::test]
    async fn finds_a_live_process_and_sees_it_die() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let pids = matching(&by_name("sleep"));
        assert!(pids.contains(&pid), "{pids:?}");
        let dir = std::env::temp_dir().join(format!("vipd-pidfile-{}", std::process::id()));
        std::fs::write(&dir, format!("{pid}\n")).unwrap();
        let pf = ProcessMatch {
            name: None,
            pidfile: Some(dir.clone()),
            min_count: 1,
            absent: false,
        };
        assert_eq!(matching(&pf), vec![pid]);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Reporter::new("t", tx);
        let watch = tokio::spawn(async move { run(&pf, Duration::from_secs(3600), out).await });
        assert!(matches!(
            rx.recv().await,
            Some(super::super::Report::Result {
                outcome: Outcome::Good,
                ..
            })
        ));
        let t0 = std::time::Instant::now();
        child.kill().unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        // The child is a zombie until reaped: pidfd fires on exit, and the
        // scan does not count zombies.
        assert!(
            matches!(
                next,
                Some(super::super::Report::Result {
                    outcome: Outcome::Bad(_),
                    ..
                })
            ),
            "{next:?}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "seen at once, not at the next scan"
        );
        child.wait().unwrap();
        watch.abort();
        std::fs::remove_file(&dir).unwrap();
        assert!(matching(&by_name("no-such-process-name")).is_empty());
    }
}
