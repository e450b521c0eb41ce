//! A timer with microsecond precision for the daemon loop.
//!
//! tokio's timer wheel rounds deadlines up to whole milliseconds and sleeps
//! in `epoll_wait` with a millisecond timeout, so a Master_Down_Timer could
//! fire up to ~2 ms late: a tenth of a 20 ms advert interval. A timerfd is
//! an hrtimer: it fires within microseconds of the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

struct Fd(OwnedFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
    /// The deadline the timerfd is armed for, while it is: the daemon asks
    /// for the same deadline after every packet, and re-arming it each time
    /// would cost a system call per packet.
    armed: std::cell::Cell<Option<Instant>>,
}

/// A non-blocking, close-on-exec timerfd on CLOCK_MONOTONIC: an hrtimer,
/// for the daemon's timers and `vipctl probe`'s send schedule.
pub fn monotonic_timerfd() -> io::Result<OwnedFd> {
    // SAFETY: plain timerfd_create(2); the fd is owned right away.
    let raw = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// timerfd_settime(2): first expiry `value` (relative, or on the clock with
/// `libc::TFD_TIMER_ABSTIME` in `flags`), then every `interval` (zero: once).
/// A zero `value` disarms the timer.
pub fn set_timerfd(
    fd: &impl AsRawFd,
    flags: libc::c_int,
    value: Duration,
    interval: Duration,
) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: timespec(interval),
        it_value: timespec(value),
    };
    // SAFETY: valid fd and itimerspec; old value not requested.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl PreciseTimer {
    pub fn new() -> io::Result<PreciseTimer> {
        let fd = Fd(monotonic_timerfd()?);
        // SAFETY: the OwnedFd moves into the AsyncFd and lives exactly as long.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(PreciseTimer {
            fd,
            armed: std::cell::Cell::new(None),
        })
    }

    /// Arms the timer (relative to now) and clears any earlier expiry.
    fn arm(&self, after: Duration) -> io::Result<()> {
        // A zero it_value disarms a timerfd: wait at least 1 ns.
        let after = after.max(Duration::from_nanos(1));
        set_timerfd(self.fd.get_ref(), 0, after, Duration::ZERO)
    }

    /// Sleeps until `deadline` or earlier, never later: the caller must
    /// check what is due when it wakes. Cancel-safe: dropping the future
    /// leaves the timer armed.
    ///
    /// The timer is re-armed only for an earlier deadline. A later one (a
    /// backup's Master_Down deadline moves out with every advert it hears,
    /// and the earliest of many instances moves with them) keeps the armed
    /// expiry: the loop then wakes once early and finds nothing due, instead
    /// of a timerfd_settime(2) per received advert.
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        if self.armed.get().is_none_or(|armed| deadline < armed) {
            self.arm(deadline.saturating_duration_since(Instant::now()))?;
            self.armed.set(Some(deadline));
        }
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 8];
            // SAFETY: reading 8 bytes into an 8-byte buffer.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    8,
                )
            };
            if n == 8 {
                // Fired: a timerfd without interval is disarmed now.
                self.armed.set(None);
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A later deadline keeps the earlier expiry armed (no re-arm per
    /// packet): the sleep ends at the earlier one, and the caller, finding
    /// nothing due, asks again.
    #[test]
    fn a_later_deadline_wakes_at_the_armed_one() {
        rt().block_on(async {
            let timer = PreciseTimer::new().unwrap();
            let start = Instant::now();
            let early = start + Duration::from_millis(50);
            // Armed for `early`, then abandoned (the loop took a packet).
            let abandoned =
                tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(early)).await;
            assert!(abandoned.is_err(), "50 ms timer fired after 1 ms");
            timer
                .sleep_until(start + Duration::from_secs(30))
                .await
                .unwrap();
            let woke = Instant::now();
            assert!(woke >= early, "woke before any deadline");
            assert!(
                woke < start + Duration::from_secs(10),
                "the armed 50 ms expiry was replaced by the later deadline"
            );
            // Disarmed by the expiry: the later deadline is armed now.
            let r = tokio::time::timeout(
                Duration::from_millis(100),
                timer.sleep_until(start + Duration::from_secs(30)),
            )
            .await;
            assert!(r.is_err(), "woke again without an armed expiry");
        });
    }

    /// An earlier deadline re-arms: the sleep never ends late.
    #[test]
    fn an_earlier_deadline_rearms() {
        rt().block_on(async {
            let timer = PreciseTimer::new().unwrap();
            let start = Instant::now();
            let _ = tokio::time::timeout(
                Duration::from_millis(1),
                timer.sleep_until(start + Duration::from_secs(30)),
            )
            .await;
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                timer.sleep_until(start + Duration::from_millis(20)),
            )
            .await;
            assert!(r.is_ok(), "the 20 ms deadline waited for the 30 s one");
            assert!(Instant::now() >= start + Duration::from_millis(20));
        });
    }
}
