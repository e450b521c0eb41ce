use std::net::SocketAddr;

use super::packet::{ICMP_ECHO_REPLY, ICMP6_ECHO_REPLY};
use super::*;
use crate::family::Family;

/// An echo reply as a peer would send it: our request with the type
/// changed and the checksum fixed.
fn reply_of(req: &[u8], family: Family) -> Vec<u8> {
    let mut r = req.to_vec();
    r[0] = match family {
        Family::V4 => ICMP_ECHO_REPLY,
        Family::V6 => ICMP6_ECHO_REPLY,
    };
    r[2] = 0;
    r[3] = 0;
    if family == Family::V4 {
        let c = inet_checksum(&r);
        r[2..4].copy_from_slice(&c.to_be_bytes());
    }
    r
}

fn ipv4_header(payload_len: usize) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h
}

#[test]
fn request_bytes_and_checksum() {
    let p = echo_request(Family::V4, 0x1234, 0x1_0005, 0x0102_0304_0506_0708);
    assert_eq!(p.len(), 32);
    assert_eq!(&p[..2], &[8, 0]);
    assert_eq!(&p[4..8], &[0x12, 0x34, 0x00, 0x05], "id, seq low 16 bits");
    assert_eq!(&p[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&p[16..24], &[0, 0, 0, 0, 0, 1, 0, 5]);
    assert_eq!(&p[24..], b"vipdprob");
    assert_eq!(inet_checksum(&p), 0, "a correct checksum sums to 0");
    let p6 = echo_request(Family::V6, 1, 2, 3);
    assert_eq!(
        (p6[0], p6[2], p6[3]),
        (128, 0, 0),
        "kernel fills ICMPv6 sum"
    );
}

#[test]
fn checksum_known_vector() {
    // RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2, checksum 220d.
    assert_eq!(
        inet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0x220d
    );
    // Odd length: the last byte is padded with a zero.
    assert_eq!(inet_checksum(&[0xff]), !0xff00);
}

#[test]
fn parses_replies_v4_raw_dgram_and_v6() {
    let req = echo_request(Family::V4, 7, 300, 42);
    let rep = reply_of(&req, Family::V4);
    let want = EchoReply {
        id: 7,
        seq16: 300,
        token: 42,
        seq: 300,
    };
    assert_eq!(parse_echo_reply(&rep, Family::V4, false), Some(want));
    let mut raw = ipv4_header(rep.len());
    raw.extend_from_slice(&rep);
    assert_eq!(parse_echo_reply(&raw, Family::V4, true), Some(want));
    // IPv4 header with options (ihl = 6).
    let mut opt = ipv4_header(rep.len() + 4);
    opt[0] = 0x46;
    opt.extend_from_slice(&[1, 1, 1, 0]);
    opt.extend_from_slice(&rep);
    assert_eq!(parse_echo_reply(&opt, Family::V4, true), Some(want));
    let rep6 = reply_of(&echo_request(Family::V6, 7, 300, 42), Family::V6);
    assert_eq!(parse_echo_reply(&rep6, Family::V6, false), Some(want));
}

#[test]
fn rejects_what_is_not_our_reply() {
    let req = echo_request(Family::V4, 7, 300, 42);
    let rep = reply_of(&req, Family::V4);
    // Our own request (seen on loopback), an ICMPv6 reply on v4...
    assert_eq!(parse_echo_reply(&req, Family::V4, false), None);
    assert_eq!(parse_echo_reply(&rep, Family::V6, false), None);
    // Bad checksum.
    let mut bad = rep.clone();
    bad[31] ^= 1;
    assert_eq!(parse_echo_reply(&bad, Family::V4, false), None);
    // Foreign payload (iputils ping's timestamp payload) with a valid sum.
    let mut foreign = rep.clone();
    foreign[24..].copy_from_slice(b"abcdefgh");
    foreign[2] = 0;
    foreign[3] = 0;
    let c = inet_checksum(&foreign);
    foreign[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse_echo_reply(&foreign, Family::V4, false), None);
    // Header seq disagreeing with the payload seq.
    let mut mismatch = reply_of(&echo_request(Family::V4, 7, 300, 42), Family::V4);
    mismatch[7] = 1;
    mismatch[2] = 0;
    mismatch[3] = 0;
    let c = inet_checksum(&mismatch);
    mismatch[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse_echo_reply(&mismatch, Family::V4, false), None);
    // Not IPv4 / not ICMP in the IP header / truncated.
    let mut raw = ipv4_header(rep.len());
    raw.extend_from_slice(&rep);
    let mut v = raw.clone();
    v[0] = 0x65;
    assert_eq!(parse_echo_reply(&v, Family::V4, true), None);
    let mut udp = raw.clone();
    udp[9] = 17;
    assert_eq!(parse_echo_reply(&udp, Family::V4, true), None);
    let mut short_ihl = raw.clone();
    short_ihl[0] = 0x44;
    assert_eq!(parse_echo_reply(&short_ihl, Family::V4, true), None);
    let mut huge_ihl = raw[..30].to_vec();
    huge_ihl[0] = 0x4f;
    assert_eq!(parse_echo_reply(&huge_ihl, Family::V4, true), None);
    for n in 0..raw.len() {
        assert_eq!(
            parse_echo_reply(&raw[..n], Family::V4, true),
            None,
            "len {n}"
        );
    }
}

#[test]
fn never_panics_on_arbitrary_bytes() {
    // A cheap deterministic generator: every length up to 80, many patterns.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..80 {
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            for (family, hdr) in [(Family::V4, true), (Family::V4, false), (Family::V6, false)] {
                let _ = parse_echo_reply(&bytes, family, hdr);
            }
        }
    }
}

const MS: i64 = 1_000_000;

#[test]
fn tracker_rtt_duplicates_late_foreign_and_gap() {
    let mut t = Tracker::default();
    // 10 requests 10 ms apart; replies 1 ms later, except 3..=6 (lost).
    for i in 0..10 {
        assert_eq!(t.sent(i * 10 * MS, i * 10 * MS), i as u64);
    }
    for i in [0, 1, 2, 7, 8, 9] {
        let k = t.reply(i, i as i64 * 10 * MS + MS);
        assert_eq!(k, ReplyKind::Fresh { seq: i, rtt_ns: MS });
    }
    assert_eq!(t.reply(8, 81 * MS + 5), ReplyKind::Duplicate);
    assert_eq!(t.reply(99, 5), ReplyKind::Foreign);
    // Timeout 1 s: at t = 1.035 s requests 0..=3 are due, only 3 pending.
    assert_eq!(t.expire(35 * MS), vec![3]);
    assert!(t.pending());
    assert_eq!(t.expire(1000 * MS), vec![4, 5, 6]);
    assert!(!t.pending());
    assert_eq!(t.reply(5, 1200 * MS), ReplyKind::Late { seq: 5 });
    let g = t.between_replies.unwrap();
    let mid = Gap {
        gap_ns: 50 * MS,
        bound: GapBound::Replies,
        after_seq: Some(2),
        from_ns: 21 * MS,
        before_seq: Some(7),
        to_ns: 71 * MS,
    };
    assert_eq!(g, mid);
    // The edges (1 ms to the first reply, 9 ms from the last to the stop)
    // are shorter: the gap between replies is the longest.
    t.stop_sending(100 * MS);
    assert_eq!(t.longest_gap(), Some(mid));
    let s = t.summary("10.0.0.1".into(), 10 * MS, 2 * MS);
    assert_eq!((s.sent, s.received, s.lost), (10, 6, 4));
    assert_eq!((s.duplicates, s.late, s.foreign), (1, 1, 1));
    assert_eq!(
        (s.rtt_min_us, s.rtt_median_us, s.rtt_max_us),
        (Some(1000), Some(1000), Some(1000))
    );
    assert_eq!(s.mean_interval_us, Some(10_000));
    assert_eq!(s.longest_gap_us, Some(50_000));
    let line = s.line();
    assert!(
        line.starts_with("summary target=10.0.0.1 sent=10 received=6 lost=4 "),
        "{line}"
    );
    assert!(
        line.contains(" longest_gap_us=50000 gap_bound=replies gap_after_seq=2 gap_before_seq=7 "),
        "{line}"
    );
    let j: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(j["longest_gap"]["before_seq"], 7);
    assert_eq!(j["longest_gap"]["bound"], "replies");
    assert_eq!(j["mean_interval_us"], 10_000);
}

#[test]
fn median_of_even_count_and_out_of_order_replies() {
    let mut t = Tracker::default();
    for i in 0..4 {
        t.sent(i * 10 * MS, i * 10 * MS);
    }
    // Reply 1 overtakes reply 0; rtts 14, 1, 2, 8 ms -> median 5 ms.
    t.reply(1, 11 * MS);
    t.reply(0, 14 * MS);
    t.reply(2, 22 * MS);
    t.reply(3, 38 * MS);
    let s = t.summary("x".into(), 10 * MS, 0);
    assert_eq!(s.rtt_median_us, Some(5000));
    assert_eq!((s.rtt_min_us, s.rtt_max_us), (Some(1000), Some(14_000)));
    // Gaps in arrival order: 3, 8, 16 ms.
    let g = t.between_replies.unwrap();
    assert_eq!(
        (g.gap_ns, g.after_seq, g.before_seq),
        (16 * MS, Some(2), Some(3))
    );
    // A realtime clock step back does not make a negative "gap".
    let mut t = Tracker::default();
    t.sent(0, 0);
    t.sent(10 * MS, 10 * MS);
    t.sent(20 * MS, 20 * MS);
    t.reply(0, MS);
    t.reply(1, 11 * MS);
    t.reply(2, 5 * MS);
    assert_eq!(t.between_replies.unwrap().gap_ns, 10 * MS);
}

#[test]
fn timeouts_follow_the_monotonic_clock_not_the_wall_clock() {
    let mut t = Tracker::default();
    // Wall clock stepped: sent "in the future" by wall time, 5 ms by
    // the monotonic clock.
    t.sent(3_000_000 * MS, 5 * MS);
    assert!(t.expire(4 * MS).is_empty());
    assert_eq!(t.oldest_pending(), Some(5 * MS));
    assert_eq!(t.expire(5 * MS), vec![0]);
    assert_eq!(t.oldest_pending(), None);
}

#[test]
fn empty_and_single_runs() {
    let t = Tracker::default();
    let s = t.summary("x".into(), MS, 0);
    assert_eq!((s.sent, s.received, s.mean_interval_us), (0, 0, None));
    assert!(s.line().ends_with("longest_gap_us=-"), "{}", s.line());
    // One request answered: 5 ns from the window's start to its reply.
    let mut t = Tracker::default();
    t.sent(0, 0);
    t.reply(0, 5);
    assert_eq!(t.summary("x".into(), MS, 0).longest_gap_us, Some(0));
    assert_eq!(
        t.longest_gap().map(|g| g.bound),
        Some(GapBound::WindowStart)
    );
}

/// 10 requests 10 ms apart from t = 0, answered 1 ms later where `answered`,
/// sending stopped at 100 ms.
fn run_with_replies(answered: impl Fn(u64) -> bool) -> Tracker {
    let mut t = Tracker::default();
    for i in 0..10 {
        t.sent(i * 10 * MS, i * 10 * MS);
    }
    for i in (0..10u64).filter(|i| answered(*i)) {
        t.reply(i, i as i64 * 10 * MS + MS);
    }
    t.stop_sending(100 * MS);
    t.expire(i64::MAX);
    t
}

#[test]
fn an_outage_that_covers_the_end_of_the_window_counts() {
    // Replies to 0..=3, then nothing until the stop: 31 ms -> 100 ms. Between
    // replies the longest gap is 10 ms (what the summary said before).
    let t = run_with_replies(|i| i <= 3);
    assert_eq!(t.between_replies.unwrap().gap_ns, 10 * MS);
    let s = t.summary("x".into(), 10 * MS, 0);
    assert_eq!((s.received, s.lost), (4, 6));
    assert_eq!(
        s.longest_gap,
        Some(Gap {
            gap_ns: 69 * MS,
            bound: GapBound::WindowEnd,
            after_seq: Some(3),
            from_ns: 31 * MS,
            before_seq: None,
            to_ns: 100 * MS,
        })
    );
    assert_eq!(s.longest_gap_us, Some(69_000));
    let line = s.line();
    assert!(
        line.contains(
            " longest_gap_us=69000 gap_bound=window_end gap_after_seq=3 gap_before_seq=- "
        ),
        "{line}"
    );
    let j: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(j["longest_gap_us"], 69_000);
    assert_eq!(j["longest_gap"]["bound"], "window_end");
    assert_eq!(j["longest_gap"]["before_seq"], serde_json::Value::Null);
    assert_eq!(j["longest_gap"]["to_ns"], 100 * MS);
}

#[test]
fn an_outage_that_covers_the_start_of_the_window_counts() {
    // 0..=5 lost, replies from 6 on: 0 ms (first send) -> 61 ms.
    let t = run_with_replies(|i| i >= 6);
    assert_eq!(t.between_replies.unwrap().gap_ns, 10 * MS);
    let s = t.summary("x".into(), 10 * MS, 0);
    assert_eq!(
        s.longest_gap,
        Some(Gap {
            gap_ns: 61 * MS,
            bound: GapBound::WindowStart,
            after_seq: None,
            from_ns: 0,
            before_seq: Some(6),
            to_ns: 61 * MS,
        })
    );
    let line = s.line();
    assert!(
        line.contains(
            " longest_gap_us=61000 gap_bound=window_start gap_after_seq=- gap_before_seq=6 "
        ),
        "{line}"
    );
    let j: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(j["longest_gap"]["bound"], "window_start");
    assert_eq!(j["longest_gap"]["after_seq"], serde_json::Value::Null);
}

#[test]
fn no_reply_at_all_is_the_whole_window() {
    let t = run_with_replies(|_| false);
    assert_eq!(t.between_replies, None);
    let s = t.summary("x".into(), 10 * MS, 0);
    assert_eq!(s.longest_gap_us, Some(100_000));
    assert_eq!(
        s.longest_gap.map(|g| (g.bound, g.from_ns, g.to_ns)),
        Some((GapBound::WholeWindow, 0, 100 * MS))
    );
    // Without a recorded stop the window ends at the last request sent.
    let mut t = Tracker::default();
    t.sent(0, 0);
    t.sent(10 * MS, 10 * MS);
    assert_eq!(t.longest_gap().map(|g| g.gap_ns), Some(10 * MS));
    // The first stop counts.
    t.stop_sending(15 * MS);
    t.stop_sending(50 * MS);
    assert_eq!(t.longest_gap().map(|g| g.gap_ns), Some(15 * MS));
}

#[test]
fn targets() {
    assert_eq!(
        resolve_target("192.0.2.1").unwrap(),
        "192.0.2.1:0".parse().unwrap()
    );
    assert!(resolve_target("2001:db8::1").unwrap().is_ipv6());
    let lo = resolve_target("fe80::1%lo").unwrap();
    assert!(matches!(lo, SocketAddr::V6(a) if a.scope_id() != 0));
    assert!(resolve_target("fe80::1%no-such-if0").is_err());
    assert!(resolve_target("10.0.0.1%lo").is_err());
}
