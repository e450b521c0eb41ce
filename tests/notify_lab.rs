//! Notify hooks and the event stream in a network-namespace lab: a router
//! driven through BACKUP, MASTER, FAULT, BACKUP, MASTER and STOP runs its
//! hooks once per change, in order, with the event in their environment;
//! a slow hook delays neither the protocol nor later hooks' order; `vipctl
//! watch --json` sees the same changes, numbered without gaps. Run as root.

mod lab;

use lab::vipd::vipctl_bin;
use lab::{Lab, wait_until};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const R1: &str = "10.77.0.1";
const VIP: &str = "10.77.0.100/24";

/// A directory the script user may write (hooks do not run as root),
/// removed at the end, also when the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(lab: &Lab) -> Scratch {
        let dir = PathBuf::from(format!("/run/vipd-lab-{}", lab.id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(priority: u8, notify: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 77\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [{VIP}]\n{notify}"
    )
}

/// master, backup and fault append a line at once; `any` sleeps 1 s first
/// (slower than the steps come), then appends its own.
fn notify(log: &Path) -> String {
    let line = |tag: &str, sleep: &str| {
        format!(
            "[/bin/sh, -c, '{sleep}echo \"{tag} $VIPD_SEQ $VIPD_STATE $VIPD_PREVIOUS $VIPD_REASON $VIPD_NAME $VIPD_KIND $VIPD_PRIORITY $VIPD_EFFECTIVE_PRIORITY $VIPD_VIPS master=$VIPD_MASTER\" >> {}']",
            log.display()
        )
    };
    format!(
        "    notify:\n      master: {}\n      backup: {}\n      fault: {}\n      any: {}\n",
        line("spec", ""),
        line("spec", ""),
        line("spec", ""),
        line("any", "sleep 1; ")
    )
}

/// One hook's line: (tag, seq, state, previous, reason, the rest).
fn parse_hook_line(l: &str) -> (String, u64, String, String, String, String) {
    let mut w = l.splitn(6, ' ');
    let mut next = || w.next().unwrap_or_default().to_string();
    let tag = next();
    let seq = next().parse().unwrap_or_else(|_| panic!("seq in {l:?}"));
    (tag, seq, next(), next(), next(), next())
}

#[test]
fn hooks_follow_every_change_in_order_and_watch_sees_them() {
    let lab = Lab::new("notify_hooks");
    let scratch = Scratch::new(&lab);
    let log = scratch.0.join("log");
    let r1 = lab.add_host("r1", &[&format!("{R1}/24")]);
    let r2 = lab.add_host("r2", &["10.77.0.2/24"]);

    // r2 is master first; r1 starts as backup.
    let b = r2.start_vipd(&config(150, ""));
    b.expect_state("web", "MASTER", 3 * SEC);
    let a = r1.start_vipd(&config(100, &notify(&log)));
    let watcher = r1.spawn(
        &[
            vipctl_bin(),
            "--socket",
            a.socket.to_str().unwrap(),
            "watch",
            "--json",
        ],
        "watch.log",
    );
    a.expect_state("web", "BACKUP", 3 * SEC);
    assert!(
        watcher.wait_for_log("\"snapshot\"", 3 * SEC),
        "{}",
        watcher.log()
    );

    // r2 leaves: r1 takes over. Its `any` hook sleeps 1 s meanwhile: the
    // adverts go on (the loop never waits for a hook).
    b.proc.stop();
    a.expect_state("web", "MASTER", 3 * SEC);
    let sent = |a: &lab::vipd::Vipd| a.instance("web")["adverts_sent"].as_u64().unwrap();
    let (before, t0) = (sent(&a), Instant::now());
    std::thread::sleep(Duration::from_millis(800));
    let (after, dt) = (sent(&a), t0.elapsed());
    println!(
        "adverts sent while a 1 s hook ran: {} in {dt:?}",
        after - before
    );
    assert!(
        after - before >= 6,
        "adverts while the hook ran: {before} -> {after} in {dt:?}"
    );

    // The cable is cut: FAULT; back: BACKUP, then MASTER after the
    // Master_Down_Interval (0.36 s), while about 2 s of hooks still wait.
    r1.link_down();
    a.expect_state("web", "FAULT", 3 * SEC);
    r1.link_up();
    let up = Instant::now();
    a.expect_state("web", "MASTER", 3 * SEC);
    let took = up.elapsed();
    println!("link up -> MASTER in {took:?} with hooks queued");
    assert!(took < SEC, "hooks delayed the election: {took:?}");

    // Every hook ran (5 changes x (specific + any)), none failed.
    let counts = || {
        let i = a.instance("web");
        (i["notify_ok"].as_u64(), i["notify_failed"].as_u64())
    };
    assert!(
        wait_until(15 * SEC, Duration::from_millis(100), || counts()
            == (Some(10), Some(0))),
        "notify counters {:?}\n{}",
        counts(),
        a.proc.log_tail(30)
    );

    // Shutdown: STOP (only `any` is configured for it), run before vipd exits.
    a.proc.signal(libc::SIGTERM);
    let status = a.proc.wait_exit(15 * SEC).expect("vipd stops");
    assert!(status.success(), "{}", a.proc.log_tail(20));
    let ended = watcher.wait_exit(5 * SEC).expect("watch ends with vipd");
    assert!(ended.success(), "{}", watcher.log());

    // The hooks' lines: per change, the specific hook then `any`, in the
    // order of the changes, never interleaved.
    let text = std::fs::read_to_string(&log).unwrap();
    println!("hook log:\n{text}");
    let lines: Vec<_> = text.lines().map(parse_hook_line).collect();
    let want = [
        ("BACKUP", "INIT"),
        ("MASTER", "BACKUP"),
        ("FAULT", "MASTER"),
        ("BACKUP", "FAULT"),
        ("MASTER", "BACKUP"),
        ("STOP", "MASTER"),
    ];
    let mut expected_tags = Vec::new();
    for (state, _) in want {
        if state != "STOP" {
            expected_tags.push(("spec", state));
        }
        expected_tags.push(("any", state));
    }
    let got_tags: Vec<(&str, &str)> = lines.iter().map(|l| (l.0.as_str(), l.2.as_str())).collect();
    assert_eq!(got_tags, expected_tags, "{text}");
    let changes: Vec<_> = lines.iter().filter(|l| l.0 == "any").collect();
    for (l, (state, previous)) in changes.iter().zip(want) {
        assert_eq!((l.2.as_str(), l.3.as_str()), (state, previous), "{text}");
        let master = if state == "MASTER" {
            format!("master={R1}")
        } else {
            String::new()
        };
        assert!(
            l.5.starts_with("web instance 100 100 10.77.0.100/24 master=")
                && (master.is_empty() || l.5.ends_with(&master)),
            "{l:?}"
        );
    }
    assert_eq!(changes[2].4, "interface_down");
    assert_eq!(changes[3].4, "interface_up");
    assert_eq!(changes[5].4, "shutdown");
    assert!(changes.windows(2).all(|w| w[0].1 < w[1].1), "{text}");

    // The watcher: the snapshot first, then every event numbered one after
    // the other; its transitions are the hooks' changes, with the same
    // numbers and reasons (the start-up one is in the snapshot).
    let stream = watcher.log();
    let events: Vec<serde_json::Value> = stream
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(events[0]["event"], "snapshot", "{stream}");
    let snap = events[0]["seq"].as_u64().unwrap();
    assert!(
        changes[0].1 <= snap,
        "start-up before the watcher: {stream}"
    );
    for (i, e) in events[1..].iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(snap + 1 + i as u64), "{stream}");
    }
    let transitions: Vec<(u64, String, String, String)> = events
        .iter()
        .filter(|e| e["event"] == "transition")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (e["seq"].as_u64().unwrap(), s("to"), s("from"), s("reason"))
        })
        .collect();
    let from_hooks: Vec<(u64, String, String, String)> = changes[1..]
        .iter()
        .map(|l| {
            let to = if l.2 == "STOP" {
                "INIT".into()
            } else {
                l.2.clone()
            };
            (l.1, to, l.3.clone(), l.4.clone())
        })
        .collect();
    assert_eq!(transitions, from_hooks, "{stream}");
    // The hooks' results are events too, each after its transition.
    let notified = events.iter().filter(|e| e["event"] == "notify").count();
    assert!(notified >= 9, "notify events: {notified}\n{stream}");
}
