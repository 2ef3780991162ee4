//! Output: one line per case, both timelines side by side on disagreement,
//! the JSON results and the markdown table.
use crate::compare::{Verdict, CLIENT_TOL_MS, DEATH_TOL_MS};
use crate::run::{key_invocation, key_sim, CaseResult, LabRun};
use crate::sim::SimResult;
use serde::Serialize;
use std::fmt::Write as _;

/// The run's context.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    /// UTC date of the run.
    pub date: String,
    /// `uname -r`.
    pub kernel: String,
    /// Server and tool versions.
    pub versions: Vec<(String, String)>,
    /// Tolerances (ms).
    pub client_tolerance_ms: f64,
    /// Tolerance on the server socket's death (ms).
    pub death_tolerance_ms: f64,
    /// Sampling period (ms).
    pub sample_ms: u64,
    /// Total real time (s).
    pub total_s: f64,
}

/// The JSON file.
#[derive(Clone, Debug, Serialize)]
pub struct Results<'a> {
    /// Context.
    pub meta: &'a Meta,
    /// Per case.
    pub cases: &'a [CaseResult],
}

/// UTC date (YYYY-MM-DD) of epoch seconds.
pub fn date_of(secs: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

fn lab_key(lab: &LabRun) -> String {
    match key_invocation(lab) {
        Some(i) => format!("{} {:.1} ms", i.outcome, i.latency_ms),
        None => "-".into(),
    }
}

fn thaw_key(r: &CaseResult) -> String {
    match (&r.lab, &r.thaw) {
        (_, Some(SimResult::PendingModel { .. })) => "pending model".into(),
        (_, Some(SimResult::Failed { .. })) => "failed to run".into(),
        (Some(lab), Some(t)) => match key_sim(lab, t) {
            Some(s) => format!("{} {:.1} ms", s.outcome, s.latency_ms),
            None => "-".into(),
        },
        _ => "-".into(),
    }
}

fn death_pair(r: &CaseResult) -> (String, String) {
    let c = r
        .checks
        .iter()
        .find(|c| c.what.starts_with("server socket"));
    match c {
        Some(c) => (c.lab.clone(), c.thaw.clone()),
        None => ("-".into(), "-".into()),
    }
}

/// The one line printed for a case.
pub fn line(r: &CaseResult) -> String {
    let mut s = format!("{:<13} {:<40}", r.verdict.label(), r.case.name);
    if let Some(e) = &r.error {
        let first = e.lines().next().unwrap_or("");
        let _ = write!(s, " {first}");
        return s;
    }
    if let Some(lab) = &r.lab {
        let (dl, dt) = death_pair(r);
        let _ = write!(
            s,
            " lab {:<28} thaw {:<28} server socket: lab {dl}, thaw {dt}",
            lab_key(lab),
            thaw_key(r)
        );
    }
    s
}

/// Both timelines, merged by time, side by side.
pub fn side_by_side(r: &CaseResult) -> String {
    let mut rows: Vec<(f64, u8, String)> = Vec::new();
    if let Some(lab) = &r.lab {
        for i in &lab.invocations {
            rows.push((
                i.start_ms,
                0,
                format!("conn {} {} starts (phase {})", i.conn, i.kind, i.phase),
            ));
            for c in &i.calls {
                rows.push((
                    i.start_ms + c.t_ms,
                    0,
                    format!("conn {} {} → {}", i.conn, c.call, c.result),
                ));
            }
            let d = i
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            rows.push((
                i.start_ms + i.latency_ms,
                0,
                format!(
                    "conn {} → {} after {:.1} ms{d}",
                    i.conn, i.outcome, i.latency_ms
                ),
            ));
        }
        if let Some(f) = lab.freeze_ms {
            rows.push((f, 0, "FREEZE: nft drops all packets of fn".into()));
        }
        if let Some(f) = lab.unfreeze_ms {
            rows.push((f, 0, "THAW: drop rules flushed".into()));
        }
        for (what, ts) in [
            ("server socket", &lab.server_socket),
            ("client socket", &lab.client_socket),
            ("conntrack flow", &lab.flow),
        ] {
            for t in ts {
                rows.push((
                    t.t_ms,
                    0,
                    format!(
                        "{what} → {} (±{:.0} ms) {}",
                        t.state, t.uncertainty_ms, t.detail
                    ),
                ));
            }
        }
    }
    if let Some(SimResult::Ran { events, .. }) = &r.thaw {
        for e in events {
            rows.push((e.t_ms, 1, e.text.clone()));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = format!("    {:>10}  {:<70} | thaw\n", "ms", "lab");
    for (t, side, text) in rows {
        let text: String = text
            .chars()
            .take(if side == 0 { 70 } else { 160 })
            .collect();
        if side == 0 {
            let _ = writeln!(out, "    {t:>10.1}  {text:<70} |");
        } else {
            let _ = writeln!(out, "    {t:>10.1}  {:<70} | {text}", "");
        }
    }
    out
}

/// Details printed for a disagreement (or error).
pub fn details(r: &CaseResult) -> String {
    let mut out = String::new();
    if let Some(e) = &r.error {
        let _ = writeln!(out, "    error: {}", e.replace('\n', "\n    "));
    }
    for c in r.checks.iter().filter(|c| !c.agree) {
        let _ = writeln!(
            out,
            "    {}: lab {} | thaw {} — {}",
            c.what, c.lab, c.thaw, c.note
        );
    }
    if r.lab.is_some() && r.thaw.is_some() {
        out.push_str(&side_by_side(r));
    }
    out
}

/// The markdown results: context, table, disagreements.
pub fn markdown(meta: &Meta, results: &[CaseResult]) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "Run of {} on Linux {}; {}. Tolerances: {CLIENT_TOL_MS} ms on the client's outcome time, {DEATH_TOL_MS} ms on the server socket's death; `ss`/`conntrack` sampled every {} ms (± on a sampled time: half the gap between two samples, or the window of the kernel timer that explains the change). Total run time {:.0} s.\n",
        meta.date,
        meta.kernel,
        meta.versions
            .iter()
            .filter(|(k, _)| ["redis", "postgres", "mariadb"].contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
            .join("; "),
        meta.sample_ms,
        meta.total_s
    );
    let _ = writeln!(
        m,
        "| case | path | freeze | thaw at | lab: request after thaw | thaw: same | lab: server socket | thaw: server socket | verdict |"
    );
    let _ = writeln!(m, "|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let (lab_k, thaw_k, (dl, dt)) = match &r.lab {
            Some(lab) => (lab_key(lab), thaw_key(r), death_pair(r)),
            None => ("-".into(), "-".into(), ("-".into(), "-".into())),
        };
        let thaw_at = r
            .lab
            .as_ref()
            .map(|l| format!("{:.0} ms", l.thaw_ms))
            .unwrap_or_else(|| format!("{} ms", r.case.thaw_at_ms));
        let verdict = match r.verdict {
            Verdict::Disagree => "**DISAGREE**".to_string(),
            v => v.label().to_string(),
        };
        let _ = writeln!(
            m,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.case.name,
            r.case.path.label(),
            r.case.freeze.label(),
            thaw_at,
            lab_k,
            thaw_k,
            dl,
            dt,
            verdict
        );
    }
    let bad: Vec<&CaseResult> = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Disagree | Verdict::Error))
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(m, "\nChecks that disagree:\n");
        for r in bad {
            if let Some(e) = &r.error {
                let _ = writeln!(
                    m,
                    "- `{}`: error: {}",
                    r.case.name,
                    e.lines().next().unwrap_or("")
                );
            }
            for c in r.checks.iter().filter(|c| !c.agree) {
                let _ = writeln!(
                    m,
                    "- `{}`, {}: lab {}; thaw {} ({})",
                    r.case.name, c.what, c.lab, c.thaw, c.note
                );
            }
        }
    }
    m
}

/// Markers between which `--markdown` replaces the results in an existing
/// file.
pub const BEGIN: &str = "<!-- thaw-lab results: begin (generated by `thaw-lab run --markdown`) -->";
/// End marker.
pub const END: &str = "<!-- thaw-lab results: end -->";

/// Puts `table` into `existing` between the markers (or returns it alone
/// when `existing` has no markers).
pub fn splice(existing: Option<&str>, table: &str) -> String {
    if let Some(text) = existing {
        if let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) {
            if b < e {
                return format!("{}{BEGIN}\n{table}{}", &text[..b], &text[e..]);
            }
        }
    }
    format!("{BEGIN}\n{table}{END}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(1_796_200_000), "2026-12-02");
    }

    #[test]
    fn splicing() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\nafter\n");
        let out = splice(Some(&doc), "new\n");
        assert_eq!(out, format!("intro\n{BEGIN}\nnew\n{END}\nafter\n"));
        assert_eq!(splice(None, "t\n"), format!("{BEGIN}\nt\n{END}\n"));
    }
}
