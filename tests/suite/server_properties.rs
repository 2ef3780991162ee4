//! Property tests over random bursts against random servers: the server
//! never holds more connections than its limit at any instant (the peak is
//! the maximum over the whole run), every invocation ends exactly once, and
//! every function-side connection is closed or still open at the end.
use proptest::prelude::*;
use thaw_core::{NullSink, SimDuration};
use thaw_sim::{
    ClientConfig, PlatformConfig, ReapPolicy, RequestSpec, ServerConfig, ServerKind, SimConfig,
    Strategy as ConnStrategy, WorkloadConfig,
};

#[derive(Debug, Clone)]
struct Params {
    kind: ServerKind,
    max_connections: u32,
    soft_hard: (u32, u32),
    waves: Vec<(u64, u32)>,
    per_invocation: bool,
    reap_s: u64,
    idle_s: u64,
    cores: u32,
    accept_ms: u64,
    backlog: u32,
    connect_timeout_ms: Option<u64>,
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![
            Just(ServerKind::Generic),
            Just(ServerKind::Redis),
            Just(ServerKind::Mysql),
            Just(ServerKind::Postgres),
            Just(ServerKind::Upstash)
        ],
        5u32..60,
        (1u32..40, 0u32..30),
        prop::collection::vec((0u64..400, 1u32..40), 1..4),
        any::<bool>(),
        (30u64..400, 0u64..400),
        (0u32..3, 0u64..30, 2u32..100),
        prop::option::of(100u64..3000),
    )
        .prop_map(
            |(
                kind,
                max_connections,
                (soft, extra),
                waves,
                per_invocation,
                (reap_s, idle_s),
                (cores, accept_ms, backlog),
                connect_timeout_ms,
            )| Params {
                kind,
                max_connections: max_connections.max(5),
                soft_hard: (soft, soft + extra),
                waves,
                per_invocation,
                reap_s,
                idle_s,
                cores,
                accept_ms,
                backlog,
                connect_timeout_ms,
            },
        )
}

fn config(p: &Params) -> SimConfig {
    let mut server = ServerConfig::preset(p.kind);
    server.max_connections = p.max_connections;
    server.reserved_connections = server.reserved_connections.min(p.max_connections - 1);
    server.idle_timeout = (p.idle_s > 0).then(|| SimDuration::from_secs(p.idle_s));
    server.cores = p.cores;
    server.accept_cpu = SimDuration::from_millis(p.accept_ms);
    server.backlog = p.backlog;
    if p.kind == ServerKind::Upstash {
        server.soft_limit = Some(p.soft_hard.0);
        server.hard_limit = Some(p.soft_hard.1);
    }
    let mut at: Vec<SimDuration> = Vec::new();
    for (t, n) in &p.waves {
        for _ in 0..*n {
            at.push(SimDuration::from_secs(*t));
        }
    }
    at.sort();
    SimConfig {
        name: "server-prop".into(),
        platform: PlatformConfig {
            timeout: SimDuration::from_secs(30),
            init_duration: thaw_sim::Dist::Fixed(SimDuration::from_millis(200)),
            handler_time: thaw_sim::Dist::Fixed(SimDuration::from_millis(500)),
            reap: ReapPolicy::Fixed(SimDuration::from_secs(p.reap_s)),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: if p.per_invocation {
                ConnStrategy::PerInvocation
            } else {
                ConnStrategy::Global
            },
            requests: vec![RequestSpec {
                name: "Q".into(),
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
            connect_timeout: p.connect_timeout_ms.map(SimDuration::from_millis),
            ..ClientConfig::default()
        },
        servers: vec![server],
        workload: WorkloadConfig::At(at),
        ..SimConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn server_never_exceeds_its_limit(p in params()) {
        let cfg = config(&p);
        let n: u64 = p.waves.iter().map(|w| w.1 as u64).sum();
        let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
        let ids: Vec<u64> = r.outcomes.iter().map(|o| o.id).collect();
        prop_assert_eq!(ids, (1..=n).collect::<Vec<_>>());
        let m = &r.metrics;
        prop_assert_eq!(m.connections_opened, m.connections_closed + m.connections_open_at_end);
        let limit = match p.kind {
            ServerKind::Upstash => p.soft_hard.1 as u64,
            _ => cfg.servers[0].client_limit() as u64,
        };
        prop_assert!(m.server_connections_peak <= limit,
            "peak {} > limit {limit}", m.server_connections_peak);
        // A server never rejects while it has room (non-Upstash).
        if p.kind != ServerKind::Upstash && m.server_connections_peak < limit {
            prop_assert_eq!(m.errors_by_kind.get("TOO_MANY_CONNECTIONS").copied().unwrap_or(0), 0);
        }
    }
}

#[derive(Debug, Clone)]
struct DataParams {
    lists: Vec<u64>,
    creates: Vec<u64>,
    per_invocation: bool,
    isolation_rc: bool,
    keys: u64,
}

fn data_params() -> impl Strategy<Value = DataParams> {
    (
        prop::collection::vec(0u64..600_000, 1..12),
        prop::collection::vec(0u64..600_000, 1..12),
        any::<bool>(),
        any::<bool>(),
        1u64..3,
    )
        .prop_map(
            |(mut lists, mut creates, per_invocation, isolation_rc, keys)| {
                lists.sort();
                creates.sort();
                DataParams {
                    lists,
                    creates,
                    per_invocation,
                    isolation_rc,
                    keys,
                }
            },
        )
}

fn data_config(p: &DataParams, autocommit: bool) -> SimConfig {
    use thaw_sim::{HandlerSpec, RequestOp};
    let ms = SimDuration::from_millis;
    let req = |name: &str, op| RequestSpec {
        name: name.into(),
        timeout: None,
        op,
        pin: false,
        idempotent: false,
        target: 0,
        writes: 1,
        write_gap: thaw_core::SimDuration::ZERO,
        work_after: thaw_core::SimDuration::ZERO,
        await_reply: true,
    };
    let mut at: Vec<(SimDuration, u16)> = p.lists.iter().map(|t| (ms(*t), 0)).collect();
    at.extend(p.creates.iter().map(|t| (ms(*t), 1)));
    at.sort_by_key(|(t, _)| *t);
    SimConfig {
        platform: PlatformConfig {
            timeout: SimDuration::from_secs(10),
            init_duration: thaw_sim::Dist::Fixed(ms(300)),
            reap: ReapPolicy::Fixed(SimDuration::from_secs(120)),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: if p.per_invocation {
                ConnStrategy::PerInvocation
            } else {
                ConnStrategy::Global
            },
            requests: (1..=p.keys)
                .map(|k| req("SELECT", RequestOp::Read(k)))
                .collect(),
            handlers: vec![HandlerSpec {
                name: "create".into(),
                requests: (1..=p.keys)
                    .map(|k| req("INSERT", RequestOp::Write(k)))
                    .chain([req("COMMIT", RequestOp::Commit)])
                    .collect(),
            }],
            autocommit,
            isolation: if p.isolation_rc {
                thaw_db::Isolation::ReadCommitted
            } else {
                thaw_db::Isolation::RepeatableRead
            },
            ..ClientConfig::default()
        },
        servers: vec![ServerConfig::preset(ServerKind::Mysql)],
        workload: WorkloadConfig::Mixed(at),
        ..SimConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    /// With autocommit on and every read on the primary, no stale read is
    /// ever reported, whatever the connection strategy, isolation or
    /// interleaving of the create and list functions.
    #[test]
    fn autocommit_on_primary_never_reads_stale(p in data_params()) {
        let r = thaw_sim::run(&data_config(&p, true), &mut NullSink, true).expect("runs");
        prop_assert_eq!(r.metrics.stale_reads, 0);
        prop_assert_eq!(r.metrics.errors, 0);
    }

    /// The per-invocation counts add up to the total.
    #[test]
    fn stale_reads_per_invocation_add_up(p in data_params()) {
        let r = thaw_sim::run(&data_config(&p, false), &mut NullSink, true).expect("runs");
        let sum: u64 = r.outcomes.iter().map(|o| o.stale_reads).sum();
        prop_assert_eq!(sum, r.metrics.stale_reads);
    }
}

#[derive(Debug, Clone)]
struct ProxyParams {
    postgres: bool,
    max_connections: u32,
    rds: bool,
    percent: (u32, u32),
    borrow_s: Option<u64>,
    idle_client_s: u64,
    transaction_mode: bool,
    pool_size: u32,
    max_client_conn: u32,
    server_idle_s: Option<u64>,
    lifetime_s: u64,
    waves: Vec<(u64, u32)>,
    per_invocation: bool,
    pin: bool,
    autocommit: bool,
    reap_s: u64,
    db_idle_s: Option<u64>,
    request_timeout_ms: Option<u64>,
}

fn proxy_params() -> impl Strategy<Value = ProxyParams> {
    (
        (
            any::<bool>(),
            5u32..60,
            any::<bool>(),
            (1u32..=100, 0u32..=100),
        ),
        (
            prop::option::of(1u64..20),
            10u64..600,
            any::<bool>(),
            1u32..30,
            5u32..80,
        ),
        (prop::option::of(5u64..300), 0u64..600),
        prop::collection::vec((0u64..300, 1u32..40), 1..4),
        (any::<bool>(), any::<bool>(), any::<bool>(), 30u64..400),
        (prop::option::of(1u64..200), prop::option::of(1u64..3000)),
    )
        .prop_map(
            |(
                (postgres, max_connections, rds, (pct, idle)),
                (borrow_s, idle_client_s, transaction_mode, pool_size, max_client_conn),
                (server_idle_s, lifetime_s),
                waves,
                (per_invocation, pin, autocommit, reap_s),
                (db_idle_s, request_timeout_ms),
            )| ProxyParams {
                postgres,
                max_connections,
                rds,
                percent: (pct, idle.min(pct)),
                borrow_s,
                idle_client_s,
                transaction_mode,
                pool_size,
                max_client_conn,
                server_idle_s,
                lifetime_s,
                waves,
                per_invocation,
                pin,
                autocommit,
                reap_s,
                db_idle_s,
                request_timeout_ms,
            },
        )
}

fn proxy_sim_config(p: &ProxyParams) -> SimConfig {
    use thaw_sim::{PgBouncerConfig, PoolMode, ProxyConfig, ProxyKind, RdsProxyConfig, RequestOp};
    let s = SimDuration::from_secs;
    let kind = if p.postgres || !p.rds {
        ServerKind::Postgres
    } else {
        ServerKind::Mysql
    };
    let mut server = ServerConfig::preset(kind);
    server.max_connections = p.max_connections;
    server.idle_timeout = p.db_idle_s.map(s);
    let proxy_kind = if p.rds {
        ProxyKind::RdsProxy(RdsProxyConfig {
            max_connections_percent: p.percent.0,
            max_idle_connections_percent: p.percent.1,
            connection_borrow_timeout: p.borrow_s.map(s),
            idle_client_timeout: s(p.idle_client_s),
        })
    } else {
        ProxyKind::PgBouncer(PgBouncerConfig {
            pool_mode: if p.transaction_mode {
                PoolMode::Transaction
            } else {
                PoolMode::Session
            },
            default_pool_size: p.pool_size,
            max_client_conn: p.max_client_conn,
            server_idle_timeout: p.server_idle_s.map(s),
            server_lifetime: s(p.lifetime_s),
            client_idle_timeout: None,
            query_wait_timeout: p.borrow_s.map(s),
        })
    };
    let proxy = ProxyConfig::preset(proxy_kind, &server);
    let mut at: Vec<SimDuration> = Vec::new();
    for (t, n) in &p.waves {
        for _ in 0..*n {
            at.push(s(*t));
        }
    }
    at.sort();
    let req = |name: &str, op, pin| RequestSpec {
        name: name.into(),
        timeout: p.request_timeout_ms.map(SimDuration::from_millis),
        op,
        pin,
        idempotent: false,
        target: 0,
        writes: 1,
        write_gap: thaw_core::SimDuration::ZERO,
        work_after: thaw_core::SimDuration::ZERO,
        await_reply: true,
    };
    SimConfig {
        name: "proxy-prop".into(),
        event_budget: 20_000_000,
        platform: PlatformConfig {
            timeout: s(30),
            init_duration: thaw_sim::Dist::Fixed(SimDuration::from_millis(200)),
            handler_time: thaw_sim::Dist::Fixed(SimDuration::from_millis(500)),
            reap: ReapPolicy::Fixed(s(p.reap_s)),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: if p.per_invocation {
                ConnStrategy::PerInvocation
            } else {
                ConnStrategy::Global
            },
            requests: vec![
                req("SET x", RequestOp::Ping, p.pin),
                req("UPDATE", RequestOp::Write(1), false),
                req("SELECT", RequestOp::Read(1), false),
                req("COMMIT", RequestOp::Commit, false),
            ],
            autocommit: p.autocommit,
            ..ClientConfig::default()
        },
        servers: vec![server],
        proxies: vec![proxy],
        workload: WorkloadConfig::At(at),
        ..SimConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    /// Through any proxy configuration: the proxy never opens more
    /// database connections than its bound, the server never holds more
    /// than its limit (and refuses nobody when the bound fits in it), and
    /// every invocation ends exactly once.
    #[test]
    fn proxy_never_exceeds_its_bound(p in proxy_params()) {
        let cfg = proxy_sim_config(&p);
        let n: u64 = p.waves.iter().map(|w| w.1 as u64).sum();
        let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
        let ids: Vec<u64> = r.outcomes.iter().map(|o| o.id).collect();
        prop_assert_eq!(ids, (1..=n).collect::<Vec<_>>());
        let m = &r.metrics;
        prop_assert_eq!(m.connections_opened, m.connections_closed + m.connections_open_at_end);
        let proxy = cfg.proxies.first().expect("proxy");
        let bound = proxy.backend_bound(&cfg.servers[0]) as u64;
        let limit = cfg.servers[0].client_limit() as u64;
        prop_assert!(m.proxy_backend_peak <= bound,
            "proxy peak {} > bound {bound}", m.proxy_backend_peak);
        prop_assert!(m.server_connections_peak <= limit,
            "server peak {} > limit {limit}", m.server_connections_peak);
        prop_assert!(m.server_connections_peak <= m.proxy_backend_peak);
        if bound <= limit {
            prop_assert_eq!(m.server_rejected, 0);
        }
        prop_assert_eq!(m.zombie_connection_seconds, 0.0);
        // With autocommit on and reads on the primary, nothing is stale,
        // whichever database connection each statement ran on.
        if p.autocommit {
            prop_assert_eq!(m.stale_reads, 0);
        }
    }
}

#[derive(Debug, Clone)]
struct TwoParams {
    /// (kind, max_connections, per-invocation strategy) per server.
    servers: [(ServerKind, u32, bool); 2],
    /// Which servers an invocation's requests go to, in order.
    order: Vec<u16>,
    waves: Vec<(u64, u32)>,
}

fn two_params() -> impl Strategy<Value = TwoParams> {
    let kind = prop_oneof![
        Just(ServerKind::Generic),
        Just(ServerKind::Redis),
        Just(ServerKind::Mysql),
        Just(ServerKind::Postgres)
    ];
    let server = (kind, 5u32..40, any::<bool>());
    (
        server.clone(),
        server,
        prop::collection::vec(0u16..2, 1..4),
        prop::collection::vec((0u64..200, 1u32..40), 1..3),
    )
        .prop_map(|(a, b, order, waves)| TwoParams {
            servers: [a, b],
            order,
            waves,
        })
}

fn two_config(p: &TwoParams) -> SimConfig {
    let servers: Vec<ServerConfig> = p
        .servers
        .iter()
        .enumerate()
        .map(|(i, &(kind, max, _))| {
            let mut s = ServerConfig::preset(kind);
            s.name = format!("s{i}");
            s.max_connections = max;
            s.reserved_connections = s.reserved_connections.min(max - 1);
            s
        })
        .collect();
    let mut at: Vec<SimDuration> = p
        .waves
        .iter()
        .flat_map(|&(t, n)| std::iter::repeat_n(SimDuration::from_secs(t), n as usize))
        .collect();
    at.sort();
    SimConfig {
        name: "two-servers-prop".into(),
        platform: PlatformConfig {
            timeout: SimDuration::from_secs(30),
            init_duration: thaw_sim::Dist::Fixed(SimDuration::from_millis(200)),
            handler_time: thaw_sim::Dist::Fixed(SimDuration::from_millis(500)),
            reap: ReapPolicy::Fixed(SimDuration::from_secs(120)),
            ..PlatformConfig::default()
        },
        client: ClientConfig {
            strategy: ConnStrategy::Global,
            targets: p
                .servers
                .iter()
                .map(|s| {
                    if s.2 {
                        ConnStrategy::PerInvocation
                    } else {
                        ConnStrategy::Global
                    }
                })
                .collect(),
            requests: p
                .order
                .iter()
                .map(|&t| RequestSpec {
                    target: t,
                    ..RequestSpec::ping("Q")
                })
                .collect(),
            ..ClientConfig::default()
        },
        servers,
        workload: WorkloadConfig::At(at),
        ..SimConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    /// With two servers, each stays within its own limit, a server no
    /// request names is never connected to, refusals are counted where
    /// they happened, and the totals are the sums of the servers' figures.
    #[test]
    fn each_server_stays_within_its_own_limit(p in two_params()) {
        let cfg = two_config(&p);
        let n: u64 = p.waves.iter().map(|w| w.1 as u64).sum();
        let r = thaw_sim::run(&cfg, &mut NullSink, true).expect("run finishes");
        prop_assert_eq!(r.outcomes.len() as u64, n);
        let m = &r.metrics;
        prop_assert_eq!(m.connections_opened, m.connections_closed + m.connections_open_at_end);
        let mut peaks = 0;
        for (i, sc) in cfg.servers.iter().enumerate() {
            let s = &m.servers[&sc.name];
            prop_assert!(s.connections_peak <= sc.client_limit() as u64,
                "{}: peak {} > limit {}", sc.name, s.connections_peak, sc.client_limit());
            if !p.order.contains(&(i as u16)) {
                prop_assert_eq!(s.connections_peak, 0, "{} is named by no request", sc.name);
                prop_assert_eq!(s.errors, 0);
            }
            // Refused on this server = invocations that failed on it with
            // TOO_MANY_CONNECTIONS (no retries here).
            let refused_here = r.outcomes.iter().filter(|o| {
                o.error == Some(thaw_sim::ErrorKind::TooManyConnections) && o.target == Some(i as u16)
            }).count() as u64;
            prop_assert_eq!(s.rejected, refused_here, "{}", sc.name);
            peaks += s.connections_peak;
        }
        prop_assert_eq!(m.server_connections_peak, peaks);
        let failed: u64 = m.servers.values().map(|s| s.errors).sum();
        prop_assert!(failed <= m.errors);
    }
}
