//! `file` trackers (keepalived's `track_file`): a number in a file, which
//! weighs on the priority (times the tracker's weight, see
//! `crate::health::priority`). The file's directory is watched with
//! inotify, so that a write or a replacement (files are usually replaced by
//! renaming a new one over them) is reported at once; the file is also read
//! at every interval.
//!
//! What the file says:
//! - an integer in decimal, optionally signed, with whitespace around it
//!   (`-50\n`): that number. Past the range of an i64 it saturates (the
//!   priority clamps anyway, and a huge negative number still means FAULT);
//! - nothing (the file is missing, or empty): 0, as keepalived counts a
//!   missing file. A file removed is a file that no longer asks for
//!   anything;
//! - anything else (not a number, unreadable, longer than 128 bytes): 0 too,
//!   with a warning, logged once per distinct content. keepalived's
//!   `strtol` takes the leading number of `12abc` and accepts hex; vipd does
//!   not guess: a half-written or mistyped file is not a number, and 0 is
//!   the weight that changes nothing.
//!
//! Writers should replace the file by rename, or write it in one write:
//! a tick that lands between a truncating open and the write reads an empty
//! file, which is 0 for that moment.
//!
//! A symbolic link is read through, but only the link's own directory is
//! watched: a change to the file it points at is seen at the next interval.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

use super::{Reporter, interval};
use crate::health::Outcome;

/// The most a valid file holds: a number and some whitespace. Anything
/// longer is not a number file (and is not read whole).
const MAX_LEN: usize = 128;

pub async fn run(path: &Path, every: Duration, out: Reporter) {
    let mut tick = interval(every);
    // The first tick is now: the loop below reports at once.
    tick.tick().await;
    let mut watch: Option<DirWatch> = None;
    let mut watch_error: Option<String> = None;
    let mut warned: Option<String> = None;
    loop {
        // Watch before reading: a change after the read is then an event.
        if watch.is_none() {
            match DirWatch::new(path) {
                Ok(w) => {
                    watch = Some(w);
                    watch_error = None;
                }
                Err(e) => {
                    let e = e.to_string();
                    if watch_error.as_ref() != Some(&e) {
                        tracing::warn!(
                            "file tracker {}: cannot watch the folder of {} ({e}): read at each interval only",
                            out.name(),
                            path.display()
                        );
                        watch_error = Some(e);
                    }
                }
            }
        }
        // Off the daemon's thread: a file on a hung file system must not
        // stall the VRRP timers (the tracker waits, the daemon does not).
        let reading = {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || read(&path))
                .await
                .unwrap_or_else(|e| Reading::Unusable(format!("cannot be read ({e})")))
        };
        match &reading {
            Reading::Unusable(why) => {
                if warned.as_ref() != Some(why) {
                    tracing::warn!(
                        "file tracker {}: {} {why}: counted as 0",
                        out.name(),
                        path.display()
                    );
                    warned = Some(why.clone());
                }
            }
            Reading::Number(_) | Reading::Missing => warned = None,
        }
        if !out.send(Outcome::Value(reading.value())) {
            return;
        }
        tokio::select! {
            _ = tick.tick() => {}
            w = next_change(watch.as_ref()) => {
                if w == Watched::Gone {
                    watch = None;
                }
            }
        }
    }
}

/// What the file says, as the module's documentation lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Number(i64),
    Missing,
    /// Not a number, and why (for the warning).
    Unusable(String),
}

impl Reading {
    /// The number the tracker reports: 0 unless the file holds one.
    pub fn value(&self) -> i64 {
        match self {
            Reading::Number(n) => *n,
            Reading::Missing | Reading::Unusable(_) => 0,
        }
    }
}

/// Reads `path` (non-blocking: a FIFO without a writer reads as empty, it
/// does not hang the tracker).
pub fn read(path: &Path) -> Reading {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Reading::Missing,
        Err(e) => return Reading::Unusable(format!("cannot be read ({e})")),
    };
    let mut buf = Vec::with_capacity(MAX_LEN + 1);
    if let Err(e) = file.take(MAX_LEN as u64 + 1).read_to_end(&mut buf) {
        return Reading::Unusable(format!("cannot be read ({e})"));
    }
    if buf.len() > MAX_LEN {
        return Reading::Unusable(format!("is longer than {MAX_LEN} bytes, not a number"));
    }
    match parse(&buf) {
        Ok(n) => Reading::Number(n),
        Err(why) => Reading::Unusable(why),
    }
}

/// The number in a file's content: decimal, optionally signed, whitespace
/// around it; blank is 0. Saturates past the i64 range.
pub fn parse(content: &[u8]) -> Result<i64, String> {
    let Ok(text) = std::str::from_utf8(content) else {
        return Err("holds binary data, not a number".into());
    };
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = t.chars().take(40).collect();
        let more = if shown.len() < t.len() { "..." } else { "" };
        return Err(format!("holds {shown:?}{more}, not an integer"));
    }
    Ok(digits.bytes().fold(0i64, |n, b| {
        let d = i64::from(b - b'0');
        if negative {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        }
    }))
}

/// What the directory watch saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// Something happened to the file (or events were lost).
    Changed,
    /// The watch ended (the directory was removed, moved or unmounted):
    /// it must be set up again.
    Gone,
}

/// The inotify descriptor, for tokio's reactor.
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// An inotify watch on the file's directory, not on the file: a file
/// replaced by rename is a new inode, which a watch on the old one would
/// never see.
struct DirWatch {
    fd: AsyncFd<InotifyFd>,
    name: OsString,
}

impl DirWatch {
    fn new(path: &Path) -> std::io::Result<DirWatch> {
        let name = path.file_name().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
        })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVE_SELF
                | AddWatchFlags::IN_ONLYDIR,
        )?;
        // SAFETY: the InotifyFd owns its descriptor, which stays open and
        // the same until the AsyncFd (which owns the InotifyFd) is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(InotifyFd(ino), tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)?;
        Ok(DirWatch {
            fd,
            name: name.to_os_string(),
        })
    }

    /// Until an event about the file, or the end of the watch; events about
    /// other files of the directory are passed over.
    async fn changed(&self) -> Watched {
        let gone = AddWatchFlags::IN_IGNORED
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_UNMOUNT;
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return Watched::Gone;
            };
            let events = match guard
                .try_io(|fd| fd.get_ref().0.read_events().map_err(std::io::Error::from))
            {
                Ok(Ok(events)) => events,
                Ok(Err(_)) => return Watched::Gone,
                // Not readable after all: wait again.
                Err(_would_block) => continue,
            };
            if events.iter().any(|e| e.mask.intersects(gone)) {
                return Watched::Gone;
            }
            if events.iter().any(|e| {
                e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                    || e.name.as_deref() == Some(self.name.as_os_str())
            }) {
                return Watched::Changed;
            }
        }
    }
}

/// The next change `watch` sees; never, without a watch (ticks only).
async fn next_change(watch: Option<&DirWatch>) -> Watched {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Report;
    use super::*;
    use std::path::PathBuf;
    use tokio::sync::mpsc::UnboundedReceiver;

    #[test]
    fn values_parse_as_documented() {
        assert_eq!(parse(b"42"), Ok(42));
        assert_eq!(parse(b"  -50\n"), Ok(-50));
        assert_eq!(parse(b"+7\r\n"), Ok(7));
        assert_eq!(parse(b"\t0\t"), Ok(0));
        assert_eq!(parse(b""), Ok(0));
        assert_eq!(parse(b" \n"), Ok(0));
        assert_eq!(parse(b"99999999999999999999999"), Ok(i64::MAX));
        assert_eq!(parse(b"-99999999999999999999999"), Ok(i64::MIN));
        for bad in [
            &b"abc"[..],
            b"12abc",
            b"0x10",
            b"1 2",
            b"-",
            b"+",
            b"--1",
            b"1.5",
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse(b"up"),
            Err("holds \"up\", not an integer".to_string())
        );
        let long = parse("x".repeat(100).as_bytes()).unwrap_err();
        assert!(long.ends_with("\"..., not an integer"), "{long}");
    }

    /// A fresh folder under the system's temporary one, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("vipd-file-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn next(rx: &mut UnboundedReceiver<Report>, within: Duration) -> Option<i64> {
        match tokio::time::timeout(within, rx.recv()).await {
            Ok(Some(Report::Result {
                outcome: Outcome::Value(v),
                ..
            })) => Some(v),
            Ok(other) => panic!("{other:?}"),
            Err(_) => None,
        }
    }

    #[test]
    fn reads_files() {
        let d = TempDir::new("read");
        let f = d.0.join("weight");
        assert_eq!(read(&f), Reading::Missing);
        std::fs::write(&f, "-3\n").unwrap();
        assert_eq!(read(&f), Reading::Number(-3));
        std::fs::write(&f, "x".repeat(MAX_LEN + 1)).unwrap();
        assert!(matches!(read(&f), Reading::Unusable(_)));
        assert!(matches!(read(&d.0), Reading::Unusable(why) if why.contains("cannot be read")));
    }

    // Each change is reported at once (the interval is an hour): a write, a
    // replacement by rename, garbage, a removal; a file beside it is not a
    // change.
    #[tokio::test]
    async fn reports_changes_at_once() {
        let d = TempDir::new("watch");
        let f = d.0.join("weight");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Reporter::new("t", tx);
        let path = f.clone();
        let runner = tokio::spawn(async move { run(&path, Duration::from_secs(3600), out).await });
        let at_once = Duration::from_millis(100);
        assert_eq!(
            next(&mut rx, Duration::from_secs(2)).await,
            Some(0),
            "missing is 0"
        );

        std::fs::write(&f, "5\n").unwrap();
        assert_eq!(next(&mut rx, at_once).await, Some(5), "written");

        let tmp = d.0.join(".weight.tmp");
        std::fs::write(&tmp, " -7 \n").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert_eq!(next(&mut rx, at_once).await, Some(-7), "replaced by rename");

        std::fs::write(&f, "lots").unwrap();
        assert_eq!(next(&mut rx, at_once).await, Some(0), "garbage is 0");

        std::fs::write(&f, "+12").unwrap();
        assert_eq!(next(&mut rx, at_once).await, Some(12));

        std::fs::remove_file(&f).unwrap();
        assert_eq!(next(&mut rx, at_once).await, Some(0), "removed");

        std::fs::write(d.0.join("other"), "1").unwrap();
        assert_eq!(next(&mut rx, at_once).await, None, "another file");
        runner.abort();
    }

    // A folder that does not exist yet: read at each tick, and watched once
    // it appears.
    #[tokio::test]
    async fn watches_a_folder_once_it_exists() {
        let d = TempDir::new("late");
        let sub = d.0.join("sub");
        let f = sub.join("weight");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Reporter::new("t", tx);
        let path = f.clone();
        let runner = tokio::spawn(async move { run(&path, Duration::from_millis(100), out).await });
        assert_eq!(next(&mut rx, Duration::from_secs(2)).await, Some(0));
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(&f, "3").unwrap();
        let mut v = next(&mut rx, Duration::from_secs(2)).await;
        while v == Some(0) {
            v = next(&mut rx, Duration::from_secs(2)).await;
        }
        assert_eq!(v, Some(3), "read at a tick");
        std::fs::write(&f, "4").unwrap();
        let mut v = next(&mut rx, Duration::from_secs(2)).await;
        while v == Some(3) {
            v = next(&mut rx, Duration::from_secs(2)).await;
        }
        assert_eq!(v, Some(4));
        runner.abort();
    }
}
