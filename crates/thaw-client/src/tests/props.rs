//! Property tests: random inputs (with timers delivered late, in any order)
//! never break the invariants, and every acquire ends exactly once.
use crate::{
    ConnId, Evictor, IdleOrder, OnLost, OpenError, Pool, PoolAction, PoolConfig, PoolError,
    TimerId, Validation, WaiterId,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use thaw_core::{SimDuration, SimTime};

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Release(usize, bool),
    Lost(usize),
    OpenOk(usize),
    OpenFail(usize),
    Probe(usize, bool),
    /// Milliseconds.
    Advance(u64),
    /// Seconds: a freeze; timers become overdue.
    Freeze(u64),
    /// Deliver one due timer (any of them: the order is arbitrary).
    Fire(usize),
    Close,
    Reset,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        5 => (any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(i, b)| Op::Release(i, b)),
        2 => any::<usize>().prop_map(Op::Lost),
        5 => any::<usize>().prop_map(Op::OpenOk),
        1 => any::<usize>().prop_map(Op::OpenFail),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Probe(i, b)),
        4 => (0u64..3000).prop_map(Op::Advance),
        1 => (1u64..4000).prop_map(Op::Freeze),
        5 => any::<usize>().prop_map(Op::Fire),
        1 => Just(Op::Close),
        3 => Just(Op::Reset),
    ]
}

fn arb_cfg() -> impl Strategy<Value = PoolConfig> {
    (
        0usize..10,
        1u32..4,
        0u32..3,
        prop::option::of(0u64..5000),
        prop::option::of(1u64..60_000),
        prop::option::of(2u32..5),
        any::<bool>(),
        0usize..4,
        any::<bool>(),
        prop::option::of(1u32..3),
        (prop::option::of(0u64..20_000), 0usize..5, 1u64..5000),
        prop::option::of(1u64..10_000),
    )
        .prop_map(
            |(
                preset,
                max,
                min,
                acquire,
                life,
                uses,
                lifo,
                validation,
                remove,
                max_idle,
                (idle, evictor, period),
                keepalive,
            )| {
                let base = match preset {
                    0 => PoolConfig::sequelize(),
                    1 => PoolConfig::sequelize_lambda_guide(SimDuration::from_secs(3)),
                    2 => PoolConfig::pg_pool(),
                    3 => PoolConfig::mysql2_with(3, 1),
                    4 => PoolConfig::go_database_sql(),
                    5 => PoolConfig::sqlalchemy(),
                    6 => PoolConfig::hikaricp(),
                    7 => PoolConfig::sqlx(),
                    8 => PoolConfig::bb8(),
                    _ => PoolConfig::serverless_mysql(),
                };
                let validation = [
                    Validation::None,
                    Validation::Flag,
                    Validation::LivenessPeek,
                    Validation::Ping,
                ][validation];
                let cfg = PoolConfig {
                    max,
                    min: min.min(max),
                    acquire_timeout: acquire.map(SimDuration::from_millis),
                    max_lifetime: life.map(SimDuration::from_millis),
                    max_uses: uses,
                    order: if lifo {
                        IdleOrder::Lifo
                    } else {
                        IdleOrder::Fifo
                    },
                    validation,
                    on_lost: if remove || validation == Validation::None {
                        OnLost::Remove
                    } else {
                        OnLost::Mark
                    },
                    max_idle: max_idle.or(base.max_idle),
                    idle_timeout: idle.map(SimDuration::from_millis).or(base.idle_timeout),
                    evictor: match evictor {
                        0 => Evictor::None,
                        1 => Evictor::FixedInterval(SimDuration::from_millis(period)),
                        2 => Evictor::ReArmed(SimDuration::from_millis(period)),
                        3 => Evictor::PerConnection,
                        _ => base.evictor,
                    },
                    keepalive_query: keepalive.map(SimDuration::from_millis),
                    ..base
                };
                assert_eq!(cfg.check(), Ok(()));
                cfg
            },
        )
}

/// A minimal world: remembers what the pool asked for and checks every
/// effect against what it knows.
struct World {
    pool: Pool,
    now: SimTime,
    timers: Vec<TimerId>,
    opening: Vec<ConnId>,
    probing: Vec<ConnId>,
    /// Of those, the ones probed by their keepalive query: the pool may
    /// close them meanwhile (a sweep, a clear), as their query runs on an
    /// idle connection.
    keepalive: BTreeSet<ConnId>,
    held: Vec<(WaiterId, ConnId)>,
    live: BTreeSet<ConnId>,
    closed: BTreeSet<ConnId>,
    lost: BTreeSet<ConnId>,
    /// Waiting acquires: id → (acquire number, time). Ids are reused.
    pending: BTreeMap<WaiterId, (u64, SimTime)>,
    /// Ends per acquire number.
    ended: BTreeMap<u64, u32>,
    next_waiter: u64,
    log: Vec<PoolAction>,
}

impl World {
    fn new(cfg: PoolConfig) -> World {
        World {
            pool: Pool::new(cfg),
            now: SimTime::ZERO,
            timers: Vec::new(),
            opening: Vec::new(),
            probing: Vec::new(),
            keepalive: BTreeSet::new(),
            held: Vec::new(),
            live: BTreeSet::new(),
            closed: BTreeSet::new(),
            lost: BTreeSet::new(),
            pending: BTreeMap::new(),
            ended: BTreeMap::new(),
            next_waiter: 0,
            log: Vec::new(),
        }
    }

    fn apply(&mut self, out: Vec<PoolAction>) {
        for a in out {
            match a {
                PoolAction::Open { conn } => {
                    assert!(!self.live.contains(&conn) && !self.closed.contains(&conn));
                    self.opening.push(conn);
                }
                PoolAction::Grant { waiter, conn } => {
                    let (n, _) = self
                        .pending
                        .remove(&waiter)
                        .expect("granted but not waiting");
                    *self.ended.entry(n).or_default() += 1;
                    assert!(self.live.contains(&conn), "granted {conn} is not open");
                    assert!(!self.lost.contains(&conn), "granted {conn} after lost()");
                    assert!(
                        self.held.iter().all(|&(_, c)| c != conn),
                        "{conn} granted twice"
                    );
                    self.held.push((waiter, conn));
                }
                PoolAction::Fail { waiter, error } => {
                    let (n, since) = self
                        .pending
                        .remove(&waiter)
                        .expect("failed but not waiting");
                    *self.ended.entry(n).or_default() += 1;
                    if let PoolError::AcquireTimeout { waited } = error {
                        assert_eq!(waited, self.now.saturating_since(since));
                        let timeout = self.pool.config().acquire_timeout.expect("has a timeout");
                        assert!(waited >= timeout, "{waiter} timed out early");
                    }
                }
                PoolAction::Close { conn, .. } => {
                    assert!(self.closed.insert(conn), "{conn} closed twice");
                    assert!(
                        self.held.iter().all(|&(_, c)| c != conn),
                        "closed {conn} in use"
                    );
                    if self.keepalive.remove(&conn) {
                        self.probing.retain(|&c| c != conn);
                    }
                    assert!(!self.probing.contains(&conn), "closed {conn} mid-probe");
                    assert!(!self.opening.contains(&conn), "closed {conn} mid-open");
                    self.live.remove(&conn);
                }
                PoolAction::Validate { conn, method } => {
                    assert!(self.live.contains(&conn));
                    assert!(!self.probing.contains(&conn), "{conn} probed twice");
                    if method == crate::Probe::KeepaliveQuery {
                        self.keepalive.insert(conn);
                    } else {
                        assert!(!self.lost.contains(&conn), "probing {conn} known lost");
                    }
                    self.probing.push(conn);
                }
                PoolAction::ArmTimer { id, at } => {
                    assert!(at >= self.now);
                    self.timers.push(id);
                }
                PoolAction::Note(n) => assert!(!n.to_string().is_empty()),
            }
            self.log.push(a);
        }
        let s = self.pool.stats();
        assert!(s.in_use <= self.pool.config().max);
    }

    fn step(&mut self, op: &Op) {
        let mut out = Vec::new();
        let now = self.now;
        match *op {
            Op::Acquire => {
                // Reuse ids: the lowest one not waiting.
                let w = (0..)
                    .map(WaiterId)
                    .find(|w| !self.pending.contains_key(w))
                    .expect("a free id");
                self.next_waiter += 1;
                self.pending.insert(w, (self.next_waiter, now));
                self.pool.acquire(now, w, &mut out);
            }
            Op::Release(i, broken) => {
                if self.held.is_empty() {
                    return;
                }
                let (_, c) = self.held.remove(i % self.held.len());
                self.pool.release(now, c, broken, &mut out);
            }
            Op::Lost(i) => {
                let Some(&c) = self.live.iter().nth(i % self.live.len().max(1)) else {
                    return;
                };
                self.lost.insert(c);
                self.pool.lost(now, c, &mut out);
            }
            Op::OpenOk(i) | Op::OpenFail(i) => {
                if self.opening.is_empty() {
                    return;
                }
                let c = self.opening.remove(i % self.opening.len());
                if matches!(op, Op::OpenOk(_)) {
                    self.live.insert(c);
                    self.pool.opened(now, c, &mut out);
                } else {
                    self.closed.insert(c);
                    self.pool.open_failed(now, c, OpenError::Refused, &mut out);
                }
            }
            Op::Probe(i, alive) => {
                if self.probing.is_empty() {
                    return;
                }
                let c = self.probing.remove(i % self.probing.len());
                self.keepalive.remove(&c);
                self.pool.validated(now, c, alive, &mut out);
            }
            Op::Advance(x) => self.now = now + SimDuration::from_millis(x),
            Op::Freeze(x) => self.now = now + SimDuration::from_secs(x),
            Op::Fire(i) => {
                let due: Vec<usize> = (0..self.timers.len())
                    .filter(|&k| self.timers[k].at <= now)
                    .collect();
                if due.is_empty() {
                    return;
                }
                let t = self.timers.remove(due[i % due.len()]);
                self.pool.timer(now, t, &mut out);
            }
            Op::Close => self.pool.close(now, &mut out),
            Op::Reset => self.pool.reset(now, &mut out),
        }
        self.apply(out);
    }

    /// Complete everything in flight, release everything held, and fire
    /// timers in time order until no acquire is pending.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            if let Some(&c) = self.opening.first() {
                self.live.insert(c);
                self.opening.remove(0);
                let mut out = Vec::new();
                self.pool.opened(self.now, c, &mut out);
                self.apply(out);
            } else if let Some(&c) = self.probing.first() {
                self.probing.remove(0);
                self.keepalive.remove(&c);
                let mut out = Vec::new();
                self.pool.validated(self.now, c, true, &mut out);
                self.apply(out);
            } else if let Some(&(_, c)) = self.held.first() {
                self.held.remove(0);
                let mut out = Vec::new();
                self.pool.release(self.now, c, false, &mut out);
                self.apply(out);
            } else if !self.pending.is_empty() {
                let k = (0..self.timers.len())
                    .min_by_key(|&k| self.timers[k].at)
                    .expect("a waiting acquire has something to wait for");
                let t = self.timers.remove(k);
                self.now = self.now.max(t.at);
                let mut out = Vec::new();
                self.pool.timer(self.now, t, &mut out);
                self.apply(out);
            } else {
                return;
            }
        }
        panic!("drain did not settle");
    }
}

impl World {
    /// Deliver every remaining timer (late, in time order; periodic ones up
    /// to a bound): nothing may end an acquire a second time.
    fn fire_all(&mut self) {
        for _ in 0..500 {
            let Some(k) = (0..self.timers.len()).min_by_key(|&k| self.timers[k].at) else {
                return;
            };
            let t = self.timers.remove(k);
            self.now = self.now.max(t.at);
            let mut out = Vec::new();
            self.pool.timer(self.now, t, &mut out);
            self.apply(out);
        }
    }
}

fn run(cfg: PoolConfig, ops: &[Op]) -> World {
    let mut world = World::new(cfg);
    for op in ops {
        world.step(op);
    }
    world.drain();
    world.fire_all();
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_every_acquire_ends_once(
        cfg in arb_cfg(),
        ops in prop::collection::vec(arb_op(), 1..120),
    ) {
        let world = run(cfg, &ops);
        prop_assert!(world.pending.is_empty());
        prop_assert_eq!(world.ended.len() as u64, world.next_waiter);
        prop_assert!(world.ended.values().all(|&n| n == 1));
    }

    #[test]
    fn same_inputs_same_effects(
        cfg in arb_cfg(),
        ops in prop::collection::vec(arb_op(), 1..60),
    ) {
        let a = run(cfg, &ops);
        let b = run(cfg, &ops);
        prop_assert_eq!(a.log, b.log);
    }

    #[test]
    fn lost_connections_are_never_granted_by_flag_pools(
        ops in prop::collection::vec(arb_op(), 1..120),
        max in 1u32..4,
    ) {
        // Sequelize: Mark + Flag, LIFO; the `World` asserts on every grant.
        let cfg = PoolConfig { max, ..PoolConfig::sequelize_lambda_guide(SimDuration::from_secs(3)) };
        let world = run(cfg, &ops);
        prop_assert!(world.pending.is_empty());
    }
}

#[test]
fn drain_reaches_quiescence_with_fixed_interval_evictor() {
    let ops = [
        Op::Acquire,
        Op::Acquire,
        Op::OpenOk(0),
        Op::Freeze(100),
        Op::Fire(0),
    ];
    let w = run(PoolConfig::hikaricp(), &ops);
    assert!(w.pending.is_empty());
    assert_eq!(w.ended.len(), 2);
}
