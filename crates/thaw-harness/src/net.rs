//! A drop-in for `tokio::net` inside a thaw environment: the same type
//! names and signatures, over thaw's TCP model instead of the host's
//! sockets. Code that is generic over its stream (most client libraries
//! take any `AsyncRead + AsyncWrite`) swaps `tokio::net::TcpStream` for
//! `thaw_harness::net::TcpStream`, as tests swap it for `turmoil::net`.
//!
//! What the socket returns follows Linux: a read after the peer's FIN
//! returns 0 bytes; a socket that died returns its error once
//! (`ECONNRESET` 104, `ETIMEDOUT` 110, `EPIPE` 32, `ECONNREFUSED` 111,
//! `EADDRNOTAVAIL` 99, as [`std::io::Error::raw_os_error`]), then reads
//! return 0 and writes `EPIPE`. Each `write()` leaves as one segment.
//!
//! Differences from tokio, all documented in docs/harness.md: every host
//! name resolves to the scenario's server; addresses are synthetic
//! (environment `N` is `10.0.N/256.N%256`, the server `10.1.0.1`);
//! `shutdown()` marks the stream closed for writing without sending a FIN
//! (the FIN leaves when the stream is dropped); [`TcpListener`] cannot bind
//! (a server inside the environment is not modelled yet).
use crate::bridge::{self, ConnState, Ctx, Op};
use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use thaw_core::SimDuration;
use thaw_net::{Errno, Keepalive};
use thaw_sim::SockOpts;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Linux's errno value for a thaw socket error.
pub fn errno_value(e: Errno) -> i32 {
    match e {
        Errno::Econnreset => 104,
        Errno::Epipe => 32,
        Errno::Etimedout => 110,
        Errno::Econnrefused => 111,
        Errno::Eaddrnotavail => 99,
    }
}

/// The `io::Error` a Linux socket call returns for `e`.
pub fn io_error(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno_value(e))
}

/// The synthetic address of the scenario's server.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);

fn env_ip(env: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (env >> 8) as u8, env as u8)
}

fn outside() -> io::Error {
    io::Error::other(
        "thaw_harness::net used outside a thaw environment (only code run by a Harness has a network)",
    )
}

/// Anything that names a host and a port (tokio's `ToSocketAddrs`, which
/// is sealed, for the same argument types). Every host name resolves to
/// the scenario's server.
pub trait ToSocketAddrs {
    /// The port to connect to.
    fn port(&self) -> io::Result<u16>;
}

impl ToSocketAddrs for SocketAddr {
    fn port(&self) -> io::Result<u16> {
        Ok(SocketAddr::port(self))
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn port(&self) -> io::Result<u16> {
        Ok(self.1)
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn port(&self) -> io::Result<u16> {
        Ok(self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn port(&self) -> io::Result<u16> {
        Ok(self.1)
    }
}

impl ToSocketAddrs for str {
    fn port(&self) -> io::Result<u16> {
        self.rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid socket address {self:?}: expected host:port"),
                )
            })
    }
}

impl ToSocketAddrs for String {
    fn port(&self) -> io::Result<u16> {
        self.as_str().port()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn port(&self) -> io::Result<u16> {
        (**self).port()
    }
}

/// A socket before it connects: tokio's `TcpSocket` (same setters,
/// `&self`), with the options thaw's TCP model has.
#[derive(Clone, Debug)]
pub struct TcpSocket {
    opts: Cell<SockOpts>,
    keepalive: Cell<Option<Keepalive>>,
    nodelay: Cell<bool>,
}

impl TcpSocket {
    /// A new IPv4 socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            opts: Cell::new(SockOpts::default()),
            keepalive: Cell::new(None),
            nodelay: Cell::new(false),
        })
    }

    /// A new IPv6 socket (the model does not tell the families apart).
    pub fn new_v6() -> io::Result<TcpSocket> {
        Self::new_v4()
    }

    fn update(&self, f: impl FnOnce(&mut SockOpts)) {
        let mut o = self.opts.get();
        f(&mut o);
        self.opts.set(o);
    }

    /// `SO_KEEPALIVE`: with the values of [`TcpSocket::set_keepalive_params`],
    /// else the scenario's `function.tcp.keepalive`, else Linux's (7200 s,
    /// 75 s, 9).
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        let k = self.keepalive.get().unwrap_or_else(default_keepalive);
        self.update(|o| o.keepalive = Some(on.then_some(k)));
        Ok(())
    }

    /// Whether `SO_KEEPALIVE` is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        Ok(matches!(self.opts.get().keepalive, Some(Some(_))))
    }

    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` (socket2's
    /// `TcpKeepalive`), and `SO_KEEPALIVE` on.
    pub fn set_keepalive_params(
        &self,
        idle: Duration,
        interval: Duration,
        retries: u32,
    ) -> io::Result<()> {
        let k = Keepalive {
            idle: dur(idle),
            interval: dur(interval),
            count: retries,
        };
        self.keepalive.set(Some(k));
        self.update(|o| o.keepalive = Some(Some(k)));
        Ok(())
    }

    /// `TCP_USER_TIMEOUT` (socket2's `set_tcp_user_timeout`); `None` or 0
    /// turns it off.
    pub fn set_tcp_user_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.update(|o| o.user_timeout = Some(t.filter(|t| !t.is_zero()).map(dur)));
        Ok(())
    }

    /// `SO_LINGER`: `Some(0)` makes `close()` send RST; other values behave
    /// as the default here (FIN).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.update(|o| o.linger_zero = linger.is_some_and(|d| d.is_zero()));
        Ok(())
    }

    /// `TCP_NODELAY` (no effect in the model: every write is a segment).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.nodelay.set(on);
        Ok(())
    }

    /// Connects to the scenario's server at `addr`'s port.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        connect_with(self, addr.port(), addr).await
    }
}

fn dur(d: Duration) -> SimDuration {
    SimDuration::from_nanos(d.as_nanos().min(u64::MAX as u128) as u64)
}

fn default_keepalive() -> Keepalive {
    bridge::current()
        .map(|c| c.shared.lock().keepalive)
        .unwrap_or_default()
}

async fn connect_with(sock: TcpSocket, port: u16, peer: SocketAddr) -> io::Result<TcpStream> {
    let ctx = bridge::current().ok_or_else(outside)?;
    let key = {
        let mut b = ctx.shared.lock();
        b.next_key += 1;
        let key = b.next_key;
        b.socks.insert(
            key,
            bridge::Mirror {
                env: ctx.env,
                ext: None,
                state: ConnState::Connecting,
                rx: Default::default(),
                eof: false,
                error: None,
                dead: false,
                shut_wr: false,
                local_port: 0,
                read_waker: None,
                conn_waker: None,
            },
        );
        let at = ctx.now();
        b.push(
            ctx.env,
            at,
            Op::Connect {
                key,
                port,
                opts: sock.opts.get(),
            },
        );
        key
    };
    let stream = TcpStream {
        ctx: Some(ctx),
        key,
        peer,
        linger_zero: sock.opts.get().linger_zero,
        nodelay: sock.nodelay.get(),
    };
    std::future::poll_fn(|cx| {
        let ctx = stream.ctx.as_ref().expect("ctx");
        let mut b = ctx.shared.lock();
        let Some(m) = b.socks.get_mut(&key) else {
            return Poll::Ready(Err(io_error(Errno::Econnreset)));
        };
        match m.state {
            ConnState::Open => Poll::Ready(Ok(())),
            ConnState::Failed(e) => {
                b.last_errno.insert(ctx.env, e);
                Poll::Ready(Err(io_error(e)))
            }
            ConnState::Connecting => {
                m.conn_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await?;
    Ok(stream)
}

/// A connected TCP stream (tokio's `TcpStream`), over thaw's TCP model.
#[derive(Debug)]
pub struct TcpStream {
    ctx: Option<Ctx>,
    key: u64,
    peer: SocketAddr,
    linger_zero: bool,
    nodelay: bool,
}

impl TcpStream {
    /// Connects to the scenario's server (any host name; the port counts).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let port = addr.port()?;
        connect_with(
            TcpSocket::new_v4()?,
            port,
            SocketAddr::new(IpAddr::V4(SERVER_IP), port),
        )
        .await
    }

    /// The server's (synthetic) address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// The environment's (synthetic) address and the ephemeral port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let ctx = self.ctx.as_ref().ok_or_else(outside)?;
        let port = ctx
            .shared
            .lock()
            .socks
            .get(&self.key)
            .map(|m| m.local_port)
            .unwrap_or(0);
        Ok(SocketAddr::new(IpAddr::V4(env_ip(ctx.env)), port))
    }

    /// `TCP_NODELAY` (no effect in the model).
    pub fn set_nodelay(&self, _on: bool) -> io::Result<()> {
        Ok(())
    }

    /// `TCP_NODELAY` as set on the socket before it connected.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.nodelay)
    }

    /// Whether `close()` will send RST (`SO_LINGER` 0).
    pub fn linger_zero(&self) -> bool {
        self.linger_zero
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(ctx) = self.ctx.as_ref() else {
            return Poll::Ready(Err(outside()));
        };
        let mut b = ctx.shared.lock();
        let Some(m) = b.socks.get_mut(&self.key) else {
            return Poll::Ready(Ok(()));
        };
        if !m.rx.is_empty() {
            let n = buf.remaining().min(m.rx.len());
            let (a, c) = m.rx.as_slices();
            let from_a = n.min(a.len());
            buf.put_slice(&a[..from_a]);
            buf.put_slice(&c[..n - from_a]);
            m.rx.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = m.error.take() {
            m.dead = true;
            let env = m.env;
            b.last_errno.insert(env, e);
            return Poll::Ready(Err(io_error(e)));
        }
        if m.eof || m.dead {
            return Poll::Ready(Ok(()));
        }
        m.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(ctx) = self.ctx.as_ref() else {
            return Poll::Ready(Err(outside()));
        };
        let at = ctx.now();
        let mut b = ctx.shared.lock();
        let Some(m) = b.socks.get_mut(&self.key) else {
            return Poll::Ready(Err(io_error(Errno::Epipe)));
        };
        if let Some(e) = m.error.take() {
            m.dead = true;
            let env = m.env;
            b.last_errno.insert(env, e);
            return Poll::Ready(Err(io_error(e)));
        }
        if m.dead || m.shut_wr {
            return Poll::Ready(Err(io_error(Errno::Epipe)));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let env = m.env;
        b.push(
            env,
            at,
            Op::Send {
                key: self.key,
                bytes: data.to_vec(),
            },
        );
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(ctx) = self.ctx.as_ref() {
            if let Some(m) = ctx.shared.lock().socks.get_mut(&self.key) {
                m.shut_wr = true;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let Some(ctx) = self.ctx.take() else { return };
        // Outside any runtime (the environment is being dropped) the clock
        // cannot be read: the environment is gone and so is the socket.
        let at = bridge::current()
            .filter(|c| c.env == ctx.env)
            .map(|c| c.now());
        let mut b = ctx.shared.lock();
        match at {
            Some(at) => b.push(ctx.env, at, Op::Close { key: self.key }),
            None => {
                b.socks.remove(&self.key);
            }
        }
    }
}

/// tokio's `TcpListener`. A server inside a simulated environment (a
/// local adapter or sidecar) is not modelled yet: `bind` fails with
/// `Unsupported`, and says so.
#[derive(Debug)]
pub struct TcpListener {
    _private: (),
}

impl TcpListener {
    /// Always `Err(Unsupported)`: thaw's environments accept no inbound
    /// connections yet.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let port = addr.port()?;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("TcpListener::bind(…:{port}): a server inside a thaw environment is not modelled yet"),
        ))
    }

    /// Unreachable in practice (`bind` never succeeds).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a thaw environment accepts no connections",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{Mirror, Shared};
    use std::sync::Arc;
    use thaw_core::SimTime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};

    fn stream() -> (Arc<Shared>, TcpStream) {
        let shared = Arc::new(Shared::default());
        shared.lock().socks.insert(
            1,
            Mirror {
                env: 1,
                ext: None,
                state: ConnState::Open,
                rx: Default::default(),
                eof: false,
                error: None,
                dead: false,
                shut_wr: false,
                local_port: 32768,
                read_waker: None,
                conn_waker: None,
            },
        );
        let ctx = Ctx {
            shared: shared.clone(),
            env: 1,
            base: tokio::time::Instant::now(),
            origin: SimTime::from_secs(95),
        };
        let s = TcpStream {
            ctx: Some(ctx),
            key: 1,
            peer: SocketAddr::new(IpAddr::V4(SERVER_IP), 6379),
            linger_zero: false,
            nodelay: false,
        };
        (shared, s)
    }

    #[test]
    fn a_read_waits_for_bytes_and_is_woken_when_they_come() {
        let (shared, mut s) = stream();
        let mut buf = [0u8; 8];
        let mut read = task::spawn(s.read(&mut buf));
        assert_pending!(read.poll());
        {
            let mut b = shared.lock();
            let m = b.socks.get_mut(&1).unwrap();
            m.rx.extend(b"+PONG\r\n");
            m.wake();
        }
        assert!(read.is_woken());
        assert_eq!(assert_ready_ok!(read.poll()), 7);
        drop(read);
        assert_eq!(&buf[..7], b"+PONG\r\n");
    }

    #[test]
    fn an_error_is_returned_once_then_reads_see_eof_and_writes_epipe() {
        let (shared, mut s) = stream();
        shared.lock().socks.get_mut(&1).unwrap().error = Some(Errno::Etimedout);
        let mut buf = [0u8; 8];
        let e = assert_ready_err!(task::spawn(s.read(&mut buf)).poll());
        assert_eq!(e.raw_os_error(), Some(110));
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(assert_ready_ok!(task::spawn(s.read(&mut buf)).poll()), 0);
        let e = assert_ready_err!(task::spawn(s.write(b"GET")).poll());
        assert_eq!(e.raw_os_error(), Some(32));
        // The code was handed ETIMEDOUT: the harness knows the errno under
        // whatever the library makes of it.
        assert_eq!(shared.lock().last_errno.get(&1), Some(&Errno::Etimedout));
    }

    #[test]
    fn a_write_is_queued_for_the_world_at_once() {
        let (shared, mut s) = stream();
        let n = assert_ready_ok!(task::spawn(s.write(b"PING\r\n")).poll());
        assert_eq!(n, 6);
        let b = shared.lock();
        assert_eq!(b.ops.len(), 1);
        assert!(matches!(&b.ops[0].op, Op::Send { key: 1, bytes } if bytes == b"PING\r\n"));
        assert!(b.ops[0].at >= SimTime::from_secs(95));
    }

    #[test]
    fn eof_after_the_peers_fin_while_writes_still_go_out() {
        let (shared, mut s) = stream();
        shared.lock().socks.get_mut(&1).unwrap().eof = true;
        let mut buf = [0u8; 4];
        assert_eq!(assert_ready_ok!(task::spawn(s.read(&mut buf)).poll()), 0);
        // CLOSE_WAIT: a write still succeeds (the RST comes later).
        assert_ready_ok!(task::spawn(s.write(b"x")).poll());
    }

    #[test]
    fn connect_outside_an_environment_is_an_error_not_a_panic() {
        let mut c = task::spawn(TcpStream::connect("redis:6379"));
        let e = assert_ready_err!(c.poll());
        assert!(e.to_string().contains("outside a thaw environment"));
        let mut bad = task::spawn(TcpStream::connect("no-port"));
        assert_eq!(
            assert_ready_err!(bad.poll()).kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn io_builder_mock_speaks_what_the_shim_speaks() {
        // The shim is a plain AsyncRead + AsyncWrite: code written against
        // it runs against tokio-test's mock stream unchanged.
        async fn ping<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> io::Result<Vec<u8>> {
            s.write_all(b"PING\r\n").await?;
            let mut buf = vec![0u8; 7];
            s.read_exact(&mut buf).await?;
            Ok(buf)
        }
        let mut mock = tokio_test::io::Builder::new()
            .write(b"PING\r\n")
            .read(b"+PONG\r\n")
            .build();
        assert_eq!(ping(&mut mock).await.unwrap(), b"+PONG\r\n");
        let mut reset = tokio_test::io::Builder::new()
            .write(b"PING\r\n")
            .read_error(io_error(Errno::Econnreset))
            .build();
        assert_eq!(
            ping(&mut reset).await.unwrap_err().raw_os_error(),
            Some(104)
        );
        // The same code over the shim: the write goes to the world, the
        // reply comes from the socket's mirror.
        let (shared, mut s) = stream();
        shared
            .lock()
            .socks
            .get_mut(&1)
            .unwrap()
            .rx
            .extend(b"+PONG\r\n");
        assert_eq!(ping(&mut s).await.unwrap(), b"+PONG\r\n");
        assert!(matches!(&shared.lock().ops[0].op, Op::Send { bytes, .. } if bytes == b"PING\r\n"));
        let mut r = task::spawn(ping(&mut s));
        // Nothing more to read: the second ping waits.
        assert_pending!(r.poll());
        drop(r);
    }
}
