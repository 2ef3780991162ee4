//! Library presets: each library's defaults and messages, read in its
//! source at the version named (docs/sources.md lists the files).
use super::{Backoff, IdleCheck, InFlight, Jitter, LibConfig, Reconnect};
use thaw_core::SimDuration;

/// What a library says when a command fails; the world adds the errno
/// underneath, so the timeline says both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibMessages {
    /// A command in flight when the server closed the connection (EOF).
    pub eof: &'static str,
    /// A command in flight when the connection was reset (ECONNRESET or
    /// EPIPE).
    pub reset: &'static str,
    /// A command in flight when the kernel gave up (ETIMEDOUT).
    pub timed_out: &'static str,
    /// A command on a client that is finished.
    pub closed: &'static str,
    /// A command while there is no connection and no offline queue.
    pub offline: &'static str,
    /// The library's command timeout fired.
    pub command_timeout: &'static str,
    /// A waiting command gave up after the reconnect attempts
    /// (`{n}` is replaced by the limit).
    pub max_retries: &'static str,
    /// The library's connect timeout fired.
    pub connect_timeout: &'static str,
    /// The heartbeat ping got no reply in time.
    pub ping_timeout: &'static str,
}

/// One library preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibPreset {
    /// Its name in scenario files.
    pub name: &'static str,
    /// The library and the version whose source gave the defaults.
    pub title: &'static str,
    /// Its knobs.
    pub config: LibConfig,
    /// Its messages.
    pub messages: LibMessages,
}

/// The preset names, for diagnostics and docs.
pub const NAMES: &[&str] = &[
    "ioredis",
    "ioredis6",
    "node-redis",
    "node-redis5",
    "pg-client",
    "mysql",
    "mysql2-connection",
    "redis-py",
    "go-redis",
    "pymysql",
    "tokio-postgres",
];

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

/// No library message for this case: the library cannot get there (a
/// client that resends never rejects for a loss; one that never reconnects
/// has no offline state).
const UNREACHED: &str = "(not reached with this library)";

/// The preset `name`, if there is one.
pub fn preset(name: &str) -> Option<LibPreset> {
    let none = LibConfig::plain();
    Some(match name {
        // redis/ioredis v5.11.1, lib/redis/RedisOptions.ts and
        // lib/redis/event_handler.ts `closeHandler`.
        "ioredis" => LibPreset {
            name: "ioredis",
            title: "ioredis 5.11.1",
            config: LibConfig {
                reconnect: Reconnect::Backoff(Backoff::Linear {
                    step: ms(50),
                    max: ms(2000),
                }),
                offline_queue: true,
                in_flight: InFlight::Resend,
                max_retries_per_request: Some(20),
                max_attempts: None,
                connect_timeout: Some(ms(10_000)),
                command_timeout: None,
                ping_interval: None,
                ping_timeout: None,
                idle_check: IdleCheck::None,
            },
            messages: IOREDIS,
        },
        // ioredis v6.0.0: the retryStrategy became exponential with jitter.
        "ioredis6" => LibPreset {
            name: "ioredis6",
            title: "ioredis 6.0.0",
            config: LibConfig {
                reconnect: Reconnect::Backoff(Backoff::Exponential {
                    base: ms(50),
                    max: ms(5000),
                    jitter: Jitter::Add(ms(200)),
                    immediate_first: false,
                }),
                ..preset("ioredis")?.config
            },
            messages: IOREDIS,
        },
        // redis/node-redis redis@4.7.1 (@redis/client 1.6.1),
        // packages/client/lib/client/socket.ts and index.ts.
        "node-redis" => LibPreset {
            name: "node-redis",
            title: "node-redis 4.7.1",
            config: LibConfig {
                reconnect: Reconnect::Backoff(Backoff::ImmediateThenLinear {
                    step: ms(50),
                    max: ms(500),
                }),
                offline_queue: true,
                in_flight: InFlight::Reject,
                max_retries_per_request: None,
                max_attempts: None,
                connect_timeout: Some(ms(5000)),
                ..none
            },
            messages: NODE_REDIS,
        },
        // redis@5.12.1: exponential with jitter from the second attempt.
        "node-redis5" => LibPreset {
            name: "node-redis5",
            title: "node-redis 5.12.1",
            config: LibConfig {
                reconnect: Reconnect::Backoff(Backoff::Exponential {
                    base: ms(50),
                    max: ms(2000),
                    jitter: Jitter::Add(ms(200)),
                    immediate_first: true,
                }),
                ..preset("node-redis")?.config
            },
            messages: NODE_REDIS,
        },
        // brianc/node-postgres pg@8.23.0, packages/pg/lib/client.js: a
        // Client is never reconnected; connectionTimeoutMillis and
        // query_timeout default to none.
        "pg-client" => LibPreset {
            name: "pg-client",
            title: "pg 8.23.0 (Client)",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                ..none
            },
            messages: LibMessages {
                eof: "Connection terminated unexpectedly",
                reset: "Connection terminated unexpectedly",
                timed_out: "Connection terminated unexpectedly",
                closed: "Client has encountered a connection error and is not queryable",
                offline: UNREACHED,
                command_timeout: "Query read timeout",
                max_retries: UNREACHED,
                connect_timeout: "timeout expired",
                ping_timeout: UNREACHED,
            },
        },
        // mysqljs/mysql v2.18.1, lib/protocol/Protocol.js: no reconnect
        // ("cannot be re-connected by design"), connectTimeout 10 s.
        "mysql" => LibPreset {
            name: "mysql",
            title: "mysql 2.18.1 (connection)",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(10_000)),
                ..none
            },
            messages: LibMessages {
                eof: "Connection lost: The server closed the connection. (PROTOCOL_CONNECTION_LOST)",
                reset: "read ECONNRESET (fatal)",
                timed_out: "read ETIMEDOUT (fatal)",
                closed: "Cannot enqueue Query after fatal error. (PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR)",
                offline: UNREACHED,
                command_timeout: "Query inactivity timeout (PROTOCOL_SEQUENCE_TIMEOUT)",
                max_retries: UNREACHED,
                connect_timeout: "connect ETIMEDOUT",
                ping_timeout: UNREACHED,
            },
        },
        // sidorares/node-mysql2 v3.23.4, lib/base/connection.js: a single
        // connection (not its pool: client.pool preset "mysql2").
        "mysql2-connection" => LibPreset {
            name: "mysql2-connection",
            title: "mysql2 3.23.4 (connection)",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(10_000)),
                ..none
            },
            messages: LibMessages {
                eof: "Connection lost: The server closed the connection. (PROTOCOL_CONNECTION_LOST)",
                reset: "read ECONNRESET (fatal)",
                timed_out: "read ETIMEDOUT (fatal)",
                closed: "Can't add new command when connection is in closed state",
                offline: UNREACHED,
                command_timeout: "Query inactivity timeout (PROTOCOL_SEQUENCE_TIMEOUT)",
                max_retries: UNREACHED,
                connect_timeout: "connect ETIMEDOUT",
                ping_timeout: UNREACHED,
            },
        },
        // redis/redis-py v5.3.1: the pool opens a connection for the next
        // command; `get_connection` checks `can_read()` on a pooled
        // connection (data or EOF waiting → reconnect); no retry by default
        // (`Retry(NoBackoff(), 0)`); no health_check_interval.
        "redis-py" => LibPreset {
            name: "redis-py",
            title: "redis-py 5.3.1",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Reject,
                idle_check: IdleCheck::Peek { max_idle: None },
                ..none
            },
            messages: LibMessages {
                eof: "ConnectionError: Connection closed by server.",
                reset: "ConnectionError: Error 104 while writing to socket. Connection reset by peer.",
                timed_out: "ConnectionError: Error 110 while reading from socket. Connection timed out.",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: "TimeoutError: Timeout reading from socket",
                max_retries: UNREACHED,
                connect_timeout: "TimeoutError: Timeout connecting to server",
                ping_timeout: UNREACHED,
            },
        },
        // redis/go-redis v9.21.0, options.go and internal/pool/pool.go:
        // MaxRetries 3 with RetryBackoff 8–512 ms, DialTimeout 5 s,
        // ReadTimeout 3 s, ConnMaxIdleTime 30 min, connCheck at checkout.
        "go-redis" => LibPreset {
            name: "go-redis",
            title: "go-redis 9.21.0",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Retry {
                    max: 3,
                    backoff: Backoff::BasePlusJitter {
                        base: ms(8),
                        max: ms(512),
                    },
                },
                connect_timeout: Some(ms(5000)),
                command_timeout: Some(ms(3000)),
                idle_check: IdleCheck::Peek {
                    max_idle: Some(ms(30 * 60 * 1000)),
                },
                ..none
            },
            messages: LibMessages {
                eof: "EOF",
                reset: "read: connection reset by peer",
                timed_out: "read: connection timed out",
                closed: "redis: client is closed",
                offline: UNREACHED,
                command_timeout: "i/o timeout",
                max_retries: UNREACHED,
                connect_timeout: "dial tcp: i/o timeout",
                ping_timeout: UNREACHED,
            },
        },
        // PyMySQL v1.1.2, pymysql/connections.py: no reconnect (outside
        // `ping(reconnect=True)`), connect_timeout 10 s.
        "pymysql" => LibPreset {
            name: "pymysql",
            title: "PyMySQL 1.1.2",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(10_000)),
                ..none
            },
            messages: LibMessages {
                eof: "OperationalError (2013, 'Lost connection to MySQL server during query')",
                reset: "OperationalError (2013, 'Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)')",
                timed_out: "OperationalError (2013, 'Lost connection to MySQL server during query ([Errno 110] Connection timed out)')",
                closed: "InterfaceError (0, '')",
                offline: UNREACHED,
                command_timeout: "OperationalError (2013, 'Lost connection to MySQL server during query (timed out)')",
                max_retries: UNREACHED,
                connect_timeout: "OperationalError (2003, \"Can't connect to MySQL server (timed out)\")",
                ping_timeout: UNREACHED,
            },
        },
        // sfackler/rust-postgres tokio-postgres v0.7.13: no reconnect, no
        // connect timeout.
        "tokio-postgres" => LibPreset {
            name: "tokio-postgres",
            title: "tokio-postgres 0.7.13",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                ..none
            },
            messages: LibMessages {
                eof: "connection closed",
                reset: "error communicating with the server: Connection reset by peer (os error 104)",
                timed_out: "error communicating with the server: Connection timed out (os error 110)",
                closed: "connection closed",
                offline: UNREACHED,
                command_timeout: "timeout waiting for server",
                max_retries: UNREACHED,
                connect_timeout: "timeout waiting for server",
                ping_timeout: UNREACHED,
            },
        },
        _ => return None,
    })
}

const IOREDIS: LibMessages = LibMessages {
    eof: "Connection is closed.",
    reset: "Connection is closed.",
    timed_out: "Connection is closed.",
    closed: "Connection is closed.",
    offline: "Stream isn't writeable and enableOfflineQueue options is false",
    command_timeout: "Command timed out",
    max_retries: "Reached the max retries per request limit (which is {n}). Refer to \"maxRetriesPerRequest\" option for details.",
    connect_timeout: "connect ETIMEDOUT",
    ping_timeout: UNREACHED,
};

const NODE_REDIS: LibMessages = LibMessages {
    eof: "Socket closed unexpectedly",
    reset: "read ECONNRESET",
    timed_out: "read ETIMEDOUT",
    closed: "The client is closed",
    offline: "The client is offline",
    command_timeout: UNREACHED,
    max_retries: UNREACHED,
    connect_timeout: "Connection timeout",
    ping_timeout: "Socket closed unexpectedly",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_preset_exists_and_is_consistent() {
        for name in NAMES {
            let p = preset(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.name, *name);
            assert_eq!(p.config.check(), Ok(()), "{name}");
        }
        assert!(preset("nope").is_none());
    }
}
