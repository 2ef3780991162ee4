//! `[client.tls]` (model.md 2.12): after TCP's handshake, a connection
//! runs TLS's before any application data: one round trip (TLS 1.3) or two
//! (TLS 1.2), each a message to the server and its answer, which cross the
//! same path, middleboxes and freezes as any data. The server answers each
//! like a request that changes nothing, the first flight of a full
//! handshake after its handshake CPU too. The client's handshake CPU is
//! spent with its connection setup CPU. With `resumption`, an environment
//! that holds a session the server still accepts runs an abbreviated
//! handshake: one round trip, less CPU. A server's clean close sends
//! `close_notify` first, which the client's EOF then reports.
use super::*;

/// TLS on a connection being set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TlsSetup {
    /// Round trips still to make.
    pub left: u8,
    /// Round trips of this handshake.
    pub rounds: u8,
    /// The server's greeting (if it sends one) has arrived.
    pub greeting: bool,
    /// The client offers a session the server accepts.
    pub resumed: bool,
    /// The environment and the server, for the session cache.
    pub env: u32,
    pub target: u16,
}

/// What a message during setup means.
pub(super) enum TlsStep {
    /// Not TLS's: the caller handles it (a greeting, a refusal, EOF).
    NotTls,
    /// TLS goes on; wait.
    Wait,
    /// TLS and the greeting are done: the connection is ready.
    Ready,
}

impl World<'_> {
    /// Whether environment `env` holds a session for server `target` that
    /// the server still accepts now.
    pub(super) fn tls_resumable(&self, env: u32, target: u16) -> bool {
        let Some(tls) = self.cfg.client.tls.filter(|t| t.resumption) else {
            return false;
        };
        let now = self.q.now();
        self.envs
            .get((env as usize).wrapping_sub(1))
            .and_then(|e| e.tls_sessions.get(target as usize).copied().flatten())
            .is_some_and(|at| now < at + tls.session_lifetime)
    }

    /// The client's TLS CPU (on one full vCPU) for a new connection of
    /// `env` to `target`: a resumed handshake's or a full one's.
    pub(super) fn tls_cpu(&self, env: u32, target: u16) -> SimDuration {
        match self.cfg.client.tls {
            None => SimDuration::ZERO,
            Some(t) if self.tls_resumable(env, target) => t.resume_cpu,
            Some(t) => t.cpu,
        }
    }

    /// TCP is up on `s`, a connection of `env` to `target`: starts TLS if
    /// the scenario has it. `greeting`: whether the server speaks first.
    pub(super) fn tls_start(
        &mut self,
        s: SockRef,
        env: u32,
        target: u16,
        greeting: bool,
    ) -> Option<TlsSetup> {
        let tls = self.cfg.client.tls?;
        let resumed = self.tls_resumable(env, target);
        // TLS 1.2's abbreviated handshake takes one round trip (RFC 5246
        // §7.3); TLS 1.3's takes one either way (RFC 8446 §2.2).
        let rounds = if resumed { 1 } else { tls.round_trips };
        let t = TlsSetup {
            left: rounds,
            rounds,
            greeting: !greeting,
            resumed,
            env,
            target,
        };
        self.tls_send(s, t);
        Some(t)
    }

    /// One flight of the client's handshake.
    fn tls_send(&mut self, s: SockRef, t: TlsSetup) {
        let now = self.q.now();
        let Some(tls) = self.cfg.client.tls else {
            return;
        };
        let round = t.rounds - t.left + 1;
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            let what = match (round, t.resumed) {
                (1, false) => "ClientHello",
                (1, true) => "ClientHello with its cached session (resumption)",
                _ => "its key exchange and Finished",
            };
            let kind = if t.resumed {
                "abbreviated handshake"
            } else {
                "handshake"
            };
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "tls_flight",
                vec![
                    ("round", u64::from(round).into()),
                    ("resumed", t.resumed.into()),
                ],
                format!(
                    "{name}: TLS {} {kind}, round trip {round} of {}: sends {what}",
                    tls.version, t.rounds
                ),
            );
        }
        let mut out = self.buf();
        let hello = if round == 1 {
            encode_tls_hello(t.resumed)
        } else {
            encode_request(crate::config::RequestOp::Ping, false)
        };
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, Payload(hello), &mut out),
            None => Err(Errno::Epipe),
        };
        match res {
            Ok(()) => self.apply(s, out),
            // The read that follows sees the socket's end.
            Err(_) => self.recycle(out),
        }
    }

    /// A message on `s` during setup, with TLS state `t`.
    pub(super) fn tls_step(&mut self, s: SockRef, t: &mut TlsSetup, m: u64) -> TlsStep {
        if m == MSG_HELLO && !t.greeting {
            t.greeting = true;
            return if t.left == 0 {
                TlsStep::Ready
            } else {
                TlsStep::Wait
            };
        }
        if msg_kind(m) != MSG_RESPONSE || t.left == 0 {
            return TlsStep::NotTls;
        }
        t.left -= 1;
        if t.left > 0 {
            self.tls_send(s, *t);
            return TlsStep::Wait;
        }
        let resumption = self.cfg.client.tls.is_some_and(|x| x.resumption);
        if resumption && !t.resumed {
            // A full handshake gives the environment a new session.
            let now = self.q.now();
            if let Some(e) = self.envs.get_mut((t.env as usize).wrapping_sub(1)) {
                let i = t.target as usize;
                if e.tls_sessions.len() <= i {
                    e.tls_sessions.resize(i + 1, None);
                }
                e.tls_sessions[i] = Some(now);
            }
        }
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            let how = match (t.resumed, resumption) {
                (true, _) => " (session resumed)",
                (false, true) => " (full; the environment keeps its session)",
                (false, false) => "",
            };
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "tls_done",
                vec![("resumed", t.resumed.into())],
                format!("{name}: TLS handshake done{how}"),
            );
        }
        if t.greeting {
            TlsStep::Ready
        } else {
            TlsStep::Wait
        }
    }

    /// The server's application sends `close_notify` on its socket `sock`
    /// before closing it: the client's socket will read a clean TLS close.
    pub(super) fn tls_close_notify(&mut self, sock: SockRef) {
        let Some((local, peer)) = self.sock(sock).map(|l| (l.tcb.local(), l.peer)) else {
            return;
        };
        let peer = peer.filter(|p| self.sock(*p).is_some_and(|l| l.tcb.remote() == local));
        if let Some(ls) = peer.and_then(|p| self.sock_mut(p)) {
            ls.close_notify = true;
        }
        if self.wants(Level::Timeline) {
            let name = self.sock_name(sock);
            self.emit(
                Level::Timeline,
                self.component_of(local.host),
                "tls_close_notify",
                vec![],
                format!("{name}: sends TLS close_notify before closing (a clean TLS close)"),
            );
        }
    }

    /// What a TLS client adds to an EOF on `s`: whether the server's
    /// `close_notify` came first (empty without TLS); for PostgreSQL,
    /// libpq's text for the case (fe-secure-openssl.c).
    pub(super) fn tls_eof_note(&self, s: SockRef) -> &'static str {
        if self.cfg.client.tls.is_none() {
            return "";
        }
        let Some(ls) = self.sock(s) else {
            return "";
        };
        let postgres = server_of_host(ls.tcb.remote().host)
            .and_then(|i| self.cfg.servers.get(i as usize))
            .is_some_and(|c| c.kind == crate::config::ServerKind::Postgres);
        match (ls.close_notify, postgres) {
            (true, false) => " after the server's TLS close_notify (a clean TLS close)",
            (true, true) => " after the server's TLS close_notify (a clean TLS close; libpq: \"SSL connection has been closed unexpectedly\")",
            (false, false) => " without TLS close_notify first (an unclean TLS close)",
            (false, true) => " without TLS close_notify first (an unclean TLS close; libpq: \"SSL SYSCALL error: EOF detected\")",
        }
    }
}
