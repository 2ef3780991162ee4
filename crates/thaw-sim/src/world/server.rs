//! Wiring of the server model (`crate::server`): what happens on the
//! server's sockets becomes the model's inputs, and its effects become
//! socket writes, closes, timers and timeline lines.
use super::*;
use crate::server::{Effect, Pending, Timer, TraceLine, Work};

impl World<'_> {
    /// A model's timeline line, as component `name`.
    pub(super) fn emit_line(&mut self, name: String, line: TraceLine) {
        let TraceLine {
            event,
            fields,
            text,
        } = line;
        self.emit(Level::Timeline, name, event, fields, text);
    }
}

/// A buffer of server effects.
pub(super) type Effects = Vec<Effect<SockRef>>;

impl World<'_> {
    /// Runs one input of server `srv`'s model and carries out its effects.
    pub(super) fn with_server(
        &mut self,
        srv: u16,
        f: impl FnOnce(&mut Server, SimTime, &mut Effects),
    ) {
        let now = self.q.now();
        let mut out = self.srv_bufs.pop().unwrap_or_default();
        f(&mut self.servers[srv as usize], now, &mut out);
        // Many inputs decide nothing outward (a SYN with room, a stale
        // timer): skip the dispatch.
        if !out.is_empty() {
            self.server_effects(srv, &mut out);
        }
        self.srv_bufs.push(out);
    }

    /// The server whose socket `s` is (0 if the socket is gone).
    pub(super) fn srv_of_sock(&self, s: SockRef) -> u16 {
        self.sock(s)
            .and_then(|l| server_of_host(l.tcb.local().host))
            .unwrap_or(0)
    }

    fn server_effects(&mut self, srv: u16, out: &mut Effects) {
        for e in out.drain(..) {
            match e {
                Effect::Arm { at, timer, lane } => {
                    let epoch = self.srv_epoch[srv as usize];
                    if lane {
                        self.schedule(at, Ev::Server(srv, epoch, timer));
                    } else {
                        self.q.push(at, Ev::Server(srv, epoch, timer));
                    }
                }
                Effect::Send { sock, msg, answer } => {
                    self.server_send(srv, sock, Payload(msg), answer);
                }
                Effect::SendBytes(b) => {
                    let (sock, bytes, answer) = *b;
                    let payload = self.blob(bytes);
                    self.server_send(srv, sock, payload, answer);
                }
                Effect::Close {
                    sock,
                    abort,
                    why,
                    zombie,
                } => self.server_closes(sock, abort, why, zombie),
                Effect::CloseWhy(b) => {
                    let (sock, abort, why, zombie) = *b;
                    self.server_closes(sock, abort, Some(&why), zombie);
                }
                Effect::CloseNotify { sock } => self.tls_close_notify(sock),
                Effect::Accepted { conn, sock, peer } => {
                    if let Some(ls) = self.sock_mut(sock) {
                        ls.owner = Owner::Server(conn);
                    }
                    // A server inside the environment is frozen with its
                    // peer: never a zombie.
                    let peer_state = self
                        .envs
                        .get((peer.host.wrapping_sub(1)) as usize)
                        .filter(|_| self.srv_env[srv as usize] == 0)
                        .map(|e| e.state);
                    if matches!(peer_state, Some(EnvState::Frozen | EnvState::Reaped)) {
                        self.set_zombie(srv, conn, true);
                    }
                }
                Effect::ReadNow { conn, sock } => {
                    // Data that arrived while the connection waited in the
                    // accept queue is in the socket: read it now.
                    if self.sock(sock).is_some_and(|l| l.tcb.unread() > 0) {
                        self.server_notice(conn, sock, Notice::Readable);
                    }
                }
                Effect::Wrote {
                    peer,
                    key,
                    committed,
                } => {
                    if !self.write_ids.is_empty() {
                        let conn_key = (peer, self.servers[srv as usize].addr());
                        let w = self
                            .write_ids
                            .get_mut(&conn_key)
                            .and_then(|q| q.pop_front());
                        if self.write_ids.get(&conn_key).is_some_and(|q| q.is_empty()) {
                            self.write_ids.remove(&conn_key);
                        }
                        if let (Some(w), true) = (w, committed) {
                            self.write_applied(w, key);
                        }
                    }
                }
                Effect::Trace(line) => {
                    let name = self.servers[srv as usize].name().to_string();
                    self.emit_line(name, *line);
                }
            }
        }
    }

    fn server_send(&mut self, srv: u16, sock: SockRef, payload: Payload, answer: Option<ConnRef>) {
        let now = self.q.now();
        let mut acts = self.buf();
        let res = match self.sock_mut(sock) {
            Some(ls) => ls.tcb.send(now, payload, &mut acts),
            None => Err(Errno::Epipe),
        };
        self.apply(sock, acts);
        if let (Err(e), Some(c)) = (res, answer) {
            self.with_server(srv, |m, now, out| m.send_failed(now, c, e, out));
        }
    }

    fn server_closes(&mut self, sock: SockRef, abort: bool, why: Option<&str>, zombie: bool) {
        if zombie {
            self.zombie_changed(false);
        }
        match why {
            Some(why) if abort => self.app_abort(sock, why),
            Some(why) => self.app_close(sock, why),
            None => {
                // A refusal: the message, then close, untraced.
                let now = self.q.now();
                let mut acts = self.buf();
                if let Some(ls) = self.sock_mut(sock) {
                    ls.owner = Owner::Kernel;
                    ls.tcb.close(now, &mut acts);
                }
                self.apply(sock, acts);
            }
        }
    }

    /// A timer of server `srv` is due.
    pub(super) fn on_server_timer(&mut self, srv: u16, timer: Timer<SockRef>) {
        // A server inside an environment is a process there: its timers
        // are user-space timers, held while the environment is frozen.
        if self.local_hold_timer(srv, timer) {
            return;
        }
        let pending = match timer {
            Timer::WorkDone(Work::Accept(s)) => self.sock(s).map(|l| Pending {
                peer: l.tcb.remote(),
                alive: l.tcb.state() == thaw_net::TcpState::Established
                    && l.tcb.pending_error().is_none(),
                wire: self.wire_of_peer(l.tcb.remote()),
            }),
            Timer::WorkDone(Work::Request(_) | Work::TlsHello(_))
            | Timer::Idle { .. }
            | Timer::Handshake { .. } => None,
        };
        self.with_server(srv, |m, now, out| m.on_timer(now, timer, pending, out));
    }

    /// A SYN reached server `srv`'s listener: is there room in the accept
    /// queue?
    pub(super) fn server_syn(&mut self, srv: u16, seg: &Segment) -> bool {
        let mut room = true;
        self.with_server(srv, |m, _, out| room = m.on_syn(seg.src, out));
        room
    }

    /// The TCP handshake completed: the connection waits in the accept
    /// queue for a core to accept it.
    pub(super) fn server_enqueue_accept(&mut self, s: SockRef) {
        if let Some(ls) = self.sock_mut(s) {
            ls.owner = Owner::ServerQueued;
        }
        let srv = self.srv_of_sock(s);
        self.with_server(srv, |m, now, out| m.on_established(now, s, out));
    }

    /// A socket event on one of the server application's connections.
    pub(super) fn server_notice(&mut self, c: ConnRef, s: SockRef, notice: Notice) {
        let srv = self.srv_of_sock(s);
        match notice {
            Notice::Connected => {}
            Notice::Readable => loop {
                let r = self
                    .sock_mut(s)
                    .map(|l| l.tcb.recv())
                    .unwrap_or(RecvResult::Eof);
                match r {
                    RecvResult::Data(Payload(p)) if is_blob(p) => {
                        let bytes = self.take_blob(p);
                        self.with_server(srv, |m, now, out| m.on_bytes(now, c, &bytes, out));
                    }
                    RecvResult::Data(Payload(p)) if msg_kind(p) == MSG_REQUEST => {
                        self.with_server(srv, |m, now, out| m.on_request(now, c, p, out));
                    }
                    RecvResult::Data(Payload(MSG_LOGIN)) => {
                        let now = self.q.now();
                        self.servers[srv as usize].on_login(now, c);
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.server_client_gone(srv, c, "the client closed the connection".into());
                        return;
                    }
                }
                if self.servers[srv as usize].conn(c).is_none() {
                    return;
                }
            },
            Notice::Eof => {
                self.server_client_gone(srv, c, "the client closed the connection (EOF)".into())
            }
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                self.server_client_gone(
                    srv,
                    c,
                    format!("the connection failed with {}", e.name()).into(),
                );
            }
        }
    }

    fn server_client_gone(&mut self, srv: u16, c: ConnRef, why: std::borrow::Cow<'static, str>) {
        self.with_server(srv, |m, now, out| m.on_client_gone(now, c, why, out));
    }

    /// Marks a connection of server `srv` a zombie (its client is frozen
    /// or gone) or not, for the zombie-seconds metric.
    pub(super) fn set_zombie(&mut self, srv: u16, c: ConnRef, zombie: bool) {
        if self.servers[srv as usize].set_zombie(c, zombie) {
            self.zombie_changed(zombie);
        }
    }

    /// `Ev::ServerOutage`: the server process stops or comes back.
    pub(super) fn server_outage(&mut self, srv: u16, up: bool) {
        self.server_down[srv as usize] = !up;
        if self.wants(Level::Timeline) {
            let name = self.cfg.servers[srv as usize].name.clone();
            let text = if up {
                format!("{name} is back: its listener accepts connections again")
            } else {
                format!("{name} stops (restart, crash or failover): its connections end with the process, and its port answers SYNs with RST until it is back")
            };
            self.emit(
                Level::Timeline,
                name,
                if up { "server_up" } else { "server_down" },
                vec![],
                text,
            );
        }
        if !up {
            self.with_server(srv, |m, now, out| m.stop(now, out));
        }
    }
}
