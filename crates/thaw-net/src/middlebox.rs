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
}

impl Untracked {
    /// Lower-case name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Untracked::Rst => "rst",
            Untracked::Drop => "drop",
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
}

impl MiddleboxPreset {
    /// All presets, for listings and did-you-mean.
    pub const ALL: [MiddleboxPreset; 3] = [
        MiddleboxPreset::AwsNatGateway,
        MiddleboxPreset::AwsNlb,
        MiddleboxPreset::LinuxConntrack,
    ];

    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            MiddleboxPreset::AwsNatGateway => "aws-nat-gateway",
            MiddleboxPreset::AwsNlb => "aws-nlb",
            MiddleboxPreset::LinuxConntrack => "linux-conntrack",
        }
    }

    /// The preset's configuration.
    pub fn config(self) -> MiddleboxConfig {
        match self {
            MiddleboxPreset::AwsNatGateway => MiddleboxConfig {
                timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
                untracked_from_client: Untracked::Rst,
                untracked_from_server: Untracked::Drop,
            },
            MiddleboxPreset::AwsNlb => MiddleboxConfig {
                timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
                untracked_from_client: Untracked::Rst,
                untracked_from_server: Untracked::Rst,
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
    fin_client: Option<u64>,
    fin_server: Option<u64>,
    fin_client_acked: bool,
    fin_server_acked: bool,
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
        // conntrack reopens a closed or TIME_WAIT flow on a new SYN.
        let reopen = seg.flags.syn
            && !seg.flags.ack
            && dir == Dir::FromClient
            && matches!(
                self.flows.get(&key).map(|f| f.state),
                Some(FlowState::TimeWait | FlowState::Close)
            );
        if reopen {
            self.flows.remove(&key);
        }
        let timeouts = self.cfg.timeouts;
        match self.flows.get_mut(&key) {
            None => {
                if seg.flags.syn && !seg.flags.ack && dir == Dir::FromClient {
                    self.forgotten.remove(&key);
                    self.flows.insert(
                        key,
                        Flow {
                            state: FlowState::SynSent,
                            expires: now + timeouts.syn_sent,
                            fin_client: None,
                            fin_server: None,
                            fin_client_acked: false,
                            fin_server_acked: false,
                        },
                    );
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
                }
            }
            Some(f) => {
                let before = f.state;
                let next = next_state(f, seg, dir);
                f.state = next;
                f.expires = now + timeouts.get(next);
                Verdict::Forward {
                    new_state: (before != next).then_some((before, next)),
                    created: false,
                }
            }
        }
    }
}

fn next_state(f: &mut Flow, seg: &Segment, dir: Dir) -> FlowState {
    if seg.flags.rst {
        return FlowState::Close;
    }
    // Record FINs and ACKs of FINs, per side.
    if seg.flags.ack {
        match dir {
            Dir::FromClient => {
                if matches!(f.fin_server, Some(s) if seg.ack > s) {
                    f.fin_server_acked = true;
                }
            }
            Dir::FromServer => {
                if matches!(f.fin_client, Some(s) if seg.ack > s) {
                    f.fin_client_acked = true;
                }
            }
        }
    }
    if seg.flags.fin {
        let fin_seq = seg.seq + seg.payload.is_some() as u64;
        match dir {
            Dir::FromClient => f.fin_client = Some(fin_seq),
            Dir::FromServer => f.fin_server = Some(fin_seq),
        }
    }
    let fins = f.fin_client.is_some() as u8 + f.fin_server.is_some() as u8;
    let acked = f.fin_client_acked as u8 + f.fin_server_acked as u8;
    match f.state {
        FlowState::SynSent if seg.flags.syn && seg.flags.ack && dir == Dir::FromServer => {
            FlowState::SynRecv
        }
        FlowState::SynRecv if seg.flags.ack && !seg.flags.syn && dir == Dir::FromClient => {
            FlowState::Established
        }
        FlowState::SynSent | FlowState::SynRecv => f.state,
        FlowState::Close => FlowState::Close,
        FlowState::Established
        | FlowState::FinWait
        | FlowState::CloseWait
        | FlowState::LastAck
        | FlowState::TimeWait => match (fins, acked) {
            (0, _) => FlowState::Established,
            (1, 0) => FlowState::FinWait,
            (1, _) => FlowState::CloseWait,
            (2, 2) => FlowState::TimeWait,
            (2, _) => FlowState::LastAck,
            _ => f.state,
        },
    }
}
