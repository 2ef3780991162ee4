//! Stale-read detection: reads that miss a write that had completed before
//! the read began.
//!
//! # Definition
//!
//! A read `R` of key `k` is **stale** iff there is a write `W` to `k` with
//! `W.completed < R.invoked` (strictly) and `W.version > R.returned`, where
//! an absent result (`None`) is older than every version. Each stale read
//! counts once, however many writes it missed. A write that completes at or
//! after the instant the read begins is concurrent with it and never makes it
//! stale. Since versions are commit sequence numbers, a read is stale iff the
//! newest version among the writes completed before it began is newer than
//! what it returned; that newest write is the *missed* write reported.
//!
//! Two implementations give the same counts:
//! - [`count_stale`]: batch, over a [`History`] in any order.
//! - [`StaleDetector`]: incremental, for the simulator, fed as things
//!   happen, with memory O(keys + reads in flight).
use crate::history::{ClientId, History, Op, ReadOp, WriteOp};
use crate::store::{Key, Version};
use std::collections::BTreeMap;
use thaw_core::SimTime;

/// How many example stale reads a [`StaleReport`] keeps.
pub const MAX_EXAMPLES: usize = 5;

/// A stale read and the newest write it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleExample {
    /// The stale read.
    pub read: ReadOp,
    /// The newest write to the key that completed before the read began.
    pub missed: WriteOp,
}

/// Stale reads found in a history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaleReport {
    /// Number of stale reads.
    pub total: u64,
    /// Stale reads per invocation; invocations without a stale read are
    /// absent.
    pub per_invocation: BTreeMap<u64, u64>,
    /// The first [`MAX_EXAMPLES`] stale reads, in order of completion (ties
    /// in recording order for [`count_stale`], in feeding order for
    /// [`StaleDetector`]).
    pub examples: Vec<StaleExample>,
}

impl StaleReport {
    fn add(&mut self, read: ReadOp, missed: WriteOp) {
        self.total += 1;
        *self.per_invocation.entry(read.invocation).or_insert(0) += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(StaleExample { read, missed });
        }
    }
}

/// `best` or `candidate`, whichever has the higher version; `best` on ties.
fn newer(best: Option<WriteOp>, candidate: WriteOp) -> WriteOp {
    match best {
        Some(b) if b.version >= candidate.version => b,
        Some(_) | None => candidate,
    }
}

/// Whether a read that returned `returned` missed `newest`.
fn misses(returned: Option<Version>, newest: Option<WriteOp>) -> Option<WriteOp> {
    newest.filter(|w| Some(w.version) > returned)
}

/// Counts the stale reads of `history` (batch; operations in any order).
///
/// O(n log n). Examples are the first stale reads by completion time, ties
/// in recording order.
pub fn count_stale(history: &History) -> StaleReport {
    // Per key: writes ordered by completion, with the running newest.
    let mut writes: BTreeMap<Key, Vec<WriteOp>> = BTreeMap::new();
    let mut reads: Vec<(usize, ReadOp)> = Vec::new();
    for (idx, op) in history.ops().iter().enumerate() {
        match op {
            Op::Write(w) => writes.entry(w.key).or_default().push(*w),
            Op::Read(r) => reads.push((idx, *r)),
        }
    }
    let mut prefix_newest: BTreeMap<Key, (Vec<SimTime>, Vec<WriteOp>)> = BTreeMap::new();
    for (key, mut ws) in writes {
        // Stable: equal completion times keep recording order.
        ws.sort_by_key(|w| w.completed);
        let mut best: Option<WriteOp> = None;
        let times = ws.iter().map(|w| w.completed).collect();
        let newest = ws
            .iter()
            .map(|w| {
                let b = newer(best, *w);
                best = Some(b);
                b
            })
            .collect();
        prefix_newest.insert(key, (times, newest));
    }
    reads.sort_by_key(|(idx, r)| (r.completed, *idx));
    let mut report = StaleReport::default();
    for (_, r) in reads {
        let newest = prefix_newest.get(&r.key).and_then(|(times, newest)| {
            let n = times.partition_point(|&t| t < r.invoked);
            n.checked_sub(1).map(|i| newest[i])
        });
        if let Some(w) = misses(r.returned, newest) {
            report.add(r, w);
        }
    }
    report
}

/// A read in flight, returned by [`StaleDetector::read_invoked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadToken(u64);

/// Per key: the newest write completed strictly before `at`, and the newest
/// write completed exactly at `at` (the latest completion time seen).
#[derive(Clone, Copy, Debug)]
struct KeyState {
    at: SimTime,
    before: Option<WriteOp>,
    at_now: Option<WriteOp>,
}

impl KeyState {
    /// The newest write completed strictly before `t` (`t >= self.at`).
    fn newest_before(&self, t: SimTime) -> Option<WriteOp> {
        if t > self.at {
            match self.at_now {
                Some(w) => Some(newer(self.before, w)),
                None => self.before,
            }
        } else {
            self.before
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    key: Key,
    invoked: SimTime,
    client: ClientId,
    invocation: u64,
    /// The newest write completed before the read began.
    must_see: Option<WriteOp>,
}

/// Incremental stale-read detector, fed by the simulator as things happen.
///
/// # Contract
///
/// Feed three kinds of event, in **non-decreasing time order** (each call's
/// time is at or after the previous call's; events at equal times may come in
/// any order, the strict `<` of the definition is honoured for ties):
/// - [`StaleDetector::write_completed`] at the write's `completed` time
///   (commit acknowledged to the client);
/// - [`StaleDetector::read_invoked`] at the read's `invoked` time: it records
///   the newest write completed strictly before, and returns a token;
/// - [`StaleDetector::read_completed`] at the read's `completed` time with
///   what it returned, which decides it (or [`StaleDetector::read_abandoned`]
///   if the read failed and returned nothing).
///
/// Memory: per key, the newest completed write (two of them, to resolve
/// ties at the latest instant), plus one entry per read in flight. The counts
/// equal [`count_stale`]'s on the same operations.
#[derive(Clone, Debug, Default)]
pub struct StaleDetector {
    keys: BTreeMap<Key, KeyState>,
    in_flight: BTreeMap<ReadToken, InFlight>,
    next_token: u64,
    now: SimTime,
    report: StaleReport,
}

impl StaleDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        StaleDetector::default()
    }

    fn tick(&mut self, t: SimTime) {
        assert!(
            t >= self.now,
            "stale detector fed out of time order: {t} < {}",
            self.now
        );
        self.now = t;
    }

    /// A write was acknowledged; call at `w.completed`.
    pub fn write_completed(&mut self, w: WriteOp) {
        self.tick(w.completed);
        assert!(w.invoked <= w.completed, "write completed before invoked");
        let st = self.keys.entry(w.key).or_insert(KeyState {
            at: w.completed,
            before: None,
            at_now: None,
        });
        if w.completed > st.at {
            st.before = st.newest_before(w.completed);
            st.at = w.completed;
            st.at_now = Some(w);
        } else {
            st.at_now = Some(newer(st.at_now, w));
        }
    }

    /// A read of `key` was issued at `invoked`; call at `invoked`.
    pub fn read_invoked(
        &mut self,
        key: Key,
        invoked: SimTime,
        client: ClientId,
        invocation: u64,
    ) -> ReadToken {
        self.tick(invoked);
        let must_see = self.keys.get(&key).and_then(|st| st.newest_before(invoked));
        let token = ReadToken(self.next_token);
        self.next_token += 1;
        self.in_flight.insert(
            token,
            InFlight {
                key,
                invoked,
                client,
                invocation,
                must_see,
            },
        );
        token
    }

    /// The read `token` returned `returned` at `completed`; call at
    /// `completed`. Returns the example if the read was stale.
    pub fn read_completed(
        &mut self,
        token: ReadToken,
        returned: Option<Version>,
        completed: SimTime,
    ) -> Option<StaleExample> {
        self.tick(completed);
        let f = match self.in_flight.remove(&token) {
            Some(f) => f,
            None => panic!("read {token:?} completed twice or never invoked"),
        };
        let read = ReadOp {
            key: f.key,
            returned,
            invoked: f.invoked,
            completed,
            client: f.client,
            invocation: f.invocation,
        };
        let missed = misses(returned, f.must_see)?;
        self.report.add(read, missed);
        Some(StaleExample { read, missed })
    }

    /// The read `token` failed without a result: it is not counted.
    pub fn read_abandoned(&mut self, token: ReadToken) {
        if self.in_flight.remove(&token).is_none() {
            panic!("read {token:?} abandoned twice or never invoked");
        }
    }

    /// Reads invoked and not yet completed or abandoned.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Keys with at least one completed write.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The stale reads found so far.
    pub fn report(&self) -> &StaleReport {
        &self.report
    }

    /// The stale reads found, consuming the detector.
    pub fn into_report(self) -> StaleReport {
        self.report
    }

    /// Feeds a whole history through a fresh detector, in time order (at
    /// equal times: recording order, a read's invocation before its
    /// completion). Same result as [`count_stale`], examples included.
    pub fn replay(history: &History) -> StaleReport {
        // (time, index, phase): phase 0 = write completed / read invoked,
        // 1 = read completed.
        let mut events: Vec<(SimTime, usize, u8)> = Vec::new();
        for (idx, op) in history.ops().iter().enumerate() {
            match op {
                Op::Write(w) => events.push((w.completed, idx, 0)),
                Op::Read(r) => {
                    events.push((r.invoked, idx, 0));
                    events.push((r.completed, idx, 1));
                }
            }
        }
        events.sort_by_key(|&(t, idx, phase)| (t, phase, idx));
        let mut d = StaleDetector::new();
        let mut tokens: BTreeMap<usize, ReadToken> = BTreeMap::new();
        for (_, idx, phase) in events {
            match (history.ops()[idx], phase) {
                (Op::Write(w), _) => d.write_completed(w),
                (Op::Read(r), 0) => {
                    let tok = d.read_invoked(r.key, r.invoked, r.client, r.invocation);
                    tokens.insert(idx, tok);
                }
                (Op::Read(r), _) => {
                    let tok = tokens.remove(&idx).expect("invoked before completed");
                    d.read_completed(tok, r.returned, r.completed);
                }
            }
        }
        d.into_report()
    }
}
