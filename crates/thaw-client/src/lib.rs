//! Sans-IO models of client connection pools, and of a client library's
//! own connection object ([`library`]), for thaw.
//!
//! The simulator's world owns sockets and time; a [`Pool`] only decides.
//! Each input (`acquire`, `release`, `opened`, `open_failed`, `lost`,
//! `validated`, `timer`, `close`, `reset`) takes `now` and pushes
//! [`PoolAction`]s: open a connection, grant or fail an acquire, close a
//! connection, probe one, arm a timer, and trace notes explaining each
//! decision.
//!
//! - [`config`]: [`PoolConfig`] (max/min, idle timeout and evictor kind,
//!   acquire timeout, lifetime, validation, checkout order, max uses,
//!   keepalive, Go's `ErrBadConn` retry) with presets from
//!   the libraries' code (docs/sources.md), and [`ServerlessMysql`].
//! - [`action`]: ids, timers (kind + generation), effects, errors, notes.
//! - [`pool`]: the state machine.
//!
//! Timers are the runtime's: the world freezes them with the environment
//! and delivers overdue ones on thaw. The pool receives them late and does
//! what the library does (a late acquire timer still fails its waiter —
//! sequelize #12819; a late sweep closes what is idle past the timeout).
#![warn(missing_docs)]

pub mod action;
pub mod config;
pub mod library;
pub mod pool;

pub use action::{
    CloseReason, ConnId, Epoch, InvalidBy, OpenError, PoolAction, PoolError, PoolNote, TimerId,
    TimerKind, WaiterId,
};
pub use config::{
    pool_messages, ConfigError, Evictor, FullJitter, IdleOrder, MinScope, OnLost, OnOpenFailure,
    PoolConfig, PoolMessages, Probe, RetryOnBadConn, ServerlessMysql, Validation,
};
pub use library::{
    Backoff, CloseWhy, HintRule, IdleCheck, InFlight, Jitter, LibAction, LibConfig, LibConfigError,
    LibError, LibMessages, LibNote, LibPreset, LibTimer, Library, Link, Loss, LossSet, Reconnect,
    Reply, Reports,
};
pub use pool::{ConnState, Pool, PoolStats};

#[cfg(test)]
mod tests;
