//! `[client.tls]` (model.md 2.12): after TCP's handshake, a connection
//! runs TLS's before any application data: one round trip (TLS 1.3) or two
//! (TLS 1.2), each a message to the server and its answer, which cross the
//! same path, middleboxes and freezes as any data. The server answers each
//! like a request that changes nothing. The client's handshake CPU is spent
//! with its connection setup CPU.
use super::*;

/// TLS on a connection being set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TlsSetup {
    /// Round trips still to make.
    pub left: u8,
    /// The server's greeting (if it sends one) has arrived.
    pub greeting: bool,
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
    /// TCP is up on `s`: starts TLS if the scenario has it. `greeting`:
    /// whether the server speaks first.
    pub(super) fn tls_start(&mut self, s: SockRef, greeting: bool) -> Option<TlsSetup> {
        let tls = self.cfg.client.tls?;
        let t = TlsSetup {
            left: tls.round_trips,
            greeting: !greeting,
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
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            let round = tls.round_trips - t.left + 1;
            let what = if round == 1 {
                "ClientHello"
            } else {
                "its key exchange and Finished"
            };
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "tls_flight",
                vec![("round", u64::from(round).into())],
                format!(
                    "{name}: TLS {} handshake, round trip {round} of {}: sends {what}",
                    tls.version, tls.round_trips
                ),
            );
        }
        let mut out = self.buf();
        let hello = Payload(encode_request(crate::config::RequestOp::Ping, false));
        let res = match self.sock_mut(s) {
            Some(ls) => ls.tcb.send(now, hello, &mut out),
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
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            self.emit(
                Level::Timeline,
                self.component_of(self.sock(s).map(|l| l.tcb.local().host).unwrap_or(0)),
                "tls_done",
                vec![],
                format!("{name}: TLS handshake done"),
            );
        }
        if t.greeting {
            TlsStep::Ready
        } else {
            TlsStep::Wait
        }
    }
}
