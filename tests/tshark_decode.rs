//! An independent dissector reads what vipd sends: `tshark -V` on a capture
//! of each advert kind (VRRPv2 with a PASS password, VRRPv3 over IPv4 with
//! the RFC 5798 pseudo-header checksum and with the message-only one,
//! VRRPv3 over IPv6), gratuitous ARP and unsolicited NA, finds no malformed
//! packet and verifies every checksum, each in the form the peer expects
//! (the message-only form with Wireshark's `vrrp.v3_checksum_as_in_v2`
//! preference, as an operator reading such a group would set it). Run as
//! root; fails naming the package when tshark is missing.

mod lab;

use lab::Lab;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn tshark_missing() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
}

/// `tshark -r PCAP -o vrrp.v3_checksum_as_in_v2:PREF ARGS...`, stdout.
fn tshark(pcap: &Path, as_v2: bool, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            &format!(
                "vrrp.v3_checksum_as_in_v2:{}",
                if as_v2 { "TRUE" } else { "FALSE" }
            ),
        ])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line per packet: protocol column, VRRP version, VRID, VRRP checksum
/// status, ICMPv6 type and checksum status, gratuitous ARP flag, malformed.
fn fields(pcap: &Path, as_v2: bool, filter: &str) -> Vec<Vec<String>> {
    tshark(
        pcap,
        as_v2,
        &[
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "_ws.col.Protocol",
            "-e",
            "vrrp.version",
            "-e",
            "vrrp.virt_rtr_id",
            "-e",
            "vrrp.checksum.status",
            "-e",
            "icmpv6.type",
            "-e",
            "icmpv6.checksum.status",
            "-e",
            "arp.isgratuitous",
            "-e",
            "_ws.malformed",
        ],
    )
    .lines()
    .map(|l| l.split('|').map(str::to_owned).collect())
    .collect()
}

/// The verbose decode holds no malformed packet and no failed checksum.
fn assert_clean_verbose(pcap: &Path, as_v2: bool, filter: &str, what: &str) -> String {
    let v = tshark(pcap, as_v2, &["-V", "-Y", filter]);
    assert!(!v.trim().is_empty(), "{what}: nothing decoded");
    for bad in [
        "Malformed",
        "Checksum Status: Bad",
        "incorrect",
        "[Expert Info (Error",
    ] {
        assert!(
            !v.contains(bad),
            "{what}: tshark -V says {bad:?}:\n{}",
            v.lines()
                .filter(|l| l.contains(bad))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    v
}

#[test]
fn tshark_reads_every_packet_vipd_sends() {
    assert!(
        !tshark_missing(),
        "tshark is not installed (Debian package tshark; .ci/install-deps test installs it): no independent decoder"
    );
    let lab = Lab::new("tshark_decode");
    let r1 = lab.add_host("r1", &["10.9.71.1/24", "fd00:9:71::1/64"]);
    let cap = lab.capture("");
    let yaml = "instances:\n  - name: v2pass\n    interface: eth0\n    vrid: 71\n    version: 2\n    auth_pass: s3cret\n    priority: 200\n    advert_interval: 1s\n    vips: [\"10.9.71.71/24\"]\n  - name: v3rfc\n    interface: eth0\n    vrid: 72\n    priority: 200\n    advert_interval: 100ms\n    vips: [\"10.9.71.72/24\"]\n  - name: v3msg\n    interface: eth0\n    vrid: 73\n    priority: 200\n    advert_interval: 100ms\n    v3_ipv4_checksum: message_only\n    vips: [\"10.9.71.73/24\"]\n  - name: v3v6\n    interface: eth0\n    vrid: 74\n    priority: 200\n    advert_interval: 100ms\n    vips: [\"fd00:9:71::74/64\"]\n";
    let vipd = r1.start_vipd(yaml);
    for name in ["v3rfc", "v3msg", "v3v6"] {
        vipd.expect_state(name, "MASTER", Duration::from_secs(3));
    }
    vipd.expect_state("v2pass", "MASTER", Duration::from_secs(6));
    std::thread::sleep(Duration::from_millis(1500));
    // Priority 0 adverts too.
    vipd.proc.stop();
    std::thread::sleep(Duration::from_millis(300));
    let pcap = cap.path().to_path_buf();
    cap.stop();

    // Every advert kind, decoded with the preference each peer implies.
    let rfc = "vrrp && vrrp.virt_rtr_id != 73";
    let msg = "vrrp && vrrp.virt_rtr_id == 73";
    assert_clean_verbose(&pcap, false, rfc, "v2 PASS, v3 IPv4 RFC form, v3 IPv6");
    let v = assert_clean_verbose(&pcap, true, msg, "v3 IPv4 message-only form");
    assert!(v.contains("Checksum Status: Good"), "verified, not skipped");
    let v2 = tshark(&pcap, false, &["-V", "-Y", "vrrp.virt_rtr_id == 71"]);
    assert!(v2.contains("Simple Text Authentication"), "v2 PASS decoded");
    assert!(v2.contains("s3cret"), "the password as sent");

    let mut kinds = [0usize; 4]; // v2, v3 rfc, v3 msg, v3 v6
    for (pref, filter) in [(false, rfc), (true, msg)] {
        for f in fields(&pcap, pref, filter) {
            assert_eq!(f[3], "1", "checksum good (1): {f:?}");
            assert!(f[7].is_empty(), "not malformed: {f:?}");
            match (f[1].as_str(), f[2].as_str()) {
                ("2", "71") => kinds[0] += 1,
                ("3", "72") => kinds[1] += 1,
                ("3", "73") => kinds[2] += 1,
                ("3", "74") => kinds[3] += 1,
                other => panic!("unexpected advert {other:?}"),
            }
        }
    }
    assert!(
        kinds.iter().all(|n| *n > 0),
        "each kind captured: {kinds:?}"
    );

    // The control: read without the preference, the message-only form is
    // flagged, so the checks above can fail.
    let unset = fields(&pcap, false, msg);
    assert!(
        !unset.is_empty() && unset.iter().all(|f| f[3] == "0"),
        "message-only sums are bad (0) for an RFC 5798 reader: {unset:?}"
    );

    // Gratuitous ARP and unsolicited NA.
    let garp = "arp.isgratuitous == 1";
    let na = "icmpv6.type == 136 && ipv6.dst == ff02::1";
    assert_clean_verbose(&pcap, false, garp, "gratuitous ARP");
    let arps = fields(&pcap, false, garp);
    assert!(arps.len() >= 3, "GARPs for the IPv4 VIPs: {arps:?}");
    assert_clean_verbose(&pcap, false, na, "unsolicited NA");
    let nas = fields(&pcap, false, na);
    assert!(!nas.is_empty(), "an unsolicited NA");
    assert!(
        nas.iter().all(|f| f[5] == "1" && f[7].is_empty()),
        "NA checksums good: {nas:?}"
    );
    eprintln!(
        "tshark decoded cleanly: {} v2 PASS, {} v3 IPv4 RFC, {} v3 IPv4 message-only, {} v3 IPv6 adverts, {} GARPs, {} NAs",
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        arps.len(),
        nas.len()
    );
}
