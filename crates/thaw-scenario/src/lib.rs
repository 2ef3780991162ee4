//! thaw-scenario

pub mod diag;

pub use diag::{
    apply_sets, diagnostic_at, did_you_mean, parse_toml, parse_toml_partial, span_of, Diagnostic,
    Diagnostics, Dur, DurDist, Override, Seed,
};
pub mod build;
pub mod file;
pub mod limits;
pub mod prepared;
pub mod resolve;
pub mod schema;
pub mod trace;
pub mod vary;

pub use build::{load, load_with, LoadError, Scenario};
pub use prepared::Prepared;
pub use resolve::{resolve, Resolved};
pub use vary::{Spec, Vary, VaryValue};
pub mod runner;
pub use runner::{
    run_scenario, run_scenario_streaming, run_scenario_using, run_scenario_with, NoRowSink, Report,
    RowSink, WorldRunner,
};
