//! Property tests over random timing parameters of the Upstash scenario.
//!
//! Invariants: no panic; every invocation ends exactly once; every
//! function-side connection opened is closed or still open at the end; and
//! the outcome of the request after the freeze follows the rule the model
//! documents (docs/model.md, "Outcome rule for a cached connection"):
//! - it is ok (and warm) if the gap is shorter than both the server idle
//!   timeout and the middlebox's established timeout;
//! - it is ok (and cold) if the environment was reaped before it arrived;
//! - it fails if the environment is still alive and either the server or
//!   the middlebox has dropped the connection, with the error model.md §9
//!   derives from the timings: ECONNRESET from the server's host (no
//!   middlebox, or a flow still in its FIN states) or from a middlebox whose
//!   policy is `rst`; from one that drops, ETIMEDOUT (TCP_USER_TIMEOUT, or
//!   retries2's model timeout) or FUNCTION_TIMEOUT when that comes first;
//! - no other error kind happens at all, even near a boundary;
//! - every branch of the rule is reached by some generated case.
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use thaw_core::{NullSink, SimDuration};
use thaw_net::{MiddleboxConfig, StateTimeouts, TcpConfig, Untracked};
use thaw_sim::{
    ClientConfig, NamedMiddlebox, PlatformConfig, ReapPolicy, RequestSpec, ServerConfig, SimConfig,
    Strategy as ConnStrategy, WorkloadConfig,
};

#[derive(Debug, Clone)]
struct Params {
    gap_ms: u64,
    idle_ms: u64,
    reap_ms: u64,
    mb: Option<(u64, u64, bool)>,
    orphan_retries: u32,
    user_timeout_ms: Option<u64>,
    retries2: u32,
}

/// Where the second invocation's gap is drawn. Besides anywhere, the
/// generator aims at each branch of the outcome rule that a uniform draw
/// rarely reaches, so that every run reaches all of them.
#[derive(Debug, Clone)]
enum Gap {
    /// Anywhere.
    Uniform(u64),
    /// Before both the server's and the middlebox's timeouts, the
    /// environment alive (the fraction of that span, in thousandths).
    Fresh(u64),
    /// Just after the server's idle timeout (up to 300 s later), with the
    /// environment kept alive.
    AfterIdle(u64),
    /// Just after the middlebox's established timeout (up to 200 s later),
    /// with the environment and the server's connection kept alive: the
    /// middlebox's policy decides.
    AfterEstablished(u64),
    /// A dropping middlebox whose flow outlives the server's idle timeout,
    /// the gap inside the flow's FIN states (the fraction of them, in
    /// thousandths).
    InFinStates(u64),
    /// A dropping middlebox that forgets the flow before the server's idle
    /// timeout, the gap up to 300 s after that timeout.
    GoneBeforeFin(u64),
    /// A dropping middlebox whose flow outlives the server's idle timeout,
    /// the gap up to 100 s after the flow's FIN states are surely over.
    AfterFinStates(u64),
}

/// An upper bound, in ms after the server's idle timeout, on when a flow
/// that saw the server's FIN is forgotten: the orphan's last FIN copy comes
/// before it gives up, tcp_model_timeout(orphan retries, 200 ms) after its
/// first retransmission (0 retries means 8; 500 ms covers the FIN's own
/// timing), and the flow lasts max(FIN_WAIT, LAST_ACK = 120 s) after it.
fn fin_states_end(orphan_retries: u32, fin_wait_ms: u64) -> u64 {
    fin_copies_end(orphan_retries) + fin_wait_ms.max(120_000)
}

/// An upper bound, in ms after the server's idle timeout, on the orphan's
/// last FIN copy.
fn fin_copies_end(orphan_retries: u32) -> u64 {
    let retries = if orphan_retries == 0 {
        8
    } else {
        orphan_retries
    };
    let last_copy = thaw_net::tcp::model_timeout(
        retries,
        SimDuration::from_millis(200),
        SimDuration::from_secs(120),
    );
    last_copy.as_nanos() / 1_000_000 + 500
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![
            2 => (1_000u64..1_500_000).prop_map(Gap::Uniform),
            1 => (0u64..1_000).prop_map(Gap::Fresh),
            4 => (0u64..300_000).prop_map(Gap::AfterIdle),
            2 => (0u64..200_000).prop_map(Gap::AfterEstablished),
            1 => (0u64..1_000).prop_map(Gap::InFinStates),
            1 => (1_500u64..300_000).prop_map(Gap::GoneBeforeFin),
            1 => (0u64..100_000).prop_map(Gap::AfterFinStates),
        ],
        1_000u64..1_000_000,
        1_000u64..1_000_000,
        prop::option::of((60_000u64..2_000_000, 1_000u64..200_000, any::<bool>())),
        0u32..=8,
        prop::option::of(200u64..20_000),
        1u32..=15,
        any::<bool>(),
    )
        .prop_map(
            |(gap, idle_ms, reap_ms, mb, orphan_retries, user_timeout_ms, retries2, drop)| {
                let alive_past = |g: u64| reap_ms.max(g + 5_000);
                let (est, fin, _) = mb.unwrap_or((60_000, 1_000, false));
                let (gap_ms, idle_ms, reap_ms, mb) = match gap {
                    Gap::Uniform(g) => (g, idle_ms, reap_ms, mb),
                    Gap::Fresh(k) => {
                        let idle = idle_ms.max(5_000);
                        let first = mb.map_or(idle, |m| m.0.min(idle));
                        let g = 1_500 + (first - 3_000) * k / 1_000;
                        (g, idle, alive_past(g), mb)
                    }
                    Gap::AfterIdle(d) => (idle_ms + d, idle_ms, alive_past(idle_ms + d), mb),
                    Gap::AfterEstablished(d) => {
                        let g = est + d;
                        let mb = Some(mb.unwrap_or((est, fin, drop)));
                        (g, idle_ms.max(g + 5_000), alive_past(g), mb)
                    }
                    Gap::InFinStates(k) => {
                        let fin = fin.max(5_000);
                        let window = fin.min(120_000) - 3_000;
                        let g = idle_ms + 1_500 + window * k / 1_000;
                        (
                            g,
                            idle_ms,
                            alive_past(g),
                            Some((idle_ms + 10_000 + est, fin, true)),
                        )
                    }
                    Gap::AfterFinStates(d) => {
                        let g = idle_ms + fin_states_end(orphan_retries, fin) + 1_500 + d;
                        (
                            g,
                            idle_ms,
                            alive_past(g),
                            Some((idle_ms + 10_000 + est, fin, true)),
                        )
                    }
                    Gap::GoneBeforeFin(d) => {
                        let idle = idle_ms.max(est + 5_000);
                        (idle + d, idle, alive_past(idle + d), Some((est, fin, true)))
                    }
                };
                Params {
                    gap_ms,
                    idle_ms,
                    reap_ms,
                    mb,
                    orphan_retries,
                    user_timeout_ms,
                    retries2,
                }
            },
        )
}

fn config(p: &Params) -> SimConfig {
    let ms = SimDuration::from_millis;
    SimConfig {
        name: "upstash-prop".into(),
        seed: 1,
        platform: PlatformConfig {
            memory_mb: 128,
            timeout: SimDuration::from_secs(900),
            init_duration: thaw_sim::Dist::Fixed(ms(200)),
            reap: ReapPolicy::Fixed(ms(p.reap_ms)),
            tcp: TcpConfig {
                user_timeout: p.user_timeout_ms.map(ms),
                retries2: p.retries2,
                ..TcpConfig::default()
            },
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: ConnStrategy::Global,
            requests: vec![RequestSpec {
                name: "GET foo".into(),
                timeout: None,
                op: thaw_sim::RequestOp::Ping,
                pin: false,
                idempotent: false,
                target: 0,
                writes: 1,
                write_gap: thaw_core::SimDuration::ZERO,
                work_after: thaw_core::SimDuration::ZERO,
                await_reply: true,
            }],
            ..ClientConfig::default()
        },
        middleboxes: p
            .mb
            .map(|(est, fin, drop)| NamedMiddlebox {
                name: "mb".into(),
                config: MiddleboxConfig {
                    timeouts: StateTimeouts {
                        established: ms(est),
                        fin_wait: ms(fin),
                        ..StateTimeouts::uniform(SimDuration::from_secs(120))
                    },
                    untracked_from_client: if drop {
                        Untracked::Drop
                    } else {
                        Untracked::Rst
                    },
                    untracked_from_server: Untracked::Drop,
                    max_retrans: None,
                    unacknowledged: None,
                },
            })
            .into_iter()
            .collect(),
        servers: vec![ServerConfig {
            idle_timeout: Some(ms(p.idle_ms)),
            tcp: TcpConfig {
                orphan_retries: p.orphan_retries,
                ..TcpConfig::default()
            },
            ..ServerConfig::default()
        }],
        workload: WorkloadConfig::At(vec![SimDuration::ZERO, ms(p.gap_ms)]),
        ..SimConfig::default()
    }
}

/// Which branches of the outcome rule the generated cases reached.
#[derive(Default, Debug)]
struct Seen {
    warm: u32,
    cold: u32,
    no_middlebox: u32,
    forgot_rst: u32,
    forgot_drop: u32,
    server_first_rst: u32,
    gone_before_fin: u32,
    in_fin_states: u32,
    expired_after_fin: u32,
    /// A FIN copy of the orphan read just after the thaw (not required:
    /// its window is one round trip).
    fin_copy_eof: u32,
}

fn check(p: &Params, seen: &mut Seen) -> Result<(), TestCaseError> {
    let cfg = config(p);
    let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
    // Every invocation ends exactly once.
    let ids: Vec<u64> = r.outcomes.iter().map(|o| o.id).collect();
    prop_assert_eq!(ids, vec![1, 2]);
    // Every connection opened is closed or still open at the end.
    let m = &r.metrics;
    prop_assert_eq!(
        m.connections_opened,
        m.connections_closed + m.connections_open_at_end
    );
    prop_assert!(
        r.outcomes[0].error.is_none(),
        "first invocation failed: {:?}",
        r.outcomes[0]
    );

    // The outcome rule. Timers start at the end of invocation 1
    // (~0.21 s); keep 1 s away from every boundary.
    let second = &r.outcomes[1];
    let gap = p.gap_ms as i64;
    let margin = 1_000i64;
    let mb_est = p.mb.map(|m| m.0 as i64).unwrap_or(i64::MAX);
    let alive = gap + margin < p.reap_ms as i64;
    let reaped = gap > p.reap_ms as i64 + margin;
    let fresh = gap + margin < (p.idle_ms as i64).min(mb_est);
    let stale = gap > (p.idle_ms as i64).min(mb_est) + margin;
    // While the server's orphan still retransmits its FIN, a copy can
    // reach the client in the round trip after the thaw, before the answer
    // to its request: the read then returns EOF.
    let fin_copies = gap < p.idle_ms as i64 + fin_copies_end(p.orphan_retries) as i64 + margin;
    // Whatever the timing, only these errors can happen here (near a
    // boundary either side's outcome is allowed, nothing else).
    use thaw_sim::ErrorKind::{Econnreset, Eof, Etimedout, FunctionTimeout};
    prop_assert!(
        matches!(
            second.error,
            None | Some(Econnreset | Etimedout | FunctionTimeout)
        ) || (fin_copies && second.error == Some(Eof)),
        "unexpected error: {:?}",
        second
    );
    if second.error == Some(Eof) {
        seen.fin_copy_eof += 1;
    }
    // The server's host answers: its RST, or a FIN copy just after the thaw.
    let answered =
        |e: Option<thaw_sim::ErrorKind>| e == Some(Econnreset) || (fin_copies && e == Some(Eof));
    if reaped {
        prop_assert!(
            second.cold && second.error.is_none(),
            "reaped env: {:?}",
            second
        );
        seen.cold += 1;
    } else if alive && fresh {
        prop_assert!(
            !second.cold && second.error.is_none(),
            "fresh connection: {:?}",
            second
        );
        seen.warm += 1;
    } else if alive && stale {
        prop_assert!(
            !second.cold && second.error.is_some(),
            "stale connection: {:?}",
            second
        );
        // Which error (model.md 9, second table).
        let idle = p.idle_ms as i64;
        // A request the middlebox drops: TCP_USER_TIMEOUT (at most
        // 20 s) ends it, else retries2's tcp_model_timeout() from the
        // first retransmission (about one 204 ms RTO after the send),
        // unless the 900 s function timeout comes first.
        let dropped = || {
            if p.user_timeout_ms.is_some() {
                return Etimedout;
            }
            let give_up = thaw_net::tcp::model_timeout(
                p.retries2,
                SimDuration::from_millis(200),
                SimDuration::from_secs(120),
            );
            if give_up.as_nanos() < 899_000_000_000 {
                Etimedout
            } else {
                FunctionTimeout
            }
        };
        match p.mb {
            // The server's host answers the request with an RST (its
            // socket is gone, or an orphan in FIN_WAIT).
            None => {
                prop_assert!(answered(second.error), "{:?}", second);
                seen.no_middlebox += 1;
            }
            // A middlebox that forgot the flow while the server still
            // held the connection: its client-side policy decides.
            Some((est, _, drop)) if gap > est as i64 + margin && gap + margin < idle => {
                if !drop {
                    prop_assert_eq!(second.error, Some(Econnreset), "rst policy: {:?}", second);
                    seen.forgot_rst += 1;
                } else {
                    prop_assert_eq!(second.error, Some(dropped()), "dropped: {:?}", second);
                    seen.forgot_drop += 1;
                }
            }
            // The server closed first: the flow may still be in its
            // FIN states (then the server's RST) or gone (the policy).
            Some((_, _, false)) => {
                prop_assert!(answered(second.error), "rst either way: {:?}", second);
                seen.server_first_rst += 1;
            }
            Some((est, fin, true)) => {
                let est = est as i64;
                if est + margin < idle {
                    // The flow was forgotten before the server's FIN
                    // (which the middlebox then drops): the request
                    // is dropped too.
                    prop_assert_eq!(
                        second.error,
                        Some(dropped()),
                        "flow gone first: {:?}",
                        second
                    );
                    seen.gone_before_fin += 1;
                } else if est > idle + margin {
                    // The FIN (at about idle) moved the flow to
                    // FIN_WAIT (`fin`), its first retransmission to
                    // LAST_ACK (120 s here); every copy restarts the
                    // timer. So the flow lives at least min(fin, 120 s)
                    // after the FIN, and is gone by fin_states_end().
                    let fin = fin as i64;
                    let lives_at_least = idle + fin.min(120_000);
                    let gone_by = idle + fin_states_end(p.orphan_retries, fin as u64) as i64;
                    if gap + margin < lives_at_least {
                        prop_assert!(
                            answered(second.error),
                            "flow in its FIN states: {:?}",
                            second
                        );
                        seen.in_fin_states += 1;
                    } else if gap > gone_by + margin {
                        prop_assert_eq!(
                            second.error,
                            Some(dropped()),
                            "flow expired after the FIN: {:?}",
                            second
                        );
                        seen.expired_after_fin += 1;
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn upstash_timings() {
    // 256 cases in the suite; PROPTEST_CASES=N for a longer hunt. Failures
    // are recorded in tests/suite/proptest-regressions/ and replayed first.
    let mut seen = Seen::default();
    let cases = crate::runner::run_cases(&params(), 256, file!(), |p| check(&p, &mut seen));
    // A rule whose branches the generator never reaches proves nothing.
    if cases >= 256 {
        let counts = [
            seen.warm,
            seen.cold,
            seen.no_middlebox,
            seen.forgot_rst,
            seen.forgot_drop,
            seen.server_first_rst,
            seen.gone_before_fin,
            seen.in_fin_states,
            seen.expired_after_fin,
        ];
        assert!(
            counts.iter().all(|&n| n > 0),
            "a branch was never reached: {seen:?}"
        );
    }
}
