//! Exploring thaw scenarios: what `thaw sweep`, `thaw boundary`,
//! `thaw check` and `thaw merge` do, as a library.
//!
//! A scenario is read and validated once ([`Prepared`]); each point sets
//! values at key paths on the parsed document and runs in-process, so a
//! point costs about its simulation. Runs are independent and
//! deterministic (a point's record is a pure function of the scenario, the
//! values and the seed), so threads, shards and resumed sweeps all produce
//! the same bytes.
//!
//! Property tests in your own `cargo test` use [`strategy`]: load a
//! scenario, draw values, run, and assert on the report. For example:
//! whenever the server's idle timeout exceeds the environment's reap time
//! plus the longest gap between requests, no invocation of the Upstash
//! scenario fails (the server never closes a connection a frozen function
//! still holds).
//!
//! ```
//! use proptest::prelude::*;
//! use thaw_core::SimDuration;
//! use thaw_explore::{strategy, Prepared, VaryValue};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sim-scenarios/seeds/upstash-fix-310s.toml");
//! let text = std::fs::read_to_string(path).unwrap();
//! let base = Prepared::load("upstash-fix-310s.toml", &text, &[]).unwrap();
//! let gap = SimDuration::from_secs(305); // arrivals at 0 s, 95 s and 400 s
//! let s = |x: u64| SimDuration::from_secs(x);
//!
//! proptest!(ProptestConfig::with_cases(16), |(
//!     idle in strategy::duration(s(1), s(2000)),
//!     reap in strategy::duration(s(1), s(900)),
//! )| {
//!     prop_assume!(idle > reap + gap);
//!     let scenario = base
//!         .with(&[
//!             ("server.idle_timeout", &VaryValue::Duration(idle)),
//!             ("function.reap_after", &VaryValue::Duration(reap)),
//!         ])
//!         .unwrap();
//!     let report = thaw_explore::run(&scenario, None);
//!     prop_assert_eq!(report.result.metrics.errors, 0);
//! });
//! ```
#![warn(missing_docs)]

pub mod boundary;
pub mod check;
pub mod output;
pub mod point;
pub mod strategy;
pub mod sweep;

pub use point::{run_point, PointResult};
pub use sweep::{Format, Shard, Sweep, SweepError};
pub use thaw_scenario::{Prepared, Scenario, Spec, Vary, VaryValue};

/// Runs a scenario (with `seed` instead of its own) and checks its
/// expectations; no trace, every row kept (`result.outcomes`). A run that
/// exhausts its event budget has [`thaw_scenario::Report::stopped`] set.
pub fn run(scenario: &Scenario, seed: Option<u64>) -> thaw_scenario::Report {
    match thaw_scenario::run_scenario(scenario, seed, &mut thaw_core::NullSink) {
        Ok(r) => r,
        // The budget ran out: the totals so far (run again, streaming).
        Err(_) => thaw_scenario::run_scenario_streaming(
            scenario,
            seed,
            &mut thaw_core::NullSink,
            &mut thaw_scenario::NoRowSink,
        ),
    }
}
