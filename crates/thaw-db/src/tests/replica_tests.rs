//! Replicas, routing, and replica lag as a cause of stale reads.
use super::t;
use crate::cluster::Cluster;
use crate::history::{History, ReadOp};
use crate::replica::{ReadRouting, Replica, Router, Target};
use crate::stale::{count_stale, StaleDetector};
use crate::store::{CommitRecord, SessionConfig, SessionId};
use thaw_core::{SimDuration, SimTime};

fn commit(version: u64, at: SimTime, keys: Vec<u64>) -> CommitRecord {
    CommitRecord {
        version,
        at,
        session: SessionId(0),
        keys,
    }
}

#[test]
fn replica_with_5s_lag_is_stale_at_3s_and_fresh_at_6s() {
    let mut cl = Cluster::new(&[SimDuration::from_secs(5)]);
    let mut h = History::new();
    let w = cl.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let r = cl.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let c = cl.write(t(0), w, 1).expect("autocommit");
    h.record_commit(&c, t(0), t(0), 0);
    assert_eq!(cl.replicas()[0].pending(), 1);
    for (at, inv) in [(3, 1), (6, 2)] {
        let rr = cl.read(t(at), r, 1, ReadRouting::Replica(0));
        assert_eq!(rr.target, Target::Replica(0));
        h.read(ReadOp {
            key: 1,
            returned: rr.result.version,
            invoked: t(at),
            completed: t(at),
            client: 1,
            invocation: inv,
        });
    }
    let report = count_stale(&h);
    assert_eq!(report.total, 1);
    assert_eq!(report.examples[0].read.invoked, t(3));
    assert_eq!(report.examples[0].read.returned, None);
    assert_eq!(report.per_invocation.get(&2), None);
    assert_eq!(StaleDetector::replay(&h), report);
    // The same reads on the primary are fresh.
    assert_eq!(
        cl.read(t(7), r, 1, ReadRouting::Primary).result.version,
        Some(1)
    );
}

#[test]
fn replica_applies_exactly_at_commit_time_plus_lag() {
    let mut r = Replica::new(SimDuration::from_secs(5));
    r.on_commit(&commit(1, t(10), vec![1, 2]));
    r.on_commit(&commit(2, t(12), vec![2]));
    let just_before = SimTime::from_nanos(t(15).as_nanos() - 1);
    assert_eq!(r.read(just_before, 1).version, None);
    let at = r.read(t(15), 1);
    assert_eq!((at.version, at.snapshot_at), (Some(1), 1));
    assert_eq!(r.read(t(16), 2).version, Some(1));
    assert_eq!(r.read(t(17), 2).version, Some(2));
    assert_eq!(r.applied_seq(), 2);
    assert_eq!(r.pending(), 0);
}

#[test]
fn zero_lag_replica_applies_at_once() {
    let mut r = Replica::new(SimDuration::ZERO);
    r.on_commit(&commit(1, t(0), vec![1]));
    assert_eq!(r.pending(), 0);
    assert_eq!(r.read(t(0), 1).version, Some(1));
}

#[test]
#[should_panic(expected = "out of order")]
fn replica_rejects_commits_out_of_order() {
    let mut r = Replica::new(SimDuration::from_secs(1));
    r.on_commit(&commit(2, t(0), vec![1]));
    r.on_commit(&commit(1, t(0), vec![1]));
}

#[test]
fn uncommitted_transaction_is_not_replicated() {
    let mut cl = Cluster::new(&[SimDuration::ZERO]);
    let a = cl.open(t(0), SessionConfig::PYMYSQL);
    let b = cl.open(t(0), SessionConfig::MYSQL_DEFAULT);
    assert_eq!(cl.write(t(1), a, 1), None);
    assert_eq!(
        cl.read(t(2), b, 1, ReadRouting::Replica(0)).result.version,
        None
    );
    assert!(cl.commit(t(3), a).is_some());
    assert_eq!(
        cl.read(t(3), b, 1, ReadRouting::Replica(0)).result.version,
        Some(1)
    );
}

#[test]
fn round_robin_cycles_replicas_deterministically() {
    let mut router = Router::new();
    let seq: Vec<Target> = (0..5)
        .map(|_| router.route(ReadRouting::RoundRobin, 3))
        .collect();
    assert_eq!(
        seq,
        vec![
            Target::Replica(0),
            Target::Replica(1),
            Target::Replica(2),
            Target::Replica(0),
            Target::Replica(1)
        ]
    );
    // Other routings do not move the turn.
    assert_eq!(router.route(ReadRouting::Primary, 3), Target::Primary);
    assert_eq!(router.route(ReadRouting::Replica(0), 3), Target::Replica(0));
    assert_eq!(router.route(ReadRouting::RoundRobin, 3), Target::Replica(2));
    assert_eq!(router.route(ReadRouting::RoundRobin, 0), Target::Primary);
}

#[test]
fn round_robin_reads_hit_replicas_with_different_lags() {
    let mut cl = Cluster::new(&[SimDuration::from_secs(1), SimDuration::from_secs(10)]);
    let w = cl.open(t(0), SessionConfig::MYSQL_DEFAULT);
    let r = cl.open(t(0), SessionConfig::MYSQL_DEFAULT);
    cl.write(t(0), w, 1);
    let a = cl.read(t(2), r, 1, ReadRouting::RoundRobin);
    let b = cl.read(t(2), r, 1, ReadRouting::RoundRobin);
    assert_eq!((a.target, a.result.version), (Target::Replica(0), Some(1)));
    assert_eq!((b.target, b.result.version), (Target::Replica(1), None));
}

#[test]
#[should_panic(expected = "does not exist")]
fn routing_to_missing_replica_panics() {
    Router::new().route(ReadRouting::Replica(1), 1);
}
