//! Pool configuration: the knobs real client pools expose, and presets with
//! the defaults from the libraries' code (each preset names its sources in docs/sources.md).
use std::fmt;
use thaw_core::SimDuration;

/// How idle connections are retired after `idle_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evictor {
    /// No eviction timer: `idle_timeout` (if set) is never applied
    /// (mysql2 by default, Go database/sql without `ConnMaxIdleTime`).
    None,
    /// A fixed-rate reaper armed when the pool starts and re-armed after every
    /// sweep, whether or not anything is idle: HikariCP's housekeeper
    /// (`scheduleWithFixedDelay`, 30 s), bb8's `reaper_rate` (30 s), sqlx's
    /// maintenance task (`min(max_lifetime, idle_timeout)`). The next sweep is
    /// `sweep time + period` (fixed delay): a sweep delivered late after a
    /// thaw does not burst.
    FixedInterval(SimDuration),
    /// A one-shot timer armed when a connection becomes idle (if not already
    /// armed) and re-armed after each sweep while idle connections remain:
    /// sequelize-pool's `_scheduleRemoveIdle()` (`setTimeout`, never
    /// `setInterval`), mysql2's 1 s reaper (only when `maxIdle <
    /// connectionLimit`).
    ReArmed(SimDuration),
    /// One timer per idle connection, armed at release for `idle_timeout`
    /// (only while the pool is above `min`) and void once the connection is
    /// checked out: pg-pool's per-client `setTimeout`. On expiry the
    /// connection is removed without re-checking anything.
    PerConnection,
    /// Npgsql's pruning: a one-shot timer re-armed every `interval` while
    /// the pool is above `min` samples the number of idle connections;
    /// after `samples` samples it closes the median sample's count of idle
    /// connections (oldest first, not below `min`) and starts again. No
    /// connection's own idle time is measured (`idle_timeout` is `interval`
    /// × `samples`). A freeze adds one late sample.
    Median {
        /// Between samples (`Connection Pruning Interval`).
        interval: SimDuration,
        /// Samples per decision (`Connection Idle Lifetime` / interval).
        samples: u32,
    },
}

/// What the pool checks before handing out an idle connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Nothing: the idle connection is handed out as is (pg-pool, mysql2,
    /// SQLAlchemy without `pool_pre_ping`). Requires [`OnLost::Remove`], so
    /// the pool never keeps a connection it knows is dead.
    None,
    /// A synchronous check of a flag the driver set when it processed a
    /// close/error event (sequelize's `validate()`: `!_fatalError &&
    /// !_protocolError && !_closing && !stream.destroyed`). A connection whose
    /// path died silently passes.
    Flag,
    /// A non-blocking read on the socket (go-sql-driver/mysql
    /// `checkConnLiveness`): sees an EOF or an unsolicited error packet
    /// already in the receive queue, not a silently dropped path. The pool
    /// emits [`crate::PoolAction::Validate`] and waits for
    /// [`crate::Pool::validated`].
    LivenessPeek,
    /// A round trip to the server (SQLAlchemy `pool_pre_ping`, sqlx
    /// `test_before_acquire`, bb8 `test_on_check_out`, HikariCP `isValid`
    /// after `aliveBypassWindowMs`). Sees a dead path too, at the cost of a
    /// round trip (or a timeout the world decides).
    Ping,
}

/// The check the world performs for [`crate::PoolAction::Validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Non-blocking read: EOF or unexpected bytes → dead; `EAGAIN` → alive.
    LivenessPeek,
    /// Round trip (ping / `SELECT 1` / `isValid()`).
    Ping,
    /// The keepalive query of an idle connection
    /// ([`PoolConfig::keepalive_query`]): a round trip like [`Probe::Ping`]
    /// (Npgsql's `Sync` and its `ReadyForQuery`), sent by the pool's own
    /// timer rather than by a checkout.
    KeepaliveQuery,
}

impl Probe {
    /// Short name for traces.
    pub fn name(self) -> &'static str {
        match self {
            Probe::LivenessPeek => "liveness peek",
            Probe::Ping => "ping",
            Probe::KeepaliveQuery => "keepalive query",
        }
    }
}

/// What `lost(conn)` (the driver processed a close or error event for a
/// pooled connection) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLost {
    /// Remove it: an idle connection is closed at once, one in use is closed
    /// when released (pg-pool's idle listener, mysql2's
    /// `once('end'/'error') → _removeFromPool()`, sequelize's MySQL dialect
    /// `on('error') → pool.destroy()`).
    Remove,
    /// Only mark it invalid; validation at checkout discards it (sequelize's
    /// flag check, Go's `ResetSession`, bb8/sqlx/Hikari tests on checkout).
    Mark,
    /// Nothing: the driver does not read an idle socket, so the pool never
    /// learns of a close until the connection is used (Npgsql without its
    /// `Keepalive`, psycopg).
    Ignore,
}

/// Which end of the idle list checkout takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleOrder {
    /// Most recently released first (`_availableObjects` last element,
    /// `_idle.pop()`, `_freeConnections.pop()`, Go's recent `freeConn`).
    Lifo,
    /// Least recently released first (SQLAlchemy `use_lifo=False`, bb8's
    /// default queue strategy, sqlx's idle queue).
    Fifo,
}

/// What `min` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinScope {
    /// All connections (idle + in use + opening): sequelize-pool's
    /// `size - minSize`, pg-pool's `_isAboveMin()`, sqlx `min_connections`.
    Total,
    /// Idle connections only: HikariCP `minimumIdle`, bb8 `min_idle`,
    /// mysql2's reaper (`_freeConnections.length > maxIdle`).
    Idle,
}

/// Go database/sql's `ErrBadConn` retry policy (`db.retry()`): up to
/// `attempts - 1` tries with a cached-or-new connection, then one with a
/// new connection (`maxBadConnRetries = 2` ⇒ `attempts: 3`).
///
/// The pool applies it to checkout: after `attempts - 1` cached
/// connections were discarded for one acquire (expired or failed
/// validation), that acquire waits for a new connection. The world applies
/// the same count to queries that fail with `ErrBadConn` ("when safe to
/// retry").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOnBadConn {
    /// Total attempts, including the final one on a new connection.
    pub attempts: u32,
}

/// What a failed connection attempt does to the waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOpenFailure {
    /// The oldest waiting acquire fails with the open error (sequelize-pool,
    /// pg-pool, mysql2, Go, SQLAlchemy).
    FailWaiter,
    /// Try again after `delay`; waiters keep waiting until their acquire
    /// timeout (HikariCP's creator, bb8 `retry_connection: true`, sqlx). The
    /// delay is a modelling choice: the reference does not list the
    /// libraries' backoff.
    Retry {
        /// Pause before the next attempt.
        delay: SimDuration,
    },
}

/// All knobs of one client pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Maximum connections (idle + in use + opening). `u32::MAX` = unlimited
    /// (Go `MaxOpenConns` 0).
    pub max: u32,
    /// Floor below which idle eviction does not go (see [`MinScope`]).
    pub min: u32,
    /// What `min` counts.
    pub min_scope: MinScope,
    /// Open connections to reach `min` at start and after closes/sweeps
    /// (HikariCP `fillPool()`, bb8 replenish).
    pub fill_to_min: bool,
    /// Idle connections kept on release; a connection released while this
    /// many are idle (and nobody waits) is closed: SQLAlchemy QueuePool's
    /// `pool_size` (overflow connections closed on return), Go
    /// `MaxIdleConns`.
    pub max_idle: Option<u32>,
    /// How long a connection may stay idle before the evictor may close it.
    pub idle_timeout: Option<SimDuration>,
    /// The eviction timer.
    pub evictor: Evictor,
    /// How long an acquire may wait; `None` = forever.
    pub acquire_timeout: Option<SimDuration>,
    /// Maximum age of a connection; checked at checkout, on release and by
    /// sweeps.
    pub max_lifetime: Option<SimDuration>,
    /// Also arm a per-connection lifetime timer (HikariCP's scheduled
    /// soft-evict task): idle → closed, in use → closed on release.
    pub lifetime_timer: bool,
    /// Close a connection on release after this many checkouts.
    pub max_uses: Option<u32>,
    /// Check on checkout.
    pub validation: Validation,
    /// Skip [`Validation::LivenessPeek`]/[`Validation::Ping`] for a
    /// connection idle for less than this (HikariCP `aliveBypassWindowMs`).
    pub alive_bypass: SimDuration,
    /// Reaction to `lost(conn)`.
    pub on_lost: OnLost,
    /// Checkout order of idle connections. Waiters are always served first
    /// come, first served.
    pub order: IdleOrder,
    /// Go's `ErrBadConn` retry policy, if any.
    pub retry_on_bad_conn: Option<RetryOnBadConn>,
    /// Reaction to a failed connection attempt.
    pub on_open_failure: OnOpenFailure,
    /// Enable TCP keepalive on the pool's sockets (applied by the world).
    pub keepalive: bool,
    /// A connection released as broken (a network error on it) clears the
    /// pool: every idle connection is closed at once (Npgsql's `Break()` →
    /// `DataSource.Clear()` on a transient error).
    pub clear_on_broken: bool,
    /// How long the driver waits for a validation ping's reply (deadpool-
    /// redis: redis 1.x's 500 ms response timeout); `None` = the world's
    /// rule (the first request's timeout, at most 5 s).
    pub ping_timeout: Option<SimDuration>,
    /// A keepalive query on every idle connection after this long without
    /// a query (Npgsql's `Keepalive`, seconds, 0 = off): a runtime timer per
    /// connection armed when it opens or is released and after each
    /// successful keepalive query, void while it is checked out. A failed
    /// keepalive query closes the connection (and clears the pool with
    /// [`PoolConfig::clear_on_broken`]); a checkout that takes the
    /// connection while its query is in flight waits for it and fails if
    /// it fails. `None` = off (every preset).
    pub keepalive_query: Option<SimDuration>,
}

/// A configuration the pool cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `max` is 0.
    ZeroMax,
    /// `min` exceeds `max`.
    MinAboveMax,
    /// An evictor period of zero would sweep forever at one instant.
    ZeroEvictorPeriod,
    /// [`Validation::None`] with [`OnLost::Mark`]: the pool would hand out
    /// connections it knows are dead.
    UncheckedMark,
    /// `retry_on_bad_conn.attempts` is 0.
    ZeroAttempts,
    /// [`OnOpenFailure::Retry`] with a zero delay would retry forever at one
    /// instant.
    ZeroRetryDelay,
    /// `max_uses` is 0.
    ZeroMaxUses,
    /// A keepalive query interval of zero would query forever at one
    /// instant.
    ZeroKeepaliveQuery,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroMax => "pool max must be at least 1",
            ConfigError::MinAboveMax => "pool min must not exceed max",
            ConfigError::ZeroEvictorPeriod => "evictor period must be greater than zero",
            ConfigError::UncheckedMark => {
                "validation `none` needs on_lost `remove`: a marked connection would be handed out"
            }
            ConfigError::ZeroAttempts => "retry_on_bad_conn.attempts must be at least 1",
            ConfigError::ZeroRetryDelay => "open retry delay must be greater than zero",
            ConfigError::ZeroMaxUses => "max_uses must be at least 1",
            ConfigError::ZeroKeepaliveQuery => "keepalive query interval must be greater than zero",
        })
    }
}

impl std::error::Error for ConfigError {}

const fn s(x: u64) -> SimDuration {
    SimDuration::from_secs(x)
}
const fn ms(x: u64) -> SimDuration {
    SimDuration::from_millis(x)
}

/// Retry delay for pools that retry failed opens (not in the reference).
const OPEN_RETRY: SimDuration = ms(250);

impl PoolConfig {
    /// Checks the combination; [`crate::Pool::new`] asserts it.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.max == 0 {
            return Err(ConfigError::ZeroMax);
        }
        if self.min > self.max {
            return Err(ConfigError::MinAboveMax);
        }
        match self.evictor {
            Evictor::FixedInterval(d) | Evictor::ReArmed(d) if d.is_zero() => {
                return Err(ConfigError::ZeroEvictorPeriod)
            }
            Evictor::Median { interval, samples } if interval.is_zero() || samples == 0 => {
                return Err(ConfigError::ZeroEvictorPeriod)
            }
            Evictor::None | Evictor::FixedInterval(_) | Evictor::ReArmed(_) => {}
            Evictor::PerConnection | Evictor::Median { .. } => {}
        }
        if self.validation == Validation::None && self.on_lost == OnLost::Mark {
            return Err(ConfigError::UncheckedMark);
        }
        if let Some(r) = self.retry_on_bad_conn {
            if r.attempts == 0 {
                return Err(ConfigError::ZeroAttempts);
            }
        }
        match self.on_open_failure {
            OnOpenFailure::Retry { delay } if delay.is_zero() => {
                return Err(ConfigError::ZeroRetryDelay)
            }
            OnOpenFailure::Retry { .. } | OnOpenFailure::FailWaiter => {}
        }
        if self.max_uses == Some(0) {
            return Err(ConfigError::ZeroMaxUses);
        }
        if self.keepalive_query.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroKeepaliveQuery);
        }
        Ok(())
    }

    /// Sequelize v6 (pool = sequelize-pool) (docs/sources.md: seq, seq-pool): `max: 5`, `min: 0`,
    /// `idle: 10000` ms, `acquire: 60000` ms (`ConnectionAcquireTimeoutError`),
    /// `evict: 1000` ms one-shot `setTimeout` re-armed on release and after
    /// each sweep, sync `validate()` flag check, LIFO, `maxUses` ∞, no
    /// keepalive set by sequelize (Postgres dialect: pg's `keepAlive: false`;
    /// with the MySQL dialect mysql2's `enableKeepAlive: true` applies — set
    /// `keepalive` to match). `lost` only marks (the flag).
    pub fn sequelize() -> PoolConfig {
        PoolConfig {
            max: 5,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(10)),
            evictor: Evictor::ReArmed(s(1)),
            acquire_timeout: Some(s(60)),
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::Flag,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Mark,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// The Sequelize AWS Lambda guide's pool (S4; sequelize #12819, PR
    /// #12642): `max: 2, min: 0, idle: 0, acquire: 3000, evict:
    /// CURRENT_LAMBDA_FUNCTION_TIMEOUT`, otherwise [`PoolConfig::sequelize`].
    /// The guide pairs it with `initPools()` ([`crate::Pool::reset`]) at the
    /// start and `connectionManager.close()` ([`crate::Pool::close`]) at the
    /// end of every invocation.
    pub fn sequelize_lambda_guide(function_timeout: SimDuration) -> PoolConfig {
        PoolConfig {
            max: 2,
            min: 0,
            idle_timeout: Some(SimDuration::ZERO),
            acquire_timeout: Some(ms(3000)),
            evictor: Evictor::ReArmed(function_timeout),
            ..PoolConfig::sequelize()
        }
    }

    /// node-postgres Pool (pg-pool 3.14.0 / pg 8.23.0) (docs/sources.md: pg-pool, pg): `max: 10`, `min:
    /// 0`, `idleTimeoutMillis: 10000` as a per-client `setTimeout` armed on
    /// release (only above `min`), `connectionTimeoutMillis: 0` = wait
    /// forever, no validation, LIFO `_idle.pop()`, `maxUses` ∞,
    /// `maxLifetimeSeconds: 0` (off), `keepAlive: false`; an idle client's
    /// error/end removes it (`makeIdleListener`).
    pub fn pg_pool() -> PoolConfig {
        PoolConfig {
            max: 10,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(10)),
            evictor: Evictor::PerConnection,
            acquire_timeout: None,
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Remove,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// mysql2 pool (3.23.4) (docs/sources.md: mysql2): `connectionLimit: 10`, `maxIdle` = `connectionLimit`
    /// so the idle reaper is never started (`idleTimeout: 60000` is inert),
    /// no acquire timeout (`waitForConnections: true`, `queueLimit: 0`), no
    /// validation, LIFO `_freeConnections.pop()`, `enableKeepAlive: true`
    /// (`setKeepAlive(true, undefined)`: TCP_KEEPIDLE unchanged, KEEPINTVL 1,
    /// KEEPCNT 10). `'end'`/`'error'` remove the connection. `min` holds
    /// `maxIdle`, the reaper's floor on idle connections.
    pub fn mysql2() -> PoolConfig {
        PoolConfig::mysql2_with(10, 10)
    }

    /// mysql2 with an explicit `connectionLimit` and `maxIdle`: the re-armed
    /// 1 s reaper (`_removeIdleTimeoutConnections`) runs only when `max_idle <
    /// connection_limit`, closing free connections idle > `idleTimeout` (60 s)
    /// while more than `maxIdle` are free.
    pub fn mysql2_with(connection_limit: u32, max_idle: u32) -> PoolConfig {
        let max_idle = max_idle.min(connection_limit);
        PoolConfig {
            max: connection_limit,
            min: max_idle,
            min_scope: MinScope::Idle,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(60)),
            evictor: if max_idle < connection_limit {
                Evictor::ReArmed(s(1))
            } else {
                Evictor::None
            },
            acquire_timeout: None,
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Remove,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: true,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// Go database/sql with go-sql-driver/mysql (docs/sources.md: go-sql,
    /// go-mysql): `MaxOpenConns` 0 = unlimited (`u32::MAX`), `MaxIdleConns`
    /// 2 (extra connections closed on return), `ConnMaxIdleTime` and
    /// `ConnMaxLifetime` 0 = off (no cleaner), only the `ctx` deadline as an
    /// acquire timeout, LIFO, `checkConnLiveness` (non-blocking read in
    /// `ResetSession`), and `RetryOnBadConn { attempts: 3 }`.
    pub fn go_database_sql() -> PoolConfig {
        PoolConfig {
            max: u32::MAX,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: Some(2),
            idle_timeout: None,
            evictor: Evictor::None,
            acquire_timeout: None,
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::LivenessPeek,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Mark,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: Some(RetryOnBadConn { attempts: 3 }),
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// SQLAlchemy QueuePool (2.0) (docs/sources.md: SQLA):
    /// `pool_size` 5 + `max_overflow` 10 = `max` 15, overflow connections
    /// closed on return (`max_idle` 5), `pool_timeout` 30 s, `pool_recycle`
    /// −1 (off), `pool_pre_ping` False, FIFO (`use_lifo=False`). A
    /// disconnect error invalidates the connection (`lost` removes it).
    pub fn sqlalchemy() -> PoolConfig {
        PoolConfig {
            max: 15,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: Some(5),
            idle_timeout: None,
            evictor: Evictor::None,
            acquire_timeout: Some(s(30)),
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Remove,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// HikariCP (6.0.1-SNAPSHOT) (docs/sources.md: Hikari):
    /// `maximumPoolSize` 10, `minimumIdle` = max (filled), `idleTimeout`
    /// 600 s (effective only if `minimumIdle < maximumPoolSize`),
    /// `maxLifetime` 1800 s as a per-connection task (variance not modelled),
    /// `connectionTimeout` 30 s, housekeeper fixed delay 30 s, `isValid()` on
    /// borrow if idle > `aliveBypassWindowMs` 500 ms, `keepaliveTime` 0.
    /// Checkout order: LIFO, from the borrowing thread's own list
    /// (ConcurrentBag) **\[derived\]**. Failed opens are retried until the
    /// connection timeout (retry delay: modelling choice).
    pub fn hikaricp() -> PoolConfig {
        PoolConfig {
            max: 10,
            min: 10,
            min_scope: MinScope::Idle,
            fill_to_min: true,
            max_idle: None,
            idle_timeout: Some(s(600)),
            evictor: Evictor::FixedInterval(s(30)),
            acquire_timeout: Some(s(30)),
            max_lifetime: Some(s(1800)),
            lifetime_timer: true,
            max_uses: None,
            validation: Validation::Ping,
            alive_bypass: ms(500),
            on_lost: OnLost::Mark,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::Retry { delay: OPEN_RETRY },
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// sqlx PoolOptions (docs/sources.md:
    /// sqlx): `max_connections` 10, `min_connections` 0, `idle_timeout` 10
    /// min, `max_lifetime` 30 min, `acquire_timeout` 30 s,
    /// `test_before_acquire` true (ping; a failed one closes the connection
    /// and acquire tries another), `fair: true` (FIFO), maintenance period
    /// `min(max_lifetime, idle_timeout)` = 10 min.
    pub fn sqlx() -> PoolConfig {
        PoolConfig {
            max: 10,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(600)),
            evictor: Evictor::FixedInterval(s(600)),
            acquire_timeout: Some(s(30)),
            max_lifetime: Some(s(1800)),
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::Ping,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Mark,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::Retry { delay: OPEN_RETRY },
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// bb8 (0.9.1) (docs/sources.md: bb8): `max_size` 10,
    /// `min_idle` None, `idle_timeout` 10 min, `max_lifetime` 30 min,
    /// `connection_timeout` 30 s, `retry_connection: true`,
    /// `test_on_check_out` true, `reaper_rate` 30 s, FIFO queue strategy.
    pub fn bb8() -> PoolConfig {
        PoolConfig {
            max: 10,
            min: 0,
            min_scope: MinScope::Idle,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(600)),
            evictor: Evictor::FixedInterval(s(30)),
            acquire_timeout: Some(s(30)),
            max_lifetime: Some(s(1800)),
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::Ping,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Mark,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::Retry { delay: OPEN_RETRY },
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// Npgsql 9.0.5 pool (docs/sources.md: Npgsql): `Maximum Pool Size`
    /// 100, `Minimum Pool Size` 0, `Connection Idle Lifetime` 300 s applied
    /// by pruning (a sample of the idle count every `Connection Pruning
    /// Interval` 10 s, the median of 30 closed), no check at checkout but
    /// its `IsBroken` flag (set only by its `Keepalive`, off), idle sockets
    /// never read, `Connection Lifetime` 3600 s checked at checkout,
    /// `Timeout` 15 s for a pooled connection, FIFO, a failed open goes to
    /// the caller, and a network error clears the pool.
    pub fn npgsql() -> PoolConfig {
        PoolConfig {
            max: 100,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: Some(s(300)),
            evictor: Evictor::Median {
                interval: s(10),
                samples: 30,
            },
            acquire_timeout: Some(s(15)),
            max_lifetime: Some(s(3600)),
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Ignore,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: true,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// psycopg_pool 3.3.1 `ConnectionPool` (docs/sources.md: psycopg):
    /// `min_size` 4 opened at start, `max_size` = `min_size`, `max_idle`
    /// 600 s by a `ShrinkPool` task every 600 s (it never closes below
    /// `min_size`, so with the defaults nothing), no check at checkout
    /// (`check=None`), idle sockets never read, `max_lifetime` 3600 s,
    /// `timeout` 30 s, FIFO, failed connects retried with a backoff.
    pub fn psycopg_pool() -> PoolConfig {
        PoolConfig {
            max: 4,
            min: 4,
            min_scope: MinScope::Total,
            fill_to_min: true,
            max_idle: None,
            idle_timeout: Some(s(600)),
            evictor: Evictor::FixedInterval(s(600)),
            acquire_timeout: Some(s(30)),
            max_lifetime: Some(s(3600)),
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Ignore,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::Retry { delay: s(1) },
            keepalive: true,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// deadpool 0.13 with deadpool-postgres 0.14.1 (docs/sources.md:
    /// deadpool): `max_size` = 2 × CPUs (4 assumed: what `num_cpus`
    /// reports in Lambda is not published), no wait/create/recycle
    /// timeouts, no idle timeout, no lifetime, FIFO, and
    /// `RecyclingMethod::Fast`: only `Client::is_closed()`, a flag the
    /// connection task sets when it has processed the server's close.
    pub fn deadpool_postgres() -> PoolConfig {
        PoolConfig {
            max: 4,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: None,
            evictor: Evictor::None,
            acquire_timeout: None,
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::Flag,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Mark,
            order: IdleOrder::Fifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: false,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// deadpool-redis 0.23: as [`PoolConfig::deadpool_postgres`], but every
    /// checkout pings (`UNWATCH` + `PING`); a failed ping drops the
    /// connection and checkout takes another or opens one.
    pub fn deadpool_redis() -> PoolConfig {
        PoolConfig {
            validation: Validation::Ping,
            // redis 1.x `DEFAULT_RESPONSE_TIMEOUT` (deadpool-redis 0.23).
            ping_timeout: Some(ms(500)),
            ..PoolConfig::deadpool_postgres()
        }
    }

    /// serverless-mysql (2.1.0): see [`ServerlessMysql`]; this is its
    /// single-connection pool ([`ServerlessMysql::pool`]).
    pub fn serverless_mysql() -> PoolConfig {
        ServerlessMysql::default().pool()
    }
}

/// Full-jitter exponential backoff: a draw from `0..=min(cap, base·2^n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullJitter {
    /// `base` (serverless-mysql: 2 ms).
    pub base: SimDuration,
    /// `cap` (serverless-mysql: 100 ms).
    pub cap: SimDuration,
}

impl FullJitter {
    /// Upper bound of the draw after `retries` retries: `min(cap,
    /// base·2^retries)`. The world draws uniformly in `0..=bound` from its
    /// own RNG stream.
    pub fn bound(&self, retries: u32) -> SimDuration {
        let factor = 1u64.checked_shl(retries).unwrap_or(u64::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// serverless-mysql (2.1.0) (docs/sources.md: slsmysql): one
/// mysql2 connection per container plus zombie cleanup in `end()`. The
/// world uses these values; the pool model only sees [`ServerlessMysql::pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerlessMysql {
    /// `connUtilization` as parts per thousand (0.8 → 800; the code's
    /// comment says 0.7).
    pub conn_utilization_permille: u32,
    /// `zombieMinTimeout` (3 s).
    pub zombie_min_timeout: SimDuration,
    /// `zombieMaxTimeout` (900 s).
    pub zombie_max_timeout: SimDuration,
    /// `maxConnsFreq`: how long `@@max_connections` is cached (15 s).
    pub max_conns_freq: SimDuration,
    /// `usedConnsFreq`: how long the processlist count is cached (0: every
    /// `end()`).
    pub used_conns_freq: SimDuration,
    /// `maxRetries` for connecting on too-many-connections errors (50).
    pub max_retries: u32,
    /// `backoff: 'full'` with `base` 2 ms and `cap` 100 ms.
    pub backoff: FullJitter,
    /// `maxQueryRetries` (0).
    pub max_query_retries: u32,
    /// mysql2 `enableKeepAlive` (true).
    pub keepalive: bool,
}

impl Default for ServerlessMysql {
    fn default() -> Self {
        ServerlessMysql {
            conn_utilization_permille: 800,
            zombie_min_timeout: s(3),
            zombie_max_timeout: s(900),
            max_conns_freq: ms(15_000),
            used_conns_freq: SimDuration::ZERO,
            max_retries: 50,
            backoff: FullJitter {
                base: ms(2),
                cap: ms(100),
            },
            max_query_retries: 0,
            keepalive: true,
        }
    }
}

impl ServerlessMysql {
    /// The single connection as a pool: max 1, no eviction timer, no acquire
    /// timeout, no validation; a connection `'error'` event resets the client
    /// (`lost` removes it).
    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            max: 1,
            min: 0,
            min_scope: MinScope::Total,
            fill_to_min: false,
            max_idle: None,
            idle_timeout: None,
            evictor: Evictor::None,
            acquire_timeout: None,
            max_lifetime: None,
            lifetime_timer: false,
            max_uses: None,
            validation: Validation::None,
            alive_bypass: SimDuration::ZERO,
            on_lost: OnLost::Remove,
            order: IdleOrder::Lifo,
            retry_on_bad_conn: None,
            on_open_failure: OnOpenFailure::FailWaiter,
            keepalive: self.keepalive,
            clear_on_broken: false,
            ping_timeout: None,
            keepalive_query: None,
        }
    }

    /// The zombie cleanup `end()` performs, given `used` connections of
    /// `max_conns` and the oldest sleeping connection's age: above
    /// `connUtilization` it kills this user's sleeping connections idle ≥
    /// `clamp(max_age, zombieMinTimeout, zombieMaxTimeout)`; otherwise only
    /// those idle > `zombieMaxTimeout`. `None`: nothing to kill.
    pub fn zombie_kill_threshold(
        &self,
        used: u32,
        max_conns: u32,
        max_age: SimDuration,
    ) -> Option<SimDuration> {
        let over = u64::from(used) * 1000
            > u64::from(max_conns) * u64::from(self.conn_utilization_permille);
        if over {
            Some(max_age.clamp(self.zombie_min_timeout, self.zombie_max_timeout))
        } else if max_age > self.zombie_max_timeout {
            Some(self.zombie_max_timeout)
        } else {
            None
        }
    }
}

/// What a pool's driver says when a query fails on a lost connection, when
/// the preset fixes the driver (the world adds the errno underneath, so the
/// timeline says both). Pools whose driver the scenario's server decides
/// (Sequelize, Go `database/sql`, SQLAlchemy, HikariCP, sqlx, bb8) have
/// none: the errno stands alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolMessages {
    /// The library and driver, with versions.
    pub title: &'static str,
    /// The server closed the connection (EOF).
    pub eof: &'static str,
    /// ECONNRESET or EPIPE.
    pub reset: &'static str,
    /// The kernel gave up (ETIMEDOUT).
    pub timed_out: &'static str,
    /// A query on a connection its keepalive query broke meanwhile
    /// ([`PoolConfig::keepalive_query`]), if the driver has a text for it.
    pub keepalive_failed: Option<&'static str>,
}

/// The messages of the pool preset `name`, if its driver is fixed.
pub fn pool_messages(name: &str) -> Option<PoolMessages> {
    // The drivers' texts are the library presets' (library/presets.rs),
    // read in the same sources.
    let from = |title: &'static str, lib: &str| {
        crate::library::presets::preset(lib).map(|p| PoolMessages {
            title,
            eof: p.messages.eof,
            reset: p.messages.reset,
            timed_out: p.messages.timed_out,
            keepalive_failed: None,
        })
    };
    match name {
        "pg-pool" => from("pg-pool 3.14.0 (pg 8.23.0)", "pg-client"),
        "mysql2" => from("mysql2 3.23.4 (pool)", "mysql2-connection"),
        "serverless-mysql" => from("serverless-mysql 2.1.0 (mysql2)", "mysql2-connection"),
        "psycopg-pool" => from("psycopg_pool 3.3.1 (psycopg 3.3.4)", "psycopg"),
        "deadpool-postgres" => from("deadpool-postgres 0.14.1 (tokio-postgres)", "tokio-postgres"),
        "deadpool-redis" => from("deadpool-redis 0.23 (redis 1.x)", "redis-rs"),
        // Npgsql 9.0.5 NpgsqlReadBuffer.cs: `Break(new NpgsqlException(
        // "Exception while reading from stream", e))`.
        "npgsql" => Some(PoolMessages {
            title: "Npgsql 9.0.5",
            eof: "NpgsqlException: Exception while reading from stream (EndOfStreamException: Attempted to read past the end of the stream.)",
            reset: "NpgsqlException: Exception while reading from stream (IOException: Unable to read data from the transport connection: Connection reset by peer)",
            timed_out: "NpgsqlException: Exception while reading from stream (IOException: Unable to read data from the transport connection: Connection timed out)",
            // NpgsqlConnector.cs: `PerformKeepAlive` → `Break(new
            // NpgsqlException("Exception while sending a keepalive", e))`;
            // the user action then finds the connector broken.
            keepalive_failed: Some("NpgsqlException: The connection was previously broken because of the following exception (NpgsqlException: Exception while sending a keepalive)"),
        }),
        _ => None,
    }
}
