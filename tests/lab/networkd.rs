//! A real systemd-networkd (with its own system D-Bus) inside a lab host.
//!
//! Recipe (systemd 252, no systemd as PID 1, no udevd):
//!
//! ```text
//! ip netns exec NS unshare --mount --uts --propagation private sh -c '
//!     mount -n -t tmpfs -o mode=0755 tmpfs /run           # private /run
//!     # UdevMode::Emulated (default): udev database entries for ifindex 1..8192
//!     mkdir -p /run/udev/data; touch /run/udev/data/n1 ... /run/udev/data/n8192
//!     # UdevMode::Absent instead: mount -n -o remount,bind,ro /sys
//!     mount -n -t tmpfs -o mode=0755 tmpfs /etc/systemd/network
//!     mount -n -t tmpfs -o mode=0755,ro tmpfs /usr/share/dbus-1/system-services
//!     mkdir -p /run/dbus /run/systemd/network
//!     echo READY; exec sleep infinity'                  # the anchor
//! ip netns exec NS nsenter --mount=/proc/ANCHOR/ns/mnt --uts=/proc/ANCHOR/ns/uts -- \
//!     dbus-daemon --system --nofork --nopidfile --nosyslog
//! ip netns exec NS nsenter ... -- env SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console \
//!     /lib/systemd/systemd-networkd
//! ```
//!
//! - The anchor (`sleep infinity`, exec'd by the unshare'd shell) holds the
//!   private mount + UTS namespaces; every later command joins them with
//!   `ip netns exec NS nsenter --mount=/proc/ANCHOR/ns/mnt --uts=...`, so it
//!   sees the namespace's `/run/dbus/system_bus_socket`,
//!   `/etc/systemd/network` and `/run/systemd/network`. networkd can therefore
//!   be killed and restarted at will.
//! - udev. networkd 252 decides "udev is available" from a read-write `/sys`
//!   (`udev_available()`), and then configures a link only once udev's
//!   database has an entry for it (`/run/udev/data/n<ifindex>`; any entry
//!   means "initialized"), after an asynchronous RTM_GETLINK. Without udev
//!   (read-only `/sys`, as in containers) it configures a link synchronously
//!   while it is still enumerating links, i.e. *before* it has enumerated
//!   the addresses, which changes what a restart does to foreign addresses
//!   (see tests/networkd_selftest.rs). So two modes:
//!   - [`UdevMode::Emulated`] (default, like a real host): `/sys` stays
//!     read-write (as for any `ip netns exec`) and empty udev database
//!     entries are pre-created for ifindex 1..8192 of this fresh namespace,
//!     so every link (also ones created later, e.g. a MACVLAN from a .netdev)
//!     counts as processed by udev at once. Not emulated: .link files
//!     (renames, MACAddressPolicy=), udev properties, uevents.
//!   - [`UdevMode::Absent`] (like a container): `/sys` is made read-only
//!     with a *bind* remount, which only flips the per-mount flag in the
//!     private namespace (the sysfs superblock and the host's `/sys` stay
//!     read-write); `statvfs` reports it read-only.
//! - The D-Bus service directory is hidden behind an empty tmpfs so the bus
//!   cannot activate anything (e.g. hostnamed setting a DHCP hostname); the
//!   UTS namespace is private as a second guard.
//! - Files are written from outside through `/proc/ANCHOR/root/...`, which
//!   resolves paths in the anchor's mount namespace.
//! - Everything is torn down with the lab (the anchor, dbus-daemon and
//!   networkd are lab processes; the namespaces die with them). Nothing on the
//!   host's `/run`, `/sys` or `/etc` is touched.
//!
//! netplan: [`Host::netplan_generate`] runs `netplan generate --root-dir TMP`
//! in the root network namespace but inside a private mount namespace with a
//! tmpfs on `/run` (the generator only reads `TMP/etc/netplan` and writes under
//! `TMP`; it runs `systemctl is-system-running`, which the tmpfs keeps away
//! from any real systemd). [`Networkd::apply_netplan`] mimics the networkd
//! side of `netplan apply` of netplan.io 0.106 (Debian 12), see there.

use super::{HOST_IF, Host, ProcHandle, lock, ns_exec, out_text, tail_lines, wait_until};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

/// Where systemd-networkd lives on Debian (merged /usr).
pub const NETWORKD_BIN: &str = "/lib/systemd/systemd-networkd";

/// Setup states of a link (`networkctl list` column SETUP, D-Bus
/// `AdministrativeState`).
pub const SETUP_STATES: &[&str] = &[
    "pending",
    "initialized",
    "configuring",
    "configured",
    "unmanaged",
    "failed",
    "linger",
];

/// A systemd-networkd + dbus-daemon running in a private mount namespace of
/// a lab host. See the module docs. Dropping it stops networkd, dbus-daemon
/// and the anchor (the lab would do it anyway).
#[must_use = "dropping a Networkd stops it"]
pub struct Networkd {
    host: Host,
    anchor: ProcHandle,
    dbus: ProcHandle,
    networkd: Mutex<ProcHandle>,
    log: PathBuf,
    base: String,
    udev: UdevMode,
    /// Where the generation's root is mounted inside the namespace when
    /// networkd, dbus-daemon and networkctl come from a Debian root
    /// ([`Host::start_networkd_from`]); None for the host's own.
    chroot: Option<&'static str>,
}

/// Where [`Host::start_networkd_from`] mounts a generation's root inside
/// the router's private mount namespace (on its private /run tmpfs).
pub const GEN_ROOT_MOUNT: &str = "/run/vipd-gen-root";

/// Mounts a Debian root read-only at `$3` = GEN_ROOT_MOUNT... (appended to
/// the anchor's setup script when a root is given as `$3`): writable /run
/// (the namespace's own, so the bus socket and udev database are at the
/// same paths inside and outside the chroot), /etc/systemd/network (the
/// namespace's tmpfs, where files written from outside land), /tmp and
/// /var/lib/systemd as tmpfs; /sys, /dev, a fresh /proc; the D-Bus
/// activation directories hidden; an empty /etc/machine-id (debootstrap
/// leaves one) replaced by the root's /var/lib/dbus/machine-id.
const CHROOT_SETUP: &str = "
if [ -n \"$3\" ]; then
    R=/run/vipd-gen-root
    mkdir -p $R
    mount -n --bind \"$3\" $R
    mount -n -o remount,bind,ro $R
    mount -n --bind /run $R/run
    mount -n --bind /sys $R/sys
    if [ \"$2\" = absent ]; then mount -n -o remount,bind,ro $R/sys; fi
    mount -n -t proc proc $R/proc
    mount -n --bind /dev $R/dev
    mount -n -t tmpfs -o mode=1777 tmpfs $R/tmp
    mount -n --bind /etc/systemd/network $R/etc/systemd/network
    if [ -d $R/var/lib/systemd ]; then mount -n -t tmpfs -o mode=0755 tmpfs $R/var/lib/systemd; fi
    for d in usr/share/dbus-1/system-services usr/local/share/dbus-1/system-services \
             lib/dbus-1/system-services; do
        if [ -d \"$R/$d\" ] && [ ! -L \"$R/$d\" ]; then mount -n -t tmpfs -o mode=0755,ro tmpfs \"$R/$d\"; fi
    done
    if [ ! -s $R/etc/machine-id ] && [ -f $R/etc/machine-id ] && [ -s $R/var/lib/dbus/machine-id ]; then
        mount -n --bind $R/var/lib/dbus/machine-id $R/etc/machine-id
    fi
fi
";

fn require_file(path: &str, what: &str) {
    if !Path::new(path).exists() {
        panic!("lab: {path} not found; {what}");
    }
}

/// How udev looks to networkd, see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdevMode {
    /// Read-write /sys and a pre-filled udev database (a real host).
    Emulated,
    /// Read-only /sys: networkd does not use udev (a container).
    Absent,
}

impl Host {
    /// Starts dbus-daemon and systemd-networkd in a private mount namespace of
    /// this host with `files` (name, content) in its `/etc/systemd/network/`
    /// (names may contain a `/` for drop-ins, e.g.
    /// `10-eth0.network.d/50-keep.conf`).
    ///
    /// Returns once networkd answers on D-Bus and eth0 is ready: setup state
    /// `configured`/`unmanaged` or operational state `routable` (a static
    /// address is `routable` at once; `configured` alone takes ~10 s with the
    /// default IPv6AcceptRA=yes because networkd waits for router
    /// solicitations to time out). Panics with the logs if eth0 fails or is
    /// not ready within 30 s.
    ///
    /// udev is emulated ([`UdevMode::Emulated`]).
    pub fn start_networkd(&self, files: &[(&str, &str)]) -> Networkd {
        self.start_networkd_with(files, UdevMode::Emulated)
    }

    /// [`Host::start_networkd`] with a choice of [`UdevMode`].
    pub fn start_networkd_with(&self, files: &[(&str, &str)], udev: UdevMode) -> Networkd {
        let nd = self.start_networkd_no_wait(files, udev);
        nd.wait_eth0_ready(super::setup_timeout(Duration::from_secs(30)));
        nd
    }

    /// Like [`Host::start_networkd_with`] but returns as soon as networkd
    /// answers on D-Bus (eth0 may still be pending/configuring).
    pub fn start_networkd_no_wait(&self, files: &[(&str, &str)], udev: UdevMode) -> Networkd {
        self.start_networkd_in(files, udev, None)
    }

    /// [`Host::start_networkd_with`] with another systemd generation:
    /// systemd-networkd, dbus-daemon, networkctl and busctl of the Debian
    /// root `root` (e.g. a debootstrapped bullseye), chrooted inside this
    /// host's private mount namespace. The root is bind-mounted read-only
    /// (never written); everything writable is the namespace's own tmpfs
    /// (see [`CHROOT_SETUP`]). The host's vipd and vipctl, started with
    /// [`Networkd::start_vipd`], reach that bus at the usual socket path.
    pub fn start_networkd_from(&self, root: &Path, files: &[(&str, &str)]) -> Networkd {
        let nd = self.start_networkd_in(files, UdevMode::Emulated, Some(root));
        nd.wait_eth0_ready(Duration::from_secs(30));
        nd
    }

    fn start_networkd_in(
        &self,
        files: &[(&str, &str)],
        udev: UdevMode,
        gen_root: Option<&Path>,
    ) -> Networkd {
        match gen_root {
            None => require_file(
                NETWORKD_BIN,
                "systemd-networkd is needed (Debian: apt-get install systemd)",
            ),
            Some(r) => {
                for f in [
                    "lib/systemd/systemd-networkd",
                    "usr/bin/dbus-daemon",
                    "bin/networkctl",
                ] {
                    require_file(
                        &r.join(f).to_string_lossy(),
                        "the generation's root lacks it (.ci/debian-roots installs systemd and dbus)",
                    );
                }
            }
        }
        require_file(
            "/etc/systemd/network",
            "it is the mount point for the namespace's config (Debian: apt-get install systemd)",
        );
        for t in ["networkctl", "busctl", "dbus-daemon", "unshare", "nsenter"] {
            super::require_tool(t);
        }
        if !Path::new("/etc/machine-id").exists() && !Path::new("/var/lib/dbus/machine-id").exists()
        {
            panic!("lab: dbus-daemon needs /etc/machine-id or /var/lib/dbus/machine-id");
        }
        let seq = self.shared().next_seq();
        let base = format!("networkd-{}-{seq}", self.name);
        let setup = &"set -e
mount -n -t tmpfs -o mode=0755 tmpfs /run
if [ \"$2\" = absent ]; then
    mount -n -o remount,bind,ro /sys
else
    mkdir -p /run/udev/data
    cd /run/udev/data
    seq 1 8192 | sed 's/^/n/' | xargs touch
    cd /
fi
mount -n -t tmpfs -o mode=0755 tmpfs /etc/systemd/network
for d in /usr/share/dbus-1/system-services /usr/local/share/dbus-1/system-services \
         /lib/dbus-1/system-services; do
    if [ -d \"$d\" ]; then mount -n -t tmpfs -o mode=0755,ro tmpfs \"$d\"; fi
done
mkdir -p /run/dbus /run/systemd/network
CHROOT_SETUP
echo \"$1\"
exec sleep infinity"
            .replace("CHROOT_SETUP", CHROOT_SETUP);
        let anchor = self.spawn_mount_anchor(
            &["--uts"],
            setup,
            &[
                match udev {
                    UdevMode::Emulated => "emulated",
                    UdevMode::Absent => "absent",
                },
                &gen_root
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ],
            format!("{base}-anchor.log"),
            "mount-namespace anchor for networkd",
        );
        let root = anchor_root(&anchor);
        for (name, content) in files {
            assert!(
                !name.starts_with('/') && !name.split('/').any(|c| c == ".."),
                "lab: bad networkd file name {name:?}"
            );
            let p = root.join("etc/systemd/network").join(name);
            write_path(&p, content);
        }

        let dbus_log = self.tmpdir().join(format!("{base}-dbus.log"));
        let p = nsenter_prefix(anchor.pid());
        let chroot = gen_root.map(|_| GEN_ROOT_MOUNT);
        let dbus = self.spawn(
            &wrap(
                &p,
                &[
                    chrooted(chroot, "dbus-daemon").as_slice(),
                    &["--system", "--nofork", "--nopidfile", "--nosyslog"],
                ]
                .concat(),
            ),
            &dbus_log,
        );
        let sock = root.join("run/dbus/system_bus_socket");
        let ok = wait_until(
            super::setup_timeout(Duration::from_secs(5)),
            Duration::from_millis(10),
            || sock.exists() || !dbus.is_running(),
        );
        if !ok || !dbus.is_running() {
            panic!(
                "lab: {}: dbus-daemon did not start:\n{}",
                self.name,
                dbus.log_tail(30)
            );
        }

        let log = self.tmpdir().join(format!("{base}.log"));
        let networkd = spawn_networkd(self, anchor.pid(), &log, &base, chroot);
        let nd = Networkd {
            host: self.clone(),
            anchor,
            dbus,
            networkd: Mutex::new(networkd),
            log,
            base,
            udev,
            chroot,
        };
        nd.wait_answers(super::setup_timeout(Duration::from_secs(10)));
        nd
    }

    /// Runs `netplan generate --root-dir TMP` on `yaml` (written as
    /// TMP/etc/netplan/50-lab.yaml, mode 0600) and returns the generated
    /// networkd files of TMP/run/systemd/network as (file name, content),
    /// sorted by name. TMP is a fresh dir in the lab tmpdir. Runs in the root
    /// network namespace inside a private mount namespace whose /run is a
    /// tmpfs; panics on a netplan error.
    pub fn netplan_generate(&self, yaml: &str) -> Vec<(String, String)> {
        require_file(
            "/usr/sbin/netplan",
            "netplan is needed (Debian: apt-get install netplan.io)",
        );
        let seq = self.shared().next_seq();
        let dir = self.tmpdir().join(format!("netplan-{}-{seq}", self.name));
        let etc = dir.join("etc/netplan");
        fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("lab: mkdir {}: {e}", etc.display()));
        let yaml_path = etc.join("50-lab.yaml");
        fs::write(&yaml_path, yaml)
            .unwrap_or_else(|e| panic!("lab: write {}: {e}", yaml_path.display()));
        fs::set_permissions(&yaml_path, fs::Permissions::from_mode(0o600)).expect("chmod yaml");
        let dir_s = dir.to_string_lossy().into_owned();
        let o = super::run(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -n -t tmpfs tmpfs /run && exec netplan generate --root-dir \"$1\"",
            "sh",
            &dir_s,
        ]);
        if !o.status.success() {
            panic!(
                "lab: netplan generate failed:\n{}\n--- yaml ---\n{yaml}",
                out_text(&o)
            );
        }
        let out_dir = dir.join("run/systemd/network");
        let mut files = Vec::new();
        if let Ok(rd) = fs::read_dir(&out_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let content = fs::read_to_string(e.path())
                    .unwrap_or_else(|err| panic!("lab: read {}: {err}", e.path().display()));
                files.push((name, content));
            }
        }
        files.sort();
        files
    }
}

/// `/proc/ANCHOR/root` after checking that the anchor is alive and really in
/// another mount namespace than this process, so that a write through it can
/// never land in the host's own /etc or /run (e.g. after pid reuse).
fn anchor_root(anchor: &ProcHandle) -> PathBuf {
    let pid = anchor.pid();
    assert!(
        anchor.is_running(),
        "lab: networkd mount-namespace anchor (pid {pid}) is gone:\n{}",
        anchor.log_tail(10)
    );
    let theirs = fs::read_link(format!("/proc/{pid}/ns/mnt"));
    let ours = fs::read_link("/proc/self/ns/mnt");
    match (theirs, ours) {
        (Ok(t), Ok(o)) if t != o => PathBuf::from(format!("/proc/{pid}/root")),
        (t, o) => panic!(
            "lab: anchor pid {pid} is not in a private mount namespace ({t:?} vs ours {o:?}); \
             refusing to write through /proc/{pid}/root"
        ),
    }
}

/// `nsenter --mount=... --uts=...` joining the anchor's namespaces (the net
/// namespace comes from the surrounding `ip netns exec`).
fn nsenter_prefix(anchor_pid: u32) -> [String; 3] {
    [
        "nsenter".to_owned(),
        format!("--mount=/proc/{anchor_pid}/ns/mnt"),
        format!("--uts=/proc/{anchor_pid}/ns/uts"),
    ]
}

fn wrap<'a>(prefix: &'a [String; 3], args: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = prefix.iter().map(String::as_str).collect();
    v.push("--");
    v.extend_from_slice(args);
    v
}

/// `args[0]` run in the generation's root when there is one: `chroot ROOT
/// TOOL` (the rest of the arguments follow).
fn chrooted<'a>(chroot: Option<&'a str>, tool: &'a str) -> Vec<&'a str> {
    match chroot {
        Some(r) => vec!["chroot", r, tool],
        None => vec![tool],
    }
}

/// Starts one systemd-networkd process (debug log appended to `log`, after a
/// separator line).
fn spawn_networkd(
    host: &Host,
    anchor_pid: u32,
    log: &Path,
    base: &str,
    chroot: Option<&str>,
) -> ProcHandle {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("lab: open {}: {e}", log.display()));
    let _ = std::io::Write::write_all(
        &mut f,
        format!("=== lab: start systemd-networkd ({base})\n").as_bytes(),
    );
    let p = nsenter_prefix(anchor_pid);
    host.shared().spawn(
        &host.ns,
        &wrap(&p, &chrooted(chroot, NETWORKD_BIN)),
        &[
            ("SYSTEMD_LOG_LEVEL", "debug"),
            ("SYSTEMD_LOG_TARGET", "console"),
            ("SYSTEMD_LOG_COLOR", "0"),
        ],
        log,
    )
}

fn write_path(p: &Path, content: &str) {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("lab: mkdir {}: {e}", parent.display()));
    }
    fs::write(p, content).unwrap_or_else(|e| panic!("lab: write {}: {e}", p.display()));
    fs::set_permissions(p, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("lab: chmod {}: {e}", p.display()));
}

impl Networkd {
    /// The lab host this networkd runs in.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// How udev looks to this networkd.
    pub fn udev_mode(&self) -> UdevMode {
        self.udev
    }

    /// Pid of the anchor process holding the private mount namespace.
    pub fn anchor_pid(&self) -> u32 {
        self.anchor.pid()
    }

    /// The anchor's root as seen from outside (`/proc/PID/root`): paths below
    /// it resolve in the namespace's mounts. Panics if the anchor is gone.
    pub fn root(&self) -> PathBuf {
        anchor_root(&self.anchor)
    }

    /// Path outside the namespace that reaches `path` (absolute) inside it.
    pub fn outside_path(&self, path: &str) -> PathBuf {
        assert!(
            path.starts_with('/') && !path.split('/').any(|c| c == ".."),
            "lab: namespace path must be absolute, without `..`: {path:?}"
        );
        self.root().join(path.trim_start_matches('/'))
    }

    /// `unix:path=...` address of the namespace's system bus, usable from
    /// outside the namespace (through /proc/ANCHOR/root). Inside it the
    /// default address (/run/dbus/system_bus_socket) is the right one.
    pub fn dbus_address(&self) -> String {
        format!(
            "unix:path={}",
            self.outside_path("/run/dbus/system_bus_socket").display()
        )
    }

    /// Runs `args` in the host's network namespace and networkd's mount/UTS
    /// namespaces.
    pub fn exec(&self, args: &[&str]) -> Output {
        assert!(!args.is_empty(), "lab: exec with empty argv");
        let p = nsenter_prefix(self.anchor.pid());
        ns_exec(&self.host.ns, &wrap(&p, args))
    }

    /// Like `exec`, panics (with output and networkd's log tail) on failure;
    /// returns stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        let o = self.exec(args);
        if !o.status.success() {
            panic!(
                "lab: {} (networkd ns): {args:?} failed:\n{}\n--- networkd log tail ---\n{}",
                self.host.ns,
                out_text(&o),
                self.log_tail(30)
            );
        }
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `sh -c script` inside the namespaces.
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// Like `sh`, panics on failure; returns stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        self.exec_ok(&["sh", "-c", script])
    }

    /// Spawns a long-running process inside the namespaces (it sees the
    /// namespace's system bus and /etc/systemd/network); registered with the
    /// lab like [`Host::spawn`]. `nsenter` execs in place, so the handle's pid
    /// is the process's pid.
    pub fn spawn(&self, args: &[&str], log: impl AsRef<Path>) -> ProcHandle {
        self.spawn_env(args, &[], log)
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        log: impl AsRef<Path>,
    ) -> ProcHandle {
        assert!(!args.is_empty(), "lab: spawn with empty argv");
        let p = nsenter_prefix(self.anchor.pid());
        self.host
            .shared()
            .spawn(&self.host.ns, &wrap(&p, args), env, log.as_ref())
    }

    /// Writes `content` (mode 0644, parent dirs created) to absolute `path`
    /// inside the mount namespace.
    pub fn write_file(&self, path: &str, content: &str) {
        write_path(&self.outside_path(path), content);
    }

    /// Reads absolute `path` inside the mount namespace (panics if missing).
    pub fn read_file(&self, path: &str) -> String {
        let p = self.outside_path(path);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("lab: read {}: {e}", p.display()))
    }

    /// Removes `path` inside the mount namespace (a missing file is fine; a
    /// directory is removed recursively).
    pub fn remove_file(&self, path: &str) {
        let p = self.outside_path(path);
        let r = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("lab: remove {}: {e}", p.display()),
        }
    }

    /// `networkctl --no-pager ARGS` inside the namespaces.
    pub fn networkctl(&self, args: &[&str]) -> Output {
        let mut v = chrooted(self.chroot, "networkctl");
        v.push("--no-pager");
        v.extend_from_slice(args);
        self.exec(&v)
    }

    /// Like `networkctl`, panics on failure; returns stdout.
    pub fn networkctl_ok(&self, args: &[&str]) -> String {
        let mut v = chrooted(self.chroot, "networkctl");
        v.push("--no-pager");
        v.extend_from_slice(args);
        self.exec_ok(&v)
    }

    /// `busctl --system ARGS` inside the namespaces.
    pub fn busctl(&self, args: &[&str]) -> Output {
        let mut v = chrooted(self.chroot, "busctl");
        v.extend(["--system", "--no-pager"]);
        v.extend_from_slice(args);
        self.exec(&v)
    }

    /// The generation's root as mounted in the namespace (None: the host's
    /// systemd).
    pub fn chroot(&self) -> Option<&'static str> {
        self.chroot
    }

    /// The current systemd-networkd process (changes on restart).
    pub fn process(&self) -> ProcHandle {
        lock(&self.networkd).clone()
    }

    /// The dbus-daemon process.
    pub fn dbus_process(&self) -> &ProcHandle {
        &self.dbus
    }

    /// networkd's log (all incarnations, separated by `=== lab: start` lines;
    /// debug level).
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log(), n)
    }

    pub fn is_running(&self) -> bool {
        self.process().is_running()
    }

    fn start_process(&self) {
        let proc = spawn_networkd(
            &self.host,
            self.anchor.pid(),
            &self.log,
            &self.base,
            self.chroot,
        );
        *lock(&self.networkd) = proc;
    }

    /// True if networkd owns its bus name and answers a Ping, and
    /// `networkctl list` works.
    pub fn answers(&self) -> bool {
        self.is_running()
            && self
                .busctl(&[
                    "--auto-start=no",
                    "--timeout=2",
                    "call",
                    "org.freedesktop.network1",
                    "/org/freedesktop/network1",
                    "org.freedesktop.DBus.Peer",
                    "Ping",
                ])
                .status
                .success()
            && self.networkctl(&["list"]).status.success()
    }

    fn wait_answers(&self, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            self.answers() || !self.is_running()
        });
        if !ok || !self.is_running() {
            panic!(
                "lab: {}: systemd-networkd did not answer within {timeout:?} (running: {}):\n\
                 --- networkd log tail ---\n{}\n--- dbus-daemon log tail ---\n{}",
                self.host.name,
                self.is_running(),
                self.log_tail(40),
                self.dbus.log_tail(10)
            );
        }
    }

    /// Waits until eth0 is `configured`/`unmanaged` or `routable` (see
    /// [`Host::start_networkd`]); panics on `failed` or timeout.
    pub fn wait_eth0_ready(&self, timeout: Duration) {
        let mut last = None;
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            last = self.try_link_state(HOST_IF);
            matches!(&last, Some((a, o)) if a == "configured" || a == "unmanaged"
                || a == "failed" || o == "routable")
        });
        match last {
            Some((a, _)) if ok && a != "failed" => {}
            _ => panic!(
                "lab: {}: eth0 not ready within {timeout:?} (admin/oper {last:?}):\n\
                 --- networkctl list ---\n{}\n--- networkd log tail ---\n{}",
                self.host.name,
                String::from_utf8_lossy(&self.networkctl(&["list"]).stdout),
                self.log_tail(40)
            ),
        }
    }

    /// (setup a.k.a. administrative state, operational state) of `iface` from
    /// `networkctl list`, None if networkctl does not list it.
    pub fn try_link_state(&self, iface: &str) -> Option<(String, String)> {
        let o = self.networkctl(&["--no-legend", "list"]);
        if !o.status.success() {
            return None;
        }
        parse_networkctl_list(&String::from_utf8_lossy(&o.stdout))
            .into_iter()
            .find(|l| l.name == iface)
            .map(|l| (l.setup, l.oper))
    }

    /// Like `try_link_state`, panics if the link is not listed.
    pub fn link_state(&self, iface: &str) -> (String, String) {
        self.try_link_state(iface).unwrap_or_else(|| {
            panic!(
                "lab: {}: networkctl does not list {iface}:\n{}",
                self.host.name,
                out_text(&self.networkctl(&["list"]))
            )
        })
    }

    /// All links of `networkctl list`.
    pub fn links(&self) -> Vec<NetworkctlLink> {
        parse_networkctl_list(&self.networkctl_ok(&["--no-legend", "list"]))
    }

    /// Waits until `iface`'s setup state or operational state is one of
    /// `states` (the two sets of names do not overlap, e.g. ["configured"],
    /// ["routable"], ["configured", "degraded"]); false on timeout.
    pub fn wait_state(&self, iface: &str, states: &[&str], timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(50), || {
            matches!(self.try_link_state(iface),
                Some((a, o)) if states.contains(&a.as_str()) || states.contains(&o.as_str()))
        })
    }

    /// `wait_state` that panics with the networkd log on timeout.
    pub fn expect_state(&self, iface: &str, states: &[&str], timeout: Duration) {
        if !self.wait_state(iface, states, timeout) {
            panic!(
                "lab: {}: {iface} is {:?} (admin, oper), expected one of {states:?} within \
                 {timeout:?}\n--- networkd log tail ---\n{}",
                self.host.name,
                self.try_link_state(iface),
                self.log_tail(40)
            );
        }
    }

    /// `networkctl status -n0 IFACE` text (panics on failure).
    pub fn status(&self, iface: &str) -> String {
        self.networkctl_ok(&["status", "-n0", iface])
    }

    /// The "Network File:" line of `networkctl status IFACE` (None if "n/a").
    pub fn network_file(&self, iface: &str) -> Option<String> {
        let st = self.status(iface);
        st.lines()
            .find_map(|l| l.trim().strip_prefix("Network File:"))
            .map(|v| v.trim().to_owned())
            .filter(|v| v != "n/a")
    }

    /// systemd version number from `networkctl --version` (e.g. 252).
    pub fn version(&self) -> u32 {
        let out = self.networkctl_ok(&["--version"]);
        out.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("lab: cannot parse networkctl --version: {out:?}"))
    }

    /// Stops networkd like `systemctl stop` (SIGTERM, 5 s, then SIGKILL).
    pub fn stop(&self) {
        self.process()
            .inner
            .stop_with(libc::SIGTERM, Duration::from_secs(5));
    }

    /// Kills networkd with SIGKILL (a crash: it cannot clean up anything).
    pub fn kill(&self) {
        self.process().kill();
    }

    /// Starts networkd again (after `stop`/`kill`) and waits until it answers
    /// on D-Bus. Panics if it is still running.
    pub fn start(&self) {
        assert!(
            !self.is_running(),
            "lab: {}: networkd is already running",
            self.host.name
        );
        self.start_process();
        self.wait_answers(super::setup_timeout(Duration::from_secs(10)));
    }

    /// `stop` + `start` (like `systemctl restart systemd-networkd`). Returns
    /// once the new process answers; links may still be (re)configuring.
    pub fn restart(&self) {
        self.stop();
        self.start();
    }

    /// Generates networkd files from `yaml` with [`Host::netplan_generate`]
    /// and applies them the way `netplan apply` (netplan.io 0.106) does on
    /// the networkd side:
    /// 1. the old `/run/systemd/network/*netplan-*` files are removed and the
    ///    new ones written there (the generator does this for the real root);
    /// 2. `networkctl reload`;
    /// 3. `networkctl reconfigure IDX...` for *every* link whose setup state is
    ///    not `unmanaged`/`linger` (netplan's `networkd_interfaces()`, parsed
    ///    from plain `networkctl`), not only the ones in the YAML.
    ///
    /// Not mimicked: `systemctl daemon-reload`, stopping netplan-wpa/OVS
    /// units, `udevadm trigger --attr-match=subsystem=net` + `settle` (no udev
    /// here), interface renames, and the fallback `systemctl restart
    /// systemd-networkd` netplan uses when reload/reconfigure fails (here a
    /// failure panics). Returns the generated files.
    pub fn apply_netplan(&self, yaml: &str) -> Vec<(String, String)> {
        let files = self.host.netplan_generate(yaml);
        let dir = self.outside_path("/run/systemd/network");
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains("netplan-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        for (name, content) in &files {
            write_path(&dir.join(name), content);
        }
        self.networkctl_ok(&["reload"]);
        let idx: Vec<String> = self
            .links()
            .into_iter()
            .filter(|l| l.setup != "unmanaged" && l.setup != "linger")
            .map(|l| l.index.to_string())
            .collect();
        if !idx.is_empty() {
            let mut args = vec!["reconfigure"];
            args.extend(idx.iter().map(String::as_str));
            self.networkctl_ok(&args);
        }
        files
    }
}

impl Drop for Networkd {
    fn drop(&mut self) {
        // networkd first (it may talk to the bus while stopping), then the bus,
        // then the anchor. Processes spawned with `Networkd::spawn` are left to
        // the lab.
        self.process()
            .inner
            .stop_with(libc::SIGTERM, Duration::from_secs(3));
        self.dbus
            .inner
            .stop_with(libc::SIGTERM, Duration::from_secs(2));
        self.anchor.kill();
    }
}

/// One row of `networkctl list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkctlLink {
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub oper: String,
    pub setup: String,
}

/// Parses `networkctl --no-legend list` (IDX LINK TYPE OPERATIONAL SETUP).
pub fn parse_networkctl_list(text: &str) -> Vec<NetworkctlLink> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 5 {
                return None;
            }
            Some(NetworkctlLink {
                index: w[0].parse().ok()?,
                name: w[1].to_owned(),
                kind: w[2].to_owned(),
                oper: w[w.len() - 2].to_owned(),
                setup: w[w.len() - 1].to_owned(),
            })
        })
        .collect()
}

/// Setup states in the order networkd walks them when it (re)starts: a
/// logged transition back down this order, with no reconfigure asked for,
/// is a stale signal replayed after a snapshot.
pub fn setup_rank(state: &str) -> Option<u8> {
    match state {
        "pending" => Some(0),
        "initialized" => Some(1),
        "configuring" => Some(2),
        "configured" | "unmanaged" | "failed" | "linger" => Some(3),
        _ => None,
    }
}

/// (interface, from, to) of vipd's "systemd-networkd link state" log lines
/// (`from=Some("configuring") to=Some("configured")`).
pub fn logged_link_transitions(log: &str) -> Vec<(String, String, String)> {
    let field = |line: &str, key: &str| -> String {
        line.split(key)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .trim_start_matches("Some(\"")
            .trim_end_matches("\")")
            .to_string()
    };
    log.lines()
        .filter(|l| l.contains("systemd-networkd link state"))
        .map(|l| (field(l, "interface="), field(l, "from="), field(l, "to=")))
        .collect()
}
