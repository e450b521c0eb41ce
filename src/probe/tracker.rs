//! The pure parts: bookkeeping of requests and replies, and statistics.

use serde::Serialize;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Pending,
    Replied { recv_ns: i64 },
    Lost,
}

/// One request: when it was sent (epoch ns), and its fate.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub sent_ns: i64,
    /// CLOCK_MONOTONIC at send: timeouts are judged on it, so a wall-clock
    /// step (NTP) does not declare requests lost or keep them pending.
    pub sent_mono: i64,
    pub fate: Fate,
}

/// What a received reply was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// First reply to a pending request: (seq, rtt in ns).
    Fresh { seq: u64, rtt_ns: i64 },
    /// Already answered.
    Duplicate,
    /// Arrived after the request was declared lost.
    Late { seq: u64 },
    /// Not one of our requests.
    Foreign,
}

/// The longest time between two successive replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub gap_ns: i64,
    /// Reply before the gap: its seq and kernel receive time.
    pub after_seq: u64,
    pub from_ns: i64,
    /// Reply that ended the gap.
    pub before_seq: u64,
    pub to_ns: i64,
}

/// All requests of a run and the reply-gap tracking.
#[derive(Debug, Default)]
pub struct Tracker {
    pub requests: Vec<Request>,
    pub duplicates: u64,
    pub late: u64,
    pub foreign: u64,
    pub send_errors: u64,
    /// Schedule slots that passed while the prober was not running (timer
    /// overruns): no request was sent for them.
    pub skipped_slots: u64,
    /// Last fresh reply: (seq, recv_ns).
    last_reply: Option<(u64, i64)>,
    pub longest_gap: Option<Gap>,
    /// Oldest request that may still be pending (everything before is
    /// resolved), so expiring is O(new requests).
    first_pending: usize,
}

impl Tracker {
    pub fn sent(&mut self, sent_ns: i64, sent_mono: i64) -> u64 {
        self.requests.push(Request {
            sent_ns,
            sent_mono,
            fate: Fate::Pending,
        });
        self.requests.len() as u64 - 1
    }

    /// Accounts a parsed reply received at `recv_ns` (kernel time).
    pub fn reply(&mut self, seq: u64, recv_ns: i64) -> ReplyKind {
        let Some(req) = usize::try_from(seq)
            .ok()
            .and_then(|i| self.requests.get_mut(i))
        else {
            return self.foreign();
        };
        match req.fate {
            Fate::Replied { .. } => {
                self.duplicates += 1;
                ReplyKind::Duplicate
            }
            Fate::Lost => {
                self.late += 1;
                ReplyKind::Late { seq }
            }
            Fate::Pending => {
                req.fate = Fate::Replied { recv_ns };
                let rtt_ns = recv_ns - req.sent_ns;
                if let Some((prev_seq, prev_ns)) = self.last_reply {
                    let gap_ns = recv_ns - prev_ns;
                    if gap_ns >= 0 && self.longest_gap.is_none_or(|g| gap_ns > g.gap_ns) {
                        self.longest_gap = Some(Gap {
                            gap_ns,
                            after_seq: prev_seq,
                            from_ns: prev_ns,
                            before_seq: seq,
                            to_ns: recv_ns,
                        });
                    }
                }
                // Kernel timestamps grow in arrival order; keep the later one
                // should the realtime clock step back.
                if self.last_reply.is_none_or(|(_, t)| recv_ns >= t) {
                    self.last_reply = Some((seq, recv_ns));
                }
                ReplyKind::Fresh { seq, rtt_ns }
            }
        }
    }

    pub fn foreign(&mut self) -> ReplyKind {
        self.foreign += 1;
        ReplyKind::Foreign
    }

    /// Declares lost every pending request sent (monotonic clock) at or
    /// before `deadline_mono` (sent + timeout <= now); returns their seqs.
    pub fn expire(&mut self, deadline_mono: i64) -> Vec<u64> {
        let mut lost = Vec::new();
        while let Some(r) = self.requests.get(self.first_pending) {
            match r.fate {
                Fate::Pending if r.sent_mono <= deadline_mono => {
                    self.requests[self.first_pending].fate = Fate::Lost;
                    lost.push(self.first_pending as u64);
                }
                Fate::Pending => break,
                _ => {}
            }
            self.first_pending += 1;
        }
        lost
    }

    pub fn pending(&self) -> bool {
        self.requests[self.first_pending.min(self.requests.len())..]
            .iter()
            .any(|r| r.fate == Fate::Pending)
    }

    /// Monotonic send time of the oldest pending request.
    pub fn oldest_pending(&self) -> Option<i64> {
        self.requests[self.first_pending.min(self.requests.len())..]
            .iter()
            .find(|r| r.fate == Fate::Pending)
            .map(|r| r.sent_mono)
    }

    pub fn summary(&self, target: String, interval_ns: i64, max_send_late_ns: i64) -> Summary {
        let mut rtts: Vec<i64> = self
            .requests
            .iter()
            .filter_map(|r| match r.fate {
                Fate::Replied { recv_ns } => Some(recv_ns - r.sent_ns),
                _ => None,
            })
            .collect();
        rtts.sort_unstable();
        let received = rtts.len() as u64;
        let sent = self.requests.len() as u64;
        let lost = self
            .requests
            .iter()
            .filter(|r| r.fate == Fate::Lost)
            .count() as u64;
        let median = match rtts.len() {
            0 => None,
            n if n % 2 == 1 => Some(rtts[n / 2]),
            n => Some((rtts[n / 2 - 1] + rtts[n / 2]) / 2),
        };
        let mean_interval_ns = match (self.requests.first(), self.requests.last()) {
            (Some(a), Some(b)) if sent >= 2 => Some((b.sent_ns - a.sent_ns) / (sent as i64 - 1)),
            _ => None,
        };
        let us = |ns: i64| ns / 1000;
        Summary {
            target,
            interval_us: us(interval_ns),
            sent,
            received,
            lost,
            duplicates: self.duplicates,
            late: self.late,
            foreign: self.foreign,
            send_errors: self.send_errors,
            skipped_slots: self.skipped_slots,
            rtt_min_us: rtts.first().copied().map(us),
            rtt_median_us: median.map(us),
            rtt_max_us: rtts.last().copied().map(us),
            mean_interval_us: mean_interval_ns.map(us),
            max_send_late_us: us(max_send_late_ns),
            longest_gap_us: self.longest_gap.map(|g| us(g.gap_ns)),
            longest_gap: self.longest_gap,
        }
    }
}

/// End-of-run figures (`summary` line / `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub target: String,
    pub interval_us: i64,
    pub sent: u64,
    pub received: u64,
    /// No reply within the timeout (late replies do not undo this).
    pub lost: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Echo replies that were not ours, and unparsable packets.
    pub foreign: u64,
    pub send_errors: u64,
    pub skipped_slots: u64,
    pub rtt_min_us: Option<i64>,
    pub rtt_median_us: Option<i64>,
    pub rtt_max_us: Option<i64>,
    /// (last send - first send) / (sent - 1): the interval achieved.
    pub mean_interval_us: Option<i64>,
    /// Worst delay of a send after its slot on the schedule.
    pub max_send_late_us: i64,
    /// Longest time between two successive replies (kernel receive times).
    pub longest_gap_us: Option<i64>,
    pub longest_gap: Option<Gap>,
}

impl Summary {
    /// One `key=value` line; absent values are `-`.
    pub fn line(&self) -> String {
        let o = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let gap = match &self.longest_gap {
            Some(g) => format!(
                "longest_gap_us={} gap_after_seq={} gap_before_seq={} gap_from={} gap_to={}",
                g.gap_ns / 1000,
                g.after_seq,
                g.before_seq,
                g.from_ns,
                g.to_ns
            ),
            None => "longest_gap_us=-".to_owned(),
        };
        format!(
            "summary target={} sent={} received={} lost={} duplicates={} late={} foreign={} \
             send_errors={} skipped_slots={} rtt_min_us={} rtt_median_us={} rtt_max_us={} interval_us={} \
             mean_interval_us={} max_send_late_us={} {gap}",
            self.target,
            self.sent,
            self.received,
            self.lost,
            self.duplicates,
            self.late,
            self.foreign,
            self.send_errors,
            self.skipped_slots,
            o(self.rtt_min_us),
            o(self.rtt_median_us),
            o(self.rtt_max_us),
            self.interval_us,
            o(self.mean_interval_us),
            self.max_send_late_us,
        )
    }
}
