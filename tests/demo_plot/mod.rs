//! The lab demo's picture: for each step, when the observer got replies
//! from the VIP, one row per implementation (vipd above keepalived) on a
//! common time axis, so an outage is a visible hole rather than a number in
//! a table. SVG through `plotters` (SVG backend only, a dev-dependency: the
//! daemon does not link it).
//!
//! What a row shows: every reply as a bar one probe interval wide centred on
//! its kernel receive time, so replies arriving on schedule join into one
//! band and each missing reply leaves a hole of one interval; consecutive
//! replies closer than 1.5 intervals are drawn as one bar (a run), which
//! keeps the file small. The step's outage (the figure of the demo's table:
//! the longest time without a reply) is shaded red behind the replies, and
//! its length is written under the row's name, with the step's role
//! changes. Time 0 is
//! the moment the step fired (step 1: the daemons started).
//!
//! Used by `tests/lab_demo.rs` (the demo writes the picture next to its
//! table) and tested by `tests/demo_plot_svg.rs` on synthetic series.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One implementation's replies during one step, times in ms relative to
/// the moment the step fired.
#[derive(Debug, Clone)]
pub struct Row {
    /// `vipd` or `keepalived`.
    pub name: &'static str,
    /// Reply receive times, in order.
    pub replies: Vec<f64>,
    /// When the observer started and stopped.
    pub window: (f64, f64),
    /// The step's outage as the table reports it: from the last reply
    /// before it to the first after it.
    pub outage: Option<(f64, f64)>,
    /// How often a router became master during the step (None: unknown).
    pub role_changes: Option<u64>,
}

/// One step of the demo: its name and its rows, top to bottom.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub rows: Vec<Row>,
}

/// Colours of the rows: vipd, keepalived (others reuse them in turn).
const COLOURS: [RGBColor; 2] = [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e)];
const OUTAGE: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const WIDTH: u32 = 1100;
const HEADER: u32 = 60;
const STEP_HEIGHT: u32 = 150;
/// Room at the left for the row names.
const NAMES: u32 = 130;

/// The runs of `replies`: (first, last) of each chain of replies closer
/// than 1.5 probe intervals to the one before.
pub fn runs(replies: &[f64], interval_ms: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &t in replies {
        match out.last_mut() {
            Some((_, last)) if t - *last <= 1.5 * interval_ms => *last = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// The SVG document: a header (`title` and how to read the picture), then
/// one panel per step.
pub fn render_svg(title: &str, steps: &[Step], interval_ms: f64) -> Result<String, String> {
    let height = HEADER + STEP_HEIGHT * steps.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (header, body) = root.split_vertically(HEADER);
        let text = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        header
            .draw_text(title, &text(18), (10, 8))
            .map_err(|e| e.to_string())?;
        header
            .draw_text(
                &format!(
                    "bars: replies to the observer's probes (one every {interval_ms} ms); \
                     gaps: no reply; red: the step's outage (longest time without a reply). \
                     0 ms: the step fires."
                ),
                &text(13),
                (10, 34),
            )
            .map_err(|e| e.to_string())?;
        let panels = body.split_evenly((steps.len().max(1), 1));
        for (step, area) in steps.iter().zip(&panels) {
            draw_step(step, area, interval_ms).map_err(|e| format!("{}: {e}", step.name))?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_step(step: &Step, area: &DrawingArea<SVGBackend, Shift>, interval_ms: f64) -> DrawResult {
    let n = step.rows.len().max(1) as f64;
    let from = step
        .rows
        .iter()
        .map(|r| r.window.0)
        .fold(f64::INFINITY, f64::min);
    let to = step
        .rows
        .iter()
        .map(|r| r.window.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let (from, to) = if from.is_finite() && to > from {
        (from, to)
    } else {
        (0.0, 1000.0)
    };
    let (names, plot) = area.split_horizontally(NAMES);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&step.name, ("sans-serif", 15))
        .margin_right(20)
        .x_label_area_size(28)
        .build_cartesian_2d(from..to, 0f64..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("ms")
        .x_labels(12)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 12))
        .draw()?;
    // Where the step fired.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (0.0, n)],
        BLACK.mix(0.5).stroke_width(1),
    )))?;
    for (i, row) in step.rows.iter().enumerate() {
        // Row 0 on top.
        let top = n - i as f64;
        let (y0, y1) = (top - 0.8, top - 0.2);
        let colour = COLOURS[i % COLOURS.len()];
        // The outage behind the replies around it.
        if let Some((a, b)) = row.outage {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, top - 0.95), (b, top - 0.05)],
                OUTAGE.mix(0.35).filled(),
            )))?;
        }
        let half = interval_ms / 2.0;
        chart.draw_series(
            runs(&row.replies, interval_ms)
                .into_iter()
                .map(|(a, b)| Rectangle::new([(a - half, y0), (b + half, y1)], colour.filled())),
        )?;
        // The row's name and its outage, left of the plot, at the row's
        // centre.
        let (_, py) = chart.backend_coord(&(from, top - 0.5));
        let (_, y) = relative(&names, (0, py));
        let right = |size: u32, c: &RGBColor| {
            ("sans-serif", size)
                .into_font()
                .color(c)
                .pos(Pos::new(HPos::Right, VPos::Center))
        };
        let x = NAMES as i32 - 8;
        names.draw_text(row.name, &right(14, &colour), (x, y - 13))?;
        let outage = match row.outage {
            Some((a, b)) => format!("outage {:.0} ms", b - a),
            None => "outage n/a".to_string(),
        };
        names.draw_text(&outage, &right(12, &OUTAGE), (x, y + 2))?;
        let roles = match row.role_changes {
            Some(1) => "1 role change".to_string(),
            Some(n) => format!("{n} role changes"),
            None => "role changes ?".to_string(),
        };
        names.draw_text(&roles, &right(12, &BLACK), (x, y + 16))?;
    }
    Ok(())
}

/// A backend pixel relative to `area` (draw_text takes coordinates relative
/// to its area, backend_coord gives absolute ones).
fn relative(area: &DrawingArea<SVGBackend, Shift>, (x, y): (i32, i32)) -> (i32, i32) {
    let (bx, by) = area.get_base_pixel();
    (x - bx, y - by)
}
