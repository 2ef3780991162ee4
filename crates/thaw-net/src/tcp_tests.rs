//! Unit tests for the TCP endpoint: one test per transition, timer and RST
//! rule of the Linux TCP sources listed in docs/sources.md.
//!
//! The harness below wires two [`Tcb`]s (client and server) through a wire
//! with a fixed one-way latency. Packets can be lost on the way to either side
//! (a frozen or unreachable peer). Timers are kept in a list, one per
//! (side, kind), replaced by every `Arm`, and fired in time order with their
//! generation; a timer cancelled without re-arming still fires with its old
//! generation, which the socket must ignore. A host whose socket is gone (or
//! never existed) answers with `Segment::reset_reply`, as `tcp_v4_rcv` does on
//! its `no_tcp_socket:` path. Every time in the asserts is an exact integer
//! number of nanoseconds.
use crate::segment::{Addr, Flags, Payload, Segment};
use crate::tcp::{
    jiffies_up, model_timeout, wheel_expiry, Errno, Keepalive, Notice, RecvResult, Tcb, TcpAction,
    TcpConfig, TcpNote, TcpState, TimerKind,
};
use thaw_core::{SimDuration, SimTime};

/// Linux's defaults without the tail loss probe: these tests pin the RTO
/// machinery alone (the probe, which comes first, has tests of its own
/// below, with `TcpConfig::default()`).
fn base() -> TcpConfig {
    TcpConfig {
        tail_loss_probe: false,
        ..TcpConfig::default()
    }
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;
const SEC: u64 = 1_000_000_000;

fn at(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn dur(ns: u64) -> SimDuration {
    SimDuration::from_nanos(ns)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

use Side::{Client, Server};

impl Side {
    fn idx(self) -> usize {
        match self {
            Client => 0,
            Server => 1,
        }
    }
    fn other(self) -> Side {
        match self {
            Client => Server,
            Server => Client,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Deliver {
        to: Side,
        seg: Segment,
    },
    Timer {
        side: Side,
        kind: TimerKind,
        gen: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    at: SimTime,
    order: u64,
    ev: Ev,
}

/// One segment put on the wire.
#[derive(Clone, Copy, Debug)]
struct Wired {
    at: SimTime,
    from: Side,
    seg: Segment,
    /// Sent by the host for a segment that reached no socket.
    by_host: bool,
    dropped: bool,
}

struct Net {
    now: SimTime,
    latency: SimDuration,
    addrs: [Addr; 2],
    cfgs: [TcpConfig; 2],
    tcbs: [Option<Tcb>; 2],
    /// The server host has a listener that accepts SYNs.
    listening: bool,
    /// Hosts answer segments that reach no live socket with an RST.
    host_rst: bool,
    /// Packets towards this side are lost.
    drop_to: [bool; 2],
    /// Lose the next n packets towards this side.
    drop_next: [u32; 2],
    pending: Vec<Pending>,
    order: u64,
    log: Vec<(SimTime, Side, TcpAction)>,
    wire: Vec<Wired>,
}

impl Net {
    fn new(client: TcpConfig, server: TcpConfig, latency: SimDuration) -> Net {
        Net {
            now: SimTime::ZERO,
            latency,
            addrs: [
                Addr {
                    host: 1,
                    port: 40_000,
                },
                Addr {
                    host: 2,
                    port: 5432,
                },
            ],
            cfgs: [client, server],
            tcbs: [None, None],
            listening: true,
            host_rst: true,
            drop_to: [false; 2],
            drop_next: [0; 2],
            pending: Vec::new(),
            order: 0,
            log: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// The client connects at `now`.
    fn connect(&mut self) {
        let mut out = Vec::new();
        let tcb = Tcb::connect(
            self.now,
            self.cfgs[0],
            self.addrs[0],
            self.addrs[1],
            &mut out,
        );
        self.tcbs[0] = Some(tcb);
        self.absorb(Client, out);
    }

    /// A connection established at time 0 (client ESTABLISHED at 2·latency,
    /// server at 3·latency); `now` is 3·latency afterwards.
    fn established(client: TcpConfig, server: TcpConfig, latency: SimDuration) -> Net {
        let mut n = Net::new(client, server, latency);
        n.connect();
        let l = latency.as_nanos();
        n.run_until(at(3 * l));
        assert_eq!(n.state(Client), TcpState::Established);
        assert_eq!(n.state(Server), TcpState::Established);
        n
    }

    fn default_established(latency: SimDuration) -> Net {
        Net::established(base(), base(), latency)
    }

    fn tcb(&self, side: Side) -> &Tcb {
        self.tcbs[side.idx()].as_ref().expect("socket exists")
    }

    fn state(&self, side: Side) -> TcpState {
        self.tcb(side).state()
    }

    /// Both directions lose every packet from now on.
    fn silence(&mut self) {
        self.drop_to = [true, true];
    }

    fn call<R>(
        &mut self,
        side: Side,
        f: impl FnOnce(&mut Tcb, SimTime, &mut Vec<TcpAction>) -> R,
    ) -> R {
        let now = self.now;
        let mut out = Vec::new();
        let r = f(
            self.tcbs[side.idx()].as_mut().expect("socket exists"),
            now,
            &mut out,
        );
        self.absorb(side, out);
        r
    }

    fn send(&mut self, side: Side, p: u64) -> Result<(), Errno> {
        self.call(side, |t, now, out| t.send(now, Payload(p), out))
    }

    fn close(&mut self, side: Side) {
        self.call(side, |t, now, out| t.close(now, out));
    }

    fn recv(&mut self, side: Side) -> RecvResult {
        self.tcbs[side.idx()]
            .as_mut()
            .expect("socket exists")
            .recv()
    }

    /// Hands `seg` to `side`'s socket right now, bypassing the wire.
    fn inject(&mut self, side: Side, seg: Segment) {
        self.call(side, |t, now, out| t.on_segment(now, &seg, out));
    }

    /// A segment from `from`'s socket towards the other side's.
    fn craft(&self, from: Side, flags: Flags, seq: u64, ack: u64) -> Segment {
        Segment {
            src: self.addrs[from.idx()],
            dst: self.addrs[from.other().idx()],
            flags,
            seq,
            ack,
            payload: None,
        }
    }

    fn absorb(&mut self, side: Side, out: Vec<TcpAction>) {
        for a in out {
            self.log.push((self.now, side, a));
            match a {
                TcpAction::Send(seg) => self.transmit(side, seg, false),
                TcpAction::Arm { kind, at, gen } => {
                    assert!(at >= self.now, "timer armed in the past: {a:?}");
                    self.pending.retain(|p| {
                        !matches!(p.ev, Ev::Timer { side: s, kind: k, .. } if s == side && k == kind)
                    });
                    self.push(at, Ev::Timer { side, kind, gen });
                }
                TcpAction::State { .. } | TcpAction::Notify(_) | TcpAction::Note(_) => {}
            }
        }
    }

    fn push(&mut self, at: SimTime, ev: Ev) {
        self.order += 1;
        self.pending.push(Pending {
            at,
            order: self.order,
            ev,
        });
    }

    fn transmit(&mut self, from: Side, seg: Segment, by_host: bool) {
        let to = from.other();
        let dropped = if self.drop_to[to.idx()] {
            true
        } else if self.drop_next[to.idx()] > 0 {
            self.drop_next[to.idx()] -= 1;
            true
        } else {
            false
        };
        self.wire.push(Wired {
            at: self.now,
            from,
            seg,
            by_host,
            dropped,
        });
        if !dropped {
            let when = self.now + self.latency;
            self.push(when, Ev::Deliver { to, seg });
        }
    }

    /// Processes every event due at or before `target`; `now` ends at `target`.
    fn run_until(&mut self, target: SimTime) {
        assert!(target >= self.now);
        loop {
            let next = self
                .pending
                .iter()
                .enumerate()
                .filter(|(_, p)| p.at <= target)
                .min_by_key(|(_, p)| (p.at, p.order))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            // A broken rule can make the two sockets answer each other
            // forever (mutation testing does): fail instead of filling
            // the memory.
            assert!(self.log.len() < 20_000, "runaway exchange");
            let p = self.pending.remove(i);
            self.now = p.at;
            self.dispatch(p.ev);
        }
        self.now = target;
    }

    fn run_for(&mut self, d: SimDuration) {
        let target = self.now + d;
        self.run_until(target);
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Timer { side, kind, gen } => {
                if self.tcbs[side.idx()].is_some() {
                    self.call(side, |t, now, out| t.on_timer(now, kind, gen, out));
                }
            }
            Ev::Deliver { to, seg } => {
                let live = matches!(&self.tcbs[to.idx()], Some(t) if t.state() != TcpState::Closed);
                if live {
                    self.call(to, |t, now, out| t.on_segment(now, &seg, out));
                } else if to == Server
                    && self.tcbs[1].is_none()
                    && self.listening
                    && seg.flags.syn
                    && !seg.flags.ack
                {
                    let mut out = Vec::new();
                    let tcb = Tcb::accept_syn(self.now, self.cfgs[1], &seg, &mut out);
                    self.tcbs[1] = Some(tcb);
                    self.absorb(Server, out);
                } else if self.host_rst {
                    if let Some(rst) = seg.reset_reply() {
                        self.transmit(to, rst, true);
                    }
                }
            }
        }
    }

    // ---- log queries -------------------------------------------------------

    /// Segments `side`'s socket sent (not host replies), with their times.
    /// The bare ACKs `side` sent from `t` on: (when, acknowledgement).
    fn acks_since(&self, side: Side, t: SimTime) -> Vec<(SimTime, u64)> {
        self.sent(side)
            .into_iter()
            .filter(|(at, s)| *at >= t && s.kind() == "ACK")
            .map(|(at, s)| (at, s.ack))
            .collect()
    }

    fn sent(&self, side: Side) -> Vec<(SimTime, Segment)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, a)| match a {
                TcpAction::Send(seg) => Some((*t, *seg)),
                _ => None,
            })
            .collect()
    }

    fn sent_times(&self, side: Side, pred: impl Fn(&Segment) -> bool) -> Vec<SimTime> {
        self.sent(side)
            .into_iter()
            .filter(|(_, s)| pred(s))
            .map(|(t, _)| t)
            .collect()
    }

    fn rsts_sent(&self, side: Side) -> Vec<(SimTime, Segment)> {
        self.sent(side)
            .into_iter()
            .filter(|(_, s)| s.flags.rst)
            .collect()
    }

    fn states(&self, side: Side) -> Vec<(SimTime, TcpState, TcpState)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, a)| match a {
                TcpAction::State { from, to } => Some((*t, *from, *to)),
                _ => None,
            })
            .collect()
    }

    fn notices(&self, side: Side) -> Vec<(SimTime, Notice)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, a)| match a {
                TcpAction::Notify(n) => Some((*t, *n)),
                _ => None,
            })
            .collect()
    }

    fn notes(&self, side: Side) -> Vec<(SimTime, TcpNote)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, a)| match a {
                TcpAction::Note(n) => Some((*t, *n)),
                _ => None,
            })
            .collect()
    }

    fn errors(&self, side: Side) -> Vec<(SimTime, Errno)> {
        self.notices(side)
            .into_iter()
            .filter_map(|(t, n)| match n {
                Notice::Error(e) => Some((t, e)),
                _ => None,
            })
            .collect()
    }

    fn log_len(&self, side: Side) -> usize {
        self.log.iter().filter(|(_, s, _)| *s == side).count()
    }
}

fn times(base: u64, offsets_ms: &[u64]) -> Vec<SimTime> {
    offsets_ms.iter().map(|o| at(base + o * MS)).collect()
}

fn is_data(s: &Segment) -> bool {
    s.payload.is_some()
}

fn is_fin(s: &Segment) -> bool {
    s.flags.fin
}

fn is_syn(s: &Segment) -> bool {
    s.flags.syn
}

/// The instant, relative to the first transmission, at which the
/// retransmission timer gives up: the first RTO expiry at which the elapsed
/// time is at least `timeout`, with the RTO starting at `rto0` and doubling up
/// to `rto_max` (an independent restatement of `retransmits_timed_out()`).
fn give_up_offset(rto0: u64, rto_max: u64, timeout: u64) -> u64 {
    let mut t = 0;
    let mut rto = rto0;
    let mut retransmits = 0;
    loop {
        t += rto;
        if retransmits > 0 && t >= timeout {
            return t;
        }
        retransmits += 1;
        rto = (rto * 2).min(rto_max);
    }
}

fn keepalive(idle_s: u64, interval_s: u64, count: u32) -> Keepalive {
    Keepalive {
        idle: SimDuration::from_secs(idle_s),
        interval: SimDuration::from_secs(interval_s),
        count,
    }
}

// ---- tcp_model_timeout -------------------------------------------------------

#[test]
fn model_timeout_matches_the_documented_values() {
    let min = dur(200 * MS);
    let max = dur(120 * SEC);
    // tcp_retries2 = 15: 1023·0.2 + 6·120 = 924.6 s.
    assert_eq!(model_timeout(15, min, max), dur(924_600 * MS));
    // Orphan retries 8: 511·0.2 = 102.2 s.
    assert_eq!(model_timeout(8, min, max), dur(102_200 * MS));
    // SYN retries 6 from a 1 s base: 127 s.
    assert_eq!(model_timeout(6, dur(SEC), max), dur(127 * SEC));
    // tcp_retries1 = 3: 3.0 s; orphan retries 6: 25.4 s.
    assert_eq!(model_timeout(3, min, max), dur(3 * SEC));
    assert_eq!(model_timeout(6, min, max), dur(25_400 * MS));
    // The boundary at the linear threshold (ilog2(600) = 9) and just past it.
    assert_eq!(model_timeout(9, min, max), dur(204_600 * MS));
    assert_eq!(model_timeout(10, min, max), dur(324_600 * MS));
    // SYN-ACK retries 5: 63 s.
    assert_eq!(model_timeout(5, dur(SEC), max), dur(63 * SEC));
}

#[test]
fn model_timeout_agrees_with_the_reference_schedule() {
    // Table 1.5: the RTO expiries 0.2, 0.6, …, 804.6 s are model_timeout(k).
    let cumulative_ms = [
        200, 600, 1400, 3000, 6200, 12_600, 25_400, 51_000, 102_200, 204_600, 324_600, 444_600,
        564_600, 684_600, 804_600, 924_600,
    ];
    for (k, ms) in cumulative_ms.iter().enumerate() {
        assert_eq!(
            model_timeout(k as u32, dur(200 * MS), dur(120 * SEC)),
            dur(ms * MS),
            "boundary {k}"
        );
    }
}

#[test]
fn model_timeout_saturates_at_the_end_of_time() {
    // rto_max / base = 2^64 − 1: the threshold is 63 doublings.
    let (one, max) = (dur(1), SimDuration::MAX);
    assert_eq!(model_timeout(62, one, max), dur(u64::MAX >> 1));
    assert_eq!(model_timeout(63, one, max), max);
    assert_eq!(model_timeout(255, one, max), max);
    assert_eq!(model_timeout(255, max, max), max);
    assert_eq!(model_timeout(255, dur(200 * MS), dur(u64::MAX / 2)), max);
}

// ---- handshake and RTT -------------------------------------------------------

#[test]
fn three_way_handshake_states_segments_and_times() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.connect();
    assert_eq!(n.state(Client), TcpState::SynSent);
    n.run_until(at(5 * SEC));

    // Client: SYN at 0, ACK at 2L; nothing else (the SYN timer was stopped).
    let c = n.sent(Client);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0].0, at(0));
    assert_eq!(c[0].1.kind(), "SYN");
    assert!(!c[0].1.flags.ack);
    assert_eq!(c[0].1.seq, 0);
    assert_eq!(c[1].0, at(2 * l));
    assert_eq!(c[1].1.kind(), "ACK");
    assert_eq!((c[1].1.seq, c[1].1.ack), (1, 1));

    // Server: SYN-ACK at L.
    let s = n.sent(Server);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].0, at(l));
    assert_eq!(s[0].1.kind(), "SYN-ACK");
    assert_eq!((s[0].1.seq, s[0].1.ack), (0, 1));

    assert_eq!(
        n.states(Client),
        vec![(at(2 * l), TcpState::SynSent, TcpState::Established)]
    );
    assert_eq!(
        n.states(Server),
        vec![(at(3 * l), TcpState::SynRecv, TcpState::Established)]
    );
    assert_eq!(n.notices(Client), vec![(at(2 * l), Notice::Connected)]);
    assert_eq!(n.notices(Server), vec![(at(3 * l), Notice::Connected)]);
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert_eq!(n.tcb(Server).unacked(), 0);
    assert_eq!(n.recv(Client), RecvResult::WouldBlock);
    assert_eq!(n.recv(Server), RecvResult::WouldBlock);
}

#[test]
fn handshake_arms_the_syn_timer_at_the_initial_rto() {
    let mut out = Vec::new();
    let a = Addr { host: 1, port: 1 };
    let b = Addr { host: 2, port: 2 };
    let t = Tcb::connect(at(7 * SEC), base(), a, b, &mut out);
    assert_eq!(t.rto(), dur(SEC));
    assert!(out.iter().any(|x| matches!(
        x,
        TcpAction::Arm { kind: TimerKind::Retransmit, at: when, .. } if *when == at(8 * SEC)
    )));
    let syn = out
        .iter()
        .find_map(|x| match x {
            TcpAction::Send(s) => Some(*s),
            _ => None,
        })
        .expect("SYN sent");
    let mut out2 = Vec::new();
    let s = Tcb::accept_syn(at(7 * SEC), base(), &syn, &mut out2);
    assert_eq!(s.state(), TcpState::SynRecv);
    assert_eq!(s.local(), b);
    assert_eq!(s.remote(), a);
    assert!(out2.iter().any(|x| matches!(
        x,
        TcpAction::Arm { kind: TimerKind::Retransmit, at: when, .. } if *when == at(8 * SEC)
    )));
}

#[test]
fn rtt_sample_rto_uses_the_200ms_floor_when_variance_is_small() {
    // Sample 2·40 ms = 80 ms: SRTT 80, RTTVAR 40, 4·RTTVAR = 160 < 200.
    let n = Net::default_established(dur(40 * MS));
    assert_eq!(n.tcb(Client).rto(), dur(280 * MS));
    assert_eq!(n.tcb(Server).rto(), dur(280 * MS));
}

#[test]
fn rtt_sample_rto_uses_four_rttvar_when_larger_than_200ms() {
    // Sample 200 ms: SRTT 200, RTTVAR 100, 4·RTTVAR = 400 > 200.
    let n = Net::default_established(dur(100 * MS));
    assert_eq!(n.tcb(Client).rto(), dur(600 * MS));
    assert_eq!(n.tcb(Server).rto(), dur(600 * MS));
}

#[test]
fn rtt_sample_with_zero_rtt_gives_exactly_rto_min() {
    let n = Net::default_established(SimDuration::ZERO);
    assert_eq!(n.tcb(Client).rto(), dur(200 * MS));
    assert_eq!(n.tcb(Server).rto(), dur(200 * MS));
}

#[test]
fn second_rtt_sample_is_smoothed() {
    // First sample 100 ms → SRTT 100, RTTVAR 50. Second sample 20 ms:
    // RTTVAR = (3·50 + 80)/4 = 57.5, SRTT = (7·100 + 20)/8 = 90,
    // RTO = 90 + max(230, 200) = 320 ms.
    let mut n = Net::default_established(dur(50 * MS));
    assert_eq!(n.tcb(Client).rto(), dur(300 * MS));
    n.latency = dur(10 * MS);
    n.run_until(at(SEC));
    n.send(Client, 1).unwrap();
    n.run_for(dur(20 * MS));
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert_eq!(n.tcb(Client).rto(), dur(320 * MS));
}

#[test]
fn rtt_samples_of_centuries_are_smoothed_without_overflow() {
    // One-way latency 2^61 ns (~73 years): samples of 2^62 ns, and
    // 7·SRTT no longer fits in 64 bits. RTOs that never fire first.
    let cfg = TcpConfig {
        rto_initial: SimDuration::MAX,
        rto_max: SimDuration::MAX,
        // Exact nanoseconds: no rounding to the tick.
        hz: None,
        ..base()
    };
    let l = 1u64 << 61;
    let mut n = Net::established(cfg, cfg, dur(l));
    // SRTT 2^62, RTTVAR 2^61: RTO = 2^62 + 4·2^61.
    assert_eq!(n.tcb(Client).rto(), dur(3 << 62));
    n.send(Client, 1).unwrap();
    n.run_for(dur(2 * l));
    assert_eq!(n.tcb(Client).unacked(), 0);
    // Second sample 2^62: SRTT 2^62, RTTVAR (3·2^61 + 0)/4 = 3·2^59.
    assert_eq!(n.tcb(Client).rto(), dur((1 << 62) + (3 << 61)));
}

// ---- connect(): SYN retries, ECONNREFUSED ------------------------------------

#[test]
fn syn_retransmissions_then_etimedout_at_127s() {
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(300 * SEC));
    assert_eq!(
        n.sent_times(Client, is_syn),
        times(0, &[0, 1000, 3000, 7000, 15_000, 31_000, 63_000])
    );
    assert_eq!(
        n.states(Client),
        vec![(at(127 * SEC), TcpState::SynSent, TcpState::Closed)]
    );
    assert_eq!(n.errors(Client), vec![(at(127 * SEC), Errno::Etimedout)]);
    let notes = n.notes(Client);
    let backoff: Vec<_> = notes
        .iter()
        .filter_map(|(_, x)| match x {
            TcpNote::Retransmit { attempt, next_rto } => Some((*attempt, *next_rto)),
            _ => None,
        })
        .collect();
    assert_eq!(
        backoff,
        (1..=6u32)
            .map(|k| (k, dur((1u64 << k) * SEC)))
            .collect::<Vec<_>>()
    );
    assert!(notes.contains(&(
        at(127 * SEC),
        TcpNote::GaveUp {
            retries: 6,
            limit: 6,
            rule: "tcp_syn_retries"
        }
    )));
    assert!(n.rsts_sent(Client).is_empty());
    assert_eq!(n.tcb(Client).pending_error(), Some(Errno::Etimedout));
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Etimedout));
    assert_eq!(n.recv(Client), RecvResult::Eof);
}

#[test]
fn syn_retries_sysctl_is_honoured() {
    let cfg = TcpConfig {
        syn_retries: 2,
        ..base()
    };
    let mut n = Net::new(cfg, base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(100 * SEC));
    assert_eq!(n.sent_times(Client, is_syn), times(0, &[0, 1000, 3000]));
    assert_eq!(n.errors(Client), vec![(at(7 * SEC), Errno::Etimedout)]);
}

#[test]
fn syn_linear_timeouts_keep_the_first_rtos_and_add_retries() {
    // ip-sysctl.rst (6.5+), tcp_syn_linear_timeouts = 4: "SYN RTOs to be:
    // 1, 1, 1, 1, 1, 2, 4, ... (4 linear timeouts, and the first
    // exponential backoff using 2^0 * initial_RTO)"; with tcp_syn_retries
    // 6 the "final timeout for an active TCP connection attempt will
    // happen after 131 seconds".
    let cfg = TcpConfig {
        syn_linear_timeouts: 4,
        ..base()
    };
    let mut n = Net::new(cfg, cfg, dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(300 * SEC));
    assert_eq!(
        n.sent_times(Client, is_syn),
        times(
            0,
            &[0, 1000, 2000, 3000, 4000, 5000, 7000, 11_000, 19_000, 35_000, 67_000]
        )
    );
    assert_eq!(n.errors(Client), vec![(at(131 * SEC), Errno::Etimedout)]);
    assert!(n.notes(Client).contains(&(
        at(131 * SEC),
        TcpNote::GaveUp {
            retries: 10,
            limit: 10,
            rule: "tcp_syn_retries"
        }
    )));
}

#[test]
fn syn_linear_timeouts_leave_the_syn_ack_exponential() {
    // Only SYN_SENT is linear (tcp_retransmit_timer() checks the state)
    // and only SYN_SENT gets the extra retries (tcp_write_timeout()): a
    // SYN-ACK is retransmitted at 1, 3, 7, 15 and 31 s and the request
    // given up at 63 s, as without the sysctl.
    // The client sends one SYN retransmission (at 1 s), which the server
    // answers at once.
    let client = TcpConfig {
        syn_retries: 1,
        ..base()
    };
    let server = TcpConfig {
        syn_linear_timeouts: 4,
        ..base()
    };
    let mut n = Net::new(client, server, dur(10 * MS));
    n.drop_to[Client.idx()] = true;
    n.connect();
    n.run_until(at(300 * SEC));
    let synacks = n.sent_times(Server, |s| s.flags.syn && s.flags.ack);
    assert_eq!(
        synacks,
        times(10 * MS, &[0, 1000, 1000, 3000, 7000, 15_000, 31_000])
    );
}

#[test]
fn user_timeout_clamps_the_syn_timer() {
    // 6.x runs the TCP_USER_TIMEOUT check in SYN_SENT too, from the first
    // SYN retransmission (1 s): ETIMEDOUT at 6 s.
    let cfg = TcpConfig {
        user_timeout: Some(dur(5 * SEC)),
        ..base()
    };
    let mut n = Net::new(cfg, base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(100 * SEC));
    assert_eq!(n.sent_times(Client, is_syn), times(0, &[0, 1000, 3000]));
    assert_eq!(n.errors(Client), vec![(at(6 * SEC), Errno::Etimedout)]);
}

#[test]
fn rst_answering_the_syn_gives_econnrefused() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.listening = false;
    n.connect();
    n.run_until(at(300 * SEC));
    // The server host's RST: no ACK in the SYN, so seq 0, ack = SYN + 1.
    let host: Vec<_> = n.wire.iter().filter(|w| w.by_host).collect();
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].at, at(l));
    assert_eq!(host[0].from, Server);
    assert!(host[0].seg.flags.rst && host[0].seg.flags.ack);
    assert_eq!((host[0].seg.seq, host[0].seg.ack), (0, 1));

    assert_eq!(
        n.states(Client),
        vec![(at(2 * l), TcpState::SynSent, TcpState::Closed)]
    );
    assert_eq!(n.errors(Client), vec![(at(2 * l), Errno::Econnrefused)]);
    // The SYN timer died with the socket: one SYN only.
    assert_eq!(n.sent_times(Client, is_syn), vec![at(0)]);
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Econnrefused));
    assert_eq!(n.recv(Client), RecvResult::Eof);
}

#[test]
fn synack_retransmissions_then_server_gives_up_at_63s() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.connect();
    // The client is unreachable after its first SYN.
    n.drop_to[Client.idx()] = true;
    n.run_until(at(500 * MS));
    n.tcbs[0] = None; // the client host gave up on it: no more SYNs
    n.run_until(at(200 * SEC));
    assert_eq!(
        n.sent_times(Server, is_syn),
        times(l, &[0, 1000, 3000, 7000, 15_000, 31_000])
    );
    assert_eq!(
        n.states(Server),
        vec![(at(l + 63 * SEC), TcpState::SynRecv, TcpState::Closed)]
    );
    assert!(n.notes(Server).contains(&(
        at(l + 63 * SEC),
        TcpNote::GaveUp {
            retries: 5,
            limit: 5,
            rule: "tcp_synack_retries"
        }
    )));
}

#[test]
fn lost_synack_is_recovered_by_the_syn_retransmission() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.drop_next[Client.idx()] = 1; // the SYN-ACK
    n.connect();
    n.run_until(at(10 * SEC));
    assert_eq!(n.sent_times(Client, is_syn), vec![at(0), at(SEC)]);
    // Server: SYN-ACK at L, its own RTO retransmission at L+1 s and the
    // answer to the retransmitted SYN at the same instant.
    assert_eq!(
        n.sent_times(Server, is_syn),
        vec![at(l), at(l + SEC), at(l + SEC)]
    );
    assert_eq!(
        n.states(Client),
        vec![(at(SEC + 2 * l), TcpState::SynSent, TcpState::Established)]
    );
    assert_eq!(
        n.states(Server),
        vec![(at(SEC + 3 * l), TcpState::SynRecv, TcpState::Established)]
    );
    // The duplicate SYN-ACK reaching the established client is re-ACKed.
    let acks = n.sent_times(Client, |s| s.kind() == "ACK");
    assert_eq!(acks, vec![at(SEC + 2 * l), at(SEC + 2 * l)]);
}

#[test]
fn lost_handshake_ack_is_recovered_by_the_synack_retransmission() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.connect();
    n.run_until(at(l)); // SYN delivered, SYN-ACK in flight
    n.drop_next[Server.idx()] = 1; // the client's ACK
    n.run_until(at(10 * SEC));
    assert_eq!(
        n.states(Client),
        vec![(at(2 * l), TcpState::SynSent, TcpState::Established)]
    );
    // SYN-ACK retransmitted at L + 1 s, re-ACKed by the client at 2L + 1 s.
    assert_eq!(n.sent_times(Server, is_syn), vec![at(l), at(l + SEC)]);
    assert_eq!(
        n.sent_times(Client, |s| s.kind() == "ACK"),
        vec![at(2 * l), at(2 * l + SEC)]
    );
    assert_eq!(
        n.states(Server),
        vec![(at(3 * l + SEC), TcpState::SynRecv, TcpState::Established)]
    );
}

#[test]
fn data_completes_the_handshake_when_the_ack_was_lost() {
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.connect();
    n.run_until(at(l));
    n.drop_next[Server.idx()] = 1; // the pure ACK
    n.run_until(at(2 * l));
    assert_eq!(n.state(Client), TcpState::Established);
    n.send(Client, 9).unwrap();
    n.run_until(at(3 * l));
    assert_eq!(
        n.states(Server),
        vec![(at(3 * l), TcpState::SynRecv, TcpState::Established)]
    );
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(9)));
}

fn syn_ack_flags() -> Flags {
    Flags {
        syn: true,
        ack: true,
        ..Flags::default()
    }
}

fn ack_flags() -> Flags {
    Flags {
        ack: true,
        ..Flags::default()
    }
}

#[test]
fn syn_sent_completes_only_on_a_synack_acknowledging_exactly_the_syn() {
    // tcp_rcv_synsent_state_process(), RFC 9293 3.10.7.3: connect()
    // completes on SYN and ACK together, with SEG.ACK = SND.NXT (= 1).
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true; // the SYN is lost: we play the server
    n.connect();
    let syn_only = Flags {
        syn: true,
        ..Flags::default()
    };

    // A SYN without ACK (a simultaneous open, not modelled): dropped.
    n.run_until(at(100 * MS));
    let seg = n.craft(Server, syn_only, 0, 0);
    n.inject(Client, seg);
    // An acceptable ACK without SYN: "neither of the SYN or RST bits is
    // set", dropped.
    n.run_until(at(200 * MS));
    let seg = n.craft(Server, ack_flags(), 0, 1);
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::SynSent);
    assert_eq!(
        n.sent(Client).len(),
        1,
        "only the SYN: {:?}",
        n.sent(Client)
    );

    // A SYN-ACK acknowledging more than we sent (SEG.ACK > SND.NXT):
    // answered with <SEQ=SEG.ACK><CTL=RST> (tcp_v4_send_reset(), no ACK
    // bit), dropped, and the SYN timer re-armed at TCP_TIMEOUT_MIN
    // (2 ticks = 8 ms) since no SYN was retransmitted yet.
    n.run_until(at(300 * MS));
    let seg = n.craft(Server, syn_ack_flags(), 0, 2);
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::SynSent);
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].0, at(300 * MS));
    assert_eq!((rsts[0].1.seq, rsts[0].1.flags.ack), (2, false));
    // A SYN-ACK acknowledging nothing (SEG.ACK =< ISS): the same RST, with
    // its own sequence number; the SYN has been retransmitted, so no
    // early re-arm this time.
    n.run_until(at(400 * MS));
    let seg = n.craft(Server, syn_ack_flags(), 0, 0);
    n.inject(Client, seg);
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 2);
    assert_eq!((rsts[1].1.seq, rsts[1].1.flags.ack), (0, false));
    assert_eq!(n.sent_times(Client, is_syn), times(0, &[0, 308]));
    assert!(n.notices(Client).is_empty());
    assert_eq!(n.state(Client), TcpState::SynSent);

    // The right SYN-ACK completes it.
    n.run_until(at(500 * MS));
    let seg = n.craft(Server, syn_ack_flags(), 0, 1);
    n.inject(Client, seg);
    assert_eq!(n.notices(Client), vec![(at(500 * MS), Notice::Connected)]);
    assert_eq!(n.state(Client), TcpState::Established);
    let last = n.sent(Client).last().copied().expect("sent");
    assert_eq!((last.1.kind(), last.1.seq, last.1.ack), ("ACK", 1, 1));
}

#[test]
fn syn_recv_completes_only_on_an_ack_of_exactly_the_synack() {
    // tcp_check_req(): an ACK whose number is not our ISN + 1 does not
    // complete the passive open; the listener answers it with an RST
    // (tcp_v4_send_reset(): <SEQ=SEG.ACK><CTL=RST>, RFC 9293 3.10.7.4).
    let l = 10 * MS;
    let mut n = Net::new(base(), base(), dur(l));
    n.drop_to[Client.idx()] = true; // the SYN-ACK is lost: we play the client
    n.connect();
    n.run_until(at(l));
    assert_eq!(n.state(Server), TcpState::SynRecv);
    let synack_only = n.sent(Server).len();

    n.run_until(at(100 * MS));
    for (i, ackn) in [2, 0].into_iter().enumerate() {
        let seg = n.craft(Client, ack_flags(), 1, ackn);
        n.inject(Server, seg);
        assert_eq!(n.state(Server), TcpState::SynRecv);
        let rsts = n.rsts_sent(Server);
        assert_eq!(rsts.len(), i + 1);
        assert_eq!((rsts[i].1.seq, rsts[i].1.flags.ack), (ackn, false));
    }
    // Without ACK: dropped, unanswered.
    let seg = n.craft(Client, Flags::default(), 1, 0);
    n.inject(Server, seg);
    assert_eq!(n.sent(Server).len(), synack_only + 2);
    assert!(n.notices(Server).is_empty());

    let seg = n.craft(Client, ack_flags(), 1, 1);
    n.inject(Server, seg);
    assert_eq!(n.state(Server), TcpState::Established);
    assert_eq!(n.notices(Server), vec![(at(100 * MS), Notice::Connected)]);
}

// ---- established data ----------------------------------------------------------

#[test]
fn data_exchange_and_acknowledgements() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    let t0 = SEC;
    n.run_until(at(t0));
    assert_eq!(n.send(Client, 11), Ok(()));
    assert_eq!(n.tcb(Client).unacked(), 1);
    n.run_until(at(t0 + l));
    assert_eq!(n.tcb(Server).unread(), 1);
    assert!(n.notices(Server).contains(&(at(t0 + l), Notice::Readable)));
    n.run_until(at(t0 + 2 * l));
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(11)));
    assert_eq!(n.recv(Server), RecvResult::WouldBlock);

    assert_eq!(n.send(Server, 22), Ok(()));
    n.run_until(at(t0 + 4 * l));
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(22)));
    assert_eq!(n.tcb(Server).unacked(), 0);

    // Segments: client data seq 1 at t0, server ACK 2 at t0+L.
    let c_data: Vec<_> = n
        .sent(Client)
        .into_iter()
        .filter(|(_, s)| is_data(s))
        .collect();
    assert_eq!(c_data.len(), 1);
    assert_eq!(c_data[0].0, at(t0));
    assert_eq!((c_data[0].1.seq, c_data[0].1.ack), (1, 1));
    assert!(c_data[0].1.flags.ack);
    let s_acks: Vec<_> = n
        .sent(Server)
        .into_iter()
        .filter(|(_, s)| s.kind() == "ACK")
        .collect();
    assert_eq!(s_acks.len(), 1);
    assert_eq!(s_acks[0].0, at(t0 + l));
    assert_eq!((s_acks[0].1.seq, s_acks[0].1.ack), (1, 2));

    // Nothing is retransmitted later: the RTO timers were cancelled.
    let before = (n.sent(Client).len(), n.sent(Server).len());
    n.run_until(at(2000 * SEC));
    assert_eq!((n.sent(Client).len(), n.sent(Server).len()), before);
    assert_eq!(n.state(Client), TcpState::Established);
    assert_eq!(n.state(Server), TcpState::Established);
}

#[test]
fn an_ack_of_the_first_segment_leaves_the_next_whole() {
    // Two messages in flight, the second lost: the ACK of the first takes
    // it off the queue and leaves the second as it was, so the RTO
    // retransmission carries its data (tcp_clean_rtx_queue() frees only
    // what the ACK covers; only a collapsed data+FIN is trimmed).
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.send(Client, 1).unwrap();
    n.drop_next[Server.idx()] = 1;
    n.send(Client, 2).unwrap();
    n.run_until(at(SEC + 2 * l));
    assert_eq!(n.tcb(Client).unacked(), 1);
    n.run_until(at(5 * SEC));
    let data: Vec<u64> = n
        .sent(Client)
        .into_iter()
        .filter_map(|(_, s)| s.payload.map(|p| p.0))
        .collect();
    assert_eq!(data, vec![1, 2, 2]);
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(1)));
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(2)));
    assert_eq!(n.tcb(Client).unacked(), 0);
}

#[test]
fn a_segment_beyond_a_gap_gets_a_duplicate_ack_at_once() {
    // The first message is lost and the second arrives: tcp_data_queue()
    // answers an out-of-order segment with an immediate duplicate ACK of
    // rcv_nxt. thaw keeps no out-of-order queue: the second message is
    // delivered after both are retransmitted.
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.drop_next[Server.idx()] = 1;
    n.send(Client, 1).unwrap();
    n.send(Client, 2).unwrap();
    n.run_until(at(SEC + l));
    let acks = n.acks_since(Server, at(SEC));
    assert_eq!(acks, vec![(at(SEC + l), 1)]);
    assert_eq!(n.tcb(Server).unread(), 0);
    n.run_until(at(10 * SEC));
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(1)));
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(2)));
    assert_eq!(n.tcb(Client).unacked(), 0);
}

#[test]
fn a_fin_beyond_a_gap_gets_a_duplicate_ack_and_waits() {
    // The last message is lost and the FIN behind it arrives: a duplicate
    // ACK, and the FIN is not taken (the connection stays ESTABLISHED at
    // the server until the retransmission fills the gap).
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.drop_next[Server.idx()] = 1;
    n.send(Client, 1).unwrap();
    n.close(Client);
    n.run_until(at(SEC + l));
    assert_eq!(n.state(Server), TcpState::Established);
    let acks = n.acks_since(Server, at(SEC));
    assert_eq!(acks, vec![(at(SEC + l), 1)]);
    n.run_until(at(10 * SEC));
    assert_eq!(n.state(Server), TcpState::CloseWait);
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(1)));
}

#[test]
fn several_messages_in_flight_are_acked_in_order() {
    // Three messages 1 ms apart, all in flight together: the server ACKs
    // each on arrival (2, 3, 4), and each ACK takes exactly one segment
    // off the client's retransmission queue and restarts the RTO; the
    // last one stops it.
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    for p in 1..=3 {
        n.send(Client, p).unwrap();
        n.run_for(dur(MS));
    }
    assert_eq!(n.tcb(Client).unacked(), 3);
    // (messages queued at the server, segments unacknowledged at the
    // client) 0.5 ms after each millisecond from 1.010 s to 1.023 s: the
    // messages arrive at 1.010, 1.011, 1.012 s, their ACKs 10 ms later.
    let mut seen = Vec::new();
    for k in 0..14 {
        n.run_until(at(SEC + l + k * MS + MS / 2));
        seen.push((n.tcb(Server).unread(), n.tcb(Client).unacked()));
    }
    let mut want = vec![(1, 3), (2, 3)];
    want.extend([(3, 3); 8]);
    want.extend([(3, 2), (3, 1), (3, 0), (3, 0)]);
    assert_eq!(seen, want);
    let acks: Vec<(SimTime, u64)> = n
        .sent(Server)
        .into_iter()
        .filter(|(_, s)| s.kind() == "ACK")
        .map(|(t, s)| (t, s.ack))
        .collect();
    assert_eq!(
        acks,
        vec![
            (at(SEC + l), 2),
            (at(SEC + l + MS), 3),
            (at(SEC + l + 2 * MS), 4)
        ]
    );
    // The RTO restarted at the first two ACKs; nothing was retransmitted.
    let rto_arms: Vec<SimTime> = n
        .log
        .iter()
        .filter(|(t, s, a)| {
            *s == Client
                && *t > at(SEC + 2 * MS)
                && matches!(
                    a,
                    TcpAction::Arm {
                        kind: TimerKind::Retransmit,
                        ..
                    }
                )
        })
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(rto_arms, vec![at(SEC + 2 * l), at(SEC + 2 * l + MS)]);
    n.run_until(at(5 * SEC));
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 1, 2]));
    for p in 1..=3 {
        assert_eq!(n.recv(Server), RecvResult::Data(Payload(p)));
    }
    assert_eq!(n.recv(Server), RecvResult::WouldBlock);
}

#[test]
fn an_ack_of_unsent_data_drops_the_segment_silently_in_established() {
    // tcp_ack(): SEG.ACK > SND.NXT discards the whole segment, its data
    // too; tcp_rcv_established() sends nothing back.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap(); // seq 1, SND.NXT = 2
    let before = n.sent(Client).len();
    let mut seg = n.craft(Server, ack_flags(), 1, 5);
    seg.payload = Some(Payload(9));
    n.inject(Client, seg);
    assert_eq!(n.tcb(Client).unacked(), 1);
    assert_eq!(n.recv(Client), RecvResult::WouldBlock);
    assert_eq!(n.sent(Client).len(), before, "nothing answers it");
    // The same data with an acceptable ACK is taken, and ACKed.
    seg.ack = 2;
    n.inject(Client, seg);
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(9)));
    let last = n.sent(Client).last().copied().expect("sent").1;
    assert_eq!((last.kind(), last.seq, last.ack), ("ACK", 2, 2));
}

#[test]
fn an_ack_of_unsent_data_gets_a_challenge_ack_outside_established() {
    // tcp_rcv_state_process(): in the other states tcp_ack()'s refusal is
    // answered with tcp_send_challenge_ack() (RFC 9293 3.10.7.4: "send an
    // ACK, drop the segment"); a FIN in it is dropped too.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.close(Client); // FIN seq 1, SND.NXT = 2
    assert_eq!(n.state(Client), TcpState::FinWait1);
    let before = n.sent(Client).len();
    let fin = Flags {
        fin: true,
        ack: true,
        ..Flags::default()
    };
    let seg = n.craft(Server, fin, 1, 3);
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::FinWait1);
    let sent = n.sent(Client);
    assert_eq!(sent.len(), before + 1);
    assert_eq!(
        (
            sent[before].1.kind(),
            sent[before].1.seq,
            sent[before].1.ack
        ),
        ("ACK", 2, 1)
    );
    assert_eq!(n.tcb(Client).unacked(), 1);
}

#[test]
fn a_partial_ack_removes_exactly_the_segments_it_covers() {
    // tcp_clean_rtx_queue(): a segment leaves the retransmission queue
    // when the ACK covers all of it; the RTO restarts from the ACK.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.silence();
    for p in 1..=3 {
        n.send(Client, p).unwrap(); // seq 1, 2, 3
    }
    n.run_until(at(SEC + 100 * MS));
    let seg = n.craft(Server, ack_flags(), 1, 2);
    n.inject(Client, seg);
    assert_eq!(n.tcb(Client).unacked(), 2);
    let seg = n.craft(Server, ack_flags(), 1, 3);
    n.inject(Client, seg);
    assert_eq!(n.tcb(Client).unacked(), 1);
    // The RTO restarts at the ACK and resends message 3 alone. The two
    // 100 ms samples make it 38.75 ms + 200 ms, 240 ms in ticks.
    assert_eq!(n.tcb(Client).rto(), dur(240 * MS));
    n.run_until(at(2 * SEC));
    let data: Vec<_> = n
        .sent(Client)
        .into_iter()
        .filter(|(_, s)| is_data(s))
        .map(|(t, s)| (t, s.seq, s.payload))
        .collect();
    assert_eq!(
        data[3..],
        [
            (at(SEC + 340 * MS), 3, Some(Payload(3))),
            (at(SEC + 820 * MS), 3, Some(Payload(3)))
        ]
    );
}

#[test]
fn duplicate_and_old_acks_keep_the_retry_count_and_the_backoff() {
    // tcp_ack(): an ACK at or below SND.UNA acknowledges nothing new, so
    // neither icsk_retransmits nor the backed-off RTO is reset.
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap(); // seq 1: SND.UNA = 1
                                // Retransmissions at +220 and +660 ms; the RTO is now 880 ms.
    n.run_until(at(2 * SEC));
    assert_eq!(n.tcb(Client).rto(), dur(880 * MS));
    for ackn in [1, 0] {
        let seg = n.craft(Server, ack_flags(), 1, ackn);
        n.inject(Client, seg);
    }
    assert_eq!(n.tcb(Client).rto(), dur(880 * MS));
    assert_eq!(n.tcb(Client).unacked(), 1);
    n.run_until(at(3 * SEC));
    let rtx: Vec<_> = n
        .notes(Client)
        .into_iter()
        .filter(|(_, x)| matches!(x, TcpNote::Retransmit { .. }))
        .collect();
    assert_eq!(
        rtx,
        vec![
            (
                at(SEC + 220 * MS),
                TcpNote::Retransmit {
                    attempt: 1,
                    next_rto: dur(440 * MS)
                }
            ),
            (
                at(SEC + 660 * MS),
                TcpNote::Retransmit {
                    attempt: 2,
                    next_rto: dur(880 * MS)
                }
            ),
            (
                at(SEC + 1540 * MS),
                TcpNote::Retransmit {
                    attempt: 3,
                    next_rto: dur(1760 * MS)
                }
            ),
        ]
    );
}

#[test]
fn lost_data_is_retransmitted_after_one_rto() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.drop_next[Server.idx()] = 1;
    n.send(Client, 5).unwrap();
    n.run_until(at(3 * SEC));
    // RTO 220 ms after the handshake sample of 20 ms.
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 220]));
    assert_eq!(n.recv(Server), RecvResult::Data(Payload(5)));
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert!(n.notes(Client).contains(&(
        at(SEC + 220 * MS),
        TcpNote::Retransmit {
            attempt: 1,
            next_rto: dur(440 * MS)
        }
    )));
}

#[test]
fn duplicate_data_is_reacked_and_not_queued_twice() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.drop_next[Client.idx()] = 1; // the server's ACK
    n.send(Client, 5).unwrap();
    n.run_until(at(3 * SEC));
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 220]));
    // Two ACKs from the server: the lost one and the answer to the duplicate.
    assert_eq!(
        n.sent_times(Server, |s| s.kind() == "ACK"),
        times(SEC, &[10, 230])
    );
    assert_eq!(n.tcb(Server).unread(), 1);
    assert_eq!(n.tcb(Client).unacked(), 0);
}

// ---- close(): active, passive, simultaneous --------------------------------------

#[test]
fn active_close_fin_wait1_fin_wait2_time_wait_closed() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    let t0 = SEC;
    let t1 = 5 * SEC;
    n.run_until(at(t0));
    n.close(Client);
    assert!(n.tcb(Client).is_orphan());
    n.run_until(at(t1));
    n.close(Server);
    n.run_until(at(200 * SEC));
    assert_eq!(
        n.states(Client),
        vec![
            (at(2 * l), TcpState::SynSent, TcpState::Established),
            (at(t0), TcpState::Established, TcpState::FinWait1),
            (at(t0 + 2 * l), TcpState::FinWait1, TcpState::FinWait2),
            (at(t1 + l), TcpState::FinWait2, TcpState::TimeWait),
            (at(t1 + l + 60 * SEC), TcpState::TimeWait, TcpState::Closed),
        ]
    );
    let fin = n.sent(Client).into_iter().find(|(_, s)| is_fin(s)).unwrap();
    assert_eq!(fin.0, at(t0));
    assert_eq!(fin.1.kind(), "FIN");
    assert!(fin.1.flags.ack);
    assert_eq!((fin.1.seq, fin.1.ack), (1, 1));
    // One FIN only, no RST; TIME_WAIT's end is noted.
    assert_eq!(n.sent_times(Client, is_fin).len(), 1);
    assert!(n.rsts_sent(Client).is_empty());
    assert!(n
        .notes(Client)
        .contains(&(at(t1 + l + 60 * SEC), TcpNote::TimeWaitDone)));
    // The orphan gets no application notices.
    assert_eq!(n.notices(Client), vec![(at(2 * l), Notice::Connected)]);
}

#[test]
fn passive_close_close_wait_last_ack_closed_without_time_wait() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    let t0 = SEC;
    let t1 = 5 * SEC;
    n.run_until(at(t0));
    n.close(Client);
    n.run_until(at(t1));
    assert_eq!(n.recv(Server), RecvResult::Eof);
    n.close(Server);
    n.run_until(at(200 * SEC));
    assert_eq!(
        n.states(Server),
        vec![
            (at(3 * l), TcpState::SynRecv, TcpState::Established),
            (at(t0 + l), TcpState::Established, TcpState::CloseWait),
            (at(t1), TcpState::CloseWait, TcpState::LastAck),
            (at(t1 + 2 * l), TcpState::LastAck, TcpState::Closed),
        ]
    );
    assert!(n.notices(Server).contains(&(at(t0 + l), Notice::Eof)));
    // ACK of the client's FIN, then our FIN.
    let acks = n.sent(Server);
    assert_eq!(acks[1].0, at(t0 + l));
    assert_eq!((acks[1].1.kind(), acks[1].1.ack), ("ACK", 2));
    assert_eq!(acks[2].0, at(t1));
    assert_eq!(acks[2].1.kind(), "FIN");
    assert!(n.rsts_sent(Server).is_empty());
    // The passive closer never enters TIME_WAIT.
    assert!(!n
        .states(Server)
        .iter()
        .any(|(_, _, to)| *to == TcpState::TimeWait));
}

#[test]
fn close_wait_has_no_timer() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(100_000 * SEC));
    // The client's orphan FIN_WAIT2 is long gone; the server stays.
    assert_eq!(n.state(Client), TcpState::Closed);
    assert_eq!(n.state(Server), TcpState::CloseWait);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    let t0 = SEC;
    n.run_until(at(t0));
    n.close(Client);
    n.close(Server);
    n.run_until(at(200 * SEC));
    for side in [Client, Server] {
        let st: Vec<_> = n.states(side).into_iter().skip(1).collect();
        assert_eq!(
            st,
            vec![
                (at(t0), TcpState::Established, TcpState::FinWait1),
                (at(t0 + l), TcpState::FinWait1, TcpState::Closing),
                (at(t0 + 2 * l), TcpState::Closing, TcpState::TimeWait),
                (
                    at(t0 + 2 * l + 60 * SEC),
                    TcpState::TimeWait,
                    TcpState::Closed
                ),
            ],
            "{side:?}"
        );
        assert!(n.rsts_sent(side).is_empty());
    }
}

#[test]
fn fin_carrying_the_ack_of_our_fin_ends_in_time_wait() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.drop_to = [true, true];
    n.close(Client);
    // The server's FIN+ACK acknowledging our FIN (seq 1) at once.
    let seg = n.craft(
        Server,
        Flags {
            fin: true,
            ack: true,
            ..Flags::default()
        },
        1,
        2,
    );
    n.inject(Client, seg);
    // As in tcp_rcv_state_process(): the ACK moves FIN_WAIT1 to FIN_WAIT2,
    // then tcp_fin() moves FIN_WAIT2 to TIME_WAIT, in the same segment.
    let st = n.states(Client);
    assert_eq!(
        st[st.len() - 2..],
        [
            (at(SEC), TcpState::FinWait1, TcpState::FinWait2),
            (at(SEC), TcpState::FinWait2, TcpState::TimeWait),
        ]
    );
    assert_eq!(n.sent(Client).last().unwrap().1.ack, 2);
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(61 * SEC), TcpState::TimeWait, TcpState::Closed))
    );
}

#[test]
fn time_wait_reacks_a_retransmitted_fin_and_restarts() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(2 * SEC));
    n.close(Server); // FIN at 2 s, RTO 220 ms
    n.drop_next[Server.idx()] = 1; // the client's ACK of it
    n.run_until(at(200 * SEC));
    // The server retransmits its FIN at 2.22 s; it reaches TIME_WAIT at
    // 2.23 s, which re-ACKs and restarts the 60 s.
    assert_eq!(n.sent_times(Server, is_fin), times(2 * SEC, &[0, 220]));
    assert_eq!(
        n.sent_times(Client, |s| s.kind() == "ACK" && s.ack == 2),
        times(2 * SEC, &[10, 230])
    );
    let st = n.states(Client);
    assert_eq!(
        st[st.len() - 2..],
        [
            (at(2 * SEC + l), TcpState::FinWait2, TcpState::TimeWait),
            (
                at(2 * SEC + 230 * MS + 60 * SEC),
                TcpState::TimeWait,
                TcpState::Closed
            ),
        ]
    );
    assert_eq!(
        n.states(Server).last().copied(),
        Some((at(2 * SEC + 240 * MS), TcpState::LastAck, TcpState::Closed))
    );
}

#[test]
fn time_wait_length_is_a_parameter() {
    let cfg = TcpConfig {
        time_wait: dur(30 * SEC),
        ..base()
    };
    let l = 10 * MS;
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(2 * SEC));
    n.close(Server);
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((
            at(2 * SEC + l + 30 * SEC),
            TcpState::TimeWait,
            TcpState::Closed
        ))
    );
}

#[test]
fn lost_ack_of_fin_is_answered_again_from_close_wait() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.drop_next[Client.idx()] = 1; // the server's ACK of our FIN
    n.close(Client);
    n.run_until(at(3 * SEC));
    assert_eq!(n.sent_times(Client, is_fin), times(SEC, &[0, 220]));
    assert_eq!(
        n.sent_times(Server, |s| s.kind() == "ACK"),
        times(SEC, &[10, 230])
    );
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 240 * MS), TcpState::FinWait1, TcpState::FinWait2))
    );
    // The FIN was counted once.
    assert_eq!(n.recv(Server), RecvResult::Eof);
}

#[test]
fn close_table_other_states() {
    // SYN_SENT → CLOSE, no FIN, no RST.
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(500 * MS));
    n.close(Client);
    assert_eq!(
        n.states(Client),
        vec![(at(500 * MS), TcpState::SynSent, TcpState::Closed)]
    );
    n.run_until(at(10 * SEC));
    assert_eq!(n.sent(Client).len(), 1);

    // SYN_RECV → FIN_WAIT1 with a FIN.
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Client.idx()] = true;
    n.connect();
    n.run_until(at(10 * MS));
    assert_eq!(n.state(Server), TcpState::SynRecv);
    n.close(Server);
    assert_eq!(n.state(Server), TcpState::FinWait1);
    let fin = n.sent(Server).into_iter().find(|(_, s)| is_fin(s)).unwrap();
    assert_eq!(fin.1.seq, 1);

    // A second close() is a no-op; close() in TIME_WAIT changes nothing.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.close(Client);
    let len = n.log_len(Client);
    n.close(Client);
    assert_eq!(n.log_len(Client), len);
    n.run_until(at(2 * SEC));
    n.close(Server);
    n.run_until(at(3 * SEC));
    assert_eq!(n.state(Client), TcpState::TimeWait);
    let len = n.log_len(Client);
    n.close(Client);
    assert_eq!(n.log_len(Client), len);
}

#[test]
fn close_with_unread_data_sends_rst_not_fin() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.send(Server, 1).unwrap();
    n.run_until(at(2 * SEC));
    assert_eq!(n.tcb(Client).unread(), 1);
    n.close(Client);
    assert!(n.sent_times(Client, is_fin).is_empty());
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].0, at(2 * SEC));
    assert_eq!((rsts[0].1.seq, rsts[0].1.ack), (1, 2));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(2 * SEC), TcpState::Established, TcpState::Closed))
    );
    assert!(n
        .notes(Client)
        .contains(&(at(2 * SEC), TcpNote::AbortOnClose)));
    n.run_until(at(3 * SEC));
    assert_eq!(n.errors(Server), vec![(at(2 * SEC + l), Errno::Econnreset)]);
    assert_eq!(n.state(Server), TcpState::Closed);
}

// ---- orphans: FIN_WAIT1 retransmissions ------------------------------------------

fn orphan_fin_wait1(cfg: TcpConfig, latency: SimDuration) -> Net {
    let mut n = Net::established(cfg, base(), latency);
    n.run_until(at(SEC));
    n.silence();
    n.close(Client);
    n.run_until(at(1000 * SEC));
    n
}

#[test]
fn orphan_fin_wait1_default_retries_destroyed_at_204_6s_without_rst() {
    // tcp_orphan_retries 0 = 8: tcp_model_timeout(8, 200 ms) = 102.2 s,
    // measured from the first retransmission (0.2 s): the 9th expiry
    // (102.2 s after the FIN) is still inside it and retransmits once
    // more; the 10th (204.6 s) destroys the socket (without the tail loss
    // probe; with it, see tlp_delays_an_orphan_fins_retransmissions).
    let n = orphan_fin_wait1(base(), SimDuration::ZERO);
    assert_eq!(
        n.sent_times(Client, is_fin),
        times(
            SEC,
            &[0, 200, 600, 1400, 3000, 6200, 12_600, 25_400, 51_000, 102_200]
        )
    );
    assert_eq!(
        n.states(Client)[1..],
        [
            (at(SEC), TcpState::Established, TcpState::FinWait1),
            (at(SEC + 204_600 * MS), TcpState::FinWait1, TcpState::Closed),
        ]
    );
    assert!(n.rsts_sent(Client).is_empty());
    assert!(n.errors(Client).is_empty());
    // Every FIN was lost on the way to the silent peer.
    let fins: Vec<_> = n.wire.iter().filter(|w| is_fin(&w.seg)).collect();
    assert_eq!(fins.len(), 10);
    assert!(fins
        .iter()
        .all(|w| w.dropped && w.from == Client && !w.by_host));
    assert!(n.notes(Client).contains(&(
        at(SEC + 204_600 * MS),
        TcpNote::GaveUp {
            retries: 9,
            limit: 8,
            rule: "tcp_orphan_retries"
        }
    )));
}

#[test]
fn orphan_retries_6_destroyed_at_51s() {
    // model_timeout(6, 200 ms) = 25.4 s from the first retransmission
    // (0.2 s): seven retransmissions, death at the 8th expiry, 51 s.
    let cfg = TcpConfig {
        orphan_retries: 6,
        ..base()
    };
    let n = orphan_fin_wait1(cfg, SimDuration::ZERO);
    assert_eq!(
        n.sent_times(Client, is_fin),
        times(SEC, &[0, 200, 600, 1400, 3000, 6200, 12_600, 25_400])
    );
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 51_000 * MS), TcpState::FinWait1, TcpState::Closed))
    );
    assert!(n.rsts_sent(Client).is_empty());
}

#[test]
fn orphan_retries_6_with_rto_220ms_dies_at_first_expiry_past_25_4s() {
    let cfg = TcpConfig {
        orphan_retries: 6,
        ..base()
    };
    let n = orphan_fin_wait1(cfg, dur(10 * MS));
    // RTO 220 ms: expiries at 0.22·(2^k − 1); the 7th (27.94 s) is the
    // first at or past model_timeout(6, 200 ms) = 25.4 s.
    assert_eq!(
        give_up_offset(220 * MS, 120 * SEC, 25_400 * MS),
        27_940 * MS
    );
    assert_eq!(
        n.sent_times(Client, is_fin),
        times(SEC, &[0, 220, 660, 1540, 3300, 6820, 13_860])
    );
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 27_940 * MS), TcpState::FinWait1, TcpState::Closed))
    );
    assert!(n.rsts_sent(Client).is_empty());
}

#[test]
fn orphan_default_retries_with_rto_220ms() {
    let n = orphan_fin_wait1(base(), dur(10 * MS));
    assert_eq!(
        give_up_offset(220 * MS, 120 * SEC, 102_200 * MS),
        112_420 * MS
    );
    assert_eq!(n.sent_times(Client, is_fin).len(), 9);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 112_420 * MS), TcpState::FinWait1, TcpState::Closed))
    );
}

#[test]
fn orphan_retries_zero_means_zero_once_the_rto_reaches_rto_max() {
    // tcp_orphan_retries(): 0 → 8 only while alive (rto < rto_max). With an
    // artificial rto_max of 400 ms the socket is "not alive" at the second
    // expiry, the limit is 0 and model_timeout(0) = 200 ms has passed.
    let cfg = TcpConfig {
        rto_max: dur(400 * MS),
        ..base()
    };
    let n = orphan_fin_wait1(cfg, SimDuration::ZERO);
    assert_eq!(n.sent_times(Client, is_fin), times(SEC, &[0, 200]));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 600 * MS), TcpState::FinWait1, TcpState::Closed))
    );
    assert!(n.notes(Client).contains(&(
        at(SEC + 600 * MS),
        TcpNote::GaveUp {
            retries: 1,
            limit: 0,
            rule: "tcp_orphan_retries"
        }
    )));
}

#[test]
fn orphan_last_ack_uses_orphan_retries() {
    let mut n = Net::default_established(SimDuration::ZERO);
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(2 * SEC));
    assert_eq!(n.state(Server), TcpState::CloseWait);
    n.silence();
    n.close(Server);
    n.run_until(at(1000 * SEC));
    assert_eq!(
        n.states(Server).last().copied(),
        Some((
            at(2 * SEC + 204_600 * MS),
            TcpState::LastAck,
            TcpState::Closed
        ))
    );
    assert!(n.rsts_sent(Server).is_empty());
}

#[test]
fn user_timeout_overrides_orphan_retries() {
    let cfg = TcpConfig {
        user_timeout: Some(dur(SEC)),
        ..base()
    };
    let n = orphan_fin_wait1(cfg, SimDuration::ZERO);
    assert_eq!(n.sent_times(Client, is_fin), times(SEC, &[0, 200, 600]));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(2 * SEC + 200 * MS), TcpState::FinWait1, TcpState::Closed))
    );
    assert!(n.errors(Client).is_empty());
}

// ---- established, peer silent: tcp_retries2 and TCP_USER_TIMEOUT --------------

fn silent_peer_with_data(cfg: TcpConfig, latency: SimDuration) -> Net {
    let mut n = Net::established(cfg, base(), latency);
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    n.run_until(at(2000 * SEC));
    n
}

#[test]
fn retries2_gives_etimedout_1044_6s_after_the_send_without_rst() {
    // tcp_model_timeout(15, 200 ms) = 924.6 s ("a hypothetical timeout of
    // 924.6 seconds", ip-sysctl), counted from the first retransmission:
    // sixteen retransmissions, ETIMEDOUT at the 17th expiry.
    let mut n = silent_peer_with_data(base(), SimDuration::ZERO);
    assert_eq!(
        n.sent_times(Client, is_data),
        times(
            SEC,
            &[
                0, 200, 600, 1400, 3000, 6200, 12_600, 25_400, 51_000, 102_200, 204_600, 324_600,
                444_600, 564_600, 684_600, 804_600, 924_600,
            ]
        )
    );
    let death = at(SEC + 1_044_600 * MS);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((death, TcpState::Established, TcpState::Closed))
    );
    assert_eq!(n.errors(Client), vec![(death, Errno::Etimedout)]);
    assert!(n.notes(Client).contains(&(
        death,
        TcpNote::GaveUp {
            retries: 16,
            limit: 15,
            rule: "tcp_retries2"
        }
    )));
    assert!(n.rsts_sent(Client).is_empty());
    // read() consumes the error once, then EOF; write() then gets EPIPE.
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Etimedout));
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.send(Client, 2), Err(Errno::Epipe));
    assert_eq!(n.send(Client, 3), Err(Errno::Epipe));
}

#[test]
fn retries2_with_rto_220ms_gives_up_at_the_first_expiry_past_924_6s() {
    let n = silent_peer_with_data(base(), dur(10 * MS));
    assert_eq!(
        give_up_offset(220 * MS, 120 * SEC, 924_600 * MS),
        945_060 * MS
    );
    assert_eq!(
        n.sent_times(Client, is_data),
        times(
            SEC,
            &[
                0, 220, 660, 1540, 3300, 6820, 13_860, 27_940, 56_100, 112_420, 225_060, 345_060,
                465_060, 585_060, 705_060, 825_060,
            ]
        )
    );
    assert_eq!(
        n.errors(Client),
        vec![(at(SEC + 945_060 * MS), Errno::Etimedout)]
    );
    assert!(n.rsts_sent(Client).is_empty());
}

#[test]
fn first_write_after_etimedout_returns_the_error_then_epipe() {
    let mut n = silent_peer_with_data(base(), SimDuration::ZERO);
    assert_eq!(n.send(Client, 2), Err(Errno::Etimedout));
    assert_eq!(n.send(Client, 3), Err(Errno::Epipe));
    assert_eq!(n.recv(Client), RecvResult::Eof);
}

#[test]
fn retries2_sysctl_is_honoured() {
    let cfg = TcpConfig {
        retries2: 5,
        ..base()
    };
    let n = silent_peer_with_data(cfg, SimDuration::ZERO);
    // model_timeout(5, 200 ms) = 63·0.2 = 12.6 s from the first
    // retransmission: six retransmissions, ETIMEDOUT at 25.4 s.
    assert_eq!(n.sent_times(Client, is_data).len(), 7);
    assert_eq!(
        n.errors(Client),
        vec![(at(SEC + 25_400 * MS), Errno::Etimedout)]
    );
}

#[test]
fn user_timeout_1s_gives_etimedout_1s_after_the_first_retransmission() {
    // The budget starts at the first retransmission (0.2 s after the send):
    // ETIMEDOUT 1.2 s after the send.
    let cfg = TcpConfig {
        user_timeout: Some(dur(SEC)),
        ..base()
    };
    let n = silent_peer_with_data(cfg, SimDuration::ZERO);
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 200, 600]));
    assert_eq!(
        n.errors(Client),
        vec![(at(2 * SEC + 200 * MS), Errno::Etimedout)]
    );
    assert!(n.notes(Client).contains(&(
        at(2 * SEC + 200 * MS),
        TcpNote::GaveUp {
            retries: 2,
            limit: 15,
            rule: "TCP_USER_TIMEOUT"
        }
    )));
    assert!(n.rsts_sent(Client).is_empty());
}

#[test]
fn user_timeout_clamps_the_rto_to_the_remaining_budget() {
    // RTO 220 ms: retransmissions at 0.22 (the budget starts) and 0.66;
    // the next RTO (880 ms) is clamped to the remaining 560 ms, so the
    // socket dies exactly 1 s after the first retransmission.
    let cfg = TcpConfig {
        user_timeout: Some(dur(SEC)),
        ..base()
    };
    let n = silent_peer_with_data(cfg, dur(10 * MS));
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 220, 660]));
    assert!(n.notes(Client).contains(&(
        at(SEC + 660 * MS),
        TcpNote::Retransmit {
            attempt: 2,
            next_rto: dur(560 * MS)
        }
    )));
    assert_eq!(
        n.errors(Client),
        vec![(at(2 * SEC + 220 * MS), Errno::Etimedout)]
    );
}

#[test]
fn user_timeout_shorter_than_the_rto_fires_after_the_first_retransmission() {
    let cfg = TcpConfig {
        user_timeout: Some(dur(100 * MS)),
        ..base()
    };
    let n = silent_peer_with_data(cfg, SimDuration::ZERO);
    // retransmits_timed_out() is false before the first retransmission,
    // which starts the budget: the timer is clamped to it and fires 100 ms
    // later.
    assert_eq!(n.sent_times(Client, is_data), times(SEC, &[0, 200]));
    assert_eq!(
        n.errors(Client),
        vec![(at(SEC + 300 * MS), Errno::Etimedout)]
    );
}

#[test]
fn ack_after_retransmissions_resets_the_retry_count() {
    // The peer is silent for 3 s, then answers: the retry budget starts over.
    let mut n = Net::default_established(SimDuration::ZERO);
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    n.run_until(at(4 * SEC + 100 * MS));
    n.drop_to = [false, false];
    n.run_until(at(10 * SEC));
    assert_eq!(n.tcb(Client).unacked(), 0);
    assert_eq!(n.state(Client), TcpState::Established);
    // Silent again: a full budget again, 924.6 s from the new first
    // retransmission (0.2 s after the send), so ETIMEDOUT 1044.6 s after it.
    n.silence();
    n.send(Client, 2).unwrap();
    n.run_until(at(2000 * SEC));
    assert_eq!(
        n.errors(Client),
        vec![(at(10 * SEC + 1_044_600 * MS), Errno::Etimedout)]
    );
}

// ---- FIN_WAIT2 orphan timer ---------------------------------------------------------

fn orphan_fin_wait2(cfg: TcpConfig, latency: SimDuration) -> Net {
    let mut n = Net::established(cfg, base(), latency);
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(SEC) + latency + latency);
    assert_eq!(n.state(Client), TcpState::FinWait2);
    n
}

#[test]
fn fin_wait2_orphan_vanishes_silently_after_60s() {
    let l = 10 * MS;
    let mut n = orphan_fin_wait2(base(), dur(l));
    n.run_until(at(200 * SEC));
    let end = at(SEC + 2 * l + 60 * SEC);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((end, TcpState::FinWait2, TcpState::Closed))
    );
    assert!(n.notes(Client).contains(&(end, TcpNote::FinWait2Expired)));
    assert!(n.rsts_sent(Client).is_empty());
    assert_eq!(n.state(Server), TcpState::CloseWait);
    assert!(n.errors(Server).is_empty());
}

#[test]
fn write_after_fin_wait2_expired_gets_rst_from_the_host() {
    let l = 10 * MS;
    let mut n = orphan_fin_wait2(base(), dur(l));
    n.run_until(at(100 * SEC));
    assert_eq!(n.state(Client), TcpState::Closed);
    // CLOSE_WAIT write succeeds; the client host has no socket → RST → EPIPE.
    assert_eq!(n.send(Server, 7), Ok(()));
    n.run_until(at(101 * SEC));
    let host: Vec<_> = n.wire.iter().filter(|w| w.by_host).collect();
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].at, at(100 * SEC + l));
    assert_eq!(
        n.errors(Server),
        vec![(at(100 * SEC + 2 * l), Errno::Epipe)]
    );
    // FIN first, then the RST: read() says EOF, not EPIPE.
    assert_eq!(n.recv(Server), RecvResult::Eof);
    assert_eq!(n.send(Server, 8), Err(Errno::Epipe));
    assert_eq!(n.send(Server, 9), Err(Errno::Epipe));
}

#[test]
fn fin_wait2_longer_than_60s_lasts_twice_the_excess_and_vanishes() {
    // tcp_close(): full socket for tmo − 60 s on the keepalive timer, then
    // tcp_keepalive_timer() hands it to a FIN_WAIT2 minisock for tmo − 60 s
    // again; the minisock expires silently. 90 s → gone after 60 s, no RST.
    let l = 10 * MS;
    let cfg = TcpConfig {
        fin_timeout: dur(90 * SEC),
        ..base()
    };
    let mut n = orphan_fin_wait2(cfg, dur(l));
    n.run_until(at(200 * SEC));
    let end = at(SEC + 2 * l + 60 * SEC);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((end, TcpState::FinWait2, TcpState::Closed))
    );
    assert!(n.rsts_sent(Client).is_empty());
    assert!(n.errors(Server).is_empty());
}

#[test]
fn fin_wait2_lifetime_is_floored_at_3_5_rto() {
    // Latency 400 ms: handshake sample 0.8 s (SRTT 0.8, RTTVAR 0.4); the
    // FIN's ACK gives a second 0.8 s sample: RTTVAR 0.3, RTO 0.8 + 1.2 = 2 s
    // → floor 3.5·2 = 7 s > fin_timeout 1 s.
    let l = 400 * MS;
    let cfg = TcpConfig {
        fin_timeout: dur(SEC),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    assert_eq!(n.tcb(Client).rto(), dur(2400 * MS));
    n.run_until(at(10 * SEC));
    n.close(Client);
    n.run_until(at(10 * SEC + 2 * l));
    assert_eq!(n.state(Client), TcpState::FinWait2);
    assert_eq!(n.tcb(Client).rto(), dur(2 * SEC));
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((
            at(10 * SEC + 2 * l + 7 * SEC),
            TcpState::FinWait2,
            TcpState::Closed
        ))
    );
    assert!(n.rsts_sent(Client).is_empty());
}

#[test]
fn peer_fin_in_fin_wait2_cancels_the_orphan_timer() {
    let l = 10 * MS;
    let mut n = orphan_fin_wait2(base(), dur(l));
    n.run_until(at(50 * SEC));
    n.close(Server);
    n.run_until(at(300 * SEC));
    let st = n.states(Client);
    assert_eq!(
        st[st.len() - 2..],
        [
            (at(50 * SEC + l), TcpState::FinWait2, TcpState::TimeWait),
            (at(110 * SEC + l), TcpState::TimeWait, TcpState::Closed),
        ]
    );
    assert!(!n
        .notes(Client)
        .iter()
        .any(|(_, x)| *x == TcpNote::FinWait2Expired));
}

// ---- data to an orphan that shut down receiving ------------------------------------

#[test]
fn data_to_orphaned_fin_wait2_is_answered_with_rst() {
    let l = 10 * MS;
    let mut n = orphan_fin_wait2(base(), dur(l));
    n.run_until(at(5 * SEC));
    assert_eq!(n.send(Server, 3), Ok(()));
    n.run_until(at(6 * SEC));
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].0, at(5 * SEC + l));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(5 * SEC + l), TcpState::FinWait2, TcpState::Closed))
    );
    assert!(n
        .notes(Client)
        .contains(&(at(5 * SEC + l), TcpNote::DataAfterClose)));
    assert_eq!(n.errors(Server), vec![(at(5 * SEC + 2 * l), Errno::Epipe)]);
    assert_eq!(n.recv(Server), RecvResult::Eof);
}

#[test]
fn data_to_orphaned_fin_wait1_is_answered_with_rst() {
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    // Crossing: our FIN and the peer's data leave at the same instant.
    n.close(Client);
    n.send(Server, 3).unwrap();
    n.run_until(at(2 * SEC));
    assert_eq!(
        n.states(Client)[1..],
        [
            (at(SEC), TcpState::Established, TcpState::FinWait1),
            (at(SEC + l), TcpState::FinWait1, TcpState::Closed),
        ]
    );
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].0, at(SEC + l));
    // Server: FIN then RST → CLOSE_WAIT, EPIPE; read() still says EOF.
    assert_eq!(n.errors(Server), vec![(at(SEC + 2 * l), Errno::Epipe)]);
    assert_eq!(n.recv(Server), RecvResult::Eof);
}

#[test]
fn data_to_an_orphan_is_answered_with_an_rst_built_from_the_segment() {
    // tcp_rcv_state_process() returns 1 after tcp_reset(), and
    // tcp_v4_do_rcv() answers with tcp_v4_send_reset(): the RST takes the
    // segment's ACK number as its sequence number and has no ACK bit.
    let l = 10 * MS;
    // FIN_WAIT1: the peer's data crosses our FIN, so it acknowledges 1.
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.close(Client);
    n.send(Server, 3).unwrap();
    n.run_until(at(2 * SEC));
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    let r = rsts[0].1;
    assert_eq!(
        (r.seq, r.flags.ack, r.flags.syn, r.flags.fin),
        (1, false, false, false)
    );
    // FIN_WAIT2: the peer has acknowledged our FIN, so 2.
    let mut n = orphan_fin_wait2(base(), dur(l));
    n.run_until(at(5 * SEC));
    n.send(Server, 3).unwrap();
    n.run_until(at(6 * SEC));
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!((rsts[0].1.seq, rsts[0].1.flags.ack), (2, false));
}

#[test]
fn a_sockets_own_rst_carries_the_ack_bit() {
    // tcp_send_active_reset(): TCPHDR_ACK | TCPHDR_RST, sequence
    // tcp_acceptable_seq() = SND.NXT, acknowledging RCV.NXT. It is the RST
    // of close() with unread data, of an abortive close and of keepalive's
    // give-up.
    let l = 10 * MS;
    let check = |n: &Net, seq: u64, ack: u64| {
        let rsts = n.rsts_sent(Client);
        assert_eq!(rsts.len(), 1);
        let r = rsts[0].1;
        assert!(r.flags.rst && r.flags.ack && !r.flags.syn && !r.flags.fin);
        assert_eq!((r.seq, r.ack), (seq, ack));
    };
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.send(Server, 1).unwrap();
    n.run_until(at(2 * SEC));
    n.close(Client); // unread data
    check(&n, 1, 2);

    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.call(Client, |t, _, out| t.abort(out));
    check(&n, 1, 1);

    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 1)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.silence();
    n.run_until(at(100 * SEC));
    assert!(n
        .notes(Client)
        .iter()
        .any(|(_, x)| *x == TcpNote::KeepaliveGaveUp));
    check(&n, 1, 1);
}

#[test]
fn a_fin_carrying_data_is_sequenced_after_the_data() {
    // The FIN of a data+FIN segment has the sequence number after the
    // payload (SEG.SEQ + 1 here, one unit per message).
    let l = 10 * MS;
    let data_fin = Flags {
        fin: true,
        ack: true,
        ..Flags::default()
    };
    // Both new: the data is queued, the FIN accepted, one ACK of both.
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    let before = n.sent(Client).len();
    let mut seg = n.craft(Server, data_fin, 1, 1);
    seg.payload = Some(Payload(7));
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::CloseWait);
    let sent = n.sent(Client);
    assert_eq!(sent.len(), before + 1);
    assert_eq!((sent[before].1.kind(), sent[before].1.ack), ("ACK", 3));
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(7)));
    assert_eq!(n.recv(Client), RecvResult::Eof);

    // The data already received (our ACK was lost), the FIN new: a
    // retransmission that collapsed the FIN into the data.
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    let mut seg = n.craft(Server, ack_flags(), 1, 1);
    seg.payload = Some(Payload(7));
    n.inject(Client, seg);
    seg.flags = data_fin;
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::CloseWait);
    let acks: Vec<u64> = n.sent(Client)[2..].iter().map(|(_, s)| s.ack).collect();
    assert_eq!(acks, vec![2, 3]);
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(7)));
    assert_eq!(n.recv(Client), RecvResult::Eof);

    // A data+FIN beyond RCV.NXT (a gap before it) is not taken: thaw keeps
    // no out-of-order queue.
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    let mut seg = n.craft(Server, data_fin, 2, 1);
    seg.payload = Some(Payload(7));
    n.inject(Client, seg);
    assert_eq!(n.state(Client), TcpState::Established);
    assert_eq!(n.recv(Client), RecvResult::WouldBlock);
}

#[test]
fn data_to_a_non_orphan_is_queued_normally() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.send(Server, 3).unwrap();
    n.run_until(at(2 * SEC));
    assert!(n.rsts_sent(Client).is_empty());
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(3)));
}

// ---- RST reception ----------------------------------------------------------------

fn rst_flags() -> Flags {
    Flags {
        rst: true,
        ..Flags::default()
    }
}

#[test]
fn rst_in_established_gives_econnreset() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    let rst = n.craft(Server, rst_flags(), 1, 0);
    n.inject(Client, rst);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC), TcpState::Established, TcpState::Closed))
    );
    assert_eq!(n.errors(Client), vec![(at(SEC), Errno::Econnreset)]);
    assert!(n.notes(Client).contains(&(at(SEC), TcpNote::ResetReceived)));
    assert!(
        n.sent(Client).iter().all(|(t, _)| *t < at(SEC)),
        "no reply to an RST"
    );
    assert_eq!(n.tcb(Client).pending_error(), Some(Errno::Econnreset));
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Econnreset));
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.send(Client, 1), Err(Errno::Epipe));
}

#[test]
fn write_after_rst_returns_econnreset_once_then_epipe() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    let rst = n.craft(Server, rst_flags(), 1, 0);
    n.inject(Client, rst);
    assert_eq!(n.send(Client, 1), Err(Errno::Econnreset));
    assert_eq!(n.send(Client, 2), Err(Errno::Epipe));
    assert_eq!(n.recv(Client), RecvResult::Eof);
}

#[test]
fn rst_drops_unacknowledged_data_and_timers() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.drop_to[Server.idx()] = true;
    n.send(Client, 1).unwrap();
    let rst = n.craft(Server, rst_flags(), 1, 0);
    n.inject(Client, rst);
    assert_eq!(n.tcb(Client).unacked(), 0);
    n.run_until(at(100 * SEC));
    assert_eq!(n.sent_times(Client, is_data), vec![at(SEC)]);
}

#[test]
fn rst_in_close_wait_gives_epipe_and_read_says_eof() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.close(Server);
    n.run_until(at(2 * SEC));
    assert_eq!(n.state(Client), TcpState::CloseWait);
    let rst = n.craft(Server, rst_flags(), 2, 0);
    n.inject(Client, rst);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(2 * SEC), TcpState::CloseWait, TcpState::Closed))
    );
    assert_eq!(n.errors(Client), vec![(at(2 * SEC), Errno::Epipe)]);
    assert_eq!(n.tcb(Client).pending_error(), Some(Errno::Epipe));
    // SOCK_DONE is checked before sk_err: EOF, twice, error still pending.
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.tcb(Client).pending_error(), Some(Errno::Epipe));
    assert_eq!(n.send(Client, 1), Err(Errno::Epipe));
    assert_eq!(n.tcb(Client).pending_error(), None);
    assert_eq!(n.send(Client, 1), Err(Errno::Epipe));
}

#[test]
fn rst_in_syn_sent_gives_econnrefused() {
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(500 * MS));
    let rst = n.craft(
        Server,
        Flags {
            rst: true,
            ack: true,
            ..Flags::default()
        },
        0,
        1,
    );
    n.inject(Client, rst);
    assert_eq!(
        n.states(Client),
        vec![(at(500 * MS), TcpState::SynSent, TcpState::Closed)]
    );
    assert_eq!(n.errors(Client), vec![(at(500 * MS), Errno::Econnrefused)]);
    n.run_until(at(10 * SEC));
    assert_eq!(n.sent(Client).len(), 1);
}

#[test]
fn rst_in_syn_sent_counts_only_with_an_acceptable_ack() {
    // tcp_rcv_synsent_state_process(): an RST without ACK is dropped
    // ("discard_and_undo"), one whose ACK is not SND.NXT too (never
    // answered: tcp_v4_send_reset() ignores an RST); RFC 9293 3.10.7.3.
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(500 * MS));
    let rst_ack = Flags {
        rst: true,
        ack: true,
        ..Flags::default()
    };
    for (flags, ackn) in [
        (rst_flags(), 0),
        (rst_flags(), 1),
        (rst_ack, 2),
        (rst_ack, 0),
    ] {
        let rst = n.craft(Server, flags, 0, ackn);
        n.inject(Client, rst);
        assert_eq!(n.state(Client), TcpState::SynSent, "{rst}");
    }
    assert_eq!(n.sent(Client).len(), 1, "nothing answers them");
    assert!(n.errors(Client).is_empty());
    // The SYN is still retransmitted at 1 s.
    n.run_until(at(1500 * MS));
    assert_eq!(n.sent_times(Client, is_syn), times(0, &[0, 1000]));
}

#[test]
fn rst_in_time_wait_closes_silently() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(2 * SEC));
    n.close(Server);
    n.run_until(at(3 * SEC));
    assert_eq!(n.state(Client), TcpState::TimeWait);
    let sent = n.sent(Client).len();
    let rst = n.craft(Server, rst_flags(), 2, 0);
    n.inject(Client, rst);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(3 * SEC), TcpState::TimeWait, TcpState::Closed))
    );
    assert!(n.errors(Client).is_empty());
    assert_eq!(n.sent(Client).len(), sent);
    // The TIME_WAIT timer is void: no TimeWaitDone later.
    n.run_until(at(200 * SEC));
    assert!(!n
        .notes(Client)
        .iter()
        .any(|(_, x)| *x == TcpNote::TimeWaitDone));
}

#[test]
fn rst_in_other_states_gives_econnreset() {
    // SYN_RECV.
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Client.idx()] = true;
    n.connect();
    n.run_until(at(10 * MS));
    let rst = n.craft(Client, rst_flags(), 1, 0);
    n.inject(Server, rst);
    assert_eq!(n.state(Server), TcpState::Closed);
    assert_eq!(n.errors(Server), vec![(at(10 * MS), Errno::Econnreset)]);

    // Orphaned FIN_WAIT1 and LAST_ACK: closed, nobody to tell.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.close(Client);
    let rst = n.craft(Server, rst_flags(), 1, 0);
    n.inject(Client, rst);
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC), TcpState::FinWait1, TcpState::Closed))
    );
    assert!(n.errors(Client).is_empty());
    assert!(n.notes(Client).contains(&(at(SEC), TcpNote::ResetReceived)));
}

#[test]
fn segments_to_a_closed_socket_are_ignored() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    let rst = n.craft(Server, rst_flags(), 1, 0);
    n.inject(Client, rst);
    let len = n.log_len(Client);
    let data = Segment {
        payload: Some(Payload(1)),
        ..n.craft(
            Server,
            Flags {
                ack: true,
                ..Flags::default()
            },
            1,
            1,
        )
    };
    n.inject(Client, data);
    n.inject(Client, rst);
    assert_eq!(n.log_len(Client), len);
}

// ---- recv()/send() semantics --------------------------------------------------------

#[test]
fn write_in_close_wait_succeeds_and_peer_answers_with_rst() {
    // Reference 1.7 scenario: the server closed an idle connection; the
    // client writes a query, reads the reply, writes again.
    let l = 10 * MS;
    let mut n = Net::default_established(dur(l));
    n.run_until(at(SEC));
    n.close(Server);
    n.run_until(at(2 * SEC));
    assert_eq!(n.state(Client), TcpState::CloseWait);
    assert!(n.notices(Client).contains(&(at(SEC + l), Notice::Eof)));
    assert_eq!(n.send(Client, 1), Ok(()));
    n.run_until(at(3 * SEC));
    // The server's orphan FIN_WAIT2 resets.
    assert_eq!(n.rsts_sent(Server).len(), 1);
    assert_eq!(n.errors(Client), vec![(at(2 * SEC + 2 * l), Errno::Epipe)]);
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.send(Client, 2), Err(Errno::Epipe));
}

#[test]
fn queued_data_is_read_before_eof() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.send(Server, 1).unwrap();
    n.send(Server, 2).unwrap();
    n.close(Server);
    n.run_until(at(2 * SEC));
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(1)));
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(2)));
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.recv(Client), RecvResult::Eof);
}

#[test]
fn send_after_close_is_epipe() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.close(Client);
    assert_eq!(n.send(Client, 1), Err(Errno::Epipe));
}

// ---- Segment::reset_reply -----------------------------------------------------------

#[test]
fn reset_reply_to_a_segment_with_ack() {
    let a = Addr { host: 1, port: 10 };
    let b = Addr { host: 2, port: 20 };
    let seg = Segment {
        src: a,
        dst: b,
        flags: Flags {
            ack: true,
            ..Flags::default()
        },
        seq: 77,
        ack: 123,
        payload: Some(Payload(4)),
    };
    let r = seg.reset_reply().expect("reply");
    assert_eq!(r.src, b);
    assert_eq!(r.dst, a);
    assert_eq!(
        r.flags,
        Flags {
            rst: true,
            ..Flags::default()
        }
    );
    assert_eq!((r.seq, r.ack), (123, 0));
    assert_eq!(r.payload, None);
    assert_eq!(r.kind(), "RST");
}

#[test]
fn reset_reply_to_a_segment_without_ack() {
    let a = Addr { host: 1, port: 10 };
    let b = Addr { host: 2, port: 20 };
    let syn = Segment {
        src: a,
        dst: b,
        flags: Flags {
            syn: true,
            ..Flags::default()
        },
        seq: 1000,
        ack: 0,
        payload: None,
    };
    let r = syn.reset_reply().expect("reply");
    assert_eq!((r.src, r.dst), (b, a));
    assert_eq!(
        r.flags,
        Flags {
            rst: true,
            ack: true,
            ..Flags::default()
        }
    );
    assert_eq!((r.seq, r.ack), (0, 1001));
    // Data + FIN without ACK: the ACK covers both units.
    let df = Segment {
        flags: Flags {
            fin: true,
            ..Flags::default()
        },
        payload: Some(Payload(1)),
        ..syn
    };
    assert_eq!(df.len(), 2);
    assert_eq!(df.reset_reply().unwrap().ack, 1002);
}

#[test]
fn no_reply_to_an_rst() {
    let a = Addr { host: 1, port: 10 };
    let b = Addr { host: 2, port: 20 };
    for ack in [false, true] {
        let rst = Segment {
            src: a,
            dst: b,
            flags: Flags {
                rst: true,
                ack,
                ..Flags::default()
            },
            seq: 5,
            ack: 6,
            payload: None,
        };
        assert_eq!(rst.reset_reply(), None);
    }
}

#[test]
fn hosts_never_answer_an_rst_with_an_rst() {
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.tcbs[1] = None; // server host lost its socket
    let rst = n.craft(
        Client,
        Flags {
            rst: true,
            ..Flags::default()
        },
        1,
        0,
    );
    n.transmit(Client, rst, false);
    n.run_until(at(2 * SEC));
    assert!(n.wire.iter().all(|w| !w.by_host));
}

#[test]
fn segment_len_and_kind() {
    let a = Addr { host: 1, port: 1 };
    let s = Segment {
        src: a,
        dst: a,
        flags: Flags::default(),
        seq: 0,
        ack: 0,
        payload: None,
    };
    assert!(s.is_empty());
    assert_eq!(s.kind(), "ACK");
    let syn = Segment {
        flags: Flags {
            syn: true,
            ..Flags::default()
        },
        ..s
    };
    assert_eq!((syn.len(), syn.kind()), (1, "SYN"));
    let synack = Segment {
        flags: Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        },
        ..s
    };
    assert_eq!(synack.kind(), "SYN-ACK");
    let data = Segment {
        payload: Some(Payload(1)),
        ..s
    };
    assert_eq!((data.len(), data.kind()), (1, "data"));
    let fin = Segment {
        flags: Flags {
            fin: true,
            ack: true,
            ..Flags::default()
        },
        seq: 3,
        ack: 4,
        ..s
    };
    assert_eq!((fin.len(), fin.kind()), (1, "FIN"));
    assert_eq!(fin.to_string(), "FIN seq=3 ack=4");
}

// ---- keepalive ----------------------------------------------------------------------

#[test]
fn keepalive_defaults_probe_9_times_then_reset_at_7875s() {
    let l = 10 * MS;
    let cfg = TcpConfig {
        keepalive: Some(Keepalive::default()),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(SEC));
    n.silence();
    n.run_until(at(10_000 * SEC));
    // Idle clock starts at the last received segment (SYN-ACK at 2L).
    let last_rcv = 2 * l;
    let probes: Vec<_> = n
        .sent(Client)
        .into_iter()
        .filter(|(_, s)| s.kind() == "ACK" && !s.flags.rst && s.seq == 0)
        .collect();
    let expected: Vec<SimTime> = (0..9)
        .map(|k| at(last_rcv + 7200 * SEC + k * 75 * SEC))
        .collect();
    assert_eq!(probes.iter().map(|(t, _)| *t).collect::<Vec<_>>(), expected);
    // A probe: ACK with seq = snd_una − 1, our current ack.
    assert_eq!((probes[0].1.seq, probes[0].1.ack), (0, 1));
    assert!(probes[0].1.flags.ack && probes[0].1.payload.is_none());
    let death = at(last_rcv + 7875 * SEC);
    let rsts = n.rsts_sent(Client);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].0, death);
    assert_eq!((rsts[0].1.seq, rsts[0].1.ack), (1, 1));
    assert_eq!(
        n.states(Client).last().copied(),
        Some((death, TcpState::Established, TcpState::Closed))
    );
    assert_eq!(n.errors(Client), vec![(death, Errno::Etimedout)]);
    let notes = n.notes(Client);
    let ns: Vec<u32> = notes
        .iter()
        .filter_map(|(_, x)| match x {
            TcpNote::KeepaliveProbe { n } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(ns, (1..=9).collect::<Vec<_>>());
    assert!(notes.contains(&(death, TcpNote::KeepaliveGaveUp)));
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Etimedout));
}

#[test]
fn keepalive_probe_answered_by_the_peer_resets_the_count() {
    let l = 10 * MS;
    let cfg = TcpConfig {
        keepalive: Some(Keepalive::default()),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(30_000 * SEC));
    // Each probe is ACKed 2L later; the next probe comes 7200 s after that.
    let first = 2 * l + 7200 * SEC;
    let probes = n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0);
    assert_eq!(
        probes,
        vec![
            at(first),
            at(first + 2 * l + 7200 * SEC),
            at(first + 2 * (2 * l + 7200 * SEC)),
            at(first + 3 * (2 * l + 7200 * SEC)),
        ]
    );
    // The server answers each probe with a duplicate ACK.
    let answers = n.sent_times(Server, |s| s.kind() == "ACK" && s.ack == 1);
    assert_eq!(
        answers,
        probes.iter().map(|p| *p + dur(l)).collect::<Vec<_>>()
    );
    assert!(n.notes(Client).iter().all(|(_, x)| match x {
        TcpNote::KeepaliveProbe { n } => *n == 1,
        _ => true,
    }));
    assert!(n.rsts_sent(Client).is_empty());
    assert_eq!(n.state(Client), TcpState::Established);
}

#[test]
fn keepalive_peer_thawed_before_the_last_probe_keeps_the_connection() {
    let l = 10 * MS;
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 3)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(SEC));
    n.silence();
    n.run_until(at(17 * SEC));
    n.drop_to = [false, false];
    n.run_until(at(100 * SEC));
    let probes = n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0);
    // Probes 1, 2 lost; probe 3 at 20.02 s answered at 20.04 s; next idle
    // period ends at 30.04 s.
    assert_eq!(
        &probes[..4],
        &times(2 * l, &[10_000, 15_000, 20_000, 30_020])
    );
    assert!(n.rsts_sent(Client).is_empty());
    assert_eq!(n.state(Client), TcpState::Established);
}

#[test]
fn keepalive_count_is_honoured() {
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 3)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), SimDuration::ZERO);
    n.silence();
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0),
        times(0, &[10_000, 15_000, 20_000])
    );
    assert_eq!(n.errors(Client), vec![(at(25 * SEC), Errno::Etimedout)]);
    assert_eq!(n.rsts_sent(Client).len(), 1);
}

#[test]
fn keepalive_sends_no_probes_while_data_is_outstanding() {
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 1, 3)),
        ..base()
    };
    let n = silent_peer_with_data(cfg, SimDuration::ZERO);
    assert!(!n
        .notes(Client)
        .iter()
        .any(|(_, x)| matches!(x, TcpNote::KeepaliveProbe { .. } | TcpNote::KeepaliveGaveUp)));
    // Only data (and no RST): the retransmission timer decides.
    assert!(n.sent(Client).iter().skip(2).all(|(_, s)| is_data(s)));
    assert_eq!(
        n.errors(Client),
        vec![(at(SEC + 1_044_600 * MS), Errno::Etimedout)]
    );
}

#[test]
fn keepalive_with_user_timeout_gives_up_on_elapsed_time() {
    // TCP_USER_TIMEOUT overrides the probe count: dead once elapsed ≥ 22 s
    // and at least one probe is out.
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 9)),
        user_timeout: Some(dur(22 * SEC)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), SimDuration::ZERO);
    n.silence();
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0),
        times(0, &[10_000, 15_000, 20_000])
    );
    assert_eq!(n.errors(Client), vec![(at(25 * SEC), Errno::Etimedout)]);
    assert_eq!(n.rsts_sent(Client).len(), 1);
}

#[test]
fn keepalive_user_timeout_below_the_idle_time_waits_for_one_probe() {
    // tcp_keepalive_timer(): TCP_USER_TIMEOUT kills the connection only
    // when `icsk_probes_out > 0`, so a 3 s user timeout with a 10 s idle
    // time still sends one probe at 10 s and gives up at the next expiry
    // (15 s), not at the first one.
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 9)),
        user_timeout: Some(dur(3 * SEC)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), SimDuration::ZERO);
    n.silence();
    n.run_until(at(100 * SEC));
    assert_eq!(
        n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0),
        times(0, &[10_000])
    );
    assert!(n
        .notes(Client)
        .contains(&(at(10 * SEC), TcpNote::KeepaliveProbe { n: 1 })));
    assert_eq!(n.errors(Client), vec![(at(15 * SEC), Errno::Etimedout)]);
    assert_eq!(n.rsts_sent(Client).len(), 1);
}

#[test]
fn keepalive_probe_answered_with_rst_gives_econnreset() {
    let l = 10 * MS;
    let cfg = TcpConfig {
        keepalive: Some(keepalive(100, 10, 5)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(SEC));
    n.tcbs[1] = None; // the server host rebooted
    n.run_until(at(1000 * SEC));
    let probe_at = 2 * l + 100 * SEC;
    let host: Vec<_> = n.wire.iter().filter(|w| w.by_host).collect();
    assert_eq!(host.len(), 1);
    // RST to an ACK: seq = the probe's ack, no ACK flag.
    assert_eq!(host[0].seg.seq, 1);
    assert!(!host[0].seg.flags.ack);
    assert_eq!(
        n.errors(Client),
        vec![(at(probe_at + 2 * l), Errno::Econnreset)]
    );
}

#[test]
fn keepalive_counts_idle_time_from_the_last_received_segment() {
    let l = 10 * MS;
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 3)),
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(l));
    n.run_until(at(7 * SEC));
    n.send(Server, 1).unwrap(); // received at 7.01 s
    n.run_until(at(8 * SEC));
    n.silence();
    n.run_until(at(100 * SEC));
    let probes = n.sent_times(Client, |s| s.kind() == "ACK" && s.seq == 0);
    assert_eq!(probes[0], at(7 * SEC + l + 10 * SEC));
}

#[test]
fn keepalive_off_by_default() {
    let mut n = Net::default_established(dur(10 * MS));
    n.silence();
    n.run_until(at(100_000 * SEC));
    assert_eq!(n.sent(Client).len(), 2);
    assert_eq!(n.state(Client), TcpState::Established);
}

// ---- timer generations ----------------------------------------------------------

#[test]
fn stale_timer_generations_are_ignored() {
    let a = Addr { host: 1, port: 1 };
    let b = Addr { host: 2, port: 2 };
    let mut out = Vec::new();
    let mut t = Tcb::connect(at(0), base(), a, b, &mut out);
    let gen = out
        .iter()
        .find_map(|x| match x {
            TcpAction::Arm {
                kind: TimerKind::Retransmit,
                gen,
                ..
            } => Some(*gen),
            _ => None,
        })
        .expect("armed");
    let mut o = Vec::new();
    t.on_timer(at(SEC), TimerKind::Retransmit, gen + 1, &mut o);
    assert!(o.is_empty());
    t.on_timer(at(SEC), TimerKind::Keepalive, 0, &mut o);
    t.on_timer(at(SEC), TimerKind::Linger, 0, &mut o);
    assert!(o.is_empty());
    // The current generation fires: SYN retransmitted, re-armed as gen+1.
    t.on_timer(at(SEC), TimerKind::Retransmit, gen, &mut o);
    assert!(o
        .iter()
        .any(|x| matches!(x, TcpAction::Send(s) if s.flags.syn)));
    assert!(o.contains(&TcpAction::Arm {
        kind: TimerKind::Retransmit,
        at: at(3 * SEC),
        gen: gen + 1
    }));
    // The old generation is now stale.
    let mut o2 = Vec::new();
    t.on_timer(at(3 * SEC), TimerKind::Retransmit, gen, &mut o2);
    assert!(o2.is_empty());
}

/// The generation of the last `Arm` of `kind` in `out`.
fn last_gen(out: &[TcpAction], kind: TimerKind) -> Option<u32> {
    out.iter().rev().find_map(|x| match x {
        TcpAction::Arm { kind: k, gen, .. } if *k == kind => Some(*gen),
        _ => None,
    })
}

#[test]
fn each_timer_kind_has_its_own_generation() {
    // Linux has one timer per purpose (icsk_retransmit_timer,
    // sk_timer for keepalive); re-arming one never voids the other, and a
    // generation of one kind means nothing to the other.
    let a = Addr { host: 1, port: 1 };
    let b = Addr { host: 2, port: 2 };
    let cfg = TcpConfig {
        keepalive: Some(keepalive(10, 5, 3)),
        ..base()
    };
    let mut out = Vec::new();
    let mut t = Tcb::restored(at(0), cfg, a, b, 0, &mut out);
    t.send(at(0), Payload(1), &mut out).unwrap();
    let mut ka = last_gen(&out, TimerKind::Keepalive).expect("keepalive armed");
    let r0 = last_gen(&out, TimerKind::Retransmit).expect("RTO armed");
    // The RTO fires and re-arms itself: the keepalive timer stays armed.
    let mut o = Vec::new();
    t.on_timer(at(SEC), TimerKind::Retransmit, r0, &mut o);
    assert!(o
        .iter()
        .any(|x| matches!(x, TcpAction::Send(s) if is_data(s))));
    let rto = last_gen(&o, TimerKind::Retransmit).expect("RTO re-armed");
    assert_ne!(rto, ka, "the test needs distinct generations");
    // The current RTO generation presented as a keepalive timer, and the
    // keepalive's as an RTO: both void.
    for (kind, gen) in [(TimerKind::Keepalive, rto), (TimerKind::Retransmit, ka)] {
        let mut o = Vec::new();
        t.on_timer(at(2 * SEC), kind, gen, &mut o);
        assert!(o.is_empty(), "{kind:?} {gen}: {o:?}");
    }
    // The keepalive timer armed before the RTO ran still fires (data is
    // outstanding, so it only re-arms itself after the idle time).
    let mut o = Vec::new();
    t.on_timer(at(10 * SEC), TimerKind::Keepalive, ka, &mut o);
    assert_eq!(
        o,
        vec![TcpAction::Arm {
            kind: TimerKind::Keepalive,
            at: at(20 * SEC),
            gen: ka + 1
        }]
    );
    ka += 1;
    // And the RTO armed before that keepalive re-arm fires too (late, at
    // the same instant).
    let mut o = Vec::new();
    t.on_timer(at(10 * SEC), TimerKind::Retransmit, rto, &mut o);
    assert!(o
        .iter()
        .any(|x| matches!(x, TcpAction::Send(s) if is_data(s))));
    assert!(t.timer_current(TimerKind::Keepalive, ka));
}

#[test]
fn timers_of_a_closed_socket_do_nothing() {
    let a = Addr { host: 1, port: 1 };
    let b = Addr { host: 2, port: 2 };
    let mut out = Vec::new();
    let mut t = Tcb::connect(at(0), base(), a, b, &mut out);
    let gen = out
        .iter()
        .find_map(|x| match x {
            TcpAction::Arm { gen, .. } => Some(*gen),
            _ => None,
        })
        .unwrap();
    let mut o = Vec::new();
    t.close(at(0), &mut o);
    assert_eq!(t.state(), TcpState::Closed);
    let mut o2 = Vec::new();
    for g in [gen, gen + 1, gen + 2] {
        t.on_timer(at(SEC), TimerKind::Retransmit, g, &mut o2);
    }
    assert!(o2.is_empty());
}

#[test]
fn ack_of_all_data_cancels_the_retransmission_timer() {
    // The harness keeps the stale timer and fires it: the socket ignores it.
    let mut n = Net::default_established(dur(10 * MS));
    n.run_until(at(SEC));
    n.send(Client, 1).unwrap();
    n.run_until(at(5 * SEC));
    assert_eq!(n.sent_times(Client, is_data), vec![at(SEC)]);
    assert!(!n
        .notes(Client)
        .iter()
        .any(|(_, x)| matches!(x, TcpNote::Retransmit { .. })));
}

// ---- names ------------------------------------------------------------------------

#[test]
fn state_names_and_synchronized_states() {
    let all = [
        (TcpState::SynSent, "SYN_SENT", false),
        (TcpState::SynRecv, "SYN_RECV", false),
        (TcpState::Established, "ESTABLISHED", true),
        (TcpState::FinWait1, "FIN_WAIT1", true),
        (TcpState::FinWait2, "FIN_WAIT2", true),
        (TcpState::CloseWait, "CLOSE_WAIT", true),
        (TcpState::Closing, "CLOSING", true),
        (TcpState::LastAck, "LAST_ACK", true),
        (TcpState::TimeWait, "TIME_WAIT", false),
        (TcpState::Closed, "CLOSED", false),
    ];
    for (s, name, sync) in all {
        assert_eq!(s.name(), name);
        assert_eq!(s.to_string(), name);
        assert_eq!(s.is_synchronized(), sync, "{name}");
    }
    assert_eq!(Errno::Econnreset.to_string(), "ECONNRESET");
    assert_eq!(Errno::Epipe.name(), "EPIPE");
    assert_eq!(Errno::Etimedout.name(), "ETIMEDOUT");
    assert_eq!(Errno::Econnrefused.name(), "ECONNREFUSED");
}

#[test]
fn defaults_are_linux_defaults() {
    let c = base();
    assert_eq!(c.rto_min, dur(200 * MS));
    assert_eq!(c.rto_max, dur(120 * SEC));
    assert_eq!(c.rto_initial, dur(SEC));
    assert_eq!(c.retries2, 15);
    assert_eq!(c.orphan_retries, 0);
    assert_eq!(c.syn_retries, 6);
    // Kernels before 6.5 (6.5 and later default to 4).
    assert_eq!(c.syn_linear_timeouts, 0);
    assert_eq!(c.synack_retries, 5);
    assert_eq!(c.fin_timeout, dur(60 * SEC));
    assert_eq!(c.time_wait, dur(60 * SEC));
    assert_eq!(c.keepalive, None);
    assert_eq!(c.user_timeout, None);
    let k = Keepalive::default();
    assert_eq!(
        (k.idle, k.interval, k.count),
        (dur(7200 * SEC), dur(75 * SEC), 9)
    );
}

#[test]
fn handshake_without_rtt_sample_falls_back_to_3s_rto() {
    // The SYN is retransmitted at 1 s; the SYN-ACK that finally arrives
    // gives no valid sample (Karn), so the RTO becomes TCP_TIMEOUT_FALLBACK.
    let c = Addr {
        host: 1,
        port: 40000,
    };
    let s = Addr {
        host: 0,
        port: 6379,
    };
    let mut out = Vec::new();
    let mut t = Tcb::connect(at(0), base(), c, s, &mut out);
    let gen = out
        .iter()
        .find_map(|a| match a {
            TcpAction::Arm {
                kind: TimerKind::Retransmit,
                gen,
                ..
            } => Some(*gen),
            _ => None,
        })
        .unwrap();
    out.clear();
    t.on_timer(at(SEC), TimerKind::Retransmit, gen, &mut out);
    let syn = out
        .iter()
        .find_map(|a| match a {
            TcpAction::Send(seg) => Some(*seg),
            _ => None,
        })
        .unwrap();
    assert!(syn.flags.syn);
    let mut sout = Vec::new();
    let srv = Tcb::accept_syn(at(SEC + 100 * MS), base(), &syn, &mut sout);
    let synack = sout
        .iter()
        .find_map(|a| match a {
            TcpAction::Send(seg) => Some(*seg),
            _ => None,
        })
        .unwrap();
    out.clear();
    t.on_segment(at(SEC + 200 * MS), &synack, &mut out);
    assert_eq!(t.state(), TcpState::Established);
    assert_eq!(t.rto(), crate::tcp::RTO_FALLBACK);
    assert_eq!(srv.state(), TcpState::SynRecv);
}

// ---- RTO in jiffies ---------------------------------------------------------------

#[test]
fn rto_is_rounded_up_to_the_tick() {
    // __tcp_set_rto(): usecs_to_jiffies(srtt + max(rttvar, rto_min)). With
    // a 50 µs link (RTT 100 µs) that is 200.1 ms, 51 ticks at HZ = 250:
    // 204 ms, as `ss -i` shows (`rto:204`) on Linux 6.18; each backoff
    // doubles the rounded value (408, 816 ms).
    let n = Net::established(base(), base(), dur(50 * US));
    assert_eq!(n.tcb(Client).rto(), dur(204 * MS));
    let exact = TcpConfig { hz: None, ..base() };
    let n = Net::established(exact, exact, dur(50 * US));
    assert_eq!(n.tcb(Client).rto(), dur(200 * MS + 100 * US));
    assert_eq!(jiffies_up(dur(200 * MS), Some(250)), dur(200 * MS));
    assert_eq!(jiffies_up(dur(200 * MS + 1), Some(250)), dur(204 * MS));
    assert_eq!(jiffies_up(dur(1), Some(1000)), dur(MS));
}

// ---- Tail loss probe ----------------------------------------------------------------

/// (time, note) of the loss probes a side sent.
fn probes(n: &Net, side: Side) -> Vec<SimTime> {
    n.notes(side)
        .into_iter()
        .filter(|(_, x)| matches!(x, TcpNote::LossProbe { .. }))
        .map(|(t, _)| t)
        .collect()
}

#[test]
fn tlp_probes_once_before_the_first_rto_and_the_give_up_clock_waits_for_it() {
    // 50 µs links (RTT 100 µs), TCP_USER_TIMEOUT 3 s, a request silently
    // dropped. tcp_schedule_loss_probe(): PTO = 2·SRTT (one tick) + rto_min
    // (one segment in flight) = 204 ms, no later than the RTO (204 ms).
    // tcp_send_loss_probe() resends the request and re-arms the RTO: the
    // first RTO retransmission, 408 ms after the send, starts the
    // TCP_USER_TIMEOUT clock, so ETIMEDOUT comes 3.408 s after the send.
    // Measured on Linux 6.18 (veth, `ss -i`): probe at +0.20 s with backoff
    // 0, backoff 1 at +0.41 s, ETIMEDOUT at +3.42 s.
    let cfg = TcpConfig {
        user_timeout: Some(dur(3 * SEC)),
        ..TcpConfig::default()
    };
    let n = silent_peer_with_data(cfg, dur(50 * US));
    assert_eq!(probes(&n, Client), vec![at(SEC + 204 * MS)]);
    // Request, probe, RTO retransmissions; the last RTO (1.632 s) fits in
    // the budget, the next is clamped to the 144 ms left.
    assert_eq!(
        n.sent_times(Client, is_data),
        times(SEC, &[0, 204, 408, 816, 1632, 3264])
    );
    assert_eq!(
        n.errors(Client),
        vec![(at(SEC + 3_408 * MS), Errno::Etimedout)]
    );
}

#[test]
fn tlp_delays_an_orphan_fins_retransmissions() {
    // The server's idle close, its FIN to a frozen client, orphan retries
    // 2: probe at +0.204 s, RTO retransmissions at +0.408, +0.816, +1.632 s
    // (the clock starts at the first), death at +3.264 s. Measured on Linux
    // 6.18: the same three retransmissions after a probe, the socket gone
    // ~3.26 s after the FIN (docs/calibration.md).
    let cfg = TcpConfig {
        orphan_retries: 2,
        ..TcpConfig::default()
    };
    let n = orphan_fin_wait1(cfg, dur(50 * US));
    assert_eq!(probes(&n, Client), vec![at(SEC + 204 * MS)]);
    assert_eq!(
        n.sent_times(Client, is_fin),
        times(SEC, &[0, 204, 408, 816, 1632])
    );
    assert_eq!(
        n.states(Client).last().copied(),
        Some((at(SEC + 3_264 * MS), TcpState::FinWait1, TcpState::Closed))
    );
}

#[test]
fn an_answered_probe_ends_the_loss_and_a_new_send_may_probe_again() {
    let mut n = Net::established(TcpConfig::default(), TcpConfig::default(), dur(50 * US));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    // The peer answers again before the probe: the probe's copy is ACKed.
    n.run_until(at(SEC + 100 * MS));
    n.drop_to = [false, false];
    n.run_until(at(2 * SEC));
    assert_eq!(probes(&n, Client), vec![at(SEC + 204 * MS)]);
    assert_eq!(n.tcb(Client).unacked(), 0);
    n.silence();
    n.send(Client, 2).unwrap();
    n.run_until(at(3 * SEC));
    assert_eq!(
        probes(&n, Client),
        vec![at(SEC + 204 * MS), at(2 * SEC + 204 * MS)]
    );
}

#[test]
fn no_probe_without_tlp_and_none_in_a_handshake() {
    let n = silent_peer_with_data(base(), dur(50 * US));
    assert!(probes(&n, Client).is_empty());
    let mut n = Net::new(TcpConfig::default(), TcpConfig::default(), dur(10 * MS));
    n.drop_to[Server.idx()] = true;
    n.connect();
    n.run_until(at(300 * SEC));
    assert!(probes(&n, Client).is_empty());
}

// ---- Retransmission collapse (tcp_retrans_try_collapse) ---------------------------

/// The server writes a last message and closes (PostgreSQL's FATAL and
/// exit) towards a silent client, at 1 s, with 50 µs links.
fn message_then_close_to_silent_peer(cfg: TcpConfig) -> Net {
    let mut n = Net::established(TcpConfig::default(), cfg, dur(50 * US));
    n.run_until(at(SEC));
    n.silence();
    n.send(Server, 7).unwrap();
    n.close(Server);
    n
}

#[test]
fn rto_retransmission_carries_the_fin_queued_behind_the_data() {
    // tcp_retrans_try_collapse() (net.ipv4.tcp_retrans_collapse = 1): the
    // first RTO retransmission merges the FIN-only segment into the data
    // before it (tcp_collapse_retrans() copies the FIN flag); the loss
    // probe before it resends the last segment alone, the FIN. Measured on
    // Linux 6.18 through conntrack: the flow goes FIN_WAIT (the FIN),
    // LAST_ACK (the probe's FIN), and stays LAST_ACK on every
    // retransmission, which therefore carries a FIN (docs/calibration.md,
    // pg-drop-idle-session-nat-forgotten).
    let cfg = TcpConfig {
        orphan_retries: 2,
        ..TcpConfig::default()
    };
    let mut n = message_then_close_to_silent_peer(cfg);
    n.run_until(at(10 * SEC));
    let sent: Vec<_> = n
        .sent(Server)
        .into_iter()
        .filter(|(t, _)| *t >= at(SEC))
        .map(|(t, s)| (t, s.kind(), s.seq))
        .collect();
    // With two segments in flight the probe comes 2·SRTT + 2 ticks
    // (TCP_TIMEOUT_MIN) after the FIN: 4 + 8 = 12 ms.
    assert_eq!(
        sent,
        vec![
            (at(SEC), "data", 1),
            (at(SEC), "FIN", 2),
            (at(SEC + 12 * MS), "FIN", 2),
            (at(SEC + 216 * MS), "data+FIN", 1),
            (at(SEC + 624 * MS), "data+FIN", 1),
            (at(SEC + 1_440 * MS), "data+FIN", 1),
        ]
    );
    assert_eq!(n.state(Server), TcpState::Closed);
}

#[test]
fn without_retrans_collapse_the_rto_resends_the_data_alone() {
    let cfg = TcpConfig {
        orphan_retries: 2,
        retrans_collapse: false,
        ..TcpConfig::default()
    };
    let mut n = message_then_close_to_silent_peer(cfg);
    n.run_until(at(10 * SEC));
    let kinds: Vec<_> = n
        .sent(Server)
        .into_iter()
        .filter(|(t, _)| *t > at(SEC + 12 * MS))
        .map(|(_, s)| s.kind())
        .collect();
    assert_eq!(kinds, vec!["data", "data", "data"]);
}

#[test]
fn a_collapsed_data_fin_is_delivered_whole_and_acknowledged_once() {
    // The client wakes after the first collapsed retransmission: it reads
    // the message, then EOF, and answers with one ACK covering both; the
    // server's orphan moves to FIN_WAIT2.
    let mut n = message_then_close_to_silent_peer(TcpConfig::default());
    n.run_until(at(SEC + 300 * MS));
    n.drop_to = [false, false];
    let acks_before = n.sent_times(Client, |s| s.kind() == "ACK").len();
    n.run_until(at(SEC + 700 * MS));
    assert_eq!(n.recv(Client), RecvResult::Data(Payload(7)));
    assert_eq!(n.recv(Client), RecvResult::Eof);
    assert_eq!(n.state(Client), TcpState::CloseWait);
    let acks: Vec<_> = n
        .sent(Client)
        .into_iter()
        .filter(|(_, s)| s.kind() == "ACK")
        .skip(acks_before)
        .map(|(t, s)| (t, s.ack))
        .collect();
    assert_eq!(acks, vec![(at(SEC + 624 * MS + 50 * US), 3)]);
    assert_eq!(n.state(Server), TcpState::FinWait2);
}

#[test]
fn a_partial_ack_of_a_collapsed_segment_leaves_the_fin_alone() {
    // tcp_trim_head(): the peer acknowledges the data but not the FIN; the
    // next retransmission is the FIN alone, at its own sequence number.
    let mut n = message_then_close_to_silent_peer(TcpConfig::default());
    n.run_until(at(SEC + 300 * MS));
    let ack = n.craft(
        Client,
        Flags {
            ack: true,
            ..Flags::default()
        },
        1,
        2,
    );
    n.inject(Server, ack);
    n.run_until(at(SEC + 2 * SEC));
    let after: Vec<_> = n
        .sent(Server)
        .into_iter()
        .filter(|(t, _)| *t > at(SEC + 300 * MS))
        .map(|(_, s)| (s.kind(), s.seq))
        .collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|k| *k == ("FIN", 2)), "{after:?}");
}

// ---- SO_LINGER zero: abortive close ----------------------------------------------

#[test]
fn zero_linger_close_sends_rst_and_leaves_no_orphan() {
    // tcp_close() with SOCK_LINGER and sk_lingertime 0 → tcp_disconnect():
    // RST from ESTABLISHED (tcp_need_reset()), CLOSED at once, no FIN, no
    // retransmission. MariaDB 10.11 closes wait_timeout connections this
    // way (measured: TcpExtTCPAbortOnData, docs/calibration.md).
    let mut n = Net::default_established(dur(MS));
    n.run_until(at(SEC));
    n.call(Server, |t, _, out| t.abort(out));
    assert_eq!(n.state(Server), TcpState::Closed);
    assert!(n.tcb(Server).is_orphan());
    let sent: Vec<_> = n
        .sent(Server)
        .into_iter()
        .filter(|(t, _)| *t >= at(SEC))
        .map(|(t, s)| (t, s.kind()))
        .collect();
    assert_eq!(sent, vec![(at(SEC), "RST")]);
    assert!(n.notes(Server).contains(&(at(SEC), TcpNote::AbortOnLinger)));
    n.run_until(at(100 * SEC));
    // The client's running kernel takes the RST: ECONNRESET, pending for
    // its next call.
    assert_eq!(n.errors(Client), vec![(at(SEC + MS), Errno::Econnreset)]);
    assert_eq!(n.send(Client, 1), Err(Errno::Econnreset));
    // Nothing more from the server: no FIN, no retransmission.
    assert_eq!(n.sent(Server).last().map(|(t, _)| *t), Some(at(SEC)));
}

#[test]
fn zero_linger_close_to_a_frozen_peer_leaves_nothing_to_meet_but_the_host() {
    // The RST is lost; the thawed client's request finds no socket and the
    // host answers RST: ECONNRESET at once.
    let mut n = Net::default_established(dur(MS));
    n.run_until(at(SEC));
    n.silence();
    n.call(Server, |t, _, out| t.abort(out));
    n.run_until(at(5 * SEC));
    n.drop_to = [false, false];
    n.tcbs[1] = None;
    n.send(Client, 1).unwrap();
    n.run_until(at(6 * SEC));
    assert_eq!(
        n.errors(Client),
        vec![(at(5 * SEC + 2 * MS), Errno::Econnreset)]
    );
}

#[test]
fn zero_linger_close_in_close_wait_resets_and_in_syn_sent_does_not() {
    // tcp_need_reset(): CLOSE_WAIT sends RST; SYN_SENT goes to CLOSED
    // without one.
    let mut n = Net::default_established(dur(MS));
    n.run_until(at(SEC));
    n.close(Client);
    n.run_until(at(2 * SEC));
    assert_eq!(n.state(Server), TcpState::CloseWait);
    n.call(Server, |t, _, out| t.abort(out));
    assert_eq!(n.state(Server), TcpState::Closed);
    assert_eq!(n.rsts_sent(Server).len(), 1);
    let mut n = Net::new(base(), base(), dur(MS));
    n.drop_to = [true, true];
    n.connect();
    n.call(Client, |t, _, out| t.abort(out));
    assert_eq!(n.state(Client), TcpState::Closed);
    assert!(n.rsts_sent(Client).is_empty());
}

// ---- Timer wheel (kernel/time/timer.c) ----------------------------------------------

#[test]
fn wheel_rounds_up_to_the_granule_of_the_level() {
    // HZ 250 (4 ms ticks). 51 ticks (a 204 ms RTO): level 0, fires one
    // tick after the expiry (calc_index() rounds strictly up): 208 ms.
    assert_eq!(wheel_expiry(at(0), at(204 * MS), 250), at(208 * MS));
    // 250 ticks (a 1 s keepalive): level 1, granule 8 ticks: 256 → 1.024 s;
    // armed 1 ms into jiffy 0 the expiry is still jiffy 250.
    assert_eq!(wheel_expiry(at(0), at(SEC), 250), at(1_024 * MS));
    assert_eq!(wheel_expiry(at(MS), at(SEC + MS), 250), at(1_024 * MS));
    // 625 ticks (2.5 s): level 2, granule 64 ticks: 640 → 2.56 s.
    assert_eq!(wheel_expiry(at(0), at(2_500 * MS), 250), at(2_560 * MS));
    // The absolute phase matters: 1 s armed at 100 ms expires at jiffy
    // 275, rounded to 280: 1.12 s.
    assert_eq!(
        wheel_expiry(at(100 * MS), at(1_100 * MS), 250),
        at(1_120 * MS)
    );
    // Beyond the wheel (HZ 250: 63·8^8 ticks, ~49 days) the expiry is
    // capped; the end of time stays the end of time.
    let far = wheel_expiry(at(0), at(u64::MAX - 1), 250);
    assert!(far < at(50 * 86_400 * SEC), "{far:?}");
    assert_eq!(wheel_expiry(at(0), SimTime::MAX, 250), SimTime::MAX);
}

#[test]
fn wheel_never_fires_early_and_at_most_one_granule_late() {
    // A deterministic sweep of arm times and timeouts (xorshift).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let now = at(x % (1_000 * SEC));
        let d = (x >> 20) % (100 * SEC);
        for hz in [100, 250, 300, 1000] {
            let tick = 1_000_000_000 / hz as u64;
            let due = now + dur(d);
            let fired = wheel_expiry(now, due, hz);
            assert!(fired >= due, "early: {now:?} {d} {hz}");
            assert_eq!(fired.as_nanos() % tick, 0, "not on a tick");
            let ticks = d.div_ceil(tick);
            let level = (1..9u32)
                .find(|&n| ticks < 63u64 << (3 * (n - 1)))
                .unwrap_or(9)
                - 1;
            let granule = (1u64 << (3 * level)) * tick;
            assert!(
                fired.as_nanos() - due.as_nanos() <= granule + tick,
                "late by more than a granule: {now:?} {d} {hz}"
            );
        }
    }
}

#[test]
fn with_the_wheel_a_keepalive_chain_runs_late() {
    // Redis tcp-keepalive 1 (idle 1 s, interval 1 s, 3 probes) towards a
    // silent peer, established at 0 with 50 µs links: without the wheel the
    // probes go at 1, 2, 3 s and the RST at 4 s; with it every 1 s timer
    // (250 ticks, level 1) ends on a multiple of 8 ticks, 32 ms: here 1.024,
    // 2.048, 3.072 and 4.096 s. Measured on Linux 6.18 (docs/calibration.md):
    // death 45–105 ms after 4 s, depending on the unknown phase of jiffies.
    let ka = keepalive(1, 1, 3);
    for (wheel, death) in [(false, 4 * SEC), (true, 4_096 * MS)] {
        let cfg = TcpConfig {
            keepalive: Some(ka),
            timer_wheel: wheel,
            ..TcpConfig::default()
        };
        let mut n = Net::established(TcpConfig::default(), cfg, dur(50 * US));
        n.silence();
        n.run_until(at(10 * SEC));
        let rsts = n.rsts_sent(Server);
        assert_eq!(rsts.len(), 1);
        let t = rsts[0].0.as_nanos();
        // Keepalive starts at the server's ESTABLISHED, 150 µs in.
        assert!(t >= death && t < death + 200 * US, "wheel {wheel}: {t}");
    }
}

/// A socket restored from a snapshot (Lambda SnapStart, model.md 1.6b)
/// is ESTABLISHED at once and sends nothing; the server host has no socket
/// for its 4-tuple, so its first write is answered with the host's RST
/// (`tcp_v4_send_reset` on the data's ACK number, which the restored
/// socket accepts): the write succeeded, the read fails with ECONNRESET
/// one round trip later.
#[test]
fn a_restored_socket_whose_peer_is_gone_is_reset_by_its_first_write() {
    let mut n = Net::new(base(), base(), dur(MS));
    let mut out = Vec::new();
    let t = Tcb::restored(n.now, base(), n.addrs[0], n.addrs[1], 1, &mut out);
    assert!(out.is_empty(), "nothing sent, no keepalive: {out:?}");
    assert_eq!(t.state(), TcpState::Established);
    n.tcbs[0] = Some(t);
    n.run_until(at(10 * MS));
    assert_eq!(n.send(Client, 7), Ok(()));
    n.run_until(at(20 * MS));
    let data = n.sent(Client);
    assert_eq!(data.len(), 1);
    assert_eq!(
        (data[0].1.seq, data[0].1.ack),
        (1, 2),
        "after SYN and greeting"
    );
    assert_eq!(n.errors(Client), [(at(12 * MS), Errno::Econnreset)]);
    assert_eq!(n.state(Client), TcpState::Closed);
    assert_eq!(n.recv(Client), RecvResult::Err(Errno::Econnreset));

    // With keepalive on, its timer starts at the restore.
    let cfg = TcpConfig {
        keepalive: Some(keepalive(60, 10, 3)),
        ..base()
    };
    let mut out = Vec::new();
    let _ = Tcb::restored(at(5 * SEC), cfg, n.addrs[0], n.addrs[1], 0, &mut out);
    assert!(
        matches!(out[..], [TcpAction::Arm { kind: TimerKind::Keepalive, at: a, .. }] if a == at(65 * SEC)),
        "{out:?}"
    );
}

// ---- rules the rest of tcp.rs rests on (from a cargo-mutants run) ------------------

#[test]
fn wheel_levels_start_at_63_ticks_and_the_far_cap_follows_lvl_depth() {
    // calc_wheel_index(): level 0 holds timers less than 63 ticks ahead
    // (LVL_START(1)); one exactly 63 ticks ahead goes to level 1 and is
    // rounded to its 8-tick granule. Armed at jiffy 1: jiffy 64 → 72.
    assert_eq!(wheel_expiry(at(4 * MS), at(256 * MS), 250), at(288 * MS));
    // 62 ticks ahead stays in level 0: jiffy 63 → 64.
    assert_eq!(wheel_expiry(at(4 * MS), at(252 * MS), 250), at(256 * MS));
    // Beyond WHEEL_TIMEOUT_CUTOFF = LVL_START(LVL_DEPTH) the expiry is
    // WHEEL_TIMEOUT_MAX = cutoff − LVL_GRAN(LVL_DEPTH − 1) ahead, in the
    // last level: LVL_DEPTH is 9 above HZ 100 (62·2^24 ticks, rounded to
    // 63·2^24) and 8 at HZ 100 (62·2^21, rounded to 63·2^21).
    let far = at(1_000 * 86_400 * SEC);
    assert_eq!(wheel_expiry(at(0), far, 250), at((63u64 << 24) * 4 * MS));
    assert_eq!(wheel_expiry(at(0), far, 100), at((63u64 << 21) * 10 * MS));
    // Armed half a granule into the last level (jiffy 2^23): the cap is
    // still 62·2^24 ticks ahead, rounded to the same bucket.
    assert_eq!(
        wheel_expiry(at((1u64 << 23) * 4 * MS), far, 250),
        at((63u64 << 24) * 4 * MS)
    );
}

#[test]
fn a_zero_hz_means_exact_nanoseconds() {
    // Some(0) is no tick at all, as None: no division by zero.
    assert_eq!(jiffies_up(dur(200 * MS + 1), Some(0)), dur(200 * MS + 1));
    assert_eq!(jiffies_up(dur(200 * MS + 1), None), dur(200 * MS + 1));
}

#[test]
fn a_socket_is_an_orphan_only_after_close_and_keeps_its_config() {
    let cfg = TcpConfig {
        retries2: 7,
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(10 * MS));
    assert!(!n.tcb(Client).is_orphan());
    assert_eq!(n.tcb(Client).config().retries2, 7);
    n.close(Client);
    assert!(n.tcb(Client).is_orphan());
}

#[test]
fn head_and_tail_kinds_name_the_oldest_and_newest_unacked_segments() {
    let mut n = Net::default_established(dur(10 * MS));
    assert_eq!(n.tcb(Client).head_kind(), None);
    assert_eq!(n.tcb(Client).tail_kind(), None);
    n.send(Client, 1).unwrap();
    n.close(Client);
    assert_eq!(n.tcb(Client).head_kind(), Some("data"));
    assert_eq!(n.tcb(Client).tail_kind(), Some("FIN"));
}

#[test]
fn timer_current_is_false_for_a_cancelled_stale_or_closed_timer() {
    // The World defers a frozen host's timers only while they are current
    // (and drops the others): a timer re-armed, cancelled, or of a CLOSED
    // socket is not.
    let a = Addr { host: 1, port: 1 };
    let b = Addr { host: 2, port: 2 };
    let mut out = Vec::new();
    let cfg = TcpConfig {
        keepalive: Some(Keepalive::default()),
        ..base()
    };
    let mut client = Tcb::connect(at(0), cfg, a, b, &mut out);
    let syn_rto = last_gen(&out, TimerKind::Retransmit).expect("SYN timer");
    assert!(client.timer_current(TimerKind::Retransmit, syn_rto));
    assert!(!client.timer_current(TimerKind::Retransmit, syn_rto + 1));
    // The SYN-ACK acknowledges the SYN: the queue empties and the SYN
    // timer is cancelled.
    let synack = Segment {
        src: b,
        dst: a,
        flags: Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        },
        seq: 0,
        ack: 1,
        payload: None,
    };
    let mut o = Vec::new();
    client.on_segment(at(10 * MS), &synack, &mut o);
    assert_eq!(client.state(), TcpState::Established);
    assert!(!client.timer_current(TimerKind::Retransmit, syn_rto));
    let ka = last_gen(&o, TimerKind::Keepalive).expect("keepalive armed");
    assert!(client.timer_current(TimerKind::Keepalive, ka));
    // An abort closes the socket: no timer of it is current any more.
    let mut o = Vec::new();
    client.abort(&mut o);
    assert_eq!(client.state(), TcpState::Closed);
    assert!(!client.timer_current(TimerKind::Keepalive, ka));
}

#[test]
fn tail_loss_probe_off_means_the_first_resend_is_the_rto() {
    // net.ipv4.tcp_early_retrans without TLP: no probe at 2·SRTT + 200 ms;
    // the data is first resent one RTO after the send, as a counted
    // retransmission.
    let cfg = TcpConfig {
        tail_loss_probe: false,
        ..base()
    };
    let mut n = Net::established(cfg, base(), dur(5 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    let rto = n.tcb(Client).rto();
    n.run_until(at(SEC) + rto);
    assert_eq!(n.sent_times(Client, is_data), vec![at(SEC), at(SEC) + rto]);
    assert!(n
        .notes(Client)
        .iter()
        .any(|(t, x)| *t == at(SEC) + rto && matches!(x, TcpNote::Retransmit { attempt: 1, .. })));
}

fn with_tlp() -> TcpConfig {
    TcpConfig {
        tail_loss_probe: true,
        ..base()
    }
}

#[test]
fn no_loss_probe_while_the_rto_is_backing_off() {
    // tcp_schedule_loss_probe() needs icsk_ca_state == Open: after an RTO
    // retransmission, new data waits for the backed-off RTO, no probe.
    let mut n = Net::established(with_tlp(), base(), dur(5 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    n.run_for(dur(2 * SEC));
    assert!(n.tcb(Client).unacked() == 1);
    assert!(n
        .notes(Client)
        .iter()
        .any(|(_, x)| matches!(x, TcpNote::Retransmit { .. })));
    let notes_before = n.notes(Client).len();
    let sent_before = n.sent(Client).len();
    n.send(Client, 2).unwrap();
    n.run_for(dur(300 * MS));
    // Nothing but the new segment itself within 300 ms: no probe of it.
    assert_eq!(n.sent(Client).len(), sent_before + 1);
    assert!(!n.notes(Client)[notes_before..]
        .iter()
        .any(|(_, x)| matches!(x, TcpNote::LossProbe { .. })));
}

#[test]
fn one_loss_probe_at_a_time() {
    // A probe is out (not yet acknowledged): new data gets no probe of its
    // own (tcp_send_loss_probe(): tlp_high_seq), the RTO governs.
    let mut n = Net::established(with_tlp(), base(), dur(5 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    // 2·SRTT + rto_min = 220 ms is later than the 212 ms RTO: the probe
    // fires at the RTO's time, as a probe.
    n.run_for(dur(215 * MS));
    let probes = |n: &Net| {
        n.notes(Client)
            .iter()
            .filter(|(_, x)| matches!(x, TcpNote::LossProbe { .. }))
            .count()
    };
    assert_eq!(probes(&n), 1);
    let sent_before = n.sent(Client).len();
    n.send(Client, 2).unwrap();
    n.run_for(dur(50 * MS));
    assert_eq!(probes(&n), 1);
    assert_eq!(n.sent(Client).len(), sent_before + 1);
}

#[test]
fn a_syn_ack_is_never_collapsed_with_the_fin_behind_it() {
    // tcp_retrans_try_collapse() skips a SYN: a socket closed in SYN_RECV
    // retransmits its SYN-ACK alone, then the FIN.
    let mut n = Net::new(base(), base(), dur(10 * MS));
    n.drop_to[Client.idx()] = true;
    n.connect();
    n.run_until(at(20 * MS));
    assert_eq!(n.state(Server), TcpState::SynRecv);
    n.close(Server);
    n.run_until(at(5 * SEC));
    for (_, s) in n.sent(Server) {
        assert!(!(s.flags.syn && s.flags.fin), "SYN and FIN together: {s}");
    }
}

#[test]
fn two_data_segments_are_not_collapsed_into_a_data_fin() {
    // Only a bare FIN joins the data before it; a second message stays a
    // segment of its own and the first carries no FIN.
    let mut n = Net::default_established(dur(5 * MS));
    n.run_until(at(SEC));
    n.silence();
    n.send(Client, 1).unwrap();
    n.send(Client, 2).unwrap();
    n.run_for(dur(3 * SEC));
    for (_, s) in n.sent(Client) {
        assert!(!s.flags.fin, "a FIN without a close: {s}");
    }
    assert!(
        n.sent(Client)
            .iter()
            .filter(|(_, s)| s.payload == Some(Payload(1)))
            .count()
            >= 2
    );
}
