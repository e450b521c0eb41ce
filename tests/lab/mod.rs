//! Network-namespace test lab for integration tests.
//!
//! Include from a `tests/*.rs` file with `mod lab;` (or
//! `#[path = "lab/mod.rs"] mod lab;`).
//!
//! A [`Lab`] owns a "switch" namespace holding a bridge `br0` and any number of
//! hosts, each in its own namespace with an `eth0` veth whose peer is a port of
//! `br0`. Everything the lab creates (namespaces, processes, the temp dir) is
//! torn down when the `Lab` is dropped, also when the test panics.
//!
//! Environment:
//! - `VIPD_LAB_KEEP=1`: keep the lab's temp dir (configs, logs, pcaps) when the
//!   test fails; `VIPD_LAB_KEEP=all`: keep it always.
//!
//! The decoders in [`capture`] are written independently of the crate under
//! test on purpose: tests must not use the code they test to judge it.

#![allow(dead_code)]
#![allow(unused_imports)]

pub mod capture;
pub mod compared;
pub mod dhcp;
pub mod ifupdown;
pub mod ipmon;
pub mod keepalived;
pub mod networkd;
pub mod peer;
pub mod ping;
pub mod probe;
pub mod procstat;
pub mod vipd;

pub use capture::{
    ArpPacket, Capture, Counted, Frame, NeighborAdvert, PacketCount, VrrpPacket, arps, garps,
    neighbor_adverts, parse_pcap, read_pcap, unsolicited_nas, vrrp_adverts, vrrp_packets,
};
pub use keepalived::keepalived_bin;
pub use ping::{PingObserver, PingStats};
pub use probe::{ProbeObserver, ProbeStats};

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Name of the bridge in the switch namespace.
pub const BRIDGE: &str = "br0";
/// Name of the host side interface in every host namespace.
pub const HOST_IF: &str = "eth0";

const TMP_PREFIX: &str = "/tmp/vipd-lab-";
const NS_PREFIX: &str = "vl";

/// Polls `f` every `poll` until it returns true (→ true) or `timeout` has
/// passed (→ false). `f` is always called at least once, and once more at the
/// deadline.
pub fn wait_until(timeout: Duration, poll: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(poll.min(deadline - now));
    }
}

/// A wait for the lab's own setup (a namespace's port forwarding, a helper
/// process coming up): `d`, times `VIPD_LAB_SETUP_SCALE` where that is set
/// (a number >= 1). The VM lab (tests/vm/run.sh) sets it: under software
/// emulation, starting `unshare` or `dbus-daemon` takes several seconds.
/// Never for what a test measures or asserts about vipd's behaviour.
pub fn setup_timeout(d: Duration) -> Duration {
    let scale = std::env::var("VIPD_LAB_SETUP_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 1.0)
        .unwrap_or(1.0);
    d.mul_f64(scale)
}

/// Current wall-clock time as a duration since the Unix epoch (the same clock
/// as pcap and `ping -D` timestamps).
pub fn now_epoch() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock before 1970")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn out_text(o: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout).trim_end(),
        String::from_utf8_lossy(&o.stderr).trim_end()
    )
}

/// Runs a command in the current (root) namespace; panics if it cannot be
/// started. Only used for `ip netns ...`, `ip -n NS ...` style commands that
/// touch lab namespaces exclusively.
fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("lab: cannot run {args:?}: {e} (is it installed?)"))
}

fn run_ok(args: &[&str]) -> String {
    let o = run(args);
    if !o.status.success() {
        panic!("lab: command {args:?} failed:\n{}", out_text(&o));
    }
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        panic!(
            "lab: these tests need root (network namespaces, veth, bridges); \
             running as euid {euid}. Run them as root, e.g. `sudo -E cargo test`. \
             Refusing to skip silently."
        );
    }
}

fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    if !found {
        panic!(
            "lab: required tool `{name}` not found in PATH; install it (Debian: see tests/lab/mod.rs)"
        );
    }
}

/// Process start time (field 22 of /proc/PID/stat), used with the pid to
/// identify a process across pid reuse.
fn proc_start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields after comm start at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

struct ProcState {
    child: Child,
    status: Option<ExitStatus>,
}

struct Proc {
    name: String,
    pid: u32,
    /// Wall clock (since the epoch) just before the spawn.
    spawned: Duration,
    log: PathBuf,
    state: Mutex<ProcState>,
}

impl Proc {
    fn try_status(&self) -> Option<ExitStatus> {
        let mut st = lock(&self.state);
        Self::poll(&mut st)
    }

    fn poll(st: &mut ProcState) -> Option<ExitStatus> {
        if st.status.is_none()
            && let Ok(Some(s)) = st.child.try_wait()
        {
            st.status = Some(s);
        }
        st.status
    }

    /// Sends `sig` unless the process has already been reaped (the lock makes
    /// sure the pid cannot have been reused).
    fn signal(&self, sig: i32) -> bool {
        let mut st = lock(&self.state);
        if Self::poll(&mut st).is_some() {
            return false;
        }
        // SAFETY: plain kill(2) on a child we have not reaped yet.
        unsafe { libc::kill(self.pid as libc::pid_t, sig) == 0 }
    }

    fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, Duration::from_millis(10), || {
            status = self.try_status();
            status.is_some()
        });
        status
    }

    fn kill_and_wait(&self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        let mut st = lock(&self.state);
        if let Some(s) = st.status {
            return s;
        }
        let s = st.child.wait().expect("wait for killed child");
        st.status = Some(s);
        s
    }

    fn stop_with(&self, sig: i32, grace: Duration) -> ExitStatus {
        if let Some(s) = self.try_status() {
            return s;
        }
        self.signal(sig);
        if let Some(s) = self.wait_timeout(grace) {
            return s;
        }
        eprintln!(
            "lab: `{}` (pid {}) ignored signal {sig} for {grace:?}, sending SIGKILL",
            self.name, self.pid
        );
        self.kill_and_wait()
    }

    fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// A process started inside a lab namespace. Cloning gives another handle to
/// the same process. The lab kills it on drop (SIGTERM, 2 s, SIGKILL) if the
/// test did not.
#[derive(Clone)]
pub struct ProcHandle {
    inner: Arc<Proc>,
}

impl ProcHandle {
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }
    /// Wall clock (since the epoch, as [`now_epoch`]) just before the spawn.
    pub fn spawned_at(&self) -> Duration {
        self.inner.spawned
    }
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// File that receives the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.inner.log
    }
    /// Whole log so far.
    pub fn log(&self) -> String {
        self.inner.log_text()
    }
    /// Last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log(), n)
    }
    /// Waits until the log contains `needle`; false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(20), || {
            self.log().contains(needle)
        })
    }
    pub fn is_running(&self) -> bool {
        self.inner.try_status().is_none()
    }
    /// Exit status if the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.inner.try_status()
    }
    /// Sends a signal (libc::SIGHUP, ...). False if the process is gone.
    pub fn signal(&self, sig: i32) -> bool {
        self.inner.signal(sig)
    }
    /// Waits for the process to exit by itself.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        self.inner.wait_timeout(timeout)
    }
    /// SIGTERM, wait up to 2 s, then SIGKILL. Idempotent.
    pub fn stop(&self) -> ExitStatus {
        self.inner.stop_with(libc::SIGTERM, Duration::from_secs(2))
    }
    /// SIGKILL (a crash: no cleanup by the process). Idempotent.
    pub fn kill(&self) -> ExitStatus {
        self.inner.kill_and_wait()
    }
}

// ---------------------------------------------------------------------------
// Lab
// ---------------------------------------------------------------------------

struct LabShared {
    id: String,
    test_name: String,
    tmpdir: PathBuf,
    sw_ns: String,
    /// Host namespaces in creation order (the switch ns is separate).
    host_ns: Mutex<Vec<String>>,
    procs: Mutex<Vec<Arc<Proc>>>,
    counter: AtomicU32,
}

impl LabShared {
    fn next_seq(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Spawns `args` in namespace `ns`, stdout+stderr appended to `log`
    /// (relative paths are inside the lab tmpdir) and registers it.
    fn spawn(&self, ns: &str, args: &[&str], env: &[(&str, &str)], log: &Path) -> ProcHandle {
        assert!(!args.is_empty(), "lab: spawn with empty argv");
        let log = if log.is_absolute() {
            log.to_path_buf()
        } else {
            self.tmpdir.join(log)
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("lab: cannot open log {}: {e}", log.display()));
        let file2 = file.try_clone().expect("dup log fd");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // `ip netns exec` execs the command in place, so the child's pid is the
        // command's pid.
        let spawned = now_epoch();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("lab: cannot spawn {args:?} in {ns}: {e}"));
        let name = format!(
            "{}:{}",
            ns,
            Path::new(args[0])
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let proc = Arc::new(Proc {
            name,
            pid: child.id(),
            spawned,
            log,
            state: Mutex::new(ProcState {
                child,
                status: None,
            }),
        });
        lock(&self.procs).push(proc.clone());
        ProcHandle { inner: proc }
    }
}

/// A test lab: a switch namespace with bridge `br0` plus hosts. See the
/// module docs.
pub struct Lab {
    shared: Arc<LabShared>,
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// Serializes `ip netns add/del` inside this process (iproute2 has a race
/// when several `ip netns add` set up /run/netns concurrently).
static NETNS_LOCK: Mutex<()> = Mutex::new(());

fn lab_dir(id: &str) -> PathBuf {
    PathBuf::from(format!("{TMP_PREFIX}{id}"))
}

/// True if the lab `id` belongs to a live process (or is being created right
/// now), false if it is left over from a crashed run.
fn lab_owner_alive(id: &str) -> bool {
    let dir = lab_dir(id);
    match fs::read_to_string(dir.join("owner")) {
        Ok(s) => {
            let mut it = s.split_whitespace();
            let (Some(pid), Some(start)) = (it.next(), it.next()) else {
                return false;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                return false;
            };
            proc_start_time(pid).as_deref() == Some(start)
        }
        Err(_) => {
            // No owner file: either being created right now (young dir) or
            // stale.
            fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < Duration::from_secs(30))
        }
    }
}

fn list_netns() -> Vec<String> {
    let o = run(&["ip", "netns", "list"]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Lab id of a namespace name `vlXXXX-...`.
fn ns_lab_id(ns: &str) -> Option<&str> {
    let b = ns.as_bytes();
    if b.len() > 7
        && ns.starts_with(NS_PREFIX)
        && b[2..6].iter().all(|c| c.is_ascii_hexdigit())
        && b[6] == b'-'
    {
        Some(&ns[..6])
    } else {
        None
    }
}

fn ns_pids(ns: &str) -> Vec<i32> {
    let o = run(&["ip", "netns", "pids", ns]);
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs every process left in `ns` (also ones the lab did not start
/// itself, e.g. daemonized children) and waits up to 2 s for them to go.
fn kill_ns_pids(ns: &str) {
    let gone = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        let pids = ns_pids(ns);
        for &pid in &pids {
            // SAFETY: kill(2); these are processes inside a lab namespace.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        pids.is_empty()
    });
    if !gone {
        eprintln!(
            "lab: processes still in {ns} after SIGKILL: {:?}",
            ns_pids(ns)
        );
    }
}

fn del_netns(ns: &str) {
    kill_ns_pids(ns);
    let _g = lock(&NETNS_LOCK);
    let o = run(&["ip", "netns", "del", ns]);
    if !o.status.success() && list_netns().iter().any(|n| n == ns) {
        eprintln!("lab: could not delete namespace {ns}:\n{}", out_text(&o));
    }
}

/// Deletes namespaces of labs whose owner process is gone (crashed runs).
fn reap_stale_namespaces() {
    let mut by_id: Vec<(String, Vec<String>)> = Vec::new();
    for ns in list_netns() {
        if let Some(id) = ns_lab_id(&ns) {
            let id = id.to_owned();
            match by_id.iter_mut().find(|(i, _)| *i == id) {
                Some((_, v)) => v.push(ns),
                None => by_id.push((id, vec![ns])),
            }
        }
    }
    for (id, nss) in by_id {
        if lab_owner_alive(&id) {
            continue;
        }
        eprintln!("lab: removing stale namespaces of crashed lab {id}: {nss:?}");
        // Host namespaces first, the switch last.
        let mut nss = nss;
        nss.sort_by_key(|n| n.ends_with("-sw"));
        for ns in nss {
            del_netns(&ns);
        }
        let dir = lab_dir(&id);
        if dir.exists() && !dir.join("keep").exists() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Claims a fresh lab id by creating its tmpdir exclusively.
fn claim_lab_id() -> (String, PathBuf) {
    let pid = std::process::id();
    for _ in 0..10_000 {
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let h = (pid.wrapping_mul(0x9E37_79B1) ^ n.wrapping_mul(0x85EB_CA6B)) >> 8;
        let id = format!("{NS_PREFIX}{:04x}", h & 0xffff);
        let dir = lab_dir(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return (id, dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !lab_owner_alive(&id) && !dir.join("keep").exists() {
                    // Stale leftover of a crashed run: clear it, take the id.
                    for ns in list_netns() {
                        if ns_lab_id(&ns) == Some(id.as_str()) {
                            del_netns(&ns);
                        }
                    }
                    let _ = fs::remove_dir_all(&dir);
                    if fs::create_dir(&dir).is_ok() {
                        return (id, dir);
                    }
                }
            }
            Err(e) => panic!("lab: cannot create {}: {e}", dir.display()),
        }
    }
    panic!("lab: could not find a free lab id");
}

/// Adds bridge `name` in the switch namespace `sw_ns` (up, STP off, forward
/// delay 0, multicast snooping off so VRRP multicast floods).
fn add_bridge(sw_ns: &str, name: &str) {
    run_ok(&[
        "ip",
        "-n",
        sw_ns,
        "link",
        "add",
        name,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
        "mcast_snooping",
        "0",
    ]);
    // Belt and braces, as the documented way to turn snooping off.
    run_ok(&[
        "ip",
        "-n",
        sw_ns,
        "link",
        "set",
        name,
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    run_ok(&["ip", "-n", sw_ns, "link", "set", name, "up"]);
}

/// Sets switch port `port` (in `sw_ns`) up or down: the host end of its veth
/// gains or loses carrier.
fn set_switch_port(sw_ns: &str, port: &str, up: bool) {
    let state = if up { "up" } else { "down" };
    run_ok(&["ip", "-n", sw_ns, "link", "set", port, state]);
}

impl Lab {
    /// Creates the lab: switch namespace `<id>-sw` with bridge `br0` (up, STP
    /// off, forward delay 0, multicast snooping off so VRRP multicast floods).
    /// Panics if not root or a tool is missing.
    pub fn new(test_name: &str) -> Lab {
        require_root();
        for t in ["ip", "bridge", "sysctl"] {
            require_tool(t);
        }
        reap_stale_namespaces();
        let (id, tmpdir) = claim_lab_id();
        let me = std::process::id();
        let start = proc_start_time(me).expect("own /proc/self/stat");
        fs::write(tmpdir.join("owner"), format!("{me} {start}\n")).expect("write owner file");
        fs::write(tmpdir.join("test"), format!("{test_name}\n")).expect("write test file");

        let sw_ns = format!("{id}-sw");
        let lab = Lab {
            shared: Arc::new(LabShared {
                id: id.clone(),
                test_name: test_name.to_owned(),
                tmpdir,
                sw_ns: sw_ns.clone(),
                host_ns: Mutex::new(Vec::new()),
                procs: Mutex::new(Vec::new()),
                counter: AtomicU32::new(0),
            }),
        };
        // From here on, Drop cleans up whatever was created.
        add_netns(&sw_ns);
        let sysctl = |kv: &str| run_ok(&["ip", "netns", "exec", &sw_ns, "sysctl", "-qw", kv]);
        // The switch is pure L2: no IPv6 on its ports/bridge (no RS/MLD noise
        // in captures).
        sysctl("net.ipv6.conf.all.disable_ipv6=1");
        sysctl("net.ipv6.conf.default.disable_ipv6=1");
        run_ok(&["ip", "-n", &sw_ns, "link", "set", "lo", "up"]);
        add_bridge(&sw_ns, BRIDGE);
        lab
    }

    /// Short unique id of this lab (`vlXXXX`), prefix of its namespaces.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    pub fn test_name(&self) -> &str {
        &self.shared.test_name
    }

    /// Per-lab temp dir for configs, logs and pcaps.
    pub fn tmpdir(&self) -> PathBuf {
        self.shared.tmpdir.clone()
    }

    /// Name of the switch namespace (holds `br0` and the host-facing ports).
    pub fn switch_ns(&self) -> &str {
        &self.shared.sw_ns
    }

    /// Runs a command inside the switch namespace.
    pub fn switch_exec(&self, args: &[&str]) -> Output {
        ns_exec(&self.shared.sw_ns, args)
    }

    /// All namespaces of this lab (hosts, then the switch).
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = lock(&self.shared.host_ns).clone();
        v.push(self.shared.sw_ns.clone());
        v
    }

    /// Adds host `name` in namespace `<id>-<name>` with `eth0` plugged into
    /// `br0` and the given CIDR addresses (IPv6 ones added `nodad`). DAD is
    /// off in the namespace; returns once eth0 has a usable link-local.
    pub fn add_host(&self, name: &str, addrs: &[&str]) -> Host {
        assert!(
            !name.is_empty()
                && name != "sw"
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "lab: bad host name {name:?}"
        );
        let ns = format!("{}-{name}", self.shared.id);
        let idx = {
            let mut hosts = lock(&self.shared.host_ns);
            assert!(!hosts.contains(&ns), "lab: host {name} added twice");
            hosts.push(ns.clone());
            hosts.len() - 1
        };
        add_netns(&ns);
        let mut peer = format!("p{idx}-{name}");
        peer.truncate(15);

        let sysctl = |kv: &str| run_ok(&["ip", "netns", "exec", &ns, "sysctl", "-qw", kv]);
        for kv in [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.dad_transmits=0",
            "net.ipv6.conf.all.forwarding=0",
            "net.ipv6.conf.default.forwarding=0",
            "net.ipv6.conf.all.accept_ra=0",
            "net.ipv6.conf.default.accept_ra=0",
            "net.ipv6.conf.default.router_solicitations=0",
            "net.ipv6.conf.default.use_tempaddr=0",
            "net.ipv4.ip_forward=0",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ] {
            sysctl(kv);
        }
        run_ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        let host = Host {
            name: name.to_owned(),
            ns,
            peer: peer.clone(),
            addrs: addrs.iter().map(|s| s.to_string()).collect(),
            lab: self.shared.clone(),
        };
        self.plug(&host, HOST_IF, &peer, BRIDGE, addrs);
        host
    }

    /// Gives `host` another NIC, `ifname`, plugged into bridge `bridge` of the
    /// switch (created on first use, like `br0`), with the given CIDR
    /// addresses, set up as `add_host` sets up eth0. Returns the switch-side
    /// port (for [`Lab::set_port`]). The lab removes it with the namespaces.
    pub fn add_nic(&self, host: &Host, ifname: &str, bridge: &str, addrs: &[&str]) -> String {
        assert!(
            ifname != HOST_IF && bridge != BRIDGE,
            "lab: add_nic is for a NIC besides eth0/br0"
        );
        let idx = lock(&self.shared.host_ns)
            .iter()
            .position(|n| *n == host.ns)
            .expect("lab: add_nic on a host of another lab");
        let sw = &self.shared.sw_ns;
        let o = ns_exec(sw, &["ip", "link", "show", "dev", bridge]);
        if !o.status.success() {
            add_bridge(sw, bridge);
        }
        let mut peer = format!("p{idx}-{ifname}-{}", host.name);
        peer.truncate(15);
        self.plug(host, ifname, &peer, bridge, addrs);
        peer
    }

    /// Switch port `port` (`host.peer`, or what [`Lab::add_nic`] returned)
    /// up or down: the cable of that NIC cut or reconnected at the switch.
    pub fn set_port(&self, port: &str, up: bool) {
        set_switch_port(&self.shared.sw_ns, port, up);
    }

    /// A veth `ifname` in `host` whose peer `peer` is a port of `bridge`:
    /// DAD, RAs, forwarding and rp_filter off on it, both ends up, `addrs`
    /// added (IPv6 `nodad`); returns once the port forwards and `ifname` has
    /// a non-tentative link-local and its addresses.
    fn plug(&self, host: &Host, ifname: &str, peer: &str, bridge: &str, addrs: &[&str]) {
        let (ns, sw, name) = (&host.ns, &self.shared.sw_ns, &host.name);
        // Create the pair directly in its two namespaces (never in the host's
        // own namespace).
        run_ok(&[
            "ip", "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", peer,
            "netns", sw,
        ]);
        for kv in [
            "net.ipv6.conf.IF.accept_dad=0",
            "net.ipv6.conf.IF.dad_transmits=0",
            "net.ipv6.conf.IF.forwarding=0",
            "net.ipv6.conf.IF.accept_ra=0",
            "net.ipv4.conf.IF.rp_filter=0",
        ] {
            host.sysctl_kv(&kv.replace("IF", ifname));
        }
        run_ok(&["ip", "-n", sw, "link", "set", peer, "master", bridge]);
        run_ok(&["ip", "-n", sw, "link", "set", peer, "up"]);
        run_ok(&["ip", "-n", ns, "link", "set", ifname, "up"]);
        for a in addrs {
            if a.contains(':') {
                run_ok(&["ip", "-n", ns, "addr", "add", a, "dev", ifname, "nodad"]);
            } else {
                run_ok(&["ip", "-n", ns, "addr", "add", a, "dev", ifname]);
            }
        }
        // The switch port must be forwarding before the host is usable (with
        // STP off and forward_delay 0 it should be at once).
        let fwd = wait_until(
            setup_timeout(Duration::from_secs(3)),
            Duration::from_millis(10),
            || {
                let o = ns_exec(sw, &["bridge", "link", "show", "dev", peer]);
                String::from_utf8_lossy(&o.stdout).contains("state forwarding")
            },
        );
        assert!(
            fwd,
            "lab: switch port {peer} of host {name} not forwarding after 3 s"
        );
        let ok = wait_until(
            setup_timeout(Duration::from_secs(3)),
            Duration::from_millis(20),
            || {
                host.addrs(ifname).iter().any(|a| {
                    matches!(a.addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
                        && !a.flags.iter().any(|f| f == "tentative")
                }) && addrs.iter().all(|a| host.has_addr(ifname, a))
            },
        );
        if !ok {
            panic!(
                "lab: host {name}: {ifname} did not get a non-tentative link-local (or its \
                 addresses) within 3 s:\n{}",
                out_text(&host.exec(&["ip", "addr", "show"]))
            );
        }
    }

    /// Captures on `br0` (sees every frame crossing the switch) with a
    /// tcpdump/BPF `filter` ("" for all). Returns once tcpdump is listening.
    pub fn capture(&self, filter: &str) -> Capture {
        self.capture_on(BRIDGE, filter)
    }

    /// Captures on any interface of the switch namespace (e.g. `host.peer`).
    pub fn capture_on(&self, iface: &str, filter: &str) -> Capture {
        capture::start(&self.shared, &self.shared.sw_ns.clone(), iface, filter)
    }

    /// Counts the frames matching `filter` that enter the switch through
    /// `port` (`host.peer`, or a port from [`Lab::add_nic`]): what that host
    /// sent on it. Only counts (tcpdump `-w /dev/null`), for high rates.
    pub fn count_from(&self, port: &str, filter: &str) -> PacketCount {
        capture::start_count(&self.shared, &self.shared.sw_ns.clone(), port, filter)
    }

    /// Spawns a process in the switch namespace.
    pub fn spawn_in_switch(&self, args: &[&str], log: impl AsRef<Path>) -> ProcHandle {
        self.shared
            .spawn(&self.shared.sw_ns, args, &[], log.as_ref())
    }

    fn dump_diagnostics(&self) {
        let s = &self.shared;
        eprintln!(
            "\n===== lab {} ({}) failed; tmpdir {} =====",
            s.id,
            s.test_name,
            s.tmpdir.display()
        );
        for p in lock(&s.procs).iter() {
            let status = match p.try_status() {
                Some(st) => format!("exited: {st}"),
                None => "running".to_owned(),
            };
            eprintln!(
                "----- {} (pid {}, {status}) log {} (last 40 lines) -----\n{}",
                p.name,
                p.pid,
                p.log.display(),
                tail_lines(&p.log_text(), 40)
            );
        }
        for ns in lock(&s.host_ns).iter() {
            let o = ns_exec(ns, &["ip", "-br", "addr", "show"]);
            eprintln!(
                "----- {ns}: ip -br addr -----\n{}",
                String::from_utf8_lossy(&o.stdout).trim_end()
            );
        }
        eprintln!("===== end of lab {} diagnostics =====\n", s.id);
    }
}

fn add_netns(ns: &str) {
    let _g = lock(&NETNS_LOCK);
    let mut last = None;
    for _ in 0..5 {
        let o = run(&["ip", "netns", "add", ns]);
        if o.status.success() {
            return;
        }
        last = Some(o);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "lab: ip netns add {ns} failed:\n{}",
        out_text(&last.unwrap())
    );
}

fn ns_exec(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("lab: cannot run {args:?} in {ns}: {e}"))
}

impl Drop for Lab {
    fn drop(&mut self) {
        let s = &self.shared;
        let failed = std::thread::panicking();
        if failed {
            self.dump_diagnostics();
        }
        // 1. Stop our processes: SIGTERM to all, up to 2 s, then SIGKILL.
        let procs: Vec<Arc<Proc>> = lock(&s.procs).clone();
        for p in &procs {
            p.signal(libc::SIGTERM);
        }
        wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
            procs.iter().all(|p| p.try_status().is_some())
        });
        for p in &procs {
            if p.try_status().is_none() {
                eprintln!(
                    "lab {}: `{}` (pid {}) still running 2 s after SIGTERM, SIGKILL",
                    s.id, p.name, p.pid
                );
                p.kill_and_wait();
            }
        }
        // 2. Kill anything else left inside our namespaces, delete them
        //    (hosts first; deleting a host also destroys its veth pair).
        let mut nss = lock(&s.host_ns).clone();
        nss.push(s.sw_ns.clone());
        for ns in &nss {
            del_netns(ns);
        }
        // 3. Temp dir.
        let keep = std::env::var("VIPD_LAB_KEEP").unwrap_or_default();
        let keep = keep == "all" || (failed && !keep.is_empty() && keep != "0");
        if keep {
            let _ = File::create(s.tmpdir.join("keep"));
            eprintln!(
                "lab {}: keeping {} (VIPD_LAB_KEEP)",
                s.id,
                s.tmpdir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&s.tmpdir);
        }
    }
}

// ---------------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------------

/// One address of an interface as listed by `ip -o addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
    /// Words after the address: "scope", "global", "secondary", "tentative",
    /// "nodad", "dadfailed", "deprecated", ...
    pub flags: Vec<String>,
}

/// A host namespace with `eth0` plugged into the lab switch.
#[derive(Clone)]
pub struct Host {
    /// Host name given to `add_host`.
    pub name: String,
    /// Namespace name (`<labid>-<name>`).
    pub ns: String,
    /// Switch-side veth peer of this host's eth0 (in the switch namespace).
    pub peer: String,
    /// Addresses given to `add_host`.
    pub addrs: Vec<String>,
    lab: Arc<LabShared>,
}

impl Host {
    /// `ip netns exec NS args...`
    pub fn exec(&self, args: &[&str]) -> Output {
        ns_exec(&self.ns, args)
    }

    /// Like `exec`, panics (with stdout/stderr) on non-zero exit; returns stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        let o = self.exec(args);
        if !o.status.success() {
            panic!("lab: {}: {args:?} failed:\n{}", self.ns, out_text(&o));
        }
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `sh -c script` in the namespace.
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// Like `sh`, panics on failure; returns stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        self.exec_ok(&["sh", "-c", script])
    }

    /// Spawns a long-running process in the namespace; stdout+stderr go to
    /// `log` (relative paths are inside the lab tmpdir). The lab stops it on
    /// drop.
    pub fn spawn(&self, args: &[&str], log: impl AsRef<Path>) -> ProcHandle {
        self.lab.spawn(&self.ns, args, &[], log.as_ref())
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        log: impl AsRef<Path>,
    ) -> ProcHandle {
        self.lab.spawn(&self.ns, args, env, log.as_ref())
    }

    /// Starts a mount-namespace anchor: `unshare --mount [extra] --propagation
    /// private sh -c SETUP sh MARKER ARGS...`, where SETUP mounts what the
    /// namespace needs, echoes its `$1` (the marker) and then `exec sleep
    /// infinity`. The lab enters that namespace with nsenter on the anchor's
    /// pid. Panics with the anchor's log if it does not come up, and if its
    /// mount namespace is not a new one (nothing may touch the host's).
    pub fn spawn_mount_anchor(
        &self,
        extra_unshare: &[&str],
        setup: &str,
        args: &[&str],
        log: impl AsRef<Path>,
        what: &str,
    ) -> ProcHandle {
        const MARKER: &str = "vipd-lab-mount-anchor-ready";
        let mut argv = vec!["unshare", "--mount"];
        argv.extend_from_slice(extra_unshare);
        argv.extend_from_slice(&["--propagation", "private", "sh", "-c", setup, "sh", MARKER]);
        argv.extend_from_slice(args);
        let anchor = self.spawn(&argv, log);
        let ok = wait_until(
            setup_timeout(Duration::from_secs(5)),
            Duration::from_millis(10),
            || anchor.log().contains(MARKER) || !anchor.is_running(),
        );
        if !ok || !anchor.is_running() {
            let log = anchor.log();
            anchor.kill();
            panic!("lab: {}: {what} did not come up:\n{log}", self.name);
        }
        let theirs = fs::read_link(format!("/proc/{}/ns/mnt", anchor.pid()));
        let ours = fs::read_link("/proc/self/ns/mnt");
        assert!(
            matches!((&theirs, &ours), (Ok(t), Ok(o)) if t != o),
            "lab: {}: {what} is not in a private mount namespace",
            self.name
        );
        anchor
    }

    /// The lab's temp dir.
    pub fn tmpdir(&self) -> PathBuf {
        self.lab.tmpdir.clone()
    }

    /// Sets a sysctl inside the namespace (`key` like `net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str, value: &str) {
        self.sysctl_kv(&format!("{key}={value}"));
    }

    /// Sets a sysctl given as `key=value`.
    fn sysctl_kv(&self, kv: &str) {
        self.exec_ok(&["sysctl", "-qw", kv]);
    }

    /// Addresses on `dev` (empty if the device does not exist).
    pub fn addrs(&self, dev: &str) -> Vec<IfAddr> {
        let o = self.exec(&["ip", "-o", "addr", "show", "dev", dev]);
        parse_ip_o_addr(&String::from_utf8_lossy(&o.stdout))
    }

    /// True if `dev` has `addr` ("10.9.0.100", "10.9.0.100/24", an IpAddr...).
    /// With a "/prefix" the prefix length must match too.
    pub fn has_addr(&self, dev: &str, addr: impl Display) -> bool {
        let text = addr.to_string();
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (
                ip,
                Some(
                    p.parse::<u8>()
                        .unwrap_or_else(|_| panic!("lab: bad prefix in {text:?}")),
                ),
            ),
            None => (text.as_str(), None),
        };
        let ip: IpAddr = ip
            .parse()
            .unwrap_or_else(|_| panic!("lab: bad address {text:?}"));
        self.addrs(dev)
            .iter()
            .any(|a| a.addr == ip && prefix.is_none_or(|p| p == a.prefix))
    }

    /// Waits until `has_addr(dev, addr)` is `present`; false on timeout.
    pub fn wait_addr(
        &self,
        dev: &str,
        addr: impl Display,
        present: bool,
        timeout: Duration,
    ) -> bool {
        let addr = addr.to_string();
        wait_until(timeout, Duration::from_millis(20), || {
            self.has_addr(dev, &addr) == present
        })
    }

    /// MAC address of `dev`.
    pub fn mac(&self, dev: &str) -> [u8; 6] {
        let out = self.exec_ok(&["ip", "-o", "link", "show", "dev", dev]);
        let mut it = out.split_whitespace();
        while let Some(w) = it.next() {
            if w == "link/ether" {
                let m = it.next().unwrap_or("");
                return parse_mac(m).unwrap_or_else(|| panic!("lab: bad MAC {m:?}"));
            }
        }
        panic!("lab: {}: no link/ether on {dev}: {out}", self.ns);
    }

    /// The (first) IPv6 link-local address of `dev`.
    pub fn link_local(&self, dev: &str) -> Ipv6Addr {
        self.addrs(dev)
            .into_iter()
            .find_map(|a| match a.addr {
                IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some(v6),
                _ => None,
            })
            .unwrap_or_else(|| panic!("lab: {}: no IPv6 link-local on {dev}", self.ns))
    }

    /// Cuts the cable at the switch: the switch-side peer goes down, so the
    /// host's eth0 loses carrier (NO-CARRIER / operstate DOWN).
    pub fn link_down(&self) {
        set_switch_port(&self.lab.sw_ns, &self.peer, false);
    }

    /// Reconnects the cable cut by `link_down`.
    pub fn link_up(&self) {
        set_switch_port(&self.lab.sw_ns, &self.peer, true);
    }

    /// The host keeps carrier but nothing passes the switch port any more in
    /// either direction (bridge port state "disabled"): failover by advert
    /// loss, split brain.
    pub fn cut_cable_silently(&self) {
        self.bridge_port_state(0);
    }

    /// Undoes `cut_cable_silently` (port back to forwarding).
    pub fn restore_cable(&self) {
        self.bridge_port_state(3);
    }

    fn bridge_port_state(&self, state: u8) {
        run_ok(&[
            "ip",
            "netns",
            "exec",
            &self.lab.sw_ns,
            "bridge",
            "link",
            "set",
            "dev",
            &self.peer,
            "state",
            &state.to_string(),
        ]);
    }

    /// Captures on this host's switch port (frames to and from this host).
    pub fn capture(&self, filter: &str) -> Capture {
        capture::start(&self.lab, &self.lab.sw_ns, &self.peer, filter)
    }

    /// Packets the kernel dropped on this namespace's raw sockets of IP
    /// protocol `proto`, IPv4 and IPv6 summed (the `drops` column of
    /// /proc/net/raw and /proc/net/raw6: mostly a full receive buffer). A
    /// socket closed takes its count with it.
    pub fn raw_socket_drops(&self, proto: u8) -> u64 {
        let o = self.exec_ok(&["cat", "/proc/net/raw", "/proc/net/raw6"]);
        o.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (_, p) = f.get(1)?.rsplit_once(':')?;
                let p = u16::from_str_radix(p, 16).ok()?;
                (p == u16::from(proto)).then(|| f.last()?.parse::<u64>().ok())?
            })
            .sum()
    }

    /// Starts a fast ping (`ping -D -i interval -W 1 -n`) to `target`.
    pub fn ping_observer(&self, target: IpAddr, interval_ms: u32) -> PingObserver {
        ping::start(self, target, interval_ms)
    }

    /// One-shot connectivity check: `count` pings 100 ms apart (1 s reply
    /// timeout), true if at least one was answered (ping's exit status).
    pub fn ping(&self, target: IpAddr, count: u32) -> bool {
        let t = ping_target(target);
        let fam = if target.is_ipv6() { "-6" } else { "-4" };
        self.exec(&[
            "ping",
            fam,
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            "0.1",
            "-W",
            "1",
            &t,
        ])
        .status
        .success()
    }

    fn shared(&self) -> &Arc<LabShared> {
        &self.lab
    }
}

/// Target string for ping: link-local IPv6 gets `%eth0`.
fn ping_target(target: IpAddr) -> String {
    match target {
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => format!("{v6}%{HOST_IF}"),
        t => t.to_string(),
    }
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut n = 0;
    for (i, part) in s.split(':').enumerate() {
        if i >= 6 {
            return None;
        }
        mac[i] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(mac)
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `ip -o addr show` output.
fn parse_ip_o_addr(text: &str) -> Vec<IfAddr> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w != "inet" && w != "inet6" {
                continue;
            }
            let Some(cidr) = words.next() else { break };
            let (ip, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
            let Ok(addr) = ip.parse::<IpAddr>() else {
                break;
            };
            let prefix = prefix
                .parse()
                .unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
            let flags = words
                .by_ref()
                .take_while(|w| !w.starts_with('\\') && *w != "valid_lft")
                .map(str::to_owned)
                .collect();
            v.push(IfAddr {
                addr,
                prefix,
                flags,
            });
            break;
        }
    }
    v
}
