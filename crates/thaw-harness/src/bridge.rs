//! What the networking shim and the harness share: the sockets as the code
//! sees them (bytes received, EOF, the pending error), the operations the
//! code asked for and the world has not carried out yet, and the wakers.
//!
//! The shim never touches the world: it reads its socket's mirror and
//! queues operations stamped with the simulated instant; the harness
//! carries them out in time order and fills the mirrors from the world's
//! socket events.
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use thaw_core::{SimDuration, SimTime};
use thaw_net::{Errno, Keepalive};
use thaw_sim::{ErrorKind, SockOpts};

/// An operation of the code, for the world.
#[derive(Debug)]
pub(crate) enum Op {
    Connect {
        key: u64,
        port: u16,
        opts: SockOpts,
    },
    Send {
        key: u64,
        bytes: Vec<u8>,
    },
    Close {
        key: u64,
    },
    Finish {
        seq: u64,
        error: Option<(ErrorKind, String)>,
        code: crate::CodeOutcome,
    },
}

#[derive(Debug)]
pub(crate) struct PendingOp {
    pub env: u32,
    pub at: SimTime,
    pub op: Op,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnState {
    Connecting,
    Open,
    Failed(Errno),
}

/// One socket as the code sees it.
#[derive(Debug)]
pub(crate) struct Mirror {
    pub env: u32,
    /// The world's socket, once the connect was carried out.
    pub ext: Option<thaw_sim::ExtSock>,
    pub state: ConnState,
    pub rx: VecDeque<u8>,
    pub eof: bool,
    /// The error the next read or write returns (once).
    pub error: Option<Errno>,
    /// The error was reported: reads return 0, writes EPIPE.
    pub dead: bool,
    pub shut_wr: bool,
    pub local_port: u16,
    pub read_waker: Option<Waker>,
    pub conn_waker: Option<Waker>,
}

impl Mirror {
    pub fn wake(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.conn_waker.take() {
            w.wake();
        }
    }
}

/// A log line of the code's own (`tracing`), at its simulated instant.
#[derive(Debug)]
pub(crate) struct Log {
    pub at: SimTime,
    pub env: u32,
    pub level: thaw_core::Level,
    pub text: String,
}

#[derive(Debug, Default)]
pub(crate) struct Bridge {
    pub next_key: u64,
    pub socks: BTreeMap<u64, Mirror>,
    pub ops: Vec<PendingOp>,
    pub gone: BTreeSet<u32>,
    pub drivers: BTreeMap<u32, Arc<Signal>>,
    pub logs: Vec<Log>,
    pub keepalive: Keepalive,
    /// The last socket error the code of each environment was handed in
    /// its current invocation: the errno under a library's own error.
    pub last_errno: BTreeMap<u32, Errno>,
}

/// The shared state: one per harness run.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    inner: Mutex<Bridge>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Bridge> {
        // A panic while locked (in the code under test) leaves the data as
        // it was: nothing half-written matters more than finishing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Bridge {
    /// Queues an operation of `env`'s code and stops its runtime so that
    /// the harness carries it out before time moves on.
    pub fn push(&mut self, env: u32, at: SimTime, op: Op) {
        if self.gone.contains(&env) {
            return;
        }
        self.ops.push(PendingOp { env, at, op });
        if let Some(d) = self.drivers.get(&env) {
            d.op_pending();
        }
    }
}

/// Driver modes of a runtime (see `rt.rs`).
pub(crate) const MODE_OFF: u8 = 0;
pub(crate) const MODE_WAIT_IDLE: u8 = 1;
pub(crate) const MODE_SLEEP: u8 = 2;

/// How the code and tokio's park hook reach a runtime's driver future.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    pub mode: AtomicU8,
    pub idle: AtomicBool,
    pub ops: AtomicBool,
    pub waker: Mutex<Option<Waker>>,
}

impl Signal {
    pub fn wake(&self) {
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }

    pub fn register(&self, w: &Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(w.clone());
    }

    pub fn op_pending(&self) {
        self.ops.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// tokio's `on_thread_park`: the runtime has nothing to run.
    pub fn parked(&self) {
        if self.mode.load(Ordering::SeqCst) == MODE_WAIT_IDLE {
            self.idle.store(true, Ordering::SeqCst);
            self.wake();
        }
    }
}

/// The environment whose runtime is being polled, and its clock mapping.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub env: u32,
    pub base: tokio::time::Instant,
    pub origin: SimTime,
}

impl Ctx {
    /// The simulated instant of the runtime's clock.
    pub fn now(&self) -> SimTime {
        let d = tokio::time::Instant::now().saturating_duration_since(self.base);
        self.origin + SimDuration::from_nanos(d.as_nanos().min(u64::MAX as u128) as u64)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

/// Runs `f` with `ctx` as the current environment.
pub(crate) fn enter<R>(ctx: Ctx, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Ctx>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(ctx));
    let _reset = Reset(prev);
    f()
}

/// The current environment, if the harness is polling one.
pub(crate) fn current() -> Option<Ctx> {
    CURRENT.with(|c| c.borrow().clone())
}
