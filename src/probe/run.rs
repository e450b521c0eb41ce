//! The socket loop of `vipctl probe`, phase by phase: setup, the schedule
//! loop (signals, stop conditions, losses, a send per timer tick, the
//! replies), and the summary.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use super::ProbeArgs;
use super::packet::{echo_request, parse_echo_reply};
use super::socket::{
    Prober, SIGNALS, clock_ns, grid_timer, install_signals, open_socket, resolve_target,
    set_realtime,
};
use super::tracker::{ReplyKind, Summary, Tracker};

/// Probes `args.target` until done, printing a line per event and the
/// summary to `out`.
pub(super) fn run(args: &ProbeArgs, out: &mut impl Write) -> Result<Summary, String> {
    let mut r = Run::setup(args, out)?;
    r.schedule_loop(out)?;
    Ok(r.finish(args.json, out))
}

/// One line of output. A closed stdout (`| head`) must not stop the
/// measurement, so write errors are ignored.
fn say(out: &mut dyn Write, s: String) {
    let _ = writeln!(out, "{s}");
}

/// A probe in progress.
struct Run {
    p: Prober,
    /// The schedule: a periodic timer whose first slot is `start_mono`.
    timer: OwnedFd,
    start_mono: i64,
    interval_ns: i64,
    timeout_ns: i64,
    /// Stop sending after this many requests, or at this time.
    count: Option<u64>,
    stop_mono: Option<i64>,
    /// Target as printed.
    target: String,
    /// This run's token in every request's payload.
    token: u64,
    t: Tracker,
    max_late_ns: i64,
    sending: bool,
    seen_signals: usize,
    /// Timer expirations so far (slots passed, sent or skipped).
    ticks: u64,
    buf: Vec<u8>,
}

impl Run {
    /// Resolves the target, opens the socket, asks for the scheduling
    /// policy, installs the signal handlers, starts the schedule 1 ms from
    /// now, and prints the first line.
    fn setup(args: &ProbeArgs, out: &mut dyn Write) -> Result<Run, String> {
        let dest = resolve_target(&args.target)?;
        let target = match dest {
            std::net::SocketAddr::V6(a) if a.scope_id() != 0 => args.target.clone(),
            a => a.ip().to_string(),
        };
        let p = open_socket(dest).map_err(|e| format!("{target}: {e}"))?;
        let sched = scheduling(args.realtime);
        install_signals();
        let interval_ns = args.interval_ms as i64 * 1_000_000;
        let timeout_ns = args.timeout_ms as i64 * 1_000_000;
        let token =
            (clock_ns(libc::CLOCK_REALTIME) as u64).rotate_left(17) ^ u64::from(std::process::id());
        let start_mono = clock_ns(libc::CLOCK_MONOTONIC) + 1_000_000;
        let stop_mono = args.duration_ms.map(|d| start_mono + d as i64 * 1_000_000);
        let timer = grid_timer(start_mono, interval_ns).map_err(|e| format!("timerfd: {e}"))?;
        say(
            out,
            format!(
                "probe target={target} interval_us={} timeout_ms={} socket={} id={} sched={sched}",
                interval_ns / 1000,
                args.timeout_ms,
                p.kind,
                p.id
            ),
        );
        Ok(Run {
            p,
            timer,
            start_mono,
            interval_ns,
            timeout_ns,
            count: args.count,
            stop_mono,
            target,
            token,
            t: Tracker::default(),
            max_late_ns: 0,
            sending: true,
            seen_signals: 0,
            ticks: 0,
            buf: vec![0u8; 65536],
        })
    }

    /// Sends on the schedule and receives until sending is over and nothing
    /// is pending, or a signal says to stop at once.
    fn schedule_loop(&mut self, out: &mut dyn Write) -> Result<(), String> {
        loop {
            if self.stop_on_signal() {
                break;
            }
            self.stop_sending_when_done();
            self.report_lost(clock_ns(libc::CLOCK_MONOTONIC) - self.timeout_ns, out);
            if !self.sending && !self.t.pending() {
                break;
            }
            let Some(ready) = self.wait()? else {
                continue;
            };
            if self.sending && ready.timer {
                self.on_tick(out);
            }
            if ready.socket {
                self.receive(out);
            }
        }
        Ok(())
    }

    /// The first SIGINT/SIGTERM stops sending (pending requests may still
    /// be answered); a second one, or one while draining, stops at once:
    /// returns true then.
    fn stop_on_signal(&mut self) -> bool {
        let signals = SIGNALS.load(Ordering::Relaxed);
        if signals > self.seen_signals {
            self.seen_signals = signals;
            if !self.sending || signals >= 2 {
                return true;
            }
            self.stop_sending();
        }
        false
    }

    /// `--count` requests sent, or `--duration-ms` over.
    fn stop_sending_when_done(&mut self) {
        let now_mono = clock_ns(libc::CLOCK_MONOTONIC);
        if self.sending
            && (self
                .count
                .is_some_and(|c| self.t.requests.len() as u64 >= c)
                || self.stop_mono.is_some_and(|s| now_mono >= s))
        {
            self.stop_sending();
        }
    }

    /// No more requests: the window ends now.
    fn stop_sending(&mut self) {
        self.sending = false;
        self.t.stop_sending(clock_ns(libc::CLOCK_REALTIME));
    }

    /// Declares lost, and prints, every pending request sent at or before
    /// `deadline_mono`.
    fn report_lost(&mut self, deadline_mono: i64, out: &mut dyn Write) {
        for seq in self.t.expire(deadline_mono) {
            let sent = self.t.requests[seq as usize].sent_ns;
            say(out, format!("lost seq={seq} sent={sent}"));
        }
    }

    /// Waits for the timer (while sending), the socket, or the next loss
    /// deadline; `None` when a signal interrupted the wait.
    fn wait(&self) -> Result<Option<Ready>, String> {
        // Wake up for the next loss deadline (ms resolution is enough for
        // that; sends come from the timerfd, replies from the socket).
        let wait_ms = self
            .t
            .oldest_pending()
            .map(|s| {
                let left = s + self.timeout_ns - clock_ns(libc::CLOCK_MONOTONIC);
                (left / 1_000_000 + 1).clamp(0, 1000) as i32
            })
            .unwrap_or(1000);
        let mut fds = [
            libc::pollfd {
                fd: self.p.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.timer.as_raw_fd(),
                events: if self.sending { libc::POLLIN } else { 0 },
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(format!("poll: {e}"));
        }
        Ok(Some(Ready {
            socket: fds[0].revents & (libc::POLLIN | libc::POLLERR) != 0,
            timer: fds[1].revents & libc::POLLIN != 0,
        }))
    }

    /// The timer fired. Slots are start + k * interval; one request goes
    /// out for the latest one due (no burst after a stall: missed slots are
    /// counted).
    fn on_tick(&mut self, out: &mut dyn Write) {
        let mut exp = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer.
        let r = unsafe { libc::read(self.timer.as_raw_fd(), exp.as_mut_ptr() as *mut _, 8) };
        if r != 8 {
            return;
        }
        let expirations = u64::from_ne_bytes(exp).max(1);
        self.t.skipped_slots += expirations - 1;
        self.ticks += expirations;
        let seq = self.t.requests.len() as u64;
        let now = clock_ns(libc::CLOCK_MONOTONIC);
        let slot = self.start_mono + (self.ticks as i64 - 1) * self.interval_ns;
        self.max_late_ns = self.max_late_ns.max(now - slot);
        let pkt = echo_request(self.p.family, self.p.id, seq, self.token);
        let sent_ns = clock_ns(libc::CLOCK_REALTIME);
        self.t.sent(sent_ns, clock_ns(libc::CLOCK_MONOTONIC));
        if let Err(e) = self.p.sock.send_to(&pkt, &self.p.dest) {
            self.t.send_errors += 1;
            say(out, format!("error seq={seq} sent={sent_ns} send: {e}"));
        }
    }

    /// Every datagram queued on the socket.
    fn receive(&mut self, out: &mut dyn Write) {
        loop {
            match self.p.recv(&mut self.buf) {
                Ok(None) => break,
                Ok(Some((len, ts))) => self.datagram(len, ts, out),
                // ICMP errors queued on a datagram socket (host
                // unreachable...): the request is simply not answered.
                Err(_) => break,
            }
        }
    }

    /// One datagram of `len` bytes in `buf`, received at kernel time `ts`.
    fn datagram(&mut self, len: usize, ts: Option<i64>, out: &mut dyn Write) {
        let recv_ns = ts.unwrap_or_else(|| clock_ns(libc::CLOCK_REALTIME));
        let kind = match parse_echo_reply(&self.buf[..len], self.p.family, self.p.ip_header) {
            Some(r) if r.id == self.p.id && r.token == self.token => self.t.reply(r.seq, recv_ns),
            _ => self.t.foreign(),
        };
        match kind {
            ReplyKind::Fresh { seq, rtt_ns } => say(
                out,
                format!(
                    "reply seq={seq} sent={} recv={recv_ns} rtt_us={}",
                    recv_ns - rtt_ns,
                    rtt_ns / 1000
                ),
            ),
            ReplyKind::Late { seq } => say(
                out,
                format!(
                    "late seq={seq} recv={recv_ns} rtt_us={}",
                    (recv_ns - self.t.requests[seq as usize].sent_ns) / 1000
                ),
            ),
            ReplyKind::Duplicate | ReplyKind::Foreign => {}
        }
    }

    /// Prints the summary (`--json`: as one JSON object).
    fn finish(mut self, json: bool, out: &mut dyn Write) -> Summary {
        // Stopped at once by a second signal while sending: the window ends
        // now (otherwise this keeps the time sending stopped).
        self.t.stop_sending(clock_ns(libc::CLOCK_REALTIME));
        // Interrupted while draining: whatever is still pending is lost.
        self.report_lost(i64::MAX, out);
        let s = self
            .t
            .summary(self.target, self.interval_ns, self.max_late_ns);
        if json {
            say(out, serde_json::to_string(&s).unwrap_or_default());
        } else {
            say(out, s.line());
        }
        let _ = out.flush();
        s
    }
}

/// What [`Run::wait`] found readable.
struct Ready {
    socket: bool,
    timer: bool,
}

/// `--realtime`: SCHED_FIFO when allowed (a warning otherwise). Returns the
/// policy's name for the first line.
fn scheduling(realtime: bool) -> &'static str {
    if !realtime {
        return "other";
    }
    match set_realtime() {
        Ok(()) => "fifo",
        Err(e) => {
            eprintln!("vipctl probe: SCHED_FIFO not allowed ({e}); going on without");
            "other"
        }
    }
}
