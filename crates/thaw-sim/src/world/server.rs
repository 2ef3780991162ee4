//! The server application: the accept queue, CPU cores shared by accepts
//! and queries, the connection limit (and Upstash's soft/hard limits with
//! idle eviction), MySQL's host cache (`max_connect_errors`), answering
//! requests, and closing idle connections with the server's message.
use super::*;
use crate::config::{IdleClose, ServerKind, SourceIp};

/// What a client library prints for the server's refusal, per server.
fn too_many_text(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Mysql | ServerKind::Mariadb => {
            "ER_CON_COUNT_ERROR (1040): Too many connections"
        }
        ServerKind::Postgres => "FATAL 53300: sorry, too many clients already",
        ServerKind::Redis | ServerKind::Upstash | ServerKind::Generic => {
            "ERR max number of clients reached"
        }
    }
}

pub(super) fn idle_close_text(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Mysql => "ER_CLIENT_INTERACTION_TIMEOUT (4031): The client was disconnected by the server because of inactivity. See wait_timeout and interactive_timeout for configuring this behavior.",
        ServerKind::Postgres => "FATAL 57P05: terminating connection due to idle-session timeout",
        // MariaDB sends no message (it has no 4031); with
        // idle_close_error the generic text stands in.
        ServerKind::Mariadb | ServerKind::Redis | ServerKind::Upstash | ServerKind::Generic => {
            "connection closed by the server after its idle timeout"
        }
    }
}

pub(super) fn host_blocked_text() -> &'static str {
    "ER_HOST_IS_BLOCKED (1129): Host is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'"
}

pub(super) fn idle_in_tx_text(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Postgres => {
            "FATAL 25P03: terminating connection due to idle-in-transaction timeout"
        }
        ServerKind::Mysql
        | ServerKind::Mariadb
        | ServerKind::Redis
        | ServerKind::Upstash
        | ServerKind::Generic => "connection closed by the server: idle in a transaction too long",
    }
}

pub(super) fn reject_text(kind: ServerKind, msg: u64) -> (ErrorKind, &'static str) {
    match msg {
        MSG_ERR_HOST_BLOCKED => (ErrorKind::HostBlocked, host_blocked_text()),
        MSG_ERR_IDLE => (ErrorKind::ServerIdleClosed, idle_close_text(kind)),
        MSG_ERR_IDLE_IN_TX => (ErrorKind::ServerIdleClosed, idle_in_tx_text(kind)),
        _ => (ErrorKind::TooManyConnections, too_many_text(kind)),
    }
}

impl World<'_> {
    /// The key of MySQL's host cache for a client address.
    fn host_key(&self, peer: Addr) -> u32 {
        match self.cfg.network.source_ip {
            SourceIp::Shared => 1,
            SourceIp::PerEnvironment => peer.host,
        }
    }

    /// A SYN reached the listener: is there room in the accept queue?
    /// (`tcp_conn_request()`: a full accept queue drops the SYN; the client
    /// retransmits it.)
    pub(super) fn accept_queue_full(&mut self, seg: &Segment) -> bool {
        if self.accept_queue < self.cfg.server.backlog {
            return false;
        }
        self.syn_dropped += 1;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "syn_drop",
                vec![("accept_queue", self.accept_queue.into())],
                format!(
                    "{} drops a SYN from {}: accept queue full ({} = backlog); the client will retransmit it",
                    self.cfg.server.name,
                    self.addr_name(seg.src),
                    self.accept_queue
                ),
            );
        }
        true
    }

    /// The TCP handshake completed: the connection waits in the accept
    /// queue for a core to accept it.
    pub(super) fn server_enqueue_accept(&mut self, s: SockRef) {
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::ServerQueued;
        }
        self.accept_queue += 1;
        self.cpu_submit(Work::Accept(s));
    }

    fn cpu_cost(&self, w: Work) -> SimDuration {
        match w {
            Work::Accept(_) => self.cfg.server.accept_cpu,
            Work::Request(_) => self.cfg.server.service_time,
        }
    }

    /// Queues one request of connection `c` for a core.
    pub(super) fn cpu_submit_request(&mut self, c: ConnRef) {
        self.cpu_submit(Work::Request(c));
    }

    fn cpu_submit(&mut self, w: Work) {
        let cores = self.cfg.server.cores;
        if cores == 0 || self.cpu_busy < cores {
            self.cpu_busy += 1;
            let at = self.q.now() + self.cpu_cost(w);
            self.schedule(at, Ev::WorkDone { work: w });
        } else {
            self.cpu_queue.push_back(w);
        }
    }

    pub(super) fn on_work_done(&mut self, w: Work) {
        self.cpu_busy -= 1;
        // Start the next queued work first, so that work submitted while
        // handling this one queues behind it (FIFO).
        if let Some(next) = self.cpu_queue.pop_front() {
            self.cpu_busy += 1;
            let at = self.q.now() + self.cpu_cost(next);
            self.schedule(at, Ev::WorkDone { work: next });
        }
        match w {
            Work::Accept(s) => {
                self.accept_queue -= 1;
                self.server_accept(s);
            }
            Work::Request(c) => self.answer(c),
        }
    }

    fn connect_error(&mut self, host_key: u32, why: &str) {
        let limit = self.cfg.server.max_connect_errors;
        if limit == 0 {
            return;
        }
        let n = self.host_errors.entry(host_key).or_insert(0);
        *n += 1;
        let n = *n;
        if n >= limit && self.blocked_hosts.insert(host_key) && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "host_blocked",
                vec![("errors", n.into())],
                format!(
                    "{} blocks the functions' host after {n} interrupted connection attempts in a row (max_connect_errors = {limit}; last: {why}); until flushed it refuses them with 1129",
                    self.cfg.server.name
                ),
            );
        }
    }

    fn reject(&mut self, s: SockRef, msg: u64, why: String) {
        let now = self.q.now();
        self.server_rejected += 1;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "reject",
                vec![("open", self.server_open.into())],
                why,
            );
        }
        let payload = match self
            .sock(s)
            .map(|l| l.tcb.remote())
            .and_then(|p| self.wire_of_peer(p))
        {
            Some(proto) => self.wire_message(proto, msg),
            None => Some(Payload(msg)),
        };
        let mut out = self.buf();
        if let Some(ls) = self.sock_mut(s) {
            if let Some(p) = payload {
                let _ = ls.tcb.send(now, p, &mut out);
            }
            ls.owner = Owner::Kernel;
            ls.tcb.close(now, &mut out);
        }
        self.apply(s, out);
    }

    /// A core accepted the connection: limits, host cache, greeting.
    fn server_accept(&mut self, s: SockRef) {
        let now = self.q.now();
        let Some((peer, alive)) = self.sock(s).map(|l| {
            (
                l.tcb.remote(),
                l.tcb.state() == thaw_net::TcpState::Established && l.tcb.pending_error().is_none(),
            )
        }) else {
            // The client gave up and the socket is gone.
            return;
        };
        let host_key = self.host_key(peer);
        if !alive {
            // The client went away while the connection waited for accept().
            self.connect_error(host_key, "closed before it was accepted");
            if let Some(ls) = self.sock_mut(s) {
                ls.owner = Owner::Kernel;
            }
            self.app_close(s, "the client left before the connection was accepted");
            return;
        }
        if self.blocked_hosts.contains(&host_key) {
            let why = format!(
                "{} refuses {}: host blocked (max_connect_errors); sends 1129 and closes",
                self.cfg.server.name,
                self.addr_name(peer)
            );
            self.reject(s, MSG_ERR_HOST_BLOCKED, why);
            return;
        }
        let open = self.server_open;
        match (self.cfg.server.soft_limit, self.cfg.server.hard_limit) {
            (Some(soft), Some(hard)) => {
                if open >= hard as u64 {
                    let why = format!(
                        "{} refuses {}: {open} connections open = hard limit {hard}",
                        self.cfg.server.name,
                        self.addr_name(peer)
                    );
                    self.reject(s, MSG_ERR_MAXCLIENTS, why);
                    return;
                }
                if open >= soft as u64 {
                    self.evict_idle(open + 1 - soft as u64);
                }
            }
            _ => {
                let limit = self.cfg.server.client_limit() as u64;
                if open >= limit {
                    let why = format!(
                        "{} refuses {}: {open} connections open = max_connections {}{}; sends \"{}\" and closes",
                        self.cfg.server.name,
                        self.addr_name(peer),
                        self.cfg.server.max_connections,
                        if self.cfg.server.reserved_connections > 0 {
                            format!(" − {} reserved", self.cfg.server.reserved_connections)
                        } else {
                            String::new()
                        },
                        too_many_text(self.cfg.server.kind)
                    );
                    self.reject(s, MSG_ERR_MAXCLIENTS, why);
                    return;
                }
            }
        }
        let session = self.cluster.open(
            now,
            thaw_db::SessionConfig {
                autocommit: self.cfg.client.autocommit,
                isolation: self.cfg.client.isolation,
            },
        );
        let c = self.alloc_conn(ServerConn {
            sock: s,
            peer,
            last_activity: now,
            pending: 0,
            idle_gen: 0,
            zombie: false,
            established: !self.cfg.server.handshake,
            host_key,
            session,
            ops: VecDeque::new(),
            wire: self
                .wire_of_peer(peer)
                .map(|p| Box::new(wire::WireConn::new(p))),
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
            // The server's name is cloned only when traced (not per accept).
            let name = self.cfg.server.name.clone();
            self.emit(
                Level::Timeline,
                name.clone(),
                "accept",
                vec![("open", self.server_open.into())],
                format!(
                    "{name} accepts {} ({} connection(s) open)",
                    self.addr_name(peer),
                    self.server_open
                ),
            );
        }
        let wired = self.ext.is_some() && self.conn(c).is_some_and(|k| k.wire.is_some());
        if self.cfg.server.handshake && !wired {
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                let _ = ls.tcb.send(now, Payload(MSG_HELLO), &mut out);
            }
            self.apply(s, out);
            if let Some(t) = self.cfg.server.handshake_timeout {
                self.schedule(now + t, Ev::HandshakeTimeout { conn: c });
            }
        }
        self.arm_server_idle(c, now);
        // Data that arrived while the connection waited in the accept queue
        // is in the socket: read it now.
        if self.sock(s).is_some_and(|l| l.tcb.unread() > 0) {
            self.server_notice(c, s, Notice::Readable);
        }
    }

    /// Upstash: between the soft and the hard limit, evict idle connections
    /// (longest idle first), `n` of them at most.
    fn evict_idle(&mut self, n: u64) {
        let now = self.q.now();
        let min_idle = self.cfg.server.evict_min_idle;
        let mut idle: Vec<(SimTime, u32, ConnRef, SockRef, Addr)> =
            self.conns
                .iter()
                .filter_map(|(r, c)| {
                    (c.pending == 0 && now.saturating_since(c.last_activity) >= min_idle)
                        .then_some((c.last_activity, r.index(), r, c.sock, c.peer))
                })
                .collect();
        idle.sort_by_key(|(t, i, ..)| (*t, *i));
        for (last, _, c, s, peer) in idle.into_iter().take(n as usize) {
            self.server_evicted += 1;
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    self.cfg.server.name.clone(),
                    "evict",
                    vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                    format!(
                        "{} is above its soft limit: evicts the connection from {} (idle {})",
                        self.cfg.server.name,
                        self.addr_name(peer),
                        now.saturating_since(last)
                    ),
                );
            }
            self.server_close(c, s, "evicted: idle while above the soft limit");
        }
    }

    /// The idle limit that applies to connection `c` now: the idle
    /// timeout, or the (shorter) idle-in-transaction timeout while its
    /// session has an open transaction. `true` = the transaction limit.
    fn idle_limit(&self, c: ConnRef) -> Option<(SimDuration, bool)> {
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
    fn idle_timeout_of(&self, c: ConnRef) -> Option<(SimDuration, bool)> {
        if self.cfg.server.idle_in_transaction_timeout.is_some() {
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
        match self.cfg.server.idle_check_interval {
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
        let idle = self.cfg.server.idle_timeout.map(|t| (t, false));
        let tx = self
            .cfg
            .server
            .idle_in_transaction_timeout
            .filter(|_| in_tx)
            .map(|t| (t, true));
        match (idle, tx) {
            (Some(a), Some(b)) => Some(if b.0 <= a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn arm_server_idle(&mut self, c: ConnRef, from: SimTime) {
        let Some((t, in_tx)) = self.idle_timeout_of(c) else {
            return;
        };
        let due = self.idle_due(from, t, in_tx);
        let Some(conn) = self.conn_mut(c) else { return };
        conn.idle_gen += 1;
        let gen = conn.idle_gen;
        if from == self.q.now() && due == from + t {
            self.schedule(due, Ev::ServerIdle { conn: c, gen });
        } else {
            // A re-check after activity, or a check on the interval clock:
            // its delay is one of a kind.
            self.q.push(due, Ev::ServerIdle { conn: c, gen });
        }
    }

    pub(super) fn on_server_idle(&mut self, c: ConnRef, gen: u32) {
        let now = self.q.now();
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
            self.arm_server_idle(c, last);
            return;
        }
        let with_error = self.cfg.server.idle_close_error || in_tx;
        let (msg, text, what) = if in_tx {
            (
                MSG_ERR_IDLE_IN_TX,
                idle_in_tx_text(self.cfg.server.kind),
                "idle_in_transaction_timeout",
            )
        } else {
            (
                MSG_ERR_IDLE,
                idle_close_text(self.cfg.server.kind),
                "idle_timeout",
            )
        };
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "idle_close",
                vec![
                    ("idle_ns", now.saturating_since(last).as_nanos().into()),
                    ("in_transaction", in_tx.into()),
                ],
                format!(
                    "{} closes the connection from {}: idle for {} ≥ {what} {t}{}{}",
                    self.cfg.server.name,
                    self.addr_name(peer),
                    now.saturating_since(last),
                    if with_error {
                        format!("; it first sends \"{text}\"")
                    } else {
                        String::new()
                    },
                    match self.cfg.server.idle_close {
                        IdleClose::Fin => "",
                        IdleClose::Rst => " (abortive close: SO_LINGER 0, RST)",
                    }
                ),
            );
        }
        if with_error {
            let payload = match self.conn(c).and_then(|k| k.wire.as_ref()).map(|w| w.proto) {
                Some(proto) => self.wire_message(proto, msg),
                None => Some(Payload(msg)),
            };
            let mut out = self.buf();
            if let (Some(p), Some(ls)) = (payload, self.sock_mut(s)) {
                let _ = ls.tcb.send(now, p, &mut out);
            }
            self.apply(s, out);
        }
        let why = if in_tx {
            "idle in transaction"
        } else {
            "idle timeout"
        };
        match self.cfg.server.idle_close {
            IdleClose::Fin => self.server_close(c, s, why),
            IdleClose::Rst => self.server_abort(c, s, why),
        }
    }

    /// Runs a request's operation on the data; returns the reply's value.
    pub(super) fn apply_op(&mut self, now: SimTime, session: thaw_db::SessionId, p: u64) -> u64 {
        let (code, key) = decode_request(p);
        let commit = |r: Option<thaw_db::CommitRecord>| encode_version(r.map(|c| c.version));
        match code {
            OP_READ => {
                let r = self
                    .cluster
                    .read(now, session, key, self.cfg.client.read_routing);
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

    pub(super) fn server_close(&mut self, c: ConnRef, s: SockRef, why: &str) {
        self.end_session(c);
        self.app_close(s, why);
    }

    /// An abortive close (`SO_LINGER` 0): the session ends and the socket
    /// sends RST instead of FIN.
    fn server_abort(&mut self, c: ConnRef, s: SockRef, why: &str) {
        self.end_session(c);
        self.app_abort(s, why);
    }

    fn end_session(&mut self, c: ConnRef) {
        if let Some(session) = self.conn(c).map(|c| c.session) {
            // The server ends the session: an open transaction rolls back.
            self.cluster.close(self.q.now(), session);
        }
        self.set_zombie(c, false);
        self.free_conn(c);
        self.server_open -= 1;
    }

    /// The client did not answer the greeting in time: "Bad handshake"
    /// (MySQL `connect_timeout`); an interrupted connection for its host.
    pub(super) fn on_handshake_timeout(&mut self, c: ConnRef) {
        let Some((false, key, s, peer)) = self
            .conn(c)
            .map(|c| (c.established, c.host_key, c.sock, c.peer))
        else {
            return;
        };
        if self.wants(Level::Timeline) {
            let t = self.cfg.server.handshake_timeout.unwrap_or_default();
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "bad_handshake",
                vec![],
                format!(
                    "{} aborts the connection from {}: no answer to its greeting within connect_timeout {t} (Bad handshake)",
                    self.cfg.server.name,
                    self.addr_name(peer)
                ),
            );
        }
        self.connect_error(key, "bad handshake (connect_timeout)");
        self.server_close(c, s, "bad handshake");
    }

    /// The connection ended from the client's side.
    fn client_gone(&mut self, c: ConnRef, s: SockRef, why: &str) {
        if let Some((false, key)) = self.conn(c).map(|c| (c.established, c.host_key)) {
            // Ended before the handshake completed: an interrupted attempt.
            self.connect_error(key, why);
        }
        self.server_close(c, s, why);
    }

    pub(super) fn server_notice(&mut self, c: ConnRef, s: SockRef, notice: Notice) {
        let now = self.q.now();
        match notice {
            Notice::Connected => {}
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(p)) if external::is_blob(p) => {
                        let bytes = self.take_blob(p);
                        self.wire_data(c, s, bytes);
                        if self.conn(c).is_none() {
                            return;
                        }
                    }
                    RecvResult::Data(Payload(p)) if msg_kind(p) == MSG_REQUEST => {
                        let Some(conn) = self.conn_mut(c) else { return };
                        conn.pending += 1;
                        conn.ops.push_back(p);
                        conn.last_activity = now;
                        if !conn.established {
                            // First request = the client authenticated: a
                            // successful connection resets the host's count.
                            conn.established = true;
                            let key = conn.host_key;
                            self.host_errors.remove(&key);
                        }
                        self.cpu_submit(Work::Request(c));
                    }
                    RecvResult::Data(Payload(MSG_LOGIN)) => {
                        // A proxy authenticated after the greeting: the
                        // connection attempt succeeded.
                        let Some(conn) = self.conn_mut(c) else { return };
                        conn.last_activity = now;
                        if !conn.established {
                            conn.established = true;
                            let key = conn.host_key;
                            self.host_errors.remove(&key);
                        }
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.client_gone(c, s, "the client closed the connection");
                        return;
                    }
                }
            },
            Notice::Eof => self.client_gone(c, s, "the client closed the connection (EOF)"),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                self.client_gone(c, s, &format!("the connection failed with {}", e.name()));
            }
        }
    }

    fn answer(&mut self, c: ConnRef) {
        let now = self.q.now();
        let Some(conn) = self.conn_mut(c) else { return };
        conn.pending -= 1;
        let s = conn.sock;
        let session = conn.session;
        let op = conn.ops.pop_front().unwrap_or(MSG_REQUEST);
        let peer = conn.peer;
        let value = self.apply_op(now, session, op);
        if !self.write_ids.is_empty() && msg_kind(op) == MSG_REQUEST {
            let (code, key) = decode_request(op);
            if code == OP_WRITE {
                let conn_key = (peer, self.server_addr);
                let w = self
                    .write_ids
                    .get_mut(&conn_key)
                    .and_then(|q| q.pop_front());
                if self.write_ids.get(&conn_key).is_some_and(|q| q.is_empty()) {
                    self.write_ids.remove(&conn_key);
                }
                // Applied = committed now (autocommit); a write inside a
                // transaction is applied by its COMMIT (not tracked).
                let committed = decode_version(value).is_some_and(|v| v != thaw_db::UNCOMMITTED);
                if let (Some(w), true) = (w, committed) {
                    self.write_applied(w, key);
                }
            }
        }
        // The transaction status rides on every reply; only a proxy and a
        // wire client (PostgreSQL's ReadyForQuery) read it.
        let wired = self.ext.is_some() && self.conn(c).is_some_and(|k| k.wire.is_some());
        let in_tx = (self.proxy.is_some() || wired)
            && self
                .cluster
                .primary()
                .status(session)
                .is_some_and(|st| st.tx.is_some());
        let payload = if wired {
            self.wire_answer(c, op, value, in_tx)
        } else {
            Payload(encode_response(value, in_tx))
        };
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, payload, &mut out),
            None => Err(Errno::Epipe),
        };
        self.apply(s, out);
        match res {
            Ok(()) => {
                let idle_now = match self.conn_mut(c) {
                    Some(conn) => {
                        conn.last_activity = now;
                        conn.pending == 0
                    }
                    None => false,
                };
                if idle_now || self.cfg.server.idle_in_transaction_timeout.is_some() {
                    // Idle from now on (the timer waited for the answer), or
                    // the transaction opened or ended and the limit that
                    // applies may have changed.
                    self.arm_server_idle(c, now);
                }
            }
            Err(e) => {
                if self.conn(c).is_some() {
                    self.server_close(c, s, &format!("write failed with {}", e.name()));
                }
            }
        }
    }
}
