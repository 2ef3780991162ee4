//! Store semantics, and the seed-000 story end to end.
use super::t;
use crate::history::{History, ReadOp};
use crate::stale::{count_stale, StaleDetector};
use crate::store::{Isolation, SessionConfig, Store, UNCOMMITTED};
use std::collections::BTreeMap;
use thaw_core::SimDuration;

const RC_OFF: SessionConfig = SessionConfig {
    autocommit: false,
    isolation: Isolation::ReadCommitted,
};

/// S1 (the PyMySQL article): a loader creates key 1; session A (the `get_users` function's
/// global connection) reads it at 0 s; session B (`create_user`, autocommit)
/// writes it at 10 s; A reads again at 60 s (a later invocation), commits at
/// 70 s, reads at 80 s. Returns the history and A's three reads.
fn seed_000(reader: SessionConfig) -> (History, [Option<u64>; 3]) {
    let mut s = Store::new();
    let mut h = History::new();
    let loader = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let c = s.write(t(0), loader, 1).expect("autocommit write commits");
    h.record_commit(&c, t(0), t(0), 0);
    let a = s.open(t(0), reader);
    let b = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let mut seen = [None; 3];
    let mut read = |s: &mut Store, h: &mut History, at: u64, inv: u64| {
        let r = s.read(t(at), a, 1);
        h.read(ReadOp {
            key: 1,
            returned: r.version,
            invoked: t(at),
            completed: t(at),
            client: 1,
            invocation: inv,
        });
        seen[inv as usize - 1] = r.version;
    };
    read(&mut s, &mut h, 0, 1);
    let c = s.write(t(10), b, 1).expect("autocommit write commits");
    assert_eq!(c.version, 2);
    h.record_commit(&c, t(10), t(10), 2);
    read(&mut s, &mut h, 60, 2);
    assert_eq!(s.commit(t(70), a), None, "A wrote nothing");
    assert_eq!(s.transaction_open_since(a), None);
    read(&mut s, &mut h, 80, 3);
    (h, seen)
}

#[test]
fn seed_000_repeatable_read_autocommit_off_is_stale_until_commit() {
    let (h, seen) = seed_000(SessionConfig::PYMYSQL);
    assert_eq!(seen, [Some(1), Some(1), Some(2)]);
    let report = count_stale(&h);
    assert_eq!(report.total, 1);
    assert_eq!(report.per_invocation, BTreeMap::from([(2, 1)]));
    let ex = report.examples[0];
    assert_eq!((ex.read.invoked, ex.read.returned), (t(60), Some(1)));
    assert_eq!((ex.missed.version, ex.missed.completed), (2, t(10)));
    assert_eq!(StaleDetector::replay(&h), report);
}

#[test]
fn seed_000_read_committed_is_not_stale() {
    let (h, seen) = seed_000(RC_OFF);
    assert_eq!(seen, [Some(1), Some(2), Some(2)]);
    assert_eq!(count_stale(&h).total, 0);
    assert_eq!(StaleDetector::replay(&h).total, 0);
}

#[test]
fn seed_000_autocommit_on_is_not_stale() {
    let (h, seen) = seed_000(SessionConfig::MYSQL_DEFAULT);
    assert_eq!(seen, [Some(1), Some(2), Some(2)]);
    assert_eq!(count_stale(&h).total, 0);
}

#[test]
fn seed_000_status_reports_transaction_and_snapshot_age() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    assert_eq!(s.transaction_open_since(a), None);
    s.read(t(5), a, 1);
    assert_eq!(s.transaction_open_since(a), Some(t(5)));
    assert_eq!(s.snapshot_age(t(65), a), Some(SimDuration::from_secs(60)));
    let st = s.status(a).expect("open");
    let tx = st.tx.expect("transaction open");
    assert!(!tx.explicit);
    assert_eq!(tx.isolation, Isolation::RepeatableRead);
    assert_eq!(tx.snapshot.map(|sn| (sn.seq, sn.taken_at)), Some((0, t(5))));
    assert_eq!(st.last_activity, t(5));
    s.rollback(t(70), a);
    assert_eq!(s.snapshot_age(t(70), a), None);
    s.close(t(71), a);
    assert_eq!(s.status(a), None);
}

#[test]
fn read_committed_transaction_is_open_but_holds_no_snapshot() {
    let mut s = Store::new();
    let a = s.open(t(0), RC_OFF);
    let r = s.read(t(1), a, 1);
    assert_eq!(r.version, None);
    assert_eq!(s.transaction_open_since(a), Some(t(1)));
    assert_eq!(s.snapshot_age(t(2), a), None);
    assert_eq!(s.oldest_snapshot(), None);
}

#[test]
fn autocommit_read_opens_no_transaction() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    s.read(t(1), a, 1);
    assert_eq!(s.transaction_open_since(a), None);
    assert_eq!(s.snapshot_age(t(1), a), None);
}

#[test]
fn own_uncommitted_writes_are_visible_only_to_self() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    let b = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    assert_eq!(s.write(t(1), a, 7), None, "buffered");
    let own = s.read(t(2), a, 7);
    assert_eq!(own.version, Some(UNCOMMITTED));
    assert!(own.is_own_write());
    assert_eq!(s.read(t(2), b, 7).version, None);
    let c = s.commit(t(3), a).expect("wrote something");
    assert_eq!((c.version, c.at, c.keys.clone()), (1, t(3), vec![7]));
    assert_eq!(s.read(t(4), b, 7).version, Some(1));
    assert_eq!(s.latest(7), Some((1, t(3))));
}

#[test]
fn commit_of_several_keys_gives_them_one_version() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    s.write(t(1), a, 3);
    s.write(t(1), a, 1);
    s.write(t(1), a, 3);
    assert_eq!(
        s.status(a).and_then(|st| st.tx).map(|tx| tx.pending_writes),
        Some(2)
    );
    let c = s.commit(t(2), a).expect("commit");
    assert_eq!(c.keys, vec![1, 3]);
    assert_eq!(s.latest(1), Some((1, t(2))));
    assert_eq!(s.latest(3), Some((1, t(2))));
}

#[test]
fn rollback_and_close_discard_writes() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    let b = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    s.write(t(1), a, 1);
    assert_eq!(s.rollback(t(2), a), 1);
    assert_eq!(s.commit(t(3), a), None);
    s.write(t(4), a, 1);
    assert_eq!(s.close(t(5), a), 1);
    assert_eq!(s.read(t(6), b, 1).version, None);
    assert_eq!(s.committed_seq(), 0);
}

#[test]
fn repeatable_read_snapshot_is_taken_at_first_read_not_at_begin() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let b = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    assert_eq!(s.begin(t(0), a), None);
    assert!(s
        .status(a)
        .and_then(|st| st.tx)
        .is_some_and(|tx| tx.explicit));
    s.write(t(5), b, 1);
    assert_eq!(s.read(t(10), a, 1).version, Some(1), "snapshot taken now");
    s.write(t(15), b, 1);
    assert_eq!(
        s.read(t(20), a, 1).version,
        Some(1),
        "held despite autocommit on"
    );
    assert_eq!(s.read(t(20), a, 2).version, None);
    s.commit(t(25), a);
    assert_eq!(
        s.read(t(30), a, 1).version,
        Some(2),
        "statement snapshot again"
    );
}

#[test]
fn begin_commits_an_open_transaction() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    s.write(t(1), a, 1);
    let c = s.begin(t(2), a).expect("implicit commit");
    assert_eq!(c.version, 1);
    let tx = s.status(a).and_then(|st| st.tx).expect("new transaction");
    assert_eq!((tx.since, tx.explicit, tx.pending_writes), (t(2), true, 0));
}

#[test]
fn switching_autocommit_on_commits() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    s.write(t(1), a, 1);
    assert_eq!(s.set_autocommit(t(2), a, false), None);
    let c = s.set_autocommit(t(3), a, true).expect("implicit commit");
    assert_eq!((c.version, c.at), (1, t(3)));
    assert_eq!(s.transaction_open_since(a), None);
    let c = s.write(t(4), a, 1).expect("autocommit now");
    assert_eq!(c.version, 2);
}

#[test]
fn isolation_change_applies_from_next_transaction() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    let b = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    s.read(t(1), a, 1);
    s.set_isolation(t(2), a, Isolation::ReadCommitted);
    s.write(t(3), b, 1);
    assert_eq!(s.read(t(4), a, 1).version, None, "still repeatable read");
    s.commit(t(5), a);
    s.write(t(6), b, 1);
    assert_eq!(s.read(t(7), a, 1).version, Some(2));
    s.write(t(8), b, 1);
    assert_eq!(s.read(t(9), a, 1).version, Some(3), "read committed now");
}

#[test]
fn last_committer_wins() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    let b = s.open(t(0), SessionConfig::PYMYSQL);
    s.write(t(1), a, 1);
    s.write(t(2), b, 1);
    assert_eq!(s.commit(t(3), b).map(|c| c.version), Some(1));
    assert_eq!(s.commit(t(4), a).map(|c| c.version), Some(2));
    assert_eq!(s.latest(1), Some((2, t(4))));
}

#[test]
fn old_versions_are_pruned_unless_a_snapshot_needs_them() {
    let mut s = Store::new();
    let w = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let a = s.open(t(0), SessionConfig::PYMYSQL);
    for i in 0..10 {
        s.write(t(i), w, 1);
    }
    assert_eq!(s.retained_versions(), 1);
    assert_eq!(s.read(t(10), a, 1).version, Some(10));
    for i in 11..20 {
        s.write(t(i), w, 1);
    }
    assert_eq!(s.retained_versions(), 10, "v10 kept for A's snapshot");
    assert_eq!(s.read(t(20), a, 1).version, Some(10));
    s.commit(t(21), a);
    s.gc();
    assert_eq!(s.retained_versions(), 1);
    assert_eq!(s.read(t(22), a, 1).version, Some(19));
}

#[test]
#[should_panic(expected = "backwards")]
fn time_going_backwards_panics() {
    let mut s = Store::new();
    let a = s.open(t(5), SessionConfig::MYSQL_DEFAULT);
    s.read(t(4), a, 1);
}

#[test]
#[should_panic(expected = "closed or unknown session")]
fn operation_on_closed_session_panics() {
    let mut s = Store::new();
    let a = s.open(t(0), SessionConfig::MYSQL_DEFAULT);
    s.close(t(1), a);
    s.read(t(2), a, 1);
}
