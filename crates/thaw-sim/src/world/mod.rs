//! The World: execution environments, their client connections, the
//! network path (links and an optional middlebox), and the server, wired
//! over the sans-IO models of thaw-net and driven by one event queue.

mod client;
mod external;
mod library;
mod local;
mod net;
mod pending;
mod platform;
mod pool;
mod proxy;
#[cfg(test)]
mod proxy_tests;
mod server;
mod snapstart;
mod tls;

pub use external::{Driven, ExtEvent, ExtRecv, ExtSock, SockOpts, Unsupported};

use crate::config::{Extension, FrozenKernel, Placement, SimConfig, Strategy, ThawOrder};
use crate::msg::*;
use crate::report::{
    self, Collector, ErrorKind, NoRows, Outcome, OutcomeSink, RunResult, WorldTotals,
};
use crate::workload::Arrivals;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use thaw_core::{
    BudgetExceeded, EventQueue, Level, Reserved, RngStreams, SimDuration, SimRng, SimTime, SlotRef,
    Slots, TraceRecord, TraceSink, Value,
};
use thaw_net::{
    Addr, Dir, Errno, Middlebox, Notice, Payload, RecvResult, Segment, Tcb, TcpAction, TcpNote,
    TimerKind, Verdict,
};

/// Why a run could not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// More events than the budget allows: a runaway scenario.
    Budget(BudgetExceeded),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Budget(b) => write!(
                f,
                "the run exceeded its event budget of {} events at t={} (raise run.event_budget if this is expected)",
                b.budget, b.at
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// The first server's host id; further servers count down from below the
/// first proxy's ([`server_host`]).
const SERVER_HOST: u32 = 0;
/// The proxy's host id, when a proxy is configured (environments count
/// from 1 and never reach it).
const PROXY_HOST: u32 = u32::MAX - 1;

/// Servers and proxies beyond the first of each: at most this many more.
const MORE_NODES: u32 = 32_767;

/// Host ids above this are servers and proxies (environments count from 1
/// and never reach them).
const NODE_HOSTS: u32 = PROXY_HOST - 2 * MORE_NODES - 1;

/// The host id of server `i`: 0 for the first (as with one server), then
/// `u32::MAX − 2`, `u32::MAX − 3`, ...
fn server_host(i: u16) -> u32 {
    match i {
        0 => SERVER_HOST,
        i => PROXY_HOST - u32::from(i),
    }
}

/// Which server has host id `host`, if any.
fn server_of_host(host: u32) -> Option<u16> {
    match host {
        SERVER_HOST => Some(0),
        h if (PROXY_HOST - MORE_NODES..PROXY_HOST).contains(&h) => {
            u16::try_from(PROXY_HOST - h).ok()
        }
        _ => None,
    }
}

/// The host id of proxy `i`: `u32::MAX − 1` for the first (as with one
/// proxy), further ones below the servers'.
fn proxy_host(i: u16) -> u32 {
    match i {
        0 => PROXY_HOST,
        i => PROXY_HOST - MORE_NODES - u32::from(i),
    }
}

/// Which proxy has host id `host`, if any.
fn proxy_of_host(host: u32) -> Option<u16> {
    match host {
        PROXY_HOST => Some(0),
        h if (NODE_HOSTS + 1..PROXY_HOST - MORE_NODES).contains(&h) => {
            u16::try_from(PROXY_HOST - MORE_NODES - h).ok()
        }
        _ => None,
    }
}

/// Is `host` an execution environment (not a server or the proxy)?
fn is_env_host(host: u32) -> bool {
    host != SERVER_HOST && host <= NODE_HOSTS
}

/// Delay lanes of the event queue (see EventQueue::push_after).
const LANES: usize = 32;
const FIRST_EPHEMERAL: u16 = 32768;
const LAST_EPHEMERAL: u16 = 60999;
/// The CPU share of one full vCPU: 1769 MB (AWS Lambda).
const MB_PER_VCPU: u64 = 1769;

/// A socket in the world's arena.
type SockRef = SlotRef<LiveSock>;

/// A (local, remote) address pair packed into one number: the
/// demultiplexer's key. One 128-bit comparison instead of up to four
/// field comparisons per B-tree step (searches with tuple keys were ~7 %
/// of a run). The fields are packed most significant first, at fixed
/// widths, so the order is the tuple's: iteration and ranges are unchanged.
type FlowKey = u128;

fn flow_key(local: Addr, remote: Addr) -> FlowKey {
    let addr = |a: Addr| ((a.host as u128) << 16) | a.port as u128;
    (addr(local) << 48) | addr(remote)
}

/// A connection the server application holds.
type ConnRef = crate::server::ConnRef<SockRef>;
/// The server model, over the world's sockets.
type Server = crate::server::Server<SockRef>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The client connection of an environment.
    Env(u32),
    /// A server socket still in the handshake.
    ServerPending,
    /// A server socket that completed the handshake and waits in the accept
    /// queue (the server application looks at it when a core accepts it).
    ServerQueued,
    /// A server connection the server application holds.
    Server(ConnRef),
    /// A proxy-side client socket still in the handshake.
    ProxyPending,
    /// A client connection the proxy holds.
    ProxyClient(proxy::ClientRef),
    /// One of the proxy's database connections.
    ProxyBackend(proxy::BackendRef),
    /// Closed by its application; the kernel finishes it alone.
    Kernel,
}

struct LiveSock {
    tcb: Tcb,
    owner: Owner,
    last_note: Option<TcpNote>,
    /// The socket at the other end, once known: lets a delivery skip the
    /// demultiplexing lookup (validated against the addresses on use).
    peer: Option<SockRef>,
    /// The peer's application sent TLS `close_notify` before closing: an
    /// EOF read here is a clean TLS close (model.md 2.12).
    close_notify: bool,
    /// A function's socket: its connection's one-way latencies (function
    /// side, server side), drawn when it was made when they vary.
    lat: (SimDuration, SimDuration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnvState {
    Initializing,
    Busy,
    Idle,
    Frozen,
    /// The shutdown phase after SIGTERM (`function.extension = "external"`):
    /// the runtime closes its connections; the kernel runs; nothing else
    /// reaches the code.
    ShuttingDown,
    Reaped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    /// The handler's own work (`function.handler_time`).
    Work,
    ConnectCpu,
    Connecting,
    /// TCP is up; waiting for the server's greeting.
    Handshake,
    AwaitReply,
    /// Between two writes of a request written in several `write()` calls
    /// (`RequestSpec::writes`): the application is producing the next
    /// part and does not read.
    Writing,
    /// The request is with the client library (`[client.library]`): queued
    /// until its connection is ready, or being checked.
    LibWait,
    /// Waiting for a connection from the client pool.
    PoolWait,
    /// Real code runs the handler (thaw-harness): the world waits for it
    /// to finish.
    External,
    /// The callback was called; the runtime waits for an empty event loop
    /// (`callbackWaitsForEmptyEventLoop`).
    Draining,
}

struct Inv {
    id: u64,
    seq: u64,
    arrival: SimTime,
    cold: bool,
    step: usize,
    phase: Phase,
    /// The function invoked (0 = main).
    func: u16,
    /// Reads of this invocation that missed a completed write.
    stale_reads: u64,
    /// The read in flight and its key.
    read: Option<(thaw_db::ReadToken, u64)>,
    /// When the current request was sent.
    sent_at: SimTime,
    /// The pool acquire this invocation waits for.
    waiter: Option<thaw_client::WaiterId>,
    /// The pooled connection this invocation holds.
    held: Option<thaw_client::ConnId>,
    /// Retries of the current request so far (`[client.retry]`).
    retries: u32,
    /// Non-idempotent writes of this invocation applied again by a retry.
    duplicate_writes: u64,
    /// Writes of the current request done so far, and the socket they
    /// went to (a request written in several `write()` calls).
    parts: Option<(u32, SockRef)>,
    /// TLS on the connection this invocation is opening.
    tls: Option<tls::TlsSetup>,
}

struct Env {
    state: EnvState,
    gen: u32,
    idle_key: Option<u64>,
    /// The function this environment belongs to (0 = main).
    func: u16,
    /// Keys written by the open transaction on its connection.
    tx_keys: Vec<u64>,
    next_port: u16,
    /// The connection kept per target server (strategies global and
    /// per-invocation), by server index.
    conns: Vec<Option<SockRef>>,
    socks: Vec<SockRef>,
    /// The sockets at the fronts (servers or the proxy) whose peer is this
    /// environment, by (front address, the peer's port), in the order of
    /// `World::demux`: what freezing and thawing mark as zombies, found
    /// without a range query over every socket of the world (that was ~4 %
    /// of a run).
    front_socks: Vec<((Addr, u16), SockRef)>,
    inv: Option<Inv>,
    deferred_kernel: Vec<(SockRef, TimerKind, u32)>,
    deferred_app: Vec<(SockRef, Notice)>,
    since: SimTime,
    /// The client pool (module scope), with `Strategy::Pool`.
    pool: Option<Box<thaw_client::Pool>>,
    /// The pool's connections as the world sees them.
    pconns: BTreeMap<thaw_client::ConnId, pool::PConn>,
    /// Socket → pooled connection.
    psock: BTreeMap<SockRef, thaw_client::ConnId>,
    /// Why the last failed keepalive query failed (its connection, the
    /// error's kind and detail), for the acquire that waited for it.
    ka_fail: Option<(thaw_client::ConnId, ErrorKind, String)>,
    /// Kept initialised by provisioned concurrency: preferred for
    /// arrivals, never reaped (model.md 1.6a).
    provisioned: bool,
    /// The target whose connection the SnapStart after-restore hook is
    /// opening (model.md 1.6b); the handler has not started.
    restore_hook: Option<u16>,
    /// Runtime timers that came due while frozen.
    deferred_rt: Vec<pool::RtTimer>,
    /// The client library's connection object per target
    /// (`[client.library]`, `global` targets), by server index.
    libs: Vec<Option<Box<library::LibSlot>>>,
    /// Next acquire id.
    next_waiter: u64,
    /// Requests written and not awaited (`await = false`), oldest first:
    /// their replies come first on their sockets.
    pending: std::collections::VecDeque<Pending>,
    /// An unhandled rejection waiting to be raised (the environment was
    /// frozen when its cause was seen, or it runs at this instant).
    crash: Option<(String, u16)>,
    /// This environment's own servers (`ServerLocation::Environment`):
    /// (configured server, instance in `World::servers`).
    local_srv: Vec<(u16, u16)>,
    /// Segments over loopback that arrived while the environment was
    /// frozen (`frozen_kernel = silent`): delivered at the thaw.
    deferred_loopback: Vec<(Segment, Option<SockRef>, Option<SockRef>)>,
    /// `[client.tls] resumption`: when the environment's last full TLS
    /// handshake with each server (by index) completed; module scope, so
    /// it goes with the runtime (reap, reset).
    tls_sessions: Vec<Option<SimTime>>,
    /// The running invocation's function timeout while it is not yet in
    /// the queue: (deadline, its reserved place, the invocation's seq).
    /// It is scheduled only once the invocation may still run at the
    /// deadline, so an invocation that ends first costs no event; the
    /// reserved place keeps the order it would have had.
    timeout_due: Option<(SimTime, Reserved, u64)>,
    /// When this environment is reaped if it stays frozen: (time, its
    /// reserved place, the freeze's `gen`).
    reap_due: Option<(SimTime, Reserved, u32)>,
    /// The one `Ev::Reap` of this environment that is live in the queue.
    /// A warm environment frozen again before it fires needs no new event:
    /// the alarm fires, finds a later `reap_due`, and moves there.
    reap_alarm: Option<(SimTime, Reserved)>,
}

/// Warm environments per function, ordered by their last use: (use key,
/// env). Use keys only grow, so an environment going idle joins at the
/// back, and both placement ends are O(1); only a reap or reset takes one
/// from the middle (a search in a short list). This was a `BTreeSet`
/// whose insert and remove were a tenth of a platform-only run.
#[derive(Default)]
struct IdleSet {
    by_func: Vec<VecDeque<(u64, u32)>>,
    len: usize,
}

impl IdleSet {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn insert(&mut self, func: u16, key: u64, env: u32) {
        let f = func as usize;
        if self.by_func.len() <= f {
            self.by_func.resize_with(f + 1, VecDeque::new);
        }
        let q = &mut self.by_func[f];
        debug_assert!(q.back().is_none_or(|b| b.0 < key), "use keys grow");
        q.push_back((key, env));
        self.len += 1;
    }

    fn of(&self, func: u16) -> Option<&VecDeque<(u64, u32)>> {
        self.by_func.get(func as usize)
    }

    /// The most recently used warm environment of `func`.
    fn most_recent(&self, func: u16) -> Option<(u64, u32)> {
        self.of(func)?.back().copied()
    }

    /// The least recently used one.
    fn least_recent(&self, func: u16) -> Option<(u64, u32)> {
        self.of(func)?.front().copied()
    }

    /// The one created last (the highest env id).
    fn newest_created(&self, func: u16) -> Option<(u64, u32)> {
        self.of(func)?.iter().max_by_key(|e| e.1).copied()
    }

    fn remove(&mut self, func: u16, key: u64, env: u32) {
        let Some(q) = self.by_func.get_mut(func as usize) else {
            return;
        };
        let found = if q.back() == Some(&(key, env)) {
            q.pop_back()
        } else if q.front() == Some(&(key, env)) {
            q.pop_front()
        } else {
            match q.binary_search(&(key, env)) {
                Ok(i) => q.remove(i),
                Err(_) => None,
            }
        };
        self.len -= found.is_some() as usize;
    }
}

/// A request an invocation wrote and did not await.
#[derive(Clone, Debug)]
struct Pending {
    sock: SockRef,
    inv: u64,
    func: u16,
    step: usize,
}

/// Where a packet goes next.
#[derive(Clone, Copy, Debug)]
enum Hop {
    /// The middlebox at place `pos` of path `path` (`World::paths`), in
    /// this direction.
    Middlebox {
        path: u16,
        pos: u16,
        dir: Dir,
    },
    Host,
}

/// A segment on its way through the network. It waits in
/// [`World::packets`], not in the event: a delivery is the most frequent
/// event and the segment its largest part, so keeping it out of `Ev` makes
/// every queued event small (see the size test below).
#[derive(Clone, Copy, Debug)]
struct Packet {
    seg: Segment,
    hop: Hop,
    /// The sending socket, if a socket sent it.
    from: Option<SockRef>,
    /// The receiving socket, if the sender knows it (checked on use).
    to: Option<SockRef>,
}

/// `strategy = "http"`: the server runs a request (boxed in [`Ev`]: rare).
#[derive(Clone, Copy, Debug)]
struct HttpApply {
    env: u32,
    seq: u64,
    id: u64,
    func: u16,
    step: usize,
    attempt: u32,
}

/// `strategy = "http"`: the reply reaches the function (boxed in [`Ev`]).
#[derive(Clone, Copy, Debug)]
struct HttpReply {
    env: u32,
    seq: u64,
    step: usize,
    attempt: u32,
    value: u64,
}

/// A pending event. Kept small (24 bytes): every event is moved into the
/// queue and out again, and the queue holds tens of thousands of them
/// (mostly timers that will be stale), so the size of `Ev` is memory
/// traffic on every event. Large payloads live elsewhere: segments in
/// [`World::packets`], the rare large variants in a `Box`.
#[derive(Clone, Debug)]
enum Ev {
    Arrival {
        func: u16,
    },
    InitDone {
        env: u32,
        seq: u64,
    },
    WorkFinished {
        env: u32,
        seq: u64,
    },
    StartHandler {
        env: u32,
        seq: u64,
    },
    CpuDone {
        env: u32,
        seq: u64,
    },
    Freeze {
        env: u32,
        gen: u32,
    },
    /// An environment's reap alarm (see `Env::reap_alarm`), at its
    /// reserved place `at`.
    Reap {
        env: u32,
        gen: u32,
        at: Reserved,
    },
    /// The shutdown phase is over: SIGKILL, the environment vanishes.
    ShutdownDone {
        env: u32,
        gen: u32,
    },
    FunctionTimeout {
        env: u32,
        seq: u64,
    },
    RequestTimeout {
        env: u32,
        seq: u64,
        /// The request's index (u32 rather than usize keeps `Ev` small).
        step: u32,
        /// Which attempt of the request armed it.
        attempt: u32,
    },
    /// A packet reaches its next hop (the packet is in `World::packets`).
    Deliver {
        pkt: SlotRef<Packet>,
    },
    TcpTimer {
        sock: SockRef,
        kind: TimerKind,
        gen: u32,
    },
    AppNotice {
        sock: SockRef,
        notice: Notice,
    },
    /// A timer of server model `.0`.
    /// A timer of server `srv`, armed in its epoch `.1` (a server inside
    /// an environment starts a new epoch when its slot is reused).
    Server(u16, u16, crate::server::Timer<SockRef>),
    ConnectTimeout {
        env: u32,
        seq: u64,
        /// Which attempt of the request armed it.
        attempt: u32,
    },
    /// The next write of a request written in several `write()` calls.
    WriteMore {
        env: u32,
        seq: u64,
    },
    MbExpire {
        /// Which middlebox (its place on the path).
        mb: u16,
        client: Addr,
        server: Addr,
    },
    /// A timer of proxy model `.0`.
    Proxy(u16, crate::proxy::Timer<SockRef>),
    /// A timer of the environment's runtime (event loop): it does not fire
    /// while the environment is frozen.
    Runtime {
        env: u32,
        /// Boxed: 32 bytes, and only pool scenarios have these timers.
        timer: Box<pool::RtTimer>,
    },
    /// A server process stops (`up` false) or is back (`up` true).
    /// A server inside an environment runs again after a thaw (its epoch).
    LocalWake {
        srv: u16,
        epoch: u16,
    },
    ServerOutage {
        srv: u16,
        up: bool,
    },
    /// A request nobody awaited failed: Node's runtime raises an
    /// unhandled rejection and exits (model.md 6.4).
    Crash {
        env: u32,
    },
    /// The handler's promise rejects (`function.handler_rejects_after`).
    HandlerRejects {
        env: u32,
        seq: u64,
    },
    /// `strategy = "http"`: the server runs a request (no connection).
    HttpApply(Box<HttpApply>),
    /// `strategy = "http"`: the reply reaches the function.
    HttpReply(Box<HttpReply>),
    /// Real code's connection setup CPU is spent: the SYN leaves.
    ExtOpen {
        ext: u64,
    },
}

/// Runs a scenario to completion. `keep_rows` keeps every invocation's
/// outcome in [`RunResult::outcomes`] (turn it off for very large
/// workloads, or stream rows with [`run_streaming`]).
pub fn run(
    cfg: &SimConfig,
    trace: &mut dyn TraceSink,
    keep_rows: bool,
) -> Result<RunResult, RunError> {
    let mut rows = Vec::new();
    let mut none = NoRows;
    let sink: &mut dyn OutcomeSink = if keep_rows { &mut rows } else { &mut none };
    let mut r = run_streaming(cfg, trace, sink);
    if let Some(b) = r.stopped {
        return Err(RunError::Budget(b));
    }
    r.outcomes = rows;
    Ok(r)
}

/// Runs a scenario, handing each finished invocation to `rows` in id order
/// as soon as it is final: memory follows live state, whatever the number
/// of invocations. A run that exhausts its event budget still returns the
/// totals so far, with [`RunResult::stopped`] saying so.
pub fn run_streaming(
    cfg: &SimConfig,
    trace: &mut dyn TraceSink,
    rows: &mut dyn OutcomeSink,
) -> RunResult {
    run_streaming_seeded(cfg, cfg.seed, trace, rows)
}

/// [`run_streaming`] with `seed` instead of `cfg.seed` (a sweep's seeds
/// without copying the configuration).
pub fn run_streaming_seeded(
    cfg: &SimConfig,
    seed: u64,
    trace: &mut dyn TraceSink,
    rows: &mut dyn OutcomeSink,
) -> RunResult {
    let mut w = World::new(cfg, seed, trace, rows);
    let stopped = w.run().err().map(|RunError::Budget(b)| b);
    w.into_result(stopped)
}

struct World<'t> {
    /// Borrowed: a run never changes its configuration, and a sweep runs
    /// thousands of points without copying it.
    cfg: &'t SimConfig,
    q: EventQueue<Ev>,
    trace: &'t mut dyn TraceSink,
    rows: &'t mut dyn OutcomeSink,
    timeline: bool,
    detail: bool,
    /// Idle lifetimes (`reap_after`, drawn per freeze when it varies).
    platform_rng: SimRng,
    /// The run's streams, for server instances created later.
    rngs: RngStreams,
    /// Distributed durations, each on a stream of its own so that making
    /// one vary never shifts another's draws (docs/model.md, 0.3):
    /// `function.init_duration` per cold start.
    init_rng: SimRng,
    /// `function.handler_time` per invocation.
    handler_rng: SimRng,
    /// `function.snapstart.restore_duration` per restore.
    restore_rng: SimRng,
    /// `client.connect_cpu` per connection set up.
    connect_rng: SimRng,
    /// `network.client_latency` and `network.server_latency` per
    /// connection (and per `strategy = "http"` request).
    net_client_rng: SimRng,
    net_server_rng: SimRng,
    /// Both network latencies when they are fixed (nothing is drawn).
    lat_fixed: Option<(SimDuration, SimDuration)>,
    /// The latencies of a segment whose connection has no function socket
    /// (it is gone): the fixed ones, or the distributions' means.
    lat_default: (SimDuration, SimDuration),
    arrivals: Arrivals,
    next_inv_id: u64,
    next_inv_seq: u64,
    envs: Vec<Env>,
    /// Warm environments by function, in order of last use.
    idle: IdleSet,
    /// The same environments by (function, env id, last use), kept only
    /// with `Placement::NewestCreated` (env ids grow with creation).
    idle_by_age: BTreeSet<(u16, u32, u64)>,
    /// Per function, when its environments of the last scale-rate window
    /// were started (`PlatformConfig::scale_rate`).
    scale_log: BTreeMap<u16, VecDeque<SimTime>>,
    /// The provisioned ones among them, as in `idle`: picked first.
    idle_prov: IdleSet,
    /// The stale-read detector (it sees every client's reads and writes).
    detector: thaw_db::StaleDetector,
    use_seq: u64,
    live_envs: u32,
    socks: Slots<LiveSock>,
    /// Segments in flight, each named by one `Ev::Deliver` (see [`Packet`]).
    packets: Slots<Packet>,
    /// Socket by (local, remote) address, packed by [`flow_key`].
    demux: BTreeMap<FlowKey, SockRef>,
    /// The server applications and their data, by server index.
    servers: Vec<Server>,
    /// Buffers of server effects (one per nesting level).
    srv_bufs: Vec<server::Effects>,
    /// Servers whose process is down (`ServerConfig::outages`).
    server_down: Vec<bool>,
    /// Where the functions connect to reach each server: the proxy if it
    /// fronts that server, else the server.
    fronts: Vec<Addr>,
    /// The configured server of each instance in `servers` (the first
    /// `cfg.servers.len()` are the configured ones themselves; servers
    /// inside environments follow).
    srv_cfg: Vec<u16>,
    /// The environment an instance runs in (0 = its own host).
    srv_env: Vec<u32>,
    /// Each instance's epoch: its timers from an earlier use of the slot
    /// are stale.
    srv_epoch: Vec<u16>,
    /// Instance slots of reaped environments' servers, free for reuse.
    local_free: Vec<u16>,
    /// What each server inside an environment holds while its process
    /// does not run (by instance; empty for the others).
    srv_hold: Vec<local::Hold>,
    /// Environments over time (`metrics.platform`), all and per function.
    env_count: crate::report::EnvCounter,
    env_count_fn: Vec<crate::report::EnvCounter>,
    /// Totals of the servers of reaped environments, per configured server.
    local_retired: Vec<crate::server::ServerTotals>,
    /// The connection proxies (`cfg.proxies`).
    proxies: Vec<proxy::Proxy>,
    /// Buffers of proxy effects (one per nesting level).
    px_bufs: Vec<proxy::ProxyEffects>,
    /// The middleboxes (`cfg.middleboxes`).
    mbs: Vec<Middlebox>,
    /// The functions' path to each server (by server index), then the
    /// default path (last): middlebox indices with the latency to the next.
    paths: Vec<crate::config::PathConfig>,
    /// When each tracked flow's expiry timer is due (one live timer a flow).
    mb_timers: BTreeMap<(u16, Addr, Addr), SimTime>,
    zombies: u64,
    zombie_ns: u128,
    zombie_mark: SimTime,
    /// Time of the last event that changed anything (stale timers that are
    /// popped later do not stretch the run).
    last_effect: SimTime,
    collector: Collector,
    bufs: Vec<Vec<TcpAction>>,
    notice_bufs: Vec<Vec<Notice>>,
    sock_bufs: Vec<Vec<SockRef>>,
    connections_opened: u64,
    connections_closed: u64,
    /// Jitter of the client's retry backoff.
    client_rng: SimRng,
    /// The client library's draws (`[client.library]` backoff jitter): its
    /// own stream, so a library never shifts another component's draws.
    library_rng: SimRng,
    /// Writes sent and not yet applied by the server, per client
    /// connection (local, remote), in send order: how the omniscient world
    /// knows which invocation's request the server applies (only with
    /// `[client.retry]`).
    write_ids: BTreeMap<(Addr, Addr), VecDeque<WriteId>>,
    /// Applications of each tracked write, per (invocation, request step);
    /// pruned as invocations' rows are released.
    write_apps: BTreeMap<WriteId, u32>,
    /// `strategy = "http"` with retries: requests sent and not yet seen by
    /// the server, per invocation.
    http_in_flight: BTreeMap<u64, u32>,
    /// Real code standing in for functions' clients (thaw-harness).
    ext: Option<Box<external::Ext>>,
}

/// A write request as the client sent it: (invocation id, request step,
/// function).
type WriteId = (u64, usize, u16);

impl<'t> World<'t> {
    fn new(
        cfg: &'t SimConfig,
        seed: u64,
        trace: &'t mut dyn TraceSink,
        rows: &'t mut dyn OutcomeSink,
    ) -> Self {
        let rngs = RngStreams::new(seed);
        let arrivals = Arrivals::new(cfg.workload.clone(), rngs.stream("workload"));
        let timeline = trace.wants(Level::Timeline);
        let detail = trace.wants(Level::Detail);
        let proxies: Vec<proxy::Proxy> = cfg
            .proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let fronted = &cfg.servers[p.server as usize];
                proxy::Proxy::new(
                    p.clone(),
                    fronted,
                    Addr {
                        host: proxy_host(i as u16),
                        port: p.port,
                    },
                    Addr {
                        host: server_host(p.server),
                        port: fronted.port,
                    },
                    FIRST_EPHEMERAL,
                    timeline,
                )
            })
            .collect();
        let mut servers = Vec::with_capacity(cfg.servers.len());
        let mut fronts = Vec::with_capacity(cfg.servers.len());
        for (i, sc) in cfg.servers.iter().enumerate() {
            let i = i as u16;
            let addr = Addr {
                host: server_host(i),
                port: sc.port,
            };
            let mut server = Server::new(
                sc.clone(),
                crate::server::SessionDefaults {
                    autocommit: cfg.client.autocommit,
                    isolation: cfg.client.isolation,
                    read_routing: cfg.client.read_routing,
                },
                addr,
                cfg.network.source_ip,
                timeline,
            );
            server.set_rng(rngs.stream(&format!("server.service_time.{}", sc.name)));
            if let Some(t) = cfg.client.tls {
                server.set_tls(crate::server::ServerTls {
                    cpu: t.server_cpu,
                    close_notify: t.close_notify,
                });
            }
            match proxies.iter().find(|p| p.cfg.server == i) {
                Some(p) => {
                    server.name_peer(p.addr.host, &p.cfg.name);
                    server.tx_status = true;
                    fronts.push(p.addr);
                }
                None => fronts.push(addr),
            }
            servers.push(server);
        }
        let mbs = cfg
            .middleboxes
            .iter()
            .map(|m| Middlebox::new(m.config))
            .collect();
        let default_path: crate::config::PathConfig = cfg.path.clone().unwrap_or_else(|| {
            (0..cfg.middleboxes.len() as u16)
                .map(|i| (i, SimDuration::ZERO))
                .collect()
        });
        let mut paths: Vec<crate::config::PathConfig> = cfg
            .servers
            .iter()
            .map(|s| s.path.clone().unwrap_or_else(|| default_path.clone()))
            .collect();
        paths.push(default_path);
        World {
            q: EventQueue::with_lanes(cfg.event_budget, LANES),
            trace,
            timeline,
            detail,
            platform_rng: rngs.stream("platform"),
            rngs,
            init_rng: rngs.stream("platform.init_duration"),
            handler_rng: rngs.stream("platform.handler_time"),
            restore_rng: rngs.stream("platform.restore_duration"),
            connect_rng: rngs.stream("client.connect_cpu"),
            net_client_rng: rngs.stream("network.client_latency"),
            net_server_rng: rngs.stream("network.server_latency"),
            lat_fixed: cfg
                .network
                .client_latency
                .fixed()
                .zip(cfg.network.server_latency.fixed()),
            lat_default: (
                cfg.network.client_latency.mean(),
                cfg.network.server_latency.mean(),
            ),
            arrivals,
            next_inv_id: 1,
            next_inv_seq: 1,
            envs: Vec::new(),
            idle: IdleSet::default(),
            idle_by_age: BTreeSet::new(),
            idle_prov: IdleSet::default(),
            scale_log: BTreeMap::new(),
            detector: thaw_db::StaleDetector::new(),
            use_seq: 0,
            live_envs: 0,
            socks: Slots::new(),
            packets: Slots::new(),
            demux: BTreeMap::new(),
            servers,
            srv_bufs: Vec::new(),
            server_down: vec![false; cfg.servers.len()],
            fronts,
            srv_cfg: (0..cfg.servers.len() as u16).collect(),
            srv_env: vec![0; cfg.servers.len()],
            srv_epoch: vec![0; cfg.servers.len()],
            local_free: Vec::new(),
            env_count: Default::default(),
            env_count_fn: Vec::new(),
            srv_hold: (0..cfg.servers.len()).map(|_| Default::default()).collect(),
            local_retired: vec![Default::default(); cfg.servers.len()],
            proxies,
            px_bufs: Vec::new(),
            mbs,
            paths,
            mb_timers: BTreeMap::new(),
            zombies: 0,
            zombie_ns: 0,
            zombie_mark: SimTime::ZERO,
            last_effect: SimTime::ZERO,
            collector: Collector::new(),
            rows,
            bufs: Vec::new(),
            notice_bufs: Vec::new(),
            sock_bufs: Vec::new(),
            connections_opened: 0,
            connections_closed: 0,
            client_rng: rngs.stream("client"),
            library_rng: rngs.stream("library"),
            write_ids: BTreeMap::new(),
            write_apps: BTreeMap::new(),
            http_in_flight: BTreeMap::new(),
            ext: None,
            cfg,
        }
    }

    // ----- tracing -------------------------------------------------------

    fn emit(
        &mut self,
        level: Level,
        component: String,
        event: &'static str,
        fields: Vec<(&'static str, Value)>,
        text: String,
    ) {
        let rec = TraceRecord {
            t: self.q.now(),
            component,
            event,
            fields,
            text,
            level,
        };
        self.trace.record(rec);
    }

    fn wants(&self, level: Level) -> bool {
        match level {
            Level::Timeline => self.timeline,
            Level::Detail => self.detail,
        }
    }

    /// The name of the proxy with host id `host`.
    fn proxy_name(&self, host: u32) -> &str {
        proxy_of_host(host)
            .and_then(|i| self.proxies.get(i as usize))
            .map(|p| p.cfg.name.as_str())
            .unwrap_or("proxy")
    }

    fn addr_name(&self, a: Addr) -> String {
        format!("{}:{}", self.component_of(a.host), a.port)
    }

    fn sock_name(&self, s: SockRef) -> String {
        match self.sock(s) {
            Some(ls) => {
                let l = ls.tcb.local();
                let r = ls.tcb.remote();
                if server_of_host(l.host).is_some() {
                    format!(
                        "{} socket ←{}",
                        self.component_of(l.host),
                        self.addr_name(r)
                    )
                } else if proxy_of_host(l.host).is_some() && server_of_host(r.host).is_some() {
                    format!(
                        "{} socket :{}→{}",
                        self.proxy_name(l.host),
                        l.port,
                        self.addr_name(r)
                    )
                } else if proxy_of_host(l.host).is_some() {
                    format!("{} socket ←{}", self.proxy_name(l.host), self.addr_name(r))
                } else {
                    format!("env-{} socket :{}→{}", l.host, l.port, self.addr_name(r))
                }
            }
            None => "socket".to_string(),
        }
    }

    fn component_of(&self, host: u32) -> String {
        if let Some(i) = server_of_host(host) {
            self.servers[i as usize].name().to_string()
        } else if proxy_of_host(host).is_some() {
            self.proxy_name(host).to_string()
        } else {
            format!("env-{host}")
        }
    }

    // ----- main loop -----------------------------------------------------

    /// Schedules an event. Timers and deliveries go to the queue's delay
    /// lanes (a pure speed-up; the order is unchanged); arrivals and
    /// middlebox expiries, whose delays are all different, to the heap.
    fn schedule(&mut self, at: SimTime, ev: Ev) {
        match ev {
            // One arrival is pending at a time, each scheduled by the last.
            Ev::Arrival { .. } => self.q.push_monotone(at, ev),
            Ev::MbExpire { .. } => self.q.push(at, ev),
            _ => {
                let d = at.saturating_since(self.q.now());
                self.q.push_after(d, ev)
            }
        }
    }

    /// Sends `seg` to its next hop at `at`: the segment waits in
    /// `packets` and the event names it.
    fn schedule_packet(
        &mut self,
        at: SimTime,
        seg: Segment,
        hop: Hop,
        from: Option<SockRef>,
        to: Option<SockRef>,
    ) {
        let pkt = self.packets.insert(Packet { seg, hop, from, to });
        self.schedule(at, Ev::Deliver { pkt });
    }

    /// Schedules the first arrival.
    fn start(&mut self) {
        self.provision();
        if let Some((t, func)) = self.arrivals.next_invocation() {
            self.schedule(t, Ev::Arrival { func });
        }
        for (i, sv) in self.cfg.servers.iter().enumerate() {
            for &(at, len) in &sv.outages {
                let srv = i as u16;
                self.q.push(at, Ev::ServerOutage { srv, up: false });
                self.q.push(at + len, Ev::ServerOutage { srv, up: true });
            }
        }
    }

    fn run(&mut self) -> Result<(), RunError> {
        self.start();
        while let Some((_, ev)) = self.q.pop().map_err(RunError::Budget)? {
            self.handle(ev);
        }
        Ok(())
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival { func } => self.on_arrival(func),
            Ev::InitDone { env, seq } => {
                if self.inv_matches(env, seq) && self.cfg.platform.snapstart.is_some() {
                    self.on_restored(env);
                } else if self.inv_matches(env, seq) {
                    let e = &mut self.envs[(env - 1) as usize];
                    e.state = EnvState::Busy;
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{env}"),
                            "init_done",
                            vec![],
                            format!("env-{env} init finished (cold start)"),
                        );
                    }
                    if !self.is_ext_func(self.envs[(env - 1) as usize].func) {
                        self.pool_init(env);
                        self.lib_init(env);
                    }
                    self.start_handler(env);
                }
            }
            Ev::Crash { env } => self.on_crash(env),
            Ev::ServerOutage { srv, up } => self.server_outage(srv, up),
            Ev::LocalWake { srv, epoch } => {
                if self.srv_epoch[srv as usize] == epoch {
                    self.local_wake(srv);
                }
            }
            Ev::WorkFinished { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.advance(env);
                    // Still running: it may be at its deadline.
                    if self.inv_matches(env, seq) {
                        self.arm_function_timeout(env);
                    }
                }
            }
            Ev::StartHandler { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.start_handler(env);
                }
            }
            Ev::CpuDone { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.open_connection(env);
                }
            }
            Ev::WriteMore { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.write_more(env);
                }
            }
            Ev::Freeze { env, gen } => self.on_freeze(env, gen),
            Ev::Reap { env, gen, at } => self.on_reap_alarm(env, gen, at),
            Ev::ShutdownDone { env, gen } => self.on_shutdown_done(env, gen),
            Ev::FunctionTimeout { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.on_function_timeout(env);
                }
            }
            Ev::RequestTimeout {
                env,
                seq,
                step,
                attempt,
            } => {
                if self.inv_matches(env, seq) {
                    let step = step as usize;
                    let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("matched");
                    if inv.step == step && inv.retries == attempt && inv.phase == Phase::AwaitReply
                    {
                        let spec = &self.cfg.client.requests_of(inv.func)[step];
                        let name = spec.name.clone();
                        let t = spec.timeout.unwrap_or_default();
                        self.fail(
                            env,
                            ErrorKind::RequestTimeout,
                            format!("{name}: no reply within the client's timeout of {t}"),
                        );
                    }
                }
            }
            Ev::Deliver { pkt } => {
                let Packet { seg, hop, from, to } = self
                    .packets
                    .remove(pkt)
                    .expect("a packet is delivered once");
                match hop {
                    Hop::Middlebox { path, pos, dir } => {
                        self.at_middlebox(seg, path, pos, dir, from, to)
                    }
                    Hop::Host => self.at_host(seg, from, to),
                }
            }
            Ev::TcpTimer { sock, kind, gen } => self.on_tcp_timer(sock, kind, gen),
            Ev::AppNotice { sock, notice } => self.dispatch_notice(sock, notice),
            Ev::Server(srv, epoch, timer) => {
                if self.srv_epoch[srv as usize] == epoch {
                    self.on_server_timer(srv, timer);
                }
            }
            Ev::ConnectTimeout { env, seq, attempt } => {
                if self.inv_matches(env, seq)
                    && self.envs[(env - 1) as usize]
                        .inv
                        .as_ref()
                        .is_some_and(|i| i.retries == attempt)
                {
                    self.on_connect_timeout(env);
                }
            }
            Ev::MbExpire { mb, client, server } => self.on_mb_expire(mb, client, server),
            Ev::Proxy(px, timer) => self.on_proxy_timer(px, timer),
            Ev::Runtime { env, timer } => self.on_runtime_timer(env, *timer),
            Ev::HandlerRejects { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.on_handler_rejects(env);
                }
            }
            Ev::HttpApply(a) => {
                let HttpApply {
                    env,
                    seq,
                    id,
                    func,
                    step,
                    attempt,
                } = *a;
                self.on_http_apply(env, seq, (id, step, func), attempt)
            }
            Ev::HttpReply(r) => {
                let HttpReply {
                    env,
                    seq,
                    step,
                    attempt,
                    value,
                } = *r;
                self.on_http_reply(env, seq, step, attempt, value)
            }
            Ev::ExtOpen { ext } => self.ext_open(ext),
        }
    }

    fn inv_matches(&self, env: u32, seq: u64) -> bool {
        matches!(
            self.envs.get((env - 1) as usize).and_then(|e| e.inv.as_ref()),
            Some(inv) if inv.seq == seq
        )
    }

    // ----- arenas --------------------------------------------------------

    fn buf(&mut self) -> Vec<TcpAction> {
        self.bufs.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut b: Vec<TcpAction>) {
        b.clear();
        self.bufs.push(b);
    }

    fn alloc_sock(&mut self, tcb: Tcb, owner: Owner) -> SockRef {
        let key = (tcb.local(), tcb.remote());
        let flow = flow_key(key.0, key.1);
        // A connection's latencies are drawn once, when the function's
        // socket is made (model.md 4.1).
        let lat = match self.lat_fixed {
            None if is_env_host(key.0.host) && !self.is_loopback(key.0.host, key.1.host) => (
                self.cfg
                    .network
                    .client_latency
                    .sample(&mut self.net_client_rng),
                self.cfg
                    .network
                    .server_latency
                    .sample(&mut self.net_server_rng),
            ),
            _ => self.lat_default,
        };
        let live = LiveSock {
            tcb,
            owner,
            last_note: None,
            peer: None,
            close_notify: false,
            lat,
        };
        if !self.write_ids.is_empty() {
            // A new connection on this 4-tuple: the old one's writes that
            // never reached the server application never will.
            self.write_ids.remove(&key);
        }
        let s = self.socks.insert(live);
        let replaced = self.demux.insert(flow, s).is_some();
        if let Some(e) = self.front_peer(key.0, key.1) {
            let k = (key.0, key.1.port);
            let at = e.front_socks.partition_point(|(p, _)| *p < k);
            if replaced {
                e.front_socks[at].1 = s;
            } else {
                e.front_socks.insert(at, (k, s));
            }
        }
        s
    }

    /// The environment whose `front_socks` lists the socket (local,
    /// remote), if it is a front socket.
    fn front_peer(&mut self, local: Addr, remote: Addr) -> Option<&mut Env> {
        if !is_env_host(remote.host) || !self.fronts.contains(&local) {
            return None;
        }
        self.envs.get_mut((remote.host - 1) as usize)
    }

    fn sock(&self, s: SockRef) -> Option<&LiveSock> {
        self.socks.get(s)
    }

    fn sock_mut(&mut self, s: SockRef) -> Option<&mut LiveSock> {
        self.socks.get_mut(s)
    }

    fn maybe_free(&mut self, s: SockRef) {
        let done = matches!(
            self.sock(s),
            Some(l) if l.tcb.state() == thaw_net::TcpState::Closed && matches!(l.owner, Owner::Kernel | Owner::ServerPending | Owner::ProxyPending)
        );
        if done {
            self.free_sock(s);
        }
    }

    fn free_sock(&mut self, s: SockRef) {
        let Some(live) = self.sock(s) else { return };
        let (local, remote) = (live.tcb.local(), live.tcb.remote());
        let key = flow_key(local, remote);
        let host = local.host;
        // One descent of the tree (get, then remove, was two).
        if let std::collections::btree_map::Entry::Occupied(e) = self.demux.entry(key) {
            if *e.get() == s {
                e.remove();
                if let Some(env) = self.front_peer(local, remote) {
                    env.front_socks.retain(|(p, _)| *p != (local, remote.port));
                }
            }
        }
        self.socks.free(s);
        if is_env_host(host) {
            self.connections_closed += 1;
            if let Some(e) = self.envs.get_mut((host - 1) as usize) {
                e.socks.retain(|x| *x != s);
            }
        }
    }

    /// Records a finished invocation and releases every row that is final.
    fn record(&mut self, o: Outcome) {
        let (write_ids, http) = (&self.write_ids, &self.http_in_flight);
        let pending = |id: u64| {
            http.contains_key(&id)
                || (!write_ids.is_empty() && write_ids.values().flatten().any(|w| w.0 == id))
        };
        let released = if self.collector.try_count_now(&o) && !pending(o.id) {
            let id = o.id;
            self.collector.count_now(o, &mut *self.rows);
            Some(id)
        } else {
            self.collector.record(o);
            self.collector.release(pending, &mut *self.rows)
        };
        if let Some(last) = released {
            // No write of these invocations can be applied again.
            while self
                .write_apps
                .first_key_value()
                .is_some_and(|(w, _)| w.0 <= last)
            {
                self.write_apps.pop_first();
            }
        }
    }

    fn into_result(mut self, stopped: Option<BudgetExceeded>) -> RunResult {
        let beyond = self.q.events_beyond_end();
        if beyond > 0 && stopped.is_none() && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                "world".to_string(),
                "beyond_end",
                vec![("events", beyond.into())],
                format!(
                    "{beyond} event(s) would come after the end of representable time (~584 years after the start) and never happen"
                ),
            );
        }
        self.collector.flush(&mut *self.rows);
        let end = self.last_effect;
        self.account_zombies(end);
        // Summed over the proxies (one proxy: its own figures).
        let px = (!self.proxies.is_empty()).then(|| {
            let mut sum = crate::proxy::ProxyTotals::default();
            for p in &mut self.proxies {
                let t = p.totals(end);
                sum.backend_peak += t.backend_peak;
                sum.client_peak += t.client_peak;
                sum.borrow_timeouts += t.borrow_timeouts;
                sum.pinned += t.pinned;
                sum.zombie_ns += t.zombie_ns;
            }
            sum
        });
        // Summed over the servers (one server: its own figures).
        let mut srv = crate::server::ServerTotals::default();
        let mut memory_peak: u64 = 0;
        let mut per_server = Vec::with_capacity(self.cfg.servers.len());
        // A server inside the environments sums its instances' figures,
        // its peak the largest one instance reached (model.md 5.14).
        let mut totals = self.local_retired.clone();
        for (i, m) in self.servers.iter().enumerate() {
            // A free slot's figures were retired with its environment.
            if i >= self.cfg.servers.len() && self.srv_env[i] == 0 {
                continue;
            }
            let t = m.totals();
            let c = &mut totals[self.srv_cfg[i] as usize];
            c.peak = c.peak.max(t.peak);
            c.open += t.open;
            c.syn_dropped += t.syn_dropped;
            c.rejected += t.rejected;
            c.evicted += t.evicted;
            c.killed += t.killed;
        }
        for (t, sc) in totals.iter().zip(&self.cfg.servers) {
            let t = *t;
            per_server.push((
                sc.name.clone(),
                crate::report::ServerMetrics {
                    connections_peak: t.peak,
                    connections_at_end: t.open,
                    memory_peak_bytes: t.peak.saturating_mul(sc.memory_per_connection),
                    syn_dropped: t.syn_dropped,
                    rejected: t.rejected,
                    evicted: t.evicted,
                    killed: t.killed,
                    errors: 0,
                },
            ));
            srv.peak += t.peak;
            srv.open += t.open;
            srv.syn_dropped += t.syn_dropped;
            srv.rejected += t.rejected;
            srv.evicted += t.evicted;
            srv.killed += t.killed;
            // Saturates: `memory_per_connection` may be any u64.
            memory_peak =
                memory_peak.saturating_add(t.peak.saturating_mul(sc.memory_per_connection));
        }
        let totals = WorldTotals {
            events: self.q.events_processed(),
            events_beyond_end: self.q.events_beyond_end(),
            arrived: self.next_inv_id - 1,
            server_peak: srv.peak,
            zombie_ns: self.zombie_ns,
            environments: self.envs.len() as u64,
            connections_opened: self.connections_opened,
            connections_closed: self.connections_closed,
            connections_alive: self
                .socks
                .iter()
                .filter(|(_, l)| is_env_host(l.tcb.local().host))
                .count() as u64,
            server_at_end: srv.open,
            server_memory_peak: memory_peak,
            syn_dropped: srv.syn_dropped,
            server_rejected: srv.rejected,
            server_evicted: srv.evicted,
            server_killed: srv.killed,
            proxy_backend_peak: px.map(|p| p.backend_peak).unwrap_or(0),
            proxy_client_peak: px.map(|p| p.client_peak).unwrap_or(0),
            proxy_borrow_timeouts: px.map(|p| p.borrow_timeouts).unwrap_or(0),
            proxy_pinned: px.map(|p| p.pinned).unwrap_or(0),
            proxy_zombie_ns: px.map(|p| p.zombie_ns).unwrap_or(0),
            servers: per_server,
            envs: self.env_count.clone(),
            envs_by_function: self.env_count_fn.clone(),
            function_names: (0..=self.cfg.client.handlers.len() as u16)
                .map(|f| self.cfg.client.function_name(f).to_string())
                .collect(),
            end,
            stopped,
        };
        report::finish(self.collector, totals)
    }
}

fn vcpu_share(mem: u32) -> String {
    if mem as u64 >= MB_PER_VCPU {
        "all".to_string()
    } else {
        format!("{:.3}", mem as f64 / MB_PER_VCPU as f64)
    }
}

fn seg_fields(seg: &Segment) -> Vec<(&'static str, Value)> {
    vec![
        ("kind", seg.kind().into()),
        ("src_host", seg.src.host.into()),
        ("src_port", seg.src.port.into()),
        ("dst_host", seg.dst.host.into()),
        ("dst_port", seg.dst.port.into()),
        ("seq", seg.seq.into()),
        ("ack", seg.ack.into()),
    ]
}

#[cfg(test)]
mod size_tests {
    /// `Ev` is moved into the queue and out on every event: keep it small
    /// (see `Packet`). A new large variant belongs in a `Box`.
    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<super::Ev>() <= 24);
    }
}

#[cfg(test)]
mod flow_key_tests {
    use super::{flow_key, Addr};

    /// The packed key sorts exactly as the (local, remote) tuple, so the
    /// demultiplexer iterates and ranges as it did with tuple keys.
    #[test]
    fn flow_keys_sort_as_address_pairs() {
        let hosts = [0, 1, 2, 0xffff, 0x1_0000, u32::MAX - 1, u32::MAX];
        let ports = [0, 1, 0x7fff, 0x8000, u16::MAX];
        let addrs: Vec<Addr> = hosts
            .iter()
            .flat_map(|&host| ports.iter().map(move |&port| Addr { host, port }))
            .collect();
        let mut pairs: Vec<(Addr, Addr)> = addrs
            .iter()
            .flat_map(|&a| addrs.iter().map(move |&b| (a, b)))
            .collect();
        pairs.sort();
        for w in pairs.windows(2) {
            assert!(flow_key(w[0].0, w[0].1) < flow_key(w[1].0, w[1].1));
        }
    }
}
