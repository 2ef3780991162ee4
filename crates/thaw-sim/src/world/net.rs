//! The network path: links, the middlebox, hosts (demultiplexing, RST for
//! segments that reach no socket), and carrying out socket effects.
use super::*;

impl<'t> World<'t> {
    // ----- network -------------------------------------------------------

    // Inline: on every send this is one flag test, cheaper than a call.
    #[inline]
    fn trace_send(&mut self, seg: &Segment) {
        if self.detail {
            self.emit(
                Level::Detail,
                self.component_of(seg.src.host),
                "send",
                seg_fields(seg),
                format!(
                    "{} → {}: {seg}",
                    self.addr_name(seg.src),
                    self.addr_name(seg.dst)
                ),
            );
        }
    }

    pub(super) fn route(&mut self, seg: Segment, from: Option<SockRef>) {
        let now = self.q.now();
        let to = from.and_then(|f| self.sock(f)).and_then(|l| l.peer);
        if self.is_loopback(seg.src.host, seg.dst.host) {
            // Between the function and a server inside its environment.
            self.trace_send(&seg);
            let at = now + self.cfg.network.loopback_latency;
            self.schedule_packet(at, seg, Hop::Host, from, to);
            return;
        }
        if let Some(latency) = self.proxy_link(&seg) {
            // The proxy's own link to the server: no middlebox on it.
            self.trace_send(&seg);
            self.schedule_packet(now + latency, seg, Hop::Host, from, to);
            return;
        }
        // The functions' side: to and from the server, or the proxy.
        let from_server = !is_env_host(seg.src.host);
        let (client_lat, server_lat) = self.conn_latency(&seg, from, to);
        let (first, second) = if from_server {
            (server_lat, client_lat)
        } else {
            (client_lat, server_lat)
        };
        self.trace_send(&seg);
        // The path of the connection: the one to the server (or proxy) at
        // its far end.
        let front = if from_server { seg.src } else { seg.dst };
        let path = self
            .fronts
            .iter()
            .position(|f| *f == front)
            .unwrap_or(self.paths.len() - 1) as u16;
        match self.paths[path as usize].len() {
            0 => self.schedule_packet(now + first + second, seg, Hop::Host, from, to),
            n => {
                // The first middlebox the packet meets from its side.
                let (pos, dir) = if from_server {
                    (n as u16 - 1, Dir::FromServer)
                } else {
                    (0, Dir::FromClient)
                };
                self.schedule_packet(
                    now + first,
                    seg,
                    Hop::Middlebox { path, pos, dir },
                    from,
                    to,
                );
            }
        }
    }

    /// The one-way latencies (function side, server side) of the
    /// connection `seg` belongs to: fixed, or those drawn for it when the
    /// function's socket was made (found by the sender's or receiver's
    /// hint, else by its addresses). A segment of a connection whose
    /// function socket is gone travels at the means.
    fn conn_latency(
        &self,
        seg: &Segment,
        from: Option<SockRef>,
        to: Option<SockRef>,
    ) -> (SimDuration, SimDuration) {
        if let Some(l) = self.lat_fixed {
            return l;
        }
        let (client, server) = if is_env_host(seg.src.host) {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        [from, to]
            .into_iter()
            .flatten()
            .chain(self.demux.get(&flow_key(client, server)).copied())
            .filter_map(|s| self.sock(s))
            .find(|l| l.tcb.local() == client && l.tcb.remote() == server)
            .map_or(self.lat_default, |l| l.lat)
    }

    /// The next hop after place `pos` of `path` for a packet going `dir`,
    /// and the latency of the link to it (`ends`: the connection's
    /// latencies at the path's two ends, see `conn_latency`).
    fn hop_after(
        &self,
        path: u16,
        pos: u16,
        dir: Dir,
        ends: (SimDuration, SimDuration),
    ) -> (Hop, SimDuration) {
        let hops = &self.paths[path as usize];
        let i = pos as usize;
        match dir {
            Dir::FromClient if i + 1 < hops.len() => (
                Hop::Middlebox {
                    path,
                    pos: pos + 1,
                    dir,
                },
                hops[i].1,
            ),
            Dir::FromClient => (Hop::Host, ends.1),
            Dir::FromServer if i > 0 => (
                Hop::Middlebox {
                    path,
                    pos: pos - 1,
                    dir,
                },
                hops[i - 1].1,
            ),
            Dir::FromServer => (Hop::Host, ends.0),
        }
    }

    /// Borrowed from the configuration, not `self`: looking it up costs no
    /// allocation on a packet that is not traced.
    fn mb_name(&self, mb: u16) -> &'t str {
        let cfg: &'t SimConfig = self.cfg;
        cfg.middleboxes
            .get(mb as usize)
            .map(|m| m.name.as_str())
            .unwrap_or_default()
    }

    pub(super) fn at_middlebox(
        &mut self,
        seg: Segment,
        path: u16,
        pos: u16,
        dir: Dir,
        from: Option<SockRef>,
        to: Option<SockRef>,
    ) {
        self.effect();
        let now = self.q.now();
        let mb = self.paths[path as usize][pos as usize].0;
        let ends = self.conn_latency(&seg, from, to);
        let (onward, onward_latency) = self.hop_after(path, pos, dir, ends);
        let back_dir = match dir {
            Dir::FromClient => Dir::FromServer,
            Dir::FromServer => Dir::FromClient,
        };
        let (client, server) = match dir {
            Dir::FromClient => (seg.src, seg.dst),
            Dir::FromServer => (seg.dst, seg.src),
        };
        let verdict = self.mbs[mb as usize].on_segment(now, &seg, dir);
        let mbname = self.mb_name(mb);
        match verdict {
            Verdict::Forward { new_state, created } => {
                if created || new_state.is_some() {
                    // The timeout may have become shorter: make sure a timer
                    // runs at the new expiry. Refreshes only move it later,
                    // which the timer handles by re-arming.
                    let key = (client, server);
                    if let Some(at) = self.mbs[mb as usize].expiry(&key) {
                        let tkey = (mb, client, server);
                        let armed = self.mb_timers.get(&tkey).copied();
                        if created || armed.is_none_or(|t| at < t) {
                            self.mb_timers.insert(tkey, at);
                            self.schedule(at, Ev::MbExpire { mb, client, server });
                        }
                    }
                }
                if created && !seg.flags.syn && self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        mbname.to_string(),
                        "flow_pickup",
                        vec![],
                        format!(
                            "{mbname} picks up flow {}↔{} mid-stream on {}: a new ESTABLISHED flow (untracked packets: accept; conntrack's loose pick-up)",
                            self.addr_name(client),
                            self.addr_name(server),
                            seg.kind()
                        ),
                    );
                }
                if let Some((from, to)) = new_state {
                    if self.wants(Level::Timeline) {
                        // The timeout that applies (capped while data is
                        // unacknowledged or after retransmissions).
                        let timeout = self.mbs[mb as usize]
                            .expiry(&(client, server))
                            .map(|at| at.saturating_since(now))
                            .unwrap_or_default();
                        self.emit(
                            Level::Timeline,
                            mbname.to_string(),
                            "flow_state",
                            vec![("from", from.name().into()), ("to", to.name().into())],
                            format!(
                                "{mbname} flow {}↔{}: {} → {} on {} (idle timeout now {timeout})",
                                self.addr_name(client),
                                self.addr_name(server),
                                from.name(),
                                to.name(),
                                seg.kind()
                            ),
                        );
                    }
                }
                self.schedule_packet(now + onward_latency, seg, onward, from, to);
            }
            Verdict::DropUntracked { forgotten_at } => {
                if self.wants(Level::Timeline) {
                    let why = match forgotten_at {
                        Some(t) => format!("it forgot this flow at {t}"),
                        None => "it never saw this flow start".to_string(),
                    };
                    self.emit(
                        Level::Timeline,
                        mbname.to_string(),
                        "drop",
                        seg_fields(&seg),
                        format!(
                            "{mbname} silently drops {} from {}: {why} (untracked packets: drop)",
                            seg.kind(),
                            self.addr_name(seg.src)
                        ),
                    );
                }
            }
            Verdict::RstUntracked { rst, forgotten_at } => {
                if self.wants(Level::Timeline) {
                    let why = match forgotten_at {
                        Some(t) => format!("it forgot this flow at {t}"),
                        None => "it never saw this flow start".to_string(),
                    };
                    self.emit(
                        Level::Timeline,
                        mbname.to_string(),
                        "rst",
                        seg_fields(&seg),
                        format!(
                            "{mbname} answers {} from {} with RST: {why} (untracked packets: rst)",
                            seg.kind(),
                            self.addr_name(seg.src)
                        ),
                    );
                }
                // The RST goes back the way the packet came, through the
                // middleboxes before this one.
                let (back, back_latency) = self.hop_after(path, pos, back_dir, ends);
                self.schedule_packet(now + back_latency, rst, back, None, from);
            }
        }
    }

    pub(super) fn on_mb_expire(&mut self, mbi: u16, client: Addr, server: Addr) {
        let now = self.q.now();
        let Some(mb) = self.mbs.get_mut(mbi as usize) else {
            return;
        };
        let key = (client, server);
        let tkey = (mbi, client, server);
        if self.mb_timers.get(&tkey) != Some(&now) {
            return; // superseded by an earlier timer
        }
        match mb.expiry(&key) {
            None => {
                self.mb_timers.remove(&tkey);
            }
            Some(at) if at > now => {
                self.mb_timers.insert(tkey, at);
                self.schedule(
                    at,
                    Ev::MbExpire {
                        mb: mbi,
                        client,
                        server,
                    },
                );
            }
            Some(_) => {
                self.mb_timers.remove(&tkey);
                self.last_effect = now;
                let state = mb.expire(now, &key);
                mb.prune_forgotten(now, SimDuration::from_secs(3600));
                if let (Some(st), true) = (state, self.wants(Level::Timeline)) {
                    let name = self.mb_name(mbi);
                    let t = self.mbs[mbi as usize].config().timeouts.get(st);
                    self.emit(
                        Level::Timeline,
                        name.to_string(),
                        "forget",
                        vec![("state", st.name().into())],
                        format!(
                            "{name} forgets flow {}↔{}: idle {t} in {}",
                            self.addr_name(client),
                            self.addr_name(server),
                            st.name()
                        ),
                    );
                }
            }
        }
    }

    pub(super) fn at_host(&mut self, seg: Segment, from: Option<SockRef>, to: Option<SockRef>) {
        self.effect();
        let now = self.q.now();
        let host = seg.dst.host;
        if let Some(env) = self.kernel_env(host) {
            let state = self.envs[(env - 1) as usize].state;
            match state {
                EnvState::Reaped => {
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{env}"),
                            "vanish",
                            seg_fields(&seg),
                            format!(
                                "{} from {} vanishes: env-{env} no longer exists",
                                seg.kind(),
                                self.addr_name(seg.src)
                            ),
                        );
                    }
                    return;
                }
                EnvState::Frozen
                    if self.cfg.platform.frozen_kernel == FrozenKernel::Silent
                        && self.kernel_env(seg.src.host) == Some(env) =>
                {
                    // Loopback inside the frozen environment: the segment
                    // waits in its kernel until the vCPU runs again.
                    self.envs[(env - 1) as usize]
                        .deferred_loopback
                        .push((seg, from, to));
                    return;
                }
                EnvState::Frozen if self.cfg.platform.frozen_kernel == FrozenKernel::Silent => {
                    if self.wants(Level::Timeline) {
                        self.emit(
                            Level::Timeline,
                            format!("env-{env}"),
                            "frozen_drop",
                            seg_fields(&seg),
                            format!(
                                "{} from {} reaches frozen env-{env}: no ACK, no RST (frozen_kernel = silent)",
                                seg.kind(),
                                self.addr_name(seg.src)
                            ),
                        );
                    }
                    return;
                }
                EnvState::Frozen
                | EnvState::Initializing
                | EnvState::Busy
                | EnvState::Idle
                | EnvState::ShuttingDown => {}
            }
        }
        if self.detail {
            self.emit(
                Level::Detail,
                self.component_of(host),
                "recv",
                seg_fields(&seg),
                format!(
                    "{} ← {}: {seg}",
                    self.addr_name(seg.dst),
                    self.addr_name(seg.src)
                ),
            );
        }
        let hinted = to.filter(|t| {
            self.sock(*t)
                .is_some_and(|l| l.tcb.local() == seg.dst && l.tcb.remote() == seg.src)
        });
        if let Some(s) = hinted.or_else(|| self.demux.get(&flow_key(seg.dst, seg.src)).copied()) {
            if let (Some(f), Some(ls)) = (from, self.sock_mut(s)) {
                ls.peer = Some(f);
            }
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                ls.tcb.on_segment(now, &seg, &mut out);
            }
            self.apply(s, out);
            return;
        }
        let listener = server_of_host(host).filter(|&i| {
            seg.dst == self.servers[i as usize].addr()
                && seg.flags.syn
                && !seg.flags.ack
                // A stopped server has no listener: the kernel resets.
                && !self.server_down[i as usize]
        });
        if let Some(srv) = listener {
            if !self.server_syn(srv, &seg) {
                return;
            }
            let mut out = self.buf();
            let tcp = self.cfg.servers[self.srv_cfg[srv as usize] as usize].tcp;
            let tcb = Tcb::accept_syn(now, tcp, &seg, &mut out);
            let s = self.alloc_sock(tcb, Owner::ServerPending);
            if let Some(ls) = self.sock_mut(s) {
                ls.peer = from;
            }
            self.apply(s, out);
            return;
        }
        let proxy = proxy_of_host(host)
            .and_then(|i| self.proxies.get(i as usize))
            .filter(|p| seg.dst == p.addr && seg.flags.syn && !seg.flags.ack);
        if let Some(tcp) = proxy.map(|p| p.cfg.tcp) {
            let mut out = self.buf();
            let tcb = Tcb::accept_syn(now, tcp, &seg, &mut out);
            let s = self.alloc_sock(tcb, Owner::ProxyPending);
            if let Some(ls) = self.sock_mut(s) {
                ls.peer = from;
            }
            self.apply(s, out);
            return;
        }
        // No socket: the kernel answers with RST (never to an RST).
        if let Some(rst) = seg.reset_reply() {
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    self.component_of(host),
                    "no_socket_rst",
                    seg_fields(&seg),
                    format!(
                        "{} from {} reaches {} where no socket exists: the kernel answers RST",
                        seg.kind(),
                        self.addr_name(seg.src),
                        self.addr_name(seg.dst)
                    ),
                );
            }
            self.route(rst, None);
        }
    }

    pub(super) fn on_tcp_timer(&mut self, s: SockRef, kind: TimerKind, gen: u32) {
        let now = self.q.now();
        let Some(host) = self.sock(s).map(|l| l.tcb.local().host) else {
            return;
        };
        if let Some(env) = self.kernel_env(host) {
            let e = &mut self.envs[(env - 1) as usize];
            match e.state {
                EnvState::Reaped => return,
                EnvState::Frozen if self.cfg.platform.frozen_kernel == FrozenKernel::Silent => {
                    let live = self
                        .socks
                        .get(s)
                        .is_some_and(|l| l.tcb.timer_current(kind, gen));
                    if live {
                        e.deferred_kernel.push((s, kind, gen));
                    }
                    return;
                }
                EnvState::Frozen
                | EnvState::Initializing
                | EnvState::Busy
                | EnvState::Idle
                | EnvState::ShuttingDown => {}
            }
        }
        let mut out = self.buf();
        if let Some(ls) = self.sock_mut(s) {
            ls.tcb.on_timer(now, kind, gen, &mut out);
        }
        self.apply(s, out);
    }

    /// Carries out a socket's effects.
    pub(super) fn apply(&mut self, s: SockRef, mut out: Vec<TcpAction>) {
        if !out.is_empty() {
            self.effect();
        }
        let mut notices: Vec<Notice> = self.notice_bufs.pop().unwrap_or_default();
        for a in out.drain(..) {
            match a {
                TcpAction::Send(seg) => self.route(seg, Some(s)),
                TcpAction::Arm { kind, at, gen } => {
                    self.schedule(at, Ev::TcpTimer { sock: s, kind, gen })
                }
                TcpAction::State { from, to } => {
                    if self.wants(Level::Timeline) {
                        let name = self.sock_name(s);
                        let host = self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0);
                        let orphan = self.sock(s).map(|l| l.tcb.is_orphan()).unwrap_or(false);
                        self.emit(
                            Level::Timeline,
                            self.component_of(host),
                            "tcp_state",
                            vec![("from", from.name().into()), ("to", to.name().into())],
                            format!(
                                "{name}: {} → {}{}",
                                from.name(),
                                to.name(),
                                // A socket that reaches CLOSED is gone: it
                                // is no longer "owned by the kernel".
                                match (orphan, to) {
                                    // Closed straight from an open state
                                    // (an abortive close): never an orphan.
                                    (true, thaw_net::TcpState::Closed)
                                        if matches!(
                                            from,
                                            thaw_net::TcpState::Established
                                                | thaw_net::TcpState::CloseWait
                                                | thaw_net::TcpState::SynRecv
                                                | thaw_net::TcpState::SynSent
                                        ) =>
                                    {
                                        " (closed at once: the socket is destroyed)"
                                    }
                                    (true, thaw_net::TcpState::Closed) =>
                                        " (the orphan is destroyed)",
                                    (true, _) => " (orphaned: owned by the kernel alone)",
                                    (false, _) => "",
                                }
                            ),
                        );
                    }
                }
                TcpAction::Note(n) => {
                    if let Some(ls) = self.sock_mut(s) {
                        ls.last_note = Some(n);
                    }
                    self.trace_note(s, n);
                }
                TcpAction::Notify(n) => notices.push(n),
            }
        }
        self.recycle(out);
        for n in notices.drain(..) {
            self.dispatch_notice(s, n);
        }
        self.notice_bufs.push(notices);
        self.maybe_free(s);
    }

    pub(super) fn dispatch_notice(&mut self, s: SockRef, n: Notice) {
        let Some(owner) = self.sock(s).map(|l| l.owner) else {
            return;
        };
        match owner {
            Owner::Env(env) => self.env_notice(env, s, n),
            Owner::ServerPending => {
                if n == Notice::Connected {
                    self.server_enqueue_accept(s);
                }
            }
            Owner::ServerQueued => {}
            Owner::Server(c) => {
                if !self.local_hold_notice(s, n) {
                    self.server_notice(c, s, n);
                }
            }
            Owner::ProxyPending => {
                if n == Notice::Connected {
                    self.proxy_accept(s);
                }
            }
            Owner::ProxyClient(c) => self.proxy_client_notice(c, s, n),
            Owner::ProxyBackend(b) => self.proxy_backend_notice(b, s, n),
            Owner::Kernel => {}
        }
        self.maybe_free(s);
    }

    pub(super) fn trace_note(&mut self, s: SockRef, n: TcpNote) {
        // Decide the level before building any text: notes come on every
        // retransmission, and an untraced run must not format them (this
        // was 6 % of a run's instructions).
        let level = match n {
            TcpNote::TimeWaitDone => Level::Detail,
            _ => Level::Timeline,
        };
        if !self.wants(level) {
            return;
        }
        let text = match n {
            TcpNote::LossProbe { next_rto } => {
                let what = self
                    .sock(s)
                    .and_then(|l| l.tcb.tail_kind())
                    .unwrap_or("segment");
                format!("sends a tail loss probe (resends its last {what}; then RTO {next_rto}): no ACK came back")
            }
            TcpNote::Retransmit { attempt, next_rto } => {
                let what = self
                    .sock(s)
                    .and_then(|l| l.tcb.head_kind())
                    .unwrap_or("segment");
                format!("retransmits {what} (retransmission {attempt}, next RTO {next_rto}): no ACK came back")
            }
            TcpNote::GaveUp {
                retries,
                limit,
                rule,
            } => {
                let bound = match (rule, self.sock(s).and_then(|l| l.tcb.config().user_timeout)) {
                    ("TCP_USER_TIMEOUT", Some(ut)) => format!("TCP_USER_TIMEOUT = {ut}"),
                    _ => format!("{rule} = {limit}"),
                };
                let orphan = self.sock(s).map(|l| l.tcb.is_orphan()).unwrap_or(false);
                format!(
                    "gives up after {retries} retransmission(s) ({bound}): socket destroyed, {}no RST sent",
                    if orphan { "" } else { "ETIMEDOUT, " }
                )
            }
            TcpNote::KeepaliveProbe { n } => {
                format!("sends keepalive probe {n}")
            }
            TcpNote::KeepaliveGaveUp => {
                "keepalive probes unanswered: sends RST, ETIMEDOUT".to_string()
            }
            TcpNote::DataAfterClose => {
                "data arrives after close(): answers RST (RFC 1122)".to_string()
            }
            TcpNote::AbortOnClose => "close() with unread data: RST instead of FIN".to_string(),
            TcpNote::AbortOnLinger => {
                "close() with SO_LINGER 0: RST instead of FIN, no orphan".to_string()
            }
            TcpNote::ResetReceived => "receives RST".to_string(),
            TcpNote::FinWait2Expired => "FIN_WAIT2 timer (tcp_fin_timeout) expired".to_string(),
            TcpNote::TimeWaitDone => "TIME_WAIT over".to_string(),
        };
        let name = self.sock_name(s);
        let host = self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0);
        self.emit(
            level,
            self.component_of(host),
            "tcp_note",
            vec![],
            format!("{name}: {text}"),
        );
    }
}
