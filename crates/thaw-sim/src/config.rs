//! Plain configuration structs for a run. thaw-scenario fills them from a
//! scenario file; every default is sourced in docs/model.md.
use thaw_core::SimDuration;
use thaw_net::{MiddleboxConfig, TcpConfig};

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
    /// Optional middlebox between the functions and the server.
    pub middlebox: Option<NamedMiddlebox>,
    /// The server.
    pub server: ServerConfig,
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

/// How long an idle (frozen) environment lives before it is reaped.
#[derive(Clone, Debug, PartialEq)]
pub enum ReapPolicy {
    /// Always after this idle time.
    Fixed(SimDuration),
    /// Uniformly between `min` and `max` (inclusive), drawn per freeze.
    Uniform {
        /// Shortest idle lifetime.
        min: SimDuration,
        /// Longest idle lifetime.
        max: SimDuration,
    },
}

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

/// Which idle environment serves an invocation when several are warm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The most recently used one (default).
    MostRecent,
    /// The least recently used one.
    LeastRecent,
}

/// The platform: execution environments and their lifecycle.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// Function memory size in MB; CPU share is memory/1769 of a vCPU.
    pub memory_mb: u32,
    /// Function timeout; the environment is reset when it passes.
    pub timeout: SimDuration,
    /// Cold-start (init) duration.
    pub init_duration: SimDuration,
    /// Delay between the response and the freeze (0 = right after).
    pub freeze_delay: SimDuration,
    /// Idle lifetime of a frozen environment.
    pub reap: ReapPolicy,
    /// Frozen guest kernel behaviour.
    pub frozen_kernel: FrozenKernel,
    /// Order of handler and pending events on thaw.
    pub thaw_order: ThawOrder,
    /// Most environments alive at once; arrivals beyond are throttled.
    pub max_concurrency: u32,
    /// Choice among warm environments.
    pub placement: Placement,
    /// The environments' kernel TCP settings and socket options.
    pub tcp: TcpConfig,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            memory_mb: 128,
            timeout: SimDuration::from_secs(3),
            init_duration: SimDuration::from_millis(322),
            freeze_delay: SimDuration::ZERO,
            reap: ReapPolicy::Fixed(SimDuration::from_secs(600)),
            frozen_kernel: FrozenKernel::Silent,
            thaw_order: ThawOrder::HandlerFirst,
            max_concurrency: 1000,
            placement: Placement::MostRecent,
            tcp: TcpConfig::default(),
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
}

/// One request an invocation makes.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSpec {
    /// Name shown in the timeline, e.g. `GET foo`.
    pub name: String,
    /// Client-side timeout for the reply; `None` = wait for TCP.
    pub timeout: Option<SimDuration>,
}

/// The client side.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Connection strategy.
    pub strategy: Strategy,
    /// Requests each invocation makes, in order.
    pub requests: Vec<RequestSpec>,
    /// CPU time to set up a connection on one full vCPU (1769 MB).
    pub connect_cpu: SimDuration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            strategy: Strategy::Global,
            requests: vec![RequestSpec {
                name: "GET".to_string(),
                timeout: None,
            }],
            connect_cpu: SimDuration::from_micros(470),
        }
    }
}

/// Link latencies (one way).
#[derive(Clone, Copy, Debug)]
pub struct NetworkConfig {
    /// Function side: environment to middlebox (or the first half of the
    /// path when there is none).
    pub client_latency: SimDuration,
    /// Server side: middlebox to server.
    pub server_latency: SimDuration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            client_latency: SimDuration::from_micros(250),
            server_latency: SimDuration::from_micros(250),
        }
    }
}

/// The server (Redis-like by default).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Display name.
    pub name: String,
    /// Listening port.
    pub port: u16,
    /// Close connections idle longer than this; `None` = never (Redis
    /// `timeout 0`).
    pub idle_timeout: Option<SimDuration>,
    /// Time to answer one request.
    pub service_time: SimDuration,
    /// Connections accepted at once; beyond, an error then close.
    pub max_connections: u32,
    /// The server host's TCP settings (keepalive on accepted sockets too).
    pub tcp: TcpConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "server".to_string(),
            port: 6379,
            idle_timeout: None,
            service_time: SimDuration::from_micros(100),
            max_connections: 10_000,
            tcp: TcpConfig::default(),
        }
    }
}

/// Invocation arrivals.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkloadConfig {
    /// Explicit arrival times.
    At(Vec<SimDuration>),
    /// A Poisson process.
    Poisson {
        /// Mean arrivals per second (> 0).
        rate_per_s: f64,
        /// First possible arrival.
        start: SimDuration,
        /// Stop after this many arrivals.
        count: u64,
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
            middlebox: None,
            server: ServerConfig::default(),
            workload: WorkloadConfig::At(vec![SimDuration::ZERO]),
        }
    }
}
