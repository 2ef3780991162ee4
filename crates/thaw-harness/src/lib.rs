//! Run real async Rust code inside thaw's simulated serverless
//! environments.
//!
//! A [`Harness`] takes a thaw scenario and replaces the model client of
//! one of its functions with your code: a [`Function`] whose `handle`
//! runs once per invocation, with state kept across the invocations of an
//! environment (a Redis connection, a pool). Everything else stays thaw's
//! model: cold starts, freezes after each invocation, thaws, reaping,
//! the function timeout, the network path and its middleboxes, Linux's
//! TCP (retransmissions, `TCP_USER_TIMEOUT`, keepalive), and the server
//! with its idle timeout, connection limit and wire protocol (RESP2 for
//! Redis-like servers, PostgreSQL's simple query protocol).
//!
//! Your code runs on one paused, single-threaded tokio runtime per
//! simulated environment, whose clock is thaw's clock: while the
//! environment runs, the harness polls its runtime up to the next world
//! event; a **freeze** stops polling it (no task, no timer runs); a
//! **thaw** moves its clock by the frozen time, so every overdue timer
//! fires at the thaw instant; a **reap** drops the runtime and its sockets
//! vanish without FIN or RST. Sockets come from [`net`], a drop-in for
//! `tokio::net`, so your code meets the `ETIMEDOUT`, `ECONNRESET` or EOF
//! that `thaw run` predicts, at the same simulated nanosecond.
//!
//! ```
//! use thaw_harness::{BoxError, Function, Harness, Invocation};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! /// A Redis PING over a connection kept across invocations.
//! struct Ping;
//!
//! impl Function for Ping {
//!     type State = thaw_harness::net::TcpStream;
//!     async fn init(&self, _: &Invocation) -> Result<Self::State, BoxError> {
//!         Ok(thaw_harness::net::TcpStream::connect("redis:6379").await?)
//!     }
//!     async fn handle(&self, conn: &mut Self::State, _: &Invocation) -> Result<(), BoxError> {
//!         conn.write_all(b"PING\r\n").await?;
//!         let mut reply = [0u8; 7];
//!         conn.read_exact(&mut reply).await?;
//!         assert_eq!(&reply, b"+PONG\r\n");
//!         Ok(())
//!     }
//! }
//!
//! let scenario = r#"
//! [scenario]
//! name = "ping"
//! [server]
//! preset = "redis7"
//! idle_timeout = "60s"
//! [workload]
//! at = ["0s", "30s", "95s"]
//! "#;
//! let report = Harness::from_str("ping.toml", scenario, &[], Ping)?.run()?;
//! // The third invocation finds the connection that Redis closed (idle
//! // timeout) while the environment was frozen: the server's kernel
//! // answers the PING with RST.
//! assert_eq!(report.code[2].errno, Some(104)); // ECONNRESET
//! assert_eq!(report.report.json["invocations"][2]["error"], "ECONNRESET");
//! # Ok::<(), thaw_harness::HarnessError>(())
//! ```
#![warn(missing_docs)]

mod bridge;
pub mod net;
mod rt;
mod trace;

pub use trace::SimTimeLayer;

use bridge::{ConnState, Op, Shared};
use rt::{EnvRt, Stop};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use thaw_core::{Level, SimDuration, SimTime, TraceRecord, TraceSink, VecSink};
use thaw_net::Notice;
use thaw_scenario::Scenario;
use thaw_sim::{Driven, ErrorKind, ExtEvent, ExtRecv, ExtSock, OutcomeSink, RunResult, SimConfig};

/// The error type handlers return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The invocation a handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The invocation's id in the report (`invocation[N]`).
    pub id: u64,
    /// The execution environment it runs in.
    pub env: u32,
    /// The first invocation of a new environment.
    pub cold: bool,
    /// The function invoked (0 = the scenario's main function).
    pub function: u16,
}

/// A serverless function written as real code.
///
/// `init` runs once per environment, at its first invocation, before
/// `handle` (your code outside the handler, such as opening a client kept
/// in a global); if it fails, that invocation fails and the next one in
/// the environment runs `init` again. `handle` runs per invocation with
/// the state `init` built. Returning `Err` fails the invocation; the
/// report classifies the error by the `io::Error` in it (errno) or as the
/// library's own.
#[allow(async_fn_in_trait)]
pub trait Function: 'static {
    /// What lives across the invocations of one environment.
    type State: 'static;

    /// Builds the environment's state (at its first invocation).
    async fn init(&self, inv: &Invocation) -> Result<Self::State, BoxError>;

    /// Runs one invocation.
    async fn handle(&self, state: &mut Self::State, inv: &Invocation) -> Result<(), BoxError>;
}

/// What the code saw in one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeOutcome {
    /// The invocation id.
    pub id: u64,
    /// The environment it ran in.
    pub env: u32,
    /// The error the handler returned (its `Display`), if any.
    pub error: Option<String>,
    /// The `io::ErrorKind` of the first `io::Error` in the error's chain.
    pub io_kind: Option<io::ErrorKind>,
    /// Its OS error number (`ETIMEDOUT` = 110 …), when the error carries
    /// one.
    pub errno: Option<i32>,
    /// When the error carries none (a library's own "connection closed"):
    /// the errno a socket of this invocation returned to the code, i.e.
    /// the kernel's error underneath the library's.
    pub underneath: Option<i32>,
    /// When the handler returned.
    pub at: SimTime,
}

/// Why a harness could not run.
#[derive(Debug)]
pub enum HarnessError {
    /// The scenario file could not be read.
    Io(String, io::Error),
    /// The scenario is invalid (the diagnostics, rendered).
    Scenario(String),
    /// The scenario uses something real code cannot drive yet.
    Unsupported(String),
    /// The run exceeded its event budget.
    Budget(String),
    /// The code never let its runtime go idle at one instant (a busy loop
    /// that yields forever, or blocking in a task).
    Stuck(String),
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessError::Io(p, e) => write!(f, "{p}: {e}"),
            HarnessError::Scenario(d)
            | HarnessError::Unsupported(d)
            | HarnessError::Budget(d)
            | HarnessError::Stuck(d) => f.write_str(d),
        }
    }
}

impl std::error::Error for HarnessError {}

/// The result of a harness run.
#[derive(Debug)]
pub struct HarnessReport {
    /// The same report `thaw run` gives: outcomes, metrics, expectations,
    /// and the JSON object.
    pub report: thaw_scenario::Report,
    /// Per invocation that reached the code, in id order: what it saw.
    pub code: Vec<CodeOutcome>,
    /// The trace (timeline and detail records), the world's and the
    /// code's `tracing` events interleaved in time order.
    pub trace: Vec<TraceRecord>,
}

impl HarnessReport {
    /// The timeline as `thaw run` prints it, with the code's log lines.
    pub fn timeline(&self) -> String {
        let mut s = String::new();
        for r in self.trace.iter().filter(|r| r.level == Level::Timeline) {
            s.push_str(&thaw_sim::jsonl::timeline_line(r));
            s.push('\n');
        }
        s
    }

    /// The invocation `id` as the code saw it.
    pub fn code(&self, id: u64) -> Option<&CodeOutcome> {
        self.code.iter().find(|c| c.id == id)
    }
}

/// A scenario whose function's client is real code. See the crate docs.
pub struct Harness<F: Function> {
    scenario: Scenario,
    function: Rc<F>,
    func: u16,
    seed: Option<u64>,
    capture_tracing: bool,
}

impl<F: Function> Harness<F> {
    /// Loads the scenario file at `path` with `--set`-style `overrides`
    /// (`"server.idle_timeout=310s"`); `function` replaces the model
    /// client of the scenario's main function.
    pub fn from_scenario(
        path: impl AsRef<Path>,
        overrides: &[&str],
        function: F,
    ) -> Result<Self, HarnessError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| HarnessError::Io(path.display().to_string(), e))?;
        Self::from_str(&path.display().to_string(), &text, overrides, function)
    }

    /// Like [`Harness::from_scenario`], from the file's text.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(
        name: &str,
        text: &str,
        overrides: &[&str],
        function: F,
    ) -> Result<Self, HarnessError> {
        let sets: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let scenario = thaw_scenario::load(name, text, &sets)
            .map_err(|e| HarnessError::Scenario(e.render()))?;
        Driven::supports(&scenario.config).map_err(|e| HarnessError::Unsupported(e.to_string()))?;
        Ok(Harness {
            scenario,
            function: Rc::new(function),
            func: 0,
            seed: None,
            capture_tracing: true,
        })
    }

    /// Runs with `seed` instead of the scenario's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Replaces the client of the function named `name` (a
    /// `[[client.handlers]]` entry) instead of the main one.
    pub fn function_named(mut self, name: &str) -> Result<Self, HarnessError> {
        let c = &self.scenario.config.client;
        let n = (0..=c.handlers.len() as u16)
            .find(|f| c.function_name(*f) == name)
            .ok_or_else(|| HarnessError::Scenario(format!("no function named {name:?}")))?;
        self.func = n;
        Ok(self)
    }

    /// Whether `run` installs [`SimTimeLayer`] as the default `tracing`
    /// subscriber while the code runs (on by default; turn it off to use
    /// your own subscriber, with the layer added to it).
    pub fn capture_tracing(mut self, on: bool) -> Self {
        self.capture_tracing = on;
        self
    }

    /// The scenario as loaded (after overrides).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Runs the scenario with the code; returns the report, the code's
    /// outcomes and the trace.
    pub fn run(&self) -> Result<HarnessReport, HarnessError> {
        let mut sink = VecSink::default();
        let (report, code) = self.run_into(&mut sink)?;
        Ok(HarnessReport {
            report,
            code,
            trace: sink.records,
        })
    }

    /// Runs into your own trace sink (e.g. thaw's JSONL writer).
    pub fn run_into(
        &self,
        trace: &mut dyn TraceSink,
    ) -> Result<(thaw_scenario::Report, Vec<CodeOutcome>), HarnessError> {
        let mut code = Vec::new();
        let mut failure = None;
        let mut runner = |cfg: &SimConfig,
                          seed: u64,
                          trace: &mut dyn TraceSink,
                          rows: &mut dyn OutcomeSink|
         -> RunResult {
            let mut go = || {
                // thaw's timeline as tracing events only for a subscriber
                // that wants them (formatting every record costs).
                let mut fwd = trace::Forward {
                    inner: trace,
                    emit: tracing::enabled!(target: "thaw::world", tracing::Level::INFO),
                };
                drive(cfg, seed, self.func, &self.function, &mut fwd, rows)
            };
            let (result, outcomes, err) = if self.capture_tracing {
                let sub = tracing_subscriber::layer::SubscriberExt::with(
                    tracing_subscriber::registry(),
                    SimTimeLayer,
                );
                tracing::subscriber::with_default(sub, go)
            } else {
                go()
            };
            code = outcomes;
            failure = err;
            result
        };
        let report =
            thaw_scenario::run_scenario_using(&self.scenario, self.seed, trace, &mut runner)
                .map_err(|e| HarnessError::Budget(e.to_string()))?;
        if let Some(e) = failure {
            return Err(e);
        }
        code.sort_by_key(|c| c.id);
        Ok((report, code))
    }
}

/// The error kind and detail for the report, and what the code saw.
fn classify(
    id: u64,
    env: u32,
    at: SimTime,
    r: &Result<(), BoxError>,
    underneath: Option<thaw_net::Errno>,
) -> (Option<(ErrorKind, String)>, CodeOutcome) {
    let Err(e) = r else {
        return (
            None,
            CodeOutcome {
                id,
                env,
                error: None,
                io_kind: None,
                errno: None,
                underneath: None,
                at,
            },
        );
    };
    let text = e.to_string();
    // The first io::Error in the chain; failing that, an OS error number
    // in the text (libraries that keep the io::Error but not as source).
    let mut io_err: Option<(io::ErrorKind, Option<i32>)> = None;
    let mut elapsed = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    while let Some(c) = cur {
        if let Some(ioe) = c.downcast_ref::<io::Error>() {
            io_err = Some((ioe.kind(), ioe.raw_os_error()));
            break;
        }
        if c.downcast_ref::<tokio::time::error::Elapsed>().is_some() {
            elapsed = true;
        }
        cur = c.source();
    }
    let os = io_err.and_then(|(_, n)| n).or_else(|| os_error_in(&text));
    // A library that wraps the io::Error without exposing it as a source
    // still prints "(os error N)": the kind follows from the number.
    let io_err = io_err.or_else(|| os.map(|n| (io::Error::from_raw_os_error(n).kind(), Some(n))));
    let lower = text.to_ascii_lowercase();
    // The library said something of its own ("connection closed"), but
    // a socket of this invocation failed with an errno: that is the
    // kernel's error underneath, and the one the model reports.
    let below = match (os, underneath) {
        (None, Some(e)) if !(elapsed || lower.contains("timed out")) => Some(e),
        _ => None,
    };
    let code_os = os;
    let os = os.or(below.map(net::errno_value));
    let kind = match os {
        Some(104) => ErrorKind::Econnreset,
        Some(110) => ErrorKind::Etimedout,
        Some(32) => ErrorKind::Epipe,
        Some(111) => ErrorKind::Econnrefused,
        Some(99) => ErrorKind::Eaddrnotavail,
        _ => match io_err.map(|(k, _)| k) {
            // A library's own timeout (no errno): not the kernel's.
            Some(io::ErrorKind::TimedOut) => ErrorKind::RequestTimeout,
            Some(io::ErrorKind::UnexpectedEof) => ErrorKind::Eof,
            _ if elapsed || lower.contains("timed out") || lower.contains("timeout") => {
                ErrorKind::RequestTimeout
            }
            _ => ErrorKind::HandlerError,
        },
    };
    let detail = match below {
        Some(e) => format!(
            "the code's error: {text} (underneath: {} on its socket)",
            e.name()
        ),
        None => format!("the code's error: {text}"),
    };
    (
        Some((kind, detail)),
        CodeOutcome {
            id,
            env,
            error: Some(text),
            io_kind: io_err.map(|(k, _)| k),
            errno: code_os,
            underneath: below.map(net::errno_value),
            at,
        },
    )
}

/// `… (os error 110)` in an error's text.
fn os_error_in(text: &str) -> Option<i32> {
    let at = text.find("(os error ")?;
    let rest = &text[at + 10..];
    rest[..rest.find(')')?].parse().ok()
}

type DriveOut = (RunResult, Vec<CodeOutcome>, Option<HarnessError>);

/// The harness's event loop: the world's events and the code's operations
/// in time order (see rt.rs for how each runtime is moved).
fn drive<F: Function>(
    cfg: &SimConfig,
    seed: u64,
    func: u16,
    function: &Rc<F>,
    trace: &mut dyn TraceSink,
    rows: &mut dyn OutcomeSink,
) -> DriveOut {
    let mut d = match Driven::new(cfg, seed, &[func], trace, rows) {
        Ok(d) => d,
        Err(e) => unreachable!("checked when the harness was built: {e}"),
    };
    let shared = Arc::new(Shared::default());
    shared.lock().keepalive = cfg.platform.tcp.keepalive.unwrap_or_default();
    let mut rts: BTreeMap<u32, EnvRt> = BTreeMap::new();
    let mut states: BTreeMap<u32, Rc<RefCell<Option<F::State>>>> = BTreeMap::new();
    // The world's socket of each shim socket is in its mirror (`ext`).
    let mut exts: BTreeMap<ExtSock, u64> = BTreeMap::new();
    let mut events = Vec::new();
    let mut code = Vec::new();
    // Cross-environment effects travel at least one network hop: other
    // environments may run this far ahead of the world safely. With no
    // latency at all, 1 ms: such effects may then be seen up to 1 ms late
    // (docs/harness.md).
    // (The least one way can take, when the latencies vary.)
    let one_way =
        cfg.network.client_latency.lower_bound() + cfg.network.server_latency.lower_bound();
    let lookahead = if one_way.is_zero() {
        SimDuration::from_millis(1)
    } else {
        one_way
    };
    let mut failure = None;
    loop {
        d.take_events(&mut events);
        for ev in events.drain(..) {
            match ev {
                ExtEvent::Invoke {
                    env,
                    seq,
                    id,
                    func: f,
                    cold,
                } => {
                    if let std::collections::btree_map::Entry::Vacant(v) = rts.entry(env) {
                        match EnvRt::new(shared.clone(), env, d.now()) {
                            Ok(rt) => {
                                v.insert(rt);
                            }
                            Err(e) => {
                                failure = Some(HarnessError::Io("tokio runtime".into(), e));
                                break;
                            }
                        }
                    }
                    let rt = rts.get_mut(&env).expect("created");
                    rt.dirty = true;
                    shared.lock().last_errno.remove(&env);
                    let state = states.entry(env).or_default().clone();
                    let function = function.clone();
                    let inv = Invocation {
                        id,
                        env,
                        cold,
                        function: f,
                    };
                    let ctx = rt.ctx.clone();
                    rt.enter(|| {
                        rt.local.spawn_local(async move {
                            let r = run_handler(&*function, &state, &inv).await;
                            let at = ctx.now();
                            let under = ctx.shared.lock().last_errno.remove(&env);
                            let (error, outcome) = classify(id, env, at, &r, under);
                            ctx.shared.lock().push(
                                env,
                                at,
                                Op::Finish {
                                    seq,
                                    error,
                                    code: outcome,
                                },
                            );
                        });
                    });
                }
                ExtEvent::Socket { sock, notice } => {
                    let Some(&key) = exts.get(&sock) else {
                        continue;
                    };
                    let mut b = shared.lock();
                    let Some(m) = b.socks.get_mut(&key) else {
                        continue;
                    };
                    let env = m.env;
                    match notice {
                        Notice::Connected => {
                            m.state = ConnState::Open;
                            m.local_port = d.local_port(sock).unwrap_or(0);
                        }
                        Notice::Error(e) if m.state == ConnState::Connecting => {
                            m.state = ConnState::Failed(e);
                            let _ = d.recv(sock);
                        }
                        Notice::Readable | Notice::Eof | Notice::Error(_) => loop {
                            match d.recv(sock) {
                                ExtRecv::Data(bytes) => m.rx.extend(bytes),
                                ExtRecv::WouldBlock => break,
                                ExtRecv::Eof => {
                                    m.eof = true;
                                    break;
                                }
                                ExtRecv::Err(e) => {
                                    if m.state == ConnState::Connecting {
                                        m.state = ConnState::Failed(e);
                                    } else if !m.dead {
                                        m.error = Some(e);
                                    }
                                    break;
                                }
                            }
                        },
                    }
                    m.wake();
                    drop(b);
                    if let Some(rt) = rts.get_mut(&env) {
                        rt.dirty = true;
                    }
                }
                ExtEvent::Frozen { env } => {
                    if let Some(rt) = rts.get_mut(&env) {
                        rt.frozen = true;
                    }
                }
                ExtEvent::Thawed { env } => {
                    if let Some(rt) = rts.get_mut(&env) {
                        rt.frozen = false;
                        rt.dirty = true;
                    }
                }
                ExtEvent::Gone { env } => {
                    {
                        let mut b = shared.lock();
                        b.gone.insert(env);
                        b.drivers.remove(&env);
                        b.ops.retain(|o| o.env != env);
                    }
                    // Dropping the runtime drops the code's tasks and
                    // sockets (they see the environment gone: no FIN).
                    if let Some(rt) = rts.remove(&env) {
                        drop(rt);
                    }
                    states.remove(&env);
                    let mut b = shared.lock();
                    let dead: Vec<u64> = b
                        .socks
                        .iter()
                        .filter(|(_, m)| m.env == env)
                        .map(|(k, _)| *k)
                        .collect();
                    for k in dead {
                        if let Some(e) = b.socks.remove(&k).and_then(|m| m.ext) {
                            exts.remove(&e);
                        }
                    }
                }
            }
        }
        if failure.is_some() {
            break;
        }
        flush_logs(&shared, &mut d);

        // Run every running environment up to the horizon.
        let now = d.now();
        let next = d.next_event_time();
        let running: Vec<u32> = rts
            .iter()
            .filter(|(_, r)| !r.frozen)
            .map(|(e, _)| *e)
            .collect();
        if next.is_none() && shared.lock().ops.is_empty() {
            // Nothing is scheduled: every environment is frozen or gone.
            break;
        }
        // Bounded even with no world event pending, so that a runtime's
        // clock stays within what tokio's Instant can represent.
        let mut horizon = next
            .unwrap_or(SimTime::MAX)
            .min(now + SimDuration::from_secs(365 * 86_400));
        if running.len() > 1 {
            horizon = horizon.min(now + lookahead);
        }
        for env in running {
            let rt = rts.get_mut(&env).expect("running");
            if rt.clock < horizon || rt.dirty || rt.clock < now {
                rt.dirty = false;
                if rt.run_to(now, horizon) == Stop::Stuck {
                    failure = Some(HarnessError::Stuck(format!(
                        "env-{env}: the code kept its runtime busy at t={} without ever going idle (a task that yields forever, or a blocking loop)",
                        rt.clock
                    )));
                }
            }
        }
        if failure.is_some() {
            break;
        }

        // The code's operations, earliest first.
        let mut ops = std::mem::take(&mut shared.lock().ops);
        if let Some(first) = ops.iter().map(|o| o.at).min() {
            let at = first.max(d.now());
            if at > d.now() {
                d.advance_to(at);
            }
            let (due, later): (Vec<_>, Vec<_>) = ops.drain(..).partition(|o| o.at <= at);
            shared.lock().ops = later;
            let mut touched = Vec::new();
            for op in due {
                touched.push(op.env);
                match op.op {
                    Op::Connect { key, port, opts } => match d.connect(op.env, port, opts) {
                        Ok(ext) => {
                            if let Some(m) = shared.lock().socks.get_mut(&key) {
                                m.ext = Some(ext);
                            }
                            exts.insert(ext, key);
                        }
                        Err(e) => {
                            if let Some(m) = shared.lock().socks.get_mut(&key) {
                                m.state = ConnState::Failed(e);
                                m.wake();
                            }
                        }
                    },
                    Op::Send { key, bytes } => {
                        let ext = shared.lock().socks.get(&key).and_then(|m| m.ext);
                        if let Some(ext) = ext {
                            if let Err(e) = d.send(ext, &bytes) {
                                if let Some(m) = shared.lock().socks.get_mut(&key) {
                                    if !m.dead {
                                        m.error = Some(e);
                                    }
                                    m.wake();
                                }
                            }
                        }
                    }
                    Op::Close { key } => {
                        let ext = shared.lock().socks.remove(&key).and_then(|m| m.ext);
                        if let Some(ext) = ext {
                            exts.remove(&ext);
                            d.close(ext);
                        }
                    }
                    Op::Finish {
                        seq,
                        error,
                        code: c,
                    } => {
                        code.push(c);
                        d.finish(op.env, seq, error);
                    }
                }
            }
            let b = shared.lock();
            for env in touched {
                if !b.ops.iter().any(|o| o.env == env) {
                    if let Some(sig) = b.drivers.get(&env) {
                        sig.ops.store(false, Ordering::SeqCst);
                    }
                }
                if let Some(r) = rts.get_mut(&env) {
                    r.dirty = true;
                }
            }
            continue;
        }

        // No operation: the world moves.
        match next {
            Some(t) if t <= horizon => {
                if !d.step() {
                    break;
                }
            }
            _ if horizon < SimTime::MAX => d.advance_to(horizon),
            _ => break,
        }
    }
    // Environments still alive at the end: their tasks are dropped here.
    {
        let mut b = shared.lock();
        let envs: Vec<u32> = rts.keys().copied().collect();
        b.gone.extend(envs);
    }
    drop(rts);
    flush_logs(&shared, &mut d);
    if let Some(b) = d.stopped() {
        failure.get_or_insert(HarnessError::Budget(format!(
            "the run exceeded its event budget of {} events at t={}",
            b.budget, b.at
        )));
    }
    (d.finish_run(), code, failure)
}

async fn run_handler<F: Function>(
    f: &F,
    state: &RefCell<Option<F::State>>,
    inv: &Invocation,
) -> Result<(), BoxError> {
    // Taken out for the call, put back after: one invocation at a time per
    // environment, and an invocation cut short (function timeout) resets
    // the environment anyway.
    let taken = state.borrow_mut().take();
    let mut s = match taken {
        Some(s) => s,
        None => f.init(inv).await?,
    };
    let r = f.handle(&mut s, inv).await;
    *state.borrow_mut() = Some(s);
    r
}

/// Moves the code's log lines into the trace, at their instants.
fn flush_logs(shared: &Shared, d: &mut Driven<'_>) {
    let mut logs = std::mem::take(&mut shared.lock().logs);
    logs.sort_by_key(|l| l.at);
    for l in logs {
        d.log_at(l.at, format!("env-{}", l.env), l.level, l.text);
    }
}
