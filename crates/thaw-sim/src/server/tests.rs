//! The server model alone: driven by hand, with numbers for sockets and a
//! list for a timer queue, no TCP and no World.
use super::*;
use crate::config::RequestOp;
use std::collections::BTreeMap;

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn t(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn peer(host: u32) -> Addr {
    Addr { host, port: 40000 }
}

/// What the server did, as the tests look at it.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Msg(u64),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
enum Did {
    Send(u64, u32, Out),
    Close(u64, u32, bool, Option<String>),
    Accepted(u64, u32),
    Trace(u64, &'static str, String),
    CloseNotify(u64, u32),
}

/// A hand-driven rig: sockets are numbers; the peer of socket n is
/// environment n (or `hosts[n]`).
struct Rig {
    srv: Server<u32>,
    now: SimTime,
    timers: BTreeMap<(SimTime, u64), Timer<u32>>,
    seq: u64,
    did: Vec<Did>,
    conns: BTreeMap<u32, ConnRef<u32>>,
    /// Sockets whose client left before the accept.
    gone: Vec<u32>,
    hosts: BTreeMap<u32, u32>,
}

impl Rig {
    fn new(cfg: ServerConfig) -> Rig {
        Rig::with_source(cfg, SourceIp::PerEnvironment)
    }

    fn with_source(cfg: ServerConfig, source_ip: SourceIp) -> Rig {
        let sessions = SessionDefaults {
            autocommit: true,
            isolation: thaw_db::Isolation::RepeatableRead,
            read_routing: thaw_db::ReadRouting::Primary,
        };
        let addr = Addr {
            host: 0,
            port: cfg.port,
        };
        Rig {
            srv: Server::new(cfg, sessions, addr, source_ip, true),
            now: SimTime::ZERO,
            timers: BTreeMap::new(),
            seq: 0,
            did: Vec::new(),
            conns: BTreeMap::new(),
            gone: Vec::new(),
            hosts: BTreeMap::new(),
        }
    }

    fn effects(&mut self, out: Vec<Effect<u32>>) {
        let now = self.now.as_nanos();
        for e in out {
            match e {
                Effect::Arm { at, timer, .. } => {
                    self.seq += 1;
                    self.timers.insert((at, self.seq), timer);
                }
                Effect::Send { sock, msg, .. } => {
                    self.did.push(Did::Send(now, sock, Out::Msg(msg)))
                }
                Effect::SendBytes(b) => self.did.push(Did::Send(now, b.0, Out::Bytes(b.1))),
                Effect::Close {
                    sock, abort, why, ..
                } => {
                    self.conns.remove(&sock);
                    self.did
                        .push(Did::Close(now, sock, abort, why.map(|w| w.to_string())))
                }
                Effect::CloseWhy(b) => {
                    let (sock, abort, why, _) = *b;
                    self.conns.remove(&sock);
                    self.did.push(Did::Close(now, sock, abort, Some(why)))
                }
                Effect::Accepted { conn, sock, .. } => {
                    self.conns.insert(sock, conn);
                    self.did.push(Did::Accepted(now, sock));
                }
                Effect::Trace(line) => self.did.push(Did::Trace(now, line.event, line.text)),
                Effect::CloseNotify { sock } => self.did.push(Did::CloseNotify(now, sock)),
                Effect::ReadNow { .. } | Effect::Wrote { .. } => {}
            }
        }
    }

    /// Runs every timer due up to `to`, in time then arming order.
    fn run_to(&mut self, to: u64) {
        while let Some((&(at, seq), _)) = self.timers.first_key_value() {
            if at > t(to) {
                break;
            }
            let timer = self.timers.remove(&(at, seq)).expect("first");
            self.now = at;
            let pending = match timer {
                Timer::WorkDone(Work::Accept(s)) => Some(Pending {
                    peer: peer(*self.hosts.get(&s).unwrap_or(&s)),
                    alive: !self.gone.contains(&s),
                    wire: None,
                }),
                _ => None,
            };
            let mut out = Vec::new();
            self.srv.on_timer(at, timer, pending, &mut out);
            self.effects(out);
        }
        self.now = t(to);
    }

    /// A client on socket `s` completes the TCP handshake at `at`.
    fn connect(&mut self, at: u64, s: u32) -> bool {
        self.run_to(at);
        let mut out = Vec::new();
        let host = *self.hosts.get(&s).unwrap_or(&s);
        let room = self.srv.on_syn(peer(host), &mut out);
        if room {
            self.srv.on_established(self.now, s, &mut out);
        }
        self.effects(out);
        room
    }

    fn request(&mut self, at: u64, s: u32, op: RequestOp) {
        self.run_to(at);
        let c = self.conns[&s];
        let mut out = Vec::new();
        self.srv
            .on_request(self.now, c, encode_request(op, false), &mut out);
        self.effects(out);
    }

    /// The first flight of a TLS handshake on socket `s`.
    fn tls_hello(&mut self, at: u64, s: u32, resumed: bool) {
        self.run_to(at);
        let c = self.conns[&s];
        let mut out = Vec::new();
        self.srv
            .on_request(self.now, c, encode_tls_hello(resumed), &mut out);
        self.effects(out);
    }

    fn sends_to(&self, s: u32) -> Vec<(u64, Out)> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Send(at, x, o) if *x == s => Some((*at, o.clone())),
                _ => None,
            })
            .collect()
    }

    fn close_of(&self, s: u32) -> Option<(u64, bool, Option<String>)> {
        self.did.iter().find_map(|d| match d {
            Did::Close(at, x, abort, why) if *x == s => Some((*at, *abort, why.clone())),
            _ => None,
        })
    }

    fn traces(&self, event: &str) -> Vec<(u64, String)> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Trace(at, e, text) if *e == event => Some((*at, text.clone())),
                _ => None,
            })
            .collect()
    }
}

fn generic() -> ServerConfig {
    ServerConfig::preset(ServerKind::Generic)
}

fn reply_value(o: &Out) -> u64 {
    match o {
        Out::Msg(p) if msg_kind(*p) == MSG_RESPONSE => decode_response(*p).0,
        other => panic!("not a reply: {other:?}"),
    }
}

#[test]
fn a_request_is_answered_after_the_service_time() {
    let mut r = Rig::new(generic());
    r.connect(0, 1);
    r.run_to(0);
    assert_eq!(r.srv.open(), 1);
    r.request(5 * MS, 1, RequestOp::Ping);
    r.run_to(SEC);
    let sends = r.sends_to(1);
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].0,
        5 * MS + generic().service_time.mean().as_nanos()
    );
}

#[test]
fn one_core_serves_accepts_and_requests_first_in_first_out() {
    let mut cfg = generic();
    cfg.cores = 1;
    cfg.service_time = crate::Dist::Fixed(SimDuration::from_millis(10));
    cfg.accept_cpu = SimDuration::from_millis(4);
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.run_to(4 * MS);
    r.request(4 * MS, 1, RequestOp::Ping);
    r.request(4 * MS, 1, RequestOp::Ping);
    // A second client's accept queues behind both requests.
    r.connect(5 * MS, 2);
    r.run_to(SEC);
    let at: Vec<u64> = r.sends_to(1).iter().map(|(at, _)| *at).collect();
    assert_eq!(at, vec![14 * MS, 24 * MS]);
    let accepted: Vec<u64> = r
        .did
        .iter()
        .filter_map(|d| match d {
            Did::Accepted(at, 2) => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, vec![28 * MS]);
}

#[test]
fn a_full_accept_queue_drops_syns() {
    let mut cfg = generic();
    cfg.backlog = 1;
    cfg.cores = 1;
    cfg.accept_cpu = SimDuration::from_secs(1);
    let mut r = Rig::new(cfg);
    assert!(r.connect(0, 1));
    // The connection waits in the queue until a core has accepted it.
    assert!(!r.connect(SEC / 2, 2), "backlog 1 reached");
    assert_eq!(r.srv.totals().syn_dropped, 1);
    assert_eq!(r.traces("syn_drop").len(), 1);
    assert!(r.connect(SEC, 2), "accepted: room again");
    r.run_to(3 * SEC);
    assert_eq!(r.srv.open(), 2);
}

#[test]
fn max_connections_refuses_with_the_servers_message_then_closes() {
    let mut cfg = ServerConfig::preset(ServerKind::Postgres);
    cfg.max_connections = 3;
    cfg.reserved_connections = 2;
    cfg.handshake = false;
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.connect(0, 2);
    r.run_to(MS);
    assert_eq!(r.srv.open(), 1);
    assert_eq!(r.sends_to(2), vec![(0, Out::Msg(MSG_ERR_MAXCLIENTS))]);
    // A refusal closes without the application's close line.
    assert_eq!(r.close_of(2), Some((0, false, None)));
    assert_eq!(r.srv.totals().rejected, 1);
    let why = &r.traces("reject")[0].1;
    assert!(why.contains("max_connections 3 − 2 reserved"), "{why}");
    assert!(why.contains("53300"), "{why}");
    // Only reserved slots remain: PostgreSQL's text for that, not "sorry,
    // too many clients already" (that is for no slot at all).
    assert!(
        why.contains("remaining connection slots are reserved"),
        "{why}"
    );
    let mut pg = ServerConfig::preset(ServerKind::Postgres);
    assert_eq!(
        reject_text(&pg, MSG_ERR_MAXCLIENTS),
        (
            ErrorKind::TooManyConnections,
            "FATAL 53300: remaining connection slots are reserved for roles with the SUPERUSER attribute"
        )
    );
    pg.reserved_connections = 0;
    assert_eq!(
        reject_text(&pg, MSG_ERR_MAXCLIENTS).1,
        "FATAL 53300: sorry, too many clients already"
    );
}

#[test]
fn the_idle_timeout_counts_from_the_last_activity() {
    let mut cfg = generic();
    cfg.idle_timeout = Some(SimDuration::from_secs(60));
    let service = cfg.service_time.mean().as_nanos();
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.request(30 * SEC, 1, RequestOp::Ping);
    r.run_to(1000 * SEC);
    let last = 30 * SEC + service;
    assert_eq!(
        r.close_of(1),
        Some((last + 60 * SEC, false, Some("idle timeout".to_string())))
    );
    // Silent by default: no message before the FIN.
    assert_eq!(r.sends_to(1).len(), 1);
    assert_eq!(r.srv.open(), 0);
}

#[test]
fn the_idle_close_sends_the_servers_error_first_when_configured() {
    let mut cfg = ServerConfig::preset(ServerKind::Mysql);
    cfg.handshake = false;
    cfg.idle_timeout = Some(SimDuration::from_secs(5));
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.run_to(10 * SEC);
    assert_eq!(r.sends_to(1), vec![(5 * SEC, Out::Msg(MSG_ERR_IDLE))]);
    assert!(r.traces("idle_close")[0].1.contains("4031"));
}

#[test]
fn without_an_idle_timeout_a_connection_stays_forever() {
    let mut r = Rig::new(generic());
    r.connect(0, 1);
    r.run_to(1_000_000 * SEC);
    assert_eq!(r.close_of(1), None);
    assert!(r.timers.is_empty(), "no timer is armed at all");
}

/// Redis checks idle clients on a clock of whole seconds (clientsCron():
/// `server.unixtime - c->lastinteraction > timeout`): with `timeout 5` and
/// the last reply at 0.21 s, the close comes at 6 s, not 5.21 s.
#[test]
fn the_idle_check_runs_on_a_whole_second_clock() {
    let mut cfg = ServerConfig::preset(ServerKind::Redis);
    assert_eq!(cfg.idle_check_interval, Some(SimDuration::from_secs(1)));
    cfg.idle_timeout = Some(SimDuration::from_secs(5));
    cfg.service_time = crate::Dist::Fixed(SimDuration::ZERO);
    let mut r = Rig::new(cfg.clone());
    r.connect(0, 1);
    r.request(210 * MS, 1, RequestOp::Ping);
    r.run_to(100 * SEC);
    assert_eq!(r.close_of(1).map(|c| c.0), Some(6 * SEC));
    // An exact timer without it.
    cfg.idle_check_interval = None;
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.request(210 * MS, 1, RequestOp::Ping);
    r.run_to(100 * SEC);
    assert_eq!(r.close_of(1).map(|c| c.0), Some(5 * SEC + 210 * MS));
}

#[test]
fn an_rst_idle_close_is_an_abortive_close() {
    let mut cfg = ServerConfig::preset(ServerKind::Mariadb);
    cfg.handshake = false;
    cfg.idle_timeout = Some(SimDuration::from_secs(5));
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.run_to(10 * SEC);
    let (at, abort, _) = r.close_of(1).expect("closed");
    assert_eq!((at, abort), (5 * SEC, true));
    assert!(r.sends_to(1).is_empty(), "MariaDB sends no message");
}

#[test]
fn an_open_transaction_gets_the_shorter_idle_in_transaction_limit() {
    let mut cfg = ServerConfig::preset(ServerKind::Postgres);
    cfg.handshake = false;
    cfg.idle_timeout = Some(SimDuration::from_secs(60));
    cfg.idle_in_transaction_timeout = Some(SimDuration::from_secs(10));
    cfg.service_time = crate::Dist::Fixed(SimDuration::ZERO);
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.connect(0, 2);
    r.request(SEC, 1, RequestOp::Begin);
    r.request(SEC, 1, RequestOp::Write(7));
    r.request(SEC, 2, RequestOp::Ping);
    r.run_to(100 * SEC);
    assert_eq!(
        r.sends_to(1).last(),
        Some(&(11 * SEC, Out::Msg(MSG_ERR_IDLE_IN_TX)))
    );
    assert_eq!(r.close_of(1).map(|c| c.0), Some(11 * SEC));
    assert_eq!(r.close_of(2).map(|c| c.0), Some(61 * SEC));
    // The transaction rolled back: its write is not in the data.
    let v = r
        .srv
        .http_request(t(200 * SEC), encode_request(RequestOp::Read(7), false));
    assert_eq!(decode_version(v), None);
}

#[test]
fn upstash_evicts_the_longest_idle_above_the_soft_limit_and_refuses_at_the_hard_one() {
    let mut cfg = ServerConfig::preset(ServerKind::Upstash);
    cfg.idle_timeout = None;
    cfg.soft_limit = Some(2);
    cfg.hard_limit = Some(3);
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.connect(SEC, 2);
    r.request(2 * SEC, 1, RequestOp::Ping);
    // At the soft limit: the third evicts the longest idle (2, not 1).
    r.connect(3 * SEC, 3);
    r.run_to(4 * SEC);
    assert_eq!(r.close_of(2).map(|c| c.0), Some(3 * SEC));
    assert_eq!(r.close_of(1), None);
    assert_eq!(r.srv.totals().evicted, 1);
    assert_eq!(r.srv.open(), 2);
}

#[test]
fn unanswered_greetings_block_the_host_and_a_login_resets_the_count() {
    let mut cfg = ServerConfig::preset(ServerKind::Mysql);
    cfg.max_connect_errors = 2;
    let mut r = Rig::with_source(cfg, SourceIp::Shared);
    r.connect(0, 1);
    r.run_to(MS);
    assert_eq!(r.sends_to(1), vec![(0, Out::Msg(MSG_HELLO))]);
    // One bad handshake, then a login: the count starts again.
    r.run_to(11 * SEC);
    assert_eq!(
        r.close_of(1).map(|c| c.2),
        Some(Some("bad handshake".into()))
    );
    r.connect(11 * SEC, 2);
    r.run_to(11 * SEC);
    let c = r.conns[&2];
    r.srv.on_login(r.now, c);
    r.connect(12 * SEC, 3);
    r.run_to(30 * SEC);
    assert!(r.traces("host_blocked").is_empty());
    // Two in a row block the (shared) host.
    r.connect(30 * SEC, 4);
    r.run_to(50 * SEC);
    assert_eq!(r.traces("host_blocked").len(), 1);
    r.connect(50 * SEC, 5);
    r.run_to(51 * SEC);
    assert_eq!(
        r.sends_to(5),
        vec![(50 * SEC, Out::Msg(MSG_ERR_HOST_BLOCKED))]
    );
}

#[test]
fn a_client_that_left_before_the_accept_is_an_interrupted_attempt() {
    let mut cfg = generic();
    cfg.max_connect_errors = 1;
    cfg.cores = 1;
    cfg.accept_cpu = SimDuration::from_secs(1);
    let mut r = Rig::with_source(cfg, SourceIp::Shared);
    r.connect(0, 1);
    r.gone.push(1);
    r.run_to(2 * SEC);
    assert_eq!(r.srv.open(), 0);
    assert_eq!(
        r.close_of(1).and_then(|c| c.2),
        Some("the client left before the connection was accepted".into())
    );
    assert_eq!(r.traces("host_blocked").len(), 1);
}

#[test]
fn a_zombie_connection_says_so_when_it_closes() {
    let mut cfg = generic();
    cfg.idle_timeout = Some(SimDuration::from_secs(1));
    let mut r = Rig::new(cfg);
    r.connect(0, 1);
    r.run_to(0);
    let c = r.conns[&1];
    assert!(r.srv.set_zombie(c, true));
    assert!(!r.srv.set_zombie(c, true), "no change");
    let mut out = Vec::new();
    r.srv
        .on_timer(t(SEC), Timer::Idle { conn: c, gen: 1 }, None, &mut out);
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Close { zombie: true, .. })));
}

/// Every server input returns effects: keep them small (see `Effect`).
#[test]
fn effects_stay_small() {
    assert!(std::mem::size_of::<Effect<thaw_core::SlotRef<()>>>() <= 32);
}

/// Two servers are two models: their data, limits and counters are their
/// own.
#[test]
fn two_servers_keep_their_own_data_and_limits() {
    let mut cfg = generic();
    cfg.max_connections = 1;
    let mut a = Rig::new(cfg.clone());
    let mut b = Rig::new(cfg);
    a.connect(0, 1);
    b.connect(0, 1);
    a.connect(0, 2);
    a.run_to(SEC);
    b.run_to(SEC);
    assert_eq!((a.srv.totals().rejected, b.srv.totals().rejected), (1, 0));
    a.request(SEC, 1, RequestOp::Write(3));
    a.run_to(2 * SEC);
    let read = encode_request(RequestOp::Read(3), false);
    assert!(decode_version(a.srv.http_request(t(3 * SEC), read)).is_some());
    assert_eq!(decode_version(b.srv.http_request(t(3 * SEC), read)), None);
    let reply = &a.sends_to(1)[0].1;
    assert!(decode_version(reply_value(reply)).is_some());
}

/// model.md 2.12: a full handshake's first flight costs the server its
/// handshake CPU on its cores, on top of the service time; a resumed one
/// (no certificate, no signature) only the service time.
#[test]
fn a_full_tls_handshake_costs_the_server_its_cpu_and_a_resumed_one_does_not() {
    let mut cfg = generic();
    cfg.cores = 1;
    cfg.service_time = crate::Dist::Fixed(SimDuration::from_millis(1));
    let mut r = Rig::new(cfg);
    r.srv.set_tls(ServerTls {
        cpu: SimDuration::from_millis(5),
        close_notify: true,
    });
    r.connect(0, 1);
    r.connect(0, 2);
    r.tls_hello(0, 1, false);
    r.tls_hello(0, 2, true);
    r.request(0, 2, RequestOp::Ping);
    r.run_to(SEC);
    assert_eq!(r.sends_to(1)[0].0, 6 * MS);
    // One core: the resumed hello waits for the full one, then takes 1 ms,
    // and the request behind it 1 ms more.
    let at: Vec<u64> = r.sends_to(2).iter().map(|(at, _)| *at).collect();
    assert_eq!(at, vec![7 * MS, 8 * MS]);
}

/// model.md 2.12: the application's clean closes of a TLS connection
/// send close_notify first; the process's end does not, nor a connection
/// that never spoke TLS, nor a server without `close_notify`.
#[test]
fn a_clean_close_of_a_tls_connection_sends_close_notify_first_and_a_stop_does_not() {
    let mut cfg = generic();
    cfg.idle_timeout = Some(SimDuration::from_secs(60));
    let tls = |close_notify| ServerTls {
        cpu: SimDuration::ZERO,
        close_notify,
    };
    let mut r = Rig::new(cfg.clone());
    r.srv.set_tls(tls(true));
    r.connect(0, 1);
    r.connect(0, 2);
    r.connect(0, 3);
    r.tls_hello(0, 1, false);
    r.tls_hello(0, 3, false);
    r.run_to(30 * SEC);
    let mut out = Vec::new();
    r.srv.stop(r.now, &mut out);
    let stopped = out
        .iter()
        .filter(|e| matches!(e, Effect::CloseNotify { .. }))
        .count();
    assert_eq!(stopped, 0, "the process's end sends no close_notify");
    let mut r = Rig::new(cfg.clone());
    r.srv.set_tls(tls(true));
    r.connect(0, 1);
    r.connect(0, 2);
    r.tls_hello(0, 1, false);
    r.run_to(100 * SEC);
    let notify: Vec<&Did> = r
        .did
        .iter()
        .filter(|d| matches!(d, Did::CloseNotify(..) | Did::Close(..)))
        .collect();
    let service = generic().service_time.mean().as_nanos();
    let idle = 60 * SEC + service;
    assert_eq!(
        notify,
        vec![
            &Did::Close(60 * SEC, 2, false, Some("idle timeout".to_string())),
            &Did::CloseNotify(idle, 1),
            &Did::Close(idle, 1, false, Some("idle timeout".to_string())),
        ],
        "close_notify only on the TLS connection, just before its close"
    );
    let mut r = Rig::new(cfg);
    r.srv.set_tls(tls(false));
    r.connect(0, 1);
    r.tls_hello(0, 1, false);
    r.run_to(100 * SEC);
    assert!(!r.did.iter().any(|d| matches!(d, Did::CloseNotify(..))));
}
