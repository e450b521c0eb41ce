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

/// What bounds a gap: an outage that runs into the start or the end of the
/// probing window has a reply on one side only (or none), and still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapBound {
    /// From one reply to the next.
    Replies,
    /// From the window's start (the first request sent) to the first reply.
    WindowStart,
    /// From the last reply to the window's end (when sending stopped).
    WindowEnd,
    /// No reply at all: the whole window.
    WholeWindow,
}

impl GapBound {
    /// As in the summary line and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            GapBound::Replies => "replies",
            GapBound::WindowStart => "window_start",
            GapBound::WindowEnd => "window_end",
            GapBound::WholeWindow => "whole_window",
        }
    }
}

/// The longest time without a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub gap_ns: i64,
    pub bound: GapBound,
    /// Reply before the gap: its seq (none at the window's start) and its
    /// kernel receive time (the window's start time there).
    pub after_seq: Option<u64>,
    pub from_ns: i64,
    /// Reply that ended the gap (none at the window's end), and its receive
    /// time (the window's end time there).
    pub before_seq: Option<u64>,
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
    /// First and last fresh reply by receive time: (seq, recv_ns).
    first_reply: Option<(u64, i64)>,
    last_reply: Option<(u64, i64)>,
    /// Longest gap between two replies; [`Tracker::longest_gap`] adds the
    /// window's edges.
    pub between_replies: Option<Gap>,
    /// When sending stopped (epoch ns): the window's end.
    stopped_ns: Option<i64>,
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
                    if gap_ns >= 0 && self.between_replies.is_none_or(|g| gap_ns > g.gap_ns) {
                        self.between_replies = Some(Gap {
                            gap_ns,
                            bound: GapBound::Replies,
                            after_seq: Some(prev_seq),
                            from_ns: prev_ns,
                            before_seq: Some(seq),
                            to_ns: recv_ns,
                        });
                    }
                }
                // Kernel timestamps grow in arrival order; keep the later one
                // should the realtime clock step back.
                if self.last_reply.is_none_or(|(_, t)| recv_ns >= t) {
                    self.last_reply = Some((seq, recv_ns));
                }
                if self.first_reply.is_none_or(|(_, t)| recv_ns < t) {
                    self.first_reply = Some((seq, recv_ns));
                }
                ReplyKind::Fresh { seq, rtt_ns }
            }
        }
    }

    /// Sending stopped at `now_ns` (epoch): the window ends there. The first
    /// call counts.
    pub fn stop_sending(&mut self, now_ns: i64) {
        self.stopped_ns.get_or_insert(now_ns);
    }

    /// The longest time without a reply within the window, from the first
    /// request sent to when sending stopped (the last request sent if no
    /// stop was recorded): between two replies, or with a reply on one side
    /// only when the outage ran into the window's start or end, or the whole
    /// window without any reply. `None` without requests. Between replies
    /// wins a tie.
    pub fn longest_gap(&self) -> Option<Gap> {
        let start = self.requests.first()?.sent_ns;
        let end = self
            .stopped_ns
            .unwrap_or_else(|| self.requests.last().map_or(start, |r| r.sent_ns));
        let (Some((first_seq, first_ns)), Some((last_seq, last_ns))) =
            (self.first_reply, self.last_reply)
        else {
            return Some(Gap {
                gap_ns: (end - start).max(0),
                bound: GapBound::WholeWindow,
                after_seq: None,
                from_ns: start,
                before_seq: None,
                to_ns: end,
            });
        };
        let edges = [
            Gap {
                gap_ns: first_ns - start,
                bound: GapBound::WindowStart,
                after_seq: None,
                from_ns: start,
                before_seq: Some(first_seq),
                to_ns: first_ns,
            },
            Gap {
                gap_ns: end - last_ns,
                bound: GapBound::WindowEnd,
                after_seq: Some(last_seq),
                from_ns: last_ns,
                before_seq: None,
                to_ns: end,
            },
        ];
        edges.into_iter().filter(|g| g.gap_ns > 0).fold(
            self.between_replies,
            |best, g| match best {
                Some(b) if b.gap_ns >= g.gap_ns => Some(b),
                _ => Some(g),
            },
        )
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
        let longest_gap = self.longest_gap();
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
            longest_gap_us: longest_gap.map(|g| us(g.gap_ns)),
            longest_gap,
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
    /// Longest time without a reply (kernel receive times), outages that
    /// run into the window's start or end included ([`Tracker::longest_gap`]).
    pub longest_gap_us: Option<i64>,
    pub longest_gap: Option<Gap>,
}

impl Summary {
    /// One `key=value` line; absent values are `-`.
    pub fn line(&self) -> String {
        let o = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let seq = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let gap = match &self.longest_gap {
            Some(g) => format!(
                "longest_gap_us={} gap_bound={} gap_after_seq={} gap_before_seq={} gap_from={} gap_to={}",
                g.gap_ns / 1000,
                g.bound.name(),
                seq(g.after_seq),
                seq(g.before_seq),
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
