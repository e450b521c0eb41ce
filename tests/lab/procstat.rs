//! CPU time and memory of lab processes, from /proc: a process and its
//! descendants (keepalived forks its VRRP process: both count).
//!
//! CPU time is utime + stime of /proc/PID/stat (all threads of the process,
//! in clock ticks); a process is known by its pid and start time, so a pid
//! reused between two samples is not mistaken for the same process. Memory
//! is VmRSS of /proc/PID/status.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

/// (ppid, utime + stime in ticks, start time in ticks) of `pid`.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold blanks and parentheses)
    // start at field 3 (state): ppid is field 4, utime 14, stime 15,
    // starttime 22.
    let f: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some((u32::try_from(num(4)?).ok()?, num(14)? + num(15)?, num(22)?))
}

/// `root` and every process descending from it (children, their children,
/// ...), as now.
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok())
            && let Some((ppid, ..)) = stat(pid)
        {
            parent.push((pid, ppid));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// VmRSS of `pid` in KiB (0 when gone).
pub fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The CPU time used so far by a process tree, per process.
#[derive(Clone, Debug)]
pub struct CpuSample {
    /// (pid, start time) -> utime + stime ticks.
    ticks: HashMap<(u32, u64), u64>,
}

impl CpuSample {
    /// Samples `root` and its descendants now.
    pub fn take(root: u32) -> CpuSample {
        let ticks = tree(root)
            .into_iter()
            .filter_map(|pid| stat(pid).map(|(_, t, start)| ((pid, start), t)))
            .collect();
        CpuSample { ticks }
    }

    /// How many processes it holds.
    pub fn processes(&self) -> usize {
        self.ticks.len()
    }

    /// CPU time used between `self` and the later sample `end`: processes
    /// in both count their difference, processes born in between all their
    /// time (those gone by `end` are not seen).
    pub fn until(&self, end: &CpuSample) -> Duration {
        let ticks: u64 = end
            .ticks
            .iter()
            .map(|(k, t)| t.saturating_sub(self.ticks.get(k).copied().unwrap_or(0)))
            .sum();
        Duration::from_nanos(ticks * 1_000_000_000 / clock_ticks())
    }
}

/// VmRSS of `root` and its descendants, summed, in KiB.
pub fn tree_rss_kib(root: u32) -> u64 {
    tree(root).into_iter().map(rss_kib).sum()
}
