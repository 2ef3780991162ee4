//! Checkout, release, validation, retirement, close and reset.
use super::*;
use crate::{
    ConnState, Evictor, IdleOrder, InvalidBy, OnOpenFailure, OpenError, PoolNote, Validation,
};

#[test]
fn acquire_opens_then_grants_and_idle_is_reused() {
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.acquire(ms(0), 1);
    let c = opens(&a)[0];
    assert!(grants(&a).is_empty());
    assert_eq!(h.pool.conn_state(c), Some(ConnState::Opening));
    assert_eq!(grants(&h.opened(ms(5), c)), vec![(w(1), c)]);
    h.release(ms(10), c, false);
    assert_eq!(h.pool.conn_state(c), Some(ConnState::Idle));
    let a = h.acquire(ms(20), 2);
    assert_eq!(grants(&a), vec![(w(2), c)]);
    assert!(opens(&a).is_empty());
    assert!(timers(&a).is_empty(), "granted at once: no acquire timer");
}

#[test]
fn never_more_than_max_and_waiters_are_fifo() {
    let mut h = H::new(PoolConfig {
        max: 2,
        ..PoolConfig::sequelize()
    });
    let mut all = Vec::new();
    for x in 1..=4 {
        all.extend(h.acquire(ms(0), x));
    }
    let o = opens(&all);
    assert_eq!(o.len(), 2);
    // Opens go to the oldest waiters.
    assert_eq!(grants(&h.opened(ms(1), o[1])), vec![(w(1), o[1])]);
    assert_eq!(grants(&h.opened(ms(1), o[0])), vec![(w(2), o[0])]);
    assert_eq!(h.pool.stats().waiting, 2);
    assert_eq!(grants(&h.release(ms(2), o[0], false)), vec![(w(3), o[0])]);
    assert_eq!(grants(&h.release(ms(3), o[1], false)), vec![(w(4), o[1])]);
    assert_eq!(h.pool.stats().in_use, 2);
}

fn two_idle(order: IdleOrder) -> (H, ConnId, ConnId) {
    let mut h = H::new(PoolConfig {
        order,
        ..PoolConfig::pg_pool()
    });
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(10), a, false);
    h.release(ms(20), b, false);
    (h, a, b)
}

#[test]
fn lifo_hands_out_the_most_recently_released() {
    let (mut h, _a, b) = two_idle(IdleOrder::Lifo);
    assert_eq!(grants(&h.acquire(ms(30), 3)), vec![(w(3), b)]);
}

#[test]
fn fifo_hands_out_the_least_recently_released() {
    let (mut h, a, _b) = two_idle(IdleOrder::Fifo);
    assert_eq!(grants(&h.acquire(ms(30), 3)), vec![(w(3), a)]);
}

#[test]
fn flag_validation_rejects_a_processed_close_but_not_a_silent_death() {
    let mut h = H::new(PoolConfig::sequelize());
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(1), a, false);
    h.release(ms(2), b, false);
    // b's FIN was processed by the driver; a's path died silently.
    let l = h.lost(ms(3), b);
    assert!(
        closes(&l).is_empty(),
        "Mark: the flag is only read at checkout"
    );
    assert_eq!(h.pool.conn_state(b), Some(ConnState::Idle));
    let g = h.acquire(ms(4), 3);
    assert_eq!(closes(&g), vec![(b, CloseReason::Invalid(InvalidBy::Flag))]);
    assert_eq!(grants(&g), vec![(w(3), a)], "the silently dead one passes");
    assert!(notes(&g).iter().any(|n| n.contains("got idle")));
    assert_eq!(
        CloseReason::Invalid(InvalidBy::Flag).name(),
        "validation failed: flag set"
    );
}

#[test]
fn flagged_in_use_connection_goes_idle_and_is_rejected_later() {
    let mut h = H::new(PoolConfig::sequelize());
    let a = h.checkout_new(ms(0), 1);
    h.lost(ms(1), a);
    assert!(closes(&h.release(ms(2), a, false)).is_empty());
    let g = h.acquire(ms(3), 2);
    assert_eq!(closes(&g), vec![(a, CloseReason::Invalid(InvalidBy::Flag))]);
    assert_eq!(opens(&g).len(), 1);
}

#[test]
fn pg_pool_idle_listener_removes_lost_connections() {
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(1), a, false);
    assert_eq!(closes(&h.lost(ms(2), a)), vec![(a, CloseReason::Lost)]);
    assert!(
        closes(&h.lost(ms(3), b)).is_empty(),
        "in use: removed on release"
    );
    assert_eq!(
        closes(&h.release(ms(4), b, false)),
        vec![(b, CloseReason::Lost)]
    );
    // `lost` for an already closed connection is ignored.
    assert!(h.lost(ms(5), a).is_empty());
}

#[test]
fn liveness_peek_asks_the_world_and_discards_dead() {
    let mut h = H::new(PoolConfig {
        retry_on_bad_conn: None,
        ..PoolConfig::go_database_sql()
    });
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(1), a, false);
    h.release(ms(2), b, false);
    let v = h.acquire(ms(3), 3);
    assert_eq!(validates(&v), vec![(b, Probe::LivenessPeek)]);
    assert!(grants(&v).is_empty());
    assert_eq!(h.pool.conn_state(b), Some(ConnState::Validating));
    // b saw EOF: closed, next idle probed.
    let v = h.validated(ms(3), b, false);
    assert_eq!(
        closes(&v),
        vec![(
            b,
            CloseReason::Invalid(InvalidBy::Probe(Probe::LivenessPeek))
        )]
    );
    assert_eq!(validates(&v), vec![(a, Probe::LivenessPeek)]);
    let g = h.validated(ms(3), a, true);
    assert_eq!(grants(&g), vec![(w(3), a)]);
    assert!(notes(&g).iter().any(|n| n.contains("probe ok")));
}

#[test]
fn ping_is_bypassed_for_recently_used_connections() {
    let mut h = H::new(PoolConfig {
        min: 0,
        fill_to_min: false,
        ..PoolConfig::hikaricp()
    });
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(100), a, false);
    let g = h.acquire(ms(400), 2);
    assert_eq!(grants(&g), vec![(w(2), a)], "idle 300 ms < 500 ms bypass");
    assert!(notes(&g).iter().any(|n| n.contains("probe skipped")));
    h.release(ms(500), a, false);
    let v = h.acquire(ms(1000), 3);
    assert_eq!(validates(&v), vec![(a, Probe::Ping)]);
}

#[test]
fn loss_during_a_probe_rejects_even_an_alive_answer() {
    let mut h = H::new(PoolConfig::bb8());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(1), a, false);
    assert_eq!(validates(&h.acquire(ms(2), 2)).len(), 1);
    h.lost(ms(3), a);
    let v = h.validated(ms(4), a, true);
    assert_eq!(closes(&v), vec![(a, CloseReason::Invalid(InvalidBy::Flag))]);
    assert!(grants(&v).is_empty());
    assert_eq!(opens(&v).len(), 1, "acquire goes on with a new connection");
}

#[test]
fn go_err_bad_conn_policy_switches_to_a_new_connection() {
    let mut h = H::new(PoolConfig {
        max_idle: None,
        ..PoolConfig::go_database_sql()
    });
    let cs: Vec<ConnId> = (1..=3).map(|x| h.checkout_new(ms(0), x)).collect();
    for (i, c) in cs.iter().enumerate() {
        h.release(ms(1 + i as u64), *c, false);
    }
    let v = h.acquire(ms(10), 9);
    assert_eq!(validates(&v), vec![(cs[2], Probe::LivenessPeek)]);
    let v = h.validated(ms(10), cs[2], false);
    assert_eq!(validates(&v), vec![(cs[1], Probe::LivenessPeek)]);
    let v = h.validated(ms(10), cs[1], false);
    // Two cached attempts used: the third is on a new connection.
    assert!(validates(&v).is_empty());
    let o = opens(&v);
    assert_eq!(o.len(), 1);
    assert!(notes(&v).iter().any(|n| n.contains("new connection")));
    assert_eq!(grants(&h.opened(ms(11), o[0])), vec![(w(9), o[0])]);
    assert_eq!(h.pool.conn_state(cs[0]), Some(ConnState::Idle));
}

#[test]
fn err_bad_conn_after_a_send_shares_the_attempt_budget() {
    let mut h = H::new(PoolConfig {
        max_idle: None,
        ..PoolConfig::go_database_sql()
    });
    let cs: Vec<ConnId> = (1..=3).map(|x| h.checkout_new(ms(0), x)).collect();
    for (i, c) in cs.iter().enumerate() {
        h.release(ms(1 + i as u64), *c, false);
    }
    // First attempt: a cached connection, no attempt used before it.
    let v = h.acquire(ms(10), 9);
    assert_eq!(validates(&v), vec![(cs[2], Probe::LivenessPeek)]);
    assert_eq!(
        grants(&h.validated(ms(10), cs[2], true)),
        vec![(w(9), cs[2])]
    );
    assert_eq!(h.pool.bad_conn_attempts_before(cs[2]), Some(0));
    // Its send failed (ErrBadConn): the second attempt may use a cached one.
    h.release(ms(11), cs[2], true);
    let mut out = Vec::new();
    h.pool.acquire_after_bad_conn(ms(11), w(10), 1, &mut out);
    let v = h.record(out);
    assert_eq!(validates(&v), vec![(cs[1], Probe::LivenessPeek)]);
    assert_eq!(
        grants(&h.validated(ms(11), cs[1], true)),
        vec![(w(10), cs[1])]
    );
    assert_eq!(h.pool.bad_conn_attempts_before(cs[1]), Some(1));
    // Failed again: the last attempt is on a new connection, although
    // cs[0] is idle.
    h.release(ms(12), cs[1], true);
    let mut out = Vec::new();
    h.pool.acquire_after_bad_conn(ms(12), w(11), 2, &mut out);
    let v = h.record(out);
    assert!(validates(&v).is_empty());
    let o = opens(&v);
    assert_eq!(o.len(), 1);
    assert_eq!(grants(&h.opened(ms(13), o[0])), vec![(w(11), o[0])]);
    assert_eq!(h.pool.bad_conn_attempts_before(o[0]), Some(2));
    assert_eq!(h.pool.conn_state(cs[0]), Some(ConnState::Idle));
}

#[test]
fn waiter_timing_out_during_a_probe_returns_the_connection() {
    let mut h = H::new(PoolConfig::bb8());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(1), a, false);
    h.acquire(ms(2), 2);
    let t = h.last_timer(|k| matches!(k, TimerKind::AcquireTimeout(_)));
    let f = h.fire(t.at, t);
    assert_eq!(fails(&f).len(), 1);
    let v = h.validated(t.at, a, true);
    assert!(grants(&v).is_empty());
    assert_eq!(h.pool.conn_state(a), Some(ConnState::Idle));
}

#[test]
fn max_uses_retires_on_release() {
    let mut h = H::new(PoolConfig {
        max_uses: Some(2),
        ..PoolConfig::pg_pool()
    });
    let a = h.checkout_new(ms(0), 1);
    assert!(closes(&h.release(ms(1), a, false)).is_empty());
    assert_eq!(grants(&h.acquire(ms(2), 2)), vec![(w(2), a)]);
    assert_eq!(
        closes(&h.release(ms(3), a, false)),
        vec![(a, CloseReason::MaxUses)]
    );
}

#[test]
fn max_lifetime_is_checked_at_checkout_and_release() {
    let mut h = H::new(PoolConfig {
        max_lifetime: Some(d(60)),
        ..PoolConfig::pg_pool()
    });
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(30), a, false);
    let g = h.acquire(secs(61), 2);
    assert_eq!(closes(&g), vec![(a, CloseReason::Lifetime)]);
    let b = opens(&g)[0];
    h.opened(secs(61), b);
    assert_eq!(
        closes(&h.release(secs(200), b, false)),
        vec![(b, CloseReason::Lifetime)]
    );
}

#[test]
fn hikari_lifetime_timer_closes_idle_and_retires_in_use() {
    let mut h = H::new(PoolConfig {
        min: 0,
        fill_to_min: false,
        ..PoolConfig::hikaricp()
    });
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    h.release(secs(1), a, false);
    let ta = h
        .armed
        .iter()
        .copied()
        .find(|t| t.kind == TimerKind::Lifetime(a))
        .expect("lifetime timer");
    let tb = h
        .armed
        .iter()
        .copied()
        .find(|t| t.kind == TimerKind::Lifetime(b))
        .expect("lifetime timer");
    assert_eq!(ta.at, secs(1800));
    assert_eq!(
        closes(&h.fire(secs(1800), ta)),
        vec![(a, CloseReason::Lifetime)]
    );
    assert!(closes(&h.fire(secs(1800), tb)).is_empty());
    assert_eq!(
        closes(&h.release(secs(1801), b, false)),
        vec![(b, CloseReason::Lifetime)]
    );
}

#[test]
fn sqlalchemy_overflow_connections_close_on_return() {
    let mut h = H::new(PoolConfig::sqlalchemy());
    let cs: Vec<ConnId> = (1..=7).map(|x| h.checkout_new(ms(0), x)).collect();
    let mut closed = Vec::new();
    for c in &cs {
        closed.extend(closes(&h.release(ms(1), *c, false)));
    }
    assert_eq!(
        closed,
        vec![
            (cs[5], CloseReason::OverMaxIdle),
            (cs[6], CloseReason::OverMaxIdle)
        ]
    );
    assert_eq!(h.pool.stats().idle, 5);
}

#[test]
fn release_hands_over_to_a_waiter_even_above_max_idle() {
    let mut h = H::new(PoolConfig {
        max: 1,
        max_idle: Some(0),
        ..PoolConfig::sqlalchemy()
    });
    let a = h.checkout_new(ms(0), 1);
    h.acquire(ms(1), 2);
    assert_eq!(grants(&h.release(ms(2), a, false)), vec![(w(2), a)]);
    assert_eq!(
        closes(&h.release(ms(3), a, false)),
        vec![(a, CloseReason::OverMaxIdle)]
    );
}

#[test]
fn broken_release_closes() {
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.checkout_new(ms(0), 1);
    assert_eq!(
        closes(&h.release(ms(1), a, true)),
        vec![(a, CloseReason::Broken)]
    );
}

#[test]
fn close_closes_idle_now_and_in_use_on_release() {
    let mut h = H::new(PoolConfig::sequelize_lambda_guide(d(30)));
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(1), a, false);
    let ev = h.last_timer(|k| matches!(k, TimerKind::Evictor(_)));
    let c = h.close(ms(3));
    assert_eq!(closes(&c), vec![(a, CloseReason::PoolClosed)]);
    assert_eq!(
        notes(&c),
        vec!["pool closed: 1 idle closed, 1 in use close on release, 0 waiting acquires failed"]
    );
    assert!(h.pool.is_closed());
    assert_eq!(fails(&h.acquire(ms(4), 5)), vec![(w(5), PoolError::Closed)]);
    assert_eq!(
        closes(&h.release(ms(5), b, false)),
        vec![(b, CloseReason::PoolClosed)]
    );
    assert!(h.fire(secs(31), ev).is_empty(), "evictor stopped");
    assert!(!h.pool.has_armed_timers());
    // initPools(): usable again, with new connections.
    h.reset(secs(32));
    assert!(!h.pool.is_closed());
    assert_eq!(opens(&h.acquire(secs(32), 6)).len(), 1);
}

#[test]
fn close_fails_waiters_and_closes_late_opens() {
    let mut h = H::new(PoolConfig::sequelize());
    let o = opens(&h.acquire(ms(0), 1))[0];
    let c = h.close(ms(1));
    assert_eq!(fails(&c), vec![(w(1), PoolError::Closed)]);
    let c = h.opened(ms(2), o);
    assert_eq!(closes(&c), vec![(o, CloseReason::PoolClosed)]);
    assert!(notes(&c)[0].contains("opened after the pool was closed"));
    // The acquire's timer is stale now.
    let t = h.last_timer(|k| matches!(k, TimerKind::AcquireTimeout(_)));
    assert!(h.fire(secs(60), t).is_empty());
}

#[test]
fn close_fails_a_waiter_mid_probe_and_closes_the_probed_connection() {
    let mut h = H::new(PoolConfig::bb8());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(1), a, false);
    assert_eq!(validates(&h.acquire(ms(2), 2)).len(), 1);
    assert_eq!(fails(&h.close(ms(3))), vec![(w(2), PoolError::Closed)]);
    assert_eq!(
        closes(&h.validated(ms(4), a, true)),
        vec![(a, CloseReason::PoolClosed)]
    );
}

#[test]
fn reset_leaves_the_old_pool_to_its_own_evictor() {
    let mut h = H::new(PoolConfig::sequelize_lambda_guide(d(30)));
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    h.release(secs(1), a, false);
    let ev = h.last_timer(|k| matches!(k, TimerKind::Evictor(_)));
    // The invocation timed out before close(); the next one calls initPools().
    let r = h.reset(secs(100));
    assert!(notes(&r)[0].contains("old pool keeps 1 idle and 1 in-use"));
    assert_eq!(h.pool.stats().retired_conns, 2);
    // New acquires never see the old pool's connections.
    let n = opens(&h.acquire(secs(100), 3));
    assert_eq!(n.len(), 1);
    assert_ne!(n[0], a);
    // The old query finally finishes: b goes back to the old pool.
    assert!(closes(&h.release(secs(101), b, false)).is_empty());
    assert_eq!(h.pool.conn_state(b), Some(ConnState::Idle));
    // The old pool's overdue evictor sweeps both.
    let s = h.fire(secs(102), ev);
    assert_eq!(
        closes(&s),
        vec![(a, CloseReason::Idle), (b, CloseReason::Idle)]
    );
    assert_eq!(h.pool.stats().retired_pools, 0, "empty old pool dropped");
}

#[test]
fn open_failure_fails_the_oldest_waiter() {
    let mut h = H::new(PoolConfig::pg_pool());
    let o1 = opens(&h.acquire(ms(0), 1))[0];
    let o2 = opens(&h.acquire(ms(0), 2))[0];
    let f = h.open_failed(ms(5), o2, OpenError::Refused);
    assert_eq!(fails(&f), vec![(w(1), PoolError::Open(OpenError::Refused))]);
    assert!(opens(&f).is_empty(), "one open still serves the one waiter");
    assert_eq!(grants(&h.opened(ms(6), o1)), vec![(w(2), o1)]);
}

#[test]
fn open_failure_with_retry_waits_and_reopens() {
    let mut h = H::new(PoolConfig::bb8());
    let o = opens(&h.acquire(ms(0), 1))[0];
    let f = h.open_failed(ms(5), o, OpenError::TooManyConnections);
    assert!(fails(&f).is_empty());
    let t = timers(&f)[0];
    assert!(matches!(t.kind, TimerKind::OpenRetry(_)));
    assert!(
        opens(&h.acquire(ms(6), 2)).is_empty(),
        "no opens while backing off"
    );
    let r = h.fire(t.at, t);
    assert_eq!(opens(&r).len(), 2);
}

#[test]
fn hikari_fills_to_minimum_idle_at_start() {
    let mut h = H::new(PoolConfig::hikaricp());
    let s = h.start(secs(0));
    assert_eq!(opens(&s).len(), 10);
    assert_eq!(
        timers(&s)
            .iter()
            .filter(|t| matches!(t.kind, TimerKind::Evictor(_)))
            .count(),
        1
    );
    let o = opens(&s);
    for c in &o {
        h.opened(secs(1), *c);
    }
    assert_eq!(h.pool.stats().idle, 10);
    // Borrowing does not refill; a closed connection is replaced.
    let g = h.acquire(secs(1), 1);
    assert_eq!(grants(&g), vec![(w(1), o[9])], "used 0 s ago: no isValid()");
    assert!(opens(&g).is_empty());
    let r = h.release(secs(2), o[9], true);
    assert_eq!(closes(&r), vec![(o[9], CloseReason::Broken)]);
    assert_eq!(opens(&r).len(), 1, "refilled to minimumIdle");
}

#[test]
fn config_knobs_compose() {
    // ReArmed evictor without an idle timeout keeps re-arming while idle
    // connections remain (the guide's issue #1 with min >= 1).
    let mut h = H::new(PoolConfig {
        idle_timeout: None,
        evictor: Evictor::ReArmed(d(1)),
        validation: Validation::Flag,
        on_open_failure: OnOpenFailure::FailWaiter,
        ..PoolConfig::sequelize()
    });
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    for i in 1..=3 {
        let t = h.last_timer(|k| matches!(k, TimerKind::Evictor(_)));
        let s = h.fire(secs(i), t);
        assert!(closes(&s).is_empty());
        assert_eq!(timers(&s).len(), 1);
    }
    assert!(h.pool.has_armed_timers());
    let n = PoolNote::ProbeBypassed {
        conn: a,
        idle_for: d(0),
    };
    assert_eq!(n.to_string(), "probe skipped for conn-1: idle only 0s");
}

#[test]
#[should_panic(expected = "is not in use")]
fn double_release_is_a_bug() {
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(1), a, false);
    h.release(ms(2), a, false);
}

#[test]
#[should_panic(expected = "already waiting")]
fn duplicate_waiter_is_a_bug() {
    let mut h = H::new(PoolConfig {
        max: 1,
        ..PoolConfig::pg_pool()
    });
    h.acquire(ms(0), 1);
    h.acquire(ms(0), 1);
}

#[test]
#[should_panic(expected = "time went backwards")]
fn time_never_goes_backwards() {
    let mut h = H::new(PoolConfig::pg_pool());
    h.acquire(ms(5), 1);
    h.acquire(ms(4), 2);
}

#[test]
fn go_keeps_two_idle_connections() {
    let mut h = H::new(PoolConfig::go_database_sql());
    let cs: Vec<ConnId> = (1..=4).map(|x| h.checkout_new(ms(0), x)).collect();
    let mut closed = Vec::new();
    for c in &cs {
        closed.extend(closes(&h.release(ms(1), *c, false)));
    }
    assert_eq!(
        closed,
        vec![
            (cs[2], CloseReason::OverMaxIdle),
            (cs[3], CloseReason::OverMaxIdle)
        ]
    );
}

#[test]
fn serverless_mysql_single_connection_queues_without_timeout() {
    let mut h = H::new(PoolConfig::serverless_mysql());
    let c = h.checkout_new(ms(0), 1);
    let a = h.acquire(ms(1), 2);
    assert!(opens(&a).is_empty() && timers(&a).is_empty());
    assert_eq!(grants(&h.release(secs(900), c, false)), vec![(w(2), c)]);
}
