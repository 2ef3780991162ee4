//! Outcomes of invocations, run metrics, and the JSON report object whose
//! shape is a stable contract (README.md, `thaw run`; docs/model.md 8).
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use thaw_core::{SimDuration, SimTime};
use thaw_net::Errno;

/// The error an invocation reports, as a real client would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// Kernel gave up retransmitting (or TCP_USER_TIMEOUT, keepalive).
    Etimedout,
    /// RST received on an open connection.
    Econnreset,
    /// RST after the peer's FIN, or a write on a dead socket.
    Epipe,
    /// The server closed the connection (read returned 0).
    Eof,
    /// RST in answer to the SYN.
    Econnrefused,
    /// No free local port for a new connection.
    Eaddrnotavail,
    /// The server refused the connection: too many connections (MySQL 1040,
    /// PostgreSQL 53300, Redis "max number of clients reached").
    TooManyConnections,
    /// The server blocked this host after too many interrupted connection
    /// attempts (MySQL 1129).
    HostBlocked,
    /// The server said why before closing an idle connection (MySQL 4031,
    /// PostgreSQL 57P05).
    ServerIdleClosed,
    /// The function timeout passed.
    FunctionTimeout,
    /// The client's own request timeout passed.
    RequestTimeout,
    /// The platform's concurrency limit was reached.
    Throttled,
    /// A connection proxy found no database connection for the request in
    /// time (RDS Proxy `ConnectionBorrowTimeout`, PgBouncer
    /// `query_wait_timeout`).
    PoolTimeout,
    /// The function's client pool was closed (an acquire after
    /// `connectionManager.close()` / `pool.end()`).
    PoolClosed,
    /// The handler's promise rejected for a reason outside the model
    /// (`function.handler_rejects_after`).
    HandlerError,
    /// The client library's connection object is finished and refuses
    /// commands (`[client.library]`: a `pg.Client` after a connection
    /// error, mysql's "Cannot enqueue Query after fatal error.").
    ClientClosed,
    /// The client library has no connection and no offline queue ("The
    /// client is offline").
    ClientOffline,
    /// The client library gave up on a command after its reconnect
    /// attempts (ioredis `MaxRetriesPerRequestError`).
    MaxRetries,
    /// gRPC status `UNAVAILABLE` (14): the call's transport was lost or
    /// could not be opened; the errno underneath is in the detail.
    Unavailable,
    /// gRPC status `DEADLINE_EXCEEDED` (4): the call's deadline passed.
    DeadlineExceeded,
    /// A request an earlier invocation did not await failed while this
    /// one ran: Node's runtime reports `Runtime.UnhandledPromiseRejection`
    /// and exits, and Lambda resets the environment.
    UnhandledRejection,
}

impl ErrorKind {
    /// All kinds, for documentation and validation of expectations.
    pub const ALL: [ErrorKind; 21] = [
        ErrorKind::Etimedout,
        ErrorKind::Econnreset,
        ErrorKind::Epipe,
        ErrorKind::Eof,
        ErrorKind::Econnrefused,
        ErrorKind::Eaddrnotavail,
        ErrorKind::TooManyConnections,
        ErrorKind::HostBlocked,
        ErrorKind::ServerIdleClosed,
        ErrorKind::FunctionTimeout,
        ErrorKind::RequestTimeout,
        ErrorKind::Throttled,
        ErrorKind::PoolTimeout,
        ErrorKind::PoolClosed,
        ErrorKind::ClientClosed,
        ErrorKind::ClientOffline,
        ErrorKind::MaxRetries,
        ErrorKind::Unavailable,
        ErrorKind::DeadlineExceeded,
        ErrorKind::UnhandledRejection,
        ErrorKind::HandlerError,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Etimedout => "ETIMEDOUT",
            ErrorKind::Econnreset => "ECONNRESET",
            ErrorKind::Epipe => "EPIPE",
            ErrorKind::Eof => "EOF",
            ErrorKind::Econnrefused => "ECONNREFUSED",
            ErrorKind::Eaddrnotavail => "EADDRNOTAVAIL",
            ErrorKind::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorKind::HostBlocked => "HOST_BLOCKED",
            ErrorKind::ServerIdleClosed => "SERVER_IDLE_CLOSED",
            ErrorKind::FunctionTimeout => "FUNCTION_TIMEOUT",
            ErrorKind::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorKind::Throttled => "THROTTLED",
            ErrorKind::PoolTimeout => "POOL_TIMEOUT",
            ErrorKind::PoolClosed => "POOL_CLOSED",
            ErrorKind::ClientClosed => "CLIENT_CLOSED",
            ErrorKind::ClientOffline => "CLIENT_OFFLINE",
            ErrorKind::MaxRetries => "MAX_RETRIES",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorKind::UnhandledRejection => "UNHANDLED_REJECTION",
            ErrorKind::HandlerError => "HANDLER_ERROR",
        }
    }

    /// The kind for a socket errno.
    pub fn from_errno(e: Errno) -> ErrorKind {
        match e {
            Errno::Econnreset => ErrorKind::Econnreset,
            Errno::Epipe => ErrorKind::Epipe,
            Errno::Etimedout => ErrorKind::Etimedout,
            Errno::Econnrefused => ErrorKind::Econnrefused,
            Errno::Eaddrnotavail => ErrorKind::Eaddrnotavail,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How one invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Invocation id, from 1 in arrival order.
    pub id: u64,
    /// Arrival time.
    pub at: SimTime,
    /// Environment that ran it (0 if throttled).
    pub container: u32,
    /// Whether it paid a cold start.
    pub cold: bool,
    /// `None` = ok.
    pub error: Option<ErrorKind>,
    /// What the client library would print.
    pub detail: Option<String>,
    /// Arrival to response.
    pub latency: SimDuration,
    /// Function invoked (0 = main).
    pub function: u16,
    /// Reads that missed a write completed before they began.
    pub stale_reads: u64,
    /// Non-idempotent writes of this invocation that the server applied
    /// again because a retry resent them after an earlier attempt had
    /// already been applied (one per extra application).
    pub duplicate_writes: u64,
    /// With an error: the server (index) of the request that failed, if
    /// the error came from a request.
    pub target: Option<u16>,
}

/// Per-invocation entry of the JSON report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InvocationJson {
    /// Invocation id.
    pub id: u64,
    /// Arrival, seconds.
    pub at_s: f64,
    /// Environment id.
    pub container: u32,
    /// Cold start?
    pub cold: bool,
    /// "ok" or "error".
    pub outcome: &'static str,
    /// Error kind or null.
    pub error: Option<ErrorKind>,
    /// Client-visible message, or null.
    pub detail: Option<String>,
    /// Latency, seconds.
    pub latency_s: f64,
    /// Function invoked.
    pub function: String,
    /// Reads of this invocation that missed a write completed before they
    /// began.
    pub stale_reads: u64,
    /// Non-idempotent writes of this invocation applied again by a retry.
    pub duplicate_writes: u64,
    /// With an error from a request: the name of the server it went to.
    pub target: Option<String>,
}

impl From<&Outcome> for InvocationJson {
    fn from(o: &Outcome) -> Self {
        InvocationJson {
            id: o.id,
            at_s: o.at.as_secs_f64(),
            container: o.container,
            cold: o.cold,
            outcome: if o.error.is_some() { "error" } else { "ok" },
            error: o.error,
            detail: o.detail.clone(),
            latency_s: o.latency.as_secs_f64(),
            function: String::new(),
            stale_reads: o.stale_reads,
            duplicate_writes: o.duplicate_writes,
            target: None,
        }
    }
}

/// One server's figures (`metrics.servers.NAME`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ServerMetrics {
    /// Most connections it held at once.
    pub connections_peak: u64,
    /// Connections it held when the run ended.
    pub connections_at_end: u64,
    /// Peak connections × its memory per connection, bytes.
    pub memory_peak_bytes: u64,
    /// SYNs dropped on its full accept queue.
    pub syn_dropped: u64,
    /// Connections it refused.
    pub rejected: u64,
    /// Idle connections it evicted.
    pub evicted: u64,
    /// Connections a client KILLed.
    pub killed: u64,
    /// Invocations that failed on a request to it.
    pub errors: u64,
}

/// Totals of a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Metrics {
    /// Invocations that ended.
    pub invocations: u64,
    /// Of which cold starts.
    pub cold_starts: u64,
    /// Of which ended in error.
    pub errors: u64,
    /// Errors per kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Median latency, seconds.
    pub latency_p50_s: f64,
    /// 99th percentile latency, seconds.
    pub latency_p99_s: f64,
    /// Largest number of connections the server held at once (with several
    /// servers, the sum of each one's peak; see `servers`).
    pub server_connections_peak: u64,
    /// Time-integral of server connections whose client was frozen or gone.
    pub zombie_connection_seconds: f64,
    /// Reads that missed a write completed before they began.
    pub stale_reads: u64,
    /// Non-idempotent writes applied again by a client retry.
    pub duplicate_writes: u64,
    /// Events processed.
    pub events: u64,
    /// Events that would have happened after the end of representable
    /// time (~584 years: a sum of very long durations) and never did.
    pub events_beyond_end: u64,
    /// Invocations that arrived but never ended: their end lies beyond the
    /// end of time, or the run stopped first (event budget). They have no
    /// row and are not in `invocations`.
    pub unfinished: u64,
    /// Environments created.
    pub environments: u64,
    /// TCP connections the functions opened.
    pub connections_opened: u64,
    /// Function-side sockets destroyed (closed and gone, or vanished with
    /// their environment).
    pub connections_closed: u64,
    /// Function-side sockets still in the kernel when the run ended
    /// (any state, TIME_WAIT included).
    pub connections_open_at_end: u64,
    /// Server connections still open when the run ended.
    pub server_connections_at_end: u64,
    /// Peak server memory for connections: peak connections × memory per
    /// connection, bytes.
    pub server_memory_peak_bytes: u64,
    /// SYNs the server dropped because its accept queue was full.
    pub syn_dropped: u64,
    /// Connections the server refused (limit, blocked host).
    pub server_rejected: u64,
    /// Idle connections the server evicted (Upstash soft limit).
    pub server_evicted: u64,
    /// Sleep connections a client KILLed (serverless-mysql's zombie
    /// cleanup in `end()`).
    pub server_killed: u64,
    /// Most database connections the proxy had open at once (connecting
    /// included); 0 without a proxy.
    pub proxy_backend_peak: u64,
    /// Most client connections the proxy held at once.
    pub proxy_client_peak: u64,
    /// Requests that waited too long for a database connection at the proxy
    /// (ConnectionBorrowTimeout, query_wait_timeout).
    pub proxy_borrow_timeouts: u64,
    /// Client connections the proxy pinned to their database connection.
    pub proxy_pinned: u64,
    /// Time-integral of the proxy's client connections whose environment
    /// was frozen or gone (the zombies a proxy holds instead of the server).
    pub proxy_zombie_connection_seconds: f64,
    /// Per server, by name (the `server_*` totals above sum them).
    pub servers: BTreeMap<String, ServerMetrics>,
    /// The platform's figures: environments over time, utilisation,
    /// cold-start and throttle probabilities (model.md 8.1).
    pub platform: PlatformMetrics,
}

/// Environments over the run, time-weighted from the start of the run to
/// its end (`metrics.platform`, model.md 8.1). An environment is *live*
/// from its creation to its reap or reset, *busy* while it initialises or
/// runs an invocation, *idle* otherwise (warm: between invocations, frozen,
/// or in its shutdown phase).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct EnvironmentMetrics {
    /// Time-weighted mean of live environments.
    pub live_mean: f64,
    /// Most live environments at once.
    pub live_max: u64,
    /// Time-weighted mean of busy environments.
    pub busy_mean: f64,
    /// Most busy environments at once.
    pub busy_max: u64,
    /// Time-weighted mean of idle environments.
    pub idle_mean: f64,
    /// Most idle environments at once.
    pub idle_max: u64,
    /// Busy time over live time (0 without any live time).
    pub utilization: f64,
    /// Invocations that ended (throttled ones included).
    pub invocations: u64,
    /// Cold starts over invocations that were not throttled.
    pub cold_start_probability: f64,
    /// Throttled invocations over invocations.
    pub throttle_probability: f64,
}

/// `metrics.platform`: the whole platform, and each function when there
/// are several.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PlatformMetrics {
    /// Every function together.
    #[serde(flatten)]
    pub all: EnvironmentMetrics,
    /// Per function, by name (`main` and each `[[handlers]]` name); empty
    /// with one function.
    pub functions: BTreeMap<String, EnvironmentMetrics>,
}

/// Where finished invocations go: in id order, each as soon as nothing
/// can change it any more (a retried write still in flight can add a
/// duplicate to an invocation that has already ended).
pub trait OutcomeSink {
    /// One finished invocation.
    fn outcome(&mut self, o: Outcome);
}

impl OutcomeSink for Vec<Outcome> {
    fn outcome(&mut self, o: Outcome) {
        self.push(o);
    }
}

/// Keeps no rows: metrics only.
pub struct NoRows;

impl OutcomeSink for NoRows {
    fn outcome(&mut self, _: Outcome) {}
}

/// Streams outcomes into metrics and, in id order, into an
/// [`OutcomeSink`]. Holds only the rows that cannot be released yet (a
/// lower id still running, or a retried write of theirs still in flight),
/// so memory follows live invocations, not their number.
pub(crate) struct Collector {
    held: BTreeMap<u64, Outcome>,
    /// The id released next.
    next_id: u64,
    invocations: u64,
    cold: u64,
    stale: u64,
    duplicates: u64,
    errors: BTreeMap<ErrorKind, u64>,
    /// Failed invocations per server of the failing request.
    errors_by_target: BTreeMap<u16, u64>,
    latency: Latencies,
    /// Per function: (invocations, cold starts, throttled).
    per_function: Vec<(u64, u64, u64)>,
}

/// Largest latency the quantiles distinguish: 1 h (larger ones count as 1 h).
const LATENCY_MAX_NS: u64 = 3_600_000_000_000;
/// Up to this many latencies are kept and ranked directly.
const LATENCY_SMALL: usize = 4096;

/// Latency quantiles. Up to [`LATENCY_SMALL`] values they are exact: the
/// values are kept and ranked (the nearest-rank rule: the value at rank
/// ⌈q·n⌉), so a p99 is never above the largest latency seen; past that an
/// HdrHistogram (1 ns – 1 h, 3 significant digits: within 0.1 %) takes
/// over, with the same rank rule, so memory stays fixed. (Ranking also
/// spares short runs the histogram's ~40 KB of counters, which dominated
/// sweeps of short scenarios.)
struct Latencies {
    small: Vec<u64>,
    hist: Option<Histogram<u64>>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("valid histogram bounds")
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            small: Vec::new(),
            hist: None,
        }
    }

    fn record(&mut self, ns: u64) {
        let v = ns.clamp(1, LATENCY_MAX_NS);
        match &mut self.hist {
            Some(h) => h.saturating_record(v),
            None if self.small.len() < LATENCY_SMALL => self.small.push(v),
            None => {
                let mut h = new_histogram();
                for x in self.small.drain(..).chain(std::iter::once(v)) {
                    h.saturating_record(x);
                }
                self.hist = Some(h);
            }
        }
    }

    /// `Histogram::value_at_quantile`, in seconds; 0 with no value.
    fn quantile_s(&self, q: f64) -> f64 {
        let ns = match &self.hist {
            Some(h) if !h.is_empty() => h.value_at_quantile(q),
            Some(_) => return 0.0,
            None if self.small.is_empty() => return 0.0,
            None => {
                // The histogram's rank rule, ceil(q × count), at least 1;
                // the value itself, not its bucket's top.
                let mut sorted = self.small.clone();
                sorted.sort_unstable();
                let q = q.min(1.0);
                let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
                sorted[rank.min(sorted.len()) - 1]
            }
        };
        ns as f64 / 1e9
    }
}

impl Collector {
    pub(crate) fn new() -> Self {
        Collector {
            held: BTreeMap::new(),
            next_id: 1,
            invocations: 0,
            cold: 0,
            stale: 0,
            duplicates: 0,
            errors: BTreeMap::new(),
            errors_by_target: BTreeMap::new(),
            latency: Latencies::new(),
            per_function: Vec::new(),
        }
    }

    /// Records one finished invocation (released later by
    /// [`Collector::release`]).
    pub(crate) fn record(&mut self, o: Outcome) {
        self.held.insert(o.id, o);
    }

    /// Counts `o` at once, without holding it, when it is the next row in
    /// id order and nothing is held (the common case: no map insert and
    /// remove per invocation). `false`: the caller must `record` it.
    pub(crate) fn try_count_now(&mut self, o: &Outcome) -> bool {
        o.id == self.next_id && self.held.is_empty()
    }

    /// Counts the next row `o` (see [`Collector::try_count_now`]).
    pub(crate) fn count_now(&mut self, o: Outcome, sink: &mut dyn OutcomeSink) {
        debug_assert!(o.id == self.next_id && self.held.is_empty());
        self.next_id += 1;
        self.count(o, sink);
    }

    /// A retried write of invocation `id` was applied again after the
    /// invocation had ended: counted on its row when it is still held,
    /// else only in the total.
    pub(crate) fn late_duplicate(&mut self, id: u64) {
        match self.held.get_mut(&id) {
            Some(o) => o.duplicate_writes += 1,
            None => self.duplicates += 1,
        }
    }

    /// Releases, in id order, every held row that nothing can change any
    /// more (`pending(id)`: a write of `id` may still be applied). Returns
    /// the last id released, if any.
    pub(crate) fn release(
        &mut self,
        pending: impl Fn(u64) -> bool,
        sink: &mut dyn OutcomeSink,
    ) -> Option<u64> {
        let mut last = None;
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.next_id || pending(self.next_id) {
                break;
            }
            let o = entry.remove();
            last = Some(o.id);
            self.next_id += 1;
            self.count(o, sink);
        }
        last
    }

    /// Releases every held row (the run is over).
    pub(crate) fn flush(&mut self, sink: &mut dyn OutcomeSink) {
        while let Some((_, o)) = self.held.pop_first() {
            self.count(o, sink);
        }
    }

    fn count(&mut self, o: Outcome, sink: &mut dyn OutcomeSink) {
        self.invocations += 1;
        self.cold += o.cold as u64;
        self.stale += o.stale_reads;
        self.duplicates += o.duplicate_writes;
        if let Some(e) = o.error {
            *self.errors.entry(e).or_insert(0) += 1;
        }
        if let Some(t) = o.target {
            *self.errors_by_target.entry(t).or_insert(0) += 1;
        }
        let f = o.function as usize;
        if self.per_function.len() <= f {
            self.per_function.resize(f + 1, (0, 0, 0));
        }
        let pf = &mut self.per_function[f];
        pf.0 += 1;
        pf.1 += o.cold as u64;
        pf.2 += (o.error == Some(ErrorKind::Throttled)) as u64;
        self.latency.record(o.latency.as_nanos());
        sink.outcome(o);
    }
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Outcomes in invocation-id order (empty if rows were not kept, or
    /// were streamed to an [`OutcomeSink`]).
    pub outcomes: Vec<Outcome>,
    /// Totals.
    pub metrics: Metrics,
    /// Simulated time of the last event.
    pub end: SimTime,
    /// Why the run stopped before its events ran out, if it did: the
    /// totals and rows are those of the invocations finished by then.
    pub stopped: Option<thaw_core::BudgetExceeded>,
}

/// Raw counters the world hands over at the end of a run.
pub(crate) struct WorldTotals {
    pub events: u64,
    pub events_beyond_end: u64,
    pub arrived: u64,
    pub server_peak: u64,
    pub zombie_ns: u128,
    pub environments: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub connections_alive: u64,
    pub server_at_end: u64,
    pub server_memory_peak: u64,
    pub syn_dropped: u64,
    pub server_rejected: u64,
    pub server_evicted: u64,
    pub server_killed: u64,
    pub proxy_backend_peak: u64,
    pub proxy_client_peak: u64,
    pub proxy_borrow_timeouts: u64,
    pub proxy_pinned: u64,
    pub proxy_zombie_ns: u128,
    /// Per server: its name and figures (errors are filled from the rows).
    pub servers: Vec<(String, ServerMetrics)>,
    /// Environments over time: every function, then each function.
    pub envs: EnvCounter,
    pub envs_by_function: Vec<EnvCounter>,
    /// Function names, by index (`main` first).
    pub function_names: Vec<String>,
    pub end: SimTime,
    pub stopped: Option<thaw_core::BudgetExceeded>,
}

/// The totals of a run whose rows have all been released.
pub(crate) fn finish(c: Collector, w: WorldTotals) -> RunResult {
    debug_assert!(c.held.is_empty(), "rows still held at the end");
    let Collector {
        invocations,
        cold,
        stale,
        errors,
        latency,
        duplicates,
        errors_by_target,
        per_function,
        ..
    } = c;
    let counts = |f: Option<usize>| match f {
        Some(f) => per_function.get(f).copied().unwrap_or_default(),
        None => per_function
            .iter()
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2)),
    };
    let platform = PlatformMetrics {
        all: w.envs.metrics(w.end, counts(None)),
        functions: if w.function_names.len() > 1 {
            w.function_names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let m = w
                        .envs_by_function
                        .get(i)
                        .cloned()
                        .unwrap_or_default()
                        .metrics(w.end, counts(Some(i)));
                    (name.clone(), m)
                })
                .collect()
        } else {
            BTreeMap::new()
        },
    };
    let mut servers = BTreeMap::new();
    for (i, (name, mut m)) in w.servers.into_iter().enumerate() {
        m.errors = errors_by_target.get(&(i as u16)).copied().unwrap_or(0);
        servers.insert(name, m);
    }
    let q = |p: f64| latency.quantile_s(p);
    let metrics = Metrics {
        invocations,
        cold_starts: cold,
        errors: errors.values().sum(),
        errors_by_kind: errors
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        latency_p50_s: q(0.5),
        latency_p99_s: q(0.99),
        server_connections_peak: w.server_peak,
        zombie_connection_seconds: w.zombie_ns as f64 / 1e9,
        stale_reads: stale,
        duplicate_writes: duplicates,
        events: w.events,
        events_beyond_end: w.events_beyond_end,
        unfinished: w.arrived.saturating_sub(invocations),
        environments: w.environments,
        connections_opened: w.connections_opened,
        connections_closed: w.connections_closed,
        connections_open_at_end: w.connections_alive,
        server_connections_at_end: w.server_at_end,
        server_memory_peak_bytes: w.server_memory_peak,
        syn_dropped: w.syn_dropped,
        server_rejected: w.server_rejected,
        server_evicted: w.server_evicted,
        server_killed: w.server_killed,
        proxy_backend_peak: w.proxy_backend_peak,
        proxy_client_peak: w.proxy_client_peak,
        proxy_borrow_timeouts: w.proxy_borrow_timeouts,
        proxy_pinned: w.proxy_pinned,
        proxy_zombie_connection_seconds: w.proxy_zombie_ns as f64 / 1e9,
        servers,
        platform,
    };
    RunResult {
        outcomes: Vec::new(),
        metrics,
        end: w.end,
        stopped: w.stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small runs give the exact value at the histogram's rank; large runs
    /// the histogram's value, within its 0.1 %.
    #[test]
    fn quantiles_are_exact_for_small_runs_and_within_the_histogram_after() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for n in [
            1usize,
            2,
            3,
            7,
            100,
            999,
            LATENCY_SMALL,
            LATENCY_SMALL + 1,
            3 * LATENCY_SMALL,
        ] {
            let mut l = Latencies::new();
            let mut h = new_histogram();
            let mut all = Vec::new();
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = match x % 4 {
                    0 => 1 + x % 1_000,
                    1 => 1 + x % 10_000_000_000,
                    2 => 208_595_546,
                    _ => 1 + x % LATENCY_MAX_NS,
                };
                l.record(v);
                h.saturating_record(v);
                all.push(v);
            }
            all.sort_unstable();
            for q in [0.0, 0.5, 0.99, 1.0] {
                let got = l.quantile_s(q);
                let rank = ((q * n as f64).ceil() as usize).max(1);
                let exact = all[rank - 1] as f64 / 1e9;
                if n <= LATENCY_SMALL {
                    assert_eq!(got.to_bits(), exact.to_bits(), "n = {n}, q = {q}");
                } else {
                    let hist = h.value_at_quantile(q) as f64 / 1e9;
                    assert_eq!(got.to_bits(), hist.to_bits(), "n = {n}, q = {q}");
                    assert!(
                        (got - exact).abs() <= exact * 1e-3 + 1e-9,
                        "n = {n}, q = {q}"
                    );
                }
            }
            assert!(l.quantile_s(0.99) <= *all.last().unwrap() as f64 / 1e9 * 1.001);
        }
        assert_eq!(Latencies::new().quantile_s(0.5), 0.0);
    }
}

/// Time-weighted counts of environments by category (live, busy), kept by
/// the world as environments change state: integrals in env·ns and maxima.
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvCounter {
    live: u64,
    busy: u64,
    last: SimTime,
    live_ns: u128,
    busy_ns: u128,
    live_max: u64,
    busy_max: u64,
    idle_max: u64,
}

impl EnvCounter {
    fn advance(&mut self, now: SimTime) {
        let dt = now.saturating_since(self.last).as_nanos() as u128;
        self.live_ns += self.live as u128 * dt;
        self.busy_ns += self.busy as u128 * dt;
        self.last = self.last.max(now);
    }

    /// An environment moved: `dlive` and `dbusy` are −1, 0 or +1.
    pub(crate) fn change(&mut self, now: SimTime, dlive: i8, dbusy: i8) {
        self.advance(now);
        self.live = self.live.saturating_add_signed(dlive.into());
        self.busy = self.busy.saturating_add_signed(dbusy.into());
        self.live_max = self.live_max.max(self.live);
        self.busy_max = self.busy_max.max(self.busy);
        self.idle_max = self.idle_max.max(self.live - self.busy.min(self.live));
    }

    /// The figures over [0, `end`], with `(invocations, cold, throttled)`.
    pub(crate) fn metrics(&self, end: SimTime, counts: (u64, u64, u64)) -> EnvironmentMetrics {
        let mut c = self.clone();
        c.advance(end);
        let span = end.as_nanos() as f64;
        let mean = |ns: u128| if span > 0.0 { ns as f64 / span } else { 0.0 };
        let (invocations, cold, throttled) = counts;
        let served = invocations - throttled;
        EnvironmentMetrics {
            live_mean: mean(c.live_ns),
            live_max: c.live_max,
            busy_mean: mean(c.busy_ns),
            busy_max: c.busy_max,
            idle_mean: mean(c.live_ns - c.busy_ns),
            idle_max: c.idle_max,
            utilization: if c.live_ns > 0 {
                c.busy_ns as f64 / c.live_ns as f64
            } else {
                0.0
            },
            invocations,
            cold_start_probability: if served > 0 {
                cold as f64 / served as f64
            } else {
                0.0
            },
            throttle_probability: if invocations > 0 {
                throttled as f64 / invocations as f64
            } else {
                0.0
            },
        }
    }
}
