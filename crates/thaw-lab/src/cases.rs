//! The lab's cases: one freeze/thaw situation each, run on the real network
//! stack and real servers, and generated as a thaw scenario.
//!
//! Times are milliseconds from `t0`, the moment the client starts its first
//! `connect()`. `t0` is placed 5 ms after a whole second of the system clock
//! (see `clock::next_second_plus`), so Redis's whole-second idle check is
//! reproducible: Redis closes a client idle for `timeout` seconds at the first
//! `clientsCron` run after `floor(last activity) + timeout + 1` seconds, i.e.
//! at about `timeout + 0.995 s` here (Redis `clientsCronHandleTimeout()`
//! compares `server.unixtime`, in whole seconds).
//!
//! Every case with `FreezeKind::Drop` keeps the client socket idle with
//! nothing unacknowledged and no client keepalive during the freeze, so the
//! difference between an nftables drop (the guest kernel's timers keep
//! running) and a paused microVM (thaw's `frozen_kernel = "silent"`: the
//! timers wait) cannot decide its outcome: the client kernel has no timer
//! armed for the socket while it is frozen.
use serde::Serialize;

/// Which real server the case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// redis-server 7.
    Redis,
    /// PostgreSQL 15.
    Postgres,
    /// MariaDB 10.11.
    Mariadb,
}

impl ServerKind {
    /// Listening port.
    pub fn port(self) -> u16 {
        match self {
            ServerKind::Redis => 6379,
            ServerKind::Postgres => 5432,
            ServerKind::Mariadb => 3306,
        }
    }
    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis",
            ServerKind::Postgres => "postgres",
            ServerKind::Mariadb => "mariadb",
        }
    }
}

/// The network path between the function and the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// One veth link, no middlebox.
    Direct,
    /// A NAT namespace (masquerade + conntrack) that drops packets of
    /// unknown flows (`ct state invalid drop`, `nf_conntrack_tcp_loose = 0`).
    NatDrop,
    /// The same NAT without the drop rule and with `nf_conntrack_tcp_loose =
    /// 1`: a mid-stream packet of a forgotten flow starts a new flow.
    NatAccept,
}

impl PathKind {
    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::NatDrop => "nat-drop",
            PathKind::NatAccept => "nat-accept",
        }
    }
    /// Has a middlebox namespace.
    pub fn nat(self) -> bool {
        !matches!(self, PathKind::Direct)
    }
}

/// How the function is frozen between the phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeKind {
    /// nftables drops every packet in and out of the function namespace and
    /// the client does nothing: thaw's `frozen_kernel = "silent"`.
    Drop,
    /// Only the client process does nothing; its kernel keeps answering:
    /// thaw's `frozen_kernel = "running"`.
    Pause,
}

impl FreezeKind {
    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            FreezeKind::Drop => "drop",
            FreezeKind::Pause => "pause",
        }
    }
}

/// One request of an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Req {
    /// Redis `PING`, PostgreSQL `SELECT 1`, MariaDB `COM_PING`.
    Ping,
    /// PostgreSQL `BEGIN`.
    Begin,
}

impl Req {
    /// Request name in the scenario and the tables.
    pub fn name(self, server: ServerKind) -> &'static str {
        match (self, server) {
            (Req::Ping, ServerKind::Redis) => "PING",
            (Req::Ping, ServerKind::Postgres) => "SELECT 1",
            (Req::Ping, ServerKind::Mariadb) => "COM_PING",
            (Req::Begin, _) => "BEGIN",
        }
    }
}

/// One step of the client's script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Step {
    /// An invocation: on connection `conn` (opened, with the server's
    /// handshake, if it is not open), the requests in order.
    Inv {
        /// Connection number (0 = the main function's).
        conn: usize,
        /// Requests.
        reqs: Vec<Req>,
    },
    /// An interrupted connection attempt: connect, read the server's
    /// greeting, close without authenticating (MariaDB's host cache counts
    /// it toward `max_connect_errors`).
    Interrupt {
        /// Connection number.
        conn: usize,
    },
}

impl Step {
    /// The connection the step uses.
    pub fn conn(&self) -> usize {
        match self {
            Step::Inv { conn, .. } | Step::Interrupt { conn } => *conn,
        }
    }
}

/// Server settings of a case.
#[derive(Clone, Debug, Serialize)]
pub struct ServerCfg {
    /// Idle timeout in ms (0 = off): Redis `timeout` (whole seconds),
    /// PostgreSQL `idle_session_timeout`, MariaDB `wait_timeout` (whole
    /// seconds).
    pub idle_timeout_ms: u64,
    /// PostgreSQL `idle_in_transaction_session_timeout` (0 = off).
    pub idle_in_tx_ms: u64,
    /// Redis `tcp-keepalive` in seconds (0 = off): `TCP_KEEPIDLE` = N,
    /// `TCP_KEEPINTVL` = max(N/3, 1), `TCP_KEEPCNT` = 3 (Redis `anetKeepAlive()`).
    pub redis_keepalive_s: u32,
    /// MariaDB `max_connections` (PostgreSQL: 20, Redis: default).
    pub max_connections: u32,
    /// MariaDB `max_connect_errors`.
    pub max_connect_errors: u32,
    /// MariaDB `connect_timeout` in seconds (its handshake timeout).
    pub connect_timeout_s: u32,
}

impl Default for ServerCfg {
    fn default() -> Self {
        ServerCfg {
            idle_timeout_ms: 0,
            idle_in_tx_ms: 0,
            redis_keepalive_s: 0,
            max_connections: 20,
            max_connect_errors: 100,
            connect_timeout_s: 10,
        }
    }
}

/// The server host's kernel settings (per network namespace).
#[derive(Clone, Debug, Serialize)]
pub struct KernelCfg {
    /// `net.ipv4.tcp_orphan_retries`.
    pub orphan_retries: u32,
    /// `net.ipv4.tcp_fin_timeout`, seconds.
    pub fin_timeout_s: u32,
}

impl Default for KernelCfg {
    fn default() -> Self {
        KernelCfg {
            orphan_retries: 2,
            fin_timeout_s: 2,
        }
    }
}

/// Conntrack TCP timeouts of the middlebox namespace, seconds
/// (`net.netfilter.nf_conntrack_tcp_timeout_*`).
#[derive(Clone, Debug, Serialize)]
pub struct CtCfg {
    /// SYN_SENT.
    pub syn_sent: u32,
    /// SYN_RECV.
    pub syn_recv: u32,
    /// ESTABLISHED.
    pub established: u32,
    /// FIN_WAIT.
    pub fin_wait: u32,
    /// CLOSE_WAIT.
    pub close_wait: u32,
    /// LAST_ACK.
    pub last_ack: u32,
    /// TIME_WAIT.
    pub time_wait: u32,
    /// CLOSE.
    pub close: u32,
}

impl Default for CtCfg {
    /// Linux's defaults (`tcp_timeouts[]` in nf_conntrack_proto_tcp.c).
    fn default() -> Self {
        CtCfg {
            syn_sent: 120,
            syn_recv: 60,
            established: 432_000,
            fin_wait: 120,
            close_wait: 60,
            last_ack: 30,
            time_wait: 120,
            close: 10,
        }
    }
}

impl CtCfg {
    /// (sysctl suffix, scenario key, value) for every state.
    pub fn entries(&self) -> [(&'static str, &'static str, u32); 8] {
        [
            ("syn_sent", "syn_sent", self.syn_sent),
            ("syn_recv", "syn_recv", self.syn_recv),
            ("established", "established", self.established),
            ("fin_wait", "fin_wait", self.fin_wait),
            ("close_wait", "close_wait", self.close_wait),
            ("last_ack", "last_ack", self.last_ack),
            ("time_wait", "time_wait", self.time_wait),
            ("close", "close", self.close),
        ]
    }
}

/// How the thaw scenario of a case is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimKind {
    /// Lab connection k = one thaw function (main for k = 0, handler `c<k>`
    /// otherwise); each `Inv` step = one invocation of it.
    Generic,
    /// `max_connect_errors`: thaw has no client that hangs up after the
    /// greeting, so the interrupted attempts are made the way
    /// `mysql-host-blocked.toml` makes them: simultaneous connections behind
    /// a 1-core server (10 ms per accept) whose clients give up after 15 ms
    /// (`client.connect_timeout`) while still in its accept queue. Only the
    /// invocations after them are compared.
    ConnectErrorStorm,
}

/// One case.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// Unique name.
    pub name: &'static str,
    /// One line.
    pub desc: &'static str,
    /// The boundary the case sits on, and what should happen.
    pub why: &'static str,
    /// Server.
    pub server: ServerKind,
    /// Path.
    pub path: PathKind,
    /// Freeze kind.
    pub freeze: FreezeKind,
    /// Phase 2 starts (the thaw) this long after t0.
    pub thaw_at_ms: u64,
    /// Observation ends this long after t0 (the client keeps its sockets
    /// until then).
    pub observe_until_ms: u64,
    /// Server settings.
    pub srv: ServerCfg,
    /// Server host kernel.
    pub srv_tcp: KernelCfg,
    /// Conntrack timeouts (NAT paths).
    pub ct: CtCfg,
    /// Client `TCP_USER_TIMEOUT`.
    pub user_timeout_ms: Option<u64>,
    /// The client's own bound on every wait (connect, reply): "no answer".
    pub bound_ms: u64,
    /// Steps before the freeze.
    pub phase1: Vec<Step>,
    /// Steps after the thaw.
    pub phase2: Vec<Step>,
    /// Scenario construction.
    pub sim: SimKind,
}

impl Case {
    fn base(name: &'static str, server: ServerKind, path: PathKind, freeze: FreezeKind) -> Case {
        Case {
            name,
            desc: "",
            why: "",
            server,
            path,
            freeze,
            thaw_at_ms: 0,
            observe_until_ms: 0,
            srv: ServerCfg::default(),
            srv_tcp: KernelCfg::default(),
            ct: CtCfg::default(),
            user_timeout_ms: Some(1000),
            bound_ms: 4000,
            phase1: vec![ping(0)],
            phase2: vec![ping(0)],
            sim: SimKind::Generic,
        }
    }

    /// All steps in order with their phase (1 or 2).
    pub fn steps(&self) -> impl Iterator<Item = (u8, &Step)> {
        self.phase1
            .iter()
            .map(|s| (1u8, s))
            .chain(self.phase2.iter().map(|s| (2u8, s)))
    }

    /// Number of connections the script uses.
    pub fn conns(&self) -> usize {
        self.steps().map(|(_, s)| s.conn() + 1).max().unwrap_or(1)
    }
}

fn ping(conn: usize) -> Step {
    Step::Inv {
        conn,
        reqs: vec![Req::Ping],
    }
}

fn interrupt(conn: usize) -> Step {
    Step::Interrupt { conn }
}

/// Every case, in run order.
pub fn all() -> Vec<Case> {
    use FreezeKind::{Drop, Pause};
    use PathKind::{Direct, NatAccept, NatDrop};
    use ServerKind::{Mariadb, Postgres, Redis};
    let mut v = Vec::new();

    // ---- Redis: idle close (timeout 2 s: closes at ~2.995 s), FIN to a frozen client.
    let redis = |name, path, freeze| {
        let mut c = Case::base(name, Redis, path, freeze);
        c.srv.idle_timeout_ms = 2000;
        c
    };

    let mut c = redis("redis-direct-thaw-before-close", Direct, Drop);
    c.desc = "freeze 1.5 s < Redis timeout 2 s: the cached connection still works";
    c.why = "freeze shorter than the server's idle close";
    c.thaw_at_ms = 1500;
    c.observe_until_ms = 2500;
    v.push(c);

    let mut c = redis("redis-direct-fin-wait1", Direct, Drop);
    c.desc = "thaw while the server's orphan retransmits its FIN: RST from the orphan";
    c.why = "freeze longer than the idle close, shorter than close + orphan FIN retransmissions (orphan_retries 2)";
    c.thaw_at_ms = 4500;
    c.observe_until_ms = 5500;
    v.push(c);

    let mut c = redis("redis-direct-socket-gone", Direct, Drop);
    c.desc = "thaw after the server's orphan gave up: RST from the server host (no socket)";
    c.why = "freeze longer than idle close + orphan FIN retransmissions (orphan_retries 1)";
    c.srv_tcp.orphan_retries = 1;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    let mut c = redis("redis-nat-drop-flow-tracked", NatDrop, Drop);
    c.desc = "NAT still tracks the flow (fin_wait/last_ack 4 s): the request reaches the server host, RST";
    c.why = "freeze longer than close + orphan retransmissions, shorter than + conntrack fin_wait/last_ack";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 4;
    c.ct.last_ack = 4;
    c.thaw_at_ms = 6000;
    c.observe_until_ms = 7000;
    v.push(c);

    let mut c = redis("redis-nat-drop-flow-forgotten", NatDrop, Drop);
    c.desc = "NAT forgot the flow (fin_wait/last_ack 1 s) and drops the request: ETIMEDOUT (TCP_USER_TIMEOUT 1 s)";
    c.why = "freeze longer than close + orphan retransmissions + conntrack fin_wait/last_ack; user timeout set";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 1;
    c.ct.last_ack = 1;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 7500;
    v.push(c);

    let mut c = redis("redis-nat-drop-flow-forgotten-no-ut", NatDrop, Drop);
    c.desc = "as redis-nat-drop-flow-forgotten without TCP_USER_TIMEOUT: no answer within the client's 4 s";
    c.why = "the same boundary with the user timeout unset (tcp_retries2 15 would take 924.6 s)";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 1;
    c.ct.last_ack = 1;
    c.user_timeout_ms = None;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 10_000;
    v.push(c);

    let mut c = redis("redis-nat-accept-flow-forgotten", NatAccept, Drop);
    c.desc = "NAT forgot the flow but accepts mid-stream packets (tcp_loose 1): the server host answers RST";
    c.why = "drop vs accept of unknown flows, server socket gone";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 1;
    c.ct.last_ack = 1;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    // ---- Redis without idle close: only the NAT's established timeout.
    let mut c = redis("redis-nat-drop-established-expired", NatDrop, Drop);
    c.desc =
        "no server idle close; NAT forgets the ESTABLISHED flow after 2 s and drops the request";
    c.why = "freeze longer than conntrack's established timeout, drop mode";
    c.srv.idle_timeout_ms = 0;
    c.ct.established = 2;
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 5500;
    v.push(c);

    let mut c = redis("redis-nat-accept-established-expired", NatAccept, Drop);
    c.desc = "as redis-nat-drop-established-expired, accept mode: the flow is picked up again and the server answers";
    c.why = "freeze longer than conntrack's established timeout, accept mode (server socket alive)";
    c.srv.idle_timeout_ms = 0;
    c.ct.established = 2;
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    let mut c = redis("redis-nat-drop-established-expired-no-ut", NatDrop, Drop);
    c.desc = "as redis-nat-drop-established-expired without TCP_USER_TIMEOUT: no answer within the client's 4 s";
    c.why = "freeze longer than conntrack's established timeout, drop mode, user timeout unset";
    c.srv.idle_timeout_ms = 0;
    c.ct.established = 2;
    c.user_timeout_ms = None;
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 8500;
    v.push(c);

    let mut c = redis("redis-nat-drop-established-alive", NatDrop, Drop);
    c.desc = "control: established timeout 5 s > freeze 3.5 s, the request works";
    c.why = "freeze shorter than conntrack's established timeout";
    c.srv.idle_timeout_ms = 0;
    c.ct.established = 5;
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    // ---- Redis server keepalive (tcp-keepalive 1: probes at 1, 2, 3 s, RST at 4 s).
    let mut c = redis("redis-keepalive-direct", Direct, Drop);
    c.desc = "server keepalive (idle 1 s, interval 1 s, 3 probes) kills the socket at ~4 s: RST from the host";
    c.why = "server keepalive on, freeze longer than keepalive death";
    c.srv.idle_timeout_ms = 0;
    c.srv.redis_keepalive_s = 1;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    let mut c = redis("redis-keepalive-off-direct", Direct, Drop);
    c.desc = "control: server keepalive off, same freeze: the request works";
    c.why = "server keepalive off";
    c.srv.idle_timeout_ms = 0;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    let mut c = redis("redis-keepalive-nat-close-tracked", NatDrop, Drop);
    c.desc =
        "keepalive RST leaves the NAT flow in CLOSE (close 4 s); the request still passes: RST";
    c.why = "freeze longer than keepalive death, shorter than + conntrack close timeout";
    c.srv.idle_timeout_ms = 0;
    c.srv.redis_keepalive_s = 1;
    c.ct.close = 4;
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    let mut c = redis("redis-keepalive-nat-close-expired", NatDrop, Drop);
    c.desc = "keepalive RST, NAT close timeout 1 s expired: the request is dropped, ETIMEDOUT";
    c.why = "freeze longer than keepalive death + conntrack close timeout";
    c.srv.idle_timeout_ms = 0;
    c.srv.redis_keepalive_s = 1;
    c.ct.close = 1;
    c.thaw_at_ms = 6000;
    c.observe_until_ms = 8000;
    v.push(c);

    let mut c = redis("redis-keepalive-nat-accept-close-expired", NatAccept, Drop);
    c.desc = "as redis-keepalive-nat-close-expired, accept mode: the request starts a new flow and meets RST";
    c.why = "freeze longer than keepalive death + conntrack close timeout, accept mode";
    c.srv.idle_timeout_ms = 0;
    c.srv.redis_keepalive_s = 1;
    c.ct.close = 1;
    c.thaw_at_ms = 6000;
    c.observe_until_ms = 7000;
    v.push(c);

    let mut c = redis("redis-pause-idle-close", Direct, Pause);
    c.desc = "running kernel: the client kernel ACKs Redis's FIN; after the thaw read() returns 0";
    c.why = "frozen_kernel running, idle close during the pause";
    c.thaw_at_ms = 5500;
    c.observe_until_ms = 6500;
    v.push(c);

    // ---- PostgreSQL: idle_session_timeout 2 s (FATAL 57P05), idle_in_transaction 1.5 s (25P03).
    let pg = |name, path, freeze| {
        let mut c = Case::base(name, Postgres, path, freeze);
        c.srv.idle_timeout_ms = 2000;
        c
    };

    let mut c = pg("pg-drop-thaw-before-idle", Direct, Drop);
    c.desc = "control: freeze 1.5 s < idle_session_timeout 2 s";
    c.why = "freeze shorter than idle_session_timeout";
    c.thaw_at_ms = 1500;
    c.observe_until_ms = 2500;
    v.push(c);

    let mut c = pg("pg-pause-idle-session", Direct, Pause);
    c.desc = "running kernel: the client kernel queues FATAL 57P05 and the FIN; the request reads the message";
    c.why = "frozen_kernel running, idle_session_timeout during the pause";
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    let mut c = pg("pg-drop-idle-session-direct", Direct, Drop);
    c.desc =
        "57P05 and FIN are dropped; the orphan retransmits them; the request meets the orphan: RST";
    c.why = "freeze longer than idle_session_timeout, shorter than + orphan retransmissions";
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    let mut c = pg("pg-drop-idle-session-nat-forgotten", NatDrop, Drop);
    c.desc = "57P05 dropped; NAT forgets the flow (fin_wait/last_ack 1 s); the request is dropped: ETIMEDOUT";
    c.why = "freeze longer than idle close + orphan retransmissions + fin_wait/last_ack";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 1;
    c.ct.last_ack = 1;
    c.thaw_at_ms = 4500;
    c.observe_until_ms = 6500;
    v.push(c);

    // BEGIN left open, idle_in_transaction_session_timeout 1.5 s.
    let in_tx = |name, freeze, desc, why| {
        let mut c = pg(name, Direct, freeze);
        c.desc = desc;
        c.why = why;
        c.srv.idle_timeout_ms = 0;
        c.srv.idle_in_tx_ms = 1500;
        c.phase1 = vec![Step::Inv {
            conn: 0,
            reqs: vec![Req::Begin, Req::Ping],
        }];
        c.phase2 = c.phase1.clone();
        c.thaw_at_ms = 3000;
        c.observe_until_ms = 4000;
        c
    };
    v.push(in_tx(
        "pg-pause-idle-in-transaction",
        Pause,
        "BEGIN left open; idle_in_transaction_session_timeout 1.5 s sends FATAL 25P03; read after thaw",
        "idle_in_transaction_session_timeout during a pause (running kernel)",
    ));
    v.push(in_tx(
        "pg-drop-idle-in-transaction",
        Drop,
        "BEGIN left open; 25P03 and FIN dropped by the freeze; the request meets the orphan: RST",
        "idle_in_transaction_session_timeout during a silent freeze",
    ));

    // ---- MariaDB: wait_timeout 2 s.
    let maria = |name, path, freeze| {
        let mut c = Case::base(name, Mariadb, path, freeze);
        c.srv.idle_timeout_ms = 2000;
        c.srv.max_connections = 151;
        c
    };

    let mut c = maria("maria-pause-wait-timeout", Direct, Pause);
    c.desc = "running kernel: MariaDB's wait_timeout close reaches the client while it pauses";
    c.why = "wait_timeout during a pause (running kernel): message or not, FIN or RST";
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    let mut c = maria("maria-drop-wait-timeout-direct", Direct, Drop);
    c.desc = "wait_timeout close while frozen, direct path: the RST is lost, the request finds no socket and gets the host's RST";
    c.why = "freeze longer than wait_timeout (an abortive close leaves no orphan; orphan_retries 1 bounds one if there were)";
    c.srv_tcp.orphan_retries = 1;
    c.thaw_at_ms = 3800;
    c.observe_until_ms = 4800;
    v.push(c);

    let mut c = maria("maria-drop-wait-timeout-nat", NatDrop, Drop);
    c.desc = "wait_timeout close while frozen behind a NAT (fin_wait, last_ack, close 3 s), thaw at 5.3 s";
    c.why = "conntrack state left by the server's close (FIN → FIN_WAIT/LAST_ACK, RST → CLOSE) vs its timeout";
    c.srv_tcp.orphan_retries = 1;
    c.ct.fin_wait = 3;
    c.ct.last_ack = 3;
    c.ct.close = 3;
    c.thaw_at_ms = 5300;
    c.observe_until_ms = 7300;
    v.push(c);

    // ---- MariaDB connection limit: max_connections 10 (its minimum); the lab's
    // user has no SUPER, so the 11th connection is refused with 1040.
    let mut c = maria("maria-max-connections-freed", Direct, Drop);
    c.desc = "10 connections held, the 11th refused (1040); wait_timeout frees them during the freeze; a new one works";
    c.why = "max_connections reached; freeze longer than wait_timeout";
    c.srv.max_connections = 10;
    c.phase1 = (0..11).map(ping).collect();
    c.phase2 = vec![ping(11)];
    c.thaw_at_ms = 3500;
    c.observe_until_ms = 4500;
    v.push(c);

    let mut c = maria("maria-max-connections-held", Direct, Drop);
    c.desc = "10 connections held by frozen clients, thaw before wait_timeout: the new connection is refused (1040)";
    c.why = "max_connections reached; freeze shorter than wait_timeout";
    c.srv.max_connections = 10;
    c.phase1 = (0..11).map(ping).collect();
    c.phase2 = vec![ping(11)];
    c.thaw_at_ms = 1500;
    c.observe_until_ms = 2500;
    v.push(c);

    // ---- MariaDB host cache: max_connect_errors 3.
    let mut c = maria("maria-connect-errors-below", Direct, Pause);
    c.desc = "2 interrupted handshakes < max_connect_errors 3: the next connection works";
    c.why = "interrupted attempts one below max_connect_errors";
    c.srv.idle_timeout_ms = 0;
    c.srv.max_connect_errors = 3;
    c.srv.connect_timeout_s = 2;
    c.phase1 = vec![ping(0), interrupt(1), interrupt(2)];
    c.phase2 = vec![ping(3)];
    c.thaw_at_ms = 1000;
    c.observe_until_ms = 1500;
    c.sim = SimKind::ConnectErrorStorm;
    v.push(c);

    let mut c = maria("maria-connect-errors-blocked", Direct, Pause);
    c.desc = "3 interrupted handshakes = max_connect_errors 3: the host is blocked, the next connection gets 1129";
    c.why = "interrupted attempts at max_connect_errors";
    c.srv.idle_timeout_ms = 0;
    c.srv.max_connect_errors = 3;
    c.srv.connect_timeout_s = 2;
    c.phase1 = vec![ping(0), interrupt(1), interrupt(2), interrupt(3)];
    c.phase2 = vec![ping(4)];
    c.thaw_at_ms = 1000;
    c.observe_until_ms = 1500;
    c.sim = SimKind::ConnectErrorStorm;
    v.push(c);

    v
}

/// The case named `name`.
pub fn find(name: &str) -> Option<Case> {
    all().into_iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique_and_enough_cases() {
        let cases = all();
        assert!(cases.len() >= 20);
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }

    #[test]
    fn every_case_is_bounded() {
        for c in all() {
            assert!(c.thaw_at_ms > 0, "{}", c.name);
            assert!(c.observe_until_ms > c.thaw_at_ms, "{}", c.name);
            assert!(c.observe_until_ms <= 15_000, "{}", c.name);
            assert!(!c.desc.is_empty() && !c.why.is_empty(), "{}", c.name);
            if c.server != ServerKind::Postgres {
                assert_eq!(c.srv.idle_timeout_ms % 1000, 0, "{}", c.name);
            }
        }
    }
}
