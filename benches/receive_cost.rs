//! Per-advert cost of the receive path, in instructions: what the daemon
//! does for every advert a backup hears (classify, feed the router, find
//! the next deadline), replayed on N dual-stack instances from encoded
//! adverts (`vipd::daemon::replay`); and of the send path: what it does for
//! every advert a master sends (take the due routers from the schedule,
//! fire each timer, find the advert's bytes and destinations, re-schedule),
//! up to the send(2) itself (the kernel's cost is not counted). Counted by `valgrind --tool=callgrind`,
//! which counts instructions, not time: the figure is the same whatever
//! the machine's load. Per N: (instructions of R rounds - of 0 rounds) /
//! (adverts replayed). A cost flat in N means no work per packet scans the
//! instances. Also printed: nanoseconds per advert, natively (noisy).
//!     cargo bench --bench receive_cost     (valgrind from Debian's package)

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const SIZES: [usize; 4] = [16, 64, 255, 510];
const ROUNDS: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(p) = args.iter().position(|a| a == "--replay") {
        let n: usize = args.get(p + 1).and_then(|v| v.parse().ok()).unwrap_or(16);
        let r: usize = args.get(p + 2).and_then(|v| v.parse().ok()).unwrap_or(0);
        let done = vipd::daemon::replay::replay_adverts(n, r);
        assert_eq!(done, 2 * n * r, "every advert delivered");
        return;
    }
    if let Some(p) = args.iter().position(|a| a == "--replay-sends") {
        let n: usize = args.get(p + 1).and_then(|v| v.parse().ok()).unwrap_or(16);
        let r: usize = args.get(p + 2).and_then(|v| v.parse().ok()).unwrap_or(0);
        let sent = vipd::daemon::replay::replay_sends(n, r);
        assert_eq!(sent, 2 * n * r, "every advert sent");
        return;
    }
    // `cargo test --benches` runs bench targets with --bench absent: do nothing then.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let me = std::env::current_exe().expect("own path");
    let valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    table(&me, valgrind, Side::Receive);
    println!();
    table(&me, valgrind, Side::Send);
}

/// Which path a table measures.
#[derive(Clone, Copy)]
enum Side {
    /// Adverts a backup hears (`--replay`).
    Receive,
    /// Adverts a master sends (`--replay-sends`).
    Send,
}

impl Side {
    fn flag(self) -> &'static str {
        match self {
            Side::Receive => "--replay",
            Side::Send => "--replay-sends",
        }
    }
    fn replay(self, n: usize, rounds: usize) -> usize {
        match self {
            Side::Receive => vipd::daemon::replay::replay_adverts(n, rounds),
            Side::Send => vipd::daemon::replay::replay_sends(n, rounds),
        }
    }
    /// Rounds in the baseline run: a send replay's first round encodes the
    /// adverts (once per instance), so it is left out of the figure.
    fn base_rounds(self) -> usize {
        match self {
            Side::Receive => 0,
            Side::Send => 1,
        }
    }
    fn title(self) -> String {
        match self {
            Side::Receive => format!(
                "receive path, per advert heard by a backup ({ROUNDS} rounds of one advert per instance and family)"
            ),
            Side::Send => format!(
                "send path, per advert a master sends ({ROUNDS} rounds of one timer per instance, IPv4 and IPv6; the first round, which encodes, not counted)"
            ),
        }
    }
}

/// One table: per N, instructions per advert under callgrind ((R rounds -
/// base) / adverts) and nanoseconds natively.
fn table(me: &PathBuf, valgrind: bool, side: Side) {
    println!("{}", side.title());
    println!(
        "{:>10} {:>14} {:>12}",
        "instances", "instructions", "ns (native)"
    );
    let base = side.base_rounds();
    for n in SIZES {
        let instructions = if valgrind {
            let b = callgrind(me, side.flag(), n, base);
            let f = callgrind(me, side.flag(), n, base + ROUNDS);
            match (b, f) {
                (Some(b), Some(f)) => {
                    format!("{}", (f.saturating_sub(b)) / (2 * n * ROUNDS) as u64)
                }
                _ => "failed".into(),
            }
        } else {
            "SKIPPED (no valgrind)".into()
        };
        let rounds = 200;
        let setup = {
            let t = Instant::now();
            side.replay(n, base);
            t.elapsed()
        };
        let t0 = Instant::now();
        let done = side.replay(n, base + rounds).saturating_sub(2 * n * base);
        let ns = (t0.elapsed().saturating_sub(setup)).as_nanos() / done.max(1) as u128;
        println!("{n:>10} {instructions:>14} {ns:>12}");
    }
}

/// Total instructions of one replay (`mode`: `--replay` or
/// `--replay-sends`) under callgrind.
fn callgrind(me: &PathBuf, mode: &str, n: usize, rounds: usize) -> Option<u64> {
    let out = std::env::temp_dir().join(format!(
        "vipd-callgrind-{}-{}-{n}-{rounds}",
        std::process::id(),
        mode.trim_start_matches('-')
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(me)
        .args([mode, &n.to_string(), &rounds.to_string()])
        .output()
        .ok()?;
    let text = std::fs::read_to_string(&out).ok();
    let _ = std::fs::remove_file(&out);
    if !status.status.success() {
        eprintln!(
            "callgrind failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        return None;
    }
    text?
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
