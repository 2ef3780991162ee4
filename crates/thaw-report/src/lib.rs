//! The HTML report of a thaw run (`thaw run FILE --html OUT.html`): one
//! self-contained file (inline SVG, CSS and a little script; nothing is
//! fetched, a Content-Security-Policy forbids it) with
//!
//! - a swimlane sequence diagram per connection kept (the first ones and
//!   the first with each kind of error): environment (application and
//!   kernel), middleboxes and server as lanes, segments as arrows, TCP and
//!   flow states as bands, cold start, freezes and reap shaded, the error
//!   with its errno and the application's message;
//! - an overview of the whole run on a compressed, zoomable time axis;
//! - the metrics and the expectations with their verdicts.
//!
//! It is built from the run's trace records ([`HtmlCollector`] is a
//! [`thaw_core::TraceSink`]) and its report; memory is bounded whatever
//! the length of the run, and the same run gives the same bytes.
#![warn(missing_docs)]

mod bins;
mod collect;
mod overview;
mod svg;
mod sweep;
mod swimlane;

use collect::{Conn, FIRST_CONNS};
pub use collect::{HtmlCollector, Tee};
use svg::{esc, El};
pub use sweep::{
    render_sweep, render_sweep_unfinished, SweepAxis, SweepBoundary, SweepInfo, SweepRecord,
};
use thaw_core::{SimDuration, SimTime};
use thaw_scenario::{Report, Scenario};

const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// The page's Content-Security-Policy: no fetch of any kind, inline style
/// and script only.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// Renders the report page of a finished run: `collector` saw every
/// record of the run, `report` is what the run returned.
pub fn render(mut collector: HtmlCollector, scenario: &Scenario, report: &Report) -> String {
    collector.finish();
    let c = &collector;
    let name = &scenario.config.name;
    // Shared hatch patterns (ids are page-wide).
    let mut body = String::from(
        "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>\
         <pattern id=\"hatch-frozen\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect class=\"pattern-bg\" width=\"8\" height=\"8\"/><line class=\"pattern-hatch\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\"/></pattern>\
         <pattern id=\"hatch-gap\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(-45)\">\
         <line class=\"pattern-gap\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\"/></pattern></defs></svg>\n",
    );

    // Head.
    let mut header = El::new("header")
        .child(El::new("h1").text(&format!("thaw — {name}")))
        .child(El::new("p").class("meta").text(&format!(
            "seed {} · thaw {} · {} timeline records · simulated {}",
            report.seed,
            env!("CARGO_PKG_VERSION"),
            c.records,
            SimTime::from_nanos(c.end)
        )));
    if !scenario.description.trim().is_empty() {
        header.push(El::new("p").class("desc").text(scenario.description.trim()));
    }
    for n in &scenario.notes {
        header.push(El::new("p").class("note-line").text(&format!("note: {n}")));
    }
    if let Some(e) = report.stopped() {
        header.push(
            El::new("p")
                .class("stopped")
                .text(&format!("The run did not finish: {e}")),
        );
    }
    header.write_to(&mut body);
    El::new("nav")
        .raw(
            "<a href=\"#verdicts\">verdicts</a> · <a href=\"#swimlanes\">swimlanes</a> · \
             <a href=\"#overview\">overview</a> · <a href=\"#invocations\">invocations</a> · \
             <a href=\"#metrics\">metrics</a>",
        )
        .write_to(&mut body);

    verdicts(scenario, report).write_to(&mut body);
    swimlanes(c).write_to(&mut body);

    // Overview.
    let (ov, segs) = overview::render(c);
    let mut sec = El::new("section")
        .a("id", "overview")
        .child(El::new("h2").text("Overview"))
        .child(El::new("p").class("help").text(
            "Time runs left to right; stretches where nothing happens are compressed (hatched, \
             labelled with their length). Zoom with the mouse wheel or the buttons, pan by \
             dragging or with the arrow keys; hover for details.",
        ))
        .raw(
            "<div class=\"controls\"><button type=\"button\" data-zoom=\"in\">zoom in</button> \
             <button type=\"button\" data-zoom=\"out\">zoom out</button> \
             <button type=\"button\" data-zoom=\"reset\">reset</button> \
             <span id=\"ov-range\"></span></div>",
        )
        .child(legend(&[
            ("g-init", "init (cold start)"),
            ("g-busy", "busy"),
            ("g-idle", "idle"),
            ("g-frozen", "frozen"),
            ("held", "connection held by the server"),
            ("zombie", "zombie (its environment frozen or reaped)"),
            ("err", "✕ error"),
        ]));
    if let Some(why) = &c.gantt_dropped {
        sec.push(El::new("p").class("help").text(&format!(
            "Environments are not drawn one by one ({why}): the charts show counts per time bin."
        )));
    }
    sec.push(El::new("div").class("ov-wrap").child(ov));
    sec.push(
        El::new("script")
            .a("type", "application/json")
            .a("id", "ov-axis")
            .raw(&overview::axis_json(&segs)),
    );
    sec.write_to(&mut body);

    invocations(c).write_to(&mut body);
    metrics(report).write_to(&mut body);
    El::new("footer")
        .text(&format!(
            "Generated by thaw {} from the run's trace records; the same run gives the same file. \
             docs/html-report.md explains every mark.",
            env!("CARGO_PKG_VERSION")
        ))
        .write_to(&mut body);

    page(name, &body)
}

/// The page shell shared by the run and the sweep reports: the CSP, the
/// stylesheet and the script inline, `body` as it is.
fn page(name: &str, body: &str) -> String {
    let mut page = String::with_capacity(body.len() + CSS.len() + JS.len() + 512);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
    ));
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    page.push_str(&format!("<title>thaw — {}</title>\n", esc(name)));
    page.push_str("<style>\n");
    page.push_str(CSS);
    page.push_str("</style>\n</head>\n<body>\n");
    page.push_str(body);
    page.push_str("\n<script>\n");
    page.push_str(JS);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

fn legend(items: &[(&str, &str)]) -> El {
    let mut ul = El::new("ul").class("legend");
    for (cls, text) in items {
        ul.push(
            El::new("li")
                .child(
                    El::new("span")
                        .class(&format!("sw {cls}"))
                        .a("aria-hidden", "true"),
                )
                .text(text),
        );
    }
    ul
}

fn verdicts(scenario: &Scenario, report: &Report) -> El {
    let mut sec = El::new("section")
        .a("id", "verdicts")
        .child(El::new("h2").text("Expectations"));
    let m = &report.result.metrics;
    sec.push(El::new("p").class("totals").text(&format!(
        "{} invocations · {} cold starts · {} errors{} · {} environments · server connections peak {} · zombie connection-seconds {:.3}",
        m.invocations,
        m.cold_starts,
        m.errors,
        if m.errors_by_kind.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                m.errors_by_kind
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        m.environments,
        m.server_connections_peak,
        m.zombie_connection_seconds
    )));
    if report.expectations.is_empty() {
        sec.push(El::new("p").text(if scenario.expectations.is_empty() {
            "The scenario has no [expect] assertions."
        } else {
            "Not checked: the run did not finish."
        }));
        return sec;
    }
    let mut ul = El::new("ul").class("verdicts");
    for e in &report.expectations {
        ul.push(
            El::new("li")
                .class(if e.passed { "pass" } else { "fail" })
                .child(El::new("span").class("verdict").text(if e.passed {
                    "✓ ok"
                } else {
                    "✗ FAIL"
                }))
                .text(" ")
                .child(El::new("code").text(&e.expr))
                .text(&format!("  (actual: {})", e.actual)),
        );
    }
    sec.push(ul);
    sec
}

/// Why a connection has a swimlane.
fn why_kept(c: &Conn, chosen: Option<usize>) -> String {
    if chosen == Some(c.index) {
        return "the connection asked for (--html-conn)".to_string();
    }
    match (&c.error, c.index < FIRST_CONNS) {
        (Some(k), _) => format!(
            "an invocation failed on it with {}",
            swimlane::error_label(k)
        ),
        (None, true) => format!("connection {} of the run", c.index + 1),
        (None, false) => String::new(),
    }
}

fn swimlanes(c: &HtmlCollector) -> El {
    let mut sec = El::new("section")
        .a("id", "swimlanes")
        .child(El::new("h2").text("Connections"))
        .child(El::new("p").class("help").text(&format!(
            "One sequence diagram per connection kept: the first {FIRST_CONNS} and the first \
             on which each kind of error happened. Time runs down; rows at the same instant are \
             stacked; gaps of a second or more are compressed. Hover a mark for its timeline line."
        )))
        .child(legend(&[
            ("k-syn", "SYN / SYN-ACK"),
            ("k-data", "data"),
            ("k-ack", "ACK"),
            ("k-fin", "FIN"),
            ("k-rst", "RST"),
            ("xx", "✕ packet not delivered (dropped, frozen, vanished)"),
            ("sh-cold", "cold start"),
            ("sh-frozen", "frozen"),
            ("sh-reaped", "reaped"),
            ("st-est", "TCP / flow state band (labelled)"),
        ]));
    let mut kept: Vec<&Conn> = c.kept.iter().collect();
    kept.sort_by_key(|k| k.index);
    if kept.is_empty() {
        sec.push(El::new("p").text("No connection was opened in this run."));
    }
    for (i, k) in kept.iter().enumerate() {
        let id = format!("swim-{}", i + 1);
        let start = k.recs.first().map(|r| r.t.as_nanos()).unwrap_or(0);
        let stop = k.recs.last().map(|r| r.t.as_nanos()).unwrap_or(0);
        sec.push(
            El::new("figure")
                .class("swim")
                .a("id", &format!("{id}-fig"))
                .child(El::new("figcaption").text(&format!(
                    "Connection {}: {}:{} → {} ({} → {}, {}); {}",
                    k.index + 1,
                    k.key.client,
                    k.key.port,
                    k.key.server,
                    SimTime::from_nanos(start),
                    SimTime::from_nanos(stop),
                    SimDuration::from_nanos(stop - start),
                    why_kept(k, c.chosen)
                )))
                .child(
                    El::new("div")
                        .class("swim-wrap")
                        .child(swimlane::render(k, &c.names, &id)),
                ),
        );
    }
    if let (Some(n), false) = (c.chosen, c.chosen_done) {
        sec.push(El::new("p").class("help").text(&format!(
            "Connection {} was asked for (--html-conn), but the run opened only {}.",
            n + 1,
            c.next_conn
        )));
    }
    if c.untracked_conns > 0 {
        sec.push(El::new("p").class("help").text(&format!(
            "{} later connections were only counted: every kind of error already had its \
             swimlane, or they came after the first {} connections (or the buffer was full).",
            c.untracked_conns,
            collect::DETAIL_CONNS
        )));
    }
    sec
}

fn invocations(c: &HtmlCollector) -> El {
    let mut sec = El::new("section")
        .a("id", "invocations")
        .child(El::new("h2").text("Invocations"));
    let shown = c.rows.len();
    sec.push(El::new("p").class("help").text(&format!(
        "{shown} shown: the first {} and up to {} more that failed.",
        collect::TABLE_FIRST,
        40
    )));
    let mut t = El::new("table").raw(
        "<thead><tr><th>id</th><th>at</th><th>env</th><th>cold</th><th>outcome</th>\
         <th>latency</th><th>connection</th><th>timeline</th></tr></thead>",
    );
    let mut tb = El::new("tbody");
    for r in &c.rows {
        tb.push(
            El::new("tr")
                .class(if r.error.is_some() { "fail" } else { "pass" })
                .child(El::new("td").text(&format!("inv-{}", r.id)))
                .child(El::new("td").text(&SimTime::from_nanos(r.at).to_string()))
                .child(El::new("td").text(&r.env.map_or("-".into(), |e| format!("env-{e}"))))
                .child(El::new("td").text(if r.cold { "yes" } else { "no" }))
                .child(El::new("td").text(&match (&r.error, r.ended) {
                    (Some(k), _) => format!("✗ {}", swimlane::error_label(k)),
                    (None, true) => "✓ ok".into(),
                    (None, false) => "unfinished".into(),
                }))
                .child(
                    El::new("td").text(
                        &r.latency
                            .map_or("-".into(), |l| SimDuration::from_nanos(l).to_string()),
                    ),
                )
                // The number `--html-conn` takes, for a failure's swimlane.
                .child(El::new("td").text(&r.conn.map_or("-".into(), |c| format!("#{}", c + 1))))
                .child(El::new("td").class("detail").text(&r.detail)),
        );
    }
    t.push(tb);
    sec.push(El::new("div").class("table-wrap").child(t));
    sec
}

/// Every metric of the JSON report, flattened to dotted names.
fn metrics(report: &Report) -> El {
    fn flat(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&p, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    if let Some(m) = report.json.get("metrics") {
        flat("metrics", m, &mut rows);
    }
    let mut dl = El::new("table").class("metrics");
    let mut tb = El::new("tbody");
    for (k, v) in rows {
        tb.push(
            El::new("tr")
                .child(El::new("th").text(&k))
                .child(El::new("td").text(&v)),
        );
    }
    dl.push(tb);
    El::new("section")
        .a("id", "metrics")
        .child(El::new("h2").text("Metrics"))
        .child(
            El::new("p").class("help").text(
                "The report's metrics (thaw run --format json), by the names expectations use.",
            ),
        )
        .child(El::new("div").class("table-wrap").child(dl))
}
