//! The proxy model alone: driven by hand, with numbers for sockets, no
//! TCP and no World. Clients are sockets 1, 2, ... (environment N's
//! connection is socket N); backends get sockets from 100 up.
use super::*;
use crate::config::{PgBouncerConfig, RdsProxyConfig, RequestOp, ServerConfig};
use std::collections::BTreeMap;

const SEC: u64 = 1_000_000_000;

fn t(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn req(op: RequestOp, pin: bool) -> u64 {
    encode_request(op, pin)
}

#[derive(Debug, Clone, PartialEq)]
enum Did {
    Send(u32, u64),
    Close(u32, String),
    Refuse(u32),
    Open(u32),
    Trace(&'static str, String),
}

struct Rig {
    px: Proxy<u32>,
    now: SimTime,
    timers: BTreeMap<(SimTime, u64), Timer<u32>>,
    seq: u64,
    did: Vec<Did>,
    clients: BTreeMap<u32, ClientRef<u32>>,
    backends: BTreeMap<u32, BackendRef<u32>>,
    next_sock: u32,
    /// When each socket was closed.
    closed_at: BTreeMap<u32, SimTime>,
}

impl Rig {
    fn new(kind: ProxyKind, server: ServerConfig) -> Rig {
        let cfg = ProxyConfig::preset(kind, &server);
        let addr = Addr {
            host: u32::MAX - 1,
            port: cfg.port,
        };
        let server_addr = Addr {
            host: 0,
            port: server.port,
        };
        Rig {
            px: Proxy::new(cfg, &server, addr, server_addr, 32768, true),
            now: SimTime::ZERO,
            timers: BTreeMap::new(),
            seq: 0,
            did: Vec::new(),
            clients: BTreeMap::new(),
            backends: BTreeMap::new(),
            next_sock: 100,
            closed_at: BTreeMap::new(),
        }
    }

    fn rds(percent: u32, max_connections: u32) -> Rig {
        let mut server = ServerConfig::preset(crate::config::ServerKind::Mysql);
        server.max_connections = max_connections;
        server.handshake = false;
        Rig::new(
            ProxyKind::RdsProxy(RdsProxyConfig {
                max_connections_percent: percent,
                ..RdsProxyConfig::default()
            }),
            server,
        )
    }

    fn pgbouncer(pg: PgBouncerConfig) -> Rig {
        let mut server = ServerConfig::preset(crate::config::ServerKind::Postgres);
        server.handshake = false;
        Rig::new(ProxyKind::PgBouncer(pg), server)
    }

    fn effects(&mut self, out: Vec<Effect<u32>>) {
        for e in out {
            match e {
                Effect::Arm { at, timer } => {
                    self.seq += 1;
                    self.timers.insert((at, self.seq), timer);
                }
                Effect::Send { sock, msg, .. } => self.did.push(Did::Send(sock, msg)),
                Effect::Close { sock, why } => {
                    self.closed_at.insert(sock, self.now);
                    self.did.push(Did::Close(sock, why.into_owned()))
                }
                Effect::Refuse { sock } => self.did.push(Did::Refuse(sock)),
                Effect::Accepted { client, sock } => {
                    self.clients.insert(sock, client);
                }
                Effect::Open { backend } => {
                    let s = self.next_sock;
                    self.next_sock += 1;
                    self.backends.insert(s, backend);
                    self.did.push(Did::Open(s));
                    let mut more = Vec::new();
                    self.px.backend_socket(backend, s, s as u16, &mut more);
                    self.effects(more);
                }
                Effect::Trace(l) => self.did.push(Did::Trace(l.event, l.text)),
                Effect::ReadNow { .. } | Effect::CarryWrite { .. } | Effect::Touch => {}
            }
        }
    }

    fn run_to(&mut self, to: u64) {
        while let Some((&(at, seq), _)) = self.timers.first_key_value() {
            if at > t(to) {
                break;
            }
            let timer = self.timers.remove(&(at, seq)).expect("first");
            self.now = at;
            let mut out = Vec::new();
            self.px.on_timer(at, timer, &mut out);
            self.effects(out);
        }
        self.now = t(to);
    }

    fn accept(&mut self, at: u64, env: u32) {
        self.run_to(at);
        let mut out = Vec::new();
        let peer = Addr {
            host: env,
            port: 40000,
        };
        self.px
            .on_accept(self.now, env, peer, true, false, &mut out);
        self.effects(out);
    }

    fn request(&mut self, at: u64, env: u32, p: u64) {
        self.run_to(at);
        let c = self.clients[&env];
        let mut out = Vec::new();
        self.px.on_client_request(self.now, c, p, &mut out);
        self.effects(out);
    }

    /// Backend socket `bs` becomes usable.
    fn connected(&mut self, bs: u32) {
        let b = self.backends[&bs];
        let mut out = Vec::new();
        self.px.on_backend_connected(self.now, b, &mut out);
        self.effects(out);
    }

    /// The server answers on backend `bs` (`in_tx`: a transaction is open).
    fn reply(&mut self, bs: u32, in_tx: bool) {
        let b = self.backends[&bs];
        let mut out = Vec::new();
        self.px
            .on_backend_msg(self.now, b, encode_response(0, in_tx), &mut out);
        self.effects(out);
    }

    fn opens(&self) -> Vec<u32> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Open(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    fn sent_to(&self, s: u32) -> Vec<u64> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Send(x, m) if *x == s => Some(*m),
                _ => None,
            })
            .collect()
    }

    fn traced(&self, event: &str) -> usize {
        self.did
            .iter()
            .filter(|d| matches!(d, Did::Trace(e, _) if *e == event))
            .count()
    }
}

#[test]
fn rds_proxy_lends_per_request_and_reuses_the_returned_connection() {
    let mut r = Rig::rds(100, 10);
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Ping, false));
    assert_eq!(r.opens(), vec![100]);
    r.connected(100);
    assert_eq!(r.sent_to(100), vec![req(RequestOp::Ping, false)]);
    r.reply(100, false);
    assert_eq!(r.sent_to(1).len(), 1, "the reply is relayed");
    assert_eq!(r.traced("proxy_return"), 1, "taken back after the reply");
    // A second client gets the same database connection: no new one.
    r.accept(SEC, 2);
    r.request(SEC, 2, req(RequestOp::Ping, false));
    assert_eq!(r.opens(), vec![100]);
    assert_eq!(r.sent_to(100).len(), 2);
    assert_eq!(r.px.totals(t(SEC)).backend_peak, 1);
}

#[test]
fn at_the_bound_requests_wait_and_get_the_connection_in_order() {
    // 10 % of 10 = 1 database connection.
    let mut r = Rig::rds(10, 10);
    for env in 1..=3 {
        r.accept(0, env);
        r.request(0, env, req(RequestOp::Ping, false));
    }
    assert_eq!(r.opens(), vec![100], "one connection at most");
    assert_eq!(r.traced("proxy_wait"), 2);
    r.connected(100);
    r.reply(100, false);
    r.reply(100, false);
    r.reply(100, false);
    // Each client got exactly one reply, in arrival order.
    for env in 1..=3 {
        assert_eq!(r.sent_to(env).len(), 1, "env-{env}");
    }
}

#[test]
fn a_pinned_session_keeps_its_connection_until_the_client_leaves() {
    let mut r = Rig::rds(100, 10);
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Ping, true));
    r.connected(100);
    r.reply(100, false);
    assert_eq!(r.traced("proxy_pin"), 1);
    assert_eq!(r.traced("proxy_return"), 0, "pinned: not taken back");
    // Another client needs a connection of its own.
    r.accept(SEC, 2);
    r.request(SEC, 2, req(RequestOp::Ping, false));
    assert_eq!(r.opens(), vec![100, 101]);
    assert_eq!(r.px.totals(t(SEC)).pinned, 1);
    // The pinned client leaves: its connection goes back to the pool.
    let c = r.clients[&1];
    let mut out = Vec::new();
    r.px.on_client_gone(r.now, c, "bye".into(), &mut out);
    r.effects(out);
    assert_eq!(r.traced("proxy_return"), 1);
}

#[test]
fn an_open_transaction_keeps_the_connection_with_its_client() {
    let mut r = Rig::rds(100, 10);
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Begin, false));
    r.connected(100);
    r.reply(100, true);
    assert_eq!(r.traced("proxy_return"), 0);
    // Leaving inside the transaction closes the connection (the server
    // rolls back) instead of lending it to someone else.
    let c = r.clients[&1];
    let mut out = Vec::new();
    r.px.on_client_gone(r.now, c, "bye".into(), &mut out);
    r.effects(out);
    assert!(r
        .did
        .iter()
        .any(|d| matches!(d, Did::Close(100, why) if why.contains("closed by the proxy"))));
}

#[test]
fn rds_borrow_timeout_answers_the_request_and_keeps_the_client() {
    let mut r = Rig::rds(10, 10);
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Ping, false));
    r.connected(100);
    r.accept(0, 2);
    r.request(0, 2, req(RequestOp::Ping, false));
    // The first never gets its reply: the second waits out the 120 s.
    r.run_to(200 * SEC);
    assert_eq!(r.sent_to(2), vec![MSG_ERR_POOL_TIMEOUT]);
    assert!(r.px.has_client(r.clients[&2]), "the connection stays");
    assert_eq!(r.px.totals(r.now).borrow_timeouts, 1);
}

#[test]
fn pgbouncer_refuses_beyond_max_client_conn_and_holds_in_session_mode() {
    let mut r = Rig::pgbouncer(PgBouncerConfig {
        max_client_conn: 1,
        ..PgBouncerConfig::default()
    });
    r.accept(0, 1);
    r.accept(0, 2);
    assert_eq!(r.sent_to(2), vec![MSG_ERR_PROXY_FULL]);
    assert!(r.did.contains(&Did::Refuse(2)));
    r.request(0, 1, req(RequestOp::Ping, false));
    r.connected(100);
    r.reply(100, false);
    assert_eq!(
        r.traced("proxy_return"),
        0,
        "session mode: assigned for the session"
    );
}

#[test]
fn pgbouncer_acts_on_its_timeouts_at_janitor_ticks() {
    let mut r = Rig::pgbouncer(PgBouncerConfig {
        pool_mode: crate::config::PoolMode::Transaction,
        server_idle_timeout: Some(SimDuration::from_secs(10)),
        ..PgBouncerConfig::default()
    });
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Ping, false));
    r.connected(100);
    r.reply(100, false);
    r.run_to(100 * SEC);
    // Idle since 0: closed at the first janitor run strictly after 10 s
    // (its check is `idle > server_idle_timeout`).
    let due = r.px.due(t(10 * SEC));
    assert!(due > t(10 * SEC) && due <= t(10 * SEC) + PGBOUNCER_JANITOR);
    assert_eq!(r.closed_at.get(&100), Some(&due));
}

#[test]
fn a_lost_connection_takes_its_client_with_the_servers_message() {
    let mut r = Rig::rds(100, 10);
    r.accept(0, 1);
    r.request(0, 1, req(RequestOp::Begin, false));
    r.connected(100);
    r.reply(100, true);
    let b = r.backends[&100];
    let mut out = Vec::new();
    r.px.on_backend_msg(r.now, b, MSG_ERR_IDLE, &mut out);
    r.px.on_backend_gone(
        r.now,
        b,
        "the server closed the connection".into(),
        &mut out,
    );
    r.effects(out);
    assert!(!r.px.has_backend(b));
    assert!(!r.px.has_client(r.clients[&1]));
    assert_eq!(r.sent_to(1).last(), Some(&MSG_ERR_IDLE));
}
