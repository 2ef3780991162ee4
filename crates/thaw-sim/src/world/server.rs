//! The server application: accepting connections, the connection limit,
//! answering requests, and closing idle connections.
use super::*;

impl World<'_> {
    // ----- the server ----------------------------------------------------

    pub(super) fn server_accept(&mut self, s: SockRef) {
        let now = self.q.now();
        let peer = match self.sock(s) {
            Some(l) => l.tcb.remote(),
            None => return,
        };
        if self.server_open >= self.cfg.server.max_connections as u64 {
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    self.cfg.server.name.clone(),
                    "reject",
                    vec![("open", self.server_open.into())],
                    format!(
                        "{} refuses {}: {} connections open = max_connections; sends an error and closes",
                        self.cfg.server.name,
                        self.addr_name(peer),
                        self.server_open
                    ),
                );
            }
            let mut out = self.buf();
            if let Some(ls) = self.sock_mut(s) {
                let _ = ls.tcb.send(now, Payload(MSG_ERR_MAXCLIENTS), &mut out);
                ls.owner = Owner::Kernel;
                ls.tcb.close(now, &mut out);
            }
            self.apply(s, out);
            return;
        }
        let c = self.alloc_conn(ServerConn {
            sock: s,
            peer,
            last_activity: now,
            pending: 0,
            busy: false,
            idle_gen: 0,
            zombie: false,
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
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "accept",
                vec![("open", self.server_open.into())],
                format!(
                    "{} accepts {} ({} connection(s) open)",
                    self.cfg.server.name,
                    self.addr_name(peer),
                    self.server_open
                ),
            );
        }
        self.arm_server_idle(c, now);
    }

    pub(super) fn arm_server_idle(&mut self, c: ConnRef, from: SimTime) {
        let Some(t) = self.cfg.server.idle_timeout else {
            return;
        };
        let Some(conn) = self.conn_mut(c) else { return };
        conn.idle_gen += 1;
        let gen = conn.idle_gen;
        if from == self.q.now() {
            self.schedule(from + t, Ev::ServerIdle { conn: c, gen });
        } else {
            // A re-check after activity: its delay is one of a kind.
            self.q.push(from + t, Ev::ServerIdle { conn: c, gen });
        }
    }

    pub(super) fn on_server_idle(&mut self, c: ConnRef, gen: u32) {
        let now = self.q.now();
        let Some(t) = self.cfg.server.idle_timeout else {
            return;
        };
        let Some(conn) = self.conn(c) else { return };
        if conn.idle_gen != gen {
            return;
        }
        let (last, pending, peer, s) = (conn.last_activity, conn.pending, conn.peer, conn.sock);
        if pending > 0 {
            self.arm_server_idle(c, now);
            return;
        }
        if now.saturating_since(last) < t {
            // Active since the timer was armed: due again `t` after the
            // last activity.
            self.arm_server_idle(c, last);
            return;
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                self.cfg.server.name.clone(),
                "idle_close",
                vec![("idle_ns", now.saturating_since(last).as_nanos().into())],
                format!(
                    "{} closes the connection from {}: idle for {} ≥ idle_timeout {t}",
                    self.cfg.server.name,
                    self.addr_name(peer),
                    now.saturating_since(last)
                ),
            );
        }
        self.server_close(c, s, "idle timeout");
    }

    pub(super) fn server_close(&mut self, c: ConnRef, s: SockRef, why: &str) {
        self.set_zombie(c, false);
        self.free_conn(c);
        self.server_open -= 1;
        self.app_close(s, why);
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
                    RecvResult::Data(Payload(MSG_REQUEST)) => {
                        let st = self.cfg.server.service_time;
                        let Some(conn) = self.conn_mut(c) else { return };
                        conn.pending += 1;
                        conn.last_activity = now;
                        if !conn.busy {
                            conn.busy = true;
                            self.schedule(now + st, Ev::ServiceDone { conn: c });
                        }
                    }
                    RecvResult::Data(_) => {}
                    RecvResult::WouldBlock => return,
                    RecvResult::Eof | RecvResult::Err(_) => {
                        self.server_close(c, s, "the client closed the connection");
                        return;
                    }
                }
            },
            Notice::Eof => self.server_close(c, s, "the client closed the connection (EOF)"),
            Notice::Error(e) => {
                let _ = self.sock_mut(s).map(|l| l.tcb.recv());
                self.server_close(c, s, &format!("the connection failed with {}", e.name()));
            }
        }
    }

    pub(super) fn on_service_done(&mut self, c: ConnRef) {
        let now = self.q.now();
        let st = self.cfg.server.service_time;
        let Some(conn) = self.conn_mut(c) else { return };
        conn.pending -= 1;
        conn.busy = false;
        let s = conn.sock;
        let mut out = self.buf();
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(MSG_RESPONSE), &mut out),
            None => Err(Errno::Epipe),
        };
        self.apply(s, out);
        match res {
            Ok(()) => {
                let Some(conn) = self.conn_mut(c) else { return };
                conn.last_activity = now;
                if conn.pending > 0 {
                    conn.busy = true;
                    self.schedule(now + st, Ev::ServiceDone { conn: c });
                }
            }
            Err(e) => self.server_close(c, s, &format!("write failed with {}", e.name())),
        }
    }
}
