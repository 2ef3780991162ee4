//! The overview of a whole run on one horizontal time axis: environments
//! (a Gantt row each while the run is small; counts by state always),
//! the connections each server holds against its limit (zombies apart),
//! arrivals and errors. The axis is piecewise linear: stretches with no
//! record at all are compressed to a fixed width and labelled, so a run
//! with microsecond handshakes and hour-long freezes fits one screen. The
//! page's script zooms and pans it.
use crate::bins::Bin;
use crate::collect::{EnvState, HtmlCollector};
use crate::svg::{num, El};
use thaw_core::{SimDuration, SimTime};

/// Width of the plotting area.
const W: f64 = 1000.0;
/// Left column (row labels).
const L: f64 = 150.0;
/// Width of a compressed quiet stretch.
const GAP_W: f64 = 26.0;
/// A run of at least this many empty bins is compressed.
const QUIET_BINS: usize = 3;

/// A piece of the time axis: times [t0, t1] (ns) drawn over [x0, x1].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    pub t0: u64,
    pub t1: u64,
    pub x0: f64,
    pub x1: f64,
    pub quiet: bool,
}

/// The axis of a run that ends at `end`, from its bins.
pub(crate) fn axis(bins: &[Bin], width: u64, end: u64) -> Vec<Seg> {
    let n = bins.len();
    // Runs of active / quiet bins.
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < n {
        let quiet = bins[i].activity == 0;
        let mut j = i;
        while j < n && (bins[j].activity == 0) == quiet {
            j += 1;
        }
        runs.push((i, j, quiet && j - i >= QUIET_BINS && i > 0 && j < n));
        i = j;
    }
    let quiet_n = runs.iter().filter(|r| r.2).count();
    let active_bins: usize = runs.iter().filter(|r| !r.2).map(|r| r.1 - r.0).sum();
    let per_bin = (W - GAP_W * quiet_n as f64) / active_bins.max(1) as f64;
    let mut x = 0.0;
    let mut segs = Vec::new();
    for (a, b, quiet) in runs {
        let t0 = a as u64 * width;
        let t1 = (b as u64 * width).min(end.max(1));
        let dx = if quiet {
            GAP_W
        } else {
            per_bin * (b - a) as f64
        };
        if t1 > t0 {
            segs.push(Seg {
                t0,
                t1,
                x0: x,
                x1: x + dx,
                quiet,
            });
        }
        x += dx;
    }
    if segs.is_empty() {
        segs.push(Seg {
            t0: 0,
            t1: end.max(1),
            x0: 0.0,
            x1: W,
            quiet: false,
        });
    }
    segs
}

/// Base x (0..W) of time `t` on the axis.
pub(crate) fn x_of(segs: &[Seg], t: u64) -> f64 {
    let i = segs.partition_point(|s| s.t1 < t).min(segs.len() - 1);
    let s = segs[i];
    if t <= s.t0 {
        return s.x0;
    }
    let f = (t - s.t0) as f64 / (s.t1 - s.t0).max(1) as f64;
    s.x0 + f.min(1.0) * (s.x1 - s.x0)
}

/// A time for an axis label: µs to days.
pub(crate) fn short_time(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if ns == 0 {
        "0".into()
    } else if ns < 1_000_000 {
        format!("{}µs", num(ns as f64 / 1e3))
    } else if ns < 1_000_000_000 {
        format!("{}ms", num(ns as f64 / 1e6))
    } else if s < 120.0 {
        format!("{}s", num(s))
    } else if s < 7_200.0 {
        format!("{}m{}s", (s / 60.0).floor(), (s % 60.0).floor())
    } else if s < 172_800.0 {
        format!(
            "{}h{}m",
            (s / 3600.0).floor(),
            ((s % 3600.0) / 60.0).floor()
        )
    } else {
        format!(
            "{}d{}h",
            (s / 86400.0).floor(),
            ((s % 86400.0) / 3600.0).floor()
        )
    }
}

/// A zoomable rectangle from t0 to t1 on row y.
fn zrect(segs: &[Seg], t0: u64, t1: u64, y: f64, h: f64) -> El {
    let x0 = x_of(segs, t0);
    let w = (x_of(segs, t1) - x0).max(0.6);
    El::new("rect")
        .class("zx")
        .n("data-x", x0)
        .n("data-w", w)
        .n("x", L + x0)
        .n("y", y)
        .n("width", w)
        .n("height", h)
}

/// A zoomable polygon through base points.
fn zpath(cls: &str, pts: &[(f64, f64)]) -> El {
    let data: Vec<String> = pts
        .iter()
        .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
        .collect();
    let d: Vec<String> = pts
        .iter()
        .enumerate()
        .map(|(i, (x, y))| {
            format!(
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                num(L + x),
                num(*y)
            )
        })
        .collect();
    El::new("path")
        .class(&format!("zp {cls}"))
        .a("data-p", &data.join(" "))
        .a("d", &d.join(""))
}

fn row_label(y: f64, text: &str) -> El {
    El::new("text")
        .class("row-label")
        .n("x", L - 8.0)
        .n("y", y)
        .text(text)
}

/// Draws the overview; returns it and the axis for the script.
pub(crate) fn render(c: &HtmlCollector) -> (El, Vec<Seg>) {
    let end = c.end.max(1);
    let used = c.bins.used(end).min(c.bins.bins.len());
    let bins = &c.bins.bins[..used];
    let width = c.bins.width;
    let segs = axis(bins, width, end);
    let mut g = El::new("g").a("clip-path", "url(#ov-clip)");
    let mut labels = El::new("g").class("labels");
    let mut y = 40.0;

    // Compressed stretches.
    let mut gaps = El::new("g").class("gaps");
    for s in segs.iter().filter(|s| s.quiet) {
        gaps.push(
            El::new("g")
                .class("gap")
                .title(&format!(
                    "nothing happens for {} ({} → {}): compressed",
                    SimDuration::from_nanos(s.t1 - s.t0),
                    SimTime::from_nanos(s.t0),
                    SimTime::from_nanos(s.t1)
                ))
                .child(
                    El::new("rect")
                        .class("zx")
                        .n("data-x", s.x0)
                        .n("data-w", s.x1 - s.x0)
                        .n("x", L + s.x0)
                        .n("y", 22.0)
                        .n("width", s.x1 - s.x0)
                        .n("height", 10_000.0),
                )
                .child(
                    El::new("text")
                        .class("zx gap-label")
                        .n("data-x", (s.x0 + s.x1) / 2.0)
                        .n("x", L + (s.x0 + s.x1) / 2.0)
                        .n("y", 32.0)
                        .text(&format!("⋯{}", short_time(s.t1 - s.t0))),
                ),
        );
    }
    g.push(gaps);

    // Gantt: one row per environment.
    if let Some(gantt) = &c.gantt {
        labels.push(
            El::new("text")
                .class("chart-title")
                .n("x", 8.0)
                .n("y", y + 10.0)
                .text("environments (Gantt)"),
        );
        y += 16.0;
        for (env, spans) in &gantt.envs {
            labels.push(row_label(y + 10.0, &format!("env-{env}")));
            let mut row = El::new("g")
                .class("g-row")
                .a("data-env", &format!("env-{env}"));
            for s in spans {
                if s.state == EnvState::Reaped {
                    row.push(
                        El::new("g")
                            .class("m g-reap")
                            .title(&format!(
                                "env-{env} reaped at {}",
                                SimTime::from_nanos(s.t0)
                            ))
                            .child(
                                El::new("text")
                                    .class("zx")
                                    .n("data-x", x_of(&segs, s.t0))
                                    .n("x", L + x_of(&segs, s.t0))
                                    .n("y", y + 10.0)
                                    .text("✝ reaped"),
                            ),
                    );
                    continue;
                }
                if s.t1 <= s.t0 {
                    continue;
                }
                row.push(
                    El::new("g")
                        .class(&format!("g-{}", s.state.label()))
                        .title(&format!(
                            "env-{env} {} {} → {} ({})",
                            s.state.label(),
                            SimTime::from_nanos(s.t0),
                            SimTime::from_nanos(s.t1),
                            SimDuration::from_nanos(s.t1 - s.t0)
                        ))
                        .child(zrect(&segs, s.t0, s.t1, y, 12.0)),
                );
            }
            for h in gantt.held.iter().filter(|h| h.env == *env) {
                row.push(
                    El::new("g")
                        .class("held")
                        .title(&format!(
                            "{}: {} → {}",
                            h.label,
                            SimTime::from_nanos(h.t0),
                            SimTime::from_nanos(h.t1)
                        ))
                        .child(zrect(&segs, h.t0, h.t1, y + 13.0, 4.0)),
                );
                // Zombie: held while the environment is frozen or gone.
                for s in spans
                    .iter()
                    .filter(|s| matches!(s.state, EnvState::Frozen | EnvState::Reaped))
                {
                    let s1 = if s.state == EnvState::Reaped {
                        end
                    } else {
                        s.t1
                    };
                    let (a, b) = (s.t0.max(h.t0), s1.min(h.t1));
                    if b > a {
                        row.push(
                            El::new("g")
                                .class("zombie")
                                .title(&format!(
                                    "zombie: {} while env-{env} is {} ({} → {})",
                                    h.label,
                                    s.state.label(),
                                    SimTime::from_nanos(a),
                                    SimTime::from_nanos(b)
                                ))
                                .child(zrect(&segs, a, b, y + 13.0, 4.0)),
                        );
                    }
                }
            }
            for e in gantt.errors.iter().filter(|e| e.env == Some(*env)) {
                let x = x_of(&segs, e.t);
                row.push(
                    El::new("g")
                        .class("m g-error")
                        .a("data-kind", &e.kind)
                        .title(&e.line)
                        .child(
                            El::new("text")
                                .class("zx err-mark")
                                .n("data-x", x)
                                .n("x", L + x)
                                .n("y", y + 11.0)
                                .text(&format!("✕ {}", e.kind)),
                        ),
                );
            }
            g.push(row);
            y += 20.0;
        }
        y += 10.0;
    }

    // Environments by state, stacked (mean per bin).
    let seconds = |b: usize| -> f64 {
        let t0 = b as u64 * width;
        let t1 = ((b as u64 + 1) * width).min(end);
        t1.saturating_sub(t0).max(1) as f64
    };
    let means: Vec<[f64; 4]> = bins
        .iter()
        .enumerate()
        .map(|(b, bin)| {
            let d = seconds(b);
            [0, 1, 2, 3].map(|i| bin.env_area[i] as f64 / d)
        })
        .collect();
    let env_max = means
        .iter()
        .map(|m| m.iter().sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let h_env = 70.0;
    labels.push(
        El::new("text")
            .class("chart-title")
            .n("x", 8.0)
            .n("y", y + 10.0)
            .text(&format!(
                "environments by state (mean per bin; top {})",
                num(env_max)
            )),
    );
    y += 16.0;
    let base = y + h_env;
    let mut below = vec![0.0_f64; bins.len()];
    for (i, state) in ["init", "busy", "idle", "frozen"].iter().enumerate() {
        let mut top: Vec<(f64, f64)> = Vec::new();
        let mut bottom: Vec<(f64, f64)> = Vec::new();
        for (b, m) in means.iter().enumerate() {
            let t0 = b as u64 * width;
            let t1 = ((b as u64 + 1) * width).min(end);
            let (x0, x1) = (x_of(&segs, t0), x_of(&segs, t1));
            let lo = base - below[b] / env_max * h_env;
            let hi = base - (below[b] + m[i]) / env_max * h_env;
            top.push((x0, hi));
            top.push((x1, hi));
            bottom.push((x0, lo));
            bottom.push((x1, lo));
            below[b] += m[i];
        }
        bottom.reverse();
        top.extend(bottom);
        if means.iter().any(|m| m[i] > 0.0) {
            g.push(
                El::new("g")
                    .class(&format!("area a-{state}"))
                    .title(&format!("environments {state}"))
                    .child(zpath("", &top)),
            );
        }
    }
    labels.push(row_label(y + 10.0, "init busy idle frozen"));
    g.push(baseline(base));
    y = base + 14.0;

    // Connections each server (and the proxy) holds.
    for h in 0..c.names.holders() {
        let name = c.names.holder_name(h).to_string();
        let peak = bins.iter().map(|b| b.held_max[h]).max().unwrap_or(0);
        let limit = c.names.limits.get(h).copied();
        let scale_top = match limit {
            Some(l) if u64::from(l) <= peak.saturating_mul(2).max(4) => u64::from(l).max(peak),
            _ => peak,
        }
        .max(1) as f64;
        let h_c = 60.0;
        labels.push(
            El::new("text")
                .class("chart-title")
                .n("x", 8.0)
                .n("y", y + 10.0)
                .text(&format!(
                    "connections held by {name} (most per bin; peak {peak}{})",
                    match limit {
                        Some(l) => format!(", limit {l}"),
                        None => String::new(),
                    }
                )),
        );
        y += 16.0;
        let base = y + h_c;
        for (what, pick) in [("held", 0), ("zombie", 1)] {
            let mut pts = vec![(0.0, base)];
            for (b, bin) in bins.iter().enumerate() {
                let v = if pick == 0 {
                    bin.held_max[h]
                } else {
                    bin.zombie_max[h]
                } as f64;
                let t0 = b as u64 * width;
                let t1 = ((b as u64 + 1) * width).min(end);
                let yy = base - v / scale_top * h_c;
                pts.push((x_of(&segs, t0), yy));
                pts.push((x_of(&segs, t1), yy));
            }
            pts.push((x_of(&segs, end), base));
            g.push(
                El::new("g")
                    .class(&format!("area a-{what}"))
                    .title(&format!(
                        "{name}: connections {what} (most at once per bin)"
                    ))
                    .child(zpath("", &pts)),
            );
        }
        labels.push(row_label(y + 10.0, "held, zombie"));
        if let Some(l) = limit {
            if f64::from(l) <= scale_top {
                let ly = base - f64::from(l) / scale_top * h_c;
                g.push(
                    El::new("g")
                        .class("limit")
                        .title(&format!("{name}: connection limit {l}"))
                        .child(
                            El::new("line")
                                .n("x1", L)
                                .n("y1", ly)
                                .n("x2", L + W)
                                .n("y2", ly),
                        ),
                );
                labels.push(
                    El::new("text")
                        .class("limit-label")
                        .n("x", L - 8.0)
                        .n("y", ly + 4.0)
                        .text(&format!("limit {l}")),
                );
            }
        }
        g.push(baseline(base));
        y = base + 14.0;
    }

    // Arrivals and errors, as bars per bin.
    let mut kinds: Vec<String> = Vec::new();
    for b in bins {
        for k in b.errors.keys() {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
    }
    kinds.sort();
    let mut bar_rows: Vec<(String, Vec<u64>, &str)> = vec![(
        "invocations".into(),
        bins.iter().map(|b| b.invocations).collect(),
        "bar-inv",
    )];
    for k in &kinds {
        bar_rows.push((
            k.clone(),
            bins.iter()
                .map(|b| b.errors.get(k).copied().unwrap_or(0))
                .collect(),
            "bar-err",
        ));
    }
    labels.push(
        El::new("text")
            .class("chart-title")
            .n("x", 8.0)
            .n("y", y + 10.0)
            .text("arrivals and errors per bin"),
    );
    y += 16.0;
    for (label, counts, cls) in bar_rows {
        let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
        let total: u64 = counts.iter().sum();
        labels.push(row_label(y + 12.0, &format!("{label} ({total})")));
        let mut row = El::new("g")
            .class(&format!("bars {cls}"))
            .a("data-series", &label);
        for (b, n) in counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let t0 = b as u64 * width;
            let t1 = ((b as u64 + 1) * width).min(end);
            let hh = 14.0 * (*n as f64 / max).max(0.2);
            row.push(
                El::new("g")
                    .title(&format!(
                        "{label}: {n} in {} → {}",
                        SimTime::from_nanos(t0),
                        SimTime::from_nanos(t1)
                    ))
                    .child(zrect(&segs, t0, t1.max(t0 + 1), y + 16.0 - hh, hh)),
            );
        }
        g.push(row);
        y += 20.0;
    }
    y += 10.0;

    // The axis: ticks drawn by the script as it zooms; these are its
    // first view.
    let mut ticks = El::new("g").class("ticks").a("id", "ov-ticks");
    for i in 0..=8 {
        let bx = W * f64::from(i) / 8.0;
        let t = t_of(&segs, bx);
        ticks.push(
            El::new("g")
                .child(
                    El::new("line")
                        .n("x1", L + bx)
                        .n("y1", 14.0)
                        .n("x2", L + bx)
                        .n("y2", y),
                )
                .child(
                    El::new("text")
                        .n("x", L + bx)
                        .n("y", 12.0)
                        .text(&short_time(t)),
                ),
        );
    }
    let height = y + 4.0;
    let svg = El::new("svg")
        .a("id", "ov")
        .class("overview")
        .a("role", "img")
        .a(
            "aria-label",
            "Overview of the run: environments, connections held by the servers, arrivals and errors over time",
        )
        .a("viewBox", &format!("0 0 {} {}", num(L + W + 10.0), num(height)))
        .n("width", L + W + 10.0)
        .n("height", height)
        .a("tabindex", "0")
        .child(
            El::new("defs").child(
                El::new("clipPath").a("id", "ov-clip").child(
                    El::new("rect")
                        .n("x", L)
                        .n("y", 0.0)
                        .n("width", W)
                        .n("height", height),
                ),
            ),
        )
        .child(ticks)
        .child(g)
        .child(labels);
    (svg, segs)
}

/// The time at base x `x` (inverse of [`x_of`]).
fn t_of(segs: &[Seg], x: f64) -> u64 {
    let i = segs.partition_point(|s| s.x1 < x).min(segs.len() - 1);
    let s = segs[i];
    let f = ((x - s.x0) / (s.x1 - s.x0).max(1e-9)).clamp(0.0, 1.0);
    s.t0 + (f * (s.t1 - s.t0) as f64) as u64
}

/// The axis for the script: `[t0_s, t1_s, x0, x1, quiet]` per piece.
pub(crate) fn axis_json(segs: &[Seg]) -> String {
    let parts: Vec<String> = segs
        .iter()
        .map(|s| {
            format!(
                "[{},{},{},{},{}]",
                fmt_secs(s.t0),
                fmt_secs(s.t1),
                num(s.x0),
                num(s.x1),
                u8::from(s.quiet)
            )
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// Seconds with nanosecond digits, from integers (no float rounding).
fn fmt_secs(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// The x axis line of a strip whose bottom is at `y`.
fn baseline(y: f64) -> El {
    El::new("line")
        .class("baseline")
        .n("x1", L)
        .n("y1", y)
        .n("x2", L + W)
        .n("y2", y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_times_span_microseconds_to_days() {
        assert_eq!(short_time(250_000), "250µs");
        assert_eq!(short_time(208_595_546), "208.6ms");
        assert_eq!(short_time(95_000_000_000), "95s");
        assert_eq!(short_time(396_408_000_000), "6m36s");
        assert_eq!(short_time(28_800_000_000_000), "8h0m");
        assert_eq!(short_time(3 * 86_400_000_000_000), "3d0h");
    }
}
