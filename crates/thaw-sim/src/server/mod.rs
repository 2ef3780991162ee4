//! The server application as a sans-IO model: the accept queue, CPU cores
//! shared by accepts and queries, the connection limit (with PostgreSQL's
//! reserved slots, and Upstash's soft/hard limits with idle eviction),
//! MySQL's host cache (`max_connect_errors`), the greeting and its
//! timeout, the idle timeouts and the server's messages, and each
//! connection's data session (thaw-db).
//!
//! It owns no sockets and no clock. The World hands it what happened (a
//! SYN, a completed handshake, a request read from a socket, a timer) with
//! the time, and carries out the [`Effect`]s it returns, in order: send a
//! message on a socket, close one, arm a timer, trace a line. `S` is the
//! World's socket handle; the server only stores and returns it.
//!
//! Every default is in `ServerConfig::preset` and cited in docs/model.md.

pub(crate) mod wire;

#[cfg(test)]
mod tests;

use crate::config::{IdleClose, ServerConfig, ServerKind, SourceIp};
use crate::msg::*;
use crate::report::ErrorKind;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use thaw_core::{RngStreams, SimDuration, SimRng, SimTime, SlotRef, Slots, Value};
use thaw_net::Addr;
use wire::{Proto, WireConn, WireData, WireItem};

/// What a client library prints for the server's refusal, per server.
/// PostgreSQL refuses an ordinary client with its own text while only
/// reserved slots remain (`InitPostgres`, PostgreSQL 16 and later; 15 and
/// earlier said "remaining connection slots are reserved for
/// non-replication superuser connections"); "sorry, too many clients
/// already" is for no slot at all, which an ordinary client meets only
/// without reserved slots.
fn too_many_text(kind: ServerKind, reserved: u32) -> &'static str {
    match kind {
        ServerKind::Mysql | ServerKind::Mariadb => {
            "ER_CON_COUNT_ERROR (1040): Too many connections"
        }
        ServerKind::Postgres if reserved > 0 => {
            "FATAL 53300: remaining connection slots are reserved for roles with the SUPERUSER attribute"
        }
        ServerKind::Postgres => "FATAL 53300: sorry, too many clients already",
        ServerKind::Redis | ServerKind::Upstash | ServerKind::Generic => {
            "ERR max number of clients reached"
        }
        ServerKind::NodeHttp | ServerKind::Nginx | ServerKind::AwsAlb => "503 Service Unavailable",
        ServerKind::Grpc => "RESOURCE_EXHAUSTED: too many connections",
    }
}

/// The server's message when it closes an idle connection.
pub(crate) fn idle_close_text(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Mysql => "ER_CLIENT_INTERACTION_TIMEOUT (4031): The client was disconnected by the server because of inactivity. See wait_timeout and interactive_timeout for configuring this behavior.",
        ServerKind::Postgres => "FATAL 57P05: terminating connection due to idle-session timeout",
        // MariaDB sends no message (it has no 4031); with
        // idle_close_error the generic text stands in.
        ServerKind::Mariadb
        | ServerKind::Redis
        | ServerKind::Upstash
        | ServerKind::Generic
        | ServerKind::NodeHttp
        | ServerKind::Nginx
        | ServerKind::AwsAlb => "connection closed by the server after its idle timeout",
        // An HTTP/2 GOAWAY frame (NO_ERROR) ahead of the close.
        ServerKind::Grpc => "GOAWAY (NO_ERROR): max_connection_idle",
    }
}

fn host_blocked_text() -> &'static str {
    "ER_HOST_IS_BLOCKED (1129): Host is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'"
}

fn idle_in_tx_text(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Postgres => {
            "FATAL 25P03: terminating connection due to idle-in-transaction timeout"
        }
        ServerKind::Mysql
        | ServerKind::Mariadb
        | ServerKind::Redis
        | ServerKind::Upstash
        | ServerKind::Generic
        | ServerKind::NodeHttp
        | ServerKind::Nginx
        | ServerKind::AwsAlb
        | ServerKind::Grpc => "connection closed by the server: idle in a transaction too long",
    }
}

/// The error a client reports for a server message that ends its
/// connection, and the library's text for it.
pub(crate) fn reject_text(server: &ServerConfig, msg: u64) -> (ErrorKind, &'static str) {
    let kind = server.kind;
    match msg {
        MSG_ERR_HOST_BLOCKED => (ErrorKind::HostBlocked, host_blocked_text()),
        MSG_ERR_IDLE => (ErrorKind::ServerIdleClosed, idle_close_text(kind)),
        MSG_ERR_IDLE_IN_TX => (ErrorKind::ServerIdleClosed, idle_in_tx_text(kind)),
        _ => (
            ErrorKind::TooManyConnections,
            too_many_text(kind, server.reserved_connections),
        ),
    }
}

/// The session settings of the clients' connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionDefaults {
    pub autocommit: bool,
    pub isolation: thaw_db::Isolation,
    pub read_routing: thaw_db::ReadRouting,
}

/// A connection the server application holds.
pub(crate) struct Conn<S> {
    sock: S,
    peer: Addr,
    last_activity: SimTime,
    pending: u32,
    idle_gen: u32,
    zombie: bool,
    /// The client completed the handshake (sent its first request).
    established: bool,
    /// What the host cache keys this client on.
    host_key: u32,
    /// The database session of this connection.
    session: thaw_db::SessionId,
    /// Requests received and not yet answered, in order.
    ops: VecDeque<u64>,
    /// The wire codec, when the client is real code (thaw-harness).
    wire: Option<Box<WireConn>>,
    /// The client opened a TLS session on it (its first flight came).
    tls: bool,
}

impl<S: Copy> Conn<S> {
    pub fn peer(&self) -> Addr {
        self.peer
    }
    pub fn last_activity(&self) -> SimTime {
        self.last_activity
    }
    /// Requests received and not yet answered.
    pub fn pending(&self) -> u32 {
        self.pending
    }
    pub fn established(&self) -> bool {
        self.established
    }
}

/// A connection in the server's arena.
pub(crate) type ConnRef<S> = SlotRef<Conn<S>>;

/// Work for the server's CPU cores, in FIFO order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work<S> {
    /// Accept a connection that completed the TCP handshake.
    Accept(S),
    /// Answer one request.
    Request(ConnRef<S>),
    /// Answer the first flight of a full TLS handshake: `service_time`
    /// and the server's handshake CPU (model.md 2.12).
    TlsHello(ConnRef<S>),
}

/// A timer the server asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer<S> {
    /// A core finished this work.
    WorkDone(Work<S>),
    /// Check whether a connection has been idle too long.
    Idle { conn: ConnRef<S>, gen: u32 },
    /// The client must have answered the greeting by now.
    Handshake { conn: ConnRef<S> },
}

/// What the server writes on a socket (inside the model; the World gets
/// [`Effect::Send`] or [`Effect::SendBytes`]).
enum Out {
    /// A model message ([`crate::msg`]).
    Msg(u64),
    /// Bytes of the wire protocol, for real code.
    Bytes(Vec<u8>),
}

fn send<S>(out: &mut Vec<Effect<S>>, sock: S, data: Out, answer: Option<ConnRef<S>>) {
    out.push(match data {
        Out::Msg(msg) => Effect::Send { sock, msg, answer },
        Out::Bytes(b) => Effect::SendBytes(Box::new((sock, b, answer))),
    });
}

/// A timeline line of a model (boxed in its effects: only traced runs
/// have them); the World names the component.
#[derive(Debug)]
pub(crate) struct TraceLine {
    pub event: &'static str,
    pub fields: Vec<(&'static str, Value)>,
    pub text: String,
}

impl TraceLine {
    pub fn boxed(
        event: &'static str,
        fields: Vec<(&'static str, Value)>,
        text: String,
    ) -> Box<TraceLine> {
        Box::new(TraceLine {
            event,
            fields,
            text,
        })
    }
}

/// What the World does for the server, in order. Kept small (32 bytes):
/// every server input returns a few, so the rare large ones are boxed.
#[derive(Debug)]
pub(crate) enum Effect<S> {
    /// Run `timer` at `at`. `lane`: its delay is a fixed one of the
    /// configuration (the queue's delay lanes); else one of a kind.
    Arm {
        at: SimTime,
        timer: Timer<S>,
        lane: bool,
    },
    /// Write a model message ([`crate::msg`]) on the socket. `answer`:
    /// the connection whose request this answers (a failed write closes
    /// it: [`Server::send_failed`]).
    Send {
        sock: S,
        msg: u64,
        answer: Option<ConnRef<S>>,
    },
    /// Write bytes of the wire protocol (for real code), as `Send`.
    SendBytes(Box<(S, Vec<u8>, Option<ConnRef<S>>)>),
    /// `close()` the socket (`abort`: with `SO_LINGER` 0, RST), with a
    /// timeline line saying `why` (`None`: none); the connection is gone
    /// from the server (`zombie`: it was a zombie until now).
    Close {
        sock: S,
        abort: bool,
        why: Option<&'static str>,
        zombie: bool,
    },
    /// `Close` with a reason made up at run time.
    CloseWhy(Box<(S, bool, String, bool)>),
    /// The socket is now this connection of the server application.
    Accepted {
        conn: ConnRef<S>,
        sock: S,
        peer: Addr,
    },
    /// Read what arrived while the connection waited to be accepted.
    ReadNow { conn: ConnRef<S>, sock: S },
    /// A write request of `peer` was applied (committed or not).
    Wrote {
        peer: Addr,
        key: u64,
        committed: bool,
    },
    /// A timeline line of the server.
    Trace(Box<TraceLine>),
    /// The application sends TLS `close_notify` on the socket: the
    /// `Close` that follows is a clean TLS close (model.md 2.12).
    CloseNotify { sock: S },
}

/// The server's side of `[client.tls]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerTls {
    /// CPU for a full handshake's first flight, on top of `service_time`.
    pub cpu: SimDuration,
    /// `close_notify` before the application's clean closes.
    pub close_notify: bool,
}

/// What the World knows about a socket waiting to be accepted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// The client's address.
    pub peer: Addr,
    /// Still ESTABLISHED with no error (else the client left).
    pub alive: bool,
    /// The client is real code speaking this protocol.
    pub wire: Option<Proto>,
}

/// The server's figures for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerTotals {
    pub peak: u64,
    pub open: u64,
    pub syn_dropped: u64,
    pub rejected: u64,
    pub evicted: u64,
    pub killed: u64,
}

/// One server application and its data.
pub(crate) struct Server<S> {
    cfg: ServerConfig,
    sessions: SessionDefaults,
    /// Where it listens.
    addr: Addr,
    /// What the host cache keys on.
    source_ip: SourceIp,
    /// Build timeline lines.
    timeline: bool,
    /// Names of peers that are not environments (a proxy), for timelines.
    peer_names: Vec<(u32, String)>,
    /// Replies carry the transaction status only when someone reads it (a
    /// proxy): set by the World.
    pub(crate) tx_status: bool,
    conns: Slots<Conn<S>>,
    open: u64,
    peak: u64,
    /// Cores busy, and the work waiting for a core.
    cpu_busy: u32,
    cpu_queue: VecDeque<Work<S>>,
    /// Connections established in the kernel and not yet accepted.
    accept_queue: u32,
    /// Interrupted connection attempts in a row, per host key.
    host_errors: BTreeMap<u32, u32>,
    blocked_hosts: BTreeSet<u32>,
    /// The data (primary and replicas).
    cluster: thaw_db::Cluster,
    /// Byte keys and values of real code's requests.
    wire_data: WireData,
    totals: ServerTotals,
    /// `[client.tls]`: the clients speak TLS.
    tls: Option<ServerTls>,
    /// The stream `service_time` draws from when it is a distribution
    /// (set by [`Server::set_rng`]; nothing is drawn when it is fixed).
    rng: SimRng,
}

impl<S: Copy + Eq + std::fmt::Debug> Server<S> {
    /// A server listening on `addr`.
    pub fn new(
        cfg: ServerConfig,
        sessions: SessionDefaults,
        addr: Addr,
        source_ip: SourceIp,
        timeline: bool,
    ) -> Self {
        Server {
            source_ip,
            cluster: thaw_db::Cluster::new(&cfg.replicas),
            cfg,
            sessions,
            addr,
            timeline,
            peer_names: Vec::new(),
            tx_status: false,
            conns: Slots::new(),
            open: 0,
            peak: 0,
            cpu_busy: 0,
            cpu_queue: VecDeque::new(),
            accept_queue: 0,
            host_errors: BTreeMap::new(),
            blocked_hosts: BTreeSet::new(),
            wire_data: WireData::default(),
            totals: ServerTotals::default(),
            tls: None,
            rng: RngStreams::new(0).stream("server.service_time"),
        }
    }

    /// One request's service time, for a request answered without the
    /// cores (`strategy = "http"`): a draw when it is distributed.
    pub fn draw_service_time(&mut self) -> SimDuration {
        self.cfg.service_time.sample(&mut self.rng)
    }

    /// The stream a distributed `service_time` draws from, one per server
    /// instance (the World derives it from the run seed).
    pub fn set_rng(&mut self, rng: SimRng) {
        self.rng = rng;
    }

    /// Names a peer host that is not an environment (`env-N`).
    pub fn name_peer(&mut self, host: u32, name: &str) {
        self.peer_names.push((host, name.to_string()));
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn addr(&self) -> Addr {
        self.addr
    }

    /// Connections the application holds now.
    pub fn open(&self) -> u64 {
        self.open
    }

    pub fn totals(&self) -> ServerTotals {
        ServerTotals {
            peak: self.peak,
            open: self.open,
            ..self.totals
        }
    }

    pub fn conn(&self, c: ConnRef<S>) -> Option<&Conn<S>> {
        self.conns.get(c)
    }

    pub fn conns(&self) -> impl Iterator<Item = (ConnRef<S>, &Conn<S>)> {
        self.conns.iter()
    }

    /// The server process stops (a restart, a crash, a failover): every
    /// connection ends with it; the process's exit closes each socket.
    pub fn stop(&mut self, now: SimTime, out: &mut Vec<Effect<S>>) {
        let all: Vec<ConnRef<S>> = self.conns.iter().map(|(c, _)| c).collect();
        for c in all {
            self.close(now, c, "the server process stopped".into(), false, out);
        }
    }

    /// The wire protocol of a connection with real code.
    pub fn wire_proto(&self, c: ConnRef<S>) -> Option<Proto> {
        self.conn(c).and_then(|k| k.wire.as_ref()).map(|w| w.proto)
    }

    fn peer_name(&self, a: Addr) -> String {
        match self.peer_names.iter().find(|(h, _)| *h == a.host) {
            Some((_, n)) => format!("{n}:{}", a.port),
            None => format!("env-{}:{}", a.host, a.port),
        }
    }

    fn trace(
        &self,
        out: &mut Vec<Effect<S>>,
        event: &'static str,
        fields: Vec<(&'static str, Value)>,
        text: String,
    ) {
        out.push(Effect::Trace(TraceLine::boxed(event, fields, text)));
    }

    /// The key of MySQL's host cache for a client address.
    fn host_key(&self, peer: Addr) -> u32 {
        match self.source_ip {
            SourceIp::Shared => 1,
            SourceIp::PerEnvironment => peer.host,
        }
    }

    // ----- inputs ----------------------------------------------------------

    /// A SYN from `src` reached the listener: is there room in the accept
    /// queue? (`tcp_conn_request()`: a full accept queue drops the SYN; the
    /// client retransmits it.)
    pub fn on_syn(&mut self, src: Addr, out: &mut Vec<Effect<S>>) -> bool {
        if self.accept_queue < self.cfg.backlog {
            return true;
        }
        self.totals.syn_dropped += 1;
        if self.timeline {
            let text = format!(
                "{} drops a SYN from {}: accept queue full ({} = backlog); the client will retransmit it",
                self.cfg.name,
                self.peer_name(src),
                self.accept_queue
            );
            self.trace(
                out,
                "syn_drop",
                vec![("accept_queue", self.accept_queue.into())],
                text,
            );
        }
        false
    }

    /// The TCP handshake of `sock` completed: the connection waits in the
    /// accept queue for a core.
    pub fn on_established(&mut self, now: SimTime, sock: S, out: &mut Vec<Effect<S>>) {
        self.accept_queue += 1;
        self.cpu_submit(now, Work::Accept(sock), out);
    }

    /// A timer the server armed came due. For the accept of a socket
    ///, `pending` tells what the World knows of it
    /// (`None`: it is gone).
    pub fn on_timer(
        &mut self,
        now: SimTime,
        timer: Timer<S>,
        pending: Option<Pending>,
        out: &mut Vec<Effect<S>>,
    ) {
        match timer {
            Timer::WorkDone(w) => {
                self.cpu_busy -= 1;
                // Start the next queued work first, so that work submitted
                // while handling this one queues behind it (FIFO).
                if let Some(next) = self.cpu_queue.pop_front() {
                    self.cpu_busy += 1;
                    let at = now + self.cpu_cost(next);
                    out.push(Effect::Arm {
                        at,
                        timer: Timer::WorkDone(next),
                        lane: true,
                    });
                }
                match w {
                    Work::Accept(s) => {
                        self.accept_queue -= 1;
                        self.accept(now, s, pending, out);
                    }
                    Work::Request(c) | Work::TlsHello(c) => self.answer(now, c, out),
                }
            }
            Timer::Idle { conn, gen } => self.on_idle(now, conn, gen, out),
            Timer::Handshake { conn } => self.on_handshake_timeout(now, conn, out),
        }
    }

    /// A request (a model message) arrived on connection `c`.
    pub fn on_request(&mut self, now: SimTime, c: ConnRef<S>, p: u64, out: &mut Vec<Effect<S>>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.pending += 1;
        conn.ops.push_back(p);
        conn.last_activity = now;
        let (code, key) = decode_request(p);
        let work = if msg_kind(p) == MSG_REQUEST && code == OP_TLS_HELLO {
            conn.tls = true;
            // A resumed handshake skips the certificate and its
            // signature: no handshake CPU.
            match self.tls {
                Some(t) if key == 0 && !t.cpu.is_zero() => Work::TlsHello(c),
                _ => Work::Request(c),
            }
        } else {
            Work::Request(c)
        };
        self.authenticated(c);
        self.cpu_submit(now, work, out);
    }

    /// The clients speak TLS ([client.tls]): the server's handshake CPU
    /// and whether it sends `close_notify` before its clean closes.
    pub fn set_tls(&mut self, tls: ServerTls) {
        self.tls = Some(tls);
    }

    /// A proxy authenticated after the greeting: the connection attempt
    /// succeeded (no CPU work at the server).
    pub fn on_login(&mut self, now: SimTime, c: ConnRef<S>) {
        if let Some(conn) = self.conns.get_mut(c) {
            conn.last_activity = now;
            self.authenticated(c);
        }
    }

    /// The first request means the client authenticated: a successful
    /// connection resets its host's count of interrupted attempts.
    fn authenticated(&mut self, c: ConnRef<S>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        if !conn.established {
            conn.established = true;
            let key = conn.host_key;
            self.host_errors.remove(&key);
        }
    }

    /// Real code wrote `bytes` on connection `c`: decode them into requests
    /// with the connection's wire codec.
    pub fn on_bytes(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        bytes: &[u8],
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(mut wc) = self.conns.get_mut(c).and_then(|k| k.wire.take()) else {
            return;
        };
        let mut items = Vec::new();
        let res = wc.feed(bytes, &mut items);
        let mut close = false;
        let mut n = 0;
        for item in items {
            match item {
                WireItem::Request { op, reply } => {
                    let (code, key, write) = match op {
                        wire::Op::Ping => (OP_PING, 0, None),
                        wire::Op::Read(k) => (OP_READ, self.wire_data.key(&k), None),
                        wire::Op::Write(k, v) => (OP_WRITE, self.wire_data.key(&k), Some(v)),
                        wire::Op::Begin => (OP_BEGIN, 0, None),
                        wire::Op::Commit => (OP_COMMIT, 0, None),
                        wire::Op::Rollback => (OP_ROLLBACK, 0, None),
                    };
                    let p = MSG_REQUEST | (code << 8) | (key << 16);
                    wc.pending.push_back((reply, write));
                    let Some(conn) = self.conns.get_mut(c) else {
                        return;
                    };
                    conn.pending += 1;
                    conn.ops.push_back(p);
                    n += 1;
                }
                WireItem::Close => {
                    close = true;
                    break;
                }
            }
        }
        let proto = wc.proto;
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let s = conn.sock;
        conn.wire = Some(wc);
        conn.last_activity = now;
        self.authenticated(c);
        for _ in 0..n {
            self.cpu_submit(now, Work::Request(c), out);
        }
        if let Err(wire::ProtocolError(text)) = res {
            if let Some(b) = wire::server_error(proto, "08P01", &text) {
                send(out, s, Out::Bytes(b), None);
            }
            self.close(now, c, format!("protocol error: {text}").into(), false, out);
            return;
        }
        if close {
            self.close(
                now,
                c,
                "the client ended the session (QUIT / Terminate)".into(),
                false,
                out,
            );
        }
    }

    /// The connection ended from the client's side (EOF, an error, a
    /// reset).
    pub fn on_client_gone(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        why: Cow<'static, str>,
        out: &mut Vec<Effect<S>>,
    ) {
        if let Some((false, key)) = self.conn(c).map(|c| (c.established, c.host_key)) {
            // Ended before the handshake completed: an interrupted attempt.
            self.connect_error(key, &why, out);
        }
        self.close(now, c, why, false, out);
    }

    /// Writing an answer on connection `c` failed.
    pub fn send_failed(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        errno: thaw_net::Errno,
        out: &mut Vec<Effect<S>>,
    ) {
        if self.conn(c).is_some() {
            self.close(
                now,
                c,
                format!("write failed with {}", errno.name()).into(),
                false,
                out,
            );
        }
    }

    /// The client's environment froze or was reaped (`true`), or thawed:
    /// its connections are zombies meanwhile. Returns whether it changed.
    pub fn set_zombie(&mut self, c: ConnRef<S>, zombie: bool) -> bool {
        match self.conns.get_mut(c) {
            Some(conn) if conn.zombie != zombie => {
                conn.zombie = zombie;
                true
            }
            _ => false,
        }
    }

    /// An administrator KILLs the connection (serverless-mysql's zombie
    /// cleanup).
    pub fn kill(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        why: &'static str,
        out: &mut Vec<Effect<S>>,
    ) {
        if self.conn(c).is_some() {
            self.totals.killed += 1;
            self.close_as(now, c, why.into(), false, true, out);
        }
    }

    /// A request of the HTTP API (no connection): runs in a short
    /// autocommit session of its own; returns the reply's value.
    pub fn http_request(&mut self, now: SimTime, p: u64) -> u64 {
        let session = self.cluster.open(
            now,
            thaw_db::SessionConfig {
                autocommit: true,
                isolation: self.sessions.isolation,
            },
        );
        let value = self.apply_op(now, session, p);
        self.cluster.close(now, session);
        value
    }

    // ----- CPU -------------------------------------------------------------

    /// The CPU a piece of work takes, drawn when it starts on a core (a
    /// distributed `service_time` draws once per request or hello).
    fn cpu_cost(&mut self, w: Work<S>) -> SimDuration {
        match w {
            Work::Accept(_) => self.cfg.accept_cpu,
            Work::Request(_) => self.cfg.service_time.sample(&mut self.rng),
            Work::TlsHello(_) => {
                self.cfg.service_time.sample(&mut self.rng)
                    + self.tls.map_or(SimDuration::ZERO, |t| t.cpu)
            }
        }
    }

    fn cpu_submit(&mut self, now: SimTime, w: Work<S>, out: &mut Vec<Effect<S>>) {
        let cores = self.cfg.cores;
        if cores == 0 || self.cpu_busy < cores {
            self.cpu_busy += 1;
            out.push(Effect::Arm {
                at: now + self.cpu_cost(w),
                timer: Timer::WorkDone(w),
                lane: true,
            });
        } else {
            self.cpu_queue.push_back(w);
        }
    }

    // ----- accepting -------------------------------------------------------

    fn connect_error(&mut self, host_key: u32, why: &str, out: &mut Vec<Effect<S>>) {
        let limit = self.cfg.max_connect_errors;
        if limit == 0 {
            return;
        }
        let n = self.host_errors.entry(host_key).or_insert(0);
        *n += 1;
        let n = *n;
        if n >= limit && self.blocked_hosts.insert(host_key) && self.timeline {
            let text = format!(
                "{} blocks the functions' host after {n} interrupted connection attempts in a row (max_connect_errors = {limit}; last: {why}); until flushed it refuses them with 1129",
                self.cfg.name
            );
            self.trace(out, "host_blocked", vec![("errors", n.into())], text);
        }
    }

    /// Refuses a connection before the application holds it: the message
    /// (in the client's protocol), then close.
    fn reject(
        &mut self,
        s: S,
        wire: Option<Proto>,
        msg: u64,
        why: String,
        out: &mut Vec<Effect<S>>,
    ) {
        self.totals.rejected += 1;
        if self.timeline {
            self.trace(out, "reject", vec![("open", self.open.into())], why);
        }
        let data = match wire {
            Some(proto) => self.wire_message(proto, msg).map(Out::Bytes),
            None => Some(Out::Msg(msg)),
        };
        if let Some(data) = data {
            send(out, s, data, None);
        }
        out.push(Effect::Close {
            sock: s,
            abort: false,
            why: None,
            zombie: false,
        });
    }

    /// A core accepted the connection: limits, host cache, greeting.
    fn accept(&mut self, now: SimTime, s: S, p: Option<Pending>, out: &mut Vec<Effect<S>>) {
        // `None`: the client gave up and the socket is gone.
        let Some(Pending { peer, alive, wire }) = p else {
            return;
        };
        let host_key = self.host_key(peer);
        if !alive {
            // The client went away while the connection waited for accept().
            self.connect_error(host_key, "closed before it was accepted", out);
            out.push(Effect::Close {
                sock: s,
                abort: false,
                why: Some("the client left before the connection was accepted"),
                zombie: false,
            });
            return;
        }
        if self.blocked_hosts.contains(&host_key) {
            let why = format!(
                "{} refuses {}: host blocked (max_connect_errors); sends 1129 and closes",
                self.cfg.name,
                self.peer_name(peer)
            );
            self.reject(s, wire, MSG_ERR_HOST_BLOCKED, why, out);
            return;
        }
        let open = self.open;
        match (self.cfg.soft_limit, self.cfg.hard_limit) {
            (Some(soft), Some(hard)) => {
                if open >= hard as u64 {
                    let why = format!(
                        "{} refuses {}: {open} connections open = hard limit {hard}",
                        self.cfg.name,
                        self.peer_name(peer)
                    );
                    self.reject(s, wire, MSG_ERR_MAXCLIENTS, why, out);
                    return;
                }
                if open >= soft as u64 {
                    self.evict_idle(now, open + 1 - soft as u64, out);
                }
            }
            _ => {
                let limit = self.cfg.client_limit() as u64;
                if open >= limit {
                    let why = format!(
                        "{} refuses {}: {open} connections open = max_connections {}{}; sends \"{}\" and closes",
                        self.cfg.name,
                        self.peer_name(peer),
                        self.cfg.max_connections,
                        if self.cfg.reserved_connections > 0 {
                            format!(" − {} reserved", self.cfg.reserved_connections)
                        } else {
                            String::new()
                        },
                        too_many_text(self.cfg.kind, self.cfg.reserved_connections)
                    );
                    self.reject(s, wire, MSG_ERR_MAXCLIENTS, why, out);
                    return;
                }
            }
        }
        let session = self.cluster.open(
            now,
            thaw_db::SessionConfig {
                autocommit: self.sessions.autocommit,
                isolation: self.sessions.isolation,
            },
        );
        let c = self.conns.insert(Conn {
            sock: s,
            peer,
            last_activity: now,
            pending: 0,
            idle_gen: 0,
            zombie: false,
            established: !self.cfg.handshake,
            host_key,
            session,
            ops: VecDeque::new(),
            wire: wire.map(|p| Box::new(WireConn::new(p))),
            tls: false,
        });
        self.open += 1;
        self.peak = self.peak.max(self.open);
        out.push(Effect::Accepted {
            conn: c,
            sock: s,
            peer,
        });
        if self.timeline {
            let name = &self.cfg.name;
            let text = format!(
                "{name} accepts {} ({} connection(s) open)",
                self.peer_name(peer),
                self.open
            );
            self.trace(out, "accept", vec![("open", self.open.into())], text);
        }
        if self.cfg.handshake && wire.is_none() {
            send(out, s, Out::Msg(MSG_HELLO), None);
            if let Some(t) = self.cfg.handshake_timeout {
                out.push(Effect::Arm {
                    at: now + t,
                    timer: Timer::Handshake { conn: c },
                    lane: true,
                });
            }
        }
        self.arm_idle(now, c, now, out);
        out.push(Effect::ReadNow { conn: c, sock: s });
    }

    /// Upstash: between the soft and the hard limit, evict idle connections
    /// (longest idle first), `n` of them at most.
    fn evict_idle(&mut self, now: SimTime, n: u64, out: &mut Vec<Effect<S>>) {
        let min_idle = self.cfg.evict_min_idle;
        let mut idle: Vec<(SimTime, u32, ConnRef<S>, Addr)> =
            self.conns
                .iter()
                .filter_map(|(r, c)| {
                    (c.pending == 0 && now.saturating_since(c.last_activity) >= min_idle)
                        .then_some((c.last_activity, r.index(), r, c.peer))
                })
                .collect();
        idle.sort_by_key(|(t, i, ..)| (*t, *i));
        for (last, _, c, peer) in idle.into_iter().take(n as usize) {
            self.totals.evicted += 1;
            if self.timeline {
                let text = format!(
                    "{} is above its soft limit: evicts the connection from {} (idle {})",
                    self.cfg.name,
                    self.peer_name(peer),
                    now.saturating_since(last)
                );
                self.trace(
                    out,
                    "evict",
                    vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                    text,
                );
            }
            self.close_as(
                now,
                c,
                "evicted: idle while above the soft limit".into(),
                false,
                true,
                out,
            );
        }
    }

    /// The client did not answer the greeting in time: "Bad handshake"
    /// (MySQL `connect_timeout`); an interrupted connection for its host.
    fn on_handshake_timeout(&mut self, now: SimTime, c: ConnRef<S>, out: &mut Vec<Effect<S>>) {
        let Some((false, key, peer)) = self.conn(c).map(|c| (c.established, c.host_key, c.peer))
        else {
            return;
        };
        if self.timeline {
            let t = self.cfg.handshake_timeout.unwrap_or_default();
            let text = format!(
                "{} aborts the connection from {}: no answer to its greeting within connect_timeout {t} (Bad handshake)",
                self.cfg.name,
                self.peer_name(peer)
            );
            self.trace(out, "bad_handshake", vec![], text);
        }
        self.connect_error(key, "bad handshake (connect_timeout)", out);
        self.close_as(now, c, "bad handshake".into(), false, true, out);
    }

    // ----- idle timeouts ---------------------------------------------------

    /// The idle limit that applies to connection `c` now: the idle
    /// timeout, or the (shorter) idle-in-transaction timeout while its
    /// session has an open transaction. `true` = the transaction limit.
    fn idle_limit(&self, c: ConnRef<S>) -> Option<(SimDuration, bool)> {
        let conn = self.conn(c)?;
        let in_tx = self
            .cluster
            .primary()
            .transaction_open_since(conn.session)
            .is_some();
        self.idle_limit_in(in_tx)
    }

    /// The idle limit of a connection, asking the database whether a
    /// transaction is open only when that can matter: without
    /// `idle_in_transaction_timeout` the limit is `idle_timeout` either
    /// way (the lookup on every arming of the idle timer was ~1 % of a
    /// run).
    fn idle_timeout_of(&self, c: ConnRef<S>) -> Option<(SimDuration, bool)> {
        if self.cfg.idle_in_transaction_timeout.is_some() {
            return self.idle_limit(c);
        }
        self.conn(c)?;
        self.idle_limit_in(false)
    }

    /// When a connection last active at `last` is closed by the limit `t`
    /// (`in_tx`: the idle-in-transaction one, a per-backend timer). With
    /// `idle_check_interval` = i the idle check runs on a clock of whole
    /// intervals: Redis's clientsCron() closes a client when
    /// `server.unixtime − c->lastinteraction > timeout` in whole seconds, so
    /// at the first whole second past last + timeout + (part of a second).
    fn idle_due(&self, last: SimTime, t: SimDuration, in_tx: bool) -> SimTime {
        match self.cfg.idle_check_interval {
            Some(i) if !in_tx && !i.is_zero() => {
                let i = i.as_nanos();
                let units = (last.as_nanos() / i)
                    .saturating_add(t.as_nanos() / i)
                    .saturating_add(1);
                SimTime::from_nanos(units.saturating_mul(i)).max(last + t)
            }
            _ => last + t,
        }
    }

    /// The limit that applies, and whether it is the transaction one.
    fn idle_limit_in(&self, in_tx: bool) -> Option<(SimDuration, bool)> {
        let idle = self.cfg.idle_timeout.map(|t| (t, false));
        let tx = self
            .cfg
            .idle_in_transaction_timeout
            .filter(|_| in_tx)
            .map(|t| (t, true));
        match (idle, tx) {
            (Some(a), Some(b)) => Some(if b.0 <= a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    fn arm_idle(&mut self, now: SimTime, c: ConnRef<S>, from: SimTime, out: &mut Vec<Effect<S>>) {
        let Some((t, in_tx)) = self.idle_timeout_of(c) else {
            return;
        };
        let due = self.idle_due(from, t, in_tx);
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.idle_gen += 1;
        let gen = conn.idle_gen;
        out.push(Effect::Arm {
            at: due,
            timer: Timer::Idle { conn: c, gen },
            // A re-check after activity, or a check on the interval clock:
            // its delay is one of a kind.
            lane: from == now && due == from + t,
        });
    }

    fn on_idle(&mut self, now: SimTime, c: ConnRef<S>, gen: u32, out: &mut Vec<Effect<S>>) {
        let Some((t, in_tx)) = self.idle_limit(c) else {
            return;
        };
        let Some(conn) = self.conn(c) else { return };
        if conn.idle_gen != gen {
            return;
        }
        let (last, pending, peer, s) = (conn.last_activity, conn.pending, conn.peer, conn.sock);
        if pending > 0 {
            // Busy, not idle: the timer is re-armed when the last pending
            // request is answered (`answer`), not polled every period (a
            // request queued behind centuries of CPU work would poll
            // millions of times).
            return;
        }
        if now < self.idle_due(last, t, in_tx) {
            // Active since the timer was armed: due again `t` after the
            // last activity.
            self.arm_idle(now, c, last, out);
            return;
        }
        let with_error = self.cfg.idle_close_error || in_tx;
        let (msg, text, what) = if in_tx {
            (
                MSG_ERR_IDLE_IN_TX,
                idle_in_tx_text(self.cfg.kind),
                "idle_in_transaction_timeout",
            )
        } else {
            (MSG_ERR_IDLE, idle_close_text(self.cfg.kind), "idle_timeout")
        };
        if self.timeline {
            let line = format!(
                "{} closes the connection from {}: idle for {} ≥ {what} {t}{}{}",
                self.cfg.name,
                self.peer_name(peer),
                now.saturating_since(last),
                if with_error {
                    format!("; it first sends \"{text}\"")
                } else {
                    String::new()
                },
                match self.cfg.idle_close {
                    IdleClose::Fin => "",
                    IdleClose::Rst => " (abortive close: SO_LINGER 0, RST)",
                }
            );
            self.trace(
                out,
                "idle_close",
                vec![
                    ("idle_ns", now.saturating_since(last).as_nanos().into()),
                    ("in_transaction", in_tx.into()),
                ],
                line,
            );
        }
        if with_error {
            let data = match self.wire_proto(c) {
                Some(proto) => self.wire_message(proto, msg).map(Out::Bytes),
                None => Some(Out::Msg(msg)),
            };
            if let Some(data) = data {
                send(out, s, data, None);
            }
        }
        let why = if in_tx {
            "idle in transaction"
        } else {
            "idle timeout"
        };
        let abort = match self.cfg.idle_close {
            IdleClose::Fin => false,
            IdleClose::Rst => true,
        };
        self.close_as(now, c, why.into(), abort, true, out);
    }

    // ----- requests --------------------------------------------------------

    /// Runs a request's operation on the data; returns the reply's value.
    fn apply_op(&mut self, now: SimTime, session: thaw_db::SessionId, p: u64) -> u64 {
        let (code, key) = decode_request(p);
        let commit = |r: Option<thaw_db::CommitRecord>| encode_version(r.map(|c| c.version));
        match code {
            OP_READ => {
                let r = self
                    .cluster
                    .read(now, session, key, self.sessions.read_routing);
                encode_version(r.result.version)
            }
            OP_WRITE => commit(self.cluster.write(now, session, key)),
            OP_BEGIN => commit(self.cluster.begin(now, session)),
            OP_COMMIT => commit(self.cluster.commit(now, session)),
            OP_ROLLBACK => {
                self.cluster.rollback(now, session);
                0
            }
            _ => 0,
        }
    }

    fn answer(&mut self, now: SimTime, c: ConnRef<S>, out: &mut Vec<Effect<S>>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.pending -= 1;
        let s = conn.sock;
        let session = conn.session;
        let op = conn.ops.pop_front().unwrap_or(MSG_REQUEST);
        let peer = conn.peer;
        let wired = conn.wire.is_some();
        if msg_kind(op) == MSG_REQUEST && decode_request(op).0 == OP_QUIT {
            // COM_QUIT / Terminate / QUIT: the session ends and the server
            // closes the connection, a clean close of its own.
            self.close_as(
                now,
                c,
                "the client ended the session (QUIT)".into(),
                false,
                true,
                out,
            );
            return;
        }
        let value = self.apply_op(now, session, op);
        if msg_kind(op) == MSG_REQUEST {
            let (code, key) = decode_request(op);
            if code == OP_WRITE {
                // Applied = committed now (autocommit); a write inside a
                // transaction is applied by its COMMIT.
                let committed = decode_version(value).is_some_and(|v| v != thaw_db::UNCOMMITTED);
                out.push(Effect::Wrote {
                    peer,
                    key,
                    committed,
                });
            }
        }
        // The transaction status rides on every reply; only a proxy and a
        // wire client (PostgreSQL's ReadyForQuery) read it.
        let in_tx = (self.tx_status || wired)
            && self
                .cluster
                .primary()
                .status(session)
                .is_some_and(|st| st.tx.is_some());
        let data = if wired {
            Out::Bytes(self.wire_answer(c, op, value, in_tx))
        } else {
            Out::Msg(encode_response(value, in_tx))
        };
        send(out, s, data, Some(c));
        let idle_now = match self.conns.get_mut(c) {
            Some(conn) => {
                conn.last_activity = now;
                conn.pending == 0
            }
            None => false,
        };
        if idle_now || self.cfg.idle_in_transaction_timeout.is_some() {
            // Idle from now on (the timer waited for the answer), or the
            // transaction opened or ended and the limit that applies may
            // have changed.
            self.arm_idle(now, c, now, out);
        }
    }

    /// Ends the connection: its session ends (an open transaction rolls
    /// back) and the socket is closed.
    fn close(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        why: Cow<'static, str>,
        abort: bool,
        out: &mut Vec<Effect<S>>,
    ) {
        self.close_as(now, c, why, abort, false, out);
    }

    /// `close` by the application's own decision (`clean`: an idle
    /// timeout, an eviction, a KILL, a handshake timeout), which with TLS
    /// sends `close_notify` first.
    fn close_as(
        &mut self,
        now: SimTime,
        c: ConnRef<S>,
        why: Cow<'static, str>,
        abort: bool,
        clean: bool,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(conn) = self.conns.remove(c) else {
            return;
        };
        self.cluster.close(now, conn.session);
        self.open -= 1;
        // The application's own clean close of a TLS session: SSL_shutdown
        // sends close_notify first (PostgreSQL's secure_close, Redis's
        // connTLSClose). Not when the process ends or the peer is gone.
        if clean
            && !abort
            && conn.tls
            && conn.wire.is_none()
            && self.tls.is_some_and(|t| t.close_notify)
        {
            out.push(Effect::CloseNotify { sock: conn.sock });
        }
        out.push(match why {
            Cow::Borrowed(why) => Effect::Close {
                sock: conn.sock,
                abort,
                why: Some(why),
                zombie: conn.zombie,
            },
            Cow::Owned(why) => Effect::CloseWhy(Box::new((conn.sock, abort, why, conn.zombie))),
        });
    }

    // ----- wire protocol ---------------------------------------------------

    /// The bytes that answer a wire request after the model ran it.
    fn wire_answer(&mut self, c: ConnRef<S>, op: u64, value: u64, in_tx: bool) -> Vec<u8> {
        let Some(wc) = self.conns.get_mut(c).and_then(|k| k.wire.as_mut()) else {
            return Vec::new();
        };
        let data = &mut self.wire_data;
        let (reply, write) = wc
            .pending
            .pop_front()
            .unwrap_or((wire::Reply::Simple("OK"), None));
        let (code, key) = decode_request(op);
        let version = decode_version(value);
        let read = match (code, version) {
            (OP_WRITE, Some(v)) => {
                data.store(key, v, write.flatten());
                None
            }
            (OP_READ, Some(v)) => data.load(key, v),
            _ => None,
        };
        wc.reply(&reply, read.as_deref(), in_tx)
    }

    /// What a server sends a wire client for a model message before it
    /// closes (`None`: nothing; Redis closes an idle client silently).
    fn wire_message(&self, proto: Proto, msg: u64) -> Option<Vec<u8>> {
        let kind = self.cfg.kind;
        let (code, text) = match msg {
            MSG_ERR_MAXCLIENTS => match kind {
                ServerKind::Postgres => (
                    "53300",
                    too_many_text(kind, self.cfg.reserved_connections)
                        .trim_start_matches("FATAL 53300: "),
                ),
                _ => ("", "ERR max number of clients reached"),
            },
            MSG_ERR_IDLE => match kind {
                ServerKind::Postgres => (
                    "57P05",
                    "terminating connection due to idle-session timeout",
                ),
                _ => (
                    "",
                    "ERR connection closed by the server after its idle timeout",
                ),
            },
            MSG_ERR_IDLE_IN_TX => match kind {
                ServerKind::Postgres => (
                    "25P03",
                    "terminating connection due to idle-in-transaction timeout",
                ),
                _ => (
                    "",
                    "ERR connection closed by the server: idle in a transaction too long",
                ),
            },
            MSG_ERR_HOST_BLOCKED => ("", "ERR host blocked"),
            // The greeting of a server that speaks first: not in RESP or
            // PostgreSQL (the client speaks first).
            _ => return None,
        };
        wire::server_error(proto, code, text)
    }
}
