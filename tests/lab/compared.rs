//! The daemons a benchmark compares, side by side in one run: this build of
//! vipd, optionally another vipd binary (`VIPD_BENCH_BASELINE=/path/to/vipd`,
//! for before/after a change), and keepalived.

/// One of the compared daemons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Daemon {
    Vipd,
    /// Another vipd binary, shown as `vipd@base`.
    VipdBaseline(String),
    Keepalived,
}

impl Daemon {
    pub fn name(&self) -> &'static str {
        match self {
            Daemon::Vipd => "vipd",
            Daemon::VipdBaseline(_) => "vipd@base",
            Daemon::Keepalived => "keepalived",
        }
    }

    /// vipd, the baseline when `VIPD_BENCH_BASELINE` names one (printed),
    /// keepalived: the rows of a benchmark, in order.
    pub fn compared() -> Vec<Daemon> {
        let mut all = vec![Daemon::Vipd];
        if let Ok(bin) = std::env::var("VIPD_BENCH_BASELINE") {
            println!("vipd@base: {bin}");
            all.push(Daemon::VipdBaseline(bin));
        }
        all.push(Daemon::Keepalived);
        all
    }

    /// Starts vipd (this build or the baseline) on `host`; None for keepalived.
    pub fn start_vipd(&self, host: &super::Host, yaml: &str) -> Option<super::vipd::Vipd> {
        match self {
            Daemon::Vipd => Some(host.start_vipd(yaml)),
            Daemon::VipdBaseline(bin) => Some(host.start_vipd_binary(bin, yaml)),
            Daemon::Keepalived => None,
        }
    }
}

/// The start of every benchmark's `main`: None when run without `--bench`
/// (`cargo test --benches` runs bench targets that way: nothing to do); exits
/// with a message when not root; else the run count, `VIPD_BENCH_RUNS` or
/// `default`.
pub fn bench_runs(what: &str, default: usize) -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("{what} bench: needs root (network namespaces); run as root");
        std::process::exit(1);
    }
    Some(
        std::env::var("VIPD_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default),
    )
}
