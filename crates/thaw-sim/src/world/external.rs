//! Real code as a function's client: the world driven step by step from
//! outside (thaw-harness), with the function's sockets opened, written,
//! read and closed by that code instead of the model client.
//!
//! The platform, the network path, TCP and the server stay the models:
//! an external function's invocation starts as usual (cold start or thaw)
//! and then waits for [`Driven::finish`]; its sockets are ordinary
//! environment sockets (frozen, thawed, vanishing on reap) whose events
//! are handed out as [`ExtEvent`]s. Bytes flow: a write carries the
//! bytes, and the server decodes them with its wire codec (RESP for
//! Redis-like servers, PostgreSQL's protocol for PostgreSQL).
use super::*;
use crate::config::ServerKind;
use crate::server::wire::{self, Proto};

/// A socket opened by external code (an id, never reused in a run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtSock(pub u64);

/// What the world tells the external code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtEvent {
    /// An invocation of an external function starts in `env` (after its
    /// cold start or thaw); end it with [`Driven::finish`].
    Invoke {
        /// The environment.
        env: u32,
        /// Its current invocation's sequence number (for `finish`).
        seq: u64,
        /// The invocation id in the report.
        id: u64,
        /// The function (0 = main).
        func: u16,
        /// A cold start (first invocation of a new environment).
        cold: bool,
    },
    /// A socket event, delivered while the environment runs (events of a
    /// frozen environment wait for its thaw).
    Socket {
        /// The socket.
        sock: ExtSock,
        /// What happened.
        notice: Notice,
    },
    /// The environment is frozen: none of its code runs until `Thawed`.
    Frozen {
        /// The environment.
        env: u32,
    },
    /// The environment runs again after a freeze.
    Thawed {
        /// The environment.
        env: u32,
    },
    /// The environment is gone (reaped, reset by a function timeout, or
    /// shut down): drop its code and state; its sockets are gone too.
    Gone {
        /// The environment.
        env: u32,
    },
}

/// Per-socket options external code may set (`TcpSocket` setters);
/// `None` keeps the scenario's `function.tcp` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOpts {
    /// `SO_KEEPALIVE` with its values (`Some(None)` turns it off).
    pub keepalive: Option<Option<thaw_net::Keepalive>>,
    /// `TCP_USER_TIMEOUT` (`Some(None)` = 0, off).
    pub user_timeout: Option<Option<SimDuration>>,
    /// `SO_LINGER` with a zero timeout: `close()` sends RST.
    pub linger_zero: bool,
}

/// The result of reading a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtRecv {
    /// Bytes the peer sent.
    Data(Vec<u8>),
    /// Nothing yet.
    WouldBlock,
    /// The peer closed: `read()` returns 0.
    Eof,
    /// The socket died with this error.
    Err(Errno),
}

/// Why external code cannot drive a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// The world's side of external code.
pub(super) struct Ext {
    funcs: BTreeSet<u16>,
    pub(super) proto: Proto,
    socks: BTreeMap<u64, ExtConn>,
    by_sock: BTreeMap<SockRef, u64>,
    next: u64,
    events: Vec<ExtEvent>,
    blobs: BTreeMap<u64, Vec<u8>>,
    next_blob: u64,
}

struct ExtConn {
    env: u32,
    sock: Option<SockRef>,
    port: u16,
    opts: SockOpts,
    wrote: bool,
}

impl World<'_> {
    fn ext_mut(&mut self) -> &mut Ext {
        self.ext.as_mut().expect("external code drives this world")
    }

    /// Does real code stand in for function `func`'s client?
    pub(super) fn is_ext_func(&self, func: u16) -> bool {
        self.ext.as_ref().is_some_and(|x| x.funcs.contains(&func))
    }

    /// The wire protocol of a server-side peer, if it is external code.
    pub(super) fn wire_of_peer(&self, peer: Addr) -> Option<Proto> {
        let x = self.ext.as_ref()?;
        if !is_env_host(peer.host) {
            return None;
        }
        let func = self.envs.get((peer.host - 1) as usize)?.func;
        x.funcs.contains(&func).then_some(x.proto)
    }

    pub(super) fn ext_event(&mut self, e: ExtEvent) {
        if let Some(x) = self.ext.as_mut() {
            x.events.push(e);
        }
    }

    /// The environment left (reaped, reset, shut down): its external
    /// sockets are forgotten.
    pub(super) fn ext_env_gone(&mut self, env: u32) {
        if !self.is_ext_func(self.envs[(env - 1) as usize].func) {
            return;
        }
        let x = self.ext_mut();
        let gone: Vec<u64> = x
            .socks
            .iter()
            .filter(|(_, c)| c.env == env)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(s) = x.socks.remove(&id).and_then(|c| c.sock) {
                x.by_sock.remove(&s);
            }
        }
        x.events.push(ExtEvent::Gone { env });
    }

    /// A payload carrying `bytes`.
    pub(super) fn blob(&mut self, bytes: Vec<u8>) -> Payload {
        let x = self.ext_mut();
        let id = x.next_blob;
        x.next_blob += 1;
        x.blobs.insert(id, bytes);
        Payload(MSG_BLOB | (id << 8))
    }

    /// The bytes of a payload, taken by the application that reads it (a
    /// retransmitted copy is discarded by TCP before it gets here).
    pub(super) fn take_blob(&mut self, p: u64) -> Vec<u8> {
        self.ext
            .as_mut()
            .and_then(|x| x.blobs.remove(&(p >> 8)))
            .unwrap_or_default()
    }

    /// A socket event for an external function's socket.
    pub(super) fn ext_notice(&mut self, s: SockRef, notice: Notice) {
        let Some(&id) = self.ext.as_ref().and_then(|x| x.by_sock.get(&s)) else {
            return;
        };
        self.ext_mut().events.push(ExtEvent::Socket {
            sock: ExtSock(id),
            notice,
        });
    }

    /// The invocation running in `env`, for the timeline.
    fn ext_who(&self, env: u32) -> String {
        match self.envs[(env - 1) as usize].inv.as_ref() {
            Some(i) => format!("inv-{}", i.id),
            None => format!("env-{env}"),
        }
    }

    /// The connection setup CPU is spent: create the socket, send SYN.
    pub(super) fn ext_open(&mut self, id: u64) {
        let now = self.q.now();
        let Some((env, port, opts)) = self
            .ext
            .as_ref()
            .and_then(|x| x.socks.get(&id))
            .map(|c| (c.env, c.port, c.opts))
        else {
            return;
        };
        if self.envs[(env - 1) as usize].state == EnvState::Reaped {
            return;
        }
        let remote = Addr {
            host: self.fronts[0].host,
            port,
        };
        let Some(local_port) = self.alloc_port_to(env, remote) else {
            self.ext_mut().events.push(ExtEvent::Socket {
                sock: ExtSock(id),
                notice: Notice::Error(Errno::Eaddrnotavail),
            });
            return;
        };
        let local = Addr {
            host: env,
            port: local_port,
        };
        let mut cfg = self.cfg.platform.tcp;
        if let Some(k) = opts.keepalive {
            cfg.keepalive = k;
        }
        if let Some(u) = opts.user_timeout {
            cfg.user_timeout = u;
        }
        let mut out = self.buf();
        let tcb = Tcb::connect(now, cfg, local, remote, &mut out);
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        self.envs[(env - 1) as usize].socks.push(s);
        {
            let x = self.ext_mut();
            if let Some(c) = x.socks.get_mut(&id) {
                c.sock = Some(s);
            }
            x.by_sock.insert(s, id);
        }
        self.trace_connect(env, s, local_port, None);
        self.apply(s, out);
    }

    /// A free local port towards `remote` (the next ephemeral port of the
    /// environment whose 4-tuple is free).
    pub(super) fn alloc_port_to(&mut self, env: u32, remote: Addr) -> Option<u16> {
        let span = (LAST_EPHEMERAL - FIRST_EPHEMERAL) as u32 + 1;
        for _ in 0..span {
            let e = &mut self.envs[(env - 1) as usize];
            let p = e.next_port;
            e.next_port = if p >= LAST_EPHEMERAL {
                FIRST_EPHEMERAL
            } else {
                p + 1
            };
            let key = flow_key(Addr { host: env, port: p }, remote);
            if !self.demux.contains_key(&key) {
                return Some(p);
            }
        }
        None
    }
}

/// The world driven from outside: real code stands in for the client of
/// the external functions. Drive it with [`Driven::step`] and
/// [`Driven::advance_to`]; act for the code with `connect`, `send`,
/// `recv`, `close` and `finish`; read what happened with
/// [`Driven::take_events`].
pub struct Driven<'t> {
    w: World<'t>,
    stopped: Option<BudgetExceeded>,
}

impl<'t> Driven<'t> {
    /// A world whose functions listed in `external` (0 = the main
    /// function) have real code as their client. The server must speak a
    /// protocol the wire codecs know (Redis, Upstash and generic servers:
    /// RESP2; PostgreSQL) and the functions must connect to it directly
    /// (no proxy).
    pub fn new(
        cfg: &'t SimConfig,
        seed: u64,
        external: &[u16],
        trace: &'t mut dyn TraceSink,
        rows: &'t mut dyn OutcomeSink,
    ) -> Result<Self, Unsupported> {
        Self::supports(cfg)?;
        let proto = match cfg.servers[0].kind {
            ServerKind::Postgres => Proto::Pg,
            _ => Proto::Resp,
        };
        let mut w = World::new(cfg, seed, trace, rows);
        w.ext = Some(Box::new(Ext {
            funcs: external.iter().copied().collect(),
            proto,
            socks: BTreeMap::new(),
            by_sock: BTreeMap::new(),
            next: 1,
            events: Vec::new(),
            blobs: BTreeMap::new(),
            next_blob: 1,
        }));
        w.start();
        Ok(Driven { w, stopped: None })
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.w.q.now()
    }

    /// When the next world event is due (`None`: nothing is pending).
    pub fn next_event_time(&self) -> Option<SimTime> {
        if self.stopped.is_some() {
            return None;
        }
        self.w.q.peek_time()
    }

    /// Handles the next event; `false` when nothing is pending or the event
    /// budget is spent ([`Driven::stopped`] says so).
    pub fn step(&mut self) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        match self.w.q.pop() {
            Ok(Some((_, ev))) => {
                self.w.handle(ev);
                true
            }
            Ok(None) => false,
            Err(b) => {
                self.stopped = Some(b);
                false
            }
        }
    }

    /// Why the run stopped early, if it did.
    pub fn stopped(&self) -> Option<BudgetExceeded> {
        self.stopped
    }

    /// Moves time to `t` (no event is due before it) so that the code acts
    /// at `t`.
    pub fn advance_to(&mut self, t: SimTime) {
        self.w.q.advance_to(t);
    }

    /// Moves the events for the code into `out`, in the order they
    /// happened.
    pub fn take_events(&mut self, out: &mut Vec<ExtEvent>) {
        out.append(&mut self.w.ext_mut().events);
    }

    /// Is `env` running code now (not frozen, not gone)?
    pub fn env_running(&self, env: u32) -> bool {
        matches!(
            self.w
                .envs
                .get((env.wrapping_sub(1)) as usize)
                .map(|e| e.state),
            Some(EnvState::Initializing | EnvState::Busy | EnvState::Idle)
        )
    }

    /// `connect()` from `env` to `port` on the scenario's server: the
    /// connection setup CPU of `client.connect_cpu` (scaled by the
    /// function's memory) passes first, then the SYN leaves; `Connected`
    /// or an error comes as a socket event.
    pub fn connect(&mut self, env: u32, port: u16, opts: SockOpts) -> Result<ExtSock, Errno> {
        let now = self.now();
        if !self.env_running(env) {
            return Err(Errno::Econnreset);
        }
        let w = &mut self.w;
        let x = w.ext_mut();
        let id = x.next;
        x.next += 1;
        x.socks.insert(
            id,
            ExtConn {
                env,
                sock: None,
                port,
                opts,
                wrote: false,
            },
        );
        let cost = w.connect_cpu();
        if cost.is_zero() {
            w.ext_open(id);
        } else {
            if w.wants(Level::Timeline) {
                let who = w.ext_who(env);
                w.emit(
                    Level::Timeline,
                    who.clone(),
                    "connect_cpu",
                    vec![("cpu_ns", cost.as_nanos().into())],
                    format!(
                        "{who} opens a new connection: {cost} of connection setup at {} MB ({} of a vCPU)",
                        w.cfg.platform.memory_mb,
                        vcpu_share(w.cfg.platform.memory_mb)
                    ),
                );
            }
            w.schedule(now + cost, Ev::ExtOpen { ext: id });
        }
        Ok(ExtSock(id))
    }

    /// `write()`: the bytes leave as one segment.
    pub fn send(&mut self, s: ExtSock, bytes: &[u8]) -> Result<(), Errno> {
        let now = self.now();
        let w = &mut self.w;
        let Some((env, sock, first)) = w
            .ext
            .as_ref()
            .and_then(|x| x.socks.get(&s.0))
            .map(|c| (c.env, c.sock, !c.wrote))
        else {
            return Err(Errno::Epipe);
        };
        let Some(sock) = sock else {
            // Not connected yet: a blocking write waits; tokio's does not
            // get here (connect() returns once connected).
            return Err(Errno::Epipe);
        };
        if let Some(c) = w.ext_mut().socks.get_mut(&s.0) {
            c.wrote = true;
        }
        let p = w.blob(bytes.to_vec());
        let mut out = w.buf();
        let res = match w.sock_mut(sock) {
            Some(ls) => ls.tcb.send(now, p, &mut out),
            None => Err(Errno::Epipe),
        };
        if w.wants(Level::Timeline) {
            let who = w.ext_who(env);
            let what = wire::describe(w.ext_mut().proto, bytes, first);
            let state = w
                .sock(sock)
                .map(|l| l.tcb.state().name())
                .unwrap_or("CLOSED");
            let result = match res {
                Ok(()) => "write() succeeds".to_string(),
                Err(e) => format!("write() fails with {}", e.name()),
            };
            w.emit(
                Level::Timeline,
                who.clone(),
                "request",
                vec![
                    ("bytes", bytes.len().into()),
                    ("socket_state", state.into()),
                ],
                format!("{who} sends {what} (socket {state}: {result})"),
            );
        }
        if res.is_err() {
            w.take_blob(p.0);
        }
        w.apply(sock, out);
        res
    }

    /// `read()`: what the socket holds.
    pub fn recv(&mut self, s: ExtSock) -> ExtRecv {
        let w = &mut self.w;
        let Some((env, Some(sock))) = w
            .ext
            .as_ref()
            .and_then(|x| x.socks.get(&s.0))
            .map(|c| (c.env, c.sock))
        else {
            return ExtRecv::WouldBlock;
        };
        let r = w
            .sock_mut(sock)
            .map(|l| l.tcb.recv())
            .unwrap_or(RecvResult::Err(Errno::Econnreset));
        let r = match r {
            RecvResult::Data(Payload(p)) if is_blob(p) => ExtRecv::Data(w.take_blob(p)),
            RecvResult::Data(_) => ExtRecv::Data(Vec::new()),
            RecvResult::WouldBlock => ExtRecv::WouldBlock,
            RecvResult::Eof => ExtRecv::Eof,
            RecvResult::Err(e) => ExtRecv::Err(e),
        };
        if w.wants(Level::Timeline) {
            let who = w.ext_who(env);
            let text = match &r {
                ExtRecv::Data(b) => Some(format!("{who} reads {} byte(s): {}", b.len(), show(b))),
                ExtRecv::Eof => Some(format!(
                    "{who} reads EOF: the server closed the connection (read() returned 0)"
                )),
                ExtRecv::Err(e) => {
                    let (_, detail) = w.explain(sock, Some(*e), "read");
                    Some(format!("{who} {detail}"))
                }
                ExtRecv::WouldBlock => None,
            };
            if let Some(text) = text {
                w.emit(Level::Timeline, who, "read", vec![], text);
            }
        }
        r
    }

    /// Explains an errno the code saw on `s` as the model would (which
    /// rule made the kernel give up): the detail for the report.
    pub fn explain(&self, s: ExtSock, e: Errno, call: &str) -> String {
        let sock = self
            .w
            .ext
            .as_ref()
            .and_then(|x| x.socks.get(&s.0))
            .and_then(|c| c.sock);
        match sock {
            Some(sock) => self.w.explain(sock, Some(e), call).1,
            None => format!("{call} {}", e.name()),
        }
    }

    /// `close()` (the socket's handle was dropped): FIN, or RST with
    /// `SO_LINGER` 0; the kernel finishes the socket alone.
    pub fn close(&mut self, s: ExtSock) {
        let w = &mut self.w;
        let Some(c) = w.ext.as_mut().and_then(|x| x.socks.remove(&s.0)) else {
            return;
        };
        let Some(sock) = c.sock else { return };
        w.ext_mut().by_sock.remove(&sock);
        if !w.sock(sock).is_some_and(|l| l.owner == Owner::Env(c.env)) {
            return;
        }
        if c.opts.linger_zero {
            w.app_abort(sock, "the function's code closed it");
        } else {
            w.app_close(sock, "the function's code closed it");
        }
    }

    /// The handler of invocation `seq` in `env` returned: `Ok` or the
    /// error it reported (kind and detail). Ignored if that invocation is
    /// already over (a function timeout ended it).
    pub fn finish(&mut self, env: u32, seq: u64, error: Option<(ErrorKind, String)>) {
        if !self.w.inv_matches(env, seq) {
            return;
        }
        match error {
            Some((k, d)) => self.w.finish(env, Some(k), Some(d)),
            None => self.w.finish(env, None, None),
        }
    }

    /// Writes a line of the code's own (its `tracing` events) into the
    /// trace, at `t` (not after the current time).
    pub fn log_at(&mut self, t: SimTime, component: String, level: Level, text: String) {
        if self.w.wants(level) {
            self.w.trace.record(TraceRecord {
                t: t.min(self.now()),
                component,
                event: "code",
                fields: vec![],
                text,
                level,
            });
        }
    }

    /// The local (ephemeral) port of a connected socket.
    pub fn local_port(&self, s: ExtSock) -> Option<u16> {
        let sock = self.w.ext.as_ref()?.socks.get(&s.0)?.sock?;
        self.w.sock(sock).map(|l| l.tcb.local().port)
    }

    /// Checks that real code can drive `cfg` (see [`Driven::new`]).
    pub fn supports(cfg: &SimConfig) -> Result<(), Unsupported> {
        match cfg.servers[0].kind {
            ServerKind::Mysql | ServerKind::Mariadb => {
                return Err(Unsupported(format!(
                    "server.kind = \"{}\": thaw has no MySQL wire codec yet; real code can talk to Redis-like servers (RESP2) and PostgreSQL",
                    cfg.servers[0].kind.name()
                )))
            }
            ServerKind::NodeHttp | ServerKind::Nginx | ServerKind::AwsAlb | ServerKind::Grpc => {
                return Err(Unsupported(format!(
                    "server.kind = \"{}\": thaw has no HTTP or HTTP/2 wire codec yet; real code can talk to Redis-like servers (RESP2) and PostgreSQL",
                    cfg.servers[0].kind.name()
                )))
            }
            ServerKind::Redis | ServerKind::Upstash | ServerKind::Generic | ServerKind::Postgres => {}
        }
        if cfg.servers.len() > 1 {
            return Err(Unsupported(
                "several servers: real code drives scenarios with one server for now (the wire protocol is chosen per world)".into(),
            ));
        }
        if !cfg.proxies.is_empty() {
            return Err(Unsupported(
                "a [proxy] is configured: the proxy model does not speak a wire protocol yet, so real code cannot connect through it".into(),
            ));
        }
        Ok(())
    }

    /// Ends the run: totals and metrics, as [`crate::run`] returns them.
    pub fn finish_run(self) -> RunResult {
        let stopped = self.stopped;
        self.w.into_result(stopped)
    }
}

/// Bytes for the timeline: printable text, escapes for the rest, clipped.
fn show(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(48) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 48 {
        s.push('…');
    }
    s
}
