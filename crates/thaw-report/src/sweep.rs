//! The page of a sweep (`thaw sweep … --vary … --html OUT.html`), built
//! from the sweep's records (JSON lines or CSV), nothing run again:
//!
//! - one varied path: the verdict of every point, a step plot of the
//!   errors with each error kind as its own labelled series, and one plot
//!   per metric that changes over the sweep (mean over the seeds, min/max
//!   whiskers); where the verdict flips between neighbouring points, and
//!   where `thaw boundary` found a boundary, is marked on every plot;
//! - two varied paths: heatmaps of the verdict (a glyph in every cell) and
//!   of a chosen metric (its value in every cell), with the contour
//!   between passing and failing cells drawn as a line.
//!
//! The same records give the same bytes: points, metrics and series keep
//! the records' order, numbers are written with a fixed precision.
use crate::svg::{num, El};
use std::collections::{BTreeMap, BTreeSet};
use thaw_scenario::VaryValue;
use thaw_sim::expect::METRIC_NAMES;

/// One record of a sweep, as the page needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepRecord {
    /// The point of the grid (records of the same point differ by seed).
    pub point: u64,
    /// The varied keys' values as written, in `--vary` order.
    pub values: Vec<String>,
    /// The exit status `thaw run` would have had (0 every expectation
    /// held).
    pub exit: u8,
    /// Numeric metrics by dotted name (`errors`, `servers.NAME.errors`,
    /// `platform.live_mean`), in the record's order; empty when the point
    /// did not run (exit 2).
    pub metrics: Vec<(String, f64)>,
    /// Errors by kind (only the kinds that happened).
    pub errors: Vec<(String, f64)>,
}

impl SweepRecord {
    /// Reads a JSON-lines record; `paths` are the varied keys in `--vary`
    /// order. `None` for a line that is not a sweep record.
    pub fn from_json(line: &str, paths: &[String]) -> Option<SweepRecord> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let vals = v.get("values")?;
        let values = paths
            .iter()
            .map(|p| match vals.get(p)? {
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect::<Option<Vec<_>>>()?;
        let mut rec = SweepRecord {
            point: v.get("point")?.as_u64()?,
            values,
            exit: u8::try_from(v.get("exit")?.as_u64()?).ok()?,
            ..SweepRecord::default()
        };
        if let Some(m) = v.get("metrics").and_then(|m| m.as_object()) {
            // The documented metrics first, in their order; then any other.
            let mut names: Vec<&str> = METRIC_NAMES
                .iter()
                .copied()
                .filter(|n| m.contains_key(*n))
                .collect();
            names.extend(
                m.keys()
                    .map(String::as_str)
                    .filter(|k| !METRIC_NAMES.contains(k)),
            );
            for n in names {
                if n == "errors_by_kind" {
                    if let Some(kinds) = m[n].as_object() {
                        for (k, c) in kinds {
                            if let Some(c) = c.as_f64() {
                                rec.errors.push((k.clone(), c));
                            }
                        }
                    }
                } else {
                    flatten(n, &m[n], &mut rec.metrics);
                }
            }
        }
        Some(rec)
    }

    /// Reads a CSV row of a sweep; `header` is the file's header line
    /// split into columns, `paths` the varied keys. `None` for a line that
    /// is not a sweep record.
    pub fn from_csv(header: &[String], line: &str, paths: &[String]) -> Option<SweepRecord> {
        let cells = csv_split(line);
        if cells.len() != header.len() {
            return None;
        }
        let col = |name: &str| header.iter().position(|h| h == name).map(|i| &cells[i]);
        let values = paths
            .iter()
            .map(|p| col(p).cloned())
            .collect::<Option<Vec<_>>>()?;
        let mut rec = SweepRecord {
            point: col("point")?.parse().ok()?,
            values,
            exit: col("exit")?.parse().ok()?,
            ..SweepRecord::default()
        };
        let fixed = [
            "sweep", "run", "of", "point", "seed", "passed", "exit", "reason",
        ];
        for (h, c) in header.iter().zip(&cells) {
            if fixed.contains(&h.as_str()) || paths.contains(h) || h.starts_with("expect.") {
                continue;
            }
            let Ok(x) = c.parse::<f64>() else { continue };
            match h.strip_prefix("errors.") {
                Some(kind) if x > 0.0 => rec.errors.push((kind.to_string(), x)),
                Some(_) => {}
                None => rec.metrics.push((h.clone(), x)),
            }
        }
        Some(rec)
    }

    fn ran(&self) -> bool {
        !self.metrics.is_empty()
    }

    /// The value of `name` in this run: a metric, or `errors.KIND` (0 when
    /// that kind did not happen); `None` when the point did not run.
    fn value(&self, name: &str) -> Option<f64> {
        if !self.ran() {
            return None;
        }
        if let Some(v) = self.metrics.iter().find(|(n, _)| n == name) {
            return Some(v.1);
        }
        let kind = name.strip_prefix("errors.")?;
        Some(
            self.errors
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0.0, |e| e.1),
        )
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, f64)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            if let Some(x) = other.as_f64() {
                out.push((prefix.to_string(), x));
            }
        }
    }
}

/// Splits one CSV line (RFC 4180 quoting; a record is one line).
fn csv_split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A varied key.
#[derive(Clone, Debug)]
pub struct SweepAxis {
    /// Its dotted path.
    pub path: String,
    /// Its values are geometrically spaced (`:log`): a log axis.
    pub log: bool,
}

/// A boundary found by `thaw boundary` (its `--format json` output).
#[derive(Clone, Debug)]
pub struct SweepBoundary {
    /// The varied key.
    pub path: String,
    /// The value at which the property held…
    pub pass: String,
    /// …and the nearest at which it failed.
    pub fail: String,
    /// What changed between them.
    pub change: String,
}

/// What the page says about the sweep besides its records.
pub struct SweepInfo<'a> {
    /// The scenario's name.
    pub name: &'a str,
    /// The sweep's id.
    pub id: &'a str,
    /// The varied keys, in `--vary` order (one or two are drawn).
    pub axes: &'a [SweepAxis],
    /// Runs per point.
    pub seeds: u64,
    /// Runs of the whole sweep.
    pub runs: u64,
    /// The scenario's `[expect]` assertions.
    pub expectations: &'a [String],
    /// The metric that colours the heatmap of two varied keys (`errors`,
    /// `errors.ETIMEDOUT`, `zombie_connection_seconds`, …).
    pub heat_metric: &'a str,
    /// Boundaries from `thaw boundary` to mark.
    pub boundaries: &'a [SweepBoundary],
}

/// Mean, min, max and number of runs of a metric at a point.
type Stat = (f64, f64, f64, usize);

/// A point of the grid and its runs.
struct Point<'a> {
    /// Index of each varied key's value in its axis.
    at: Vec<usize>,
    runs: Vec<&'a SweepRecord>,
}

impl Point<'_> {
    fn passed(&self) -> usize {
        self.runs.iter().filter(|r| r.exit == 0).count()
    }

    fn verdict(&self) -> Verdict {
        match self.passed() {
            p if p == self.runs.len() => Verdict::Pass,
            0 => Verdict::Fail,
            _ => Verdict::Mixed,
        }
    }

    /// Mean, min, max and count of `name` over the runs that ran.
    fn stat(&self, name: &str) -> Option<Stat> {
        let xs: Vec<f64> = self.runs.iter().filter_map(|r| r.value(name)).collect();
        if xs.is_empty() {
            return None;
        }
        let sum: f64 = xs.iter().sum();
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((sum / xs.len() as f64, min, max, xs.len()))
    }

    fn exits(&self) -> String {
        let e: BTreeSet<u8> = self.runs.iter().map(|r| r.exit).collect();
        e.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Mixed,
}

impl Verdict {
    fn class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Mixed => "mixed",
        }
    }
    fn glyph(self) -> &'static str {
        match self {
            Verdict::Pass => "✓",
            Verdict::Fail => "✗",
            Verdict::Mixed => "±",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "✓ pass",
            Verdict::Fail => "✗ fail",
            Verdict::Mixed => "± mixed",
        }
    }
}

/// One varied key's values placed on an axis: numbers (durations in
/// seconds) on a linear or log scale, anything else as evenly spaced
/// categories.
struct Axis {
    path: String,
    labels: Vec<String>,
    /// Position of each value, 0..1.
    pos: Vec<f64>,
    /// Value indices in position order.
    order: Vec<usize>,
    ticks: Vec<(f64, String)>,
    /// Numeric value of each label, when every value is a number.
    numbers: Option<Vec<f64>>,
    duration: bool,
    log: bool,
}

fn as_number(s: &str) -> Option<(f64, bool)> {
    match VaryValue::parse(s) {
        VaryValue::Duration(d) => Some((d.as_nanos() as f64 / 1e9, true)),
        VaryValue::Int(i) => Some((i as f64, false)),
        VaryValue::Float(f) if f.is_finite() => Some((f, false)),
        _ => None,
    }
}

impl Axis {
    fn new(path: &str, labels: Vec<String>, log: bool) -> Axis {
        let parsed: Option<Vec<(f64, bool)>> = labels.iter().map(|l| as_number(l)).collect();
        let n = labels.len();
        let mut axis = Axis {
            path: path.to_string(),
            pos: (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect(),
            order: (0..n).collect(),
            ticks: Vec::new(),
            numbers: None,
            duration: false,
            log: false,
            labels,
        };
        match parsed {
            Some(p) if n > 1 => {
                let xs: Vec<f64> = p.iter().map(|x| x.0).collect();
                let duration = p.iter().all(|x| x.1);
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log = log && lo > 0.0;
                let f = |x: f64| if log { x.log10() } else { x };
                let (a, b) = (f(lo), f(hi));
                if b > a {
                    axis.pos = xs.iter().map(|x| (f(*x) - a) / (b - a)).collect();
                    axis.order
                        .sort_by(|i, j| axis.pos[*i].total_cmp(&axis.pos[*j]));
                    axis.ticks = if log {
                        log_ticks(lo, hi)
                    } else {
                        nice_ticks(lo, hi, 6)
                    }
                    .into_iter()
                    .map(|t| ((f(t) - a) / (b - a), fmt_value(t, duration)))
                    .collect();
                    axis.numbers = Some(xs);
                    axis.duration = duration;
                    axis.log = log;
                    return axis;
                }
                axis.ticks = cat_ticks(&axis.labels);
            }
            _ => axis.ticks = cat_ticks(&axis.labels),
        }
        axis
    }

    fn describe(&self) -> String {
        match (&self.numbers, self.log) {
            (Some(_), true) => format!("{} (log scale)", self.path),
            (Some(_), false) if self.duration => format!("{} (seconds)", self.path),
            _ => self.path.clone(),
        }
    }

    /// Where a value that is not one of the points falls (a boundary).
    fn place(&self, s: &str) -> Option<f64> {
        let xs = self.numbers.as_ref()?;
        let (x, _) = as_number(s)?;
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !(lo..=hi).contains(&x) {
            return None;
        }
        if self.log {
            (x > 0.0).then(|| (x.log10() - lo.log10()) / (hi.log10() - lo.log10()))
        } else {
            Some((x - lo) / (hi - lo))
        }
    }
}

fn cat_ticks(labels: &[String]) -> Vec<(f64, String)> {
    let n = labels.len();
    let every = n.div_ceil(12).max(1);
    labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, l)| ((i as f64 + 0.5) / n as f64, l.clone()))
        .collect()
}

/// About `want` round values (1, 2, 5 × 10^k) covering lo..hi.
fn nice_ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / want as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mults: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut out = Vec::new();
    for e in a..=b {
        for m in mults {
            let t = m * 10f64.powi(e);
            if t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9) {
                out.push(t);
            }
        }
    }
    out
}

/// A short label: `1.5s`, `250ms`, `0.25`, `1200`, `3.4e+06`.
fn fmt_value(v: f64, duration: bool) -> String {
    if duration {
        let a = v.abs();
        let (x, unit) = if a == 0.0 || a >= 1.0 {
            (v, "s")
        } else if a >= 1e-3 {
            (v * 1e3, "ms")
        } else if a >= 1e-6 {
            (v * 1e6, "µs")
        } else {
            (v * 1e9, "ns")
        };
        return format!("{}{unit}", fmt_value(x, false));
    }
    if v.abs() >= 1e6 {
        return format!("{v:.2e}");
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

// Plot geometry: a plot area of PW × PH at (L, T), room for the series'
// labels at the right.
const W: f64 = 760.0;
const L: f64 = 70.0;
const PW: f64 = 520.0;
const T: f64 = 18.0;
const PH: f64 = 150.0;
const H: f64 = T + PH + 48.0;
const SERIES_CLASSES: usize = 6;
/// Above this many points a plot draws its lines without a marker (and
/// tooltip) per point, and the verdict strip draws runs of equal verdicts:
/// the page of a 10,000-point sweep stays a few hundred kilobytes.
const DETAIL_POINTS: usize = 100;
/// At most this many verdict flips are shaded (the first ones).
const MAX_FLIPS: usize = 50;
/// Above this many cells a heatmap's cells have no tooltip.
const TITLED_CELLS: usize = 2500;

/// A verdict flip between two neighbouring points: from/to positions.
struct Flip {
    a: f64,
    b: f64,
    title: String,
}

/// A boundary placed on the axis.
struct Mark {
    x: f64,
    title: String,
}

/// Renders the page of a sweep.
pub fn render_sweep(info: &SweepInfo, records: &[SweepRecord]) -> String {
    let paths: Vec<String> = info.axes.iter().map(|a| a.path.clone()).collect();
    // Each key's values in the order the records give them (grid order).
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); paths.len()];
    let mut points: BTreeMap<u64, Point> = BTreeMap::new();
    for r in records {
        let mut at = Vec::new();
        for (i, v) in r.values.iter().enumerate().take(paths.len()) {
            let k = match labels[i].iter().position(|l| l == v) {
                Some(k) => k,
                None => {
                    labels[i].push(v.clone());
                    labels[i].len() - 1
                }
            };
            at.push(k);
        }
        points
            .entry(r.point)
            .or_insert_with(|| Point {
                at,
                runs: Vec::new(),
            })
            .runs
            .push(r);
    }
    let axes: Vec<Axis> = info
        .axes
        .iter()
        .zip(labels)
        .map(|(a, l)| Axis::new(&a.path, l, a.log))
        .collect();
    // Metric names in the records' order; the kinds of error that happened.
    let mut names: Vec<&str> = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    {
        let mut seen = BTreeSet::new();
        let mut seen_k = BTreeSet::new();
        for r in records {
            for (n, _) in &r.metrics {
                if seen.insert(n.as_str()) {
                    names.push(n);
                }
            }
            for (k, _) in &r.errors {
                if seen_k.insert(k.as_str()) {
                    kinds.push(k);
                }
            }
        }
    }

    let mut body = String::new();
    let done = records.len() as u64;
    let mut header = El::new("header")
        .child(El::new("h1").text(&format!("thaw sweep — {}", info.name)))
        .child(El::new("p").class("meta").text(&format!(
            "sweep {} · thaw {} · {} point(s) × {} seed(s) · varied: {}",
            info.id,
            env!("CARGO_PKG_VERSION"),
            points.len(),
            info.seeds,
            axes.iter()
                .map(|a| format!("{} ({} values)", a.path, a.labels.len()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    if done < info.runs {
        header.push(El::new("p").class("stopped").text(&format!(
            "{done} of the sweep's {} runs are drawn (a shard, or an unfinished sweep).",
            info.runs
        )));
    }
    header.write_to(&mut body);

    let mut sec = El::new("section")
        .a("id", "verdicts")
        .child(El::new("h2").text("Expectations"));
    if info.expectations.is_empty() {
        sec.push(El::new("p").text(
            "The scenario has no [expect] assertions: a point passes when it runs to its end \
             (exit 0).",
        ));
    } else {
        sec.push(El::new("p").class("help").text(
            "A point passes (✓) when every assertion holds in every run of it (one per seed), \
             fails (✗) when none passes, ± when some runs pass.",
        ));
        let mut ul = El::new("ul").class("verdicts");
        for e in info.expectations {
            ul.push(El::new("li").child(El::new("code").text(e)));
        }
        sec.push(ul);
    }
    if points.is_empty() {
        sec.push(El::new("p").text("No record to draw."));
    }
    match axes.len() {
        _ if points.is_empty() => {
            sec.write_to(&mut body);
        }
        1 => {
            let ax = &axes[0];
            let flips = flips(ax, &points);
            let marks = marks(ax, info.boundaries);
            sec.push(strip(ax, &points, &flips, &marks));
            sec.push(boundary_notes(info.boundaries, |b| {
                b.path == ax.path && ax.place(&b.pass).is_some() && ax.place(&b.fail).is_some()
            }));
            sec.write_to(&mut body);
            one_path(ax, &points, &names, &kinds, &flips, &marks, info.seeds).write_to(&mut body);
        }
        _ => {
            sec.push(boundary_notes(info.boundaries, |b| {
                axes.iter()
                    .any(|a| a.path == b.path && cell_coord(a, &b.pass).is_some())
            }));
            sec.write_to(&mut body);
            two_paths(&axes[1], &axes[0], &points, info).write_to(&mut body);
        }
    }
    points_table(&axes, &points).write_to(&mut body);
    El::new("footer")
        .text(&format!(
            "Generated by thaw {} from the sweep's records; the same records give the same file. \
             docs/html-report.md explains every mark.",
            env!("CARGO_PKG_VERSION")
        ))
        .write_to(&mut body);
    crate::page(&format!("sweep {}", info.name), &body)
}

/// The page written while a sweep runs: should the sweep be interrupted,
/// it says where the records are and how to finish (the page proper is
/// written when every run is done). `how` says how to finish it.
pub fn render_sweep_unfinished(info: &SweepInfo, how: &str) -> String {
    let mut body = String::new();
    El::new("header")
        .child(El::new("h1").text(&format!("thaw sweep — {}", info.name)))
        .child(El::new("p").class("meta").text(&format!(
            "sweep {} · thaw {} · {} runs",
            info.id,
            env!("CARGO_PKG_VERSION"),
            info.runs
        )))
        .child(El::new("p").class("stopped").text(&format!(
            "This sweep has not finished (it is running, or it was interrupted). {how}"
        )))
        .write_to(&mut body);
    crate::page(&format!("sweep {}", info.name), &body)
}

/// Each point's verdict, by its value's index, in axis order.
fn verdicts_in_order(ax: &Axis, points: &BTreeMap<u64, Point>) -> Vec<(usize, Verdict)> {
    let by_value: BTreeMap<usize, &Point> = points.values().map(|p| (p.at[0], p)).collect();
    ax.order
        .iter()
        .filter_map(|i| by_value.get(i).map(|p| (*i, p.verdict())))
        .collect()
}

/// Flips of the verdict between neighbouring points (in axis order).
fn flips(ax: &Axis, points: &BTreeMap<u64, Point>) -> Vec<Flip> {
    verdicts_in_order(ax, points)
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .take(MAX_FLIPS)
        .map(|w| Flip {
            a: ax.pos[w[0].0],
            b: ax.pos[w[1].0],
            title: format!(
                "the verdict flips between {} = {} ({}) and {} ({})",
                ax.path,
                ax.labels[w[0].0],
                w[0].1.word(),
                ax.labels[w[1].0],
                w[1].1.word()
            ),
        })
        .collect()
}

fn marks(ax: &Axis, bounds: &[SweepBoundary]) -> Vec<Mark> {
    bounds
        .iter()
        .filter(|b| b.path == ax.path)
        .filter_map(|b| {
            let (p, f) = (ax.place(&b.pass)?, ax.place(&b.fail)?);
            Some(Mark {
                x: (p + f) / 2.0,
                title: format!(
                    "thaw boundary: passes at {}, fails at {}: {}",
                    b.pass, b.fail, b.change
                ),
            })
        })
        .collect()
}

fn boundary_notes(bounds: &[SweepBoundary], drawn: impl Fn(&SweepBoundary) -> bool) -> El {
    let mut ul = El::new("ul").class("verdicts");
    for b in bounds {
        ul.push(El::new("li").text(&format!(
            "thaw boundary: {} passes at {}, fails at {}: {}{}",
            b.path,
            b.pass,
            b.fail,
            b.change,
            if drawn(b) {
                ""
            } else {
                " (not drawn: another key, or outside the sweep's range)"
            }
        )));
    }
    ul
}

/// Where a value falls on a heatmap's axis, in cells from its start
/// (cell k's centre is k + 0.5): between the two values around it.
fn cell_coord(ax: &Axis, s: &str) -> Option<f64> {
    let xs = ax.numbers.as_ref()?;
    let (x, _) = as_number(s)?;
    let vs: Vec<f64> = ax.order.iter().map(|i| xs[*i]).collect();
    let k = vs.windows(2).position(|w| w[0] <= x && x <= w[1])?;
    let f = if vs[k + 1] > vs[k] {
        if ax.log {
            (x.ln() - vs[k].ln()) / (vs[k + 1].ln() - vs[k].ln())
        } else {
            (x - vs[k]) / (vs[k + 1] - vs[k])
        }
    } else {
        0.0
    };
    Some(k as f64 + 0.5 + f)
}

fn px(f: f64) -> f64 {
    L + f * PW
}

/// The plot's frame: axes, x ticks, flips and boundaries under the data.
fn frame(ax: &Axis, flips: &[Flip], marks: &[Mark], height: f64) -> El {
    let mut g = El::new("g").class("frame");
    g.push(
        El::new("rect")
            .class("plot-bg")
            .n("x", L)
            .n("y", T)
            .n("width", PW)
            .n("height", height),
    );
    let mut ticks = El::new("g").class("ticks");
    for (f, label) in &ax.ticks {
        let x = px(*f);
        ticks.push(
            El::new("line")
                .n("x1", x)
                .n("x2", x)
                .n("y1", T + height)
                .n("y2", T + height + 4.0),
        );
        ticks.push(
            El::new("text")
                .class("xt")
                .n("x", x)
                .n("y", T + height + 15.0)
                .text(label),
        );
    }
    g.push(ticks);
    g.push(
        El::new("text")
            .class("axis-title")
            .n("x", L + PW / 2.0)
            .n("y", T + height + 32.0)
            .text(&ax.describe()),
    );
    for f in flips {
        let (a, b) = (px(f.a), px(f.b));
        g.push(
            El::new("g")
                .class("m flip")
                .title(&f.title)
                .child(
                    El::new("rect")
                        .n("x", a)
                        .n("y", T)
                        .n("width", (b - a).max(2.0))
                        .n("height", height),
                )
                .child(
                    El::new("text")
                        .class("flip-label")
                        .n("x", (a + b) / 2.0)
                        .n("y", T + height - 4.0)
                        .text("flip"),
                ),
        );
    }
    for m in marks {
        let x = px(m.x);
        g.push(
            El::new("g")
                .class("m bnd")
                .title(&m.title)
                .child(
                    El::new("line")
                        .n("x1", x)
                        .n("x2", x)
                        .n("y1", T - 6.0)
                        .n("y2", T + height),
                )
                .child(
                    El::new("text")
                        .class("bnd-label")
                        .n("x", x)
                        .n("y", T - 8.0)
                        .text("boundary"),
                ),
        );
    }
    g
}

/// The verdict of every point, as glyphs on the x axis.
fn strip(ax: &Axis, points: &BTreeMap<u64, Point>, flips: &[Flip], marks: &[Mark]) -> El {
    let h = 34.0;
    let mut svg = svg_el(
        W,
        T + h + 40.0,
        &format!("verdict of every point against {}", ax.path),
    );
    svg.push(frame(ax, flips, marks, h));
    let mut g = El::new("g").a("class", "glyphs");
    if points.len() > DETAIL_POINTS {
        // One bar per run of equal verdicts (a glyph each would overlap).
        let seq = verdicts_in_order(ax, points);
        let mut i = 0;
        while i < seq.len() {
            let mut j = i;
            while j + 1 < seq.len() && seq[j + 1].1 == seq[i].1 {
                j += 1;
            }
            let v = seq[i].1;
            let (a, b) = (px(ax.pos[seq[i].0]), px(ax.pos[seq[j].0]));
            g.push(
                El::new("g")
                    .class(&format!("cell {}", v.class()))
                    .title(&format!(
                        "{} = {} … {}: {} ({} point(s))",
                        ax.path,
                        ax.labels[seq[i].0],
                        ax.labels[seq[j].0],
                        v.word(),
                        j - i + 1
                    ))
                    .child(
                        El::new("rect")
                            .n("x", a - 1.0)
                            .n("y", T + 4.0)
                            .n("width", (b - a) + 2.0)
                            .n("height", h - 8.0),
                    )
                    .child(
                        El::new("text")
                            .n("x", (a + b) / 2.0)
                            .n("y", T + h / 2.0 + 4.0)
                            .text(if b - a >= 12.0 { v.glyph() } else { "" }),
                    ),
            );
            i = j + 1;
        }
        svg.push(g);
        return figure(
            "verdict-strip",
            "Verdict along the sweep (✓ pass, ✗ fail, ± some seeds pass); shaded: where it flips",
            svg,
        );
    }
    for p in points.values() {
        let v = p.verdict();
        g.push(
            El::new("text")
                .class(&format!("glyph {}", v.class()))
                .n("x", px(ax.pos[p.at[0]]))
                .n("y", T + h / 2.0 + 5.0)
                .title(&format!(
                    "{} = {}: {} ({} of {} runs passed; exit {})",
                    ax.path,
                    ax.labels[p.at[0]],
                    v.word(),
                    p.passed(),
                    p.runs.len(),
                    p.exits()
                ))
                .text(v.glyph()),
        );
    }
    svg.push(g);
    figure(
        "verdict-strip",
        "Verdict of every point (✓ pass, ✗ fail, ± some seeds pass); shaded: where it flips",
        svg,
    )
}

fn svg_el(width: f64, height: f64, label: &str) -> El {
    El::new("svg")
        .class("plot")
        .a("xmlns", "http://www.w3.org/2000/svg")
        .a("viewBox", &format!("0 0 {} {}", num(width), num(height)))
        .n("width", width)
        .n("height", height)
        .a("role", "img")
        .a("aria-label", label)
}

fn figure(id: &str, caption: &str, content: El) -> El {
    El::new("figure")
        .class("plot-fig")
        .a("id", id)
        .child(El::new("figcaption").text(caption))
        .child(El::new("div").class("swim-wrap").child(content))
}

/// One series of a plot: per point, (position, mean, min, max, runs,
/// tooltip).
struct Series {
    name: String,
    pts: Vec<(f64, f64, f64, f64, usize, String)>,
}

fn one_path(
    ax: &Axis,
    points: &BTreeMap<u64, Point>,
    names: &[&str],
    kinds: &[&str],
    flips: &[Flip],
    marks: &[Mark],
    seeds: u64,
) -> El {
    let by_value: BTreeMap<usize, &Point> = points.values().map(|p| (p.at[0], p)).collect();
    let ordered: Vec<&Point> = ax
        .order
        .iter()
        .filter_map(|i| by_value.get(i).copied())
        .collect();
    let series_of = |name: &str, label: &str| Series {
        name: label.to_string(),
        pts: ordered
            .iter()
            .filter_map(|p| {
                let (mean, lo, hi, n) = p.stat(name)?;
                let v = &ax.labels[p.at[0]];
                let tip = if n > 1 {
                    format!(
                        "{} = {v}: {label} mean {} (min {}, max {}, {n} runs)",
                        ax.path,
                        exact(mean),
                        exact(lo),
                        exact(hi)
                    )
                } else {
                    format!("{} = {v}: {label} {}", ax.path, exact(mean))
                };
                Some((ax.pos[p.at[0]], mean, lo, hi, n, tip))
            })
            .collect(),
    };
    let mut sec = El::new("section")
        .a("id", "plots")
        .child(El::new("h2").text(&format!("Metrics against {}", ax.path)))
        .child(El::new("p").class("help").text(&if seeds > 1 {
            format!(
                "One plot per metric that changes over the sweep. Each point is the mean of its \
                 {seeds} runs (one per seed), the whisker spans their minimum and maximum. Shaded \
                 bands: the verdict flips between those two points. Hover a point for its values."
            )
        } else {
            "One plot per metric that changes over the sweep. Shaded bands: the verdict flips \
             between those two points. Hover a point for its value."
                .to_string()
        }));
    if ordered.len() > DETAIL_POINTS {
        sec.push(El::new("p").class("help").text(&format!(
            "{} points: the lines have no marker or tooltip per point (more than \
             {DETAIL_POINTS}); the records have every value.",
            ordered.len()
        )));
    }
    let errs: Vec<Series> = kinds
        .iter()
        .map(|k| series_of(&format!("errors.{k}"), k))
        .collect();
    sec.push(if errs.is_empty() {
        El::new("p")
            .a("id", "plot-errors")
            .text("No error of any kind at any point.")
    } else {
        figure(
            "plot-errors",
            "Errors by kind (a step per point; each kind labelled at its end)",
            plot(ax, &errs, flips, marks, true, "errors"),
        )
    });
    let mut constant = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let s = series_of(n, n);
        let first = s.pts.first().map(|p| p.1);
        let flat = s
            .pts
            .iter()
            .all(|p| Some(p.2) == first && Some(p.3) == first);
        if flat {
            constant.push((n, first));
            continue;
        }
        sec.push(figure(
            &format!("plot-{}", i + 1),
            n,
            plot(ax, &[s], flips, marks, false, n),
        ));
    }
    if !constant.is_empty() {
        let mut tb = El::new("tbody");
        for (n, v) in constant {
            tb.push(
                El::new("tr")
                    .child(El::new("th").text(n))
                    .child(El::new("td").text(&v.map_or("-".into(), exact))),
            );
        }
        sec.push(
            El::new("p")
                .class("help")
                .text("The same at every point (not plotted):"),
        );
        sec.push(
            El::new("div")
                .class("table-wrap")
                .child(El::new("table").class("metrics").child(tb)),
        );
    }
    sec
}

/// A number in full (tooltips, tables).
fn exact(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The path through `xy` (in x order); a step at the middle between
/// points with `step`. More points than half-pixels are thinned to each
/// pixel column's first, lowest, highest and last point: the line looks
/// the same, spikes included, and the page stays small.
fn line_path(xy: &[(f64, f64)], step: bool) -> String {
    let thinned: Vec<(f64, f64)>;
    let (xy, step) = if xy.len() as f64 > 2.0 * PW {
        let mut out: Vec<(f64, f64)> = Vec::new();
        let mut i = 0;
        while i < xy.len() {
            let col = xy[i].0.round();
            let mut j = i;
            while j + 1 < xy.len() && xy[j + 1].0.round() == col {
                j += 1;
            }
            let run = &xy[i..=j];
            let lo = run
                .iter()
                .copied()
                .fold(run[0], |a, b| if b.1 < a.1 { b } else { a });
            let hi = run
                .iter()
                .copied()
                .fold(run[0], |a, b| if b.1 > a.1 { b } else { a });
            for p in [run[0], lo, hi, run[run.len() - 1]] {
                if out.last() != Some(&(col, p.1)) {
                    out.push((col, p.1));
                }
            }
            i = j + 1;
        }
        thinned = out;
        // Steps a pixel apart are a line.
        (&thinned[..], false)
    } else {
        (xy, step)
    };
    let mut d = String::new();
    for (k, &(x, y)) in xy.iter().enumerate() {
        if k == 0 {
            d.push_str(&format!("M{} {}", num(x), num(y)));
        } else if step {
            let mid = (xy[k - 1].0 + x) / 2.0;
            d.push_str(&format!("H{}V{}", num(mid), num(y)));
        } else {
            d.push_str(&format!("L{} {}", num(x), num(y)));
        }
    }
    if step {
        if let Some(&(x, _)) = xy.last() {
            d.push_str(&format!("H{}", num(x)));
        }
    }
    d
}

/// A line plot of `series` against the axis (a step plot with `step`).
fn plot(
    ax: &Axis,
    series: &[Series],
    flips: &[Flip],
    marks: &[Mark],
    step: bool,
    what: &str,
) -> El {
    let mut lo = 0f64;
    let mut hi = 0f64;
    for s in series {
        for p in &s.pts {
            lo = lo.min(p.2);
            hi = hi.max(p.3);
        }
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let yt = nice_ticks(lo, hi, 4);
    let top = yt.last().copied().filter(|t| *t >= hi).unwrap_or(hi);
    let lo = yt.first().copied().filter(|t| *t <= lo).unwrap_or(lo);
    let py = |v: f64| T + PH - (v - lo) / (top - lo) * PH;
    let mut svg = svg_el(W, H, &format!("{what} against {}", ax.path));
    svg.push(frame(ax, flips, marks, PH));
    let mut g = El::new("g").class("ticks");
    for t in &yt {
        g.push(
            El::new("line")
                .class("grid")
                .n("x1", L)
                .n("x2", L + PW)
                .n("y1", py(*t))
                .n("y2", py(*t)),
        );
        g.push(
            El::new("text")
                .class("yt")
                .n("x", L - 6.0)
                .n("y", py(*t) + 4.0)
                .text(&fmt_value(*t, false)),
        );
    }
    svg.push(g);
    // Labels at the right, pushed apart so that they do not overlap.
    let mut labels: Vec<(f64, usize)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.pts.last().map(|p| (py(p.1), i)))
        .collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for i in 1..labels.len() {
        if labels[i].0 < labels[i - 1].0 + 12.0 {
            labels[i].0 = labels[i - 1].0 + 12.0;
        }
    }
    for (i, s) in series.iter().enumerate() {
        let class = format!("series s{}", i % SERIES_CLASSES);
        let mut g = El::new("g").class(&class).a("data-series", &s.name);
        let xy: Vec<(f64, f64)> = s.pts.iter().map(|p| (px(p.0), py(p.1))).collect();
        let d = line_path(&xy, step);
        g.push(El::new("path").class("line").a("d", &d));
        if s.pts.len() > DETAIL_POINTS {
            // Whiskers as one path, no marker per point.
            let mut w = String::new();
            for p in s.pts.iter().filter(|p| p.4 > 1 && p.3 > p.2) {
                w.push_str(&format!(
                    "M{} {}V{}",
                    num(px(p.0)),
                    num(py(p.2)),
                    num(py(p.3))
                ));
            }
            if !w.is_empty() {
                g.push(El::new("path").class("whisker").a("d", &w));
            }
        }
        for p in s.pts.iter().filter(|_| s.pts.len() <= DETAIL_POINTS) {
            let x = px(p.0);
            let mut pt = El::new("g").class("pt").title(&p.5);
            if p.4 > 1 && p.3 > p.2 {
                pt.push(
                    El::new("line")
                        .class("whisker")
                        .n("x1", x)
                        .n("x2", x)
                        .n("y1", py(p.2))
                        .n("y2", py(p.3)),
                );
            }
            pt.push(El::new("circle").n("cx", x).n("cy", py(p.1)).n("r", 3.0));
            g.push(pt);
        }
        // A plot of one metric is named by its caption.
        let label = if series.len() > 1 || step {
            labels.iter().find(|l| l.1 == i).map(|l| l.0)
        } else {
            None
        };
        if let Some(y) = label {
            g.push(
                El::new("text")
                    .class("series-label")
                    .n("x", L + PW + 8.0)
                    .n("y", y + 4.0)
                    .text(&s.name),
            );
        }
        svg.push(g);
    }
    svg
}

/// `el` with a tooltip, when `on`.
fn titled(el: El, on: bool, t: impl FnOnce() -> String) -> El {
    if on {
        el.title(&t())
    } else {
        el
    }
}

/// Heatmaps for two varied keys: `xa` across (the last `--vary`), `ya`
/// up (the first).
fn two_paths(xa: &Axis, ya: &Axis, points: &BTreeMap<u64, Point>, info: &SweepInfo) -> El {
    let grid: BTreeMap<(usize, usize), &Point> =
        points.values().map(|p| ((p.at[1], p.at[0]), p)).collect();
    let (nx, ny) = (xa.labels.len(), ya.labels.len());
    let cw = (560.0 / nx as f64).clamp(12.0, 72.0);
    let ch = (320.0 / ny as f64).clamp(12.0, 30.0);
    let (left, top) = (120.0, 14.0);
    let col: BTreeMap<usize, usize> = xa.order.iter().enumerate().map(|(c, i)| (*i, c)).collect();
    let row: BTreeMap<usize, usize> = ya.order.iter().enumerate().map(|(r, i)| (*i, r)).collect();
    // Row 0 (the smallest value) at the bottom.
    let cell_x = |xi: usize| left + col[&xi] as f64 * cw;
    let cell_y = |yi: usize| top + (ny - 1 - row[&yi]) as f64 * ch;
    // Room at the right for a boundary's label.
    let width = left + nx as f64 * cw + 80.0;
    let height = top + ny as f64 * ch + 60.0;
    let pass = |xi: usize, yi: usize| grid.get(&(xi, yi)).map(|p| p.verdict() == Verdict::Pass);

    // The contour: every edge between a passing and a failing cell.
    let mut d = String::new();
    for (&(xi, yi), _) in grid.iter() {
        let Some(here) = pass(xi, yi) else { continue };
        let (x, y) = (cell_x(xi), cell_y(yi));
        if let Some(&next) = xa.order.get(col[&xi] + 1) {
            if pass(next, yi).is_some_and(|p| p != here) {
                d.push_str(&format!("M{} {}V{}", num(x + cw), num(y), num(y + ch)));
            }
        }
        if let Some(&up) = ya.order.get(row[&yi] + 1) {
            if pass(xi, up).is_some_and(|p| p != here) {
                d.push_str(&format!("M{} {}H{}", num(x), num(y), num(x + cw)));
            }
        }
    }
    let contour = || {
        El::new("g")
            .class("m contour")
            .title(
                "the boundary: between cells where every assertion holds and cells where one fails",
            )
            .child(El::new("path").a("d", &d))
    };
    // thaw boundary's boundaries of either key: a dashed line across.
    let bounds = || {
        let mut g = El::new("g").class("bnds");
        for b in info.boundaries {
            let title = format!(
                "thaw boundary: {} passes at {}, fails at {}: {}",
                b.path, b.pass, b.fail, b.change
            );
            let (line, label) = if b.path == xa.path {
                let Some(c) = cell_coord(xa, &b.pass) else {
                    continue;
                };
                let x = left + c * cw;
                (
                    El::new("line")
                        .n("x1", x)
                        .n("x2", x)
                        .n("y1", top - 4.0)
                        .n("y2", top + ny as f64 * ch),
                    El::new("text")
                        .class("bnd-label")
                        .n("x", x)
                        .n("y", top - 5.0)
                        .text("boundary"),
                )
            } else if b.path == ya.path {
                let Some(c) = cell_coord(ya, &b.pass) else {
                    continue;
                };
                let y = top + (ny as f64 - c) * ch;
                let right = left + nx as f64 * cw;
                (
                    El::new("line")
                        .n("x1", left)
                        .n("x2", right + 4.0)
                        .n("y1", y)
                        .n("y2", y),
                    El::new("text")
                        .class("bnd-label y")
                        .n("x", right + 6.0)
                        .n("y", y + 4.0)
                        .text("boundary"),
                )
            } else {
                continue;
            };
            g.push(
                El::new("g")
                    .class("m bnd")
                    .title(&title)
                    .child(line)
                    .child(label),
            );
        }
        g
    };
    let axes_of = |svg: &mut El| {
        let mut g = El::new("g").class("ticks");
        let every_x = ((nx as f64 * 64.0) / (nx as f64 * cw)).ceil().max(1.0) as usize;
        for (c, &xi) in xa.order.iter().enumerate() {
            if c % every_x == 0 {
                g.push(
                    El::new("text")
                        .class("xt")
                        .n("x", left + (c as f64 + 0.5) * cw)
                        .n("y", top + ny as f64 * ch + 14.0)
                        .text(&xa.labels[xi]),
                );
            }
        }
        let every_y = (14.0 / ch).ceil().max(1.0) as usize;
        for (r, &yi) in ya.order.iter().enumerate() {
            if r % every_y == 0 {
                g.push(
                    El::new("text")
                        .class("yt")
                        .n("x", left - 6.0)
                        .n("y", top + (ny - 1 - r) as f64 * ch + ch / 2.0 + 4.0)
                        .text(&ya.labels[yi]),
                );
            }
        }
        g.push(
            El::new("text")
                .class("axis-title")
                .n("x", left + nx as f64 * cw / 2.0)
                .n("y", top + ny as f64 * ch + 34.0)
                .text(&format!("{} →", xa.path)),
        );
        g.push(
            El::new("text")
                .class("axis-title y")
                .n("x", 12.0)
                .n("y", top + ny as f64 * ch + 50.0)
                .text(&format!("↑ {}", ya.path)),
        );
        svg.push(g);
    };
    let where_ = |p: &Point| {
        format!(
            "{} = {}, {} = {}",
            ya.path, ya.labels[p.at[0]], xa.path, xa.labels[p.at[1]]
        )
    };
    let text_fits = cw >= 26.0 && ch >= 12.0;
    let mut sec = El::new("section")
        .a("id", "heatmaps")
        .child(El::new("h2").text(&format!("{} against {}", ya.path, xa.path)))
        .child(El::new("p").class("help").text(
            "One cell per point. The thick line is the boundary: it separates the cells where \
             every run passed from the others. Hover a cell for its values.",
        ));

    let titles = grid.len() <= TITLED_CELLS;
    if !titles {
        sec.push(El::new("p").class("help").text(&format!(
            "{} cells: too many for a tooltip each; the Points table and the records have \
             every value.",
            grid.len()
        )));
    }
    // The verdicts.
    let mut svg = svg_el(width, height, "verdict of every point");
    let mut cells = El::new("g").class("cells");
    for p in grid.values() {
        let v = p.verdict();
        let (x, y) = (cell_x(p.at[1]), cell_y(p.at[0]));
        cells.push(
            titled(
                El::new("g").class(&format!("cell {}", v.class())),
                titles,
                || {
                    format!(
                        "{}: {} ({} of {} runs passed; exit {})",
                        where_(p),
                        v.word(),
                        p.passed(),
                        p.runs.len(),
                        p.exits()
                    )
                },
            )
            .child(
                El::new("rect")
                    .n("x", x)
                    .n("y", y)
                    .n("width", cw)
                    .n("height", ch),
            )
            .child(
                El::new("text")
                    .n("x", x + cw / 2.0)
                    .n("y", y + ch / 2.0 + 4.0)
                    .text(v.glyph()),
            ),
        );
    }
    svg.push(cells);
    svg.push(contour());
    svg.push(bounds());
    axes_of(&mut svg);
    sec.push(figure(
        "heat-verdict",
        "Verdict of every point (✓ pass, ✗ fail, ± some seeds pass)",
        svg,
    ));

    // The chosen metric.
    let m = info.heat_metric;
    let stats: Vec<(&Point, Option<Stat>)> = grid.values().map(|p| (*p, p.stat(m))).collect();
    let lo = stats
        .iter()
        .filter_map(|s| s.1.map(|x| x.0))
        .fold(f64::INFINITY, f64::min);
    let hi = stats
        .iter()
        .filter_map(|s| s.1.map(|x| x.0))
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        sec.push(El::new("p").a("id", "heat-metric").text(&format!(
            "No record has the metric `{m}`: no heatmap of it."
        )));
        return sec;
    }
    let mut svg = svg_el(width, height, &format!("{m} at every point"));
    let mut cells = El::new("g").class("cells");
    for (p, s) in &stats {
        let (x, y) = (cell_x(p.at[1]), cell_y(p.at[0]));
        let (tip, text, shade) = match s {
            None => (
                format!("{}: did not run (exit {})", where_(p), p.exits()),
                "–".to_string(),
                0.0,
            ),
            Some((mean, a, b, n)) => (
                if *n > 1 {
                    format!(
                        "{}: {m} mean {} (min {}, max {}, {n} runs); {}",
                        where_(p),
                        exact(*mean),
                        exact(*a),
                        exact(*b),
                        p.verdict().word()
                    )
                } else {
                    format!(
                        "{}: {m} {}; {}",
                        where_(p),
                        exact(*mean),
                        p.verdict().word()
                    )
                },
                fmt_value(*mean, false),
                if hi > lo {
                    (mean - lo) / (hi - lo)
                } else {
                    0.0
                },
            ),
        };
        let mut g = titled(
            El::new("g").class(&format!(
                "cell heat{}",
                if shade > 0.55 { " dark" } else { "" }
            )),
            titles,
            || tip,
        )
        .child(
            El::new("rect")
                .n("x", x)
                .n("y", y)
                .n("width", cw)
                .n("height", ch)
                .a("fill-opacity", &format!("{:.2}", 0.06 + 0.84 * shade)),
        );
        if text_fits {
            g.push(
                El::new("text")
                    .n("x", x + cw / 2.0)
                    .n("y", y + ch / 2.0 + 4.0)
                    .text(&text),
            );
        }
        cells.push(g);
    }
    svg.push(cells);
    svg.push(contour());
    svg.push(bounds());
    axes_of(&mut svg);
    sec.push(figure(
        "heat-metric",
        &format!(
            "{m} at every point{} (lighter: lower, darker: higher; {} … {})",
            if info.seeds > 1 {
                ", mean over the seeds"
            } else {
                ""
            },
            fmt_value(lo, false),
            fmt_value(hi, false)
        ),
        svg,
    ));
    sec
}

/// Every point in a table (the first 500): the same facts in text.
fn points_table(axes: &[Axis], points: &BTreeMap<u64, Point>) -> El {
    const MAX: usize = 500;
    let mut head = El::new("tr").child(El::new("th").text("point"));
    for a in axes {
        head.push(El::new("th").text(&a.path));
    }
    head = head
        .child(El::new("th").text("verdict"))
        .child(El::new("th").text("runs passed"))
        .child(El::new("th").text("exit"))
        .child(El::new("th").text("errors (mean)"));
    let mut tb = El::new("tbody");
    for (n, p) in points.iter().take(MAX) {
        let v = p.verdict();
        let mut tr = El::new("tr")
            .class(v.class())
            .child(El::new("td").text(&n.to_string()));
        for (a, i) in axes.iter().zip(&p.at) {
            tr.push(El::new("td").text(&a.labels[*i]));
        }
        tr.push(El::new("td").class("verdict").text(v.word()));
        tr.push(El::new("td").text(&format!("{}/{}", p.passed(), p.runs.len())));
        tr.push(El::new("td").text(&p.exits()));
        tr.push(El::new("td").text(&p.stat("errors").map_or("-".into(), |s| exact(s.0))));
        tb.push(tr);
    }
    let mut sec = El::new("section")
        .a("id", "points")
        .child(El::new("h2").text("Points"));
    if points.len() > MAX {
        sec.push(El::new("p").class("help").text(&format!(
            "The first {MAX} of {} points; the records have them all.",
            points.len()
        )));
    }
    sec.child(
        El::new("div").class("table-wrap").child(
            El::new("table")
                .class("points")
                .child(El::new("thead").child(head))
                .child(tb),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_unquote() {
        assert_eq!(
            csv_split("a,\"b,c\",\"d \"\"e\"\"\",,f"),
            vec!["a", "b,c", "d \"e\"", "", "f"]
        );
    }

    #[test]
    fn long_lines_are_thinned_keeping_spikes() {
        let xy: Vec<(f64, f64)> = (0..10_000)
            .map(|i| {
                (
                    L + i as f64 * PW / 10_000.0,
                    if i == 5_000 { 0.0 } else { 100.0 },
                )
            })
            .collect();
        let d = line_path(&xy, true);
        assert!(d.len() < 40_000, "{} bytes", d.len());
        assert!(d.contains(" 0L"), "the spike is kept: {d}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(log_ticks(1.0, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(fmt_value(0.25, true), "250ms");
        assert_eq!(fmt_value(150.0, true), "150s");
        assert_eq!(fmt_value(1.5, false), "1.5");
    }

    #[test]
    fn a_json_record_is_read_in_vary_order() {
        let line = r#"{"sweep":"x","run":0,"of":1,"point":3,"seed":1,"values":{"b":"2s","a":7},"passed":false,"exit":1,"metrics":{"errors":1,"errors_by_kind":{"ETIMEDOUT":1},"servers":{"s":{"errors":1}}}}"#;
        let r = SweepRecord::from_json(line, &["b".into(), "a".into()]).unwrap();
        assert_eq!(r.values, vec!["2s", "7"]);
        assert_eq!(r.point, 3);
        assert_eq!(r.exit, 1);
        assert_eq!(
            r.metrics,
            vec![("errors".into(), 1.0), ("servers.s.errors".into(), 1.0)]
        );
        assert_eq!(r.errors, vec![("ETIMEDOUT".into(), 1.0)]);
        assert_eq!(r.value("errors.ECONNRESET"), Some(0.0));
    }
}
