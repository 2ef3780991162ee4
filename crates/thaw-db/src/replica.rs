//! Read replicas with a constant replication lag, and read routing.
//!
//! A replica applies each primary commit `lag` after the commit's time on the
//! primary: a read at `now` sees exactly the commits made on the primary at or
//! before `now - lag`. Reads on a replica are autocommit: each one takes a
//! statement snapshot of what the replica has applied.
//!
//! The replica is fed the primary's [`CommitRecord`]s in commit order (the
//! [`crate::Cluster`] does it) and is read with non-decreasing times; it keeps
//! the latest applied version per key plus the commits still in flight
//! (those of the last `lag`), so memory does not grow with the run's length.
use crate::store::{CommitRecord, Key, ReadResult, Version};
use std::collections::{BTreeMap, VecDeque};
use thaw_core::{SimDuration, SimTime};

/// A read replica of the primary [`crate::Store`].
#[derive(Clone, Debug)]
pub struct Replica {
    lag: SimDuration,
    /// Commits received, not yet applied, in commit order.
    pending: VecDeque<CommitRecord>,
    /// Latest applied version per key.
    applied: BTreeMap<Key, Version>,
    /// Sequence number of the last applied commit.
    applied_seq: Version,
    /// Latest time the replica was read or advanced at.
    now: SimTime,
}

impl Replica {
    /// A replica that applies each commit `lag` after its commit time.
    pub fn new(lag: SimDuration) -> Self {
        Replica {
            lag,
            pending: VecDeque::new(),
            applied: BTreeMap::new(),
            applied_seq: 0,
            now: SimTime::ZERO,
        }
    }

    /// The replication lag.
    pub fn lag(&self) -> SimDuration {
        self.lag
    }

    /// Receives a commit of the primary. Commits must arrive in commit
    /// order (increasing version, non-decreasing time).
    pub fn on_commit(&mut self, commit: &CommitRecord) {
        let last = self
            .pending
            .back()
            .map_or((self.applied_seq, SimTime::ZERO), |c| (c.version, c.at));
        assert!(
            commit.version > last.0 && commit.at >= last.1,
            "replica fed commits out of order: {} at {} after {} at {}",
            commit.version,
            commit.at,
            last.0,
            last.1
        );
        assert!(
            commit.at.saturating_add(self.lag) >= self.now,
            "replica received commit {} at {} after it should have applied it",
            commit.version,
            commit.at
        );
        self.pending.push_back(commit.clone());
        // With zero lag a commit is due at once.
        self.advance(self.now);
    }

    /// Applies every commit due at or before `now` (commit time + lag <= now).
    pub fn advance(&mut self, now: SimTime) {
        assert!(
            now >= self.now,
            "replica time went backwards: {now} < {}",
            self.now
        );
        self.now = now;
        while let Some(front) = self.pending.front() {
            if front.at.saturating_add(self.lag) > now {
                break;
            }
            let commit = self.pending.pop_front().expect("front exists");
            for &key in &commit.keys {
                self.applied.insert(key, commit.version);
            }
            self.applied_seq = commit.version;
        }
    }

    /// Reads `key` at `now`: the latest version committed on the primary at
    /// or before `now - lag`.
    pub fn read(&mut self, now: SimTime, key: Key) -> ReadResult {
        self.advance(now);
        ReadResult {
            version: self.applied.get(&key).copied(),
            snapshot_at: self.applied_seq,
        }
    }

    /// Sequence number of the last commit applied (as of the last call).
    pub fn applied_seq(&self) -> Version {
        self.applied_seq
    }

    /// Number of commits received and not yet applied.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Where reads go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadRouting {
    /// Every read on the primary, through the session (transactions apply).
    Primary,
    /// Every read on replica `index` (statement snapshots).
    Replica(usize),
    /// Each read on the next replica in turn, starting at replica 0, like a
    /// reader endpoint; on the primary if there is no replica.
    RoundRobin,
}

/// Where one read went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The primary.
    Primary,
    /// Replica with this index.
    Replica(usize),
}

/// Deterministic read router: turns a [`ReadRouting`] into a [`Target`].
#[derive(Clone, Debug, Default)]
pub struct Router {
    next: usize,
}

impl Router {
    /// A router whose round robin starts at replica 0.
    pub fn new() -> Self {
        Router::default()
    }

    /// The target of the next read under `routing`, with `replicas`
    /// replicas. Only [`ReadRouting::RoundRobin`] advances the turn.
    pub fn route(&mut self, routing: ReadRouting, replicas: usize) -> Target {
        match routing {
            ReadRouting::Primary => Target::Primary,
            ReadRouting::Replica(i) => {
                assert!(i < replicas, "replica {i} of {replicas} does not exist");
                Target::Replica(i)
            }
            ReadRouting::RoundRobin => {
                if replicas == 0 {
                    return Target::Primary;
                }
                let i = self.next % replicas;
                self.next = (i + 1) % replicas;
                Target::Replica(i)
            }
        }
    }
}
