//! The function's client: connection strategies, requests, what the
//! application sees, and how an invocation ends.
use super::*;

/// A key as the stale-read detector knows it: each server's keys are their
/// own (key 7 of a Redis and key 7 of a PostgreSQL are different data), so
/// the server's index rides above the 48 bits a key has.
fn detector_key(target: u16, key: u64) -> u64 {
    key | (u64::from(target) << 48)
}

impl World<'_> {
    // ----- the function's client ----------------------------------------

    /// The setup CPU of a connection real code opens (thaw-harness): with
    /// `[client.tls]`, a full handshake's CPU too.
    pub(super) fn connect_cpu(&mut self) -> SimDuration {
        let c = self.cfg.client.connect_cpu.sample(&mut self.connect_rng);
        self.scaled_cpu(c + self.cfg.client.tls.map_or(SimDuration::ZERO, |t| t.cpu))
    }

    /// The setup CPU of a new connection of `env` to `target`: TLS's
    /// handshake CPU (full or resumed) is spent with it. A distributed
    /// `client.connect_cpu` is drawn here, once per connection.
    pub(super) fn connect_cpu_to(&mut self, env: u32, target: u16) -> SimDuration {
        let c = self.cfg.client.connect_cpu.sample(&mut self.connect_rng);
        self.scaled_cpu(c + self.tls_cpu(env, target))
    }

    /// CPU work `c` of one full vCPU at the function's memory size.
    fn scaled_cpu(&self, c: SimDuration) -> SimDuration {
        let mem = self.cfg.platform.memory_mb.max(1) as u64;
        if mem >= MB_PER_VCPU {
            c
        } else {
            c.mul_ratio(MB_PER_VCPU, mem)
        }
    }

    /// The server the current request of `env` goes to (0 when there is
    /// none).
    pub(super) fn cur_target(&self, env: u32) -> u16 {
        let e = &self.envs[(env - 1) as usize];
        // The SnapStart after-restore hook's connection (model.md 1.6b).
        if let Some(t) = e.restore_hook {
            return t;
        }
        e.inv
            .as_ref()
            .and_then(|i| self.cfg.client.requests_of(i.func).get(i.step))
            .map_or(0, |r| r.target)
    }

    /// Whether the current request of `env`'s invocation ends the session.
    fn cur_is_quit(&self, env: u32) -> bool {
        self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .and_then(|i| self.cfg.client.requests_of(i.func).get(i.step))
            .is_some_and(|r| r.op == crate::config::RequestOp::Quit)
    }

    /// The connection `env` keeps to the current request's server.
    fn cur_conn(&self, env: u32) -> Option<SockRef> {
        let t = self.cur_target(env) as usize;
        self.envs[(env - 1) as usize].conns[t]
    }

    /// Takes the connection `env` keeps to the current request's server.
    fn take_cur_conn(&mut self, env: u32) -> Option<SockRef> {
        let t = self.cur_target(env) as usize;
        self.envs[(env - 1) as usize].conns[t].take()
    }

    pub(super) fn advance(&mut self, env: u32) {
        let (func, step) = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .map(|i| (i.func, i.step))
            .expect("advance without invocation");
        let nreq = self.cfg.client.requests_of(func).len();
        if step >= nreq {
            for t in 0..self.cfg.servers.len() {
                if self.cfg.client.strategy_of(t as u16) != Strategy::PerInvocation {
                    continue;
                }
                if let Some(s) = self.envs[(env - 1) as usize].conns[t].take() {
                    self.envs[(env - 1) as usize].tx_keys.clear();
                    self.app_close(
                        s,
                        "per-invocation connection closed at the end of the invocation",
                    );
                }
            }
            if self.cfg.client.pooled_target().is_some() {
                self.pool_advance(env, nreq);
            } else {
                self.finish(env, None, None);
            }
            return;
        }
        let target = self.cfg.client.requests_of(func)[step].target;
        match self.cfg.client.strategy_of(target) {
            Strategy::Pool => {
                self.pool_advance(env, nreq);
                return;
            }
            Strategy::Http => {
                self.send_http(env);
                return;
            }
            Strategy::Global if self.lib_holds(env, target as usize) => {
                self.lib_command(env, target as usize);
                return;
            }
            Strategy::Global | Strategy::PerInvocation => {}
        }
        let e = &self.envs[(env - 1) as usize];
        debug_assert!(e.inv.is_some(), "advance without invocation");
        if let Some(s) = e.conns[target as usize] {
            self.send_request(env, s);
            return;
        }
        let cost = self.connect_cpu_to(env, target);
        self.start_connect_cpu(env, cost, false);
    }

    /// The invocation of `env` spends `cost` of connection setup CPU
    /// (then `Ev::CpuDone` opens the connection), under the library's
    /// connect timeout. `hook`: the after-restore hook opens it, not the
    /// handler (model.md 1.6b).
    pub(super) fn start_connect_cpu(&mut self, env: u32, cost: SimDuration, hook: bool) {
        let now = self.q.now();
        let (id, seq, attempt) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            inv.phase = Phase::ConnectCpu;
            (inv.id, inv.seq, inv.retries)
        };
        if let Some(t) = self.cfg.client.connect_timeout {
            self.schedule(now + t, Ev::ConnectTimeout { env, seq, attempt });
        }
        if self.wants(Level::Timeline) {
            let who = if hook {
                format!("inv-{id}: env-{env}'s after-restore hook")
            } else {
                format!("inv-{id}")
            };
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "connect_cpu",
                vec![("cpu_ns", cost.as_nanos().into())],
                format!(
                    "{who} opens a new connection: {cost} of connection setup at {} MB ({} of a vCPU)",
                    self.cfg.platform.memory_mb,
                    vcpu_share(self.cfg.platform.memory_mb)
                ),
            );
        }
        self.schedule(now + cost, Ev::CpuDone { env, seq });
    }

    pub(super) fn open_connection(&mut self, env: u32) {
        let now = self.q.now();
        let target = self.cur_target(env);
        let remote = self.target_addr(env, target);
        let Some(port) = self.alloc_port_to(env, remote) else {
            self.fail(
                env,
                ErrorKind::Eaddrnotavail,
                "connect EADDRNOTAVAIL: no free local port".into(),
            );
            return;
        };
        let local = Addr { host: env, port };
        let cfg = self.cfg.platform.tcp;
        let mut out = self.buf();
        let tcb = Tcb::connect(now, cfg, local, remote, &mut out);
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        {
            let e = &mut self.envs[(env - 1) as usize];
            e.conns[target as usize] = Some(s);
            e.socks.push(s);
            e.inv.as_mut().expect("inv").phase = Phase::Connecting;
        }
        self.trace_connect(env, s, port, None);
        self.apply(s, out);
    }

    /// The timeline line of a client socket's `connect()` (of a pooled
    /// connection, when `pooled`).
    pub(super) fn trace_connect(
        &mut self,
        env: u32,
        s: SockRef,
        port: u16,
        pooled: Option<thaw_client::ConnId>,
    ) {
        if !self.wants(Level::Timeline) {
            return;
        }
        let name = self.sock_name(s);
        let mut fields = vec![("port", port.into())];
        let text = match pooled {
            Some(conn) => {
                fields.push(("conn", conn.0.into()));
                format!("{name}: connect() sends SYN for pooled {conn}")
            }
            None => format!("{name}: connect() sends SYN"),
        };
        self.emit(
            Level::Timeline,
            format!("env-{env}"),
            "connect",
            fields,
            text,
        );
    }

    pub(super) fn send_request(&mut self, env: u32, s: SockRef) {
        if self.envs[(env - 1) as usize].restore_hook.is_some() {
            // Ready: the after-restore hook's connection, not a request.
            self.hook_connected(env);
            return;
        }
        let now = self.q.now();
        let (id, seq, step, func, attempt, parts) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
            (inv.id, inv.seq, inv.step, inv.func, inv.retries, inv.parts)
        };
        // The request's fields that decide what happens, copied out; its
        // name is looked up only for a trace or an error (cloning the whole
        // spec allocated a String on every request).
        let spec = &self.cfg.client.requests_of(func)[step];
        let (op, pin, timeout, target) = (spec.op, spec.pin, spec.timeout, spec.target);
        let (writes, gap, awaited) = (spec.writes, spec.write_gap, spec.await_reply);
        let done = parts.map_or(0, |(n, _)| n);
        if done + 1 < writes {
            self.send_part(env, s, done, writes, gap);
            return;
        }
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(encode_request(op, pin)), &mut out),
            None => Err(Errno::Epipe),
        };
        match res {
            Ok(()) => {
                let token = match op {
                    // Nobody reads the reply of a request nobody awaits.
                    crate::config::RequestOp::Read(_) if !awaited => None,
                    crate::config::RequestOp::Read(key) => {
                        let dk = detector_key(target, key);
                        Some((self.detector.read_invoked(dk, now, env as u64, id), key))
                    }
                    _ => None,
                };
                {
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.read = token;
                    inv.sent_at = now;
                }
                {
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.phase = Phase::AwaitReply;
                    inv.parts = None;
                }
                if self.wants(Level::Timeline) {
                    let name = self.cfg.client.requests_of(func)[step].name.clone();
                    let state = self
                        .sock(s)
                        .map(|l| l.tcb.state().name())
                        .unwrap_or("CLOSED");
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "request",
                        vec![
                            ("request", name.as_str().into()),
                            ("socket_state", state.into()),
                        ],
                        format!("inv-{id} sends {name} (socket {state}: write() succeeds)"),
                    );
                }
                if self.tracks_writes() {
                    if let (crate::config::RequestOp::Write(_), Some(ls)) = (op, self.sock(s)) {
                        let key = (ls.tcb.local(), ls.tcb.remote());
                        self.write_ids
                            .entry(key)
                            .or_default()
                            .push_back((id, step, func));
                    }
                }
                if !awaited {
                    self.apply(s, out);
                    if op == crate::config::RequestOp::Quit {
                        // The session is ending: the next request opens a
                        // new connection while this one closes.
                        self.take_cur_conn(env);
                    }
                    self.not_awaited(env, s);
                    return;
                }
                if let Some(t) = timeout {
                    self.schedule(
                        now + t,
                        Ev::RequestTimeout {
                            env,
                            seq,
                            step: u32::try_from(step).expect("a request index fits in u32"),
                            attempt,
                        },
                    );
                }
                self.apply(s, out);
                if done > 0 {
                    // What arrived while the application was writing (a FIN,
                    // data) waits in the socket: the read after the last
                    // write sees it.
                    let t = target as usize;
                    if self.lib_holds(env, t) {
                        self.lib_notice(env, t, s, Notice::Readable);
                    } else {
                        self.on_reply_notice(env, s, Phase::AwaitReply);
                    }
                }
            }
            Err(e) => {
                self.recycle(out);
                let name = self.cfg.client.requests_of(func)[step].name.clone();
                if done == 0 {
                    if self.pool_bad_conn_retry(env, e, &name) {
                        return;
                    }
                    self.fail(
                        env,
                        ErrorKind::from_errno(e),
                        format!("{name}: write {}", e.name()),
                    );
                } else {
                    self.fail_part(env, s, e, done, writes);
                }
            }
        }
    }

    /// One of the first `writes - 1` writes of a request written in
    /// several `write()` calls; the next follows after `gap`.
    fn send_part(&mut self, env: u32, s: SockRef, done: u32, writes: u32, gap: SimDuration) {
        let now = self.q.now();
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(MSG_PART), &mut out),
            None => Err(Errno::Epipe),
        };
        match res {
            Ok(()) => {
                let (id, seq, func, step) = {
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.parts = Some((done + 1, s));
                    inv.phase = Phase::Writing;
                    (inv.id, inv.seq, inv.func, inv.step)
                };
                if self.wants(Level::Timeline) {
                    let name = self.cfg.client.requests_of(func)[step].name.clone();
                    let state = self
                        .sock(s)
                        .map(|l| l.tcb.state().name())
                        .unwrap_or("CLOSED");
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "request_part",
                        vec![
                            ("request", name.as_str().into()),
                            ("write", u64::from(done + 1).into()),
                            ("writes", u64::from(writes).into()),
                            ("socket_state", state.into()),
                        ],
                        format!(
                            "inv-{id} writes part {} of {writes} of {name} (socket {state}: write() succeeds)",
                            done + 1
                        ),
                    );
                }
                self.apply(s, out);
                self.schedule(now + gap, Ev::WriteMore { env, seq });
            }
            Err(e) => {
                self.recycle(out);
                if done == 0 {
                    let (func, step) = {
                        let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
                        (inv.func, inv.step)
                    };
                    let name = self.cfg.client.requests_of(func)[step].name.clone();
                    // Nothing written yet: Go's ErrBadConn rule applies.
                    if self.pool_bad_conn_retry(env, e, &name) {
                        return;
                    }
                }
                self.fail_part(env, s, e, done, writes);
            }
        }
    }

    /// Write `done + 1` of a request failed: the error the application
    /// gets from `write()` (Linux `tcp_sendmsg()`: the pending socket
    /// error, else EPIPE).
    fn fail_part(&mut self, env: u32, s: SockRef, e: Errno, done: u32, writes: u32) {
        let (func, step) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
            (inv.func, inv.step)
        };
        let name = self.cfg.client.requests_of(func)[step].name.clone();
        let (kind, detail) = self.explain(s, Some(e), "write");
        let written = if done == 0 {
            "nothing written yet".to_string()
        } else {
            format!("{done} of {writes} written")
        };
        self.fail(
            env,
            kind,
            format!(
                "{name}: {detail} (write {} of {writes}; {written})",
                done + 1
            ),
        );
    }

    /// The next write of a request written in several `write()` calls.
    pub(super) fn write_more(&mut self, env: u32) {
        let parts = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .filter(|i| i.phase == Phase::Writing)
            .and_then(|i| i.parts);
        if let Some((_, s)) = parts {
            self.send_request(env, s);
        }
    }

    /// `strategy = "http"`: sends the current request as one HTTP call (no
    /// socket is modelled). It reaches the server after one way plus the
    /// HTTP overhead, runs for the service time, and the reply takes one
    /// way back: overhead + service time + one round trip.
    fn send_http(&mut self, env: u32) {
        let now = self.q.now();
        let (id, seq, step, func, attempt) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
            (inv.id, inv.seq, inv.step, inv.func, inv.retries)
        };
        let spec = self.cfg.client.requests_of(func)[step].clone();
        let token = match spec.op {
            crate::config::RequestOp::Read(key) => {
                let dk = detector_key(spec.target, key);
                Some((self.detector.read_invoked(dk, now, env as u64, id), key))
            }
            _ => None,
        };
        {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            inv.read = token;
            inv.sent_at = now;
            inv.phase = Phase::AwaitReply;
        }
        let overhead = self.cfg.client.http_overhead;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "request",
                vec![
                    ("request", spec.name.as_str().into()),
                    ("transport", "http".into()),
                ],
                format!(
                    "inv-{id} sends {} over HTTP (no connection kept; {overhead} of HTTP overhead)",
                    spec.name
                ),
            );
        }
        if let Some(t) = spec.timeout {
            self.schedule(
                now + t,
                Ev::RequestTimeout {
                    env,
                    seq,
                    step: u32::try_from(step).expect("a request index fits in u32"),
                    attempt,
                },
            );
        }
        let one_way = self.http_one_way();
        let service = self.servers[spec.target as usize].draw_service_time();
        let at = now + one_way + overhead + service;
        if self.cfg.client.retry.count > 0 {
            // The row of this invocation waits until the server has seen
            // every attempt (a late one may be a duplicate).
            *self.http_in_flight.entry(id).or_insert(0) += 1;
        }
        self.schedule(
            at,
            Ev::HttpApply(Box::new(super::HttpApply {
                env,
                seq,
                id,
                func,
                step,
                attempt,
            })),
        );
    }

    /// `strategy = "http"`: one way between the function and the server;
    /// latencies that vary are drawn per request and per direction (each
    /// HTTP exchange stands for its own connection's packets).
    fn http_one_way(&mut self) -> SimDuration {
        match self.lat_fixed {
            Some((c, s)) => c + s,
            None => {
                self.cfg
                    .network
                    .client_latency
                    .sample(&mut self.net_client_rng)
                    + self
                        .cfg
                        .network
                        .server_latency
                        .sample(&mut self.net_server_rng)
            }
        }
    }

    /// `strategy = "http"`: the server runs the request in a short
    /// autocommit session of its own and answers (even if the client has
    /// given up: the server cannot know).
    pub(super) fn on_http_apply(&mut self, env: u32, seq: u64, w: WriteId, attempt: u32) {
        self.effect();
        let now = self.q.now();
        let (id, step, func) = w;
        if let Some(n) = self.http_in_flight.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.http_in_flight.remove(&id);
            }
        }
        let op = self.cfg.client.requests_of(func)[step].op;
        let target = self.cfg.client.requests_of(func)[step].target as usize;
        let value = self.servers[target].http_request(now, encode_request(op, false));
        if let crate::config::RequestOp::Write(key) = op {
            let committed = decode_version(value).is_some_and(|v| v != thaw_db::UNCOMMITTED);
            if self.cfg.client.retry.count > 0 && committed {
                self.write_applied((id, step, func), key);
            }
        }
        let one_way = self.http_one_way();
        self.schedule(
            now + one_way,
            Ev::HttpReply(Box::new(super::HttpReply {
                env,
                seq,
                step,
                attempt,
                value,
            })),
        );
    }

    /// `strategy = "http"`: a reply reaches the function; ignored unless it
    /// answers the attempt the invocation still waits for.
    pub(super) fn on_http_reply(
        &mut self,
        env: u32,
        seq: u64,
        step: usize,
        attempt: u32,
        value: u64,
    ) {
        if !self.inv_matches(env, seq) {
            return;
        }
        let (id, func) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            if inv.step != step || inv.retries != attempt || inv.phase != Phase::AwaitReply {
                return;
            }
            inv.step += 1;
            // `retry.count` is per request: the next request starts afresh.
            inv.retries = 0;
            (inv.id, inv.func)
        };
        self.reply_effects(env, func, step, value);
        if self.wants(Level::Timeline) {
            let name = self.cfg.client.requests_of(func)[step].name.clone();
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "reply",
                vec![("request", name.as_str().into())],
                format!("inv-{id} {name}: reply received"),
            );
        }
        self.after_reply(env, func, step);
    }

    /// A socket event reaches an environment's code (now, or at thaw).
    pub(super) fn env_notice(&mut self, env: u32, s: SockRef, notice: Notice) {
        let state = self.envs[(env - 1) as usize].state;
        match state {
            EnvState::Frozen => {
                self.envs[(env - 1) as usize].deferred_app.push((s, notice));
                return;
            }
            // Closed at SIGTERM: nothing else reaches the code.
            EnvState::Reaped | EnvState::ShuttingDown => return,
            EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
        }
        let phase = self.envs[(env - 1) as usize].inv.as_ref().map(|i| i.phase);
        if phase == Some(Phase::Init)
            && self.cfg.platform.thaw_order == ThawOrder::HandlerFirst
            && self.envs[(env - 1) as usize].state == EnvState::Busy
        {
            // Raised by a kernel timer that ran at thaw, before the handler:
            // the application sees it after the handler has started.
            self.schedule(self.q.now(), Ev::AppNotice { sock: s, notice });
            return;
        }
        if self.is_ext_func(self.envs[(env - 1) as usize].func) {
            self.ext_notice(s, notice);
            return;
        }
        if self.cfg.client.pooled_target().is_some()
            && self.envs[(env - 1) as usize].psock.contains_key(&s)
        {
            self.pool_notice(env, s, notice);
            return;
        }
        let Some(target) = self.envs[(env - 1) as usize]
            .conns
            .iter()
            .position(|c| *c == Some(s))
        else {
            // A connection being ended by a QUIT nobody awaits is no longer
            // kept, but its end is still read.
            if self.has_pending(env, s) {
                self.pending_notice(env, s);
            }
            return;
        };
        if self.lib_holds(env, target) {
            self.lib_notice(env, target, s, notice);
            return;
        }
        // Replies owed to requests nobody awaits come first; the
        // invocation reads its own after them (`on_reply_notice`).
        let reading_own = matches!(
            phase,
            Some(Phase::AwaitReply | Phase::Handshake | Phase::Writing)
        ) && self.cur_conn(env) == Some(s);
        if !reading_own && self.has_pending(env, s) {
            self.pending_notice(env, s);
            return;
        }
        match (phase, notice) {
            (Some(Phase::Connecting), Notice::Connected) => {
                let greeting = self.cfg.servers[target].handshake;
                let tls = self.tls_start(s, env, target as u16, greeting);
                if greeting || tls.is_some() {
                    // The server speaks first (greeting, authentication),
                    // or TLS's handshake runs first.
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.phase = Phase::Handshake;
                    inv.tls = tls;
                } else {
                    self.send_request(env, s);
                }
            }
            (Some(Phase::Connecting), Notice::Error(_)) => {
                let err = self.read_error(s);
                let (kind, detail) = self.explain(s, err, "connect");
                self.fail(env, kind, detail);
            }
            (
                Some(p @ (Phase::Handshake | Phase::AwaitReply)),
                Notice::Readable | Notice::Eof | Notice::Error(_),
            ) => self.on_reply_notice(env, s, p),
            (None | Some(Phase::Init | Phase::Work), Notice::Eof | Notice::Error(_)) => {
                // The driver notices while idle (event loop running) and
                // drops the connection; the next use reconnects.
                if self.wants(Level::Timeline) {
                    let name = self.sock_name(s);
                    self.emit(
                        Level::Timeline,
                        format!("env-{env}"),
                        "client_drops_dead",
                        vec![],
                        format!(
                            "{name}: the client sees the connection end while idle and discards it"
                        ),
                    );
                }
                self.envs[(env - 1) as usize].conns[target] = None;
                self.envs[(env - 1) as usize].tx_keys.clear();
                self.app_close(s, "closed by the client after it saw the connection end");
            }
            _ => {}
        }
    }

    /// A socket event while the invocation waits for the server's greeting
    /// or a reply.
    pub(super) fn on_reply_notice(&mut self, env: u32, s: SockRef, p: Phase) {
        let r = self
            .sock_mut(s)
            .map(|l| l.tcb.recv())
            .unwrap_or(RecvResult::Eof);
        let tls = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .and_then(|i| i.tls);
        if let (RecvResult::Data(Payload(m)), Some(mut t), Phase::Handshake) = (r, tls, p) {
            match self.tls_step(s, &mut t, m) {
                tls::TlsStep::NotTls => {}
                step => {
                    let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
                    inv.tls = Some(t);
                    if matches!(step, tls::TlsStep::Ready) {
                        inv.tls = None;
                        self.send_request(env, s);
                    } else {
                        // What else came is read next.
                        self.on_reply_notice(env, s, p);
                    }
                    return;
                }
            }
        }
        match r {
            RecvResult::WouldBlock => {}
            RecvResult::Data(Payload(MSG_HELLO)) if p == Phase::Handshake => {
                self.send_request(env, s)
            }
            RecvResult::Data(Payload(m))
                if msg_kind(m) == MSG_RESPONSE && p == Phase::AwaitReply =>
            {
                if self.has_pending(env, s) {
                    // An earlier request's reply, nobody awaits it; ours
                    // follows.
                    self.pending_reply(env, s);
                    return self.on_reply_notice(env, s, p);
                }
                self.reply_received(env, m)
            }
            RecvResult::Data(Payload(
                m @ (MSG_ERR_MAXCLIENTS | MSG_ERR_HOST_BLOCKED | MSG_ERR_IDLE | MSG_ERR_IDLE_IN_TX),
            )) => {
                let server = &self.cfg.servers[self.cur_target(env) as usize];
                let (kind, text) = crate::server::reject_text(server, m);
                self.fail(env, kind, text.to_string());
            }
            RecvResult::Data(Payload(
                m @ (MSG_ERR_PROXY_FULL | MSG_ERR_POOL_TIMEOUT | MSG_ERR_PROXY_IDLE),
            )) => {
                let (kind, text) = self.proxy_error_text(self.cur_target(env), m);
                self.fail(env, kind, text.to_string());
            }
            RecvResult::Data(_) => {}
            RecvResult::Eof | RecvResult::Err(_)
                if p == Phase::AwaitReply && self.cur_is_quit(env) =>
            {
                self.quit_done(env, s, r);
            }
            RecvResult::Eof => {
                let detail = if p == Phase::Handshake {
                    "connection closed by the server during the handshake (EOF)".to_string()
                } else {
                    format!(
                        "connection closed by the server: read() returned 0 (EOF){}",
                        self.tls_eof_note(s)
                    )
                };
                self.pending_lost(env, s, &detail);
                self.fail(env, ErrorKind::Eof, detail)
            }
            RecvResult::Err(e) => {
                let (kind, detail) = self.explain(s, Some(e), "read");
                self.pending_lost(env, s, &detail);
                self.fail(env, kind, detail);
            }
        }
    }

    /// The connection of the current request, a QUIT, ended: the session
    /// is over (mysqljs and node-postgres resolve `end()` on the close,
    /// whether FIN or reset), and the next request opens a new connection.
    fn quit_done(&mut self, env: u32, s: SockRef, r: RecvResult) {
        if self.wants(Level::Timeline) {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("inv");
            let name = self.cfg.client.requests_of(inv.func)[inv.step].name.clone();
            let how = match r {
                RecvResult::Err(e) => format!("reset ({})", e.name()),
                _ => "closed (EOF)".to_string(),
            };
            self.emit(
                Level::Timeline,
                format!("inv-{}", inv.id),
                "quit_done",
                vec![("request", name.as_str().into())],
                format!(
                    "inv-{} {name}: the server {how} the connection: the session is over",
                    inv.id
                ),
            );
        }
        self.take_cur_conn(env);
        self.app_close(s, "the session is over (QUIT)");
        self.reply_received(env, encode_response(0, false));
    }

    /// The reply to the current request arrived: its effects on the data,
    /// then the next request.
    pub(super) fn reply_received(&mut self, env: u32, m: u64) {
        let (id, step, func) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            inv.step += 1;
            // `retry.count` is per request: the next request starts afresh.
            inv.retries = 0;
            (inv.id, inv.step - 1, inv.func)
        };
        self.reply_effects(env, func, step, decode_response(m).0);
        // A QUIT has no reply: `quit_done` said how it ended.
        let quit = self.cfg.client.requests_of(func)[step].op == crate::config::RequestOp::Quit;
        if self.wants(Level::Timeline) && !quit {
            let name = self.cfg.client.requests_of(func)[step].name.clone();
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "reply",
                vec![("request", name.as_str().into())],
                format!("inv-{id} {name}: reply received"),
            );
        }
        self.pool_release_held(env, false);
        self.after_reply(env, func, step);
    }

    /// Request `step` got its reply: the handler's work after it
    /// (`work_after`), then the next step.
    fn after_reply(&mut self, env: u32, func: u16, step: usize) {
        let work = self.cfg.client.requests_of(func)[step].work_after;
        if work.is_zero() {
            self.advance(env);
        } else {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            inv.phase = Phase::Work;
            let seq = inv.seq;
            let now = self.q.now();
            self.schedule(now + work, Ev::WorkFinished { env, seq });
        }
    }

    pub(super) fn read_error(&mut self, s: SockRef) -> Option<Errno> {
        match self.sock_mut(s).map(|l| l.tcb.recv()) {
            Some(RecvResult::Err(e)) => Some(e),
            _ => None,
        }
    }

    pub(super) fn explain(
        &self,
        s: SockRef,
        err: Option<Errno>,
        call: &str,
    ) -> (ErrorKind, String) {
        let e = err.unwrap_or(Errno::Econnreset);
        let why = match (e, self.sock(s).and_then(|l| l.last_note)) {
            (Errno::Etimedout, Some(TcpNote::GaveUp { retries, rule, .. })) => format!(
                ": the kernel gave up after {retries} unanswered retransmission(s) ({rule})"
            ),
            (Errno::Etimedout, Some(TcpNote::KeepaliveGaveUp)) => {
                ": keepalive probes went unanswered".to_string()
            }
            (Errno::Econnreset, _) => ": the peer answered with RST".to_string(),
            (Errno::Econnrefused, _) => ": RST in answer to SYN".to_string(),
            (Errno::Epipe, _) => ": RST after the peer's FIN".to_string(),
            _ => String::new(),
        };
        (
            ErrorKind::from_errno(e),
            format!("{call} {}{why}", e.name()),
        )
    }

    pub(super) fn fail(&mut self, env: u32, kind: ErrorKind, detail: String) {
        if self.envs[(env - 1) as usize].restore_hook.is_some() {
            // The after-restore hook throws: no library, retry or pool.
            self.hook_failed(env, kind, detail);
            return;
        }
        // A client library holds the connection: it decides (model.md 6.1).
        if self.lib_fail_hook(env, kind, &detail) {
            return;
        }
        if self.try_retry(env, kind, &detail) {
            return;
        }
        let detail = self.pool_driver_text(env, kind, detail);
        // A pooled connection in use goes back to the pool as broken.
        self.pool_release_held(env, true);
        if let Some(s) = self.take_cur_conn(env) {
            self.envs[(env - 1) as usize].tx_keys.clear();
            self.app_close(s, "closed by the client after the error");
        }
        self.finish(env, Some(kind), Some(detail));
    }

    /// A query failed on a pooled connection: the driver's own text for the
    /// loss, with the errno underneath (when the preset fixes the driver).
    fn pool_driver_text(&self, env: u32, kind: ErrorKind, detail: String) -> String {
        let held = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .is_some_and(|i| i.held.is_some());
        let Some(m) = self
            .cfg
            .client
            .pool
            .as_ref()
            .and_then(|p| p.messages)
            .filter(|_| held)
        else {
            return detail;
        };
        let msg = match kind {
            ErrorKind::Eof => m.eof,
            ErrorKind::Econnreset | ErrorKind::Epipe => m.reset,
            ErrorKind::Etimedout => m.timed_out,
            _ => return detail,
        };
        format!("{}: {msg} ({detail})", m.title)
    }

    /// Whether the world tracks which write each application on the server
    /// belongs to: something may send a write again (`[client.retry]`, or
    /// a library that resends or retries a command in flight).
    fn tracks_writes(&self) -> bool {
        self.cfg.client.retry.count > 0
            || self
                .cfg
                .client
                .library
                .as_ref()
                .is_some_and(|l| !matches!(l.config.in_flight, thaw_client::InFlight::Reject))
    }

    /// `[client.retry]`: if the failed request may be retried, drops the
    /// broken connection as after an error (global and per-invocation: the
    /// next attempt opens a new one; pool: released as broken, acquired
    /// again), waits for the backoff and resends the same request. Returns
    /// whether it retries.
    pub(super) fn try_retry(&mut self, env: u32, kind: ErrorKind, detail: &str) -> bool {
        let rc = &self.cfg.client.retry;
        if rc.count == 0 || !rc.on.contains(&kind) || kind == ErrorKind::FunctionTimeout {
            return false;
        }
        let (count, base, cap) = (rc.count, rc.backoff, rc.backoff_max);
        let Some(inv) = self.envs[(env - 1) as usize].inv.as_ref() else {
            return false;
        };
        // Only a request in progress is retried (not the handler's own
        // failure, nor an error seen while draining the event loop).
        let in_request = matches!(
            inv.phase,
            Phase::ConnectCpu
                | Phase::Connecting
                | Phase::Handshake
                | Phase::AwaitReply
                | Phase::Writing
                | Phase::PoolWait
                | Phase::LibWait
        );
        if !in_request || inv.retries >= count {
            return false;
        }
        let (id, seq, step, func, retry) = (inv.id, inv.seq, inv.step, inv.func, inv.retries + 1);
        // A client library keeps its own connection: the application's
        // retry is a new call to it (the AWS SDK's retry over its HTTP
        // agent), not a new socket.
        if self.lib_request_target(env).is_none() {
            self.pool_release_held(env, true);
            if let Some(s) = self.take_cur_conn(env) {
                self.envs[(env - 1) as usize].tx_keys.clear();
                self.app_close(s, "closed by the client after the error, before retrying");
            }
        }
        let delay = match cap {
            None => base,
            Some(cap) => {
                // Full jitter: uniform in [0, min(cap, base × 2^(retry-1))].
                let exp = base
                    .as_nanos()
                    .saturating_mul(1u64 << (retry - 1).min(62))
                    .min(cap.as_nanos());
                SimDuration::from_nanos(self.client_rng.random_range(0..=exp))
            }
        };
        let now = self.q.now();
        {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            inv.retries = retry;
            if let Some((token, _)) = inv.read.take() {
                self.detector.read_abandoned(token);
            }
            inv.waiter = None;
            inv.parts = None;
            // Waiting out the backoff: the handler's code is suspended.
            inv.phase = Phase::Work;
        }
        if self.wants(Level::Timeline) {
            let name = self.cfg.client.requests_of(func)[step].name.clone();
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "retry",
                vec![
                    ("request", name.as_str().into()),
                    ("attempt", (u64::from(retry) + 1).into()),
                    ("error", kind.name().into()),
                    ("backoff_ns", delay.as_nanos().into()),
                ],
                // Widened: `count` may be u32::MAX (retry "forever").
                format!(
                    "inv-{id} retries {name} (attempt {} of {}) after {kind} ({detail}); backoff {delay}",
                    u64::from(retry) + 1,
                    u64::from(count) + 1
                ),
            );
        }
        self.schedule(now + delay, Ev::WorkFinished { env, seq });
        true
    }

    /// The server applied a tracked write request (`[client.retry]`): a
    /// second application of the same (invocation, request) write that is
    /// not idempotent is a duplicate write of that invocation.
    pub(super) fn write_applied(&mut self, w: WriteId, key: u64) {
        let n = {
            let n = self.write_apps.entry(w).or_insert(0);
            *n += 1;
            *n
        };
        if n < 2 {
            return;
        }
        let (inv_id, step, func) = w;
        let idempotent = self
            .cfg
            .client
            .requests_of(func)
            .get(step)
            .is_some_and(|r| r.idempotent);
        if !idempotent {
            match self
                .envs
                .iter_mut()
                .filter_map(|e| e.inv.as_mut())
                .find(|i| i.id == inv_id)
            {
                Some(inv) => inv.duplicate_writes += 1,
                None => self.collector.late_duplicate(inv_id),
            }
        }
        if self.wants(Level::Timeline) {
            let times = match n {
                2 => "twice".to_string(),
                n => format!("{n} times"),
            };
            let text = if idempotent {
                format!(
                    "inv-{inv_id} write of key {key} applied {times}: idempotent, so harmless (not a duplicate write)"
                )
            } else {
                format!(
                    "DUPLICATE WRITE: key {key} applied {times} by inv-{inv_id} (the first attempt reached the server before the connection failed)"
                )
            };
            self.emit(
                Level::Timeline,
                format!("inv-{inv_id}"),
                if idempotent {
                    "idempotent_reapplied"
                } else {
                    "duplicate_write"
                },
                vec![("key", key.into()), ("applications", (n as u64).into())],
                text,
            );
        }
    }

    /// What a reply means for the data: a read's result goes to the
    /// stale-read detector; a write or commit acknowledged with a version
    /// completes the writes it covers.
    fn reply_effects(&mut self, env: u32, func: u16, step: usize, value: u64) {
        use crate::config::RequestOp;
        let now = self.q.now();
        let spec = &self.cfg.client.requests_of(func)[step];
        let (op, target) = (spec.op, spec.target);
        let (id, sent_at, read) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            (inv.id, inv.sent_at, inv.read.take())
        };
        let complete = |w: &mut World<'_>, keys: Vec<u64>, v: Option<thaw_db::Version>| {
            if let Some(version) = v {
                for key in keys {
                    w.detector.write_completed(thaw_db::WriteOp {
                        key,
                        version,
                        invoked: sent_at,
                        completed: now,
                        client: env as u64,
                    });
                }
            }
        };
        match op {
            RequestOp::Ping => {}
            RequestOp::Read(key) => {
                let returned = decode_version(value);
                if let Some((token, _)) = read {
                    if let Some(ex) = self.detector.read_completed(token, returned, now) {
                        self.envs[(env - 1) as usize]
                            .inv
                            .as_mut()
                            .expect("inv")
                            .stale_reads += 1;
                        if self.wants(Level::Timeline) {
                            let seen = match returned {
                                None => "no row".to_string(),
                                Some(v) => format!("version {v}"),
                            };
                            self.emit(
                                Level::Timeline,
                                format!("inv-{id}"),
                                "stale_read",
                                vec![("key", key.into()), ("missed_version", ex.missed.version.into())],
                                format!(
                                    "inv-{id} STALE READ of key {key}: it sees {seen}, but version {} was committed and acknowledged at {}, before this read began",
                                    ex.missed.version, ex.missed.completed
                                ),
                            );
                        }
                    }
                }
            }
            RequestOp::Write(key) => match decode_version(value) {
                // Committed at once (autocommit).
                Some(v) if v != thaw_db::UNCOMMITTED => {
                    complete(self, vec![detector_key(target, key)], Some(v))
                }
                _ => self.envs[(env - 1) as usize]
                    .tx_keys
                    .push(detector_key(target, key)),
            },
            RequestOp::Begin | RequestOp::Commit => {
                let keys = std::mem::take(&mut self.envs[(env - 1) as usize].tx_keys);
                let v = decode_version(value).filter(|v| *v != thaw_db::UNCOMMITTED);
                complete(self, keys, v);
            }
            RequestOp::Rollback | RequestOp::Quit => self.envs[(env - 1) as usize].tx_keys.clear(),
        }
    }

    /// The server of the request `env`'s invocation is at, if it is at one
    /// (not before the first or after the last).
    pub(super) fn request_in_progress(&self, env: u32) -> Option<u16> {
        let e = &self.envs[(env - 1) as usize];
        if e.restore_hook.is_some() {
            // The after-restore hook's connection (model.md 1.6b).
            return e.restore_hook;
        }
        let inv = e.inv.as_ref()?;
        let spec = self.cfg.client.requests_of(inv.func).get(inv.step)?;
        Some(spec.target)
    }

    pub(super) fn finish(&mut self, env: u32, error: Option<ErrorKind>, detail: Option<String>) {
        self.effect();
        let now = self.q.now();
        let target = error.and_then(|_| self.request_in_progress(env));
        let inv = self.envs[(env - 1) as usize]
            .inv
            .take()
            .expect("finish without invocation");
        let latency = now.saturating_since(inv.arrival);
        if let Some((token, _)) = inv.read {
            // The read never completed: it does not count.
            self.detector.read_abandoned(token);
        }
        if self.wants(Level::Timeline) {
            let text = match (&error, &detail) {
                (Some(k), Some(d)) => format!("inv-{} fails with {k} after {latency}: {d}", inv.id),
                (Some(k), None) => format!("inv-{} fails with {k} after {latency}", inv.id),
                (None, _) => format!("inv-{} ok in {latency}", inv.id),
            };
            self.emit(
                Level::Timeline,
                format!("inv-{}", inv.id),
                "outcome",
                {
                    let ok = error.is_none();
                    let mut f = vec![
                        ("outcome", if ok { "ok" } else { "error" }.into()),
                        ("latency_ns", latency.as_nanos().into()),
                    ];
                    if let Some(e) = error {
                        f.push(("error", e.name().into()));
                    }
                    f
                },
                text,
            );
        }
        self.record(Outcome {
            id: inv.id,
            at: inv.arrival,
            container: env,
            cold: inv.cold,
            error,
            detail,
            latency,
            function: inv.func,
            stale_reads: inv.stale_reads,
            duplicate_writes: inv.duplicate_writes,
            target,
        });
        self.go_idle(env);
    }

    /// The environment has no invocation: on the warm list (last use now),
    /// frozen after `freeze_delay`.
    pub(super) fn go_idle(&mut self, env: u32) {
        let now = self.q.now();
        self.use_seq += 1;
        let key = self.use_seq;
        let delay = self.cfg.platform.freeze_delay;
        let old = self.envs[(env - 1) as usize].state;
        self.env_moved(env, old, EnvState::Idle);
        let e = &mut self.envs[(env - 1) as usize];
        e.state = EnvState::Idle;
        e.gen += 1;
        e.idle_key = Some(key);
        e.since = now;
        let gen = e.gen;
        let func = e.func;
        let provisioned = e.provisioned;
        self.idle.insert(func, key, env);
        if provisioned {
            self.idle_prov.insert(func, key, env);
        }
        if self.cfg.platform.placement == Placement::NewestCreated {
            self.idle_by_age.insert((func, env, key));
        }
        self.schedule(now + delay, Ev::Freeze { env, gen });
    }

    pub(super) fn app_close(&mut self, s: SockRef, why: &str) {
        self.close_socket(s, why, false);
    }

    /// `close()` with `SO_LINGER` on and a zero linger time: RST, no orphan.
    pub(super) fn app_abort(&mut self, s: SockRef, why: &str) {
        self.close_socket(s, why, true);
    }

    fn close_socket(&mut self, s: SockRef, why: &str, zero_linger: bool) {
        let now = self.q.now();
        if let Some(Owner::Env(env)) = self.sock(s).map(|l| l.owner) {
            // Closing rejects what it still owes.
            if self.has_pending(env, s) {
                self.pending_lost(env, s, &format!("the connection was closed ({why})"));
            }
        }
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "close",
                vec![],
                format!(
                    "{name}: close(){} — {why}",
                    if zero_linger { " with SO_LINGER 0" } else { "" }
                ),
            );
        }
        let mut out = self.buf();
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::Kernel;
            if zero_linger {
                ls.tcb.abort(&mut out);
            } else {
                ls.tcb.close(now, &mut out);
            }
        }
        self.apply(s, out);
    }

    /// The library's connect timer fired: if the connection is still not
    /// ready, the library destroys the socket and reports a connect
    /// timeout (mysql2 synthesises `connect ETIMEDOUT`; a library error,
    /// not the kernel's).
    pub(super) fn on_connect_timeout(&mut self, env: u32) {
        let phase = self.envs[(env - 1) as usize].inv.as_ref().map(|i| i.phase);
        if !matches!(
            phase,
            Some(Phase::ConnectCpu | Phase::Connecting | Phase::Handshake)
        ) {
            return;
        }
        let t = self.cfg.client.connect_timeout.unwrap_or_default();
        let state = self
            .cur_conn(env)
            .and_then(|s| self.sock(s))
            .map(|l| l.tcb.state().name())
            .unwrap_or("not yet created");
        self.fail(
            env,
            ErrorKind::Etimedout,
            format!("connect ETIMEDOUT: the client's connect timeout ({t}) fired; socket {state}"),
        );
    }
}
