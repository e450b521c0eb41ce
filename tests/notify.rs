//! vipd's systemd notifications without systemd: the test binds the
//! datagram socket systemd would (NOTIFY_SOCKET), sets WATCHDOG_USEC, runs
//! vipd in a lab host against a peer, and reads what vipd says: READY=1
//! with the instances, WATCHDOG=1 repeatedly, STATUS= following a
//! transition, RELOADING=1/READY=1 around a SIGHUP reload, STOPPING=1 on
//! SIGTERM. Run as root.

mod lab;

use lab::{Lab, wait_until};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

/// Everything received on the notify socket, with arrival times.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(Instant, String)>>>);

impl Received {
    fn listen(sock: UnixDatagram) -> Received {
        let r = Received::default();
        let out = r.clone();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test drops its handle (Arc count 1) .
            while Arc::strong_count(&out.0) > 1 {
                if let Ok(n) = sock.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    out.0.lock().unwrap().push((Instant::now(), msg));
                }
            }
        });
        r
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        self.all()
            .iter()
            .map(|(_, m)| m.replace('\n', " | "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Index of the first message at or after `from` with a line `line`.
    fn find(&self, from: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.all()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, (_, m))| m.lines().any(&pred))
            .map(|(i, _)| i)
    }

    fn wait(&self, from: usize, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<usize> {
        let mut found = None;
        wait_until(timeout, Duration::from_millis(20), || {
            found = self.find(from, &pred);
            found.is_some()
        });
        found
    }

    fn status_lines(&self) -> Vec<String> {
        self.all()
            .iter()
            .flat_map(|(_, m)| {
                m.lines()
                    .filter_map(|l| l.strip_prefix("STATUS=").map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn two_instances(web_prio: u8, db_prio: u8) -> String {
    format!(
        "instances:
  - name: web
    interface: eth0
    vrid: 51
    priority: {web_prio}
    advert_interval: 100ms
    vips: [10.9.0.100/24]
  - name: db
    interface: eth0
    vrid: 52
    priority: {db_prio}
    advert_interval: 100ms
    vips: [10.9.0.101/24]
"
    )
}

#[test]
fn ready_status_watchdog_reload_and_stopping() {
    let lab = Lab::new("notify");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.0.2/24"]);
    let sock_path = lab.tmpdir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    let got = Received::listen(sock);

    // The peer: master for db, backup for web.
    let peer = r2.start_vipd(&two_instances(100, 150));
    peer.expect_state("db", "MASTER", 3 * SEC);
    // Watchdog 2 s: vipd must ping every second.
    let a = r1.start_vipd_env(
        &two_instances(150, 100),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );

    let ready = got
        .wait(0, 5 * SEC, |l| l == "READY=1")
        .unwrap_or_else(|| panic!("no READY=1; received:\n{}", got.text()));
    let ready_msg = &got.all()[ready].1;
    assert!(
        ready_msg.contains("STATUS=2 instances: web ") && ready_msg.contains(", db "),
        "READY=1 comes with the instance list: {ready_msg:?}"
    );

    a.expect_state("web", "MASTER", 3 * SEC);
    a.expect_state("db", "BACKUP", 3 * SEC);
    got.wait(0, 3 * SEC, |l| {
        l == "STATUS=2 instances: web MASTER, db BACKUP"
    })
    .unwrap_or_else(|| panic!("no STATUS with both states; received:\n{}", got.text()));

    // Watchdog: repeated, and never a gap the 2 s watchdog would kill for.
    std::thread::sleep(Duration::from_millis(3500));
    let pings: Vec<Instant> = got
        .all()
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(
        pings.len() >= 3,
        "WATCHDOG=1 about every second; got {} in ~4 s:\n{}",
        pings.len(),
        got.text()
    );
    let max_gap = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        max_gap < 2 * SEC,
        "longest gap between WATCHDOG=1 was {max_gap:?}, over WATCHDOG_USEC"
    );

    // A transition: the peer leaves, so db becomes master here.
    let before = got.all().len();
    peer.proc.stop();
    a.expect_state("db", "MASTER", 3 * SEC);
    got.wait(before, 3 * SEC, |l| {
        l == "STATUS=2 instances: web MASTER, db MASTER"
    })
    .unwrap_or_else(|| {
        panic!(
            "STATUS did not follow db to MASTER; received:\n{}",
            got.text()
        )
    });

    // Reload on SIGHUP: RELOADING=1 then READY=1 with the new instance list.
    a.rewrite_config(&two_instances(150, 100).replace("name: db", "name: mail"));
    let before = got.all().len();
    assert!(a.proc.signal(libc::SIGHUP));
    let reloading = got
        .wait(before, 3 * SEC, |l| l == "RELOADING=1")
        .unwrap_or_else(|| panic!("no RELOADING=1 on SIGHUP; received:\n{}", got.text()));
    assert!(
        got.all()[reloading].1.contains("MONOTONIC_USEC="),
        "{}",
        got.text()
    );
    let ready = got
        .wait(reloading + 1, 3 * SEC, |l| l == "READY=1")
        .unwrap_or_else(|| panic!("no READY=1 after the reload; received:\n{}", got.text()));
    assert!(
        got.all()[ready].1.contains(", mail "),
        "READY=1 after reload names the new instance: {}",
        got.text()
    );
    a.expect_state("mail", "MASTER", 3 * SEC);

    // SIGTERM: STOPPING=1 before vipd exits.
    let before = got.all().len();
    a.proc.stop();
    got.wait(before, 3 * SEC, |l| l == "STOPPING=1")
        .unwrap_or_else(|| panic!("no STOPPING=1 on SIGTERM; received:\n{}", got.text()));

    // Every STATUS= line is one short line naming instances with states.
    for s in got.status_lines() {
        assert!(s.len() <= 260 && !s.contains('\n'), "{s:?}");
    }
}

#[test]
fn no_notify_socket_no_notifications() {
    // Without NOTIFY_SOCKET (vipd started by hand) nothing is sent and
    // nothing breaks: same daemon, same lab, no socket variable.
    let lab = Lab::new("notify_off");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let sock_path = lab.tmpdir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind");
    let got = Received::listen(sock);
    let a = r1.start_vipd_env(&two_instances(150, 100), &[("WATCHDOG_USEC", "2000000")]);
    a.expect_state("web", "MASTER", 3 * SEC);
    std::thread::sleep(SEC);
    assert!(got.all().is_empty(), "{}", got.text());
}

#[test]
fn watchdog_for_another_pid_is_ignored() {
    // WATCHDOG_PID names another process (systemd's way of saying the
    // watchdog is not ours): READY and STATUS are sent, WATCHDOG=1 is not.
    let lab = Lab::new("notify_pid");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let sock_path = lab.tmpdir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind");
    let got = Received::listen(sock);
    let a = r1.start_vipd_env(
        &two_instances(150, 100),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            ("WATCHDOG_PID", "1"),
        ],
    );
    a.expect_state("web", "MASTER", 3 * SEC);
    assert!(
        got.wait(0, 3 * SEC, |l| l == "READY=1").is_some(),
        "{}",
        got.text()
    );
    std::thread::sleep(SEC);
    assert!(
        got.find(0, |l| l == "WATCHDOG=1").is_none(),
        "WATCHDOG=1 sent for someone else's watchdog:\n{}",
        got.text()
    );
}

#[test]
fn restart_after_a_crash_as_backup_drops_stale_vips() {
    // What systemd's watchdog (or SIGKILL, or the OOM killer) leaves: a
    // master killed without cleanup keeps its VIP on the interface. The
    // peer takes over; the restarted vipd finds the VIP and resumes as
    // master (warm start, docs/restart.md), but the peer is the better
    // master now: on its first advert the restarted vipd steps down and
    // removes the stale VIP, or both routers would answer for it.
    let lab = Lab::new("crash_restart");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.0.2/24"]);
    let one = |prio: u8| {
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    advert_interval: 100ms\n    vips: [10.9.0.100/24]\n"
        )
    };
    let a = r1.start_vipd(&one(150));
    let b = r2.start_vipd(&one(100));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    a.proc.kill();
    b.expect_state("web", "MASTER", 3 * SEC);
    assert!(
        r1.has_addr("eth0", "10.9.0.100/24"),
        "the killed vipd left its VIP (the situation under test)"
    );

    // Restarted with a lower priority, so it stays backup.
    let a2 = r1.start_vipd(&one(50));
    assert!(
        wait_until(5 * SEC, Duration::from_millis(50), || a2
            .vipctl(&["status"])
            .status
            .success()),
        "restarted vipd answers:\n{}",
        a2.proc.log_tail(20)
    );
    a2.expect_state("web", "BACKUP", 3 * SEC);
    assert_eq!(
        a2.instance("web")["last_transition"]["reason"],
        "higher_priority_master"
    );
    assert!(
        r1.wait_addr("eth0", "10.9.0.100/24", false, SEC),
        "the restarted backup still holds the stale VIP:\n{}",
        a2.proc.log_tail(20)
    );
    assert!(r2.has_addr("eth0", "10.9.0.100/24"), "the master keeps it");
    b.expect_state("web", "MASTER", SEC);
}
