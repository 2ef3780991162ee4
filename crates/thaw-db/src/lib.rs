//! Sans-IO data and consistency model for thaw's database servers.
//!
//! No networking, no timers: the simulator's server models call these with
//! `now` and record what comes back.
//! - [`store`]: a multi-versioned store (MVCC) with sessions, autocommit,
//!   READ COMMITTED / REPEATABLE READ transactions and snapshots: the
//!   mechanism of S1 in docs/sources.md (a global PyMySQL connection with autocommit off
//!   keeps a REPEATABLE READ snapshot alive across invocations).
//! - [`replica`]: read replicas with a constant lag, and read routing.
//! - [`cluster`]: a primary with its replicas, forwarding commits.
//! - [`history`] and [`stale`]: completed operations and the stale-read
//!   (read-after-write violation) detector, batch and incremental.
#![warn(missing_docs)]

pub mod cluster;
pub mod history;
pub mod replica;
pub mod stale;
pub mod store;

pub use cluster::{Cluster, RoutedRead};
pub use history::{ClientId, History, Op, ReadOp, WriteOp};
pub use replica::{ReadRouting, Replica, Router, Target};
pub use stale::{count_stale, ReadToken, StaleDetector, StaleExample, StaleReport, MAX_EXAMPLES};
pub use store::{
    CommitRecord, Isolation, Key, ReadResult, SessionConfig, SessionId, SessionStatus, Snapshot,
    Store, TxStatus, Version, UNCOMMITTED,
};

#[cfg(test)]
mod tests;
