//! The one workspace-level integration test binary.
mod bad_input;
mod properties;
mod scenarios;
mod server_properties;
