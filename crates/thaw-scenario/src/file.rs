//! The scenario file's shape: serde types with `deny_unknown_fields`.
//! Every key is optional unless documented otherwise; defaults live in one
//! place (thaw-sim's config defaults) and are applied by `build`.
use crate::diag::{Dur, DurDist, Seed};
use schemars::JsonSchema;
use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// `[scenario]`: name, description, seed.
    #[serde(default)]
    pub scenario: ScenarioMeta,
    /// `[run]`: engine limits.
    #[serde(default)]
    pub run: RunSection,
    /// `[function]`: platform and environment settings.
    #[serde(default)]
    pub function: FunctionSection,
    /// `[client]`: connection strategy and requests.
    #[serde(default)]
    pub client: ClientSection,
    /// `[network]`: link latencies.
    #[serde(default)]
    pub network: NetworkSection,
    /// `[middlebox]`: optional NAT/LB/firewall on the path.
    pub middlebox: Option<MiddleboxSection>,
    /// `[[middleboxes]]`: several middleboxes on the path, in the order
    /// `network.path` gives (instead of `[middlebox]`).
    #[serde(default)]
    pub middleboxes: Vec<MiddleboxSection>,
    /// `[proxy]`: optional connection proxy (RDS Proxy, PgBouncer) in front
    /// of the server.
    pub proxy: Option<ProxySection>,
    /// `[[proxies]]`: several proxies, each in front of a named server
    /// (instead of `[proxy]`).
    #[serde(default)]
    pub proxies: Vec<ProxySection>,
    /// `[server]`: the one server.
    pub server: Option<ServerSection>,
    /// `[[servers]]`: several named servers (instead of `[server]`).
    #[serde(default)]
    pub servers: Vec<ServerSection>,
    /// `[workload]` (required).
    pub workload: Option<WorkloadSection>,
    /// `[[handlers]]`: further functions with their own requests.
    #[serde(default)]
    pub handlers: Vec<HandlerSection>,
    /// `[expect]`: assertions checked after the run.
    #[serde(default)]
    pub expect: ExpectSection,
    /// `[vary]`: the ranges `thaw check FILE` draws from when no `--vary`
    /// is given (key path → SPEC, e.g. `"server.idle_timeout" = "1s..600s"`);
    /// `thaw run` ignores it.
    #[serde(default)]
    pub vary: std::collections::BTreeMap<String, String>,
}

/// `[scenario]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    /// Short name (defaults to the file stem).
    pub name: Option<String>,
    /// What the scenario shows.
    pub description: Option<String>,
    /// RNG seed (default 1); `--seed` overrides. Any `u64`: as an integer,
    /// or in quotes above `i64::MAX`.
    pub seed: Option<Seed>,
}

/// `[run]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Most events a run may process before it stops with an error.
    pub event_budget: Option<u64>,
}

/// Frozen guest kernel behaviour.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrozenKernelKey {
    /// No ACK, no RST, no kernel timers while frozen.
    Silent,
    /// The guest kernel keeps running TCP.
    Running,
}

/// Thaw ordering.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThawOrderKey {
    /// Handler first.
    HandlerFirst,
    /// Pending socket events first.
    EventsFirst,
}

/// Warm environment choice.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementKey {
    /// Most recently used.
    MostRecent,
    /// Least recently used.
    LeastRecent,
    /// Most recently created (SimFaaS).
    NewestCreated,
}

/// `function.scale_rate`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleRateSection {
    /// New environments allowed per window (0 = no limit).
    pub count: u32,
    /// The window.
    pub per: Dur,
}

/// What the SnapStart after-restore runtime hook does.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterRestoreKey {
    /// No hook: the handler meets the connections the snapshot holds.
    None,
    /// Close the captured connections and open new ones before the handler.
    Reconnect,
}

/// `[function.snapstart]`: environments resume from a snapshot taken
/// after init (Lambda SnapStart).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapStartSection {
    /// Time to resume an environment from the snapshot, in place of
    /// `init_duration` (a duration or a distribution).
    pub restore_duration: Option<DurDist>,
    /// Init opened each `global` target's connection before the snapshot
    /// (default false: the handler connects on first use).
    pub init_connects: Option<bool>,
    /// `none` (default) or `reconnect`.
    pub after_restore: Option<AfterRestoreKey>,
}

/// `[function]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSection {
    /// Memory size, MB (128..=10240).
    pub memory_mb: Option<u32>,
    /// Function timeout.
    pub timeout: Option<Dur>,
    /// Cold-start duration (a duration or a distribution).
    pub init_duration: Option<DurDist>,
    /// Delay between response and freeze.
    pub freeze_delay: Option<Dur>,
    /// The handler's own work before its first request.
    pub handler_time: Option<DurDist>,
    /// Idle lifetime before reap (a duration or a distribution).
    pub reap_after: Option<DurDist>,
    /// Shortest idle lifetime (with `reap_after_max`: uniform).
    pub reap_after_min: Option<Dur>,
    /// Longest idle lifetime.
    pub reap_after_max: Option<Dur>,
    /// `silent` or `running`.
    pub frozen_kernel: Option<FrozenKernelKey>,
    /// `handler_first` or `events_first`.
    pub thaw_order: Option<ThawOrderKey>,
    /// Most environments at once.
    pub max_concurrency: Option<u32>,
    /// Environments of the main function initialised ahead and never
    /// reaped (Lambda's provisioned concurrency).
    pub provisioned_concurrency: Option<u32>,
    /// A function's scale-up rate: `{ count, per }` (default 1000 per
    /// 10 s; `count = 0` = no limit).
    pub scale_rate: Option<ScaleRateSection>,
    /// `most_recent` or `least_recent`.
    pub placement: Option<PlacementKey>,
    /// `async` (default) or `callback`.
    pub handler: Option<HandlerKey>,
    /// With `handler = "callback"`: wait for an empty event loop before
    /// the response (default true).
    pub callback_waits_for_empty_event_loop: Option<bool>,
    /// The handler's promise rejects this long after it starts (pool only).
    pub handler_rejects_after: Option<Dur>,
    /// `none` (default), `internal` or `external`: which extensions are
    /// registered (an external one gets the runtime SIGTERM at shutdown).
    pub extension: Option<ExtensionKey>,
    /// Lambda SnapStart: restore from a snapshot instead of init.
    pub snapstart: Option<SnapStartSection>,
    /// The environments' TCP settings.
    #[serde(default)]
    pub tcp: TcpSection,
}

/// Registered Lambda extensions.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionKey {
    /// None.
    None,
    /// An internal extension only.
    Internal,
    /// An external extension (SIGTERM to the runtime at shutdown).
    External,
}

/// `[*.tcp]`: sysctls and socket options.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpSection {
    /// TCP_RTO_MIN.
    pub rto_min: Option<Dur>,
    /// TCP_RTO_MAX.
    pub rto_max: Option<Dur>,
    /// TCP_TIMEOUT_INIT.
    pub rto_initial: Option<Dur>,
    /// net.ipv4.tcp_retries2.
    pub retries2: Option<u32>,
    /// net.ipv4.tcp_orphan_retries (0 = 8).
    pub orphan_retries: Option<u32>,
    /// net.ipv4.tcp_syn_retries.
    pub syn_retries: Option<u32>,
    /// net.ipv4.tcp_syn_linear_timeouts (Linux 6.5+; 0 = before 6.5).
    pub syn_linear_timeouts: Option<u32>,
    /// net.ipv4.tcp_synack_retries.
    pub synack_retries: Option<u32>,
    /// net.ipv4.tcp_fin_timeout.
    pub fin_timeout: Option<Dur>,
    /// TIME_WAIT length.
    pub time_wait: Option<Dur>,
    /// TCP_USER_TIMEOUT ("0s" = off).
    pub user_timeout: Option<Dur>,
    /// CONFIG_HZ: the tick the RTO is rounded up to (0 = exact).
    pub hz: Option<u32>,
    /// Tail loss probe (net.ipv4.tcp_early_retrans = 3 with SACK).
    pub tail_loss_probe: Option<bool>,
    /// net.ipv4.tcp_retrans_collapse: an RTO retransmission carries a
    /// FIN queued behind the data.
    pub retrans_collapse: Option<bool>,
    /// Fire the socket's timers on Linux's timer wheel (needs `hz`).
    pub timer_wheel: Option<bool>,
    /// SO_KEEPALIVE with per-socket values; absent = off.
    pub keepalive: Option<KeepaliveSection>,
}

/// `[*.tcp.keepalive]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveSection {
    /// SO_KEEPALIVE itself (default true when the table is present);
    /// `false` turns off a preset's keepalive.
    pub enabled: Option<bool>,
    /// TCP_KEEPIDLE.
    pub idle: Option<Dur>,
    /// TCP_KEEPINTVL.
    pub interval: Option<Dur>,
    /// TCP_KEEPCNT.
    pub count: Option<u32>,
}

/// How the handler ends.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKey {
    /// An async handler.
    Async,
    /// A callback handler.
    Callback,
}

/// Connection strategy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKey {
    /// Reused across invocations.
    Global,
    /// Opened and closed in every invocation.
    PerInvocation,
    /// A client pool per environment (`[client.pool]`).
    Pool,
    /// A connectionless HTTP API (Upstash REST): no connection kept.
    Http,
}

/// A pool preset.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolPresetKey {
    /// Sequelize v6 defaults.
    Sequelize,
    /// The Sequelize AWS Lambda guide's pool.
    SequelizeLambdaGuide,
    /// node-postgres Pool.
    PgPool,
    /// mysql2 pool.
    Mysql2,
    /// Go database/sql.
    GoDatabaseSql,
    /// SQLAlchemy QueuePool.
    Sqlalchemy,
    /// HikariCP.
    Hikaricp,
    /// serverless-mysql.
    ServerlessMysql,
    /// sqlx.
    Sqlx,
    /// bb8.
    Bb8,
    /// Npgsql's pool.
    Npgsql,
    /// psycopg_pool ConnectionPool.
    PsycopgPool,
    /// deadpool-postgres.
    DeadpoolPostgres,
    /// deadpool-redis.
    DeadpoolRedis,
}

/// Checkout validation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationKey {
    /// None.
    None,
    /// The driver's flag.
    Flag,
    /// Non-blocking read.
    Peek,
    /// A round trip.
    Ping,
}

/// Idle checkout order.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKey {
    /// Most recently released first.
    Lifo,
    /// Least recently released first.
    Fifo,
}

/// `[client.pool]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// The library (required).
    pub preset: Option<PoolPresetKey>,
    /// Maximum connections.
    pub max: Option<u32>,
    /// Minimum connections.
    pub min: Option<u32>,
    /// Idle timeout.
    pub idle_timeout: Option<Dur>,
    /// Acquire timeout ("0s" = wait forever).
    pub acquire_timeout: Option<Dur>,
    /// Evictor interval (the preset's evictor kind; "0s" = none).
    pub evict: Option<Dur>,
    /// Maximum lifetime ("0s" = none).
    pub max_lifetime: Option<Dur>,
    /// none, flag, peek or ping.
    pub validation: Option<ValidationKey>,
    /// lifo or fifo.
    pub order: Option<OrderKey>,
    /// How long a validation ping waits for its reply ("0s" = the
    /// world's rule: the first request's timeout, at most 5 s).
    pub ping_timeout: Option<Dur>,
    /// A keepalive query on an idle connection after this long without a
    /// query (Npgsql's `Keepalive`; "0s" = off).
    pub keepalive_query: Option<Dur>,
    /// `connectionManager.close()` at the end of every invocation.
    pub close_after_invocation: Option<bool>,
    /// `initPools()` at the start of every warm invocation.
    pub reset_at_start: Option<bool>,
}

/// `[client]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// `global` or `per_invocation`.
    pub strategy: Option<StrategyKey>,
    /// `[client.targets.SERVER]`: the strategy for requests to one server
    /// (the others use `strategy`).
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, TargetSection>,
    /// CPU time to set up a connection at one vCPU.
    pub connect_cpu: Option<DurDist>,
    /// The library's connect timeout (TCP connect + server handshake).
    pub connect_timeout: Option<Dur>,
    /// Session autocommit (default true; PyMySQL: false).
    pub autocommit: Option<bool>,
    /// Session isolation (default repeatable_read).
    pub isolation: Option<IsolationKey>,
    /// Where reads go when the server has replicas (default primary).
    pub read_routing: Option<RoutingKey>,
    /// Requests per invocation.
    pub requests: Option<Vec<RequestSection>>,
    /// The pool of `strategy = "pool"`.
    pub pool: Option<PoolSection>,
    /// `[client.retry]`: retries of failed requests.
    pub retry: Option<RetrySection>,
    /// Extra latency per request with `strategy = "http"` (default 5ms).
    pub http_overhead: Option<Dur>,
    /// `[client.library]`: the library holding `global` connections.
    pub library: Option<LibrarySection>,
    /// `[client.tls]`: TLS on every connection the functions open.
    pub tls: Option<TlsSection>,
}

/// `[client.tls]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// `"1.3"` (default) or `"1.2"`.
    pub version: Option<TlsVersionKey>,
    /// The client's handshake CPU on one full vCPU (default 1ms).
    pub cpu: Option<Dur>,
    /// Session resumption from the environment's session cache (default
    /// false).
    pub resumption: Option<bool>,
    /// How long the server accepts a cached session (default 300s).
    pub session_lifetime: Option<Dur>,
    /// The client's CPU for a resumed handshake (default half of `cpu`).
    pub resume_cpu: Option<Dur>,
    /// The server's CPU for a full handshake's first flight (default 0s).
    pub server_cpu: Option<Dur>,
    /// The server sends close_notify before its clean closes (default
    /// true).
    pub close_notify: Option<bool>,
}

/// `[client.tls] version`: `"1.3"` or `"1.2"`, also written as a number
/// (`--set client.tls.version=1.2` gives one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersionKey {
    /// TLS 1.3: one round trip.
    V13,
    /// TLS 1.2: two round trips.
    V12,
}

impl JsonSchema for TlsVersionKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TlsVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"1.3\" (one round trip) or \"1.2\" (two), also as a number.",
            "anyOf": [
                { "type": "string", "enum": ["1.3", "1.2"] },
                { "type": "number", "enum": [1.3, 1.2] }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for TlsVersionKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, JsonSchema)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            F(f64),
        }
        let s = match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::F(f) => format!("{f}"),
        };
        match s.as_str() {
            "1.3" => Ok(TlsVersionKey::V13),
            "1.2" => Ok(TlsVersionKey::V12),
            other => Err(serde::de::Error::custom(format!(
                "unknown TLS version `{other}`: thaw models \"1.3\" (one round trip) and \"1.2\" (two)"
            ))),
        }
    }
}

/// `[client.library]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibrarySection {
    /// The library (required).
    pub preset: Option<String>,
    /// `never`, `on_next_use`, or `backoff` (the preset's backoff).
    pub reconnect: Option<ReconnectKey>,
    /// Commands wait for a connection being opened (true) or fail.
    pub offline_queue: Option<bool>,
    /// `reject` or `resend` a command in flight when its connection dies.
    pub in_flight: Option<InFlightKey>,
    /// Failed reconnects after which a waiting command fails ("0" = none).
    pub max_retries_per_request: Option<u32>,
    /// The library's connect timeout ("0s" = none).
    pub connect_timeout: Option<Dur>,
    /// The library's command timeout ("0s" = none).
    pub command_timeout: Option<Dur>,
    /// A heartbeat PING every this long while idle ("0s" = none).
    pub ping_interval: Option<Dur>,
    /// No reply to the heartbeat in this long: the connection is dead.
    pub ping_timeout: Option<Dur>,
    /// redis-py `health_check_interval`: PING before a command on a
    /// connection idle longer than this ("0s" = no check).
    pub health_check_interval: Option<Dur>,
    /// The library closes its connection after it has been idle this
    /// long (an HTTP agent's free-socket timeout; "0s" = kept forever).
    pub idle_close: Option<Dur>,
    /// With `in_flight = "retry"`: retries per command.
    pub retries: Option<u32>,
    /// A connection idle this long is replaced before a command, without
    /// looking ("0s" = no check).
    pub max_idle: Option<Dur>,
}

/// `[client.library] reconnect`
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectKey {
    /// The client is finished after a loss.
    Never,
    /// A new connection for the next command.
    OnNextUse,
    /// At once with the preset's backoff.
    Backoff,
}

/// `[client.library] in_flight`
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InFlightKey {
    /// Fail with the library's error.
    Reject,
    /// Write it again after the reconnect.
    Resend,
    /// Retry it on a new connection with the preset's backoff.
    Retry,
}

/// `[client.retry]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// Retries after the first attempt (default 0 = none).
    pub count: Option<u32>,
    /// Delay before a retry (default "0s"); with `backoff_max`, the base
    /// of an exponential backoff with full jitter.
    pub backoff: Option<Dur>,
    /// Cap of the exponential backoff with full jitter.
    pub backoff_max: Option<Dur>,
    /// Error kinds retried (default ECONNRESET, EPIPE, EOF, ETIMEDOUT,
    /// REQUEST_TIMEOUT).
    pub on: Option<Vec<String>>,
}

/// What a request does to the data.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpKey {
    /// No effect (default).
    Ping,
    /// Read `key`.
    Read,
    /// Write `key`.
    Write,
    /// BEGIN.
    Begin,
    /// COMMIT.
    Commit,
    /// ROLLBACK.
    Rollback,
    /// End the session; the server closes the connection.
    Quit,
}

/// `[[client.requests]]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSection {
    /// Name in the timeline.
    pub name: String,
    /// Client-side reply timeout.
    pub timeout: Option<Dur>,
    /// Effect on the data (default `ping`).
    pub op: Option<OpKey>,
    /// Key read or written (`read`, `write`).
    pub key: Option<u64>,
    /// The statement changes session state (SET, prepared statement,
    /// temporary table...): RDS Proxy pins the session.
    pub pin: Option<bool>,
    /// The server it goes to, by name (required with several servers).
    pub target: Option<String>,
    /// Applying the request twice is harmless (default false): a retried
    /// write applied twice is then not counted as a duplicate write.
    pub idempotent: Option<bool>,
    /// The `write()` calls the request takes (default 1).
    pub writes: Option<u32>,
    /// Time between two of its writes (default 0s).
    pub write_gap: Option<Dur>,
    /// The handler's work after its reply (default 0s).
    pub work_after: Option<Dur>,
    /// The handler waits for the reply (default true).
    #[serde(rename = "await")]
    pub await_reply: Option<bool>,
}

/// `[[handlers]]`: another function.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlerSection {
    /// Its name, used by `[[workload.invoke]]`.
    pub name: String,
    /// Its requests.
    pub requests: Vec<RequestSection>,
}

/// Isolation levels.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IsolationKey {
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ.
    RepeatableRead,
}

/// Read routing.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingKey {
    /// Every read on the primary.
    Primary,
    /// Every read on the first replica.
    Replica,
    /// Reads take replicas in turn.
    RoundRobin,
}

/// Source address seen by servers.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceIpKey {
    /// All environments share one address.
    Shared,
    /// One address per environment.
    PerEnvironment,
}

/// `[network]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// `shared` (default) or `per_environment`.
    pub source_ip: Option<SourceIpKey>,
    /// One-way latency on the function side (a distribution is drawn once
    /// per connection).
    pub client_latency: Option<DurDist>,
    /// One-way latency on the server side (a distribution is drawn once
    /// per connection).
    pub server_latency: Option<DurDist>,
    /// One-way latency over an environment's loopback, to a server with
    /// `location = "environment"`.
    pub loopback_latency: Option<Dur>,
    /// The middleboxes a connection crosses, by name, from the functions'
    /// side (required with two or more `[[middleboxes]]`).
    pub path: Option<Vec<String>>,
    /// One-way latencies of the links between consecutive middleboxes on
    /// the path (one fewer than the path's middleboxes; default 0 each).
    pub hop_latencies: Option<Vec<Dur>>,
}

/// Middlebox presets.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PresetKey {
    /// AWS NAT gateway.
    AwsNatGateway,
    /// AWS NLB.
    AwsNlb,
    /// Linux conntrack.
    LinuxConntrack,
    /// AWS Network Firewall.
    AwsNetworkFirewall,
    /// AWS VPC interface endpoint.
    AwsVpcEndpoint,
    /// A VPC Lambda's Hyperplane ENI (idle timeout required).
    AwsHyperplaneEni,
}

/// Untracked packet policy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UntrackedKey {
    /// Answer with RST.
    Rst,
    /// Drop silently.
    Drop,
    /// Let through (conntrack's loose pick-up, no NEW-not-SYN rule).
    Accept,
}

/// `[middlebox]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MiddleboxSection {
    /// Base values; keys below override them.
    pub preset: Option<PresetKey>,
    /// Display name.
    pub name: Option<String>,
    /// Every state's timeout at once (before per-state overrides).
    pub idle_timeout: Option<Dur>,
    /// Policy for untracked packets from the client side.
    pub untracked_from_client: Option<UntrackedKey>,
    /// Policy for untracked packets from the server side.
    pub untracked_from_server: Option<UntrackedKey>,
    /// Per-state timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
}

/// `[middlebox.timeouts]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    /// SYN_SENT.
    pub syn_sent: Option<Dur>,
    /// SYN_RECV.
    pub syn_recv: Option<Dur>,
    /// ESTABLISHED.
    pub established: Option<Dur>,
    /// FIN_WAIT.
    pub fin_wait: Option<Dur>,
    /// CLOSE_WAIT.
    pub close_wait: Option<Dur>,
    /// LAST_ACK.
    pub last_ack: Option<Dur>,
    /// TIME_WAIT.
    pub time_wait: Option<Dur>,
    /// CLOSE.
    pub close: Option<Dur>,
    /// Cap after three identical packets in a row ("0s" = none).
    pub max_retrans: Option<Dur>,
    /// Cap while data is unacknowledged ("0s" = none).
    pub unacknowledged: Option<Dur>,
}

/// Proxy presets.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyPresetKey {
    /// Amazon RDS Proxy.
    RdsProxy,
    /// PgBouncer.
    Pgbouncer,
}

/// PgBouncer pool modes.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolModeKey {
    /// Released when the client disconnects.
    Session,
    /// Released when the transaction ends.
    Transaction,
}

/// `[proxy]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// `rds-proxy` or `pgbouncer` (required).
    pub preset: Option<ProxyPresetKey>,
    /// The server it fronts, by name (required with several servers).
    pub server: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Listening port.
    pub port: Option<u16>,
    /// One-way latency between the proxy and the server.
    pub server_latency: Option<Dur>,
    /// RDS Proxy `MaxConnectionsPercent`.
    pub max_connections_percent: Option<u32>,
    /// RDS Proxy `MaxIdleConnectionsPercent`.
    pub max_idle_connections_percent: Option<u32>,
    /// RDS Proxy `ConnectionBorrowTimeout` ("0s" = unlimited).
    pub connection_borrow_timeout: Option<Dur>,
    /// RDS Proxy `IdleClientTimeout`.
    pub idle_client_timeout: Option<Dur>,
    /// PgBouncer `pool_mode`.
    pub pool_mode: Option<PoolModeKey>,
    /// PgBouncer `default_pool_size`.
    pub default_pool_size: Option<u32>,
    /// PgBouncer `max_client_conn`.
    pub max_client_conn: Option<u32>,
    /// PgBouncer `server_idle_timeout` ("0s" = off).
    pub server_idle_timeout: Option<Dur>,
    /// PgBouncer `server_lifetime` ("0s" = use each connection once).
    pub server_lifetime: Option<Dur>,
    /// PgBouncer `client_idle_timeout` ("0s" = off, the default).
    pub client_idle_timeout: Option<Dur>,
    /// PgBouncer `query_wait_timeout` ("0s" = off).
    pub query_wait_timeout: Option<Dur>,
    /// The proxy host's TCP settings.
    #[serde(default)]
    pub tcp: TcpSection,
}

/// Server presets.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServerPresetKey {
    /// A plain request/response server.
    Generic,
    /// Redis 7.
    Redis7,
    /// MySQL 8.0.
    Mysql8,
    /// PostgreSQL.
    Postgres,
    /// Upstash (soft/hard limits).
    Upstash,
    /// MariaDB 10.11 (MySQL protocol; idle closes by RST, no message).
    Mariadb,
    /// Node.js `http.Server` (keepAliveTimeout 5 s).
    NodeHttp,
    /// nginx (keepalive_timeout 75 s).
    Nginx,
    /// AWS Application Load Balancer (idle timeout 60 s).
    AwsAlb,
    /// gRPC server (HTTP/2; GOAWAY on max_connection_idle).
    Grpc,
}

/// One `server.outages` window.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageSection {
    /// When the process stops, from the start of the run.
    pub at: Dur,
    /// How long it stays down.
    pub duration: Dur,
}

/// `server.location`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerLocationKey {
    /// Its own host, across the network path.
    Remote,
    /// Inside each execution environment (a sidecar on localhost).
    Environment,
}

/// How a server ends an idle connection.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdleCloseKey {
    /// `close()`: FIN, and an orphan that retransmits it.
    Fin,
    /// `close()` with `SO_LINGER` zero: RST, no orphan.
    Rst,
}

/// `[client.targets.SERVER]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// The connection strategy for requests to this server.
    pub strategy: Option<StrategyKey>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Base values: `generic` (default), `redis7`, `mysql8`, `mariadb`,
    /// `postgres`, `upstash`; keys below override them.
    pub preset: Option<ServerPresetKey>,
    /// The middleboxes a connection to this server crosses, by name, from
    /// the functions' side (default: `network.path`).
    pub path: Option<Vec<String>>,
    /// One-way latencies of the links between consecutive middleboxes of
    /// `path`.
    pub hop_latencies: Option<Vec<Dur>>,
    /// Display name.
    pub name: Option<String>,
    /// Send the server's error before an idle close.
    pub idle_close_error: Option<bool>,
    /// How an idle close ends the connection: `fin` or `rst`.
    pub idle_close: Option<IdleCloseKey>,
    /// Close connections idle this long inside an open transaction
    /// (PostgreSQL idle_in_transaction_session_timeout; "0s" = off).
    pub idle_in_transaction_timeout: Option<Dur>,
    /// HTTP: the `Keep-Alive: timeout=N` the server advertises ("0s" =
    /// no header).
    pub keep_alive_hint: Option<Dur>,
    /// Windows during which the server process is down.
    pub outages: Option<Vec<OutageSection>>,
    /// Where the server runs: `remote` (default) or `environment` (inside
    /// each execution environment, on localhost).
    pub location: Option<ServerLocationKey>,
    /// With `location = "environment"`: how long after a thaw the server
    /// runs what it held while frozen (default "0s").
    pub thaw_delay: Option<Dur>,
    /// Slots reserved for administrators.
    pub reserved_connections: Option<u32>,
    /// Listen backlog (accept queue).
    pub backlog: Option<u32>,
    /// CPU cores (0 = no contention).
    pub cores: Option<u32>,
    /// CPU time to accept a connection.
    pub accept_cpu: Option<Dur>,
    /// Memory per connection, bytes.
    pub memory_per_connection: Option<u64>,
    /// Interrupted attempts before a host is blocked (0 = never).
    pub max_connect_errors: Option<u32>,
    /// The server speaks first; the client waits for its greeting.
    pub handshake: Option<bool>,
    /// How long the server waits for the answer to its greeting
    /// (MySQL connect_timeout; "0s" = forever).
    pub handshake_timeout: Option<Dur>,
    /// Upstash soft limit.
    pub soft_limit: Option<u32>,
    /// Upstash hard limit.
    pub hard_limit: Option<u32>,
    /// Minimum idle time of an evictable connection.
    pub evict_min_idle: Option<Dur>,
    /// Read replicas, by replication lag.
    pub replicas: Option<Vec<Dur>>,
    /// Listening port.
    pub port: Option<u16>,
    /// Idle close ("0s" = never).
    pub idle_timeout: Option<Dur>,
    /// The clock the idle check runs on ("0s" = an exact timer).
    pub idle_check_interval: Option<Dur>,
    /// Time to answer a request.
    pub service_time: Option<DurDist>,
    /// Connection limit.
    pub max_connections: Option<u32>,
    /// The server host's TCP settings.
    #[serde(default)]
    pub tcp: TcpSection,
}

/// `[workload]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Explicit arrival times.
    pub at: Option<Vec<Dur>>,
    /// A Poisson process.
    pub poisson: Option<PoissonSection>,
    /// Bursts: many arrivals at once or within a window.
    #[serde(default)]
    pub burst: Vec<BurstSection>,
    /// A schedule: one arrival every period.
    pub every: Option<EverySection>,
    /// A time-varying rate (a non-homogeneous Poisson process).
    pub rate: Option<RateSection>,
    /// Replay of a public Azure Functions trace.
    pub trace: Option<TraceSection>,
    /// Arrivals of the `[[handlers]]` functions.
    #[serde(default)]
    pub invoke: Vec<InvokeSection>,
}

/// `[[workload.invoke]]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeSection {
    /// A `[[handlers]]` name.
    pub handler: String,
    /// Its arrival times.
    pub at: Vec<Dur>,
}

/// `[workload.poisson]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoissonSection {
    /// Mean arrivals per second.
    pub rate: f64,
    /// Number of arrivals.
    pub count: u64,
    /// Time of the first possible arrival.
    pub start: Option<Dur>,
}

/// `[[workload.burst]]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstSection {
    /// Time of the first arrival.
    pub at: Dur,
    /// Number of arrivals.
    pub count: u64,
    /// The window they are spread evenly over (default 0s: all at `at`).
    pub window: Option<Dur>,
}

/// `[workload.every]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EverySection {
    /// Time between arrivals.
    pub period: Dur,
    /// Number of arrivals.
    pub count: u64,
    /// Time of the first arrival.
    pub start: Option<Dur>,
}

/// `[workload.rate]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateSection {
    /// A piecewise-constant rate.
    pub curve: Option<Vec<RatePiece>>,
    /// A sinusoidal rate.
    pub sine: Option<SineSection>,
    /// Stop after this many arrivals.
    pub count: Option<u64>,
    /// No arrival at or after this time.
    pub until: Option<Dur>,
    /// Time from which arrivals may come.
    pub start: Option<Dur>,
}

/// One piece of `workload.rate.curve`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatePiece {
    /// The end of the piece.
    pub until: Dur,
    /// Arrivals per second within it.
    pub rate: f64,
}

/// `[workload.rate.sine]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SineSection {
    /// Mean arrivals per second.
    pub mean: f64,
    /// Amplitude, in arrivals per second.
    pub amplitude: f64,
    /// Period of the wave.
    pub period: Dur,
}

/// Trace file formats.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
pub enum TraceFormat {
    /// Azure Functions 2019: invocation counts per minute of one day.
    #[serde(rename = "azure-2019")]
    Azure2019,
    /// Azure Functions 2021: one line per invocation.
    #[serde(rename = "azure-2021")]
    Azure2021,
}

/// `[workload.trace]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceSection {
    /// The trace file (relative to the scenario file's directory).
    pub file: String,
    /// Its format.
    pub format: TraceFormat,
    /// The function to replay (its `HashFunction` / `func` hash).
    pub function: Option<String>,
    /// `azure-2021`: the application (`app` hash), when the function hash
    /// is not enough.
    pub app: Option<String>,
    /// `azure-2019`: the data row to replay (1 = the first after the
    /// header), instead of `function`.
    pub row: Option<u64>,
    /// Where time 0 of the trace falls in the run.
    pub start: Option<Dur>,
}

/// `[expect]`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSection {
    /// Assertions, e.g. `"invocation[2].error == ETIMEDOUT"`.
    #[serde(default)]
    pub assert: Vec<String>,
}
