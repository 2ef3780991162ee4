//! A connection proxy between the functions and the server: Amazon RDS
//! Proxy (AWS-Proxy) or PgBouncer (PgB; both in docs/sources.md).
//!
//! The functions connect to the proxy (`PROXY_HOST`) over the usual path
//! (links and the middlebox, if any); the proxy opens its own TCP
//! connections to the server over a link of its own (`proxy.server_latency`).
//! Both sides are real sockets, so a frozen or reaped function's connection
//! is a zombie at the proxy exactly as it would be at a server.
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
use super::*;
use crate::config::{PoolMode, ProxyConfig, ProxyKind, PGBOUNCER_JANITOR};

/// A client connection in the proxy's arena.
pub(super) type ClientRef = SlotRef<Client>;
/// A backend (database) connection in the proxy's arena.
pub(super) type BackendRef = SlotRef<Backend>;

/// A client connection the proxy holds.
pub(super) struct Client {
    sock: SockRef,
    peer: Addr,
    /// The backend lent or assigned to this client.
    backend: Option<BackendRef>,
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
pub(super) struct Backend {
    sock: SockRef,
    /// Number shown in the timeline (#1, #2, ...).
    id: u64,
    state: BackendState,
    client: Option<ClientRef>,
    opened_at: SimTime,
    idle_since: SimTime,
    idle_gen: u32,
    /// The server's last error message on this connection.
    last_error: Option<u64>,
}

/// The proxy's state.
pub(super) struct Proxy {
    pub(super) cfg: ProxyConfig,
    pub(super) addr: Addr,
    /// The server it fronts.
    pub(super) server_addr: Addr,
    /// Most backends open at once.
    bound: u32,
    /// Most idle backends kept (RDS Proxy MaxIdleConnectionsPercent).
    idle_cap: u32,
    /// The server's max_connections, for explanations.
    server_max: u32,
    clients: Slots<Client>,
    backends: Slots<Backend>,
    /// Idle backends; the last is the most recently returned.
    idle: Vec<BackendRef>,
    /// Clients waiting for a backend, oldest first.
    waiters: VecDeque<ClientRef>,
    /// Backends open (connecting included).
    open: u32,
    /// Backends not yet usable (TCP handshake or greeting).
    connecting: u32,
    clients_open: u32,
    next_port: u16,
    next_backend_id: u64,
    backend_peak: u64,
    client_peak: u64,
    borrow_timeouts: u64,
    pinned: u64,
    zombies: u64,
    zombie_ns: u128,
    zombie_mark: SimTime,
}

/// The proxy's figures for the report.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProxyTotals {
    pub(super) backend_peak: u64,
    pub(super) client_peak: u64,
    pub(super) borrow_timeouts: u64,
    pub(super) pinned: u64,
    pub(super) zombie_ns: u128,
}

/// How a backend came to be free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freed {
    /// Just opened.
    New,
    /// Given back by a client.
    Returned,
}

impl Proxy {
    pub(super) fn new(
        cfg: ProxyConfig,
        server: &crate::config::ServerConfig,
        server_host: u32,
    ) -> Proxy {
        let bound = cfg.backend_bound(server);
        let idle_cap = match cfg.kind {
            ProxyKind::RdsProxy(r) => {
                (server.max_connections as u64 * r.max_idle_connections_percent as u64 / 100) as u32
            }
            ProxyKind::PgBouncer(_) => bound,
        };
        Proxy {
            addr: Addr {
                host: PROXY_HOST,
                port: cfg.port,
            },
            server_addr: Addr {
                host: server_host,
                port: server.port,
            },
            cfg,
            bound,
            idle_cap,
            server_max: server.max_connections,
            clients: Slots::new(),
            backends: Slots::new(),
            idle: Vec::new(),
            waiters: VecDeque::new(),
            open: 0,
            connecting: 0,
            clients_open: 0,
            next_port: FIRST_EPHEMERAL,
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

    pub(super) fn totals(&mut self, end: SimTime) -> ProxyTotals {
        self.account(end);
        ProxyTotals {
            backend_peak: self.backend_peak,
            client_peak: self.client_peak,
            borrow_timeouts: self.borrow_timeouts,
            pinned: self.pinned,
            zombie_ns: self.zombie_ns,
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
    fn holds(&self, c: &Client) -> bool {
        match self.cfg.kind {
            ProxyKind::RdsProxy(_) => c.pinned || c.in_tx,
            ProxyKind::PgBouncer(p) => match p.pool_mode {
                PoolMode::Session => true,
                PoolMode::Transaction => c.in_tx,
            },
        }
    }
}

impl World<'_> {
    fn px(&self) -> &Proxy {
        self.proxy.as_ref().expect("proxy event without a proxy")
    }

    fn px_mut(&mut self) -> &mut Proxy {
        self.proxy.as_mut().expect("proxy event without a proxy")
    }

    fn client_name(&self, c: ClientRef) -> String {
        match self.px().clients.get(c) {
            Some(cl) => self.addr_name(cl.peer),
            None => "a client".to_string(),
        }
    }

    fn backend_name(&self, b: BackendRef) -> String {
        let noun = self.px().noun();
        match self.px().backends.get(b) {
            Some(be) => {
                let port = self.sock(be.sock).map(|l| l.tcb.local().port).unwrap_or(0);
                format!("{noun} #{} (:{port})", be.id)
            }
            None => noun.to_string(),
        }
    }

    fn proxy_emit(
        &mut self,
        event: &'static str,
        fields: Vec<(&'static str, Value)>,
        text: String,
    ) {
        let name = self.proxy_name().to_string();
        self.emit(Level::Timeline, name, event, fields, text);
    }

    /// The one-way latency if `seg` travels between the proxy and the
    /// server.
    pub(super) fn proxy_link(&self, seg: &Segment) -> Option<SimDuration> {
        let p = self.proxy.as_ref()?;
        let (a, b) = (seg.src.host, seg.dst.host);
        let srv = p.server_addr.host;
        ((a == PROXY_HOST && b == srv) || (a == srv && b == PROXY_HOST))
            .then_some(p.cfg.server_latency)
    }

    /// The configuration of the server the proxy fronts.
    pub(super) fn proxied_server(&self) -> &crate::config::ServerConfig {
        let i = self.proxy.as_ref().map_or(0, |p| p.cfg.server);
        &self.cfg.servers[i as usize]
    }

    /// The address of the server the proxy fronts.
    fn proxy_server_addr(&self) -> Addr {
        self.proxy.as_ref().map(|p| p.server_addr).unwrap_or(Addr {
            host: SERVER_HOST,
            port: 0,
        })
    }

    /// What the client library prints for the proxy's own errors.
    pub(super) fn proxy_error_text(&self, msg: u64) -> (ErrorKind, &'static str) {
        let rds = matches!(
            self.proxy.as_ref().map(|p| p.cfg.kind),
            Some(ProxyKind::RdsProxy(_))
        );
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

    fn proxy_send(&mut self, s: SockRef, msg: u64) -> Result<(), Errno> {
        let now = self.q.now();
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(msg), &mut out),
            None => Err(Errno::Epipe),
        };
        self.apply(s, out);
        res
    }

    pub(super) fn set_proxy_zombie(&mut self, c: ClientRef, zombie: bool) {
        let now = self.q.now();
        let Some(p) = self.proxy.as_mut() else { return };
        let Some(cl) = p.clients.get_mut(c) else {
            return;
        };
        if cl.zombie == zombie {
            return;
        }
        cl.zombie = zombie;
        p.account(now);
        if zombie {
            p.zombies += 1;
        } else {
            p.zombies -= 1;
        }
    }

    // ----- client side -----------------------------------------------------

    /// A function's connection completed the TCP handshake at the proxy.
    pub(super) fn proxy_accept(&mut self, s: SockRef) {
        let now = self.q.now();
        let Some((peer, alive)) = self.sock(s).map(|l| {
            (
                l.tcb.remote(),
                l.tcb.state() == thaw_net::TcpState::Established && l.tcb.pending_error().is_none(),
            )
        }) else {
            return;
        };
        if !alive {
            if let Some(ls) = self.sock_mut(s) {
                ls.owner = Owner::Kernel;
            }
            self.app_close(s, "the client left before the proxy accepted it");
            return;
        }
        let name = self.proxy_name().to_string();
        let open = self.px().clients_open;
        if let Some(max) = self.px().max_clients().filter(|m| open >= *m) {
            if self.wants(Level::Timeline) {
                let text = format!(
                    "{name} refuses {}: {open} client connections = max_client_conn {max}; sends \"no more connections allowed (max_client_conn)\" and closes",
                    self.addr_name(peer)
                );
                self.proxy_emit("proxy_reject", vec![("clients", open.into())], text);
            }
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                let _ = ls.tcb.send(now, Payload(MSG_ERR_PROXY_FULL), &mut out);
                ls.owner = Owner::Kernel;
                ls.tcb.close(now, &mut out);
            }
            self.apply(s, out);
            return;
        }
        let c = self.px_mut().clients.insert(Client {
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
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::ProxyClient(c);
        }
        {
            let p = self.px_mut();
            p.clients_open += 1;
            p.client_peak = p.client_peak.max(p.clients_open as u64);
        }
        let peer_state = self
            .envs
            .get((peer.host.wrapping_sub(1)) as usize)
            .map(|e| e.state);
        if matches!(peer_state, Some(EnvState::Frozen | EnvState::Reaped)) {
            self.set_proxy_zombie(c, true);
        }
        if self.wants(Level::Timeline) {
            let n = self.px().clients_open;
            let when = match self.px().cfg.kind {
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
                self.addr_name(peer),
                self.px().noun()
            );
            self.proxy_emit("proxy_accept", vec![("clients", n.into())], text);
        }
        if self.proxied_server().handshake {
            // The proxy authenticates clients itself and greets them.
            let _ = self.proxy_send(s, MSG_HELLO);
        }
        self.arm_proxy_client_idle(c, now);
        if self.sock(s).is_some_and(|l| l.tcb.unread() > 0) {
            self.proxy_client_notice(c, s, Notice::Readable);
        }
    }

    pub(super) fn proxy_client_notice(&mut self, c: ClientRef, s: SockRef, notice: Notice) {
        let now = self.q.now();
        match notice {
            Notice::Connected => {}
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(p)) if msg_kind(p) == MSG_REQUEST => {
                        let Some(cl) = self.px_mut().clients.get_mut(c) else {
                            return;
                        };
                        cl.queued.push_back(p);
                        cl.last_activity = now;
                        self.proxy_client_request(c);
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.proxy_drop_client(c, None, "the client closed the connection");
                        return;
                    }
                }
            },
            Notice::Eof => {
                self.proxy_drop_client(c, None, "the client closed the connection (EOF)")
            }
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                let why = format!("the client connection failed with {}", e.name());
                self.proxy_drop_client(c, None, &why);
            }
        }
    }

    /// The client has a request to run: forward it on its backend, or
    /// wait for one.
    fn proxy_client_request(&mut self, c: ClientRef) {
        let now = self.q.now();
        let Some(cl) = self.px().clients.get(c) else {
            return;
        };
        if cl.inflight.is_some() || cl.queued.is_empty() {
            return;
        }
        if cl.backend.is_some() {
            self.proxy_forward(c);
            return;
        }
        if cl.wait_since.is_some() {
            return;
        }
        let timeout = self.px().wait_timeout();
        let gen = {
            let p = self.px_mut();
            p.waiters.push_back(c);
            let cl = p.clients.get_mut(c).expect("checked");
            cl.wait_since = Some(now);
            cl.wait_gen += 1;
            cl.wait_gen
        };
        if let Some(t) = timeout {
            let at = self.px().due(now + t);
            self.q.push(at, Ev::ProxyWait { client: c, gen });
        }
        self.proxy_pump();
        let still = self
            .px()
            .clients
            .get(c)
            .is_some_and(|cl| cl.wait_since.is_some());
        let (open, bound, waiting, connecting) = {
            let p = self.px();
            (p.open, p.bound, p.waiters.len(), p.connecting as usize)
        };
        if still && waiting > connecting && self.wants(Level::Timeline) {
            let text = format!(
                "{}'s request waits for a {}: all {open} the proxy may open are in use ({}); {waiting} request(s) waiting{}",
                self.client_name(c),
                self.px().noun(),
                self.px().bound_text(),
                match timeout {
                    Some(t) => format!(", each for at most {t} ({})", self.px().wait_timeout_name()),
                    None => String::new(),
                }
            );
            self.proxy_emit(
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
    fn proxy_pump(&mut self) {
        loop {
            let p = self.px_mut();
            if p.waiters.is_empty() || p.idle.is_empty() {
                break;
            }
            let c = p.waiters.pop_front().expect("non-empty");
            let b = p.idle.pop().expect("non-empty");
            self.proxy_assign(b, c);
        }
        loop {
            let p = self.px();
            if p.waiters.len() <= p.connecting as usize || p.open >= p.bound {
                break;
            }
            if !self.proxy_open_backend() {
                break;
            }
        }
    }

    /// Lends backend `b` to client `c` and forwards its request.
    fn proxy_assign(&mut self, b: BackendRef, c: ClientRef) {
        let now = self.q.now();
        let waited = {
            let p = self.px_mut();
            let cl = p.clients.get_mut(c).expect("waiter exists");
            cl.backend = Some(b);
            cl.wait_gen += 1;
            let waited = cl.wait_since.take().map(|t| now.saturating_since(t));
            let be = p.backends.get_mut(b).expect("backend exists");
            be.client = Some(c);
            be.idle_gen += 1;
            waited
        };
        if self.wants(Level::Timeline) {
            let how = match self.px().cfg.kind {
                ProxyKind::RdsProxy(_) => "lends",
                ProxyKind::PgBouncer(p) => match p.pool_mode {
                    PoolMode::Session => "assigns (for the whole client session)",
                    PoolMode::Transaction => "lends (for one transaction)",
                },
            };
            let text = format!(
                "{} {how} {} to {}{}",
                self.proxy_name(),
                self.backend_name(b),
                self.client_name(c),
                match waited {
                    Some(w) if !w.is_zero() => format!(" (its request waited {w})"),
                    Some(_) | None => String::new(),
                }
            );
            self.proxy_emit(
                "proxy_borrow",
                vec![(
                    "waited_ns",
                    waited.map(|w| w.as_nanos()).unwrap_or(0).into(),
                )],
                text,
            );
        }
        self.proxy_forward(c);
    }

    /// Sends the client's next request on its backend.
    fn proxy_forward(&mut self, c: ClientRef) {
        let (p, b) = {
            let Some(cl) = self.px_mut().clients.get_mut(c) else {
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
            (p, b)
        };
        if !self.write_ids.is_empty() && decode_request(p).0 == OP_WRITE {
            self.proxy_carry_write_id(c, b);
        }
        if request_pins(p) {
            self.proxy_pin(c, b);
        }
        let Some(s) = self.px().backends.get(b).map(|be| be.sock) else {
            return;
        };
        if let Err(e) = self.proxy_send(s, p) {
            let why = format!("write failed with {}", e.name());
            self.proxy_backend_lost(b, &why);
        }
    }

    /// `[client.retry]` bookkeeping: the write the client sent (identified
    /// by its connection to the proxy) now travels on the backend's
    /// connection to the server.
    fn proxy_carry_write_id(&mut self, c: ClientRef, b: BackendRef) {
        let Some(cs) = self.px().clients.get(c).map(|cl| cl.sock) else {
            return;
        };
        let Some(bs) = self.px().backends.get(b).map(|be| be.sock) else {
            return;
        };
        let (Some(ck), Some(bk)) = (
            self.sock(cs).map(|l| (l.tcb.remote(), l.tcb.local())),
            self.sock(bs).map(|l| (l.tcb.local(), l.tcb.remote())),
        ) else {
            return;
        };
        let id = self.write_ids.get_mut(&ck).and_then(|q| q.pop_front());
        if self.write_ids.get(&ck).is_some_and(|q| q.is_empty()) {
            self.write_ids.remove(&ck);
        }
        if let Some(id) = id {
            self.write_ids.entry(bk).or_default().push_back(id);
        }
    }

    /// A request that changes session state went through.
    fn proxy_pin(&mut self, c: ClientRef, b: BackendRef) {
        match self.px().cfg.kind {
            ProxyKind::RdsProxy(_) => {
                let newly = {
                    let p = self.px_mut();
                    let cl = p.clients.get_mut(c).expect("client exists");
                    let newly = !cl.pinned;
                    cl.pinned = true;
                    if newly {
                        p.pinned += 1;
                    }
                    newly
                };
                if newly && self.wants(Level::Timeline) {
                    let text = format!(
                        "{} pins {} to {}: the request changes session state (SET, prepared statement, temporary table...); the connection stays with this client until the client connection ends",
                        self.proxy_name(),
                        self.client_name(c),
                        self.backend_name(b)
                    );
                    self.proxy_emit("proxy_pin", vec![], text);
                }
            }
            ProxyKind::PgBouncer(pg) => match pg.pool_mode {
                PoolMode::Session => {}
                PoolMode::Transaction => {
                    if self.wants(Level::Timeline) {
                        let text = format!(
                            "{} does not pin (transaction pooling): the session state {} sets stays on {} and its next client inherits it",
                            self.proxy_name(),
                            self.client_name(c),
                            self.backend_name(b)
                        );
                        self.proxy_emit("proxy_no_pin", vec![], text);
                    }
                }
            },
        }
    }

    /// The proxy ends a client connection (or the client ended it): gives
    /// its backend back, or closes it if a transaction or request was
    /// open (the server rolls back).
    fn proxy_drop_client(&mut self, c: ClientRef, msg: Option<u64>, why: &str) {
        let Some(s) = self.px().clients.get(c).map(|cl| cl.sock) else {
            return;
        };
        if let Some(m) = msg {
            let _ = self.proxy_send(s, m);
        }
        self.set_proxy_zombie(c, false);
        let cl = {
            let p = self.px_mut();
            p.waiters.retain(|w| *w != c);
            p.clients_open -= 1;
            p.clients.remove(c).expect("client exists")
        };
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::Kernel;
        }
        self.app_close(s, why);
        if let Some(b) = cl.backend {
            if let Some(be) = self.px_mut().backends.get_mut(b) {
                be.client = None;
            }
            if cl.inflight.is_some() || cl.in_tx {
                let why = if cl.inflight.is_some() {
                    "its client left with a request running"
                } else {
                    "its client left inside a transaction (the server rolls it back)"
                };
                self.proxy_close_backend(b, why);
            } else {
                if self.wants(Level::Timeline) {
                    let text = format!(
                        "{} takes back {} as the client connection from {} ends{}",
                        self.proxy_name(),
                        self.backend_name(b),
                        self.addr_name(cl.peer),
                        if cl.pinned { " (it was pinned)" } else { "" }
                    );
                    self.proxy_emit("proxy_return", vec![], text);
                }
                self.proxy_backend_free(b, Freed::Returned);
            }
        }
        self.proxy_pump();
    }

    pub(super) fn arm_proxy_client_idle(&mut self, c: ClientRef, from: SimTime) {
        let Some(t) = self.px().client_idle_timeout() else {
            return;
        };
        let at = self.px().due(from + t);
        let Some(cl) = self.px_mut().clients.get_mut(c) else {
            return;
        };
        cl.idle_gen += 1;
        let gen = cl.idle_gen;
        self.q.push(at, Ev::ProxyClientIdle { client: c, gen });
    }

    pub(super) fn on_proxy_client_idle(&mut self, c: ClientRef, gen: u32) {
        let now = self.q.now();
        let Some(t) = self.px().client_idle_timeout() else {
            return;
        };
        let Some(cl) = self.px().clients.get(c) else {
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
            self.arm_proxy_client_idle(c, now);
            return;
        }
        if now.saturating_since(last) < t {
            self.arm_proxy_client_idle(c, last);
            return;
        }
        self.effect();
        if self.wants(Level::Timeline) {
            let text = format!(
                "{} closes the client connection from {}: idle {} ≥ {} {t}{}",
                self.proxy_name(),
                self.addr_name(peer),
                now.saturating_since(last),
                self.px().client_idle_name(),
                match (self.px().cfg.kind, backend) {
                    (ProxyKind::RdsProxy(_), Some(b)) => {
                        format!("; {} goes back to the pool", self.backend_name(b))
                    }
                    (ProxyKind::RdsProxy(_), None) => String::new(),
                    (ProxyKind::PgBouncer(_), _) => {
                        "; it first sends \"client_idle_timeout\"".to_string()
                    }
                }
            );
            self.proxy_emit(
                "proxy_idle_close",
                vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                text,
            );
        }
        let msg = match self.px().cfg.kind {
            ProxyKind::RdsProxy(_) => None,
            ProxyKind::PgBouncer(_) => Some(MSG_ERR_PROXY_IDLE),
        };
        let why = format!("idle longer than {}", self.px().client_idle_name());
        self.proxy_drop_client(c, msg, &why);
    }

    pub(super) fn on_proxy_wait_timeout(&mut self, c: ClientRef, gen: u32) {
        let now = self.q.now();
        let Some(cl) = self.px().clients.get(c) else {
            return;
        };
        let Some(since) = cl.wait_since.filter(|_| cl.wait_gen == gen) else {
            return;
        };
        let s = cl.sock;
        self.effect();
        {
            let p = self.px_mut();
            p.borrow_timeouts += 1;
            p.waiters.retain(|w| *w != c);
            let cl = p.clients.get_mut(c).expect("checked");
            cl.wait_since = None;
            cl.queued.clear();
        }
        let t = self.px().wait_timeout().unwrap_or_default();
        if self.wants(Level::Timeline) {
            let (open, bound) = (self.px().open, self.px().bound);
            let text = match self.px().cfg.kind {
                ProxyKind::RdsProxy(_) => format!(
                    "{}: the request of {} waited {} for a {} (ConnectionBorrowTimeout {t}; {open} of {bound} open, all busy): answers \"Timed-out waiting to acquire database connection\"",
                    self.proxy_name(),
                    self.client_name(c),
                    now.saturating_since(since),
                    self.px().noun(),
                ),
                ProxyKind::PgBouncer(_) => format!(
                    "{}: the query of {} waited {} for a {} (query_wait_timeout {t}; {open} of {bound} open, all busy): disconnects the client with \"query_wait_timeout\"",
                    self.proxy_name(),
                    self.client_name(c),
                    now.saturating_since(since),
                    self.px().noun(),
                ),
            };
            self.proxy_emit(
                "proxy_borrow_timeout",
                vec![("waited_ns", now.saturating_since(since).as_nanos().into())],
                text,
            );
        }
        match self.px().cfg.kind {
            ProxyKind::RdsProxy(_) => {
                // The error answers the request; the connection stays.
                let _ = self.proxy_send(s, MSG_ERR_POOL_TIMEOUT);
            }
            ProxyKind::PgBouncer(_) => {
                self.proxy_drop_client(c, Some(MSG_ERR_POOL_TIMEOUT), "query_wait_timeout")
            }
        }
    }

    // ----- backend side ----------------------------------------------------

    fn proxy_alloc_port(&mut self) -> Option<u16> {
        let span = (LAST_EPHEMERAL - FIRST_EPHEMERAL) as u32 + 1;
        let server = self.proxy_server_addr();
        for _ in 0..span {
            let p = self.px_mut();
            let port = p.next_port;
            p.next_port = if port >= LAST_EPHEMERAL {
                FIRST_EPHEMERAL
            } else {
                port + 1
            };
            let key = flow_key(
                Addr {
                    host: PROXY_HOST,
                    port,
                },
                server,
            );
            if !self.demux.contains_key(&key) {
                return Some(port);
            }
        }
        None
    }

    /// Opens a new backend connection; false if no local port is free.
    fn proxy_open_backend(&mut self) -> bool {
        let now = self.q.now();
        let Some(port) = self.proxy_alloc_port() else {
            return false;
        };
        let local = Addr {
            host: PROXY_HOST,
            port,
        };
        let tcp = self.px().cfg.tcp;
        let mut out = self.buf();
        let tcb = Tcb::connect(now, tcp, local, self.proxy_server_addr(), &mut out);
        let s = self.alloc_sock(tcb, Owner::Kernel);
        let b = {
            let p = self.px_mut();
            let id = p.next_backend_id;
            p.next_backend_id += 1;
            p.open += 1;
            p.connecting += 1;
            p.backend_peak = p.backend_peak.max(p.open as u64);
            p.backends.insert(Backend {
                sock: s,
                id,
                state: BackendState::Connecting,
                client: None,
                opened_at: now,
                idle_since: now,
                idle_gen: 0,
                last_error: None,
            })
        };
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::ProxyBackend(b);
        }
        if self.wants(Level::Timeline) {
            let p = self.px();
            let text = format!(
                "{} opens {} to {} ({} of at most {} open: {}; {} request(s) waiting)",
                self.proxy_name(),
                self.backend_name(b),
                self.addr_name(self.proxy_server_addr()),
                p.open,
                p.bound,
                p.bound_text(),
                p.waiters.len()
            );
            let open = p.open;
            self.proxy_emit("proxy_open", vec![("open", open.into())], text);
        }
        self.apply(s, out);
        true
    }

    pub(super) fn proxy_backend_notice(&mut self, b: BackendRef, s: SockRef, notice: Notice) {
        let Some(state) = self.px().backends.get(b).map(|be| be.state) else {
            return;
        };
        match notice {
            Notice::Connected => match state {
                BackendState::Connecting if self.proxied_server().handshake => {
                    if let Some(be) = self.px_mut().backends.get_mut(b) {
                        be.state = BackendState::Greeting;
                    }
                }
                BackendState::Connecting => self.proxy_backend_ready(b),
                BackendState::Greeting | BackendState::Ready => {}
            },
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                let Some(state) = self.px().backends.get(b).map(|be| be.state) else {
                    return;
                };
                match r {
                    RecvResult::Data(Payload(MSG_HELLO)) if state == BackendState::Greeting => {
                        // The proxy authenticates right after the greeting.
                        let _ = self.proxy_send(s, MSG_LOGIN);
                        self.proxy_backend_ready(b);
                    }
                    RecvResult::Data(Payload(m)) if msg_kind(m) == MSG_RESPONSE => {
                        self.proxy_backend_reply(b, m)
                    }
                    RecvResult::Data(Payload(
                        m @ (MSG_ERR_MAXCLIENTS | MSG_ERR_HOST_BLOCKED | MSG_ERR_IDLE
                        | MSG_ERR_IDLE_IN_TX),
                    )) => {
                        if let Some(be) = self.px_mut().backends.get_mut(b) {
                            be.last_error = Some(m);
                        }
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof => {
                        self.proxy_backend_lost(b, "the server closed the connection");
                        return;
                    }
                    RecvResult::Err(e) => {
                        let why = format!("the connection failed with {}", e.name());
                        self.proxy_backend_lost(b, &why);
                        return;
                    }
                }
            },
            Notice::Eof => self.proxy_backend_lost(b, "the server closed the connection (EOF)"),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                let why = format!("the connection failed with {}", e.name());
                self.proxy_backend_lost(b, &why);
            }
        }
    }

    fn proxy_backend_ready(&mut self, b: BackendRef) {
        {
            let p = self.px_mut();
            let Some(be) = p.backends.get_mut(b) else {
                return;
            };
            be.state = BackendState::Ready;
            p.connecting -= 1;
        }
        self.proxy_backend_free(b, Freed::New);
    }

    /// A backend has no client: the oldest waiter gets it, or it goes to
    /// the pool (or is closed: lifetime, idle cap).
    fn proxy_backend_free(&mut self, b: BackendRef, how: Freed) {
        let now = self.q.now();
        let Some(opened) = self.px().backends.get(b).map(|be| be.opened_at) else {
            return;
        };
        if let (ProxyKind::PgBouncer(pg), Freed::Returned) = (self.px().cfg.kind, how) {
            if now.saturating_since(opened) >= pg.server_lifetime {
                let why = format!(
                    "unused and older than server_lifetime {} (age {})",
                    pg.server_lifetime,
                    now.saturating_since(opened)
                );
                self.proxy_close_backend(b, &why);
                self.proxy_pump();
                return;
            }
        }
        if let Some(c) = self.px_mut().waiters.pop_front() {
            self.proxy_assign(b, c);
            return;
        }
        let (idle, cap) = (self.px().idle.len() as u32, self.px().idle_cap);
        if idle >= cap {
            let why = match self.px().cfg.kind {
                ProxyKind::RdsProxy(r) => format!(
                    "{idle} idle already, as many as MaxIdleConnectionsPercent {}% of max_connections {} allows",
                    r.max_idle_connections_percent,
                    self.px().server_max
                ),
                ProxyKind::PgBouncer(_) => format!("{idle} idle already = the pool size"),
            };
            self.proxy_close_backend(b, &why);
            return;
        }
        {
            let p = self.px_mut();
            p.idle.push(b);
            if let Some(be) = p.backends.get_mut(b) {
                be.idle_since = now;
            }
        }
        self.arm_proxy_backend_idle(b);
    }

    /// PgBouncer: check the idle backend at its next idle or lifetime
    /// deadline (RDS Proxy keeps idle connections up to its idle cap).
    fn arm_proxy_backend_idle(&mut self, b: BackendRef) {
        let ProxyKind::PgBouncer(pg) = self.px().cfg.kind else {
            return;
        };
        let Some(be) = self.px().backends.get(b) else {
            return;
        };
        let lifetime_at = be.opened_at + pg.server_lifetime;
        let deadline = match pg.server_idle_timeout {
            Some(t) => lifetime_at.min(be.idle_since + t),
            None => lifetime_at,
        };
        // The lifetime can run out before the backend is first free (a
        // server whose accept takes longer than `server_lifetime`): then
        // the next janitor run after now closes it.
        let at = self.px().due(deadline.max(self.q.now()));
        let Some(be) = self.px_mut().backends.get_mut(b) else {
            return;
        };
        be.idle_gen += 1;
        let gen = be.idle_gen;
        self.q.push(at, Ev::ProxyBackendIdle { backend: b, gen });
    }

    pub(super) fn on_proxy_backend_idle(&mut self, b: BackendRef, gen: u32) {
        let now = self.q.now();
        let ProxyKind::PgBouncer(pg) = self.px().cfg.kind else {
            return;
        };
        let Some(be) = self.px().backends.get(b) else {
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
            Some(_) | None if age > pg.server_lifetime => format!(
                "unused and older than server_lifetime {} (age {age})",
                pg.server_lifetime
            ),
            Some(_) | None => {
                self.arm_proxy_backend_idle(b);
                return;
            }
        };
        self.effect();
        self.proxy_close_backend(b, &why);
    }

    /// The proxy closes one of its backends.
    fn proxy_close_backend(&mut self, b: BackendRef, why: &str) {
        if self.wants(Level::Timeline) {
            let text = format!(
                "{} closes {}: {why} ({} open before)",
                self.proxy_name(),
                self.backend_name(b),
                self.px().open
            );
            self.proxy_emit("proxy_close_backend", vec![], text);
        }
        let Some(be) = self.proxy_forget_backend(b) else {
            return;
        };
        if let Some(ls) = self.sock_mut(be.sock) {
            ls.owner = Owner::Kernel;
        }
        let why = format!("{} closed by the proxy", self.px().noun());
        self.app_close(be.sock, &why);
    }

    /// Removes a backend from the books.
    fn proxy_forget_backend(&mut self, b: BackendRef) -> Option<Backend> {
        let p = self.px_mut();
        let be = p.backends.remove(b)?;
        p.idle.retain(|x| *x != b);
        p.open -= 1;
        match be.state {
            BackendState::Connecting | BackendState::Greeting => p.connecting -= 1,
            BackendState::Ready => {}
        }
        Some(be)
    }

    /// A backend connection ended from the server's side (or failed).
    fn proxy_backend_lost(&mut self, b: BackendRef, why: &str) {
        let Some(be) = self.proxy_forget_backend(b) else {
            return;
        };
        let label = {
            let port = self.sock(be.sock).map(|l| l.tcb.local().port).unwrap_or(0);
            format!("{} #{} (:{port})", self.px().noun(), be.id)
        };
        if self.wants(Level::Timeline) {
            let text = format!(
                "{}'s {label} ends: {why}{}",
                self.proxy_name(),
                match be.last_error {
                    Some(m) => format!(
                        " (the server said \"{}\")",
                        crate::server::reject_text(self.proxied_server().kind, m).1
                    ),
                    None => String::new(),
                }
            );
            self.proxy_emit("proxy_backend_lost", vec![], text);
        }
        if let Some(ls) = self.sock_mut(be.sock) {
            ls.owner = Owner::Kernel;
        }
        self.app_close(be.sock, why);
        match be.state {
            BackendState::Connecting | BackendState::Greeting => {
                // The connection attempt failed: the oldest waiter that no
                // other opening connection will serve gets the error.
                let uncovered = {
                    let p = self.px();
                    p.waiters.len() > p.connecting as usize
                };
                if uncovered {
                    if let Some(c) = self.px_mut().waiters.pop_front() {
                        if let Some(cl) = self.px_mut().clients.get_mut(c) {
                            cl.wait_since = None;
                            cl.wait_gen += 1;
                        }
                        let why = format!("its {} could not be opened", self.px().noun());
                        self.proxy_drop_client(c, be.last_error, &why);
                    }
                }
            }
            BackendState::Ready => {
                if let Some(c) = be.client {
                    if let Some(cl) = self.px_mut().clients.get_mut(c) {
                        cl.backend = None;
                        cl.in_tx = false;
                    }
                    // The client's session is gone with it.
                    let why = format!("its {} was closed by the server", self.px().noun());
                    self.proxy_drop_client(c, be.last_error, &why);
                }
            }
        }
        self.proxy_pump();
    }

    /// A reply came back on a backend: relay it, and take the backend back
    /// unless the client keeps it (pinned, in a transaction, session mode).
    fn proxy_backend_reply(&mut self, b: BackendRef, m: u64) {
        let now = self.q.now();
        let Some(c) = self.px().backends.get(b).and_then(|be| be.client) else {
            return;
        };
        let (s, hold) = {
            let p = self.px_mut();
            let Some(cl) = p.clients.get_mut(c) else {
                return;
            };
            cl.inflight = None;
            cl.in_tx = decode_response(m).1;
            cl.last_activity = now;
            let s = cl.sock;
            let cl = p.clients.get(c).expect("exists");
            (s, p.holds(cl))
        };
        if let Err(e) = self.proxy_send(s, m) {
            let why = format!("write to the client failed with {}", e.name());
            self.proxy_drop_client(c, None, &why);
            return;
        }
        if !hold {
            {
                let p = self.px_mut();
                if let Some(cl) = p.clients.get_mut(c) {
                    cl.backend = None;
                }
                if let Some(be) = p.backends.get_mut(b) {
                    be.client = None;
                }
            }
            if self.wants(Level::Timeline) {
                let text = format!(
                    "{} takes back {} from {} after the reply (no transaction open{})",
                    self.proxy_name(),
                    self.backend_name(b),
                    self.client_name(c),
                    match self.px().cfg.kind {
                        ProxyKind::RdsProxy(_) => ", not pinned",
                        ProxyKind::PgBouncer(_) => "",
                    }
                );
                self.proxy_emit("proxy_return", vec![], text);
            }
            self.proxy_backend_free(b, Freed::Returned);
        }
        self.proxy_client_request(c);
    }
}
