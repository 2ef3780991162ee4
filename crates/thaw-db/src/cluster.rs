//! A primary [`Store`] with its read replicas: forwards every commit to the
//! replicas and routes reads.
use crate::replica::{ReadRouting, Replica, Router, Target};
use crate::store::{CommitRecord, Isolation, Key, ReadResult, SessionConfig, SessionId, Store};
use thaw_core::{SimDuration, SimTime};

/// A read and where it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedRead {
    /// Primary or replica.
    pub target: Target,
    /// What the read returned.
    pub result: ReadResult,
}

/// A primary and its replicas. Session operations go to the primary; every
/// commit they make is forwarded to all replicas at once, and returned.
#[derive(Clone, Debug)]
pub struct Cluster {
    primary: Store,
    replicas: Vec<Replica>,
    router: Router,
}

impl Cluster {
    /// An empty primary with one replica per entry of `lags`.
    pub fn new(lags: &[SimDuration]) -> Self {
        Cluster {
            primary: Store::new(),
            replicas: lags.iter().map(|&lag| Replica::new(lag)).collect(),
            router: Router::new(),
        }
    }

    /// The primary.
    pub fn primary(&self) -> &Store {
        &self.primary
    }

    /// The replicas.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    fn forward(&mut self, commit: Option<CommitRecord>) -> Option<CommitRecord> {
        if let Some(c) = &commit {
            for r in &mut self.replicas {
                r.on_commit(c);
            }
        }
        commit
    }

    /// See [`Store::open`].
    pub fn open(&mut self, now: SimTime, config: SessionConfig) -> SessionId {
        self.primary.open(now, config)
    }

    /// See [`Store::set_autocommit`].
    pub fn set_autocommit(
        &mut self,
        now: SimTime,
        id: SessionId,
        on: bool,
    ) -> Option<CommitRecord> {
        let c = self.primary.set_autocommit(now, id, on);
        self.forward(c)
    }

    /// See [`Store::set_isolation`].
    pub fn set_isolation(&mut self, now: SimTime, id: SessionId, isolation: Isolation) {
        self.primary.set_isolation(now, id, isolation);
    }

    /// See [`Store::begin`].
    pub fn begin(&mut self, now: SimTime, id: SessionId) -> Option<CommitRecord> {
        let c = self.primary.begin(now, id);
        self.forward(c)
    }

    /// See [`Store::write`].
    pub fn write(&mut self, now: SimTime, id: SessionId, key: Key) -> Option<CommitRecord> {
        let c = self.primary.write(now, id, key);
        self.forward(c)
    }

    /// See [`Store::commit`].
    pub fn commit(&mut self, now: SimTime, id: SessionId) -> Option<CommitRecord> {
        let c = self.primary.commit(now, id);
        self.forward(c)
    }

    /// See [`Store::rollback`].
    pub fn rollback(&mut self, now: SimTime, id: SessionId) -> usize {
        self.primary.rollback(now, id)
    }

    /// See [`Store::close`].
    pub fn close(&mut self, now: SimTime, id: SessionId) -> usize {
        self.primary.close(now, id)
    }

    /// Reads `key` for session `id`, routed by `routing`. On the primary the
    /// read runs in the session (its transaction and snapshot apply); on a
    /// replica it is a statement-snapshot read of what the replica applied.
    pub fn read(
        &mut self,
        now: SimTime,
        id: SessionId,
        key: Key,
        routing: ReadRouting,
    ) -> RoutedRead {
        let target = self.router.route(routing, self.replicas.len());
        let result = match target {
            Target::Primary => self.primary.read(now, id, key),
            Target::Replica(i) => {
                assert!(
                    self.primary.status(id).is_some(),
                    "read on closed or unknown session {id:?}"
                );
                self.replicas[i].read(now, key)
            }
        };
        RoutedRead { target, result }
    }
}
