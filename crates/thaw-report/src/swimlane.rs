//! The swimlane sequence diagram of one connection: lanes for its
//! environment (application and kernel), each middlebox that saw the flow
//! and the server (or proxy); segments as arrows from the sending to the
//! receiving lane; states as bands; the environment's cold start, frozen
//! spans and reap shaded. Time runs down: one row per record, rows at the
//! same instant stacked, gaps of a second or more compressed and
//! labelled.
use crate::collect::{env_number, field_str, field_u64, is_segment_event, Conn, Names};
use crate::svg::{num, El};
use thaw_core::{SimDuration, SimTime, TraceRecord};
use thaw_sim::jsonl::timeline_line;

const TOP: f64 = 58.0;
const TIME_W: f64 = 104.0;
const ENV_GAP: f64 = 110.0;
const LANE_GAP: f64 = 150.0;
const NOTES_W: f64 = 660.0;
/// Gaps at least this long are drawn compressed, at a fixed height.
const GAP_NS: u64 = 1_000_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum LaneKind {
    App,
    Kernel,
    Middlebox,
    Server,
}

struct Lane {
    name: String,
    label: String,
    x: f64,
    kind: LaneKind,
}

/// The errno a kind stands for (Linux numbers), for the error's label.
fn errno(kind: &str) -> Option<u32> {
    Some(match kind {
        "ETIMEDOUT" => 110,
        "ECONNRESET" => 104,
        "EPIPE" => 32,
        "ECONNREFUSED" => 111,
        "EADDRNOTAVAIL" => 99,
        _ => return None,
    })
}

/// The label of an error: `ETIMEDOUT (errno 110)`.
pub(crate) fn error_label(kind: &str) -> String {
    match errno(kind) {
        Some(n) => format!("{kind} (errno {n})"),
        None => kind.to_string(),
    }
}

fn is_error_outcome(r: &TraceRecord) -> bool {
    r.event == "outcome" && field_str(r, "error").is_some()
}

/// A segment's identity, to match its sending with its arrival.
fn seg_id(r: &TraceRecord) -> Option<(u64, u64, u64, u64, &str, u64, u64)> {
    Some((
        field_u64(r, "src_host")?,
        field_u64(r, "src_port")?,
        field_u64(r, "dst_host")?,
        field_u64(r, "dst_port")?,
        field_str(r, "kind")?,
        field_u64(r, "seq")?,
        field_u64(r, "ack")?,
    ))
}

fn is_arrival(e: &str) -> bool {
    is_segment_event(e) && e != "send"
}

/// Vertical space before a row, from the time since the previous one:
/// a line for the same instant, a little more per decade of microseconds,
/// and a fixed band for a compressed gap.
fn step(dt: u64) -> f64 {
    if dt == 0 {
        13.0
    } else if dt < GAP_NS {
        14.0 + 3.0 * (1.0 + dt as f64 / 1_000.0).log10()
    } else {
        40.0
    }
}

/// The text of a row's note: the timeline text without the socket name
/// the lanes already show.
fn note_text(r: &TraceRecord) -> &str {
    let t = r.text.as_str();
    if t.starts_with(&format!("{} socket ", r.component)) {
        if let Some(i) = t.find(": ") {
            return &t[i + 2..];
        }
    }
    t
}

/// The CSS class of a state band.
fn state_class(s: &str) -> &'static str {
    match s {
        "ESTABLISHED" => "st-est",
        "SYN_SENT" | "SYN_RECV" => "st-syn",
        "CLOSED" | "CLOSE" => "st-closed",
        _ => "st-closing",
    }
}

/// Draws the swimlane of `c`. `id` names the figure in the page.
pub(crate) fn render(c: &Conn, names: &Names, id: &str) -> El {
    let recs = &c.recs;
    let env = c.env;
    // Lanes.
    let mut lanes: Vec<Lane> = Vec::new();
    let client = c.key.client.clone();
    let mut x = TIME_W + 50.0;
    if env.is_some() {
        lanes.push(Lane {
            name: "app".into(),
            label: "application".into(),
            x,
            kind: LaneKind::App,
        });
        x += ENV_GAP;
        lanes.push(Lane {
            name: client.clone(),
            label: "kernel".into(),
            x,
            kind: LaneKind::Kernel,
        });
    } else {
        lanes.push(Lane {
            name: client.clone(),
            label: client.clone(),
            x,
            kind: LaneKind::Kernel,
        });
    }
    for m in &names.middleboxes {
        if recs.iter().any(|r| &r.component == m) {
            x += LANE_GAP;
            lanes.push(Lane {
                name: m.clone(),
                label: m.clone(),
                x,
                kind: LaneKind::Middlebox,
            });
        }
    }
    x += LANE_GAP;
    lanes.push(Lane {
        name: c.key.server.clone(),
        label: c.key.server.clone(),
        x,
        kind: LaneKind::Server,
    });
    let notes_x = x + 80.0;
    let width = notes_x + NOTES_W;
    let lane_x = |name: &str| lanes.iter().find(|l| l.name == name).map(|l| l.x);
    let app_x = lanes
        .iter()
        .find(|l| l.kind == LaneKind::App)
        .map_or(lanes[0].x, |l| l.x);
    let kernel_x = lanes
        .iter()
        .find(|l| l.kind == LaneKind::Kernel)
        .map_or(lanes[0].x, |l| l.x);
    // Rows.
    let mut ys = Vec::with_capacity(recs.len());
    let mut gaps: Vec<(f64, u64)> = Vec::new();
    let mut y = TOP + 20.0;
    for (i, r) in recs.iter().enumerate() {
        if i > 0 {
            let dt = r.t.as_nanos().saturating_sub(recs[i - 1].t.as_nanos());
            if dt >= GAP_NS {
                gaps.push((y, dt));
            }
            y += step(dt);
            if is_error_outcome(&recs[i - 1]) {
                y += 13.0; // its message has a line of its own
            }
        }
        ys.push(y);
    }
    let bottom = y + 30.0;
    let height = bottom + 10.0;

    let mut svg = El::new("svg")
        .class("lanes")
        .a("id", id)
        .a("role", "img")
        .a(
            "aria-label",
            &format!(
                "Sequence diagram of connection {}:{} to {}",
                c.key.client, c.key.port, c.key.server
            ),
        )
        .a("viewBox", &format!("0 0 {} {}", num(width), num(height)))
        .n("width", width)
        .n("height", height);
    let mut back = El::new("g").class("back");
    let mut fore = El::new("g").class("fore");

    // Environment shading: cold start, frozen, reaped.
    if env.is_some() {
        let (x0, x1) = (app_x - 40.0, kernel_x + 40.0);
        let mut open: Option<(&str, f64, &TraceRecord)> = None;
        let mut spans: Vec<(&str, f64, f64, String)> = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            let is_env = env_number(&r.component) == env || r.event == "invoke";
            if !is_env {
                continue;
            }
            let starts = match r.event {
                "invoke"
                    if r.fields
                        .iter()
                        .any(|(k, v)| *k == "cold" && *v == thaw_core::Value::Bool(true)) =>
                {
                    Some("cold")
                }
                "invoke" | "init_done" => None,
                "freeze" => Some("frozen"),
                "reap" => Some("reaped"),
                _ => continue,
            };
            let ends = matches!(r.event, "invoke" | "init_done" | "reap" | "freeze");
            if ends {
                if let Some((k, y0, r0)) = open.take() {
                    spans.push((k, y0, ys[i], timeline_line(r0)));
                }
            }
            if let Some(k) = starts {
                open = Some((k, ys[i], r));
            }
        }
        if let Some((k, y0, r0)) = open {
            spans.push((k, y0, bottom, timeline_line(r0)));
        }
        for (k, y0, y1, line) in spans {
            let label = match k {
                "cold" => "cold start (init)",
                "frozen" => "frozen",
                _ => "reaped",
            };
            back.push(
                El::new("g")
                    .class(&format!("m shade sh-{k}"))
                    .title(&line)
                    .child(
                        El::new("rect")
                            .n("x", x0)
                            .n("y", y0)
                            .n("width", x1 - x0)
                            .n("height", (y1 - y0).max(2.0)),
                    )
                    .child(
                        El::new("text")
                            .class("shade-label")
                            .n("x", x0 + 3.0)
                            .n("y", y0 + 11.0)
                            .text(label),
                    ),
            );
        }
    }

    // Compressed gaps.
    for (gy, dt) in &gaps {
        back.push(
            El::new("g")
                .class("gap")
                .child(
                    El::new("rect")
                        .n("x", TIME_W)
                        .n("y", gy + 7.0)
                        .n("width", width - TIME_W)
                        .n("height", 16.0),
                )
                .child(
                    El::new("text")
                        .class("gap-label")
                        .n("x", TIME_W + 6.0)
                        .n("y", gy + 19.0)
                        .text(&format!(
                            "⋯ {} later (compressed) ⋯",
                            SimDuration::from_nanos(*dt)
                        )),
                ),
        );
    }

    // Lane heads and lines.
    if let Some(e) = env {
        back.push(
            El::new("text")
                .class("lane-group")
                .n("x", (app_x + kernel_x) / 2.0)
                .n("y", 16.0)
                .text(&format!("env-{e}")),
        );
    }
    for l in &lanes {
        back.push(
            El::new("line")
                .class("lane-line")
                .n("x1", l.x)
                .n("y1", TOP)
                .n("x2", l.x)
                .n("y2", bottom),
        );
        back.push(
            El::new("g")
                .class(&format!(
                    "lane lane-{}",
                    match l.kind {
                        LaneKind::App => "app",
                        LaneKind::Kernel => "kernel",
                        LaneKind::Middlebox => "middlebox",
                        LaneKind::Server => "server",
                    }
                ))
                .a("data-lane", &l.label)
                .child(
                    El::new("rect")
                        .n("x", l.x - 52.0)
                        .n("y", 24.0)
                        .n("width", 104.0)
                        .n("height", 22.0)
                        .n("rx", 4.0),
                )
                .child(El::new("text").n("x", l.x).n("y", 39.0).text(&l.label)),
        );
    }
    back.push(
        El::new("text")
            .class("notes-head")
            .n("x", notes_x)
            .n("y", 39.0)
            .text("timeline"),
    );

    // State bands: per lane, the current state and where it began.
    let mut bands: Vec<(f64, f64, f64, String, String)> = Vec::new();
    let mut open_band: Vec<Option<(f64, String, String)>> = vec![None; lanes.len()];
    let mut first_y: Vec<Option<f64>> = vec![None; lanes.len()];

    // Match each arrival with its sending.
    let mut sent_by: Vec<Option<usize>> = vec![None; recs.len()];
    let mut used = vec![false; recs.len()];
    for (j, r) in recs.iter().enumerate() {
        if !is_arrival(r.event) {
            continue;
        }
        let Some(id_j) = seg_id(r) else { continue };
        if let Some(i) =
            (0..j).find(|&i| !used[i] && recs[i].event == "send" && seg_id(&recs[i]) == Some(id_j))
        {
            used[i] = true;
            sent_by[j] = Some(i);
        }
    }
    let host_lane = |h: u64, names: &Names| -> Option<f64> {
        let n = names_host(names, h);
        lane_x(&n)
    };

    let mut last_t: Option<u64> = None;
    let mut last_mb_rst: Option<(f64, f64)> = None;
    for (i, r) in recs.iter().enumerate() {
        let y = ys[i];
        let t = r.t.as_nanos();
        if last_t != Some(t) {
            fore.push(
                El::new("text")
                    .class("time")
                    .n("x", TIME_W - 6.0)
                    .n("y", y + 4.0)
                    .text(&SimTime::from_nanos(t).to_string()),
            );
            last_t = Some(t);
        }
        let line = timeline_line(r);
        // Which lane the record is on.
        let on_lane = if r.component.starts_with("inv-") {
            Some(app_x)
        } else if is_arrival(r.event) && matches!(r.event, "recv" | "no_socket_rst") {
            field_u64(r, "dst_host").and_then(|h| host_lane(h, names))
        } else {
            lane_x(&r.component)
        };
        if let Some(li) = lanes.iter().position(|l| Some(l.x) == on_lane) {
            if first_y[li].is_none() {
                first_y[li] = Some(y);
            }
        }
        // Notes for timeline records.
        if r.level == thaw_core::Level::Timeline {
            let is_error = is_error_outcome(r);
            let text = if is_error {
                // "inv-2 fails with K after D: MESSAGE": the message, what
                // the application saw, goes on a line of its own.
                let t = note_text(r);
                let (head, msg) = match t.find(": ") {
                    Some(i) => (&t[..i], &t[i + 2..]),
                    None => (t, ""),
                };
                fore.push(
                    El::new("text")
                        .class("note note-error")
                        .n("x", notes_x + 12.0)
                        .n("y", y + 17.0)
                        .a("clip-path", &format!("url(#{id}-clip)"))
                        .text(msg)
                        .title(&line),
                );
                format!(
                    "✗ {} — {head}:",
                    error_label(field_str(r, "error").unwrap_or(""))
                )
            } else {
                note_text(r).to_string()
            };
            fore.push(
                El::new("text")
                    .class(if is_error { "note note-error" } else { "note" })
                    .n("x", notes_x)
                    .n("y", y + 4.0)
                    .a("clip-path", &format!("url(#{id}-clip)"))
                    .text(&text)
                    .title(&line),
            );
        }
        match r.event {
            "send" => {
                if used[i] {
                    continue; // drawn from its arrival
                }
                // Never arrived within the run.
                let (Some(x0), Some(x1)) = (
                    field_u64(r, "src_host").and_then(|h| host_lane(h, names)),
                    field_u64(r, "dst_host").and_then(|h| host_lane(h, names)),
                ) else {
                    continue;
                };
                fore.push(arrow(r, None, x0, y, x1, y + 6.0, &line, true));
            }
            e if is_arrival(e) => {
                let x1 = match e {
                    "drop" | "rst" => lane_x(&r.component),
                    "frozen_drop" | "vanish" => Some(kernel_x),
                    _ => on_lane,
                };
                let Some(x1) = x1 else { continue };
                let (x0, y0, title) = match sent_by[i] {
                    Some(s) => (
                        field_u64(&recs[s], "src_host").and_then(|h| host_lane(h, names)),
                        ys[s],
                        format!("{}\n{}", timeline_line(&recs[s]), line),
                    ),
                    None => match (field_str(r, "kind"), last_mb_rst) {
                        (Some("RST"), Some((mx, my))) if e == "recv" => {
                            (Some(mx), my, line.clone())
                        }
                        _ => (
                            field_u64(r, "src_host").and_then(|h| host_lane(h, names)),
                            y - 6.0,
                            line.clone(),
                        ),
                    },
                };
                let Some(x0) = x0 else { continue };
                if e == "rst" {
                    last_mb_rst = Some((x1, y));
                }
                let outcome = match e {
                    "drop" => Some(("dropped", "✕ dropped")),
                    "rst" => Some(("answered-rst", "✕ RST")),
                    "frozen_drop" => Some(("frozen", "✕ frozen: no ACK")),
                    "vanish" => Some(("vanished", "✕ vanished")),
                    "no_socket_rst" => Some(("no-socket", "✕ no socket: RST")),
                    _ => None,
                };
                let mut g = arrow(r, outcome.map(|o| o.0), x0, y0, x1, y, &title, false);
                if let Some((_, label)) = outcome {
                    g.push(
                        El::new("text")
                            .class("x-label")
                            .n("x", x1 + 7.0)
                            .n("y", y + 4.0)
                            .text(label),
                    );
                }
                fore.push(g);
            }
            "tcp_state" | "flow_state" => {
                let Some(li) = lanes.iter().position(|l| l.name == r.component) else {
                    continue;
                };
                let from = field_str(r, "from").unwrap_or("").to_string();
                let to = field_str(r, "to").unwrap_or("").to_string();
                let (y0, st) = match open_band[li].take() {
                    Some((y0, st, _)) => (y0, st),
                    None => (first_y[li].unwrap_or(y).min(y), from.clone()),
                };
                if y > y0 {
                    bands.push((
                        lanes[li].x,
                        y0,
                        y,
                        st.clone(),
                        format!("{st} until: {line}"),
                    ));
                }
                if to != "CLOSED" && to != "CLOSE" {
                    open_band[li] = Some((y, to.clone(), line.clone()));
                }
                fore.push(mark(r, lanes[li].x, y, &line, None));
            }
            "forget" => {
                let Some(li) = lanes.iter().position(|l| l.name == r.component) else {
                    continue;
                };
                if let Some((y0, st, _)) = open_band[li].take() {
                    bands.push((
                        lanes[li].x,
                        y0,
                        y,
                        st.clone(),
                        format!("{st} until: {line}"),
                    ));
                }
                fore.push(mark(r, lanes[li].x, y, &line, Some("forgotten")));
            }
            "outcome" => {
                let err = field_str(r, "error");
                let mut g = mark(r, app_x, y, &line, None);
                if let Some(k) = err {
                    g.push(
                        El::new("text")
                            .class("err-label")
                            .n("x", app_x - 40.0)
                            .n("y", y + 16.0)
                            .text(&error_label(k)),
                    );
                }
                fore.push(g);
            }
            _ => {
                let x = on_lane.unwrap_or(kernel_x);
                if r.event == "reap" {
                    // The environment's sockets vanish with it.
                    if let Some(li) = lanes.iter().position(|l| l.kind == LaneKind::Kernel) {
                        if let Some((y0, st, _)) = open_band[li].take() {
                            bands.push((
                                lanes[li].x,
                                y0,
                                y,
                                st.clone(),
                                format!("{st} until: {line}"),
                            ));
                        }
                    }
                }
                fore.push(mark(r, x, y, &line, None));
            }
        }
    }
    for (li, b) in open_band.into_iter().enumerate() {
        if let Some((y0, st, line)) = b {
            bands.push((
                lanes[li].x,
                y0,
                bottom,
                st.clone(),
                format!("{st} from: {line} (still at the end of this diagram)"),
            ));
        }
    }
    let mut band_g = El::new("g").class("bands");
    for (x, y0, y1, st, line) in bands {
        band_g.push(
            El::new("g")
                .class(&format!("band {}", state_class(&st)))
                .a("data-state", &st)
                .title(&line)
                .child(
                    El::new("rect")
                        .n("x", x - 3.0)
                        .n("y", y0)
                        .n("width", 6.0)
                        .n("height", (y1 - y0).max(1.0)),
                )
                .child(
                    El::new("text")
                        .class("band-label")
                        .n("x", x + 5.0)
                        .n("y", y0 + 10.0)
                        .text(&st),
                ),
        );
    }
    if c.truncated > 0 {
        fore.push(
            El::new("text")
                .class("note")
                .n("x", TIME_W)
                .n("y", bottom - 8.0)
                .text(&format!(
                    "… {} more records of this connection are not drawn",
                    c.truncated
                )),
        );
    }
    let defs = El::new("defs").child(
        El::new("clipPath").a("id", &format!("{id}-clip")).child(
            El::new("rect")
                .n("x", notes_x)
                .n("y", 0.0)
                .n("width", NOTES_W - 8.0)
                .n("height", height),
        ),
    );
    svg = svg.child(defs).child(back).child(band_g).child(fore);
    svg
}

fn names_host(names: &Names, h: u64) -> String {
    names.host_name(h)
}

/// An arrow for a segment, from (x0, y0) to (x1, y1), labelled with its
/// kind; `fate` marks one that did not reach a socket.
#[allow(clippy::too_many_arguments)]
fn arrow(
    r: &TraceRecord,
    fate: Option<&str>,
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    title: &str,
    lost: bool,
) -> El {
    let kind = field_str(r, "kind").unwrap_or("?");
    let k = match kind {
        "SYN" | "SYN-ACK" => "syn",
        "FIN" | "data+FIN" => "fin",
        "RST" => "rst",
        "data" => "data",
        _ => "ack",
    };
    let dir = if x1 >= x0 { 1.0 } else { -1.0 };
    let (hx, hy) = (x1 - dir * 7.0, y1);
    let head = format!(
        "M{} {}L{} {}L{} {}Z",
        num(x1),
        num(y1),
        num(hx),
        num(hy - 3.5),
        num(hx),
        num(hy + 3.5)
    );
    let mut cls = format!("m arrow k-{k}");
    if let Some(f) = fate {
        cls.push_str(&format!(" fate-{f}"));
    }
    if lost {
        cls.push_str(" lost");
    }
    let mx = (x0 + x1) / 2.0;
    let my = (y0 + y1) / 2.0 - 3.0;
    let mut g = El::new("g")
        .class(&cls)
        .a("data-kind", kind)
        .title(title)
        .child(
            El::new("line")
                .n("x1", x0)
                .n("y1", y0)
                .n("x2", x1)
                .n("y2", y1),
        )
        .child(El::new("path").a("d", &head))
        .child(
            El::new("text")
                .class("a-label")
                .n("x", mx)
                .n("y", my)
                .text(kind),
        );
    if fate.is_some() {
        g.push(El::new("path").class("x").a(
            "d",
            &format!("M{} {}l8 8m0 -8l-8 8", num(x1 - 4.0), num(y1 - 4.0)),
        ));
    }
    g
}

/// A mark for a record on a lane, with the timeline line as its tooltip.
fn mark(r: &TraceRecord, x: f64, y: f64, line: &str, tag: Option<&str>) -> El {
    let err = r.event == "outcome" && field_str(r, "error").is_some();
    let ok = r.event == "outcome" && !err;
    let mut cls = format!("m ev-{}", r.event);
    if err {
        cls.push_str(" error");
    }
    if ok {
        cls.push_str(" ok");
    }
    let shape = if err {
        El::new("path").a(
            "d",
            &format!("M{} {}l10 10m0 -10l-10 10", num(x - 5.0), num(y - 5.0)),
        )
    } else {
        El::new("circle").n("cx", x).n("cy", y).n("r", 3.5)
    };
    let mut g = El::new("g").class(&cls).title(line).child(shape);
    if let Some(t) = tag {
        g.push(
            El::new("text")
                .class("tag")
                .n("x", x + 6.0)
                .n("y", y - 3.0)
                .text(t),
        );
    }
    if ok {
        g.push(
            El::new("text")
                .class("tag")
                .n("x", x + 6.0)
                .n("y", y - 3.0)
                .text("ok"),
        );
    }
    g
}
