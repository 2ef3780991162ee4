//! The one workspace-level integration test binary.
mod bad_input;
mod config;
mod fuzz;
mod html_report;
mod library_properties;
mod pool_properties;
mod properties;
mod retry_properties;
mod runner;
mod scenarios;
mod schema;
mod server_properties;
mod sources;
mod time_overflow;
mod topology_properties;
mod validation;
