//! Runs a loaded scenario and builds the JSON report (the stable contract
//! of shared/design/architecture.md): `scenario`, `seed`, `version`,
//! `invocations`, `metrics`, `expectations`.
use crate::build::Scenario;
use serde_json::json;
use thaw_core::TraceSink;
use thaw_sim::expect::ExpectationResult;
use thaw_sim::report::InvocationJson;
use thaw_sim::{RunError, RunResult};

/// The result of running a scenario and checking its expectations.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed used.
    pub seed: u64,
    /// Outcomes and metrics.
    pub result: RunResult,
    /// One verdict per expectation.
    pub expectations: Vec<ExpectationResult>,
    /// The JSON report object.
    pub json: serde_json::Value,
}

impl Report {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
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

/// Like [`run_scenario`]; with `keep_rows = false` only metrics are kept
/// (memory independent of the number of invocations) and the report's
/// `invocations` array is empty.
pub fn run_scenario_with(
    scenario: &Scenario,
    seed: Option<u64>,
    trace: &mut dyn TraceSink,
    keep_rows: bool,
) -> Result<Report, RunError> {
    let mut cfg = scenario.config.clone();
    if let Some(s) = seed {
        cfg.seed = s;
    }
    let result = thaw_sim::run(&cfg, trace, keep_rows)?;
    let invocations: Vec<InvocationJson> = result
        .outcomes
        .iter()
        .map(|o| InvocationJson {
            function: cfg.client.function_name(o.function).to_string(),
            ..InvocationJson::from(o)
        })
        .collect();
    let mut json = json!({
        "scenario": cfg.name,
        "seed": cfg.seed,
        "version": env!("CARGO_PKG_VERSION"),
        "invocations": invocations,
        "metrics": result.metrics,
        "expectations": [],
    });
    let expectations: Vec<ExpectationResult> = scenario
        .expectations
        .iter()
        .map(|e| e.check(&json))
        .collect();
    json["expectations"] = serde_json::to_value(&expectations).expect("serializable");
    Ok(Report {
        seed: cfg.seed,
        result,
        expectations,
        json,
    })
}
