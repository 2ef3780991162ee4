//! A keyed, multi-versioned store (MVCC) with sessions, transactions and
//! snapshots, as in MySQL/InnoDB and PostgreSQL.
//!
//! # Model
//!
//! - Keys are [`Key`]s. Values are not modelled, only *versions*: every
//!   commit that wrote something takes the next number of one global commit
//!   sequence ([`Version`]), and every key it wrote gets a new version with
//!   that number and the commit time. Version `0` is "nothing committed yet".
//! - A *snapshot* is a commit sequence number `s`: it sees, for every key,
//!   the newest version `<= s`.
//! - Each server connection has a session ([`SessionId`]) with an
//!   `autocommit` flag and an [`Isolation`] level ([`SessionConfig`]).
//!
//! # Semantics
//!
//! - **autocommit ON**: each statement outside an explicit transaction
//!   ([`Store::begin`]) is its own transaction: a read takes a statement
//!   snapshot, a write commits at once.
//! - **autocommit OFF** (PyMySQL's default): the first statement implicitly
//!   starts a transaction that lasts until [`Store::commit`] or
//!   [`Store::rollback`] (or [`Store::close`], which rolls back).
//! - **REPEATABLE READ**: the snapshot is taken at the *first read* of the
//!   transaction (InnoDB's "consistent read view" established by the first
//!   `SELECT`); every later read of the transaction sees that snapshot, so
//!   commits by other sessions stay invisible until the transaction ends.
//!   PostgreSQL takes it at the first statement of any kind; the difference
//!   only matters for transactions that write before they read.
//! - **READ COMMITTED**: every read takes a fresh snapshot.
//! - A transaction's own uncommitted writes are visible to itself: such a read
//!   returns [`UNCOMMITTED`].
//! - Writes become visible to others at commit.
//! - [`Store::begin`] while a transaction is open commits it first, and
//!   switching autocommit from OFF to ON commits an open transaction: both are
//!   MySQL's implicit commits (PostgreSQL warns and ignores a nested `BEGIN`).
//!
//! # Simplifications (documented on purpose)
//!
//! - No locking and no write-write conflicts: concurrent transactions may
//!   write the same key and the **last committer wins** (its commit has the
//!   higher sequence number). No deadlocks, no serialization failures, no lock
//!   waits.
//! - Only versions are tracked, not values, so a read's result is a version.
//!
//! Old versions that no live snapshot can see are pruned when their key is
//! written again, so memory grows with keys and live snapshots, not with the
//! number of commits.
//!
//! Calls on a closed or unknown session, and calls with a time earlier than a
//! previous call, are broken invariants of the caller and panic.
use std::collections::{BTreeMap, BTreeSet};
use thaw_core::{SimDuration, SimTime};

/// A key of the store (a row, a cache key).
pub type Key = u64;

/// A version of a key: the global commit sequence number of the commit that
/// wrote it. `0` is the state before any commit.
pub type Version = u64;

/// The version a transaction reads when it reads its own uncommitted write.
///
/// It is larger than every committed version: what the transaction sees is
/// newer than anything it could have missed, so such a read is never stale.
pub const UNCOMMITTED: Version = u64::MAX;

/// Identifies a session (one server-side connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// Transaction isolation level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isolation {
    /// Each read sees the latest committed data (PostgreSQL's default).
    ReadCommitted,
    /// A transaction's reads all see the snapshot taken at its first read
    /// (MySQL/InnoDB's default).
    RepeatableRead,
}

impl Isolation {
    /// Lower-case name used in scenario files and traces.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::RepeatableRead => "repeatable_read",
        }
    }
}

/// A session's settings when it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Whether each statement outside an explicit transaction commits at once.
    pub autocommit: bool,
    /// Isolation level of the session's transactions.
    pub isolation: Isolation,
}

impl SessionConfig {
    /// PyMySQL's default against MySQL: `autocommit=False`, REPEATABLE READ.
    /// The configuration of S1, the PyMySQL article (docs/sources.md).
    pub const PYMYSQL: SessionConfig = SessionConfig {
        autocommit: false,
        isolation: Isolation::RepeatableRead,
    };
    /// The MySQL server default: autocommit ON, REPEATABLE READ.
    pub const MYSQL_DEFAULT: SessionConfig = SessionConfig {
        autocommit: true,
        isolation: Isolation::RepeatableRead,
    };
    /// The PostgreSQL default: autocommit ON, READ COMMITTED.
    pub const POSTGRES_DEFAULT: SessionConfig = SessionConfig {
        autocommit: true,
        isolation: Isolation::ReadCommitted,
    };
}

/// The result of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// The version read: `None` if the key is absent in the snapshot,
    /// [`UNCOMMITTED`] if the transaction read its own uncommitted write.
    pub version: Option<Version>,
    /// The commit sequence number of the snapshot the read used.
    pub snapshot_at: Version,
}

impl ReadResult {
    /// Whether the read returned the transaction's own uncommitted write.
    pub fn is_own_write(&self) -> bool {
        self.version == Some(UNCOMMITTED)
    }
}

/// A commit that wrote at least one key: what replicas apply and what a
/// history records as completed writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    /// The commit's sequence number, the new version of every key in `keys`.
    pub version: Version,
    /// Commit time on the primary.
    pub at: SimTime,
    /// The session that committed.
    pub session: SessionId,
    /// The keys written, ascending, each once.
    pub keys: Vec<Key>,
}

/// A repeatable-read snapshot held by a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Commit sequence number the snapshot sees up to (inclusive).
    pub seq: Version,
    /// When it was taken.
    pub taken_at: SimTime,
}

/// An open transaction, as reported by [`Store::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// When the transaction started (explicit `BEGIN` or first statement).
    pub since: SimTime,
    /// Started by [`Store::begin`] (true) or implicitly by a statement with
    /// autocommit OFF (false).
    pub explicit: bool,
    /// Isolation level of this transaction.
    pub isolation: Isolation,
    /// The repeatable-read snapshot, once the first read has taken it.
    pub snapshot: Option<Snapshot>,
    /// Number of distinct keys written and not yet committed.
    pub pending_writes: usize,
}

/// A session's state, as reported by [`Store::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// Current settings (isolation applies from the next transaction).
    pub config: SessionConfig,
    /// When the session was opened.
    pub opened_at: SimTime,
    /// Time of the session's last operation (open included).
    pub last_activity: SimTime,
    /// The open transaction, if any.
    pub tx: Option<TxStatus>,
}

#[derive(Clone, Debug)]
struct Tx {
    since: SimTime,
    explicit: bool,
    isolation: Isolation,
    snapshot: Option<Snapshot>,
    writes: BTreeSet<Key>,
}

#[derive(Clone, Debug)]
struct Session {
    config: SessionConfig,
    opened_at: SimTime,
    last_activity: SimTime,
    tx: Option<Tx>,
}

/// One committed version of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Committed {
    version: Version,
    at: SimTime,
}

/// The primary's data: version chains per key, and the sessions.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// The last commit sequence number handed out.
    seq: Version,
    /// Per key, committed versions in ascending order (pruned).
    chains: BTreeMap<Key, Vec<Committed>>,
    sessions: BTreeMap<SessionId, Session>,
    next_session: u64,
    now: SimTime,
}

impl Store {
    /// An empty store: no keys, no sessions, commit sequence at 0.
    pub fn new() -> Self {
        Store::default()
    }

    fn tick(&mut self, now: SimTime) {
        assert!(
            now >= self.now,
            "store time went backwards: {now} < {}",
            self.now
        );
        self.now = now;
    }

    fn session_mut(&mut self, id: SessionId) -> &mut Session {
        match self.sessions.get_mut(&id) {
            Some(s) => s,
            None => panic!("operation on closed or unknown session {id:?}"),
        }
    }

    /// Opens a session with `config`.
    pub fn open(&mut self, now: SimTime, config: SessionConfig) -> SessionId {
        self.tick(now);
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions.insert(
            id,
            Session {
                config,
                opened_at: now,
                last_activity: now,
                tx: None,
            },
        );
        id
    }

    /// `SET autocommit = on`. Switching from OFF to ON while a transaction is
    /// open commits it (MySQL implicit commit); the commit is returned.
    pub fn set_autocommit(
        &mut self,
        now: SimTime,
        id: SessionId,
        on: bool,
    ) -> Option<CommitRecord> {
        self.tick(now);
        let s = self.session_mut(id);
        s.last_activity = now;
        let was = s.config.autocommit;
        s.config.autocommit = on;
        if on && !was {
            self.finish(now, id)
        } else {
            None
        }
    }

    /// `SET SESSION TRANSACTION ISOLATION LEVEL`: applies from the next
    /// transaction; an open transaction keeps its level.
    pub fn set_isolation(&mut self, now: SimTime, id: SessionId, isolation: Isolation) {
        self.tick(now);
        let s = self.session_mut(id);
        s.last_activity = now;
        s.config.isolation = isolation;
    }

    /// `BEGIN`: starts an explicit transaction, which lasts until commit or
    /// rollback whatever the autocommit setting. An open transaction is
    /// committed first (MySQL implicit commit); that commit is returned.
    pub fn begin(&mut self, now: SimTime, id: SessionId) -> Option<CommitRecord> {
        self.tick(now);
        let committed = self.finish(now, id);
        let s = self.session_mut(id);
        s.last_activity = now;
        s.tx = Some(Tx {
            since: now,
            explicit: true,
            isolation: s.config.isolation,
            snapshot: None,
            writes: BTreeSet::new(),
        });
        committed
    }

    /// Makes sure a transaction is open for a statement if one is needed:
    /// returns whether the statement runs inside a transaction.
    fn enter_statement(&mut self, now: SimTime, id: SessionId) -> bool {
        let s = self.session_mut(id);
        s.last_activity = now;
        match (&s.tx, s.config.autocommit) {
            (Some(_), _) => true,
            (None, true) => false,
            (None, false) => {
                s.tx = Some(Tx {
                    since: now,
                    explicit: false,
                    isolation: s.config.isolation,
                    snapshot: None,
                    writes: BTreeSet::new(),
                });
                true
            }
        }
    }

    /// Reads `key`.
    pub fn read(&mut self, now: SimTime, id: SessionId, key: Key) -> ReadResult {
        self.tick(now);
        let in_tx = self.enter_statement(now, id);
        let current = self.seq;
        let snapshot_at = if in_tx {
            let s = self.session_mut(id);
            let tx = s.tx.as_mut().expect("enter_statement opened a transaction");
            let snap = match tx.isolation {
                Isolation::ReadCommitted => current,
                Isolation::RepeatableRead => {
                    tx.snapshot
                        .get_or_insert(Snapshot {
                            seq: current,
                            taken_at: now,
                        })
                        .seq
                }
            };
            if tx.writes.contains(&key) {
                return ReadResult {
                    version: Some(UNCOMMITTED),
                    snapshot_at: snap,
                };
            }
            snap
        } else {
            current
        };
        ReadResult {
            version: self.visible(key, snapshot_at),
            snapshot_at,
        }
    }

    /// Writes `key`. Inside a transaction the write is buffered until commit;
    /// with autocommit ON and no explicit transaction it commits at once and
    /// the commit is returned.
    pub fn write(&mut self, now: SimTime, id: SessionId, key: Key) -> Option<CommitRecord> {
        self.tick(now);
        if self.enter_statement(now, id) {
            let s = self.session_mut(id);
            s.tx.as_mut()
                .expect("enter_statement opened a transaction")
                .writes
                .insert(key);
            None
        } else {
            Some(self.apply_commit(now, id, vec![key]))
        }
    }

    /// `COMMIT`: makes the open transaction's writes visible. Returns the
    /// commit if the transaction wrote something; `None` if it wrote nothing
    /// or no transaction was open.
    pub fn commit(&mut self, now: SimTime, id: SessionId) -> Option<CommitRecord> {
        self.tick(now);
        self.session_mut(id).last_activity = now;
        self.finish(now, id)
    }

    /// `ROLLBACK`: discards the open transaction's writes and its snapshot.
    /// Returns the number of keys whose writes were discarded.
    pub fn rollback(&mut self, now: SimTime, id: SessionId) -> usize {
        self.tick(now);
        let s = self.session_mut(id);
        s.last_activity = now;
        s.tx.take().map_or(0, |tx| tx.writes.len())
    }

    /// Closes the session; an open transaction is rolled back. Returns the
    /// number of keys whose writes were discarded.
    pub fn close(&mut self, now: SimTime, id: SessionId) -> usize {
        self.tick(now);
        match self.sessions.remove(&id) {
            Some(s) => s.tx.map_or(0, |tx| tx.writes.len()),
            None => panic!("close of closed or unknown session {id:?}"),
        }
    }

    /// Ends the open transaction, if any, committing its writes.
    fn finish(&mut self, now: SimTime, id: SessionId) -> Option<CommitRecord> {
        let tx = self.session_mut(id).tx.take()?;
        if !tx.writes.is_empty() {
            Some(self.apply_commit(now, id, tx.writes.into_iter().collect()))
        } else {
            None
        }
    }

    fn apply_commit(&mut self, now: SimTime, id: SessionId, keys: Vec<Key>) -> CommitRecord {
        self.seq += 1;
        let version = self.seq;
        let horizon = self.oldest_snapshot().unwrap_or(version);
        for &key in &keys {
            let chain = self.chains.entry(key).or_default();
            chain.push(Committed { version, at: now });
            prune(chain, horizon);
        }
        CommitRecord {
            version,
            at: now,
            session: id,
            keys,
        }
    }

    /// The newest version of `key` visible to snapshot `seq`.
    fn visible(&self, key: Key, seq: Version) -> Option<Version> {
        let chain = self.chains.get(&key)?;
        let idx = chain.partition_point(|c| c.version <= seq);
        idx.checked_sub(1).map(|i| chain[i].version)
    }

    /// The last commit sequence number handed out (0 before any commit).
    pub fn committed_seq(&self) -> Version {
        self.seq
    }

    /// The latest committed version of `key` and its commit time.
    pub fn latest(&self, key: Key) -> Option<(Version, SimTime)> {
        self.chains
            .get(&key)
            .and_then(|c| c.last())
            .map(|c| (c.version, c.at))
    }

    /// The oldest repeatable-read snapshot held by any open transaction.
    pub fn oldest_snapshot(&self) -> Option<Version> {
        self.sessions
            .values()
            .filter_map(|s| s.tx.as_ref().and_then(|t| t.snapshot).map(|sn| sn.seq))
            .min()
    }

    /// Drops, for every key, the versions no live snapshot can see.
    /// (Done per key on every commit already; this sweeps all keys.)
    pub fn gc(&mut self) {
        let horizon = self.oldest_snapshot().unwrap_or(self.seq);
        for chain in self.chains.values_mut() {
            prune(chain, horizon);
        }
    }

    /// Total number of versions retained, over all keys (for memory checks).
    pub fn retained_versions(&self) -> usize {
        self.chains.values().map(Vec::len).sum()
    }

    /// The state of session `id`, or `None` if it is closed or unknown.
    pub fn status(&self, id: SessionId) -> Option<SessionStatus> {
        let s = self.sessions.get(&id)?;
        Some(SessionStatus {
            config: s.config,
            opened_at: s.opened_at,
            last_activity: s.last_activity,
            tx: s.tx.as_ref().map(|tx| TxStatus {
                since: tx.since,
                explicit: tx.explicit,
                isolation: tx.isolation,
                snapshot: tx.snapshot,
                pending_writes: tx.writes.len(),
            }),
        })
    }

    /// When the session's open transaction started, if one is open
    /// (for "idle in transaction" timeouts).
    pub fn transaction_open_since(&self, id: SessionId) -> Option<SimTime> {
        self.sessions.get(&id)?.tx.as_ref().map(|tx| tx.since)
    }

    /// Age at `now` of the snapshot the session's open transaction holds,
    /// if it holds one (REPEATABLE READ after its first read).
    pub fn snapshot_age(&self, now: SimTime, id: SessionId) -> Option<SimDuration> {
        let snap = self.sessions.get(&id)?.tx.as_ref()?.snapshot?;
        Some(now.saturating_since(snap.taken_at))
    }

    /// Open sessions, ascending.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }
}

/// Keeps the versions newer than `horizon` and the newest one at or below it.
fn prune(chain: &mut Vec<Committed>, horizon: Version) {
    let at_or_below = chain.partition_point(|c| c.version <= horizon);
    if at_or_below > 1 {
        chain.drain(..at_or_below - 1);
    }
}
