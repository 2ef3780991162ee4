//! The World: execution environments, their client connections, the
//! network path (links and an optional middlebox), and the server, wired
//! over the sans-IO models of thaw-net and driven by one event queue.
use crate::config::{FrozenKernel, Placement, ReapPolicy, SimConfig, Strategy, ThawOrder};
use crate::report::{self, Collector, ErrorKind, Outcome, RunResult, WorldTotals};
use crate::workload::Arrivals;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use thaw_core::{
    BudgetExceeded, EventQueue, Level, RngStreams, SimDuration, SimRng, SimTime, TraceRecord,
    TraceSink, Value,
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

// Application messages carried as payloads.
const MSG_REQUEST: u64 = 1;
const MSG_RESPONSE: u64 = 2;
const MSG_ERR_MAXCLIENTS: u64 = 3;

const SERVER_HOST: u32 = 0;

/// Delay lanes of the event queue (see EventQueue::push_after).
const LANES: usize = 32;
const FIRST_EPHEMERAL: u16 = 32768;
const LAST_EPHEMERAL: u16 = 60999;
/// The CPU share of one full vCPU: 1769 MB (AWS Lambda).
const MB_PER_VCPU: u64 = 1769;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SockRef {
    idx: u32,
    inc: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ConnRef {
    idx: u32,
    inc: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The client connection of an environment.
    Env(u32),
    /// A server socket still in the handshake.
    ServerPending,
    /// A server connection the server application holds.
    Server(ConnRef),
    /// Closed by its application; the kernel finishes it alone.
    Kernel,
}

struct SockSlot {
    inc: u32,
    live: Option<LiveSock>,
}

struct LiveSock {
    tcb: Tcb,
    owner: Owner,
    last_note: Option<TcpNote>,
    /// The socket at the other end, once known: lets a delivery skip the
    /// demultiplexing lookup (validated against the addresses on use).
    peer: Option<SockRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnvState {
    Initializing,
    Busy,
    Idle,
    Frozen,
    Reaped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    ConnectCpu,
    Connecting,
    AwaitReply,
}

struct Inv {
    id: u64,
    seq: u64,
    arrival: SimTime,
    cold: bool,
    step: usize,
    phase: Phase,
}

struct Env {
    state: EnvState,
    gen: u32,
    idle_key: Option<u64>,
    next_port: u16,
    conn: Option<SockRef>,
    socks: Vec<SockRef>,
    inv: Option<Inv>,
    deferred_kernel: Vec<(SockRef, TimerKind, u32)>,
    deferred_app: Vec<(SockRef, Notice)>,
    since: SimTime,
}

struct ServerConn {
    sock: SockRef,
    peer: Addr,
    last_activity: SimTime,
    pending: u32,
    busy: bool,
    idle_gen: u32,
    zombie: bool,
}

struct ConnSlot {
    inc: u32,
    live: Option<ServerConn>,
}

#[derive(Clone, Copy, Debug)]
enum Hop {
    Middlebox(Dir),
    Host,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrival,
    InitDone {
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
    Reap {
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
        step: usize,
    },
    Deliver {
        seg: Segment,
        hop: Hop,
        /// The sending socket, if a socket sent it.
        from: Option<SockRef>,
        /// The receiving socket, if the sender knows it (checked on use).
        to: Option<SockRef>,
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
    ServiceDone {
        conn: ConnRef,
    },
    ServerIdle {
        conn: ConnRef,
        gen: u32,
    },
    MbExpire {
        client: Addr,
        server: Addr,
    },
}

/// Runs a scenario to completion. `keep_rows` keeps every invocation's
/// outcome (turn it off for very large workloads: metrics still stream).
pub fn run(
    cfg: &SimConfig,
    trace: &mut dyn TraceSink,
    keep_rows: bool,
) -> Result<RunResult, RunError> {
    let mut w = World::new(cfg.clone(), trace, keep_rows);
    w.run()?;
    Ok(w.into_result())
}

struct World<'t> {
    cfg: SimConfig,
    q: EventQueue<Ev>,
    trace: &'t mut dyn TraceSink,
    timeline: bool,
    detail: bool,
    platform_rng: SimRng,
    arrivals: Arrivals,
    next_inv_id: u64,
    next_inv_seq: u64,
    envs: Vec<Env>,
    idle: BTreeSet<(u64, u32)>,
    use_seq: u64,
    live_envs: u32,
    socks: Vec<SockSlot>,
    free_socks: Vec<u32>,
    demux: BTreeMap<(Addr, Addr), SockRef>,
    server_addr: Addr,
    conns: Vec<ConnSlot>,
    free_conns: Vec<u32>,
    server_open: u64,
    server_peak: u64,
    mb: Option<Middlebox>,
    /// When each tracked flow's expiry timer is due (one live timer a flow).
    mb_timers: BTreeMap<(Addr, Addr), SimTime>,
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
}

impl<'t> World<'t> {
    fn new(cfg: SimConfig, trace: &'t mut dyn TraceSink, keep_rows: bool) -> Self {
        let rngs = RngStreams::new(cfg.seed);
        let arrivals = Arrivals::new(cfg.workload.clone(), rngs.stream("workload"));
        let timeline = trace.wants(Level::Timeline);
        let detail = trace.wants(Level::Detail);
        let server_addr = Addr {
            host: SERVER_HOST,
            port: cfg.server.port,
        };
        let mb = cfg.middlebox.as_ref().map(|m| Middlebox::new(m.config));
        World {
            q: EventQueue::with_lanes(cfg.event_budget, LANES),
            trace,
            timeline,
            detail,
            platform_rng: rngs.stream("platform"),
            arrivals,
            next_inv_id: 1,
            next_inv_seq: 1,
            envs: Vec::new(),
            idle: BTreeSet::new(),
            use_seq: 0,
            live_envs: 0,
            socks: Vec::new(),
            free_socks: Vec::new(),
            demux: BTreeMap::new(),
            server_addr,
            conns: Vec::new(),
            free_conns: Vec::new(),
            server_open: 0,
            server_peak: 0,
            mb,
            mb_timers: BTreeMap::new(),
            zombies: 0,
            zombie_ns: 0,
            zombie_mark: SimTime::ZERO,
            last_effect: SimTime::ZERO,
            collector: Collector::new(keep_rows),
            bufs: Vec::new(),
            notice_bufs: Vec::new(),
            sock_bufs: Vec::new(),
            connections_opened: 0,
            connections_closed: 0,
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

    fn addr_name(&self, a: Addr) -> String {
        if a.host == SERVER_HOST {
            format!("{}:{}", self.cfg.server.name, a.port)
        } else {
            format!("env-{}:{}", a.host, a.port)
        }
    }

    fn sock_name(&self, s: SockRef) -> String {
        match self.sock(s) {
            Some(ls) => {
                let l = ls.tcb.local();
                let r = ls.tcb.remote();
                if l.host == SERVER_HOST {
                    format!("{} socket ←{}", self.cfg.server.name, self.addr_name(r))
                } else {
                    format!("env-{} socket :{}→{}", l.host, l.port, self.addr_name(r))
                }
            }
            None => "socket".to_string(),
        }
    }

    fn component_of(&self, host: u32) -> String {
        if host == SERVER_HOST {
            self.cfg.server.name.clone()
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
            Ev::Arrival | Ev::MbExpire { .. } => self.q.push(at, ev),
            _ => {
                let d = at.saturating_since(self.q.now());
                self.q.push_after(d, ev)
            }
        }
    }

    fn run(&mut self) -> Result<(), RunError> {
        if let Some(t) = self.arrivals.next_arrival() {
            self.schedule(t, Ev::Arrival);
        }
        while let Some((_, ev)) = self.q.pop().map_err(RunError::Budget)? {
            self.handle(ev);
        }
        Ok(())
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival => self.on_arrival(),
            Ev::InitDone { env, seq } => {
                if self.inv_matches(env, seq) {
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
                    self.start_handler(env);
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
            Ev::Freeze { env, gen } => self.on_freeze(env, gen),
            Ev::Reap { env, gen } => self.on_reap(env, gen),
            Ev::FunctionTimeout { env, seq } => {
                if self.inv_matches(env, seq) {
                    self.on_function_timeout(env);
                }
            }
            Ev::RequestTimeout { env, seq, step } => {
                if self.inv_matches(env, seq) {
                    let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("matched");
                    if inv.step == step && inv.phase == Phase::AwaitReply {
                        let name = self.cfg.client.requests[step].name.clone();
                        let t = self.cfg.client.requests[step].timeout.unwrap_or_default();
                        self.fail(
                            env,
                            ErrorKind::RequestTimeout,
                            format!("{name}: no reply within the client's timeout of {t}"),
                        );
                    }
                }
            }
            Ev::Deliver { seg, hop, from, to } => match hop {
                Hop::Middlebox(dir) => self.at_middlebox(seg, dir, from, to),
                Hop::Host => self.at_host(seg, from, to),
            },
            Ev::TcpTimer { sock, kind, gen } => self.on_tcp_timer(sock, kind, gen),
            Ev::AppNotice { sock, notice } => self.dispatch_notice(sock, notice),
            Ev::ServiceDone { conn } => self.on_service_done(conn),
            Ev::ServerIdle { conn, gen } => self.on_server_idle(conn, gen),
            Ev::MbExpire { client, server } => self.on_mb_expire(client, server),
        }
    }

    fn inv_matches(&self, env: u32, seq: u64) -> bool {
        matches!(
            self.envs.get((env - 1) as usize).and_then(|e| e.inv.as_ref()),
            Some(inv) if inv.seq == seq
        )
    }

    // ----- platform ------------------------------------------------------

    fn on_arrival(&mut self) {
        self.effect();
        let now = self.q.now();
        if let Some(t) = self.arrivals.next_arrival() {
            self.schedule(t, Ev::Arrival);
        }
        let id = self.next_inv_id;
        self.next_inv_id += 1;
        let seq = self.next_inv_seq;
        self.next_inv_seq += 1;

        let pick = match self.cfg.platform.placement {
            Placement::MostRecent => self.idle.iter().next_back().copied(),
            Placement::LeastRecent => self.idle.iter().next().copied(),
        };
        if let Some(key) = pick {
            let env = key.1;
            self.idle.remove(&key);
            let was = self.envs[(env - 1) as usize].state;
            let since = self.envs[(env - 1) as usize].since;
            {
                let e = &mut self.envs[(env - 1) as usize];
                e.idle_key = None;
                e.gen += 1;
                e.state = EnvState::Busy;
                e.inv = Some(Inv {
                    id,
                    seq,
                    arrival: now,
                    cold: false,
                    step: 0,
                    phase: Phase::Init,
                });
            }
            if was == EnvState::Frozen {
                self.set_env_zombies(env, false);
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "invoke",
                        vec![("env", env.into()), ("cold", false.into())],
                        format!(
                            "inv-{id} arrives; env-{env} thaws after {} frozen",
                            now.saturating_since(since)
                        ),
                    );
                }
                self.thaw(env, seq);
            } else {
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "invoke",
                        vec![("env", env.into()), ("cold", false.into())],
                        format!("inv-{id} arrives; env-{env} is warm and not yet frozen"),
                    );
                }
                self.start_handler(env);
            }
            return;
        }
        if self.live_envs >= self.cfg.platform.max_concurrency {
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    format!("inv-{id}"),
                    "throttled",
                    vec![],
                    format!(
                        "inv-{id} throttled: {} environments busy = max_concurrency",
                        self.live_envs
                    ),
                );
            }
            self.collector.record(Outcome {
                id,
                at: now,
                container: 0,
                cold: false,
                error: Some(ErrorKind::Throttled),
                detail: Some("Rate Exceeded (TooManyRequestsException)".into()),
                latency: SimDuration::ZERO,
            });
            return;
        }
        let env = self.envs.len() as u32 + 1;
        self.envs.push(Env {
            state: EnvState::Initializing,
            gen: 0,
            idle_key: None,
            next_port: FIRST_EPHEMERAL,
            conn: None,
            socks: Vec::new(),
            inv: Some(Inv {
                id,
                seq,
                arrival: now,
                cold: true,
                step: 0,
                phase: Phase::Init,
            }),
            deferred_kernel: Vec::new(),
            deferred_app: Vec::new(),
            since: now,
        });
        self.live_envs += 1;
        let init = self.cfg.platform.init_duration;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "invoke",
                vec![("env", env.into()), ("cold", true.into())],
                format!(
                    "inv-{id} arrives; no warm environment: cold start of env-{env} (init {init})"
                ),
            );
        }
        self.schedule(now + init, Ev::InitDone { env, seq });
    }

    fn thaw(&mut self, env: u32, seq: u64) {
        let now = self.q.now();
        let e = &mut self.envs[(env - 1) as usize];
        let kernel = std::mem::take(&mut e.deferred_kernel);
        let app = std::mem::take(&mut e.deferred_app);
        // Kernel timers that came due while frozen fire as soon as the vCPU
        // runs again; then the handler and the queued socket events, in the
        // order the scenario chose.
        let n_kernel = kernel.len();
        for (sock, kind, gen) in kernel {
            self.schedule(now, Ev::TcpTimer { sock, kind, gen });
        }
        let n_app = app.len();
        match self.cfg.platform.thaw_order {
            ThawOrder::HandlerFirst => {
                self.schedule(now, Ev::StartHandler { env, seq });
                for (sock, notice) in app {
                    self.schedule(now, Ev::AppNotice { sock, notice });
                }
            }
            ThawOrder::EventsFirst => {
                for (sock, notice) in app {
                    self.schedule(now, Ev::AppNotice { sock, notice });
                }
                self.schedule(now, Ev::StartHandler { env, seq });
            }
        }
        if (n_kernel > 0 || n_app > 0) && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "thaw_backlog",
                vec![("kernel_timers", n_kernel.into()), ("app_events", n_app.into())],
                format!(
                    "env-{env} thaw: {n_kernel} overdue kernel timer(s) and {n_app} socket event(s) queued while frozen now run"
                ),
            );
        }
    }

    fn start_handler(&mut self, env: u32) {
        let now = self.q.now();
        let timeout = self.cfg.platform.timeout;
        let seq = {
            let e = &mut self.envs[(env - 1) as usize];
            let inv = e.inv.as_mut().expect("handler without invocation");
            inv.step = 0;
            inv.seq
        };
        self.schedule(now + timeout, Ev::FunctionTimeout { env, seq });
        self.advance(env);
    }

    fn on_freeze(&mut self, env: u32, gen: u32) {
        let now = self.q.now();
        {
            let e = &mut self.envs[(env - 1) as usize];
            if e.gen != gen || e.state != EnvState::Idle {
                return;
            }
            e.state = EnvState::Frozen;
            e.since = now;
        }
        // Drawn once per actual freeze: a cancelled freeze draws nothing.
        let reap_after = match self.cfg.platform.reap.clone() {
            ReapPolicy::Fixed(d) => d,
            ReapPolicy::Uniform { min, max } => {
                let lo = min.as_nanos();
                let hi = max.as_nanos().max(lo);
                SimDuration::from_nanos(self.platform_rng.random_range(lo..=hi))
            }
        };
        self.effect();
        self.set_env_zombies(env, true);
        if self.wants(Level::Timeline) {
            let conns = self.envs[(env - 1) as usize].socks.len();
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "freeze",
                vec![("reap_after_ns", reap_after.as_nanos().into()), ("sockets", conns.into())],
                match self.cfg.platform.frozen_kernel {
                    FrozenKernel::Silent => format!(
                        "env-{env} frozen with {conns} socket(s) open; no code runs, no timers fire, inbound packets get no answer; reaped if idle for {reap_after}"
                    ),
                    FrozenKernel::Running => format!(
                        "env-{env} frozen with {conns} socket(s) open; no code runs, but its kernel still answers TCP (frozen_kernel = running); reaped if idle for {reap_after}"
                    ),
                },
            );
        }
        self.schedule(now + reap_after, Ev::Reap { env, gen });
    }

    fn on_reap(&mut self, env: u32, gen: u32) {
        let now = self.q.now();
        let (since, socks) = {
            let e = &mut self.envs[(env - 1) as usize];
            if e.gen != gen || e.state != EnvState::Frozen {
                return;
            }
            (e.since, e.socks.len())
        };
        self.effect();
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "reap",
                vec![("sockets", socks.into())],
                format!(
                    "env-{env} reaped after {} idle: {socks} socket(s) vanish with it, no FIN or RST is sent",
                    now.saturating_since(since)
                ),
            );
        }
        self.discard_env(env);
    }

    /// Reap or reset: the environment and its kernel vanish; nothing is
    /// sent on their behalf.
    fn discard_env(&mut self, env: u32) {
        let socks = {
            let e = &mut self.envs[(env - 1) as usize];
            if let Some(k) = e.idle_key.take() {
                self.idle.remove(&(k, env));
            }
            e.state = EnvState::Reaped;
            e.gen += 1;
            e.conn = None;
            e.inv = None;
            e.deferred_app.clear();
            e.deferred_kernel.clear();
            std::mem::take(&mut e.socks)
        };
        self.live_envs -= 1;
        for s in socks {
            self.free_sock(s);
        }
        // Server-side peers stay (zombies) until the server times them out.
        self.set_env_zombies(env, true);
    }

    fn on_function_timeout(&mut self, env: u32) {
        self.effect();
        let now = self.q.now();
        let (id, arrival, cold) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("matched");
            (inv.id, inv.arrival, inv.cold)
        };
        let t = self.cfg.platform.timeout;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "function_timeout",
                vec![],
                format!(
                    "inv-{id} hits the function timeout ({t}): Lambda resets env-{env}; its sockets vanish without FIN"
                ),
            );
        }
        self.collector.record(Outcome {
            id,
            at: arrival,
            container: env,
            cold,
            error: Some(ErrorKind::FunctionTimeout),
            detail: Some(format!("Task timed out after {t}")),
            latency: now.saturating_since(arrival),
        });
        self.discard_env(env);
    }

    fn set_env_zombies(&mut self, env: u32, zombie: bool) {
        let lo = (self.server_addr, Addr { host: env, port: 0 });
        let hi = (
            self.server_addr,
            Addr {
                host: env,
                port: u16::MAX,
            },
        );
        let mut socks = self.sock_bufs.pop().unwrap_or_default();
        socks.extend(self.demux.range(lo..=hi).map(|(_, s)| *s));
        for s in socks.drain(..) {
            if let Some(Owner::Server(c)) = self.sock(s).map(|l| l.owner) {
                self.set_zombie(c, zombie);
            }
        }
        self.sock_bufs.push(socks);
    }

    fn set_zombie(&mut self, c: ConnRef, zombie: bool) {
        let now = self.q.now();
        let Some(conn) = self.conn_mut(c) else { return };
        if conn.zombie == zombie {
            return;
        }
        conn.zombie = zombie;
        self.account_zombies(now);
        if zombie {
            self.zombies += 1;
        } else {
            self.zombies -= 1;
        }
    }

    fn effect(&mut self) {
        self.last_effect = self.q.now();
    }

    fn account_zombies(&mut self, now: SimTime) {
        let dt = now.saturating_since(self.zombie_mark).as_nanos() as u128;
        self.zombie_ns += dt * self.zombies as u128;
        self.zombie_mark = now;
    }

    // ----- the function's client ----------------------------------------

    fn connect_cpu(&self) -> SimDuration {
        let mem = self.cfg.platform.memory_mb.max(1) as u64;
        let c = self.cfg.client.connect_cpu;
        if mem >= MB_PER_VCPU {
            c
        } else {
            c.mul_ratio(MB_PER_VCPU, mem)
        }
    }

    fn advance(&mut self, env: u32) {
        let now = self.q.now();
        let nreq = self.cfg.client.requests.len();
        let e = &self.envs[(env - 1) as usize];
        let inv = e.inv.as_ref().expect("advance without invocation");
        if inv.step >= nreq {
            if self.cfg.client.strategy == Strategy::PerInvocation {
                if let Some(s) = self.envs[(env - 1) as usize].conn.take() {
                    self.app_close(
                        s,
                        "per-invocation connection closed at the end of the invocation",
                    );
                }
            }
            self.finish(env, None, None);
            return;
        }
        if let Some(s) = e.conn {
            self.send_request(env, s);
            return;
        }
        let seq = inv.seq;
        let id = inv.id;
        let cost = self.connect_cpu();
        self.envs[(env - 1) as usize]
            .inv
            .as_mut()
            .expect("inv")
            .phase = Phase::ConnectCpu;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "connect_cpu",
                vec![("cpu_ns", cost.as_nanos().into())],
                format!(
                    "inv-{id} opens a new connection: {cost} of connection setup at {} MB ({} of a vCPU)",
                    self.cfg.platform.memory_mb,
                    vcpu_share(self.cfg.platform.memory_mb)
                ),
            );
        }
        self.schedule(now + cost, Ev::CpuDone { env, seq });
    }

    fn open_connection(&mut self, env: u32) {
        let now = self.q.now();
        let remote = self.server_addr;
        let Some(port) = self.alloc_port(env) else {
            self.fail(
                env,
                ErrorKind::Eaddrnotavail,
                "connect EADDRNOTAVAIL: no free local port".into(),
            );
            return;
        };
        let local = Addr { host: env, port };
        let cfg = self.cfg.platform.tcp;
        let mut out = self.buf();
        let tcb = Tcb::connect(now, cfg, local, remote, &mut out);
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        {
            let e = &mut self.envs[(env - 1) as usize];
            e.conn = Some(s);
            e.socks.push(s);
            e.inv.as_mut().expect("inv").phase = Phase::Connecting;
        }
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "connect",
                vec![("port", port.into())],
                format!("{name}: connect() sends SYN"),
            );
        }
        self.apply(s, out);
    }

    fn alloc_port(&mut self, env: u32) -> Option<u16> {
        let span = (LAST_EPHEMERAL - FIRST_EPHEMERAL) as u32 + 1;
        for _ in 0..span {
            let e = &mut self.envs[(env - 1) as usize];
            let p = e.next_port;
            e.next_port = if p >= LAST_EPHEMERAL {
                FIRST_EPHEMERAL
            } else {
                p + 1
            };
            let key = (Addr { host: env, port: p }, self.server_addr);
            if !self.demux.contains_key(&key) {
                return Some(p);
            }
        }
        None
    }

    fn send_request(&mut self, env: u32, s: SockRef) {
        let now = self.q.now();
        let (id, seq, step) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
            (inv.id, inv.seq, inv.step)
        };
        let spec = self.cfg.client.requests[step].clone();
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(MSG_REQUEST), &mut out),
            None => Err(Errno::Epipe),
        };
        match res {
            Ok(()) => {
                self.envs[(env - 1) as usize]
                    .inv
                    .as_mut()
                    .expect("inv")
                    .phase = Phase::AwaitReply;
                if self.wants(Level::Timeline) {
                    let state = self
                        .sock(s)
                        .map(|l| l.tcb.state().name())
                        .unwrap_or("CLOSED");
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "request",
                        vec![
                            ("request", spec.name.as_str().into()),
                            ("socket_state", state.into()),
                        ],
                        format!(
                            "inv-{id} sends {} (socket {state}: write() succeeds)",
                            spec.name
                        ),
                    );
                }
                if let Some(t) = spec.timeout {
                    self.schedule(now + t, Ev::RequestTimeout { env, seq, step });
                }
                self.apply(s, out);
            }
            Err(e) => {
                self.recycle(out);
                self.fail(
                    env,
                    ErrorKind::from_errno(e),
                    format!("{}: write {}", spec.name, e.name()),
                );
            }
        }
    }

    /// A socket event reaches an environment's code (now, or at thaw).
    fn env_notice(&mut self, env: u32, s: SockRef, notice: Notice) {
        let state = self.envs[(env - 1) as usize].state;
        match state {
            EnvState::Frozen => {
                self.envs[(env - 1) as usize].deferred_app.push((s, notice));
                return;
            }
            EnvState::Reaped => return,
            EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
        }
        let phase = self.envs[(env - 1) as usize].inv.as_ref().map(|i| i.phase);
        if phase == Some(Phase::Init)
            && self.cfg.platform.thaw_order == ThawOrder::HandlerFirst
            && self.envs[(env - 1) as usize].state == EnvState::Busy
        {
            // Raised by a kernel timer that ran at thaw, before the handler:
            // the application sees it after the handler has started.
            self.schedule(self.q.now(), Ev::AppNotice { sock: s, notice });
            return;
        }
        let is_current = self.envs[(env - 1) as usize].conn == Some(s);
        if !is_current {
            return;
        }
        match (phase, notice) {
            (Some(Phase::Connecting), Notice::Connected) => self.send_request(env, s),
            (Some(Phase::Connecting), Notice::Error(_)) => {
                let err = self.read_error(s);
                let (kind, detail) = self.explain(s, err, "connect");
                self.fail(env, kind, detail);
            }
            (Some(Phase::AwaitReply), Notice::Readable | Notice::Eof | Notice::Error(_)) => {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::WouldBlock => {}
                    RecvResult::Data(Payload(MSG_RESPONSE)) => {
                        let (id, step) = {
                            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                            inv.step += 1;
                            (inv.id, inv.step - 1)
                        };
                        if self.wants(Level::Timeline) {
                            let name = self.cfg.client.requests[step].name.clone();
                            self.emit(
                                Level::Timeline,
                                format!("inv-{id}"),
                                "reply",
                                vec![("request", name.as_str().into())],
                                format!("inv-{id} {name}: reply received"),
                            );
                        }
                        self.advance(env);
                    }
                    RecvResult::Data(Payload(MSG_ERR_MAXCLIENTS)) => self.fail(
                        env,
                        ErrorKind::TooManyConnections,
                        "ERR max number of clients reached".into(),
                    ),
                    RecvResult::Data(_) => {}
                    RecvResult::Eof => self.fail(
                        env,
                        ErrorKind::Eof,
                        "connection closed by the server: read() returned 0 (EOF)".into(),
                    ),
                    RecvResult::Err(e) => {
                        let (kind, detail) = self.explain(s, Some(e), "read");
                        self.fail(env, kind, detail);
                    }
                }
            }
            (None | Some(Phase::Init), Notice::Eof | Notice::Error(_)) => {
                // The driver notices while idle (event loop running) and
                // drops the connection; the next use reconnects.
                if self.wants(Level::Timeline) {
                    let name = self.sock_name(s);
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "client_drops_dead",
                        vec![],
                        format!(
                            "{name}: the client sees the connection end while idle and discards it"
                        ),
                    );
                }
                self.envs[(env - 1) as usize].conn = None;
                self.app_close(s, "closed by the client after it saw the connection end");
            }
            _ => {}
        }
    }

    fn read_error(&mut self, s: SockRef) -> Option<Errno> {
        match self.sock_mut(s).map(|l| l.tcb.recv()) {
            Some(RecvResult::Err(e)) => Some(e),
            _ => None,
        }
    }

    fn explain(&self, s: SockRef, err: Option<Errno>, call: &str) -> (ErrorKind, String) {
        let e = err.unwrap_or(Errno::Econnreset);
        let why = match (e, self.sock(s).and_then(|l| l.last_note)) {
            (Errno::Etimedout, Some(TcpNote::GaveUp { retries, rule, .. })) => format!(
                ": the kernel gave up after {retries} unanswered retransmission(s) ({rule})"
            ),
            (Errno::Etimedout, Some(TcpNote::KeepaliveGaveUp)) => {
                ": keepalive probes went unanswered".to_string()
            }
            (Errno::Econnreset, _) => ": the peer answered with RST".to_string(),
            (Errno::Econnrefused, _) => ": RST in answer to SYN".to_string(),
            (Errno::Epipe, _) => ": RST after the peer's FIN".to_string(),
            _ => String::new(),
        };
        (
            ErrorKind::from_errno(e),
            format!("{call} {}{why}", e.name()),
        )
    }

    fn fail(&mut self, env: u32, kind: ErrorKind, detail: String) {
        if let Some(s) = self.envs[(env - 1) as usize].conn.take() {
            self.app_close(s, "closed by the client after the error");
        }
        self.finish(env, Some(kind), Some(detail));
    }

    fn finish(&mut self, env: u32, error: Option<ErrorKind>, detail: Option<String>) {
        self.effect();
        let now = self.q.now();
        let inv = self.envs[(env - 1) as usize]
            .inv
            .take()
            .expect("finish without invocation");
        let latency = now.saturating_since(inv.arrival);
        if self.wants(Level::Timeline) {
            let text = match (&error, &detail) {
                (Some(k), Some(d)) => format!("inv-{} fails with {k} after {latency}: {d}", inv.id),
                (Some(k), None) => format!("inv-{} fails with {k} after {latency}", inv.id),
                (None, _) => format!("inv-{} ok in {latency}", inv.id),
            };
            self.emit(
                Level::Timeline,
                format!("inv-{}", inv.id),
                "outcome",
                {
                    let ok = error.is_none();
                    let mut f = vec![
                        ("outcome", if ok { "ok" } else { "error" }.into()),
                        ("latency_ns", latency.as_nanos().into()),
                    ];
                    if let Some(e) = error {
                        f.push(("error", e.name().into()));
                    }
                    f
                },
                text,
            );
        }
        self.collector.record(Outcome {
            id: inv.id,
            at: inv.arrival,
            container: env,
            cold: inv.cold,
            error,
            detail,
            latency,
        });
        self.use_seq += 1;
        let key = self.use_seq;
        let delay = self.cfg.platform.freeze_delay;
        let e = &mut self.envs[(env - 1) as usize];
        e.state = EnvState::Idle;
        e.gen += 1;
        e.idle_key = Some(key);
        e.since = now;
        let gen = e.gen;
        self.idle.insert((key, env));
        self.schedule(now + delay, Ev::Freeze { env, gen });
    }

    fn app_close(&mut self, s: SockRef, why: &str) {
        let now = self.q.now();
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "close",
                vec![],
                format!("{name}: close() — {why}"),
            );
        }
        let mut out = self.buf();
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::Kernel;
            ls.tcb.close(now, &mut out);
        }
        self.apply(s, out);
    }

    // ----- the server ----------------------------------------------------

    fn server_accept(&mut self, s: SockRef) {
        let now = self.q.now();
        let peer = match self.sock(s) {
            Some(l) => l.tcb.remote(),
            None => return,
        };
        if self.server_open >= self.cfg.server.max_connections as u64 {
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    self.cfg.server.name.clone(),
                    "reject",
                    vec![("open", self.server_open.into())],
                    format!(
                        "{} refuses {}: {} connections open = max_connections; sends an error and closes",
                        self.cfg.server.name,
                        self.addr_name(peer),
                        self.server_open
                    ),
                );
            }
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                let _ = ls.tcb.send(now, Payload(MSG_ERR_MAXCLIENTS), &mut out);
                ls.owner = Owner::Kernel;
                ls.tcb.close(now, &mut out);
            }
            self.apply(s, out);
            return;
        }
        let c = self.alloc_conn(ServerConn {
            sock: s,
            peer,
            last_activity: now,
            pending: 0,
            busy: false,
            idle_gen: 0,
            zombie: false,
        });
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::Server(c);
        }
        self.server_open += 1;
        self.server_peak = self.server_peak.max(self.server_open);
        let peer_state = self
            .envs
            .get((peer.host.wrapping_sub(1)) as usize)
            .map(|e| e.state);
        if matches!(peer_state, Some(EnvState::Frozen | EnvState::Reaped)) {
            self.set_zombie(c, true);
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "accept",
                vec![("open", self.server_open.into())],
                format!(
                    "{} accepts {} ({} connection(s) open)",
                    self.cfg.server.name,
                    self.addr_name(peer),
                    self.server_open
                ),
            );
        }
        self.arm_server_idle(c, now);
    }

    fn arm_server_idle(&mut self, c: ConnRef, from: SimTime) {
        let Some(t) = self.cfg.server.idle_timeout else {
            return;
        };
        let Some(conn) = self.conn_mut(c) else { return };
        conn.idle_gen += 1;
        let gen = conn.idle_gen;
        if from == self.q.now() {
            self.schedule(from + t, Ev::ServerIdle { conn: c, gen });
        } else {
            // A re-check after activity: its delay is one of a kind.
            self.q.push(from + t, Ev::ServerIdle { conn: c, gen });
        }
    }

    fn on_server_idle(&mut self, c: ConnRef, gen: u32) {
        let now = self.q.now();
        let Some(t) = self.cfg.server.idle_timeout else {
            return;
        };
        let Some(conn) = self.conn(c) else { return };
        if conn.idle_gen != gen {
            return;
        }
        let (last, pending, peer, s) = (conn.last_activity, conn.pending, conn.peer, conn.sock);
        if pending > 0 {
            self.arm_server_idle(c, now);
            return;
        }
        if now.saturating_since(last) < t {
            // Active since the timer was armed: due again `t` after the
            // last activity.
            self.arm_server_idle(c, last);
            return;
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "idle_close",
                vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                format!(
                    "{} closes the connection from {}: idle for {} ≥ idle_timeout {t}",
                    self.cfg.server.name,
                    self.addr_name(peer),
                    now.saturating_since(last)
                ),
            );
        }
        self.server_close(c, s, "idle timeout");
    }

    fn server_close(&mut self, c: ConnRef, s: SockRef, why: &str) {
        self.set_zombie(c, false);
        self.free_conn(c);
        self.server_open -= 1;
        self.app_close(s, why);
    }

    fn server_notice(&mut self, c: ConnRef, s: SockRef, notice: Notice) {
        let now = self.q.now();
        match notice {
            Notice::Connected => {}
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(MSG_REQUEST)) => {
                        let st = self.cfg.server.service_time;
                        let Some(conn) = self.conn_mut(c) else { return };
                        conn.pending += 1;
                        conn.last_activity = now;
                        if !conn.busy {
                            conn.busy = true;
                            self.schedule(now + st, Ev::ServiceDone { conn: c });
                        }
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.server_close(c, s, "the client closed the connection");
                        return;
                    }
                }
            },
            Notice::Eof => self.server_close(c, s, "the client closed the connection (EOF)"),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                self.server_close(c, s, &format!("the connection failed with {}", e.name()));
            }
        }
    }

    fn on_service_done(&mut self, c: ConnRef) {
        let now = self.q.now();
        let st = self.cfg.server.service_time;
        let Some(conn) = self.conn_mut(c) else { return };
        conn.pending -= 1;
        conn.busy = false;
        let s = conn.sock;
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(MSG_RESPONSE), &mut out),
            None => Err(Errno::Epipe),
        };
        self.apply(s, out);
        match res {
            Ok(()) => {
                let Some(conn) = self.conn_mut(c) else { return };
                conn.last_activity = now;
                if conn.pending > 0 {
                    conn.busy = true;
                    self.schedule(now + st, Ev::ServiceDone { conn: c });
                }
            }
            Err(e) => self.server_close(c, s, &format!("write failed with {}", e.name())),
        }
    }

    // ----- network -------------------------------------------------------

    fn route(&mut self, seg: Segment, from: Option<SockRef>) {
        let now = self.q.now();
        let to = from.and_then(|f| self.sock(f)).and_then(|l| l.peer);
        let from_server = seg.src.host == SERVER_HOST;
        let (first, second) = if from_server {
            (
                self.cfg.network.server_latency,
                self.cfg.network.client_latency,
            )
        } else {
            (
                self.cfg.network.client_latency,
                self.cfg.network.server_latency,
            )
        };
        if self.detail {
            self.emit(
                Level::Detail,
                self.component_of(seg.src.host),
                "send",
                seg_fields(&seg),
                format!(
                    "{} → {}: {seg}",
                    self.addr_name(seg.src),
                    self.addr_name(seg.dst)
                ),
            );
        }
        if self.mb.is_some() {
            let dir = if from_server {
                Dir::FromServer
            } else {
                Dir::FromClient
            };
            self.schedule(
                now + first,
                Ev::Deliver {
                    seg,
                    hop: Hop::Middlebox(dir),
                    from,
                    to,
                },
            );
        } else {
            self.schedule(
                now + first + second,
                Ev::Deliver {
                    seg,
                    hop: Hop::Host,
                    from,
                    to,
                },
            );
        }
    }

    fn at_middlebox(&mut self, seg: Segment, dir: Dir, from: Option<SockRef>, to: Option<SockRef>) {
        self.effect();
        let now = self.q.now();
        let (onward, back) = match dir {
            Dir::FromClient => (
                self.cfg.network.server_latency,
                self.cfg.network.client_latency,
            ),
            Dir::FromServer => (
                self.cfg.network.client_latency,
                self.cfg.network.server_latency,
            ),
        };
        let (client, server) = match dir {
            Dir::FromClient => (seg.src, seg.dst),
            Dir::FromServer => (seg.dst, seg.src),
        };
        let mb = self.mb.as_mut().expect("middlebox hop without middlebox");
        let verdict = mb.on_segment(now, &seg, dir);
        let mbname = self
            .cfg
            .middlebox
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        match verdict {
            Verdict::Forward { new_state, created } => {
                if created || new_state.is_some() {
                    // The timeout may have become shorter: make sure a timer
                    // runs at the new expiry. Refreshes only move it later,
                    // which the timer handles by re-arming.
                    let key = (client, server);
                    if let Some(at) = self.mb.as_ref().and_then(|m| m.expiry(&key)) {
                        let armed = self.mb_timers.get(&key).copied();
                        if created || armed.is_none_or(|t| at < t) {
                            self.mb_timers.insert(key, at);
                            self.schedule(at, Ev::MbExpire { client, server });
                        }
                    }
                }
                if let Some((from, to)) = new_state {
                    if self.wants(Level::Timeline) {
                        let timeout = self
                            .mb
                            .as_ref()
                            .map(|m| m.config().timeouts.get(to))
                            .unwrap_or_default();
                        self.emit(
                            Level::Timeline,
                            mbname,
                            "flow_state",
                            vec![("from", from.name().into()), ("to", to.name().into())],
                            format!(
                                "{} flow {}↔{}: {} → {} on {} (idle timeout now {timeout})",
                                self.cfg
                                    .middlebox
                                    .as_ref()
                                    .map(|m| m.name.as_str())
                                    .unwrap_or(""),
                                self.addr_name(client),
                                self.addr_name(server),
                                from.name(),
                                to.name(),
                                seg.kind()
                            ),
                        );
                    }
                }
                self.schedule(
                    now + onward,
                    Ev::Deliver {
                        seg,
                        hop: Hop::Host,
                        from,
                        to,
                    },
                );
            }
            Verdict::DropUntracked { forgotten_at } => {
                if self.wants(Level::Timeline) {
                    let why = match forgotten_at {
                        Some(t) => format!("it forgot this flow at {t}"),
                        None => "it never saw this flow start".to_string(),
                    };
                    self.emit(
                        Level::Timeline,
                        mbname.clone(),
                        "drop",
                        seg_fields(&seg),
                        format!(
                            "{mbname} silently drops {} from {}: {why} (untracked packets: drop)",
                            seg.kind(),
                            self.addr_name(seg.src)
                        ),
                    );
                }
            }
            Verdict::RstUntracked { rst, forgotten_at } => {
                if self.wants(Level::Timeline) {
                    let why = match forgotten_at {
                        Some(t) => format!("it forgot this flow at {t}"),
                        None => "it never saw this flow start".to_string(),
                    };
                    self.emit(
                        Level::Timeline,
                        mbname.clone(),
                        "rst",
                        seg_fields(&seg),
                        format!(
                            "{mbname} answers {} from {} with RST: {why} (untracked packets: rst)",
                            seg.kind(),
                            self.addr_name(seg.src)
                        ),
                    );
                }
                self.schedule(
                    now + back,
                    Ev::Deliver {
                        seg: rst,
                        hop: Hop::Host,
                        from: None,
                        to: from,
                    },
                );
            }
        }
    }

    fn on_mb_expire(&mut self, client: Addr, server: Addr) {
        let now = self.q.now();
        let Some(mb) = self.mb.as_mut() else { return };
        let key = (client, server);
        if self.mb_timers.get(&key) != Some(&now) {
            return; // superseded by an earlier timer
        }
        match mb.expiry(&key) {
            None => {
                self.mb_timers.remove(&key);
            }
            Some(at) if at > now => {
                self.mb_timers.insert(key, at);
                self.schedule(at, Ev::MbExpire { client, server });
            }
            Some(_) => {
                self.mb_timers.remove(&key);
                self.last_effect = now;
                let state = mb.expire(now, &key);
                mb.prune_forgotten(now, SimDuration::from_secs(3600));
                if let (Some(st), true) = (state, self.wants(Level::Timeline)) {
                    let name = self
                        .cfg
                        .middlebox
                        .as_ref()
                        .map(|m| m.name.clone())
                        .unwrap_or_default();
                    let t = self
                        .mb
                        .as_ref()
                        .map(|m| m.config().timeouts.get(st))
                        .unwrap_or_default();
                    self.emit(
                        Level::Timeline,
                        name.clone(),
                        "forget",
                        vec![("state", st.name().into())],
                        format!(
                            "{name} forgets flow {}↔{}: idle {t} in {}",
                            self.addr_name(client),
                            self.addr_name(server),
                            st.name()
                        ),
                    );
                }
            }
        }
    }

    fn at_host(&mut self, seg: Segment, from: Option<SockRef>, to: Option<SockRef>) {
        self.effect();
        let now = self.q.now();
        let host = seg.dst.host;
        if host != SERVER_HOST {
            let state = self.envs[(host - 1) as usize].state;
            match state {
                EnvState::Reaped => {
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{host}"),
                            "vanish",
                            seg_fields(&seg),
                            format!(
                                "{} from {} vanishes: env-{host} no longer exists",
                                seg.kind(),
                                self.addr_name(seg.src)
                            ),
                        );
                    }
                    return;
                }
                EnvState::Frozen if self.cfg.platform.frozen_kernel == FrozenKernel::Silent => {
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{host}"),
                            "frozen_drop",
                            seg_fields(&seg),
                            format!(
                                "{} from {} reaches frozen env-{host}: no ACK, no RST (frozen_kernel = silent)",
                                seg.kind(),
                                self.addr_name(seg.src)
                            ),
                        );
                    }
                    return;
                }
                EnvState::Frozen | EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
            }
        }
        if self.detail {
            self.emit(
                Level::Detail,
                self.component_of(host),
                "recv",
                seg_fields(&seg),
                format!(
                    "{} ← {}: {seg}",
                    self.addr_name(seg.dst),
                    self.addr_name(seg.src)
                ),
            );
        }
        let hinted = to.filter(|t| {
            self.sock(*t)
                .is_some_and(|l| l.tcb.local() == seg.dst && l.tcb.remote() == seg.src)
        });
        if let Some(s) = hinted.or_else(|| self.demux.get(&(seg.dst, seg.src)).copied()) {
            if let (Some(f), Some(ls)) = (from, self.sock_mut(s)) {
                ls.peer = Some(f);
            }
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                ls.tcb.on_segment(now, &seg, &mut out);
            }
            self.apply(s, out);
            return;
        }
        if host == SERVER_HOST && seg.dst == self.server_addr && seg.flags.syn && !seg.flags.ack {
            let mut out = self.buf();
            let tcb = Tcb::accept_syn(now, self.cfg.server.tcp, &seg, &mut out);
            let s = self.alloc_sock(tcb, Owner::ServerPending);
            if let Some(ls) = self.sock_mut(s) {
                ls.peer = from;
            }
            self.apply(s, out);
            return;
        }
        // No socket: the kernel answers with RST (never to an RST).
        if let Some(rst) = seg.reset_reply() {
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    self.component_of(host),
                    "no_socket_rst",
                    seg_fields(&seg),
                    format!(
                        "{} from {} reaches {} where no socket exists: the kernel answers RST",
                        seg.kind(),
                        self.addr_name(seg.src),
                        self.addr_name(seg.dst)
                    ),
                );
            }
            self.route(rst, None);
        }
    }

    fn on_tcp_timer(&mut self, s: SockRef, kind: TimerKind, gen: u32) {
        let now = self.q.now();
        let Some(host) = self.sock(s).map(|l| l.tcb.local().host) else {
            return;
        };
        if host != SERVER_HOST {
            let e = &mut self.envs[(host - 1) as usize];
            match e.state {
                EnvState::Reaped => return,
                EnvState::Frozen if self.cfg.platform.frozen_kernel == FrozenKernel::Silent => {
                    let live = self.socks[s.idx as usize]
                        .live
                        .as_ref()
                        .is_some_and(|l| l.tcb.timer_current(kind, gen));
                    if live {
                        e.deferred_kernel.push((s, kind, gen));
                    }
                    return;
                }
                EnvState::Frozen | EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
            }
        }
        let mut out = self.buf();
        if let Some(ls) = self.sock_mut(s) {
            ls.tcb.on_timer(now, kind, gen, &mut out);
        }
        self.apply(s, out);
    }

    /// Carries out a socket's effects.
    fn apply(&mut self, s: SockRef, mut out: Vec<TcpAction>) {
        if !out.is_empty() {
            self.effect();
        }
        let mut notices: Vec<Notice> = self.notice_bufs.pop().unwrap_or_default();
        for a in out.drain(..) {
            match a {
                TcpAction::Send(seg) => self.route(seg, Some(s)),
                TcpAction::Arm { kind, at, gen } => {
                    self.schedule(at, Ev::TcpTimer { sock: s, kind, gen })
                }
                TcpAction::State { from, to } => {
                    if self.wants(Level::Timeline) {
                        let name = self.sock_name(s);
                        let host = self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0);
                        let orphan = self.sock(s).map(|l| l.tcb.is_orphan()).unwrap_or(false);
                        self.emit(
                            Level::Timeline,
                            self.component_of(host),
                            "tcp_state",
                            vec![("from", from.name().into()), ("to", to.name().into())],
                            format!(
                                "{name}: {} → {}{}",
                                from.name(),
                                to.name(),
                                if orphan {
                                    " (orphaned: owned by the kernel alone)"
                                } else {
                                    ""
                                }
                            ),
                        );
                    }
                }
                TcpAction::Note(n) => {
                    if let Some(ls) = self.sock_mut(s) {
                        ls.last_note = Some(n);
                    }
                    self.trace_note(s, n);
                }
                TcpAction::Notify(n) => notices.push(n),
            }
        }
        self.recycle(out);
        for n in notices.drain(..) {
            self.dispatch_notice(s, n);
        }
        self.notice_bufs.push(notices);
        self.maybe_free(s);
    }

    fn dispatch_notice(&mut self, s: SockRef, n: Notice) {
        let Some(owner) = self.sock(s).map(|l| l.owner) else {
            return;
        };
        match owner {
            Owner::Env(env) => self.env_notice(env, s, n),
            Owner::ServerPending => {
                if n == Notice::Connected {
                    self.server_accept(s);
                }
            }
            Owner::Server(c) => self.server_notice(c, s, n),
            Owner::Kernel => {}
        }
        self.maybe_free(s);
    }

    fn trace_note(&mut self, s: SockRef, n: TcpNote) {
        let (level, text) = match n {
            TcpNote::Retransmit { attempt, next_rto } => {
                let what = self
                    .sock(s)
                    .and_then(|l| l.tcb_head_kind())
                    .unwrap_or("segment");
                (
                    Level::Timeline,
                    format!("retransmits {what} (retransmission {attempt}, next RTO {next_rto}): no ACK came back"),
                )
            }
            TcpNote::GaveUp {
                retries,
                limit,
                rule,
            } => {
                let bound = match (rule, self.sock(s).and_then(|l| l.tcb.config().user_timeout)) {
                    ("TCP_USER_TIMEOUT", Some(ut)) => format!("TCP_USER_TIMEOUT = {ut}"),
                    _ => format!("{rule} = {limit}"),
                };
                let orphan = self.sock(s).map(|l| l.tcb.is_orphan()).unwrap_or(false);
                (
                    Level::Timeline,
                    format!(
                        "gives up after {retries} retransmission(s) ({bound}): socket destroyed, {}no RST sent",
                        if orphan { "" } else { "ETIMEDOUT, " }
                    ),
                )
            }
            TcpNote::KeepaliveProbe { n } => {
                (Level::Timeline, format!("sends keepalive probe {n}"))
            }
            TcpNote::KeepaliveGaveUp => (
                Level::Timeline,
                "keepalive probes unanswered: sends RST, ETIMEDOUT".to_string(),
            ),
            TcpNote::DataAfterClose => (
                Level::Timeline,
                "data arrives after close(): answers RST (RFC 1122)".to_string(),
            ),
            TcpNote::AbortOnClose => (
                Level::Timeline,
                "close() with unread data: RST instead of FIN".to_string(),
            ),
            TcpNote::ResetReceived => (Level::Timeline, "receives RST".to_string()),
            TcpNote::FinWait2Expired => (
                Level::Timeline,
                "FIN_WAIT2 timer (tcp_fin_timeout) expired".to_string(),
            ),
            TcpNote::TimeWaitDone => (Level::Detail, "TIME_WAIT over".to_string()),
        };
        if self.wants(level) {
            let name = self.sock_name(s);
            let host = self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0);
            self.emit(
                level,
                self.component_of(host),
                "tcp_note",
                vec![],
                format!("{name}: {text}"),
            );
        }
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
        let live = LiveSock {
            tcb,
            owner,
            last_note: None,
            peer: None,
        };
        let s = match self.free_socks.pop() {
            Some(idx) => {
                let slot = &mut self.socks[idx as usize];
                slot.inc += 1;
                slot.live = Some(live);
                SockRef { idx, inc: slot.inc }
            }
            None => {
                self.socks.push(SockSlot {
                    inc: 0,
                    live: Some(live),
                });
                SockRef {
                    idx: self.socks.len() as u32 - 1,
                    inc: 0,
                }
            }
        };
        self.demux.insert(key, s);
        s
    }

    fn sock(&self, s: SockRef) -> Option<&LiveSock> {
        let slot = self.socks.get(s.idx as usize)?;
        if slot.inc != s.inc {
            return None;
        }
        slot.live.as_ref()
    }

    fn sock_mut(&mut self, s: SockRef) -> Option<&mut LiveSock> {
        let slot = self.socks.get_mut(s.idx as usize)?;
        if slot.inc != s.inc {
            return None;
        }
        slot.live.as_mut()
    }

    fn maybe_free(&mut self, s: SockRef) {
        let done = matches!(
            self.sock(s),
            Some(l) if l.tcb.state() == thaw_net::TcpState::Closed && matches!(l.owner, Owner::Kernel | Owner::ServerPending)
        );
        if done {
            self.free_sock(s);
        }
    }

    fn free_sock(&mut self, s: SockRef) {
        let Some(live) = self.sock(s) else { return };
        let key = (live.tcb.local(), live.tcb.remote());
        let host = key.0.host;
        if self.demux.get(&key) == Some(&s) {
            self.demux.remove(&key);
        }
        self.socks[s.idx as usize].live = None;
        self.free_socks.push(s.idx);
        if host != SERVER_HOST {
            self.connections_closed += 1;
            if let Some(e) = self.envs.get_mut((host - 1) as usize) {
                e.socks.retain(|x| *x != s);
            }
        }
    }

    fn alloc_conn(&mut self, c: ServerConn) -> ConnRef {
        match self.free_conns.pop() {
            Some(idx) => {
                let slot = &mut self.conns[idx as usize];
                slot.inc += 1;
                slot.live = Some(c);
                ConnRef { idx, inc: slot.inc }
            }
            None => {
                self.conns.push(ConnSlot {
                    inc: 0,
                    live: Some(c),
                });
                ConnRef {
                    idx: self.conns.len() as u32 - 1,
                    inc: 0,
                }
            }
        }
    }

    fn conn(&self, c: ConnRef) -> Option<&ServerConn> {
        let slot = self.conns.get(c.idx as usize)?;
        if slot.inc != c.inc {
            return None;
        }
        slot.live.as_ref()
    }

    fn conn_mut(&mut self, c: ConnRef) -> Option<&mut ServerConn> {
        let slot = self.conns.get_mut(c.idx as usize)?;
        if slot.inc != c.inc {
            return None;
        }
        slot.live.as_mut()
    }

    fn free_conn(&mut self, c: ConnRef) {
        if self.conn(c).is_some() {
            self.conns[c.idx as usize].live = None;
            self.free_conns.push(c.idx);
        }
    }

    fn into_result(mut self) -> RunResult {
        let end = self.last_effect;
        self.account_zombies(end);
        let totals = WorldTotals {
            events: self.q.events_processed(),
            server_peak: self.server_peak,
            zombie_ns: self.zombie_ns,
            environments: self.envs.len() as u64,
            connections_opened: self.connections_opened,
            connections_closed: self.connections_closed,
            connections_alive: self
                .socks
                .iter()
                .filter_map(|s| s.live.as_ref())
                .filter(|l| l.tcb.local().host != SERVER_HOST)
                .count() as u64,
            server_at_end: self.server_open,
            end,
        };
        report::finish(self.collector, totals)
    }
}

impl LiveSock {
    fn tcb_head_kind(&self) -> Option<&'static str> {
        self.tcb.head_kind()
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
