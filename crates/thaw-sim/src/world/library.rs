//! Wiring of the client-library model (`thaw_client::Library`,
//! `[client.library]`): the connection object a library keeps in module
//! scope for each `global` target. The model decides reconnects, the
//! offline queue, in-flight commands and its timers; this file opens and
//! closes its sockets, writes its commands and pings, turns socket events
//! into its inputs, and its failures into the invocation's error with the
//! library's message and the errno underneath.
use super::pool::RtTimer;
use super::*;
use rand::RngCore;
use thaw_client::{LibAction, LibError, LibNote, Library, Loss, Reply};

/// The library's connection object for one target of one environment.
pub(super) struct LibSlot {
    model: Library,
    stage: LStage,
    /// Voids a pending connect-CPU timer when the attempt is abandoned.
    conn_gen: u32,
    /// What ended the last connection or attempt, as the application
    /// would see it underneath the library's message.
    last_loss: Option<(ErrorKind, String)>,
    /// TLS while the connection is set up.
    tls: Option<super::tls::TlsSetup>,
}

/// Where the library's current connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LStage {
    /// None.
    Closed,
    /// Connection setup CPU.
    Cpu,
    /// SYN sent.
    Connecting,
    /// Waiting for the server's greeting.
    Handshake,
    /// Ready.
    Ready,
}

/// The kind a failed call ends with: the errno's (or the library's own),
/// or for a gRPC library a status, whatever failed underneath (the errno
/// stays in the details): `DEADLINE_EXCEEDED` for a timeout, else
/// `UNAVAILABLE`.
fn reported(reports: thaw_client::Reports, kind: ErrorKind, timed_out: bool) -> ErrorKind {
    match reports {
        thaw_client::Reports::Errno => kind,
        thaw_client::Reports::GrpcStatus if timed_out => ErrorKind::DeadlineExceeded,
        thaw_client::Reports::GrpcStatus => ErrorKind::Unavailable,
    }
}

/// The library's name for a kind of loss.
fn loss_of(kind: ErrorKind) -> Option<Loss> {
    match kind {
        ErrorKind::Eof => Some(Loss::Eof),
        ErrorKind::Econnreset | ErrorKind::Epipe => Some(Loss::Reset),
        ErrorKind::Etimedout => Some(Loss::TimedOut),
        _ => None,
    }
}

impl World<'_> {
    /// At init: a connection object (no connection yet) for every
    /// `global` target when `[client.library]` is set.
    pub(super) fn lib_init(&mut self, env: u32) {
        let Some(ls) = self.cfg.client.library.as_ref() else {
            return;
        };
        let n = self.cfg.servers.len();
        let libs: Vec<Option<Box<LibSlot>>> = (0..n)
            .map(|t| {
                (self.cfg.client.strategy_of(t as u16) == Strategy::Global).then(|| {
                    // An HTTP agent reads the server's Keep-Alive hint.
                    let cfg = ls.config.with_hint(self.cfg.servers[t].keep_alive_hint);
                    Box::new(LibSlot {
                        model: Library::new(cfg),
                        stage: LStage::Closed,
                        conn_gen: 0,
                        last_loss: None,
                        tls: None,
                    })
                })
            })
            .collect();
        self.envs[(env - 1) as usize].libs = libs;
    }

    /// Whether a library holds `env`'s connection to `target`.
    pub(super) fn lib_holds(&self, env: u32, target: usize) -> bool {
        self.envs[(env - 1) as usize]
            .libs
            .get(target)
            .is_some_and(|l| l.is_some())
    }

    fn slot(&mut self, env: u32, t: usize) -> Option<&mut LibSlot> {
        self.envs[(env - 1) as usize]
            .libs
            .get_mut(t)
            .and_then(|l| l.as_deref_mut())
    }

    /// The target of the request `env`'s invocation is making, if a
    /// library holds its connection.
    pub(super) fn lib_request_target(&self, env: u32) -> Option<usize> {
        let inv = self.envs[(env - 1) as usize].inv.as_ref()?;
        if !matches!(
            inv.phase,
            Phase::LibWait | Phase::AwaitReply | Phase::Writing
        ) {
            return None;
        }
        let t = self.request_in_progress(env)? as usize;
        self.lib_holds(env, t).then_some(t)
    }

    /// The invocation's request goes to the library as a command.
    pub(super) fn lib_command(&mut self, env: u32, t: usize) {
        if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
            inv.phase = Phase::LibWait;
        }
        self.lib_call(env, t, |l, now, out| l.command(now, out));
    }

    /// Feeds the model one input and carries out its actions.
    fn lib_call<R>(
        &mut self,
        env: u32,
        t: usize,
        f: impl FnOnce(&mut Library, SimTime, &mut Vec<LibAction>) -> R,
    ) -> Option<R> {
        let now = self.q.now();
        let mut out = Vec::new();
        let r = f(&mut self.slot(env, t)?.model, now, &mut out);
        for a in out {
            if self.envs[(env - 1) as usize].state == EnvState::Reaped {
                break;
            }
            self.lib_effect(env, t, a);
        }
        Some(r)
    }

    fn lib_title(&self) -> &'static str {
        self.cfg
            .client
            .library
            .as_ref()
            .map_or("client", |l| l.title)
    }

    fn lib_effect(&mut self, env: u32, t: usize, a: LibAction) {
        let now = self.q.now();
        match a {
            LibAction::Connect => {
                let gen = {
                    let Some(slot) = self.slot(env, t) else {
                        return;
                    };
                    slot.stage = LStage::Cpu;
                    slot.conn_gen += 1;
                    slot.conn_gen
                };
                let cost = self.connect_cpu_to(env, t as u16);
                if self.wants(Level::Timeline) {
                    let title = self.lib_title();
                    let server = self.cfg.servers[t].name.clone();
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "lib_connect",
                        vec![("cpu_ns", cost.as_nanos().into())],
                        format!(
                            "env-{env} {title} opens a connection to {server}: {cost} of connection setup"
                        ),
                    );
                }
                self.schedule(
                    now + cost,
                    Ev::Runtime {
                        env,
                        timer: Box::new(RtTimer::LibConnCpu {
                            target: t as u16,
                            gen,
                        }),
                    },
                );
            }
            LibAction::Send => {
                let s = self.envs[(env - 1) as usize].conns[t];
                if let (Some(s), Some(true)) = (s, self.lib_request_target(env).map(|x| x == t)) {
                    if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
                        inv.phase = Phase::LibWait;
                        inv.parts = None;
                    }
                    self.send_request(env, s);
                }
            }
            LibAction::Ping => {
                let Some(s) = self.envs[(env - 1) as usize].conns[t] else {
                    return;
                };
                let mut out = self.buf();
                let ping = Payload(encode_request(crate::config::RequestOp::Ping, false));
                let res = match self.sock_mut(s) {
                    Some(ls) => ls.tcb.send(now, ping, &mut out),
                    None => Err(Errno::Epipe),
                };
                if self.wants(Level::Timeline) {
                    let name = self.sock_name(s);
                    let title = self.lib_title();
                    let why = if self.envs[(env - 1) as usize]
                        .inv
                        .as_ref()
                        .is_some_and(|i| i.phase == Phase::LibWait)
                    {
                        "check before the command"
                    } else {
                        "heartbeat"
                    };
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "lib_ping",
                        vec![],
                        format!("{name}: {title} sends PING ({why})"),
                    );
                }
                match res {
                    Ok(()) => self.apply(s, out),
                    Err(e) => {
                        self.recycle(out);
                        let (kind, detail) = self.explain(s, Some(e), "write");
                        self.lib_socket_lost(env, t, kind, detail);
                    }
                }
            }
            LibAction::Peek => {
                let s = self.envs[(env - 1) as usize].conns[t];
                let (alive, what) = self.peek(s);
                if self.wants(Level::Timeline) {
                    if let Some(s) = s {
                        let name = self.sock_name(s);
                        let title = self.lib_title();
                        self.emit(
                            Level::Timeline,
                            format!("env-{env}"),
                            "lib_peek",
                            vec![("alive", alive.into())],
                            format!(
                                "{name}: {title} checks the connection before the command: a non-blocking peek {what}"
                            ),
                        );
                    }
                }
                self.lib_call(env, t, move |l, now, out| l.peeked(now, alive, out));
            }
            LibAction::Close(why) => {
                if let Some(slot) = self.slot(env, t) {
                    slot.stage = LStage::Closed;
                    slot.conn_gen += 1;
                }
                if why == thaw_client::CloseWhy::CommandTimeout
                    && self.lib_request_target(env) == Some(t)
                {
                    // The command goes back to the library (a retry, or
                    // its failure).
                    if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
                        inv.phase = Phase::LibWait;
                        inv.parts = None;
                        if let Some((token, _)) = inv.read.take() {
                            self.detector.read_abandoned(token);
                        }
                    }
                }
                if let Some(s) = self.envs[(env - 1) as usize].conns[t].take() {
                    self.envs[(env - 1) as usize].tx_keys.clear();
                    let title = self.lib_title();
                    self.app_close(s, &format!("{title}: {}", why.name()));
                }
                if why == thaw_client::CloseWhy::PingTimeout {
                    let within = self
                        .cfg
                        .client
                        .library
                        .as_ref()
                        .and_then(|l| l.config.ping_timeout)
                        .unwrap_or_default();
                    if let Some(slot) = self.slot(env, t) {
                        slot.last_loss = Some((
                            ErrorKind::Etimedout,
                            format!("no reply to its heartbeat PING within {within}"),
                        ));
                    }
                }
            }
            LibAction::Fail(e) => self.lib_fail(env, t, e),
            LibAction::Arm { timer, at } => self.schedule(
                at,
                Ev::Runtime {
                    env,
                    timer: Box::new(RtTimer::Lib {
                        target: t as u16,
                        timer,
                        due: at,
                    }),
                },
            ),
            LibAction::Note(n) => self.lib_note(env, t, n),
        }
    }

    fn lib_note(&mut self, env: u32, t: usize, n: LibNote) {
        if !self.wants(Level::Timeline) {
            return;
        }
        let title = self.lib_title();
        let server = self.cfg.servers[t].name.clone();
        let (event, fields, text): (&'static str, Vec<(&'static str, Value)>, String) = match n {
            LibNote::ReconnectIn { attempt, delay } => (
                "lib_reconnect",
                vec![
                    ("attempt", u64::from(attempt).into()),
                    ("delay_ns", delay.as_nanos().into()),
                ],
                format!("env-{env} {title} will reconnect to {server} in {delay} (attempt {attempt}; a runtime timer)"),
            ),
            LibNote::BackoffFor { attempt, delay } => (
                "lib_backoff",
                vec![
                    ("attempt", u64::from(attempt).into()),
                    ("delay_ns", delay.as_nanos().into()),
                ],
                format!("env-{env} {title} channel to {server} is in TRANSIENT_FAILURE for {delay} (failed attempt {attempt}): calls fail at once meanwhile; then idle"),
            ),
            LibNote::Finished => (
                "lib_finished",
                vec![],
                format!("env-{env} {title} client for {server} is finished: it never reconnects, and every later command fails"),
            ),
            LibNote::Queued => (
                "lib_queued",
                vec![],
                format!("env-{env} {title} queues the command until its connection to {server} is ready (offline queue)"),
            ),
            LibNote::WillResend => (
                "lib_resend",
                vec![],
                format!("env-{env} {title} keeps the command in flight to write it again after the reconnect"),
            ),
            LibNote::RetryIn { retry, delay } => (
                "lib_retry",
                vec![
                    ("retry", u64::from(retry).into()),
                    ("delay_ns", delay.as_nanos().into()),
                ],
                format!("env-{env} {title} retries the command on a new connection in {delay} (retry {retry})"),
            ),
            LibNote::Late { timer, by } => (
                "lib_timer_late",
                vec![("late_ns", by.as_nanos().into())],
                format!(
                    "env-{env} {title}: its {} timer runs {by} late (held while frozen)",
                    match timer {
                        thaw_client::LibTimer::Reconnect(_) => "reconnect",
                        thaw_client::LibTimer::Command(_) => "command timeout",
                        thaw_client::LibTimer::PingDue(_) => "heartbeat",
                        thaw_client::LibTimer::PingTimeout(_) => "ping timeout",
                        thaw_client::LibTimer::Connect(_) => "connect timeout",
                        thaw_client::LibTimer::Retry(_) => "retry",
                        thaw_client::LibTimer::Idle(_) => "idle close",
                    }
                ),
            ),
        };
        self.emit(Level::Timeline, format!("env-{env}"), event, fields, text);
    }

    /// The library failed the current command: the invocation ends with
    /// the library's message and what happened underneath.
    fn lib_fail(&mut self, env: u32, t: usize, e: LibError) {
        let Some(ls) = self.cfg.client.library.as_ref() else {
            return;
        };
        let (m, title, c, reports) = (ls.messages, ls.title, ls.config, ls.reports);
        let last = self
            .slot(env, t)
            .and_then(|s| s.last_loss.clone())
            .unwrap_or((ErrorKind::Econnreset, "the connection was lost".to_string()));
        let (kind, detail) = match e {
            LibError::Lost(loss) => {
                let msg = match loss {
                    Loss::Eof => m.eof,
                    Loss::Reset => m.reset,
                    Loss::TimedOut => m.timed_out,
                    Loss::PingTimeout => m.ping_timeout,
                };
                (last.0, format!("{title}: {msg} ({})", last.1))
            }
            LibError::Closed => (
                ErrorKind::ClientClosed,
                format!(
                    "{title}: {} (the client does not reconnect; its connection ended: {})",
                    m.closed, last.1
                ),
            ),
            LibError::Offline => (
                ErrorKind::ClientOffline,
                format!(
                    "{title}: {} (no ready connection, and no offline queue)",
                    m.offline
                ),
            ),
            LibError::Timeout => (
                ErrorKind::RequestTimeout,
                format!(
                    "{title}: {} (the library's command timeout, {})",
                    m.command_timeout,
                    c.command_timeout.unwrap_or_default()
                ),
            ),
            LibError::MaxRetries(n) => (
                ErrorKind::MaxRetries,
                format!(
                    "{title}: {} (last: {})",
                    m.max_retries.replace("{n}", &n.to_string()),
                    last.1
                ),
            ),
            LibError::ConnectFailed(_) => (last.0, format!("{title}: {}", last.1)),
            LibError::ConnectTimeout => (
                ErrorKind::Etimedout,
                format!(
                    "{title}: {} (the library's connect timeout, {})",
                    m.connect_timeout,
                    c.connect_timeout.unwrap_or_default()
                ),
            ),
        };
        let kind = reported(reports, kind, e == LibError::Timeout);
        let waiting = self.lib_request_target(env) == Some(t);
        if waiting {
            // The application's own retry (`[client.retry]`) wraps the
            // library's call.
            if self.try_retry(env, kind, &detail) {
                return;
            }
            if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
                if let Some((token, _)) = inv.read.take() {
                    self.detector.read_abandoned(token);
                }
            }
            self.finish(env, Some(kind), Some(detail));
        }
    }

    /// A failure of the current request on a library's connection
    /// (`fail`): a lost connection goes to the library, which decides;
    /// anything else (a server's refusal, the request's own timeout) ends
    /// the invocation, and the library forgets the command. Returns
    /// whether it took the failure.
    pub(super) fn lib_fail_hook(&mut self, env: u32, kind: ErrorKind, detail: &str) -> bool {
        let Some(t) = self.lib_request_target(env) else {
            return false;
        };
        if loss_of(kind).is_some() {
            self.lib_socket_lost(env, t, kind, detail.to_string());
            return true;
        }
        if let Some(slot) = self.slot(env, t) {
            slot.model.abandon();
        }
        if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
            if let Some((token, _)) = inv.read.take() {
                self.detector.read_abandoned(token);
            }
        }
        // gRPC: the request's timeout is the call's deadline; a server's
        // refusal ends the call as UNAVAILABLE.
        let reports = self
            .cfg
            .client
            .library
            .as_ref()
            .map_or(thaw_client::Reports::Errno, |l| l.reports);
        let status = reported(reports, kind, kind == ErrorKind::RequestTimeout);
        let detail = match status {
            ErrorKind::DeadlineExceeded if status != kind => {
                format!("4 DEADLINE_EXCEEDED: Deadline exceeded ({detail})")
            }
            ErrorKind::Unavailable if status != kind => format!("14 UNAVAILABLE: {detail}"),
            _ => detail.to_string(),
        };
        let kind = status;
        if self.try_retry(env, kind, &detail) {
            return true;
        }
        self.finish(env, Some(kind), Some(detail));
        true
    }

    /// The library's connection died (EOF, reset, the kernel gave up): the
    /// client destroys its socket and tells the model.
    fn lib_socket_lost(&mut self, env: u32, t: usize, kind: ErrorKind, detail: String) {
        // A server's refusal during the handshake ends the connection too.
        let loss = loss_of(kind).unwrap_or(Loss::Reset);
        let stage = match self.slot(env, t) {
            Some(slot) => {
                slot.last_loss = Some((kind, detail));
                let st = slot.stage;
                slot.stage = LStage::Closed;
                slot.conn_gen += 1;
                st
            }
            None => return,
        };
        if let Some(s) = self.envs[(env - 1) as usize].conns[t].take() {
            self.envs[(env - 1) as usize].tx_keys.clear();
            let title = self.lib_title();
            self.app_close(s, &format!("{title} destroys the socket after the error"));
        }
        if self.lib_request_target(env) == Some(t) {
            // The command is back with the library (it may resend it).
            if let Some(inv) = self.envs[(env - 1) as usize].inv.as_mut() {
                inv.phase = Phase::LibWait;
                inv.parts = None;
                if let Some((token, _)) = inv.read.take() {
                    self.detector.read_abandoned(token);
                }
            }
        }
        let rand = self.library_rng.next_u64();
        if stage == LStage::Ready {
            self.lib_call(env, t, move |l, now, out| l.lost(now, loss, rand, out));
        } else {
            self.lib_call(env, t, move |l, now, out| {
                l.connect_failed(now, loss, rand, out)
            });
        }
    }

    /// Whether a library timer is still armed (a cancelled one need not
    /// wait for the thaw).
    pub(super) fn lib_timer_current(
        &self,
        env: u32,
        t: usize,
        timer: thaw_client::LibTimer,
    ) -> bool {
        self.envs[(env - 1) as usize]
            .libs
            .get(t)
            .and_then(|l| l.as_deref())
            .is_some_and(|l| l.model.is_current(timer))
    }

    /// A runtime timer of the library is due (not frozen).
    pub(super) fn lib_timer(
        &mut self,
        env: u32,
        t: usize,
        timer: thaw_client::LibTimer,
        due: SimTime,
    ) {
        let rand = self.library_rng.next_u64();
        self.lib_call(env, t, move |l, now, out| {
            l.timer(now, timer, due, rand, out)
        });
    }

    /// The setup CPU of a library connection is done: `connect()`.
    pub(super) fn lib_conn_cpu(&mut self, env: u32, t: usize, gen: u32) {
        let now = self.q.now();
        let ok = self
            .slot(env, t)
            .is_some_and(|s| s.stage == LStage::Cpu && s.conn_gen == gen);
        if !ok {
            return;
        }
        let remote = self.target_addr(env, t as u16);
        let Some(port) = self.alloc_port_to(env, remote) else {
            self.lib_socket_lost(
                env,
                t,
                ErrorKind::Econnreset,
                "connect EADDRNOTAVAIL: no free local port".into(),
            );
            return;
        };
        let local = Addr { host: env, port };
        let mut out = self.buf();
        let tcb = Tcb::connect(now, self.cfg.platform.tcp, local, remote, &mut out);
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        {
            let e = &mut self.envs[(env - 1) as usize];
            e.conns[t] = Some(s);
            e.socks.push(s);
        }
        if let Some(slot) = self.slot(env, t) {
            slot.stage = LStage::Connecting;
        }
        self.trace_connect(env, s, port, None);
        self.apply(s, out);
    }

    /// A socket event on a library's connection (the environment runs).
    pub(super) fn lib_notice(&mut self, env: u32, t: usize, s: SockRef, notice: Notice) {
        let Some(stage) = self.slot(env, t).map(|x| x.stage) else {
            return;
        };
        match stage {
            LStage::Closed | LStage::Cpu => {}
            LStage::Connecting => match notice {
                Notice::Connected => {
                    let greeting = self.cfg.servers[t].handshake;
                    let tls = self.tls_start(s, env, t as u16, greeting);
                    if greeting || tls.is_some() {
                        if let Some(slot) = self.slot(env, t) {
                            slot.stage = LStage::Handshake;
                            slot.tls = tls;
                        }
                    } else {
                        self.lib_ready(env, t);
                    }
                }
                Notice::Error(_) | Notice::Eof => {
                    let err = self.read_error(s);
                    let (kind, detail) = self.explain(s, err, "connect");
                    self.lib_socket_lost(env, t, kind, detail);
                }
                Notice::Readable => {}
            },
            LStage::Handshake => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                let tls = self.slot(env, t).and_then(|x| x.tls);
                if let (RecvResult::Data(Payload(m)), Some(mut st)) = (r, tls) {
                    match self.tls_step(s, &mut st, m) {
                        super::tls::TlsStep::NotTls => {}
                        step => {
                            if let Some(slot) = self.slot(env, t) {
                                slot.tls = Some(st);
                            }
                            if matches!(step, super::tls::TlsStep::Ready) {
                                return self.lib_ready(env, t);
                            }
                            continue;
                        }
                    }
                }
                match r {
                    RecvResult::WouldBlock => return,
                    RecvResult::Data(Payload(MSG_HELLO)) => return self.lib_ready(env, t),
                    RecvResult::Data(Payload(
                        m @ (MSG_ERR_MAXCLIENTS | MSG_ERR_HOST_BLOCKED | MSG_ERR_PROXY_FULL),
                    )) => {
                        let (kind, text) = if m == MSG_ERR_PROXY_FULL {
                            self.proxy_error_text(t as u16, m)
                        } else {
                            crate::server::reject_text(&self.cfg.servers[t], m)
                        };
                        // The refusal is what the application sees; the
                        // connection ends with it.
                        self.lib_socket_lost(env, t, kind, text.to_string());
                        return;
                    }
                    RecvResult::Data(_) => {}
                    r @ (RecvResult::Eof | RecvResult::Err(_)) => {
                        return self.lib_read_ended(env, t, s, r, "during the handshake ")
                    }
                }
            },
            LStage::Ready => {
                let writing = self.envs[(env - 1) as usize]
                    .inv
                    .as_ref()
                    .is_some_and(|i| i.phase == Phase::Writing);
                if writing {
                    // The application is writing a request in several parts
                    // and does not read (model.md 2.11a).
                    return;
                }
                let reads = self.slot(env, t).is_some_and(|x| {
                    x.model.config().reads_while_idle || x.model.busy() || x.model.pinging()
                });
                if !reads {
                    // Nothing reads the idle socket: what came waits there
                    // for the next command.
                    return;
                }
                loop {
                    let r = self
                        .sock_mut(s)
                        .map(|l| l.tcb.recv())
                        .unwrap_or(RecvResult::Eof);
                    match r {
                        RecvResult::WouldBlock => return,
                        RecvResult::Data(Payload(m)) if msg_kind(m) == MSG_RESPONSE => {
                            let what = self.lib_call(env, t, |l, now, out| l.reply(now, out));
                            match what {
                                Some(Reply::Command) => {
                                    let waiting = self.envs[(env - 1) as usize]
                                        .inv
                                        .as_ref()
                                        .is_some_and(|i| i.phase == Phase::AwaitReply);
                                    if waiting {
                                        self.reply_received(env, m);
                                    }
                                    return;
                                }
                                Some(Reply::Ping) => {
                                    self.lib_trace_read(env, s, "the PING's reply")
                                }
                                Some(Reply::Discarded) => self.lib_trace_read(
                                    env,
                                    s,
                                    "the late reply of a command that already failed, and drops it",
                                ),
                                Some(Reply::Unexpected) | None => {}
                            }
                        }
                        RecvResult::Data(Payload(
                            m @ (MSG_ERR_MAXCLIENTS | MSG_ERR_HOST_BLOCKED | MSG_ERR_IDLE
                            | MSG_ERR_IDLE_IN_TX),
                        )) => {
                            // A server's message: it fails the command in
                            // flight; the close that follows is a loss.
                            let (kind, text) = crate::server::reject_text(&self.cfg.servers[t], m);
                            if let Some(slot) = self.slot(env, t) {
                                slot.last_loss = Some((kind, text.to_string()));
                            }
                            if self.lib_request_target(env) == Some(t)
                                && self.slot(env, t).is_some_and(|x| x.model.sent())
                            {
                                self.lib_fail_hook(env, kind, text);
                            }
                        }
                        RecvResult::Data(_) => {}
                        r @ (RecvResult::Eof | RecvResult::Err(_)) => {
                            return self.lib_read_ended(env, t, s, r, "")
                        }
                    }
                }
            }
        }
    }

    /// A read on the library's connection found its end: EOF or an error.
    fn lib_read_ended(&mut self, env: u32, t: usize, s: SockRef, r: RecvResult, when: &str) {
        match r {
            RecvResult::Err(e) => {
                let (kind, detail) = self.explain(s, Some(e), "read");
                self.lib_socket_lost(env, t, kind, detail);
            }
            _ if when.is_empty() => self.lib_socket_lost(
                env,
                t,
                ErrorKind::Eof,
                format!(
                    "connection closed by the server: read() returned 0 (EOF){}",
                    self.tls_eof_note(s)
                ),
            ),
            _ => self.lib_socket_lost(
                env,
                t,
                ErrorKind::Eof,
                format!("connection closed by the server {when}(EOF)"),
            ),
        }
    }

    fn lib_trace_read(&mut self, env: u32, s: SockRef, what: &str) {
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            let title = self.lib_title();
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "lib_read",
                vec![],
                format!("{name}: {title} reads {what}"),
            );
        }
    }

    fn lib_ready(&mut self, env: u32, t: usize) {
        if let Some(slot) = self.slot(env, t) {
            slot.stage = LStage::Ready;
        }
        if self.wants(Level::Timeline) {
            let title = self.lib_title();
            let server = self.cfg.servers[t].name.clone();
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "lib_ready",
                vec![],
                format!("env-{env} {title} connection to {server} is ready"),
            );
        }
        self.lib_call(env, t, |l, now, out| l.connected(now, out));
    }
}
