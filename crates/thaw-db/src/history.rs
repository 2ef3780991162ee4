//! A history of completed client operations, the input of the stale-read
//! detector ([`crate::stale`]).
//!
//! Times are as the *client* sees them: `invoked` when the client issued the
//! operation, `completed` when it got the answer. For a write, `completed` is
//! when the commit was acknowledged to the client (for a write inside a
//! transaction, the `COMMIT`'s acknowledgement).
use crate::store::{CommitRecord, Key, Version};
use thaw_core::SimTime;

/// Identifies a client (a function's execution environment, a connection).
pub type ClientId = u64;

/// A completed (acknowledged) write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOp {
    /// Key written.
    pub key: Key,
    /// Version the commit created.
    pub version: Version,
    /// When the client issued the write.
    pub invoked: SimTime,
    /// When the commit was acknowledged to the client.
    pub completed: SimTime,
    /// Who wrote.
    pub client: ClientId,
}

/// A completed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOp {
    /// Key read.
    pub key: Key,
    /// Version returned; `None` if the key was absent.
    pub returned: Option<Version>,
    /// When the client issued the read.
    pub invoked: SimTime,
    /// When the client got the result.
    pub completed: SimTime,
    /// Who read.
    pub client: ClientId,
    /// The function invocation the read belongs to.
    pub invocation: u64,
}

/// One completed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A write.
    Write(WriteOp),
    /// A read.
    Read(ReadOp),
}

impl Op {
    /// When the operation was issued.
    pub fn invoked(&self) -> SimTime {
        match self {
            Op::Write(w) => w.invoked,
            Op::Read(r) => r.invoked,
        }
    }

    /// When the operation completed.
    pub fn completed(&self) -> SimTime {
        match self {
            Op::Write(w) => w.completed,
            Op::Read(r) => r.completed,
        }
    }
}

/// Completed operations, in the order they were recorded (any order is
/// accepted by [`crate::count_stale`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<Op>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends an operation. Panics if it completed before it was invoked.
    pub fn push(&mut self, op: Op) {
        assert!(
            op.completed() >= op.invoked(),
            "operation completed at {} before it was invoked at {}",
            op.completed(),
            op.invoked()
        );
        self.ops.push(op);
    }

    /// Appends a write.
    pub fn write(&mut self, w: WriteOp) {
        self.push(Op::Write(w));
    }

    /// Appends a read.
    pub fn read(&mut self, r: ReadOp) {
        self.push(Op::Read(r));
    }

    /// Appends one write per key of `commit`, acknowledged at `completed`,
    /// issued at `invoked`.
    pub fn record_commit(
        &mut self,
        commit: &CommitRecord,
        invoked: SimTime,
        completed: SimTime,
        client: ClientId,
    ) {
        for &key in &commit.keys {
            self.write(WriteOp {
                key,
                version: commit.version,
                invoked,
                completed,
                client,
            });
        }
    }

    /// The operations, in recording order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
