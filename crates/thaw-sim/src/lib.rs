//! The thaw World: execution environments (init, invoke, freeze, thaw,
//! reap), client connection strategies, a server, the network path with an
//! optional middlebox, and a workload, run over thaw-core's event queue and
//! thaw-net's TCP and middlebox models.
#![warn(missing_docs)]

pub mod config;
pub mod expect;
pub mod jsonl;
mod msg;
mod proxy;
pub mod report;
mod server;
pub mod workload;
mod world;
#[cfg(test)]
mod world_tests;

pub use config::*;
pub use report::{ErrorKind, Metrics, NoRows, Outcome, OutcomeSink, RunResult};
pub use world::{
    run, run_streaming, run_streaming_seeded, Driven, ExtEvent, ExtRecv, ExtSock, RunError,
    SockOpts, Unsupported,
};
