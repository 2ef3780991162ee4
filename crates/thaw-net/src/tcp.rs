//! A Linux TCP endpoint (one socket) as a sans-IO state machine.
//!
//! Rules follow Linux (docs/sources.md, section 5): the close
//! table of `tcp_close()`, `tcp_fin()`, `tcp_rcv_state_process()`,
//! `tcp_reset()`, the retransmission give-up test `retransmits_timed_out()`
//! with `tcp_model_timeout()`, orphan retries, the FIN_WAIT2 and TIME_WAIT
//! timers, keepalive, `TCP_USER_TIMEOUT`, and the syscall results of
//! `tcp_recvmsg()` / `tcp_sendmsg()`. Simplifications (one message per
//! segment, no window, no delayed ACK, no SACK) are listed in docs/model.md.
use crate::segment::{Addr, Flags, Payload, Segment};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;
use thaw_core::{SimDuration, SimTime};

/// Per-socket keepalive settings (`SO_KEEPALIVE` with `TCP_KEEPIDLE`,
/// `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (Linux default 7200 s).
    pub idle: SimDuration,
    /// Time between probes (default 75 s).
    pub interval: SimDuration,
    /// Unanswered probes before the connection is dropped (default 9).
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: SimDuration::from_secs(7200),
            interval: SimDuration::from_secs(75),
            count: 9,
        }
    }
}

/// The sysctls and socket options one socket obeys. Defaults are Linux's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// `TCP_RTO_MIN`: 200 ms.
    pub rto_min: SimDuration,
    /// `TCP_RTO_MAX`: 120 s.
    pub rto_max: SimDuration,
    /// `TCP_TIMEOUT_INIT`: 1 s, the RTO before any RTT sample (SYN, SYN-ACK).
    pub rto_initial: SimDuration,
    /// `net.ipv4.tcp_retries2`: 15.
    pub retries2: u32,
    /// `net.ipv4.tcp_orphan_retries`: 0, which means 8 while the RTO is
    /// below `rto_max`.
    pub orphan_retries: u32,
    /// `net.ipv4.tcp_syn_retries`: 6.
    pub syn_retries: u32,
    /// `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.5 and later, where its
    /// default is 4): the first N SYN retransmissions keep the initial RTO
    /// instead of doubling it, and connect() gets N more retransmissions.
    /// 0 (the default here) is the behaviour of kernels before 6.5: AWS
    /// does not say which kernel Lambda runs.
    pub syn_linear_timeouts: u32,
    /// `net.ipv4.tcp_synack_retries`: 5.
    pub synack_retries: u32,
    /// `net.ipv4.tcp_fin_timeout`: 60 s, lifetime of an orphaned FIN_WAIT2.
    pub fin_timeout: SimDuration,
    /// `TCP_TIMEWAIT_LEN`: 60 s (a constant in Linux, a parameter here).
    pub time_wait: SimDuration,
    /// `SO_KEEPALIVE` and its per-socket values; `None` = off (default).
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`; `None` = 0 = use the retries model (default).
    pub user_timeout: Option<SimDuration>,
    /// The kernel's timer tick (`CONFIG_HZ`): the RTO is kept in jiffies,
    /// `usecs_to_jiffies()` rounding up, so with a small RTT it is 204 ms,
    /// not 200 ms, at HZ = 250 (and every backoff doubles the rounded
    /// value). 250 by default; `None` = exact nanoseconds.
    pub hz: Option<u32>,
    /// Tail loss probe (`net.ipv4.tcp_early_retrans` = 3, the default, with
    /// SACK): one probe of the last segment about 2·SRTT + `rto_min` after
    /// new data, before the first RTO. On by default.
    pub tail_loss_probe: bool,
    /// `net.ipv4.tcp_retrans_collapse` (1, the default): an RTO
    /// retransmission of the oldest segment also carries a FIN-only segment
    /// queued behind it (`tcp_retrans_try_collapse()`), so an orphan that
    /// wrote a last message and closed retransmits data+FIN. On by default.
    pub retrans_collapse: bool,
    /// Fire the socket's timers when Linux's timer wheel would
    /// (`calc_wheel_index()`): at a tick boundary, late by up to one
    /// granule of the wheel level the timer lands in (1 tick below 63
    /// ticks ahead, 8 ticks up to 504, 64 up to 4032, ...). Needs `hz`.
    /// Off by default: timers fire at their exact expiry.
    pub timer_wheel: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            rto_min: SimDuration::from_millis(200),
            rto_max: SimDuration::from_secs(120),
            rto_initial: SimDuration::from_secs(1),
            retries2: 15,
            orphan_retries: 0,
            syn_retries: 6,
            syn_linear_timeouts: 0,
            synack_retries: 5,
            fin_timeout: SimDuration::from_secs(60),
            time_wait: SimDuration::from_secs(60),
            keepalive: None,
            user_timeout: None,
            hz: Some(250),
            tail_loss_probe: true,
            retrans_collapse: true,
            timer_wheel: false,
        }
    }
}

/// TCP states (RFC 793 names, Linux semantics). LISTEN lives in the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for the ACK.
    SynRecv,
    /// Open both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed (its FIN arrived); we have not closed yet.
    CloseWait,
    /// Both sent FIN at once; ours not yet acknowledged.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs exchanged; waiting out 2MSL.
    TimeWait,
    /// Gone.
    Closed,
}

impl TcpState {
    /// Linux's name for the state, as `ss` prints it.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Closed => "CLOSED",
        }
    }

    /// The synchronized states, where `TCP_USER_TIMEOUT` applies.
    pub fn is_synchronized(self) -> bool {
        match self {
            TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::CloseWait
            | TcpState::Closing
            | TcpState::LastAck => true,
            TcpState::SynSent | TcpState::SynRecv | TcpState::TimeWait | TcpState::Closed => false,
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors a socket call can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Errno {
    /// Connection reset by peer (RST in most states).
    Econnreset,
    /// Broken pipe (RST in CLOSE_WAIT; any write after the socket died).
    Epipe,
    /// Retransmissions or keepalive probes ran out, or TCP_USER_TIMEOUT.
    Etimedout,
    /// RST in answer to our SYN.
    Econnrefused,
    /// No free local port.
    Eaddrnotavail,
}

impl Errno {
    /// The C name.
    pub fn name(self) -> &'static str {
        match self {
            Errno::Econnreset => "ECONNRESET",
            Errno::Epipe => "EPIPE",
            Errno::Etimedout => "ETIMEDOUT",
            Errno::Econnrefused => "ECONNREFUSED",
            Errno::Eaddrnotavail => "EADDRNOTAVAIL",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The socket's timers. Each has a generation; a fired timer whose
/// generation is stale is ignored (that is how timers are cancelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Retransmission timer (RTO).
    Retransmit,
    /// Keepalive timer.
    Keepalive,
    /// FIN_WAIT2 orphan timer or TIME_WAIT timer.
    Linger,
}

/// What the application can learn from the socket (wakeups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `connect()` completed (client) or the connection was accepted (server).
    Connected,
    /// A message can be read.
    Readable,
    /// The peer's FIN arrived: `read()` returns 0.
    Eof,
    /// The socket died with this error.
    Error(Errno),
}

/// Why something happened, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpNote {
    /// A tail loss probe (`tcp_send_loss_probe()`) resent the last
    /// segment; the RTO timer starts again from here.
    LossProbe {
        /// The RTO armed after it.
        next_rto: SimDuration,
    },
    /// A segment was retransmitted after an RTO expiry.
    Retransmit {
        /// `icsk_retransmits` after this one.
        attempt: u32,
        /// The next RTO (after backoff and clamping).
        next_rto: SimDuration,
    },
    /// Retransmissions ran out (`tcp_write_err`).
    GaveUp {
        /// Retransmissions done.
        retries: u32,
        /// The limit that applied (retries2, orphan retries, syn retries).
        limit: u32,
        /// Which limit: "tcp_retries2", "tcp_orphan_retries", ...
        rule: &'static str,
    },
    /// A keepalive probe was sent.
    KeepaliveProbe {
        /// Probe number, from 1.
        n: u32,
    },
    /// Keepalive probes ran out; RST sent.
    KeepaliveGaveUp,
    /// New data reached a socket that had shut down receiving: RST.
    DataAfterClose,
    /// `close()` with unread data: RST instead of FIN.
    AbortOnClose,
    /// `close()` with `SO_LINGER` on and a zero linger time: RST instead
    /// of FIN, and no orphan.
    AbortOnLinger,
    /// An RST was accepted.
    ResetReceived,
    /// The FIN_WAIT2 orphan timer expired.
    FinWait2Expired,
    /// TIME_WAIT ended.
    TimeWaitDone,
}

/// Effects of feeding the socket an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpAction {
    /// Put this segment on the wire.
    Send(Segment),
    /// (Re)arm a timer; earlier generations of this kind are void.
    Arm {
        /// Which timer.
        kind: TimerKind,
        /// When it fires.
        at: SimTime,
        /// Generation to hand back to [`Tcb::on_timer`].
        gen: u32,
    },
    /// The state changed.
    State {
        /// Old state.
        from: TcpState,
        /// New state.
        to: TcpState,
    },
    /// Tell the application.
    Notify(Notice),
    /// Explain a mechanism (trace only).
    Note(TcpNote),
}

/// Result of `read()` on the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvResult {
    /// One message.
    Data(Payload),
    /// 0 bytes: the peer closed (or the socket is shut down).
    Eof,
    /// The pending socket error (consumed by this read).
    Err(Errno),
    /// Nothing yet (`EAGAIN`).
    WouldBlock,
}

#[derive(Clone, Copy, Debug)]
struct Unacked {
    seg: Segment,
    first_tx: SimTime,
    retransmitted: bool,
}

/// One TCP socket.
#[derive(Clone, Debug)]
pub struct Tcb {
    cfg: TcpConfig,
    state: TcpState,
    local: Addr,
    remote: Addr,
    snd_una: u64,
    snd_nxt: u64,
    rcv_nxt: u64,
    // Inline: a connection rarely has more than a few segments in flight,
    // and sockets are created per connection, so heap queues would cost
    // two allocations each.
    rtx: SmallVec<[Unacked; 3]>,
    retransmits: u32,
    retrans_stamp: Option<SimTime>,
    rto: SimDuration,
    srtt: Option<SimDuration>,
    rttvar: SimDuration,
    last_rcv: SimTime,
    probes_out: u32,
    orphan: bool,
    sock_done: bool,
    sk_err: Option<Errno>,
    recv_q: SmallVec<[Payload; 2]>,
    our_fin_seq: Option<u64>,
    gens: [u32; 3],
    /// The retransmission timer is armed as a tail loss probe
    /// (`ICSK_TIME_LOSS_PROBE`: the same timer, another purpose).
    probe_armed: bool,
    /// A probe was sent and no new data has been acknowledged since
    /// (`tlp_high_seq`): no second probe.
    probe_out: bool,
    /// When the retransmission timer (probe or RTO) is due.
    xmit_due: SimTime,
}

fn timer_index(kind: TimerKind) -> usize {
    match kind {
        TimerKind::Retransmit => 0,
        TimerKind::Keepalive => 1,
        TimerKind::Linger => 2,
    }
}

/// `TCP_TIMEOUT_FALLBACK`: the RTO after a handshake that gave no RTT sample.
pub const RTO_FALLBACK: SimDuration = SimDuration::from_secs(3);

/// `d` rounded up to a whole tick of a `hz` clock (`usecs_to_jiffies()`).
pub fn jiffies_up(d: SimDuration, hz: Option<u32>) -> SimDuration {
    match hz {
        Some(hz) if hz > 0 => {
            let tick = 1_000_000_000 / hz as u64;
            let n = d.as_nanos();
            SimDuration::from_nanos(n.div_ceil(tick).saturating_mul(tick))
        }
        _ => d,
    }
}

/// When a timer armed at `now` to expire at `at` fires on Linux's timer
/// wheel (`kernel/time/timer.c`) with a `hz` tick. The expiry in jiffies is
/// the current jiffy plus the timeout rounded up to whole ticks (TCP's
/// timeouts are jiffies); `calc_wheel_index()` picks the level by the
/// distance (level n holds distances below 63·8^n ticks, granule 8^n
/// ticks), and `calc_index()` rounds the expiry up to the next multiple of
/// the granule, strictly after it, so that a timer never fires early. The
/// timer fires at the start of that jiffy. The base clock is taken to be the
/// current jiffy (`forward_timer_base()`); jiffy 0 is simulated time 0.
pub fn wheel_expiry(now: SimTime, at: SimTime, hz: u32) -> SimTime {
    if hz == 0 || at == SimTime::MAX {
        return at;
    }
    let tick = (1_000_000_000 / hz as u64).max(1) as u128;
    let j_now = now.as_nanos() as u128 / tick;
    let when = (at.saturating_since(now).as_nanos() as u128).div_ceil(tick);
    // LVL_DEPTH: 9 levels above HZ 100, else 8.
    let depth: u32 = if hz > 100 { 9 } else { 8 };
    let start = |n: u32| 63u128 << (3 * (n - 1));
    let (level, expires) = match (1..depth).find(|&n| when < start(n)) {
        Some(n) => (n - 1, j_now + when),
        // Beyond the wheel (WHEEL_TIMEOUT_CUTOFF): capped at
        // WHEEL_TIMEOUT_MAX, in the last level.
        None => (
            depth - 1,
            j_now + start(depth) - (1u128 << (3 * (depth - 1))),
        ),
    };
    let shift = 3 * level;
    let bucket = ((expires >> shift) + 1) << shift;
    let ns = bucket.saturating_mul(tick);
    SimTime::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// `tcp_model_timeout()`: the time `boundary` retransmissions take with
/// exponential backoff from `rto_base`, capped at `rto_max`. Saturates at
/// [`SimDuration::MAX`].
pub fn model_timeout(boundary: u32, rto_base: SimDuration, rto_max: SimDuration) -> SimDuration {
    let base = rto_base.as_nanos().max(1);
    // At most 63, so 2^(k+1) − 1 below is at most u64::MAX.
    let thresh = (rto_max.as_nanos() / base).max(1).ilog2();
    let doublings = |k: u32| u64::MAX >> (63 - k);
    if boundary <= thresh {
        rto_base.saturating_mul(doublings(boundary))
    } else {
        rto_base
            .saturating_mul(doublings(thresh))
            .saturating_add(rto_max.saturating_mul((boundary - thresh) as u64))
    }
}

impl Tcb {
    fn new(cfg: TcpConfig, local: Addr, remote: Addr, state: TcpState, now: SimTime) -> Tcb {
        Tcb {
            cfg,
            state,
            local,
            remote,
            snd_una: 0,
            snd_nxt: 0,
            rcv_nxt: 0,
            rtx: SmallVec::new(),
            retransmits: 0,
            retrans_stamp: None,
            rto: cfg.rto_initial,
            srtt: None,
            rttvar: SimDuration::ZERO,
            last_rcv: now,
            probes_out: 0,
            orphan: false,
            sock_done: false,
            sk_err: None,
            recv_q: SmallVec::new(),
            our_fin_seq: None,
            gens: [0; 3],
            probe_armed: false,
            probe_out: false,
            xmit_due: now,
        }
    }

    /// `connect()`: a socket in SYN_SENT that has sent its SYN.
    pub fn connect(
        now: SimTime,
        cfg: TcpConfig,
        local: Addr,
        remote: Addr,
        out: &mut Vec<TcpAction>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, TcpState::SynSent, now);
        let syn = t.segment(
            Flags {
                syn: true,
                ..Flags::default()
            },
            None,
        );
        t.transmit_new(now, syn, out);
        t
    }

    /// A socket that comes back ESTABLISHED from a memory snapshot taken
    /// after its handshake (Lambda SnapStart, docs/model.md 1.6b): the
    /// client kernel's state as captured, `received` messages read after
    /// the SYN-ACK (a server's greeting), nothing unacknowledged. Nothing
    /// is sent; the keepalive timer, if any, starts now. Whether the peer
    /// still knows the connection is the network's business.
    pub fn restored(
        now: SimTime,
        cfg: TcpConfig,
        local: Addr,
        remote: Addr,
        received: u64,
        out: &mut Vec<TcpAction>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, TcpState::Established, now);
        // Our SYN consumed sequence number 0, the peer's SYN its 0, then
        // whatever it sent before the snapshot.
        t.snd_una = 1;
        t.snd_nxt = 1;
        t.rcv_nxt = 1 + received;
        // The RTT measured at the handshake is not known here: the RTO
        // starts from `rto_initial`, as after connect().
        t.keepalive_start(now, out);
        t
    }

    /// A listener got `syn`: the new socket in SYN_RECV that has sent its
    /// SYN-ACK. (Whether the listener accepts it is the host's business.)
    pub fn accept_syn(
        now: SimTime,
        cfg: TcpConfig,
        syn: &Segment,
        out: &mut Vec<TcpAction>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, syn.dst, syn.src, TcpState::SynRecv, now);
        t.rcv_nxt = syn.seq + 1;
        // segment() adds the ACK bit (SYN_RECV).
        let synack = t.segment(
            Flags {
                syn: true,
                ..Flags::default()
            },
            None,
        );
        t.transmit_new(now, synack, out);
        t
    }

    /// Current state.
    pub fn state(&self) -> TcpState {
        self.state
    }
    /// Local address.
    pub fn local(&self) -> Addr {
        self.local
    }
    /// Remote address.
    pub fn remote(&self) -> Addr {
        self.remote
    }
    /// The application has closed it (it lives on only in the kernel).
    pub fn is_orphan(&self) -> bool {
        self.orphan
    }
    /// Current retransmission timeout.
    pub fn rto(&self) -> SimDuration {
        self.rto
    }
    /// Messages received but not read.
    pub fn unread(&self) -> usize {
        self.recv_q.len()
    }
    /// Segments sent and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.rtx.len()
    }
    /// The socket's configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// A segment from this socket. Every segment carries ACK except a SYN
    /// in SYN_SENT and an RST (RFC 9293 3.10.7: once synchronized, "the
    /// ACK bit is always set"; the socket's own RST is `send_rst()`).
    fn segment(&self, flags: Flags, payload: Option<Payload>) -> Segment {
        let ack = !flags.syn || self.state == TcpState::SynRecv;
        Segment {
            src: self.local,
            dst: self.remote,
            flags: Flags {
                ack: flags.ack || (ack && !flags.rst),
                ..flags
            },
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            payload,
        }
    }

    fn set_state(&mut self, to: TcpState, out: &mut Vec<TcpAction>) {
        if self.state != to {
            out.push(TcpAction::State {
                from: self.state,
                to,
            });
            self.state = to;
        }
        if to == TcpState::Closed {
            // tcp_done(): nothing is queued any more, and every timer
            // stops (on_timer() and timer_current() ignore the timers of
            // a CLOSED socket, which never leaves that state).
            self.rtx.clear();
        }
    }

    fn arm(&mut self, kind: TimerKind, now: SimTime, at: SimTime, out: &mut Vec<TcpAction>) {
        let at = match self.cfg.hz {
            Some(hz) if self.cfg.timer_wheel => wheel_expiry(now, at, hz),
            _ => at,
        };
        let i = timer_index(kind);
        self.gens[i] += 1;
        out.push(TcpAction::Arm {
            kind,
            at,
            gen: self.gens[i],
        });
    }

    fn cancel(&mut self, kind: TimerKind) {
        self.gens[timer_index(kind)] += 1;
    }

    /// Sends a segment that consumes sequence space and keeps it for
    /// retransmission.
    fn transmit_new(&mut self, now: SimTime, seg: Segment, out: &mut Vec<TcpAction>) {
        self.snd_nxt += seg.len();
        let first = self.rtx.is_empty();
        self.rtx.push(Unacked {
            seg,
            first_tx: now,
            retransmitted: false,
        });
        out.push(TcpAction::Send(seg));
        // tcp_write_xmit() → tcp_schedule_loss_probe(sk, false): after new
        // data, a probe no later than the RTO already running.
        let rto_due = if first { now + self.rto } else { self.xmit_due };
        if !self.schedule_loss_probe(now, rto_due, out) && first {
            self.arm_rto(now, now + self.rto, out);
        }
    }

    /// `TCP_TIMEOUT_MIN`: 2 ticks (2 ns without a tick).
    fn timeout_min(&self) -> SimDuration {
        jiffies_up(SimDuration::from_nanos(1), self.cfg.hz).saturating_mul(2)
    }

    fn arm_rto(&mut self, now: SimTime, at: SimTime, out: &mut Vec<TcpAction>) {
        self.probe_armed = false;
        self.xmit_due = at;
        self.arm(TimerKind::Retransmit, now, at, out);
    }

    /// `tcp_schedule_loss_probe()`: arms the retransmission timer as a tail
    /// loss probe when one applies (data in flight, a synchronized state,
    /// not in loss recovery, no probe out), at
    /// min(2·SRTT + `rto_min` (one segment in flight) or + 2 ticks,
    /// the RTO due at `rto_due`). False if none applies.
    fn schedule_loss_probe(
        &mut self,
        now: SimTime,
        rto_due: SimTime,
        out: &mut Vec<TcpAction>,
    ) -> bool {
        let synchronized = !matches!(
            self.state,
            TcpState::SynSent | TcpState::SynRecv | TcpState::TimeWait | TcpState::Closed
        );
        // Not in loss recovery (icsk_ca_state Open): here the first expiry
        // after new data is always a probe, so an RTO retransmission comes
        // only while a probe is out, and the ACK that ends recovery clears
        // both; `probe_out` covers it.
        if !self.cfg.tail_loss_probe || !synchronized || self.rtx.is_empty() || self.probe_out {
            return false;
        }
        let pto = match self.srtt {
            Some(srtt) => {
                let extra = if self.rtx.len() == 1 {
                    self.cfg.rto_min
                } else {
                    self.timeout_min()
                };
                jiffies_up(srtt.saturating_mul(2), self.cfg.hz).saturating_add(extra)
            }
            None => self.cfg.rto_initial,
        };
        let at = (now + pto).min(rto_due.max(now));
        self.probe_armed = true;
        self.xmit_due = at;
        self.arm(TimerKind::Retransmit, now, at, out);
        true
    }

    /// `tcp_send_loss_probe()`: resend the last segment in flight, then
    /// arm the RTO from now (`tcp_rearm_rto()`). Not a retransmission for
    /// the give-up clock: `retrans_stamp` and the count stay.
    fn send_loss_probe(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        self.probe_armed = false;
        let ack = self.rcv_nxt;
        let Some(tail) = self.rtx.last_mut() else {
            return;
        };
        tail.retransmitted = true;
        tail.seg.ack = ack;
        let seg = tail.seg;
        self.probe_out = true;
        out.push(TcpAction::Send(seg));
        let rto = self.rto;
        out.push(TcpAction::Note(TcpNote::LossProbe { next_rto: rto }));
        self.arm_rto(now, now + rto, out);
    }

    fn send_ack(&self, out: &mut Vec<TcpAction>) {
        // segment() sets the ACK bit.
        let seg = self.segment(Flags::default(), None);
        out.push(TcpAction::Send(seg));
    }

    /// The socket's own RST (`tcp_send_active_reset()`): ACK and RST
    /// bits, `<SEQ=SND.NXT><ACK=RCV.NXT>` (`tcp_acceptable_seq()`).
    fn send_rst(&self, out: &mut Vec<TcpAction>) {
        let seg = Segment {
            src: self.local,
            dst: self.remote,
            flags: Flags {
                rst: true,
                ack: true,
                ..Flags::default()
            },
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            payload: None,
        };
        out.push(TcpAction::Send(seg));
    }

    fn keepalive_start(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        if let Some(ka) = self.cfg.keepalive {
            self.arm(TimerKind::Keepalive, now, now + ka.idle, out);
        }
    }

    fn update_rtt(&mut self, sample: SimDuration) {
        // RFC 6298 with Linux's floor: RTO = SRTT + max(4·RTTVAR, rto_min).
        match self.srtt {
            None => {
                self.srtt = Some(sample);
                self.rttvar = SimDuration::from_nanos(sample.as_nanos() / 2);
            }
            Some(srtt) => {
                // In 128 bits: a sample can be as long as the input's
                // latencies (up to ~584 years); the means never exceed
                // their largest input, so they fit in 64 bits again.
                let (srtt, sample) = (srtt.as_nanos() as u128, sample.as_nanos() as u128);
                let diff = srtt.abs_diff(sample);
                let rttvar = (3 * self.rttvar.as_nanos() as u128 + diff) / 4;
                self.rttvar = SimDuration::from_nanos(rttvar as u64);
                self.srtt = Some(SimDuration::from_nanos(((7 * srtt + sample) / 8) as u64));
            }
        }
        self.rto = self.base_rto();
    }

    fn base_rto(&self) -> SimDuration {
        match self.srtt {
            // RFC 6298 5.7 / tcp_init_metrics(): no RTT sample from the
            // handshake (it was retransmitted) → TCP_TIMEOUT_FALLBACK, 3 s.
            // (Only asked once the handshake completes; the handshake's
            // own RTO is rto_initial, set when the socket is made.)
            None => RTO_FALLBACK.max(self.cfg.rto_initial),
            Some(srtt) => {
                let var = self.rttvar.saturating_mul(4).max(self.cfg.rto_min);
                // __tcp_set_rto(): usecs_to_jiffies(srtt + rttvar), rounded
                // up to the tick.
                jiffies_up(srtt.saturating_add(var), self.cfg.hz)
                    .max(self.cfg.rto_min)
                    .min(self.cfg.rto_max)
            }
        }
    }

    /// `write()`: queue one message. Follows `tcp_sendmsg()`: allowed in
    /// ESTABLISHED and CLOSE_WAIT; otherwise the pending error (consumed)
    /// or EPIPE.
    pub fn send(
        &mut self,
        now: SimTime,
        payload: Payload,
        out: &mut Vec<TcpAction>,
    ) -> Result<(), Errno> {
        match self.state {
            // (An orphan is never in these states: close() leaves them.)
            TcpState::Established | TcpState::CloseWait => {
                if let Some(e) = self.sk_err.take() {
                    return Err(e);
                }
                let seg = self.segment(Flags::default(), Some(payload));
                self.transmit_new(now, seg, out);
                Ok(())
            }
            TcpState::SynSent
            | TcpState::SynRecv
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::TimeWait
            | TcpState::Closed => Err(self.sk_err.take().unwrap_or(Errno::Epipe)),
        }
    }

    /// `read()`: follows the order of checks in `tcp_recvmsg()`: queued
    /// data, then EOF if a FIN arrived (before any error), then the pending
    /// error (consumed), then EOF if the socket is closed, else EAGAIN.
    pub fn recv(&mut self) -> RecvResult {
        if !self.recv_q.is_empty() {
            return RecvResult::Data(self.recv_q.remove(0));
        }
        if self.sock_done {
            return RecvResult::Eof;
        }
        if let Some(e) = self.sk_err.take() {
            return RecvResult::Err(e);
        }
        if self.state == TcpState::Closed {
            return RecvResult::Eof;
        }
        RecvResult::WouldBlock
    }

    /// The error `read()` would report without consuming it.
    pub fn pending_error(&self) -> Option<Errno> {
        self.sk_err
    }

    /// `close()`: the `new_state[]` table of `tcp_close()`. Unread data
    /// means RST instead of FIN (RFC 2525 2.17). The socket becomes an
    /// orphan that the kernel finishes alone.
    pub fn close(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        if self.orphan {
            return;
        }
        self.orphan = true;
        if !self.recv_q.is_empty() && self.state != TcpState::Closed {
            self.recv_q.clear();
            out.push(TcpAction::Note(TcpNote::AbortOnClose));
            self.send_rst(out);
            self.set_state(TcpState::Closed, out);
            return;
        }
        match self.state {
            TcpState::Established | TcpState::SynRecv => {
                self.send_fin(now, out);
                self.set_state(TcpState::FinWait1, out);
            }
            TcpState::CloseWait => {
                self.send_fin(now, out);
                self.set_state(TcpState::LastAck, out);
            }
            TcpState::SynSent => self.set_state(TcpState::Closed, out),
            TcpState::FinWait2 => self.arm_fin_wait2(now, out),
            TcpState::FinWait1
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::TimeWait
            | TcpState::Closed => {}
        }
    }

    /// `close()` with `SO_LINGER` on and a zero linger time: `tcp_close()`
    /// calls `tcp_disconnect()`, which sends RST from the states that need
    /// one (`tcp_need_reset()`: ESTABLISHED, CLOSE_WAIT, FIN_WAIT1/2,
    /// SYN_RECV; CLOSING and LAST_ACK with unsent data, which this model
    /// never has), drops whatever is queued and goes straight to CLOSED: no
    /// FIN, no orphan, no retransmission. Linux counts it as
    /// `TCPAbortOnData`.
    pub fn abort(&mut self, out: &mut Vec<TcpAction>) {
        if self.orphan {
            return;
        }
        self.orphan = true;
        self.recv_q.clear();
        match self.state {
            TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::SynRecv => {
                out.push(TcpAction::Note(TcpNote::AbortOnLinger));
                self.send_rst(out);
            }
            TcpState::SynSent
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::TimeWait
            | TcpState::Closed => {}
        }
        self.set_state(TcpState::Closed, out);
    }

    fn send_fin(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        // segment() sets the ACK bit.
        let fin = self.segment(
            Flags {
                fin: true,
                ..Flags::default()
            },
            None,
        );
        self.our_fin_seq = Some(fin.seq);
        self.transmit_new(now, fin, out);
    }

    /// How long an orphaned FIN_WAIT2 socket lives. `tcp_fin_time()` is
    /// fin_timeout floored at 3.5·RTO. Up to 60 s it becomes a time-wait
    /// minisock for that long. Above, `tcp_close()` keeps the full socket
    /// for (tmo − 60 s) on the keepalive timer, whose handler then hands it
    /// to a minisock for (tmo − 60 s) again: 2·(tmo − 60 s) in all, and the
    /// minisock expires silently in both cases.
    fn fin_wait2_lifetime(&self) -> SimDuration {
        let floor = self.rto.saturating_mul(7).mul_ratio(1, 2);
        let tmo = self.cfg.fin_timeout.max(floor);
        let twl = SimDuration::from_secs(60);
        if tmo > twl {
            tmo.saturating_sub(twl).saturating_mul(2)
        } else {
            tmo
        }
    }

    fn arm_fin_wait2(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        let life = self.fin_wait2_lifetime();
        self.arm(TimerKind::Linger, now, now + life, out);
    }

    fn our_fin_acked(&self) -> bool {
        matches!(self.our_fin_seq, Some(s) if self.snd_una > s)
    }

    fn reset(&mut self, out: &mut Vec<TcpAction>) {
        // tcp_reset(): the errno depends on the state.
        let err = match self.state {
            TcpState::SynSent => Some(Errno::Econnrefused),
            TcpState::CloseWait => Some(Errno::Epipe),
            TcpState::Closed => None,
            TcpState::TimeWait => None,
            TcpState::SynRecv
            | TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::Closing
            | TcpState::LastAck => Some(Errno::Econnreset),
        };
        if self.state == TcpState::Closed {
            return;
        }
        out.push(TcpAction::Note(TcpNote::ResetReceived));
        if let Some(e) = err {
            if !self.orphan {
                self.sk_err = Some(e);
            }
        }
        self.set_state(TcpState::Closed, out);
        if let (Some(e), false) = (err, self.orphan) {
            out.push(TcpAction::Notify(Notice::Error(e)));
        }
    }

    /// A segment for this socket arrived.
    pub fn on_segment(&mut self, now: SimTime, seg: &Segment, out: &mut Vec<TcpAction>) {
        if self.state == TcpState::Closed {
            return;
        }
        if seg.flags.rst {
            // tcp_rcv_synsent_state_process() (RFC 9293 3.10.7.3): in
            // SYN_SENT an RST counts only with an acceptable ACK; one
            // without ACK, or with another ACK number, is dropped (and an
            // RST is never answered).
            let acceptable =
                self.state != TcpState::SynSent || (seg.flags.ack && seg.ack == self.snd_nxt);
            if acceptable {
                self.reset(out);
            }
            return;
        }
        self.last_rcv = now;
        self.probes_out = 0;

        match self.state {
            TcpState::SynSent => {
                // tcp_rcv_synsent_state_process() (RFC 9293 3.10.7.3): an
                // ACK is acceptable only if it covers our SYN and nothing
                // more (SND.UNA < SEG.ACK <= SND.NXT, here = SND.NXT).
                if seg.flags.ack && seg.ack != self.snd_nxt {
                    // "reset_and_undo": the segment is answered with an
                    // RST (tcp_v4_send_reset(), <SEQ=SEG.ACK><CTL=RST>)
                    // and dropped; "Previous FIN/ACK or RST/ACK might be
                    // ignored": before any SYN retransmission the SYN
                    // timer is re-armed to fire after TCP_TIMEOUT_MIN.
                    if let Some(rst) = seg.reset_reply() {
                        out.push(TcpAction::Send(rst));
                    }
                    if self.retransmits == 0 {
                        let soon = now + self.timeout_min();
                        self.arm_rto(now, soon, out);
                    }
                    return;
                }
                // A SYN without ACK would be a simultaneous open (Linux
                // moves to SYN_RECV and sends a SYN-ACK); thaw's servers
                // never connect, so it is not modelled: the segment is
                // dropped, as is an acceptable ACK without SYN ("if
                // neither of the SYN or RST bits is set then drop").
                if seg.flags.syn && seg.flags.ack {
                    self.rcv_nxt = seg.seq + 1;
                    self.process_ack(now, seg.ack, out);
                    self.set_state(TcpState::Established, out);
                    self.rto = self.base_rto();
                    self.send_ack(out);
                    self.keepalive_start(now, out);
                    out.push(TcpAction::Notify(Notice::Connected));
                }
                return;
            }
            TcpState::SynRecv => {
                if seg.flags.syn {
                    // Our SYN-ACK was lost or late: the peer retransmitted
                    // its SYN. Answer with the SYN-ACK again.
                    if let Some(u) = self.rtx.first() {
                        out.push(TcpAction::Send(u.seg));
                    }
                    return;
                }
                if seg.flags.ack && seg.ack == self.snd_nxt {
                    self.process_ack(now, seg.ack, out);
                    self.set_state(TcpState::Established, out);
                    self.rto = self.base_rto();
                    self.keepalive_start(now, out);
                    out.push(TcpAction::Notify(Notice::Connected));
                } else {
                    // tcp_check_req(): an ACK that does not acknowledge
                    // our SYN-ACK exactly leaves the request as it is and
                    // goes to the listener, which answers it with an RST
                    // (tcp_v4_send_reset(), RFC 9293 3.10.7.4: "form a
                    // reset segment <SEQ=SEG.ACK><CTL=RST>"). A segment
                    // without ACK is dropped.
                    if seg.flags.ack {
                        if let Some(rst) = seg.reset_reply() {
                            out.push(TcpAction::Send(rst));
                        }
                    }
                    return;
                }
            }
            TcpState::TimeWait => {
                if seg.flags.fin {
                    // A retransmitted FIN: ACK again and restart 2MSL.
                    self.send_ack(out);
                    let tw = self.cfg.time_wait;
                    self.arm(TimerKind::Linger, now, now + tw, out);
                }
                return;
            }
            TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::CloseWait
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::Closed => {}
        }

        if seg.flags.syn {
            // A SYN (or SYN-ACK retransmission) on a synchronized socket:
            // the handshake ACK was lost. Re-ACK.
            self.send_ack(out);
            return;
        }

        if seg.flags.ack {
            if seg.ack > self.snd_nxt {
                // tcp_ack(): "If the ack includes data we haven't sent
                // yet, discard this segment" (RFC 9293 3.10.7.4: "send an
                // ACK, drop the segment, and return"), data and FIN with
                // it. Linux drops it silently in ESTABLISHED
                // (tcp_rcv_established()) and answers with a challenge
                // ACK in the other states (tcp_rcv_state_process(),
                // tcp_send_challenge_ack(); its rate limits are not
                // modelled).
                if self.state != TcpState::Established {
                    self.send_ack(out);
                }
                return;
            }
            self.process_ack(now, seg.ack, out);
            if self.state == TcpState::Closed {
                return;
            }
        }

        if seg.is_empty() && seg.seq < self.rcv_nxt {
            // An old sequence number without data: a keepalive probe.
            // Linux answers it with a duplicate ACK.
            self.send_ack(out);
            return;
        }

        let mut advanced = false;
        let mut dup = false;
        if let Some(p) = seg.payload {
            match seg.seq.cmp(&self.rcv_nxt) {
                Ordering::Equal => match self.state {
                    // Only close() leads to FIN_WAIT here (no
                    // shutdown(SHUT_WR) in this model), so the socket has
                    // shut down receiving too (RCV_SHUTDOWN).
                    TcpState::FinWait1 | TcpState::FinWait2 => {
                        // RFC 1122: data after we shut down receiving → RST.
                        // tcp_rcv_state_process() calls tcp_reset() and
                        // returns 1, so tcp_v4_do_rcv() answers the segment
                        // with tcp_v4_send_reset(): the RST is built from
                        // it (<SEQ=SEG.ACK>, no ACK bit), unlike the
                        // socket's own tcp_send_active_reset().
                        out.push(TcpAction::Note(TcpNote::DataAfterClose));
                        if let Some(rst) = seg.reset_reply() {
                            out.push(TcpAction::Send(rst));
                        }
                        self.set_state(TcpState::Closed, out);
                        return;
                    }
                    TcpState::Established => {
                        self.rcv_nxt += 1;
                        self.recv_q.push(p);
                        advanced = true;
                        out.push(TcpAction::Notify(Notice::Readable));
                    }
                    TcpState::CloseWait
                    | TcpState::Closing
                    | TcpState::LastAck
                    | TcpState::SynSent
                    | TcpState::SynRecv
                    | TcpState::TimeWait
                    | TcpState::Closed => {
                        // Data past the peer's FIN: ignored.
                    }
                },
                // A duplicate (our ACK was lost), or data beyond a gap
                // (an earlier segment was lost): either way Linux ACKs at
                // once with rcv_nxt (tcp_data_queue(): "A retransmit, 2nd
                // most common case. Force an immediate ack", and an
                // out-of-order segment's duplicate ACK). No out-of-order
                // queue is modelled: data beyond a gap is dropped and
                // comes again after the retransmission of what is missing.
                Ordering::Less | Ordering::Greater => dup = true,
            }
        }

        if seg.flags.fin {
            let fin_seq = seg.seq + seg.payload.is_some() as u64;
            if fin_seq == self.rcv_nxt {
                self.rcv_nxt += 1;
                self.sock_done = true;
                advanced = true;
                match self.state {
                    TcpState::Established => {
                        self.set_state(TcpState::CloseWait, out);
                        out.push(TcpAction::Notify(Notice::Eof));
                    }
                    TcpState::FinWait1 => {
                        if self.our_fin_acked() {
                            self.enter_time_wait(now, out);
                        } else {
                            self.set_state(TcpState::Closing, out);
                        }
                    }
                    TcpState::FinWait2 => self.enter_time_wait(now, out),
                    TcpState::CloseWait
                    | TcpState::Closing
                    | TcpState::LastAck
                    | TcpState::SynSent
                    | TcpState::SynRecv
                    | TcpState::TimeWait
                    | TcpState::Closed => {}
                }
            } else {
                // A retransmitted FIN, or one beyond a gap: a duplicate
                // ACK, as for data.
                dup = true;
            }
        }

        // One ACK per segment, also for a retransmitted data+FIN.
        if advanced || dup {
            self.send_ack(out);
        }
    }

    fn enter_time_wait(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        self.set_state(TcpState::TimeWait, out);
        self.cancel(TimerKind::Retransmit);
        self.cancel(TimerKind::Keepalive);
        let tw = self.cfg.time_wait;
        self.arm(TimerKind::Linger, now, now + tw, out);
    }

    /// `tcp_ack()` for an ACK at most `snd_nxt` (the callers drop the
    /// others): a duplicate or old ACK changes nothing ("If the ack is
    /// older than previous acks then we can probably ignore it"); a new
    /// one removes the segments it covers entirely
    /// (`tcp_clean_rtx_queue()`) and clears the retransmission count and
    /// the backoff.
    fn process_ack(&mut self, now: SimTime, ack: u64, out: &mut Vec<TcpAction>) {
        if ack <= self.snd_una {
            return;
        }
        let mut sample = None;
        while let Some(front) = self.rtx.first() {
            if front.seg.seq + front.seg.len() <= ack {
                let u = self.rtx.remove(0);
                if !u.retransmitted {
                    // Karn: only never-retransmitted segments give samples.
                    sample = Some(now - u.first_tx);
                }
            } else {
                // A segment the ACK covers in part: only a collapsed
                // data+FIN can be one (every other segment takes one
                // sequence number). It is always the first (only the head
                // is ever collapsed), starting at snd_una < ack, so its
                // data alone is acknowledged (tcp_trim_head()): the FIN is
                // left to retransmit.
                if front.seg.payload.is_some() && front.seg.flags.fin {
                    let head = &mut self.rtx[0].seg;
                    head.payload = None;
                    head.seq = ack;
                }
                break;
            }
        }
        self.snd_una = ack;
        self.retransmits = 0;
        self.retrans_stamp = None;
        self.probe_out = false;
        match sample {
            Some(s) => self.update_rtt(s),
            None => self.rto = self.base_rto(),
        }
        if self.rtx.is_empty() {
            self.probe_armed = false;
            self.cancel(TimerKind::Retransmit);
        } else {
            // tcp_set_xmit_timer(): a probe if one applies, else the RTO.
            let due = now + self.rto;
            if !self.schedule_loss_probe(now, due, out) {
                self.arm_rto(now, due, out);
            }
        }
        if self.our_fin_acked() {
            match self.state {
                TcpState::FinWait1 => {
                    self.set_state(TcpState::FinWait2, out);
                    if self.orphan {
                        self.arm_fin_wait2(now, out);
                    }
                }
                TcpState::Closing => self.enter_time_wait(now, out),
                TcpState::LastAck => self.set_state(TcpState::Closed, out),
                TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::Established
                | TcpState::FinWait2
                | TcpState::CloseWait
                | TcpState::TimeWait
                | TcpState::Closed => {}
            }
        }
    }

    /// A timer fired. Stale generations are ignored.
    pub fn on_timer(&mut self, now: SimTime, kind: TimerKind, gen: u32, out: &mut Vec<TcpAction>) {
        if self.gens[timer_index(kind)] != gen || self.state == TcpState::Closed {
            return;
        }
        match kind {
            TimerKind::Retransmit => self.on_rto(now, out),
            TimerKind::Keepalive => self.on_keepalive(now, out),
            TimerKind::Linger => match self.state {
                TcpState::FinWait2 => {
                    out.push(TcpAction::Note(TcpNote::FinWait2Expired));
                    // The FIN_WAIT2 minisock vanishes without a packet.
                    self.set_state(TcpState::Closed, out);
                }
                TcpState::TimeWait => {
                    out.push(TcpAction::Note(TcpNote::TimeWaitDone));
                    self.set_state(TcpState::Closed, out);
                }
                TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::Established
                | TcpState::FinWait1
                | TcpState::CloseWait
                | TcpState::Closing
                | TcpState::LastAck
                | TcpState::Closed => {}
            },
        }
    }

    fn on_rto(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        if self.rtx.is_empty() {
            return;
        }
        if self.probe_armed {
            self.send_loss_probe(now, out);
            return;
        }
        // tcp_write_timeout(): which limit applies. `retry_until` feeds
        // the time test; `limit` is the count a handshake gives up at,
        // which in SYN_SENT adds the linear retransmissions
        // (max_retransmits).
        let (retry_until, limit, rule, rto_base) = match self.state {
            TcpState::SynSent => (
                self.cfg.syn_retries,
                self.cfg.syn_retries + self.cfg.syn_linear_timeouts,
                "tcp_syn_retries",
                self.cfg.rto_initial,
            ),
            TcpState::SynRecv => (
                self.cfg.synack_retries,
                self.cfg.synack_retries,
                "tcp_synack_retries",
                self.cfg.rto_initial,
            ),
            _ if self.orphan => {
                let alive = self.rto < self.cfg.rto_max;
                let n = match (self.cfg.orphan_retries, alive) {
                    (0, true) => 8,
                    (n, _) => n,
                };
                (n, n, "tcp_orphan_retries", self.cfg.rto_min)
            }
            _ => (
                self.cfg.retries2,
                self.cfg.retries2,
                "tcp_retries2",
                self.cfg.rto_min,
            ),
        };
        // TCP_USER_TIMEOUT applies in every state that retransmits (the
        // handshakes included, in 6.x).
        let user_timeout = self.cfg.user_timeout;
        // tcp_write_timeout(): a handshake gives up after `limit`
        // retransmissions (a count); every state also after
        // retransmits_timed_out(), which is never true before the first
        // retransmission and measures from it (retrans_stamp): the time
        // `retry_until` retransmissions take (tcp_model_timeout()) or
        // TCP_USER_TIMEOUT. (Without a user timeout a handshake's count
        // always comes first: the model time runs from the first
        // retransmission, one initial RTO after the SYN.)
        let handshake = matches!(self.state, TcpState::SynSent | TcpState::SynRecv);
        let timed_out = self.retransmits > 0 && {
            let start = self.retrans_stamp.expect("set at the first retransmission");
            let timeout = user_timeout
                .unwrap_or_else(|| model_timeout(retry_until, rto_base, self.cfg.rto_max));
            now.saturating_since(start) >= timeout
        };
        let expired = (handshake && self.retransmits >= limit) || timed_out;
        if expired {
            out.push(TcpAction::Note(TcpNote::GaveUp {
                retries: self.retransmits,
                limit,
                rule: if user_timeout.is_some() {
                    "TCP_USER_TIMEOUT"
                } else {
                    rule
                },
            }));
            // tcp_write_err(): ETIMEDOUT, tcp_done(), no RST.
            let orphan = self.orphan;
            if !orphan {
                self.sk_err = Some(Errno::Etimedout);
            }
            self.set_state(TcpState::Closed, out);
            if !orphan {
                out.push(TcpAction::Notify(Notice::Error(Errno::Etimedout)));
            }
            return;
        }
        // tcp_retransmit_skb(): "Save stamp of the first (attempted)
        // retransmit": the give-up clock of retransmits_timed_out() and
        // TCP_USER_TIMEOUT starts at the first retransmission, not at the
        // original send.
        if self.retrans_stamp.is_none() {
            self.retrans_stamp = Some(now);
        }
        self.retransmits += 1;
        self.collapse_fin_into_head();
        if let Some(u) = self.rtx.first_mut() {
            u.retransmitted = true;
            // The retransmission carries our current ACK.
            u.seg.ack = self.rcv_nxt;
        }
        let seg = self.rtx.first().expect("head exists").seg;
        out.push(TcpAction::Send(seg));
        // tcp_retransmit_timer(): exponential backoff, except for the first
        // tcp_syn_linear_timeouts SYN retransmissions (icsk_backoff, which
        // counts with the retransmissions here, not above the sysctl).
        let linear =
            self.state == TcpState::SynSent && self.retransmits <= self.cfg.syn_linear_timeouts;
        if !linear {
            self.rto = self.rto.saturating_mul(2).min(self.cfg.rto_max);
        }
        let mut next = self.rto;
        if let Some(ut) = user_timeout {
            // tcp_clamp_rto_to_user_timeout(): fire when the budget ends.
            let start = self.retrans_stamp.expect("set above");
            let elapsed = now.saturating_since(start);
            let remaining = ut.saturating_sub(elapsed);
            next = next.min(remaining.max(SimDuration::from_millis(1)));
        }
        out.push(TcpAction::Note(TcpNote::Retransmit {
            attempt: self.retransmits,
            next_rto: next,
        }));
        self.arm_rto(now, now + next, out);
    }

    /// `tcp_retrans_try_collapse()`: before an RTO retransmission of a data
    /// segment, merge the FIN-only segment behind it into it
    /// (`tcp_collapse_retrans()` copies the FIN flag), permanently: every
    /// later retransmission is data+FIN too. Two data segments would merge
    /// as well when they fit one MSS; this model's messages are one
    /// segment each and are never merged.
    fn collapse_fin_into_head(&mut self) {
        if !self.cfg.retrans_collapse || self.rtx.len() < 2 {
            return;
        }
        // The queue is contiguous, a SYN can only be first and never
        // carries data here, and a FIN is always last: so a head with data
        // and a FIN-only segment behind it are all the kernel checks
        // (a SYN head is skipped: TCPHDR_SYN).
        let (head, next) = (self.rtx[0].seg, self.rtx[1].seg);
        if head.payload.is_some() && next.flags.fin && next.payload.is_none() {
            self.rtx[0].seg.flags.fin = true;
            self.rtx.remove(1);
        }
    }

    fn on_keepalive(&mut self, now: SimTime, out: &mut Vec<TcpAction>) {
        let Some(ka) = self.cfg.keepalive else {
            return;
        };
        match self.state {
            TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::CloseWait
            | TcpState::Closing
            | TcpState::LastAck => {}
            TcpState::SynSent | TcpState::SynRecv | TcpState::TimeWait | TcpState::Closed => return,
        }
        if !self.rtx.is_empty() {
            // "It is alive without keepalive": the RTO timer governs.
            self.arm(TimerKind::Keepalive, now, now + ka.idle, out);
            return;
        }
        let elapsed = now.saturating_since(self.last_rcv);
        if elapsed < ka.idle {
            let at = self.last_rcv + ka.idle;
            self.arm(TimerKind::Keepalive, now, at, out);
            return;
        }
        let dead = match self.cfg.user_timeout {
            Some(ut) => elapsed >= ut && self.probes_out > 0,
            None => self.probes_out >= ka.count,
        };
        if dead {
            out.push(TcpAction::Note(TcpNote::KeepaliveGaveUp));
            self.send_rst(out);
            let orphan = self.orphan;
            if !orphan {
                self.sk_err = Some(Errno::Etimedout);
            }
            self.set_state(TcpState::Closed, out);
            if !orphan {
                out.push(TcpAction::Notify(Notice::Error(Errno::Etimedout)));
            }
            return;
        }
        // A probe: an ACK with an old sequence number, which the peer must
        // answer with an ACK (or an RST if it has no such connection).
        // segment() sets the ACK bit.
        let mut probe = self.segment(Flags::default(), None);
        probe.seq = self.snd_una.saturating_sub(1);
        out.push(TcpAction::Send(probe));
        self.probes_out += 1;
        out.push(TcpAction::Note(TcpNote::KeepaliveProbe {
            n: self.probes_out,
        }));
        self.arm(TimerKind::Keepalive, now, now + ka.interval, out);
    }
}

impl Tcb {
    /// Kind of the oldest unacknowledged segment (`SYN`, `FIN`, `data`...),
    /// i.e. what the next retransmission will resend.
    pub fn head_kind(&self) -> Option<&'static str> {
        self.rtx.first().map(|u| u.seg.kind())
    }

    /// The kind of the newest segment waiting for an ACK (what a tail loss
    /// probe resends).
    pub fn tail_kind(&self) -> Option<&'static str> {
        self.rtx.last().map(|u| u.seg.kind())
    }
}

impl Tcb {
    /// Whether a timer event `(kind, gen)` is still the armed one (a stale
    /// generation means it was re-armed or cancelled since).
    pub fn timer_current(&self, kind: TimerKind, gen: u32) -> bool {
        self.state != TcpState::Closed && self.gens[timer_index(kind)] == gen
    }
}
