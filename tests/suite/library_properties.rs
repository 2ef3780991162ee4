//! Property tests of the client-library wiring (`[client.library]`, model.md
//! §6.1–6.3) over random presets (database, cache, HTTP and gRPC clients)
//! and overrides (heartbeat pings and their timeouts, command and connect
//! timeouts, idle close, offline queue, reconnect rule, in-flight rule,
//! retries), random traffic with freezes long enough to break
//! connections (server idle timeouts, middleboxes that forget flows and
//! drop or reset their packets), slow servers, frozen kernels, thaw orders
//! and request timeouts (issue 11).
//!
//! - `library_timers_never_fire_while_frozen`: from the trace, no `lib_*`
//!   record and no `runtime_timer` of an environment falls between its
//!   `freeze` and its thaw (the `invoke` that thaws it), or after its
//!   `reap`; a timer that runs late (`lib_timer_late`, or a library
//!   `runtime_timer` with `late_ns` > 0) runs at the instant of a thaw and
//!   came due inside the freeze that thaw ended. Not vacuous: enough cases
//!   have late library timers at a thaw.
//! - `no_write_is_failed_and_applied_unless_retried`: with writes through a
//!   library whose in-flight rule is `resend`, `reject` or the preset's
//!   (go-redis retries), and sometimes `[client.retry]` around it, an
//!   invocation's write request is written (`request` records) at most
//!   1 + R times and applied (`duplicate_write`'s `applications`) at most
//!   1 + R times, where R counts the resends and retries the trace shows
//!   for that invocation (`lib_resend` and `lib_retry` of its environment
//!   while it runs, and its `retry` records); an invocation that failed
//!   with `CLIENT_CLOSED`, `CLIENT_OFFLINE` or `MAX_RETRIES` (the library
//!   refused a command it had not written) had its write written, so
//!   possibly applied, only if R > 0. The server's applications are
//!   visible from the second on (`duplicate_write`, when the world tracks
//!   writes: a library that resends or retries, or `[client.retry]`); a
//!   first application needs the request to have been written, which the
//!   `request` records show. Not vacuous: enough cases resend, reject a
//!   command in flight, apply a write twice, and fail with the library's
//!   own kinds.
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use thaw_core::{Level, TraceRecord, TraceSink, Value};
use thaw_sim::ErrorKind;

/// Library presets and the server each talks to.
const PRESETS: &[(&str, &str)] = &[
    ("ioredis", "redis7"),
    ("ioredis6", "redis7"),
    ("node-redis", "redis7"),
    ("node-redis5", "redis7"),
    ("redis-py", "redis7"),
    ("go-redis", "redis7"),
    ("pg-client", "postgres"),
    ("tokio-postgres", "postgres"),
    ("mysql", "mysql8"),
    ("mysql2-connection", "mysql8"),
    ("pymysql", "mysql8"),
    ("node-http-agent", "node-http"),
    ("undici", "nginx"),
    ("aws-sdk-v3", "aws-alb"),
    ("grpc-js", "grpc"),
];

/// Presets with a reconnect backoff (`reconnect = "backoff"` needs one).
fn has_backoff(preset: &str) -> bool {
    preset.starts_with("ioredis") || preset.starts_with("node-redis")
}

/// Presets that never reconnect.
fn never_reconnects(preset: &str) -> bool {
    matches!(
        preset,
        "pg-client" | "tokio-postgres" | "mysql" | "mysql2-connection" | "pymysql"
    )
}

#[derive(Clone, Debug)]
struct Params {
    preset: usize,
    /// 0 keeps the preset's, 1 never, 2 on next use, 3 backoff.
    reconnect: u8,
    /// 0 keeps the preset's (go-redis and aws-sdk-v3 retry), 1 reject,
    /// 2 resend.
    in_flight: u8,
    offline_queue: Option<bool>,
    /// Seconds, and the ping timeout in ms.
    ping: Option<(u64, Option<u64>)>,
    command_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    health_check_s: Option<u64>,
    max_retries_per_request: Option<u32>,
    server_idle_s: Option<u64>,
    /// The server's connection limit: refused reconnects.
    max_connections: Option<u32>,
    /// The library's idle close, s.
    idle_close_s: Option<u64>,
    /// `retries` of a library that retries (go-redis, aws-sdk-v3).
    retries: Option<u32>,
    /// Whether the server greets first (a refusal then fails the connect,
    /// not the command written on it).
    handshake: Option<bool>,
    service_ms: u64,
    cores: u32,
    /// A middlebox: its idle timeout in every state (s), and whether it
    /// drops (else resets) untracked packets from the client's and from
    /// the server's side.
    nat: Option<(u64, bool, bool)>,
    request_timeout_ms: Option<u64>,
    fn_timeout_s: u64,
    reap_s: u64,
    running_kernel: bool,
    events_first: bool,
    freeze_delay_ms: u64,
    keepalive: Option<u64>,
    /// `[client.retry]`: count and whether it retries connection losses
    /// (else only a kind the library never reports, which still makes the
    /// world track writes).
    retry: Option<(u32, bool)>,
    /// Two writes per invocation instead of one.
    two_writes: bool,
    /// Shaped by [`race_shape`].
    race: bool,
    /// Gaps between arrivals, ms (0 = concurrent).
    gaps_ms: Vec<u64>,
}

fn params(writes: bool) -> impl Strategy<Value = Params> {
    (
        (
            0..PRESETS.len(),
            prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
            if writes {
                prop_oneof![1 => Just(0u8), 2 => Just(1u8), 2 => Just(2u8)].boxed()
            } else {
                prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)].boxed()
            },
            prop::option::of(any::<bool>()),
            prop::option::weighted(
                if writes { 0.3 } else { 0.7 },
                (1u64..120, prop::option::of(1u64..5_000)),
            ),
            prop::option::weighted(if writes { 0.25 } else { 0.4 }, 10u64..5_000),
            prop::option::weighted(0.4, 10u64..10_000),
            prop::option::weighted(0.2, 1u64..120),
            prop::option::weighted(0.3, 0u32..4),
        ),
        (
            prop::option::weighted(if writes { 0.8 } else { 0.6 }, 1u64..300),
            // Slow requests on one core: replies that a middlebox which
            // forgot the flow drops, after the server applied the write.
            prop_oneof![3 => 0u64..5, 2 => 500u64..4_000],
            1u32..3,
            prop::option::weighted(
                0.5,
                (
                    prop_oneof![1 => 1u64..6, 1 => 6u64..360],
                    any::<bool>(),
                    any::<bool>(),
                ),
            ),
            prop::option::weighted(if writes { 0.15 } else { 0.3 }, 50u64..5_000),
            3u64..30,
            prop_oneof![1 => 30u64..200, 3 => 200u64..1_200],
            any::<bool>(),
            prop::bool::weighted(if writes { 0.25 } else { 0.5 }),
            prop_oneof![3 => Just(0u64), 1 => 1u64..2_000],
        ),
        (
            prop::option::weighted(0.4, prop_oneof![1u64..5, 5u64..60]),
            prop::option::weighted(if writes { 0.4 } else { 0.2 }, (1u32..3, any::<bool>())),
            prop::bool::weighted(0.3),
            prop::bool::weighted(if writes { 0.35 } else { 0.1 }),
            prop::option::weighted(0.25, 1u32..4),
            prop::option::weighted(0.3, any::<bool>()),
            (
                prop::option::weighted(0.2, 1u64..120),
                prop::option::weighted(0.5, 0u32..4),
            ),
            prop::collection::vec(
                prop_oneof![2 => Just(0u64), 2 => 1u64..5_000, 5 => 5_000u64..700_000],
                1..8,
            ),
        ),
    )
        .prop_map(
            |(
                (
                    preset,
                    reconnect,
                    in_flight,
                    offline_queue,
                    ping,
                    command_timeout_ms,
                    connect_timeout_ms,
                    health_check_s,
                    max_retries_per_request,
                ),
                (
                    server_idle_s,
                    service_ms,
                    cores,
                    nat,
                    request_timeout_ms,
                    fn_timeout_s,
                    reap_s,
                    running_kernel,
                    events_first,
                    freeze_delay_ms,
                ),
                (
                    keepalive,
                    retry,
                    two_writes,
                    race,
                    max_connections,
                    handshake,
                    (idle_close_s, retries),
                    gaps_ms,
                ),
            )| {
                let mut p = Params {
                    preset,
                    reconnect,
                    in_flight,
                    offline_queue,
                    ping,
                    command_timeout_ms,
                    connect_timeout_ms,
                    health_check_s,
                    max_retries_per_request,
                    server_idle_s,
                    max_connections,
                    handshake,
                    idle_close_s,
                    retries,
                    service_ms,
                    cores,
                    nat,
                    request_timeout_ms,
                    fn_timeout_s,
                    reap_s,
                    running_kernel,
                    events_first,
                    freeze_delay_ms,
                    keepalive,
                    retry,
                    two_writes,
                    race,
                    gaps_ms,
                };
                if race {
                    race_shape(&mut p);
                }
                p
            },
        )
}

/// The race of `ioredis-resend-duplicate-write`: two invocations send
/// their write at once to a server with one core and slow requests, so the
/// second waits behind the first; a firewall forgets the flow within
/// seconds and drops the server's reply; the function's keepalive probe
/// draws its RST. The write was applied, and its command was in flight
/// when the connection died. With a connection limit, the reconnects are
/// refused while the server holds the old connections.
fn race_shape(p: &mut Params) {
    p.cores = 1;
    p.service_ms = 1_000 + p.service_ms % 1_000;
    let est = p.nat.map_or(2, |(e, _, _)| 1 + e % 3);
    p.nat = Some((est, false, true));
    p.keepalive = Some(p.keepalive.map_or(2, |k| 1 + k % 3));
    p.fn_timeout_s = 30;
    p.command_timeout_ms = None;
    p.request_timeout_ms = None;
    p.gaps_ms.splice(0..0, [0, 0]);
    // The server still holds both old connections: the reconnects are
    // refused until it lets them go, and the command waits or fails.
    if p.max_connections.is_some() {
        p.max_connections = Some(2);
        p.handshake = Some(true);
    }
}

/// The scenario file for `p`; `writes` selects write requests (else a read).
fn scenario(p: &Params, writes: bool) -> String {
    let (lib, server) = PRESETS[p.preset];
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "[scenario]\nname = \"library-prop\"\n");
    if p.race {
        let _ = writeln!(
            w,
            "# shaped as the race of ioredis-resend-duplicate-write\n"
        );
    }
    let _ = writeln!(
        w,
        "[function]\ninit_duration = \"200ms\"\ntimeout = \"{}s\"\nreap_after = \"{}s\"\nfrozen_kernel = \"{}\"\nthaw_order = \"{}\"\nfreeze_delay = \"{}ms\"\n",
        p.fn_timeout_s,
        p.reap_s,
        if p.running_kernel { "running" } else { "silent" },
        if p.events_first { "events_first" } else { "handler_first" },
        p.freeze_delay_ms,
    );
    if let Some(idle) = p.keepalive {
        let _ = writeln!(
            w,
            "[function.tcp.keepalive]\nidle = \"{idle}s\"\ninterval = \"1s\"\ncount = 5\n"
        );
    }
    let _ = writeln!(w, "[client]\nstrategy = \"global\"\n");
    let _ = writeln!(w, "[client.library]\npreset = \"{lib}\"");
    // The in-flight rule in effect: `in_flight` or the preset's (ioredis
    // resends).
    let resend = p.in_flight == 2 || (p.in_flight == 0 && lib.starts_with("ioredis"));
    let reconnect = match p.reconnect {
        1 if !resend => Some("never"),
        2 => Some("on_next_use"),
        3 if has_backoff(lib) => Some("backoff"),
        _ if resend && never_reconnects(lib) => Some("on_next_use"),
        _ => None,
    };
    if let Some(r) = reconnect {
        let _ = writeln!(w, "reconnect = \"{r}\"");
    }
    match p.in_flight {
        1 => {
            let _ = writeln!(w, "in_flight = \"reject\"");
        }
        2 => {
            let _ = writeln!(w, "in_flight = \"resend\"");
        }
        _ => {}
    }
    if let Some(q) = p.offline_queue {
        let _ = writeln!(w, "offline_queue = {q}");
    }
    if let Some((every, timeout)) = p.ping {
        let _ = writeln!(w, "ping_interval = \"{every}s\"");
        if let Some(t) = timeout {
            let _ = writeln!(w, "ping_timeout = \"{t}ms\"");
        }
    }
    if let Some(t) = p.command_timeout_ms {
        let _ = writeln!(w, "command_timeout = \"{t}ms\"");
    }
    if let Some(t) = p.connect_timeout_ms {
        let _ = writeln!(w, "connect_timeout = \"{t}ms\"");
    }
    if let Some(t) = p.health_check_s {
        let _ = writeln!(w, "health_check_interval = \"{t}s\"");
    }
    if let Some(n) = p.max_retries_per_request {
        let _ = writeln!(w, "max_retries_per_request = {n}");
    }
    if let Some(t) = p.idle_close_s {
        let _ = writeln!(w, "idle_close = \"{t}s\"");
    }
    if let (Some(n), 0, "go-redis" | "aws-sdk-v3") = (p.retries, p.in_flight, lib) {
        let _ = writeln!(w, "retries = {n}");
    }
    let _ = writeln!(w);
    if let Some((count, losses)) = p.retry {
        let on = if losses {
            "[\"ECONNRESET\", \"EPIPE\", \"EOF\", \"ETIMEDOUT\", \"REQUEST_TIMEOUT\"]"
        } else {
            // Never reported here: the world tracks writes, nothing is
            // retried.
            "[\"HOST_BLOCKED\"]"
        };
        let _ = writeln!(
            w,
            "[client.retry]\ncount = {count}\nbackoff = \"20ms\"\non = {on}\n"
        );
    }
    let n = if writes && p.two_writes { 2 } else { 1 };
    for k in 1..=n {
        let op = if writes { "write" } else { "read" };
        let _ = writeln!(
            w,
            "[[client.requests]]\nname = \"R{k}\"\nop = \"{op}\"\nkey = {k}"
        );
        if let Some(t) = p.request_timeout_ms {
            let _ = writeln!(w, "timeout = \"{t}ms\"");
        }
        let _ = writeln!(w);
    }
    if let Some((est, drop_client, drop_server)) = p.nat {
        let _ = writeln!(
            w,
            "[middlebox]\nname = \"nat\"\nidle_timeout = \"{est}s\"\nuntracked_from_client = \"{}\"\nuntracked_from_server = \"{}\"\n",
            if drop_client { "drop" } else { "rst" },
            if drop_server { "drop" } else { "rst" },
        );
    }
    let _ = writeln!(
        w,
        "[server]\npreset = \"{server}\"\nservice_time = \"{}ms\"\ncores = {}",
        p.service_ms, p.cores
    );
    if let Some(i) = p.server_idle_s {
        let _ = writeln!(w, "idle_timeout = \"{i}s\"");
    }
    if let Some(n) = p.max_connections {
        let _ = writeln!(w, "max_connections = {n}\nreserved_connections = 0");
    }
    if let Some(h) = p.handshake {
        let _ = writeln!(w, "handshake = {h}");
    }
    let mut at = 0u64;
    let times: Vec<String> = p
        .gaps_ms
        .iter()
        .map(|g| {
            at += g;
            format!("\"{at}ms\"")
        })
        .collect();
    let _ = writeln!(w, "\n[workload]\nat = [{}]", times.join(", "));
    s
}

/// Keeps what the properties read: the library's records, the platform's
/// and the invocations' (not segments).
#[derive(Default)]
struct Keep(Vec<TraceRecord>);

impl TraceSink for Keep {
    fn wants(&self, _level: Level) -> bool {
        true
    }

    fn record(&mut self, r: TraceRecord) {
        let keep = r.event.starts_with("lib_")
            || matches!(
                r.event,
                "runtime_timer"
                    | "thaw_runtime_timers"
                    | "freeze"
                    | "invoke"
                    | "reap"
                    | "outcome"
                    | "function_timeout"
                    | "request"
                    | "reply"
                    | "retry"
                    | "duplicate_write"
                    | "idempotent_reapplied"
            );
        if keep {
            self.0.push(r);
        }
    }
}

fn field<'a>(r: &'a TraceRecord, name: &str) -> Option<&'a Value> {
    r.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn u(r: &TraceRecord, name: &str) -> u64 {
    match field(r, name) {
        Some(Value::U64(v)) => *v,
        v => panic!("{} field {name}: {v:?}", r.event),
    }
}

fn s<'a>(r: &'a TraceRecord, name: &str) -> &'a str {
    match field(r, name) {
        Some(Value::Str(v)) => v,
        v => panic!("{} field {name}: {v:?}", r.event),
    }
}

fn num(component: &str, prefix: &str) -> Option<u64> {
    component.strip_prefix(prefix).and_then(|n| n.parse().ok())
}

/// Runs `text`; the outcomes by invocation id and the kept records.
fn run(text: &str) -> (BTreeMap<u64, Option<ErrorKind>>, Vec<TraceRecord>) {
    let sc = thaw_scenario::load("library-prop.toml", text, &[])
        .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
    let mut sink = Keep::default();
    let r = thaw_sim::run(&sc.config, &mut sink, true).expect("run finishes");
    let outcomes = r.outcomes.iter().map(|o| (o.id, o.error)).collect();
    (outcomes, sink.0)
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runner that persists failures beside the suite's other properties.
fn runner(cases: u32) -> TestRunner {
    let mut config = Config {
        cases,
        ..Config::default()
    };
    config.source_file = Some(file!());
    TestRunner::new(config)
}

#[derive(Clone, Copy, Debug)]
enum EnvState {
    Running,
    /// Since.
    Frozen(u64),
    Reaped,
}

/// What the timer property saw in one run.
#[derive(Default)]
struct TimerSeen {
    /// Late library timers at a thaw.
    late: u32,
    /// Thaws.
    thaws: u32,
}

/// The timer property over one run's records.
fn check_timers(rs: &[TraceRecord]) -> Result<TimerSeen, String> {
    let mut state: BTreeMap<u64, EnvState> = BTreeMap::new();
    // Per environment: its last freeze (start, thaw).
    let mut last_freeze: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut seen = TimerSeen::default();
    for r in rs {
        let t = r.t.as_nanos();
        match r.event {
            "freeze" => {
                let env = num(&r.component, "env-").expect("env component");
                state.insert(env, EnvState::Frozen(t));
                continue;
            }
            "reap" => {
                let env = num(&r.component, "env-").expect("env component");
                state.insert(env, EnvState::Reaped);
                continue;
            }
            "invoke" => {
                let env = u(r, "env");
                if let Some(EnvState::Frozen(since)) = state.get(&env).copied() {
                    last_freeze.insert(env, (since, t));
                    seen.thaws += 1;
                }
                state.insert(env, EnvState::Running);
                continue;
            }
            _ => {}
        }
        let lib = r.event.starts_with("lib_") || r.event == "runtime_timer";
        let Some(env) = num(&r.component, "env-") else {
            continue;
        };
        if !lib {
            continue;
        }
        match state.get(&env).copied() {
            Some(EnvState::Frozen(since)) => {
                return Err(format!(
                    "{} of env-{env} at {} while frozen (since {}ns): {}",
                    r.event, r.t, since, r.text
                ))
            }
            Some(EnvState::Reaped) => {
                return Err(format!(
                    "{} of env-{env} at {} after its reap: {}",
                    r.event, r.t, r.text
                ))
            }
            Some(EnvState::Running) | None => {}
        }
        let late = match r.event {
            "lib_timer_late" => Some(u(r, "late_ns")),
            "runtime_timer" if s(r, "timer") == "library" => {
                Some(u(r, "late_ns")).filter(|&l| l > 0)
            }
            _ => None,
        };
        if let Some(late) = late {
            if late == 0 {
                return Err(format!("{} late by 0 at {}", r.event, r.t));
            }
            let due = t.checked_sub(late).ok_or("due before time 0")?;
            let Some(&(since, thaw)) = last_freeze.get(&env) else {
                return Err(format!(
                    "{} of env-{env} at {} ({late}ns late) but it never thawed: {}",
                    r.event, r.t, r.text
                ));
            };
            if t != thaw || due < since || due > thaw {
                return Err(format!(
                    "{} of env-{env} at {}: due at {due}ns, not held by its last freeze ({since}..{thaw}ns) or not run at its thaw: {}",
                    r.event, r.t, r.text
                ));
            }
            if r.event == "lib_timer_late" {
                seen.late += 1;
            }
        }
    }
    Ok(seen)
}

#[test]
fn library_timers_never_fire_while_frozen() {
    let mut runner = runner(cases(256));
    #[derive(Default, Debug)]
    struct Tally {
        cases: u32,
        with_thaw: u32,
        late_at_thaw: u32,
    }
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&params(false), |p| {
        let text = scenario(&p, false);
        let (_, rs) = run(&text);
        let seen = check_timers(&rs).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut t = tally.borrow_mut();
        t.cases += 1;
        t.with_thaw += u32::from(seen.thaws > 0);
        t.late_at_thaw += u32::from(seen.late > 0);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let t = tally.into_inner();
    assert!(
        t.with_thaw >= t.cases / 3 && t.late_at_thaw >= t.cases / 8,
        "too few cases thawed with late library timers: {t:?}"
    );
}

/// What the write property saw in one run.
#[derive(Default)]
struct WriteSeen {
    resent: bool,
    retried: bool,
    /// A command in flight was rejected: an invocation wrote its request
    /// and failed with a loss.
    rejected_in_flight: bool,
    applied_twice: bool,
    library_kind: bool,
}

fn check_writes(
    outcomes: &BTreeMap<u64, Option<ErrorKind>>,
    rs: &[TraceRecord],
    requests: usize,
) -> Result<WriteSeen, String> {
    // The invocation each environment runs (or ran last).
    let mut current: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ended: BTreeMap<u64, bool> = BTreeMap::new();
    // Per invocation: resends and retries; per (invocation, request):
    // writes; per (invocation, key): most applications.
    let mut again: BTreeMap<u64, u64> = BTreeMap::new();
    let mut sends: BTreeMap<(u64, String), u64> = BTreeMap::new();
    let mut applied: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut replied: BTreeSet<(u64, String)> = BTreeSet::new();
    let mut seen = WriteSeen::default();
    for r in rs {
        match r.event {
            "invoke" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                current.insert(u(r, "env"), inv);
            }
            "outcome" | "function_timeout" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                ended.insert(inv, true);
            }
            "lib_resend" | "lib_retry" => {
                let env = num(&r.component, "env-").expect("env component");
                let Some(&inv) = current.get(&env) else {
                    return Err(format!("{} in env-{env} before any invocation", r.event));
                };
                if ended.get(&inv).copied().unwrap_or(false) {
                    return Err(format!(
                        "{} at {} in env-{env} for inv-{inv}, which already ended: {}",
                        r.event, r.t, r.text
                    ));
                }
                *again.entry(inv).or_default() += 1;
                if r.event == "lib_resend" {
                    seen.resent = true;
                } else {
                    seen.retried = true;
                }
            }
            "retry" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                *again.entry(inv).or_default() += 1;
                seen.retried = true;
            }
            "reply" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                replied.insert((inv, s(r, "request").to_string()));
            }
            "request" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                *sends.entry((inv, s(r, "request").to_string())).or_default() += 1;
            }
            "duplicate_write" | "idempotent_reapplied" => {
                let inv = num(&r.component, "inv-").expect("inv component");
                let n = applied.entry((inv, u(r, "key"))).or_default();
                *n = (*n).max(u(r, "applications"));
                seen.applied_twice = true;
            }
            _ => {}
        }
    }
    for (&(inv, ref name), &n) in &sends {
        let a = again.get(&inv).copied().unwrap_or(0);
        if n > 1 + a {
            return Err(format!(
                "inv-{inv} wrote {name} {n} times with {a} resend(s) or retries in the trace"
            ));
        }
    }
    for (&(inv, key), &n) in &applied {
        let a = again.get(&inv).copied().unwrap_or(0);
        if n > 1 + a {
            return Err(format!(
                "inv-{inv}'s write of key {key} applied {n} times with {a} resend(s) or retries in the trace"
            ));
        }
    }
    for (&inv, &error) in outcomes {
        let a = again.get(&inv).copied().unwrap_or(0);
        let written: u64 = sends
            .iter()
            .filter(|((i, _), _)| *i == inv)
            .map(|(_, &n)| n)
            .sum();
        match error {
            Some(ErrorKind::ClientClosed | ErrorKind::ClientOffline | ErrorKind::MaxRetries) => {
                seen.library_kind = true;
                // The request that failed: its first without a reply.
                let failed = (1..=requests)
                    .map(|k| format!("R{k}"))
                    .find(|name| !replied.contains(&(inv, name.clone())))
                    .ok_or_else(|| format!("inv-{inv} failed with every reply read"))?;
                let n = sends.get(&(inv, failed.clone())).copied().unwrap_or(0);
                if n > a {
                    return Err(format!(
                        "inv-{inv} failed with {} but its {failed} was written {n} time(s), with {a} resend(s) or retries in the trace",
                        error.map_or("?", |k| k.name())
                    ));
                }
            }
            Some(
                ErrorKind::Econnreset | ErrorKind::Eof | ErrorKind::Etimedout | ErrorKind::Epipe,
            ) if written > 0 => {
                seen.rejected_in_flight = true;
            }
            _ => {}
        }
    }
    Ok(seen)
}

#[test]
fn no_write_is_failed_and_applied_unless_retried() {
    let mut runner = runner(cases(256));
    #[derive(Default, Debug)]
    struct Tally {
        cases: u32,
        resent: u32,
        retried: u32,
        rejected_in_flight: u32,
        applied_twice: u32,
        library_kind: u32,
    }
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&params(true), |p| {
        let text = scenario(&p, true);
        let (outcomes, rs) = run(&text);
        let seen = check_writes(&outcomes, &rs, if p.two_writes { 2 } else { 1 })
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut t = tally.borrow_mut();
        t.cases += 1;
        t.resent += u32::from(seen.resent);
        t.retried += u32::from(seen.retried);
        t.rejected_in_flight += u32::from(seen.rejected_in_flight);
        t.applied_twice += u32::from(seen.applied_twice);
        t.library_kind += u32::from(seen.library_kind);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let t = tally.into_inner();
    let min = t.cases / 32;
    assert!(
        t.resent >= min
            && t.rejected_in_flight >= min
            && t.applied_twice >= min
            && t.library_kind >= t.cases / 64,
        "too few cases exercised resends, rejections, double applications and the library's own failures: {t:?}"
    );
}
