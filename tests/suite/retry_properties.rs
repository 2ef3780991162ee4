//! Property tests of client retries (`[client.retry]`) over random
//! failure-inducing configurations: slow servers, request timeouts shorter
//! than the service time, middleboxes that forget flows (and drop or reset
//! untracked packets), server idle timeouts, freezes between invocations;
//! connection strategies global and per_invocation, and connectionless HTTP.
//!
//! Invariants: no panic; every invocation ends exactly once; the connection
//! balance holds; an invocation never has more duplicate writes than it had
//! retries; without retries there are no retries and no duplicate writes;
//! an invocation that ends with a retried error kind has used up its
//! retries; the metric is the sum of the per-invocation counts. The test
//! fails if the generated cases never reach one of these branches.
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use thaw_core::{SimDuration, TraceRecord, TraceSink};
use thaw_net::{MiddleboxConfig, StateTimeouts, Untracked};
use thaw_sim::{
    ClientConfig, ErrorKind, NamedMiddlebox, PlatformConfig, RequestOp, RequestSpec, RetrySettings,
    ServerConfig, SimConfig, Strategy as ConnStrategy, WorkloadConfig,
};

/// Counts `retry` records per invocation.
#[derive(Default)]
struct RetryCounter(BTreeMap<u64, u64>);

impl TraceSink for RetryCounter {
    fn wants(&self, level: thaw_core::Level) -> bool {
        level == thaw_core::Level::Timeline
    }

    fn record(&mut self, r: TraceRecord) {
        if r.event == "retry" {
            if let Some(id) = r.component.strip_prefix("inv-") {
                *self.0.entry(id.parse().expect("inv id")).or_insert(0) += 1;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Params {
    count: u32,
    backoff_ms: u64,
    jitter: bool,
    retry_timeouts: bool,
    strategy: u8,
    service_ms: u64,
    cores: u32,
    timeout_ms: Option<u64>,
    mb: Option<(u64, bool, bool)>,
    idle_ms: Option<u64>,
    idempotent: Vec<bool>,
    arrivals_ms: Vec<u64>,
}

fn params() -> impl Strategy<Value = Params> {
    (
        (0u32..=3, 0u64..500, any::<bool>(), any::<bool>(), 0u8..3),
        (
            1u64..4_000,
            0u32..=2,
            prop::option::of(100u64..5_000),
            prop::option::of((200u64..5_000, any::<bool>(), any::<bool>())),
            prop::option::of(500u64..20_000),
        ),
        prop::collection::vec(any::<bool>(), 1..=3),
        prop::collection::vec(0u64..30_000, 1..=6),
    )
        .prop_map(
            |(
                (count, backoff_ms, jitter, retry_timeouts, strategy),
                (service_ms, cores, timeout_ms, mb, idle_ms),
                idempotent,
                arrivals_ms,
            )| Params {
                count,
                backoff_ms,
                jitter,
                retry_timeouts,
                strategy,
                service_ms,
                cores,
                timeout_ms,
                mb,
                idle_ms,
                idempotent,
                arrivals_ms,
            },
        )
}

fn config(p: &Params) -> SimConfig {
    let ms = SimDuration::from_millis;
    let mut on = vec![ErrorKind::Econnreset, ErrorKind::Epipe, ErrorKind::Eof];
    if p.retry_timeouts {
        on.extend([ErrorKind::Etimedout, ErrorKind::RequestTimeout]);
    }
    let mut arrivals = p.arrivals_ms.clone();
    arrivals.sort_unstable();
    SimConfig {
        name: "retry-prop".into(),
        seed: 3,
        platform: PlatformConfig {
            timeout: SimDuration::from_secs(60),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: match p.strategy {
                0 => ConnStrategy::Global,
                1 => ConnStrategy::PerInvocation,
                _ => ConnStrategy::Http,
            },
            requests: p
                .idempotent
                .iter()
                .enumerate()
                .map(|(i, &idempotent)| RequestSpec {
                    name: format!("SET k{i}"),
                    timeout: p.timeout_ms.map(ms),
                    op: RequestOp::Write(i as u64 % 2),
                    pin: false,
                    idempotent,
                    target: 0,
                    writes: 1,
                    write_gap: thaw_core::SimDuration::ZERO,
                    work_after: thaw_core::SimDuration::ZERO,
                    await_reply: true,
                })
                .collect(),
            retry: RetrySettings {
                count: p.count,
                backoff: ms(p.backoff_ms),
                backoff_max: p.jitter.then(|| ms(p.backoff_ms * 4)),
                on,
            },
            ..ClientConfig::default()
        },
        middleboxes: p
            .mb
            .map(|(est, drop_client, drop_server)| NamedMiddlebox {
                name: "mb".into(),
                config: MiddleboxConfig {
                    timeouts: StateTimeouts {
                        established: ms(est),
                        ..StateTimeouts::uniform(SimDuration::from_secs(120))
                    },
                    untracked_from_client: if drop_client {
                        Untracked::Drop
                    } else {
                        Untracked::Rst
                    },
                    untracked_from_server: if drop_server {
                        Untracked::Drop
                    } else {
                        Untracked::Rst
                    },
                    max_retrans: None,
                    unacknowledged: None,
                },
            })
            .into_iter()
            .collect(),
        servers: vec![ServerConfig {
            service_time: thaw_sim::Dist::Fixed(ms(p.service_ms)),
            cores: p.cores,
            idle_timeout: p.idle_ms.map(ms),
            ..ServerConfig::default()
        }],
        workload: WorkloadConfig::At(arrivals.into_iter().map(ms).collect()),
        ..SimConfig::default()
    }
}

/// Which branches of the property the generated cases reached.
#[derive(Default, Debug)]
struct Seen {
    /// Invocations that retried at least once.
    retried: u32,
    /// Invocations that failed with a retried kind after all their retries.
    exhausted: u32,
    /// Invocations that failed with a kind not retried.
    not_retried: u32,
    /// Invocations with a duplicate write.
    duplicated: u32,
}

/// The property for one configuration: upper bounds (duplicates within
/// retries, retries within `count` per request) and lower bounds (an
/// invocation that ends with a kind in `on` has used up `count` retries on
/// its last request: a model that never retries fails here).
fn check(p: &Params, seen: &mut Seen) -> Result<(), TestCaseError> {
    let cfg = config(p);
    let mut sink = RetryCounter::default();
    let r = thaw_sim::run(&cfg, &mut sink, true).expect("run finishes");
    let m = &r.metrics;
    let on = &cfg.client.retry.on;
    prop_assert_eq!(r.outcomes.len(), p.arrivals_ms.len());
    prop_assert_eq!(
        m.connections_opened,
        m.connections_closed + m.connections_open_at_end
    );
    let mut sum = 0;
    for o in &r.outcomes {
        let retries = sink.0.get(&o.id).copied().unwrap_or(0);
        // `count` bounds each request's retries (a reply resets it).
        prop_assert!(
            retries <= p.count as u64 * p.idempotent.len() as u64,
            "{:?}",
            o
        );
        prop_assert!(
            o.duplicate_writes <= retries,
            "{} duplicates > {} retries: {:?}",
            o.duplicate_writes,
            retries,
            o
        );
        if p.count == 0 {
            prop_assert_eq!(retries, 0);
            prop_assert_eq!(o.duplicate_writes, 0);
        }
        match o.error {
            // Nothing here errs outside a request (no handler work): a
            // retried kind ends the invocation only once its request has
            // had all its retries.
            Some(e) if on.contains(&e) => {
                prop_assert!(
                    retries >= p.count as u64,
                    "ended with {:?} after {} of {} retries: {:?}",
                    e,
                    retries,
                    p.count,
                    o
                );
                seen.exhausted += (p.count > 0) as u32;
            }
            Some(_) => seen.not_retried += 1,
            None => {}
        }
        seen.retried += (retries > 0) as u32;
        seen.duplicated += (o.duplicate_writes > 0) as u32;
        sum += o.duplicate_writes;
    }
    prop_assert_eq!(m.duplicate_writes, sum);
    Ok(())
}

#[test]
fn duplicates_are_bounded_by_retries_and_retries_are_used_up() {
    let mut seen = Seen::default();
    let cases = crate::runner::run_cases(&params(), 128, file!(), |p| check(&p, &mut seen));
    // A property whose branches the generator never reaches proves
    // nothing: each must be exercised (with the default 128 cases each is,
    // many times over).
    if cases >= 64 {
        assert!(
            seen.retried > 0 && seen.exhausted > 0 && seen.not_retried > 0 && seen.duplicated > 0,
            "a branch was never reached: {seen:?}"
        );
    }
}
