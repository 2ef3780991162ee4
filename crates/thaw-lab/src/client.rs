//! The lab's client, run inside the function namespace
//! (`ip netns exec NS thaw-lab client SPEC`).
//!
//! It follows the case's script with std sockets (plus `socket2` for
//! `TCP_USER_TIMEOUT`), records every syscall result with its time, and
//! prints one JSON line per event on stdout:
//! `{"ev":"inv",…}` per step, `{"ev":"phase_done",…}` after each phase. Between
//! the phases it waits for a line on stdin (the thaw); after the last phase
//! it keeps its sockets open until stdin closes.
use crate::cases::{Req, ServerKind, Step};
use crate::clock::now_ns;
use crate::proto::{self, Answer, Parse};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What the orchestrator asks the client to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Server address.
    pub server: SocketAddr,
    /// Server kind (protocol).
    pub kind: ServerKind,
    /// `TCP_USER_TIMEOUT` on every socket.
    pub user_timeout_ms: Option<u64>,
    /// Bound on every wait (connect, reply).
    pub bound_ms: u64,
    /// Start the first phase at this epoch time (ns).
    pub start_at_ns: i64,
    /// The phases.
    pub phases: Vec<Vec<Step>>,
}

/// One syscall and its result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Call {
    /// Epoch ns when it returned.
    pub t_ns: i64,
    /// `connect`, `write`, `read`, `close`.
    pub call: String,
    /// `ok`, `N bytes`, `EOF`, an errno name, `timeout`.
    pub result: String,
}

/// One step's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvRecord {
    /// Phase (1-based).
    pub phase: usize,
    /// Step index over all phases.
    pub index: usize,
    /// Connection.
    pub conn: usize,
    /// `inv` or `interrupt`.
    pub kind: String,
    /// Start, epoch ns.
    pub start_ns: i64,
    /// End, epoch ns.
    pub end_ns: i64,
    /// Outcome kind: `OK`, `ECONNRESET`, `ETIMEDOUT`, `EPIPE`, `EOF`,
    /// `SERVER_IDLE_CLOSED`, `TOO_MANY_CONNECTIONS`, `HOST_BLOCKED`,
    /// `NO_ANSWER`, `INTERRUPTED`, or another errno name.
    pub outcome: String,
    /// The server's message or the failing call.
    pub detail: Option<String>,
    /// Local port of the connection (0 if none).
    pub local_port: u16,
    /// Every syscall.
    pub calls: Vec<Call>,
}

/// A line the client prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A step ended.
    Inv(InvRecord),
    /// A phase started (ns).
    PhaseStart {
        /// Phase.
        phase: usize,
        /// Epoch ns.
        t_ns: i64,
    },
    /// A phase ended.
    PhaseDone {
        /// Phase.
        phase: usize,
        /// Epoch ns.
        t_ns: i64,
    },
    /// The client could not run.
    Fatal {
        /// Why.
        msg: String,
    },
}

/// The errno name of an I/O error.
pub fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(104) => "ECONNRESET".into(),
        Some(110) => "ETIMEDOUT".into(),
        Some(32) => "EPIPE".into(),
        Some(111) => "ECONNREFUSED".into(),
        Some(11) => "timeout".into(),
        Some(113) => "EHOSTUNREACH".into(),
        Some(101) => "ENETUNREACH".into(),
        Some(1) => "EPERM".into(),
        Some(115) => "EINPROGRESS".into(),
        Some(n) => format!("errno {n}"),
        None if e.kind() == std::io::ErrorKind::TimedOut
            || e.kind() == std::io::ErrorKind::WouldBlock =>
        {
            "timeout".into()
        }
        None => format!("{e}"),
    }
}

fn outcome_of_errno(name: &str) -> String {
    if name == "timeout" {
        "NO_ANSWER".into()
    } else {
        name.to_string()
    }
}

struct Recorder {
    calls: Vec<Call>,
    port: u16,
}

impl Recorder {
    fn push(&mut self, call: &str, result: impl Into<String>) {
        self.calls.push(Call {
            t_ns: now_ns(),
            call: call.into(),
            result: result.into(),
        });
    }
}

/// Why a step failed: (outcome, detail).
type Fail = (String, Option<String>);

struct Client {
    spec: ClientSpec,
    conns: Vec<Option<TcpStream>>,
}

impl Client {
    fn connect(&self, rec: &mut Recorder) -> Result<TcpStream, Fail> {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| (errno_name(&e), Some("socket()".into())))?;
        if let Some(ut) = self.spec.user_timeout_ms {
            sock.set_tcp_user_timeout(Some(Duration::from_millis(ut)))
                .map_err(|e| (errno_name(&e), Some("TCP_USER_TIMEOUT".into())))?;
        }
        let bound = Duration::from_millis(self.spec.bound_ms);
        match sock.connect_timeout(&SockAddr::from(self.spec.server), bound) {
            Ok(()) => rec.push("connect", "ok"),
            Err(e) => {
                let n = errno_name(&e);
                rec.push("connect", n.clone());
                return Err((outcome_of_errno(&n), Some("connect".into())));
            }
        }
        if let Ok(Some(a)) = sock.local_addr().map(|a| a.as_socket()) {
            rec.port = a.port();
        }
        sock.set_write_timeout(Some(bound)).ok();
        Ok(sock.into())
    }

    /// Writes `bytes`, recording the call.
    fn write(s: &mut TcpStream, bytes: &[u8], rec: &mut Recorder) -> Result<(), Fail> {
        match s.write_all(bytes) {
            Ok(()) => {
                rec.push("write", format!("{} bytes", bytes.len()));
                Ok(())
            }
            Err(e) => {
                let n = errno_name(&e);
                rec.push("write", n.clone());
                Err((outcome_of_errno(&n), Some("write".into())))
            }
        }
    }

    /// Reads until the parser has a complete answer, at most until `bound`
    /// after `since` (epoch ns).
    fn read_answer(
        &self,
        s: &mut TcpStream,
        since: i64,
        rec: &mut Recorder,
    ) -> Result<Answer, Fail> {
        let deadline = since + self.spec.bound_ms as i64 * 1_000_000;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match read_until(s, &mut chunk, deadline) {
                Ok(0) => {
                    rec.push("read", "EOF");
                    return Err(("EOF".into(), Some("read returned 0".into())));
                }
                Ok(n) => {
                    rec.push("read", format!("{n} bytes"));
                    buf.extend_from_slice(&chunk[..n]);
                    if let Parse::Done(a) = proto::parse(self.spec.kind, &buf) {
                        return Ok(a);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let n = errno_name(&e);
                    rec.push("read", n.clone());
                    return Err((outcome_of_errno(&n), Some("read".into())));
                }
            }
        }
    }

    fn answer_ok(a: Answer) -> Result<(), Fail> {
        match a {
            Answer::Ok => Ok(()),
            Answer::Error { code, message } => Err((
                proto::error_kind(&code, &message).to_string(),
                Some(format!("{code}: {message}")),
            )),
        }
    }

    /// Connects and does the server's handshake.
    fn open(&self, rec: &mut Recorder) -> Result<TcpStream, Fail> {
        let mut s = self.connect(rec)?;
        match self.spec.kind {
            ServerKind::Redis => {}
            ServerKind::Postgres => {
                let since = now_ns();
                Self::write(&mut s, &proto::pg_startup("lab"), rec)?;
                Self::answer_ok(self.read_answer(&mut s, since, rec)?)?;
            }
            ServerKind::Mariadb => {
                let seq = self.greeting(&mut s, rec)?;
                let since = now_ns();
                Self::write(&mut s, &proto::my_handshake_response(seq, "lab"), rec)?;
                Self::answer_ok(self.read_answer(&mut s, since, rec)?)?;
            }
        }
        Ok(s)
    }

    /// Reads MariaDB's greeting; returns its sequence number.
    fn greeting(&self, s: &mut TcpStream, rec: &mut Recorder) -> Result<u8, Fail> {
        let deadline = now_ns() + self.spec.bound_ms as i64 * 1_000_000;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((seq, payload)) = proto::my_read_packet(&buf) {
                if payload.first() == Some(&0xff) {
                    Self::answer_ok(match proto::my_parse(&buf) {
                        Parse::Done(a) => a,
                        Parse::Incomplete => unreachable!(),
                    })?;
                }
                return Ok(seq);
            }
            match read_until(s, &mut chunk, deadline) {
                Ok(0) => {
                    rec.push("read", "EOF");
                    return Err(("EOF".into(), Some("greeting: read returned 0".into())));
                }
                Ok(n) => {
                    rec.push("read", format!("{n} bytes"));
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let n = errno_name(&e);
                    rec.push("read", n.clone());
                    return Err((outcome_of_errno(&n), Some("greeting".into())));
                }
            }
        }
    }

    fn request(&self, s: &mut TcpStream, req: Req, rec: &mut Recorder) -> Result<(), Fail> {
        let bytes = match self.spec.kind {
            ServerKind::Redis => proto::redis_request(req),
            ServerKind::Postgres => proto::pg_query(req),
            ServerKind::Mariadb => proto::my_ping(),
        };
        let since = now_ns();
        Self::write(s, &bytes, rec)?;
        Self::answer_ok(self.read_answer(s, since, rec)?)
    }

    fn step(&mut self, phase: usize, index: usize, step: &Step) -> InvRecord {
        let start_ns = now_ns();
        let mut rec = Recorder {
            calls: Vec::new(),
            port: 0,
        };
        let conn = step.conn();
        if self.conns.len() <= conn {
            self.conns.resize_with(conn + 1, || None);
        }
        let (kind, result) = match step {
            Step::Inv { reqs, .. } => {
                let r = (|| {
                    if self.conns[conn].is_none() {
                        self.conns[conn] = Some(self.open(&mut rec)?);
                    }
                    let mut s = self.conns[conn].take().expect("opened");
                    let mut out = Ok(());
                    for &req in reqs {
                        out = self.request(&mut s, req, &mut rec);
                        if out.is_err() {
                            break;
                        }
                    }
                    match out {
                        Ok(()) => {
                            self.conns[conn] = Some(s);
                            Ok(())
                        }
                        // After an error the client closes the connection
                        // (thaw's rule "error ⇒ close").
                        Err(f) => {
                            drop(s);
                            rec.push("close", "ok");
                            Err(f)
                        }
                    }
                })();
                ("inv", r)
            }
            Step::Interrupt { .. } => {
                let r = (|| {
                    let mut s = self.connect(&mut rec)?;
                    if self.spec.kind == ServerKind::Mariadb {
                        self.greeting(&mut s, &mut rec)?;
                    }
                    drop(s);
                    rec.push("close", "ok");
                    Err((
                        "INTERRUPTED".to_string(),
                        Some("closed after the greeting".to_string()),
                    ))
                })();
                ("interrupt", r)
            }
        };
        let local_port = if rec.port != 0 {
            rec.port
        } else {
            self.conns[conn]
                .as_ref()
                .and_then(|s| s.local_addr().ok())
                .map(|a| a.port())
                .unwrap_or(0)
        };
        let (outcome, detail) = match result {
            Ok(()) => ("OK".to_string(), None),
            Err((o, d)) => (o, d),
        };
        InvRecord {
            phase,
            index,
            conn,
            kind: kind.into(),
            start_ns,
            end_ns: rec.calls.last().map(|c| c.t_ns).unwrap_or_else(now_ns),
            outcome,
            detail,
            local_port,
            calls: rec.calls,
        }
    }
}

/// A blocking `read()` that gives up at `deadline_ns` (epoch) with
/// `TimedOut`. The bound is kept in user space: a watchdog thread waits on a
/// channel (a futex wait, hrtimer-precise) and at the deadline shuts the
/// socket down for reading, which wakes the reader (Linux sends nothing for
/// `SHUT_RD`). `SO_RCVTIMEO` would use the kernel's timer wheel, whose
/// granularity at HZ = 250 is 256 ms for a 4 s timeout.
fn read_until(s: &mut TcpStream, buf: &mut [u8], deadline_ns: i64) -> std::io::Result<usize> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let left = deadline_ns - now_ns();
    if left <= 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
    }
    let watched = s.try_clone()?;
    let fired = Arc::new(AtomicBool::new(false));
    let fired2 = fired.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let dog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_nanos(left as u64))
        {
            fired2.store(true, Ordering::SeqCst);
            let _ = watched.shutdown(std::net::Shutdown::Read);
        }
    });
    let r = s.read(buf);
    let _ = tx.send(());
    let _ = dog.join();
    match r {
        Ok(n) if n > 0 => Ok(n),
        _ if fired.load(Ordering::SeqCst) => {
            Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
        }
        other => other,
    }
}

fn emit(ev: &Event) {
    let line = serde_json::to_string(ev).expect("event serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Entry point of `thaw-lab client SPEC_JSON`.
pub fn main(spec_json: &str) -> i32 {
    let spec: ClientSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            emit(&Event::Fatal {
                msg: format!("bad spec: {e}"),
            });
            return 2;
        }
    };
    crate::clock::sleep_until(spec.start_at_ns);
    let phases = spec.phases.clone();
    let mut client = Client {
        spec,
        conns: Vec::new(),
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut index = 0;
    for (p, steps) in phases.iter().enumerate() {
        if p > 0 {
            // Frozen: wait for the thaw.
            match lines.next() {
                Some(Ok(_)) => {}
                _ => return 0,
            }
        }
        emit(&Event::PhaseStart {
            phase: p + 1,
            t_ns: now_ns(),
        });
        for step in steps {
            let r = client.step(p + 1, index, step);
            index += 1;
            emit(&Event::Inv(r));
        }
        emit(&Event::PhaseDone {
            phase: p + 1,
            t_ns: now_ns(),
        });
    }
    // Keep the sockets until the orchestrator closes stdin.
    for _ in lines.by_ref() {}
    drop(client);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        assert_eq!(
            errno_name(&std::io::Error::from_raw_os_error(104)),
            "ECONNRESET"
        );
        assert_eq!(
            errno_name(&std::io::Error::from_raw_os_error(11)),
            "timeout"
        );
        assert_eq!(outcome_of_errno("timeout"), "NO_ANSWER");
        assert_eq!(outcome_of_errno("ETIMEDOUT"), "ETIMEDOUT");
    }

    #[test]
    fn events_round_trip() {
        let e = Event::PhaseDone { phase: 1, t_ns: 5 };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"ev":"phase_done","phase":1,"t_ns":5}"#);
        let back: Event = serde_json::from_str(&s).unwrap();
        assert!(matches!(back, Event::PhaseDone { phase: 1, t_ns: 5 }));
    }
}
