//! Property tests of the client pool wiring (`strategy = pool`) over random
//! traffic, freezes, server/path behaviour and pool configurations.
//!
//! Invariants:
//! - no panic: the pool checks its own invariants after every input (in use
//!   ≤ max, a granted connection is open and not known lost, every acquire
//!   ends once); the world asserts in use ≤ max after every pool input and
//!   that a granted connection is ready and not one whose close event it has
//!   reported (`lost`);
//! - from the trace: no `pool_grant` of a connection after its `pool_lost`
//!   in the same environment, and no runtime (pool) timer runs while its
//!   environment is frozen;
//! - every invocation (so every acquire) ends exactly once: with the
//!   request's reply, a pool timeout, or an error;
//! - the connection balance holds.
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use thaw_core::{SimDuration, TraceRecord, Value, VecSink};
use thaw_net::{MiddleboxConfig, StateTimeouts, Untracked};
use thaw_sim::{
    ClientConfig, FrozenKernel, HandlerKind, IdleOrder, NamedMiddlebox, PlatformConfig, PoolConfig,
    PoolSettings, ReapPolicy, RequestSpec, ServerConfig, SimConfig, Strategy as ConnStrategy,
    ThawOrder, Validation, WorkloadConfig,
};

#[derive(Debug, Clone)]
struct Params {
    arrivals_ms: Vec<u64>,
    preset: usize,
    max: u32,
    acquire_ms: Option<u64>,
    validation: Option<usize>,
    fifo: bool,
    idle_ms: Option<u64>,
    server_idle_ms: Option<u64>,
    reap_ms: u64,
    running_kernel: bool,
    events_first: bool,
    handler: u8,
    close_after: bool,
    reset_at_start: bool,
    nat_drop: Option<u64>,
    request_timeout_ms: Option<u64>,
    requests: usize,
    rejects_ms: Option<u64>,
}

fn params() -> impl Strategy<Value = Params> {
    (
        (
            prop::collection::vec(0u64..400_000, 1..8),
            0usize..10,
            1u32..4,
            prop::option::of(50u64..5_000),
            prop::option::of(0usize..4),
            any::<bool>(),
            prop::option::of(0u64..60_000),
            prop::option::of(1_000u64..200_000),
        ),
        (
            10_000u64..600_000,
            any::<bool>(),
            any::<bool>(),
            0u8..3,
            (any::<bool>(), any::<bool>()),
            prop::option::of(20_000u64..300_000),
            prop::option::of(100u64..5_000),
            1usize..3,
            prop::option::of(0u64..20),
        ),
    )
        .prop_map(
            |(
                (
                    mut arrivals_ms,
                    preset,
                    max,
                    acquire_ms,
                    validation,
                    fifo,
                    idle_ms,
                    server_idle_ms,
                ),
                (
                    reap_ms,
                    running_kernel,
                    events_first,
                    handler,
                    (close_after, reset_at_start),
                    nat_drop,
                    request_timeout_ms,
                    requests,
                    rejects_ms,
                ),
            )| {
                arrivals_ms.sort_unstable();
                Params {
                    arrivals_ms,
                    preset,
                    max,
                    acquire_ms,
                    validation,
                    fifo,
                    idle_ms,
                    server_idle_ms,
                    reap_ms,
                    running_kernel,
                    events_first,
                    handler,
                    close_after,
                    reset_at_start,
                    nat_drop,
                    request_timeout_ms,
                    requests,
                    rejects_ms,
                }
            },
        )
}

fn pool_config(p: &Params, fn_timeout: SimDuration) -> PoolConfig {
    let ms = SimDuration::from_millis;
    let mut c = match p.preset {
        0 => PoolConfig::sequelize(),
        1 => PoolConfig::sequelize_lambda_guide(fn_timeout),
        2 => PoolConfig::pg_pool(),
        3 => PoolConfig::mysql2(),
        4 => PoolConfig::go_database_sql(),
        5 => PoolConfig::sqlalchemy(),
        6 => PoolConfig::hikaricp(),
        7 => PoolConfig::serverless_mysql(),
        8 => PoolConfig::sqlx(),
        _ => PoolConfig::bb8(),
    };
    c.max = p.max;
    c.min = c.min.min(c.max);
    if let Some(a) = p.acquire_ms {
        c.acquire_timeout = Some(ms(a));
    }
    if let Some(v) = p.validation {
        c.validation = [
            Validation::None,
            Validation::Flag,
            Validation::LivenessPeek,
            Validation::Ping,
        ][v];
        if c.validation == Validation::None {
            c.on_lost = thaw_sim::OnLost::Remove;
        }
    }
    c.order = if p.fifo {
        IdleOrder::Fifo
    } else {
        IdleOrder::Lifo
    };
    if let Some(i) = p.idle_ms {
        c.idle_timeout = Some(ms(i));
    }
    c
}

fn config(p: &Params) -> SimConfig {
    let ms = SimDuration::from_millis;
    let timeout = SimDuration::from_secs(10);
    let pool = pool_config(p, timeout);
    SimConfig {
        name: "pool-prop".into(),
        seed: 1,
        platform: PlatformConfig {
            timeout,
            init_duration: thaw_sim::Dist::Fixed(ms(200)),
            reap: ReapPolicy::Fixed(ms(p.reap_ms)),
            frozen_kernel: if p.running_kernel {
                FrozenKernel::Running
            } else {
                FrozenKernel::Silent
            },
            thaw_order: if p.events_first {
                ThawOrder::EventsFirst
            } else {
                ThawOrder::HandlerFirst
            },
            handler: match p.handler {
                0 => HandlerKind::Async,
                1 => HandlerKind::Callback {
                    waits_for_empty_event_loop: true,
                },
                _ => HandlerKind::Callback {
                    waits_for_empty_event_loop: false,
                },
            },
            handler_rejects_after: p.rejects_ms.map(ms),
            // Varied by the arrival count (keeps the generated inputs as
            // they were): SIGTERM at reap closes the pool's connections.
            extension: match p.arrivals_ms.len() % 3 {
                0 => thaw_sim::Extension::None,
                1 => thaw_sim::Extension::Internal,
                _ => thaw_sim::Extension::External,
            },
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: ConnStrategy::Pool,
            requests: (0..p.requests)
                .map(|i| RequestSpec {
                    name: format!("Q{i}"),
                    timeout: p.request_timeout_ms.map(ms),
                    op: thaw_sim::RequestOp::Ping,
                    pin: false,
                    idempotent: false,
                    target: 0,
                    writes: 1,
                    write_gap: thaw_core::SimDuration::ZERO,
                    work_after: thaw_core::SimDuration::ZERO,
                    await_reply: true,
                })
                .collect(),
            connect_timeout: Some(SimDuration::from_secs(10)),
            pool: Some(PoolSettings {
                preset: "prop".into(),
                config: pool,
                close_after_invocation: p.close_after,
                reset_at_start: p.reset_at_start,
                zombie_cleanup: (p.preset == 7).then(thaw_sim::ServerlessMysql::default),
                messages: None,
            }),
            ..ClientConfig::default()
        },
        middleboxes: p
            .nat_drop
            .map(|est| NamedMiddlebox {
                name: "nat".into(),
                config: MiddleboxConfig {
                    timeouts: StateTimeouts::uniform(ms(est)),
                    untracked_from_client: Untracked::Drop,
                    untracked_from_server: Untracked::Drop,
                    max_retrans: None,
                    unacknowledged: None,
                },
            })
            .into_iter()
            .collect(),
        servers: vec![ServerConfig {
            idle_timeout: p.server_idle_ms.map(ms),
            ..ServerConfig::default()
        }],
        workload: WorkloadConfig::At(p.arrivals_ms.iter().map(|&a| ms(a)).collect()),
        ..SimConfig::default()
    }
}

fn u(r: &TraceRecord, name: &str) -> u64 {
    match r.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v) {
        Some(Value::U64(v)) => *v,
        v => panic!("field {name}: {v:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn pool_wiring_invariants(p in params()) {
        let cfg = config(&p);
        let mut sink = VecSink::default();
        let r = thaw_sim::run(&cfg, &mut sink, true).expect("run finishes");
        let rs = sink.records;

        // Every invocation (every acquire) ends exactly once.
        let mut ids: Vec<u64> = r.outcomes.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        let want: Vec<u64> = (1..=p.arrivals_ms.len() as u64).collect();
        prop_assert_eq!(ids, want);
        let m = &r.metrics;
        prop_assert_eq!(m.connections_opened, m.connections_closed + m.connections_open_at_end);

        // No grant of a connection after the pool was told it is lost.
        let mut lost: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut inv_env: BTreeMap<String, String> = BTreeMap::new();
        for rec in &rs {
            match rec.event {
                "invoke" => {
                    inv_env.insert(rec.component.clone(), format!("env-{}", u(rec, "env")));
                }
                "pool_lost" => {
                    lost.insert((rec.component.clone(), u(rec, "conn")));
                }
                "pool_grant" => {
                    let env = inv_env.get(&rec.component).cloned().unwrap_or_default();
                    let key = (env, u(rec, "conn"));
                    prop_assert!(!lost.contains(&key), "granted {:?} after it was lost", key);
                }
                // A new pool (cold start in a new environment) restarts ids
                // only in a new environment, whose name differs.
                _ => {}
            }
        }

        // No runtime timer runs while its environment is frozen.
        let mut frozen: BTreeSet<String> = BTreeSet::new();
        for rec in &rs {
            match rec.event {
                "freeze" => {
                    frozen.insert(rec.component.clone());
                }
                "invoke" => {
                    frozen.remove(&format!("env-{}", u(rec, "env")));
                }
                "runtime_timer" => {
                    prop_assert!(
                        !frozen.contains(&rec.component),
                        "runtime timer of {} at {} while frozen",
                        rec.component,
                        rec.t
                    );
                }
                _ => {}
            }
        }
    }
}
