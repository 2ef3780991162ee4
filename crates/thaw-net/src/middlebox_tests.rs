//! Unit tests for the middlebox flow table: creation, the conntrack-like
//! state progression, per-state idle timeouts refreshed by every packet, the
//! untracked-packet policies and the presets (reference 2.7).
use crate::middlebox::{
    FlowKey, FlowState, Middlebox, MiddleboxConfig, MiddleboxPreset, StateTimeouts, Untracked,
    Verdict,
};
use crate::segment::{Addr, Dir, Flags, Payload, Segment};
use crate::tcp::{Errno, RecvResult, Tcb, TcpAction, TcpConfig, TcpState};
use thaw_core::{SimDuration, SimTime};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn at(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

const CLIENT: Addr = Addr {
    host: 1,
    port: 40_000,
};
const SERVER: Addr = Addr {
    host: 2,
    port: 5432,
};
const KEY: FlowKey = (CLIENT, SERVER);

fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> Flags {
    Flags { syn, ack, fin, rst }
}

/// A segment travelling `dir`.
fn seg(dir: Dir, f: Flags, seq: u64, ack: u64) -> Segment {
    let (src, dst) = match dir {
        Dir::FromClient => (CLIENT, SERVER),
        Dir::FromServer => (SERVER, CLIENT),
    };
    Segment {
        src,
        dst,
        flags: f,
        seq,
        ack,
        payload: None,
    }
}

fn syn() -> Segment {
    seg(Dir::FromClient, flags(true, false, false, false), 0, 0)
}
fn synack() -> Segment {
    seg(Dir::FromServer, flags(true, true, false, false), 0, 1)
}
fn ack(dir: Dir, seq: u64, ackn: u64) -> Segment {
    seg(dir, flags(false, true, false, false), seq, ackn)
}
fn data(dir: Dir, seq: u64, ackn: u64) -> Segment {
    Segment {
        payload: Some(Payload(7)),
        ..ack(dir, seq, ackn)
    }
}
fn fin(dir: Dir, seq: u64, ackn: u64) -> Segment {
    seg(dir, flags(false, true, true, false), seq, ackn)
}
fn rst(dir: Dir, seq: u64) -> Segment {
    seg(dir, flags(false, false, false, true), seq, 0)
}

fn fwd(new_state: Option<(FlowState, FlowState)>) -> Verdict {
    Verdict::Forward {
        new_state,
        created: false,
    }
}

fn created() -> Verdict {
    Verdict::Forward {
        new_state: None,
        created: true,
    }
}

/// A middlebox with the handshake done at 0, 10 ms, 20 ms.
fn established(cfg: MiddleboxConfig) -> Middlebox {
    let mut m = Middlebox::new(cfg);
    assert_eq!(m.on_segment(at(0), &syn(), Dir::FromClient), created());
    m.on_segment(at(10 * MS), &synack(), Dir::FromServer);
    m.on_segment(at(20 * MS), &ack(Dir::FromClient, 1, 1), Dir::FromClient);
    assert_eq!(m.state(&KEY), Some(FlowState::Established));
    m
}

fn conntrack() -> MiddleboxConfig {
    MiddleboxPreset::LinuxConntrack.config()
}

fn nat() -> MiddleboxConfig {
    MiddleboxPreset::AwsNatGateway.config()
}

fn nlb() -> MiddleboxConfig {
    MiddleboxPreset::AwsNlb.config()
}

// ---- flow creation and state progression ---------------------------------------

#[test]
fn syn_from_client_creates_a_flow() {
    let mut m = Middlebox::new(conntrack());
    assert_eq!(m.tracked(), 0);
    assert_eq!(m.state(&KEY), None);
    assert_eq!(
        m.on_segment(at(5 * SEC), &syn(), Dir::FromClient),
        created()
    );
    assert_eq!(m.tracked(), 1);
    assert_eq!(m.state(&KEY), Some(FlowState::SynSent));
    assert_eq!(m.expiry(&KEY), Some(at(5 * SEC + 120 * SEC)));
}

#[test]
fn full_progression_with_per_state_timeouts() {
    let mut m = Middlebox::new(conntrack());
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    m.on_segment(at(0), &syn(), c);
    assert_eq!(m.expiry(&KEY), Some(at(120 * SEC)));

    let steps: [(u64, Segment, Dir, FlowState, FlowState, u64); 6] = [
        (1, synack(), s, FlowState::SynSent, FlowState::SynRecv, 60),
        (
            2,
            ack(c, 1, 1),
            c,
            FlowState::SynRecv,
            FlowState::Established,
            432_000,
        ),
        (
            3,
            fin(c, 1, 1),
            c,
            FlowState::Established,
            FlowState::FinWait,
            120,
        ),
        (
            4,
            ack(s, 1, 2),
            s,
            FlowState::FinWait,
            FlowState::CloseWait,
            60,
        ),
        (
            5,
            fin(s, 1, 2),
            s,
            FlowState::CloseWait,
            FlowState::LastAck,
            30,
        ),
        (
            6,
            ack(c, 2, 2),
            c,
            FlowState::LastAck,
            FlowState::TimeWait,
            120,
        ),
    ];
    for (t, sg, dir, from, to, timeout) in steps {
        assert_eq!(
            m.on_segment(at(t * SEC), &sg, dir),
            fwd(Some((from, to))),
            "step at {t} s"
        );
        assert_eq!(m.state(&KEY), Some(to));
        assert_eq!(m.expiry(&KEY), Some(at((t + timeout) * SEC)), "{to:?}");
    }
}

#[test]
fn data_in_established_keeps_the_state() {
    let mut m = established(conntrack());
    assert_eq!(
        m.on_segment(at(SEC), &data(Dir::FromClient, 1, 1), Dir::FromClient),
        fwd(None)
    );
    assert_eq!(
        m.on_segment(at(2 * SEC), &data(Dir::FromServer, 1, 2), Dir::FromServer),
        fwd(None)
    );
    assert_eq!(m.state(&KEY), Some(FlowState::Established));
}

#[test]
fn server_closes_first() {
    let mut m = established(conntrack());
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    assert_eq!(
        m.on_segment(at(SEC), &fin(s, 1, 1), s),
        fwd(Some((FlowState::Established, FlowState::FinWait)))
    );
    // tcp_conntracks[][ack][sFW] = sCW: any in-window ACK, whether or not
    // it covers the FIN (conntrack does not check).
    assert_eq!(
        m.on_segment(at(SEC), &ack(c, 1, 1), c),
        fwd(Some((FlowState::FinWait, FlowState::CloseWait)))
    );
    assert_eq!(m.on_segment(at(SEC), &ack(c, 1, 2), c), fwd(None));
    assert_eq!(
        m.on_segment(at(2 * SEC), &fin(c, 1, 2), c),
        fwd(Some((FlowState::CloseWait, FlowState::LastAck)))
    );
    assert_eq!(
        m.on_segment(at(2 * SEC), &ack(s, 2, 2), s),
        fwd(Some((FlowState::LastAck, FlowState::TimeWait)))
    );
}

#[test]
fn fin_carrying_data_is_acked_past_the_data() {
    let mut m = established(conntrack());
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    let df = Segment {
        payload: Some(Payload(1)),
        ..fin(c, 1, 1)
    };
    m.on_segment(at(SEC), &df, c);
    assert_eq!(m.state(&KEY), Some(FlowState::FinWait));
    // Any ACK moves FIN_WAIT to CLOSE_WAIT, even one of the data only.
    assert_eq!(
        m.on_segment(at(SEC), &ack(s, 1, 2), s),
        fwd(Some((FlowState::FinWait, FlowState::CloseWait)))
    );
}

#[test]
fn simultaneous_fins_go_to_last_ack_then_time_wait() {
    let mut m = established(conntrack());
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    m.on_segment(at(SEC), &fin(c, 1, 1), c);
    assert_eq!(
        m.on_segment(at(SEC), &fin(s, 1, 1), s),
        fwd(Some((FlowState::FinWait, FlowState::LastAck)))
    );
    // sLA + ACK = sTW ("Last ACK detected"): the first ACK after both FINs.
    assert_eq!(
        m.on_segment(at(SEC), &ack(c, 2, 2), c),
        fwd(Some((FlowState::LastAck, FlowState::TimeWait)))
    );
    assert_eq!(m.on_segment(at(SEC), &ack(s, 2, 2), s), fwd(None));
}

#[test]
fn rst_moves_the_flow_to_close() {
    for dir in [Dir::FromClient, Dir::FromServer] {
        let mut m = established(conntrack());
        assert_eq!(
            m.on_segment(at(SEC), &rst(dir, 1), dir),
            fwd(Some((FlowState::Established, FlowState::Close)))
        );
        assert_eq!(m.expiry(&KEY), Some(at(SEC + 10 * SEC)));
        // Later packets are still forwarded, the flow stays CLOSE.
        assert_eq!(
            m.on_segment(at(2 * SEC), &data(Dir::FromClient, 1, 1), Dir::FromClient),
            fwd(None)
        );
        assert_eq!(m.state(&KEY), Some(FlowState::Close));
        assert_eq!(m.expiry(&KEY), Some(at(12 * SEC)));
    }
}

#[test]
fn rst_during_the_handshake_closes_the_flow() {
    let mut m = Middlebox::new(conntrack());
    m.on_segment(at(0), &syn(), Dir::FromClient);
    let r = seg(Dir::FromServer, flags(false, true, false, true), 0, 1);
    assert_eq!(
        m.on_segment(at(10 * MS), &r, Dir::FromServer),
        fwd(Some((FlowState::SynSent, FlowState::Close)))
    );
}

#[test]
fn syn_retransmission_keeps_syn_sent_and_refreshes() {
    let mut m = Middlebox::new(conntrack());
    m.on_segment(at(0), &syn(), Dir::FromClient);
    assert_eq!(m.on_segment(at(SEC), &syn(), Dir::FromClient), fwd(None));
    assert_eq!(m.state(&KEY), Some(FlowState::SynSent));
    assert_eq!(m.expiry(&KEY), Some(at(121 * SEC)));
}

#[test]
fn syn_sent_moves_to_syn_recv_only_on_the_servers_syn_ack() {
    // tcp_conntracks[][][sSS]: only the reply direction's SYN-ACK is sSR.
    // ORIGINAL synack, ack, fin: sIV; REPLY ack: sIG ("might be a
    // half-open connection"); REPLY syn: sS2 (simultaneous open, not
    // modelled). None of them may leave SYN_SENT or lengthen its 120 s.
    let mut m = Middlebox::new(conntrack());
    m.on_segment(at(0), &syn(), Dir::FromClient);
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    let others = [
        (c, seg(c, flags(true, true, false, false), 0, 1)),
        (c, ack(c, 1, 1)),
        (c, fin(c, 1, 1)),
        (s, ack(s, 1, 1)),
        (s, seg(s, flags(true, false, false, false), 0, 0)),
        (s, fin(s, 1, 1)),
    ];
    for (i, (dir, p)) in others.into_iter().enumerate() {
        let now = at((i as u64 + 1) * SEC);
        assert_eq!(m.on_segment(now, &p, dir), fwd(None), "{p}");
        assert_eq!(m.state(&KEY), Some(FlowState::SynSent), "{p}");
        assert!(m.expiry(&KEY) <= Some(now + secs(120)), "{p}");
    }
    assert_eq!(
        m.on_segment(at(10 * SEC), &synack(), s),
        fwd(Some((FlowState::SynSent, FlowState::SynRecv)))
    );
    assert_eq!(m.expiry(&KEY), Some(at(70 * SEC)));
}

#[test]
fn syn_recv_moves_to_established_only_on_the_clients_ack() {
    // tcp_conntracks[][][sSR]: ORIGINAL ack is sES ("Established state is
    // reached"); REPLY synack is sIG (a retransmitted SYN-ACK), ORIGINAL
    // syn sIG, REPLY ack sSR ("might answer late resent SYN"), ORIGINAL
    // synack sSR. Until the client's ACK the flow keeps SYN_RECV's 60 s,
    // not ESTABLISHED's 5 days. The ignored ones (sIG) do not even
    // refresh it: nf_conntrack_tcp_packet() returns before the timer.
    let mut m = Middlebox::new(conntrack());
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    m.on_segment(at(0), &syn(), c);
    m.on_segment(at(10 * MS), &synack(), s);
    assert_eq!(m.state(&KEY), Some(FlowState::SynRecv));
    let first = at(10 * MS) + secs(60);
    let others = [
        (s, synack(), None),
        (c, syn(), None),
        (s, ack(s, 1, 1), Some(secs(60))),
        (
            c,
            seg(c, flags(true, true, false, false), 0, 1),
            Some(secs(60)),
        ),
    ];
    let mut expiry = first;
    for (i, (dir, p, refresh)) in others.into_iter().enumerate() {
        let now = at((i as u64 + 1) * SEC);
        assert_eq!(m.on_segment(now, &p, dir), fwd(None), "{p}");
        assert_eq!(m.state(&KEY), Some(FlowState::SynRecv), "{p}");
        if let Some(t) = refresh {
            expiry = now + t;
        }
        assert_eq!(m.expiry(&KEY), Some(expiry), "{p}");
    }
    assert_eq!(
        m.on_segment(at(10 * SEC), &ack(c, 1, 1), c),
        fwd(Some((FlowState::SynRecv, FlowState::Established)))
    );
    assert_eq!(m.expiry(&KEY), Some(at(10 * SEC) + secs(5 * 86_400)));
}

// ---- timeouts -----------------------------------------------------------------------

#[test]
fn every_packet_refreshes_the_timeout() {
    let mut m = established(nat());
    assert_eq!(m.expiry(&KEY), Some(at(20 * MS + 350 * SEC)));
    // Each packet, in either direction, restarts the 350 s.
    let mut t = 20 * MS;
    for (k, dir) in [Dir::FromClient, Dir::FromServer, Dir::FromClient]
        .into_iter()
        .enumerate()
    {
        t += 349 * SEC;
        let sg = data(dir, 1 + k as u64, 1);
        assert_eq!(m.on_segment(at(t), &sg, dir), fwd(None));
        assert_eq!(m.expiry(&KEY), Some(at(t + 350 * SEC)));
    }
}

#[test]
fn flow_is_forgotten_exactly_at_its_expiry() {
    let c = Dir::FromClient;
    // One nanosecond before: still tracked.
    let mut m = established(conntrack());
    let exp = m.expiry(&KEY).unwrap().as_nanos();
    assert_eq!(m.on_segment(at(exp - 1), &data(c, 1, 1), c), fwd(None));
    // At the instant itself: gone (lazy expiry, `expires <= now`).
    let mut m = established(conntrack());
    assert_eq!(
        m.on_segment(at(exp), &data(c, 1, 1), c),
        Verdict::DropUntracked {
            forgotten_at: Some(at(exp))
        }
    );
    assert_eq!(m.tracked(), 0);
}

#[test]
fn expire_removes_the_flow_only_when_due() {
    let mut m = established(nat());
    let exp = at(20 * MS + 350 * SEC);
    assert_eq!(m.expire(at(100 * SEC), &KEY), None);
    assert_eq!(m.tracked(), 1);
    // A timer that runs late still reports the expiry instant.
    assert_eq!(m.expire(at(400 * SEC), &KEY), Some(FlowState::Established));
    assert_eq!(m.tracked(), 0);
    assert_eq!(m.expire(at(500 * SEC), &KEY), None);
    let v = m.on_segment(at(500 * SEC), &data(Dir::FromServer, 1, 1), Dir::FromServer);
    assert_eq!(
        v,
        Verdict::DropUntracked {
            forgotten_at: Some(exp)
        }
    );
}

#[test]
fn stale_expiry_timer_after_a_refresh_does_nothing() {
    let mut m = established(nat());
    m.on_segment(at(300 * SEC), &data(Dir::FromClient, 1, 1), Dir::FromClient);
    assert_eq!(m.expire(at(20 * MS + 350 * SEC), &KEY), None);
    assert_eq!(m.state(&KEY), Some(FlowState::Established));
    assert_eq!(m.expiry(&KEY), Some(at(650 * SEC)));
}

// ---- untracked packets --------------------------------------------------------------

#[test]
fn drop_policy_after_expiry() {
    let mut m = established(conntrack());
    let exp = at(20 * MS + 432_000 * SEC);
    let later = at(500_000 * SEC);
    for dir in [Dir::FromClient, Dir::FromServer] {
        assert_eq!(
            m.on_segment(later, &data(dir, 1, 1), dir),
            Verdict::DropUntracked {
                forgotten_at: Some(exp)
            }
        );
    }
    assert_eq!(m.tracked(), 0);
}

#[test]
fn rst_policy_answers_with_the_reset_reply() {
    let mut m = established(nat());
    let exp = at(20 * MS + 350 * SEC);
    let sg = data(Dir::FromClient, 1, 1);
    let v = m.on_segment(at(400 * SEC), &sg, Dir::FromClient);
    let expected_rst = sg.reset_reply().unwrap();
    assert_eq!(
        v,
        Verdict::RstUntracked {
            rst: expected_rst,
            forgotten_at: Some(exp)
        }
    );
    // The RST goes back to the client, from the server's address, with the
    // client's ack as its sequence number and no ACK flag.
    assert_eq!(expected_rst.src, SERVER);
    assert_eq!(expected_rst.dst, CLIENT);
    assert_eq!(expected_rst.seq, 1);
    assert_eq!(
        expected_rst.flags,
        Flags {
            rst: true,
            ..Flags::default()
        }
    );
    // Still untracked: every later packet gets its own RST.
    assert!(matches!(
        m.on_segment(at(401 * SEC), &sg, Dir::FromClient),
        Verdict::RstUntracked { .. }
    ));
}

#[test]
fn rst_policy_never_answers_an_rst() {
    let mut m = Middlebox::new(nlb());
    assert_eq!(
        m.on_segment(at(0), &rst(Dir::FromClient, 1), Dir::FromClient),
        Verdict::DropUntracked { forgotten_at: None }
    );
}

#[test]
fn never_seen_flow_has_no_forgotten_time() {
    let mut m = Middlebox::new(nat());
    let sg = data(Dir::FromClient, 1, 1);
    assert_eq!(
        m.on_segment(at(0), &sg, Dir::FromClient),
        Verdict::RstUntracked {
            rst: sg.reset_reply().unwrap(),
            forgotten_at: None
        }
    );
    assert_eq!(m.tracked(), 0);
}

#[test]
fn synack_or_server_syn_does_not_create_a_flow() {
    let mut m = Middlebox::new(nlb());
    assert_eq!(
        m.on_segment(at(0), &synack(), Dir::FromServer),
        Verdict::RstUntracked {
            rst: synack().reset_reply().unwrap(),
            forgotten_at: None
        }
    );
    let server_syn = seg(Dir::FromServer, flags(true, false, false, false), 0, 0);
    assert!(matches!(
        m.on_segment(at(0), &server_syn, Dir::FromServer),
        Verdict::RstUntracked { .. }
    ));
    assert_eq!(m.tracked(), 0);
}

#[test]
fn new_syn_after_expiry_creates_a_new_flow() {
    let mut m = established(nat());
    let c = Dir::FromClient;
    assert!(matches!(
        m.on_segment(at(400 * SEC), &data(c, 1, 1), c),
        Verdict::RstUntracked {
            forgotten_at: Some(_),
            ..
        }
    ));
    assert_eq!(m.on_segment(at(500 * SEC), &syn(), c), created());
    assert_eq!(m.state(&KEY), Some(FlowState::SynSent));
    assert_eq!(m.expiry(&KEY), Some(at(850 * SEC)));
    // The new flow's handshake works; the old memory is gone.
    m.on_segment(at(500 * SEC), &synack(), Dir::FromServer);
    m.on_segment(at(500 * SEC), &ack(c, 1, 1), c);
    assert_eq!(m.state(&KEY), Some(FlowState::Established));
    assert_eq!(m.expire(at(850 * SEC), &KEY), Some(FlowState::Established));
    assert!(matches!(
        m.on_segment(at(900 * SEC), &data(c, 1, 1), c),
        Verdict::RstUntracked {
            forgotten_at: Some(t),
            ..
        } if t == at(850 * SEC)
    ));
}

#[test]
fn prune_forgotten_drops_old_memories() {
    let mut m = established(nat());
    let c = Dir::FromClient;
    assert_eq!(m.expire(at(400 * SEC), &KEY), Some(FlowState::Established));
    m.prune_forgotten(at(400 * SEC), secs(3600));
    assert!(matches!(
        m.on_segment(at(401 * SEC), &data(c, 1, 1), c),
        Verdict::RstUntracked {
            forgotten_at: Some(_),
            ..
        }
    ));
    m.prune_forgotten(at(20 * MS + 350 * SEC + 3600 * SEC), secs(3600));
    assert!(matches!(
        m.on_segment(at(5000 * SEC), &data(c, 1, 1), c),
        Verdict::RstUntracked {
            forgotten_at: None,
            ..
        }
    ));
}

#[test]
fn flows_are_independent() {
    let mut m = established(nat());
    let other = Addr {
        host: 1,
        port: 40_001,
    };
    let s2 = Segment {
        src: other,
        ..syn()
    };
    assert_eq!(m.on_segment(at(100 * SEC), &s2, Dir::FromClient), created());
    assert_eq!(m.tracked(), 2);
    assert_eq!(m.expire(at(400 * SEC), &KEY), Some(FlowState::Established));
    assert_eq!(m.state(&(other, SERVER)), Some(FlowState::SynSent));
}

// ---- presets ------------------------------------------------------------------------

#[test]
fn preset_aws_nat_gateway() {
    let p = MiddleboxPreset::AwsNatGateway;
    assert_eq!(p.name(), "aws-nat-gateway");
    let c = p.config();
    assert_eq!(c.timeouts, StateTimeouts::uniform(secs(350)));
    assert_eq!(c.untracked_from_client, Untracked::Rst);
    assert_eq!(c.untracked_from_server, Untracked::Drop);
    // Behaviour: RST to the inside host, outside packets dropped.
    let mut m = established(c);
    let v = m.on_segment(at(400 * SEC), &data(Dir::FromClient, 1, 1), Dir::FromClient);
    assert!(matches!(v, Verdict::RstUntracked { .. }));
    let v = m.on_segment(at(400 * SEC), &data(Dir::FromServer, 1, 1), Dir::FromServer);
    assert!(matches!(v, Verdict::DropUntracked { .. }));
}

#[test]
fn preset_aws_nlb() {
    let p = MiddleboxPreset::AwsNlb;
    assert_eq!(p.name(), "aws-nlb");
    let c = p.config();
    assert_eq!(c.timeouts, StateTimeouts::uniform(secs(350)));
    assert_eq!(c.untracked_from_client, Untracked::Rst);
    assert_eq!(c.untracked_from_server, Untracked::Rst);
    let mut m = established(c);
    let sg = data(Dir::FromServer, 1, 1);
    assert_eq!(
        m.on_segment(at(400 * SEC), &sg, Dir::FromServer),
        Verdict::RstUntracked {
            rst: sg.reset_reply().unwrap(),
            forgotten_at: Some(at(20 * MS + 350 * SEC))
        }
    );
    let r = sg.reset_reply().unwrap();
    assert_eq!((r.src, r.dst), (CLIENT, SERVER));
}

#[test]
fn preset_aws_network_firewall_and_vpc_endpoint_drop_forgotten_flows() {
    for p in [
        MiddleboxPreset::AwsNetworkFirewall,
        MiddleboxPreset::AwsVpcEndpoint,
    ] {
        let c = p.config();
        assert_eq!(c.timeouts, StateTimeouts::uniform(secs(350)));
        let mut m = established(c);
        let v = m.on_segment(at(400 * SEC), &data(Dir::FromClient, 1, 1), Dir::FromClient);
        assert!(matches!(v, Verdict::DropUntracked { .. }), "{p:?}: {v:?}");
        let v = m.on_segment(at(400 * SEC), &data(Dir::FromServer, 1, 1), Dir::FromServer);
        assert!(matches!(v, Verdict::DropUntracked { .. }), "{p:?}: {v:?}");
    }
}

#[test]
fn preset_linux_conntrack() {
    let p = MiddleboxPreset::LinuxConntrack;
    assert_eq!(p.name(), "linux-conntrack");
    let c = p.config();
    assert_eq!(
        c.timeouts,
        StateTimeouts {
            syn_sent: secs(120),
            syn_recv: secs(60),
            established: secs(432_000),
            fin_wait: secs(120),
            close_wait: secs(60),
            last_ack: secs(30),
            time_wait: secs(120),
            close: secs(10),
        }
    );
    assert_eq!(c.untracked_from_client, Untracked::Drop);
    assert_eq!(c.untracked_from_server, Untracked::Drop);
}

#[test]
fn preset_list_and_names() {
    assert_eq!(
        MiddleboxPreset::ALL.map(|p| p.name()),
        [
            "aws-nat-gateway",
            "aws-nlb",
            "linux-conntrack",
            "aws-network-firewall",
            "aws-vpc-endpoint",
            "aws-hyperplane-eni"
        ]
    );
    assert_eq!(
        MiddleboxPreset::ALL.map(|p| p.needs_idle_timeout()),
        [false, false, false, false, false, true]
    );
    assert_eq!(Untracked::Rst.name(), "rst");
    assert_eq!(Untracked::Drop.name(), "drop");
    let names = [
        (FlowState::SynSent, "SYN_SENT"),
        (FlowState::SynRecv, "SYN_RECV"),
        (FlowState::Established, "ESTABLISHED"),
        (FlowState::FinWait, "FIN_WAIT"),
        (FlowState::CloseWait, "CLOSE_WAIT"),
        (FlowState::LastAck, "LAST_ACK"),
        (FlowState::TimeWait, "TIME_WAIT"),
        (FlowState::Close, "CLOSE"),
    ];
    let t = MiddleboxPreset::LinuxConntrack.config().timeouts;
    for (s, n) in names {
        assert_eq!(s.name(), n);
        assert!(t.get(s) > SimDuration::ZERO);
    }
    assert_eq!(t.get(FlowState::Established), secs(432_000));
    assert_eq!(t.get(FlowState::Close), secs(10));
    let m = Middlebox::new(MiddleboxPreset::AwsNlb.config());
    assert_eq!(*m.config(), MiddleboxPreset::AwsNlb.config());
}

// ---- end to end: TCP endpoints through a NAT gateway ----------------------------

/// Runs the client's and server's sockets through `m` with zero latency:
/// delivers every segment in `out` (from `from`) through the middlebox,
/// recursively, ignoring timers.
fn pump(
    now: SimTime,
    m: &mut Middlebox,
    client: &mut Tcb,
    server: &mut Tcb,
    mut queue: Vec<(Dir, Segment)>,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    while !queue.is_empty() {
        // A mutated rule can make two sockets answer each other forever.
        assert!(verdicts.len() < 10_000, "runaway exchange");
        let (dir, sg) = queue.remove(0);
        let v = m.on_segment(now, &sg, dir);
        verdicts.push(v);
        let mut out = Vec::new();
        match (v, dir) {
            (Verdict::Forward { .. }, Dir::FromClient) => server.on_segment(now, &sg, &mut out),
            (Verdict::Forward { .. }, Dir::FromServer) => client.on_segment(now, &sg, &mut out),
            (Verdict::RstUntracked { rst, .. }, Dir::FromClient) => {
                client.on_segment(now, &rst, &mut out)
            }
            (Verdict::RstUntracked { rst, .. }, Dir::FromServer) => {
                server.on_segment(now, &rst, &mut out)
            }
            (Verdict::DropUntracked { .. }, _) => {}
        }
        let back = match (v, dir) {
            (Verdict::Forward { .. }, Dir::FromClient)
            | (Verdict::RstUntracked { .. }, Dir::FromServer) => Dir::FromServer,
            _ => Dir::FromClient,
        };
        for a in out {
            if let TcpAction::Send(s) = a {
                queue.push((back, s));
            }
        }
    }
    verdicts
}

fn sends(out: &[TcpAction], dir: Dir) -> Vec<(Dir, Segment)> {
    out.iter()
        .filter_map(|a| match a {
            TcpAction::Send(s) => Some((dir, *s)),
            _ => None,
        })
        .collect()
}

#[test]
fn nat_gateway_idle_expiry_resets_the_clients_next_write() {
    let mut m = Middlebox::new(nat());
    let cfg = TcpConfig::default();
    let mut out = Vec::new();
    let mut client = Tcb::connect(at(0), cfg, CLIENT, SERVER, &mut out);
    let syn = sends(&out, Dir::FromClient);
    assert_eq!(m.on_segment(at(0), &syn[0].1, Dir::FromClient), created());
    let mut sout = Vec::new();
    let mut server = Tcb::accept_syn(at(0), cfg, &syn[0].1, &mut sout);
    pump(
        at(0),
        &mut m,
        &mut client,
        &mut server,
        sends(&sout, Dir::FromServer),
    );
    assert_eq!(client.state(), TcpState::Established);
    assert_eq!(server.state(), TcpState::Established);
    assert_eq!(m.state(&KEY), Some(FlowState::Established));

    // Idle for 350 s: the gateway forgets the flow without telling anyone.
    let exp = m.expiry(&KEY).unwrap();
    assert_eq!(exp, at(350 * SEC));
    assert_eq!(m.expire(exp, &KEY), Some(FlowState::Established));

    // The client writes at 400 s: the gateway answers with an RST.
    let mut out = Vec::new();
    client.send(at(400 * SEC), Payload(1), &mut out).unwrap();
    let v = pump(
        at(400 * SEC),
        &mut m,
        &mut client,
        &mut server,
        sends(&out, Dir::FromClient),
    );
    assert!(matches!(
        v[0],
        Verdict::RstUntracked {
            forgotten_at: Some(t),
            ..
        } if t == exp
    ));
    assert_eq!(client.state(), TcpState::Closed);
    assert_eq!(client.recv(), RecvResult::Err(Errno::Econnreset));
    let mut out = Vec::new();
    assert_eq!(
        client.send(at(401 * SEC), Payload(2), &mut out),
        Err(Errno::Epipe)
    );
    // The server never heard of it.
    assert_eq!(server.state(), TcpState::Established);
    assert_eq!(server.unread(), 0);
}

#[test]
fn nat_gateway_drops_the_servers_late_packets() {
    let mut m = Middlebox::new(nat());
    let cfg = TcpConfig::default();
    let mut out = Vec::new();
    let mut client = Tcb::connect(at(0), cfg, CLIENT, SERVER, &mut out);
    let syn = sends(&out, Dir::FromClient);
    m.on_segment(at(0), &syn[0].1, Dir::FromClient);
    let mut sout = Vec::new();
    let mut server = Tcb::accept_syn(at(0), cfg, &syn[0].1, &mut sout);
    pump(
        at(0),
        &mut m,
        &mut client,
        &mut server,
        sends(&sout, Dir::FromServer),
    );
    m.expire(at(350 * SEC), &KEY);
    let mut out = Vec::new();
    server.send(at(400 * SEC), Payload(1), &mut out).unwrap();
    let v = pump(
        at(400 * SEC),
        &mut m,
        &mut client,
        &mut server,
        sends(&out, Dir::FromServer),
    );
    assert_eq!(
        v,
        vec![Verdict::DropUntracked {
            forgotten_at: Some(at(350 * SEC))
        }]
    );
    assert_eq!(client.unread(), 0);
    assert_eq!(server.state(), TcpState::Established);
    assert_eq!(server.unacked(), 1);
}

#[test]
fn new_syn_reopens_a_time_wait_or_closed_flow() {
    use crate::segment::{Addr, Flags, Segment};
    let c = Addr {
        host: 1,
        port: 40000,
    };
    let s = Addr {
        host: 0,
        port: 6379,
    };
    let seg = |flags: Flags| Segment {
        src: c,
        dst: s,
        flags,
        seq: 0,
        ack: 0,
        payload: None,
    };
    let mut mb = Middlebox::new(MiddleboxPreset::LinuxConntrack.config());
    let syn = seg(Flags {
        syn: true,
        ..Flags::default()
    });
    assert!(matches!(
        mb.on_segment(at(0), &syn, Dir::FromClient),
        Verdict::Forward { created: true, .. }
    ));
    let rst = seg(Flags {
        rst: true,
        ..Flags::default()
    });
    mb.on_segment(at(SEC), &rst, Dir::FromClient);
    assert_eq!(mb.state(&(c, s)), Some(FlowState::Close));
    assert!(matches!(
        mb.on_segment(at(2 * SEC), &syn, Dir::FromClient),
        Verdict::Forward { created: true, .. }
    ));
    assert_eq!(mb.state(&(c, s)), Some(FlowState::SynSent));
}

#[test]
fn a_retransmitted_fin_moves_fin_wait_to_last_ack() {
    // tcp_conntracks[][fin][sFW] = sLA: "Might be a retransmitted FIN as
    // well". The server's FIN to a frozen client is retransmitted: the flow
    // leaves FIN_WAIT (120 s) for LAST_ACK (30 s), refreshed by every
    // further retransmission, and is forgotten 30 s after the last one.
    let mut m = established(conntrack());
    let s = Dir::FromServer;
    assert_eq!(
        m.on_segment(at(SEC), &fin(s, 1, 1), s),
        fwd(Some((FlowState::Established, FlowState::FinWait)))
    );
    assert_eq!(m.expiry(&KEY), Some(at(SEC + 120 * SEC)));
    assert_eq!(
        m.on_segment(at(2 * SEC), &fin(s, 1, 1), s),
        fwd(Some((FlowState::FinWait, FlowState::LastAck)))
    );
    assert_eq!(m.expiry(&KEY), Some(at(2 * SEC + 30 * SEC)));
    assert_eq!(m.on_segment(at(5 * SEC), &fin(s, 1, 1), s), fwd(None));
    assert_eq!(m.expiry(&KEY), Some(at(5 * SEC + 30 * SEC)));
}

#[test]
fn timeouts_are_capped_after_three_retransmissions_and_while_data_is_unacked() {
    let s = Dir::FromServer;
    let data = |seq| Segment {
        payload: Some(Payload(1)),
        ..ack(s, seq, 1)
    };
    // Unacknowledged data: ESTABLISHED's 5 days become 300 s.
    let mut m = established(conntrack());
    m.on_segment(at(SEC), &data(1), s);
    assert_eq!(m.expiry(&KEY), Some(at(SEC + 300 * SEC)));
    // Acknowledged: back to 5 days.
    m.on_segment(at(2 * SEC), &ack(Dir::FromClient, 1, 2), Dir::FromClient);
    assert_eq!(m.expiry(&KEY), Some(at(2 * SEC + 5 * 86_400 * SEC)));
    // Without the caps (AWS presets): no change.
    let mut m = established(MiddleboxPreset::AwsNatGateway.config());
    m.on_segment(at(SEC), &data(1), s);
    assert_eq!(m.expiry(&KEY), Some(at(SEC + 350 * SEC)));
}

#[test]
fn accept_picks_up_a_mid_stream_ack_as_established() {
    // nf_conntrack_tcp_loose = 1 and no NEW-not-SYN rule: a data packet of
    // a forgotten flow creates a new ESTABLISHED flow and passes; the host
    // behind answers.
    let cfg = MiddleboxConfig {
        untracked_from_client: Untracked::Accept,
        ..conntrack()
    };
    let mut m = Middlebox::new(cfg);
    let c = Dir::FromClient;
    let d = Segment {
        payload: Some(Payload(1)),
        ..ack(c, 5, 9)
    };
    assert_eq!(
        m.on_segment(at(SEC), &d, c),
        Verdict::Forward {
            new_state: None,
            created: true
        }
    );
    assert_eq!(m.state(&KEY), Some(FlowState::Established));
    // The server host's RST closes it.
    assert_eq!(
        m.on_segment(at(SEC), &rst(Dir::FromServer, 9), Dir::FromServer),
        fwd(Some((FlowState::Established, FlowState::Close)))
    );
    // A FIN of no flow passes untracked.
    let mut m = Middlebox::new(cfg);
    assert_eq!(m.on_segment(at(SEC), &fin(c, 5, 9), c), fwd(None));
    assert_eq!(m.state(&KEY), None);
}

// ---- the timeout caps and the packets that change nothing (mutation-tested) --------

fn capped(max_retrans: Option<u64>, unacknowledged: Option<u64>) -> MiddleboxConfig {
    MiddleboxConfig {
        max_retrans: max_retrans.map(secs),
        unacknowledged: unacknowledged.map(secs),
        ..conntrack()
    }
}

const FIVE_DAYS: u64 = 5 * 86_400;

#[test]
fn unacknowledged_data_of_either_side_caps_the_timeout() {
    // tcp_in_window() marks a side's data unacknowledged until the other
    // side acknowledges its end; an ACK-column packet then gets
    // nf_conntrack_tcp_timeout_unacknowledged (300 s) instead of 5 days.
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    for (dir, other) in [(c, s), (s, c)] {
        let mut m = established(capped(None, Some(300)));
        m.on_segment(at(SEC), &data(dir, 1, 1), dir);
        assert_eq!(m.expiry(&KEY), Some(at(SEC) + secs(300)), "{dir:?}");
        // The other side's ACK of it lifts the cap.
        m.on_segment(at(2 * SEC), &ack(other, 1, 2), other);
        assert_eq!(
            m.expiry(&KEY),
            Some(at(2 * SEC) + secs(FIVE_DAYS)),
            "{dir:?}"
        );
    }
}

#[test]
fn three_identical_ack_packets_cap_the_timeout_at_max_retrans() {
    // tcp_in_window(): the same packet again (direction, seq, ack, end)
    // counts a retransmission; from the third, nf_conntrack_tcp_packet()
    // caps the timeout at nf_conntrack_tcp_timeout_max_retrans (300 s).
    let c = Dir::FromClient;
    let mut m = established(capped(Some(300), None));
    let p = data(c, 1, 1);
    for k in 0..5u64 {
        let now = at((k + 1) * SEC);
        m.on_segment(now, &p, c);
        let want = if k >= 3 { 300 } else { FIVE_DAYS };
        assert_eq!(m.expiry(&KEY), Some(now + secs(want)), "copy {k}");
    }
    // Another packet ends the run.
    m.on_segment(at(10 * SEC), &ack(Dir::FromServer, 1, 2), Dir::FromServer);
    assert_eq!(m.expiry(&KEY), Some(at(10 * SEC) + secs(FIVE_DAYS)));
}

#[test]
fn a_fin_neither_counts_as_a_retransmission_nor_meets_the_unacknowledged_cap() {
    // Both rules belong to the ACK column (index == TCP_ACK_SET): repeated
    // FINs do not count, and a FIN with data outstanding gets its state's
    // own timeout. Custom timeouts above the caps make both visible.
    let cfg = MiddleboxConfig {
        timeouts: StateTimeouts {
            fin_wait: secs(600),
            last_ack: secs(600),
            ..conntrack().timeouts
        },
        ..capped(Some(300), Some(300))
    };
    let c = Dir::FromClient;
    let mut m = established(cfg);
    // Unacknowledged client data, then the client's FIN: FIN_WAIT's 600 s.
    m.on_segment(at(SEC), &data(c, 1, 1), c);
    assert_eq!(m.expiry(&KEY), Some(at(SEC) + secs(300)));
    let f = fin(c, 2, 1);
    m.on_segment(at(2 * SEC), &f, c);
    assert_eq!(m.state(&KEY), Some(FlowState::FinWait));
    assert_eq!(m.expiry(&KEY), Some(at(2 * SEC) + secs(600)));
    // The same FIN four more times: LAST_ACK's 600 s every time.
    for k in 3..7u64 {
        m.on_segment(at(k * SEC), &f, c);
        assert_eq!(m.state(&KEY), Some(FlowState::LastAck));
        assert_eq!(m.expiry(&KEY), Some(at(k * SEC) + secs(600)), "copy {k}");
    }
}

#[test]
fn invalid_and_ignored_packets_change_neither_state_nor_timeout() {
    // sIG and sIV: nf_conntrack_tcp_packet() returns NF_ACCEPT or
    // -NF_ACCEPT before tcp_in_window() and before refreshing the timer.
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    let mut m = established(capped(Some(300), Some(300)));
    let exp = m.expiry(&KEY);
    let odd = [
        (c, syn()),                                          // ORIGINAL syn, sES: sIG
        (s, synack()),                                       // REPLY synack, sES: sIG
        (c, seg(c, flags(true, true, false, false), 1, 1)),  // ORIGINAL synack: sIV
        (s, seg(s, flags(true, false, false, false), 1, 1)), // REPLY syn, sES: sIV
        (c, seg(c, Flags::default(), 1, 1)),                 // no flags: sIV
    ];
    for (k, (dir, p)) in odd.into_iter().enumerate() {
        let now = at((k as u64 + 1) * 100 * SEC);
        assert_eq!(m.on_segment(now, &p, dir), fwd(None), "{p}");
        assert_eq!(m.state(&KEY), Some(FlowState::Established), "{p}");
        assert_eq!(m.expiry(&KEY), exp, "{p}");
    }
    // Nor did they touch the bookkeeping: the ACK below is the first of
    // its kind, and the flow gets the full timeout.
    let now = at(1000 * SEC);
    m.on_segment(now, &ack(c, 1, 1), c);
    assert_eq!(m.expiry(&KEY), Some(now + secs(FIVE_DAYS)));
}

#[test]
fn syn_sent_refreshes_on_a_retransmitted_syn_and_ignores_a_fin() {
    // ORIGINAL syn in sSS is sSS (a retransmitted SYN, the timer restarts);
    // a FIN before the SYN-ACK is sIV.
    let c = Dir::FromClient;
    let mut m = Middlebox::new(conntrack());
    m.on_segment(at(0), &syn(), c);
    assert_eq!(m.expiry(&KEY), Some(at(120 * SEC)));
    assert_eq!(m.on_segment(at(SEC), &syn(), c), fwd(None));
    assert_eq!(m.expiry(&KEY), Some(at(121 * SEC)));
    assert_eq!(m.on_segment(at(2 * SEC), &fin(c, 1, 0), c), fwd(None));
    assert_eq!(m.state(&KEY), Some(FlowState::SynSent));
    assert_eq!(m.expiry(&KEY), Some(at(121 * SEC)));
}

#[test]
fn a_syn_from_the_server_does_not_reopen_a_closed_flow() {
    // REPLY syn in sCL is sIV: only the client's SYN reopens (ORIGINAL
    // syn in sCL is sSS). The flow keeps CLOSE and its 10 s.
    let c = Dir::FromClient;
    let s = Dir::FromServer;
    let mut m = established(conntrack());
    m.on_segment(at(SEC), &rst(c, 1), c);
    assert_eq!(m.state(&KEY), Some(FlowState::Close));
    let exp = m.expiry(&KEY);
    let server_syn = seg(s, flags(true, false, false, false), 0, 0);
    assert_eq!(m.on_segment(at(2 * SEC), &server_syn, s), fwd(None));
    assert_eq!(m.state(&KEY), Some(FlowState::Close));
    assert_eq!(m.expiry(&KEY), exp);
}
