//! A stateful middlebox on the path: NAT gateway, load balancer, firewall.
//!
//! It tracks each flow through a simplified conntrack state machine, with an
//! idle timeout per state that every packet of the flow refreshes. When a
//! flow's timeout passes, the middlebox forgets it; packets of a flow it does
//! not know (other than a SYN) are dropped or answered with an RST,
//! depending on the side they come from and the policy.
use crate::segment::{Dir, Segment};
use std::collections::BTreeMap;
use thaw_core::{SimDuration, SimTime};

/// What the middlebox does with a packet of a flow it does not track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untracked {
    /// Send an RST back to the sender (AWS NAT gateway to inside hosts, NLB).
    Rst,
    /// Drop silently (Linux conntrack NEW-not-SYN rule, AWS Network Firewall,
    /// Azure LB default).
    Drop,
    /// Let it through: Linux conntrack with `nf_conntrack_tcp_loose = 1`
    /// (the default) and no rule against NEW packets that are not SYNs
    /// picks an ACK or data packet up as a new ESTABLISHED flow
    /// (`tcp_new()`); the host behind answers (with RST if it has no
    /// socket). Other packets pass without a flow.
    Accept,
}

impl Untracked {
    /// Lower-case name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Untracked::Rst => "rst",
            Untracked::Drop => "drop",
            Untracked::Accept => "accept",
        }
    }
}

/// Conntrack-like flow states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowState {
    /// SYN seen.
    SynSent,
    /// SYN-ACK seen.
    SynRecv,
    /// Handshake completed.
    Established,
    /// A FIN seen from one side, not yet acknowledged.
    FinWait,
    /// One FIN acknowledged; the other side has not sent its FIN.
    CloseWait,
    /// Both FINs seen; the last not yet acknowledged.
    LastAck,
    /// Both FINs acknowledged.
    TimeWait,
    /// An RST seen.
    Close,
}

impl FlowState {
    /// Name as conntrack prints it.
    pub fn name(self) -> &'static str {
        match self {
            FlowState::SynSent => "SYN_SENT",
            FlowState::SynRecv => "SYN_RECV",
            FlowState::Established => "ESTABLISHED",
            FlowState::FinWait => "FIN_WAIT",
            FlowState::CloseWait => "CLOSE_WAIT",
            FlowState::LastAck => "LAST_ACK",
            FlowState::TimeWait => "TIME_WAIT",
            FlowState::Close => "CLOSE",
        }
    }
}

/// Idle timeout of a tracked flow, per state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTimeouts {
    /// SYN_SENT.
    pub syn_sent: SimDuration,
    /// SYN_RECV.
    pub syn_recv: SimDuration,
    /// ESTABLISHED: the idle timeout people usually mean.
    pub established: SimDuration,
    /// FIN_WAIT.
    pub fin_wait: SimDuration,
    /// CLOSE_WAIT.
    pub close_wait: SimDuration,
    /// LAST_ACK.
    pub last_ack: SimDuration,
    /// TIME_WAIT.
    pub time_wait: SimDuration,
    /// CLOSE.
    pub close: SimDuration,
}

impl StateTimeouts {
    /// The same timeout in every state.
    pub fn uniform(d: SimDuration) -> Self {
        StateTimeouts {
            syn_sent: d,
            syn_recv: d,
            established: d,
            fin_wait: d,
            close_wait: d,
            last_ack: d,
            time_wait: d,
            close: d,
        }
    }

    /// Timeout for `state`.
    pub fn get(&self, state: FlowState) -> SimDuration {
        match state {
            FlowState::SynSent => self.syn_sent,
            FlowState::SynRecv => self.syn_recv,
            FlowState::Established => self.established,
            FlowState::FinWait => self.fin_wait,
            FlowState::CloseWait => self.close_wait,
            FlowState::LastAck => self.last_ack,
            FlowState::TimeWait => self.time_wait,
            FlowState::Close => self.close,
        }
    }
}

/// Presets with sourced defaults (docs/model.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiddleboxPreset {
    /// AWS NAT gateway: 350 s idle, RST to inside hosts, outside packets of
    /// unknown flows cannot be translated and are dropped.
    AwsNatGateway,
    /// AWS Network Load Balancer (TCP listener): 350 s idle, RST to
    /// whichever side sends after the timeout.
    AwsNlb,
    /// Linux nf_conntrack defaults (nf_conntrack_proto_tcp.c) with the usual
    /// rule that drops NEW packets that are not SYNs.
    LinuxConntrack,
    /// AWS Network Firewall: 350 s idle; "after the idle timeout passes,
    /// data packets are dropped, however, the next TCP SYN packet is
    /// considered a new flow".
    AwsNetworkFirewall,
    /// AWS VPC interface endpoint (PrivateLink): a fixed 350 s idle
    /// timeout; "packets sent after the idle timeout expired aren't
    /// delivered to the destination".
    AwsVpcEndpoint,
    /// The Hyperplane ENI through which a VPC-attached Lambda function
    /// reaches its VPC. AWS documents no idle timeout: the scenario must
    /// state one (`idle_timeout`); forgotten flows are dropped silently
    /// (an assumption).
    AwsHyperplaneEni,
}

impl MiddleboxPreset {
    /// All presets, for listings and did-you-mean.
    pub const ALL: [MiddleboxPreset; 6] = [
        MiddleboxPreset::AwsNatGateway,
        MiddleboxPreset::AwsNlb,
        MiddleboxPreset::LinuxConntrack,
        MiddleboxPreset::AwsNetworkFirewall,
        MiddleboxPreset::AwsVpcEndpoint,
        MiddleboxPreset::AwsHyperplaneEni,
    ];

    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            MiddleboxPreset::AwsNatGateway => "aws-nat-gateway",
            MiddleboxPreset::AwsNlb => "aws-nlb",
            MiddleboxPreset::LinuxConntrack => "linux-conntrack",
            MiddleboxPreset::AwsNetworkFirewall => "aws-network-firewall",
            MiddleboxPreset::AwsVpcEndpoint => "aws-vpc-endpoint",
            MiddleboxPreset::AwsHyperplaneEni => "aws-hyperplane-eni",
        }
    }

    /// Whether the scenario must give `idle_timeout`: the public record has
    /// no value.
    pub fn needs_idle_timeout(self) -> bool {
        match self {
            MiddleboxPreset::AwsHyperplaneEni => true,
            MiddleboxPreset::AwsNatGateway
            | MiddleboxPreset::AwsNlb
            | MiddleboxPreset::LinuxConntrack
            | MiddleboxPreset::AwsNetworkFirewall
            | MiddleboxPreset::AwsVpcEndpoint => false,
        }
    }

    /// The preset's configuration.
    pub fn config(self) -> MiddleboxConfig {
        match self {
            MiddleboxPreset::AwsNatGateway => MiddleboxConfig {
                timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
                untracked_from_client: Untracked::Rst,
                untracked_from_server: Untracked::Drop,
                max_retrans: None,
                unacknowledged: None,
            },
            MiddleboxPreset::AwsNlb => MiddleboxConfig {
                timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
                untracked_from_client: Untracked::Rst,
                untracked_from_server: Untracked::Rst,
                max_retrans: None,
                unacknowledged: None,
            },
            MiddleboxPreset::AwsNetworkFirewall
            | MiddleboxPreset::AwsVpcEndpoint
            | MiddleboxPreset::AwsHyperplaneEni => MiddleboxConfig {
                // The Hyperplane ENI's 350 s is never used: the scenario
                // must state its own (`needs_idle_timeout`).
                timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
                untracked_from_client: Untracked::Drop,
                untracked_from_server: Untracked::Drop,
                max_retrans: None,
                unacknowledged: None,
            },
            MiddleboxPreset::LinuxConntrack => MiddleboxConfig {
                timeouts: StateTimeouts {
                    syn_sent: SimDuration::from_secs(120),
                    syn_recv: SimDuration::from_secs(60),
                    established: SimDuration::from_secs(5 * 86_400),
                    fin_wait: SimDuration::from_secs(120),
                    close_wait: SimDuration::from_secs(60),
                    last_ack: SimDuration::from_secs(30),
                    time_wait: SimDuration::from_secs(120),
                    close: SimDuration::from_secs(10),
                },
                untracked_from_client: Untracked::Drop,
                untracked_from_server: Untracked::Drop,
                // nf_conntrack_tcp_timeout_max_retrans and _unacknowledged.
                max_retrans: Some(SimDuration::from_secs(300)),
                unacknowledged: Some(SimDuration::from_secs(300)),
            },
        }
    }
}

/// Middlebox parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiddleboxConfig {
    /// Idle timeout per flow state.
    pub timeouts: StateTimeouts,
    /// Policy for untracked packets coming from the client side.
    pub untracked_from_client: Untracked,
    /// Policy for untracked packets coming from the server side.
    pub untracked_from_server: Untracked,
    /// Cap on a flow's timeout once the same packet has been seen three
    /// times in a row (`nf_conntrack_tcp_timeout_max_retrans`, 300 s;
    /// `tcp_max_retrans` = 3); `None` = no cap.
    pub max_retrans: Option<SimDuration>,
    /// Cap on a flow's timeout while a side has data or a FIN the other has
    /// not acknowledged (`nf_conntrack_tcp_timeout_unacknowledged`, 300 s);
    /// `None` = no cap.
    pub unacknowledged: Option<SimDuration>,
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on. `new_state` is set when the flow changed state.
    Forward {
        /// The flow's state after this packet, if it changed.
        new_state: Option<(FlowState, FlowState)>,
        /// True if this packet created the flow.
        created: bool,
    },
    /// Drop it: the flow is unknown (never seen, or forgotten).
    DropUntracked {
        /// When the flow was forgotten, if the middlebox once knew it.
        forgotten_at: Option<SimTime>,
    },
    /// Answer the sender with this RST; the packet goes no further.
    RstUntracked {
        /// The RST to send back to the packet's sender.
        rst: Segment,
        /// When the flow was forgotten, if the middlebox once knew it.
        forgotten_at: Option<SimTime>,
    },
}

/// Flow key: (client address, server address).
pub type FlowKey = (crate::segment::Addr, crate::segment::Addr);

#[derive(Clone, Copy, Debug)]
struct Flow {
    state: FlowState,
    expires: SimTime,
    /// Per side (0 = client, 1 = server): the end of what it sent, and the
    /// highest ACK it sent (for the unacknowledged-data cap).
    end: [u64; 2],
    acked: [u64; 2],
    /// The last packet seen, and how many times in a row (retransmissions).
    last: Option<(Dir, u64, u64, u64)>,
    retrans: u32,
}

impl Flow {
    fn new(state: FlowState, expires: SimTime) -> Flow {
        Flow {
            state,
            expires,
            end: [0; 2],
            acked: [0; 2],
            last: None,
            retrans: 0,
        }
    }
}

/// The middlebox's flow table.
#[derive(Clone, Debug)]
pub struct Middlebox {
    cfg: MiddleboxConfig,
    flows: BTreeMap<FlowKey, Flow>,
    // Flows forgotten, with the time they expired, so that a later packet can
    // say why it was dropped. Bounded: entries are removed on a new SYN.
    forgotten: BTreeMap<FlowKey, SimTime>,
}

impl Middlebox {
    /// An empty middlebox.
    pub fn new(cfg: MiddleboxConfig) -> Self {
        Middlebox {
            cfg,
            flows: BTreeMap::new(),
            forgotten: BTreeMap::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &MiddleboxConfig {
        &self.cfg
    }

    /// Number of flows currently tracked.
    pub fn tracked(&self) -> usize {
        self.flows.len()
    }

    /// When the flow `key` expires, if tracked.
    pub fn expiry(&self, key: &FlowKey) -> Option<SimTime> {
        self.flows.get(key).map(|f| f.expires)
    }

    /// State of the flow `key`, if tracked.
    pub fn state(&self, key: &FlowKey) -> Option<FlowState> {
        self.flows.get(key).map(|f| f.state)
    }

    /// Forget `key` if its timeout has passed; returns the state it had.
    /// The simulator calls this from the flow's expiry timer.
    pub fn expire(&mut self, now: SimTime, key: &FlowKey) -> Option<FlowState> {
        let f = self.flows.get(key)?;
        if f.expires > now {
            return None;
        }
        let state = f.state;
        let at = f.expires;
        self.flows.remove(key);
        self.forgotten.insert(*key, at);
        Some(state)
    }

    /// Drops the memory of forgotten flows older than `horizon` ago.
    pub fn prune_forgotten(&mut self, now: SimTime, horizon: SimDuration) {
        self.forgotten
            .retain(|_, at| now.saturating_since(*at) < horizon);
    }

    /// A packet travelling `dir` reaches the middlebox.
    pub fn on_segment(&mut self, now: SimTime, seg: &Segment, dir: Dir) -> Verdict {
        let key: FlowKey = match dir {
            Dir::FromClient => (seg.src, seg.dst),
            Dir::FromServer => (seg.dst, seg.src),
        };
        // Lazy expiry: a flow past its timeout is as good as gone, even if
        // its timer has not run yet at this instant.
        if let Some(f) = self.flows.get(&key) {
            if f.expires <= now {
                let at = f.expires;
                self.flows.remove(&key);
                self.forgotten.insert(key, at);
            }
        }
        // The packet's column of the conntrack table, once.
        let idx = index(seg);
        // conntrack reopens a closed or TIME_WAIT flow on a new SYN: the
        // old entry is killed and the SYN looked up again
        // (`nf_conntrack_tcp_packet()`, -NF_REPEAT).
        let reopen = self.flows.get(&key).is_some_and(|f| {
            matches!(f.state, FlowState::TimeWait | FlowState::Close)
                && next_state(f.state, idx, dir) == Some(FlowState::SynSent)
        });
        if reopen {
            self.flows.remove(&key);
        }
        let timeouts = self.cfg.timeouts;
        match self.flows.get_mut(&key) {
            None => {
                if seg.flags.syn && !seg.flags.ack && dir == Dir::FromClient {
                    self.forgotten.remove(&key);
                    let mut f = Flow::new(FlowState::SynSent, now + timeouts.syn_sent);
                    f.observe(seg, idx, dir);
                    self.flows.insert(key, f);
                    return Verdict::Forward {
                        new_state: None,
                        created: true,
                    };
                }
                let forgotten_at = self.forgotten.get(&key).copied();
                let policy = match dir {
                    Dir::FromClient => self.cfg.untracked_from_client,
                    Dir::FromServer => self.cfg.untracked_from_server,
                };
                match (policy, seg.reset_reply()) {
                    (Untracked::Rst, Some(rst)) => Verdict::RstUntracked { rst, forgotten_at },
                    (Untracked::Rst, None) | (Untracked::Drop, _) => {
                        Verdict::DropUntracked { forgotten_at }
                    }
                    (Untracked::Accept, _) => {
                        // tcp_new() with tcp_loose: an ACK (with or without
                        // data) is picked up mid-stream as ESTABLISHED; a
                        // FIN or RST of no flow is invalid, passed untracked.
                        let pick_up = idx == Index::Ack;
                        if pick_up {
                            self.forgotten.remove(&key);
                            let mut f = Flow::new(FlowState::Established, now);
                            f.observe(seg, idx, dir);
                            f.expires = now + self.timeout(&f, idx);
                            self.flows.insert(key, f);
                        }
                        Verdict::Forward {
                            new_state: None,
                            created: pick_up,
                        }
                    }
                }
            }
            Some(f) => {
                let before = f.state;
                let Some(next) = next_state(before, idx, dir) else {
                    return Verdict::Forward {
                        new_state: None,
                        created: false,
                    };
                };
                f.observe(seg, idx, dir);
                let mut f = *f;
                f.state = next;
                f.expires = now + self.timeout(&f, idx);
                self.flows.insert(key, f);
                Verdict::Forward {
                    new_state: (before != next).then_some((before, next)),
                    created: false,
                }
            }
        }
    }

    /// The flow's timeout in its state after a packet of column `idx`,
    /// capped as `nf_conntrack_tcp_packet()` caps it: after three
    /// identical ACK-column packets in a row (max_retrans), or, for an
    /// ACK-column packet, while a side has data the other has not
    /// acknowledged.
    fn timeout(&self, f: &Flow, idx: Index) -> SimDuration {
        let t = self.cfg.timeouts.get(f.state);
        let unacked = idx == Index::Ack && (f.end[0] > f.acked[1] || f.end[1] > f.acked[0]);
        match (self.cfg.max_retrans, self.cfg.unacknowledged) {
            (Some(cap), _) if f.retrans >= 3 => t.min(cap),
            (_, Some(cap)) if unacked => t.min(cap),
            _ => t,
        }
    }
}

impl Flow {
    /// `tcp_in_window()`'s bookkeeping: ends, ACKs, retransmissions.
    fn observe(&mut self, seg: &Segment, idx: Index, dir: Dir) {
        let side = match dir {
            Dir::FromClient => 0,
            Dir::FromServer => 1,
        };
        let end = seg.seq + seg.len();
        self.end[side] = self.end[side].max(end);
        if seg.flags.ack {
            self.acked[side] = self.acked[side].max(seg.ack);
        }
        // tcp_in_window() counts retransmissions of ACK-column packets
        // only (data, pure ACKs, keepalive probes); a SYN, FIN or RST
        // neither counts nor breaks the run.
        if idx != Index::Ack {
            return;
        }
        let this = (dir, seg.seq, seg.ack, end);
        if self.last == Some(this) {
            self.retrans += 1;
        } else {
            self.last = Some(this);
            self.retrans = 0;
        }
    }
}

/// Which column of the conntrack table a packet uses
/// (`get_conntrack_index()`: RST first, then SYN, FIN, ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Index {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

fn index(seg: &Segment) -> Index {
    let f = seg.flags;
    if f.rst {
        Index::Rst
    } else if f.syn {
        if f.ack {
            Index::SynAck
        } else {
            Index::Syn
        }
    } else if f.fin {
        Index::Fin
    } else if f.ack {
        Index::Ack
    } else {
        Index::None
    }
}

/// `tcp_conntracks[dir][index][state]` (nf_conntrack_proto_tcp.c), for
/// the states thaw tracks. `None` is an invalid (sIV) or ignored (sIG)
/// packet: it passes (thaw models no `ct state invalid drop` rule) but
/// changes nothing, neither the state nor the timeout nor the window
/// bookkeeping (`nf_conntrack_tcp_packet()` returns before
/// `tcp_in_window()` and before refreshing the timer). Notably a second
/// FIN, even a retransmission of the first, moves FIN_WAIT to LAST_ACK
/// ("Might be a retransmitted FIN as well"), whose timeout is 30 s, not
/// 120 s. Not modelled: simultaneous open (sS2) and the server's SYN that
/// reopens a TIME_WAIT flow with the roles switched (thaw's servers never
/// open connections).
fn next_state(state: FlowState, idx: Index, dir: Dir) -> Option<FlowState> {
    use FlowState::*;
    let reply = dir == Dir::FromServer;
    match (idx, state) {
        (
            Index::Rst,
            SynSent | SynRecv | Established | FinWait | CloseWait | LastAck | TimeWait | Close,
        ) => Some(Close),
        (
            Index::None,
            SynSent | SynRecv | Established | FinWait | CloseWait | LastAck | TimeWait | Close,
        ) => None,
        // A retransmitted SYN, or a new connection on the 4-tuple of a
        // finished one (RFC 1122 reopen): the caller makes a new flow.
        (Index::Syn, SynSent | TimeWait | Close) if !reply => Some(SynSent),
        (
            Index::Syn,
            SynSent | SynRecv | Established | FinWait | CloseWait | LastAck | TimeWait | Close,
        ) => None,
        (Index::SynAck, SynSent) if reply => Some(SynRecv),
        // The client's SYN-ACK of a simultaneous open, late.
        (Index::SynAck, SynRecv) if !reply => Some(SynRecv),
        (
            Index::SynAck,
            SynSent | SynRecv | Established | FinWait | CloseWait | LastAck | TimeWait | Close,
        ) => None,
        (Index::Fin, SynRecv | Established) => Some(FinWait),
        (Index::Fin, FinWait | CloseWait | LastAck) => Some(LastAck),
        (Index::Fin, s @ (TimeWait | Close)) => Some(s),
        (Index::Fin, SynSent) => None,
        // The server's ACK in SYN_RECV "might answer late resent SYN".
        (Index::Ack, SynRecv) if reply => Some(SynRecv),
        (Index::Ack, SynRecv) => Some(Established),
        (Index::Ack, s @ (Established | Close)) => Some(s),
        (Index::Ack, FinWait | CloseWait) => Some(CloseWait),
        (Index::Ack, LastAck | TimeWait) => Some(TimeWait),
        (Index::Ack, SynSent) => None,
    }
}
