//! Writes docs/validation.md's table and summary: thaw against the 20 AWS
//! Lambda experiments and SimFaaS's predictions for them.
//!
//!     cargo run --release -p thaw-tests --example aws_validation
//!
//! Each experiment runs SimFaaS's horizon (10⁶ s of arrivals at its rate,
//! at least 20,000 arrivals) with 5 seeds.
fn main() {
    let (table, s) = thaw_tests::validation::compare(20_000, 2_000_000, 5);
    println!("{table}");
    println!(
        "Mean absolute percentage error against AWS: P(cold) thaw {:.2} %, SimFaaS {:.2} %; mean instances thaw {:.2} %, SimFaaS {:.2} %. Rows whose P(cold) is within two standard errors of AWS's: thaw {} of 20, SimFaaS {} of 20.",
        100.0 * s.thaw_p_cold_mape,
        100.0 * s.simfaas_p_cold_mape,
        100.0 * s.thaw_instances_mape,
        100.0 * s.simfaas_instances_mape,
        s.thaw_within_2se,
        s.simfaas_within_2se
    );
}
