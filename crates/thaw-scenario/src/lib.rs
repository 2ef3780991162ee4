//! thaw-scenario

pub mod diag;

pub use diag::{
    apply_sets, diagnostic_at, did_you_mean, parse_toml, parse_toml_partial, span_of, Diagnostic,
    Diagnostics, Dur,
};
pub mod build;
pub mod file;

pub use build::{load, LoadError, Scenario};
pub mod runner;
pub use runner::{run_scenario, run_scenario_with, Report};
