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
