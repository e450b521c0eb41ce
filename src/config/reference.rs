//! The reference of the configuration file: every key of every section,
//! its type, its default and its rules, in one table the code owns.
//! vipd.yaml(5) is rendered from it (`crate::assets`), and its tests hold
//! it to the code: every key serde reads in a section must have an entry
//! (and no entry may name a key serde does not read), and every default
//! written here must be what leaving the key out gives. So a key added to
//! a configuration struct without an entry here fails a test instead of
//! going undocumented.

/// One mapping of the file and the keys it takes.
#[derive(Debug)]
pub struct Section {
    /// Where the mapping is, written as a path (`instances[].garp`).
    pub path: &'static str,
    /// What the mapping is for.
    pub about: &'static str,
    pub keys: &'static [Key],
}

/// One key of a section.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    /// The value written, in words (`integer 1-255`, `duration`).
    pub value: &'static str,
    pub default: KeyDefault,
    /// What it does and the rules it must follow (each rule is checked by
    /// `vipctl check` and on load, with the file position of the value).
    pub rules: &'static str,
}

/// What a key is when it is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// It must be written.
    Required,
    /// This YAML value: writing it changes nothing (a test checks it).
    Value(&'static str),
    /// Nothing is configured; the text says what happens then.
    Unset(&'static str),
}

/// The values durations are written in, referred to by the keys.
pub const DURATIONS: &str = "Durations are written as a number and a unit: 100ms, 1s, 1.5s, 2m, 1h, 250us, or a bare number of seconds; at most a year.";

/// Every section, in the order of the page.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "(top level)",
        about: "The file is one mapping. Unknown keys are errors everywhere in the file.",
        keys: &[
            Key {
                name: "router_id",
                value: "string",
                default: KeyDefault::Unset("no name"),
                rules: "Free-form name of this router, shown in logs and vipctl status.",
            },
            Key {
                name: "instances",
                value: "list of instances",
                default: KeyDefault::Required,
                rules: "The VRRP virtual routers of this host (see instances[]). At least one. Across instances: names are unique; a vrid is used once per interface and address family (RFC 5798 5.2.3, 7.3); no two instances use the same VIP device name.",
            },
            Key {
                name: "networkd",
                value: "mapping",
                default: KeyDefault::Value("{}"),
                rules: "systemd-networkd integration (see networkd).",
            },
            Key {
                name: "metrics",
                value: "mapping",
                default: KeyDefault::Unset("no metrics listener"),
                rules: "Prometheus metrics over HTTP (see metrics). Absent: nothing listens.",
            },
            Key {
                name: "script_user",
                value: "user name",
                default: KeyDefault::Unset("vipd-script where that user exists, else nobody"),
                rules: "The user exec trackers and notify hooks run as (never root). A user name: not empty, no '/', ':' or blanks.",
            },
            Key {
                name: "trackers",
                value: "mapping NAME: tracker",
                default: KeyDefault::Value("{}"),
                rules: "Health checks by name, used by the track lists of instances and groups (see trackers.NAME).",
            },
            Key {
                name: "groups",
                value: "mapping NAME: group",
                default: KeyDefault::Value("{}"),
                rules: "Instances that are MASTER together or not at all (see groups.NAME).",
            },
        ],
    },
    Section {
        path: "networkd",
        about: "systemd-networkd integration.",
        keys: &[Key {
            name: "manage_files",
            value: "boolean",
            default: KeyDefault::Value("false"),
            rules: "Write networkd's files for the instances (KeepConfiguration= drop-ins, .netdev files of VIP devices) at start and on reload, as vipctl networkd install does, remove stale ones, and ask networkd to reload. Needs /etc/systemd/network writable.",
        }],
    },
    Section {
        path: "metrics",
        about: "Prometheus metrics (GET /metrics, text format) from the counters vipctl status shows; off when the key is absent. docs/metrics.md lists the series.",
        keys: &[
            Key {
                name: "listen",
                value: "IP:PORT",
                default: KeyDefault::Value("127.0.0.1:9638"),
                rules: "Where the listener binds ([::1]:PORT for IPv6). A non-loopback address is refused unless allow_remote is true. A reload that changes it re-binds before anything else changes; an address that cannot be bound refuses the reload (and the start).",
            },
            Key {
                name: "allow_remote",
                value: "boolean",
                default: KeyDefault::Value("false"),
                rules: "Allow a non-loopback listen address. The metrics are unauthenticated and name every instance and interface: firewall the port.",
            },
        ],
    },
    Section {
        path: "instances[]",
        about: "One VRRP virtual router: its group on the wire (interface, vrid, version), this router's place in it (priority, preempt) and the addresses it moves.",
        keys: &[
            Key {
                name: "name",
                value: "string",
                default: KeyDefault::Required,
                rules: "1-64 characters of letters, digits, '-', '_' or '.'; unique in the file. Shown in logs, status and notify hooks.",
            },
            Key {
                name: "interface",
                value: "interface name",
                default: KeyDefault::Required,
                rules: "Where adverts are sent and received and, unless vip_device or a VIP's dev says otherwise, where the VIPs go. 1-15 characters, no '/', ':' or blanks. An interface absent on this host is a warning of vipctl check, not an error.",
            },
            Key {
                name: "vrid",
                value: "integer 1-255",
                default: KeyDefault::Required,
                rules: "The virtual router ID, the same on every router of the group; unique per interface and address family on this host.",
            },
            Key {
                name: "version",
                value: "2 or 3",
                default: KeyDefault::Value("3"),
                rules: "3: RFC 5798, IPv4 and IPv6. 2: RFC 3768, IPv4 only, whole-second intervals, optional authentication.",
            },
            Key {
                name: "priority",
                value: "integer 1-255",
                default: KeyDefault::Value("100"),
                rules: "Higher wins. 1-254 for backups; 255 only on the router that owns the addresses (it is master at once, always preempts, and takes no tracker weights).",
            },
            Key {
                name: "preempt",
                value: "boolean",
                default: KeyDefault::Value("true"),
                rules: "Take mastership from a master of lower priority. Must be true with priority 255 (RFC 5798 6.4.1) and with initial_state: master.",
            },
            Key {
                name: "preempt_delay",
                value: "duration",
                default: KeyDefault::Value("0s"),
                rules: "Tolerate a lower-priority master this long after first seeing it before preempting.",
            },
            Key {
                name: "advert_interval",
                value: "duration",
                default: KeyDefault::Value("1s"),
                rules: "Time between adverts; a backup takes over after about three intervals of silence. Version 3: a multiple of 10ms from 10ms to 40.95s (RFC 5798 5.2.7). Version 2: whole seconds from 1s to 255s (RFC 3768 5.3.7).",
            },
            Key {
                name: "initial_state",
                value: "backup or master",
                default: KeyDefault::Value("backup"),
                rules: "master skips the initial wait as backup (keepalived's state MASTER); needs preempt: true.",
            },
            Key {
                name: "found_vips",
                value: "keep or remove",
                default: KeyDefault::Value("keep"),
                rules: "What a starting vipd does when it finds all of this instance's VIPs already in place (it was restarted after SIGKILL, the watchdog or the OOM killer): keep resumes as master at once (warm restart); remove removes them and starts as backup.",
            },
            Key {
                name: "auth_type",
                value: "pass or ah",
                default: KeyDefault::Unset("pass when auth_pass is set"),
                rules: "Version 2 only. What auth_pass is for: pass sends it in clear in every advert (RFC 2338 5.3.6.1); ah adds an IPsec AH header with an HMAC-MD5-96 of the advert keyed with it, as keepalived does. Needs auth_pass.",
            },
            Key {
                name: "auth_pass",
                value: "string",
                default: KeyDefault::Unset("no authentication"),
                rules: "Version 2 only. The password, 1-8 ASCII characters, the same on every router of the group (RFC 3768 5.3.10).",
            },
            Key {
                name: "vips",
                value: "list of addresses",
                default: KeyDefault::Required,
                rules: "The virtual addresses, carried in adverts: ADDR[/PREFIX] (default /32 or /128; quote IPv6 addresses) or a mapping (see instances[].vips[]). At least one. Version 2 carries IPv4 only. No address may be listed twice (here or in excluded_vips); no unspecified, multicast or loopback address.",
            },
            Key {
                name: "excluded_vips",
                value: "list of addresses",
                default: KeyDefault::Value("[]"),
                rules: "Addresses moved with the instance but not carried in adverts; written as vips. IPv6 is allowed with version 2.",
            },
            Key {
                name: "unicast",
                value: "mapping",
                default: KeyDefault::Unset("multicast to 224.0.0.18 / ff02::12"),
                rules: "Send adverts to peers instead of the multicast group, and accept adverts only from them (see instances[].unicast).",
            },
            Key {
                name: "garp",
                value: "mapping",
                default: KeyDefault::Value("{}"),
                rules: "Gratuitous ARPs and unsolicited neighbour advertisements on becoming master (see instances[].garp).",
            },
            Key {
                name: "vip_device",
                value: "mapping",
                default: KeyDefault::Unset("the VIPs go on interface"),
                rules: "Put the VIPs on a device vipd creates on interface (see instances[].vip_device).",
            },
            Key {
                name: "track",
                value: "list of tracker uses",
                default: KeyDefault::Value("[]"),
                rules: "Trackers this instance follows: a tracker name, or a mapping (see track[]). Each must name a tracker of the trackers section. With priority 255 only uses without weight (FAULT) are allowed.",
            },
            Key {
                name: "notify",
                value: "mapping",
                default: KeyDefault::Value("{}"),
                rules: "Commands run when the instance changes state (see notify).",
            },
            Key {
                name: "units",
                value: "list of unit names",
                default: KeyDefault::Value("[]"),
                rules: "systemd units started on becoming MASTER and stopped on leaving it; each NAME.TYPE (e.g. haproxy.service), no '/' or blanks.",
            },
            Key {
                name: "v3_ipv4_checksum",
                value: "pseudo_header, message_only or group_pseudo_header",
                default: KeyDefault::Value("pseudo_header"),
                rules: "Version 3 only: the checksum form of adverts over IPv4. pseudo_header is RFC 5798 5.2.8 as keepalived, FRR and Wireshark read it; message_only is keepalived's v3_checksum_as_v2 and FRR's no checksum-with-ipv4-pseudoheader; group_pseudo_header is keepalived's old_unicast_checksum.",
            },
            Key {
                name: "v3_ipv4_checksum_accept",
                value: "sent or any",
                default: KeyDefault::Value("sent"),
                rules: "Version 3 only: the forms accepted on receive. sent: only the form sent (others are counted as bad_checksum); any: all three, for migrations.",
            },
            Key {
                name: "dscp",
                value: "integer 0-63",
                default: KeyDefault::Value("48"),
                rules: "DSCP of the adverts (48 is CS6, network control; the TOS / traffic class octet is the value times 4).",
            },
            Key {
                name: "lower_priority_master",
                value: "reassert or ignore",
                default: KeyDefault::Value("reassert"),
                rules: "A master hearing another master it outranks: reassert advertises at once and announces its VIPs again (as keepalived does); ignore discards the advert (RFC 5798 6.4.3). Both count it as dual_master.",
            },
        ],
    },
    Section {
        path: "instances[].vips[]",
        about: "A VIP written as a mapping instead of ADDR[/PREFIX], for an address on another device or with a label.",
        keys: &[
            Key {
                name: "address",
                value: "ADDR[/PREFIX]",
                default: KeyDefault::Required,
                rules: "The address and prefix, as in the short form.",
            },
            Key {
                name: "dev",
                value: "interface name",
                default: KeyDefault::Unset("the VIP device, else interface"),
                rules: "The device to put this address on.",
            },
            Key {
                name: "label",
                value: "string",
                default: KeyDefault::Unset("no label"),
                rules: "IPv4 only; at most 15 characters; must be the device name or start with the device name and ':' (as ip addr add ... label requires).",
            },
        ],
    },
    Section {
        path: "instances[].unicast",
        about: "Unicast transport, for networks without multicast (clouds). Unicast adverts may have crossed routers, so their TTL is not checked.",
        keys: &[
            Key {
                name: "sources",
                value: "list of addresses",
                default: KeyDefault::Unset("the interface's first address of each family"),
                rules: "This router's source address, at most one per family.",
            },
            Key {
                name: "peers",
                value: "list of addresses",
                default: KeyDefault::Required,
                rules: "The other routers of the group; not empty; unicast addresses; each of a family the instance has VIPs of, and each VIP family needs a peer.",
            },
        ],
    },
    Section {
        path: "instances[].garp",
        about: "Announcements of the VIPs on becoming master (RFC 5798 6.4.2): gratuitous ARP for IPv4, unsolicited neighbour advertisements for IPv6.",
        keys: &[
            Key {
                name: "repeat",
                value: "integer",
                default: KeyDefault::Value("5"),
                rules: "Announcements per VIP in the first burst.",
            },
            Key {
                name: "interval",
                value: "duration",
                default: KeyDefault::Value("0s"),
                rules: "Gap between two announcements of a burst (0: back to back).",
            },
            Key {
                name: "second_burst_after",
                value: "duration",
                default: KeyDefault::Value("5s"),
                rules: "A second burst this long after becoming master, for switches still converging during the first (0: none).",
            },
            Key {
                name: "refresh",
                value: "duration",
                default: KeyDefault::Value("0s"),
                rules: "Announce again periodically while master (0: never).",
            },
        ],
    },
    Section {
        path: "instances[].vip_device",
        about: "A device vipd creates on interface to carry the VIPs (keepalived's use_vmac and use_ipvlan), removed when the instance stops.",
        keys: &[
            Key {
                name: "kind",
                value: "macvlan or ipvlan",
                default: KeyDefault::Required,
                rules: "macvlan: a MACVLAN with the virtual MAC 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for IPv6-only instances, RFC 5798 7.3). ipvlan: an IPVLAN in L2 mode sharing the parent's MAC (needs kernel IPVLAN support).",
            },
            Key {
                name: "name",
                value: "interface name",
                default: KeyDefault::Unset("vrrp.VRID (macvlan) or vipd.VRID (ipvlan)"),
                rules: "The device's name; must differ from interface and be unique among the instances.",
            },
        ],
    },
    Section {
        path: "instances[].track[], groups.NAME.track[]",
        about: "A use of a tracker: its name alone, or a mapping giving this use its own weight.",
        keys: &[
            Key {
                name: "tracker",
                value: "string",
                default: KeyDefault::Required,
                rules: "The tracker's name in the trackers section.",
            },
            Key {
                name: "weight",
                value: "integer -254..254",
                default: KeyDefault::Unset("the tracker's weight"),
                rules: "Overrides the tracker's weight for this use; 0 means no weight: the instance is in FAULT while the tracker is down. In a group a tracker has one weight for every member.",
            },
        ],
    },
    Section {
        path: "instances[].notify, groups.NAME.notify",
        about: "Commands run on state changes: an argv list, or one string split at blanks (no shell; write [/bin/sh, -c, LINE] for one). The program is an absolute path (no PATH lookup). Run as script_user with the event in VIPD_* environment variables, one at a time per instance or group in event order.",
        keys: &[
            Key {
                name: "master",
                value: "command",
                default: KeyDefault::Unset("nothing run"),
                rules: "Run on becoming MASTER.",
            },
            Key {
                name: "backup",
                value: "command",
                default: KeyDefault::Unset("nothing run"),
                rules: "Run on becoming BACKUP.",
            },
            Key {
                name: "fault",
                value: "command",
                default: KeyDefault::Unset("nothing run"),
                rules: "Run on entering FAULT.",
            },
            Key {
                name: "stop",
                value: "command",
                default: KeyDefault::Unset("nothing run"),
                rules: "Run when the instance stops (shutdown, or removed by a reload).",
            },
            Key {
                name: "any",
                value: "command",
                default: KeyDefault::Unset("nothing run"),
                rules: "Run on every transition, after the specific one.",
            },
            Key {
                name: "timeout",
                value: "duration",
                default: KeyDefault::Value("10s"),
                rules: "A command still running after this is killed with its process group.",
            },
        ],
    },
    Section {
        path: "trackers.NAME",
        about: "A health check. Exactly one of exec, unit, process, file, interface or tcp says what it watches. Every tracker reports at each interval; unit, process, file and interface trackers also report at once when what they watch changes. A weighted tracker moves the priority (a positive weight is added while it is up, a negative one while it is down, as keepalived does); one without weight puts the instance in FAULT while it is down.",
        keys: &[
            Key {
                name: "exec",
                value: "command",
                default: KeyDefault::Unset("not an exec tracker"),
                rules: "Runs a command as script_user: good on exit 0 within timeout. An argv list or a string split at blanks, the program an absolute path; with shell: true one string given to /bin/sh -c. The script and every directory above it must be writable by root only.",
            },
            Key {
                name: "shell",
                value: "boolean",
                default: KeyDefault::Value("false"),
                rules: "exec is a shell line (one string). exec trackers only.",
            },
            Key {
                name: "unit",
                value: "unit name",
                default: KeyDefault::Unset("not a unit tracker"),
                rules: "Good while this systemd unit is active (its ActiveState over D-Bus). NAME.TYPE, e.g. haproxy.service.",
            },
            Key {
                name: "process",
                value: "process name or mapping",
                default: KeyDefault::Unset("not a process tracker"),
                rules: "Good while a process of this name runs (as pidof matches it, no '/'); or a mapping (see trackers.NAME.process).",
            },
            Key {
                name: "file",
                value: "absolute path",
                default: KeyDefault::Unset("not a file tracker"),
                rules: "Weighs: the number in the file times weight (default 1) is added to the priority (keepalived's track_file); watched with inotify. Takes no init.",
            },
            Key {
                name: "interface",
                value: "interface name",
                default: KeyDefault::Unset("not an interface tracker"),
                rules: "Good while this interface is up with carrier.",
            },
            Key {
                name: "tcp",
                value: "ADDR:PORT",
                default: KeyDefault::Unset("not a tcp tracker"),
                rules: "Good when a TCP connect succeeds within timeout: e.g. \"127.0.0.1:80\" or \"[::1]:80\"; port not 0.",
            },
            Key {
                name: "interval",
                value: "duration",
                default: KeyDefault::Value("1s"),
                rules: "How often the tracker reports; 10ms to 1h.",
            },
            Key {
                name: "timeout",
                value: "duration",
                default: KeyDefault::Unset("the interval"),
                rules: "exec and tcp trackers only: how long a check may take; not 0.",
            },
            Key {
                name: "on_timeout",
                value: "failure or success",
                default: KeyDefault::Value("failure"),
                rules: "exec and tcp trackers only: what a check that timed out counts as.",
            },
            Key {
                name: "rise",
                value: "integer 1-1000",
                default: KeyDefault::Value("1"),
                rules: "Good results in a row needed to come up.",
            },
            Key {
                name: "fall",
                value: "integer 1-1000",
                default: KeyDefault::Value("1"),
                rules: "Bad results in a row needed to go down.",
            },
            Key {
                name: "weight",
                value: "integer -254..254",
                default: KeyDefault::Unset("no weight: FAULT while down (file trackers: 1)"),
                rules: "The weight of every use that gives none; for a file tracker the multiplier.",
            },
            Key {
                name: "init",
                value: "up or down",
                default: KeyDefault::Value("up"),
                rules: "The state before the first result (down is keepalived's init_fail). Not for file trackers.",
            },
        ],
    },
    Section {
        path: "trackers.NAME.process",
        about: "A process tracker written as a mapping.",
        keys: &[
            Key {
                name: "name",
                value: "process name",
                default: KeyDefault::Unset("match by pidfile"),
                rules: "The process name as pidof matches it (no '/'). Give name or pidfile, not both.",
            },
            Key {
                name: "pidfile",
                value: "absolute path",
                default: KeyDefault::Unset("match by name"),
                rules: "The process whose PID is in this file.",
            },
            Key {
                name: "min_count",
                value: "integer",
                default: KeyDefault::Value("1"),
                rules: "Good while at least this many processes match; not 0, and not with absent.",
            },
            Key {
                name: "absent",
                value: "boolean",
                default: KeyDefault::Value("false"),
                rules: "Good while no process matches (a process that must not run).",
            },
        ],
    },
    Section {
        path: "groups.NAME",
        about: "Instances that are MASTER together or not at all (keepalived's vrrp_sync_group): every tracker of the group or of a member counts once for every member, and a member whose link goes down takes the group into FAULT.",
        keys: &[
            Key {
                name: "instances",
                value: "list of instance names",
                default: KeyDefault::Required,
                rules: "The members: not empty, each an instance of the file, each in one group at most; members have the same priority, preempt and preempt_delay.",
            },
            Key {
                name: "track",
                value: "list of tracker uses",
                default: KeyDefault::Value("[]"),
                rules: "Trackers the whole group follows (see track[]); a tracker has one weight in a group.",
            },
            Key {
                name: "notify",
                value: "mapping",
                default: KeyDefault::Value("{}"),
                rules: "Commands run when the group changes state (see notify).",
            },
            Key {
                name: "units",
                value: "list of unit names",
                default: KeyDefault::Value("[]"),
                rules: "systemd units started when the group becomes MASTER and stopped when it leaves it.",
            },
        ],
    },
];

/// A full example: every section, most keys (a test parses it).
pub const EXAMPLE: &str = r#"router_id: lb1
script_user: vipd-script
networkd:
  manage_files: true
metrics:
  listen: 127.0.0.1:9638
trackers:
  haproxy: {process: haproxy, weight: -60}
  port80:  {tcp: "127.0.0.1:80", timeout: 500ms, fall: 2}
  check:   {exec: [/usr/local/bin/check, --fast], interval: 2s, rise: 2}
  legacy:  {exec: "pidof haproxy >/dev/null", shell: true, on_timeout: success}
  svc:     {unit: haproxy.service, init: down}
  bonus:   {file: /run/vipd/weight, weight: 2}
  uplink:  {interface: eth1, weight: -20}
  pid:     {process: {pidfile: /run/haproxy.pid, min_count: 1}}
instances:
  - name: web4
    interface: eth0
    vrid: 51
    priority: 150
    preempt: true
    preempt_delay: 0s
    advert_interval: 100ms
    initial_state: backup
    found_vips: keep
    vips:
      - 192.0.2.10/24
      - {address: 192.0.2.11/24, dev: eth0, label: "eth0:web"}
    excluded_vips: [198.51.100.20/32]
    garp: {repeat: 5, interval: 0s, second_burst_after: 5s, refresh: 0s}
    track: [haproxy, {tracker: uplink, weight: -30}]
    notify:
      master: [/usr/local/bin/notify, master]
      backup: /usr/local/bin/notify backup
      fault: [/usr/local/bin/notify, fault]
      stop: [/usr/local/bin/notify, stop]
      any: [/bin/sh, -c, "logger vipd: $VIPD_STATE"]
      timeout: 10s
    units: [haproxy.service]
    dscp: 48
    v3_ipv4_checksum: pseudo_header
    v3_ipv4_checksum_accept: sent
    lower_priority_master: reassert
  - name: web6
    interface: eth0
    vrid: 52
    priority: 150
    vips: ["2001:db8::10/64"]
  - name: db
    interface: eth1
    vrid: 52
    version: 2
    priority: 100
    advert_interval: 1s
    auth_type: ah
    auth_pass: "s3cret"
    unicast:
      sources: [198.51.100.2]
      peers: [198.51.100.3]
    vip_device: {kind: macvlan, name: vrrp.52}
    vips: [198.51.100.10/24]
groups:
  lb:
    instances: [web4, web6]
    track: [svc]
    notify: {master: [/usr/local/bin/notify, group, master]}
    units: [haproxy-extra.service]
"#;

#[cfg(test)]
mod tests {
    //! The table held to the code: the keys serde reads, the defaults the
    //! parser fills in, the example, and the rendered page.

    use std::cell::Cell;
    use std::path::Path;

    use serde::de::{self, Deserialize, Deserializer, Visitor};

    use super::{KeyDefault, SECTIONS, Section};
    use crate::config::health::TrackUseMap;
    use crate::config::types::VIP_KEYS;
    use crate::config::{
        Config, GarpConfig, GroupConfig, InstanceConfig, MetricsConfig, NetworkdConfig,
        NotifyConfig, ProcessMatch, TrackerConfig, UnicastConfig, VipDevice,
    };

    /// A deserializer that answers nothing but records the key list a
    /// derived struct hands to `deserialize_struct`: serde's own list of
    /// the keys it reads (`deny_unknown_fields` refuses every other).
    struct KeyRecorder<'a>(&'a Cell<Option<&'static [&'static str]>>);

    impl<'de> Deserializer<'de> for KeyRecorder<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(Some(fields));
            Err(de::Error::custom("recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    /// The keys serde reads for `T` (through `try_from` and hand-written
    /// impls that delegate to a derived struct).
    fn keys_of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        let seen = Cell::new(None);
        let _ = T::deserialize(KeyRecorder(&seen));
        seen.get()
            .unwrap_or_else(|| panic!("{} reads no struct", std::any::type_name::<T>()))
            .to_vec()
    }

    /// The keys the code reads in each section of the table.
    fn code_keys(path: &str) -> Vec<&'static str> {
        match path {
            "(top level)" => keys_of::<Config>(),
            "networkd" => keys_of::<NetworkdConfig>(),
            "metrics" => keys_of::<MetricsConfig>(),
            "instances[]" => keys_of::<InstanceConfig>(),
            "instances[].vips[]" => VIP_KEYS.to_vec(),
            "instances[].unicast" => keys_of::<UnicastConfig>(),
            "instances[].garp" => keys_of::<GarpConfig>(),
            "instances[].vip_device" => keys_of::<VipDevice>(),
            "instances[].track[], groups.NAME.track[]" => keys_of::<TrackUseMap>(),
            "instances[].notify, groups.NAME.notify" => keys_of::<NotifyConfig>(),
            "trackers.NAME" => keys_of::<TrackerConfig>(),
            "trackers.NAME.process" => keys_of::<ProcessMatch>(),
            "groups.NAME" => keys_of::<GroupConfig>(),
            other => panic!("section {other:?}: say here which type reads its keys"),
        }
    }

    fn documented(s: &Section) -> Vec<&'static str> {
        s.keys.iter().map(|k| k.name).collect()
    }

    #[test]
    fn every_key_the_code_reads_is_documented_and_no_other() {
        let mut checked = 0;
        for s in SECTIONS {
            let mut code = code_keys(s.path);
            let mut doc = documented(s);
            code.sort_unstable();
            doc.sort_unstable();
            let missing: Vec<_> = code.iter().filter(|k| !doc.contains(k)).collect();
            let extra: Vec<_> = doc.iter().filter(|k| !code.contains(k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "section {}: keys read but not documented in src/config/reference.rs: {missing:?}; documented but not read: {extra:?}",
                s.path
            );
            checked += code.len();
        }
        // Every struct of the file is a section (a count that grows only).
        assert!(checked >= 70, "{checked} keys");
    }

    /// The recorder itself can fail: a key list it did not get is noticed.
    #[test]
    fn the_recorder_sees_a_new_key() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Grown {
            repeat: u32,
            new_key: u32,
        }
        assert_eq!(keys_of::<Grown>(), ["repeat", "new_key"]);
        assert_ne!(keys_of::<Grown>(), keys_of::<GarpConfig>());
    }

    /// A minimal file with a key written into one mapping of `path`:
    /// (text before, separator, text after).
    fn context(path: &str) -> Option<(&'static str, &'static str, &'static str)> {
        const I: &str = "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]";
        Some(match path {
            "(top level)" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}]",
                "\n",
                "",
            ),
            "networkd" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}]\nnetworkd: {",
                "",
                "}",
            ),
            "metrics" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}]\nmetrics: {",
                "",
                "}",
            ),
            "instances[]" => (I, ", ", "}]"),
            "instances[].garp" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24], garp: {",
                "",
                "}}]",
            ),
            "instances[].notify, groups.NAME.notify" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24], notify: {",
                "",
                "}}]",
            ),
            "trackers.NAME" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24], track: [t]}]\ntrackers: {t: {tcp: \"127.0.0.1:80\"",
                ", ",
                "}}",
            ),
            "trackers.NAME.process" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24], track: [t]}]\ntrackers: {t: {process: {name: x",
                ", ",
                "}}}",
            ),
            "groups.NAME" => (
                "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}]\ngroups: {g: {instances: [a]",
                ", ",
                "}}",
            ),
            _ => return None,
        })
    }

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{text}\n{e}"))
    }

    /// Each default in the table is what leaving the key out gives: the
    /// file with `KEY: DEFAULT` written parses to the file without it.
    #[test]
    fn documented_defaults_are_the_defaults() {
        let mut checked = 0;
        for s in SECTIONS {
            for k in s.keys {
                let KeyDefault::Value(v) = k.default else {
                    continue;
                };
                let (before, sep, after) = context(s.path).unwrap_or_else(|| {
                    panic!("section {}: give it a context in this test", s.path)
                });
                let without = parse(&format!("{before}{after}"));
                let with = parse(&format!("{before}{sep}{}: {v}{after}", k.name));
                assert_eq!(
                    with, without,
                    "{}.{}: the documented default {v} is not the default",
                    s.path, k.name
                );
                checked += 1;
            }
        }
        assert!(checked >= 30, "{checked}");
    }

    /// The check above can fail: a wrong default is caught.
    #[test]
    fn a_wrong_default_is_caught() {
        let (before, sep, after) = context("instances[]").unwrap();
        let without = parse(&format!("{before}{after}"));
        let with = parse(&format!("{before}{sep}priority: 101{after}"));
        assert_ne!(with, without);
    }

    #[test]
    fn the_example_loads_and_the_page_names_every_key() {
        parse(super::EXAMPLE);
        let page = crate::assets::config_page();
        for s in SECTIONS {
            let start = page
                .find(&format!(".SS {}\n", crate::assets::escape(s.path)))
                .unwrap_or_else(|| panic!("no section {}", s.path));
            let rest = &page[start + 4..];
            let section = &rest[..rest.find("\n.S").unwrap_or(rest.len())];
            // The keys as the code reads them, not as the table lists them.
            for k in code_keys(s.path) {
                let tag = format!(".TP\n\\fB{}\\fR", crate::assets::escape(k));
                assert!(section.contains(&tag), "{}: no {tag:?}", s.path);
            }
        }
    }
}
