//! One point of a parameter space: the scenario with some values set, run
//! with one seed, judged as `thaw run` would judge it.
use thaw_core::NullSink;
use thaw_scenario::{run_scenario_streaming, LoadError, NoRowSink, Prepared, Report};
use thaw_sim::expect::Expectation;

/// What one point did.
#[derive(Debug)]
pub enum PointResult {
    /// The values make an invalid scenario (what `thaw run` reports with
    /// exit 2).
    Invalid(Box<LoadError>),
    /// It ran.
    Ran(Box<Report>),
}

impl PointResult {
    /// The exit status the same `thaw run` would have had: 0 every
    /// expectation held, 1 one failed, 2 invalid scenario, 3 the run could
    /// not finish.
    pub fn exit(&self) -> u8 {
        match self {
            PointResult::Invalid(_) => 2,
            PointResult::Ran(r) if r.stopped().is_some() => 3,
            PointResult::Ran(r) if !r.passed() => 1,
            PointResult::Ran(_) => 0,
        }
    }

    /// Exit 0.
    pub fn passed(&self) -> bool {
        self.exit() == 0
    }

    /// The report, if it ran.
    pub fn report(&self) -> Option<&Report> {
        match self {
            PointResult::Ran(r) => Some(r),
            PointResult::Invalid(_) => None,
        }
    }

    /// A one-line reason for a failure: the first failing expectation with
    /// its actual value, the stop, or the first diagnostic.
    pub fn reason(&self) -> String {
        match self {
            PointResult::Invalid(e) => e
                .diagnostics
                .iter()
                .next()
                .map_or("invalid scenario".to_string(), |d| {
                    format!("invalid scenario: {}", d.message)
                }),
            PointResult::Ran(r) => match r.stopped() {
                Some(e) => e.to_string(),
                None => r
                    .expectations
                    .iter()
                    .find(|e| !e.passed)
                    .map_or("every expectation held".to_string(), |e| {
                        format!("{} (actual: {})", e.expr, e.actual)
                    }),
            },
        }
    }
}

/// Runs `prepared` with `values` set and `seed` (None: the file's).
/// Nothing is traced and no row is kept: a point costs its simulation.
pub fn run_point(
    prepared: &Prepared,
    values: &[(&str, toml::Value)],
    seed: Option<u64>,
) -> PointResult {
    run_point_judged(prepared, values, seed, None)
}

/// Like [`run_point`], judged by `property` instead of the file's
/// `[expect]` when given (`thaw boundary --until EXPR`).
pub fn run_point_judged(
    prepared: &Prepared,
    values: &[(&str, toml::Value)],
    seed: Option<u64>,
    property: Option<&[Expectation]>,
) -> PointResult {
    match prepared.with_toml(values) {
        Err(e) => PointResult::Invalid(Box::new(e)),
        Ok(mut s) => {
            if let Some(p) = property {
                s.expectations = p.to_vec();
            }
            PointResult::Ran(Box::new(run_scenario_streaming(
                &s,
                seed,
                &mut NullSink,
                &mut NoRowSink,
            )))
        }
    }
}
