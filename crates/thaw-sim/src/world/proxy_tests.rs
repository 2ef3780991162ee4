//! Unit tests of the connection proxy (world/proxy.rs): borrowing and
//! returning database connections, pinning, transactions holding a
//! connection, the borrow timeout, the idle client timeout, idle
//! connection trimming, PgBouncer's max_client_conn, session versus
//! transaction pooling, its janitor-timed server_idle_timeout, and the
//! zombies a proxy holds instead of the server.
//!
//! Times are exact integer nanoseconds with the defaults of `SimConfig`:
//! the functions' path to the proxy is 250 µs + 250 µs one way, the proxy's
//! link to the server 250 µs, the generic server answers in 100 µs and
//! does not greet (no handshake).
use crate::config::{
    PgBouncerConfig, PoolMode, ProxyConfig, ProxyKind, RdsProxyConfig, RequestOp, PGBOUNCER_JANITOR,
};
use crate::{ErrorKind, RequestSpec, SimConfig, Strategy, WorkloadConfig};
use thaw_core::SimDuration;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const INIT: u64 = 322 * MS;
/// 470 µs × 1769 / 128, truncated (connect CPU at 128 MB).
const CPU_128: u64 = 6_495_546;
/// Function ↔ proxy, one way.
const EDGE: u64 = 500 * US;
/// Proxy ↔ server, one way.
const LINK: u64 = 250 * US;
const SERVICE: u64 = 100 * US;
/// When a cold invocation's first request reaches the proxy: init, connect
/// CPU, TCP handshake with the proxy (one round trip), the request.
const FIRST_AT_PROXY: u64 = INIT + CPU_128 + 2 * EDGE + EDGE;
/// A request on a pooled connection, proxy in to proxy out.
const POOLED: u64 = LINK + SERVICE + LINK;
/// Opening a connection to a server that does not greet: one round trip.
const OPEN: u64 = 2 * LINK;

fn d(ns: u64) -> SimDuration {
    SimDuration::from_nanos(ns)
}

fn req(name: &str, op: RequestOp, pin: bool) -> RequestSpec {
    RequestSpec {
        name: name.into(),
        timeout: None,
        op,
        pin,
        idempotent: false,
        target: 0,
        writes: 1,
        write_gap: SimDuration::ZERO,
        work_after: SimDuration::ZERO,
        await_reply: true,
    }
}

fn with_proxy(arrivals: &[u64], kind: ProxyKind) -> SimConfig {
    let mut cfg = SimConfig {
        name: "proxy-test".into(),
        workload: WorkloadConfig::At(arrivals.iter().map(|&t| d(t)).collect()),
        ..SimConfig::default()
    };
    cfg.proxies = vec![ProxyConfig::preset(kind, &cfg.servers[0])];
    cfg
}

fn rds(arrivals: &[u64], r: RdsProxyConfig) -> SimConfig {
    with_proxy(arrivals, ProxyKind::RdsProxy(r))
}

fn pgb(arrivals: &[u64], p: PgBouncerConfig) -> SimConfig {
    with_proxy(arrivals, ProxyKind::PgBouncer(p))
}

use crate::world_tests::{recs, run_traced, times};

#[test]
fn borrows_per_request_and_reuses_the_pooled_connection() {
    let mut cfg = rds(&[0], RdsProxyConfig::default());
    cfg.client.requests = vec![
        req("GET a", RequestOp::Ping, false),
        req("GET b", RequestOp::Ping, false),
    ];
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes[0];
    assert_eq!(o.error, None);
    // First request: the proxy opens a database connection on demand (no
    // pre-opening), then forwards; the second borrows the pooled one.
    let first = FIRST_AT_PROXY + OPEN + POOLED + EDGE;
    let second = EDGE + POOLED + EDGE;
    assert_eq!(o.latency, d(first + second));
    assert_eq!(times(&rs, "rds-proxy", "proxy_open"), vec![FIRST_AT_PROXY]);
    assert_eq!(
        times(&rs, "rds-proxy", "proxy_borrow"),
        vec![
            FIRST_AT_PROXY + OPEN,
            FIRST_AT_PROXY + OPEN + POOLED + 2 * EDGE
        ]
    );
    assert_eq!(recs(&rs, "rds-proxy", "proxy_return").len(), 2);
    let m = &r.metrics;
    assert_eq!(m.proxy_backend_peak, 1);
    assert_eq!(m.proxy_client_peak, 1);
    assert_eq!(m.server_connections_peak, 1);
    assert_eq!(m.proxy_pinned, 0);
    // The functions connect to the proxy, never to the server.
    assert!(recs(&rs, "server", "accept")
        .iter()
        .all(|a| a.text.contains("rds-proxy:")));
}

#[test]
fn two_functions_share_one_database_connection() {
    // env-1 is still in its handler's work when inv-2 arrives: two
    // environments, whose requests come a second apart.
    let mut cfg = rds(&[0, SEC], RdsProxyConfig::default());
    cfg.platform.handler_time = crate::Dist::Fixed(d(2 * SEC));
    let (r, rs) = run_traced(&cfg);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(r.metrics.proxy_client_peak, 2);
    assert_eq!(r.metrics.proxy_backend_peak, 1);
    assert_eq!(r.metrics.server_connections_peak, 1);
    assert_eq!(recs(&rs, "rds-proxy", "proxy_open").len(), 1);
    assert_eq!(recs(&rs, "rds-proxy", "proxy_borrow").len(), 2);
}

/// The server's limit of one connection gives RDS Proxy a bound of one
/// (MaxConnectionsPercent 100 of max_connections 1).
fn one_backend_rds(arrivals: &[u64], borrow: u64) -> SimConfig {
    let mut cfg = rds(
        arrivals,
        RdsProxyConfig {
            connection_borrow_timeout: Some(d(borrow)),
            ..RdsProxyConfig::default()
        },
    );
    cfg.servers[0].max_connections = 1;
    cfg.platform.timeout = d(30 * SEC);
    cfg
}

#[test]
fn pinning_keeps_the_connection_and_others_time_out() {
    // Two cold starts at once: inv-1's request comes first and pins the
    // only connection; inv-1's environment freezes with it.
    let mut cfg = one_backend_rds(&[0, 0], 5 * SEC);
    cfg.client.requests = vec![req("SET time_zone", RequestOp::Ping, true)];
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    let o = &r.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::PoolTimeout));
    assert_eq!(
        o.detail.as_deref(),
        Some("Timed-out waiting to acquire database connection")
    );
    // inv-2's request waited exactly ConnectionBorrowTimeout; the error
    // travels back one way.
    let waited_from = FIRST_AT_PROXY;
    assert_eq!(
        times(&rs, "rds-proxy", "proxy_borrow_timeout"),
        vec![waited_from + 5 * SEC]
    );
    assert_eq!(o.latency, d(FIRST_AT_PROXY + 5 * SEC + EDGE));
    assert_eq!(recs(&rs, "rds-proxy", "proxy_pin").len(), 1);
    let m = &r.metrics;
    assert_eq!(m.proxy_pinned, 1);
    assert_eq!(m.proxy_borrow_timeouts, 1);
    assert_eq!(m.proxy_backend_peak, 1);
    // Without the pin, the connection goes back after each reply.
    let mut unpinned = cfg.clone();
    unpinned.client.requests[0].pin = false;
    let (r, _) = run_traced(&unpinned);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(r.metrics.proxy_pinned, 0);
}

#[test]
fn an_open_transaction_holds_the_connection_until_commit() {
    // inv-1: BEGIN, (its handler works 1 s), COMMIT; inv-2 arrives during
    // that second and must wait for the COMMIT.
    let mut cfg = one_backend_rds(&[0, 200 * MS], 120 * SEC);
    cfg.client.requests = vec![
        req("BEGIN", RequestOp::Begin, false),
        req("UPDATE", RequestOp::Write(1), false),
        req("COMMIT", RequestOp::Commit, false),
    ];
    cfg.client.handlers = vec![];
    cfg.servers[0].service_time = crate::Dist::Fixed(d(300 * MS));
    let (r, rs) = run_traced(&cfg);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    let borrows = recs(&rs, "rds-proxy", "proxy_borrow");
    let returns = recs(&rs, "rds-proxy", "proxy_return");
    // One borrow and one return per transaction, not per statement.
    assert_eq!(borrows.len(), 2);
    assert_eq!(returns.len(), 2);
    assert!(borrows[1].t >= returns[0].t);
    assert!(borrows[1].text.contains("env-2"));
    assert_eq!(r.metrics.proxy_backend_peak, 1);
    assert_eq!(r.metrics.stale_reads, 0);
}

#[test]
fn idle_client_timeout_closes_the_client_and_keeps_the_connection() {
    let cfg = rds(
        &[0],
        RdsProxyConfig {
            idle_client_timeout: d(10 * SEC),
            ..RdsProxyConfig::default()
        },
    );
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    // Idle from the reply's relay.
    let replied = FIRST_AT_PROXY + OPEN + POOLED;
    assert_eq!(
        times(&rs, "rds-proxy", "proxy_idle_close"),
        vec![replied + 10 * SEC]
    );
    // The database connection stays pooled: the server still holds it.
    assert!(recs(&rs, "rds-proxy", "proxy_close_backend").is_empty());
    assert_eq!(r.metrics.server_connections_at_end, 1);
    // The frozen function's connection was a zombie at the proxy for
    // those 10 s (frozen at the response), never at the server.
    let frozen = replied + EDGE;
    let want = (replied + 10 * SEC - frozen) as f64 / 1e9;
    assert!((r.metrics.proxy_zombie_connection_seconds - want).abs() < 1e-9);
    assert_eq!(r.metrics.zombie_connection_seconds, 0.0);
}

#[test]
fn idle_connections_above_max_idle_percent_are_closed() {
    // max_connections 10: bound 10, idle cap 10 % = 1.
    let mut cfg = rds(
        &[0, 0, 0],
        RdsProxyConfig {
            max_idle_connections_percent: 10,
            ..RdsProxyConfig::default()
        },
    );
    cfg.servers[0].max_connections = 10;
    let (r, rs) = run_traced(&cfg);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(r.metrics.proxy_backend_peak, 3);
    let closes = recs(&rs, "rds-proxy", "proxy_close_backend");
    assert_eq!(closes.len(), 2);
    assert!(closes[0].text.contains("MaxIdleConnectionsPercent 10%"));
    assert_eq!(r.metrics.server_connections_at_end, 1);
}

#[test]
fn max_client_conn_refuses_extra_clients() {
    let cfg = pgb(
        &[0, 0, 0],
        PgBouncerConfig {
            max_client_conn: 2,
            ..PgBouncerConfig::default()
        },
    );
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes[2];
    assert_eq!(o.error, Some(ErrorKind::TooManyConnections));
    assert_eq!(
        o.detail.as_deref(),
        Some("no more connections allowed (max_client_conn)")
    );
    assert_eq!(recs(&rs, "pgbouncer", "proxy_reject").len(), 1);
    assert_eq!(r.metrics.proxy_client_peak, 2);
    assert_eq!(r.metrics.errors, 1);
}

/// PgBouncer with one server connection, two functions at once, global
/// connections.
fn one_server_conn(mode: PoolMode) -> SimConfig {
    let mut cfg = pgb(
        &[0, 0],
        PgBouncerConfig {
            pool_mode: mode,
            default_pool_size: 1,
            query_wait_timeout: Some(d(2 * SEC)),
            ..PgBouncerConfig::default()
        },
    );
    cfg.platform.timeout = d(30 * SEC);
    cfg
}

#[test]
fn session_mode_keeps_the_server_connection_for_the_client_session() {
    let (r, rs) = run_traced(&one_server_conn(PoolMode::Session));
    // inv-1's environment is frozen with its session; inv-2 waits, and
    // PgBouncer disconnects it at the first janitor run after 2 s.
    assert_eq!(r.outcomes[0].error, None);
    let o = &r.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::PoolTimeout));
    assert_eq!(o.detail.as_deref(), Some("query_wait_timeout"));
    let waited_from = FIRST_AT_PROXY;
    let p = PGBOUNCER_JANITOR.as_nanos();
    let due = ((waited_from + 2 * SEC) / p + 1) * p;
    assert_eq!(times(&rs, "pgbouncer", "proxy_borrow_timeout"), vec![due]);
    // The session ends only when PgBouncer's TCP keepalive (7200 s idle,
    // 9 probes 75 s apart) finds the reaped environment gone.
    let returns = times(&rs, "pgbouncer", "proxy_return");
    assert_eq!(returns.len(), 1);
    assert!(returns[0] > 7875 * SEC, "{returns:?}");
    assert_eq!(r.metrics.proxy_borrow_timeouts, 1);
}

#[test]
fn transaction_mode_releases_after_each_autocommit_statement() {
    let (r, rs) = run_traced(&one_server_conn(PoolMode::Transaction));
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(recs(&rs, "pgbouncer", "proxy_return").len(), 2);
    assert_eq!(r.metrics.proxy_backend_peak, 1);
    assert_eq!(r.metrics.server_connections_peak, 1);
}

#[test]
fn pgbouncer_does_not_pin() {
    let mut cfg = one_server_conn(PoolMode::Transaction);
    cfg.client.requests = vec![req("SET search_path", RequestOp::Ping, true)];
    let (r, rs) = run_traced(&cfg);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(r.metrics.proxy_pinned, 0);
    assert_eq!(recs(&rs, "pgbouncer", "proxy_no_pin").len(), 2);
}

#[test]
fn server_idle_timeout_runs_on_the_janitor() {
    let cfg = pgb(
        &[0],
        PgBouncerConfig {
            pool_mode: PoolMode::Transaction,
            server_idle_timeout: Some(d(30 * SEC)),
            ..PgBouncerConfig::default()
        },
    );
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    let returned = FIRST_AT_PROXY + OPEN + POOLED;
    let p = PGBOUNCER_JANITOR.as_nanos();
    assert_eq!(
        times(&rs, "pgbouncer", "proxy_close_backend"),
        vec![((returned + 30 * SEC) / p + 1) * p]
    );
    assert_eq!(r.metrics.server_connections_at_end, 0);
}

#[test]
fn server_lifetime_zero_uses_each_connection_once() {
    let mut cfg = pgb(
        &[0],
        PgBouncerConfig {
            pool_mode: PoolMode::Transaction,
            server_lifetime: SimDuration::ZERO,
            ..PgBouncerConfig::default()
        },
    );
    cfg.client.requests = vec![
        req("SELECT 1", RequestOp::Ping, false),
        req("SELECT 2", RequestOp::Ping, false),
    ];
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    assert_eq!(recs(&rs, "pgbouncer", "proxy_open").len(), 2);
    assert_eq!(recs(&rs, "pgbouncer", "proxy_close_backend").len(), 2);
    assert_eq!(r.metrics.proxy_backend_peak, 1);
}

#[test]
fn lifetime_closes_are_spread_over_the_lifetime() {
    // PgBouncer's life_over() (objects.c): a backend is over its lifetime
    // at age >= server_lifetime, and lifetime closes are at least
    // server_lifetime / default_pool_size apart, so that a pool opened at
    // once is not reopened at once. Four backends opened together with a
    // 60 s lifetime and a pool of 4 close 15 s apart, not in one janitor run.
    let mut cfg = pgb(
        &[0, 0, 0, 0],
        PgBouncerConfig {
            pool_mode: PoolMode::Transaction,
            default_pool_size: 4,
            server_lifetime: d(60 * SEC),
            ..PgBouncerConfig::default()
        },
    );
    cfg.platform.reap = crate::ReapPolicy::Fixed(d(3600 * SEC));
    let (r, rs) = run_traced(&cfg);
    assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    assert_eq!(recs(&rs, "pgbouncer", "proxy_open").len(), 4);
    let closes = times(&rs, "pgbouncer", "proxy_close_backend");
    assert_eq!(closes.len(), 4, "{closes:?}");
    let p = PGBOUNCER_JANITOR.as_nanos();
    // The first at the janitor run after its 60 s.
    assert!(
        closes[0] >= 60 * SEC && closes[0] <= 60 * SEC + FIRST_AT_PROXY + OPEN + POOLED + p,
        "{closes:?}"
    );
    assert!(
        closes.windows(2).all(|w| w[1] - w[0] >= 15 * SEC),
        "not spread out: {closes:?}"
    );
}

#[test]
fn a_backend_older_than_its_lifetime_when_first_free_closes_at_the_next_janitor_run() {
    // The server greets only after an accept of 3700 s: the client's
    // invocation has timed out by then, and the new backend is older than
    // server_lifetime (3600 s) the moment it goes to the pool. Its check
    // goes to the janitor run after that moment (not the one after its
    // lifetime ran out, which is already past).
    let mut cfg = pgb(&[0], PgBouncerConfig::default());
    cfg.servers[0].handshake = true;
    cfg.servers[0].accept_cpu = d(3700 * SEC);
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, Some(ErrorKind::FunctionTimeout));
    let closes = recs(&rs, "pgbouncer", "proxy_close_backend");
    assert_eq!(closes.len(), 1, "{closes:#?}");
    assert!(
        closes[0].text.contains("older than server_lifetime"),
        "{closes:#?}"
    );
    let greeted = FIRST_AT_PROXY + 3700 * SEC;
    let p = PGBOUNCER_JANITOR.as_nanos();
    let at = closes[0].t.as_nanos();
    assert!(at > greeted && at <= greeted + 2 * LINK + p, "{at}");
    assert_eq!(at % p, 0);
}

#[test]
fn a_refused_server_connection_reaches_the_waiting_client() {
    // PgBouncer may open 2, the server accepts 1.
    let mut cfg = pgb(
        &[0, 0],
        PgBouncerConfig {
            default_pool_size: 2,
            ..PgBouncerConfig::default()
        },
    );
    cfg.servers[0].max_connections = 1;
    let (r, rs) = run_traced(&cfg);
    let errors: Vec<_> = r.outcomes.iter().filter_map(|o| o.error).collect();
    assert_eq!(errors, vec![ErrorKind::TooManyConnections]);
    assert_eq!(recs(&rs, "pgbouncer", "proxy_backend_lost").len(), 1);
    assert_eq!(r.metrics.server_rejected, 1);
}

#[test]
fn reaped_functions_leave_zombies_at_the_proxy_not_the_server() {
    let mut cfg = rds(&[0], RdsProxyConfig::default());
    cfg.platform.reap = crate::ReapPolicy::Fixed(d(60 * SEC));
    cfg.client.strategy = Strategy::Global;
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    assert_eq!(r.metrics.zombie_connection_seconds, 0.0);
    // Frozen at the response, then reaped: a zombie at the proxy until
    // IdleClientTimeout (1800 s after the reply).
    let replied = FIRST_AT_PROXY + OPEN + POOLED;
    let want = (replied + 1800 * SEC - (replied + EDGE)) as f64 / 1e9;
    assert!((r.metrics.proxy_zombie_connection_seconds - want).abs() < 1e-9);
    assert_eq!(recs(&rs, "rds-proxy", "proxy_idle_close").len(), 1);
}

#[test]
fn the_middlebox_stays_between_the_functions_and_the_proxy() {
    use crate::NamedMiddlebox;
    use thaw_net::{MiddleboxConfig, StateTimeouts, Untracked};
    // A NAT that forgets idle flows after 10 s and answers untracked
    // packets from the functions with RST; the function runs again at 20 s.
    let mut cfg = rds(&[0, 20 * SEC], RdsProxyConfig::default());
    cfg.middleboxes = Some(NamedMiddlebox {
        name: "nat".into(),
        config: MiddleboxConfig {
            timeouts: StateTimeouts {
                established: d(10 * SEC),
                ..StateTimeouts::uniform(d(120 * SEC))
            },
            untracked_from_client: Untracked::Rst,
            untracked_from_server: Untracked::Drop,
            max_retrans: None,
            unacknowledged: None,
        },
    })
    .into_iter()
    .collect();
    let (r, rs) = run_traced(&cfg);
    // Same path latency as without the middlebox (two legs of 250 µs).
    assert_eq!(
        r.outcomes[0].latency,
        d(FIRST_AT_PROXY + OPEN + POOLED + EDGE)
    );
    assert_eq!(r.outcomes[1].error, Some(ErrorKind::Econnreset));
    // It tracks the functions' flows to the proxy only; the proxy's own
    // connection to the server never crosses it.
    let forgets = recs(&rs, "nat", "forget");
    assert!(!forgets.is_empty());
    assert!(forgets
        .iter()
        .all(|f| f.text.contains("rds-proxy:") && !f.text.contains("server:")));
    assert!(recs(&rs, "rds-proxy", "proxy_backend_lost").is_empty());
}

#[test]
fn retried_write_through_the_proxy_is_a_duplicate() {
    // The firewall between the function and the proxy forgets the flow
    // after 2 s; the server takes 3 s per request: the reply to the first
    // attempt is dropped, the client times out (5 s) and retries on a new
    // connection to the proxy, which forwards the write again.
    use thaw_net::{MiddleboxConfig, StateTimeouts, Untracked};
    let mut cfg = pgb(&[0], PgBouncerConfig::default());
    cfg.platform.timeout = d(60 * SEC);
    cfg.servers[0].service_time = crate::Dist::Fixed(d(3 * SEC));
    cfg.middleboxes = Some(crate::NamedMiddlebox {
        name: "fw".into(),
        config: MiddleboxConfig {
            timeouts: StateTimeouts {
                established: d(2 * SEC),
                ..StateTimeouts::uniform(d(120 * SEC))
            },
            untracked_from_client: Untracked::Drop,
            untracked_from_server: Untracked::Drop,
            max_retrans: None,
            unacknowledged: None,
        },
    })
    .into_iter()
    .collect();
    cfg.client.requests = vec![RequestSpec {
        timeout: Some(d(5 * SEC)),
        op: RequestOp::Write(4),
        ..RequestSpec::ping("INSERT")
    }];
    cfg.client.retry = crate::RetrySettings {
        count: 1,
        ..crate::RetrySettings::default()
    };
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].duplicate_writes, 1, "{:?}", r.outcomes[0]);
    assert_eq!(r.metrics.duplicate_writes, 1);
    assert_eq!(
        rs.iter().filter(|r| r.event == "duplicate_write").count(),
        1
    );
}
