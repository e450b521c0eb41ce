//! The packaged vipd against another Debian's libc (issue 14): the
//! release binaries `.ci/build-deb` makes (linked against glibc 2.27's
//! symbol versions) run inside a Debian root of `.ci/debian-roots`
//! (bullseye: glibc 2.31, the release whose libc the native build failed
//! on with "GLIBC_2.32 not found"; trixie: 2.41) and elect, fail over and
//! preempt on a lab wire like the native build does.
//!
//! Each vipd runs chrooted into the root: a wrapper script makes a private
//! mount namespace (it dies with the process, so nothing is left mounted
//! and the cached root is never changed), binds the binaries' directory on
//! the root's /opt, /proc, /sys (the lab namespace's), /dev and /tmp (the
//! lab's configs and sockets) into it, and execs `chroot ROOT /opt/vipd`.
//! The test checks from /proc/PID/maps that the libc the daemon mapped is
//! the root's file (device and inode), not this machine's: running the
//! portable binary on the build machine alone would prove nothing.
//!
//! `#[ignore]`d: it needs the package's binaries. `.ci/portable-check`
//! runs it with VIPD_PORTABLE_BIN_DIR (the directory holding the .deb's
//! vipd) and VIPD_DEBIAN_ROOT (a root of `.ci/debian-roots`). Run as root.

mod lab;

use lab::Lab;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

fn instance(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [10.14.0.100/24]\n"
    )
}

/// The environment the test needs, or why it cannot run.
fn inputs() -> Result<(PathBuf, PathBuf), String> {
    let bin = std::env::var("VIPD_PORTABLE_BIN_DIR")
        .map_err(|_| "VIPD_PORTABLE_BIN_DIR is not set (the directory of the packaged vipd; .ci/portable-check sets it)".to_owned())?;
    let root = std::env::var("VIPD_DEBIAN_ROOT").map_err(|_| {
        "VIPD_DEBIAN_ROOT is not set (a root of .ci/debian-roots; .ci/portable-check sets it)"
            .to_owned()
    })?;
    let (bin, root) = (PathBuf::from(bin), PathBuf::from(root));
    if !bin.join("vipd").is_file() {
        return Err(format!("no vipd in {}", bin.display()));
    }
    if !root.join(".complete").is_file() {
        return Err(format!(
            "{} is not a complete root of .ci/debian-roots (no .complete stamp)",
            root.display()
        ));
    }
    Ok((bin, root))
}

/// A script that runs the vipd of `bin` chrooted into `root` (see the
/// module docs); it execs all the way down, so its pid is vipd's.
fn chroot_wrapper(dir: &Path, bin: &Path, root: &Path) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
# vipd from {bin} inside {root}; the mounts live in a private mount
# namespace that ends with the process.
exec unshare --mount --propagation private sh -ec '
root=$1 bin=$2
shift 2
mount --bind "$bin" "$root/opt"
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /tmp "$root/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
exec chroot "$root" /opt/vipd "$@"
' sh '{root}' '{bin}' "$@"
"#,
        bin = bin.display(),
        root = root.display()
    );
    let path = dir.join("vipd-in-root");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Whether process `pid` maps the file `lib` (same device and inode).
fn maps_file(pid: u32, lib: &Path) -> Result<bool, String> {
    let meta = std::fs::metadata(lib).map_err(|e| format!("{}: {e}", lib.display()))?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
    // Linux's dev_t encoding (glibc's gnu_dev_major/minor).
    let d = meta.dev();
    let (major, minor) = (
        ((d >> 8) & 0xfff) | ((d >> 32) & !0xfff),
        (d & 0xff) | ((d >> 12) & !0xff),
    );
    let dev = format!("{major:02x}:{minor:02x}");
    Ok(maps.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 6 && f[3] == dev && f[4] == meta.ino().to_string()
    }))
}

#[test]
#[ignore = "needs the packaged binaries and a Debian root: .ci/portable-check runs it"]
fn portable_vipd_elects_and_fails_over_in_a_debian_root() {
    let (bin, root) = match inputs() {
        Ok(v) => v,
        Err(why) => panic!("portable_lab cannot run: {why}"),
    };
    let lab = Lab::new("portable");
    let wrapper = chroot_wrapper(&lab.tmpdir(), &bin, &root);
    let wrapper = wrapper.to_str().unwrap();
    let r1 = lab.add_host("r1", &["10.14.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.14.0.2/24"]);

    let a = r1.start_vipd_binary(wrapper, &instance(150));
    let b = r2.start_vipd_binary(wrapper, &instance(100));
    // The daemon runs on the root's libc, not this machine's.
    let root_libc = root.join("lib/x86_64-linux-gnu/libc.so.6");
    for (name, v) in [("r1", &a), ("r2", &b)] {
        let mapped = maps_file(v.proc.pid(), &root_libc).unwrap();
        assert!(
            mapped,
            "{name}'s vipd (pid {}) does not map {}: not running against the root's libc",
            v.proc.pid(),
            root_libc.display()
        );
    }
    println!(
        "portable_lab: vipd from {} runs in {} on its libc ({})",
        bin.display(),
        root.display(),
        std::fs::canonicalize(&root_libc).unwrap().display()
    );

    // Election: the higher priority is master and holds the VIP.
    a.expect_state("web", "MASTER", 5 * SEC);
    b.expect_state("web", "BACKUP", 5 * SEC);
    assert!(
        r1.has_addr("eth0", "10.14.0.100"),
        "r1 master without the VIP"
    );
    assert!(
        !r2.has_addr("eth0", "10.14.0.100"),
        "r2 backup with the VIP"
    );

    // Failover: the master crashes (SIGKILL, no priority-0 advert); the
    // backup takes over after Master_Down_Interval (3 x 100 ms + skew).
    let killed = Instant::now();
    a.proc.kill();
    b.expect_state("web", "MASTER", 5 * SEC);
    let took = killed.elapsed();
    assert!(
        lab::wait_until(2 * SEC, Duration::from_millis(10), || r2
            .has_addr("eth0", "10.14.0.100")),
        "r2 master without the VIP"
    );
    println!(
        "portable_lab: failover after SIGKILL of the master: r2 MASTER {:.0} ms after the kill (Master_Down_Interval 300 ms + skew)",
        took.as_secs_f64() * 1e3
    );

    // Preemption: the higher priority comes back and takes over again.
    let a = r1.start_vipd_binary(wrapper, &instance(150));
    a.expect_state("web", "MASTER", 5 * SEC);
    b.expect_state("web", "BACKUP", 5 * SEC);
    assert!(
        lab::wait_until(2 * SEC, Duration::from_millis(10), || !r2
            .has_addr("eth0", "10.14.0.100")),
        "r2 kept the VIP as backup"
    );
    a.proc.stop();
    b.proc.stop();
}
