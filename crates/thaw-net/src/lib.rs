//! Sans-IO network models for thaw: a Linux TCP endpoint and a stateful
//! middlebox (NAT gateway, load balancer, firewall).
//!
//! Models take `(now, input)` and push effects into a caller-owned buffer;
//! they never schedule, sleep or print. The simulator (thaw-sim) turns the
//! effects into events and trace records. Every default and rule here is
//! sourced in docs/model.md (sources listed in docs/sources.md).
#![warn(missing_docs)]

pub mod middlebox;
pub mod segment;
pub mod tcp;

pub use middlebox::{
    FlowState, Middlebox, MiddleboxConfig, MiddleboxPreset, StateTimeouts, Untracked, Verdict,
};
pub use segment::{Addr, Dir, Flags, Payload, Segment};
pub use tcp::{
    Errno, Keepalive, Notice, RecvResult, Tcb, TcpAction, TcpConfig, TcpNote, TcpState, TimerKind,
};

#[cfg(test)]
mod middlebox_tests;
#[cfg(test)]
mod tcp_tests;
