//! A connection proxy between the functions and one server, as a sans-IO
//! model: Amazon RDS Proxy (AWS-Proxy) or PgBouncer (PgB; both in
//! docs/sources.md).
//!
//! The functions connect to the proxy over the usual path (links and the
//! middleboxes); the proxy opens its own TCP connections to the server over
//! a link of its own (`proxy.server_latency`). Both sides are real sockets
//! of the World, so a frozen or reaped function's connection is a zombie at
//! the proxy exactly as it would be at a server.
//!
//! Database ("backend") connections are opened on demand, up to a bound,
//! and lent to clients:
//! - RDS Proxy lends one per transaction (autocommit statements: per
//!   request) unless the session is pinned (a request with `pin = true`:
//!   SET, prepared statement, temporary table...), which keeps it with the
//!   client connection until that ends.
//! - PgBouncer, in session mode, assigns one at the client's first query
//!   until the client disconnects; in transaction mode, per transaction.
//!   PgBouncer never pins: session state leaks to the next client.
//!
//! Whether a transaction is open is read from the server's reply (its
//! transaction status, as PostgreSQL's ReadyForQuery or MySQL's
//! SERVER_STATUS_IN_TRANS). Requests wait in FIFO order; idle backends are
//! reused last-in first-out (PgBouncer's default, `server_round_robin = 0`).
//! The proxy's own CPU and its accept queue are not modelled.
//!
//! Like the server model, it owns no socket and no clock: the World hands
//! it what happened with the time and carries out its [`Effect`]s in order.

use crate::config::{PoolMode, ProxyConfig, ProxyKind, ServerConfig, PGBOUNCER_JANITOR};
use crate::msg::*;
use crate::report::ErrorKind;
pub(crate) use crate::server::TraceLine;
use std::borrow::Cow;
use std::collections::VecDeque;
use thaw_core::{SimDuration, SimTime, SlotRef, Slots, Value};
use thaw_net::{Addr, Errno};

/// A client connection in the proxy's arena.
pub(crate) type ClientRef<S> = SlotRef<Client<S>>;
/// A backend (database) connection in the proxy's arena.
pub(crate) type BackendRef<S> = SlotRef<Backend<S>>;

/// A client connection the proxy holds.
pub(crate) struct Client<S> {
    sock: S,
    peer: Addr,
    /// The backend lent or assigned to this client.
    backend: Option<BackendRef<S>>,
    /// RDS Proxy pinned the session to its backend.
    pinned: bool,
    /// The server reported an open transaction after the last reply.
    in_tx: bool,
    /// Requests read and not yet forwarded.
    queued: VecDeque<u64>,
    /// The request forwarded to the backend, awaiting its reply.
    inflight: Option<u64>,
    /// Waiting for a backend since.
    wait_since: Option<SimTime>,
    wait_gen: u32,
    last_activity: SimTime,
    idle_gen: u32,
    zombie: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BackendState {
    /// TCP handshake in progress.
    Connecting,
    /// Waiting for the server's greeting.
    Greeting,
    /// Usable.
    Ready,
}

/// One of the proxy's connections to the server.
pub(crate) struct Backend<S> {
    /// Its socket, once the World has opened it.
    sock: Option<S>,
    /// Its local port (for the timeline).
    port: u16,
    /// Number shown in the timeline (#1, #2, ...).
    id: u64,
    state: BackendState,
    client: Option<ClientRef<S>>,
    opened_at: SimTime,
    idle_since: SimTime,
    idle_gen: u32,
    /// The server's last error message on this connection.
    last_error: Option<u64>,
    /// Backends open and requests waiting when it was opened (for the
    /// timeline line written once the World has given it a socket).
    opened_with: (u32, usize),
}

/// How a backend came to be free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freed {
    /// Just opened.
    New,
    /// Given back by a client.
    Returned,
}

/// A timer the proxy asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timer<S> {
    /// A client's wait for a backend is over (borrow timeout).
    Wait { client: ClientRef<S>, gen: u32 },
    /// Check whether a client connection has been idle too long.
    ClientIdle { client: ClientRef<S>, gen: u32 },
    /// Check an idle backend (idle timeout, lifetime).
    BackendIdle { backend: BackendRef<S>, gen: u32 },
}

/// Whose connection a failed write ends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OnFail<S> {
    /// A request forwarded on this backend.
    Backend(BackendRef<S>),
    /// A reply relayed to this client.
    Client(ClientRef<S>),
}

/// What the World does for the proxy, in order.
#[derive(Debug)]
pub(crate) enum Effect<S> {
    /// Run `timer` at `at` (delays one of a kind: the queue's heap).
    Arm { at: SimTime, timer: Timer<S> },
    /// Write a model message on the socket; if that fails, tell
    /// [`Proxy::send_failed`] about `fail`.
    Send {
        sock: S,
        msg: u64,
        fail: Option<OnFail<S>>,
    },
    /// `close()` the socket, with a timeline line saying why.
    Close { sock: S, why: Cow<'static, str> },
    /// Refuse a client connection: `close()` after the message, untraced.
    Refuse { sock: S },
    /// The socket is now this client connection of the proxy.
    Accepted { client: ClientRef<S>, sock: S },
    /// Read what arrived while the connection waited to be accepted.
    ReadNow { client: ClientRef<S>, sock: S },
    /// Open a connection to the server for this backend: the World gives
    /// it a socket ([`Proxy::backend_socket`]), then sends the SYN.
    Open { backend: BackendRef<S> },
    /// A write request moves from the client's connection to the backend's
    /// (the World's bookkeeping of retried writes).
    CarryWrite { client: S, backend: S },
    /// Something changed now (the run's end is the last such time).
    Touch,
    /// A timeline line.
    Trace(Box<TraceLine>),
}

/// The proxy's figures for the report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProxyTotals {
    pub backend_peak: u64,
    pub client_peak: u64,
    pub borrow_timeouts: u64,
    pub pinned: u64,
    pub zombie_ns: u128,
}

/// The proxy's state.
pub(crate) struct Proxy<S> {
    pub(crate) cfg: ProxyConfig,
    /// Where it listens.
    pub(crate) addr: Addr,
    /// The server it fronts.
    pub(crate) server_addr: Addr,
    server_name: String,
    /// The server's configuration, for the texts of its refusals.
    server_cfg: ServerConfig,
    /// The server speaks first (greeting), so the proxy greets its clients
    /// and authenticates on its backends.
    server_handshake: bool,
    timeline: bool,
    /// Most backends open at once.
    bound: u32,
    /// Most idle backends kept (RDS Proxy MaxIdleConnectionsPercent).
    idle_cap: u32,
    /// PgBouncer: when a backend was last closed for its lifetime
    /// (`pool->last_lifetime_disconnect`, from time 0 as in PgBouncer).
    last_lifetime_close: SimTime,
    /// The server's max_connections, for explanations.
    server_max: u32,
    clients: Slots<Client<S>>,
    backends: Slots<Backend<S>>,
    /// Idle backends; the last is the most recently returned.
    idle: Vec<BackendRef<S>>,
    /// Clients waiting for a backend, oldest first.
    waiters: VecDeque<ClientRef<S>>,
    /// Backends open (connecting included).
    open: u32,
    /// Backends not yet usable (TCP handshake or greeting).
    connecting: u32,
    clients_open: u32,
    /// Where the World's search for a free local port starts.
    pub(crate) next_port: u16,
    next_backend_id: u64,
    backend_peak: u64,
    client_peak: u64,
    borrow_timeouts: u64,
    pinned: u64,
    zombies: u64,
    zombie_ns: u128,
    zombie_mark: SimTime,
}

impl<S: Copy + Eq + std::fmt::Debug> Proxy<S> {
    /// A proxy listening on `addr` in front of `server` at `server_addr`.
    pub fn new(
        cfg: ProxyConfig,
        server: &ServerConfig,
        addr: Addr,
        server_addr: Addr,
        first_port: u16,
        timeline: bool,
    ) -> Proxy<S> {
        let bound = cfg.backend_bound(server);
        let idle_cap = match cfg.kind {
            ProxyKind::RdsProxy(r) => {
                (server.max_connections as u64 * r.max_idle_connections_percent as u64 / 100) as u32
            }
            ProxyKind::PgBouncer(_) => bound,
        };
        Proxy {
            addr,
            server_addr,
            server_name: server.name.clone(),
            server_cfg: server.clone(),
            server_handshake: server.handshake,
            timeline,
            cfg,
            bound,
            idle_cap,
            last_lifetime_close: SimTime::ZERO,
            server_max: server.max_connections,
            clients: Slots::new(),
            backends: Slots::new(),
            idle: Vec::new(),
            waiters: VecDeque::new(),
            open: 0,
            connecting: 0,
            clients_open: 0,
            next_port: first_port,
            next_backend_id: 1,
            backend_peak: 0,
            client_peak: 0,
            borrow_timeouts: 0,
            pinned: 0,
            zombies: 0,
            zombie_ns: 0,
            zombie_mark: SimTime::ZERO,
        }
    }

    fn account(&mut self, now: SimTime) {
        let dt = now.saturating_since(self.zombie_mark).as_nanos() as u128;
        self.zombie_ns += dt * self.zombies as u128;
        self.zombie_mark = now;
    }

    pub fn totals(&mut self, end: SimTime) -> ProxyTotals {
        self.account(end);
        ProxyTotals {
            backend_peak: self.backend_peak,
            client_peak: self.client_peak,
            borrow_timeouts: self.borrow_timeouts,
            pinned: self.pinned,
            zombie_ns: self.zombie_ns,
        }
    }

    /// Does a client still exist?
    pub fn has_client(&self, c: ClientRef<S>) -> bool {
        self.clients.get(c).is_some()
    }

    /// Does a backend still exist?
    pub fn has_backend(&self, b: BackendRef<S>) -> bool {
        self.backends.get(b).is_some()
    }

    /// What the client library prints for the proxy's own errors.
    pub fn error_text(&self, msg: u64) -> (ErrorKind, &'static str) {
        let rds = matches!(self.cfg.kind, ProxyKind::RdsProxy(_));
        match msg {
            MSG_ERR_PROXY_FULL => (
                ErrorKind::TooManyConnections,
                "no more connections allowed (max_client_conn)",
            ),
            MSG_ERR_POOL_TIMEOUT if rds => (
                ErrorKind::PoolTimeout,
                "Timed-out waiting to acquire database connection",
            ),
            MSG_ERR_POOL_TIMEOUT => (ErrorKind::PoolTimeout, "query_wait_timeout"),
            _ => (ErrorKind::ServerIdleClosed, "client_idle_timeout"),
        }
    }

    fn wait_timeout(&self) -> Option<SimDuration> {
        match self.cfg.kind {
            ProxyKind::RdsProxy(r) => r.connection_borrow_timeout,
            ProxyKind::PgBouncer(p) => p.query_wait_timeout,
        }
    }

    fn wait_timeout_name(&self) -> &'static str {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => "ConnectionBorrowTimeout",
            ProxyKind::PgBouncer(_) => "query_wait_timeout",
        }
    }

    fn client_idle_timeout(&self) -> Option<SimDuration> {
        match self.cfg.kind {
            ProxyKind::RdsProxy(r) => Some(r.idle_client_timeout),
            ProxyKind::PgBouncer(p) => p.client_idle_timeout,
        }
    }

    fn client_idle_name(&self) -> &'static str {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => "IdleClientTimeout",
            ProxyKind::PgBouncer(_) => "client_idle_timeout",
        }
    }

    fn max_clients(&self) -> Option<u32> {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => None,
            ProxyKind::PgBouncer(p) => Some(p.max_client_conn),
        }
    }

    /// "database connection" (RDS Proxy) or "server connection" (PgBouncer).
    fn noun(&self) -> &'static str {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => "database connection",
            ProxyKind::PgBouncer(_) => "server connection",
        }
    }

    fn bound_text(&self) -> String {
        match self.cfg.kind {
            ProxyKind::RdsProxy(r) => format!(
                "MaxConnectionsPercent {}% of max_connections {} = {}",
                r.max_connections_percent, self.server_max, self.bound
            ),
            ProxyKind::PgBouncer(_) => format!("default_pool_size {}", self.bound),
        }
    }

    /// When a timeout due at `deadline` is acted on: at once for RDS
    /// Proxy; at PgBouncer's next janitor run strictly after it (its
    /// checks are `age > timeout`, every 1/3 s). A janitor run past the
    /// end of time is `SimTime::MAX`: never.
    fn due(&self, deadline: SimTime) -> SimTime {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => deadline,
            ProxyKind::PgBouncer(_) => {
                let p = PGBOUNCER_JANITOR.as_nanos();
                (deadline.as_nanos() / p + 1)
                    .checked_mul(p)
                    .map_or(SimTime::MAX, SimTime::from_nanos)
            }
        }
    }

    /// Does the client keep its backend after a reply?
    fn holds(&self, c: &Client<S>) -> bool {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => c.pinned || c.in_tx,
            ProxyKind::PgBouncer(p) => match p.pool_mode {
                PoolMode::Session => true,
                PoolMode::Transaction => c.in_tx,
            },
        }
    }

    // ----- names and effects -------------------------------------------------

    fn peer_name(a: Addr) -> String {
        format!("env-{}:{}", a.host, a.port)
    }

    fn client_name(&self, c: ClientRef<S>) -> String {
        match self.clients.get(c) {
            Some(cl) => Self::peer_name(cl.peer),
            None => "a client".to_string(),
        }
    }

    fn backend_name(&self, b: BackendRef<S>) -> String {
        let noun = self.noun();
        match self.backends.get(b) {
            Some(be) => format!("{noun} #{} (:{})", be.id, be.port),
            None => noun.to_string(),
        }
    }

    fn server_addr_name(&self) -> String {
        format!("{}:{}", self.server_name, self.server_addr.port)
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

    fn send(out: &mut Vec<Effect<S>>, sock: S, msg: u64, fail: Option<OnFail<S>>) {
        out.push(Effect::Send { sock, msg, fail });
    }

    /// The client's environment froze or was reaped (`true`), or thawed.
    pub fn set_zombie(&mut self, now: SimTime, c: ClientRef<S>, zombie: bool) {
        let Some(cl) = self.clients.get_mut(c) else {
            return;
        };
        if cl.zombie == zombie {
            return;
        }
        cl.zombie = zombie;
        self.account(now);
        if zombie {
            self.zombies += 1;
        } else {
            self.zombies -= 1;
        }
    }

    // ----- client side -------------------------------------------------------

    /// A function's connection `s` from `peer` completed the TCP handshake
    /// at the proxy (`alive`: still ESTABLISHED with no error;
    /// `peer_frozen`: its environment is frozen or gone).
    pub fn on_accept(
        &mut self,
        now: SimTime,
        s: S,
        peer: Addr,
        alive: bool,
        peer_frozen: bool,
        out: &mut Vec<Effect<S>>,
    ) {
        if !alive {
            out.push(Effect::Close {
                sock: s,
                why: "the client left before the proxy accepted it".into(),
            });
            return;
        }
        let name = self.cfg.name.clone();
        let open = self.clients_open;
        if let Some(max) = self.max_clients().filter(|m| open >= *m) {
            if self.timeline {
                let text = format!(
                    "{name} refuses {}: {open} client connections = max_client_conn {max}; sends \"no more connections allowed (max_client_conn)\" and closes",
                    Self::peer_name(peer)
                );
                self.trace(out, "proxy_reject", vec![("clients", open.into())], text);
            }
            Self::send(out, s, MSG_ERR_PROXY_FULL, None);
            out.push(Effect::Refuse { sock: s });
            return;
        }
        let c = self.clients.insert(Client {
            sock: s,
            peer,
            backend: None,
            pinned: false,
            in_tx: false,
            queued: VecDeque::new(),
            inflight: None,
            wait_since: None,
            wait_gen: 0,
            last_activity: now,
            idle_gen: 0,
            zombie: false,
        });
        out.push(Effect::Accepted { client: c, sock: s });
        self.clients_open += 1;
        self.client_peak = self.client_peak.max(self.clients_open as u64);
        if peer_frozen {
            self.set_zombie(now, c, true);
        }
        if self.timeline {
            let n = self.clients_open;
            let when = match self.cfg.kind {
                ProxyKind::RdsProxy(_) => "one is lent per transaction when a request comes",
                ProxyKind::PgBouncer(p) => match p.pool_mode {
                    PoolMode::Session => {
                        "one is assigned at its first query, for the whole session"
                    }
                    PoolMode::Transaction => "one is lent per transaction when a query comes",
                },
            };
            let text = format!(
                "{name} accepts {} ({n} client connection(s); no {} yet: {when})",
                Self::peer_name(peer),
                self.noun()
            );
            self.trace(out, "proxy_accept", vec![("clients", n.into())], text);
        }
        if self.server_handshake {
            // The proxy authenticates clients itself and greets them.
            Self::send(out, s, MSG_HELLO, None);
        }
        self.arm_client_idle(c, now, out);
        out.push(Effect::ReadNow { client: c, sock: s });
    }

    /// A request arrived on client connection `c`.
    pub fn on_client_request(
        &mut self,
        now: SimTime,
        c: ClientRef<S>,
        p: u64,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(cl) = self.clients.get_mut(c) else {
            return;
        };
        cl.queued.push_back(p);
        cl.last_activity = now;
        self.client_request(now, c, out);
    }

    /// The client connection ended from the client's side.
    pub fn on_client_gone(
        &mut self,
        now: SimTime,
        c: ClientRef<S>,
        why: Cow<'static, str>,
        out: &mut Vec<Effect<S>>,
    ) {
        self.drop_client(now, c, None, why, out);
    }

    /// A write the proxy asked for failed.
    pub fn send_failed(
        &mut self,
        now: SimTime,
        fail: OnFail<S>,
        e: Errno,
        out: &mut Vec<Effect<S>>,
    ) {
        match fail {
            OnFail::Backend(b) => {
                let why = format!("write failed with {}", e.name());
                self.backend_lost(now, b, why.into(), out);
            }
            OnFail::Client(c) => {
                let why = format!("write to the client failed with {}", e.name());
                self.drop_client(now, c, None, why.into(), out);
            }
        }
    }

    /// The client has a request to run: forward it on its backend, or
    /// wait for one.
    fn client_request(&mut self, now: SimTime, c: ClientRef<S>, out: &mut Vec<Effect<S>>) {
        let Some(cl) = self.clients.get(c) else {
            return;
        };
        if cl.inflight.is_some() || cl.queued.is_empty() {
            return;
        }
        if cl.backend.is_some() {
            self.forward(c, out);
            return;
        }
        if cl.wait_since.is_some() {
            return;
        }
        let timeout = self.wait_timeout();
        let gen = {
            self.waiters.push_back(c);
            let cl = self.clients.get_mut(c).expect("checked");
            cl.wait_since = Some(now);
            cl.wait_gen += 1;
            cl.wait_gen
        };
        if let Some(t) = timeout {
            let at = self.due(now + t);
            out.push(Effect::Arm {
                at,
                timer: Timer::Wait { client: c, gen },
            });
        }
        self.pump(now, out);
        let still = self
            .clients
            .get(c)
            .is_some_and(|cl| cl.wait_since.is_some());
        let (open, bound, waiting, connecting) = (
            self.open,
            self.bound,
            self.waiters.len(),
            self.connecting as usize,
        );
        if still && waiting > connecting && self.timeline {
            let text = format!(
                "{}'s request waits for a {}: all {open} the proxy may open are in use ({}); {waiting} request(s) waiting{}",
                self.client_name(c),
                self.noun(),
                self.bound_text(),
                match timeout {
                    Some(t) => format!(", each for at most {t} ({})", self.wait_timeout_name()),
                    None => String::new(),
                }
            );
            self.trace(
                out,
                "proxy_wait",
                vec![
                    ("open", open.into()),
                    ("bound", bound.into()),
                    ("waiting", waiting.into()),
                ],
                text,
            );
        }
    }

    /// Hands idle backends to waiting clients, and opens backends for
    /// waiters no opening backend will serve, up to the bound.
    fn pump(&mut self, now: SimTime, out: &mut Vec<Effect<S>>) {
        while !self.waiters.is_empty() && !self.idle.is_empty() {
            let c = self.waiters.pop_front().expect("non-empty");
            let b = self.idle.pop().expect("non-empty");
            self.assign(now, b, c, out);
        }
        while self.waiters.len() > self.connecting as usize && self.open < self.bound {
            self.open_backend(now, out);
        }
    }

    /// Lends backend `b` to client `c` and forwards its request.
    fn assign(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        c: ClientRef<S>,
        out: &mut Vec<Effect<S>>,
    ) {
        let waited = {
            let cl = self.clients.get_mut(c).expect("waiter exists");
            cl.backend = Some(b);
            cl.wait_gen += 1;
            let waited = cl.wait_since.take().map(|t| now.saturating_since(t));
            let be = self.backends.get_mut(b).expect("backend exists");
            be.client = Some(c);
            be.idle_gen += 1;
            waited
        };
        if self.timeline {
            let how = match self.cfg.kind {
                ProxyKind::RdsProxy(_) => "lends",
                ProxyKind::PgBouncer(p) => match p.pool_mode {
                    PoolMode::Session => "assigns (for the whole client session)",
                    PoolMode::Transaction => "lends (for one transaction)",
                },
            };
            let text = format!(
                "{} {how} {} to {}{}",
                self.cfg.name,
                self.backend_name(b),
                self.client_name(c),
                match waited {
                    Some(w) if !w.is_zero() => format!(" (its request waited {w})"),
                    Some(_) | None => String::new(),
                }
            );
            self.trace(
                out,
                "proxy_borrow",
                vec![(
                    "waited_ns",
                    waited.map(|w| w.as_nanos()).unwrap_or(0).into(),
                )],
                text,
            );
        }
        self.forward(c, out);
    }

    /// Sends the client's next request on its backend.
    fn forward(&mut self, c: ClientRef<S>, out: &mut Vec<Effect<S>>) {
        let (p, b, cs) = {
            let Some(cl) = self.clients.get_mut(c) else {
                return;
            };
            if cl.inflight.is_some() {
                return;
            }
            let Some(b) = cl.backend else { return };
            let Some(p) = cl.queued.pop_front() else {
                return;
            };
            cl.inflight = Some(p);
            (p, b, cl.sock)
        };
        let Some(bs) = self.backends.get(b).and_then(|be| be.sock) else {
            return;
        };
        if decode_request(p).0 == OP_WRITE {
            out.push(Effect::CarryWrite {
                client: cs,
                backend: bs,
            });
        }
        if request_pins(p) {
            self.pin(c, b, out);
        }
        Self::send(out, bs, p, Some(OnFail::Backend(b)));
    }

    /// A request that changes session state went through.
    fn pin(&mut self, c: ClientRef<S>, b: BackendRef<S>, out: &mut Vec<Effect<S>>) {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => {
                let cl = self.clients.get_mut(c).expect("client exists");
                let newly = !cl.pinned;
                cl.pinned = true;
                if newly {
                    self.pinned += 1;
                }
                if newly && self.timeline {
                    let text = format!(
                        "{} pins {} to {}: the request changes session state (SET, prepared statement, temporary table...); the connection stays with this client until the client connection ends",
                        self.cfg.name,
                        self.client_name(c),
                        self.backend_name(b)
                    );
                    self.trace(out, "proxy_pin", vec![], text);
                }
            }
            ProxyKind::PgBouncer(pg) => match pg.pool_mode {
                PoolMode::Session => {}
                PoolMode::Transaction => {
                    if self.timeline {
                        let text = format!(
                            "{} does not pin (transaction pooling): the session state {} sets stays on {} and its next client inherits it",
                            self.cfg.name,
                            self.client_name(c),
                            self.backend_name(b)
                        );
                        self.trace(out, "proxy_no_pin", vec![], text);
                    }
                }
            },
        }
    }

    /// The proxy ends a client connection (or the client ended it): gives
    /// its backend back, or closes it if a transaction or request was
    /// open (the server rolls back).
    fn drop_client(
        &mut self,
        now: SimTime,
        c: ClientRef<S>,
        msg: Option<u64>,
        why: Cow<'static, str>,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(s) = self.clients.get(c).map(|cl| cl.sock) else {
            return;
        };
        if let Some(m) = msg {
            Self::send(out, s, m, None);
        }
        self.set_zombie(now, c, false);
        self.waiters.retain(|w| *w != c);
        self.clients_open -= 1;
        let cl = self.clients.remove(c).expect("client exists");
        out.push(Effect::Close { sock: s, why });
        if let Some(b) = cl.backend {
            if let Some(be) = self.backends.get_mut(b) {
                be.client = None;
            }
            if cl.inflight.is_some() || cl.in_tx {
                let why = if cl.inflight.is_some() {
                    "its client left with a request running"
                } else {
                    "its client left inside a transaction (the server rolls it back)"
                };
                self.close_backend(b, why, out);
            } else {
                if self.timeline {
                    let text = format!(
                        "{} takes back {} as the client connection from {} ends{}",
                        self.cfg.name,
                        self.backend_name(b),
                        Self::peer_name(cl.peer),
                        if cl.pinned { " (it was pinned)" } else { "" }
                    );
                    self.trace(out, "proxy_return", vec![], text);
                }
                self.backend_free(now, b, Freed::Returned, out);
            }
        }
        self.pump(now, out);
    }

    fn arm_client_idle(&mut self, c: ClientRef<S>, from: SimTime, out: &mut Vec<Effect<S>>) {
        let Some(t) = self.client_idle_timeout() else {
            return;
        };
        let at = self.due(from + t);
        let Some(cl) = self.clients.get_mut(c) else {
            return;
        };
        cl.idle_gen += 1;
        let gen = cl.idle_gen;
        out.push(Effect::Arm {
            at,
            timer: Timer::ClientIdle { client: c, gen },
        });
    }

    /// A timer the proxy armed came due.
    pub fn on_timer(&mut self, now: SimTime, timer: Timer<S>, out: &mut Vec<Effect<S>>) {
        match timer {
            Timer::Wait { client, gen } => self.on_wait_timeout(now, client, gen, out),
            Timer::ClientIdle { client, gen } => self.on_client_idle(now, client, gen, out),
            Timer::BackendIdle { backend, gen } => self.on_backend_idle(now, backend, gen, out),
        }
    }

    fn on_client_idle(
        &mut self,
        now: SimTime,
        c: ClientRef<S>,
        gen: u32,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(t) = self.client_idle_timeout() else {
            return;
        };
        let Some(cl) = self.clients.get(c) else {
            return;
        };
        if cl.idle_gen != gen {
            return;
        }
        let (last, busy, peer, backend) = (
            cl.last_activity,
            cl.inflight.is_some() || cl.wait_since.is_some() || !cl.queued.is_empty(),
            cl.peer,
            cl.backend,
        );
        if busy {
            self.arm_client_idle(c, now, out);
            return;
        }
        if now.saturating_since(last) < t {
            self.arm_client_idle(c, last, out);
            return;
        }
        out.push(Effect::Touch);
        if self.timeline {
            let text = format!(
                "{} closes the client connection from {}: idle {} ≥ {} {t}{}",
                self.cfg.name,
                Self::peer_name(peer),
                now.saturating_since(last),
                self.client_idle_name(),
                match (self.cfg.kind, backend) {
                    (ProxyKind::RdsProxy(_), Some(b)) => {
                        format!("; {} goes back to the pool", self.backend_name(b))
                    }
                    (ProxyKind::RdsProxy(_), None) => String::new(),
                    (ProxyKind::PgBouncer(_), _) => {
                        "; it first sends \"client_idle_timeout\"".to_string()
                    }
                }
            );
            self.trace(
                out,
                "proxy_idle_close",
                vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                text,
            );
        }
        let msg = match self.cfg.kind {
            ProxyKind::RdsProxy(_) => None,
            ProxyKind::PgBouncer(_) => Some(MSG_ERR_PROXY_IDLE),
        };
        let why = format!("idle longer than {}", self.client_idle_name());
        self.drop_client(now, c, msg, why.into(), out);
    }

    fn on_wait_timeout(
        &mut self,
        now: SimTime,
        c: ClientRef<S>,
        gen: u32,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(cl) = self.clients.get(c) else {
            return;
        };
        let Some(since) = cl.wait_since.filter(|_| cl.wait_gen == gen) else {
            return;
        };
        let s = cl.sock;
        out.push(Effect::Touch);
        self.borrow_timeouts += 1;
        self.waiters.retain(|w| *w != c);
        {
            let cl = self.clients.get_mut(c).expect("checked");
            cl.wait_since = None;
            cl.queued.clear();
        }
        let t = self.wait_timeout().unwrap_or_default();
        if self.timeline {
            let (open, bound) = (self.open, self.bound);
            let text = match self.cfg.kind {
                ProxyKind::RdsProxy(_) => format!(
                    "{}: the request of {} waited {} for a {} (ConnectionBorrowTimeout {t}; {open} of {bound} open, all busy): answers \"Timed-out waiting to acquire database connection\"",
                    self.cfg.name,
                    self.client_name(c),
                    now.saturating_since(since),
                    self.noun(),
                ),
                ProxyKind::PgBouncer(_) => format!(
                    "{}: the query of {} waited {} for a {} (query_wait_timeout {t}; {open} of {bound} open, all busy): disconnects the client with \"query_wait_timeout\"",
                    self.cfg.name,
                    self.client_name(c),
                    now.saturating_since(since),
                    self.noun(),
                ),
            };
            self.trace(
                out,
                "proxy_borrow_timeout",
                vec![("waited_ns", now.saturating_since(since).as_nanos().into())],
                text,
            );
        }
        match self.cfg.kind {
            // The error answers the request; the connection stays.
            ProxyKind::RdsProxy(_) => Self::send(out, s, MSG_ERR_POOL_TIMEOUT, None),
            ProxyKind::PgBouncer(_) => self.drop_client(
                now,
                c,
                Some(MSG_ERR_POOL_TIMEOUT),
                "query_wait_timeout".into(),
                out,
            ),
        }
    }

    // ----- backend side ------------------------------------------------------

    /// Opens a new backend connection: the World gives it a socket.
    fn open_backend(&mut self, now: SimTime, out: &mut Vec<Effect<S>>) {
        let id = self.next_backend_id;
        self.next_backend_id += 1;
        self.open += 1;
        self.connecting += 1;
        self.backend_peak = self.backend_peak.max(self.open as u64);
        let b = self.backends.insert(Backend {
            sock: None,
            port: 0,
            id,
            state: BackendState::Connecting,
            client: None,
            opened_at: now,
            idle_since: now,
            idle_gen: 0,
            last_error: None,
            opened_with: (self.open, self.waiters.len()),
        });
        out.push(Effect::Open { backend: b });
    }

    /// The World opened backend `b`'s socket `s` on local `port`.
    pub fn backend_socket(&mut self, b: BackendRef<S>, s: S, port: u16, out: &mut Vec<Effect<S>>) {
        let Some(be) = self.backends.get_mut(b) else {
            return;
        };
        be.sock = Some(s);
        be.port = port;
        let (open, waiting) = be.opened_with;
        if self.timeline {
            let text = format!(
                "{} opens {} to {} ({open} of at most {} open: {}; {waiting} request(s) waiting)",
                self.cfg.name,
                self.backend_name(b),
                self.server_addr_name(),
                self.bound,
                self.bound_text(),
            );
            self.trace(out, "proxy_open", vec![("open", open.into())], text);
        }
    }

    /// No local port was free for backend `b`: it never opened.
    pub fn backend_not_opened(&mut self, b: BackendRef<S>) {
        let _ = self.forget_backend(b);
    }

    /// Backend `b` completed the TCP handshake.
    pub fn on_backend_connected(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(state) = self.backends.get(b).map(|be| be.state) else {
            return;
        };
        match state {
            BackendState::Connecting if self.server_handshake => {
                if let Some(be) = self.backends.get_mut(b) {
                    be.state = BackendState::Greeting;
                }
            }
            BackendState::Connecting => self.backend_ready(now, b, out),
            BackendState::Greeting | BackendState::Ready => {}
        }
    }

    /// A message from the server arrived on backend `b`.
    pub fn on_backend_msg(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        m: u64,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some((state, s)) = self.backends.get(b).map(|be| (be.state, be.sock)) else {
            return;
        };
        match m {
            MSG_HELLO if state == BackendState::Greeting => {
                // The proxy authenticates right after the greeting.
                if let Some(s) = s {
                    Self::send(out, s, MSG_LOGIN, None);
                }
                self.backend_ready(now, b, out);
            }
            m if msg_kind(m) == MSG_RESPONSE => self.backend_reply(now, b, m, out),
            MSG_ERR_MAXCLIENTS | MSG_ERR_HOST_BLOCKED | MSG_ERR_IDLE | MSG_ERR_IDLE_IN_TX => {
                if let Some(be) = self.backends.get_mut(b) {
                    be.last_error = Some(m);
                }
            }
            _ => {}
        }
    }

    fn backend_ready(&mut self, now: SimTime, b: BackendRef<S>, out: &mut Vec<Effect<S>>) {
        let Some(be) = self.backends.get_mut(b) else {
            return;
        };
        be.state = BackendState::Ready;
        self.connecting -= 1;
        self.backend_free(now, b, Freed::New, out);
    }

    /// A backend has no client: the oldest waiter gets it, or it goes to
    /// the pool (or is closed: lifetime, idle cap).
    fn backend_free(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        how: Freed,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(opened) = self.backends.get(b).map(|be| be.opened_at) else {
            return;
        };
        if let (ProxyKind::PgBouncer(pg), Freed::Returned) = (self.cfg.kind, how) {
            if self.life_over(now, opened) {
                let why = format!(
                    "unused and older than server_lifetime {} (age {})",
                    pg.server_lifetime,
                    now.saturating_since(opened)
                );
                self.last_lifetime_close = now;
                self.close_backend(b, &why, out);
                self.pump(now, out);
                return;
            }
        }
        if let Some(c) = self.waiters.pop_front() {
            self.assign(now, b, c, out);
            return;
        }
        let (idle, cap) = (self.idle.len() as u32, self.idle_cap);
        if idle >= cap {
            let why = match self.cfg.kind {
                ProxyKind::RdsProxy(r) => format!(
                    "{idle} idle already, as many as MaxIdleConnectionsPercent {}% of max_connections {} allows",
                    r.max_idle_connections_percent, self.server_max
                ),
                ProxyKind::PgBouncer(_) => format!("{idle} idle already = the pool size"),
            };
            self.close_backend(b, &why, out);
            return;
        }
        self.idle.push(b);
        if let Some(be) = self.backends.get_mut(b) {
            be.idle_since = now;
        }
        self.arm_backend_idle(now, b, out);
    }

    /// PgBouncer's `life_over()` (objects.c): a backend opened at `opened`
    /// has outlived `server_lifetime` (age ≥ it), and lifetime closes are
    /// spread out: at most one per `server_lifetime / default_pool_size`,
    /// so that a pool opened at once is not reopened at once.
    fn life_over(&self, now: SimTime, opened: SimTime) -> bool {
        let ProxyKind::PgBouncer(pg) = self.cfg.kind else {
            return false;
        };
        now.saturating_since(opened) >= pg.server_lifetime
            && now.saturating_since(self.last_lifetime_close) >= self.lifetime_gap()
    }

    /// The least time between two lifetime closes (`lifetime_kill_gap`).
    fn lifetime_gap(&self) -> SimDuration {
        match self.cfg.kind {
            ProxyKind::PgBouncer(pg) if pg.default_pool_size > 0 => {
                SimDuration::from_nanos(pg.server_lifetime.as_nanos() / pg.default_pool_size as u64)
            }
            _ => SimDuration::ZERO,
        }
    }

    /// PgBouncer: check the idle backend at its next idle or lifetime
    /// deadline (RDS Proxy keeps idle connections up to its idle cap).
    fn arm_backend_idle(&mut self, now: SimTime, b: BackendRef<S>, out: &mut Vec<Effect<S>>) {
        let ProxyKind::PgBouncer(pg) = self.cfg.kind else {
            return;
        };
        let Some(be) = self.backends.get(b) else {
            return;
        };
        // Its lifetime, or the next moment a lifetime close is allowed.
        let lifetime_at =
            (be.opened_at + pg.server_lifetime).max(self.last_lifetime_close + self.lifetime_gap());
        let deadline = match pg.server_idle_timeout {
            Some(t) => lifetime_at.min(be.idle_since + t),
            None => lifetime_at,
        };
        // The lifetime can run out before the backend is first free (a
        // server whose accept takes longer than `server_lifetime`): then
        // the next janitor run after now closes it.
        let at = self.due(deadline.max(now));
        let Some(be) = self.backends.get_mut(b) else {
            return;
        };
        be.idle_gen += 1;
        let gen = be.idle_gen;
        out.push(Effect::Arm {
            at,
            timer: Timer::BackendIdle { backend: b, gen },
        });
    }

    fn on_backend_idle(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        gen: u32,
        out: &mut Vec<Effect<S>>,
    ) {
        let ProxyKind::PgBouncer(pg) = self.cfg.kind else {
            return;
        };
        let Some(be) = self.backends.get(b) else {
            return;
        };
        if be.idle_gen != gen || be.client.is_some() {
            return;
        }
        let idle_for = now.saturating_since(be.idle_since);
        let age = now.saturating_since(be.opened_at);
        let why = match pg.server_idle_timeout {
            Some(t) if idle_for > t => {
                format!("idle {idle_for} > server_idle_timeout {t}")
            }
            Some(_) | None if self.life_over(now, be.opened_at) => {
                self.last_lifetime_close = now;
                format!(
                    "unused and older than server_lifetime {} (age {age})",
                    pg.server_lifetime
                )
            }
            Some(_) | None => {
                self.arm_backend_idle(now, b, out);
                return;
            }
        };
        out.push(Effect::Touch);
        self.close_backend(b, &why, out);
    }

    /// The proxy closes one of its backends.
    fn close_backend(&mut self, b: BackendRef<S>, why: &str, out: &mut Vec<Effect<S>>) {
        if self.timeline {
            let text = format!(
                "{} closes {}: {why} ({} open before)",
                self.cfg.name,
                self.backend_name(b),
                self.open
            );
            self.trace(out, "proxy_close_backend", vec![], text);
        }
        let Some(be) = self.forget_backend(b) else {
            return;
        };
        if let Some(s) = be.sock {
            let why = format!("{} closed by the proxy", self.noun());
            out.push(Effect::Close {
                sock: s,
                why: why.into(),
            });
        }
    }

    /// Removes a backend from the books.
    fn forget_backend(&mut self, b: BackendRef<S>) -> Option<Backend<S>> {
        let be = self.backends.remove(b)?;
        self.idle.retain(|x| *x != b);
        self.open -= 1;
        match be.state {
            BackendState::Connecting | BackendState::Greeting => self.connecting -= 1,
            BackendState::Ready => {}
        }
        Some(be)
    }

    /// A backend connection ended from the server's side (or failed).
    pub fn on_backend_gone(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        why: Cow<'static, str>,
        out: &mut Vec<Effect<S>>,
    ) {
        self.backend_lost(now, b, why, out);
    }

    fn backend_lost(
        &mut self,
        now: SimTime,
        b: BackendRef<S>,
        why: Cow<'static, str>,
        out: &mut Vec<Effect<S>>,
    ) {
        let Some(be) = self.forget_backend(b) else {
            return;
        };
        if self.timeline {
            let label = format!("{} #{} (:{})", self.noun(), be.id, be.port);
            let text = format!(
                "{}'s {label} ends: {why}{}",
                self.cfg.name,
                match be.last_error {
                    Some(m) => format!(
                        " (the server said \"{}\")",
                        crate::server::reject_text(&self.server_cfg, m).1
                    ),
                    None => String::new(),
                }
            );
            self.trace(out, "proxy_backend_lost", vec![], text);
        }
        if let Some(s) = be.sock {
            out.push(Effect::Close { sock: s, why });
        }
        match be.state {
            BackendState::Connecting | BackendState::Greeting => {
                // The connection attempt failed: the oldest waiter that no
                // other opening connection will serve gets the error.
                if self.waiters.len() > self.connecting as usize {
                    if let Some(c) = self.waiters.pop_front() {
                        if let Some(cl) = self.clients.get_mut(c) {
                            cl.wait_since = None;
                            cl.wait_gen += 1;
                        }
                        let why = format!("its {} could not be opened", self.noun());
                        self.drop_client(now, c, be.last_error, why.into(), out);
                    }
                }
            }
            BackendState::Ready => {
                if let Some(c) = be.client {
                    if let Some(cl) = self.clients.get_mut(c) {
                        cl.backend = None;
                        cl.in_tx = false;
                    }
                    // The client's session is gone with it.
                    let why = format!("its {} was closed by the server", self.noun());
                    self.drop_client(now, c, be.last_error, why.into(), out);
                }
            }
        }
        self.pump(now, out);
    }

    /// A reply came back on a backend: relay it, and take the backend back
    /// unless the client keeps it (pinned, in a transaction, session mode).
    fn backend_reply(&mut self, now: SimTime, b: BackendRef<S>, m: u64, out: &mut Vec<Effect<S>>) {
        let Some(c) = self.backends.get(b).and_then(|be| be.client) else {
            return;
        };
        let (s, hold) = {
            let Some(cl) = self.clients.get_mut(c) else {
                return;
            };
            cl.inflight = None;
            cl.in_tx = decode_response(m).1;
            cl.last_activity = now;
            let s = cl.sock;
            let cl = self.clients.get(c).expect("exists");
            (s, self.holds(cl))
        };
        Self::send(out, s, m, Some(OnFail::Client(c)));
        if !hold {
            if let Some(cl) = self.clients.get_mut(c) {
                cl.backend = None;
            }
            if let Some(be) = self.backends.get_mut(b) {
                be.client = None;
            }
            if self.timeline {
                let text = format!(
                    "{} takes back {} from {} after the reply (no transaction open{})",
                    self.cfg.name,
                    self.backend_name(b),
                    self.client_name(c),
                    match self.cfg.kind {
                        ProxyKind::RdsProxy(_) => ", not pinned",
                        ProxyKind::PgBouncer(_) => "",
                    }
                );
                self.trace(out, "proxy_return", vec![], text);
            }
            self.backend_free(now, b, Freed::Returned, out);
        }
        self.client_request(now, c, out);
    }
}

#[cfg(test)]
mod tests;
