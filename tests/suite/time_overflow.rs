//! Time beyond the end (issue 7): every duration of a scenario is valid
//! alone, but their sums can pass `SimTime::MAX` (~584 years). Simulated
//! time saturates there and nothing scheduled at the end ever happens
//! (thaw-core `time.rs`, docs/model.md "Time beyond the end"), so these
//! scenarios load and their runs finish: no panic (exit 101), no hang.
//!
//! The reproducers of the issue run as unit tests; the proptest draws
//! durations up to `u64::MAX` ns for many duration keys at once, on three
//! bundled scenarios, and checks that a scenario either fails to load with
//! diagnostics or runs to its end.
use proptest::prelude::*;
use std::collections::BTreeMap;
use thaw_core::{Level, NullSink, SimTime};
use thaw_scenario::{load, run_scenario, Report};
use thaw_sim::jsonl::JsonlSink;
use thaw_sim::RunError;

/// Loads `text` with `sets` and runs it with a detailed trace (so that the
/// trace's formatting of instants near the end runs too).
fn run_text(text: &str, sets: &[&str]) -> Report {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let s = match load("overflow.toml", text, &sets) {
        Ok(s) => s,
        Err(e) => panic!("does not load:\n{}", e.render()),
    };
    let mut sink = JsonlSink::new(Vec::new(), Level::Detail);
    let report = run_scenario(&s, None, &mut sink).expect("run finishes");
    sink.finish().expect("in-memory trace");
    balanced(&report);
    report
}

fn balanced(r: &Report) {
    let m = &r.result.metrics;
    assert_eq!(
        m.connections_opened,
        m.connections_closed + m.connections_open_at_end,
        "connection balance"
    );
    assert_eq!(m.invocations as usize, r.result.outcomes.len());
    let mut ids: Vec<u64> = r.result.outcomes.iter().map(|o| o.id).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        r.result.outcomes.len(),
        "an invocation ended twice"
    );
    assert!(
        r.result.end < SimTime::MAX,
        "nothing happens at the end of time"
    );
}

fn field<'a>(r: &'a Report, id: usize, name: &str) -> &'a serde_json::Value {
    &r.json["invocations"][id - 1][name]
}

#[test]
fn reap_after_past_the_end() {
    // The environment freezes at ~1 d and its reap lies beyond the end.
    let r = run_text(
        "[function]\nreap_after = \"213503d\"\n[workload]\nat = [\"1d\"]\n",
        &[],
    );
    assert_eq!(r.result.metrics.invocations, 1);
    assert_eq!(field(&r, 1, "outcome"), "ok");
}

#[test]
fn accept_cpu_queue_past_the_end() {
    // Seven accepts of a century each on one core: the fifth and later
    // would finish after the end; the invocations time out meanwhile.
    let text = "[server]\ncores = 1\naccept_cpu = \"36500d\"\n\
                [workload]\nat = [\"0s\", \"0s\", \"0s\", \"0s\", \"0s\", \"0s\", \"0s\"]\n";
    let r = run_text(text, &[]);
    assert_eq!(r.result.metrics.invocations, 7);
    assert_eq!(r.result.metrics.errors_by_kind["FUNCTION_TIMEOUT"], 7);
}

#[test]
fn link_latency_past_the_end() {
    let text = "[workload]\nat = [\"0s\"]\n";
    let r = run_text(text, &["network.client_latency=213503d"]);
    assert_eq!(field(&r, 1, "error"), "FUNCTION_TIMEOUT");
    let r = run_text(text, &["network.server_latency=213503d"]);
    assert_eq!(field(&r, 1, "error"), "FUNCTION_TIMEOUT");
    // Both at once: their sum alone passes the end.
    let r = run_text(
        text,
        &[
            "network.client_latency=213503d",
            "network.server_latency=213503d",
            "client.strategy=http",
        ],
    );
    assert_eq!(field(&r, 1, "error"), "FUNCTION_TIMEOUT");
}

#[test]
fn poisson_gap_past_the_end() {
    // The first gap (~10^12 s) lies beyond the end: no arrival ever comes.
    let r = run_text("[workload]\npoisson = { rate = 1e-12, count = 1 }\n", &[]);
    assert_eq!(r.result.metrics.invocations, 0);
    assert_eq!(r.result.metrics.events, 0);
    let r = run_text(
        "[workload]\npoisson = { rate = 1.0, count = 3, start = \"18446744073709551615ns\" }\n",
        &[],
    );
    assert_eq!(r.result.metrics.invocations, 0);
}

#[test]
fn conntrack_flow_near_the_end() {
    // 213503 d is ~23.6 h before the end: the invocation runs, and the
    // flow's 5-day ESTABLISHED timeout lies beyond the end.
    let r = run_text(
        "[middlebox]\npreset = \"linux-conntrack\"\n[workload]\nat = [\"213503d\"]\n",
        &[],
    );
    assert_eq!(field(&r, 1, "outcome"), "ok");
}

#[test]
fn invocations_still_running_at_the_end_are_not_counted() {
    // The first cold start ends ~23.6 h before the end of time; the second
    // arrival needs its own environment, whose cold start would end after
    // it: that invocation never ends, and the report counts the first only.
    let r = run_text(
        "[function]\ninit_duration = \"213503d\"\n[workload]\nat = [\"0s\", \"1d\"]\n",
        &[],
    );
    assert_eq!(r.result.metrics.invocations, 1);
    assert_eq!(r.result.metrics.environments, 2);
    assert_eq!(field(&r, 1, "outcome"), "ok");
    // ... and says so.
    assert_eq!(r.result.metrics.unfinished, 1);
    assert!(r.result.metrics.events_beyond_end >= 1);
    // An arrival 1 µs before the end: its init (322 ms) never ends.
    let r = run_text(
        "[workload]\nat = [\"0s\", \"18446744073709550615ns\"]\n",
        &[],
    );
    assert_eq!(r.result.metrics.invocations, 1);
    assert_eq!(r.result.metrics.environments, 2);
    assert_eq!(r.result.metrics.unfinished, 1);
}

// ---- random durations up to the end of time ---------------------------------

/// Nanoseconds, biased to huge values: anywhere, within two days of the
/// end, around half of it (two of them sum to ~the end), the end itself,
/// or ordinary (up to 1000 s).
fn nanos() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => (u64::MAX - 172_800_000_000_000)..=u64::MAX,
        1 => (u64::MAX / 2 - 1_000_000_000_000)..=(u64::MAX / 2 + 1_000_000_000_000),
        1 => Just(u64::MAX),
        2 => 0u64..=1_000_000_000_000,
    ]
}

fn ns(n: u64) -> String {
    format!("\"{n}ns\"")
}

/// Duration keys every scenario has (missing tables are created).
const COMMON: &[&str] = &[
    "function.reap_after",
    "function.init_duration",
    "function.handler_time",
    "function.freeze_delay",
    "function.tcp.rto_min",
    "function.tcp.rto_max",
    "function.tcp.rto_initial",
    "function.tcp.fin_timeout",
    "function.tcp.time_wait",
    "function.tcp.user_timeout",
    "function.tcp.keepalive.idle",
    "function.tcp.keepalive.interval",
    "client.connect_cpu",
    "client.connect_timeout",
    "client.requests[0].timeout",
    "client.retry.backoff",
    "client.retry.backoff_max",
    "network.client_latency",
    "network.server_latency",
    "server.idle_timeout",
    "server.service_time",
    "server.accept_cpu",
    "server.handshake_timeout",
    "server.idle_in_transaction_timeout",
    "server.evict_min_idle",
    "server.tcp.rto_min",
    "server.tcp.rto_max",
    "server.tcp.rto_initial",
    "server.tcp.fin_timeout",
    "server.tcp.time_wait",
    "server.tcp.user_timeout",
    "server.tcp.keepalive.idle",
    "server.tcp.keepalive.interval",
];

const MIDDLEBOX: &[&str] = &[
    "middlebox.idle_timeout",
    "middlebox.timeouts.syn_sent",
    "middlebox.timeouts.established",
    "middlebox.timeouts.fin_wait",
    "middlebox.timeouts.close_wait",
    "middlebox.timeouts.time_wait",
    "middlebox.timeouts.close",
];

const POOL: &[&str] = &[
    "client.pool.idle_timeout",
    "client.pool.acquire_timeout",
    "client.pool.evict",
    "client.pool.max_lifetime",
    "function.handler_rejects_after",
];

const PGBOUNCER: &[&str] = &[
    "proxy.server_latency",
    "proxy.query_wait_timeout",
    "proxy.client_idle_timeout",
    "proxy.server_idle_timeout",
    "proxy.server_lifetime",
    "proxy.tcp.rto_min",
    "proxy.tcp.rto_max",
    "proxy.tcp.time_wait",
    "proxy.tcp.keepalive.idle",
];

/// Overrides: a few (key, nanoseconds) pairs from `keys` plus the server's
/// cores and replicas, the retry count, and maybe new arrival times.
#[derive(Clone, Debug)]
struct Case {
    durations: Vec<(usize, u64)>,
    cores: Option<u32>,
    replica: Option<u64>,
    retries: Option<u32>,
    arrivals: Option<Vec<u64>>,
}

fn case(keys: usize, always_arrivals: bool) -> impl Strategy<Value = Case> {
    let arrivals = prop::collection::vec(nanos(), 1..=5).prop_map(|mut v| {
        v.sort_unstable();
        v
    });
    let arrivals = if always_arrivals {
        arrivals.prop_map(Some).boxed()
    } else {
        prop::option::of(arrivals).boxed()
    };
    (
        prop::collection::vec((0..keys, nanos()), 1..=8),
        prop::option::of(1u32..=2),
        prop::option::of(nanos()),
        prop::option::of(1u32..=3),
        arrivals,
    )
        .prop_map(|(durations, cores, replica, retries, arrivals)| Case {
            durations,
            cores,
            replica,
            retries,
            arrivals,
        })
}

/// Keys whose validation bounds them, so that most cases get past
/// loading: Linux's keepalive range, and `rto_min` at most `rto_max`'s
/// default. Pairs that must be ordered (`rto_min` ≤ `rto_max`, `backoff` ≤
/// `backoff_max`) are ordered in [`check`].
fn bounded(key: &str, n: u64) -> u64 {
    const S: u64 = 1_000_000_000;
    let within = |lo: u64, hi: u64| lo + n % (hi - lo + 1);
    if key.ends_with("keepalive.idle") || key.ends_with("keepalive.interval") {
        within(S, 32_767 * S)
    } else if key.ends_with("rto_min") {
        within(1, 120 * S)
    } else {
        n
    }
}

/// Loads the bundled `file` with the case's overrides: a clean error is
/// fine; otherwise the run must end (within a budget: exit code 3 is a
/// clean end too, not a panic).
fn check(file: &str, keys: &[&str], c: &Case) {
    let text = std::fs::read_to_string(thaw_tests::workspace_root().join(file)).expect("readable");
    // Later draws of a key replace earlier ones, as repeated --set would.
    let mut values: BTreeMap<&str, u64> = BTreeMap::new();
    for &(k, n) in &c.durations {
        values.insert(keys[k], bounded(keys[k], n));
    }
    for (lo, hi) in [
        ("function.tcp.rto_min", "function.tcp.rto_max"),
        ("server.tcp.rto_min", "server.tcp.rto_max"),
        ("proxy.tcp.rto_min", "proxy.tcp.rto_max"),
        ("client.retry.backoff", "client.retry.backoff_max"),
    ] {
        if let (Some(&a), Some(&b)) = (values.get(lo), values.get(hi)) {
            values.insert(lo, a.min(b));
            values.insert(hi, a.max(b));
        }
    }
    let mut sets = vec!["run.event_budget=500000".to_string()];
    sets.extend(values.iter().map(|(k, &n)| format!("{k}={}", ns(n))));
    if let Some(n) = c.cores {
        sets.push(format!("server.cores={n}"));
    }
    if let Some(n) = c.replica {
        sets.push(format!("server.replicas=[{}]", ns(n)));
    }
    if let Some(n) = c.retries {
        sets.push(format!("client.retry.count={n}"));
    }
    if let Some(a) = &c.arrivals {
        let list: Vec<String> = a.iter().map(|&n| ns(n)).collect();
        sets.push(format!("workload.at=[{}]", list.join(", ")));
    }
    let Ok(s) = load(file, &text, &sets) else {
        return;
    };
    match run_scenario(&s, None, &mut NullSink) {
        Ok(r) => balanced(&r),
        Err(RunError::Budget(_)) => {}
    }
}

fn keys(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

proptest! {
    // 32 cases a scenario in the suite; PROPTEST_CASES=N for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        ..ProptestConfig::default()
    })]

    #[test]
    fn huge_durations_global_behind_conntrack(c in case(COMMON.len() + MIDDLEBOX.len(), false)) {
        check("sim-scenarios/seeds/upstash-etimedout.toml", &keys(MIDDLEBOX), &c);
    }

    #[test]
    fn huge_durations_sequelize_pool(c in case(COMMON.len() + POOL.len(), false)) {
        check(
            "sim-scenarios/incidents/sequelize-defaults-wait-timeout.toml",
            &keys(POOL),
            &c,
        );
    }

    #[test]
    fn huge_durations_pgbouncer(c in case(COMMON.len() + PGBOUNCER.len(), true)) {
        check("sim-scenarios/seeds/pgbouncer-transaction-mode.toml", &keys(PGBOUNCER), &c);
    }
}
