//! The stale-read detector on hand-built histories, both ways.
use super::t;
use crate::history::{History, ReadOp, WriteOp};
use crate::stale::{count_stale, StaleDetector, StaleReport, MAX_EXAMPLES};
use std::collections::BTreeMap;

fn w(key: u64, version: u64, invoked: u64, completed: u64) -> WriteOp {
    WriteOp {
        key,
        version,
        invoked: t(invoked),
        completed: t(completed),
        client: 0,
    }
}

fn r(key: u64, returned: Option<u64>, invoked: u64, completed: u64, invocation: u64) -> ReadOp {
    ReadOp {
        key,
        returned,
        invoked: t(invoked),
        completed: t(completed),
        client: 1,
        invocation,
    }
}

/// Both detectors, checked to agree.
fn both(h: &History) -> StaleReport {
    let batch = count_stale(h);
    assert_eq!(StaleDetector::replay(h), batch);
    batch
}

#[test]
fn concurrent_write_is_not_stale() {
    let mut h = History::new();
    h.write(w(1, 1, 2, 5));
    h.read(r(1, None, 3, 7, 1));
    assert_eq!(both(&h).total, 0);
}

#[test]
fn write_completing_at_the_read_invocation_instant_is_concurrent() {
    let mut h = History::new();
    h.write(w(1, 1, 0, 5));
    h.read(r(1, None, 5, 5, 1));
    assert_eq!(both(&h).total, 0);
}

#[test]
fn reading_a_newer_version_than_an_earlier_write_is_not_stale() {
    let mut h = History::new();
    h.write(w(1, 1, 0, 1));
    h.write(w(1, 2, 1, 2));
    h.read(r(1, Some(2), 5, 6, 1));
    h.read(r(1, Some(3), 5, 6, 2)); // a version whose write is not in the history
    assert_eq!(both(&h).total, 0);
}

#[test]
fn absent_key_read_after_completed_insert_is_stale() {
    let mut h = History::new();
    h.write(w(9, 4, 0, 1));
    h.read(r(9, None, 2, 3, 7));
    let rep = both(&h);
    assert_eq!(rep.total, 1);
    assert_eq!(rep.per_invocation, BTreeMap::from([(7, 1)]));
    assert_eq!(rep.examples[0].missed, w(9, 4, 0, 1));
}

#[test]
fn a_read_missing_several_writes_counts_once_and_reports_the_newest() {
    let mut h = History::new();
    h.write(w(1, 3, 0, 1));
    h.write(w(1, 5, 0, 2));
    h.write(w(1, 4, 0, 3));
    h.read(r(1, Some(2), 10, 10, 1));
    let rep = both(&h);
    assert_eq!(rep.total, 1);
    assert_eq!(rep.examples[0].missed.version, 5);
}

#[test]
fn writes_to_other_keys_do_not_count() {
    let mut h = History::new();
    h.write(w(2, 1, 0, 1));
    h.read(r(1, None, 5, 5, 1));
    assert_eq!(both(&h).total, 0);
}

#[test]
fn history_order_does_not_matter_for_the_batch_count() {
    let mut h = History::new();
    h.read(r(1, Some(1), 10, 11, 1));
    h.read(r(1, Some(2), 12, 13, 2));
    h.write(w(1, 2, 3, 4));
    h.write(w(1, 1, 0, 1));
    let rep = both(&h);
    assert_eq!(rep.total, 1);
    assert_eq!(rep.per_invocation, BTreeMap::from([(1, 1)]));
}

#[test]
fn examples_are_capped_and_per_invocation_counts_add_up() {
    let mut h = History::new();
    h.write(w(1, 1, 0, 0));
    for i in 0..(MAX_EXAMPLES as u64 + 3) {
        h.read(r(1, None, 1 + i, 1 + i, i % 2));
    }
    let rep = both(&h);
    assert_eq!(rep.total, MAX_EXAMPLES as u64 + 3);
    assert_eq!(rep.examples.len(), MAX_EXAMPLES);
    assert_eq!(rep.per_invocation.values().sum::<u64>(), rep.total);
    assert_eq!(rep.examples[0].read.invoked, t(1));
}

#[test]
fn incremental_ties_are_order_independent() {
    // Write completes at 5, read invoked at 5: concurrent, whatever the order.
    let mut d = StaleDetector::new();
    let tok = d.read_invoked(1, t(5), 1, 1);
    d.write_completed(w(1, 1, 0, 5));
    assert_eq!(d.read_completed(tok, None, t(6)), None);

    let mut d = StaleDetector::new();
    d.write_completed(w(1, 1, 0, 5));
    let tok = d.read_invoked(1, t(5), 1, 1);
    assert_eq!(d.read_completed(tok, None, t(6)), None);
    // A later read does need it.
    let tok = d.read_invoked(1, t(6), 1, 2);
    assert!(d.read_completed(tok, None, t(6)).is_some());
    assert_eq!(d.report().total, 1);
}

#[test]
fn incremental_memory_is_per_key_and_per_read_in_flight() {
    let mut d = StaleDetector::new();
    for i in 0..1000 {
        d.write_completed(w(i % 3, i + 1, i, i));
    }
    assert_eq!(d.keys(), 3);
    let a = d.read_invoked(0, t(2000), 1, 1);
    let b = d.read_invoked(1, t(2000), 1, 1);
    assert_eq!(d.in_flight(), 2);
    d.read_abandoned(a);
    assert!(d.read_completed(b, Some(1000), t(2001)).is_none());
    assert_eq!(d.in_flight(), 0);
    assert_eq!(d.report().total, 0, "abandoned reads are not counted");
}

#[test]
#[should_panic(expected = "out of time order")]
fn incremental_rejects_out_of_order_feeding() {
    let mut d = StaleDetector::new();
    d.write_completed(w(1, 1, 0, 5));
    d.read_invoked(1, t(4), 1, 1);
}
