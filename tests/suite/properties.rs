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
//!   the middlebox has dropped the connection, with the error the second
//!   table of that section gives: ECONNRESET from the server's host without
//!   a middlebox or from a middlebox whose policy is `rst`; ETIMEDOUT
//!   (TCP_USER_TIMEOUT, or retries2 unless the function timeout comes
//!   first) from a middlebox that drops;
//! - no other error kind happens at all, even near a boundary.
use proptest::prelude::*;
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

fn params() -> impl Strategy<Value = Params> {
    (
        1_000u64..1_500_000,
        1_000u64..1_000_000,
        1_000u64..1_000_000,
        prop::option::of((60_000u64..2_000_000, 1_000u64..200_000, any::<bool>())),
        0u32..=8,
        prop::option::of(200u64..20_000),
        1u32..=15,
    )
        .prop_map(
            |(gap_ms, idle_ms, reap_ms, mb, orphan_retries, user_timeout_ms, retries2)| Params {
                gap_ms,
                idle_ms,
                reap_ms,
                mb,
                orphan_retries,
                user_timeout_ms,
                retries2,
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

proptest! {
    // 256 cases in the suite; PROPTEST_CASES=N for a longer hunt. Failures
    // are recorded in tests/suite/proptest-regressions/ and replayed first.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn upstash_timings(p in params()) {
        let cfg = config(&p);
        let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
        // Every invocation ends exactly once.
        let ids: Vec<u64> = r.outcomes.iter().map(|o| o.id).collect();
        prop_assert_eq!(ids, vec![1, 2]);
        // Every connection opened is closed or still open at the end.
        let m = &r.metrics;
        prop_assert_eq!(m.connections_opened, m.connections_closed + m.connections_open_at_end);
        prop_assert!(r.outcomes[0].error.is_none(), "first invocation failed: {:?}", r.outcomes[0]);

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
        // Whatever the timing, only these errors can happen here (near a
        // boundary either side's outcome is allowed, nothing else).
        use thaw_sim::ErrorKind::{Econnreset, Etimedout, FunctionTimeout};
        prop_assert!(
            matches!(second.error, None | Some(Econnreset | Etimedout | FunctionTimeout)),
            "unexpected error: {:?}", second
        );
        if reaped {
            prop_assert!(second.cold && second.error.is_none(), "reaped env: {:?}", second);
        } else if alive && fresh {
            prop_assert!(!second.cold && second.error.is_none(), "fresh connection: {:?}", second);
        } else if alive && stale {
            prop_assert!(!second.cold && second.error.is_some(), "stale connection: {:?}", second);
            // Which error (model.md 9, second table).
            let idle = p.idle_ms as i64;
            match p.mb {
                // The server's host answers the request with an RST (its
                // socket is gone, or an orphan in FIN_WAIT).
                None => prop_assert_eq!(second.error, Some(Econnreset), "{:?}", second),
                // A middlebox that forgot the flow while the server still
                // held the connection: its client-side policy decides.
                Some((est, _, drop)) if gap > est as i64 + margin && gap + margin < idle => {
                    if !drop {
                        prop_assert_eq!(second.error, Some(Econnreset), "rst policy: {:?}", second);
                    } else if p.user_timeout_ms.is_some() {
                        // TCP_USER_TIMEOUT (at most 20 s) ends it first.
                        prop_assert_eq!(second.error, Some(Etimedout), "user timeout: {:?}", second);
                    } else {
                        // retries2 (up to 924.6 s) or the 900 s function
                        // timeout, whichever comes first.
                        prop_assert!(
                            matches!(second.error, Some(Etimedout | FunctionTimeout)),
                            "dropped: {:?}", second
                        );
                    }
                }
                // The server closed first: the flow may still be in its
                // FIN states (then the server's RST) or gone (the policy).
                Some((_, _, false)) => {
                    prop_assert_eq!(second.error, Some(Econnreset), "rst either way: {:?}", second)
                }
                Some((_, _, true)) => {}
            }
        }
    }
}
