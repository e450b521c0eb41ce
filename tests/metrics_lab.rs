//! The Prometheus listener in network-namespace labs: scraped with curl
//! (an independent HTTP client) during a failover and read with a
//! Prometheus text-format parser (`prometheus-parse`, not the crate that
//! encodes); absent when `metrics:` is; re-bound and closed by reloads;
//! a taken address stops the start.
//! `vipctl status --json` of the running daemons is checked against
//! docs/status.schema.json. Run as root.

mod lab;

use lab::Lab;
use lab::vipd::Vipd;
use std::collections::HashMap;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn config(priority: u8, metrics: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [10.9.0.100/24]\n{metrics}"
    )
}

const METRICS: &str = "metrics:\n  listen: 127.0.0.1:9638\n";

/// One scrape: the Content-Type and the parsed samples.
struct Scrape {
    content_type: String,
    samples: Vec<prometheus_parse::Sample>,
}

/// GET http://ADDR/metrics from inside the daemon's namespace with curl;
/// None when nothing answers.
fn scrape(v: &Vipd, addr: &str) -> Option<Scrape> {
    let url = format!("http://{addr}/metrics");
    let out = v.host.exec(&[
        "curl",
        "-sS",
        "--fail",
        "--max-time",
        "3",
        "-w",
        "\n%{content_type}",
        &url,
    ]);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).expect("UTF-8 metrics");
    let (body, content_type) = text.rsplit_once('\n').expect("curl's -w line");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics ends with # EOF:\n{body}"
    );
    Some(Scrape {
        content_type: content_type.to_string(),
        samples: parsed.samples,
    })
}

impl Scrape {
    /// The value of the one sample of `metric` whose labels include
    /// `labels` (panics when there is not exactly one).
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{metric}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric}{labels:?}: {found:?}");
        found[0]
    }

    fn state(&self, state: &str) -> f64 {
        self.value(
            "vipd_instance_state",
            &[("vrrp_instance", "web"), ("state", state)],
        )
    }

    fn web(&self, metric: &str) -> f64 {
        self.value(metric, &[("vrrp_instance", "web")])
    }

    fn labels_of_web(&self) -> HashMap<String, String> {
        let s = self
            .samples
            .iter()
            .find(|s| s.metric == "vipd_instance_priority")
            .expect("vipd_instance_priority");
        ["vrrp_instance", "interface", "vrid", "family"]
            .iter()
            .map(|k| (k.to_string(), s.labels.get(k).unwrap_or("").to_string()))
            .collect()
    }
}

/// Every error of `value` against docs/status.schema.json.
fn schema_errors(value: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../docs/status.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// TCP sockets listening in the host's namespace (`ss -Htln`): local
/// addresses.
fn listening(v: &Vipd) -> Vec<String> {
    v.host
        .exec_ok(&["ss", "-Htln"])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

#[test]
fn metrics_follow_a_failover() {
    let lab = Lab::new("metrics_failover");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.0.2/24"]);
    let a = r1.start_vipd(&config(150, METRICS));
    let b = r2.start_vipd(&config(100, METRICS));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);

    // The real daemons' status answers are what the schema says.
    for v in [&a, &b] {
        let st = v.status();
        assert_eq!(st["schema_version"], 1);
        assert_eq!(schema_errors(&st), Vec::<String>::new(), "{st:#}");
    }

    let s1 = scrape(&a, "127.0.0.1:9638").expect("r1 serves metrics");
    let s2 = scrape(&b, "127.0.0.1:9638").expect("r2 serves metrics");
    assert!(
        s1.content_type.starts_with("application/openmetrics-text"),
        "{}",
        s1.content_type
    );
    let want: HashMap<String, String> = [
        ("vrrp_instance", "web"),
        ("interface", "eth0"),
        ("vrid", "51"),
        ("family", "ipv4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(s1.labels_of_web(), want);
    assert_eq!((s1.state("MASTER"), s1.state("BACKUP")), (1.0, 0.0));
    assert_eq!((s2.state("MASTER"), s2.state("BACKUP")), (0.0, 1.0));
    assert_eq!(s1.web("vipd_instance_priority"), 150.0);
    assert_eq!(s2.web("vipd_instance_effective_priority"), 100.0);
    assert_eq!(s2.web("vipd_instance_master_priority"), 150.0);
    assert_eq!(s1.web("vipd_instance_became_master_total"), 1.0);
    assert_eq!(s2.web("vipd_instance_became_master_total"), 0.0);
    assert!(s1.web("vipd_instance_adverts_sent_total") > 0.0);
    assert!(s2.web("vipd_instance_adverts_received_total") > 0.0);
    assert_eq!(s1.web("vipd_instance_vips_present"), 1.0);
    assert_eq!(s2.web("vipd_instance_vips_present"), 0.0);
    // The scrape and vipctl status count the same thing.
    let sent_before = s1.web("vipd_instance_adverts_sent_total");
    let sent_status = a.instance("web")["adverts_sent"].as_f64().unwrap();
    assert!(
        sent_status >= sent_before && sent_status < sent_before + 30.0,
        "status {sent_status}, scrape {sent_before}"
    );

    // Cut the master's cable, and scrape the backup while it takes over.
    let cut_at = lab::now_epoch().as_secs_f64();
    r1.link_down();
    let mut scrapes = 0;
    let mut seen_master = None;
    let deadline = std::time::Instant::now() + 3 * SEC;
    while std::time::Instant::now() < deadline {
        let s = scrape(&b, "127.0.0.1:9638").expect("r2 serves metrics during the failover");
        scrapes += 1;
        if s.state("MASTER") == 1.0 {
            seen_master = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let s2 = seen_master.unwrap_or_else(|| {
        panic!(
            "r2's metrics never said MASTER in 3 s ({scrapes} scrapes)\n{}",
            b.proc.log_tail(30)
        )
    });
    println!("r2's scrape said MASTER after {scrapes} scrapes");
    assert_eq!(s2.state("BACKUP"), 0.0);
    assert_eq!(s2.web("vipd_instance_became_master_total"), 1.0);
    let t = s2.web("vipd_instance_last_transition_timestamp_seconds");
    assert!(
        t >= cut_at - 0.5 && t <= lab::now_epoch().as_secs_f64() + 0.5,
        "last transition {t}, cable cut at {cut_at}"
    );
    // As master it now sends; the counter moves between scrapes.
    let sent = s2.web("vipd_instance_adverts_sent_total");
    assert!(lab::wait_until(2 * SEC, Duration::from_millis(50), || {
        scrape(&b, "127.0.0.1:9638")
            .is_some_and(|s| s.web("vipd_instance_adverts_sent_total") > sent)
    }));
    // The old master, cut off, says FAULT.
    assert!(lab::wait_until(2 * SEC, Duration::from_millis(50), || {
        scrape(&a, "127.0.0.1:9638").is_some_and(|s| s.state("FAULT") == 1.0)
    }));
    let s1 = scrape(&a, "127.0.0.1:9638").unwrap();
    assert_eq!(s1.state("MASTER"), 0.0);
    assert_eq!(s1.web("vipd_instance_vips_present"), 0.0);

    // Back: preemption returns mastership, and both counters say so.
    r1.link_up();
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    let s1 = scrape(&a, "127.0.0.1:9638").unwrap();
    assert_eq!(s1.web("vipd_instance_became_master_total"), 2.0);
    assert_eq!(s1.state("MASTER"), 1.0);
    for v in [&a, &b] {
        assert_eq!(schema_errors(&v.status()), Vec::<String>::new());
    }
}

#[test]
fn without_the_metrics_key_nothing_listens() {
    let lab = Lab::new("metrics_absent");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.0.2/24"]);
    let off = r1.start_vipd(&config(150, ""));
    let on = r2.start_vipd(&config(100, METRICS));
    off.expect_state("web", "MASTER", 3 * SEC);
    on.expect_state("web", "BACKUP", 3 * SEC);
    // The same check finds the listener where one is configured (so it
    // can fail), bound to loopback only.
    assert_eq!(listening(&on), vec!["127.0.0.1:9638".to_string()]);
    assert_eq!(listening(&off), Vec::<String>::new());
    assert!(scrape(&off, "127.0.0.1:9638").is_none());
    assert!(!off.proc.log().contains("serving metrics"));
}

#[test]
fn reload_rebinds_and_closes_the_listener() {
    let lab = Lab::new("metrics_reload");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let v = r1.start_vipd(&config(150, METRICS));
    v.expect_state("web", "MASTER", 3 * SEC);
    assert!(scrape(&v, "127.0.0.1:9638").is_some());

    let reload = |yaml: &str| {
        v.rewrite_config(yaml);
        let out = v.vipctl(&["reload"]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // A new address: served there, and no longer at the old one.
    let (ok, text) = reload(&config(150, "metrics:\n  listen: \"[::1]:9639\"\n"));
    assert!(ok, "{text}");
    assert!(scrape(&v, "[::1]:9639").is_some());
    assert!(
        lab::wait_until(SEC, Duration::from_millis(20), || {
            listening(&v) == vec!["[::1]:9639".to_string()]
        }),
        "{:?}",
        listening(&v)
    );

    // The same port on another address of the family the old one holds:
    // the old listener makes way.
    let (ok, text) = reload(&config(
        150,
        "metrics:\n  listen: \"[::]:9639\"\n  allow_remote: true\n",
    ));
    assert!(ok, "{text}");
    assert!(scrape(&v, "[::1]:9639").is_some());
    assert_eq!(listening(&v), vec!["*:9639".to_string()]);

    // A remote address without allow_remote: the reload is refused as a
    // whole, the listener stays.
    let (ok, text) = reload(&config(150, "metrics:\n  listen: 10.9.0.1:9640\n"));
    assert!(!ok && text.contains("allow_remote"), "{text}");
    assert!(scrape(&v, "[::1]:9639").is_some());

    // The key removed: nothing listens any more.
    let (ok, text) = reload(&config(150, ""));
    assert!(ok, "{text}");
    assert!(
        lab::wait_until(SEC, Duration::from_millis(20), || {
            listening(&v).is_empty()
        }),
        "{:?}",
        listening(&v)
    );
    v.expect_state("web", "MASTER", SEC);
}

/// An address another program holds: vipd refuses to start, and says
/// where and what to change, before it touches any address.
#[test]
fn a_taken_address_stops_the_start_with_the_fix() {
    let lab = Lab::new("metrics_taken");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let holder = r1.spawn(
        &[
            "python3",
            "-c",
            "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',9638))\ns.listen()\nprint('listening',flush=True)\ntime.sleep(60)",
        ],
        "holder.log",
    );
    assert!(
        holder.wait_for_log("listening", 5 * SEC),
        "{}",
        holder.log_tail(5)
    );
    let dir = r1.tmpdir();
    let yaml = dir.join("taken.yaml");
    std::fs::write(&yaml, config(150, METRICS)).unwrap();
    let socket = dir.join("taken.sock");
    let vipd = r1.spawn(
        &[
            lab::vipd::vipd_bin(),
            "--config",
            yaml.to_str().unwrap(),
            "--control-socket",
            socket.to_str().unwrap(),
        ],
        "vipd-taken.log",
    );
    let status = vipd.wait_exit(5 * SEC).expect("vipd exits");
    assert!(!status.success());
    let log = vipd.log();
    assert!(
        log.contains("cannot listen for metrics on 127.0.0.1:9638")
            && log.contains("change metrics.listen"),
        "{log}"
    );
    assert!(!log.contains("vipd started"), "{log}");
    assert!(!r1.has_addr("eth0", "10.9.0.100/24"));
}
