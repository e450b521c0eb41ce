//! The lab demo's picture (tests/demo_plot), rendered from small synthetic
//! probe series: well-formed XML, one bar per run of replies in each row's
//! colour, vipd's row above keepalived's, each outage shaded and labelled.
//! No lab, no root.

mod demo_plot;

use demo_plot::{Row, Step, render_svg, runs};

const INTERVAL: f64 = 10.0;
const VIPD: &str = "#1F77B4";
const KEEPALIVED: &str = "#FF7F0E";

/// Replies every 10 ms over [from, to), except those in `missing` (ms
/// ranges, half-open).
fn replies(from: i32, to: i32, missing: &[(i32, i32)]) -> Vec<f64> {
    (from..to)
        .step_by(10)
        .filter(|t| !missing.iter().any(|(a, b)| t >= a && t < b))
        .map(f64::from)
        .collect()
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "2 networkctl reconfigure".into(),
            rows: vec![
                Row {
                    name: "vipd",
                    // One probe lost at 200 ms: a 20 ms gap.
                    replies: replies(-100, 1000, &[(200, 210)]),
                    window: (-105.0, 1000.0),
                    outage: Some((190.0, 210.0)),
                    role_changes: Some(0),
                },
                Row {
                    name: "keepalived",
                    // 300..370 lost: an 80 ms gap, and one lost at 600.
                    replies: replies(-100, 1200, &[(300, 370), (600, 610)]),
                    window: (-105.0, 1200.0),
                    outage: Some((290.0, 370.0)),
                    role_changes: Some(2),
                },
            ],
        },
        Step {
            name: "4 cut master's link".into(),
            rows: vec![
                Row {
                    name: "vipd",
                    replies: replies(-50, 800, &[(0, 350)]),
                    window: (-55.0, 800.0),
                    outage: Some((-10.0, 350.0)),
                    role_changes: Some(1),
                },
                Row {
                    name: "keepalived",
                    replies: replies(-50, 900, &[(0, 360)]),
                    window: (-55.0, 900.0),
                    outage: Some((-10.0, 360.0)),
                    role_changes: None,
                },
            ],
        },
    ]
}

#[test]
fn runs_split_at_missing_replies() {
    assert_eq!(runs(&[], INTERVAL), vec![]);
    assert_eq!(
        runs(&replies(0, 100, &[(30, 40)]), INTERVAL),
        vec![(0.0, 20.0), (40.0, 90.0)]
    );
    // A late reply (14 ms) stays in its run; 16 ms splits.
    assert_eq!(
        runs(&[0.0, 14.0, 30.0], INTERVAL),
        vec![(0.0, 14.0), (30.0, 30.0)]
    );
}

/// A rect of the picture: its fill and vertical centre.
struct Bar {
    fill: String,
    y: f64,
}

#[test]
fn the_picture_is_well_formed_with_vipd_above_keepalived() {
    let svg = render_svg("vipd lab demo (synthetic)", &steps(), INTERVAL).unwrap();
    // To look at it: VIPD_DEMO_PLOT_OUT=/tmp/x.svg cargo test --test demo_plot_svg
    if let Some(out) = std::env::var_os("VIPD_DEMO_PLOT_OUT") {
        std::fs::write(&out, &svg).unwrap();
    }
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let num = |n: roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("{a} missing"))
            .parse()
            .unwrap()
    };
    let bars: Vec<Bar> = root
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| {
            Some(Bar {
                fill: n.attribute("fill")?.to_uppercase(),
                y: num(n, "y") + num(n, "height") / 2.0,
            })
        })
        .collect();
    let of = |fill: &str| -> Vec<f64> {
        bars.iter()
            .filter(|b| b.fill == fill)
            .map(|b| b.y)
            .collect()
    };
    let (v, k) = (of(VIPD), of(KEEPALIVED));
    // Runs: vipd 2 + 2, keepalived 3 + 2.
    assert_eq!((v.len(), k.len()), (4, 5), "{svg}");
    // Step 1's rows above step 2's; in each step vipd above keepalived.
    let (v1, v2) = v.split_at(2);
    let (k1, k2) = k.split_at(3);
    let max = |s: &[f64]| s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = |s: &[f64]| s.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(max(v1) < min(k1), "vipd above keepalived in step 1");
    assert!(max(k1) < min(v2), "step 1 above step 2");
    assert!(max(v2) < min(k2), "vipd above keepalived in step 2");
    // Every row in one line (same centre).
    for row in [v1, v2, k1, k2] {
        assert!(max(row) - min(row) < 0.5, "{row:?}");
    }
    // Four outages shaded.
    let shaded = bars.iter().filter(|b| b.fill == "#D62728").count();
    assert_eq!(shaded, 4, "{svg}");
    let texts: Vec<String> = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect();
    for want in [
        "vipd lab demo (synthetic)",
        "2 networkctl reconfigure",
        "4 cut master's link",
        "outage 20 ms",
        "outage 80 ms",
        "outage 360 ms",
        "outage 370 ms",
        "0 role changes",
        "2 role changes",
        "1 role change",
        "role changes ?",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "{want:?} not among {texts:?}"
        );
    }
    assert_eq!(texts.iter().filter(|t| *t == "vipd").count(), 2);
    assert_eq!(texts.iter().filter(|t| *t == "keepalived").count(), 2);
}
