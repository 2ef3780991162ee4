//! Sans-IO model of a client library's connection object: one Redis client
//! (ioredis, node-redis, redis-rs's `ConnectionManager`), one `pg.Client`,
//! one mysql connection. It is kept in module scope, so it lives across
//! invocations.
//!
//! Beside the pool ([`crate::Pool`]), this is the other thing a library
//! decides for the application:
//! - when a lost connection is replaced: never, on the next command, or at
//!   once with a backoff, as a runtime timer;
//! - what happens to a command issued while there is no connection: it is
//!   queued in the offline queue, or failed;
//! - what happens to a command in flight when its connection dies: it is
//!   resent after the reconnect, or rejected with the library's error;
//! - when a waiting command gives up (ioredis `maxRetriesPerRequest`);
//! - the library's own timers: the command timeout, the heartbeat PING and
//!   its timeout, and the idle check before a command (redis-py
//!   `health_check_interval`, go-redis `connCheck` and `ConnMaxIdleTime`).
//!
//! The world owns the socket and time. It feeds inputs (`command`,
//! `connected`, `connect_failed`, `lost`, `reply`, `peeked`,
//! `timer`) with `now` and carries out [`LibAction`]s. Timers are the
//! runtime's: the world holds them while the environment is frozen and
//! delivers them overdue on thaw, so a ping sent just before a freeze
//! times out at the thaw, whatever the socket holds.
//!
//! Commands are the application's requests, one at a time: an invocation
//! makes its requests in order, so at most one command is outstanding.
use std::collections::VecDeque;
use std::fmt;
use thaw_core::{SimDuration, SimTime};

pub use presets::{LibMessages, LibPreset, Reports};

/// When a lost connection is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconnect {
    /// Never: once its connection is lost the client object is finished, and
    /// every later command fails at once (`pg.Client`: "Client has
    /// encountered a connection error and is not queryable"; mysqljs:
    /// "Cannot enqueue Query after fatal error."). The application does not
    /// replace it.
    Never,
    /// When the next command comes (go-redis and redis-py take a new pooled
    /// connection; application code that replaces a dead client).
    OnNextUse,
    /// At once, as a runtime timer, after the backoff's delay for the
    /// attempt (ioredis `retryStrategy`, node-redis `reconnectStrategy`,
    /// redis-rs `ConnectionManager`).
    Backoff(Backoff),
    /// A gRPC channel: a lost connection leaves it idle and the next call
    /// opens a new one (as [`Reconnect::OnNextUse`]); a failed attempt
    /// puts it in TRANSIENT_FAILURE for the backoff's delay, during which
    /// calls fail at once, and then idle again (grpc-js `subchannel.ts`).
    IdleAfterBackoff(Backoff),
}

/// The delay before reconnect attempt `n` (1, 2, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// `min(n × step, max)`: ioredis 5 `Math.min(times * 50, 2000)`.
    Linear {
        /// Added per attempt.
        step: SimDuration,
        /// Cap.
        max: SimDuration,
    },
    /// `min(base × 2^(n − 1), max)` plus jitter: ioredis 6
    /// (`2^(times−1)·50` capped at 5000, plus 0–199 ms). With
    /// `immediate_first` the first attempt is at once and attempt `n` ≥ 2
    /// waits `min(base × 2^(n − 2), max)` plus jitter: node-redis 5
    /// (`2^retries·50` capped at 2000, plus 0–199 ms, `retries` from 0
    /// after a failed attempt).
    Exponential {
        /// First delay.
        base: SimDuration,
        /// Cap, applied before the jitter.
        max: SimDuration,
        /// Jitter added to the delay.
        jitter: Jitter,
        /// The first attempt goes at once.
        immediate_first: bool,
    },
    /// `base + uniform[0, base × 2^(n − 1))`, capped at `max`: go-redis v9
    /// `internal.RetryBackoff` (`MinRetryBackoff` 8 ms, `MaxRetryBackoff`
    /// 512 ms).
    BasePlusJitter {
        /// `MinRetryBackoff`.
        base: SimDuration,
        /// `MaxRetryBackoff`.
        max: SimDuration,
    },
    /// `min(base × factor^(n − 1), max)` with a spread: gRPC's connection
    /// backoff (1 s × 1.6, ±20 %, ≤ 120 s); StackExchange.Redis's
    /// `ExponentialRetry(2500 ms)` (uniform between the base and
    /// `min(10 s, 2.5 s × 1.1^n)`). With `immediate_first` the first
    /// attempt is at once and attempt `n` ≥ 2 uses `n − 1`.
    Geometric {
        /// First delay.
        base: SimDuration,
        /// Growth per attempt, in thousandths (1600 = × 1.6).
        factor_permille: u32,
        /// Cap, before the spread.
        max: SimDuration,
        /// How the delay is randomised.
        spread: Spread,
        /// The first attempt goes at once.
        immediate_first: bool,
    },
    /// Full jitter: uniform in `[0, min(max, base × 2^n))` (the AWS SDKs'
    /// standard retry strategy: base 100 ms, max 20 s).
    FullJitter {
        /// Base.
        base: SimDuration,
        /// Cap.
        max: SimDuration,
    },
    /// `min((n − 2) × step, max)`, 0 for the first two: node-redis 4
    /// reconnects at once after a loss, and after a failed attempt waits
    /// `Math.min(retries * 50, 500)` with `retries` counting from 0.
    ImmediateThenLinear {
        /// Added per failed attempt.
        step: SimDuration,
        /// Cap.
        max: SimDuration,
    },
}

/// How [`Backoff::Geometric`] randomises its delay `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    /// `d` itself.
    None,
    /// Uniform in `d × [1 − p, 1 + p]`, `p` in thousandths (gRPC 200).
    PlusMinus(u32),
    /// Uniform in `[base, d]` (StackExchange.Redis `ExponentialRetry`).
    FromBase,
}

/// Randomness added to a backoff delay, from the world's RNG stream
/// `library` (each call gets one draw, so a library never shifts another
/// component's stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// None.
    None,
    /// Plus a uniform draw in `[0, max)` (`Math.floor(Math.random() * 200)`
    /// ms in ioredis 6 and node-redis 5).
    Add(SimDuration),
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (≥ 1); `rand` is a
    /// uniform 64-bit draw.
    pub fn delay(&self, attempt: u32, rand: u64) -> SimDuration {
        let n = u64::from(attempt.max(1));
        match *self {
            Backoff::Linear { step, max } => step.saturating_mul(n).min(max),
            Backoff::ImmediateThenLinear { step, max } => {
                step.saturating_mul(n.saturating_sub(2)).min(max)
            }
            Backoff::BasePlusJitter { base, max } => {
                let f = 1u64
                    .checked_shl((attempt.max(1) - 1).min(63))
                    .unwrap_or(u64::MAX);
                let span = base.saturating_mul(f).as_nanos().max(1);
                base.saturating_add(SimDuration::from_nanos(rand % span))
                    .min(max)
            }
            Backoff::Geometric {
                base,
                factor_permille,
                max,
                spread,
                immediate_first,
            } => {
                let k = match (immediate_first, attempt.max(1)) {
                    (true, 1) => return SimDuration::ZERO,
                    (true, n) => n - 2,
                    (false, n) => n - 1,
                };
                // Integer growth, step by step: deterministic everywhere.
                let mut d = base.as_nanos();
                for _ in 0..k.min(200) {
                    d = (d.saturating_mul(u64::from(factor_permille)) / 1000).min(max.as_nanos());
                }
                let d = d.min(max.as_nanos());
                let span = |lo: u64, hi: u64| lo + rand % (hi - lo + 1);
                SimDuration::from_nanos(match spread {
                    Spread::None => d,
                    Spread::PlusMinus(p) => {
                        let delta = d / 1000 * u64::from(p.min(1000));
                        span(d - delta, d.saturating_add(delta))
                    }
                    Spread::FromBase => span(base.as_nanos().min(d), d),
                })
            }
            Backoff::FullJitter { base, max } => {
                let f = 1u64.checked_shl(attempt.clamp(1, 63)).unwrap_or(u64::MAX);
                let span = base.saturating_mul(f).min(max).as_nanos().max(1);
                SimDuration::from_nanos(rand % span)
            }
            Backoff::Exponential {
                base,
                max,
                jitter,
                immediate_first,
            } => {
                let k = match (immediate_first, attempt.max(1)) {
                    (true, 1) => return SimDuration::ZERO,
                    (true, n) => n - 2,
                    (false, n) => n - 1,
                };
                let f = 1u64.checked_shl(k.min(63)).unwrap_or(u64::MAX);
                let d = base.saturating_mul(f).min(max);
                match jitter {
                    Jitter::None => d,
                    Jitter::Add(j) if j.is_zero() => d,
                    Jitter::Add(j) => {
                        d.saturating_add(SimDuration::from_nanos(rand % j.as_nanos()))
                    }
                }
            }
        }
    }
}

/// What happens to a command in flight when its connection is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InFlight {
    /// It fails with the library's error for the loss (node-redis rejects
    /// what waits for a reply, pg and mysql fail the running query,
    /// redis-rs returns the error and reconnects in the background).
    Reject,
    /// It is kept and written again once a new connection is ready
    /// (ioredis `autoResendUnfulfilledCommands: true`). A write the server
    /// had applied is then applied twice.
    Resend,
    /// It is retried on a new connection after `backoff`, up to `max` times
    /// per command, when its loss is one of `on` (go-redis `MaxRetries` 3
    /// on `io.EOF` and timeouts, not on resets; the AWS SDKs on resets,
    /// EPIPE and timeouts); a failed connect for it uses up a retry too
    /// (dial errors are retried). Then it fails with the last loss.
    Retry {
        /// Retries per command.
        max: u32,
        /// Delay before retry `n`.
        backoff: Backoff,
        /// The losses it retries.
        on: LossSet,
    },
}

/// A set of [`Loss`] kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossSet {
    /// EOF.
    pub eof: bool,
    /// ECONNRESET or EPIPE.
    pub reset: bool,
    /// ETIMEDOUT, a ping timeout, or the library's own read timeout.
    pub timed_out: bool,
}

impl LossSet {
    /// Every loss.
    pub const ALL: LossSet = LossSet {
        eof: true,
        reset: true,
        timed_out: true,
    };

    /// Whether `l` is in the set.
    pub fn has(self, l: Loss) -> bool {
        match l {
            Loss::Eof => self.eof,
            Loss::Reset => self.reset,
            Loss::TimedOut | Loss::PingTimeout => self.timed_out,
        }
    }
}

/// What the library checks before it writes a command on a connection it
/// already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleCheck {
    /// Nothing (ioredis, node-redis, pg, mysql).
    None,
    /// A PING first if the connection has been idle longer than `after`
    /// (redis-py `health_check_interval`); if the ping fails the connection
    /// is closed and the command goes out on a new one.
    Ping {
        /// Idle time above which it pings.
        after: SimDuration,
    },
    /// A connection idle at least `max_idle` is replaced without looking
    /// (Momento's SDK recreates a gRPC client idle for more than 4 min);
    /// a younger one is used as it is.
    MaxIdle {
        /// The longest idle time a connection is used after.
        max_idle: SimDuration,
    },
    /// A non-blocking peek at the socket (go-redis `connCheck`:
    /// `recvfrom(MSG_PEEK|MSG_DONTWAIT)`): EOF or unexpected data means
    /// dead; a connection idle at least `max_idle` is discarded without
    /// looking (`ConnMaxIdleTime`). A dead or stale connection is closed and
    /// the command goes out on a new one.
    Peek {
        /// `ConnMaxIdleTime`; `None` = no limit.
        max_idle: Option<SimDuration>,
    },
}

/// All knobs of one library's connection object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibConfig {
    /// When a lost connection is replaced.
    pub reconnect: Reconnect,
    /// Commands issued while there is no ready connection wait for one
    /// (ioredis `enableOfflineQueue`, node-redis without
    /// `disableOfflineQueue`); otherwise they fail at once. Only while a
    /// connection is being opened or a reconnect is pending: a client with
    /// no connection and [`Reconnect::OnNextUse`] simply opens one.
    pub offline_queue: bool,
    /// What happens to a command in flight when its connection is lost.
    pub in_flight: InFlight,
    /// A waiting command fails after this many failed reconnect attempts
    /// (ioredis `maxRetriesPerRequest`: 20). `None` = it waits as long as
    /// the reconnects go on.
    pub max_retries_per_request: Option<u32>,
    /// Reconnect attempts after which the library gives up and the client
    /// is finished (redis-rs: 6); `None` = forever.
    pub max_attempts: Option<u32>,
    /// The connect timeout, from the start of connection setup until the
    /// connection is ready (ioredis and mysql 10 s, node-redis 5 s).
    pub connect_timeout: Option<SimDuration>,
    /// The library's timeout for one command's reply (ioredis
    /// `commandTimeout`, pg `query_timeout`); the connection is kept.
    pub command_timeout: Option<SimDuration>,
    /// A PING every this long while the connection is ready and idle
    /// (node-redis `pingInterval`; StackExchange.Redis `KeepAlive`).
    pub ping_interval: Option<SimDuration>,
    /// No reply to a heartbeat PING within this long: the connection is
    /// declared dead and destroyed (gRPC `keepalive_timeout`). Inert
    /// without `ping_interval` (gRPC's defaults: a 20 s timeout, no
    /// keepalive pings).
    pub ping_timeout: Option<SimDuration>,
    /// The check before a command.
    pub idle_check: IdleCheck,
    /// The library closes its connection once it has been idle this long,
    /// with a runtime timer (Node's `http.Agent` free-socket `timeout`,
    /// undici's `keepAliveTimeout`, a gRPC channel's idle timeout). No
    /// error: the next command opens a new one. `None` = kept forever.
    pub idle_close: Option<SimDuration>,
    /// Requests share the connection as streams (HTTP/2, gRPC): a command
    /// is written at once even while a heartbeat ping is outstanding,
    /// instead of waiting behind its reply.
    pub multiplexed: bool,
    /// What the library makes of the server's `Keep-Alive: timeout=N`
    /// response header (HTTP/1.1 agents).
    pub hint: HintRule,
    /// The command timeout also discards the connection (go-redis marks a
    /// connection whose read timed out as bad); otherwise it is kept and
    /// the late reply is read and dropped.
    pub timeout_closes: bool,
    /// The library reads its socket while no command is outstanding (an
    /// event loop or a read task: Node libraries, StackExchange.Redis,
    /// tokio-postgres), so a close is seen as soon as the process runs;
    /// otherwise (redis-py, go-redis, redis-rs over RESP2, PyMySQL,
    /// psycopg) only when the next command uses the connection.
    pub reads_while_idle: bool,
}

/// How an HTTP agent uses the server's `Keep-Alive: timeout=N` hint to
/// set its own idle close ([`LibConfig::idle_close`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintRule {
    /// Not read (database and cache clients, gRPC).
    Ignore,
    /// `hint − buffer` replaces the idle close when it is shorter (Node.js
    /// `http.Agent` since v19, buffer 1 s). An agent with no idle close
    /// keeps ignoring it.
    IfShorter {
        /// Subtracted from the hint.
        buffer: SimDuration,
    },
    /// `min(hint − threshold, max)` replaces the idle close (undici
    /// `keepAliveTimeoutThreshold`, `keepAliveMaxTimeout`).
    Replace {
        /// Subtracted from the hint.
        threshold: SimDuration,
        /// Cap.
        max: SimDuration,
    },
}

impl LibConfig {
    /// This configuration for a server that sends `hint` (a hint no
    /// longer than the subtracted margin is ignored: the agent would stop
    /// reusing the socket, which is not modelled).
    pub fn with_hint(mut self, hint: Option<SimDuration>) -> LibConfig {
        let Some(h) = hint else {
            return self;
        };
        match self.hint {
            HintRule::Ignore => {}
            HintRule::IfShorter { buffer } => {
                let d = h.saturating_sub(buffer);
                if let Some(cur) = self.idle_close {
                    if !d.is_zero() && d < cur {
                        self.idle_close = Some(d);
                    }
                }
            }
            HintRule::Replace { threshold, max } => {
                let d = h.saturating_sub(threshold);
                if !d.is_zero() {
                    self.idle_close = Some(d.min(max));
                }
            }
        }
        self
    }
}

impl LibConfig {
    /// A client that replaces a lost connection on the next command and
    /// checks nothing: what thaw's `global` strategy does without a library.
    pub fn plain() -> LibConfig {
        LibConfig {
            reconnect: Reconnect::OnNextUse,
            offline_queue: true,
            in_flight: InFlight::Reject,
            max_retries_per_request: None,
            max_attempts: None,
            connect_timeout: None,
            command_timeout: None,
            ping_interval: None,
            ping_timeout: None,
            idle_check: IdleCheck::None,
            idle_close: None,
            multiplexed: false,
            hint: HintRule::Ignore,
            timeout_closes: false,
            reads_while_idle: true,
        }
    }

    /// Checks the combination.
    pub fn check(&self) -> Result<(), LibConfigError> {
        if self.ping_interval.is_some_and(|d| d.is_zero()) {
            return Err(LibConfigError::ZeroPingInterval);
        }
        if self.idle_close.is_some_and(|d| d.is_zero()) {
            return Err(LibConfigError::ZeroIdleClose);
        }
        if let Reconnect::Backoff(b) | Reconnect::IdleAfterBackoff(b) = self.reconnect {
            // A delay that never grows above zero would retry forever at
            // one instant against a server that refuses.
            if b.delay(8, 0).is_zero() {
                return Err(LibConfigError::ZeroBackoff);
            }
        }
        if self.in_flight == InFlight::Resend && self.reconnect == Reconnect::Never {
            return Err(LibConfigError::ResendWithoutReconnect);
        }
        Ok(())
    }
}

/// An impossible [`LibConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibConfigError {
    /// A heartbeat every 0 s.
    ZeroPingInterval,
    /// An idle close after 0 s.
    ZeroIdleClose,
    /// A backoff whose first two delays are 0.
    ZeroBackoff,
    /// Resending in-flight commands needs a reconnect.
    ResendWithoutReconnect,
}

impl fmt::Display for LibConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibConfigError::ZeroPingInterval => "`ping_interval` must be longer than 0s",
            LibConfigError::ZeroIdleClose => {
                "`idle_close` must be longer than 0s (leave it out for a connection kept forever)"
            }
            LibConfigError::ZeroBackoff => {
                "the reconnect backoff stays at 0: it would retry forever at one instant"
            }
            LibConfigError::ResendWithoutReconnect => {
                "`in_flight = \"resend\"` needs a reconnect: with `reconnect = \"never\"` there is no connection to resend on"
            }
        })
    }
}

/// How a connection ended, as the world saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `read()` returned 0: the server closed it.
    Eof,
    /// Reset (ECONNRESET, or EPIPE on a write).
    Reset,
    /// The kernel gave up (ETIMEDOUT).
    TimedOut,
    /// The library destroyed it: its heartbeat ping timed out.
    PingTimeout,
}

impl Loss {
    /// Short name for traces.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Eof => "EOF",
            Loss::Reset => "reset",
            Loss::TimedOut => "ETIMEDOUT",
            Loss::PingTimeout => "ping timeout",
        }
    }
}

/// Why the current command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibError {
    /// Its connection was lost while it waited for the reply
    /// ([`InFlight::Reject`], or no reconnect).
    Lost(Loss),
    /// The client object is finished ([`Reconnect::Never`] after a loss,
    /// or `max_attempts` reached).
    Closed,
    /// No ready connection and no offline queue.
    Offline,
    /// The command timeout fired.
    Timeout,
    /// It waited through `max_retries_per_request` failed reconnects.
    MaxRetries(u32),
    /// Opening the connection for it failed and the library does not try
    /// again ([`Reconnect::OnNextUse`]).
    ConnectFailed(Loss),
    /// The connect timeout fired while the connection for it was opened.
    ConnectTimeout,
}

/// Why the library closes its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseWhy {
    /// The heartbeat ping got no reply in time.
    PingTimeout,
    /// The check before a command found it dead.
    CheckFailed,
    /// Idle longer than `ConnMaxIdleTime`.
    Stale,
    /// The connect timeout fired.
    ConnectTimeout,
    /// Idle for `idle_close`: the library's own idle timer.
    Idle,
    /// The command timeout fired and the library discards the connection.
    CommandTimeout,
}

impl CloseWhy {
    /// Short name for traces.
    pub fn name(self) -> &'static str {
        match self {
            CloseWhy::PingTimeout => "heartbeat ping timed out",
            CloseWhy::CheckFailed => "check before the command failed",
            CloseWhy::Stale => "idle longer than the library's maximum",
            CloseWhy::ConnectTimeout => "connect timeout",
            CloseWhy::Idle => "idle timeout of the library's kept connection",
            CloseWhy::CommandTimeout => "the command timed out: the connection is discarded",
        }
    }
}

/// A timer the library asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LibTimer {
    /// Start reconnect attempt `.0`.
    Reconnect(u64),
    /// The command timeout of command generation `.0`.
    Command(u64),
    /// Time for a heartbeat ping.
    PingDue(u64),
    /// The heartbeat ping's deadline.
    PingTimeout(u64),
    /// The connect timeout of connection attempt `.0`.
    Connect(u64),
    /// The next try of the current command ([`InFlight::Retry`]).
    Retry(u64),
    /// The idle close of an idle connection ([`LibConfig::idle_close`]).
    Idle(u64),
}

/// Why something happened, for the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibNote {
    /// A reconnect attempt is scheduled.
    ReconnectIn {
        /// Attempt number (1 = first after the loss).
        attempt: u32,
        /// Delay.
        delay: SimDuration,
    },
    /// The client object is finished.
    Finished,
    /// The command waits in the offline queue.
    Queued,
    /// The command in flight will be written again after the reconnect.
    WillResend,
    /// The command will be tried again ([`InFlight::Retry`]).
    RetryIn {
        /// Retry number (1 = first).
        retry: u32,
        /// Delay.
        delay: SimDuration,
    },
    /// [`Reconnect::IdleAfterBackoff`]: a failed attempt; calls fail at
    /// once for `delay`.
    BackoffFor {
        /// Failed attempts since the connection was last ready.
        attempt: u32,
        /// Delay.
        delay: SimDuration,
    },
    /// A timer ran late (held by a freeze).
    Late {
        /// Which.
        timer: LibTimer,
        /// By how much.
        by: SimDuration,
    },
}

/// An effect for the world to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibAction {
    /// Open a new connection (setup CPU, `connect()`, the greeting), then
    /// call `connected` or `connect_failed`.
    Connect,
    /// Write the current command on the ready connection.
    Send,
    /// Write a PING (heartbeat or check before a command); its reply comes
    /// through `reply` (or the connection is `lost`).
    Ping,
    /// Peek at the socket without blocking; answer with `peeked`.
    Peek,
    /// Close the current connection (the library's choice); the world does
    /// not call `lost` for it.
    Close(CloseWhy),
    /// The current command failed.
    Fail(LibError),
    /// Arm a runtime timer; a stale one is ignored when it fires.
    Arm {
        /// Which.
        timer: LibTimer,
        /// When.
        at: SimTime,
    },
    /// A line for the timeline.
    Note(LibNote),
}

/// What a reply answered ([`Library::reply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The current command: it succeeded.
    Command,
    /// A PING.
    Ping,
    /// A command that had already failed (its timeout fired).
    Discarded,
    /// Nothing was owed (a server's unsolicited message).
    Unexpected,
}

/// The connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// No connection and none being opened.
    Down,
    /// A connection is being opened (attempt `n`; 0 = on demand).
    Opening(u32),
    /// Ready for commands.
    Ready,
    /// Waiting for the backoff before attempt `n`.
    Waiting(u32),
    /// Finished: never again.
    Dead,
}

/// What the next reply on the connection answers: replies come in the
/// order the requests were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The current command.
    Command,
    /// A PING.
    Ping,
    /// A command that already failed (its timeout fired): the library
    /// reads its reply and drops it.
    Discard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    /// Waiting for a connection (or a check) before it is written.
    Queued,
    /// Written, waiting for the reply.
    Sent,
}

/// One library connection object.
#[derive(Clone, Debug)]
pub struct Library {
    cfg: LibConfig,
    link: Link,
    cmd: Option<Cmd>,
    /// Reconnect attempts since the connection was last ready.
    attempts: u32,
    /// A PING is outstanding.
    ping_out: bool,
    /// Retries of the current command so far ([`InFlight::Retry`]).
    retries: u32,
    retry_gen: u64,
    /// The replies the connection owes, oldest first.
    expect: VecDeque<Expect>,
    /// Last time the connection carried a command or a reply.
    last_active: SimTime,
    gen: u64,
    reconnect_gen: u64,
    command_gen: u64,
    ping_gen: u64,
    connect_gen: u64,
    idle_gen: u64,
}

impl Library {
    /// A client with no connection yet.
    pub fn new(cfg: LibConfig) -> Library {
        debug_assert!(cfg.check().is_ok());
        Library {
            cfg,
            link: Link::Down,
            cmd: None,
            attempts: 0,
            ping_out: false,
            retries: 0,
            retry_gen: 0,
            expect: VecDeque::new(),
            last_active: SimTime::ZERO,
            gen: 0,
            reconnect_gen: 0,
            command_gen: 0,
            ping_gen: 0,
            connect_gen: 0,
            idle_gen: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &LibConfig {
        &self.cfg
    }

    /// The connection's state.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Whether a command is outstanding (queued or written).
    pub fn busy(&self) -> bool {
        self.cmd.is_some()
    }

    /// Whether the outstanding command has been written.
    pub fn sent(&self) -> bool {
        self.cmd == Some(Cmd::Sent)
    }

    /// Whether a PING is outstanding.
    pub fn pinging(&self) -> bool {
        self.ping_out
    }

    /// Whether a timer or an outstanding command keeps the event loop busy.
    pub fn keeps_event_loop(&self) -> bool {
        self.cmd.is_some()
            || matches!(self.link, Link::Opening(_) | Link::Waiting(_))
            || (self.link == Link::Ready && self.cfg.ping_interval.is_some())
    }

    fn next_gen(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    fn arm(&mut self, timer: LibTimer, at: SimTime, out: &mut Vec<LibAction>) {
        out.push(LibAction::Arm { timer, at });
    }

    /// The application issues a command.
    pub fn command(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        debug_assert!(self.cmd.is_none(), "one command at a time");
        self.cmd = Some(Cmd::Queued);
        self.retries = 0;
        self.idle_gen = self.next_gen();
        // The command timeout runs from the call, whether the command is
        // written at once or waits (ioredis `sendCommand` arms it before
        // the offline queue; pg's `query_timeout` at `query()`).
        self.command_gen = self.next_gen();
        if let Some(t) = self.cfg.command_timeout {
            let g = self.command_gen;
            self.arm(LibTimer::Command(g), now + t, out);
        }
        match self.link {
            Link::Dead => self.fail(LibError::Closed, out),
            Link::Down => self.open(now, 0, out),
            Link::Waiting(_) if matches!(self.cfg.reconnect, Reconnect::IdleAfterBackoff(_)) => {
                // TRANSIENT_FAILURE: a call without `waitForReady` fails at
                // once.
                self.fail(LibError::Offline, out)
            }
            Link::Opening(_) | Link::Waiting(_) => {
                if self.cfg.offline_queue {
                    out.push(LibAction::Note(LibNote::Queued));
                } else {
                    self.fail(LibError::Offline, out);
                }
            }
            Link::Ready if self.ping_out && !self.cfg.multiplexed => {
                // A heartbeat is out: the command follows its reply (the
                // replies come in order).
                out.push(LibAction::Note(LibNote::Queued));
            }
            Link::Ready => self.check_then_send(now, out),
        }
    }

    fn check_then_send(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        let idle = now.saturating_since(self.last_active);
        match self.cfg.idle_check {
            IdleCheck::None => self.send(now, out),
            IdleCheck::Ping { after } if idle > after => {
                self.ping_out = true;
                self.expect.push_back(Expect::Ping);
                out.push(LibAction::Ping);
            }
            IdleCheck::Ping { .. } => self.send(now, out),
            IdleCheck::MaxIdle { max_idle } if idle >= max_idle => {
                out.push(LibAction::Close(CloseWhy::Stale));
                self.link = Link::Down;
                self.open(now, 0, out);
            }
            IdleCheck::MaxIdle { .. } => self.send(now, out),
            IdleCheck::Peek { max_idle } if max_idle.is_some_and(|m| idle >= m) => {
                out.push(LibAction::Close(CloseWhy::Stale));
                self.link = Link::Down;
                self.open(now, 0, out);
            }
            IdleCheck::Peek { .. } => out.push(LibAction::Peek),
        }
    }

    fn send(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        self.cmd = Some(Cmd::Sent);
        self.last_active = now;
        self.expect.push_back(Expect::Command);
        out.push(LibAction::Send);
    }

    fn fail(&mut self, e: LibError, out: &mut Vec<LibAction>) {
        if self.cmd == Some(Cmd::Sent) {
            // Still owed by the connection: read and dropped when it comes.
            if let Some(x) = self.expect.iter_mut().find(|x| **x == Expect::Command) {
                *x = Expect::Discard;
            }
        }
        if self.cmd.take().is_some() {
            self.command_gen = self.next_gen();
            out.push(LibAction::Fail(e));
        }
    }

    fn open(&mut self, now: SimTime, attempt: u32, out: &mut Vec<LibAction>) {
        self.link = Link::Opening(attempt);
        self.ping_out = false;
        self.expect.clear();
        out.push(LibAction::Connect);
        self.connect_gen = self.next_gen();
        if let Some(t) = self.cfg.connect_timeout {
            let g = self.connect_gen;
            self.arm(LibTimer::Connect(g), now + t, out);
        }
    }

    /// The connection is ready (with the greeting, if the server sends one).
    pub fn connected(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        if !matches!(self.link, Link::Opening(_)) {
            return;
        }
        self.link = Link::Ready;
        self.attempts = 0;
        self.connect_gen = self.next_gen();
        self.last_active = now;
        match self.cmd {
            Some(Cmd::Queued) => self.send(now, out),
            Some(Cmd::Sent) => debug_assert!(false, "a command was sent before the connection"),
            None => self.went_idle(now, out),
        }
    }

    /// Opening the connection failed.
    pub fn connect_failed(&mut self, now: SimTime, why: Loss, rand: u64, out: &mut Vec<LibAction>) {
        if !matches!(self.link, Link::Opening(_)) {
            return;
        }
        self.connect_gen = self.next_gen();
        match self.cfg.reconnect {
            Reconnect::Never => {
                self.link = Link::Dead;
                out.push(LibAction::Note(LibNote::Finished));
                self.fail(LibError::ConnectFailed(why), out);
            }
            Reconnect::OnNextUse => {
                self.link = Link::Down;
                if !self.retry_command(now, why, true, rand, out) {
                    self.fail(LibError::ConnectFailed(why), out);
                }
            }
            Reconnect::IdleAfterBackoff(b) => {
                self.transient_failure(now, b, rand, out);
                self.fail(LibError::ConnectFailed(why), out);
            }
            Reconnect::Backoff(_) => self.schedule_reconnect(now, rand, out),
        }
    }

    /// [`Reconnect::IdleAfterBackoff`]: a failed attempt; calls fail at once
    /// until the backoff has passed.
    fn transient_failure(&mut self, now: SimTime, b: Backoff, rand: u64, out: &mut Vec<LibAction>) {
        self.attempts += 1;
        let attempt = self.attempts;
        let delay = b.delay(attempt, rand);
        self.link = Link::Waiting(attempt);
        out.push(LibAction::Note(LibNote::BackoffFor { attempt, delay }));
        self.reconnect_gen = self.next_gen();
        let g = self.reconnect_gen;
        self.arm(LibTimer::Reconnect(g), now + delay, out);
    }

    /// The application gave up on the current command (its own reply
    /// timeout, the function's end): it is forgotten, and a reply still
    /// owed for it is read and dropped.
    pub fn abandon(&mut self) {
        if self.cmd == Some(Cmd::Sent) {
            if let Some(x) = self.expect.iter_mut().find(|x| **x == Expect::Command) {
                *x = Expect::Discard;
            }
        }
        if self.cmd.take().is_some() {
            self.command_gen = self.next_gen();
        }
    }

    /// The connection was lost (EOF, reset, the kernel gave up), whether a
    /// command was in flight or not. Not called for a [`LibAction::Close`].
    pub fn lost(&mut self, now: SimTime, why: Loss, rand: u64, out: &mut Vec<LibAction>) {
        match self.link {
            Link::Ready => {}
            Link::Opening(_) => return self.connect_failed(now, why, rand, out),
            Link::Down | Link::Waiting(_) | Link::Dead => return,
        }
        self.ping_out = false;
        self.expect.clear();
        self.ping_gen = self.next_gen();
        let mut retrying = false;
        if self.cmd == Some(Cmd::Sent) {
            match (self.cfg.in_flight, self.cfg.reconnect) {
                (
                    InFlight::Resend,
                    Reconnect::Backoff(_) | Reconnect::OnNextUse | Reconnect::IdleAfterBackoff(_),
                ) => {
                    // Its command timeout keeps running.
                    self.cmd = Some(Cmd::Queued);
                    out.push(LibAction::Note(LibNote::WillResend));
                }
                (
                    InFlight::Retry { .. },
                    Reconnect::Backoff(_) | Reconnect::OnNextUse | Reconnect::IdleAfterBackoff(_),
                ) => {
                    retrying = self.retry_command(now, why, false, rand, out);
                }
                _ => self.fail(LibError::Lost(why), out),
            }
        }
        match self.cfg.reconnect {
            Reconnect::Never => {
                self.link = Link::Dead;
                out.push(LibAction::Note(LibNote::Finished));
                self.fail(LibError::Closed, out);
            }
            Reconnect::OnNextUse | Reconnect::IdleAfterBackoff(_) => {
                self.link = Link::Down;
                if self.cmd == Some(Cmd::Queued) && !retrying {
                    self.open(now, 0, out);
                }
            }
            Reconnect::Backoff(_) => {
                self.attempts = 0;
                self.schedule_reconnect(now, rand, out);
            }
        }
    }

    /// [`InFlight::Retry`]: the command failed with `why`; if it has
    /// retries left it waits for the backoff and goes again. Returns
    /// whether it will.
    fn retry_command(
        &mut self,
        now: SimTime,
        why: Loss,
        connecting: bool,
        rand: u64,
        out: &mut Vec<LibAction>,
    ) -> bool {
        let InFlight::Retry { max, backoff, on } = self.cfg.in_flight else {
            return false;
        };
        if self.cmd.is_none() {
            // Nothing to retry (its timeout fired while the connection for
            // it was being opened).
            return false;
        }
        if self.retries >= max || !(connecting || on.has(why)) {
            self.fail(LibError::Lost(why), out);
            return false;
        }
        self.retries += 1;
        let delay = backoff.delay(self.retries, rand);
        self.cmd = Some(Cmd::Queued);
        out.push(LibAction::Note(LibNote::RetryIn {
            retry: self.retries,
            delay,
        }));
        self.retry_gen = self.next_gen();
        let g = self.retry_gen;
        self.arm(LibTimer::Retry(g), now + delay, out);
        true
    }

    /// The next reconnect attempt after a loss or a failed attempt.
    fn schedule_reconnect(&mut self, now: SimTime, rand: u64, out: &mut Vec<LibAction>) {
        let Reconnect::Backoff(b) = self.cfg.reconnect else {
            return;
        };
        // `attempts` counts the closes since the connection was last ready,
        // the loss itself included: ioredis's `retryAttempts`, which its
        // `retryStrategy(++retryAttempts)` gets and which is reset on ready.
        self.attempts += 1;
        let attempt = self.attempts;
        if self.cfg.max_attempts.is_some_and(|m| attempt > m) {
            self.link = Link::Dead;
            out.push(LibAction::Note(LibNote::Finished));
            self.fail(LibError::Closed, out);
            return;
        }
        if let (Some(max), true) = (self.cfg.max_retries_per_request, self.cmd.is_some()) {
            // ioredis `closeHandler`: `retryAttempts % (maxRetriesPerRequest
            // + 1) === 0` flushes the queues with
            // MaxRetriesPerRequestError; the reconnects go on.
            if u64::from(attempt) % (u64::from(max) + 1) == 0 {
                self.fail(LibError::MaxRetries(max), out);
            }
        }
        let delay = b.delay(attempt, rand);
        self.link = Link::Waiting(attempt);
        out.push(LibAction::Note(LibNote::ReconnectIn { attempt, delay }));
        self.reconnect_gen = self.next_gen();
        let g = self.reconnect_gen;
        self.arm(LibTimer::Reconnect(g), now + delay, out);
    }

    /// A reply arrived on the connection. Returns what it answered: the
    /// world completes the command for [`Reply::Command`] and reads the
    /// others away.
    pub fn reply(&mut self, now: SimTime, out: &mut Vec<LibAction>) -> Reply {
        if self.link != Link::Ready {
            return Reply::Unexpected;
        }
        let Some(x) = self.expect.pop_front() else {
            return Reply::Unexpected;
        };
        self.last_active = now;
        match x {
            Expect::Command => {
                self.cmd = None;
                self.command_gen = self.next_gen();
                self.arm_idle(now, out);
                if !self.ping_out {
                    self.arm_ping(now, out);
                }
                Reply::Command
            }
            Expect::Ping => {
                self.ping_out = false;
                self.ping_gen = self.next_gen();
                if self.cmd == Some(Cmd::Queued) {
                    self.send(now, out);
                } else if self.cmd.is_none() {
                    self.arm_ping(now, out);
                }
                Reply::Ping
            }
            Expect::Discard => {
                if self.cmd.is_none() {
                    self.arm_idle(now, out);
                }
                if self.cmd.is_none() && !self.ping_out {
                    self.arm_ping(now, out);
                }
                Reply::Discarded
            }
        }
    }

    /// The answer to [`LibAction::Peek`].
    pub fn peeked(&mut self, now: SimTime, alive: bool, out: &mut Vec<LibAction>) {
        if self.cmd != Some(Cmd::Queued) || self.link != Link::Ready {
            return;
        }
        if alive {
            self.send(now, out);
        } else {
            out.push(LibAction::Close(CloseWhy::CheckFailed));
            self.link = Link::Down;
            self.open(now, 0, out);
        }
    }

    /// The connection is ready with nothing outstanding.
    fn went_idle(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        self.arm_idle(now, out);
        self.arm_ping(now, out);
    }

    fn arm_idle(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        if let (Some(after), Link::Ready) = (self.cfg.idle_close, self.link) {
            self.idle_gen = self.next_gen();
            let g = self.idle_gen;
            self.arm(LibTimer::Idle(g), now + after, out);
        }
    }

    fn arm_ping(&mut self, now: SimTime, out: &mut Vec<LibAction>) {
        if let (Some(every), Link::Ready) = (self.cfg.ping_interval, self.link) {
            self.ping_gen = self.next_gen();
            let g = self.ping_gen;
            self.arm(LibTimer::PingDue(g), now + every, out);
        }
    }

    /// Whether `timer` is still armed: a cancelled one (its generation
    /// passed) does nothing when it fires, and a runtime need not hold it
    /// across a freeze (Node's `clearTimeout`).
    pub fn is_current(&self, timer: LibTimer) -> bool {
        match timer {
            LibTimer::Reconnect(g) => {
                g == self.reconnect_gen && matches!(self.link, Link::Waiting(_))
            }
            LibTimer::Command(g) => g == self.command_gen && self.cmd.is_some(),
            LibTimer::PingDue(g) => {
                g == self.ping_gen && self.link == Link::Ready && !self.ping_out
            }
            LibTimer::PingTimeout(g) => g == self.ping_gen && self.ping_out,
            LibTimer::Connect(g) => g == self.connect_gen && matches!(self.link, Link::Opening(_)),
            LibTimer::Retry(g) => g == self.retry_gen && self.cmd == Some(Cmd::Queued),
            LibTimer::Idle(g) => {
                g == self.idle_gen && self.link == Link::Ready && self.cmd.is_none()
            }
        }
    }

    /// A timer is due (possibly late: `due` is when it was meant to run).
    pub fn timer(
        &mut self,
        now: SimTime,
        timer: LibTimer,
        due: SimTime,
        rand: u64,
        out: &mut Vec<LibAction>,
    ) {
        let current = self.is_current(timer);
        if !current {
            return;
        }
        let late = now.saturating_since(due);
        if !late.is_zero() {
            out.push(LibAction::Note(LibNote::Late { timer, by: late }));
        }
        match timer {
            LibTimer::Reconnect(_)
                if matches!(self.cfg.reconnect, Reconnect::IdleAfterBackoff(_)) =>
            {
                // The backoff is over: idle; the next call connects.
                self.link = Link::Down;
                if self.cmd == Some(Cmd::Queued) {
                    self.open(now, 0, out);
                }
            }
            LibTimer::Reconnect(_) => {
                let attempt = match self.link {
                    Link::Waiting(n) => n,
                    _ => 0,
                };
                self.open(now, attempt, out);
            }
            LibTimer::Command(_) if self.cfg.timeout_closes && self.cmd == Some(Cmd::Sent) => {
                // The connection is discarded as bad; the command may be
                // retried like a loss (go-redis retries a read timeout).
                out.push(LibAction::Close(CloseWhy::CommandTimeout));
                self.link = Link::Down;
                self.ping_out = false;
                self.expect.clear();
                self.ping_gen = self.next_gen();
                let retry = match self.cfg.in_flight {
                    InFlight::Retry { max, on, .. } => self.retries < max && on.timed_out,
                    InFlight::Reject | InFlight::Resend => false,
                };
                if retry {
                    self.cmd = Some(Cmd::Queued);
                    self.retry_command(now, Loss::TimedOut, false, rand, out);
                } else {
                    self.fail(LibError::Timeout, out);
                }
            }
            LibTimer::Command(_) => self.fail(LibError::Timeout, out),
            LibTimer::Retry(_) => match self.link {
                Link::Down => self.open(now, 0, out),
                Link::Ready if !self.ping_out || self.cfg.multiplexed => {
                    self.check_then_send(now, out)
                }
                // A connection is on its way, or a ping: the command goes
                // when it is ready.
                Link::Ready | Link::Opening(_) | Link::Waiting(_) => {}
                Link::Dead => self.fail(LibError::Closed, out),
            },
            LibTimer::PingDue(_) => {
                if self.cmd.is_some() {
                    // Busy: the reply to the command shows the connection
                    // works; the next heartbeat is armed after it.
                    return;
                }
                self.ping_out = true;
                self.expect.push_back(Expect::Ping);
                out.push(LibAction::Ping);
                if let Some(t) = self.cfg.ping_timeout {
                    self.ping_gen = self.next_gen();
                    let g = self.ping_gen;
                    self.arm(LibTimer::PingTimeout(g), now + t, out);
                }
            }
            LibTimer::Idle(_) => {
                // The library's own choice: no error, the next command
                // opens a new connection.
                out.push(LibAction::Close(CloseWhy::Idle));
                self.link = Link::Down;
                self.ping_out = false;
                self.expect.clear();
                self.ping_gen = self.next_gen();
            }
            LibTimer::PingTimeout(_) => {
                out.push(LibAction::Close(CloseWhy::PingTimeout));
                self.lost(now, Loss::PingTimeout, rand, out);
            }
            LibTimer::Connect(_) => {
                out.push(LibAction::Close(CloseWhy::ConnectTimeout));
                match self.cfg.reconnect {
                    Reconnect::Backoff(_) => self.schedule_reconnect(now, rand, out),
                    Reconnect::IdleAfterBackoff(b) => {
                        self.transient_failure(now, b, rand, out);
                        self.fail(LibError::ConnectTimeout, out);
                    }
                    Reconnect::Never => {
                        self.link = Link::Dead;
                        out.push(LibAction::Note(LibNote::Finished));
                        self.fail(LibError::ConnectTimeout, out);
                    }
                    Reconnect::OnNextUse => {
                        self.link = Link::Down;
                        self.fail(LibError::ConnectTimeout, out);
                    }
                }
            }
        }
    }
}

pub mod presets;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
