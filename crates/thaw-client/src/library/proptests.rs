//! Property test of the library model over random inputs (issue 11):
//! "reconnect never exceeds its max attempts".
//!
//! A minimal world drives [`Library`] with random sequences of inputs, for
//! random configurations (every preset, with random overrides of its
//! knobs): commands and abandons, connections that come up, fail or are
//! lost (each [`Loss`]), replies and stray server messages, peeks answered
//! at once, and time: timers fire at their due times, or late after a
//! freeze. It ends each case by failing every connection attempt until the
//! library stops trying (or a bound), so reconnect sequences run out. After
//! every action it checks:
//! - with [`Reconnect::Backoff`] and `max_attempts = m`: at most `m`
//!   connects after the loss of a ready connection before one is ready
//!   again, at most `m + 1` since the last ready connection (the
//!   on-demand open, then `m` reconnects), and no reconnect note for an
//!   attempt above `m`;
//! - a finished client ([`LibNote::Finished`]) is [`Link::Dead`], never
//!   connects, writes or pings again, and fails every later command at
//!   once with [`LibError::Closed`];
//! - every `Fail` is for a command that was issued and is still
//!   outstanding, and ends it; a reply completes only the current command
//!   written on the current connection (the harness keeps its own queue of
//!   what each connection owes), a late one is discarded;
//! - a command is written at most 1 + (resends and retries announced for
//!   it) times, only on a ready connection;
//! - [`Reconnect::Never`] and [`Reconnect::OnNextUse`] connect only for a
//!   command;
//! - the model's `busy()` agrees with the harness after every input.
//!
//! The runner counts which branches the cases reached (a reconnect after a
//! loss, giving up after `max_attempts`, a client that never reconnects
//! finished, resends, late timers, failures) and fails if too few cases
//! reached one of them, so the property cannot pass vacuously.
use super::presets::{preset, NAMES};
use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::RefCell;

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Command,
    Abandon,
    Connected,
    ConnectFailed(Loss),
    Lost(Loss),
    /// The next reply the connection owes arrives.
    Reply,
    /// A response nobody asked for.
    Stray,
    /// Milliseconds; timers fire at their due times.
    Advance(u64),
    /// Milliseconds frozen; overdue timers fire late at the thaw.
    Freeze(u64),
}

fn arb_loss() -> impl Strategy<Value = Loss> {
    prop_oneof![
        Just(Loss::Eof),
        Just(Loss::Reset),
        Just(Loss::TimedOut),
        Just(Loss::PingTimeout),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::Command),
        1 => Just(Op::Abandon),
        4 => Just(Op::Connected),
        4 => arb_loss().prop_map(Op::ConnectFailed),
        3 => arb_loss().prop_map(Op::Lost),
        4 => Just(Op::Reply),
        1 => Just(Op::Stray),
        5 => (0u64..3_000).prop_map(Op::Advance),
        2 => (1u64..600_000).prop_map(Op::Freeze),
    ]
}

/// A backoff whose delays do not all stay at zero (`check` refuses those
/// for reconnects; full jitter can draw 0 every time, so it is only used
/// for retries).
fn arb_reconnect_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        (1u64..200, 1u64..3_000).prop_map(|(s, m)| Backoff::Linear {
            step: ms(s),
            max: ms(m.max(s)),
        }),
        (1u64..200, 1u64..5_000, 0u64..200, any::<bool>()).prop_map(|(b, m, j, i)| {
            Backoff::Exponential {
                base: ms(b),
                max: ms(m.max(b)),
                jitter: if j == 0 {
                    Jitter::None
                } else {
                    Jitter::Add(ms(j))
                },
                immediate_first: i,
            }
        }),
        (1u64..50, 1u64..600).prop_map(|(b, m)| Backoff::BasePlusJitter {
            base: ms(b),
            max: ms(m.max(b)),
        }),
        (1u64..100, 1u64..600).prop_map(|(s, m)| Backoff::ImmediateThenLinear {
            step: ms(s),
            max: ms(m.max(s)),
        }),
    ]
}

fn arb_retry_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        3 => arb_reconnect_backoff(),
        1 => (1u64..200, 1u64..20_000).prop_map(|(b, m)| Backoff::FullJitter {
            base: ms(b),
            max: ms(m.max(b)),
        }),
    ]
}

/// A preset with random overrides; `None` in an override keeps the
/// preset's value.
fn arb_cfg() -> impl Strategy<Value = LibConfig> {
    (
        (
            0..NAMES.len(),
            // 0 keeps the preset's, 1 never, 2 on next use, 3..=5 backoff.
            0u8..6,
            arb_reconnect_backoff(),
            prop::option::of(any::<bool>()),
            // 0 keeps, 1 reject, 2 resend, 3 retry.
            0u8..4,
            (0u32..4, arb_retry_backoff(), 0u8..8),
        ),
        (
            prop::option::of(prop::option::of(0u32..4)),
            prop::option::weighted(0.8, 0u32..5),
            prop::option::of(prop::option::of(1u64..20_000)),
            prop::option::of(prop::option::of(1u64..10_000)),
            prop::option::weighted(0.3, (1u64..60_000, prop::option::of(1u64..30_000))),
            // 0 keeps, 1 none, 2 ping, 3 peek, 4 max idle.
            (0u8..5, 0u64..5_000, prop::option::of(1u64..100_000)),
            prop::option::of(prop::option::of(1u64..60_000)),
            (
                prop::option::of(any::<bool>()),
                prop::option::of(any::<bool>()),
            ),
        ),
    )
        .prop_map(
            |(
                (p, reconnect, backoff, offline, in_flight, (retry_max, retry_backoff, on)),
                (
                    max_rpr,
                    max_attempts,
                    connect_timeout,
                    command_timeout,
                    ping,
                    (check, check_after, max_idle),
                    idle_close,
                    (multiplexed, timeout_closes),
                ),
            )| {
                let base = preset(NAMES[p]).expect("a named preset").config;
                // Knobs the test does not know keep the preset's values.
                let mut c = base;
                c.reconnect = match reconnect {
                    0 => base.reconnect,
                    1 => Reconnect::Never,
                    2 => Reconnect::OnNextUse,
                    _ => Reconnect::Backoff(backoff),
                };
                c.offline_queue = offline.unwrap_or(base.offline_queue);
                c.in_flight = match in_flight {
                    0 => base.in_flight,
                    1 => InFlight::Reject,
                    2 => InFlight::Resend,
                    _ => InFlight::Retry {
                        max: retry_max,
                        backoff: retry_backoff,
                        on: LossSet {
                            eof: on & 1 != 0,
                            reset: on & 2 != 0,
                            timed_out: on & 4 != 0,
                        },
                    },
                };
                c.max_retries_per_request = max_rpr.unwrap_or(base.max_retries_per_request);
                c.max_attempts = max_attempts;
                c.connect_timeout = connect_timeout.map_or(base.connect_timeout, |t| t.map(ms));
                c.command_timeout = command_timeout.map_or(base.command_timeout, |t| t.map(ms));
                c.ping_interval = ping.map(|(i, _)| ms(i)).or(base.ping_interval);
                c.ping_timeout = ping.map_or(base.ping_timeout, |(_, t)| t.map(ms));
                c.idle_check = match check {
                    0 => base.idle_check,
                    1 => IdleCheck::None,
                    2 => IdleCheck::Ping {
                        after: ms(check_after),
                    },
                    3 => IdleCheck::Peek {
                        max_idle: max_idle.map(ms),
                    },
                    _ => IdleCheck::MaxIdle {
                        max_idle: ms(check_after + 1),
                    },
                };
                c.idle_close = idle_close.map_or(base.idle_close, |t| t.map(ms));
                c.multiplexed = multiplexed.unwrap_or(base.multiplexed);
                c.timeout_closes = timeout_closes.unwrap_or(base.timeout_closes);
                if c.in_flight == InFlight::Resend && c.reconnect == Reconnect::Never {
                    c.in_flight = InFlight::Reject;
                }
                assert_eq!(c.check(), Ok(()), "{c:?}");
                c
            },
        )
}

/// The harness's view of the library's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    None,
    Opening,
    Ready,
}

/// What the connection owes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    /// The reply to command `.0`.
    Cmd(u64),
    Ping,
}

/// Which branches a case reached.
#[derive(Clone, Copy, Debug, Default)]
struct Reached {
    /// A reconnect attempt after the loss of a ready connection.
    loss_reconnect: bool,
    /// A backoff client finished: `max_attempts` ran out.
    gave_up: bool,
    /// A client that never reconnects finished.
    never_finished: bool,
    /// A command in flight announced to be resent or retried.
    resent: bool,
    /// A timer ran late.
    late: bool,
    /// A command failed.
    failed: bool,
}

struct World {
    lib: Library,
    cfg: LibConfig,
    now: SimTime,
    rng: u64,
    timers: Vec<(LibTimer, SimTime)>,
    conn: Conn,
    owed: VecDeque<Owed>,
    /// The outstanding command, if any.
    cmd: Option<u64>,
    next_cmd: u64,
    /// Writes of the current command, and resends or retries announced
    /// for it.
    writes: u32,
    again: u32,
    /// The last failure, and of which command.
    last_fail: Option<(u64, LibError)>,
    finished: bool,
    /// Connects since the loss of a ready connection (backoff clients),
    /// until one is ready.
    since_loss: Option<u32>,
    /// Connects since the last ready connection (or the start).
    since_ready: u32,
    fired: u32,
    reached: Reached,
}

type Check = Result<(), String>;

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

impl World {
    fn new(cfg: LibConfig, seed: u64) -> World {
        World {
            lib: Library::new(cfg),
            cfg,
            now: SimTime::ZERO,
            rng: seed | 1,
            timers: Vec::new(),
            conn: Conn::None,
            owed: VecDeque::new(),
            cmd: None,
            next_cmd: 0,
            writes: 0,
            again: 0,
            last_fail: None,
            finished: false,
            since_loss: None,
            since_ready: 0,
            fired: 0,
            reached: Reached::default(),
        }
    }

    /// xorshift64: the uniform draw the world would give.
    fn rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn backoff(&self) -> bool {
        matches!(self.cfg.reconnect, Reconnect::Backoff(_))
    }

    fn step(&mut self, op: Op) -> Check {
        let now = self.now;
        let mut out = Vec::new();
        match op {
            Op::Command => {
                if self.cmd.is_some() {
                    // One command at a time.
                    return Ok(());
                }
                self.next_cmd += 1;
                let id = self.next_cmd;
                self.cmd = Some(id);
                self.writes = 0;
                self.again = 0;
                let was_finished = self.finished;
                self.lib.command(now, &mut out);
                self.apply(out)?;
                if was_finished {
                    ensure(self.last_fail == Some((id, LibError::Closed)), || {
                        format!(
                            "command {id} on a finished client did not fail at once with Closed (last failure {:?})",
                            self.last_fail
                        )
                    })?;
                }
            }
            Op::Abandon => {
                if self.cmd.take().is_some() {
                    self.lib.abandon();
                }
            }
            Op::Connected => {
                if self.conn != Conn::Opening {
                    return Ok(());
                }
                self.conn = Conn::Ready;
                self.owed.clear();
                self.since_loss = None;
                self.since_ready = 0;
                self.lib.connected(now, &mut out);
                self.apply(out)?;
            }
            Op::ConnectFailed(loss) => {
                if self.conn != Conn::Opening {
                    return Ok(());
                }
                self.conn = Conn::None;
                self.owed.clear();
                let r = self.rand();
                self.lib.connect_failed(now, loss, r, &mut out);
                self.apply(out)?;
            }
            Op::Lost(loss) => {
                if self.conn != Conn::Ready {
                    return Ok(());
                }
                self.conn = Conn::None;
                self.owed.clear();
                if self.backoff() {
                    self.since_loss = Some(0);
                }
                let r = self.rand();
                self.lib.lost(now, loss, r, &mut out);
                self.apply(out)?;
            }
            Op::Reply => {
                if self.conn != Conn::Ready {
                    return Ok(());
                }
                let Some(o) = self.owed.pop_front() else {
                    return Ok(());
                };
                let r = self.lib.reply(now, &mut out);
                let want = match o {
                    Owed::Ping => Reply::Ping,
                    Owed::Cmd(id) if Some(id) == self.cmd => Reply::Command,
                    Owed::Cmd(_) => Reply::Discarded,
                };
                ensure(r == want, || {
                    format!(
                        "the reply owed for {o:?} was taken as {r:?} (current command {:?})",
                        self.cmd
                    )
                })?;
                if r == Reply::Command {
                    ensure(self.writes > 0, || {
                        "a reply completed an unwritten command".into()
                    })?;
                    self.cmd = None;
                }
                self.apply(out)?;
            }
            Op::Stray => {
                if self.conn != Conn::Ready || !self.owed.is_empty() {
                    return Ok(());
                }
                let r = self.lib.reply(now, &mut out);
                ensure(r == Reply::Unexpected, || {
                    format!("a reply nobody asked for was taken as {r:?}")
                })?;
                self.apply(out)?;
            }
            Op::Advance(d) => self.run_until(now + ms(d))?,
            Op::Freeze(d) => {
                self.now = now + ms(d);
                let thaw = self.now;
                self.run_until(thaw)?;
            }
        }
        self.check_state()
    }

    fn check_state(&self) -> Check {
        ensure(self.lib.busy() == self.cmd.is_some(), || {
            format!(
                "the model is {}busy, the harness has command {:?}",
                if self.lib.busy() { "" } else { "not " },
                self.cmd
            )
        })?;
        if self.finished {
            ensure(self.lib.link() == Link::Dead, || {
                format!("finished but its link is {:?}", self.lib.link())
            })?;
        }
        Ok(())
    }

    /// Fires the timers due up to `until` in due order, each at its due
    /// time or at once if it is overdue (a thaw).
    fn run_until(&mut self, until: SimTime) -> Check {
        while self.fired < 5_000 {
            let Some(k) = (0..self.timers.len())
                .filter(|&k| self.timers[k].1 <= until)
                .min_by_key(|&k| (self.timers[k].1, k))
            else {
                break;
            };
            let (timer, due) = self.timers.remove(k);
            self.now = self.now.max(due);
            self.fired += 1;
            let r = self.rand();
            let mut out = Vec::new();
            self.lib.timer(self.now, timer, due, r, &mut out);
            self.apply(out)?;
            self.check_state()?;
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// The end of a case: every connection attempt fails, and time runs,
    /// until the library stops trying (or a bound).
    fn exhaust(&mut self) -> Check {
        for _ in 0..64 {
            match self.conn {
                Conn::Opening => self.step(Op::ConnectFailed(Loss::Reset))?,
                Conn::Ready => self.step(Op::Lost(Loss::Eof))?,
                Conn::None => {
                    let Some(next) = self.timers.iter().map(|&(_, at)| at).min() else {
                        return Ok(());
                    };
                    let until = next.max(self.now);
                    self.run_until(until)?;
                    self.check_state()?;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, out: Vec<LibAction>) -> Check {
        for a in out {
            self.action(a)?;
        }
        Ok(())
    }

    fn action(&mut self, a: LibAction) -> Check {
        match a {
            LibAction::Connect => {
                ensure(!self.finished, || "connects after it finished".into())?;
                if !self.backoff() {
                    ensure(self.cmd.is_some(), || {
                        format!(
                            "{:?} connects with no command outstanding",
                            self.cfg.reconnect
                        )
                    })?;
                }
                self.since_ready += 1;
                if let (true, Some(m)) = (self.backoff(), self.cfg.max_attempts) {
                    if let Some(n) = self.since_loss.as_mut() {
                        *n += 1;
                        let n = *n;
                        self.reached.loss_reconnect = true;
                        ensure(n <= m, || {
                            format!("connect {n} after a loss with max_attempts = {m}")
                        })?;
                    }
                    ensure(self.since_ready <= m + 1, || {
                        format!(
                            "connect {} since the last ready connection with max_attempts = {m}",
                            self.since_ready
                        )
                    })?;
                } else if self.since_loss.is_some() {
                    self.reached.loss_reconnect = true;
                }
                self.conn = Conn::Opening;
                self.owed.clear();
            }
            LibAction::Send => {
                ensure(!self.finished, || "writes after it finished".into())?;
                let Some(id) = self.cmd else {
                    return Err("writes with no command outstanding".into());
                };
                ensure(self.conn == Conn::Ready, || {
                    format!(
                        "writes command {id} on a connection that is {:?}",
                        self.conn
                    )
                })?;
                self.writes += 1;
                ensure(self.writes <= 1 + self.again, || {
                    format!(
                        "command {id} written {} times with {} resend(s) or retries announced",
                        self.writes, self.again
                    )
                })?;
                self.owed.push_back(Owed::Cmd(id));
            }
            LibAction::Ping => {
                ensure(!self.finished, || "pings after it finished".into())?;
                ensure(self.conn == Conn::Ready, || {
                    format!("pings on a connection that is {:?}", self.conn)
                })?;
                self.owed.push_back(Owed::Ping);
            }
            LibAction::Peek => {
                ensure(self.conn == Conn::Ready && self.cmd.is_some(), || {
                    format!("peeks with {:?} and command {:?}", self.conn, self.cmd)
                })?;
                // The world answers at once.
                let alive = !self.rand().is_multiple_of(3);
                let mut out = Vec::new();
                self.lib.peeked(self.now, alive, &mut out);
                self.apply(out)?;
            }
            LibAction::Close(why) => {
                if why == CloseWhy::PingTimeout && self.backoff() && self.conn == Conn::Ready {
                    // The library's own loss: it reconnects as after any.
                    self.since_loss = Some(0);
                }
                self.conn = Conn::None;
                self.owed.clear();
            }
            LibAction::Fail(e) => {
                let Some(id) = self.cmd.take() else {
                    return Err(format!("fails ({e:?}) with no command outstanding"));
                };
                self.last_fail = Some((id, e));
                self.reached.failed = true;
            }
            LibAction::Arm { timer, at } => {
                ensure(at >= self.now, || format!("{timer:?} armed in the past"))?;
                self.timers.push((timer, at));
            }
            LibAction::Note(n) => match n {
                LibNote::Finished => {
                    self.finished = true;
                    match self.cfg.reconnect {
                        Reconnect::Backoff(_) => {
                            ensure(self.cfg.max_attempts.is_some(), || {
                                "a backoff client with no max_attempts finished".into()
                            })?;
                            self.reached.gave_up = true;
                        }
                        Reconnect::Never => self.reached.never_finished = true,
                        Reconnect::OnNextUse | Reconnect::IdleAfterBackoff(_) => {
                            return Err("a client that reconnects on next use finished".into())
                        }
                    }
                }
                LibNote::WillResend | LibNote::RetryIn { .. } => {
                    ensure(self.cmd.is_some(), || {
                        format!("{n:?} with no command outstanding")
                    })?;
                    self.again += 1;
                    self.reached.resent = true;
                }
                LibNote::ReconnectIn { attempt, .. } => {
                    ensure(self.backoff(), || {
                        format!("{n:?} with {:?}", self.cfg.reconnect)
                    })?;
                    if let Some(m) = self.cfg.max_attempts {
                        ensure(attempt <= m, || {
                            format!("reconnect attempt {attempt} scheduled with max_attempts = {m}")
                        })?;
                    }
                }
                LibNote::BackoffFor { .. } => {
                    // Only a channel that idles after a backoff (gRPC) waits
                    // one out without reconnecting.
                    ensure(
                        matches!(self.cfg.reconnect, Reconnect::IdleAfterBackoff(_)),
                        || format!("{n:?} with {:?}", self.cfg.reconnect),
                    )?;
                }
                LibNote::Late { by, .. } => {
                    ensure(!by.is_zero(), || "late by 0".into())?;
                    self.reached.late = true;
                }
                LibNote::Queued => {
                    ensure(self.cmd.is_some(), || "queues no command".into())?;
                }
            },
        }
        Ok(())
    }
}

/// Runs one case: its checks, and which branches it reached.
fn run_case(cfg: LibConfig, seed: u64, ops: &[Op]) -> Result<Reached, String> {
    let mut w = World::new(cfg, seed);
    for (i, &op) in ops.iter().enumerate() {
        w.step(op)
            .map_err(|e| format!("op {i} {op:?} at {}: {e}", w.now))?;
    }
    w.exhaust()
        .map_err(|e| format!("at the end, at {}: {e}", w.now))?;
    Ok(w.reached)
}

#[derive(Default, Debug)]
struct Tally {
    cases: u32,
    /// Backoff client with `max_attempts`: the case reconnected after a
    /// loss.
    loss_reconnect: u32,
    gave_up: u32,
    never_finished: u32,
    resent: u32,
    late: u32,
    failed: u32,
}

#[test]
fn reconnect_never_exceeds_its_max_attempts() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut config = Config {
        cases,
        ..Config::default()
    };
    config.source_file = Some(file!());
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let strategy = (
        arb_cfg(),
        any::<u64>(),
        prop::collection::vec(arb_op(), 1..100),
    );
    let result = runner.run(&strategy, |(cfg, seed, ops)| {
        let reached = run_case(cfg, seed, &ops).map_err(TestCaseError::fail)?;
        let mut t = tally.borrow_mut();
        t.cases += 1;
        let limited = matches!(cfg.reconnect, Reconnect::Backoff(_)) && cfg.max_attempts.is_some();
        t.loss_reconnect += u32::from(limited && reached.loss_reconnect);
        t.gave_up += u32::from(reached.gave_up);
        t.never_finished += u32::from(reached.never_finished);
        t.resent += u32::from(reached.resent);
        t.late += u32::from(reached.late);
        t.failed += u32::from(reached.failed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    // Not vacuous: enough cases reached each branch.
    let t = tally.into_inner();
    let min = t.cases / 16;
    assert!(
        t.loss_reconnect >= min
            && t.gave_up >= min
            && t.never_finished >= min
            && t.resent >= min
            && t.late >= min
            && t.failed >= min,
        "too few cases exercised the branches (each needs {min}): {t:?}"
    );
}
