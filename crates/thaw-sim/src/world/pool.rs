//! `client.strategy = "pool"`: a thaw-client [`Pool`] per environment,
//! created at init (module scope), wired to sockets and to runtime timers
//! that do not fire while the environment is frozen.
use super::*;
use crate::config::{HandlerKind, PoolSettings};
use thaw_client::{ConnId, OpenError, Pool, PoolAction, PoolError, Probe, TimerId, WaiterId};

/// The cap on a validation ping's wait when requests have no timeout.
const PING_CAP: SimDuration = SimDuration::from_secs(5);

/// Where a pooled connection is, as the world sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// Connection setup CPU (before the SYN).
    Cpu,
    /// SYN sent.
    Connecting,
    /// TCP up, waiting for the server's greeting.
    Handshake,
    /// Handed to the pool (`opened`).
    Ready,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct PConn {
    pub(super) sock: Option<SockRef>,
    pub(super) stage: Stage,
    /// A validation ping is in flight (its generation).
    pub(super) ping: Option<u32>,
    /// What the ping in flight is (a checkout's validation or the pool's
    /// keepalive query).
    pub(super) probe: Probe,
    pub(super) ping_gen: u32,
    /// `lost` was reported to the pool.
    pub(super) lost: bool,
    /// TLS while the connection is set up.
    pub(super) tls: Option<super::tls::TlsSetup>,
}

/// A timer of the environment's runtime (Node's event loop, a driver's
/// `setTimeout`): deferred while frozen, overdue on thaw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RtTimer {
    /// A timer the pool armed.
    Pool(TimerId),
    /// The connection setup CPU of a pooled connection is done.
    ConnCpu(ConnId),
    /// The driver's connect timeout for a pooled connection.
    ConnectTimeout(ConnId),
    /// A validation ping's deadline.
    PingTimeout(ConnId, u32),
    /// A timer of the client library's connection object for a target.
    Lib {
        target: u16,
        timer: thaw_client::LibTimer,
        /// When it was meant to run.
        due: SimTime,
    },
    /// The setup CPU of a library connection is done.
    LibConnCpu { target: u16, gen: u32 },
    /// The library's timeout of a request nobody awaits (model.md 6.4).
    Pending { sock: SockRef, inv: u64, step: u32 },
}

impl World<'_> {
    fn pool_settings(&self) -> Option<&PoolSettings> {
        self.cfg.client.pooled_target()?;
        self.cfg.client.pool.as_ref()
    }

    /// The server the pool's connections go to.
    fn pool_target(&self) -> u16 {
        self.cfg.client.pooled_target().unwrap_or(0)
    }

    /// Creates the environment's pool at init (module scope).
    pub(super) fn pool_init(&mut self, env: u32) {
        let Some(ps) = self.pool_settings() else {
            return;
        };
        let pool = Pool::new(ps.config);
        let name = ps.preset.clone();
        self.envs[(env - 1) as usize].pool = Some(Box::new(pool));
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "pool_created",
                vec![("preset", name.as_str().into())],
                format!("env-{env} creates its {name} pool at init (module scope)"),
            );
        }
        self.pool_call(env, |p, now, out| p.start(now, out));
    }

    /// At the start of a warm invocation: the guide's `initPools()`.
    pub(super) fn pool_handler_start(&mut self, env: u32) {
        let Some(ps) = self.pool_settings() else {
            return;
        };
        if !ps.reset_at_start {
            return;
        }
        let cold = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .map(|i| i.cold)
            .unwrap_or(true);
        if !cold {
            self.pool_call(env, |p, now, out| p.reset(now, out));
        }
    }

    /// The next step of an invocation with a pool: acquire for the next
    /// request, or end the invocation.
    pub(super) fn pool_advance(&mut self, env: u32, nreq: usize) {
        let (step, id) = {
            let inv = self.envs[(env - 1) as usize]
                .inv
                .as_ref()
                .expect("advance without invocation");
            (inv.step, inv.id)
        };
        if step >= nreq {
            self.pool_end_invocation(env);
            return;
        }
        let e = &mut self.envs[(env - 1) as usize];
        let waiter = WaiterId(e.next_waiter);
        e.next_waiter += 1;
        {
            let inv = e.inv.as_mut().expect("inv");
            inv.waiter = Some(waiter);
            inv.phase = Phase::PoolWait;
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "pool_acquire",
                vec![("waiter", waiter.0.into())],
                format!("inv-{id} asks the pool for a connection ({waiter})"),
            );
        }
        self.pool_call(env, move |p, now, out| p.acquire(now, waiter, out));
    }

    fn pool_end_invocation(&mut self, env: u32) {
        let Some(ps) = self.pool_settings() else {
            return;
        };
        if let Some(sm) = ps.zombie_cleanup {
            self.serverless_mysql_end(env, sm);
        }
        let Some(ps) = self.pool_settings() else {
            return;
        };
        if ps.close_after_invocation {
            self.pool_call(env, |p, now, out| p.close(now, out));
            if self.envs[(env - 1) as usize].inv.is_none() {
                return;
            }
        }
        let waits = matches!(
            self.cfg.platform.handler,
            HandlerKind::Callback {
                waits_for_empty_event_loop: true
            }
        );
        if waits && !self.event_loop_empty(env) {
            let id = {
                let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                inv.phase = Phase::Draining;
                inv.id
            };
            if self.wants(Level::Timeline) {
                let socks = self.envs[(env - 1) as usize].pconns.len();
                let timers = self.envs[(env - 1) as usize]
                    .pool
                    .as_ref()
                    .is_some_and(|p| p.has_armed_timers());
                self.emit(
                    Level::Timeline,
                    format!("inv-{id}"),
                    "waits_for_event_loop",
                    vec![("pool_sockets", socks.into()), ("pool_timers", timers.into())],
                    format!(
                        "inv-{id} called back, but callbackWaitsForEmptyEventLoop: the response waits while the pool keeps the event loop busy ({socks} socket(s), timers armed: {timers})"
                    ),
                );
            }
            return;
        }
        self.finish(env, None, None);
    }

    /// serverless-mysql's `end()` (serverless-mysql 2.1.0 `index.js`, slsmysql
    /// in docs/sources.md): it reads the
    /// server's connection count and `@@max_connections` (the processlist
    /// every `end()`, `usedConnsFreq` 0; `maxConnsFreq`'s 15 s cache is not
    /// modelled: `max_connections` never changes in a run) and the largest
    /// processlist `Time` (whole seconds since the last command); above
    /// `connUtilization` it KILLs the Sleep connections of other clients
    /// idle at least `clamp(max age, zombieMinTimeout, zombieMaxTimeout)`,
    /// otherwise those idle ≥ `zombieMaxTimeout`. The queries cost no time
    /// and send no packets here (the server state is read directly); a
    /// killed connection is closed by the server silently (FIN, no error
    /// packet). Only with the server reached directly (no proxy). The
    /// library's `quit()` when nothing could be killed is not modelled.
    fn serverless_mysql_end(&mut self, env: u32, sm: thaw_client::ServerlessMysql) {
        let srv = self.pool_target();
        if self.cfg.proxies.iter().any(|p| p.server == srv) {
            return;
        }
        let now = self.q.now();
        let secs = |d: SimDuration| SimDuration::from_secs(d.as_nanos() / 1_000_000_000);
        let inst = self.target_srv(env, srv);
        let server = &self.servers[inst as usize];
        let used = server.open();
        let max = self.cfg.servers[srv as usize].max_connections;
        let max_age = server
            .conns()
            .map(|(_, c)| secs(now.saturating_since(c.last_activity())))
            .max()
            .unwrap_or(SimDuration::ZERO);
        let used32 = u32::try_from(used).unwrap_or(u32::MAX);
        let Some(threshold) = sm.zombie_kill_threshold(used32, max, max_age) else {
            return;
        };
        let mut victims: Vec<(SimTime, u32, ConnRef)> = server
            .conns()
            .filter(|(_, c)| {
                c.established()
                    && c.pending() == 0
                    && c.peer().host != env
                    && secs(now.saturating_since(c.last_activity())) >= threshold
            })
            .map(|(r, c)| (c.last_activity(), r.index(), r))
            .collect();
        if victims.is_empty() {
            return;
        }
        victims.sort_by_key(|(t, i, ..)| (*t, *i));
        let n = victims.len();
        let id = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .map(|i| i.id)
            .unwrap_or(0);
        if self.wants(Level::Timeline) {
            let over =
                u64::from(used32) * 1000 > u64::from(max) * u64::from(sm.conn_utilization_permille);
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "zombie_kill",
                vec![
                    ("used", used.into()),
                    ("max_connections", max.into()),
                    ("killed", n.into()),
                    ("min_idle_ns", threshold.as_nanos().into()),
                ],
                format!(
                    "inv-{id} end() (serverless-mysql): {used}/{max} connections in use{}; KILLs {n} Sleep connection(s) of other clients idle ≥ {threshold}",
                    if over {
                        format!(" > connUtilization {}", f64::from(sm.conn_utilization_permille) / 1000.0)
                    } else {
                        String::new()
                    }
                ),
            );
        }
        for (_, _, c) in victims {
            self.with_server(srv, |m, now, out| {
                m.kill(now, c, "KILL from serverless-mysql's zombie cleanup", out)
            });
        }
    }

    /// Go database/sql's `ErrBadConn` retry (`db.retry()`, pool config
    /// `retry_on_bad_conn`; go-sql in docs/sources.md): the write of a
    /// request on a pooled connection failed at send (EPIPE, ECONNRESET)
    /// before anything was written, which go-sql-driver reports as
    /// `driver.ErrBadConn`. If the request has attempts left (the
    /// connections the pool discarded at checkout count too), the
    /// connection goes back as broken and the request acquires again at
    /// once: cached-or-new, the last attempt on a new connection. This is
    /// not a client retry (`[client.retry]` counts nothing). A failure
    /// after the request was written is `ErrInvalidConn` and takes the
    /// usual error path. Returns whether it retries.
    pub(super) fn pool_bad_conn_retry(&mut self, env: u32, e: Errno, request: &str) -> bool {
        if !matches!(e, Errno::Epipe | Errno::Econnreset) {
            return false;
        }
        let Some(attempts) = self
            .pool_settings()
            .and_then(|ps| ps.config.retry_on_bad_conn)
            .map(|r| r.attempts)
        else {
            return false;
        };
        let e_ref = &self.envs[(env - 1) as usize];
        let (Some(pool), Some(held), Some(id)) = (
            e_ref.pool.as_deref(),
            e_ref.inv.as_ref().and_then(|i| i.held),
            e_ref.inv.as_ref().map(|i| i.id),
        ) else {
            return false;
        };
        let used = pool.bad_conn_attempts_before(held).unwrap_or(0) + 1;
        if used >= attempts {
            return false;
        }
        let last = used + 1 >= attempts;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "bad_conn_retry",
                vec![
                    ("request", request.into()),
                    ("conn", held.0.into()),
                    ("attempt", (used + 1).into()),
                    ("error", e.name().into()),
                ],
                format!(
                    "inv-{id} {request}: write {} on {held} before anything was sent: driver.ErrBadConn; database/sql retries (attempt {} of {attempts}, {})",
                    e.name(),
                    used + 1,
                    if last { "on a new connection" } else { "cached or new connection" }
                ),
            );
        }
        self.pool_release_held(env, true);
        let e = &mut self.envs[(env - 1) as usize];
        let waiter = WaiterId(e.next_waiter);
        e.next_waiter += 1;
        let Some(inv) = e.inv.as_mut() else {
            return true;
        };
        inv.waiter = Some(waiter);
        inv.phase = Phase::PoolWait;
        self.pool_call(env, move |p, now, out| {
            p.acquire_after_bad_conn(now, waiter, used, out)
        });
        true
    }

    /// The handler's promise rejected: the invocation ends with an error;
    /// a pending acquire stays in the pool (its timer armed; a later grant
    /// goes straight back), and a held connection is released as broken.
    pub(super) fn on_handler_rejects(&mut self, env: u32) {
        let (id, waiting) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("matched");
            if inv.phase == Phase::Draining {
                // Already called back: the rejection changes nothing.
                return;
            }
            (inv.id, inv.waiter.take())
        };
        if self.wants(Level::Timeline) {
            let left = match waiting {
                Some(w) => format!("; {w} stays pending in the pool with its timers"),
                None => String::new(),
            };
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "handler_rejects",
                vec![],
                format!("inv-{id}: the handler's promise rejects{left}"),
            );
        }
        self.fail(
            env,
            ErrorKind::HandlerError,
            "the handler's promise rejected (function.handler_rejects_after)".into(),
        );
    }

    /// Nothing of the pool keeps Node's event loop alive.
    fn event_loop_empty(&self, env: u32) -> bool {
        let e = &self.envs[(env - 1) as usize];
        e.pconns.is_empty() && !e.pool.as_ref().is_some_and(|p| p.has_armed_timers())
    }

    fn check_drain(&mut self, env: u32) {
        let draining = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .is_some_and(|i| i.phase == Phase::Draining);
        if draining && self.event_loop_empty(env) {
            self.finish(env, None, None);
        }
    }

    /// Gives the held connection back (after the reply, or broken after an
    /// error). No-op without one.
    pub(super) fn pool_release_held(&mut self, env: u32, broken: bool) {
        let held = match self.envs[(env - 1) as usize].inv.as_mut() {
            Some(inv) => inv.held.take(),
            None => None,
        };
        if let Some(conn) = held {
            self.pool_call(env, move |p, now, out| p.release(now, conn, broken, out));
        }
    }

    /// Feeds the pool one input and carries out its effects.
    fn pool_call(&mut self, env: u32, f: impl FnOnce(&mut Pool, SimTime, &mut Vec<PoolAction>)) {
        let now = self.q.now();
        let mut out = Vec::new();
        {
            let Some(pool) = self.envs[(env - 1) as usize].pool.as_deref_mut() else {
                return;
            };
            f(pool, now, &mut out);
            let st = pool.stats();
            assert!(
                st.in_use + st.validating <= pool.config().max,
                "pool in use above max"
            );
        }
        for a in out {
            if self.envs[(env - 1) as usize].state == EnvState::Reaped {
                return;
            }
            self.pool_effect(env, a);
        }
        self.check_drain(env);
    }

    fn pool_effect(&mut self, env: u32, a: PoolAction) {
        let now = self.q.now();
        match a {
            PoolAction::Note(n) => {
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "pool",
                        vec![],
                        format!("pool: {n}"),
                    );
                }
            }
            PoolAction::ArmTimer { id, at } => {
                self.schedule(
                    at.max(now),
                    Ev::Runtime {
                        env,
                        timer: Box::new(RtTimer::Pool(id)),
                    },
                );
            }
            PoolAction::Open { conn } => {
                self.envs[(env - 1) as usize].pconns.insert(
                    conn,
                    PConn {
                        sock: None,
                        stage: Stage::Cpu,
                        ping: None,
                        probe: Probe::Ping,
                        ping_gen: 0,
                        lost: false,
                        tls: None,
                    },
                );
                let cost = self.connect_cpu_to(env, self.pool_target());
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "pool_open",
                        vec![("conn", conn.0.into()), ("cpu_ns", cost.as_nanos().into())],
                        format!(
                            "pool opens {conn}: {cost} of connection setup at {} MB",
                            self.cfg.platform.memory_mb
                        ),
                    );
                }
                self.schedule(
                    now + cost,
                    Ev::Runtime {
                        env,
                        timer: Box::new(RtTimer::ConnCpu(conn)),
                    },
                );
                if let Some(t) = self.cfg.client.connect_timeout {
                    self.schedule(
                        now + t,
                        Ev::Runtime {
                            env,
                            timer: Box::new(RtTimer::ConnectTimeout(conn)),
                        },
                    );
                }
            }
            PoolAction::Grant { waiter, conn } => {
                let pc = self.envs[(env - 1) as usize].pconns.get(&conn).copied();
                // The world's invariant: a granted connection is open, ready,
                // and not one whose close event the pool has processed.
                let pc = pc.expect("pool granted a connection the world does not know");
                // A driver that never reads an idle socket (on lost =
                // ignore: Npgsql, psycopg) hands out what the world saw end.
                let ignores = self
                    .pool_settings()
                    .is_some_and(|p| p.config.on_lost == thaw_client::OnLost::Ignore);
                assert!(
                    pc.stage == Stage::Ready && (!pc.lost || ignores) && pc.ping.is_none(),
                    "pool granted {conn} in stage {:?} (lost {})",
                    pc.stage,
                    pc.lost
                );
                let s = pc.sock.expect("ready connection has a socket");
                let current = self.envs[(env - 1) as usize]
                    .inv
                    .as_ref()
                    .is_some_and(|i| i.waiter == Some(waiter));
                if current {
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.waiter = None;
                    inv.held = Some(conn);
                    let id = inv.id;
                    if self.wants(Level::Timeline) {
                        let name = self.sock_name(s);
                        self.emit(
                            Level::Timeline,
                            format!("inv-{id}"),
                            "pool_grant",
                            vec![("conn", conn.0.into())],
                            format!("inv-{id} gets {conn} ({name})"),
                        );
                    }
                    self.send_request(env, s);
                } else {
                    // Nobody waits for it any more: straight back.
                    self.pool_call(env, move |p, now, out| p.release(now, conn, false, out));
                }
            }
            PoolAction::Fail { waiter, error } => {
                let current = self.envs[(env - 1) as usize]
                    .inv
                    .as_ref()
                    .is_some_and(|i| i.waiter == Some(waiter));
                if !current {
                    return;
                }
                self.envs[(env - 1) as usize]
                    .inv
                    .as_mut()
                    .expect("inv")
                    .waiter = None;
                let preset = self
                    .pool_settings()
                    .map(|p| p.preset.clone())
                    .unwrap_or_default();
                let (kind, detail) = match error {
                    PoolError::AcquireTimeout { waited } => (
                        ErrorKind::PoolTimeout,
                        if preset.starts_with("sequelize") {
                            format!(
                                "SequelizeConnectionAcquireTimeoutError: Operation timeout (acquire waited {waited})"
                            )
                        } else {
                            format!("{preset} pool: acquire timed out after {waited}")
                        },
                    ),
                    PoolError::Closed => (
                        ErrorKind::PoolClosed,
                        if preset.starts_with("sequelize") {
                            "ConnectionManager.getConnection was called after the connection manager was closed!".to_string()
                        } else {
                            format!("{preset} pool: acquire after the pool was closed")
                        },
                    ),
                    PoolError::Open(e) => (
                        match e {
                            OpenError::Refused => ErrorKind::Econnrefused,
                            OpenError::TimedOut => ErrorKind::Etimedout,
                            OpenError::Reset => ErrorKind::Econnreset,
                            OpenError::TooManyConnections => ErrorKind::TooManyConnections,
                        },
                        format!("{preset} pool: opening a connection failed: {}", e.name()),
                    ),
                    PoolError::KeepaliveFailed { conn } => {
                        let (kind, why) = match self.envs[(env - 1) as usize].ka_fail.take() {
                            Some((c, kind, why)) if c == conn => (kind, why),
                            _ => (
                                ErrorKind::Econnreset,
                                String::from("keepalive query failed"),
                            ),
                        };
                        let text = self
                            .pool_settings()
                            .and_then(|p| p.messages)
                            .and_then(|m| m.keepalive_failed.map(|t| (m.title, t)));
                        (
                            kind,
                            match text {
                                Some((title, t)) => format!("{title}: {t} ({why})"),
                                None => format!(
                                    "{preset} pool: {conn} was broken by its keepalive query ({why})"
                                ),
                            },
                        )
                    }
                };
                self.fail(env, kind, detail);
            }
            PoolAction::Close { conn, reason } => {
                let Some(pc) = self.envs[(env - 1) as usize].pconns.remove(&conn) else {
                    return;
                };
                if let Some(s) = pc.sock {
                    self.envs[(env - 1) as usize].psock.remove(&s);
                    self.app_close(s, &format!("pool closes {conn}: {}", reason.name()));
                }
            }
            PoolAction::Validate { conn, method } => match method {
                Probe::LivenessPeek => {
                    let s = self.envs[(env - 1) as usize]
                        .pconns
                        .get(&conn)
                        .and_then(|p| p.sock);
                    let (alive, why) = self.peek(s);
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{env}"),
                            "pool_peek",
                            vec![("conn", conn.0.into()), ("alive", alive.into())],
                            format!(
                                "liveness check of {conn}: non-blocking read {why} → {}",
                                if alive { "alive" } else { "dead" }
                            ),
                        );
                    }
                    self.pool_call(env, move |p, now, out| p.validated(now, conn, alive, out));
                }
                Probe::Ping | Probe::KeepaliveQuery => self.start_ping(env, conn, method),
            },
        }
    }

    /// A non-blocking read of an idle socket: dead on EOF (FIN received),
    /// a pending error, or unread unsolicited data (MySQL's 4031 packet);
    /// a silently dropped path looks alive.
    pub(super) fn peek(&self, s: Option<SockRef>) -> (bool, &'static str) {
        let Some(l) = s.and_then(|s| self.sock(s)) else {
            return (false, "fails (socket gone)");
        };
        if l.tcb.unread() > 0 {
            return (false, "finds unsolicited data");
        }
        if l.tcb.pending_error().is_some() {
            return (false, "returns an error");
        }
        use thaw_net::TcpState as T;
        match l.tcb.state() {
            T::CloseWait | T::LastAck | T::Closing | T::TimeWait | T::Closed => {
                (false, "returns 0 (FIN received)")
            }
            _ => (true, "would block"),
        }
    }

    fn start_ping(&mut self, env: u32, conn: ConnId, method: Probe) {
        let now = self.q.now();
        if let Some(pc) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
            pc.probe = method;
        }
        let s = self.envs[(env - 1) as usize]
            .pconns
            .get(&conn)
            .and_then(|p| p.sock);
        let mut out = self.buf();
        let res = match s.and_then(|s| self.sock_mut(s)) {
            Some(l) => l.tcb.send(
                now,
                Payload(encode_request(crate::config::RequestOp::Ping, false)),
                &mut out,
            ),
            None => Err(Errno::Epipe),
        };
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "pool_ping",
                vec![("conn", conn.0.into())],
                format!("{} on {conn}", ping_name(method)),
            );
        }
        match (res, s) {
            (Ok(()), Some(s)) if method == Probe::KeepaliveQuery && !self.peek(Some(s)).0 => {
                // Npgsql writes the keepalive and reads its reply at once
                // (`SkipUntil`): what the socket already holds (a close, an
                // error, a message) ends it before any round trip.
                self.apply(s, out);
                let why = self.ping_failure(env, s);
                self.ping_done(env, conn, Err(why));
            }
            (Ok(()), Some(s)) => {
                let gen = {
                    let pc = self.envs[(env - 1) as usize]
                        .pconns
                        .get_mut(&conn)
                        .expect("pconn");
                    pc.ping_gen += 1;
                    pc.ping = Some(pc.ping_gen);
                    pc.ping_gen
                };
                let t = self
                    .cfg
                    .client
                    .requests
                    .first()
                    .and_then(|r| r.timeout)
                    .unwrap_or(PING_CAP)
                    .min(PING_CAP);
                // The driver's own reply timeout, when the preset has one.
                let t = self
                    .cfg
                    .client
                    .pool
                    .as_ref()
                    .and_then(|p| p.config.ping_timeout)
                    .unwrap_or(t);
                self.schedule(
                    now + t,
                    Ev::Runtime {
                        env,
                        timer: Box::new(RtTimer::PingTimeout(conn, gen)),
                    },
                );
                self.apply(s, out);
            }
            _ => {
                self.recycle(out);
                self.envs[(env - 1) as usize].ka_fail = Some((
                    conn,
                    ErrorKind::Epipe,
                    "write EPIPE: the socket is closed".to_string(),
                ));
                self.pool_call(env, move |p, now, out| p.validated(now, conn, false, out));
            }
        }
    }

    /// Why a ping or keepalive query failed, from what its socket returns.
    fn ping_failure(&mut self, _env: u32, s: SockRef) -> (ErrorKind, String) {
        match self.sock_mut(s).map(|l| l.tcb.recv()) {
            Some(RecvResult::Err(e)) => self.explain(s, Some(e), "read"),
            Some(RecvResult::Data(_)) => (
                ErrorKind::ServerIdleClosed,
                "the server's message instead of the reply".to_string(),
            ),
            _ => (
                ErrorKind::Eof,
                "read EOF: the server closed the connection".to_string(),
            ),
        }
    }

    fn ping_done(&mut self, env: u32, conn: ConnId, res: Result<(), (ErrorKind, String)>) {
        let alive = res.is_ok();
        let method = if let Some(pc) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
            pc.ping = None;
            pc.probe
        } else {
            Probe::Ping
        };
        if let Err((kind, why)) = res {
            self.envs[(env - 1) as usize].ka_fail = Some((conn, kind, why));
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "pool_ping_result",
                vec![("conn", conn.0.into()), ("alive", alive.into())],
                format!(
                    "{} on {conn}: {}",
                    ping_name(method),
                    if alive {
                        "reply, alive"
                    } else {
                        "failed, dead"
                    }
                ),
            );
        }
        self.pool_call(env, move |p, now, out| p.validated(now, conn, alive, out));
    }

    /// A runtime timer is due: it waits for the thaw if the environment is
    /// frozen.
    pub(super) fn on_runtime_timer(&mut self, env: u32, timer: RtTimer) {
        if let RtTimer::Lib {
            target, timer: lt, ..
        } = timer
        {
            // Cleared (`clearTimeout`): nothing to hold across a freeze.
            if !self.lib_timer_current(env, target as usize, lt) {
                return;
            }
        }
        let e = &mut self.envs[(env - 1) as usize];
        match e.state {
            EnvState::Reaped | EnvState::ShuttingDown => return,
            EnvState::Frozen => {
                e.deferred_rt.push(timer);
                return;
            }
            EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
        }
        if self.wants(Level::Detail) {
            let (kind, late) = match timer {
                RtTimer::Pool(id) => ("pool", self.q.now().saturating_since(id.at)),
                RtTimer::ConnCpu(_) => ("connect_cpu", SimDuration::ZERO),
                RtTimer::ConnectTimeout(_) => ("connect_timeout", SimDuration::ZERO),
                RtTimer::PingTimeout(..) => ("ping_timeout", SimDuration::ZERO),
                RtTimer::Lib { due, .. } => ("library", self.q.now().saturating_since(due)),
                RtTimer::LibConnCpu { .. } => ("library_connect_cpu", SimDuration::ZERO),
                RtTimer::Pending { .. } => ("request_timeout", SimDuration::ZERO),
            };
            self.emit(
                Level::Detail,
                format!("env-{env}"),
                "runtime_timer",
                vec![("timer", kind.into()), ("late_ns", late.as_nanos().into())],
                format!("runtime timer ({kind}) runs ({late} late)"),
            );
        }
        match timer {
            RtTimer::Pool(id) => {
                self.pool_call(env, move |p, now, out| p.timer(now, id, out));
            }
            RtTimer::ConnCpu(conn) => self.pool_connect(env, conn),
            RtTimer::ConnectTimeout(conn) => {
                let stage = self.envs[(env - 1) as usize]
                    .pconns
                    .get(&conn)
                    .map(|p| p.stage);
                if matches!(
                    stage,
                    Some(Stage::Cpu | Stage::Connecting | Stage::Handshake)
                ) {
                    self.pool_open_failed(env, conn, OpenError::TimedOut);
                }
            }
            RtTimer::Lib { target, timer, due } => self.lib_timer(env, target as usize, timer, due),
            RtTimer::LibConnCpu { target, gen } => self.lib_conn_cpu(env, target as usize, gen),
            RtTimer::Pending { sock, inv, step } => {
                self.pending_timed_out(env, sock, inv, step as usize)
            }
            RtTimer::PingTimeout(conn, gen) => {
                let pinging = self.envs[(env - 1) as usize]
                    .pconns
                    .get(&conn)
                    .and_then(|p| p.ping);
                if pinging == Some(gen) {
                    self.ping_done(
                        env,
                        conn,
                        Err((ErrorKind::Etimedout, "no reply in time".to_string())),
                    );
                }
            }
        }
    }

    /// The SYN of a pooled connection.
    fn pool_connect(&mut self, env: u32, conn: ConnId) {
        let now = self.q.now();
        let ok = self.envs[(env - 1) as usize]
            .pconns
            .get(&conn)
            .is_some_and(|p| p.stage == Stage::Cpu);
        if !ok {
            return;
        }
        let target = self.pool_target();
        let remote = self.target_addr(env, target);
        let Some(port) = self.alloc_port_to(env, remote) else {
            self.pool_open_failed(env, conn, OpenError::Refused);
            return;
        };
        let local = Addr { host: env, port };
        let mut cfg = self.cfg.platform.tcp;
        let keepalive = self.pool_settings().is_some_and(|p| p.config.keepalive);
        if keepalive && cfg.keepalive.is_none() {
            // mysql2 `enableKeepAlive` with `keepAliveInitialDelay` 0:
            // Node's `setKeepAlive(true, 0)` sets SO_KEEPALIVE only. libuv's
            // `uv__tcp_keepalive` returns before TCP_KEEPIDLE, KEEPINTVL
            // and KEEPCNT when the delay is 0 (its 1 s and 10 apply only
            // to a delay of at least 1 s), so the kernel's defaults stay:
            // 7200 s, 75 s, 9 (docs/sources.md: mysql2, Node, libuv).
            cfg.keepalive = Some(thaw_net::Keepalive {
                idle: SimDuration::from_secs(7200),
                interval: SimDuration::from_secs(75),
                count: 9,
            });
        }
        let mut out = self.buf();
        let tcb = Tcb::connect(now, cfg, local, remote, &mut out);
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        {
            let e = &mut self.envs[(env - 1) as usize];
            e.socks.push(s);
            e.psock.insert(s, conn);
            let pc = e.pconns.get_mut(&conn).expect("pconn");
            pc.sock = Some(s);
            pc.stage = Stage::Connecting;
        }
        self.trace_connect(env, s, port, Some(conn));
        self.apply(s, out);
    }

    fn pool_opened(&mut self, env: u32, conn: ConnId) {
        if let Some(pc) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
            pc.stage = Stage::Ready;
        }
        self.pool_call(env, move |p, now, out| p.opened(now, conn, out));
    }

    fn pool_open_failed(&mut self, env: u32, conn: ConnId, err: OpenError) {
        if let Some(pc) = self.envs[(env - 1) as usize].pconns.remove(&conn) {
            if let Some(s) = pc.sock {
                self.envs[(env - 1) as usize].psock.remove(&s);
                self.app_close(s, &format!("opening pooled {conn} failed: {}", err.name()));
            }
        }
        self.pool_call(env, move |p, now, out| p.open_failed(now, conn, err, out));
    }

    /// A socket event of a pooled connection reaches the running
    /// environment's code.
    pub(super) fn pool_notice(&mut self, env: u32, s: SockRef, notice: Notice) {
        let Some(conn) = self.envs[(env - 1) as usize].psock.get(&s).copied() else {
            return;
        };
        let Some(pc) = self.envs[(env - 1) as usize].pconns.get(&conn).copied() else {
            return;
        };
        match pc.stage {
            Stage::Cpu => {}
            Stage::Connecting => match notice {
                Notice::Connected => {
                    let greeting = self.cfg.servers[self.pool_target() as usize].handshake;
                    let tls = self.tls_start(s, env, self.pool_target(), greeting);
                    if greeting || tls.is_some() {
                        if let Some(p) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
                            p.stage = Stage::Handshake;
                            p.tls = tls;
                        }
                    } else {
                        self.pool_opened(env, conn);
                    }
                }
                Notice::Error(_) | Notice::Eof => {
                    let err = self.read_error(s);
                    let e = match err {
                        Some(Errno::Econnrefused) => OpenError::Refused,
                        Some(Errno::Etimedout) => OpenError::TimedOut,
                        _ => OpenError::Reset,
                    };
                    self.pool_open_failed(env, conn, e);
                }
                Notice::Readable => {}
            },
            Stage::Handshake => {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                if let (RecvResult::Data(Payload(m)), Some(mut t)) = (r, pc.tls) {
                    match self.tls_step(s, &mut t, m) {
                        super::tls::TlsStep::NotTls => {}
                        step => {
                            if let Some(p) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
                                p.tls = Some(t);
                            }
                            if matches!(step, super::tls::TlsStep::Ready) {
                                self.pool_opened(env, conn);
                            } else {
                                // What else came is read next.
                                self.pool_notice(env, s, Notice::Readable);
                            }
                            return;
                        }
                    }
                }
                match r {
                    RecvResult::WouldBlock => {}
                    RecvResult::Data(Payload(MSG_HELLO)) => self.pool_opened(env, conn),
                    RecvResult::Data(Payload(MSG_ERR_MAXCLIENTS | MSG_ERR_PROXY_FULL)) => {
                        self.pool_open_failed(env, conn, OpenError::TooManyConnections)
                    }
                    RecvResult::Data(_) | RecvResult::Eof => {
                        self.pool_open_failed(env, conn, OpenError::Reset)
                    }
                    RecvResult::Err(Errno::Etimedout) => {
                        self.pool_open_failed(env, conn, OpenError::TimedOut)
                    }
                    RecvResult::Err(_) => self.pool_open_failed(env, conn, OpenError::Reset),
                }
            }
            Stage::Ready if pc.ping.is_some() => {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::WouldBlock => {}
                    RecvResult::Data(Payload(m)) if msg_kind(m) == MSG_RESPONSE => {
                        self.ping_done(env, conn, Ok(()))
                    }
                    RecvResult::Data(_) => self.ping_done(
                        env,
                        conn,
                        Err((
                            ErrorKind::ServerIdleClosed,
                            "the server's message instead of the reply".to_string(),
                        )),
                    ),
                    RecvResult::Eof => self.ping_done(
                        env,
                        conn,
                        Err((
                            ErrorKind::Eof,
                            "read EOF: the server closed the connection".to_string(),
                        )),
                    ),
                    RecvResult::Err(e) => {
                        let why = self.explain(s, Some(e), "read");
                        self.ping_done(env, conn, Err(why))
                    }
                }
            }
            Stage::Ready => {
                let held = self.envs[(env - 1) as usize]
                    .inv
                    .as_ref()
                    .filter(|i| i.held == Some(conn))
                    .map(|i| i.phase);
                match held {
                    Some(Phase::AwaitReply) => match notice {
                        Notice::Readable | Notice::Eof | Notice::Error(_) => {
                            self.on_reply_notice(env, s, Phase::AwaitReply)
                        }
                        Notice::Connected => {}
                    },
                    Some(_) => {}
                    None => {
                        // Idle in the pool: the driver processes the close
                        // or error event (unsolicited data stays unread).
                        if matches!(notice, Notice::Eof | Notice::Error(_)) && !pc.lost {
                            if let Some(p) = self.envs[(env - 1) as usize].pconns.get_mut(&conn) {
                                p.lost = true;
                            }
                            if self.wants(Level::Timeline) {
                                let name = self.sock_name(s);
                                self.emit(
                                    Level::Timeline,
                                    format!("env-{env}"),
                                    "pool_lost",
                                    vec![("conn", conn.0.into())],
                                    format!(
                                        "{name}: the driver sees idle {conn} end ({}) and tells the pool",
                                        match notice {
                                            Notice::Eof => format!("FIN{}", self.tls_eof_note(s)),
                                            Notice::Error(e) => e.name().to_string(),
                                            _ => String::new(),
                                        }
                                    ),
                                );
                            }
                            self.pool_call(env, move |p, now, out| p.lost(now, conn, out));
                        }
                    }
                }
            }
        }
    }
}

/// The timeline's name for a round-trip probe.
fn ping_name(p: Probe) -> &'static str {
    match p {
        Probe::KeepaliveQuery => "keepalive query",
        Probe::Ping | Probe::LivenessPeek => "validation ping",
    }
}
