//! One simulated environment's tokio runtime, driven on thaw's clock.
//!
//! The runtime is `current_thread` with a paused clock, and the harness
//! decides every move of that clock. A driver future, run with the
//! environment's `LocalSet`, moves it to a bound the harness gives:
//!
//! - it first lets every task that is ready run at the current instant:
//!   tokio's `on_thread_park` hook tells it when the runtime has nothing
//!   left to run (and it wakes the driver then, so tokio polls its timers
//!   without blocking and does not auto-advance);
//! - tokio fires timers on a 1 ms tick counted from the runtime's start
//!   (deadlines round up to the next tick), so no timer can fire between
//!   two ticks: the driver steps exactly to the next tick with
//!   `tokio::time::advance`, then sleeps to the last tick before the bound
//!   and lets tokio's auto-advance jump over idle stretches (from one tick
//!   to a later one, never past that sleep), and finally steps exactly to
//!   the bound;
//! - it stops as soon as the code queues an operation for the world, so
//!   the harness carries it out at that instant.
//!
//! A frozen environment's runtime is not polled at all; at thaw its clock
//! jumps by the frozen time in one step, and every overdue timer fires at
//! the thaw instant, as on Lambda.
use crate::bridge::{self, Ctx, Shared, Signal, MODE_OFF, MODE_SLEEP, MODE_WAIT_IDLE};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use thaw_core::{SimDuration, SimTime};

/// tokio's timer tick.
const TICK: u64 = 1_000_000;

/// Polls of the driver without the runtime ever going idle before the
/// code is declared stuck (a task that yields forever at one instant).
const MAX_BUSY_POLLS: u64 = 50_000_000;

/// Why `run_to` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The runtime is idle at the bound.
    Reached,
    /// The code queued operations at the current instant.
    Ops,
    /// The code never let the runtime go idle.
    Stuck,
}

pub(crate) struct EnvRt {
    rt: tokio::runtime::Runtime,
    pub local: tokio::task::LocalSet,
    sig: Arc<Signal>,
    pub ctx: Ctx,
    /// The runtime's clock, in simulated time.
    pub clock: SimTime,
    pub frozen: bool,
    /// Something happened for it at the current instant (events, ops
    /// carried out): run it even if its clock is at the bound.
    pub dirty: bool,
}

impl EnvRt {
    /// A runtime for `env`, created at simulated time `now`.
    pub fn new(shared: Arc<Shared>, env: u32, now: SimTime) -> std::io::Result<EnvRt> {
        let sig = Arc::new(Signal::default());
        let hook = sig.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .on_thread_park(move || hook.parked())
            .build()?;
        let base = rt.block_on(async { tokio::time::Instant::now() });
        shared.lock().drivers.insert(env, sig.clone());
        Ok(EnvRt {
            rt,
            local: tokio::task::LocalSet::new(),
            sig,
            ctx: Ctx {
                shared,
                env,
                base,
                origin: now,
            },
            clock: now,
            frozen: false,
            dirty: true,
        })
    }

    /// Runs the code from its clock to `bound` (first jumping to
    /// `catch_up` if its clock is behind: a thaw).
    pub fn run_to(&mut self, catch_up: SimTime, bound: SimTime) -> Stop {
        let drive = Drive {
            sig: self.sig.clone(),
            ctx: self.ctx.clone(),
            catch_up: catch_up.max(self.clock),
            bound: bound.max(catch_up).max(self.clock),
            step: Step::CatchUp,
            wait: None,
            polls: 0,
            stop: Stop::Reached,
        };
        let ctx = self.ctx.clone();
        let (rt, local) = (&self.rt, &self.local);
        let stop = bridge::enter(ctx, || rt.block_on(local.run_until(drive)));
        self.clock = bridge::enter(self.ctx.clone(), || {
            let _g = self.rt.enter();
            self.ctx.now()
        });
        stop
    }

    /// Runs `f` in this runtime's context (spawning, dropping tasks).
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        bridge::enter(self.ctx.clone(), || {
            let _g = self.rt.enter();
            f()
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    CatchUp,
    WaitIdle,
    /// On `wait`: an exact advance, or (mode sleep) the sleep to the last
    /// tick before the bound.
    Waiting,
}

/// The driver future (a hand-written state machine: it must observe the
/// park hook and the code's operations between its own awaits).
struct Drive {
    sig: Arc<Signal>,
    ctx: Ctx,
    catch_up: SimTime,
    bound: SimTime,
    step: Step,
    wait: Option<Pin<Box<dyn Future<Output = ()>>>>,
    polls: u64,
    stop: Stop,
}

impl Drive {
    fn instant(&self, t: SimTime) -> tokio::time::Instant {
        self.ctx.base
            + std::time::Duration::from_nanos(t.saturating_since(self.ctx.origin).as_nanos())
    }

    fn since_origin(&self, t: SimTime) -> u64 {
        t.saturating_since(self.ctx.origin).as_nanos()
    }

    /// Starts moving the clock by `d` exactly (tokio fires what is due at
    /// the next poll of its timers).
    fn advance(&mut self, d: SimDuration) {
        self.wait = Some(Box::pin(tokio::time::advance(
            std::time::Duration::from_nanos(d.as_nanos()),
        )));
        self.step = Step::Waiting;
    }

    fn wait_idle(&mut self) {
        self.sig.idle.store(false, Ordering::SeqCst);
        self.sig.mode.store(MODE_WAIT_IDLE, Ordering::SeqCst);
        self.step = Step::WaitIdle;
    }
}

impl Future for Drive {
    type Output = Stop;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Stop> {
        let this = &mut *self;
        loop {
            if this.sig.ops.load(Ordering::SeqCst) {
                this.sig.mode.store(MODE_OFF, Ordering::SeqCst);
                return Poll::Ready(Stop::Ops);
            }
            match this.step {
                Step::CatchUp => {
                    let c = this.ctx.now();
                    if this.catch_up > c {
                        // A thaw: one jump over the frozen time.
                        this.advance(this.catch_up.saturating_since(c));
                    } else {
                        this.wait_idle();
                    }
                }
                Step::Waiting => {
                    // An exact advance or the sleep to the last tick.
                    let s = this.wait.as_mut().expect("waiting");
                    match s.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            this.wait = None;
                            this.wait_idle();
                        }
                        Poll::Pending => {
                            this.sig.register(cx.waker());
                            return Poll::Pending;
                        }
                    }
                }
                Step::WaitIdle => {
                    if !this.sig.idle.load(Ordering::SeqCst) {
                        this.polls += 1;
                        if this.polls > MAX_BUSY_POLLS {
                            this.sig.mode.store(MODE_OFF, Ordering::SeqCst);
                            return Poll::Ready(Stop::Stuck);
                        }
                        this.sig.register(cx.waker());
                        return Poll::Pending;
                    }
                    this.sig.mode.store(MODE_OFF, Ordering::SeqCst);
                    // Idle at instant c: move on towards the bound.
                    let c = this.ctx.now();
                    if c >= this.bound {
                        return Poll::Ready(this.stop);
                    }
                    let off = this.since_origin(c);
                    let next_tick = (off / TICK + 1) * TICK;
                    let last_tick = this.since_origin(this.bound) / TICK * TICK;
                    if next_tick > this.since_origin(this.bound) {
                        // No tick before the bound: nothing can fire.
                        this.advance(this.bound.saturating_since(c));
                    } else if !off.is_multiple_of(TICK) {
                        // Onto tokio's tick grid first.
                        this.advance(SimDuration::from_nanos(next_tick - off));
                    } else {
                        // On the grid: sleep to the last tick before the
                        // bound; auto-advance skips the idle ticks.
                        let until =
                            this.instant(this.ctx.origin + SimDuration::from_nanos(last_tick));
                        this.wait = Some(Box::pin(tokio::time::sleep_until(until)));
                        this.sig.mode.store(MODE_SLEEP, Ordering::SeqCst);
                        this.step = Step::Waiting;
                    }
                }
            }
        }
    }
}

impl Drop for Drive {
    fn drop(&mut self) {
        self.sig.mode.store(MODE_OFF, Ordering::SeqCst);
    }
}
