//! Runs an interleaving of session operations on a store, records the
//! history, and checks every read against a naive reference (full commit log,
//! no pruning).
use crate::history::{History, ReadOp};
use crate::store::{CommitRecord, Key, ReadResult, SessionConfig, Store, Version};
use thaw_core::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    Read(Key),
    Write(Key),
    Begin,
    Commit,
    Rollback,
}

/// One step: session `session` does `act` at `gap` after the previous step;
/// the client issued it `pre` before and got the answer `post` after.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub session: usize,
    pub act: Act,
    pub gap_ms: u64,
    pub pre_ms: u64,
    pub post_ms: u64,
}

/// The newest version of `key` among `commits` with version <= `seq`.
fn reference_visible(commits: &[CommitRecord], key: Key, seq: Version) -> Option<Version> {
    commits
        .iter()
        .filter(|c| c.version <= seq && c.keys.contains(&key))
        .map(|c| c.version)
        .max()
}

/// Runs `steps` with one session per entry of `configs` (a step's session
/// index is taken modulo their number). Returns the history.
pub(crate) fn drive(configs: &[SessionConfig], steps: &[Step]) -> History {
    let mut store = Store::new();
    let mut history = History::new();
    let mut commits: Vec<CommitRecord> = Vec::new();
    let mut now = SimTime::from_secs(1);
    let ids: Vec<_> = configs.iter().map(|&c| store.open(now, c)).collect();
    for (i, step) in steps.iter().enumerate() {
        now += SimDuration::from_millis(step.gap_ms);
        let sid = step.session % ids.len();
        let id = ids[sid];
        let invoked = SimTime::from_nanos(
            now.as_nanos()
                .saturating_sub(SimDuration::from_millis(step.pre_ms).as_nanos()),
        );
        let completed = now + SimDuration::from_millis(step.post_ms);
        let commit = match step.act {
            Act::Read(key) => {
                let r: ReadResult = store.read(now, id, key);
                assert!(r.snapshot_at <= store.committed_seq());
                if !r.is_own_write() {
                    assert_eq!(
                        r.version,
                        reference_visible(&commits, key, r.snapshot_at),
                        "step {i}: read of {key} at snapshot {}",
                        r.snapshot_at
                    );
                }
                history.read(ReadOp {
                    key,
                    returned: r.version,
                    invoked,
                    completed,
                    client: sid as u64,
                    invocation: i as u64,
                });
                None
            }
            Act::Write(key) => store.write(now, id, key),
            Act::Begin => store.begin(now, id),
            Act::Commit => store.commit(now, id),
            Act::Rollback => {
                store.rollback(now, id);
                None
            }
        };
        if let Some(c) = commit {
            assert_eq!(c.version, store.committed_seq());
            history.record_commit(&c, invoked, completed, sid as u64);
            commits.push(c);
        }
        if i % 7 != 6 {
            continue;
        }
        // Memory: after a sweep, versions retained are bounded by keys plus
        // versions committed since the oldest live snapshot.
        store.gc();
        let horizon = store.oldest_snapshot().unwrap_or(store.committed_seq());
        let newer: usize = commits
            .iter()
            .filter(|c| c.version > horizon)
            .map(|c| c.keys.len())
            .sum();
        let keys = commits
            .iter()
            .flat_map(|c| c.keys.iter())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert!(store.retained_versions() <= keys + newer);
    }
    for id in ids {
        store.close(now, id);
    }
    history
}
