//! Identifiers, effects and trace notes of the pool state machine.
use crate::config::Probe;
use std::fmt;
use thaw_core::{SimDuration, SimTime};

/// A connection, numbered by the pool when it asks for it
/// ([`PoolAction::Open`]); never reused within one [`crate::Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// One acquire, numbered by the caller. An id may be reused only after its
/// previous acquire has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(pub u64);

/// Which pool object a timer belongs to: [`crate::Pool::reset`] starts a
/// new one, and the old one lives on until its connections are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

impl fmt::Display for WaiterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acquire-{}", self.0)
    }
}

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// An acquire's deadline (`acquire`, `pool_timeout`, `connectionTimeout`).
    AcquireTimeout(WaiterId),
    /// A per-connection idle timer ([`crate::Evictor::PerConnection`]).
    IdleTimeout(ConnId),
    /// The pool's evictor sweep.
    Evictor(Epoch),
    /// A per-connection lifetime timer (`lifetime_timer`).
    Lifetime(ConnId),
    /// The next attempt after a failed open ([`crate::OnOpenFailure::Retry`]).
    OpenRetry(Epoch),
    /// An idle connection's keepalive query is due
    /// ([`crate::PoolConfig::keepalive_query`]).
    KeepaliveQuery(ConnId),
}

/// A timer the pool asked for. The generation is unique per arm: a timer
/// whose generation is no longer current is ignored when it fires (that is
/// how timers are cancelled; there is no cancel effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    /// What it is for.
    pub kind: TimerKind,
    /// Generation.
    pub gen: u64,
    /// When it is due (the same as [`PoolAction::ArmTimer`]'s `at`); a
    /// delivery after this is late, e.g. held back by a freeze.
    pub at: SimTime,
}

/// Why opening a connection failed (reported by the world).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Connection refused (RST to the SYN).
    Refused,
    /// The connect or handshake timed out (kernel `ETIMEDOUT` or a driver
    /// `connectTimeout`).
    TimedOut,
    /// Reset during the handshake.
    Reset,
    /// The server refused the session: too many connections.
    TooManyConnections,
}

impl OpenError {
    /// Short name for traces.
    pub fn name(self) -> &'static str {
        match self {
            OpenError::Refused => "connection refused",
            OpenError::TimedOut => "connect timed out",
            OpenError::Reset => "reset during connect",
            OpenError::TooManyConnections => "too many connections",
        }
    }
}

/// Why an acquire failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The acquire timer fired before a connection was granted
    /// (`ConnectionAcquireTimeoutError`, "QueuePool limit ... timed out",
    /// `SQLTransientConnectionException`, `PoolTimedOut`).
    AcquireTimeout {
        /// Time from acquire to the (possibly late) timer.
        waited: SimDuration,
    },
    /// The pool was closed (acquire after `close()`, or pending at close).
    Closed,
    /// Opening a connection for this acquire failed.
    Open(OpenError),
    /// The acquire took an idle connection whose keepalive query was in
    /// flight, waited for it, and the keepalive query failed (Npgsql: the
    /// user action waits on the connector's lock, then finds it broken).
    KeepaliveFailed {
        /// The connection the keepalive query broke.
        conn: ConnId,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::AcquireTimeout { waited } => write!(f, "acquire timed out after {waited}"),
            PoolError::Closed => f.write_str("pool is closed"),
            PoolError::Open(e) => write!(f, "open failed: {}", e.name()),
            PoolError::KeepaliveFailed { conn } => {
                write!(f, "{conn} was broken by its keepalive query")
            }
        }
    }
}

/// Why the pool closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Idle for at least `idle_timeout` (evictor sweep or per-connection
    /// timer).
    Idle,
    /// Older than `max_lifetime`.
    Lifetime,
    /// Checked out `max_uses` times.
    MaxUses,
    /// Released as broken by the caller (`release(err)`).
    Broken,
    /// The driver processed a close/error event (`lost`) and the pool
    /// removes such connections.
    Lost,
    /// Checkout validation failed.
    Invalid(InvalidBy),
    /// Released while `max_idle` connections were idle (SQLAlchemy overflow,
    /// Go `MaxIdleConns`).
    OverMaxIdle,
    /// The pool was closed.
    PoolClosed,
    /// Another connection broke and the pool was cleared
    /// ([`crate::PoolConfig::clear_on_broken`]).
    Cleared,
}

impl CloseReason {
    /// Short name for traces.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle timeout",
            CloseReason::Lifetime => "max lifetime",
            CloseReason::MaxUses => "max uses",
            CloseReason::Broken => "released broken",
            CloseReason::Lost => "lost (close/error event processed)",
            CloseReason::Invalid(InvalidBy::Flag) => "validation failed: flag set",
            CloseReason::Invalid(InvalidBy::Probe(Probe::LivenessPeek)) => {
                "validation failed: liveness peek"
            }
            CloseReason::Invalid(InvalidBy::Probe(Probe::Ping)) => "validation failed: ping",
            CloseReason::Invalid(InvalidBy::Probe(Probe::KeepaliveQuery)) => {
                "keepalive query failed"
            }
            CloseReason::OverMaxIdle => "over max idle on return",
            CloseReason::PoolClosed => "pool closed",
            CloseReason::Cleared => "pool cleared after a broken connection",
        }
    }
}

/// Which check found a connection invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidBy {
    /// The driver's flag (set by `lost`), read synchronously.
    Flag,
    /// A probe the world performed.
    Probe(Probe),
}

/// Why something happened, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolNote {
    /// An evictor sweep ran.
    Sweep {
        /// Connections closed for idleness.
        destroyed: u32,
        /// Connections closed for lifetime.
        expired: u32,
        /// Expired-by-idleness connections kept because of `min`.
        kept_for_min: u32,
        /// The idle timeout applied.
        idle_timeout: Option<SimDuration>,
        /// How late the sweep ran (a frozen environment delivers it on thaw).
        late_by: SimDuration,
    },
    /// A per-connection idle timer removed a connection.
    IdleTimerFired {
        /// The connection.
        conn: ConnId,
        /// How long it had been idle.
        idle_for: SimDuration,
        /// How late the timer ran.
        late_by: SimDuration,
    },
    /// An acquire's timer fired before it was granted.
    AcquireTimedOut {
        /// The acquire.
        waiter: WaiterId,
        /// Time from acquire to now.
        waited: SimDuration,
        /// The configured timeout.
        timeout: SimDuration,
        /// How late the timer ran.
        late_by: SimDuration,
    },
    /// An idle connection was handed out.
    Reused {
        /// The acquire.
        waiter: WaiterId,
        /// The connection.
        conn: ConnId,
        /// How long it had been idle.
        idle_for: SimDuration,
        /// Whether a probe confirmed it.
        probed: bool,
    },
    /// A probe was skipped because the connection was used recently
    /// (HikariCP `aliveBypassWindowMs`).
    ProbeBypassed {
        /// The connection.
        conn: ConnId,
        /// How long it had been idle.
        idle_for: SimDuration,
    },
    /// The driver processed a close/error event for a pooled connection.
    LostMarked {
        /// The connection.
        conn: ConnId,
        /// Whether it was in use (a removal then waits for release).
        in_use: bool,
    },
    /// Go's `ErrBadConn` policy: this acquire has used its cached attempts
    /// and waits for a new connection.
    BadConnRetriesExhausted {
        /// The acquire.
        waiter: WaiterId,
        /// Cached connections discarded for it.
        discarded: u32,
    },
    /// Opening a connection failed.
    OpenFailed {
        /// The connection that was being opened.
        conn: ConnId,
        /// Why.
        error: OpenError,
        /// Whether the pool will retry.
        retry: bool,
    },
    /// A connection finished opening after its pool was closed; it is
    /// closed at once.
    OpenedAfterClose {
        /// The connection.
        conn: ConnId,
    },
    /// `reset()`: a new pool object replaced the old one, which keeps its
    /// connections and timers until they are gone.
    Reset {
        /// The new pool's epoch.
        epoch: Epoch,
        /// Idle connections left behind in the old pool.
        orphaned_idle: u32,
        /// In-use connections left behind in the old pool.
        orphaned_in_use: u32,
    },
    /// `close()`.
    Closed {
        /// Idle connections closed now.
        idle_closed: u32,
        /// In-use connections that will be closed on release.
        in_use: u32,
        /// Pending acquires failed.
        waiters_failed: u32,
    },
    /// A broken connection cleared the pool (Npgsql `DataSource.Clear()`).
    Cleared {
        /// Idle connections closed.
        closed: u32,
    },
    /// [`crate::Evictor::Median`] took a sample late (held by a freeze).
    Sampled {
        /// Samples so far.
        sample: u32,
        /// Samples per decision.
        of: u32,
        /// How late.
        late_by: SimDuration,
    },
    /// [`crate::Evictor::Median`] decided.
    Pruned {
        /// The median of the sampled idle counts.
        median_idle: u32,
        /// Connections closed.
        destroyed: u32,
        /// How late the last sample was.
        late_by: SimDuration,
    },
    /// The fixed-rate evictor ran more than 1.5 periods late (HikariCP logs
    /// "Thread starvation or clock leap detected").
    ClockLeap {
        /// Delay since the previous sweep.
        delta: SimDuration,
    },
    /// An idle connection's keepalive timer fired: its keepalive query goes
    /// out.
    KeepaliveQuery {
        /// The connection.
        conn: ConnId,
        /// Since it was last released (or opened).
        idle_for: SimDuration,
        /// How late the timer ran (held while frozen).
        late_by: SimDuration,
    },
    /// An acquire took an idle connection whose keepalive query is in
    /// flight, and waits for it.
    WaitsForKeepalive {
        /// The acquire.
        waiter: WaiterId,
        /// The connection.
        conn: ConnId,
    },
}

impl fmt::Display for PoolNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolNote::Sweep {
                destroyed,
                expired,
                kept_for_min,
                idle_timeout,
                late_by,
            } => {
                let plural = if destroyed == 1 { "" } else { "s" };
                write!(f, "evictor sweep: destroyed {destroyed} idle connection{plural}")?;
                if let Some(idle) = idle_timeout {
                    write!(f, " idle ≥ {idle}")?;
                }
                if expired > 0 {
                    write!(f, ", {expired} past max lifetime")?;
                }
                if kept_for_min > 0 {
                    write!(f, ", kept {kept_for_min} for min")?;
                }
                if !late_by.is_zero() {
                    write!(f, " (ran {late_by} late)")?;
                }
                Ok(())
            }
            PoolNote::IdleTimerFired {
                conn,
                idle_for,
                late_by,
            } => {
                write!(f, "idle timer: removed {conn} after {idle_for} idle")?;
                if !late_by.is_zero() {
                    write!(f, " (ran {late_by} late)")?;
                }
                Ok(())
            }
            PoolNote::AcquireTimedOut {
                waiter,
                waited,
                timeout,
                late_by,
            } => {
                write!(f, "{waiter} timed out after {waited} (timeout {timeout}")?;
                if !late_by.is_zero() {
                    write!(f, ", timer ran {late_by} late")?;
                }
                f.write_str(")")
            }
            PoolNote::Reused {
                waiter,
                conn,
                idle_for,
                probed,
            } => {
                write!(f, "{waiter} got idle {conn} (idle {idle_for}")?;
                f.write_str(if probed { ", probe ok)" } else { ")" })
            }
            PoolNote::ProbeBypassed { conn, idle_for } => {
                write!(f, "probe skipped for {conn}: idle only {idle_for}")
            }
            PoolNote::LostMarked { conn, in_use } => {
                write!(f, "driver saw {conn} close")?;
                f.write_str(if in_use { " while in use" } else { " while idle" })
            }
            PoolNote::BadConnRetriesExhausted { waiter, discarded } => write!(
                f,
                "{waiter}: {discarded} bad cached connections, next attempt on a new connection"
            ),
            PoolNote::OpenFailed { conn, error, retry } => {
                write!(f, "opening {conn} failed: {}", error.name())?;
                if retry {
                    f.write_str(" (will retry)")?;
                }
                Ok(())
            }
            PoolNote::OpenedAfterClose { conn } => {
                write!(f, "{conn} opened after the pool was closed")
            }
            PoolNote::Reset {
                epoch,
                orphaned_idle,
                orphaned_in_use,
            } => write!(
                f,
                "pool reset (epoch {}): old pool keeps {orphaned_idle} idle and {orphaned_in_use} in-use connections",
                epoch.0
            ),
            PoolNote::Closed {
                idle_closed,
                in_use,
                waiters_failed,
            } => write!(
                f,
                "pool closed: {idle_closed} idle closed, {in_use} in use close on release, {waiters_failed} waiting acquires failed"
            ),
            PoolNote::Cleared { closed } => write!(
                f,
                "pool cleared after a broken connection: {closed} idle connection(s) closed (Npgsql clears its pool on a network error)"
            ),
            PoolNote::Sampled { sample, of, late_by } => write!(
                f,
                "pruning sample {sample} of {of} taken {late_by} late (held while frozen)"
            ),
            PoolNote::Pruned {
                median_idle,
                destroyed,
                late_by,
            } => write!(
                f,
                "pruning: the median of the sampled idle counts is {median_idle}; {destroyed} idle connection(s) closed{}",
                if late_by.is_zero() {
                    String::new()
                } else {
                    format!(" (last sample {late_by} late)")
                }
            ),
            PoolNote::KeepaliveQuery {
                conn,
                idle_for,
                late_by,
            } => {
                write!(f, "keepalive query on idle {conn} (idle {idle_for}")?;
                if !late_by.is_zero() {
                    write!(f, ", timer ran {late_by} late: held while frozen")?;
                }
                f.write_str(")")
            }
            PoolNote::WaitsForKeepalive { waiter, conn } => write!(
                f,
                "{waiter} got idle {conn}, whose keepalive query is in flight, and waits for it"
            ),
            PoolNote::ClockLeap { delta } => {
                write!(f, "the evictor runs {delta} after its previous sweep, more than 1.5 periods late (held by a freeze; HikariCP's housekeeper logs \"Thread starvation or clock leap detected\" for this)")
            }
        }
    }
}

/// Effects of feeding the pool an input, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolAction {
    /// Open a new connection; answer with [`crate::Pool::opened`] or
    /// [`crate::Pool::open_failed`].
    Open {
        /// The id the pool gave it.
        conn: ConnId,
    },
    /// The acquire got this connection.
    Grant {
        /// The acquire.
        waiter: WaiterId,
        /// The connection.
        conn: ConnId,
    },
    /// The acquire failed.
    Fail {
        /// The acquire.
        waiter: WaiterId,
        /// Why.
        error: PoolError,
    },
    /// Close this connection (the world closes its socket).
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Probe this idle connection; answer with [`crate::Pool::validated`].
    Validate {
        /// The connection.
        conn: ConnId,
        /// How.
        method: Probe,
    },
    /// Deliver [`crate::Pool::timer`] with this id at `at` (or later, if the
    /// environment is frozen then).
    ArmTimer {
        /// The timer.
        id: TimerId,
        /// When it is due.
        at: SimTime,
    },
    /// Explain a decision (trace only).
    Note(PoolNote),
}
