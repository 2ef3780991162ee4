//! Writes docs/validation.md's table and summaries: thaw against the 20
//! AWS Lambda experiments and SimFaaS's predictions for them.
//!
//!     cargo run --release -p thaw-tests --example aws_validation
//!
//! Each experiment runs SimFaaS's horizon (10⁶ s of arrivals at its rate,
//! at least 20,000 arrivals) with 3 seeds (1, 2, 3), averaged; about a
//! minute per setup on one core.
use thaw_tests::validation::{compare, Setup, Summary, SIMFAAS_SETUP};

fn line(what: &str, s: &Summary) -> String {
    format!(
        "| {what} | {:.2} % | {:.2} % | {} of 20 |",
        100.0 * s.thaw_p_cold_mape,
        100.0 * s.thaw_instances_mape,
        s.thaw_within_2se
    )
}

fn main() {
    let (table, s) = compare(20_000, 2_000_000, 3, SIMFAAS_SETUP);
    println!("{table}");
    println!("| setup | P(cold) MAPE | instances MAPE | P(cold) within 2 SE |");
    println!("|---|---|---|---|");
    println!(
        "| SimFaaS (published re-run, seed 0) | {:.2} % | {:.2} % | {} of 20 |",
        100.0 * s.simfaas_p_cold_mape,
        100.0 * s.simfaas_instances_mape,
        s.simfaas_within_2se
    );
    println!(
        "{}",
        line(
            "thaw: exponential handler, `newest_created` (SimFaaS's assumptions; the table above)",
            &s
        )
    );
    for (what, setup) in [
        (
            "thaw: fixed 1.9813 s handler, `newest_created`",
            Setup {
                handler: "\"1.9813s\"",
                placement: "newest_created",
            },
        ),
        (
            "thaw: exponential handler, `most_recent` (thaw's default placement)",
            Setup {
                handler: SIMFAAS_SETUP.handler,
                placement: "most_recent",
            },
        ),
        (
            "thaw: exponential handler, `least_recent`",
            Setup {
                handler: SIMFAAS_SETUP.handler,
                placement: "least_recent",
            },
        ),
    ] {
        let (_, s) = compare(20_000, 2_000_000, 3, setup);
        println!("{}", line(what, &s));
    }
}
