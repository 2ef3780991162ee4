//! Wiring of the proxy model (`crate::proxy`): what happens on the proxy's
//! sockets becomes the model's inputs, and its effects become socket
//! writes, closes, new connections to the server, timers and timeline
//! lines.
use super::*;
use crate::proxy::{Effect, Timer};

/// A client connection in the proxy's arena.
pub(super) type ClientRef = crate::proxy::ClientRef<SockRef>;
/// A backend (database) connection in the proxy's arena.
pub(super) type BackendRef = crate::proxy::BackendRef<SockRef>;
/// The proxy model, over the world's sockets.
pub(super) type Proxy = crate::proxy::Proxy<SockRef>;
/// A buffer of proxy effects.
pub(super) type ProxyEffects = Vec<Effect<SockRef>>;

impl World<'_> {
    /// Runs one input of proxy `px`'s model and carries out its effects.
    fn with_proxy(&mut self, px: u16, f: impl FnOnce(&mut Proxy, SimTime, &mut ProxyEffects)) {
        let now = self.q.now();
        let Some(p) = self.proxies.get_mut(px as usize) else {
            return;
        };
        let mut out = self.px_bufs.pop().unwrap_or_default();
        f(p, now, &mut out);
        self.proxy_effects(px, &mut out);
        self.px_bufs.push(out);
    }

    /// The proxy whose socket `s` is (0 if the socket is gone).
    fn px_of_sock(&self, s: SockRef) -> u16 {
        self.sock(s)
            .and_then(|l| proxy_of_host(l.tcb.local().host))
            .unwrap_or(0)
    }

    fn has_client(&self, px: u16, c: ClientRef) -> bool {
        self.proxies
            .get(px as usize)
            .is_some_and(|p| p.has_client(c))
    }

    fn has_backend(&self, px: u16, b: BackendRef) -> bool {
        self.proxies
            .get(px as usize)
            .is_some_and(|p| p.has_backend(b))
    }

    fn proxy_effects(&mut self, px: u16, out: &mut ProxyEffects) {
        let now = self.q.now();
        for e in out.drain(..) {
            match e {
                Effect::Arm { at, timer } => self.q.push(at, Ev::Proxy(px, timer)),
                Effect::Send { sock, msg, fail } => {
                    let mut acts = self.buf();
                    let res = match self.sock_mut(sock) {
                        Some(ls) => ls.tcb.send(now, Payload(msg), &mut acts),
                        None => Err(Errno::Epipe),
                    };
                    self.apply(sock, acts);
                    if let (Err(e), Some(fail)) = (res, fail) {
                        self.with_proxy(px, |p, now, out| p.send_failed(now, fail, e, out));
                    }
                }
                Effect::Close { sock, why } => {
                    if let Some(ls) = self.sock_mut(sock) {
                        ls.owner = Owner::Kernel;
                    }
                    self.app_close(sock, &why);
                }
                Effect::Refuse { sock } => {
                    let mut acts = self.buf();
                    if let Some(ls) = self.sock_mut(sock) {
                        ls.owner = Owner::Kernel;
                        ls.tcb.close(now, &mut acts);
                    }
                    self.apply(sock, acts);
                }
                Effect::Accepted { client, sock } => {
                    if let Some(ls) = self.sock_mut(sock) {
                        ls.owner = Owner::ProxyClient(client);
                    }
                }
                Effect::ReadNow { client, sock } => {
                    if self.sock(sock).is_some_and(|l| l.tcb.unread() > 0) {
                        self.proxy_client_notice(client, sock, Notice::Readable);
                    }
                }
                Effect::Open { backend } => self.proxy_open(px, backend),
                Effect::CarryWrite { client, backend } => self.proxy_carry_write(client, backend),
                Effect::Touch => self.effect(),
                Effect::Trace(line) => {
                    let name = self.proxies[px as usize].cfg.name.clone();
                    self.emit_line(name, *line);
                }
            }
        }
    }

    /// The one-way latency if `seg` travels between the proxy and the
    /// server.
    pub(super) fn proxy_link(&self, seg: &Segment) -> Option<SimDuration> {
        if self.proxies.is_empty() {
            return None;
        }
        let (a, b) = (seg.src.host, seg.dst.host);
        self.proxies
            .iter()
            .find(|p| {
                let (px, srv) = (p.addr.host, p.server_addr.host);
                (a == px && b == srv) || (a == srv && b == px)
            })
            .map(|p| p.cfg.server_latency)
    }

    /// What the client library prints for the errors of the proxy in front
    /// of server `target`.
    pub(super) fn proxy_error_text(&self, target: u16, msg: u64) -> (ErrorKind, &'static str) {
        match self.proxies.iter().find(|p| p.cfg.server == target) {
            Some(p) => p.error_text(msg),
            None => (ErrorKind::ServerIdleClosed, "client_idle_timeout"),
        }
    }

    pub(super) fn set_proxy_zombie(&mut self, s: SockRef, c: ClientRef, zombie: bool) {
        let now = self.q.now();
        let px = self.px_of_sock(s);
        if let Some(p) = self.proxies.get_mut(px as usize) {
            p.set_zombie(now, c, zombie);
        }
    }

    /// A timer of proxy `px` is due.
    pub(super) fn on_proxy_timer(&mut self, px: u16, timer: Timer<SockRef>) {
        self.with_proxy(px, |p, now, out| p.on_timer(now, timer, out));
    }

    /// A function's connection completed the TCP handshake at the proxy.
    pub(super) fn proxy_accept(&mut self, s: SockRef) {
        let Some((peer, alive)) = self.sock(s).map(|l| {
            (
                l.tcb.remote(),
                l.tcb.state() == thaw_net::TcpState::Established && l.tcb.pending_error().is_none(),
            )
        }) else {
            return;
        };
        let frozen = matches!(
            self.envs
                .get((peer.host.wrapping_sub(1)) as usize)
                .map(|e| e.state),
            Some(EnvState::Frozen | EnvState::Reaped)
        );
        let px = self.px_of_sock(s);
        self.with_proxy(px, |p, now, out| {
            p.on_accept(now, s, peer, alive, frozen, out)
        });
    }

    pub(super) fn proxy_client_notice(&mut self, c: ClientRef, s: SockRef, notice: Notice) {
        let px = self.px_of_sock(s);
        match notice {
            Notice::Connected => {}
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(p)) if msg_kind(p) == MSG_REQUEST => {
                        self.with_proxy(px, |m, now, out| m.on_client_request(now, c, p, out));
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.with_proxy(px, |m, now, out| {
                            m.on_client_gone(now, c, "the client closed the connection".into(), out)
                        });
                        return;
                    }
                }
                if !self.has_client(px, c) {
                    return;
                }
            },
            Notice::Eof => self.with_proxy(px, |m, now, out| {
                m.on_client_gone(now, c, "the client closed the connection (EOF)".into(), out)
            }),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                let why = format!("the client connection failed with {}", e.name());
                self.with_proxy(px, |m, now, out| m.on_client_gone(now, c, why.into(), out));
            }
        }
    }

    pub(super) fn proxy_backend_notice(&mut self, b: BackendRef, s: SockRef, notice: Notice) {
        let px = self.px_of_sock(s);
        if !self.has_backend(px, b) {
            return;
        }
        match notice {
            Notice::Connected => {
                self.with_proxy(px, |p, now, out| p.on_backend_connected(now, b, out))
            }
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(m)) => {
                        self.with_proxy(px, |p, now, out| p.on_backend_msg(now, b, m, out))
                    }
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof => {
                        self.with_proxy(px, |p, now, out| {
                            p.on_backend_gone(
                                now,
                                b,
                                "the server closed the connection".into(),
                                out,
                            )
                        });
                        return;
                    }
                    RecvResult::Err(e) => {
                        let why = format!("the connection failed with {}", e.name());
                        self.with_proxy(px, |p, now, out| {
                            p.on_backend_gone(now, b, why.into(), out)
                        });
                        return;
                    }
                }
                if !self.has_backend(px, b) {
                    return;
                }
            },
            Notice::Eof => self.with_proxy(px, |p, now, out| {
                p.on_backend_gone(now, b, "the server closed the connection (EOF)".into(), out)
            }),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                let why = format!("the connection failed with {}", e.name());
                self.with_proxy(px, |p, now, out| p.on_backend_gone(now, b, why.into(), out));
            }
        }
    }

    /// A free local port of proxy `px` towards its server.
    fn proxy_alloc_port(&mut self, px: u16) -> Option<u16> {
        let span = (LAST_EPHEMERAL - FIRST_EPHEMERAL) as u32 + 1;
        let p = self.proxies.get_mut(px as usize)?;
        let (host, server) = (p.addr.host, p.server_addr);
        for _ in 0..span {
            let port = p.next_port;
            p.next_port = if port >= LAST_EPHEMERAL {
                FIRST_EPHEMERAL
            } else {
                port + 1
            };
            let key = flow_key(Addr { host, port }, server);
            if !self.demux.contains_key(&key) {
                return Some(port);
            }
        }
        None
    }

    /// Proxy `px` opens a connection to its server.
    fn proxy_open(&mut self, px: u16, b: BackendRef) {
        let now = self.q.now();
        let Some(port) = self.proxy_alloc_port(px) else {
            if let Some(p) = self.proxies.get_mut(px as usize) {
                p.backend_not_opened(b);
            }
            return;
        };
        let Some((tcp, host, server)) = self
            .proxies
            .get(px as usize)
            .map(|p| (p.cfg.tcp, p.addr.host, p.server_addr))
        else {
            return;
        };
        let local = Addr { host, port };
        let mut acts = self.buf();
        let tcb = Tcb::connect(now, tcp, local, server, &mut acts);
        let s = self.alloc_sock(tcb, Owner::ProxyBackend(b));
        self.with_proxy(px, |p, _, out| p.backend_socket(b, s, port, out));
        self.apply(s, acts);
    }

    /// `[client.retry]` bookkeeping: the write the client sent (identified
    /// by its connection to the proxy) now travels on the backend's
    /// connection to the server.
    fn proxy_carry_write(&mut self, cs: SockRef, bs: SockRef) {
        if self.write_ids.is_empty() {
            return;
        }
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
}
