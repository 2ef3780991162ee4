//! Library presets: each library's defaults and messages, read in its
//! source at the version named (docs/sources.md lists the files).
use super::{
    Backoff, HintRule, IdleCheck, InFlight, Jitter, LibConfig, LossSet, Reconnect, Spread,
};
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

/// What the application is told when a call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reports {
    /// The errno underneath, or the library's own kind (closed, offline,
    /// max retries, its timeout): database and cache clients, HTTP agents.
    Errno,
    /// A gRPC status: `UNAVAILABLE` for a lost, refused or unopenable
    /// transport, `DEADLINE_EXCEEDED` for the call's deadline; the errno
    /// goes into the details.
    GrpcStatus,
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
    /// How failures are reported.
    pub reports: Reports,
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
    "node-http-agent",
    "undici",
    "grpc-js",
    "aws-sdk-v3",
    "psycopg",
    "stackexchange-redis",
    "redis-rs",
    "hyper-util",
    "requests",
    "urllib3",
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
                idle_close: None,
                multiplexed: false,
                hint: HintRule::Ignore,
                timeout_closes: false,
                reads_while_idle: true,
            },
            messages: IOREDIS,
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
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
                // No read loop: a close is seen at the next command.
                reads_while_idle: false,
                ..none
            },
            messages: LibMessages {
                eof: "ConnectionError: Connection closed by server.",
                reset: "ConnectionError: Error while reading from redis:6379 : (104, 'Connection reset by peer')",
                timed_out: "ConnectionError: Error 110 while reading from socket. Connection timed out.",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: "TimeoutError: Timeout reading from socket",
                max_retries: UNREACHED,
                connect_timeout: "TimeoutError: Timeout connecting to server",
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
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
                    // error.go `shouldRetry`: io.EOF, timeouts; not
                    // "connection reset by peer" nor "broken pipe".
                    on: LossSet {
                        eof: true,
                        reset: false,
                        timed_out: true,
                    },
                },
                // A read timeout marks the connection bad (pool.go
                // `Remove`), and the timeout is retried.
                timeout_closes: true,
                connect_timeout: Some(ms(5000)),
                command_timeout: Some(ms(3000)),
                idle_check: IdleCheck::Peek {
                    max_idle: Some(ms(30 * 60 * 1000)),
                },
                // No read loop: a close is seen at the next command.
                reads_while_idle: false,
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
            reports: Reports::Errno,
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
                // No read loop: a close is seen at the next command.
                reads_while_idle: false,
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
            reports: Reports::Errno,
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
            reports: Reports::Errno,
        },
        // Node.js v20.20.2 lib/_http_agent.js: since v19 (PR #43522) the
        // global agent is `{ keepAlive: true, scheduling: 'lifo', timeout:
        // 5000 }`; a free socket is destroyed by its 'timeout'; a server's
        // `Keep-Alive: timeout=N` makes it N − 1 s if that is shorter
        // (PR #54863). No connect timeout, no request timeout, no retry.
        "node-http-agent" => LibPreset {
            name: "node-http-agent",
            title: "Node.js 20 http.globalAgent",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Reject,
                idle_close: Some(ms(5000)),
                hint: HintRule::IfShorter { buffer: ms(1000) },
                ..none
            },
            messages: LibMessages {
                eof: "Error: socket hang up (ECONNRESET)",
                reset: "Error: read ECONNRESET",
                timed_out: "Error: read ETIMEDOUT",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: UNREACHED,
                max_retries: UNREACHED,
                connect_timeout: UNREACHED,
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // hyperium/hyper-util 0.1 src/client/legacy/client.rs `Builder::new`
        // and pool.rs: an idle connection expires after `pool_idle_timeout`
        // 90 s, checked when a request takes it from the pool (`idle_at`
        // against `Instant::now()`); the connection task reads an idle
        // socket and drops it at EOF; no connect timeout (`HttpConnector`)
        // and no request timeout; `retry_canceled_requests` resends only a
        // request never written, so one written on a dead connection fails.
        // The client of reqwest and of the AWS Lambda Web Adapter.
        "hyper-util" => LibPreset {
            name: "hyper-util",
            title: "hyper-util 0.1 legacy Client (reqwest, Lambda Web Adapter)",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Reject,
                idle_check: IdleCheck::MaxIdle {
                    max_idle: ms(90_000),
                },
                ..none
            },
            messages: LibMessages {
                eof: "hyper_util::client::legacy::Error(SendRequest, hyper::Error(IncompleteMessage))",
                reset: "hyper_util::client::legacy::Error(SendRequest, hyper::Error(Io, Os { code: 104, kind: ConnectionReset }))",
                timed_out: "hyper_util::client::legacy::Error(SendRequest, hyper::Error(Io, Os { code: 110, kind: TimedOut }))",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: UNREACHED,
                max_retries: UNREACHED,
                connect_timeout: UNREACHED,
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // nodejs/undici v8.10.0 lib/dispatcher/client.js and client-h1.js:
        // keepAliveTimeout 4 s without a server hint, else min(hint −
        // keepAliveTimeoutThreshold 2 s (1 s before v6.14.1),
        // keepAliveMaxTimeout 600 s); connect timeout 10 s, headersTimeout
        // 300 s; a request already written is not sent again.
        "undici" => LibPreset {
            name: "undici",
            title: "undici 8.10 (Node's fetch)",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(10_000)),
                command_timeout: Some(ms(300_000)),
                idle_close: Some(ms(4000)),
                hint: HintRule::Replace {
                    threshold: ms(2000),
                    max: ms(600_000),
                },
                ..none
            },
            messages: LibMessages {
                eof: "TypeError: fetch failed (cause: SocketError: other side closed, UND_ERR_SOCKET)",
                reset: "TypeError: fetch failed (cause: Error: read ECONNRESET)",
                timed_out: "TypeError: fetch failed (cause: Error: read ETIMEDOUT)",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: "TypeError: fetch failed (cause: HeadersTimeoutError, UND_ERR_HEADERS_TIMEOUT)",
                max_retries: UNREACHED,
                connect_timeout: "TypeError: fetch failed (cause: ConnectTimeoutError, UND_ERR_CONNECT_TIMEOUT)",
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // grpc/grpc-node @grpc/grpc-js 1.14.3 transport.ts,
        // internal-channel.ts: keepalive pings off unless
        // `grpc.keepalive_time_ms` is set, `grpc.keepalive_timeout_ms`
        // 20 s; a lost transport or a GOAWAY sends the subchannel to IDLE
        // and the next call reconnects; the calls on a lost transport end
        // UNAVAILABLE "Connection dropped"; no connect timeout of its own;
        // a call has no deadline unless it sets one;
        // `grpc.client_idle_timeout_ms` 30 min; HTTP/2 streams share the
        // connection.
        "grpc-js" => LibPreset {
            name: "grpc-js",
            title: "@grpc/grpc-js 1.14.3",
            config: LibConfig {
                // backoff-timeout.ts: 1 s × 1.6, jitter 0.2, ≤ 120 s.
                reconnect: Reconnect::IdleAfterBackoff(Backoff::Geometric {
                    base: ms(1000),
                    factor_permille: 1600,
                    max: ms(120_000),
                    spread: Spread::PlusMinus(200),
                    immediate_first: false,
                }),
                in_flight: InFlight::Reject,
                ping_timeout: Some(ms(20_000)),
                idle_close: Some(ms(30 * 60 * 1000)),
                multiplexed: true,
                ..none
            },
            messages: LibMessages {
                eof: "14 UNAVAILABLE: Connection dropped",
                reset: "14 UNAVAILABLE: read ECONNRESET",
                timed_out: "14 UNAVAILABLE: Connection dropped",
                closed: UNREACHED,
                offline: "14 UNAVAILABLE: No connection established",
                command_timeout: "4 DEADLINE_EXCEEDED: Deadline exceeded",
                max_retries: UNREACHED,
                connect_timeout: UNREACHED,
                ping_timeout: "14 UNAVAILABLE: Connection dropped (keepalive: Ping timeout passed without response)",
            },
            reports: Reports::GrpcStatus,
        },
        // AWS SDK for JavaScript v3, @smithy/node-http-handler 4.11.3: an
        // `https.Agent({ keepAlive: true, maxSockets: 50 })` with no
        // `timeout`, so idle sockets never expire on the client (and the
        // server's hint is ignored); @smithy/util-retry: the standard
        // strategy makes 3 attempts, retrying ECONNRESET, EPIPE,
        // ETIMEDOUT and ECONNREFUSED, after a full-jitter delay of
        // min(20 s, random × 2^attempts × 100 ms).
        "aws-sdk-v3" => LibPreset {
            name: "aws-sdk-v3",
            title: "AWS SDK for JavaScript v3",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Retry {
                    max: 2,
                    backoff: Backoff::FullJitter {
                        base: ms(100),
                        max: ms(20_000),
                    },
                    on: LossSet::ALL,
                },
                hint: HintRule::IfShorter { buffer: ms(1000) },
                ..none
            },
            messages: LibMessages {
                eof: "Error: socket hang up (ECONNRESET), after 3 attempts",
                reset: "Error: read ECONNRESET, after 3 attempts",
                timed_out: "Error: read ETIMEDOUT, after 3 attempts",
                closed: UNREACHED,
                offline: UNREACHED,
                command_timeout: UNREACHED,
                max_retries: UNREACHED,
                connect_timeout: UNREACHED,
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // psycopg/psycopg 3.3.4: a plain `psycopg.connect()` never
        // reconnects; psycopg's own connect timeout 130 s
        // (conninfo.py `_DEFAULT_CONNECT_TIMEOUT`); libpq's read error
        // text for EOF and ECONNRESET alike (fe-secure.c).
        "psycopg" => LibPreset {
            name: "psycopg",
            title: "psycopg 3.3.4",
            config: LibConfig {
                reconnect: Reconnect::Never,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(130_000)),
                // No read loop: a close is seen at the next command.
                reads_while_idle: false,
                ..none
            },
            messages: LibMessages {
                eof: "OperationalError: consuming input failed: server closed the connection unexpectedly",
                reset: "OperationalError: consuming input failed: server closed the connection unexpectedly",
                timed_out: "OperationalError: consuming input failed: could not receive data from server: Connection timed out",
                closed: "OperationalError: the connection is closed",
                offline: UNREACHED,
                command_timeout: UNREACHED,
                max_retries: UNREACHED,
                connect_timeout: "ConnectionTimeout: connection timeout expired",
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // StackExchange/StackExchange.Redis 2.8.58: its read loop sees a
        // FIN or RST as soon as the process runs and reconnects at once
        // (PhysicalBridge `OnDisconnected`), then on the 1 s heartbeat with
        // `ExponentialRetry(2500 ms)` (≤ 10 s); commands wait in the
        // backlog (`BacklogPolicy.Default`) and are bounded by the 5 s
        // async timeout; in-flight commands are failed; a keep-alive PING
        // after 60 s without a write; ConnectTimeout 5 s.
        "stackexchange-redis" => LibPreset {
            name: "stackexchange-redis",
            title: "StackExchange.Redis 2.8.58",
            config: LibConfig {
                reconnect: Reconnect::Backoff(Backoff::Geometric {
                    base: ms(2500),
                    factor_permille: 1100,
                    max: ms(10_000),
                    spread: Spread::FromBase,
                    immediate_first: true,
                }),
                offline_queue: true,
                in_flight: InFlight::Reject,
                connect_timeout: Some(ms(5000)),
                command_timeout: Some(ms(5000)),
                ping_interval: Some(ms(60_000)),
                ..none
            },
            messages: LibMessages {
                eof: "RedisConnectionException: SocketClosed (ReadEndOfStream)",
                reset: "RedisConnectionException: SocketFailure (ReadSocketError/ConnectionReset)",
                timed_out: "RedisConnectionException: SocketFailure (ReadSocketError/TimedOut)",
                closed: UNREACHED,
                offline: "RedisConnectionException: No connection is active/available to service this operation",
                command_timeout: "RedisTimeoutException: Timeout awaiting response (5000ms elapsed, timeout is 5000ms)",
                max_retries: UNREACHED,
                connect_timeout: "RedisConnectionException: UnableToConnect (ConnectTimeout)",
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // redis-rs/redis-rs redis-1.6.0 `aio::ConnectionManager`: a
        // command that fails with a dropped connection returns its error
        // and starts a background reconnect (100, 200, … 3200 ms plus
        // U[0, 100 ms), 6 retries); later commands wait for it; response
        // timeout 500 ms (the connection is kept), connection timeout 1 s.
        "redis-rs" => LibPreset {
            name: "redis-rs",
            title: "redis-rs 1.6.0 (ConnectionManager)",
            config: LibConfig {
                // backon: the first attempt at once, then 6 retries.
                reconnect: Reconnect::Backoff(Backoff::Exponential {
                    base: ms(100),
                    max: ms(3200),
                    jitter: Jitter::Add(ms(100)),
                    immediate_first: true,
                }),
                offline_queue: true,
                in_flight: InFlight::Reject,
                max_attempts: Some(7),
                connect_timeout: Some(ms(1000)),
                command_timeout: Some(ms(500)),
                // No read loop: a close is seen at the next command.
                reads_while_idle: false,
                ..none
            },
            messages: LibMessages {
                eof: "broken pipe",
                reset: "Connection reset by peer (os error 104)",
                timed_out: "Connection timed out (os error 110)",
                closed: "the connection manager gave up reconnecting (its last error is returned)",
                offline: UNREACHED,
                command_timeout: "timed out",
                max_retries: UNREACHED,
                connect_timeout: "timed out",
                ping_timeout: UNREACHED,
            },
            reports: Reports::Errno,
        },
        // psf/requests v2.32.3 src/requests/adapters.py: `HTTPAdapter`
        // with `max_retries=DEFAULT_RETRIES` (0) stores `Retry(0,
        // read=False)`: nothing is retried once the request was sent. Its
        // pool is urllib3's (2.2.3): `HTTPConnectionPool._get_conn()`
        // closes a kept connection that `is_connection_dropped()` (a
        // zero-timeout `wait_for_read`: readable = a FIN, an RST or data)
        // before reuse, and reconnects; no idle timer, no timeouts.
        "requests" => LibPreset {
            name: "requests",
            title: "requests 2.32.3 (urllib3 2.2.3)",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Reject,
                idle_check: IdleCheck::Peek { max_idle: None },
                // No read loop: a close waits in the socket until the
                // next request's check.
                reads_while_idle: false,
                ..none
            },
            messages: URLLIB3,
            reports: Reports::Errno,
        },
        // urllib3/urllib3 2.2.3 src/urllib3/util/retry.py `Retry.DEFAULT =
        // Retry(3)` (a `PoolManager.request()` without `retries`):
        // connect and read errors of an idempotent method (GET here) are
        // retried 3 times on a new connection, `backoff_factor` 0 (no
        // delay); the same dropped-connection check at checkout.
        "urllib3" => LibPreset {
            name: "urllib3",
            title: "urllib3 2.2.3 (PoolManager, Retry(3))",
            config: LibConfig {
                reconnect: Reconnect::OnNextUse,
                in_flight: InFlight::Retry {
                    max: 3,
                    backoff: Backoff::Linear {
                        step: SimDuration::ZERO,
                        max: SimDuration::ZERO,
                    },
                    on: LossSet::ALL,
                },
                idle_check: IdleCheck::Peek { max_idle: None },
                reads_while_idle: false,
                ..none
            },
            messages: LibMessages {
                eof: "urllib3.exceptions.MaxRetryError: Max retries exceeded (ProtocolError('Connection aborted.', RemoteDisconnected('Remote end closed connection without response')))",
                reset: "urllib3.exceptions.MaxRetryError: Max retries exceeded (ProtocolError('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer')))",
                timed_out: "urllib3.exceptions.MaxRetryError: Max retries exceeded (ProtocolError('Connection aborted.', TimeoutError(110, 'Connection timed out')))",
                ..URLLIB3
            },
            reports: Reports::Errno,
        },
        _ => return None,
    })
}

/// requests over urllib3: http.client's errors wrapped by urllib3
/// (`ProtocolError('Connection aborted.', …)`) and requests
/// (`requests.exceptions.ConnectionError`).
const URLLIB3: LibMessages = LibMessages {
    eof: "requests.exceptions.ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
    reset: "requests.exceptions.ConnectionError: ('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
    timed_out: "requests.exceptions.ConnectionError: ('Connection aborted.', TimeoutError(110, 'Connection timed out'))",
    closed: UNREACHED,
    offline: UNREACHED,
    command_timeout: UNREACHED,
    max_retries: UNREACHED,
    connect_timeout: UNREACHED,
    ping_timeout: UNREACHED,
};

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
