//! An ifupdown-managed lab host: `ifup`/`ifdown` (ifupdown 0.8) against the
//! host's own /etc/network and /run/network, never the machine's.
//!
//! Recipe:
//!
//! ```text
//! vipctl hooks install --root TMP     # TMP/etc/network/interfaces present => ifupdown hooks
//! ip netns exec NS unshare --mount --propagation private sh -c '
//!     mount -n -t tmpfs -o mode=0755 tmpfs /run        # private /run (ifstate, vipd's socket)
//!     mkdir -p /run/network
//!     mount -n --bind TMP/etc/network /etc/network     # interfaces + hooks
//!     echo READY; exec sleep infinity'                 # the anchor
//! ip netns exec NS nsenter --mount=/proc/ANCHOR/ns/mnt -- ifup eth0
//! ```
//!
//! `mount -n` keeps the host's /etc/mtab untouched; the bind mount and the
//! tmpfs exist only in the anchor's mount namespace and die with it. vipd is
//! started inside the same mount namespace, so the hooks that `ifup` and
//! `ifdown` run reach its control socket.

use super::{Host, ProcHandle, ns_exec, out_text, require_tool, wait_until};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// ifupdown's view of one lab host. Dropping it stops the anchor (the lab
/// would do it anyway).
#[must_use = "dropping an Ifupdown ends its mount namespace"]
pub struct Ifupdown {
    host: Host,
    anchor: ProcHandle,
    /// TMP: the copy of a system whose etc/network is bind-mounted.
    pub root: PathBuf,
}

impl Host {
    /// Prepares `root/etc/network/interfaces` with `interfaces`, runs
    /// `install_hooks` on `root` (e.g. `vipctl hooks install --root`), then
    /// starts the mount-namespace anchor. The host should have been added
    /// without addresses: `ifup` puts them on.
    pub fn start_ifupdown(&self, interfaces: &str, install_hooks: impl FnOnce(&Path)) -> Ifupdown {
        for t in ["ifup", "ifdown", "unshare", "nsenter", "run-parts"] {
            require_tool(t);
        }
        let seq = self.shared().next_seq();
        let root = self.tmpdir().join(format!("ifupdown-{}-{seq}", self.name));
        let etc = root.join("etc/network");
        for d in ["if-up.d", "if-down.d", "if-pre-up.d", "if-post-down.d"] {
            fs::create_dir_all(etc.join(d)).expect("lab: create etc/network");
        }
        fs::write(etc.join("interfaces"), interfaces).expect("lab: write interfaces");
        install_hooks(&root);
        let setup = "set -e
mount -n -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/network
mount -n --bind \"$2\" /etc/network
echo \"$1\"
exec sleep infinity";
        let anchor = self.spawn_mount_anchor(
            &[],
            setup,
            &[etc.to_str().expect("lab: utf-8 path")],
            format!("ifupdown-{}-{seq}-anchor.log", self.name),
            "ifupdown mount-namespace anchor",
        );
        Ifupdown {
            host: self.clone(),
            anchor,
            root,
        }
    }
}

impl Ifupdown {
    pub fn host(&self) -> &Host {
        &self.host
    }

    fn prefix(&self) -> [String; 2] {
        [
            "nsenter".to_owned(),
            format!("--mount=/proc/{}/ns/mnt", self.anchor.pid()),
        ]
    }

    fn wrap<'a>(p: &'a [String; 2], args: &[&'a str]) -> Vec<&'a str> {
        let mut v: Vec<&str> = p.iter().map(String::as_str).collect();
        v.push("--");
        v.extend_from_slice(args);
        v
    }

    /// Runs `args` in the host's network namespace and this mount namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        assert!(
            self.anchor.is_running(),
            "lab: ifupdown anchor of {} is gone",
            self.host.name
        );
        let p = self.prefix();
        ns_exec(&self.host.ns, &Self::wrap(&p, args))
    }

    /// `sh -c script` there; panics with the output on failure.
    pub fn sh_ok(&self, script: &str) -> String {
        let o = self.exec(&["sh", "-c", script]);
        if !o.status.success() {
            panic!(
                "lab: {} (ifupdown ns): {script:?} failed:\n{}",
                self.host.name,
                out_text(&o)
            );
        }
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Spawns a long-running process in the namespaces (registered with the lab).
    pub fn spawn(&self, args: &[&str], log: impl AsRef<Path>) -> ProcHandle {
        let p = self.prefix();
        self.host
            .shared()
            .spawn(&self.host.ns, &Self::wrap(&p, args), &[], log.as_ref())
    }

    /// Starts vipd inside the mount namespace (see [`Host::start_vipd`]).
    pub fn start_vipd(&self, yaml: &str) -> super::vipd::Vipd {
        super::vipd::start_vipd_with(&self.host, super::vipd::vipd_bin(), yaml, |args, log| {
            self.spawn(args, log)
        })
    }
}

impl Drop for Ifupdown {
    fn drop(&mut self) {
        self.anchor.kill();
    }
}
