//! The pool state machine: inputs in, [`PoolAction`]s out.
//!
//! The pool owns no sockets and no clock. The world opens, probes and closes
//! connections and delivers timers; when the environment is frozen, the
//! world holds the timers and delivers overdue ones on thaw, so the pool
//! simply sees `timer(now, id)` with `now` long after the timer's `at`. It
//! then does what the library does: a late acquire timer fails its waiter
//! even if a connection became available in the same instant (sequelize #12819),
//! a late sweep closes whatever is idle past the timeout at `now`.
use crate::action::{
    CloseReason, ConnId, Epoch, InvalidBy, OpenError, PoolAction, PoolError, PoolNote, TimerId,
    TimerKind, WaiterId,
};
use crate::config::{
    Evictor, IdleOrder, MinScope, OnLost, OnOpenFailure, PoolConfig, Probe, Validation,
};
use std::collections::{BTreeMap, VecDeque};
use thaw_core::{SimDuration, SimTime};

/// Where a connection is, as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Asked for with [`PoolAction::Open`], not yet [`Pool::opened`].
    Opening,
    /// In the idle list.
    Idle,
    /// Being probed for an acquire (or for nobody, if that acquire timed
    /// out meanwhile).
    Validating,
    /// Granted and not yet released.
    InUse,
}

/// Counts for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Idle connections in the current pool.
    pub idle: u32,
    /// Granted connections in the current pool.
    pub in_use: u32,
    /// Connections being opened by the current pool.
    pub opening: u32,
    /// Connections being probed by the current pool.
    pub validating: u32,
    /// Acquires waiting in the current pool.
    pub waiting: u32,
    /// Old pool objects left behind by [`Pool::reset`] that still hold
    /// connections or waiters.
    pub retired_pools: u32,
    /// Connections (any state) held by those old pools.
    pub retired_conns: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Opening,
    Idle,
    Validating { waiter: Option<WaiterId> },
    InUse { waiter: WaiterId },
}

#[derive(Clone, Debug)]
struct Conn {
    slot: Slot,
    /// Asked for (while opening), then established.
    created: SimTime,
    last_released: SimTime,
    uses: u32,
    /// The driver processed a close/error event (`lost`).
    flagged: bool,
    /// The lifetime timer fired while in use: close on release.
    retire: bool,
    /// Current per-connection idle timer generation (0: none).
    idle_gen: u64,
    /// Current lifetime timer generation (0: none).
    life_gen: u64,
    /// Current keepalive-query timer generation (0: none).
    ka_gen: u64,
    /// Its keepalive query is in flight ([`Probe::KeepaliveQuery`]); the
    /// connection stays in the idle list meanwhile, as Npgsql's connector
    /// stays in its idle channel.
    ka_inflight: bool,
    /// Go's `ErrBadConn` attempts the acquire that got it had used before
    /// this grant (cached connections discarded, failed sends).
    bad_before: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitState {
    Queued,
    Validating(ConnId),
}

#[derive(Clone, Debug)]
struct Waiter {
    id: WaiterId,
    since: SimTime,
    /// Acquire timer generation (0: none).
    timer_gen: u64,
    state: WaitState,
    /// Cached connections discarded for this acquire.
    discarded: u32,
    /// Go's last `ErrBadConn` attempt: skip idle connections.
    new_only: bool,
}

/// One pool object. `reset()` replaces the current one; the old one keeps
/// running (its timers, its connections) until it is empty.
#[derive(Clone, Debug)]
struct Core {
    epoch: Epoch,
    closed: bool,
    conns: BTreeMap<ConnId, Conn>,
    /// Idle connections in release order: front = released longest ago.
    idle: VecDeque<ConnId>,
    /// Pending acquires, first come first served.
    waiters: VecDeque<Waiter>,
    opening: u32,
    evictor_gen: u64,
    evictor_last: SimTime,
    retry_gen: u64,
    /// [`Evictor::Median`]: the idle counts sampled so far.
    samples: Vec<u32>,
}

struct Ctx<'a> {
    cfg: &'a PoolConfig,
    next_gen: &'a mut u64,
    next_conn: &'a mut u64,
    out: &'a mut Vec<PoolAction>,
    closed: u32,
}

impl Ctx<'_> {
    fn arm(&mut self, kind: TimerKind, at: SimTime) -> u64 {
        *self.next_gen += 1;
        let gen = *self.next_gen;
        self.out.push(PoolAction::ArmTimer {
            id: TimerId { kind, gen, at },
            at,
        });
        gen
    }
    fn note(&mut self, note: PoolNote) {
        self.out.push(PoolAction::Note(note));
    }
}

enum Took {
    Granted,
    Probing,
    /// The waiter may not take idle connections any more.
    Skipped,
    NoIdle,
}

impl Core {
    fn new(epoch: Epoch) -> Core {
        Core {
            epoch,
            closed: false,
            conns: BTreeMap::new(),
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            opening: 0,
            evictor_gen: 0,
            evictor_last: SimTime::ZERO,
            retry_gen: 0,
            samples: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.conns.is_empty() && self.waiters.is_empty()
    }

    fn total(&self) -> u64 {
        self.conns.len() as u64
    }

    fn has_capacity(&self, cfg: &PoolConfig) -> bool {
        self.total() < u64::from(cfg.max)
    }

    fn waiter_index(&self, w: WaiterId) -> Option<usize> {
        self.waiters.iter().position(|x| x.id == w)
    }

    fn conn(&mut self, c: ConnId) -> &mut Conn {
        self.conns.get_mut(&c).expect("connection is in this pool")
    }

    fn start(&mut self, now: SimTime, cx: &mut Ctx) {
        match cx.cfg.evictor {
            Evictor::FixedInterval(p) => {
                self.evictor_last = now;
                self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + p);
            }
            Evictor::None
            | Evictor::ReArmed(_)
            | Evictor::PerConnection
            | Evictor::Median { .. } => {}
        }
        self.fill(now, cx);
    }

    fn lifetime_expired(&self, cfg: &PoolConfig, c: &Conn, now: SimTime) -> bool {
        match cfg.max_lifetime {
            Some(l) => now.saturating_since(c.created) >= l,
            None => false,
        }
    }

    // ---- inputs -------------------------------------------------------

    fn acquire(&mut self, now: SimTime, w: WaiterId, prior_bad: u32, cx: &mut Ctx) {
        if self.closed {
            cx.out.push(PoolAction::Fail {
                waiter: w,
                error: PoolError::Closed,
            });
            return;
        }
        self.waiters.push_back(Waiter {
            id: w,
            since: now,
            timer_gen: 0,
            state: WaitState::Queued,
            discarded: prior_bad,
            // Go's last attempt is on a new connection (`alwaysNewConn`).
            new_only: cx
                .cfg
                .retry_on_bad_conn
                .is_some_and(|r| prior_bad > 0 && prior_bad >= r.attempts.saturating_sub(1).max(1)),
        });
        self.dispense(now, cx);
        if let (Some(d), Some(i)) = (cx.cfg.acquire_timeout, self.waiter_index(w)) {
            let gen = cx.arm(TimerKind::AcquireTimeout(w), now.saturating_add(d));
            self.waiters[i].timer_gen = gen;
        }
    }

    fn release(&mut self, now: SimTime, c: ConnId, broken: bool, cx: &mut Ctx) {
        let cfg = cx.cfg;
        let conn = self
            .conns
            .get(&c)
            .expect("released connection is in this pool");
        assert!(
            matches!(conn.slot, Slot::InUse { .. }),
            "released {c} is not in use ({:?})",
            conn.slot
        );
        let anyone_waiting = self.waiters.iter().any(|w| w.state == WaitState::Queued);
        if broken && cfg.clear_on_broken && !self.idle.is_empty() {
            // Npgsql: a transient network error clears the whole pool.
            let n = self.idle.len() as u32;
            while let Some(i) = self.idle.front().copied() {
                self.close_conn(i, CloseReason::Cleared, cx);
            }
            cx.note(PoolNote::Cleared { closed: n });
        }
        let conn = &self.conns[&c];
        let reason = if self.closed {
            Some(CloseReason::PoolClosed)
        } else if broken {
            Some(CloseReason::Broken)
        } else if conn.flagged && cfg.on_lost == OnLost::Remove {
            Some(CloseReason::Lost)
        } else if conn.retire || self.lifetime_expired(cfg, conn, now) {
            Some(CloseReason::Lifetime)
        } else if cfg.max_uses.is_some_and(|m| conn.uses >= m) {
            Some(CloseReason::MaxUses)
        } else if !anyone_waiting
            && cfg
                .max_idle
                .is_some_and(|m| self.idle.len() as u64 >= u64::from(m))
        {
            Some(CloseReason::OverMaxIdle)
        } else {
            None
        };
        match reason {
            Some(r) => self.close_conn(c, r, cx),
            None => self.make_idle(now, c, cx),
        }
        self.settle(now, cx);
    }

    fn opened(&mut self, now: SimTime, c: ConnId, cx: &mut Ctx) {
        let conn = self.conn(c);
        assert_eq!(conn.slot, Slot::Opening, "{c} opened twice");
        conn.created = now;
        let flagged = conn.flagged;
        self.opening -= 1;
        if self.closed {
            cx.note(PoolNote::OpenedAfterClose { conn: c });
            self.close_conn(c, CloseReason::PoolClosed, cx);
            return;
        }
        if flagged {
            self.close_conn(c, CloseReason::Lost, cx);
            self.settle(now, cx);
            return;
        }
        if let (Some(l), true) = (cx.cfg.max_lifetime, cx.cfg.lifetime_timer) {
            let gen = cx.arm(TimerKind::Lifetime(c), now.saturating_add(l));
            self.conn(c).life_gen = gen;
        }
        match self
            .waiters
            .iter()
            .position(|w| w.state == WaitState::Queued)
        {
            Some(i) => self.grant(i, c, now, false, cx),
            None => self.make_idle(now, c, cx),
        }
        self.settle(now, cx);
    }

    fn open_failed(&mut self, now: SimTime, c: ConnId, error: OpenError, cx: &mut Ctx) {
        let conn = self.conns.remove(&c).expect("failed open is in this pool");
        assert_eq!(conn.slot, Slot::Opening, "{c} failed after opening");
        self.opening -= 1;
        let retry = match cx.cfg.on_open_failure {
            OnOpenFailure::Retry { delay } => Some(delay),
            OnOpenFailure::FailWaiter => None,
        };
        cx.note(PoolNote::OpenFailed {
            conn: c,
            error,
            retry: retry.is_some() && !self.closed,
        });
        if self.closed {
            return;
        }
        match retry {
            Some(delay) => {
                if self.retry_gen == 0 {
                    self.retry_gen = cx.arm(TimerKind::OpenRetry(self.epoch), now + delay);
                }
            }
            None => {
                if let Some(i) = self
                    .waiters
                    .iter()
                    .position(|w| w.state == WaitState::Queued)
                {
                    let w = self.waiters.remove(i).expect("index is valid");
                    cx.out.push(PoolAction::Fail {
                        waiter: w.id,
                        error: PoolError::Open(error),
                    });
                }
                self.settle(now, cx);
            }
        }
    }

    fn lost(&mut self, now: SimTime, c: ConnId, cx: &mut Ctx) {
        let on_lost = cx.cfg.on_lost;
        if on_lost == OnLost::Ignore {
            // Nobody reads the socket: the pool learns nothing.
            return;
        }
        let conn = self.conn(c);
        conn.flagged = true;
        let slot = conn.slot;
        match slot {
            Slot::Idle => {
                cx.note(PoolNote::LostMarked {
                    conn: c,
                    in_use: false,
                });
                match on_lost {
                    OnLost::Remove => {
                        self.close_conn(c, CloseReason::Lost, cx);
                        self.settle(now, cx);
                    }
                    OnLost::Mark | OnLost::Ignore => {}
                }
            }
            Slot::InUse { .. } | Slot::Validating { .. } => cx.note(PoolNote::LostMarked {
                conn: c,
                in_use: true,
            }),
            // Reported before the open completed: `opened` closes it.
            Slot::Opening => {}
        }
    }

    fn validated(&mut self, now: SimTime, c: ConnId, alive: bool, cx: &mut Ctx) {
        let conn = self.conn(c);
        if std::mem::take(&mut conn.ka_inflight) {
            return self.keepalive_done(now, c, alive, cx);
        }
        let probe = probe_of(cx.cfg.validation);
        let conn = self.conn(c);
        let Slot::Validating { waiter } = conn.slot else {
            panic!("{c} was not being validated ({:?})", conn.slot);
        };
        let dead = if conn.flagged {
            Some(InvalidBy::Flag)
        } else if !alive {
            Some(InvalidBy::Probe(probe))
        } else {
            None
        };
        let wi = waiter.and_then(|w| self.waiter_index(w));
        if let Some(by) = dead {
            self.close_conn(c, CloseReason::Invalid(by), cx);
            if let Some(i) = wi {
                self.waiters[i].state = WaitState::Queued;
                self.count_discard(i, cx);
            }
        } else if self.closed {
            self.close_conn(c, CloseReason::PoolClosed, cx);
        } else if let Some(i) = wi {
            self.grant(i, c, now, true, cx);
        } else if self.conns[&c].retire {
            self.close_conn(c, CloseReason::Lifetime, cx);
        } else {
            self.make_idle(now, c, cx);
        }
        self.settle(now, cx);
    }

    /// The keepalive query of `c` ended. Alive: it stays idle (or goes to
    /// the acquire that waited for it) and its timer is re-armed. Dead: the
    /// connection is closed (Npgsql's `Break()`), a waiting acquire fails,
    /// and with `clear_on_broken` every idle connection is closed too (the
    /// keepalive's exception is transient: `DataSource.Clear()`).
    fn keepalive_done(&mut self, now: SimTime, c: ConnId, alive: bool, cx: &mut Ctx) {
        // A connection the driver knows is lost is not handed out.
        let alive = alive && !self.conns[&c].flagged;
        let slot = self.conns[&c].slot;
        let waiter = match slot {
            Slot::Idle => None,
            Slot::Validating { waiter } => waiter,
            Slot::Opening | Slot::InUse { .. } => {
                panic!("{c}'s keepalive query ended while {slot:?}")
            }
        };
        let wi = waiter.and_then(|w| self.waiter_index(w));
        if alive {
            match (slot, wi) {
                (Slot::Idle, _) => self.arm_keepalive(now, c, cx),
                (_, Some(i)) => self.grant(i, c, now, false, cx),
                (_, None) if self.closed => self.close_conn(c, CloseReason::PoolClosed, cx),
                (_, None) => self.make_idle(now, c, cx),
            }
        } else {
            if let Some(i) = wi {
                let w = self.waiters.remove(i).expect("index is valid");
                cx.out.push(PoolAction::Fail {
                    waiter: w.id,
                    error: PoolError::KeepaliveFailed { conn: c },
                });
            }
            self.close_conn(
                c,
                CloseReason::Invalid(InvalidBy::Probe(Probe::KeepaliveQuery)),
                cx,
            );
            if cx.cfg.clear_on_broken && !self.idle.is_empty() {
                let n = self.idle.len() as u32;
                while let Some(i) = self.idle.front().copied() {
                    self.close_conn(i, CloseReason::Cleared, cx);
                }
                cx.note(PoolNote::Cleared { closed: n });
            }
        }
        self.settle(now, cx);
    }

    fn arm_keepalive(&mut self, now: SimTime, c: ConnId, cx: &mut Ctx) {
        if let Some(d) = cx.cfg.keepalive_query {
            let gen = cx.arm(TimerKind::KeepaliveQuery(c), now.saturating_add(d));
            self.conn(c).ka_gen = gen;
        }
    }

    fn close(&mut self, cx: &mut Ctx) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.evictor_gen = 0;
        self.retry_gen = 0;
        let mut waiters_failed = 0;
        while let Some(w) = self.waiters.pop_front() {
            if let WaitState::Validating(c) = w.state {
                self.conn(c).slot = Slot::Validating { waiter: None };
            }
            cx.out.push(PoolAction::Fail {
                waiter: w.id,
                error: PoolError::Closed,
            });
            waiters_failed += 1;
        }
        let mut idle_closed = 0;
        while let Some(&c) = self.idle.front() {
            self.close_conn(c, CloseReason::PoolClosed, cx);
            idle_closed += 1;
        }
        let in_use = self
            .conns
            .values()
            .filter(|c| matches!(c.slot, Slot::InUse { .. }))
            .count() as u32;
        cx.note(PoolNote::Closed {
            idle_closed,
            in_use,
            waiters_failed,
        });
    }

    fn timer(&mut self, now: SimTime, id: TimerId, cx: &mut Ctx) {
        let at = id.at;
        match id.kind {
            TimerKind::AcquireTimeout(w) => {
                let Some(i) = self.waiter_index(w) else {
                    return;
                };
                if self.waiters[i].timer_gen != id.gen {
                    return;
                }
                let waiter = self.waiters.remove(i).expect("index is valid");
                if let WaitState::Validating(c) = waiter.state {
                    self.conn(c).slot = Slot::Validating { waiter: None };
                }
                let waited = now.saturating_since(waiter.since);
                cx.note(PoolNote::AcquireTimedOut {
                    waiter: w,
                    waited,
                    timeout: cx.cfg.acquire_timeout.unwrap_or(SimDuration::ZERO),
                    late_by: now.saturating_since(at),
                });
                cx.out.push(PoolAction::Fail {
                    waiter: w,
                    error: PoolError::AcquireTimeout { waited },
                });
            }
            TimerKind::IdleTimeout(c) => {
                let Some(conn) = self.conns.get(&c) else {
                    return;
                };
                if conn.slot != Slot::Idle || conn.idle_gen != id.gen {
                    return;
                }
                let idle_for = now.saturating_since(conn.last_released);
                cx.note(PoolNote::IdleTimerFired {
                    conn: c,
                    idle_for,
                    late_by: now.saturating_since(at),
                });
                self.close_conn(c, CloseReason::Idle, cx);
                self.settle(now, cx);
            }
            TimerKind::Evictor(_) => {
                if self.evictor_gen != id.gen {
                    return;
                }
                self.evictor_gen = 0;
                self.sweep(now, at, cx);
            }
            TimerKind::Lifetime(c) => {
                let Some(conn) = self.conns.get_mut(&c) else {
                    return;
                };
                if conn.life_gen != id.gen {
                    return;
                }
                conn.life_gen = 0;
                match conn.slot {
                    Slot::Idle => {
                        self.close_conn(c, CloseReason::Lifetime, cx);
                        self.settle(now, cx);
                    }
                    Slot::InUse { .. } | Slot::Validating { .. } => conn.retire = true,
                    Slot::Opening => unreachable!("lifetime timers are armed once open"),
                }
            }
            TimerKind::OpenRetry(_) => {
                if self.retry_gen != id.gen {
                    return;
                }
                self.retry_gen = 0;
                self.settle(now, cx);
            }
            TimerKind::KeepaliveQuery(c) => {
                let Some(conn) = self.conns.get_mut(&c) else {
                    return;
                };
                if conn.slot != Slot::Idle || conn.ka_gen != id.gen || conn.ka_inflight {
                    return;
                }
                conn.ka_gen = 0;
                if conn.flagged {
                    // Known lost: checkout discards it; nothing to query.
                    return;
                }
                conn.ka_inflight = true;
                let idle_for = now.saturating_since(conn.last_released);
                cx.note(PoolNote::KeepaliveQuery {
                    conn: c,
                    idle_for,
                    late_by: now.saturating_since(at),
                });
                cx.out.push(PoolAction::Validate {
                    conn: c,
                    method: Probe::KeepaliveQuery,
                });
            }
        }
    }

    // ---- mechanics ----------------------------------------------------

    fn sweep(&mut self, now: SimTime, at: SimTime, cx: &mut Ctx) {
        let cfg = cx.cfg;
        if let Evictor::Median { interval, samples } = cfg.evictor {
            return self.median_tick(now, at, interval, samples, cx);
        }
        if let Evictor::FixedInterval(p) = cfg.evictor {
            let delta = now.saturating_since(self.evictor_last);
            if delta > p.mul_ratio(3, 2) {
                cx.note(PoolNote::ClockLeap { delta });
            }
            self.evictor_last = now;
        }
        // Lifetime first: not bounded by `min` (the pool refills instead).
        let mut expired = 0;
        let old: Vec<ConnId> = self
            .idle
            .iter()
            .copied()
            .filter(|c| self.lifetime_expired(cfg, &self.conns[c], now))
            .collect();
        for c in old {
            self.close_conn(c, CloseReason::Lifetime, cx);
            expired += 1;
        }
        let (mut destroyed, mut kept_for_min) = (0, 0);
        if let Some(limit) = cfg.idle_timeout {
            let base = match cfg.min_scope {
                MinScope::Total => self.total(),
                MinScope::Idle => self.idle.len() as u64,
            };
            let mut removable = base.saturating_sub(u64::from(cfg.min));
            let stale: Vec<ConnId> = self
                .idle
                .iter()
                .copied()
                .filter(|c| now.saturating_since(self.conns[c].last_released) >= limit)
                .collect();
            for c in stale {
                if removable > 0 {
                    self.close_conn(c, CloseReason::Idle, cx);
                    removable -= 1;
                    destroyed += 1;
                } else {
                    kept_for_min += 1;
                }
            }
        }
        let late_by = now.saturating_since(at);
        // A sweep that changed nothing on time explains nothing.
        if destroyed + expired + kept_for_min > 0 || !late_by.is_zero() {
            cx.note(PoolNote::Sweep {
                destroyed,
                expired,
                kept_for_min,
                idle_timeout: cfg.idle_timeout,
                late_by,
            });
        }
        if !self.closed {
            match cfg.evictor {
                Evictor::FixedInterval(p) => {
                    self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + p);
                }
                Evictor::ReArmed(p) => {
                    if !self.idle.is_empty() {
                        self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + p);
                    }
                }
                Evictor::None | Evictor::PerConnection | Evictor::Median { .. } => {}
            }
        }
        self.dispense(now, cx);
        self.fill(now, cx);
    }

    /// [`Evictor::Median`]: one sample; the decision after the last one.
    fn median_tick(
        &mut self,
        now: SimTime,
        at: SimTime,
        interval: SimDuration,
        samples: u32,
        cx: &mut Ctx,
    ) {
        let cfg = cx.cfg;
        if self.total() <= u64::from(cfg.min) || self.closed {
            // Npgsql stops its timer and forgets its samples at `min`.
            self.samples.clear();
            return;
        }
        self.samples.push(self.idle.len() as u32);
        let late_by = now.saturating_since(at);
        let mut destroyed = 0;
        if self.samples.len() as u32 >= samples {
            let mut s = std::mem::take(&mut self.samples);
            s.sort_unstable();
            // Npgsql's median index: ceil(n / 2) − 1.
            let to_prune = s[(s.len().div_ceil(2)).saturating_sub(1)];
            while destroyed < to_prune && self.total() > u64::from(cfg.min) {
                let Some(c) = self.idle.front().copied() else {
                    break;
                };
                self.close_conn(c, CloseReason::Idle, cx);
                destroyed += 1;
            }
            cx.note(PoolNote::Pruned {
                median_idle: to_prune,
                destroyed,
                late_by,
            });
        } else if !late_by.is_zero() {
            cx.note(PoolNote::Sampled {
                sample: self.samples.len() as u32,
                of: samples,
                late_by,
            });
        }
        if self.total() > u64::from(cfg.min) {
            self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + interval);
        } else {
            self.samples.clear();
        }
        self.dispense(now, cx);
        self.fill(now, cx);
    }

    fn make_idle(&mut self, now: SimTime, c: ConnId, cx: &mut Ctx) {
        let cfg = cx.cfg;
        let above_min = match cfg.min_scope {
            MinScope::Total => self.total(),
            MinScope::Idle => self.idle.len() as u64 + 1,
        } > u64::from(cfg.min);
        let conn = self.conn(c);
        conn.slot = Slot::Idle;
        conn.last_released = now;
        conn.idle_gen = 0;
        self.idle.push_back(c);
        self.arm_keepalive(now, c, cx);
        match (cfg.evictor, cfg.idle_timeout) {
            (Evictor::PerConnection, Some(d)) if above_min => {
                let gen = cx.arm(TimerKind::IdleTimeout(c), now.saturating_add(d));
                self.conn(c).idle_gen = gen;
            }
            (Evictor::ReArmed(p), _) if self.evictor_gen == 0 && !self.closed => {
                self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + p);
            }
            (Evictor::Median { interval, .. }, _)
                if self.evictor_gen == 0 && !self.closed && self.total() > u64::from(cfg.min) =>
            {
                self.evictor_gen = cx.arm(TimerKind::Evictor(self.epoch), now + interval);
            }
            (
                Evictor::None
                | Evictor::FixedInterval(_)
                | Evictor::ReArmed(_)
                | Evictor::PerConnection
                | Evictor::Median { .. },
                _,
            ) => {}
        }
    }

    fn close_conn(&mut self, c: ConnId, reason: CloseReason, cx: &mut Ctx) {
        let conn = self
            .conns
            .remove(&c)
            .expect("closed connection is in this pool");
        if conn.slot == Slot::Idle {
            let pos = self
                .idle
                .iter()
                .position(|&x| x == c)
                .expect("idle list holds it");
            self.idle.remove(pos);
        }
        cx.out.push(PoolAction::Close { conn: c, reason });
        cx.closed += 1;
    }

    fn grant(&mut self, i: usize, c: ConnId, now: SimTime, probed: bool, cx: &mut Ctx) {
        let w = self.waiters.remove(i).expect("index is valid");
        if self.conns[&c].slot == Slot::Idle {
            let pos = self
                .idle
                .iter()
                .position(|&x| x == c)
                .expect("idle list holds it");
            self.idle.remove(pos);
        }
        let conn = self.conn(c);
        assert!(!conn.flagged, "granting {c}, which the pool knows is lost");
        let from_idle = conn.slot != Slot::Opening;
        assert!(
            !matches!(conn.slot, Slot::InUse { .. }),
            "granting {c}, which is in use"
        );
        conn.slot = Slot::InUse { waiter: w.id };
        conn.bad_before = w.discarded;
        conn.uses += 1;
        conn.idle_gen = 0;
        conn.ka_gen = 0;
        let idle_for = now.saturating_since(conn.last_released);
        if from_idle {
            cx.note(PoolNote::Reused {
                waiter: w.id,
                conn: c,
                idle_for,
                probed,
            });
        }
        cx.out.push(PoolAction::Grant {
            waiter: w.id,
            conn: c,
        });
    }

    /// One cached connection was thrown away for waiter `i` (Go's
    /// `ErrBadConn` accounting).
    fn count_discard(&mut self, i: usize, cx: &mut Ctx) {
        let Some(r) = cx.cfg.retry_on_bad_conn else {
            return;
        };
        let w = &mut self.waiters[i];
        w.discarded += 1;
        if !w.new_only && w.discarded >= r.attempts.saturating_sub(1).max(1) {
            w.new_only = true;
            cx.note(PoolNote::BadConnRetriesExhausted {
                waiter: w.id,
                discarded: w.discarded,
            });
        }
    }

    fn take_idle(&mut self, i: usize, now: SimTime, cx: &mut Ctx) -> Took {
        let cfg = cx.cfg;
        loop {
            let next = match cfg.order {
                IdleOrder::Lifo => self.idle.back(),
                IdleOrder::Fifo => self.idle.front(),
            };
            let Some(&c) = next else {
                return Took::NoIdle;
            };
            let conn = &self.conns[&c];
            let discard = if self.lifetime_expired(cfg, conn, now) || conn.retire {
                Some(CloseReason::Lifetime)
            } else if conn.flagged {
                Some(CloseReason::Invalid(match cfg.validation {
                    Validation::None | Validation::Flag => InvalidBy::Flag,
                    Validation::LivenessPeek => InvalidBy::Probe(Probe::LivenessPeek),
                    Validation::Ping => InvalidBy::Probe(Probe::Ping),
                }))
            } else {
                None
            };
            if let Some(reason) = discard {
                self.close_conn(c, reason, cx);
                self.count_discard(i, cx);
                if self.waiters[i].new_only {
                    return Took::Skipped;
                }
                continue;
            }
            if conn.ka_inflight {
                // Npgsql: the checkout takes the connector; its first query
                // waits on the lock the keepalive holds.
                let pos = self.idle.iter().position(|&x| x == c).expect("idle");
                self.idle.remove(pos);
                let w = self.waiters[i].id;
                self.waiters[i].state = WaitState::Validating(c);
                self.conn(c).slot = Slot::Validating { waiter: Some(w) };
                cx.note(PoolNote::WaitsForKeepalive { waiter: w, conn: c });
                return Took::Probing;
            }
            let idle_for = now.saturating_since(conn.last_released);
            let probe = match cfg.validation {
                Validation::None | Validation::Flag => None,
                Validation::LivenessPeek | Validation::Ping if idle_for < cfg.alive_bypass => {
                    cx.note(PoolNote::ProbeBypassed { conn: c, idle_for });
                    None
                }
                Validation::LivenessPeek => Some(Probe::LivenessPeek),
                Validation::Ping => Some(Probe::Ping),
            };
            match probe {
                None => {
                    self.grant(i, c, now, false, cx);
                    return Took::Granted;
                }
                Some(method) => {
                    let pos = self.idle.iter().position(|&x| x == c).expect("idle");
                    self.idle.remove(pos);
                    let w = self.waiters[i].id;
                    self.waiters[i].state = WaitState::Validating(c);
                    let conn = self.conn(c);
                    conn.slot = Slot::Validating { waiter: Some(w) };
                    conn.idle_gen = 0;
                    conn.ka_gen = 0;
                    cx.out.push(PoolAction::Validate { conn: c, method });
                    return Took::Probing;
                }
            }
        }
    }

    /// Serve waiters from idle connections, then open for the rest.
    fn dispense(&mut self, now: SimTime, cx: &mut Ctx) {
        if self.closed {
            return;
        }
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            // Go's last attempt wants a new connection, but takes a handed-
            // over one when the pool is at its limit.
            if w.state != WaitState::Queued || (w.new_only && self.has_capacity(cx.cfg)) {
                i += 1;
                continue;
            }
            match self.take_idle(i, now, cx) {
                Took::Granted => {}
                Took::Probing | Took::Skipped => i += 1,
                Took::NoIdle => break,
            }
        }
        if self.retry_gen != 0 {
            return;
        }
        let queued = self
            .waiters
            .iter()
            .filter(|w| w.state == WaitState::Queued)
            .count() as u64;
        let mut want = queued.saturating_sub(u64::from(self.opening));
        while want > 0 && self.has_capacity(cx.cfg) {
            self.open(now, cx);
            want -= 1;
        }
    }

    fn open(&mut self, now: SimTime, cx: &mut Ctx) {
        *cx.next_conn += 1;
        let c = ConnId(*cx.next_conn);
        self.conns.insert(
            c,
            Conn {
                slot: Slot::Opening,
                created: now,
                last_released: now,
                uses: 0,
                flagged: false,
                retire: false,
                idle_gen: 0,
                life_gen: 0,
                ka_gen: 0,
                ka_inflight: false,
                bad_before: 0,
            },
        );
        self.opening += 1;
        cx.out.push(PoolAction::Open { conn: c });
    }

    /// Open connections up to `min` (HikariCP `fillPool`, bb8 replenish).
    fn fill(&mut self, now: SimTime, cx: &mut Ctx) {
        let cfg = cx.cfg;
        if !cfg.fill_to_min || self.closed || self.retry_gen != 0 {
            return;
        }
        let have = match cfg.min_scope {
            MinScope::Total => self.total(),
            MinScope::Idle => self.idle.len() as u64 + u64::from(self.opening),
        };
        let mut need = u64::from(cfg.min).saturating_sub(have);
        while need > 0 && self.has_capacity(cfg) {
            self.open(now, cx);
            need -= 1;
        }
    }

    /// After an input: serve waiters, and refill if something was closed.
    fn settle(&mut self, now: SimTime, cx: &mut Ctx) {
        self.dispense(now, cx);
        if cx.closed > 0 {
            self.fill(now, cx);
        }
    }

    fn stats(&self) -> PoolStats {
        let mut s = PoolStats {
            waiting: self.waiters.len() as u32,
            ..PoolStats::default()
        };
        for c in self.conns.values() {
            match c.slot {
                Slot::Opening => s.opening += 1,
                Slot::Idle => s.idle += 1,
                Slot::Validating { .. } => s.validating += 1,
                Slot::InUse { .. } => s.in_use += 1,
            }
        }
        s
    }

    fn has_armed_timers(&self) -> bool {
        self.evictor_gen != 0
            || self.retry_gen != 0
            || self.waiters.iter().any(|w| w.timer_gen != 0)
            || self
                .conns
                .values()
                .any(|c| c.idle_gen != 0 || c.life_gen != 0 || c.ka_gen != 0)
    }

    fn check(&self, cfg: &PoolConfig) {
        let s = self.stats();
        assert!(
            self.total() <= u64::from(cfg.max),
            "pool holds {} connections, max {}",
            self.total(),
            cfg.max
        );
        assert!(
            s.in_use <= cfg.max,
            "in use {} exceeds max {}",
            s.in_use,
            cfg.max
        );
        assert_eq!(s.opening, self.opening, "opening count");
        assert_eq!(s.idle as usize, self.idle.len(), "idle list");
        for c in &self.idle {
            let conn = &self.conns[c];
            assert_eq!(conn.slot, Slot::Idle, "{c} in idle list");
            assert!(
                !(conn.flagged && cfg.on_lost == OnLost::Remove),
                "{c} lost but kept idle"
            );
        }
        for w in &self.waiters {
            if let WaitState::Validating(c) = w.state {
                assert_eq!(
                    self.conns[&c].slot,
                    Slot::Validating { waiter: Some(w.id) },
                    "{} validates {c}",
                    w.id
                );
            }
        }
        if self.closed {
            assert!(
                self.waiters.is_empty() && self.idle.is_empty(),
                "closed pool"
            );
        }
    }
}

fn probe_of(v: Validation) -> Probe {
    match v {
        Validation::LivenessPeek => Probe::LivenessPeek,
        Validation::Ping => Probe::Ping,
        Validation::None | Validation::Flag => {
            unreachable!("only probing validations ask the world")
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Current,
    Retired(usize),
}

/// A client connection pool: a sans-IO state machine.
///
/// Every input takes `now` and pushes effects into a caller-owned
/// `Vec<PoolAction>`. Inputs must come with non-decreasing `now`.
///
/// Invariants (checked with `assert!` after every input): a pool object
/// never holds more than `max` connections (so never more than `max` in
/// use); a granted connection is open and not one the pool knows is lost;
/// every acquire ends exactly once, with [`PoolAction::Grant`] or
/// [`PoolAction::Fail`].
#[derive(Clone, Debug)]
pub struct Pool {
    cfg: PoolConfig,
    started: bool,
    current: Core,
    /// Old pool objects left by `reset()`, until they are empty.
    retired: Vec<Core>,
    next_conn: u64,
    next_gen: u64,
    next_epoch: u32,
    last_now: SimTime,
}

impl Pool {
    /// A pool with this configuration. Panics if [`PoolConfig::check`]
    /// fails (validate user input first).
    pub fn new(cfg: PoolConfig) -> Pool {
        if let Err(e) = cfg.check() {
            panic!("invalid pool config: {e}");
        }
        Pool {
            cfg,
            started: false,
            current: Core::new(Epoch(0)),
            retired: Vec::new(),
            next_conn: 0,
            next_gen: 0,
            next_epoch: 0,
            last_now: SimTime::ZERO,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// Start the pool: arm a fixed-rate evictor and open `min` connections
    /// if `fill_to_min`. Called implicitly by the first input; call it when
    /// the library creates its pool (HikariCP fills at construction).
    pub fn start(&mut self, now: SimTime, out: &mut Vec<PoolAction>) {
        if self.started {
            return;
        }
        self.begin(now);
        self.started = true;
        let (core, mut cx) = self.split(Which::Current, out);
        core.start(now, &mut cx);
        self.finish();
    }

    /// Ask for a connection for `waiter` (`getConnection()`, `connect()`,
    /// `acquire()`). Ends later with exactly one `Grant` or `Fail` for it
    /// (possibly in this call). Panics if `waiter` is already waiting.
    pub fn acquire(&mut self, now: SimTime, waiter: WaiterId, out: &mut Vec<PoolAction>) {
        self.begin_started(now, out);
        assert!(
            self.find_waiter(waiter).is_none(),
            "{waiter} is already waiting"
        );
        let (core, mut cx) = self.split(Which::Current, out);
        core.acquire(now, waiter, 0, &mut cx);
        self.finish();
    }

    /// Go's `db.retry()` after a request failed with `ErrBadConn` (nothing
    /// was written): acquire again for `waiter`, `prior_bad` attempts of
    /// [`crate::RetryOnBadConn`] already used by this request. The attempts
    /// share one budget with the cached connections discarded at checkout:
    /// once `attempts - 1` are used the acquire waits for a new connection.
    /// Panics if `waiter` is already waiting.
    pub fn acquire_after_bad_conn(
        &mut self,
        now: SimTime,
        waiter: WaiterId,
        prior_bad: u32,
        out: &mut Vec<PoolAction>,
    ) {
        self.begin_started(now, out);
        assert!(
            self.find_waiter(waiter).is_none(),
            "{waiter} is already waiting"
        );
        let (core, mut cx) = self.split(Which::Current, out);
        core.acquire(now, waiter, prior_bad, &mut cx);
        self.finish();
    }

    /// `ErrBadConn` attempts the acquire that was granted `conn` had used
    /// before the grant (`None` once `conn` is closed).
    pub fn bad_conn_attempts_before(&self, conn: ConnId) -> Option<u32> {
        let which = self.find_conn(conn)?;
        let core = match which {
            Which::Current => &self.current,
            Which::Retired(i) => &self.retired[i],
        };
        Some(core.conns[&conn].bad_before)
    }

    /// Give back a granted connection; `broken` = the caller saw it fail
    /// (`release(err)`, `client.release(true)`). Panics if `conn` is not in
    /// use.
    pub fn release(&mut self, now: SimTime, conn: ConnId, broken: bool, out: &mut Vec<PoolAction>) {
        self.with_conn(now, conn, out, "released", |core, cx| {
            core.release(now, conn, broken, cx)
        });
    }

    /// A connection the pool asked for ([`PoolAction::Open`]) is ready.
    pub fn opened(&mut self, now: SimTime, conn: ConnId, out: &mut Vec<PoolAction>) {
        self.with_conn(now, conn, out, "opened", |core, cx| {
            core.opened(now, conn, cx)
        });
    }

    /// Opening `conn` failed.
    pub fn open_failed(
        &mut self,
        now: SimTime,
        conn: ConnId,
        error: OpenError,
        out: &mut Vec<PoolAction>,
    ) {
        self.with_conn(now, conn, out, "failed", |core, cx| {
            core.open_failed(now, conn, error, cx)
        });
    }

    /// The driver processed a close or error event for `conn` (FIN, RST, an
    /// unsolicited error packet). With [`OnLost::Remove`] an idle connection
    /// is closed now and an in-use one on release; with [`OnLost::Mark`] it
    /// is flagged and never granted again. A connection the pool has already
    /// closed is ignored.
    pub fn lost(&mut self, now: SimTime, conn: ConnId, out: &mut Vec<PoolAction>) {
        self.begin_started(now, out);
        if let Some(which) = self.find_conn(conn) {
            let (core, mut cx) = self.split(which, out);
            core.lost(now, conn, &mut cx);
        }
        self.finish();
    }

    /// The result of a [`PoolAction::Validate`] probe.
    pub fn validated(
        &mut self,
        now: SimTime,
        conn: ConnId,
        alive: bool,
        out: &mut Vec<PoolAction>,
    ) {
        self.with_conn(now, conn, out, "validated", |core, cx| {
            core.validated(now, conn, alive, cx)
        });
    }

    /// A timer armed with [`PoolAction::ArmTimer`] fired, at its `at` or
    /// later (after a thaw). Stale generations are ignored.
    pub fn timer(&mut self, now: SimTime, id: TimerId, out: &mut Vec<PoolAction>) {
        self.begin_started(now, out);
        assert!(id.at <= now, "timer delivered before it was due");
        let which = match id.kind {
            TimerKind::AcquireTimeout(w) => self.find_waiter(w),
            TimerKind::IdleTimeout(c) | TimerKind::Lifetime(c) | TimerKind::KeepaliveQuery(c) => {
                self.find_conn(c)
            }
            TimerKind::Evictor(e) | TimerKind::OpenRetry(e) => self.find_epoch(e),
        };
        if let Some(which) = which {
            let (core, mut cx) = self.split(which, out);
            core.timer(now, id, &mut cx);
        }
        self.finish();
    }

    /// End the pool (sequelize `connectionManager.close()`, pg-pool `end()`):
    /// idle connections are closed now, waiting acquires fail with
    /// [`PoolError::Closed`], in-use and opening connections are closed
    /// when released or opened, the evictor stops, and later acquires fail
    /// until [`Pool::reset`]. (sequelize-pool's `drain()` would still serve
    /// the waiters; pg-pool leaves them to their own timeouts.)
    pub fn close(&mut self, now: SimTime, out: &mut Vec<PoolAction>) {
        self.begin_started(now, out);
        let (core, mut cx) = self.split(Which::Current, out);
        core.close(&mut cx);
        self.finish();
    }

    /// Replace the pool object with a fresh one (sequelize
    /// `connectionManager.initPools()`). Nothing is closed: the old object
    /// keeps its connections, waiters and timers (its evictor still sweeps
    /// its idle connections; released connections go back to it) until it
    /// is empty. Acquires go to the new object.
    pub fn reset(&mut self, now: SimTime, out: &mut Vec<PoolAction>) {
        self.begin_started(now, out);
        self.next_epoch += 1;
        let epoch = Epoch(self.next_epoch);
        let old = std::mem::replace(&mut self.current, Core::new(epoch));
        let s = old.stats();
        out.push(PoolAction::Note(PoolNote::Reset {
            epoch,
            orphaned_idle: s.idle,
            orphaned_in_use: s.in_use + s.validating,
        }));
        if !old.is_empty() {
            self.retired.push(old);
        }
        let (core, mut cx) = self.split(Which::Current, out);
        core.start(now, &mut cx);
        self.finish();
    }

    /// Counts for the current pool object (and the retired ones).
    pub fn stats(&self) -> PoolStats {
        let mut s = self.current.stats();
        s.retired_pools = self.retired.len() as u32;
        s.retired_conns = self.retired.iter().map(|c| c.conns.len() as u32).sum();
        s
    }

    /// Where `conn` is, or `None` once closed.
    pub fn conn_state(&self, conn: ConnId) -> Option<ConnState> {
        let which = self.find_conn(conn)?;
        let core = match which {
            Which::Current => &self.current,
            Which::Retired(i) => &self.retired[i],
        };
        Some(match core.conns[&conn].slot {
            Slot::Opening => ConnState::Opening,
            Slot::Idle => ConnState::Idle,
            Slot::Validating { .. } => ConnState::Validating,
            Slot::InUse { .. } => ConnState::InUse,
        })
    }

    /// Whether `waiter`'s acquire is still pending.
    pub fn is_waiting(&self, waiter: WaiterId) -> bool {
        self.find_waiter(waiter).is_some()
    }

    /// Whether the current pool object is closed.
    pub fn is_closed(&self) -> bool {
        self.current.closed
    }

    /// The current pool object's epoch.
    pub fn epoch(&self) -> Epoch {
        self.current.epoch
    }

    /// Whether any timer the pool relies on is armed: in Node this keeps the
    /// event loop non-empty (a handler with `callbackWaitsForEmptyEventLoop`
    /// then never finishes — the guide's issue with `min: 1`).
    pub fn has_armed_timers(&self) -> bool {
        self.current.has_armed_timers() || self.retired.iter().any(Core::has_armed_timers)
    }

    // ---- plumbing -----------------------------------------------------

    fn begin(&mut self, now: SimTime) {
        assert!(now >= self.last_now, "time went backwards");
        self.last_now = now;
    }

    /// Runs one input on the pool object that owns `conn` (one that none
    /// owns is a bug of the caller: `what` says which input).
    fn with_conn(
        &mut self,
        now: SimTime,
        conn: ConnId,
        out: &mut Vec<PoolAction>,
        what: &str,
        f: impl FnOnce(&mut Core, &mut Ctx<'_>),
    ) {
        self.begin_started(now, out);
        let which = self
            .find_conn(conn)
            .unwrap_or_else(|| panic!("{what} connection belongs to the pool"));
        let (core, mut cx) = self.split(which, out);
        f(core, &mut cx);
        self.finish();
    }

    fn begin_started(&mut self, now: SimTime, out: &mut Vec<PoolAction>) {
        if !self.started {
            self.start(now, out);
        }
        self.begin(now);
    }

    fn split<'a>(
        &'a mut self,
        which: Which,
        out: &'a mut Vec<PoolAction>,
    ) -> (&'a mut Core, Ctx<'a>) {
        let core = match which {
            Which::Current => &mut self.current,
            Which::Retired(i) => &mut self.retired[i],
        };
        let cx = Ctx {
            cfg: &self.cfg,
            next_gen: &mut self.next_gen,
            next_conn: &mut self.next_conn,
            out,
            closed: 0,
        };
        (core, cx)
    }

    fn cores(&self) -> impl Iterator<Item = (Which, &Core)> {
        std::iter::once((Which::Current, &self.current)).chain(
            self.retired
                .iter()
                .enumerate()
                .map(|(i, c)| (Which::Retired(i), c)),
        )
    }

    fn find_conn(&self, conn: ConnId) -> Option<Which> {
        self.cores()
            .find(|(_, c)| c.conns.contains_key(&conn))
            .map(|(w, _)| w)
    }

    fn find_waiter(&self, waiter: WaiterId) -> Option<Which> {
        self.cores()
            .find(|(_, c)| c.waiter_index(waiter).is_some())
            .map(|(w, _)| w)
    }

    fn find_epoch(&self, epoch: Epoch) -> Option<Which> {
        self.cores().find(|(_, c)| c.epoch == epoch).map(|(w, _)| w)
    }

    /// Drop empty retired pools, then check the invariants.
    fn finish(&mut self) {
        self.retired.retain(|c| !c.is_empty());
        self.current.check(&self.cfg);
        for c in &self.retired {
            c.check(&self.cfg);
        }
    }
}
