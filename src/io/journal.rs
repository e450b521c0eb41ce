//! Logging for the journal. Under systemd, vipd's stderr is a journal
//! stream: the journal adds its own timestamps, shows no ANSI colours, and
//! reads a `<N>` syslog-priority prefix on each line (`SyslogLevelPrefix=`,
//! on by default) so that `journalctl -p warning -u vipd` works. Fields stay
//! on the line as `key=value` (`instance=web from=BACKUP to=MASTER`), which
//! `journalctl -u vipd -g 'instance=web'` can search.

use std::fmt;
use std::os::fd::AsFd;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether stderr is the journal stream systemd connected: `JOURNAL_STREAM`
/// (`DEVICE:INODE`) names stderr's own file. Checking the inode, as
/// systemd.exec(5) asks, keeps a redirected stderr (`vipd 2>log`) plain.
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    journal_stream_matches(&v, st.st_dev, st.st_ino)
}

/// `JOURNAL_STREAM`'s `DEVICE:INODE` (decimal) against a file's dev/ino.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

/// The syslog priority for a tracing level (sd-daemon(3) prefixes).
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Wraps an event formatter and puts `<N>` before each event, N being the
/// event's syslog priority.
pub struct SyslogPrefix<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for SyslogPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[test]
    fn journal_stream_parsing() {
        assert!(journal_stream_matches("8:1234", 8, 1234));
        assert!(!journal_stream_matches("8:1234", 8, 1235));
        assert!(!journal_stream_matches("8:1234", 9, 1234));
        assert!(!journal_stream_matches("8", 8, 1234));
        assert!(!journal_stream_matches("", 0, 0));
        assert!(!journal_stream_matches("x:y", 0, 0));
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_priority_and_no_time_or_colour() {
        let buf = Buf::default();
        let out = buf.clone();
        let fmt = tracing_subscriber::fmt::format()
            .without_time()
            .with_target(false)
            .with_ansi(false);
        let sub = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_max_level(Level::DEBUG)
            .event_format(SyslogPrefix(fmt))
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::error!(instance = "web", "boom");
            tracing::warn!("careful");
            tracing::info!(from = "BACKUP", to = "MASTER", "state change");
            tracing::debug!("detail");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "<3>ERROR boom instance=\"web\"",
                "<4> WARN careful",
                "<6> INFO state change from=\"BACKUP\" to=\"MASTER\"",
                "<7>DEBUG detail",
            ],
            "{text}"
        );
    }
}
