//! Idle eviction and timers delivered late after a freeze.
use super::*;

fn evictor(h: &H) -> TimerId {
    h.last_timer(|k| matches!(k, TimerKind::Evictor(_)))
}

#[test]
fn rearmed_evictor_sweeps_and_stops_when_nothing_is_idle() {
    let mut h = H::new(PoolConfig::sequelize());
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    let r = h.release(ms(0), a, false);
    assert!(h.pool.has_armed_timers());
    let t = timers(&r);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].at, secs(1), "one-shot, evict 1 s after the release");
    assert!(
        timers(&h.release(ms(500), b, false)).is_empty(),
        "already armed"
    );
    // Sweeps at 1 s .. 9 s find nothing idle ≥ 10 s and re-arm.
    for s in 1..10 {
        let t = evictor(&h);
        assert_eq!(t.at, secs(s));
        let out = h.fire(secs(s), t);
        assert!(closes(&out).is_empty());
        assert!(notes(&out).is_empty(), "an on-time sweep that did nothing");
        assert_eq!(timers(&out).len(), 1);
    }
    let out = h.fire(secs(10), evictor(&h));
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert_eq!(
        notes(&out),
        vec!["evictor sweep: destroyed 1 idle connection idle ≥ 10s"]
    );
    let out = h.fire(secs(11), evictor(&h));
    assert_eq!(closes(&out), vec![(b, CloseReason::Idle)]);
    assert!(timers(&out).is_empty(), "nothing idle: not re-armed");
    assert!(!h.pool.has_armed_timers());
}

#[test]
fn fixed_interval_evictor_runs_even_when_empty() {
    let mut h = H::new(PoolConfig::bb8());
    let s = h.start(secs(0));
    assert_eq!(timers(&s)[0].at, secs(30));
    let a = h.checkout_new(secs(0), 1);
    assert!(timers(&h.release(secs(0), a, false)).is_empty());
    let mut closed_at = None;
    for k in 1..=20 {
        let out = h.fire(secs(30 * k), evictor(&h));
        assert_eq!(timers(&out)[0].at, secs(30 * (k + 1)));
        if !closes(&out).is_empty() {
            closed_at = Some(30 * k);
            break;
        }
    }
    assert_eq!(closed_at, Some(600), "idle_timeout 10 min");
    let out = h.fire(secs(630), evictor(&h));
    assert_eq!(timers(&out).len(), 1, "re-armed with nothing idle");
}

#[test]
fn pg_pool_per_connection_idle_timer() {
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    let t1 = h.last_timer(|k| *k == TimerKind::IdleTimeout(a));
    assert_eq!(t1.at, secs(10));
    assert_eq!(grants(&h.acquire(secs(5), 2)), vec![(w(2), a)]);
    h.release(secs(6), a, false);
    let t2 = h.last_timer(|k| *k == TimerKind::IdleTimeout(a));
    assert_eq!(t2.at, secs(16));
    assert!(h.fire(secs(10), t1).is_empty(), "cleared by the checkout");
    let out = h.fire(secs(16), t2);
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert_eq!(
        notes(&out),
        vec!["idle timer: removed conn-1 after 10s idle"]
    );
}

#[test]
fn pg_pool_idle_timer_not_armed_at_min() {
    let mut h = H::new(PoolConfig {
        min: 1,
        ..PoolConfig::pg_pool()
    });
    let a = h.checkout_new(secs(0), 1);
    assert!(timers(&h.release(secs(0), a, false)).is_empty());
}

#[test]
fn late_sweep_after_a_freeze_destroys_the_stale_connection() {
    let mut h = H::new(PoolConfig::sequelize());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(100), a, false);
    let t = evictor(&h);
    assert_eq!(t.at, ms(1100));
    // Frozen from 200 ms to 600 s; on thaw the overdue timer runs first.
    let out = h.fire(secs(600), t);
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert!(
        notes(&out)[0].ends_with("(ran 598.9s late)"),
        "{:?}",
        notes(&out)
    );
    let g = h.acquire(secs(600), 2);
    assert_eq!(opens(&g).len(), 1, "fresh connection");
}

#[test]
fn handler_before_the_overdue_sweep_gets_the_stale_connection() {
    let mut h = H::new(PoolConfig::sequelize());
    let a = h.checkout_new(ms(0), 1);
    h.release(ms(100), a, false);
    let t = evictor(&h);
    // The server closed it during the freeze but the FIN is not processed
    // yet (or the path died silently): the flag check passes.
    assert_eq!(grants(&h.acquire(secs(600), 2)), vec![(w(2), a)]);
    let out = h.fire(secs(600), t);
    assert!(closes(&out).is_empty());
    assert!(timers(&out).is_empty(), "nothing idle: not re-armed");
}

#[test]
fn pg_pool_idle_timer_fires_on_thaw() {
    // node-postgres #2718: idle timers frozen with the function; overdue on thaw.
    let mut h = H::new(PoolConfig::pg_pool());
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(1), a, false);
    let t = h.last_timer(|k| *k == TimerKind::IdleTimeout(a));
    let out = h.fire(secs(3600), t);
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert!(notes(&out)[0].contains("ran 3589s late"));
}

#[test]
fn acquire_timer_armed_before_freeze_fails_the_waiter_on_thaw() {
    // sequelize #12819 / the guide's race: the acquire timer and the pending connect both
    // straddle the freeze; on thaw the timers phase runs first.
    let mut h = H::new(PoolConfig::sequelize_lambda_guide(d(60)));
    let a = h.acquire(ms(0), 1);
    let c = opens(&a)[0];
    let t = timers(&a)[0];
    assert_eq!(t.kind, TimerKind::AcquireTimeout(w(1)));
    assert_eq!(t.at, ms(3000));
    let out = h.fire(secs(600), t);
    assert_eq!(
        fails(&out),
        vec![(w(1), PoolError::AcquireTimeout { waited: d(600) })]
    );
    assert_eq!(
        notes(&out),
        vec!["acquire-1 timed out after 600s (timeout 3s, timer ran 597s late)"]
    );
    assert_eq!(
        PoolError::AcquireTimeout { waited: d(3) }.to_string(),
        "acquire timed out after 3s"
    );
    // The connection completes right after, in the same instant: too late.
    let o = h.opened(secs(600), c);
    assert!(grants(&o).is_empty());
    assert_eq!(h.pool.conn_state(c), Some(crate::ConnState::Idle));
    assert_eq!(grants(&h.acquire(secs(600), 2)), vec![(w(2), c)]);
}

fn held_and_waiting() -> (H, ConnId, TimerId) {
    let mut h = H::new(PoolConfig {
        max: 1,
        ..PoolConfig::sequelize_lambda_guide(d(60))
    });
    let c = h.checkout_new(ms(0), 1);
    let a = h.acquire(ms(10), 2);
    assert!(opens(&a).is_empty());
    (h, c, timers(&a)[0])
}

#[test]
fn thaw_order_release_then_timer_grants() {
    let (mut h, c, t) = held_and_waiting();
    assert_eq!(grants(&h.release(secs(300), c, false)), vec![(w(2), c)]);
    assert!(
        h.fire(secs(300), t).is_empty(),
        "stale: the waiter was granted"
    );
}

#[test]
fn thaw_order_timer_then_release_fails_even_though_a_connection_is_free() {
    let (mut h, c, t) = held_and_waiting();
    assert_eq!(fails(&h.fire(secs(300), t)).len(), 1);
    let r = h.release(secs(300), c, false);
    assert!(grants(&r).is_empty());
    assert_eq!(h.pool.conn_state(c), Some(crate::ConnState::Idle));
    assert!(!h.pool.is_waiting(w(2)));
}

#[test]
fn late_fixed_interval_sweep_runs_once_and_notes_the_leap() {
    let mut h = H::new(PoolConfig {
        min: 0,
        fill_to_min: false,
        ..PoolConfig::hikaricp()
    });
    let s = h.start(secs(0));
    let t = timers(&s)[0];
    let out = h.fire(secs(900), t);
    assert!(notes(&out)
        .iter()
        .any(|n| n.contains("the evictor runs 900s after its previous sweep")));
    let next = timers(&out);
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].at,
        secs(930),
        "fixed delay from the late sweep: no burst"
    );
}

#[test]
fn late_sweep_respects_min() {
    let mut h = H::new(PoolConfig {
        min: 1,
        ..PoolConfig::sequelize()
    });
    let a = h.checkout_new(ms(0), 1);
    let b = h.checkout_new(ms(0), 2);
    h.release(ms(0), a, false);
    h.release(ms(1), b, false);
    let out = h.fire(secs(900), evictor(&h));
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert!(notes(&out)[0].contains("kept 1 for min"));
    assert_eq!(timers(&out).len(), 1, "b idle: re-armed forever");
}

#[test]
fn mysql2_reaper_keeps_max_idle() {
    let mut h = H::new(PoolConfig::mysql2_with(10, 1));
    let cs: Vec<ConnId> = (1..=3).map(|x| h.checkout_new(secs(0), x)).collect();
    for c in &cs {
        h.release(secs(0), *c, false);
    }
    let out = h.fire(secs(1), evictor(&h));
    assert!(closes(&out).is_empty());
    let out = h.fire(secs(61), evictor(&h));
    assert_eq!(
        closes(&out),
        vec![(cs[0], CloseReason::Idle), (cs[1], CloseReason::Idle)]
    );
    let mut m = H::new(PoolConfig::mysql2());
    let c = m.checkout_new(secs(0), 1);
    assert!(
        timers(&m.release(secs(0), c, false)).is_empty(),
        "no reaper by default"
    );
}

#[test]
fn lifetime_sweep_is_not_bounded_by_min() {
    let mut h = H::new(PoolConfig::sqlx());
    h.start(secs(0));
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    let out = h.fire(secs(3600), evictor(&h));
    assert_eq!(closes(&out), vec![(a, CloseReason::Lifetime)]);
    assert!(notes(&out)
        .iter()
        .any(|n| n.contains("1 past max lifetime")));
}

/// Npgsql's pruning: 30 samples of the idle count, 10 s apart, then the
/// median's count is closed; a freeze contributes one late sample.
#[test]
fn npgsql_prunes_by_the_median_of_its_samples_and_a_freeze_stalls_it() {
    let mut h = H::new(PoolConfig::npgsql());
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    let r = h.release(secs(0), a, false);
    assert_eq!(timers(&r)[0].at, secs(10), "armed above min (0)");
    // b stays in use: every sample sees one idle connection.
    for k in 1..30 {
        let out = h.fire(secs(10 * k), evictor(&h));
        assert!(closes(&out).is_empty(), "sample {k}");
        assert_eq!(timers(&out)[0].at, secs(10 * (k + 1)));
    }
    let out = h.fire(secs(300), evictor(&h));
    assert_eq!(closes(&out), vec![(a, CloseReason::Idle)]);
    assert!(notes(&out)[0].contains("median of the sampled idle counts is 1"));
    // Running, then frozen for 1000 s: 5 samples, one late one, and the
    // pruning needs 24 more samples of running time.
    let mut h = H::new(PoolConfig::npgsql());
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    for k in 1..=5 {
        h.fire(secs(10 * k), evictor(&h));
    }
    let late = evictor(&h);
    let out = h.fire(secs(1050), late);
    assert!(closes(&out).is_empty());
    assert!(notes(&out)[0].contains("pruning sample 6 of 30 taken 990s late"));
    let _ = b;
}

#[test]
fn a_driver_that_never_reads_an_idle_socket_hands_out_a_dead_connection() {
    let mut h = H::new(PoolConfig::npgsql());
    let a = h.checkout_new(secs(0), 1);
    h.release(secs(0), a, false);
    let out = h.lost(secs(5), a);
    assert!(out.is_empty(), "OnLost::Ignore: {out:?}");
    let g = h.acquire(secs(6), 2);
    assert_eq!(grants(&g), vec![(w(2), a)], "handed out as is");
}

#[test]
fn npgsql_clears_its_pool_when_a_connection_breaks() {
    let mut h = H::new(PoolConfig::npgsql());
    let a = h.checkout_new(secs(0), 1);
    let b = h.checkout_new(secs(0), 2);
    let c = h.checkout_new(secs(0), 3);
    h.release(secs(0), a, false);
    h.release(secs(0), b, false);
    let out = h.release(secs(400), c, true);
    assert_eq!(
        closes(&out),
        vec![
            (a, CloseReason::Cleared),
            (b, CloseReason::Cleared),
            (c, CloseReason::Broken),
        ]
    );
    // Without clear_on_broken only the broken one goes.
    let mut h = H::new(PoolConfig::deadpool_postgres());
    let a = h.checkout_new(secs(0), 1);
    let c = h.checkout_new(secs(0), 2);
    h.release(secs(0), a, false);
    let out = h.release(secs(400), c, true);
    assert_eq!(closes(&out), vec![(c, CloseReason::Broken)]);
}
