//! Runs a loaded scenario and builds the JSON report (the stable contract
//! documented in README.md and docs/trace-format.md): `scenario`, `seed`,
//! `version`, `invocations`, `metrics`, `expectations`.
//!
//! Rows can be kept ([`run_scenario`]) or streamed ([`run_scenario_streaming`]):
//! expectations on `invocation[N]` are checked either way, from the rows
//! they name, which are the only ones a streaming run keeps.
use crate::build::Scenario;
use serde_json::json;
use std::collections::BTreeSet;
use thaw_core::{BudgetExceeded, TraceSink};
use thaw_sim::expect::{ExpectationResult, Target};
use thaw_sim::report::InvocationJson;
use thaw_sim::{Outcome, OutcomeSink, RunError, RunResult};

/// The result of running a scenario and checking its expectations.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed used.
    pub seed: u64,
    /// Outcomes and metrics.
    pub result: RunResult,
    /// One verdict per expectation (empty when the run stopped early:
    /// nothing is checked against a partial run).
    pub expectations: Vec<ExpectationResult>,
    /// The JSON report object (its `invocations` array is empty when the
    /// rows were streamed).
    pub json: serde_json::Value,
}

impl Report {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
    }

    /// Why the run stopped before it finished, if it did.
    pub fn stopped(&self) -> Option<RunError> {
        self.result.stopped.map(RunError::Budget)
    }
}

/// Receives the report's `invocations` rows, in id order, as they become
/// final: the outcome as simulated and its row in the JSON report.
pub trait RowSink {
    /// One row.
    fn row(&mut self, outcome: &Outcome, row: InvocationJson);
    /// Whether rows are wanted at all (false: they are not even built).
    fn wants_rows(&self) -> bool {
        true
    }
}

impl RowSink for Vec<InvocationJson> {
    fn row(&mut self, _: &Outcome, row: InvocationJson) {
        self.push(row);
    }
}

/// Discards rows (totals only).
pub struct NoRowSink;

impl RowSink for NoRowSink {
    fn row(&mut self, _: &Outcome, _: InvocationJson) {}
    fn wants_rows(&self) -> bool {
        false
    }
}

/// Runs `scenario` (with `seed` overriding the file's) into `trace`,
/// keeping every invocation's outcome.
pub fn run_scenario(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
) -> Result<Report, RunError> {
    run_scenario_with(scenario, seed, trace, true)
}

/// Like [`run_scenario`]; with `keep_rows = false` the report's
/// `invocations` array and `result.outcomes` are empty (memory does not
/// grow with the number of invocations), and the verdicts are the same.
/// A run that exhausts its event budget is an `Err`.
pub fn run_scenario_with(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    keep_rows: bool,
) -> Result<Report, RunError> {
    let mut rows = Vec::new();
    let mut none = NoRowSink;
    let sink: &mut dyn RowSink = if keep_rows { &mut rows } else { &mut none };
    let mut report = run_inner(scenario, seed, trace, sink, keep_rows);
    if let Some(e) = report.stopped() {
        return Err(e);
    }
    if keep_rows {
        report.json["invocations"] = serde_json::to_value(&rows).expect("rows serialize");
    }
    Ok(report)
}

/// Runs `scenario`, handing every row of the report's `invocations` to
/// `rows` as soon as it is final. The returned report has an empty
/// `invocations` array and no outcomes; a run that exhausted its event
/// budget returns its totals so far, [`Report::stopped`] says so, and no
/// expectation is checked.
pub fn run_scenario_streaming(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    rows: &mut dyn RowSink,
) -> Report {
    run_inner(scenario, seed, trace, rows, false)
}

/// Runs the world of a scenario: the model ([`thaw_sim::run_streaming_seeded`])
/// or another driver of it (thaw-harness, where real code is the client).
pub type WorldRunner<'r> = dyn FnMut(&thaw_sim::SimConfig, u64, &mut dyn TraceSink, &mut dyn OutcomeSink) -> RunResult
    + 'r;

/// [`run_scenario`] with `runner` in place of the model's own run: the
/// same rows, JSON report and expectations, whoever drives the world.
pub fn run_scenario_using(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    runner: &mut WorldRunner<'_>,
) -> Result<Report, RunError> {
    let mut rows = Vec::new();
    let mut report = run_inner_using(scenario, seed, trace, &mut rows, true, runner);
    if let Some(e) = report.stopped() {
        return Err(e);
    }
    report.json["invocations"] = serde_json::to_value(&rows).expect("rows serialize");
    Ok(report)
}

fn run_inner(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    rows: &mut dyn RowSink,
    keep_outcomes: bool,
) -> Report {
    run_inner_using(
        scenario,
        seed,
        trace,
        rows,
        keep_outcomes,
        &mut |cfg, seed, trace, rows| thaw_sim::run_streaming_seeded(cfg, seed, trace, rows),
    )
}

fn run_inner_using(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    rows: &mut dyn RowSink,
    keep_outcomes: bool,
    runner: &mut WorldRunner<'_>,
) -> Report {
    let cfg = &scenario.config;
    let seed = seed.unwrap_or(cfg.seed);
    let wanted: BTreeSet<u64> = scenario
        .expectations
        .iter()
        .filter_map(|e| match &e.target {
            Target::Invocation { id, .. } => Some(*id),
            Target::Metric(_)
            | Target::ErrorsOfKind(_)
            | Target::ServerMetric { .. }
            | Target::PlatformMetric { .. } => None,
        })
        .collect();
    let mut rows = Rows {
        cfg,
        wanted,
        kept: Vec::new(),
        outcomes: keep_outcomes.then(Vec::new),
        out: rows,
    };
    let mut result = runner(cfg, seed, trace, &mut rows);
    let kept = std::mem::take(&mut rows.kept);
    result.outcomes = rows.outcomes.take().unwrap_or_default();
    let mut json = json!({
        "scenario": cfg.name,
        "seed": seed,
        "version": env!("CARGO_PKG_VERSION"),
        "invocations": kept,
        "metrics": result.metrics,
        "expectations": [],
    });
    let expectations: Vec<ExpectationResult> = match result.stopped {
        Some(_) => Vec::new(),
        None => scenario
            .expectations
            .iter()
            .map(|e| e.check(&json))
            .collect(),
    };
    json["invocations"] = json!([]);
    json["expectations"] = serde_json::to_value(&expectations).expect("serializable");
    if let Some(b) = &result.stopped {
        json["stopped"] = stopped_json(b);
    }
    Report {
        seed,
        result,
        expectations,
        json,
    }
}

/// The report's `stopped` object: why a run did not finish.
pub fn stopped_json(b: &BudgetExceeded) -> serde_json::Value {
    json!({
        "reason": "event_budget",
        "event_budget": b.budget,
        "at_s": b.at.as_secs_f64(),
        "message": RunError::Budget(*b).to_string(),
    })
}

/// Turns outcomes into report rows, keeps those expectations name, and
/// passes every row on.
struct Rows<'a> {
    cfg: &'a thaw_sim::SimConfig,
    wanted: BTreeSet<u64>,
    kept: Vec<InvocationJson>,
    outcomes: Option<Vec<Outcome>>,
    out: &'a mut dyn RowSink,
}

impl OutcomeSink for Rows<'_> {
    fn outcome(&mut self, o: Outcome) {
        let keep = self.wanted.contains(&o.id);
        if !keep && !self.out.wants_rows() && self.outcomes.is_none() {
            // Nobody reads this row: do not build it.
            return;
        }
        let row = InvocationJson {
            function: self.cfg.client.function_name(o.function).to_string(),
            target: o
                .target
                .and_then(|t| self.cfg.servers.get(t as usize))
                .map(|s| s.name.clone()),
            ..InvocationJson::from(&o)
        };
        if keep {
            self.kept.push(row.clone());
        }
        self.out.row(&o, row);
        if let Some(all) = &mut self.outcomes {
            all.push(o);
        }
    }
}
