//! Reference VRRP implementation: keepalived in a lab host.

use super::{Host, ProcHandle};
use std::path::Path;
use std::time::Duration;

/// The keepalived binary; panics naming the package when it is missing.
pub fn keepalived_bin() -> String {
    find_keepalived()
        .unwrap_or_else(|| panic!("lab: keepalived not found (Debian: apt-get install keepalived)"))
        .to_owned()
}

/// Where keepalived is installed, if it is (Debian: /usr/sbin).
pub fn find_keepalived() -> Option<&'static str> {
    [
        "/usr/sbin/keepalived",
        "/usr/local/sbin/keepalived",
        "/sbin/keepalived",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
}

/// What a failing `keepalived -t` means to the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigCheck {
    /// The test fails.
    Strict,
    /// Printed; keepalived starts anyway.
    Report,
}

impl Host {
    /// Writes `conf` into the lab tmpdir, checks it with `keepalived -t`,
    /// starts keepalived (VRRP subsystem only, foreground, logging to its log
    /// file, per-lab pid files) and waits for its "Startup complete".
    ///
    /// Invocation:
    /// `keepalived -n -l -D -G -P -R -f CONF -p PID -r VRRP_PID -c CHK_PID -b BFD_PID`
    pub fn start_keepalived(&self, conf: &str) -> ProcHandle {
        self.start_keepalived_conf(conf).0
    }

    /// [`Host::start_keepalived`], also returning the configuration file it
    /// runs on (rewrite it and send SIGHUP to reload).
    pub fn start_keepalived_conf(&self, conf: &str) -> (ProcHandle, std::path::PathBuf) {
        self.start_keepalived_checked(conf, ConfigCheck::Strict)
    }

    /// [`Host::start_keepalived`] for a configuration `keepalived -t`
    /// rejects over something keepalived itself then corrects at startup
    /// (a verbatim operator configuration): the check runs, its output goes
    /// to the test's output, and keepalived is started anyway.
    pub fn start_keepalived_unchecked(&self, conf: &str) -> ProcHandle {
        self.start_keepalived_checked(conf, ConfigCheck::Report).0
    }

    fn start_keepalived_checked(
        &self,
        conf: &str,
        check_mode: ConfigCheck,
    ) -> (ProcHandle, std::path::PathBuf) {
        let bin = keepalived_bin();
        let seq = self.shared().next_seq();
        let dir = self.tmpdir();
        let base = format!("keepalived-{}-{seq}", self.name);
        let conf_path = dir.join(format!("{base}.conf"));
        std::fs::write(&conf_path, conf)
            .unwrap_or_else(|e| panic!("lab: write {}: {e}", conf_path.display()));
        let conf_s = conf_path.to_string_lossy().into_owned();

        // Config check first: keepalived otherwise only logs config errors and
        // runs with whatever it understood.
        let check = self.exec(&[&bin, "-t", "-f", &conf_s]);
        if !check.status.success() && check_mode == ConfigCheck::Report {
            println!(
                "lab: keepalived -t on {} says (started anyway):\n{}",
                self.name,
                super::out_text(&check)
            );
        } else if !check.status.success() {
            panic!(
                "lab: keepalived config check failed for {}:\n{}\n--- config ---\n{conf}",
                self.name,
                super::out_text(&check)
            );
        }

        let pid = |kind: &str| {
            dir.join(format!("{base}.{kind}.pid"))
                .to_string_lossy()
                .into_owned()
        };
        let (p, r, c, b) = (pid("main"), pid("vrrp"), pid("checkers"), pid("bfd"));
        let args = [
            bin.as_str(),
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
            "--dont-respawn",
            "--use-file",
            &conf_s,
            "--pid",
            &p,
            "--vrrp_pid",
            &r,
            "--checkers_pid",
            &c,
            "--bfd_pid",
            &b,
        ];
        let proc = self.spawn(&args, format!("{base}.log"));
        let ok = super::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            proc.log().contains("Startup complete") || !proc.is_running()
        });
        if !ok || !proc.is_running() {
            let log = proc.log();
            proc.kill();
            panic!(
                "lab: keepalived on {} did not start:\n{log}\n--- config ---\n{conf}",
                self.name
            );
        }
        (proc, conf_path)
    }
}
