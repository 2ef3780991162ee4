//! Plain configuration structs for a run. thaw-scenario fills them from a
//! scenario file; every default is sourced in docs/model.md.
pub use thaw_core::Dist;
use thaw_core::SimDuration;
use thaw_net::{MiddleboxConfig, TcpConfig};

/// The client pool model (re-exported for scenario builders and tests).
pub use thaw_client::{Evictor, IdleOrder, OnLost, PoolConfig, ServerlessMysql, Validation};

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Scenario name, for reports.
    pub name: String,
    /// Seed of the run's RNG streams.
    pub seed: u64,
    /// Stop after this many events (a runaway model becomes an error).
    pub event_budget: u64,
    /// Execution environments (Lambda-like platform).
    pub platform: PlatformConfig,
    /// How the function talks to the server.
    pub client: ClientConfig,
    /// Link latencies.
    pub network: NetworkConfig,
    /// The middleboxes between the functions and the servers (or the
    /// proxy).
    pub middleboxes: Vec<NamedMiddlebox>,
    /// The path of a server without one of its own (`ServerConfig::path`);
    /// `None` = every middlebox, in order, with no latency between them.
    pub path: Option<PathConfig>,
    /// Connection proxies (RDS Proxy, PgBouncer), each in front of one
    /// server ([`ProxyConfig::server`]): the functions connect to it, it
    /// connects to the server.
    pub proxies: Vec<ProxyConfig>,
    /// The servers (at least one). A request names its server by index
    /// ([`RequestSpec::target`]); the first is the only one of a scenario
    /// with a single `[server]`.
    pub servers: Vec<ServerConfig>,
    /// When invocations arrive.
    pub workload: WorkloadConfig,
}

/// A middlebox configuration with the name used in timelines.
#[derive(Clone, Debug)]
pub struct NamedMiddlebox {
    /// Display name (the preset's name, or "middlebox").
    pub name: String,
    /// Its parameters.
    pub config: MiddleboxConfig,
}

/// A path through middleboxes, from the functions' side: each middlebox
/// (an index into `SimConfig::middleboxes`) with the one-way latency of the
/// link from it to the next one on the path (not used for the last: its
/// link to the server is `network.server_latency`).
pub type PathConfig = Vec<(u16, SimDuration)>;

/// How long an idle (frozen) environment lives before it is reaped: a
/// [`Dist`] drawn once per freeze from the "platform" stream (what
/// `reap_after_min`/`reap_after_max` always were: `Dist::Uniform`).
pub type ReapPolicy = Dist;

/// Does the guest kernel of a frozen environment process packets?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrozenKernel {
    /// Nothing runs: packets are neither ACKed nor RSTed (dropped), kernel
    /// timers wait for the thaw. The vCPU-pause reading; default.
    Silent,
    /// The guest kernel keeps running its TCP stack (cgroup-freezer
    /// reading): it ACKs, RSTs and runs TCP timers; only user code waits.
    Running,
}

/// On thaw, which runs first: the new invocation's handler, or the socket
/// events and timers that became due while frozen?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThawOrder {
    /// The handler runs first and meets stale sockets as they are (default).
    HandlerFirst,
    /// Pending events are processed first (the driver may notice a dead
    /// connection before the handler uses it).
    EventsFirst,
}

/// Which Lambda extensions the function registers (AWS-Ext in
/// docs/sources.md): it decides whether the runtime gets SIGTERM when an idle
/// environment is shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extension {
    /// No extension: no SIGTERM; the environment vanishes with its
    /// connections open (default).
    None,
    /// Only an internal extension: extensions get Shutdown, the runtime no
    /// SIGTERM; connections are left open.
    Internal,
    /// A registered external extension: the runtime gets SIGTERM and
    /// 300 ms in which the function closes its connections.
    External,
}

impl Extension {
    /// The time the runtime gets between SIGTERM and SIGKILL, if it gets
    /// SIGTERM at all.
    pub fn sigterm_grace(self) -> Option<SimDuration> {
        match self {
            Extension::None | Extension::Internal => None,
            Extension::External => Some(SimDuration::from_millis(300)),
        }
    }
}

/// What the function's after-restore runtime hook does (Lambda SnapStart:
/// CRaC `afterRestore`, Python `@register_after_restore`, .NET
/// `RegisterAfterRestore`; docs/model.md 1.6b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRestore {
    /// No hook: the handler meets what the snapshot holds (default).
    None,
    /// The hook closes the connections captured in the snapshot and opens
    /// new ones, one `global` target after another, before the handler.
    Reconnect,
}

/// Lambda SnapStart (docs/model.md 1.6b): new environments resume from a
/// snapshot taken after init instead of running init.
#[derive(Clone, Debug)]
pub struct SnapStart {
    /// Time to resume an environment from the snapshot, drawn per restore
    /// (stream "platform.restore_duration"); replaces `init_duration`.
    pub restore_duration: Dist,
    /// The init code opened the module-scope connection of each `global`
    /// target its function uses: the snapshot holds it ESTABLISHED, and
    /// no server knows it.
    pub init_connects: bool,
    /// The after-restore hook.
    pub after_restore: AfterRestore,
}

impl Default for SnapStart {
    fn default() -> Self {
        SnapStart {
            // Assumption (docs/model.md 1.6b): AWS publishes no restore
            // time, only "as low as sub-second startup performance".
            restore_duration: Dist::Fixed(SimDuration::from_millis(200)),
            init_connects: false,
            after_restore: AfterRestore::None,
        }
    }
}

/// Which idle environment serves an invocation when several are warm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The most recently used one (default).
    MostRecent,
    /// The least recently used one.
    LeastRecent,
    /// The most recently created one (SimFaaS's rule: its newest idle
    /// instance serves the request).
    NewestCreated,
}

/// The platform: execution environments and their lifecycle.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// Function memory size in MB; CPU share is memory/1769 of a vCPU.
    pub memory_mb: u32,
    /// Function timeout; the environment is reset when it passes.
    pub timeout: SimDuration,
    /// Cold-start (init) duration, drawn per cold start (stream
    /// "platform.init_duration").
    pub init_duration: Dist,
    /// Delay between the response and the freeze (0 = right after).
    pub freeze_delay: SimDuration,
    /// Time the handler works before its first request (0 = none), drawn
    /// per invocation (stream "platform.handler_time").
    pub handler_time: Dist,
    /// Idle lifetime of a frozen environment.
    pub reap: ReapPolicy,
    /// Frozen guest kernel behaviour.
    pub frozen_kernel: FrozenKernel,
    /// Order of handler and pending events on thaw.
    pub thaw_order: ThawOrder,
    /// Most environments alive at once; arrivals beyond are throttled.
    pub max_concurrency: u32,
    /// A function's scale-up rate: at most `.0` new environments in any
    /// window of `.1` (AWS: 1,000 every 10 s); `None` = no limit.
    pub scale_rate: Option<(u32, SimDuration)>,
    /// Provisioned concurrency of the main function: environments
    /// initialised at the start, served first, never reaped.
    pub provisioned: u32,
    /// Choice among warm environments.
    pub placement: Placement,
    /// The environments' kernel TCP settings and socket options.
    pub tcp: TcpConfig,
    /// How the handler ends (Node.js runtime semantics).
    pub handler: HandlerKind,
    /// The handler's promise rejects this long after the handler starts,
    /// for a reason outside the model, leaving its pending pool work (an
    /// acquire and its timer, a connection being opened) in the event loop
    /// (the Sequelize guide's race). Only with `Strategy::Pool`.
    pub handler_rejects_after: Option<SimDuration>,
    /// Registered extensions: with [`Extension::External`] the runtime gets
    /// SIGTERM at an idle shutdown (reap) and closes its connections.
    pub extension: Extension,
    /// Lambda SnapStart: every new environment is restored from a snapshot
    /// (`None` = each runs init).
    pub snapstart: Option<SnapStart>,
}

/// How the runtime decides that an invocation is over (docs/model.md,
/// runtime; AWS-Node in docs/sources.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    /// An async handler: the response is sent and the environment frozen as
    /// soon as the handler's promise resolves; pending timers and sockets
    /// survive the freeze (default).
    Async,
    /// A callback handler. With `waits_for_empty_event_loop` (Node's
    /// `callbackWaitsForEmptyEventLoop`, default true) the response waits
    /// until the event loop is empty: no armed pool timers and no open
    /// pooled sockets; otherwise it behaves like [`HandlerKind::Async`].
    Callback {
        /// `context.callbackWaitsForEmptyEventLoop`.
        waits_for_empty_event_loop: bool,
    },
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            memory_mb: 128,
            timeout: SimDuration::from_secs(3),
            init_duration: Dist::Fixed(SimDuration::from_millis(322)),
            freeze_delay: SimDuration::ZERO,
            handler_time: Dist::Fixed(SimDuration::ZERO),
            reap: Dist::Fixed(SimDuration::from_secs(600)),
            frozen_kernel: FrozenKernel::Silent,
            thaw_order: ThawOrder::HandlerFirst,
            max_concurrency: 1000,
            scale_rate: Some((1000, SimDuration::from_secs(10))),
            provisioned: 0,
            placement: Placement::MostRecent,
            tcp: TcpConfig::default(),
            handler: HandlerKind::Async,
            handler_rejects_after: None,
            extension: Extension::None,
            snapstart: None,
        }
    }
}

/// How connections are managed by the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// One connection opened on first use, kept across invocations, and
    /// replaced after an error.
    Global,
    /// Open, use, close in every invocation.
    PerInvocation,
    /// A client pool per environment, created at init (module scope); each
    /// request acquires a connection and releases it after the reply
    /// ([`ClientConfig::pool`]).
    Pool,
    /// A connectionless HTTP API (Upstash REST/GraphQL; Upstash article S3): no TCP
    /// state is kept between requests and the server has no connection
    /// limit; each request costs [`ClientConfig::http_overhead`] plus the
    /// server's service time plus one round trip, and runs in its own short
    /// autocommit session. Modelled without sockets (a timer): the
    /// middlebox, the server's cores, connection limits and idle timeout do
    /// not apply; the data model (stale reads, duplicate writes) does.
    Http,
}

/// `[client.pool]`: the pool of [`Strategy::Pool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// The preset's name (for timelines).
    pub preset: String,
    /// The pool's knobs (a preset with overrides).
    pub config: PoolConfig,
    /// Close the pool at the end of every invocation (the Sequelize guide's
    /// `connectionManager.close()`).
    pub close_after_invocation: bool,
    /// Replace the pool at the start of every invocation (the guide's
    /// `connectionManager.initPools()`).
    pub reset_at_start: bool,
    /// serverless-mysql's zombie cleanup in `end()` after every invocation
    /// (preset `serverless-mysql`; slsmysql in docs/sources.md).
    pub zombie_cleanup: Option<ServerlessMysql>,
    /// What the pool's driver says for a lost connection (presets whose
    /// driver is fixed).
    pub messages: Option<thaw_client::PoolMessages>,
}

/// What a request does to the server's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOp {
    /// Nothing (PING, `SELECT 1`).
    Ping,
    /// Read a key.
    Read(u64),
    /// Write a key (committed now with autocommit, else at COMMIT).
    Write(u64),
    /// BEGIN (commits an open transaction first, as MySQL does).
    Begin,
    /// COMMIT.
    Commit,
    /// ROLLBACK.
    Rollback,
    /// End the session (MySQL `COM_QUIT`, PostgreSQL `Terminate`, Redis
    /// `QUIT`): the server closes the connection and answers nothing; the
    /// request is done when the connection ends (mysqljs `end()`,
    /// node-postgres `client.end()`). Its `timeout` is the library's quit
    /// timeout (mysqljs 30 s). The connection is not used again.
    Quit,
}

/// One request an invocation makes.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSpec {
    /// Name shown in the timeline, e.g. `GET foo`.
    pub name: String,
    /// Client-side timeout for the reply; `None` = wait for TCP.
    pub timeout: Option<SimDuration>,
    /// Effect on the data.
    pub op: RequestOp,
    /// The statement also changes session state that a proxy cannot move
    /// between database connections (`SET`, a prepared statement, a
    /// temporary table, a session advisory lock...): RDS Proxy pins the
    /// client connection to its database connection (§2.6).
    pub pin: bool,
    /// Applying the request twice is harmless (a retried write that was
    /// already applied is not counted as a duplicate write).
    pub idempotent: bool,
    /// The server it goes to (an index into `SimConfig::servers`), through
    /// the proxy when the proxy fronts that server.
    pub target: u16,
    /// The `write()` calls the request takes (1 = one write). The first
    /// `writes - 1` carry only part of it (an HTTP body streamed after its
    /// headers, a large statement sent in chunks); the server acts on the
    /// last. Each write sees the socket as it is then: a write after the
    /// peer's RST fails (`EPIPE` in CLOSE_WAIT, Linux `tcp_reset()`).
    pub writes: u32,
    /// Time between two writes of one request (the application producing
    /// the next chunk); the reply timeout starts at the last write.
    pub write_gap: SimDuration,
    /// The handler's own work after the reply, before its next request
    /// (or its response): its connections sit idle meanwhile.
    pub work_after: SimDuration,
    /// The handler waits for the reply (`await`); with `false` it goes on
    /// once the request is written, and the reply or the failure comes
    /// later, possibly in another invocation (model.md 6.4).
    pub await_reply: bool,
}

impl RequestSpec {
    /// A request with no effect on data.
    pub fn ping(name: &str) -> RequestSpec {
        RequestSpec {
            name: name.to_string(),
            timeout: None,
            op: RequestOp::Ping,
            pin: false,
            idempotent: false,
            target: 0,
            writes: 1,
            write_gap: SimDuration::ZERO,
            work_after: SimDuration::ZERO,
            await_reply: true,
        }
    }
}

/// Another function: its own environments, the same settings, its own
/// requests (the "create" and "list" functions of S1, the PyMySQL article).
#[derive(Clone, Debug, PartialEq)]
pub struct HandlerSpec {
    /// Function name (`inv-N` lines say which function ran).
    pub name: String,
    /// Requests each invocation makes.
    pub requests: Vec<RequestSpec>,
}

/// The client side.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Connection strategy.
    pub strategy: Strategy,
    /// Requests each invocation of the main function makes, in order.
    pub requests: Vec<RequestSpec>,
    /// Further functions (index 1, 2, ... in workloads).
    pub handlers: Vec<HandlerSpec>,
    /// Session autocommit (PyMySQL's default is off; most drivers: on).
    pub autocommit: bool,
    /// Session isolation level.
    pub isolation: thaw_db::Isolation,
    /// Where reads go when the server has replicas.
    pub read_routing: thaw_db::ReadRouting,
    /// CPU time to set up a connection on one full vCPU (1769 MB), drawn
    /// per connection (stream "client.connect_cpu").
    pub connect_cpu: Dist,
    /// The library's connect timeout (TCP connect plus the server's
    /// handshake); `None` = wait for the kernel (mysql2 and ioredis: 10 s).
    pub connect_timeout: Option<SimDuration>,
    /// The pool, with [`Strategy::Pool`].
    pub pool: Option<PoolSettings>,
    /// `[client.retry]`: how failed requests are retried.
    pub retry: RetrySettings,
    /// Extra latency of one request with [`Strategy::Http`] (Upstash, S3:
    /// "about 5 ms latency overhead").
    pub http_overhead: SimDuration,
    /// Per-server strategies, by server index; a server not listed (or
    /// every server, when empty) uses `strategy`. At most one server is
    /// reached through the pool (`pool`).
    pub targets: Vec<Strategy>,
    /// `[client.library]`: the client library whose connection object
    /// holds the connection of every `global` target (its reconnects,
    /// offline queue, timers and messages); `None` = thaw's plain client
    /// (reconnect on the next use after an error).
    pub library: Option<LibrarySettings>,
    /// `[client.tls]`: every connection the functions open runs a TLS
    /// handshake after TCP's; `None` = plain TCP.
    pub tls: Option<TlsSettings>,
}

/// `[client.tls]` (model.md 2.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// Round trips of the handshake before application data: TLS 1.3 one,
    /// TLS 1.2 two.
    pub round_trips: u8,
    /// The client's CPU for one handshake on one full vCPU (scaled by the
    /// memory size like `connect_cpu`, and spent with it).
    pub cpu: SimDuration,
    /// The version's name, for the timeline.
    pub version: &'static str,
    /// Session resumption: an environment keeps the session of its last
    /// full handshake with each server (module scope: it dies with the
    /// environment) and offers it on its next connections; while it is
    /// younger than `session_lifetime` the server accepts it and the
    /// handshake is abbreviated: one round trip (TLS 1.2's abbreviated
    /// handshake; TLS 1.3 stays at one) and `resume_cpu` instead of `cpu`.
    pub resumption: bool,
    /// How long the server accepts a session after the full handshake
    /// that made it.
    pub session_lifetime: SimDuration,
    /// The client's CPU for a resumed handshake on one full vCPU.
    pub resume_cpu: SimDuration,
    /// The server's CPU for a full handshake's first flight (added to its
    /// `service_time` for that answer, on its cores).
    pub server_cpu: SimDuration,
    /// The server sends `close_notify` before its own clean closes (an
    /// idle timeout, an eviction, a KILL), not when its process ends.
    pub close_notify: bool,
}

/// `[client.library]`: a library preset with overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibrarySettings {
    /// The preset's name (for timelines).
    pub preset: String,
    /// The library and version the defaults come from.
    pub title: &'static str,
    /// The knobs (a preset with overrides).
    pub config: thaw_client::LibConfig,
    /// The library's messages.
    pub messages: thaw_client::LibMessages,
    /// How it reports a failure (errno or gRPC status).
    pub reports: thaw_client::Reports,
}

/// `[client.retry]`: the client retries a request that failed with one of
/// the listed errors, on a new connection (Upstash, S3; serverless-mysql,
/// Go `database/sql` on `ErrBadConn`, ioredis `retryStrategy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries of each request after its first attempt (0 = none).
    pub count: u32,
    /// Delay before each retry; with `backoff_max`, the base of an
    /// exponential backoff with full jitter.
    pub backoff: SimDuration,
    /// Cap of the exponential backoff; `Some` = full jitter: each delay is
    /// drawn uniformly from [0, min(backoff_max, backoff × 2^(retry − 1))]
    /// (retry = 1 for the first retry) from the RNG stream "client".
    pub backoff_max: Option<SimDuration>,
    /// Error kinds that are retried.
    pub on: Vec<crate::report::ErrorKind>,
}

impl Default for RetrySettings {
    fn default() -> Self {
        use crate::report::ErrorKind;
        RetrySettings {
            count: 0,
            backoff: SimDuration::ZERO,
            backoff_max: None,
            on: vec![
                ErrorKind::Econnreset,
                ErrorKind::Epipe,
                ErrorKind::Eof,
                ErrorKind::Etimedout,
                ErrorKind::RequestTimeout,
            ],
        }
    }
}

impl ClientConfig {
    /// The connection strategy for requests to server `target`.
    pub fn strategy_of(&self, target: u16) -> Strategy {
        self.targets
            .get(target as usize)
            .copied()
            .unwrap_or(self.strategy)
    }

    /// The server reached through the pool, if any.
    pub fn pooled_target(&self) -> Option<u16> {
        if self.targets.is_empty() {
            return (self.strategy == Strategy::Pool).then_some(0);
        }
        self.targets
            .iter()
            .position(|s| *s == Strategy::Pool)
            .map(|i| i as u16)
    }

    /// The requests of function `f` (0 = the main function).
    pub fn requests_of(&self, f: u16) -> &[RequestSpec] {
        match f {
            0 => &self.requests,
            n => self
                .handlers
                .get(n as usize - 1)
                .map(|h| h.requests.as_slice())
                .unwrap_or(&[]),
        }
    }

    /// The name of function `f`.
    pub fn function_name(&self, f: u16) -> &str {
        match f {
            0 => "main",
            n => self
                .handlers
                .get(n as usize - 1)
                .map(|h| h.name.as_str())
                .unwrap_or("?"),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            strategy: Strategy::Global,
            requests: vec![RequestSpec::ping("GET")],
            handlers: Vec::new(),
            autocommit: true,
            isolation: thaw_db::Isolation::RepeatableRead,
            read_routing: thaw_db::ReadRouting::Primary,
            connect_cpu: Dist::Fixed(SimDuration::from_micros(470)),
            connect_timeout: None,
            pool: None,
            retry: RetrySettings::default(),
            http_overhead: SimDuration::from_millis(5),
            targets: Vec::new(),
            library: None,
            tls: None,
        }
    }
}

/// The source address servers see for the functions' connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceIp {
    /// All environments appear as one host (VPC Lambda through shared
    /// Hyperplane ENIs, or a NAT gateway): the default.
    Shared,
    /// Each environment has its own address.
    PerEnvironment,
}

/// Link latencies (one way).
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// What the server's host cache (MySQL `max_connect_errors`) keys on.
    pub source_ip: SourceIp,
    /// Function side: environment to the first middlebox (or the first
    /// half of the path when there is none). A distribution is drawn once
    /// per connection (model.md 4.1), so a connection's segments keep
    /// their order.
    pub client_latency: Dist,
    /// Server side: the last middlebox to the server (or the proxy); drawn
    /// like `client_latency`.
    pub server_latency: Dist,
    /// One way over an environment's loopback interface, to a server
    /// inside the environment (`ServerLocation::Environment`).
    pub loopback_latency: SimDuration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            source_ip: SourceIp::Shared,
            client_latency: Dist::Fixed(SimDuration::from_micros(250)),
            server_latency: Dist::Fixed(SimDuration::from_micros(250)),
            // Measured: half the median round trip of a 1-byte echo over
            // 127.0.0.1 (docs/model.md 5.14).
            loopback_latency: SimDuration::from_micros(35),
        }
    }
}

/// Which real server the server model imitates: decides the messages it
/// sends (error codes), and gives the preset's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// A plain request/response server (Redis-like messages).
    Generic,
    /// Redis 7 (`maxclients`, `timeout`, `tcp-keepalive`).
    Redis,
    /// MySQL 8.0 (`max_connections`, `wait_timeout`, 1040, 4031, 1129).
    Mysql,
    /// PostgreSQL (`max_connections`, superuser reserve, 53300, 57P05).
    Postgres,
    /// Upstash: Redis protocol with soft/hard connection limits and idle
    /// eviction (the Upstash article, S3).
    Upstash,
    /// MariaDB 10.11: MySQL's protocol and codes (1040, 1129), but an idle
    /// close is an abortive close (RST) with no message (measured).
    Mariadb,
    /// A Node.js `http.Server`: HTTP/1.1 keep-alive, an idle kept socket
    /// is closed after `server.keepAliveTimeout` (5 s).
    NodeHttp,
    /// nginx: HTTP/1.1 keep-alive with `keepalive_timeout` 75 s.
    Nginx,
    /// An AWS Application Load Balancer's client side: HTTP/1.1 keep-alive
    /// with the connection idle timeout (60 s).
    AwsAlb,
    /// A gRPC server (HTTP/2): answers HTTP/2 PINGs; with
    /// `max_connection_idle` (the idle timeout, off by default) it sends
    /// GOAWAY before it closes an idle connection.
    Grpc,
}

/// Where a server process runs (docs/model.md 5.14).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerLocation {
    /// On its own host, across the network path (every server until now).
    #[default]
    Remote,
    /// Inside each execution environment, beside the function (a sidecar,
    /// an extension, an adapter's web server on localhost): every
    /// environment has its own instance, reached over loopback, frozen,
    /// thawed and reaped with the environment.
    Environment,
}

/// How the server's socket ends an idle connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleClose {
    /// `close()`: FIN; the socket lives on as an orphan until the peer
    /// acknowledges it or the orphan retries run out.
    Fin,
    /// `close()` with `SO_LINGER` on and a zero linger time: RST at once,
    /// no orphan (MariaDB's `wait_timeout`, measured).
    Rst,
}

impl IdleClose {
    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            IdleClose::Fin => "fin",
            IdleClose::Rst => "rst",
        }
    }
}

impl ServerKind {
    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Generic => "generic",
            ServerKind::Redis => "redis7",
            ServerKind::Mysql => "mysql8",
            ServerKind::Postgres => "postgres",
            ServerKind::Upstash => "upstash",
            ServerKind::Mariadb => "mariadb",
            ServerKind::NodeHttp => "node-http",
            ServerKind::Nginx => "nginx",
            ServerKind::AwsAlb => "aws-alb",
            ServerKind::Grpc => "grpc",
        }
    }
}

/// The server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Display name.
    pub name: String,
    /// Which server it imitates (messages and codes).
    pub kind: ServerKind,
    /// Listening port.
    pub port: u16,
    /// Close connections idle longer than this; `None` = never (Redis
    /// `timeout 0`, PostgreSQL `idle_session_timeout 0`).
    pub idle_timeout: Option<SimDuration>,
    /// The idle timeout is checked on a clock of whole intervals rather
    /// than by a timer per connection: Redis's clientsCron() compares whole
    /// seconds (`redis7`: 1 s), so a `timeout N` close comes between N and
    /// N + 1 s after the last command; `None` = an exact timer (PostgreSQL's
    /// `idle_session_timeout` is a per-backend timer; MySQL's `wait_timeout`
    /// a read timeout).
    pub idle_check_interval: Option<SimDuration>,
    /// Send the server's error before an idle close (MySQL 8.0.24+ 4031,
    /// PostgreSQL 57P05) instead of closing silently.
    pub idle_close_error: bool,
    /// How the idle close ends the connection: FIN (default) or RST.
    pub idle_close: IdleClose,
    /// Close a connection whose session has an open transaction and has
    /// been idle this long (PostgreSQL `idle_in_transaction_session_timeout`,
    /// FATAL 25P03); `None` = off (the default).
    pub idle_in_transaction_timeout: Option<SimDuration>,
    /// CPU time to answer one request, drawn per request from the
    /// server's own stream ("server.service_time" and the server's index).
    pub service_time: Dist,
    /// Connections accepted at once (`max_connections`, `maxclients`).
    pub max_connections: u32,
    /// Slots of `max_connections` reserved for administrators
    /// (PostgreSQL `superuser_reserved_connections`); clients get the rest.
    pub reserved_connections: u32,
    /// Listen backlog: connections that completed the TCP handshake and wait
    /// for `accept()`; when full, new SYNs are dropped.
    pub backlog: u32,
    /// CPU cores shared by accepting connections and answering requests;
    /// 0 = as many as needed (no contention).
    pub cores: u32,
    /// CPU time to accept a connection (handshake, authentication, thread or
    /// process start).
    pub accept_cpu: SimDuration,
    /// Memory one connection costs the server, bytes (reported).
    pub memory_per_connection: u64,
    /// Interrupted connection attempts from one host, in a row, before the
    /// host is blocked (MySQL `max_connect_errors`); 0 = never.
    pub max_connect_errors: u32,
    /// The server speaks first (greeting/authentication) and the client
    /// waits for it before its first request (MySQL, PostgreSQL).
    pub handshake: bool,
    /// With a handshake: how long the server waits for the client's answer
    /// to its greeting before aborting with "Bad handshake" (MySQL
    /// `connect_timeout`, 10 s); an abort counts as an interrupted
    /// connection for `max_connect_errors`. `None` = wait forever.
    pub handshake_timeout: Option<SimDuration>,
    /// Upstash soft limit: above it, idle connections are evicted.
    pub soft_limit: Option<u32>,
    /// Upstash hard limit: at it, new connections are rejected.
    pub hard_limit: Option<u32>,
    /// Only connections idle at least this long are evicted.
    pub evict_min_idle: SimDuration,
    /// Read replicas, by replication lag.
    pub replicas: Vec<SimDuration>,
    /// The server host's TCP settings (keepalive on accepted sockets too).
    pub tcp: TcpConfig,
    /// The `Keep-Alive: timeout=N` an HTTP server puts in its responses
    /// (an HTTP agent may shorten its own idle close from it); `None` =
    /// no header.
    pub keep_alive_hint: Option<SimDuration>,
    /// Windows (start, length) during which the server process is down: at
    /// the start every connection ends with it (its kernel closes each
    /// socket), and until the end a SYN to its port gets RST.
    pub outages: Vec<(thaw_core::SimTime, SimDuration)>,
    /// The functions' path to this server (or to the proxy in front of
    /// it); `None` = `SimConfig::path`.
    pub path: Option<PathConfig>,
    /// Where the server process runs.
    pub location: ServerLocation,
    /// Inside an environment: how long after a thaw the server's process
    /// runs what it held while frozen (its overdue timers, then its socket
    /// events); 0 = at the thaw, in the place `thaw_order` gives runtime
    /// timers.
    pub thaw_delay: SimDuration,
}

impl ServerConfig {
    /// The defaults of a preset (docs/model.md cites each value).
    pub fn preset(kind: ServerKind) -> ServerConfig {
        let base = ServerConfig {
            name: "server".to_string(),
            kind,
            port: 6379,
            idle_timeout: None,
            idle_check_interval: None,
            idle_close_error: false,
            idle_close: IdleClose::Fin,
            idle_in_transaction_timeout: None,
            service_time: Dist::Fixed(SimDuration::from_micros(100)),
            max_connections: 10_000,
            reserved_connections: 0,
            backlog: 511,
            cores: 0,
            accept_cpu: SimDuration::ZERO,
            memory_per_connection: 0,
            max_connect_errors: 0,
            handshake: false,
            handshake_timeout: None,
            soft_limit: None,
            hard_limit: None,
            evict_min_idle: SimDuration::ZERO,
            replicas: Vec::new(),
            tcp: TcpConfig::default(),
            keep_alive_hint: None,
            outages: Vec::new(),
            path: None,
            location: ServerLocation::Remote,
            thaw_delay: SimDuration::ZERO,
        };
        match kind {
            ServerKind::Generic => base,
            // Node.js v20.20.2 lib/_http_server.js: `keepAliveTimeout`
            // 5000 ms, advertised as `Keep-Alive: timeout=5`, but the
            // socket's timer is keepAliveTimeout + 1000 ms (PR #54863);
            // then `socket.destroy()` (FIN).
            ServerKind::NodeHttp => ServerConfig {
                name: "node-http".to_string(),
                port: 80,
                idle_timeout: Some(SimDuration::from_secs(6)),
                keep_alive_hint: Some(SimDuration::from_secs(5)),
                ..base
            },
            // nginx `keepalive_timeout 75s` (ngx_http_core_module).
            ServerKind::Nginx => ServerConfig {
                name: "nginx".to_string(),
                port: 80,
                idle_timeout: Some(SimDuration::from_secs(75)),
                ..base
            },
            // ALB "Connection idle timeout": 60 s by default.
            ServerKind::AwsAlb => ServerConfig {
                name: "aws-alb".to_string(),
                port: 80,
                idle_timeout: Some(SimDuration::from_secs(60)),
                ..base
            },
            // grpc-go keepalive.ServerParameters: MaxConnectionIdle
            // infinite by default; when set, GOAWAY then close.
            ServerKind::Grpc => ServerConfig {
                name: "grpc".to_string(),
                port: 50051,
                idle_close_error: true,
                ..base
            },
            ServerKind::Redis | ServerKind::Upstash => ServerConfig {
                name: kind.name().to_string(),
                tcp: TcpConfig {
                    // tcp-keepalive 300: KEEPIDLE 300, KEEPINTVL 100, KEEPCNT 3.
                    keepalive: Some(thaw_net::Keepalive {
                        idle: SimDuration::from_secs(300),
                        interval: SimDuration::from_secs(100),
                        count: 3,
                    }),
                    ..TcpConfig::default()
                },
                // Upstash's idle timeout after the seed's fix.
                idle_timeout: (kind == ServerKind::Upstash).then_some(SimDuration::from_secs(310)),
                // Redis checks idle clients in clientsCron() in whole
                // seconds (server.unixtime); Upstash does not say how.
                idle_check_interval: (kind == ServerKind::Redis)
                    .then_some(SimDuration::from_secs(1)),
                ..base
            },
            ServerKind::Mysql => ServerConfig {
                name: "mysql".to_string(),
                port: 3306,
                idle_timeout: Some(SimDuration::from_secs(28_800)),
                idle_close_error: true,
                max_connections: 151,
                backlog: 151,
                max_connect_errors: 100,
                handshake: true,
                handshake_timeout: Some(SimDuration::from_secs(10)),
                ..base
            },
            ServerKind::Mariadb => ServerConfig {
                name: "mariadb".to_string(),
                port: 3306,
                // `mariadbd --no-defaults --verbose --help` (10.11.14):
                // wait_timeout 28800, max_connections 151, back_log 80
                // (50 + max_connections/5), max_connect_errors 100,
                // connect_timeout 10.
                idle_timeout: Some(SimDuration::from_secs(28_800)),
                idle_close: IdleClose::Rst,
                max_connections: 151,
                backlog: 80,
                max_connect_errors: 100,
                handshake: true,
                handshake_timeout: Some(SimDuration::from_secs(10)),
                ..base
            },
            ServerKind::Postgres => ServerConfig {
                name: "postgres".to_string(),
                port: 5432,
                idle_close_error: true,
                max_connections: 100,
                reserved_connections: 3,
                backlog: 200,
                handshake: true,
                ..base
            },
        }
    }

    /// Connections the server accepts from ordinary clients.
    pub fn client_limit(&self) -> u32 {
        self.max_connections
            .saturating_sub(self.reserved_connections)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::preset(ServerKind::Generic)
    }
}

/// PgBouncer's `pool_mode` (§2.5); statement pooling is not modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// A server connection is assigned at the client's first query and
    /// released when the client disconnects (PgBouncer's default).
    Session,
    /// A server connection is assigned per transaction and released when
    /// it ends (after each reply for autocommit statements).
    Transaction,
}

impl PoolMode {
    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// Amazon RDS Proxy settings (AWS-Proxy in docs/sources.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdsProxyConfig {
    /// `MaxConnectionsPercent` (1..=100): the pool bound is this share of
    /// the server's `max_connections`. (The connections the proxy reserves
    /// for monitoring are not modelled.)
    pub max_connections_percent: u32,
    /// `MaxIdleConnectionsPercent` (0..=MaxConnectionsPercent): idle
    /// database connections above this share of `max_connections` are
    /// closed (at once when returned; AWS does it over time).
    pub max_idle_connections_percent: u32,
    /// `ConnectionBorrowTimeout`: a request waiting longer for a database
    /// connection fails; `None` = wait forever (0 in AWS).
    pub connection_borrow_timeout: Option<SimDuration>,
    /// `IdleClientTimeout`: client connections idle longer are closed (the
    /// database connection stays in the pool).
    pub idle_client_timeout: SimDuration,
}

impl Default for RdsProxyConfig {
    fn default() -> Self {
        RdsProxyConfig {
            max_connections_percent: 100,
            max_idle_connections_percent: 50,
            connection_borrow_timeout: Some(SimDuration::from_secs(120)),
            idle_client_timeout: SimDuration::from_secs(1800),
        }
    }
}

/// PgBouncer settings (PgB in docs/sources.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgBouncerConfig {
    /// `pool_mode`.
    pub pool_mode: PoolMode,
    /// `default_pool_size`: most server connections (one user/database pair).
    pub default_pool_size: u32,
    /// `max_client_conn`: client connections beyond are refused.
    pub max_client_conn: u32,
    /// `server_idle_timeout`: close server connections idle longer; `None`
    /// = never (0).
    pub server_idle_timeout: Option<SimDuration>,
    /// `server_lifetime`: close an unused server connection older than
    /// this (0 = use each connection once).
    pub server_lifetime: SimDuration,
    /// `client_idle_timeout`: close client connections idle longer; `None`
    /// = never (0, the default).
    pub client_idle_timeout: Option<SimDuration>,
    /// `query_wait_timeout`: a client whose query waits longer for a server
    /// connection is disconnected; `None` = wait forever (0).
    pub query_wait_timeout: Option<SimDuration>,
}

impl Default for PgBouncerConfig {
    fn default() -> Self {
        PgBouncerConfig {
            pool_mode: PoolMode::Session,
            default_pool_size: 20,
            max_client_conn: 100,
            server_idle_timeout: Some(SimDuration::from_secs(600)),
            server_lifetime: SimDuration::from_secs(3600),
            client_idle_timeout: None,
            query_wait_timeout: Some(SimDuration::from_secs(120)),
        }
    }
}

/// Which proxy, with its own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// Amazon RDS Proxy: per-transaction multiplexing with pinning.
    RdsProxy(RdsProxyConfig),
    /// PgBouncer: session or transaction pooling, no pinning.
    PgBouncer(PgBouncerConfig),
}

impl ProxyKind {
    /// The preset's name in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            ProxyKind::RdsProxy(_) => "rds-proxy",
            ProxyKind::PgBouncer(_) => "pgbouncer",
        }
    }
}

/// PgBouncer's maintenance timer (`full_maint_period = {0, USEC/3}` in
/// `src/janitor.c`): its timeouts are checked every 1/3 s.
pub const PGBOUNCER_JANITOR: SimDuration = SimDuration::from_micros(333_333);

/// A connection proxy between the functions and the server.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Display name (the preset's name by default).
    pub name: String,
    /// Listening port (RDS Proxy: the server's; PgBouncer: 6432).
    pub port: u16,
    /// One-way latency between the proxy and the server (the functions'
    /// side keeps `network.*_latency`, and the middlebox if any).
    pub server_latency: SimDuration,
    /// The proxy host's TCP settings (PgBouncer: `tcp_keepalive = 1` with
    /// the OS defaults, 7200/75/9).
    pub tcp: TcpConfig,
    /// Which proxy.
    pub kind: ProxyKind,
    /// The server it fronts (an index into `SimConfig::servers`).
    pub server: u16,
}

impl ProxyConfig {
    /// The defaults of a preset in front of `server`.
    pub fn preset(kind: ProxyKind, server: &ServerConfig) -> ProxyConfig {
        let (port, tcp) = match kind {
            ProxyKind::RdsProxy(_) => (server.port, TcpConfig::default()),
            ProxyKind::PgBouncer(_) => (
                6432,
                TcpConfig {
                    keepalive: Some(thaw_net::Keepalive::default()),
                    ..TcpConfig::default()
                },
            ),
        };
        ProxyConfig {
            name: kind.name().to_string(),
            port,
            server_latency: SimDuration::from_micros(250),
            tcp,
            kind,
            server: 0,
        }
    }

    /// Most database connections the proxy opens at once.
    pub fn backend_bound(&self, server: &ServerConfig) -> u32 {
        match self.kind {
            ProxyKind::RdsProxy(r) => {
                ((server.max_connections as u64 * r.max_connections_percent as u64 / 100) as u32)
                    .max(1)
            }
            ProxyKind::PgBouncer(p) => p.default_pool_size,
        }
    }
}

/// Invocation arrivals.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkloadConfig {
    /// Explicit arrival times (of the main function).
    At(Vec<SimDuration>),
    /// Explicit arrival times with the function each one invokes (0 = the
    /// main function, n = `handlers[n - 1]`), in time order.
    Mixed(Vec<(SimDuration, u16)>),
    /// A Poisson process.
    Poisson {
        /// Mean arrivals per second (> 0).
        rate_per_s: f64,
        /// First possible arrival.
        start: SimDuration,
        /// Stop after this many arrivals.
        count: u64,
    },
    /// A schedule (an EventBridge rule "every `period`"): arrival `k` at
    /// `start + k * period`, `k` from 0 to `count - 1`.
    Every {
        /// Time between arrivals (> 0).
        period: SimDuration,
        /// First arrival.
        start: SimDuration,
        /// Number of arrivals.
        count: u64,
    },
    /// A non-homogeneous Poisson process with rate `curve`, generated by
    /// thinning (Lewis and Shedler 1979).
    Rate {
        /// The rate over time.
        curve: RateCurve,
        /// First possible arrival.
        start: SimDuration,
        /// Stop after this many arrivals.
        count: u64,
        /// No arrival at or after this time.
        until: SimDuration,
    },
    /// Arrival counts per minute (the Azure Functions 2019 trace): the
    /// `c` arrivals of minute `m` at `start + m * 60s + j * 60s / c`.
    PerMinute {
        /// Arrivals in each minute, in order.
        counts: Vec<u32>,
        /// The start of the first minute.
        start: SimDuration,
    },
    /// The arrivals of `base` (which must not itself have bursts), merged
    /// with `bursts`; at equal times `base`'s arrival comes first.
    WithBursts(Box<WorkloadConfig>, Vec<Burst>),
}

impl WorkloadConfig {
    /// The most arrivals this workload can have (saturating).
    pub fn max_arrivals(&self) -> u64 {
        match self {
            WorkloadConfig::At(v) => v.len() as u64,
            WorkloadConfig::Mixed(v) => v.len() as u64,
            WorkloadConfig::Poisson { count, .. }
            | WorkloadConfig::Every { count, .. }
            | WorkloadConfig::Rate { count, .. } => *count,
            WorkloadConfig::PerMinute { counts, .. } => counts
                .iter()
                .fold(0u64, |a, c| a.saturating_add(u64::from(*c))),
            WorkloadConfig::WithBursts(base, bursts) => bursts
                .iter()
                .fold(base.max_arrivals(), |a, b| a.saturating_add(b.count)),
        }
    }
}

/// `count` arrivals in `[at, at + window)`: arrival `j` at
/// `at + j * window / count` (all at `at` when `window` is zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    /// First arrival.
    pub at: SimDuration,
    /// Number of arrivals (>= 1).
    pub count: u64,
    /// The window they are spread over.
    pub window: SimDuration,
}

/// A time-varying arrival rate, in arrivals per second.
#[derive(Clone, Debug, PartialEq)]
pub enum RateCurve {
    /// Piecewise constant: `(until, rate)` pieces in increasing `until`;
    /// a piece holds from the previous `until` (0 for the first) to its
    /// own; after the last the rate is 0.
    Steps(Vec<(SimDuration, f64)>),
    /// `mean + amplitude * sin(2 pi t / period)`, `t` the time since the
    /// start of the run; `0 <= amplitude <= mean`.
    Sine {
        /// Mean rate (> 0).
        mean: f64,
        /// Amplitude (0 ..= mean).
        amplitude: f64,
        /// Period (> 0).
        period: SimDuration,
    },
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            name: "unnamed".to_string(),
            seed: 1,
            event_budget: 200_000_000,
            platform: PlatformConfig::default(),
            client: ClientConfig::default(),
            network: NetworkConfig::default(),
            middleboxes: Vec::new(),
            path: None,
            proxies: Vec::new(),
            servers: vec![ServerConfig::default()],
            workload: WorkloadConfig::At(vec![SimDuration::ZERO]),
        }
    }
}
