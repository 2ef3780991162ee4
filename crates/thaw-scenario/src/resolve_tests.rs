//! `thaw config`: a resolved scenario loads back to the same configuration,
//! every key of the format is handled, and sources say where values came
//! from. (The suite's config.rs runs every bundled scenario both ways and
//! compares the traces.)
use super::*;
use crate::build::load;
use std::collections::BTreeSet;

const WORKLOAD: &str = "\n[workload]\nat = [\"0s\", \"100s\"]\n";

fn resolved(text: &str, overrides: &[Override]) -> Resolved {
    match resolve("dir/s.toml", text, overrides) {
        Ok(r) => r,
        Err(e) => panic!("does not load:\n{}\n{text}", e.render()),
    }
}

/// Loads the resolved TOML back and requires the same configuration (and
/// expectations), no new warnings, and every key handled.
fn round_trip(text: &str, overrides: &[Override]) -> Resolved {
    let r = resolved(text, overrides);
    let a = load_with("dir/s.toml", text, overrides).expect("loads");
    let out = r.toml();
    let b = match load("dir/s.toml", &out, &[]) {
        Ok(b) => b,
        Err(e) => panic!("the resolved file does not load:\n{}\n{out}", e.render()),
    };
    assert_eq!(
        format!("{:?}", a.config),
        format!("{:?}", b.config),
        "another configuration from\n{out}"
    );
    assert_eq!(
        format!("{:?}", a.expectations),
        format!("{:?}", b.expectations)
    );
    assert!(b.warnings.len() <= a.warnings.len(), "new warnings:\n{out}");
    assert!(r.unknown.is_empty(), "unhandled keys {:?}", r.unknown);
    // Resolving the output again changes no value: it is a fixed point.
    let again = resolved(&out, &[]);
    let values = |r: &Resolved| -> Vec<(String, Option<Value>)> {
        r.keys
            .iter()
            .map(|k| (k.path.clone(), k.value.clone()))
            .collect()
    };
    assert_eq!(values(&r), values(&again), "not a fixed point:\n{out}");
    r
}

fn key<'r>(r: &'r Resolved, path: &str) -> &'r ResolvedKey {
    r.keys
        .iter()
        .find(|k| k.path == path)
        .unwrap_or_else(|| panic!("no key {path} in\n{}", r.toml()))
}

fn preset(name: &str, at: &str) -> Source {
    Source::Preset {
        name: name.into(),
        key: at.into(),
    }
}

/// The names of a preset enum of the file format, as the schema lists them
/// (from the loader's own types: a new preset is covered without an edit).
fn preset_names(definition: &str) -> Vec<String> {
    let schema = crate::schema::schema();
    let defs = schema
        .get("definitions")
        .or_else(|| schema.get("$defs"))
        .expect("schema definitions");
    let names: Vec<String> = defs[definition]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{definition} is not an enum"))
        .iter()
        .filter_map(|o| o["const"].as_str().map(str::to_string))
        .collect();
    assert!(!names.is_empty(), "{definition} has no names");
    names
}

/// Scenarios that between them use every table and form of the format.
fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    for p in &preset_names("ServerPresetKey") {
        let limits = if *p == "upstash" {
            "soft_limit = 10\nhard_limit = 11\n"
        } else {
            ""
        };
        out.push(format!("[server]\npreset = \"{p}\"\n{limits}{WORKLOAD}"));
    }
    for p in &preset_names("PoolPresetKey") {
        out.push(format!(
            "[client]\nstrategy = \"pool\"\n[client.pool]\npreset = \"{p}\"\n[server]\npreset = \"postgres\"\n{WORKLOAD}"
        ));
    }
    for p in thaw_client::library::presets::NAMES {
        out.push(format!(
            "[client.library]\npreset = \"{p}\"\n[server]\npreset = \"redis7\"\n{WORKLOAD}"
        ));
    }
    for p in &preset_names("PresetKey") {
        out.push(format!(
            "[middlebox]\npreset = \"{p}\"\nidle_timeout = \"100s\"\n{WORKLOAD}"
        ));
        out.push(format!(
            "[middlebox]\npreset = \"{p}\"\n[middlebox.timeouts]\nestablished = \"60s\"\n{WORKLOAD}"
        ));
    }
    out.extend([
        // SnapStart, a connection captured in the snapshot and the hook.
        format!("[function.snapstart]\ninit_connects = true\nafter_restore = \"reconnect\"\n{WORKLOAD}"),
        format!("[function.snapstart]\nrestore_duration = {{ exponential = \"150ms\" }}\n{WORKLOAD}"),
        // Latencies that vary per connection.
        format!("[network]\nclient_latency = {{ lognormal = {{ median = \"1ms\", sigma = 0.5 }} }}\nserver_latency = {{ uniform = [\"100us\", \"300us\"] }}\n{WORKLOAD}"),
        // No preset; several middleboxes on paths.
        format!("[middlebox]\nuntracked_from_server = \"accept\"\n{WORKLOAD}"),
        format!(
            r#"[[middleboxes]]
name = "a"
preset = "aws-nat-gateway"
[[middleboxes]]
name = "b"
idle_timeout = "240s"
[[middleboxes]]
name = "c"
[network]
path = ["a", "b"]
hop_latencies = ["1ms"]
[[servers]]
name = "db"
preset = "postgres"
path = ["c"]
[[servers]]
name = "cache"
preset = "redis7"
[[client.requests]]
name = "Q"
target = "db"
{WORKLOAD}"#
        ),
        format!(
            r#"[[middleboxes]]
name = "a"
[[middleboxes]]
name = "b"
[network]
path = ["a", "b"]
{WORKLOAD}"#
        ),
        // Proxies.
        format!("[server]\npreset = \"mysql8\"\n[proxy]\npreset = \"rds-proxy\"\n{WORKLOAD}"),
        format!(
            "[server]\npreset = \"mysql8\"\nmax_connections = 1000\n[proxy]\npreset = \"rds-proxy\"\nmax_connections_percent = 40\nconnection_borrow_timeout = \"5s\"\n{WORKLOAD}"
        ),
        format!(
            "[server]\npreset = \"postgres\"\n[proxy]\npreset = \"pgbouncer\"\npool_mode = \"transaction\"\n[proxy.tcp.keepalive]\nidle = \"60s\"\n{WORKLOAD}"
        ),
        format!(
            r#"[[servers]]
name = "pg"
preset = "postgres"
[[servers]]
name = "my"
preset = "mysql8"
[[proxies]]
server = "pg"
preset = "pgbouncer"
[[proxies]]
server = "my"
preset = "rds-proxy"
[[client.requests]]
name = "A"
target = "pg"
[[client.requests]]
name = "B"
target = "my"
{WORKLOAD}"#
        ),
        // A server's own keys, remote and inside the environment.
        format!(
            r#"[server]
preset = "postgres"
outages = [{{ at = "10s", duration = "5s" }}]
replicas = ["1s", "2s"]
soft_limit = 5
hard_limit = 6
service_time = {{ lognormal = {{ median = "1ms", sigma = 0.5 }} }}
[server.tcp.keepalive]
enabled = false
[client]
read_routing = "round_robin"
autocommit = false
isolation = "read_committed"
requests = [{{ name = "R", op = "read", key = 7, timeout = "1s" }}, {{ name = "W", op = "write", key = 7 }}, {{ name = "C", op = "commit" }}]
{WORKLOAD}"#
        ),
        format!(
            "[server]\npreset = \"node-http\"\nlocation = \"environment\"\nthaw_delay = \"5ms\"\n[client.library]\npreset = \"node-http-agent\"\n{WORKLOAD}"
        ),
        // Every function key.
        format!(
            r#"[function]
init_duration = {{ exponential = "300ms" }}
handler_time = {{ uniform = ["1ms", "3ms"] }}
reap_after_min = "100s"
reap_after_max = "200s"
handler = "callback"
callback_waits_for_empty_event_loop = false
handler_rejects_after = "1s"
scale_rate = {{ count = 0, per = "1s" }}
extension = "external"
placement = "newest_created"
thaw_order = "events_first"
frozen_kernel = "running"
provisioned_concurrency = 1
[function.tcp]
hz = 1000
timer_wheel = true
[function.tcp.keepalive]
idle = "60s"
[client]
strategy = "pool"
connect_timeout = "2s"
[client.pool]
preset = "pg-pool"
evict = "5s"
close_after_invocation = true
reset_at_start = true
{WORKLOAD}"#
        ),
        format!("[function]\nreap_after = {{ exponential = \"600s\" }}\n{WORKLOAD}"),
        // The client's tables.
        format!(
            r#"[client.tls]
version = "1.2"
resumption = true
[client.retry]
count = 2
backoff = "50ms"
backoff_max = "1s"
on = ["ECONNRESET"]
{WORKLOAD}"#
        ),
        format!("[client.tls]\n{WORKLOAD}"),
        format!("[client]\nstrategy = \"http\"\nhttp_overhead = \"3ms\"\n{WORKLOAD}"),
        format!("[client]\nrequests = []\n{WORKLOAD}"),
        format!(
            r#"[[servers]]
name = "redis"
preset = "redis7"
[[servers]]
name = "pg"
preset = "postgres"
[client]
strategy = "global"
[client.targets.pg]
strategy = "pool"
[client.pool]
preset = "pg-pool"
[[client.requests]]
name = "GET"
target = "redis"
await = false
[[client.requests]]
name = "SELECT"
target = "pg"
writes = 2
write_gap = "1ms"
work_after = "2ms"
idempotent = true
pin = true
{WORKLOAD}"#
        ),
        format!(
            "[client.library]\npreset = \"go-redis\"\nretries = 5\nmax_idle = \"60s\"\n{WORKLOAD}"
        ),
        format!(
            "[client.library]\npreset = \"redis-py\"\nhealth_check_interval = \"0s\"\nping_interval = \"10s\"\nping_timeout = \"1s\"\n{WORKLOAD}"
        ),
        // Further functions, and the forms of arrivals.
        r#"[[handlers]]
name = "create"
requests = [{ name = "INSERT", op = "write", key = 1 }]
[[handlers]]
name = "none"
requests = []
[workload]
at = ["0s"]
[[workload.invoke]]
handler = "create"
at = ["1s"]
[[workload.invoke]]
handler = "none"
at = ["2s"]
"#
        .to_string(),
        "[workload]\npoisson = { rate = 1.0, count = 3 }\nburst = [{ at = \"1s\", count = 2 }]\n"
            .to_string(),
        "[workload]\nevery = { period = \"1s\", count = 3, start = \"2s\" }\n".to_string(),
        "[workload]\nrate = { curve = [{ until = \"10s\", rate = 1.0 }], count = 5 }\n"
            .to_string(),
        "[workload]\nrate = { sine = { mean = 1.0, amplitude = 0.5, period = \"10s\" }, until = \"20s\", start = \"1s\" }\n"
            .to_string(),
        format!(
            "[scenario]\nname = \"n\"\ndescription = \"d\"\nseed = \"18446744073709551615\"\n[run]\nevent_budget = 1000000\n[vary]\n\"server.idle_timeout\" = \"1s..60s\"\n[expect]\nassert = [\"metrics.errors == 0\"]\n{WORKLOAD}"
        ),
    ]);
    out
}

#[test]
fn every_preset_and_table_round_trips() {
    for text in corpus() {
        round_trip(&text, &[]);
    }
}

#[test]
fn a_trace_file_round_trips_from_the_bundled_examples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sim-scenarios/examples/");
    for f in [
        "azure-2019-trace-replay.toml",
        "azure-2021-trace-replay.toml",
    ] {
        let path = format!("{dir}{f}");
        let text = std::fs::read_to_string(&path).expect("bundled");
        let r = resolve(&path, &text, &[]).expect("loads");
        let out = r.toml();
        assert!(out.contains("keep this file beside the original"), "{out}");
        let a = load(&path, &text, &[]).expect("loads");
        let b = load(&path, &out, &[]).expect("resolved loads");
        assert_eq!(format!("{:?}", a.config), format!("{:?}", b.config));
    }
}

#[test]
fn an_empirical_file_keeps_its_name() {
    let dir = std::env::temp_dir().join(format!("thaw-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("cold.txt"), "250ms\n1.2s\n").expect("write");
    let file = dir.join("s.toml").to_string_lossy().into_owned();
    let text = format!("[function]\ninit_duration = {{ empirical = \"cold.txt\" }}\n{WORKLOAD}");
    let r = resolve(&file, &text, &[]).expect("loads");
    let out = r.toml();
    assert!(
        out.contains("init_duration = { empirical = \"cold.txt\" }"),
        "{out}"
    );
    let a = load(&file, &text, &[]).expect("loads");
    let b = load(&file, &out, &[]).expect("resolved loads");
    assert_eq!(format!("{:?}", a.config), format!("{:?}", b.config));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every key path of the format (the loader's own types, through the
/// schema) is written, shown as a comment or left out with a reason by
/// some scenario of the corpus: a key added to the format and not to
/// `thaw config` fails here.
#[test]
fn every_key_of_the_format_is_handled() {
    let normal = |p: &str| -> String {
        let mut out = String::new();
        let mut in_index = false;
        for c in p.chars() {
            match c {
                '[' => {
                    in_index = true;
                    out.push_str("[0");
                }
                ']' => {
                    in_index = false;
                    out.push(']');
                }
                _ if in_index => {}
                c => out.push(c),
            }
        }
        if out.starts_with("vary.") {
            "vary".to_string()
        } else {
            out
        }
    };
    let all: Vec<String> = crate::schema::key_paths();
    let mut handled: BTreeSet<String> = BTreeSet::new();
    // A value written whole (an inline table or array of tables) covers
    // the keys inside it.
    let mut whole: BTreeSet<String> = BTreeSet::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sim-scenarios/examples/");
    let traces = [
        "azure-2019-trace-replay.toml",
        "azure-2021-trace-replay.toml",
    ]
    .map(|f| {
        let path = format!("{dir}{f}");
        let text = std::fs::read_to_string(&path).expect("bundled");
        resolve(&path, &text, &[]).expect("loads")
    });
    for r in corpus().iter().map(|t| resolved(t, &[])).chain(traces) {
        assert!(
            r.unknown.is_empty(),
            "unhandled {:?} in {}",
            r.unknown,
            r.file
        );
        for k in &r.keys {
            let p = normal(&k.path);
            if matches!(&k.value, Some(Value::Table(_) | Value::Array(_))) {
                whole.insert(p.clone());
            }
            handled.insert(p);
        }
        for o in &r.omitted {
            handled.insert(normal(&o.path));
        }
    }
    let missing: Vec<&String> = all
        .iter()
        .filter(|p| {
            !handled.contains(*p)
                && !whole
                    .iter()
                    .any(|w| p.starts_with(&format!("{w}.")) || p.starts_with(&format!("{w}[")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys `thaw config` never handles: {missing:?}"
    );
}

/// The keys of each table come in the order of its table in
/// docs/scenario-format.md.
#[test]
fn keys_follow_the_order_of_the_docs() {
    let docs = crate::schema::doc_key_order();
    for (section, list) in [
        ("scenario", SCENARIO),
        ("run", RUN),
        ("function", FUNCTION),
        ("function.tcp", TCP),
        ("function.tcp.keepalive", KEEPALIVE),
        ("client", CLIENT),
        ("client.requests", REQUEST),
        ("client.tls", TLS),
        ("client.library", LIBRARY),
        ("client.retry", RETRY),
        ("client.pool", POOL),
        ("handlers", HANDLER),
        ("network", NETWORK),
        ("middlebox", MIDDLEBOX),
        ("middlebox.timeouts", TIMEOUTS),
        ("server", SERVER),
        ("workload", super::WORKLOAD),
        ("workload.poisson", POISSON),
        ("workload.burst", BURST),
        ("workload.every", EVERY),
        ("workload.rate", RATE),
        ("workload.trace", TRACE),
        ("workload.invoke", INVOKE),
        ("expect", EXPECT),
    ] {
        let Some(doc) = docs.get(section) else {
            panic!("no table for [{section}] in the docs: {:?}", docs.keys());
        };
        let ours: Vec<&str> = list
            .iter()
            .copied()
            .filter(|k| doc.iter().any(|d| d == k))
            .collect();
        let theirs: Vec<&str> = doc
            .iter()
            .map(String::as_str)
            .filter(|k| list.contains(k))
            .collect();
        assert_eq!(ours, theirs, "[{section}]: not in the order of the docs");
    }
    // The proxy's three tables (shared, RDS Proxy, PgBouncer) in turn.
    let proxy = &docs["proxy"];
    let ours: Vec<&str> = PROXY
        .iter()
        .copied()
        .filter(|k| proxy.iter().any(|d| d == k))
        .collect();
    let theirs: Vec<&str> = proxy.iter().map(String::as_str).collect();
    assert_eq!(ours, theirs);
}

#[test]
fn sources_name_the_file_line_the_preset_the_default_and_set() {
    let text = "[server]\npreset = \"redis7\"\nport = 7000\n\n[client]\nstrategy = \"pool\"\n\n[client.pool]\npreset = \"mysql2\"\nmax = 30\n[workload]\nat = [\"0s\"]\n";
    let r = round_trip(text, &[Override::Set("server.idle_timeout=60s".into())]);
    // Written: the file and its line.
    assert_eq!(
        key(&r, "server.port").source,
        Source::File { line: Some(3) }
    );
    assert_eq!(
        key(&r, "client.pool.max").source,
        Source::File { line: Some(10) }
    );
    // A server preset's keepalive and a pool preset's knobs.
    let ka = key(&r, "server.tcp.keepalive.idle");
    assert_eq!(ka.value, Some(s("300s")));
    assert_eq!(ka.source, preset("redis7", "server.preset"));
    assert_eq!(
        key(&r, "server.tcp.keepalive.enabled").source,
        preset("redis7", "server.preset")
    );
    assert_eq!(
        key(&r, "server.idle_check_interval").source,
        preset("redis7", "server.preset")
    );
    let min = key(&r, "client.pool.min");
    assert_eq!(min.value, Some(int(10)));
    assert_eq!(min.source, preset("mysql2", "client.pool.preset"));
    // What the preset leaves as the generic server has it is thaw's default.
    assert_eq!(key(&r, "server.backlog").source, Source::Default);
    assert_eq!(key(&r, "function.timeout").source, Source::Default);
    assert_eq!(
        key(&r, "client.pool.reset_at_start").source,
        Source::Default
    );
    // --set.
    let idle = key(&r, "server.idle_timeout");
    assert_eq!(idle.value, Some(s("60s")));
    assert_eq!(
        idle.source,
        Source::Set {
            arg: "server.idle_timeout=60s".into()
        }
    );
    let out = r.toml();
    assert!(out.contains("idle = \"300s\""), "{out}");
    assert!(out.contains("# preset redis7\n"), "{out}");
    assert!(out.contains("# dir/s.toml:3\n"), "{out}");
    assert!(out.contains("# --set\n"), "{out}");
    assert!(out.contains("# default\n"), "{out}");
    // A pool preset without an idle timeout: a comment, not a key.
    let r = round_trip(
        "[client]\nstrategy = \"pool\"\n[client.pool]\npreset = \"go-database-sql\"\n[workload]\nat = [\"0s\"]\n",
        &[],
    );
    let k = key(&r, "client.pool.idle_timeout");
    assert_eq!(k.value, None);
    assert_eq!(k.source, preset("go-database-sql", "client.pool.preset"));
    assert!(r
        .toml()
        .contains("# idle_timeout: none  # preset go-database-sql;"));
}

#[test]
fn a_timeout_set_by_idle_timeout_names_its_line() {
    let r = round_trip(
        "[middlebox]\npreset = \"aws-nat-gateway\"\nidle_timeout = \"60s\"\n[workload]\nat = [\"0s\"]\n",
        &[],
    );
    let k = key(&r, "middlebox.timeouts.established");
    assert_eq!(k.value, Some(s("60s")));
    assert_eq!(k.source, Source::File { line: Some(3) });
}

#[test]
fn unset_and_set_of_array_elements_keep_their_lines() {
    let text = "[[client.requests]]\nname = \"A\"\n\n[[client.requests]]\nname = \"B\"\n[workload]\nat = [\"0s\"]\n";
    let r = round_trip(
        text,
        &[
            Override::Unset("client.requests[0]".into()),
            Override::Set("client.requests[0].timeout=1s".into()),
        ],
    );
    let name = key(&r, "client.requests[0].name");
    assert_eq!(name.value, Some(s("B")));
    assert_eq!(name.source, Source::File { line: Some(5) });
    assert!(matches!(
        key(&r, "client.requests[0].timeout").source,
        Source::Set { .. }
    ));
    // An unset key takes its default again.
    let r = round_trip(
        "[function]\nmemory_mb = 512\n[workload]\nat = [\"0s\"]\n",
        &[Override::Unset("function.memory_mb".into())],
    );
    assert_eq!(key(&r, "function.memory_mb").source, Source::Default);
}

#[test]
fn output_is_deterministic_and_json_says_the_same() {
    let text = corpus().remove(1);
    let a = resolved(&text, &[]);
    let b = resolved(&text, &[]);
    assert_eq!(a.toml(), b.toml());
    assert_eq!(a.json(), b.json());
    let j = a.json();
    assert_eq!(j["file"], "dir/s.toml");
    let keys = j["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), a.keys.len());
    let idle = keys
        .iter()
        .find(|k| k["key"] == "server.tcp.keepalive.idle")
        .expect("keepalive");
    assert_eq!(idle["value"], "300s");
    assert_eq!(
        idle["source"],
        serde_json::json!({ "kind": "preset", "name": "redis7", "key": "server.preset" })
    );
    let port = keys
        .iter()
        .find(|k| k["key"] == "server.port")
        .expect("port");
    assert_eq!(port["source"]["kind"], "default");
    let preset_key = keys
        .iter()
        .find(|k| k["key"] == "server.preset")
        .expect("preset");
    assert_eq!(
        preset_key["source"],
        serde_json::json!({ "kind": "file", "file": "dir/s.toml", "line": 2 })
    );
    assert!(j["omitted"]
        .as_array()
        .expect("omitted")
        .iter()
        .any(|o| o["key"] == "server.thaw_delay"));
    // Tables in the docs' order, keys in their table's.
    let paths: Vec<&str> = a.keys.iter().map(|k| k.path.as_str()).collect();
    let at = |p: &str| paths.iter().position(|x| *x == p).expect(p);
    assert!(at("scenario.name") < at("function.timeout"));
    assert!(at("function.timeout") < at("client.strategy"));
    assert!(at("server.preset") < at("server.name"));
    assert!(at("server.name") < at("server.port"));
    assert!(at("server.port") < at("server.tcp.rto_min"));
}

#[test]
fn a_file_that_does_not_load_gives_its_diagnostics() {
    let e = resolve("bad.toml", "[server]\nidle_timout = \"1s\"\n", &[]).expect_err("bad");
    let text = e.render();
    assert!(text.contains("idle_timout"), "{text}");
}

/// A line break in a `--set` value or the file's name stays inside its
/// comment: the output still loads.
#[test]
fn comments_survive_odd_names_and_values() {
    let text = "[workload]\nat = [\"0s\"]\n";
    let set = Override::Set("scenario.description=\"two\\nlines\"".into());
    let r = resolve("odd\nname\u{7}.toml", text, std::slice::from_ref(&set)).expect("loads");
    let out = r.toml();
    let b = load("x.toml", &out, &[]).unwrap_or_else(|e| panic!("{}\n{out}", e.render()));
    assert_eq!(b.description, "two\nlines");
    assert!(out.contains("# odd\\nname\\u{7}.toml:"), "{out}");
}

/// Durations are written in their shortest exact form, and the loader's
/// parser reads each back to the same nanosecond.
#[test]
fn durations_are_written_exactly() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut values = vec![
        0,
        1,
        999,
        1_000,
        1_000_001,
        1_500_000_000,
        86_400_000_000_000,
        u64::MAX,
    ];
    for _ in 0..10_000 {
        // xorshift: spread over every magnitude.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values.push(x >> (x % 64));
    }
    for ns in values {
        let d = SimDuration::from_nanos(ns);
        let Value::String(text) = dv(d) else {
            panic!("a duration is a string");
        };
        let back: crate::diag::Dur = text.parse().expect("parses");
        assert_eq!(back.0, d, "{text}");
    }
}
