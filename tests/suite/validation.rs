//! docs/validation.md's bound: thaw's platform model against the 20 AWS
//! Lambda experiments, on a shorter horizon than the docs' table (at most
//! 50,000 arrivals per experiment, one seed), stays within the errors the
//! docs state for this check.
use thaw_tests::validation::{compare, SIMFAAS_SETUP};

#[test]
fn the_platform_model_stays_within_its_stated_error_against_aws() {
    let (_, s) = compare(5_000, 50_000, 1, SIMFAAS_SETUP);
    assert!(
        s.thaw_p_cold_mape < 0.20,
        "P(cold) mean absolute error {:.2} % ≥ 20 %",
        100.0 * s.thaw_p_cold_mape
    );
    assert!(
        s.thaw_instances_mape < 0.05,
        "mean instances error {:.2} % ≥ 5 %",
        100.0 * s.thaw_instances_mape
    );
    assert!(
        s.thaw_within_2se >= 12,
        "{} of 20 within 2 SE",
        s.thaw_within_2se
    );
    eprintln!(
        "P(cold) {:.2} %, instances {:.2} %, {} of 20 within 2 SE",
        100.0 * s.thaw_p_cold_mape,
        100.0 * s.thaw_instances_mape,
        s.thaw_within_2se
    );
}
