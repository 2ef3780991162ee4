//! The keepalive query of idle connections (`keepalive_query`, Npgsql's
//! `Keepalive`): a runtime timer per idle connection, held by a freeze and
//! delivered late, re-armed after each successful query, void while the
//! connection is checked out.
use super::*;
use crate::InvalidBy;

fn npgsql_keepalive(secs: u64) -> PoolConfig {
    PoolConfig {
        keepalive_query: Some(d(secs)),
        ..PoolConfig::npgsql()
    }
}

fn ka_timer(h: &H, c: ConnId) -> TimerId {
    h.last_timer(|k| *k == TimerKind::KeepaliveQuery(c))
}

fn ka_timers(a: &[PoolAction]) -> Vec<TimerId> {
    timers(a)
        .into_iter()
        .filter(|t| matches!(t.kind, TimerKind::KeepaliveQuery(_)))
        .collect()
}

#[test]
fn off_by_default_in_every_preset() {
    for cfg in [
        PoolConfig::npgsql(),
        PoolConfig::pg_pool(),
        PoolConfig::hikaricp(),
        PoolConfig::sequelize(),
    ] {
        assert_eq!(cfg.keepalive_query, None);
    }
    let bad = PoolConfig {
        keepalive_query: Some(SimDuration::ZERO),
        ..PoolConfig::npgsql()
    };
    assert_eq!(bad.check(), Err(crate::ConfigError::ZeroKeepaliveQuery));
}

#[test]
fn armed_at_release_void_while_checked_out() {
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    let r = h.release(secs(1), a, false);
    let t = ka_timers(&r);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].at, secs(31), "30 s after the last query");
    // Checked out again before it is due: the timer is void.
    let g = h.acquire(secs(10), 2);
    assert_eq!(grants(&g), vec![(w(2), a)]);
    let out = h.fire(secs(31), t[0]);
    assert!(
        out.is_empty(),
        "a checked-out connection sends no keepalive"
    );
    // Released again: a new timer from this release.
    let r = h.release(secs(40), a, false);
    assert_eq!(ka_timers(&r)[0].at, secs(70));
}

#[test]
fn successful_query_rearms_and_keeps_the_connection_idle() {
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    let out = h.fire(secs(30), ka_timer(&h, a));
    assert_eq!(validates(&out), vec![(a, Probe::KeepaliveQuery)]);
    assert_eq!(
        notes(&out),
        vec!["keepalive query on idle conn-1 (idle 30s)"]
    );
    let out = h.validated(secs(30), a, true);
    assert!(closes(&out).is_empty());
    assert_eq!(ka_timers(&out)[0].at, secs(60), "re-armed after the query");
    assert_eq!(h.pool.conn_state(a), Some(crate::ConnState::Idle));
    // The next checkout gets it without waiting.
    let g = h.acquire(secs(45), 2);
    assert_eq!(grants(&g), vec![(w(2), a)]);
}

#[test]
fn held_by_a_freeze_it_runs_overdue_at_thaw() {
    // Released at 0 s, frozen until 600 s: the 30 s timer is delivered at
    // the thaw, 570 s late, and only once (no burst).
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    let t = ka_timer(&h, a);
    assert_eq!(t.at, secs(30));
    let out = h.fire(secs(600), t);
    assert_eq!(validates(&out), vec![(a, Probe::KeepaliveQuery)]);
    assert_eq!(
        notes(&out),
        vec!["keepalive query on idle conn-1 (idle 600s, timer ran 570s late: held while frozen)"]
    );
    let out = h.validated(secs(600), a, true);
    assert_eq!(ka_timers(&out)[0].at, secs(630), "thaw + period");
}

#[test]
fn failure_removes_the_connection_and_clears_the_pool() {
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    h.release(secs(0), a, false);
    h.release(secs(5), b, false);
    h.fire(secs(30), ka_timer(&h, a));
    let out = h.validated(secs(30), a, false);
    assert_eq!(
        closes(&out),
        vec![
            (
                a,
                CloseReason::Invalid(InvalidBy::Probe(Probe::KeepaliveQuery))
            ),
            (b, CloseReason::Cleared),
        ],
        "Npgsql's Break() clears the pool on the keepalive's transient error"
    );
    assert!(h.pool.conn_state(a).is_none());
    // The next checkout opens a new connection.
    let g = h.acquire(secs(31), 3);
    assert_eq!(opens(&g).len(), 1);
}

#[test]
fn failure_without_clear_removes_only_that_connection() {
    let cfg = PoolConfig {
        keepalive_query: Some(d(30)),
        ..PoolConfig::pg_pool()
    };
    let mut h = H::new(cfg);
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    h.release(secs(0), a, false);
    h.release(secs(0), b, false);
    h.fire(secs(30), ka_timer(&h, a));
    let out = h.validated(secs(30), a, false);
    assert_eq!(
        closes(&out),
        vec![(
            a,
            CloseReason::Invalid(InvalidBy::Probe(Probe::KeepaliveQuery))
        )]
    );
    assert_eq!(h.pool.conn_state(b), Some(crate::ConnState::Idle));
}

#[test]
fn checkout_during_the_query_waits_and_fails_with_it() {
    // The thaw race (npgsql/npgsql #3559): the overdue keepalive goes out
    // first, the handler's checkout takes the same connection and waits on
    // it; the keepalive fails, and so does the checkout.
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    h.fire(secs(600), ka_timer(&h, a));
    let g = h.acquire(secs(600), 2);
    assert!(grants(&g).is_empty() && opens(&g).is_empty());
    assert_eq!(
        notes(&g),
        vec!["acquire-2 got idle conn-1, whose keepalive query is in flight, and waits for it"]
    );
    assert!(validates(&g).is_empty(), "the keepalive is the probe");
    let out = h.validated(secs(600), a, false);
    assert_eq!(
        fails(&out),
        vec![(w(2), PoolError::KeepaliveFailed { conn: a })]
    );
    assert!(opens(&out).is_empty(), "nobody waits any more");
}

#[test]
fn checkout_during_a_successful_query_gets_the_connection() {
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    h.fire(secs(30), ka_timer(&h, a));
    h.acquire(secs(30), 2);
    let out = h.validated(secs(30), a, true);
    assert_eq!(grants(&out), vec![(w(2), a)]);
    assert!(ka_timers(&out).is_empty(), "void while checked out");
}

#[test]
fn checkout_after_the_failure_opens_a_new_connection() {
    // The other order: the keepalive's failure is known before the
    // checkout, which finds nothing idle and opens a new connection.
    let mut h = H::new(npgsql_keepalive(30));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    h.fire(secs(600), ka_timer(&h, a));
    h.validated(secs(600), a, false);
    let g = h.acquire(secs(600), 2);
    assert!(fails(&g).is_empty());
    assert_eq!(opens(&g).len(), 1);
}

#[test]
fn an_acquire_that_times_out_while_waiting_leaves_it_to_the_pool() {
    let cfg = PoolConfig {
        acquire_timeout: Some(d(1)),
        ..npgsql_keepalive(30)
    };
    let mut h = H::new(cfg);
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    h.fire(secs(30), ka_timer(&h, a));
    h.acquire(secs(30), 2);
    let t = h.last_timer(|k| matches!(k, TimerKind::AcquireTimeout(_)));
    let out = h.fire(secs(31), t);
    assert!(matches!(
        fails(&out)[..],
        [(_, PoolError::AcquireTimeout { .. })]
    ));
    let out = h.validated(secs(32), a, true);
    assert!(closes(&out).is_empty());
    assert_eq!(h.pool.conn_state(a), Some(crate::ConnState::Idle));
    assert_eq!(ka_timers(&out)[0].at, secs(62));
}

#[test]
fn a_sweep_may_close_a_connection_whose_query_is_in_flight() {
    let cfg = PoolConfig {
        keepalive_query: Some(d(5)),
        ..PoolConfig::pg_pool()
    };
    let mut h = H::new(cfg);
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    h.fire(secs(10), ka_timer(&h, a));
    let idle = h.last_timer(|k| matches!(k, TimerKind::IdleTimeout(_)));
    let out = h.fire(secs(10), idle);
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert!(!h.pool.has_armed_timers());
}
