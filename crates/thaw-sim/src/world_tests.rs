//! Unit tests beside the World's state machine: platform lifecycle (cold
//! start, freeze, thaw, reap, scale-out, throttling, placement, function
//! timeout), the frozen kernel and thaw order, the client (strategies,
//! connect CPU, request timeout), the server (accept, max_connections, idle
//! timeout) and the metrics (zombie accounting, connection balance).
//!
//! Every run goes through [`crate::run`] with a [`VecSink`] and is checked
//! for `connections_opened == connections_closed + connections_open_at_end`.
//! Times are exact integer nanoseconds derived from the model
//! (docs/model.md §1, §4, §5, §6, §8) with the defaults of `SimConfig`:
//! one-way path 250 µs + 250 µs = 500 µs, service time 100 µs, init 322 ms,
//! connect CPU 470 µs × 1769 / 128 = 6 495 546 ns at 128 MB.
use crate::{
    ClientConfig, ErrorKind, FrozenKernel, NamedMiddlebox, Placement, ReapPolicy, RequestSpec,
    RunError, RunResult, SimConfig, Strategy, ThawOrder, WorkloadConfig,
};
use thaw_core::{SimDuration, SimTime, TraceRecord, Value, VecSink};
use thaw_net::{Keepalive, MiddleboxConfig, StateTimeouts, Untracked};

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// One way, environment to server (client_latency + server_latency).
const ONE_WAY: u64 = 500 * US;
const RTT: u64 = 2 * ONE_WAY;
const SERVICE: u64 = 100 * US;
const INIT: u64 = 322 * MS;
/// 470 µs × 1769 / 128, truncated.
const CPU_128: u64 = 6_495_546;
/// Handshake (one RTT) then request/response (one RTT + service).
const CONNECT_AND_REQUEST: u64 = RTT + RTT + SERVICE;
/// A request on an established connection.
const WARM_REQUEST: u64 = RTT + SERVICE;
/// Latency of a default cold invocation.
const COLD: u64 = INIT + CPU_128 + CONNECT_AND_REQUEST;

fn d(ns: u64) -> SimDuration {
    SimDuration::from_nanos(ns)
}

/// A middlebox `name` that forgets every flow after `secs` seconds in any
/// state and then drops what it no longer knows, both ways.
fn dropping_mb(name: &str, secs: u64) -> NamedMiddlebox {
    NamedMiddlebox {
        name: name.into(),
        config: MiddleboxConfig {
            timeouts: StateTimeouts::uniform(d(secs * SEC)),
            untracked_from_client: Untracked::Drop,
            untracked_from_server: Untracked::Drop,
            max_retrans: None,
            unacknowledged: None,
        },
    }
}

/// Defaults with arrivals at the given instants (ns).
fn base(arrivals: &[u64]) -> SimConfig {
    SimConfig {
        name: "world-test".into(),
        workload: WorkloadConfig::At(arrivals.iter().map(|&t| d(t)).collect()),
        ..SimConfig::default()
    }
}

/// Runs `cfg` with a full trace and checks the connection balance.
pub(crate) fn run_traced(cfg: &SimConfig) -> (RunResult, Vec<TraceRecord>) {
    let mut sink = VecSink::default();
    let r = crate::run(cfg, &mut sink, true).expect("run finishes");
    let m = &r.metrics;
    assert_eq!(
        m.connections_opened,
        m.connections_closed + m.connections_open_at_end,
        "connection balance: {m:?}"
    );
    assert_eq!(m.invocations, r.outcomes.len() as u64);
    (r, sink.records)
}

/// The records of `component` with event name `event`.
pub(crate) fn recs<'a>(
    rs: &'a [TraceRecord],
    component: &str,
    event: &str,
) -> Vec<&'a TraceRecord> {
    rs.iter()
        .filter(|r| r.component == component && r.event == event)
        .collect()
}

/// The times (ns) of those records.
pub(crate) fn times(rs: &[TraceRecord], component: &str, event: &str) -> Vec<u64> {
    recs(rs, component, event)
        .iter()
        .map(|r| r.t.as_nanos())
        .collect()
}

fn one<'a>(rs: &'a [TraceRecord], component: &str, event: &str) -> &'a TraceRecord {
    let v = recs(rs, component, event);
    assert_eq!(v.len(), 1, "exactly one {component}/{event}: {v:#?}");
    v[0]
}

fn field<'a>(r: &'a TraceRecord, name: &str) -> &'a Value {
    r.fields
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {r:?}"))
}

fn u(r: &TraceRecord, name: &str) -> u64 {
    match field(r, name) {
        Value::U64(v) => *v,
        v => panic!("field {name} is not a number: {v:?}"),
    }
}

fn s<'a>(r: &'a TraceRecord, name: &str) -> &'a str {
    match field(r, name) {
        Value::Str(v) => v,
        v => panic!("field {name} is not a string: {v:?}"),
    }
}

fn t(r: &TraceRecord) -> u64 {
    r.t.as_nanos()
}

fn assert_zombie(r: &RunResult, ns: u64) {
    let got = r.metrics.zombie_connection_seconds;
    let want = ns as f64 / 1e9;
    assert!(
        (got - want).abs() < 1e-9,
        "zombie_connection_seconds {got} != {want}"
    );
}

fn keepalive_2s() -> Keepalive {
    Keepalive {
        idle: SimDuration::from_secs(2),
        interval: SimDuration::from_secs(1),
        count: 9,
    }
}

fn is_probe(r: &TraceRecord) -> bool {
    r.event == "tcp_note" && r.text.contains("keepalive probe")
}

// ----- platform: cold start, warm reuse, freeze, reap ---------------------

#[test]
fn cold_start_then_warm_reuse() {
    let cfg = base(&[0, 10 * SEC]);
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes;
    assert_eq!(o.len(), 2);
    assert_eq!((o[0].id, o[0].container, o[0].cold), (1, 1, true));
    assert_eq!(o[0].error, None);
    // Init, connect CPU, handshake, request/response.
    assert_eq!(o[0].latency, d(COLD));
    assert_eq!(COLD, 330_595_546);
    assert_eq!((o[1].id, o[1].container, o[1].cold), (2, 1, false));
    assert_eq!(o[1].error, None);
    assert_eq!(o[1].latency, d(WARM_REQUEST));
    assert_eq!(o[1].at, SimTime::from_secs(10));

    let inv1 = one(&rs, "inv-1", "invoke");
    assert_eq!(field(inv1, "cold"), &Value::Bool(true));
    assert_eq!(u(inv1, "env"), 1);
    let inv2 = one(&rs, "inv-2", "invoke");
    assert_eq!(field(inv2, "cold"), &Value::Bool(false));
    assert_eq!(u(inv2, "env"), 1);
    assert_eq!(t(one(&rs, "env-1", "init_done")), INIT);
    // The global connection is reused: no connection setup in inv-2.
    assert!(recs(&rs, "inv-2", "connect_cpu").is_empty());
    assert_eq!(t(one(&rs, "env-1", "connect")), INIT + CPU_128);
    assert_eq!(
        u(one(&rs, "inv-1", "outcome"), "latency_ns"),
        COLD,
        "trace latency matches the outcome"
    );

    let m = &r.metrics;
    assert_eq!(m.invocations, 2);
    assert_eq!(m.cold_starts, 1);
    assert_eq!(m.errors, 0);
    assert_eq!(m.environments, 1);
    assert_eq!(m.connections_opened, 1);
    assert_eq!(m.server_connections_peak, 1);
    assert_eq!(m.server_connections_at_end, 1);
}

#[test]
fn freeze_at_response_plus_freeze_delay() {
    for delay in [0, 2 * SEC] {
        let mut cfg = base(&[0]);
        cfg.platform.freeze_delay = d(delay);
        let (r, rs) = run_traced(&cfg);
        let end = t(one(&rs, "inv-1", "outcome"));
        assert_eq!(end, COLD);
        assert_eq!(r.outcomes[0].latency, d(COLD));
        let f = one(&rs, "env-1", "freeze");
        assert_eq!(t(f), COLD + delay, "freeze_delay {delay}");
        assert_eq!(u(f, "sockets"), 1);
    }
}

#[test]
fn arrival_during_freeze_delay_is_warm_without_thaw() {
    // inv-2 arrives while env-1 is Idle (not yet frozen): the pending freeze
    // of inv-1 is cancelled; only the one after inv-2 happens.
    let mut cfg = base(&[0, SEC]);
    cfg.platform.freeze_delay = d(2 * SEC);
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[1].container, 1);
    assert!(!r.outcomes[1].cold);
    assert_eq!(r.outcomes[1].latency, d(WARM_REQUEST));
    assert!(one(&rs, "inv-2", "invoke").text.contains("not yet frozen"));
    assert!(recs(&rs, "env-1", "thaw_backlog").is_empty());
    let f = one(&rs, "env-1", "freeze");
    assert_eq!(t(f), SEC + WARM_REQUEST + 2 * SEC);
}

#[test]
fn reap_at_freeze_plus_reap_after_then_cold_on_new_env() {
    let freeze_delay = SEC;
    let reap_after = 60 * SEC;
    let freeze_t = COLD + freeze_delay;
    let reap_t = freeze_t + reap_after;

    let mut cfg = base(&[0, reap_t + SEC]);
    cfg.platform.freeze_delay = d(freeze_delay);
    cfg.platform.reap = ReapPolicy::Fixed(d(reap_after));
    let (r, rs) = run_traced(&cfg);
    let f = &recs(&rs, "env-1", "freeze")[0];
    assert_eq!(t(f), freeze_t);
    assert_eq!(u(f, "reap_after_ns"), reap_after);
    let reap = one(&rs, "env-1", "reap");
    assert_eq!(t(reap), reap_t);
    assert_eq!(u(reap, "sockets"), 1);
    let o = &r.outcomes[1];
    assert_eq!((o.container, o.cold, o.error), (2, true, None));
    assert_eq!(o.latency, d(COLD));
    assert_eq!(r.metrics.environments, 2);
    assert_eq!(r.metrics.cold_starts, 2);
    assert_eq!(r.metrics.connections_opened, 2);

    // One nanosecond before the reap, env-1 is still there (frozen): warm.
    let mut cfg = base(&[0, reap_t - 1]);
    cfg.platform.freeze_delay = d(freeze_delay);
    cfg.platform.reap = ReapPolicy::Fixed(d(reap_after));
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes[1];
    assert_eq!((o.container, o.cold, o.error), (1, false, None));
    assert_eq!(o.latency, d(WARM_REQUEST));
    // The thaw cancels the reap timer: the reap comes after the next freeze.
    let freezes = recs(&rs, "env-1", "freeze");
    assert_eq!(freezes.len(), 2);
    let second = t(freezes[1]);
    assert_eq!(second, reap_t - 1 + WARM_REQUEST + freeze_delay);
    assert_eq!(t(one(&rs, "env-1", "reap")), second + reap_after);
    assert_eq!(r.metrics.environments, 1);
}

/// (freeze time, drawn reap delay, reap time) of every environment.
fn uniform_draws(seed: u64) -> Vec<(u64, u64, u64)> {
    // Each invocation comes after the previous environment's reap (max 20 s):
    // five cold starts, five freezes, five draws.
    let mut cfg = base(&[0, 30 * SEC, 60 * SEC, 90 * SEC, 120 * SEC]);
    cfg.seed = seed;
    cfg.platform.reap = ReapPolicy::Uniform {
        lo: d(10 * SEC),
        hi: d(20 * SEC),
    };
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.metrics.environments, 5);
    assert!(r.outcomes.iter().all(|o| o.cold && o.error.is_none()));
    (1..=5)
        .map(|env| {
            let c = format!("env-{env}");
            let f = one(&rs, &c, "freeze");
            (t(f), u(f, "reap_after_ns"), t(one(&rs, &c, "reap")))
        })
        .collect()
}

#[test]
fn uniform_reap_is_drawn_within_bounds_per_seed() {
    let a = uniform_draws(7);
    for &(freeze, after, reap) in &a {
        assert!((10 * SEC..=20 * SEC).contains(&after), "{after}");
        assert_eq!(reap, freeze + after);
    }
    // Drawn per freeze: not all the same.
    assert!(a.iter().any(|x| x.1 != a[0].1), "{a:?}");
    // Deterministic for a seed, different for another.
    assert_eq!(uniform_draws(7), a);
    let b = uniform_draws(8);
    assert_ne!(
        a.iter().map(|x| x.1).collect::<Vec<_>>(),
        b.iter().map(|x| x.1).collect::<Vec<_>>()
    );
}

#[test]
fn uniform_reap_draws_once_per_actual_freeze() {
    // docs/model.md §1.5: the delay is drawn "once per freeze". A freeze that
    // is cancelled (an arrival during freeze_delay) must not consume a draw,
    // so the first real freeze of this run draws the same value as the only
    // freeze of a one-invocation run.
    let uniform = ReapPolicy::Uniform {
        lo: d(10 * SEC),
        hi: d(20 * SEC),
    };
    let mut one_inv = base(&[0]);
    one_inv.platform.reap = uniform.clone();
    one_inv.platform.freeze_delay = d(2 * SEC);
    let (_, rs) = run_traced(&one_inv);
    let want = u(one(&rs, "env-1", "freeze"), "reap_after_ns");

    let mut two_inv = base(&[0, SEC]);
    two_inv.platform.reap = uniform;
    two_inv.platform.freeze_delay = d(2 * SEC);
    let (_, rs) = run_traced(&two_inv);
    let f = one(&rs, "env-1", "freeze");
    assert_eq!(u(f, "reap_after_ns"), want);
    assert_eq!(t(one(&rs, "env-1", "reap")), t(f) + want);
}

#[test]
fn reap_follows_the_last_freeze_whatever_the_earlier_draws() {
    // One reap alarm per environment moves with each freeze (model.md §0,
    // "Timers queued when needed"): an environment frozen again with a
    // shorter draw than a pending alarm must still be reaped at its last
    // freeze + its last draw, never at an earlier freeze's time, and one
    // thawed in time is never reaped.
    let mut at = 0;
    let gaps = [2u64, 15, 1, 25, 3, 8, 19, 4, 12, 30, 1, 6, 17, 2, 9];
    let arrivals: Vec<u64> = gaps
        .iter()
        .cycle()
        .take(120)
        .map(|g| {
            at += g * SEC + 7 * MS;
            at
        })
        .collect();
    for seed in [1, 2, 3] {
        let mut cfg = base(&arrivals);
        cfg.seed = seed;
        cfg.platform.reap = ReapPolicy::Uniform {
            lo: d(SEC),
            hi: d(20 * SEC),
        };
        let (r, rs) = run_traced(&cfg);
        assert!(r.metrics.environments > 3, "some environments are reaped");
        let mut reaped = 0;
        for env in 1..=r.metrics.environments {
            let c = format!("env-{env}");
            let freezes: Vec<(u64, u64)> = recs(&rs, &c, "freeze")
                .iter()
                .map(|f| (t(f), u(f, "reap_after_ns")))
                .collect();
            let thaws: Vec<u64> = rs
                .iter()
                .filter(|x| {
                    x.event == "invoke" && matches!(field(x, "env"), Value::U64(e) if *e == env)
                })
                .map(t)
                .collect();
            let reap = recs(&rs, &c, "reap").first().map(|x| t(x));
            // The first freeze not followed by an invocation before its
            // reap time is the one that reaps.
            let due = freezes
                .iter()
                .find(|(f, after)| !thaws.iter().any(|&x| x > *f && x < f + after))
                .map(|(f, after)| f + after);
            let end = r.end.as_nanos();
            match (due, reap) {
                (Some(due), Some(reap)) => {
                    assert_eq!(reap, due, "seed {seed} {c}");
                    reaped += 1;
                }
                (Some(due), None) => assert!(due > end, "seed {seed} {c}: due {due}"),
                (None, reap) => assert_eq!(reap, None, "seed {seed} {c}"),
            }
        }
        assert!(reaped > 3, "seed {seed}: {reaped} reaps");
    }
}

// ----- scale-out, throttling, placement -----------------------------------

#[test]
fn simultaneous_arrivals_use_two_environments() {
    let (r, rs) = run_traced(&base(&[0, 0]));
    let mut envs: Vec<u32> = r.outcomes.iter().map(|o| o.container).collect();
    envs.sort();
    assert_eq!(envs, vec![1, 2]);
    for o in &r.outcomes {
        assert!(o.cold);
        assert_eq!(o.error, None);
        assert_eq!(o.latency, d(COLD));
    }
    assert_eq!(t(one(&rs, "env-1", "init_done")), INIT);
    assert_eq!(t(one(&rs, "env-2", "init_done")), INIT);
    assert_eq!(r.metrics.environments, 2);
    assert_eq!(r.metrics.connections_opened, 2);
    assert_eq!(r.metrics.server_connections_peak, 2);
}

#[test]
fn throttled_at_max_concurrency() {
    let mut cfg = base(&[0, MS, 2 * SEC, 20 * SEC]);
    cfg.platform.max_concurrency = 1;
    cfg.platform.reap = ReapPolicy::Fixed(d(5 * SEC));
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes;
    // inv-2 arrives while env-1 initializes: no room for a second one.
    assert_eq!(o[1].error, Some(ErrorKind::Throttled));
    assert_eq!(o[1].container, 0);
    assert_eq!(o[1].latency, SimDuration::ZERO);
    assert!(!o[1].cold);
    assert_eq!(
        o[1].detail.as_deref(),
        Some("Rate Exceeded (TooManyRequestsException)")
    );
    assert_eq!(t(one(&rs, "inv-2", "throttled")), MS);
    assert!(recs(&rs, "inv-2", "invoke").is_empty());
    // inv-3 finds env-1 frozen: warm, not throttled.
    assert_eq!((o[2].container, o[2].cold, o[2].error), (1, false, None));
    // inv-4 comes after env-1 was reaped: a reaped environment does not count
    // toward max_concurrency, so a new one starts.
    assert_eq!((o[3].container, o[3].cold, o[3].error), (2, true, None));
    let m = &r.metrics;
    assert_eq!(m.environments, 2);
    assert_eq!(m.cold_starts, 2);
    assert_eq!(m.errors, 1);
    assert_eq!(m.errors_by_kind.get("THROTTLED"), Some(&1));
}

fn placement_run(p: Placement) -> u32 {
    // env-1 and env-2 start 100 ms apart, so env-2's invocation ends last.
    let mut cfg = base(&[0, 100 * MS, 10 * SEC]);
    cfg.platform.placement = p;
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].container, 1);
    assert_eq!(r.outcomes[1].container, 2);
    assert_eq!(t(one(&rs, "inv-1", "outcome")), COLD);
    assert_eq!(t(one(&rs, "inv-2", "outcome")), 100 * MS + COLD);
    let o = &r.outcomes[2];
    assert!(!o.cold);
    assert_eq!(o.latency, d(WARM_REQUEST));
    assert_eq!(u(one(&rs, "inv-3", "invoke"), "env"), o.container as u64);
    o.container
}

#[test]
fn placement_most_recent_vs_least_recent() {
    assert_eq!(placement_run(Placement::MostRecent), 2);
    assert_eq!(placement_run(Placement::LeastRecent), 1);
}

// ----- function timeout, request timeout ----------------------------------

#[test]
fn function_timeout_discards_env_and_leaves_a_zombie() {
    let timeout = SEC;
    let service = 5 * SEC;
    let idle = 10 * SEC;
    let mut cfg = base(&[0]);
    cfg.platform.timeout = d(timeout);
    cfg.servers[0].service_time = crate::Dist::Fixed(d(service));
    cfg.servers[0].idle_timeout = Some(d(idle));
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes[0];
    assert_eq!(o.error, Some(ErrorKind::FunctionTimeout));
    assert_eq!(o.detail.as_deref(), Some("Task timed out after 1s"));
    assert!(o.cold);
    // Armed when the handler starts, after init.
    assert_eq!(o.latency, d(INIT + timeout));
    let ft = one(&rs, "inv-1", "function_timeout");
    assert_eq!(t(ft), INIT + timeout);
    // Discarded like a reap: no FIN or RST from env-1, ever after.
    assert!(rs
        .iter()
        .filter(|x| x.component == "env-1" && x.event == "send" && x.t >= ft.t)
        .all(|x| !matches!(s(x, "kind"), "FIN" | "RST")));
    assert!(recs(&rs, "env-1", "close").is_empty());
    // The server's reply vanishes with the environment.
    let request_at_server = INIT + CPU_128 + RTT + ONE_WAY;
    let vanish = recs(&rs, "env-1", "vanish");
    assert!(!vanish.is_empty());
    assert_eq!(t(vanish[0]), request_at_server + service + ONE_WAY);
    // The server still holds the connection: a zombie until its idle close,
    // `idle` after its last activity (the reply it wrote).
    let close = one(&rs, "server", "idle_close");
    assert_eq!(t(close), request_at_server + service + idle);
    assert_zombie(&r, t(close) - t(ft));
    assert_eq!(r.metrics.server_connections_at_end, 0);
    assert_eq!(r.metrics.connections_opened, 1);
    assert_eq!(r.metrics.connections_closed, 1);
}

#[test]
fn function_timeout_then_next_invocation_is_cold() {
    let mut cfg = base(&[0, 3 * SEC, 20 * SEC]);
    cfg.platform.timeout = d(SEC);
    cfg.servers[0].service_time = crate::Dist::Fixed(d(5 * SEC));
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes;
    assert_eq!(o[0].error, Some(ErrorKind::FunctionTimeout));
    assert_eq!((o[1].container, o[1].cold), (2, true));
    assert_eq!(o[1].error, Some(ErrorKind::FunctionTimeout));
    assert_eq!((o[2].container, o[2].cold), (3, true));
    assert_eq!(o[2].latency, d(INIT + SEC));
    for inv in ["inv-1", "inv-2", "inv-3"] {
        assert_eq!(recs(&rs, inv, "connect_cpu").len(), 1, "{inv}");
    }
    assert_eq!(r.metrics.environments, 3);
    assert_eq!(r.metrics.cold_starts, 3);
    assert_eq!(r.metrics.errors_by_kind.get("FUNCTION_TIMEOUT"), Some(&3));
}

#[test]
fn function_timeout_is_exact_after_the_handlers_own_work() {
    // The timeout is queued only once the invocation may still run at its
    // deadline (model.md §0), at the place it took when the handler
    // started: after 1 s of work a dropped request still times out at
    // exactly 3 s; work that ends at the deadline itself loses to the
    // timeout (scheduled first, so it runs first at that instant); work
    // that ends just before succeeds.
    let run = |work: u64, drop: bool| {
        let mut cfg = base(&[0, 30 * SEC]);
        cfg.platform.timeout = d(3 * SEC);
        cfg.platform.handler_time = d(work).into();
        if drop {
            cfg.middleboxes = vec![dropping_mb("fw", 10)];
        } else {
            // The handler's own work only.
            cfg.client.requests.clear();
        }
        let (r, rs) = run_traced(&cfg);
        let fired = |inv: &str| recs(&rs, inv, "function_timeout").first().map(|x| t(x));
        let o = &r.outcomes[1];
        (o.error, o.cold, o.latency, fired("inv-1"), fired("inv-2"))
    };
    // inv-2 is warm: 1 s of work, then its request is dropped.
    assert_eq!(
        run(SEC, true),
        (
            Some(ErrorKind::FunctionTimeout),
            false,
            d(3 * SEC),
            None,
            Some(33 * SEC)
        )
    );
    // Work as long as the timeout: both time out (inv-2 on a new
    // environment, the first one having been reset).
    let (err, cold, _, f1, f2) = run(3 * SEC, false);
    assert_eq!((err, cold), (Some(ErrorKind::FunctionTimeout), true));
    assert_eq!(
        (f1, f2),
        (Some(INIT + 3 * SEC), Some(30 * SEC + INIT + 3 * SEC))
    );
    // One nanosecond less: both succeed, inv-2 warm.
    assert_eq!(
        run(3 * SEC - 1, false),
        (None, false, d(3 * SEC - 1), None, None)
    );
}

#[test]
fn warm_function_timeout_is_exactly_the_timeout() {
    // inv-2 is warm; its request is silently dropped by a middlebox that
    // forgot the flow, so only the function timeout ends it, `timeout` after
    // the arrival (the handler starts at once on a warm environment).
    let mut cfg = base(&[0, 30 * SEC]);
    cfg.platform.timeout = d(3 * SEC);
    cfg.middleboxes = vec![dropping_mb("fw", 10)];
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[0].error, None);
    let o = &r.outcomes[1];
    assert_eq!((o.container, o.cold), (1, false));
    assert_eq!(o.error, Some(ErrorKind::FunctionTimeout));
    assert_eq!(o.latency, d(3 * SEC));
    assert_eq!(t(one(&rs, "inv-2", "function_timeout")), 33 * SEC);
    assert!(!recs(&rs, "fw", "drop").is_empty());
    // The reset environment is discarded at once, as by a reap.
    assert!(recs(&rs, "env-1", "reap").is_empty());
    assert_eq!(r.metrics.connections_closed, 1);
    assert_eq!(r.metrics.connections_open_at_end, 0);
}

#[test]
fn request_timeout() {
    let mut cfg = base(&[0]);
    cfg.servers[0].service_time = crate::Dist::Fixed(d(SEC));
    cfg.client.requests = vec![RequestSpec {
        name: "GET foo".into(),
        timeout: Some(d(50 * MS)),
        op: crate::config::RequestOp::Ping,
        pin: false,
        idempotent: false,
        target: 0,
        writes: 1,
        write_gap: SimDuration::ZERO,
        work_after: SimDuration::ZERO,
        await_reply: true,
    }];
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes[0];
    assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
    // Timed from the write, made as soon as the socket is ESTABLISHED.
    let written = INIT + CPU_128 + RTT;
    assert_eq!(t(one(&rs, "inv-1", "request")), written);
    assert_eq!(o.latency, d(written + 50 * MS));
    assert_eq!(
        o.detail.as_deref(),
        Some("GET foo: no reply within the client's timeout of 50ms")
    );
    // Error ⇒ close: the client closes its socket at once.
    assert_eq!(t(one(&rs, "env-1", "close")), written + 50 * MS);
    assert_eq!(r.metrics.errors_by_kind.get("REQUEST_TIMEOUT"), Some(&1));
}

// ----- frozen kernel, thaw order ------------------------------------------

/// Server closes after 5 s idle; the client has keepalive after 2 s idle;
/// the second invocation comes at 30 s.
fn frozen_cfg(kernel: FrozenKernel, order: ThawOrder, keepalive: bool) -> SimConfig {
    let mut cfg = base(&[0, 30 * SEC]);
    cfg.platform.frozen_kernel = kernel;
    cfg.platform.thaw_order = order;
    cfg.servers[0].idle_timeout = Some(d(5 * SEC));
    if keepalive {
        cfg.platform.tcp.keepalive = Some(keepalive_2s());
    }
    cfg
}

/// The server's last activity: the reply it wrote for inv-1.
const LAST_REPLY: u64 = INIT + CPU_128 + RTT + ONE_WAY + SERVICE;

#[test]
fn silent_frozen_kernel_drops_packets_and_defers_timers() {
    let cfg = frozen_cfg(FrozenKernel::Silent, ThawOrder::HandlerFirst, true);
    let (r, rs) = run_traced(&cfg);
    let freeze = t(recs(&rs, "env-1", "freeze")[0]);
    assert_eq!(freeze, COLD);
    let thaw = 30 * SEC;

    // The server's FIN (and its retransmissions) meet a silent host.
    let fin_sent = LAST_REPLY + 5 * SEC;
    assert_eq!(t(one(&rs, "server", "idle_close")), fin_sent);
    let drops = recs(&rs, "env-1", "frozen_drop");
    assert!(drops.len() > 1, "FIN and retransmissions dropped");
    assert_eq!(t(drops[0]), fin_sent + ONE_WAY);
    assert_eq!(s(drops[0], "kind"), "FIN");
    assert!(drops.iter().all(|x| t(x) < thaw));
    // Nothing happens to env-1's socket and nothing leaves env-1 while frozen.
    assert!(rs
        .iter()
        .filter(|x| x.component == "env-1" && t(x) > freeze && t(x) < thaw)
        .all(|x| x.event == "frozen_drop"));

    // The keepalive timer (due 2 s after the last segment received) waited
    // for the thaw; then it fires first, before the handler's request.
    let probes: Vec<_> = rs
        .iter()
        .filter(|x| x.component == "env-1" && is_probe(x))
        .collect();
    assert!(!probes.is_empty());
    assert_eq!(t(probes[0]), thaw);
    let backlog = one(&rs, "env-1", "thaw_backlog");
    assert_eq!(t(backlog), thaw);
    assert_eq!(u(backlog, "kernel_timers"), 1);
    assert_eq!(u(backlog, "app_events"), 0);
    let probe_idx = rs.iter().position(is_probe).unwrap();
    let req_idx = rs
        .iter()
        .position(|x| x.component == "inv-2" && x.event == "request")
        .unwrap();
    assert!(probe_idx < req_idx);
    // The client never saw the FIN: it writes on an ESTABLISHED socket and
    // the server host (orphan in FIN_WAIT1) answers RST.
    assert_eq!(
        s(one(&rs, "inv-2", "request"), "socket_state"),
        "ESTABLISHED"
    );
    let o = &r.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::Econnreset));
    assert_eq!(o.latency, d(RTT));
    // Zombie from the freeze to the server's close.
    assert_zombie(&r, fin_sent - freeze);
}

#[test]
fn running_frozen_kernel_acks_fin_and_runs_timers() {
    let cfg = frozen_cfg(FrozenKernel::Running, ThawOrder::HandlerFirst, true);
    let (r, rs) = run_traced(&cfg);
    let freeze = t(recs(&rs, "env-1", "freeze")[0]);
    let fin_sent = LAST_REPLY + 5 * SEC;
    assert!(recs(&rs, "env-1", "frozen_drop").is_empty());
    // The frozen kernel ACKs the FIN: CLOSE_WAIT at once, server FIN_WAIT2.
    let st = recs(&rs, "env-1", "tcp_state");
    let cw = st
        .iter()
        .find(|x| s(x, "to") == "CLOSE_WAIT")
        .expect("CLOSE_WAIT");
    assert_eq!(s(cw, "from"), "ESTABLISHED");
    assert_eq!(t(cw), fin_sent + ONE_WAY);
    assert!(t(cw) > freeze && t(cw) < 30 * SEC);
    let fw2 = recs(&rs, "server", "tcp_state")
        .into_iter()
        .find(|x| s(x, "to") == "FIN_WAIT2")
        .expect("FIN_WAIT2");
    assert_eq!(t(fw2), fin_sent + RTT);
    // Kernel timers run on time: the first probe 2 s after the last segment
    // received (the reply), while frozen.
    let first_probe = rs
        .iter()
        .find(|x| x.component == "env-1" && is_probe(x))
        .unwrap();
    assert_eq!(t(first_probe), COLD + 2 * SEC);
    // The EOF waited for the thaw as an application event.
    let backlog = one(&rs, "env-1", "thaw_backlog");
    assert_eq!(u(backlog, "kernel_timers"), 0);
    assert_eq!(u(backlog, "app_events"), 1);
    assert_eq!(r.outcomes[1].error, Some(ErrorKind::Eof));
}

#[test]
fn thaw_order_handler_first_eof_vs_events_first_reconnect() {
    let (r, rs) = run_traced(&frozen_cfg(
        FrozenKernel::Running,
        ThawOrder::HandlerFirst,
        false,
    ));
    let o = &r.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::Eof));
    assert!(!o.cold);
    // The handler writes on the CLOSE_WAIT socket, then reads the queued EOF.
    assert_eq!(
        s(one(&rs, "inv-2", "request"), "socket_state"),
        "CLOSE_WAIT"
    );
    assert_eq!(o.latency, SimDuration::ZERO);
    assert_eq!(r.metrics.connections_opened, 1);
    assert!(recs(&rs, "env-1", "client_drops_dead").is_empty());

    let (r, rs) = run_traced(&frozen_cfg(
        FrozenKernel::Running,
        ThawOrder::EventsFirst,
        false,
    ));
    let o = &r.outcomes[1];
    assert_eq!(o.error, None);
    assert!(!o.cold);
    assert_eq!(o.container, 1);
    assert_eq!(t(one(&rs, "env-1", "client_drops_dead")), 30 * SEC);
    assert_eq!(recs(&rs, "inv-2", "connect_cpu").len(), 1);
    // A new connection: connect CPU, handshake, request.
    assert_eq!(o.latency, d(CPU_128 + CONNECT_AND_REQUEST));
    assert_eq!(r.metrics.connections_opened, 2);
}

// ----- client: connect CPU, strategies ------------------------------------

#[test]
fn connect_cpu_scales_below_1769_mb() {
    for (mem, cpu) in [
        (128, CPU_128),
        (512, 1_623_886), // 470 µs × 1769 / 512 = 1 623 886.7
        (1769, 470 * US),
        (3008, 470 * US),
    ] {
        let mut cfg = base(&[0]);
        cfg.platform.memory_mb = mem;
        let (r, rs) = run_traced(&cfg);
        let c = one(&rs, "inv-1", "connect_cpu");
        assert_eq!(u(c, "cpu_ns"), cpu, "{mem} MB");
        assert_eq!(t(c), INIT);
        assert_eq!(t(one(&rs, "env-1", "connect")), INIT + cpu, "{mem} MB");
        assert_eq!(
            r.outcomes[0].latency,
            d(INIT + cpu + CONNECT_AND_REQUEST),
            "{mem} MB"
        );
    }
    // Scaled with the configured cost too.
    let mut cfg = base(&[0]);
    cfg.platform.memory_mb = 1000;
    cfg.client.connect_cpu = crate::Dist::Fixed(d(SEC));
    let (_, rs) = run_traced(&cfg);
    assert_eq!(u(one(&rs, "inv-1", "connect_cpu"), "cpu_ns"), 1_769_000_000);
}

#[test]
fn max_connections_one_rejects_the_second_global_client() {
    let mut cfg = base(&[0, 0]);
    cfg.servers[0].max_connections = 1;
    let (r, rs) = run_traced(&cfg);
    let errs: Vec<_> = r.outcomes.iter().filter(|o| o.error.is_some()).collect();
    assert_eq!(errs.len(), 1);
    let e = errs[0];
    assert_eq!(e.error, Some(ErrorKind::TooManyConnections));
    assert_eq!(
        e.detail.as_deref(),
        Some("ERR max number of clients reached")
    );
    // The server accepts (handshake done), writes the error, closes; the
    // client reads the error one way later.
    assert_eq!(e.latency, d(INIT + CPU_128 + RTT + RTT));
    let ok: Vec<_> = r.outcomes.iter().filter(|o| o.error.is_none()).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].latency, d(COLD));
    let rej = one(&rs, "server", "reject");
    assert_eq!(u(rej, "open"), 1);
    assert_eq!(t(rej), INIT + CPU_128 + RTT + ONE_WAY);
    assert_eq!(recs(&rs, "server", "accept").len(), 1);
    let m = &r.metrics;
    assert_eq!(m.server_connections_peak, 1);
    assert_eq!(m.errors_by_kind.get("TOO_MANY_CONNECTIONS"), Some(&1));
    assert_eq!(m.connections_opened, 2);
    assert_eq!(m.server_connections_at_end, 1);
}

#[test]
fn a_varying_latency_is_drawn_once_per_connection() {
    // model.md 4.1: `network.client_latency` as a distribution is drawn
    // when the function's socket is made, and every segment of that
    // connection, both ways, travels with it: a warm invocation's latency
    // is its connect CPU, two round trips of 2 x (drawn + 250 µs) and the
    // service time, with one draw per connection.
    let run_with = |seed: u64, middlebox: bool| {
        let mut cfg = base(&(0..8).map(|i| i * 10 * SEC).collect::<Vec<_>>());
        cfg.seed = seed;
        if middlebox {
            // No latency of its own: the path's ends carry the draws.
            cfg.middleboxes = vec![dropping_mb("nat", 600)];
        }
        cfg.client = ClientConfig {
            strategy: Strategy::PerInvocation,
            ..ClientConfig::default()
        };
        cfg.network.client_latency = thaw_core::Dist::Uniform {
            lo: d(MS),
            hi: d(9 * MS),
        };
        let (r, _) = run_traced(&cfg);
        r.outcomes[1..]
            .iter()
            .map(|o| {
                assert_eq!((o.error, o.cold), (None, false));
                let rest = o.latency.as_nanos() - CPU_128 - SERVICE;
                assert_eq!(rest % 4, 0, "two round trips of one latency");
                let drawn = rest / 4 - 250 * US;
                assert!((MS..=9 * MS).contains(&drawn), "{drawn}");
                drawn
            })
            .collect::<Vec<_>>()
    };
    let run = |seed| run_with(seed, false);
    let a = run(1);
    // Through a middlebox, the same draws and the same latencies.
    assert_eq!(run_with(1, true), a);
    assert!(
        a.iter().any(|x| *x != a[0]),
        "one draw per connection: {a:?}"
    );
    assert_eq!(run(1), a);
    assert_ne!(run(2), a);
}

#[test]
fn per_invocation_opens_a_connection_every_time() {
    let mut cfg = base(&[0, 10 * SEC, 20 * SEC]);
    cfg.client = ClientConfig {
        strategy: Strategy::PerInvocation,
        ..ClientConfig::default()
    };
    let (r, rs) = run_traced(&cfg);
    let o = &r.outcomes;
    assert!(o.iter().all(|o| o.error.is_none() && o.container == 1));
    assert_eq!(o[0].latency, d(COLD));
    // Warm, but each invocation pays connection setup and a handshake.
    assert_eq!(o[1].latency, d(CPU_128 + CONNECT_AND_REQUEST));
    assert_eq!(o[2].latency, d(CPU_128 + CONNECT_AND_REQUEST));
    for inv in ["inv-1", "inv-2", "inv-3"] {
        assert_eq!(recs(&rs, inv, "connect_cpu").len(), 1, "{inv}");
    }
    // Every accept finds no other connection open: the count went back to 0.
    let accepts = recs(&rs, "server", "accept");
    assert_eq!(accepts.len(), 3);
    assert!(accepts.iter().all(|a| u(a, "open") == 1));
    // The client closes after its reply, the server on the client's FIN.
    assert_eq!(recs(&rs, "env-1", "close").len(), 3);
    let server_closes = recs(&rs, "server", "close");
    assert_eq!(server_closes.len(), 3);
    assert_eq!(t(server_closes[0]), COLD + ONE_WAY);
    // The invocation ends right after close(): the environment froze with
    // its socket still in FIN_WAIT1.
    let freeze = recs(&rs, "env-1", "freeze")[0];
    assert_eq!(t(freeze), COLD);
    assert_eq!(u(freeze, "sockets"), 1);
    let last_state = recs(&rs, "env-1", "tcp_state")
        .into_iter()
        .rfind(|x| x.t <= freeze.t)
        .expect("state changes before the freeze");
    assert_eq!(s(last_state, "to"), "FIN_WAIT1");
    let m = &r.metrics;
    assert_eq!(m.connections_opened, 3);
    assert_eq!(m.server_connections_peak, 1);
    assert_eq!(m.server_connections_at_end, 0);
    assert_eq!(m.environments, 1);
}

// ----- server ------------------------------------------------------------

#[test]
fn server_idle_timeout_counts_from_last_activity() {
    let idle = 60 * SEC;
    let mut cfg = base(&[0, 30 * SEC]);
    cfg.servers[0].idle_timeout = Some(d(idle));
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[1].error, None);
    assert_eq!(r.outcomes[1].latency, d(WARM_REQUEST));
    // Last activity: the reply to the request read at 30 s + one way.
    let last = 30 * SEC + ONE_WAY + SERVICE;
    let c = one(&rs, "server", "idle_close");
    assert_eq!(t(c), last + idle);
    assert_eq!(t(c), 90_000_600_000);
    assert_eq!(u(c, "idle_ns"), idle);
    assert_eq!(r.metrics.server_connections_at_end, 0);
}

// ----- metrics ------------------------------------------------------------

#[test]
fn zombie_seconds_from_freeze_to_server_close() {
    let idle = 60 * SEC;
    let mut cfg = base(&[0]);
    cfg.servers[0].idle_timeout = Some(d(idle));
    let (r, rs) = run_traced(&cfg);
    let t1 = t(one(&rs, "env-1", "freeze"));
    let t2 = t(one(&rs, "server", "idle_close"));
    assert_eq!(t1, COLD);
    assert_eq!(t2, LAST_REPLY + idle);
    assert_zombie(&r, t2 - t1);
    assert_eq!(t2 - t1, 59_999_500_000);

    // Reaped before the server closes: still a zombie until the close.
    cfg.platform.reap = ReapPolicy::Fixed(d(10 * SEC));
    let (r, rs) = run_traced(&cfg);
    assert_eq!(t(one(&rs, "env-1", "reap")), t1 + 10 * SEC);
    assert_eq!(t(one(&rs, "server", "idle_close")), t2);
    assert_zombie(&r, t2 - t1);

    // A thaw stops the count; the next freeze starts it again.
    let mut cfg = base(&[0, 30 * SEC]);
    cfg.servers[0].idle_timeout = Some(d(idle));
    let (r, rs) = run_traced(&cfg);
    let f = recs(&rs, "env-1", "freeze");
    assert_eq!(f.len(), 2);
    let close = t(one(&rs, "server", "idle_close"));
    assert_zombie(&r, (30 * SEC - t(f[0])) + (close - t(f[1])));
}

#[test]
fn zombie_not_counted_while_idle_before_freeze() {
    // freeze_delay longer than the server's idle timeout: the server closes
    // while the environment is Idle (it sees the FIN and drops the dead
    // connection): no zombie at all.
    let mut cfg = base(&[0, 30 * SEC]);
    cfg.platform.freeze_delay = d(10 * SEC);
    cfg.servers[0].idle_timeout = Some(d(5 * SEC));
    let (r, rs) = run_traced(&cfg);
    // Once for inv-1's connection, once for inv-2's (it idles out too).
    let drops = recs(&rs, "env-1", "client_drops_dead");
    assert_eq!(drops.len(), 2);
    assert_eq!(t(drops[0]), LAST_REPLY + 5 * SEC + ONE_WAY);
    assert_zombie(&r, 0);
    // The next invocation reconnects and succeeds.
    assert_eq!(r.outcomes[1].error, None);
    assert_eq!(r.outcomes[1].latency, d(CPU_128 + CONNECT_AND_REQUEST));
}

// ----- middlebox ----------------------------------------------------------

#[test]
fn middlebox_hop_keeps_latency_and_can_reset() {
    let mut cfg = base(&[0, 30 * SEC]);
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
    // Two legs of 250 µs: the same path latency as without a middlebox.
    assert_eq!(r.outcomes[0].latency, d(COLD));
    assert!(!recs(&rs, "nat", "flow_state").is_empty());
    // The flow is forgotten 10 s after its last packet (the client's ACK of
    // the reply passing the middlebox 250 µs after it left env-1).
    let forget = one(&rs, "nat", "forget");
    assert_eq!(t(forget), COLD + 250 * US + 10 * SEC);
    // inv-2's request is answered by the middlebox: RST after 2 × 250 µs.
    let o = &r.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::Econnreset));
    assert_eq!(o.latency, d(500 * US));
    assert_eq!(t(one(&rs, "nat", "rst")), 30 * SEC + 250 * US);
}

// ----- engine: budget, determinism -----------------------------------------

#[test]
fn event_budget_exceeded_is_an_error() {
    let mut cfg = base(&[0, 10 * SEC]);
    cfg.event_budget = 5;
    let mut sink = VecSink::default();
    match crate::run(&cfg, &mut sink, true) {
        Err(RunError::Budget(b)) => assert_eq!(b.budget, 5),
        Ok(r) => panic!("expected a budget error, got {:?}", r.metrics),
    }
    // The same run fits a sufficient budget.
    cfg.event_budget = 1_000;
    let (r, _) = run_traced(&cfg);
    assert!(r.metrics.events <= 1_000);
}

fn poisson(seed: u64) -> SimConfig {
    let mut cfg = base(&[]);
    cfg.seed = seed;
    cfg.workload = WorkloadConfig::Poisson {
        rate_per_s: 0.5,
        start: d(SEC),
        count: 20,
    };
    cfg.servers[0].idle_timeout = Some(d(5 * SEC));
    cfg.platform.reap = ReapPolicy::Uniform {
        lo: d(3 * SEC),
        hi: d(30 * SEC),
    };
    cfg
}

#[test]
fn same_config_twice_gives_identical_traces() {
    let cfg = poisson(42);
    let (r1, t1) = run_traced(&cfg);
    let (r2, t2) = run_traced(&cfg);
    assert!(!t1.is_empty());
    assert_eq!(t1, t2);
    assert_eq!(r1, r2);
    // With keep_rows off the metrics are the same.
    let mut sink = VecSink::default();
    let r3 = crate::run(&cfg, &mut sink, false).unwrap();
    assert!(r3.outcomes.is_empty());
    assert_eq!(r3.metrics, r1.metrics);
    assert_eq!(sink.records, t1);
}

#[test]
fn another_seed_gives_other_poisson_arrivals() {
    let arrivals = |seed| -> Vec<SimTime> {
        let (r, _) = run_traced(&poisson(seed));
        assert_eq!(r.metrics.invocations, 20);
        let v: Vec<SimTime> = r.outcomes.iter().map(|o| o.at).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert!(v[0] >= SimTime::from_secs(1));
        v
    };
    let a = arrivals(1);
    assert_eq!(arrivals(1), a);
    assert_ne!(arrivals(2), a);
}

// ----- client pool (strategy = pool) -------------------------------------

mod pool_wiring {
    use super::*;
    use crate::{HandlerKind, PoolConfig, PoolSettings};

    fn pool_cfg(arrivals: &[u64], preset: &str, config: PoolConfig) -> SimConfig {
        let mut cfg = base(arrivals);
        cfg.platform.timeout = SimDuration::from_secs(30);
        cfg.client.strategy = Strategy::Pool;
        cfg.client.pool = Some(PoolSettings {
            preset: preset.into(),
            config,
            close_after_invocation: false,
            reset_at_start: false,
            zombie_cleanup: None,
            messages: None,
        });
        cfg
    }

    /// Frozen intervals per environment from the trace: [freeze, thaw).
    fn frozen_spans(rs: &[TraceRecord]) -> Vec<(String, u64, u64)> {
        let mut open: std::collections::BTreeMap<String, u64> = Default::default();
        let mut spans = Vec::new();
        for r in rs {
            if r.event == "freeze" {
                open.insert(r.component.clone(), t(r));
            } else if r.event == "invoke" && r.text.contains("thaws") {
                let env = format!("env-{}", u(r, "env"));
                if let Some(from) = open.remove(&env) {
                    spans.push((env, from, t(r)));
                }
            } else if r.event == "reap" {
                open.remove(&r.component);
            }
        }
        for (env, from) in open {
            spans.push((env, from, u64::MAX));
        }
        spans
    }

    fn assert_no_timer_while_frozen(rs: &[TraceRecord]) {
        let spans = frozen_spans(rs);
        for r in rs.iter().filter(|r| r.event == "runtime_timer") {
            for (env, from, to) in &spans {
                assert!(
                    !(r.component == *env && t(r) > *from && t(r) < *to),
                    "runtime timer of {env} fired at {} while frozen ({from}..{to})",
                    t(r)
                );
            }
        }
    }

    #[test]
    fn idle_timer_is_frozen_and_runs_late_at_thaw_events_first() {
        // pg-pool: 10 s per-connection idle timer armed at the release.
        let mut cfg = pool_cfg(&[0, 60 * SEC], "pg-pool", PoolConfig::pg_pool());
        cfg.platform.thaw_order = ThawOrder::EventsFirst;
        let (r, rs) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        assert_no_timer_while_frozen(&rs);
        let fired: Vec<_> = recs(&rs, "env-1", "runtime_timer")
            .into_iter()
            .filter(|r| s(r, "timer") == "pool")
            .collect();
        assert_eq!(fired.len(), 1, "{fired:#?}");
        // Due 10 s after the first release, delivered at the thaw.
        assert_eq!(t(fired[0]), 60 * SEC);
        let released = COLD;
        assert_eq!(u(fired[0], "late_ns"), 60 * SEC - (released + 10 * SEC));
        // Events first: the late idle timer removes conn-1 before the
        // handler runs, so a second connection is opened.
        assert_eq!(r.metrics.connections_opened, 2);
        assert!(rs
            .iter()
            .any(|r| r.text.contains("idle timer: removed conn-1")));
    }

    #[test]
    fn handler_first_reuses_before_the_late_idle_timer() {
        let cfg = pool_cfg(&[0, 60 * SEC], "pg-pool", PoolConfig::pg_pool());
        let (r, rs) = run_traced(&cfg);
        assert_no_timer_while_frozen(&rs);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        // The handler takes conn-1 first; the stale idle timer does nothing.
        assert_eq!(r.metrics.connections_opened, 1);
        let grant = recs(&rs, "inv-2", "pool_grant");
        assert_eq!(grant.len(), 1);
        assert_eq!(u(grant[0], "conn"), 1);
    }

    #[test]
    fn peek_sees_fin_and_opens_a_new_connection() {
        let mut cfg = pool_cfg(
            &[0, 90 * SEC],
            "go-database-sql",
            PoolConfig::go_database_sql(),
        );
        cfg.platform.frozen_kernel = FrozenKernel::Running;
        cfg.servers[0].idle_timeout = Some(SimDuration::from_secs(30));
        let (r, rs) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        let peeks = recs(&rs, "env-1", "pool_peek");
        assert_eq!(peeks.len(), 1);
        assert_eq!(field(peeks[0], "alive"), &Value::Bool(false));
        assert_eq!(r.metrics.connections_opened, 2);
    }

    #[test]
    fn peek_says_alive_for_a_healthy_idle_connection() {
        let cfg = pool_cfg(
            &[0, 90 * SEC],
            "go-database-sql",
            PoolConfig::go_database_sql(),
        );
        let (r, rs) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        let peeks = recs(&rs, "env-1", "pool_peek");
        assert_eq!(peeks.len(), 1);
        assert_eq!(field(peeks[0], "alive"), &Value::Bool(true));
        assert_eq!(r.metrics.connections_opened, 1);
        // Warm: one request on the reused connection.
        assert_eq!(r.outcomes[1].latency, d(WARM_REQUEST));
    }

    #[test]
    fn ping_validation_round_trip() {
        let cfg = pool_cfg(&[0, 90 * SEC], "sqlx", PoolConfig::sqlx());
        let (r, rs) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        let res = recs(&rs, "env-1", "pool_ping_result");
        assert_eq!(res.len(), 1);
        assert_eq!(field(res[0], "alive"), &Value::Bool(true));
        // Ping round trip, then the request.
        assert_eq!(r.outcomes[1].latency, d(2 * WARM_REQUEST));
    }

    #[test]
    fn grant_sends_on_the_pooled_connection() {
        let cfg = pool_cfg(&[0], "sequelize", PoolConfig::sequelize());
        let (r, rs) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, None);
        assert_eq!(r.outcomes[0].latency, d(COLD));
        let g = one(&rs, "inv-1", "pool_grant");
        assert_eq!(u(g, "conn"), 1);
        let req = one(&rs, "inv-1", "request");
        assert_eq!(t(req), t(g));
    }

    #[test]
    fn acquire_timeout_fails_with_pool_timeout() {
        let mut cfg = pool_cfg(
            &[0],
            "sequelize",
            PoolConfig {
                acquire_timeout: Some(SimDuration::from_millis(100)),
                ..PoolConfig::sequelize()
            },
        );
        // A slow path: the handshake takes longer than the acquire timeout.
        cfg.network.client_latency = SimDuration::from_millis(100).into();
        cfg.network.server_latency = SimDuration::from_millis(100).into();
        let (r, _) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, Some(ErrorKind::PoolTimeout));
        assert!(o
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("ConnectionAcquireTimeoutError"));
        assert_eq!(o.latency, d(INIT + 100 * MS));
    }

    #[test]
    fn closed_pool_fails_the_next_acquire() {
        let mut cfg = pool_cfg(&[0, 10 * SEC], "sequelize", PoolConfig::sequelize());
        cfg.client
            .pool
            .as_mut()
            .expect("pool")
            .close_after_invocation = true;
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, None);
        assert_eq!(r.outcomes[1].error, Some(ErrorKind::PoolClosed));
        // With initPools() at the start, the warm invocation works.
        cfg.client.pool.as_mut().expect("pool").reset_at_start = true;
        let (r, _) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        assert_eq!(r.metrics.connections_opened, 2);
    }

    #[test]
    fn callback_waits_until_the_pool_drains() {
        let mut cfg = pool_cfg(&[0], "sequelize", PoolConfig::sequelize());
        cfg.platform.handler = HandlerKind::Callback {
            waits_for_empty_event_loop: true,
        };
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, None);
        // Idle 10 s, swept by the 1 s evictor: the response waits for it.
        assert!(o.latency > d(10 * SEC) && o.latency < d(12 * SEC), "{o:?}");
        assert!(!recs(&rs, "inv-1", "waits_for_event_loop").is_empty());
        // Without waiting: like async.
        cfg.platform.handler = HandlerKind::Callback {
            waits_for_empty_event_loop: false,
        };
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].latency, d(COLD));
    }

    #[test]
    fn callback_with_min_one_runs_to_the_function_timeout() {
        let mut cfg = pool_cfg(
            &[0],
            "sequelize",
            PoolConfig {
                min: 1,
                ..PoolConfig::sequelize()
            },
        );
        cfg.platform.timeout = SimDuration::from_secs(5);
        cfg.platform.handler = HandlerKind::Callback {
            waits_for_empty_event_loop: true,
        };
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, Some(ErrorKind::FunctionTimeout));
    }

    #[test]
    fn abandoned_acquire_survives_the_freeze_and_its_grant_goes_back() {
        // The handler rejects 5 ms in, during the connection setup CPU: the
        // acquire stays queued; its setup (a runtime timer) waits for the
        // thaw; the connection then goes to the abandoned acquire first and
        // straight back to the pool, and on to the new invocation.
        let mut cfg = pool_cfg(&[0, 20 * SEC], "pg-pool", PoolConfig::pg_pool());
        cfg.platform.handler_rejects_after = Some(SimDuration::from_millis(5));
        cfg.client.pool.as_mut().expect("pool").config.max = 1;
        let (r, rs) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, Some(ErrorKind::HandlerError));
        // The setup finished at the thaw: SYN at 20 s.
        let connect = recs(&rs, "env-1", "connect");
        assert_eq!(connect.len(), 1);
        assert_eq!(t(connect[0]), 20 * SEC);
        // inv-2 gets the connection after the abandoned acquire gave it
        // back, before its own rejection at 5 ms.
        assert_eq!(r.outcomes[1].error, None);
        assert_eq!(r.outcomes[1].latency, d(CONNECT_AND_REQUEST));
        let g = one(&rs, "inv-2", "pool_grant");
        assert_eq!(u(g, "conn"), 1);
        assert_eq!(r.metrics.connections_opened, 1);
    }

    #[test]
    fn mysql2_keepalive_keeps_the_kernels_interval_and_count() {
        // mysql2's `setKeepAlive(true, 0)` sets SO_KEEPALIVE only (libuv
        // returns before KEEPIDLE/KEEPINTVL/KEEPCNT for a delay of 0): the
        // kernel's 7200 s, 75 s and 9 probes. A firewall that forgot the
        // flow drops every probe: they go out 7200 s after the last segment
        // received, then every 75 s, nine of them, and the socket dies
        // with the ninth's interval (Linux `tcp_keepalive_timer`).
        let mut cfg = pool_cfg(&[0, 9000 * SEC], "mysql2", PoolConfig::mysql2());
        cfg.platform.frozen_kernel = FrozenKernel::Running;
        cfg.platform.reap = ReapPolicy::Fixed(SimDuration::from_secs(10_000));
        cfg.middleboxes = vec![dropping_mb("fw", 350)];
        let (_, rs) = run_traced(&cfg);
        let notes: Vec<&TraceRecord> = rs.iter().filter(|r| is_probe(r)).collect();
        let sent: Vec<u64> = notes
            .iter()
            .filter(|r| r.text.contains("sends keepalive probe"))
            .map(|r| t(r))
            .collect();
        assert_eq!(sent.len(), 9, "{sent:?}");
        // The last segment the socket received was the reply, well
        // before 1 s; the first probe is 7200 s after it, then every 75 s.
        assert!((7200 * SEC..7201 * SEC).contains(&sent[0]), "{sent:?}");
        assert!(sent.windows(2).all(|w| w[1] - w[0] == 75 * SEC), "{sent:?}");
        // One interval after the ninth, the socket gives up.
        let last = notes.last().expect("notes");
        assert!(last.text.contains("unanswered") && last.text.contains("ETIMEDOUT"));
        assert_eq!(t(last), sent[8] + 75 * SEC);
    }

    #[test]
    fn pool_keepalive_applies_to_pooled_sockets() {
        // mysql2 enables keepalive (the kernel's 7200 s, 75 s, 9); with a
        // running frozen kernel the probes go out while frozen.
        let probes = |config: PoolConfig| {
            let mut cfg = pool_cfg(&[0, 9000 * SEC], "x", config);
            cfg.platform.frozen_kernel = FrozenKernel::Running;
            cfg.platform.reap = ReapPolicy::Fixed(SimDuration::from_secs(10_000));
            let (_, rs) = run_traced(&cfg);
            rs.iter().filter(|r| is_probe(r)).count()
        };
        assert!(probes(PoolConfig::mysql2()) > 0);
        assert_eq!(probes(PoolConfig::pg_pool()), 0);
    }

    #[test]
    fn idle_close_event_is_processed_only_while_running() {
        // The server closes at ~5 s while env-1 is frozen. The frozen guest
        // kernel (running) ACKs the FIN, but the driver's close event waits
        // for the thaw: `lost` runs at 60 s, and with events first it runs
        // before the handler acquires.
        let mut cfg = pool_cfg(&[0, 60 * SEC], "pg-pool", PoolConfig::pg_pool());
        cfg.servers[0].idle_timeout = Some(SimDuration::from_secs(5));
        cfg.platform.frozen_kernel = FrozenKernel::Running;
        cfg.platform.thaw_order = ThawOrder::EventsFirst;
        let (r, rs) = run_traced(&cfg);
        let lost = recs(&rs, "env-1", "pool_lost");
        assert_eq!(lost.len(), 1);
        assert_eq!(t(lost[0]), 60 * SEC);
        // Removed before the handler: the request goes on a new connection.
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        assert_eq!(r.metrics.connections_opened, 2);
    }
}

// ----- client retries and duplicate writes ---------------------------------

mod retry {
    use super::*;
    use crate::config::{RequestOp, RetrySettings};

    fn write_req(timeout: u64, idempotent: bool) -> RequestSpec {
        RequestSpec {
            name: "INCR n".into(),
            timeout: Some(d(timeout)),
            op: RequestOp::Write(7),
            pin: false,
            idempotent,
            target: 0,
            writes: 1,
            write_gap: SimDuration::ZERO,
            work_after: SimDuration::ZERO,
            await_reply: true,
        }
    }

    /// A firewall that forgets an established flow after `established` of
    /// silence and drops untracked packets both ways.
    fn firewall(established: u64) -> Option<NamedMiddlebox> {
        Some(NamedMiddlebox {
            name: "fw".into(),
            config: MiddleboxConfig {
                timeouts: StateTimeouts {
                    established: d(established),
                    ..StateTimeouts::uniform(d(120 * SEC))
                },
                untracked_from_client: Untracked::Drop,
                untracked_from_server: Untracked::Drop,
                max_retrans: None,
                unacknowledged: None,
            },
        })
    }

    /// Every write is applied after 3 s, when the firewall (2 s) has
    /// forgotten the flow: every reply is lost and every attempt times out
    /// after 5 s.
    fn lost_replies(count: u32, idempotent: bool) -> SimConfig {
        let mut cfg = base(&[0]);
        cfg.platform.timeout = d(60 * SEC);
        cfg.servers[0].service_time = crate::Dist::Fixed(d(3 * SEC));
        cfg.middleboxes = firewall(2 * SEC).into_iter().collect();
        cfg.client.requests = vec![write_req(5 * SEC, idempotent)];
        cfg.client.retry = RetrySettings {
            count,
            ..RetrySettings::default()
        };
        cfg
    }

    /// inv-2 finds its warm connection's flow forgotten: RST (ECONNRESET).
    fn reset_cfg(retry: RetrySettings) -> SimConfig {
        let mut cfg = base(&[0, 30 * SEC]);
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
        cfg.client.retry = retry;
        cfg
    }

    #[test]
    fn no_retry_by_default() {
        let (r, rs) = run_traced(&reset_cfg(RetrySettings::default()));
        assert_eq!(r.outcomes[1].error, Some(ErrorKind::Econnreset));
        assert!(recs(&rs, "inv-2", "retry").is_empty());
    }

    #[test]
    fn retry_reconnects_after_the_backoff_and_succeeds() {
        let (r, rs) = run_traced(&reset_cfg(RetrySettings {
            count: 2,
            backoff: d(10 * MS),
            ..RetrySettings::default()
        }));
        let o = &r.outcomes[1];
        assert_eq!(o.error, None);
        let retry = one(&rs, "inv-2", "retry");
        assert_eq!(t(retry), 30 * SEC + 500 * US);
        assert_eq!(u(retry, "attempt"), 2);
        assert_eq!(s(retry, "error"), "ECONNRESET");
        assert!(retry
            .text
            .starts_with("inv-2 retries GET (attempt 2 of 3) after ECONNRESET"));
        // RST after one round trip to the NAT, the backoff, then a new
        // connection: connect CPU, handshake, request.
        assert_eq!(
            o.latency,
            d(500 * US + 10 * MS + CPU_128 + CONNECT_AND_REQUEST)
        );
        assert_eq!(r.metrics.connections_opened, 2);
        assert_eq!(o.duplicate_writes, 0);
    }

    #[test]
    fn errors_not_listed_are_not_retried() {
        let (r, rs) = run_traced(&reset_cfg(RetrySettings {
            count: 2,
            on: vec![ErrorKind::Etimedout],
            ..RetrySettings::default()
        }));
        assert_eq!(r.outcomes[1].error, Some(ErrorKind::Econnreset));
        assert!(recs(&rs, "inv-2", "retry").is_empty());
    }

    #[test]
    fn retry_count_bounds_the_attempts() {
        let mut cfg = base(&[0]);
        cfg.servers[0].service_time = crate::Dist::Fixed(d(SEC));
        cfg.client.requests = vec![RequestSpec {
            timeout: Some(d(50 * MS)),
            ..RequestSpec::ping("GET foo")
        }];
        cfg.client.retry = RetrySettings {
            count: 2,
            ..RetrySettings::default()
        };
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
        let retries = recs(&rs, "inv-1", "retry");
        assert_eq!(retries.len(), 2);
        assert_eq!(u(retries[1], "attempt"), 3);
        // Three attempts, each on a new connection with a 0 s backoff.
        assert_eq!(o.latency, d(INIT + 3 * (CPU_128 + RTT + 50 * MS)));
        assert_eq!(r.metrics.connections_opened, 3);
        // A stale timer of an earlier attempt never ends a later one.
        assert_eq!(recs(&rs, "inv-1", "outcome").len(), 1);
    }

    #[test]
    fn jittered_backoff_is_deterministic_and_bounded() {
        let mut cfg = base(&[0]);
        cfg.servers[0].service_time = crate::Dist::Fixed(d(SEC));
        cfg.client.requests = vec![RequestSpec {
            timeout: Some(d(50 * MS)),
            ..RequestSpec::ping("GET foo")
        }];
        cfg.client.retry = RetrySettings {
            count: 4,
            backoff: d(100 * MS),
            backoff_max: Some(d(300 * MS)),
            ..RetrySettings::default()
        };
        let draws = |cfg: &SimConfig| -> Vec<u64> {
            let (_, rs) = run_traced(cfg);
            recs(&rs, "inv-1", "retry")
                .iter()
                .map(|r| u(r, "backoff_ns"))
                .collect()
        };
        let a = draws(&cfg);
        assert_eq!(a, draws(&cfg));
        assert_eq!(a.len(), 4);
        for (i, b) in a.iter().enumerate() {
            let cap = ((100 * MS) << i).min(300 * MS);
            assert!(*b <= cap, "retry {i}: backoff {b} above {cap}");
        }
        cfg.seed += 1;
        assert_ne!(a, draws(&cfg));
    }

    #[test]
    fn pool_retry_releases_the_broken_connection_and_acquires_again() {
        let mut cfg = reset_cfg(RetrySettings {
            count: 1,
            ..RetrySettings::default()
        });
        cfg.workload = WorkloadConfig::At(vec![d(0), d(5 * SEC)]);
        if let Some(mb) = cfg.middleboxes.first_mut() {
            mb.config.timeouts.established = d(2 * SEC);
        }
        cfg.client.strategy = Strategy::Pool;
        cfg.client.pool = Some(crate::PoolSettings {
            preset: "pg-pool".into(),
            config: crate::PoolConfig::pg_pool(),
            close_after_invocation: false,
            reset_at_start: false,
            zombie_cleanup: None,
            messages: None,
        });
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[1];
        assert_eq!(o.error, None, "{o:?}");
        let retry = one(&rs, "inv-2", "retry");
        assert_eq!(s(retry, "error"), "ECONNRESET");
        // Two acquires: the first gets the pooled connection the NAT forgot,
        // the second a new one.
        assert_eq!(recs(&rs, "inv-2", "pool_acquire").len(), 2);
        assert_eq!(r.metrics.connections_opened, 2);
    }

    #[test]
    fn write_applied_twice_is_one_duplicate() {
        let (r, rs) = run_traced(&lost_replies(1, false));
        let o = &r.outcomes[0];
        // Both replies are lost: the invocation fails after its retry.
        assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
        assert_eq!(o.duplicate_writes, 1);
        assert_eq!(r.metrics.duplicate_writes, 1);
        let dup = one(&rs, "inv-1", "duplicate_write");
        assert_eq!(u(dup, "key"), 7);
        assert!(dup.text.starts_with("DUPLICATE WRITE: key 7 applied twice"));
    }

    #[test]
    fn each_extra_application_counts_once() {
        let (r, rs) = run_traced(&lost_replies(2, false));
        assert_eq!(r.outcomes[0].duplicate_writes, 2);
        assert_eq!(r.metrics.duplicate_writes, 2);
        assert_eq!(recs(&rs, "inv-1", "duplicate_write").len(), 2);
    }

    #[test]
    fn idempotent_write_applied_twice_is_not_counted() {
        let (r, rs) = run_traced(&lost_replies(1, true));
        assert_eq!(r.outcomes[0].duplicate_writes, 0);
        assert_eq!(r.metrics.duplicate_writes, 0);
        assert!(recs(&rs, "inv-1", "duplicate_write").is_empty());
        assert_eq!(recs(&rs, "inv-1", "idempotent_reapplied").len(), 1);
    }

    #[test]
    fn without_retries_nothing_is_tracked() {
        let (r, rs) = run_traced(&lost_replies(0, false));
        assert_eq!(r.outcomes[0].error, Some(ErrorKind::RequestTimeout));
        assert_eq!(r.metrics.duplicate_writes, 0);
        assert!(recs(&rs, "inv-1", "retry").is_empty());
    }

    #[test]
    fn duplicate_applied_after_the_invocation_ended_is_still_its_own() {
        // Request timeout 2 s < service 3 s, and the firewall (1 s) drops
        // the client's FINs, so the server still applies both writes; the
        // retry's is applied after the invocation has given up: it still
        // counts for that invocation.
        let mut cfg = base(&[0]);
        cfg.platform.timeout = d(60 * SEC);
        cfg.servers[0].service_time = crate::Dist::Fixed(d(3 * SEC));
        cfg.middleboxes = firewall(SEC).into_iter().collect();
        cfg.client.requests = vec![write_req(2 * SEC, false)];
        cfg.client.retry = RetrySettings {
            count: 1,
            ..RetrySettings::default()
        };
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
        assert_eq!(o.duplicate_writes, 1);
        assert_eq!(r.metrics.duplicate_writes, 1);
        let dup = one(&rs, "inv-1", "duplicate_write");
        assert!(t(dup) > one(&rs, "inv-1", "outcome").t.as_nanos());
    }
}

// ----- connectionless HTTP access ------------------------------------------

mod http {
    use super::*;
    use crate::config::{RequestOp, RetrySettings};

    fn http_cfg(arrivals: &[u64]) -> SimConfig {
        let mut cfg = base(arrivals);
        cfg.client.strategy = Strategy::Http;
        cfg
    }

    #[test]
    fn each_request_costs_overhead_service_and_one_round_trip() {
        let mut cfg = http_cfg(&[0, 30 * SEC]);
        cfg.client.requests = vec![RequestSpec::ping("GET a"), RequestSpec::ping("GET b")];
        let (r, rs) = run_traced(&cfg);
        let per_request = 5 * MS + SERVICE + RTT;
        // No connect CPU, no handshake: the cold start and two requests.
        assert_eq!(r.outcomes[0].latency, d(INIT + 2 * per_request));
        assert_eq!(r.outcomes[1].latency, d(2 * per_request));
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
        assert_eq!(r.metrics.connections_opened, 0);
        assert_eq!(r.metrics.server_connections_peak, 0);
        assert_eq!(recs(&rs, "inv-1", "reply").len(), 2);
        cfg.client.http_overhead = d(20 * MS);
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[1].latency, d(2 * (20 * MS + SERVICE + RTT)));
    }

    #[test]
    fn no_connection_limit_and_nothing_goes_stale_across_a_freeze() {
        let mut cfg = http_cfg(&[0, 0, 0, 100 * SEC]);
        cfg.servers[0].max_connections = 1;
        cfg.servers[0].idle_timeout = Some(d(5 * SEC));
        let (r, _) = run_traced(&cfg);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()), "{r:?}");
        assert_eq!(r.metrics.server_rejected, 0);
    }

    #[test]
    fn writes_and_reads_go_through_the_data_model() {
        // As pymysql-replica-lag: a write at 10 s, reads routed to a replica
        // that lags 5 s at 12 s (misses it) and 20 s (sees it).
        let mut cfg = http_cfg(&[12 * SEC, 20 * SEC]);
        cfg.client.requests = vec![RequestSpec {
            op: RequestOp::Read(1),
            ..RequestSpec::ping("GET k")
        }];
        cfg.client.handlers = vec![crate::HandlerSpec {
            name: "create".into(),
            requests: vec![RequestSpec {
                op: RequestOp::Write(1),
                ..RequestSpec::ping("SET k")
            }],
        }];
        cfg.workload =
            WorkloadConfig::Mixed(vec![(d(10 * SEC), 1), (d(12 * SEC), 0), (d(20 * SEC), 0)]);
        cfg.servers[0].replicas = vec![d(5 * SEC)];
        cfg.client.read_routing = thaw_db::ReadRouting::Replica(0);
        let (r, _) = run_traced(&cfg);
        let stale: Vec<u64> = r.outcomes.iter().map(|o| o.stale_reads).collect();
        assert_eq!(stale, vec![0, 1, 0]);
    }

    #[test]
    fn a_retried_http_write_that_was_applied_is_a_duplicate() {
        // The request timeout (3 ms) is shorter than one call (~6.1 ms):
        // the server applies both attempts although the client gave up on
        // each.
        let mut cfg = http_cfg(&[0]);
        cfg.client.requests = vec![RequestSpec {
            timeout: Some(d(3 * MS)),
            op: RequestOp::Write(1),
            ..RequestSpec::ping("INCR n")
        }];
        cfg.client.retry = RetrySettings {
            count: 1,
            ..RetrySettings::default()
        };
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
        assert_eq!(o.duplicate_writes, 1);
        assert_eq!(r.metrics.duplicate_writes, 1);
        assert_eq!(recs(&rs, "inv-1", "retry").len(), 1);
        // A late reply of the first attempt does not end the second.
        assert_eq!(o.latency, d(INIT + 6 * MS));
    }
}

// ----- shutdown phase: SIGTERM with an external extension ----------------

mod shutdown {
    use super::*;
    use crate::{Extension, PoolConfig, PoolSettings};

    /// One cold invocation with a global connection, reaped 10 s after
    /// its freeze (at COLD).
    fn cfg(ext: Extension) -> SimConfig {
        let mut cfg = base(&[0]);
        cfg.platform.reap = ReapPolicy::Fixed(d(10 * SEC));
        cfg.platform.extension = ext;
        cfg
    }

    #[test]
    fn external_extension_closes_the_connection_at_reap() {
        let (r, rs) = run_traced(&cfg(Extension::External));
        let reap_t = COLD + 10 * SEC;
        let sig = one(&rs, "env-1", "shutdown_sigterm");
        assert_eq!(t(sig), reap_t);
        assert_eq!(u(sig, "connections"), 1);
        assert_eq!(u(sig, "grace_ns"), 300 * MS);
        // The FIN reaches the server one way later; it closes its side.
        let closes = recs(&rs, "server", "close");
        assert_eq!(closes.len(), 1);
        assert_eq!(t(closes[0]), reap_t + ONE_WAY);
        // SIGKILL after the 300 ms: the environment vanishes then.
        assert_eq!(t(one(&rs, "env-1", "reap")), reap_t + 300 * MS);
        assert_eq!(r.metrics.server_connections_at_end, 0);
        // A zombie only while frozen; none after the shutdown.
        assert_zombie(&r, 10 * SEC);
        assert!(recs(&rs, "env-1", "shutdown_no_sigterm").is_empty());
    }

    #[test]
    fn without_sigterm_the_connection_stays_open() {
        for ext in [Extension::None, Extension::Internal] {
            let (r, rs) = run_traced(&cfg(ext));
            let reap_t = COLD + 10 * SEC;
            assert!(recs(&rs, "env-1", "shutdown_sigterm").is_empty());
            assert_eq!(
                recs(&rs, "env-1", "shutdown_no_sigterm").len(),
                usize::from(ext == Extension::Internal)
            );
            assert_eq!(t(one(&rs, "env-1", "reap")), reap_t);
            assert!(recs(&rs, "server", "close").is_empty());
            // No idle timeout by default: the zombie lives to the end.
            assert_eq!(r.metrics.server_connections_at_end, 1);
        }
    }

    #[test]
    fn arrival_during_the_shutdown_phase_is_a_cold_start() {
        let reap_t = COLD + 10 * SEC;
        let mut c = cfg(Extension::External);
        c.workload = WorkloadConfig::At(vec![d(0), d(reap_t + 100 * MS)]);
        let (r, _) = run_traced(&c);
        let o = &r.outcomes[1];
        assert_eq!((o.container, o.cold, o.error), (2, true, None));
        assert_eq!(r.metrics.environments, 2);
    }

    #[test]
    fn external_extension_closes_every_pooled_connection() {
        let mut c = cfg(Extension::External);
        c.workload = WorkloadConfig::At(vec![d(0)]);
        c.platform.timeout = SimDuration::from_secs(30);
        c.client.strategy = Strategy::Pool;
        let mut pc = PoolConfig::go_database_sql();
        pc.min = 2;
        c.client.pool = Some(PoolSettings {
            preset: "go-database-sql".into(),
            config: pc,
            close_after_invocation: false,
            reset_at_start: false,
            zombie_cleanup: None,
            messages: None,
        });
        let (r, rs) = run_traced(&c);
        let sig = one(&rs, "env-1", "shutdown_sigterm");
        let held = u(sig, "connections");
        assert!(held >= 1, "{held}");
        assert_eq!(recs(&rs, "server", "close").len() as u64, held);
        assert_eq!(r.metrics.server_connections_at_end, 0);
    }
}

// ----- serverless-mysql: zombie cleanup in end() --------------------------

mod serverless_mysql {
    use super::*;
    use crate::{PoolConfig, PoolSettings, ServerlessMysql};

    /// Four environments at 0 s (reaped after 10 s: zombies, the server
    /// has no idle timeout), then one invocation at `late`.
    fn cfg(max_connections: u32, late: u64) -> SimConfig {
        let mut cfg = base(&[0, 0, 0, 0, late]);
        cfg.platform.reap = ReapPolicy::Fixed(d(10 * SEC));
        cfg.servers[0].max_connections = max_connections;
        cfg.client.strategy = Strategy::Pool;
        cfg.client.pool = Some(PoolSettings {
            preset: "serverless-mysql".into(),
            config: PoolConfig::serverless_mysql(),
            close_after_invocation: false,
            reset_at_start: false,
            zombie_cleanup: Some(ServerlessMysql::default()),
            messages: None,
        });
        cfg
    }

    #[test]
    fn above_utilisation_end_kills_the_zombies_of_other_clients() {
        // 5/5 in use at inv-5's end(): the four zombies are idle ~20 s.
        let (r, rs) = run_traced(&cfg(5, 20 * SEC));
        let k = one(&rs, "inv-5", "zombie_kill");
        assert_eq!(u(k, "used"), 5);
        assert_eq!(u(k, "killed"), 4);
        // The oldest Time is 20 s (whole seconds since the last command).
        assert_eq!(u(k, "min_idle_ns"), 20 * SEC);
        assert_eq!(r.metrics.server_killed, 4);
        // Only inv-5's own connection is left.
        assert_eq!(r.metrics.server_connections_at_end, 1);
        assert!(r.outcomes.iter().all(|o| o.error.is_none()));
    }

    #[test]
    fn at_or_below_utilisation_nothing_is_killed() {
        // 5/10 = 0.5 and nobody idle > 900 s.
        let (r, rs) = run_traced(&cfg(10, 20 * SEC));
        assert!(recs(&rs, "inv-5", "zombie_kill").is_empty());
        assert_eq!(r.metrics.server_killed, 0);
        assert_eq!(r.metrics.server_connections_at_end, 5);
    }

    #[test]
    fn below_utilisation_connections_idle_past_zombie_max_timeout_die() {
        // 5/10 but the zombies are idle > 900 s: killed at ≥ 900 s.
        let (r, rs) = run_traced(&cfg(10, 1000 * SEC));
        let k = one(&rs, "inv-5", "zombie_kill");
        assert_eq!(u(k, "min_idle_ns"), 900 * SEC);
        assert_eq!(u(k, "killed"), 4);
        assert_eq!(r.metrics.server_killed, 4);
    }

    #[test]
    fn young_sleepers_are_spared_and_the_callers_own_is_never_killed() {
        // One environment only: its own connection is the oldest but it is
        // the caller's; nothing else to kill even at 1/1.
        let mut c = cfg(1, 20 * SEC);
        c.workload = WorkloadConfig::At(vec![d(0), d(2000 * SEC)]);
        c.platform.reap = ReapPolicy::Fixed(d(5000 * SEC));
        let (r, rs) = run_traced(&c);
        assert!(rs.iter().all(|x| x.event != "zombie_kill"));
        assert_eq!(r.metrics.server_killed, 0);
        assert_eq!(r.outcomes[1].container, 1);
        // 4/4 in use at 2 s (inv-5 reuses a warm environment), but the
        // sleepers are idle < zombieMinTimeout (3 s): spared.
        let (r, rs) = run_traced(&cfg(4, 2 * SEC));
        assert!(rs.iter().all(|x| x.event != "zombie_kill"));
        assert!(!r.outcomes[4].cold);
        assert_eq!(r.metrics.server_killed, 0);
    }
}

// ----- Go database/sql: ErrBadConn retry on a failed send ---------------

mod bad_conn {
    use super::*;
    use crate::{PoolConfig, PoolSettings, Validation};

    /// go-database-sql without its liveness check: the server idle-closes
    /// the pooled connection at 30 s while env-1 is frozen with a running
    /// kernel; keepalive probes after the server forgot the socket get RST,
    /// so the idle socket holds ECONNRESET when the handler (first on
    /// thaw) writes to it.
    fn cfg(pool: PoolConfig, second: u64) -> SimConfig {
        let mut cfg = base(&[0, second]);
        cfg.platform.timeout = SimDuration::from_secs(30);
        cfg.platform.frozen_kernel = FrozenKernel::Running;
        cfg.platform.reap = ReapPolicy::Fixed(d(10_000 * SEC));
        cfg.platform.tcp.keepalive = Some(keepalive_2s());
        cfg.servers[0].idle_timeout = Some(d(30 * SEC));
        cfg.client.strategy = Strategy::Pool;
        cfg.client.pool = Some(PoolSettings {
            preset: "go-database-sql".into(),
            config: pool,
            close_after_invocation: false,
            reset_at_start: false,
            zombie_cleanup: None,
            messages: None,
        });
        cfg
    }

    fn no_peek() -> PoolConfig {
        PoolConfig {
            validation: Validation::None,
            on_lost: crate::OnLost::Remove,
            ..PoolConfig::go_database_sql()
        }
    }

    #[test]
    fn send_failure_is_retried_on_a_new_connection_without_a_client_retry() {
        let (r, rs) = run_traced(&cfg(no_peek(), 200 * SEC));
        assert!(
            r.outcomes.iter().all(|o| o.error.is_none()),
            "{:?}",
            r.outcomes
        );
        let b = one(&rs, "inv-2", "bad_conn_retry");
        assert_eq!(t(b), 200 * SEC);
        assert_eq!(u(b, "attempt"), 2);
        assert_eq!(u(b, "conn"), 1);
        assert!(recs(&rs, "inv-2", "retry").is_empty());
        let grants = recs(&rs, "inv-2", "pool_grant");
        assert_eq!(grants.len(), 2);
        assert_eq!(u(grants[1], "conn"), 2);
        assert_eq!(t(one(&rs, "inv-2", "request")), t(grants[1]));
        assert_eq!(r.metrics.connections_opened, 2);
    }

    #[test]
    fn without_the_policy_the_send_failure_fails_the_invocation() {
        let pool = PoolConfig {
            retry_on_bad_conn: None,
            ..no_peek()
        };
        let (r, rs) = run_traced(&cfg(pool, 200 * SEC));
        assert_eq!(r.outcomes[1].error, Some(ErrorKind::Epipe));
        assert!(rs.iter().all(|x| x.event != "bad_conn_retry"));
        // One attempt only: attempts = 1 retries nothing either.
        let pool = PoolConfig {
            retry_on_bad_conn: Some(thaw_client::RetryOnBadConn { attempts: 1 }),
            ..no_peek()
        };
        let (r, _) = run_traced(&cfg(pool, 200 * SEC));
        assert_eq!(r.outcomes[1].error, Some(ErrorKind::Epipe));
    }

    #[test]
    fn failure_after_the_request_was_written_is_not_retried() {
        // No keepalive: the socket sits in CLOSE_WAIT, the write succeeds,
        // the server's kernel answers RST: ErrInvalidConn, not retried.
        let mut c = cfg(no_peek(), 200 * SEC);
        c.platform.tcp.keepalive = None;
        let (r, rs) = run_traced(&c);
        assert!(r.outcomes[1].error.is_some(), "{:?}", r.outcomes);
        assert!(rs.iter().all(|x| x.event != "bad_conn_retry"));
        assert_eq!(r.metrics.connections_opened, 1);
    }
}

/// `idle_close = rst` (MariaDB's `wait_timeout`, measured): the server's
/// close is a zero-linger `close()` (`tcp_close()` → `tcp_disconnect()`):
/// one RST, the socket gone at once, no orphan retransmitting a FIN. A
/// running client kernel takes the RST, so the request after the thaw
/// fails at once with the pending ECONNRESET instead of reading EOF; a
/// silent one loses it, and the request meets the host's RST.
#[test]
fn idle_close_rst_leaves_no_orphan_and_resets_the_client() {
    use crate::config::IdleClose;
    for kernel in [FrozenKernel::Running, FrozenKernel::Silent] {
        let mut cfg = frozen_cfg(kernel, ThawOrder::HandlerFirst, false);
        cfg.servers[0].idle_close = IdleClose::Rst;
        let (r, rs) = run_traced(&cfg);
        let closed_at = LAST_REPLY + 5 * SEC;
        assert_eq!(t(one(&rs, "server", "idle_close")), closed_at);
        let st = recs(&rs, "server", "tcp_state");
        let last = st.last().expect("server socket states");
        assert_eq!((s(last, "from"), s(last, "to")), ("ESTABLISHED", "CLOSED"));
        assert_eq!(t(last), closed_at);
        assert!(st.iter().all(|x| s(x, "to") != "FIN_WAIT1"), "{kernel:?}");
        let o = &r.outcomes[1];
        assert_eq!(o.error, Some(ErrorKind::Econnreset), "{kernel:?}");
        match kernel {
            // The RST arrived while frozen: the write returns the pending
            // error without sending anything.
            FrozenKernel::Running => assert_eq!(o.latency, d(0)),
            // The request goes out and the host answers RST.
            FrozenKernel::Silent => assert_eq!(o.latency, d(RTT)),
        }
        assert!(recs(&rs, "server", "tcp_note")
            .iter()
            .all(|x| !x.text.contains("retransmits")));
    }
}

// ----- a server inside the environment (model.md 5.14) -------------------

/// A sidecar's idle timer (1 s) comes due while its environment is frozen:
/// it is held, and runs at the thaw (or `thaw_delay` after it), never
/// while frozen; the connection is never a zombie; loopback takes
/// `loopback_latency` each way and crosses no middlebox.
#[test]
fn a_server_inside_the_environment_freezes_with_it() {
    let mut cfg = base(&[0, 10 * SEC]);
    cfg.servers[0].location = crate::ServerLocation::Environment;
    cfg.servers[0].idle_timeout = Some(d(SEC));
    cfg.middleboxes = vec![NamedMiddlebox {
        name: "nat".into(),
        config: MiddleboxConfig {
            timeouts: StateTimeouts::uniform(d(SEC / 2)),
            untracked_from_client: Untracked::Rst,
            untracked_from_server: Untracked::Rst,
            max_retrans: None,
            unacknowledged: None,
        },
    }];
    let lo = 35 * US;
    let (r, rs) = run_traced(&cfg);
    // Cold: init, connect CPU, then SYN/SYN-ACK and request/reply over
    // loopback only.
    assert_eq!(
        r.outcomes[0].latency,
        d(INIT + CPU_128 + 2 * lo + 2 * lo + SERVICE)
    );
    let close = one(&rs, "server@env-1", "idle_close");
    assert_eq!(t(close), 10 * SEC, "held while frozen, run at the thaw");
    assert!(
        rs.iter().all(|x| x.component != "nat"),
        "loopback crosses no middlebox"
    );
    assert_eq!(r.metrics.zombie_connection_seconds, 0.0);
    // The request of the second invocation went out first (handler_first)
    // and meets the close: an error either way, and a new connection for
    // the next invocation.
    assert!(r.outcomes[1].error.is_some());

    // With thaw_delay the server's process runs 3 ms after the thaw: its
    // overdue timer first, then the request that reached its socket.
    cfg.servers[0].thaw_delay = d(3 * MS);
    let (r, rs) = run_traced(&cfg);
    let wake = one(&rs, "server@env-1", "local_server_wake");
    assert_eq!(t(wake), 10 * SEC + 3 * MS);
    assert_eq!(u(wake, "socket_events"), 1, "the request, after the timer");
    assert_eq!(t(one(&rs, "server@env-1", "idle_close")), 10 * SEC + 3 * MS);
    assert_eq!(r.outcomes[1].error, Some(ErrorKind::Econnreset));

    // Reaped: the server vanishes with its environment, nothing sent.
    let mut cfg = base(&[0, 700 * SEC]);
    cfg.servers[0].location = crate::ServerLocation::Environment;
    let (r, rs) = run_traced(&cfg);
    assert_eq!(r.outcomes[1].error, None);
    assert_eq!(recs(&rs, "server@env-2", "local_server_start").len(), 1);
    assert_eq!(recs(&rs, "env-1", "reap").len(), 1);
    assert_eq!(
        r.metrics.server_connections_at_end, 0,
        "both environments reaped: their servers vanished with them"
    );
    assert_eq!(r.metrics.zombie_connection_seconds, 0.0);
}

// ----- platform metrics (model.md 8.1) -----------------------------------

/// One cold invocation, then a freeze and the reap 600 s later: live the
/// whole run, busy for the invocation; a warm one adds busy time only; a
/// throttled arrival counts against the throttle probability, not against
/// cold starts.
#[test]
fn platform_metrics_are_time_weighted() {
    let cfg = base(&[0]);
    let (r, _) = run_traced(&cfg);
    let p = &r.metrics.platform.all;
    let end = r.end.as_nanos() as f64;
    assert_eq!(
        r.end.as_nanos(),
        COLD + 600 * SEC,
        "the run ends at the reap"
    );
    assert!((p.live_mean - 1.0).abs() < 1e-12, "{p:?}");
    assert!((p.busy_mean - COLD as f64 / end).abs() < 1e-12, "{p:?}");
    assert!(
        (p.idle_mean - (end - COLD as f64) / end).abs() < 1e-12,
        "{p:?}"
    );
    assert_eq!((p.live_max, p.busy_max, p.idle_max), (1, 1, 1));
    assert!((p.utilization - COLD as f64 / end).abs() < 1e-12);
    assert_eq!(p.cold_start_probability, 1.0);
    assert_eq!(p.throttle_probability, 0.0);

    // Two at once with max_concurrency 1: the second is throttled.
    let mut cfg = base(&[0, 0, 10 * SEC]);
    cfg.platform.max_concurrency = 1;
    let (r, _) = run_traced(&cfg);
    let p = &r.metrics.platform.all;
    assert_eq!(p.invocations, 3);
    assert!((p.throttle_probability - 1.0 / 3.0).abs() < 1e-12);
    assert!(
        (p.cold_start_probability - 0.5).abs() < 1e-12,
        "1 cold of 2 served"
    );
    let busy = (COLD + WARM_REQUEST) as f64 / r.end.as_nanos() as f64;
    assert!((p.busy_mean - busy).abs() < 1e-12, "{p:?}");
    assert!(r.metrics.platform.functions.is_empty(), "one function");
}

/// Provisioned concurrency (model.md 1.6a): the provisioned environments
/// exist from the start, serve first (no cold start), are frozen between
/// invocations but never reaped; arrivals beyond them spill over to
/// on-demand environments, which are reaped.
#[test]
fn provisioned_environments_serve_first_and_are_never_reaped() {
    let mut cfg = base(&[0, 0, 0, 2000 * SEC]);
    cfg.platform.provisioned = 2;
    cfg.platform.handler_time = d(SEC).into();
    cfg.client.requests.clear();
    let (r, rs) = run_traced(&cfg);
    let cold: Vec<bool> = r.outcomes.iter().map(|o| o.cold).collect();
    assert_eq!(cold, [false, false, true, false]);
    assert_eq!(r.metrics.environments, 3);
    assert_eq!(recs(&rs, "env-1", "provisioned").len(), 1);
    assert!(recs(&rs, "env-1", "reap").is_empty(), "never reaped");
    assert!(recs(&rs, "env-2", "reap").is_empty(), "never reaped");
    assert_eq!(recs(&rs, "env-3", "reap").len(), 1, "on-demand: reaped");
    // Two live from the start to the end, the third from its cold start
    // to its reap.
    assert_eq!(r.metrics.platform.all.live_max, 3);
    assert!(r.metrics.platform.all.live_mean > 2.0);
}

/// A function's scale-up rate (model.md 1.6): at most `count` new
/// environments in any window of `per`; more arrivals are throttled even
/// below `max_concurrency`, until the window moves on. AWS's default,
/// 1,000 every 10 s, throttles the 1,001st cold start of a burst.
#[test]
fn the_scale_up_rate_throttles_cold_starts_beyond_it() {
    let mut at = vec![0; 5];
    at.extend([10 * SEC; 4]);
    let mut cfg = base(&at);
    cfg.platform.handler_time = d(20 * SEC).into();
    cfg.platform.timeout = d(60 * SEC);
    cfg.client.requests.clear();
    cfg.platform.scale_rate = Some((3, d(10 * SEC)));
    let (r, rs) = run_traced(&cfg);
    let got: Vec<&str> = r
        .outcomes
        .iter()
        .map(|o| {
            if o.error.is_some() {
                "T"
            } else if o.cold {
                "C"
            } else {
                "W"
            }
        })
        .collect();
    assert_eq!(got, ["C", "C", "C", "T", "T", "C", "C", "C", "T"]);
    let t = recs(&rs, "inv-4", "throttled");
    assert!(
        t[0].text.contains("started 3 environments in the last 10s"),
        "{}",
        t[0].text
    );

    let mut cfg = base(&[0; 1001]);
    cfg.platform.handler_time = d(SEC).into();
    cfg.platform.max_concurrency = 3000;
    cfg.client.requests.clear();
    let (r, _) = run_traced(&cfg);
    let throttled = r.outcomes.iter().filter(|o| o.error.is_some()).count();
    assert_eq!(throttled, 1, "AWS's 1,000 per 10 s");
}

/// Lambda SnapStart (model.md 1.6b).
mod snapstart {
    use super::*;
    use crate::{AfterRestore, SnapStart};

    const RESTORE: u64 = 200 * MS;

    fn snap(init_connects: bool, after_restore: AfterRestore) -> SnapStart {
        SnapStart {
            init_connects,
            after_restore,
            ..SnapStart::default()
        }
    }

    /// The restore takes the place of init: a cold invocation's latency
    /// has the restore duration instead of `init_duration`; without a
    /// captured connection the handler connects on first use.
    #[test]
    fn a_restore_replaces_init() {
        let mut cfg = base(&[0]);
        cfg.platform.snapstart = Some(SnapStart::default());
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!((o.cold, o.error), (true, None));
        assert_eq!(o.latency, d(RESTORE + CPU_128 + CONNECT_AND_REQUEST));
        assert_eq!(times(&rs, "env-1", "restored"), [RESTORE]);
        assert!(recs(&rs, "env-1", "init_done").is_empty());
        assert!(recs(&rs, "env-1", "snapshot_socket").is_empty());
        assert_eq!(r.metrics.cold_starts, 1);
    }

    /// Init connected before the snapshot: the restored environment holds
    /// an ESTABLISHED socket its server knows nothing of. The first
    /// request's write succeeds and the server host answers RST: one round
    /// trip after the restore, ECONNRESET. Every restored environment
    /// fails its first invocation (two at once: two environments from the
    /// same snapshot); their later ones reconnect.
    #[test]
    fn a_connection_captured_in_the_snapshot_is_reset() {
        let mut cfg = base(&[0, 0, 10 * SEC, 10 * SEC]);
        cfg.platform.snapstart = Some(snap(true, AfterRestore::None));
        let (r, rs) = run_traced(&cfg);
        for o in &r.outcomes[..2] {
            assert_eq!((o.cold, o.error), (true, Some(ErrorKind::Econnreset)));
            assert_eq!(o.latency, d(RESTORE + RTT));
        }
        for o in &r.outcomes[2..] {
            assert_eq!((o.cold, o.error), (false, None), "{o:?}");
            assert_eq!(o.latency, d(CPU_128 + CONNECT_AND_REQUEST));
        }
        assert_eq!(recs(&rs, "env-1", "snapshot_socket").len(), 1);
        assert_eq!(recs(&rs, "env-2", "snapshot_socket").len(), 1);
        assert_eq!(
            recs(&rs, "server", "no_socket_rst").len(),
            2,
            "the server host resets each captured connection"
        );
        assert_eq!(r.metrics.environments, 2);
    }

    /// The fix: the after-restore hook closes the captured connection and
    /// opens a new one before the handler, which then finds it ready. The
    /// invocation pays the connection setup once, as a cold start does.
    #[test]
    fn the_after_restore_hook_reconnects() {
        let mut cfg = base(&[0, 10 * SEC]);
        cfg.platform.snapstart = Some(snap(true, AfterRestore::Reconnect));
        let (r, rs) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!((o.cold, o.error), (true, None));
        assert_eq!(o.latency, d(RESTORE + CPU_128 + CONNECT_AND_REQUEST));
        let o = &r.outcomes[1];
        assert_eq!((o.cold, o.error), (false, None));
        assert_eq!(o.latency, d(WARM_REQUEST), "the hook's connection is kept");
        assert_eq!(times(&rs, "env-1", "after_restore"), [RESTORE]);
        assert_eq!(
            times(&rs, "env-1", "after_restore_done"),
            [RESTORE + CPU_128 + RTT]
        );
        // The hook's close of the captured socket: FIN, answered by RST.
        assert_eq!(recs(&rs, "server", "no_socket_rst").len(), 1);
        assert_eq!(r.metrics.connections_opened, 2, "captured + hook's");

        // Without a captured connection, the hook connects ahead.
        cfg.platform.snapstart = Some(snap(false, AfterRestore::Reconnect));
        let (r, rs) = run_traced(&cfg);
        assert_eq!(
            r.outcomes[0].latency,
            d(RESTORE + CPU_128 + CONNECT_AND_REQUEST)
        );
        assert!(recs(&rs, "server", "no_socket_rst").is_empty());
        assert_eq!(r.metrics.connections_opened, 1);
    }

    /// A middlebox on the path decides what a captured connection's first
    /// segment meets: a NAT that resets untracked packets gives
    /// ECONNRESET; a firewall that drops them leaves the client
    /// retransmitting until the function timeout.
    #[test]
    fn a_middlebox_without_the_flow_resets_or_drops() {
        let mb = |policy| {
            Some(NamedMiddlebox {
                name: "mb".into(),
                config: MiddleboxConfig {
                    timeouts: StateTimeouts::uniform(d(350 * SEC)),
                    untracked_from_client: policy,
                    untracked_from_server: Untracked::Drop,
                    max_retrans: None,
                    unacknowledged: None,
                },
            })
            .into_iter()
            .collect()
        };
        let mut cfg = base(&[0]);
        cfg.platform.snapstart = Some(snap(true, AfterRestore::None));
        cfg.middleboxes = mb(Untracked::Rst);
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, Some(ErrorKind::Econnreset));
        cfg.middleboxes = mb(Untracked::Drop);
        let (r, _) = run_traced(&cfg);
        assert_eq!(r.outcomes[0].error, Some(ErrorKind::FunctionTimeout));
        assert_eq!(r.outcomes[0].latency, d(RESTORE + 3 * SEC));
    }

    /// The hook's connection fails (the server is down at the restore):
    /// the hook throws and the invocation fails with the error; the next
    /// invocation connects on first use.
    #[test]
    fn a_failed_reconnect_fails_the_invocation() {
        let mut cfg = base(&[0, 10 * SEC]);
        cfg.platform.snapstart = Some(snap(true, AfterRestore::Reconnect));
        cfg.servers[0].outages = vec![(SimTime::ZERO, d(SEC))];
        let (r, _) = run_traced(&cfg);
        let o = &r.outcomes[0];
        assert_eq!(o.error, Some(ErrorKind::Econnrefused));
        assert!(
            o.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("after-restore hook failed: ")),
            "{o:?}"
        );
        assert_eq!(r.outcomes[1].error, None);
        assert_eq!(
            r.outcomes[1].latency,
            d(CPU_128 + CONNECT_AND_REQUEST),
            "connects on first use"
        );
    }

    /// The restore duration has its own stream: a distributed one does not
    /// change the handler's draws, and the init stream is not drawn.
    #[test]
    fn the_restore_duration_is_drawn_per_restore() {
        let mut cfg = base(&[0, 0]);
        cfg.client.requests.clear();
        cfg.platform.snapstart = Some(SnapStart {
            restore_duration: thaw_core::Dist::Uniform {
                lo: d(100 * MS),
                hi: d(300 * MS),
            },
            ..SnapStart::default()
        });
        let (r, _) = run_traced(&cfg);
        let (a, b) = (r.outcomes[0].latency, r.outcomes[1].latency);
        assert_ne!(a, b, "one draw per restore");
        for l in [a, b] {
            assert!(l >= d(100 * MS) && l <= d(300 * MS), "{l}");
        }
    }
}
