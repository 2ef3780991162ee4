//! The proptest runner of the properties that count which branches their
//! cases reached (a property whose branches are never reached proves
//! nothing), so they run the cases themselves rather than in `proptest!`.
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Runs `check` over `PROPTEST_CASES` cases (else `default_cases`) drawn
/// from `strategy`; failures are persisted next to `file` and replayed
/// first. Returns the number of cases, for the caller's reach check.
pub(crate) fn run_cases<S: Strategy>(
    strategy: &S,
    default_cases: u32,
    file: &'static str,
    mut check: impl FnMut(S::Value) -> Result<(), TestCaseError>,
) -> u32 {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let mut config = Config {
        cases,
        ..Config::default()
    };
    config.source_file = Some(file);
    let check = std::cell::RefCell::new(&mut check);
    TestRunner::new(config)
        .run(strategy, |v| (check.borrow_mut())(v))
        .unwrap_or_else(|e| panic!("{e}"));
    cases
}
