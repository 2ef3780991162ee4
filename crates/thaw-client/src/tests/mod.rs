//! Unit and property tests for thaw-client.
mod behaviour;
mod keepalive;
mod presets;
mod props;
mod thaw;

use crate::{
    CloseReason, ConnId, Pool, PoolAction, PoolConfig, PoolError, Probe, TimerId, TimerKind,
    WaiterId,
};
use thaw_core::{SimDuration, SimTime};

/// `x` milliseconds after the start.
pub(crate) fn ms(x: u64) -> SimTime {
    SimTime::from_nanos(x * 1_000_000)
}

/// `x` whole seconds after the start.
pub(crate) fn secs(x: u64) -> SimTime {
    SimTime::from_secs(x)
}

/// `x` seconds.
pub(crate) fn d(x: u64) -> SimDuration {
    SimDuration::from_secs(x)
}

pub(crate) fn w(x: u64) -> WaiterId {
    WaiterId(x)
}

/// A pool plus the timers it armed: each call returns that call's actions.
pub(crate) struct H {
    pub pool: Pool,
    pub armed: Vec<TimerId>,
}

impl H {
    pub fn new(cfg: PoolConfig) -> H {
        H {
            pool: Pool::new(cfg),
            armed: Vec::new(),
        }
    }

    fn record(&mut self, out: Vec<PoolAction>) -> Vec<PoolAction> {
        for a in &out {
            if let PoolAction::ArmTimer { id, at } = a {
                assert_eq!(id.at, *at);
                self.armed.push(*id);
            }
        }
        out
    }

    pub fn start(&mut self, t: SimTime) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.start(t, &mut out);
        self.record(out)
    }
    pub fn acquire(&mut self, t: SimTime, x: u64) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.acquire(t, w(x), &mut out);
        self.record(out)
    }
    pub fn release(&mut self, t: SimTime, c: ConnId, broken: bool) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.release(t, c, broken, &mut out);
        self.record(out)
    }
    pub fn opened(&mut self, t: SimTime, c: ConnId) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.opened(t, c, &mut out);
        self.record(out)
    }
    pub fn open_failed(&mut self, t: SimTime, c: ConnId, e: crate::OpenError) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.open_failed(t, c, e, &mut out);
        self.record(out)
    }
    pub fn lost(&mut self, t: SimTime, c: ConnId) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.lost(t, c, &mut out);
        self.record(out)
    }
    pub fn validated(&mut self, t: SimTime, c: ConnId, alive: bool) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.validated(t, c, alive, &mut out);
        self.record(out)
    }
    pub fn fire(&mut self, t: SimTime, id: TimerId) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.timer(t, id, &mut out);
        self.record(out)
    }
    pub fn close(&mut self, t: SimTime) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.close(t, &mut out);
        self.record(out)
    }
    pub fn reset(&mut self, t: SimTime) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.pool.reset(t, &mut out);
        self.record(out)
    }

    /// The most recently armed timer of this kind.
    pub fn last_timer(&self, pred: impl Fn(&TimerKind) -> bool) -> TimerId {
        *self
            .armed
            .iter()
            .rev()
            .find(|t| pred(&t.kind))
            .expect("such a timer was armed")
    }

    /// Acquire `x` and open its connection: returns the granted conn.
    pub fn checkout_new(&mut self, t: SimTime, x: u64) -> ConnId {
        let a = self.acquire(t, x);
        let c = opens(&a)[0];
        let g = self.opened(t, c);
        assert_eq!(grants(&g), vec![(w(x), c)]);
        c
    }
}

pub(crate) fn opens(a: &[PoolAction]) -> Vec<ConnId> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Open { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

pub(crate) fn grants(a: &[PoolAction]) -> Vec<(WaiterId, ConnId)> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Grant { waiter, conn } => Some((*waiter, *conn)),
            _ => None,
        })
        .collect()
}

pub(crate) fn fails(a: &[PoolAction]) -> Vec<(WaiterId, PoolError)> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Fail { waiter, error } => Some((*waiter, *error)),
            _ => None,
        })
        .collect()
}

pub(crate) fn closes(a: &[PoolAction]) -> Vec<(ConnId, CloseReason)> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Close { conn, reason } => Some((*conn, *reason)),
            _ => None,
        })
        .collect()
}

pub(crate) fn validates(a: &[PoolAction]) -> Vec<(ConnId, Probe)> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Validate { conn, method } => Some((*conn, *method)),
            _ => None,
        })
        .collect()
}

pub(crate) fn timers(a: &[PoolAction]) -> Vec<TimerId> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::ArmTimer { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

pub(crate) fn notes(a: &[PoolAction]) -> Vec<String> {
    a.iter()
        .filter_map(|x| match x {
            PoolAction::Note(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}
