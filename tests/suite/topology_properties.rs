//! Property tests over paths through several middleboxes.
//!
//! A cached connection is idle for a random gap while its environment is
//! frozen; the path crosses one to three middleboxes with random idle
//! timeouts and policies for packets of a flow they no longer know. The
//! server never closes the connection and nobody sends keepalives, so only
//! the middleboxes can break it, and the request after the thaw must meet
//! the rule docs/model.md states for a path (3.5):
//! - the first middlebox on the path, from the function's side, that has
//!   forgotten the flow and does not let unknown packets through decides:
//!   `rst` → ECONNRESET, `drop` → no reply (the request's timeout);
//! - a middlebox with `accept` picks the flow up again and passes it on;
//! - if no middlebox forgot the flow, the request succeeds.
//!
//! Two servers are reached over different paths (the second crosses some
//! of the middleboxes, in another order): the rule holds for the path of
//! the server the request goes to. A packet that skipped a middlebox of its
//! path, crossed one of another path, or crossed them out of order, breaks
//! the rule in some case the generator reaches.
use proptest::prelude::*;
use thaw_core::{NullSink, SimDuration};
use thaw_net::{MiddleboxConfig, StateTimeouts, Untracked};
use thaw_sim::{
    ClientConfig, ErrorKind, NamedMiddlebox, PlatformConfig, ReapPolicy, RequestSpec, ServerConfig,
    SimConfig, Strategy as ConnStrategy, WorkloadConfig,
};

#[derive(Debug, Clone)]
struct Params {
    gap_ms: u64,
    /// (established timeout, policy for unknown packets from the client,
    /// latency to the next middlebox), in path order.
    hops: Vec<(u64, Untracked, u64)>,
    /// Two servers: the first crosses every middlebox in order, the second
    /// only those at these places, in this order; the request goes to
    /// `target`.
    other_path: Vec<usize>,
    target: u16,
}

fn policy() -> impl Strategy<Value = Untracked> {
    prop_oneof![
        Just(Untracked::Rst),
        Just(Untracked::Drop),
        Just(Untracked::Accept)
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        1_000u64..1_200_000,
        prop::collection::vec((10_000u64..1_000_000, policy(), 0u64..20), 1..=3),
        Just(vec![0usize, 1, 2]).prop_shuffle(),
        0usize..=3,
        0u16..2,
    )
        .prop_map(|(gap_ms, hops, order, take, target)| {
            let n = hops.len();
            let other_path = order.into_iter().filter(|&i| i < n).take(take).collect();
            Params {
                gap_ms,
                hops,
                other_path,
                target,
            }
        })
}

const REQUEST_TIMEOUT_MS: u64 = 2_000;

fn config(p: &Params) -> SimConfig {
    let ms = SimDuration::from_millis;
    SimConfig {
        name: "path-prop".into(),
        platform: PlatformConfig {
            timeout: SimDuration::from_secs(900),
            init_duration: thaw_sim::Dist::Fixed(ms(200)),
            reap: ReapPolicy::Fixed(SimDuration::from_secs(10_000)),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: ConnStrategy::Global,
            requests: vec![RequestSpec {
                timeout: Some(ms(REQUEST_TIMEOUT_MS)),
                target: p.target,
                ..RequestSpec::ping("GET")
            }],
            ..ClientConfig::default()
        },
        // The default path (the first server's): every middlebox in order.
        path: Some(
            p.hops
                .iter()
                .enumerate()
                .map(|(i, h)| (i as u16, ms(h.2)))
                .collect(),
        ),
        servers: vec![
            ServerConfig {
                name: "a".into(),
                ..ServerConfig::default()
            },
            ServerConfig {
                name: "b".into(),
                path: Some(
                    p.other_path
                        .iter()
                        .map(|&i| (i as u16, ms(p.hops[i].2)))
                        .collect(),
                ),
                ..ServerConfig::default()
            },
        ],
        middleboxes: p
            .hops
            .iter()
            .enumerate()
            .map(|(i, &(est, policy, _))| NamedMiddlebox {
                name: format!("mb{i}"),
                config: MiddleboxConfig {
                    timeouts: StateTimeouts {
                        established: ms(est),
                        ..StateTimeouts::uniform(SimDuration::from_secs(120))
                    },
                    untracked_from_client: policy,
                    untracked_from_server: Untracked::Drop,
                    max_retrans: None,
                    unacknowledged: None,
                },
            })
            .collect(),
        workload: WorkloadConfig::At(vec![SimDuration::ZERO, ms(p.gap_ms)]),
        ..SimConfig::default()
    }
}

/// The middleboxes the request's connection crosses, in order.
fn crossed(p: &Params) -> Vec<(u64, Untracked, u64)> {
    match p.target {
        0 => p.hops.clone(),
        _ => p.other_path.iter().map(|&i| p.hops[i]).collect(),
    }
}

/// What the rule says of the request after the gap: `None` = ok.
fn expected(p: &Params) -> Option<ErrorKind> {
    crossed(p)
        .iter()
        .find(|(est, policy, _)| *est < p.gap_ms && *policy != Untracked::Accept)
        .map(|(_, policy, _)| match policy {
            Untracked::Rst => ErrorKind::Econnreset,
            Untracked::Drop | Untracked::Accept => ErrorKind::RequestTimeout,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_first_middlebox_that_forgot_the_flow_decides(p in params()) {
        // The flows' timers start at the first invocation's last packet
        // (well under 1 s, with up to 40 ms between middleboxes): keep 1 s
        // away from every timeout.
        prop_assume!(p.hops.iter().all(|(est, ..)| est.abs_diff(p.gap_ms) > 1_000));
        let cfg = config(&p);
        let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
        prop_assert_eq!(r.outcomes.len(), 2);
        prop_assert!(r.outcomes[0].error.is_none(), "{:?}", r.outcomes[0]);
        prop_assert!(!r.outcomes[1].cold, "the same environment, thawed");
        prop_assert_eq!(r.outcomes[1].error, expected(&p), "{:?}", r.outcomes[1]);
    }
}

/// The generator reaches every branch of the rule (a rule never exercised
/// proves nothing).
#[test]
fn the_generator_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut reset, mut silent, mut picked_up) = (0, 0, 0, 0);
    for _ in 0..256 {
        let p = params().new_tree(&mut runner).expect("tree").current();
        match expected(&p) {
            None => ok += 1,
            Some(ErrorKind::Econnreset) => reset += 1,
            Some(_) => silent += 1,
        }
        let hops = crossed(&p);
        let accepted_first = hops
            .iter()
            .position(|(est, pol, _)| *est < p.gap_ms && *pol == Untracked::Accept);
        let deciding = hops
            .iter()
            .position(|(est, pol, _)| *est < p.gap_ms && *pol != Untracked::Accept);
        if matches!((accepted_first, deciding), (Some(a), Some(d)) if a < d) {
            picked_up += 1;
        }
    }
    assert!(
        ok > 10 && reset > 10 && silent > 10 && picked_up > 5,
        "ok {ok}, reset {reset}, silent {silent}, picked up then decided later {picked_up}"
    );
}
