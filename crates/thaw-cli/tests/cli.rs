//! The `thaw run` contract: exit codes, JSON report shape, trace file, and
//! the rerun line printed on failure.
mod common;
use common::thaw;

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";
const FIX: &str = "sim-scenarios/seeds/upstash-fix-310s.toml";

#[test]
fn run_prints_the_timeline_and_exits_0() {
    let out = thaw(&["run", UPSTASH]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "upstash closes the connection from env-1:32768",
        "reaches frozen env-1: no ACK, no RST",
        "gives up after 6 retransmission(s) (tcp_orphan_retries = 6)",
        "firewall silently drops data",
        "inv-2 fails with ETIMEDOUT",
        "env-1 reaped after 300s idle",
        "cold start of env-2",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn json_report_has_the_contract_shape() {
    let out = thaw(&["run", UPSTASH, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for k in [
        "scenario",
        "seed",
        "version",
        "invocations",
        "metrics",
        "expectations",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    let inv = &v["invocations"][1];
    for k in [
        "id",
        "at_s",
        "container",
        "cold",
        "outcome",
        "error",
        "latency_s",
    ] {
        assert!(inv.get(k).is_some(), "invocation misses {k}");
    }
    assert_eq!(inv["error"], "ETIMEDOUT");
    assert_eq!(inv["outcome"], "error");
    for k in [
        "invocations",
        "cold_starts",
        "errors_by_kind",
        "latency_p50_s",
        "latency_p99_s",
        "server_connections_peak",
        "zombie_connection_seconds",
        "stale_reads",
        "duplicate_writes",
        "events",
    ] {
        assert!(v["metrics"].get(k).is_some(), "metrics misses {k}");
    }
    let e = &v["expectations"][0];
    for k in ["expr", "passed", "actual"] {
        assert!(e.get(k).is_some(), "expectation misses {k}");
    }
}

#[test]
fn failed_expectation_exits_1_with_seed_and_rerun_line() {
    let out = thaw(&["run", FIX, "--set", "server.idle_timeout=60s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "seed 1; rerun: thaw run {FIX} --seed 1 --set server.idle_timeout=60s"
        )),
        "{err}"
    );
}

#[test]
fn seed_flag_is_reported() {
    let out = thaw(&["run", UPSTASH, "--format", "json", "--seed", "7"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["seed"], 7);
}

#[test]
fn bad_input_exits_2_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[server]\nidle_timout = \"60s\"\n[workload]\nat = [\"-1s\"]\n",
    )
    .unwrap();
    let out = thaw(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.toml:2:1"), "{err}");
    assert!(err.contains("bad.toml:4:"), "{err}");
    assert!(err.contains("did you mean `idle_timeout`"), "{err}");
    assert!(err.contains("2 problems"), "{err}");

    let out = thaw(&["run", "no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = thaw(&["run", UPSTASH, "--set", "server.idle_timout=1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `idle_timeout`"));
    let out = thaw(&["run", UPSTASH, "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn budget_exceeded_exits_3() {
    let out = thaw(&["run", UPSTASH, "--set", "run.event_budget=10"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("event budget of 10"), "{err}");
    assert!(err.contains("rerun: thaw run"), "{err}");
}

#[test]
fn trace_file_is_json_lines_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    assert_eq!(
        thaw(&["run", UPSTASH, "--trace", a.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        thaw(&["run", UPSTASH, "--trace", b.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let ta = std::fs::read(&a).unwrap();
    assert_eq!(ta, std::fs::read(&b).unwrap());
    let text = String::from_utf8(ta).unwrap();
    let mut last = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["t_ns"].as_u64().unwrap();
        assert!(t >= last, "time went backwards");
        last = t;
        assert!(v["component"].is_string() && v["event"].is_string() && v["text"].is_string());
    }
    assert!(text.lines().count() > 50);
}
