//! Every scenario in sim-scenarios/: expectations hold, the timeline matches
//! its snapshot, and two runs produce byte-identical traces.
use thaw_core::Level;
use thaw_scenario::{load, run_scenario, Scenario};
use thaw_sim::jsonl::{JsonlSink, StreamTimeline};
use thaw_tests::{scenario_files, workspace_root};

/// The name a scenario is loaded under: its full path, so that a
/// `workload.trace` file relative to it is found whatever the working
/// directory of the test.
pub(crate) fn full_name(rel: &std::path::Path) -> String {
    workspace_root().join(rel).to_string_lossy().into_owned()
}

fn load_file(rel: &std::path::Path) -> Scenario {
    let text = std::fs::read_to_string(workspace_root().join(rel)).expect("readable");
    let name = rel.to_string_lossy().replace('\\', "/");
    match load(&full_name(rel), &text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("{name} does not load:\n{}", e.render()),
    }
}

pub(crate) fn trace_bytes(s: &Scenario) -> Vec<u8> {
    let mut sink = JsonlSink::new(Vec::new(), Level::Detail);
    run_scenario(s, None, &mut sink).expect("run finishes");
    sink.finish().expect("in-memory write")
}

#[test]
fn there_are_scenarios() {
    assert!(scenario_files().len() >= 5, "sim-scenarios/ lost its files");
}

#[test]
fn every_scenario_meets_its_expectations() {
    let mut failures = Vec::new();
    for rel in scenario_files() {
        let s = load_file(&rel);
        assert!(
            !s.expectations.is_empty(),
            "{} has no [expect] assertions",
            rel.display()
        );
        let report = run_scenario(&s, None, &mut thaw_core::NullSink).expect("run finishes");
        for e in report.expectations.iter().filter(|e| !e.passed) {
            failures.push(format!(
                "{}: `{}` failed (actual {}); rerun: thaw run {} --seed {}",
                rel.display(),
                e.expr,
                e.actual,
                rel.display(),
                report.seed
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_scenario_timeline_matches_its_snapshot() {
    for rel in scenario_files() {
        let s = load_file(&rel);
        // The sink the CLI prints the timeline with.
        let mut sink = StreamTimeline {
            w: Vec::new(),
            verbose: false,
            quiet: false,
            also: None,
            error: None,
        };
        run_scenario(&s, None, &mut sink).expect("run finishes");
        let text = String::from_utf8(sink.w).expect("UTF-8 timeline");
        let name = rel
            .with_extension("")
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        insta::assert_snapshot!(name, text.strip_suffix('\n').unwrap_or(&text));
    }
}

#[test]
fn every_scenario_is_deterministic() {
    for rel in scenario_files() {
        let s = load_file(&rel);
        let a = trace_bytes(&s);
        let b = trace_bytes(&s);
        assert!(!a.is_empty());
        assert!(
            a == b,
            "{}: two runs produced different traces",
            rel.display()
        );
    }
}

#[test]
fn fix_scenario_fails_again_with_the_old_timeout() {
    let rel = std::path::Path::new("sim-scenarios/seeds/upstash-fix-310s.toml");
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let s = load("fix", &text, &["server.idle_timeout=60s".to_string()]).unwrap();
    let r = run_scenario(&s, None, &mut thaw_core::NullSink).unwrap();
    assert!(!r.passed());
    assert_eq!(r.json["invocations"][1]["error"], "ETIMEDOUT");
}

#[test]
fn graceful_shutdown_without_extension_leaves_zombies() {
    let rel = std::path::Path::new("sim-scenarios/examples/graceful-shutdown-extension.toml");
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    for ext in ["none", "internal"] {
        let set = format!("function.extension={ext}");
        let s = load("shutdown", &text, &[set]).unwrap();
        let r = run_scenario(&s, None, &mut thaw_core::NullSink).unwrap();
        let z = r.json["metrics"]["zombie_connection_seconds"]
            .as_f64()
            .unwrap();
        // Five Sleep connections until wait_timeout 28800 s.
        assert!((z - 144_000.0).abs() < 0.01, "{ext}: {z}");
        assert!(!r.passed(), "{ext}: the zombie bound must fail");
    }
}

#[test]
fn serverless_mysql_zombies_without_cleanup_fail_as_the_seed() {
    let rel = std::path::Path::new("sim-scenarios/incidents/serverless-mysql-zombies.toml");
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let s = load(
        "no-cleanup",
        &text,
        &["client.pool.preset=mysql2".to_string()],
    )
    .unwrap();
    let r = run_scenario(&s, None, &mut thaw_core::NullSink).unwrap();
    let m = &r.json["metrics"];
    assert_eq!(m["errors_by_kind"]["TOO_MANY_CONNECTIONS"], 49);
    assert_eq!(m["server_killed"], 0);
}

/// A scenario with a `[vary]` table carries its own property: `thaw check`
/// over those ranges (a bounded number of cases here) must find no
/// counterexample.
#[test]
fn every_vary_table_property_holds() {
    let mut checked = 0;
    for rel in scenario_files() {
        let text = std::fs::read_to_string(workspace_root().join(&rel)).expect("readable");
        let name = rel.to_string_lossy().replace('\\', "/");
        let p = thaw_explore::Prepared::load(&full_name(&rel), &text, &[]).expect("loads");
        if p.vary().is_empty() {
            continue;
        }
        checked += 1;
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(128);
        match thaw_explore::check::check(&p, p.vary(), cases, 1).expect("checkable") {
            thaw_explore::check::Checked::Passed { .. } => {}
            thaw_explore::check::Checked::Failed(ce) => panic!(
                "{name}: counterexample {:?}: {}; rerun: thaw check {name} --cases {cases} --seed 1",
                ce.settings(),
                ce.reason
            ),
        }
    }
    assert!(checked >= 1, "no scenario carries a [vary] property");
}

/// What the EPIPE scenario's header says: EPIPE needs a second write after
/// the RST. One write, or two writes closer together than the round trip,
/// fail with EOF (the read meets the FIN before the socket error); without
/// the frozen kernel ACKing the FIN the socket is still ESTABLISHED at the
/// RST and the write fails with ECONNRESET.
#[test]
fn epipe_needs_a_write_after_the_rst_in_close_wait() {
    let rel = std::path::Path::new("sim-scenarios/examples/epipe-close-wait-second-write.toml");
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let error = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let s = load("epipe", &text, &sets).unwrap();
        let r = run_scenario(&s, None, &mut thaw_core::NullSink).unwrap();
        r.json["invocations"][1]["error"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(error(&[]).as_deref(), Some("EPIPE"));
    assert_eq!(
        error(&["client.requests[0].writes=1"]).as_deref(),
        Some("EOF")
    );
    assert_eq!(
        error(&["client.requests[0].write_gap=100us"]).as_deref(),
        Some("EOF")
    );
    assert_eq!(
        error(&["function.frozen_kernel=silent"]).as_deref(),
        Some("ECONNRESET")
    );
}

fn run_with(rel: &str, sets: &[&str]) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let s = load(rel, &text, &sets).unwrap_or_else(|e| panic!("{}", e.render()));
    run_scenario(&s, None, &mut thaw_core::NullSink)
        .unwrap()
        .json
}

/// What lognormal-handler-scale-out's header says: the same handler with a
/// fixed 200ms (its median) needs one environment and one connection, and
/// the lognormal one's figures do not depend on other streams' draws.
#[test]
fn a_fixed_median_handler_time_needs_one_environment() {
    let rel = "sim-scenarios/examples/lognormal-handler-scale-out.toml";
    let fixed = run_with(rel, &["function.handler_time=200ms"]);
    assert_eq!(fixed["metrics"]["environments"], 1);
    assert_eq!(fixed["metrics"]["connections_opened"], 1);
    let varied = run_with(rel, &[]);
    assert_eq!(varied["metrics"]["environments"], 3);
    // A distributed init duration draws from its own stream: the handler
    // draws, and so the invocations that overlap, stay the same.
    let init = run_with(
        rel,
        &["function.init_duration={ uniform = [\"200ms\", \"200ms\"] }"],
    );
    assert_eq!(init["metrics"]["environments"], 3);
    assert_eq!(init["invocations"], varied["invocations"]);
}

/// What latency-tail-request-timeout's header says: the failures come
/// from the slow connections' draws; the same median fixed, or a timeout
/// above the tail, fails nothing, and the draws are those of the network
/// streams only (a distributed handler time leaves them alone).
#[test]
fn a_fixed_median_latency_never_times_out() {
    let rel = "sim-scenarios/examples/latency-tail-request-timeout.toml";
    let varied = run_with(rel, &[]);
    assert_eq!(varied["metrics"]["errors_by_kind"]["REQUEST_TIMEOUT"], 3);
    for set in [
        "network.client_latency=1ms",
        "client.requests[0].timeout=25ms",
    ] {
        let j = run_with(rel, &[set]);
        assert_eq!(j["metrics"]["errors"], 0, "{set}");
    }
    let other = run_with(
        rel,
        &["function.handler_time={ uniform = [\"1ms\", \"1ms\"] }"],
    );
    assert_eq!(other["metrics"]["errors"], varied["metrics"]["errors"]);
}

/// What the library scenarios' headers say of their variants: node-redis
/// rejects the command in flight where ioredis resends it, so the GET
/// after the thaw fails instead of succeeding, and the INCR whose reply was
/// lost fails instead of being applied twice.
#[test]
fn node_redis_rejects_what_ioredis_resends() {
    let j = run_with(
        "sim-scenarios/libraries/ioredis-reconnect-after-freeze.toml",
        &["client.library.preset=node-redis"],
    );
    assert_eq!(j["invocations"][1]["error"], "ECONNRESET");
    assert_eq!(j["invocations"][2]["outcome"], "ok");
    let j = run_with(
        "sim-scenarios/libraries/ioredis-resend-duplicate-write.toml",
        &["client.library.preset=node-redis"],
    );
    assert_eq!(j["invocations"][1]["error"], "ECONNRESET");
    assert_eq!(j["metrics"]["duplicate_writes"], 0);
    // ioredis with the resend turned off behaves the same way.
    let j = run_with(
        "sim-scenarios/libraries/ioredis-resend-duplicate-write.toml",
        &["client.library.in_flight=reject"],
    );
    assert_eq!(j["invocations"][1]["error"], "ECONNRESET");
    assert_eq!(j["metrics"]["duplicate_writes"], 0);
}

fn outcomes(j: &serde_json::Value) -> Vec<String> {
    j["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["error"].as_str().unwrap_or("ok").to_string())
        .collect()
}

/// What the HTTP keep-alive and gRPC scenarios' headers say of their
/// variants: the thaw order, the frozen kernel and the server's timeout
/// decide the keep-alive race; the gRPC PING fails the next call only when
/// it is in flight at the freeze, a window of one round trip (80 ms).
#[test]
fn keepalive_races_follow_the_timing_their_headers_state() {
    let http = "sim-scenarios/libraries/http-keepalive-node-agent-after-freeze.toml";
    assert_eq!(outcomes(&run_with(http, &[])), ["ok", "ECONNRESET", "ok"]);
    let j = run_with(http, &["function.thaw_order=events_first"]);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    assert_eq!(j["metrics"]["connections_opened"], 2, "closed by the agent");
    let j = run_with(http, &["function.frozen_kernel=running"]);
    assert_eq!(outcomes(&j), ["ok", "EOF", "ok"]);
    let j = run_with(http, &["server.preset=nginx"]);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    assert_eq!(j["metrics"]["connections_opened"], 1);
    let grpc = "sim-scenarios/libraries/grpc-keepalive-ping-timeout-on-thaw.toml";
    for (work, want) in [
        ("4.9s", "ok"),
        ("5.0001s", "UNAVAILABLE"),
        ("5.0799s", "UNAVAILABLE"),
        ("5.0801s", "ok"),
    ] {
        let set = format!("client.requests[0].work_after={work}");
        let j = run_with(grpc, &[&set]);
        assert_eq!(outcomes(&j)[1], want, "work_after {work}");
    }
}

/// The docs list every error kind, library preset and server preset the
/// code knows (a kind added without its meaning fails here).
#[test]
fn docs_name_every_error_kind_and_preset() {
    let model = std::fs::read_to_string(workspace_root().join("docs/model.md")).unwrap();
    let format = std::fs::read_to_string(workspace_root().join("docs/scenario-format.md")).unwrap();
    let kinds_list = format
        .split("Error kinds (`report.rs` `ErrorKind::ALL`)")
        .nth(1)
        .and_then(|s| s.split("Evaluation").next())
        .expect("the list of error kinds in scenario-format.md");
    for k in thaw_sim::ErrorKind::ALL {
        let name = format!("`{}`", k.name());
        assert!(
            model.contains(&format!("| {name} |")),
            "model.md §6 has no row for {name}"
        );
        assert!(
            kinds_list.contains(&name),
            "scenario-format.md lists no {name}"
        );
    }
    for p in thaw_client::library::presets::NAMES {
        assert!(
            format.contains(&format!("`\"{p}\"`")),
            "scenario-format.md: library preset {p}"
        );
        assert!(
            model.contains(&format!("| `{p}` |")),
            "model.md: preset {p}"
        );
    }
    for p in ["node-http", "nginx", "aws-alb", "grpc"] {
        assert!(format.contains(&format!("`\"{p}\"`")), "server preset {p}");
        assert!(
            model.contains(&format!("| `{p}` |")),
            "model.md: server preset {p}"
        );
    }
}

/// A VPC-attached Lambda's path: which of the Hyperplane ENI and the NAT
/// gateway forgets the flow first decides between a reset and a hang, and
/// the ENI's idle timeout, which AWS does not publish, must be stated.
#[test]
fn the_vpc_path_depends_on_the_enis_assumed_timeout() {
    let rel = "sim-scenarios/examples/vpc-lambda-path.toml";
    let j = run_with(rel, &[]);
    assert_eq!(outcomes(&j), ["ok", "ECONNRESET", "ok"]);
    let j = run_with(rel, &["middleboxes[0].idle_timeout=350s"]);
    assert_eq!(outcomes(&j), ["ok", "FUNCTION_TIMEOUT", "ok"]);
    assert_eq!(
        j["invocations"][2]["cold"], true,
        "the environment was reset"
    );
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let text = text.replace("idle_timeout = \"3600s\"", "");
    let Err(e) = load(rel, &text, &[]) else {
        panic!("a Hyperplane ENI without an idle timeout was accepted");
    };
    let e = e.render();
    assert!(
        e.contains("documents no idle timeout for the Hyperplane ENI"),
        "{e}"
    );
    assert!(
        e.contains("middleboxes[0].preset") || e.contains("aws-hyperplane-eni"),
        "{e}"
    );
}

/// Work left pending by one invocation (model.md 6.4): what the header of
/// the scenario says of its variants, and where `await = false` is refused.
#[test]
fn a_request_nobody_awaits_fails_a_later_invocation() {
    let rel = "sim-scenarios/examples/unawaited-write-crashes-next-invocation.toml";
    let j = run_with(rel, &[]);
    assert_eq!(outcomes(&j), ["ok", "ok", "UNHANDLED_REJECTION", "ok"]);
    assert_eq!(j["invocations"][3]["cold"], true, "the runtime exited");
    assert_eq!(j["invocations"][2]["target"], "cache", "the LPUSH's server");
    // Awaited, the reset is invocation 2's own error, and nothing crashes.
    let j = run_with(rel, &["client.requests[1].await=true"]);
    assert_eq!(outcomes(&j), ["ok", "ECONNRESET", "ok", "ok"]);
    assert_eq!(j["metrics"]["environments"], 1);
    for strategy in ["pool", "http", "per_invocation"] {
        let text = format!(
            "[client]\nstrategy = \"{strategy}\"\n{}[[client.requests]]\nname = \"Q\"\nawait = false\n[workload]\nat = [\"0s\"]\n",
            if strategy == "pool" { "[client.pool]\npreset = \"pg-pool\"\n" } else { "" }
        );
        let Err(e) = load("await.toml", &text, &[]) else {
            panic!("await = false accepted with strategy {strategy}");
        };
        let r = e.render();
        // Unwrapped: the rendering breaks long lines.
        let flat = r
            .split_whitespace()
            .filter(|w| *w != "│")
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            flat.contains("does not await") || flat.contains("every request is awaited"),
            "{r}"
        );
    }
}

/// TLS (model.md 2.12): what the reconnect after the thaw costs with TLS
/// 1.2, 1.3 and none, as the scenario's header states, and that every
/// connection path (plain client, pool, library) runs the handshake.
#[test]
fn tls_adds_its_round_trips_and_cpu_to_every_new_connection() {
    let rel = "sim-scenarios/examples/tls-reconnect-cost.toml";
    let lat = |j: &serde_json::Value, i: usize| j["invocations"][i]["latency_s"].as_f64().unwrap();
    let v12 = run_with(rel, &[]);
    let v13 = run_with(rel, &["client.tls.version=1.3"]);
    let bare = {
        let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
        let text = text.replace("[client.tls]\nversion = \"1.2\"\n", "");
        let s = load(rel, &text, &[]).unwrap_or_else(|e| panic!("{}", e.render()));
        run_scenario(&s, None, &mut thaw_core::NullSink)
            .unwrap()
            .json
    };
    // One round trip is 4 ms; TLS's CPU 1 ms of a vCPU is 13.8 ms at 128 MB.
    assert!(
        (lat(&v12, 2) - lat(&v13, 2) - 0.0041).abs() < 0.0002,
        "one round trip less"
    );
    assert!(
        (lat(&v13, 2) - lat(&bare, 2) - 0.0139).abs() < 0.0003,
        "TLS's CPU"
    );
    for rel in [
        "sim-scenarios/incidents/pg-pool-idle-session-timeout.toml",
        "sim-scenarios/libraries/ioredis-reconnect-after-freeze.toml",
        "sim-scenarios/seeds/upstash-etimedout.toml",
    ] {
        let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
        let with = format!("{text}\n[client.tls]\nversion = \"1.2\"\ncpu = \"0s\"\n");
        let s = load(rel, &with, &[]).unwrap_or_else(|e| panic!("{}", e.render()));
        let tls = run_scenario(&s, None, &mut thaw_core::NullSink)
            .unwrap()
            .json;
        let plain = run_with(rel, &[]);
        // Two more round trips (0.5 to 1 ms each here) on the cold
        // start's connection, less what overlaps a server's greeting.
        let d = lat(&tls, 0) - lat(&plain, 0);
        assert!(d > 0.0009 && d < 0.0025, "{rel}: {d}");
    }
}

/// ioredis 6's jittered reconnect after a freeze stays within its
/// formula's range on every seed, where ioredis 5 always takes 50 ms.
#[test]
fn ioredis6_reconnect_delay_is_jittered_within_its_formula() {
    let rel = "sim-scenarios/libraries/ioredis6-reconnect-jitter-after-freeze.toml";
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let s = load(rel, &text, &[]).unwrap_or_else(|e| panic!("{}", e.render()));
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=20 {
        let j = run_scenario(&s, Some(seed), &mut thaw_core::NullSink)
            .unwrap()
            .json;
        let l = j["invocations"][1]["latency_s"].as_f64().unwrap();
        assert!((0.059..0.261).contains(&l), "seed {seed}: {l}");
        seen.insert((l * 1000.0) as u64);
    }
    assert!(seen.len() > 10, "the jitter varies: {seen:?}");
    let j = run_with(rel, &["client.library.preset=ioredis"]);
    let l = j["invocations"][1]["latency_s"].as_f64().unwrap();
    assert!((l - 0.0596).abs() < 0.0005, "ioredis 5: {l}");
}

/// A server outage (`server.outages`): what ioredis 5 and 6 make the next
/// invocation wait, as the scenario's header states, and that a stopped
/// server's port refuses connections until it is back.
#[test]
fn a_redis_restart_costs_what_the_reconnect_policy_says() {
    let rel = "sim-scenarios/libraries/ioredis-redis-restart-max-retries.toml";
    let j = run_with(rel, &[]);
    assert_eq!(outcomes(&j), ["ok", "MAX_RETRIES", "ok"]);
    let detail = j["invocations"][1]["detail"].as_str().unwrap();
    assert!(detail.contains("ECONNREFUSED"), "{detail}");
    let j = run_with(rel, &["client.library.preset=ioredis6"]);
    assert_eq!(outcomes(&j), ["ok", "FUNCTION_TIMEOUT", "ok"]);
    assert_eq!(j["invocations"][2]["cold"], true);
    // Without the outage nothing fails.
    let j = run_with(rel, &["server.outages=[]"]);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    // Overlapping windows are refused.
    let Err(e) = load(
        "o.toml",
        "[server]\noutages = [{ at = \"10s\", duration = \"5s\" }, { at = \"12s\", duration = \"5s\" }]\n[[client.requests]]\nname = \"Q\"\n[workload]\nat = [\"0s\"]\n",
        &[],
    ) else {
        panic!("overlapping outages accepted");
    };
    assert!(e.render().contains("must not overlap"), "{}", e.render());
}

/// A close that reaches a running function while its connection is idle:
/// a library with a read loop (node-redis) or a check at checkout
/// (redis-py, go-redis) replaces the connection; redis-rs over RESP2 learns
/// of it only from the next command, which fails (model.md 6.1).
#[test]
fn only_libraries_that_read_or_check_an_idle_socket_see_a_close_in_time() {
    let text = "[function]\ninit_duration = \"150ms\"\ntimeout = \"30s\"\n[client]\nstrategy = \"global\"\n[client.library]\npreset = \"redis-rs\"\n[[client.requests]]\nname = \"GET a\"\nop = \"read\"\nkey = 1\nwork_after = \"10s\"\n[[client.requests]]\nname = \"GET b\"\nop = \"read\"\nkey = 2\n[server]\npreset = \"redis7\"\nidle_timeout = \"5s\"\n[workload]\nat = [\"0s\"]\n";
    for (preset, want) in [
        ("redis-rs", "EOF"),
        ("node-redis", "ok"),
        ("redis-py", "ok"),
        ("go-redis", "ok"),
    ] {
        let set = format!("client.library.preset={preset}");
        let s = load("idle.toml", text, &[set]).unwrap_or_else(|e| panic!("{}", e.render()));
        let j = run_scenario(&s, None, &mut thaw_core::NullSink)
            .unwrap()
            .json;
        assert_eq!(outcomes(&j), [want], "{preset}");
    }
}

/// A server inside the environment (model.md 5.14): what the Lambda Web
/// Adapter scenarios' headers say of their variants. Which process runs
/// first after the thaw decides between RST, EOF and success; a freeze
/// shorter than the application's 6 s keep-alive leaves no timer overdue;
/// the adapter's 4 s pool idle timeout avoids the race whatever the order.
#[test]
fn a_server_in_the_environment_races_the_function_at_the_thaw() {
    let race = "sim-scenarios/libraries/lambda-web-adapter-localhost-keepalive-race.toml";
    let fix = "sim-scenarios/libraries/lambda-web-adapter-pool-idle-fix.toml";
    assert_eq!(outcomes(&run_with(race, &[])), ["ok", "ECONNRESET", "ok"]);
    let j = run_with(race, &["server.thaw_delay=0s"]);
    assert_eq!(outcomes(&j), ["ok", "EOF", "ok"]);
    let j = run_with(race, &["function.thaw_order=events_first"]);
    assert_eq!(outcomes(&j), ["ok", "ECONNRESET", "ok"]);
    let j = run_with(
        race,
        &["server.thaw_delay=0s", "function.thaw_order=events_first"],
    );
    assert_eq!(outcomes(&j), ["ok", "EOF", "ok"]);
    let j = run_with(race, &["function.handler_time=200us"]);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    assert_eq!(j["metrics"]["connections_opened"], 2, "a new connection");
    let j = run_with(race, &["workload.at=[\"0s\", \"5s\", \"6s\"]"]);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    assert_eq!(j["metrics"]["connections_opened"], 1, "one connection");
    for sets in [
        &[][..],
        &["server.thaw_delay=0s"][..],
        &["function.thaw_order=events_first"][..],
    ] {
        let j = run_with(fix, sets);
        assert_eq!(outcomes(&j), ["ok", "ok", "ok"], "{sets:?}");
    }
    // The server is frozen with the function: its connection is never a
    // zombie, and it vanishes with the environment at reap.
    let j = run_with(race, &[]);
    assert_eq!(j["metrics"]["zombie_connection_seconds"], 0.0);
    assert_eq!(j["metrics"]["server_connections_at_end"], 0);
}

/// Every environment has its own instance of a server inside it: each
/// has its own connection limit, and a reaped environment's instance is
/// gone (the next environment starts its own).
#[test]
fn each_environment_has_its_own_server_inside() {
    let text = "[function]\ninit_duration = \"100ms\"\nreap_after = \"60s\"\n[client]\nstrategy = \"global\"\n[[client.requests]]\nname = \"GET\"\nop = \"read\"\nkey = 1\nwork_after = \"2s\"\n[server]\nname = \"sidecar\"\nlocation = \"environment\"\nmax_connections = 1\n[workload]\nat = [\"0s\", \"0.5s\", \"1s\", \"100s\"]\n";
    let s = load("local.toml", text, &[]).unwrap_or_else(|e| panic!("{}", e.render()));
    let mut tl = thaw_core::VecSink::default();
    let r = run_scenario(&s, None, &mut tl).unwrap();
    // Three overlapping invocations: three environments, three
    // instances, one connection each (a shared server with
    // max_connections = 1 would refuse two of them).
    assert_eq!(outcomes(&r.json), ["ok", "ok", "ok", "ok"]);
    let starts: Vec<String> = tl
        .records
        .iter()
        .filter(|x| x.event == "local_server_start")
        .map(|x| x.component.clone())
        .collect();
    assert_eq!(
        starts,
        [
            "sidecar@env-1",
            "sidecar@env-2",
            "sidecar@env-3",
            "sidecar@env-4"
        ],
        "the 100 s invocation finds every environment reaped (60 s)"
    );
    assert_eq!(
        r.json["metrics"]["servers"]["sidecar"]["connections_peak"],
        1
    );
}

/// What does not apply to a server inside the environment is refused with
/// the key and a hint, all at once.
#[test]
fn a_server_in_the_environment_refuses_remote_only_keys() {
    let text = "[[middleboxes]]\nname = \"nat\"\npreset = \"aws-nat-gateway\"\n[[servers]]\nname = \"db\"\n[[servers]]\nname = \"side\"\nlocation = \"environment\"\npath = [\"nat\"]\noutages = [{ at = \"1s\", duration = \"1s\" }]\n[[servers]]\nname = \"far\"\nthaw_delay = \"1ms\"\n[proxy]\npreset = \"pgbouncer\"\nserver = \"side\"\n[[client.requests]]\nname = \"Q\"\ntarget = \"side\"\n[workload]\nat = [\"0s\"]\n";
    let Err(e) = load("bad.toml", text, &[]) else {
        panic!("accepted");
    };
    let r = e.render();
    for want in [
        "bad.toml:9:",
        "`path` does not apply to a server with location = \"environment\"",
        "bad.toml:10:",
        "`outages` does not apply",
        "bad.toml:13:",
        "`thaw_delay` applies only to a server with location = \"environment\"",
        "fronts \"side\", which runs inside the environment",
    ] {
        assert!(r.contains(want), "{want} missing from:\n{r}");
    }
    let too_many = "[function]\nmax_concurrency = 40000\n[server]\nlocation = \"environment\"\n[[client.requests]]\nname = \"Q\"\n[workload]\nat = [\"0s\"]\n";
    let Err(e) = load("many.toml", too_many, &[]) else {
        panic!("accepted");
    };
    assert!(
        e.render().contains("need 40001 server instances"),
        "{}",
        e.render()
    );
}

/// TLS session resumption (model.md 2.12): the reconnect after the thaw
/// at 128 MB with the environment's session is one round trip (4.1 ms)
/// and half the handshake CPU (0.5 ms of a vCPU: 6.91 ms at 128 MB)
/// faster than without (tls-reconnect-cost); with TLS 1.3 only the CPU;
/// an expired session costs the full handshake again.
#[test]
fn tls_resumption_saves_a_round_trip_and_cpu_until_the_session_expires() {
    let fix = "sim-scenarios/examples/tls-resumption-fix.toml";
    let lat = |j: &serde_json::Value, i: usize| j["invocations"][i]["latency_s"].as_f64().unwrap();
    let with = run_with(fix, &[]);
    let without = run_with(fix, &["client.tls.resumption=false"]);
    let cost = run_with("sim-scenarios/examples/tls-reconnect-cost.toml", &[]);
    assert_eq!(lat(&without, 2), lat(&cost, 2), "the same reconnect");
    let cpu = 0.0005 * 1769.0 / 128.0;
    let d = lat(&without, 2) - lat(&with, 2);
    assert!((d - 0.0041 - cpu).abs() < 0.0002, "TLS 1.2: {d}");
    // 400 s: the session of 0.23 s is older than 300 s: a full handshake.
    assert_eq!(lat(&with, 4), lat(&without, 4), "expired session");
    let d = lat(&with, 4) - lat(&with, 2);
    assert!((d - 0.0041 - cpu).abs() < 0.0002, "after expiry: {d}");
    // A longer lifetime keeps it: the fifth invocation resumes too.
    let long = run_with(fix, &["client.tls.session_lifetime=\"1h\""]);
    assert_eq!(lat(&long, 4), lat(&with, 2), "resumed at 401 s");
    let v13 = run_with(fix, &["client.tls.version=1.3"]);
    let v13_off = run_with(
        fix,
        &["client.tls.version=1.3", "client.tls.resumption=false"],
    );
    let d = lat(&v13_off, 2) - lat(&v13, 2);
    assert!((d - cpu).abs() < 0.0002, "TLS 1.3: CPU only: {d}");
    // The server's handshake CPU delays a full handshake's first answer,
    // not a resumed one's.
    let srv = run_with(fix, &["client.tls.server_cpu=\"3ms\""]);
    assert!((lat(&srv, 0) - lat(&with, 0) - 0.003).abs() < 1e-6);
    assert!((lat(&srv, 2) - lat(&with, 2)).abs() < 1e-9);
    assert!((lat(&srv, 4) - lat(&with, 4) - 0.003).abs() < 1e-6);
}

/// close_notify (model.md 2.12): a TLS client that reads the server's
/// idle close reports whether close_notify came first; a server process
/// that ends sends none; the error stays EOF.
#[test]
fn a_tls_eof_says_whether_close_notify_came_first() {
    let base = r#"
[scenario]
name = "close-notify"
[function]
frozen_kernel = "running"
[client]
strategy = "global"
[client.tls]
[[client.requests]]
name = "GET"
[server]
preset = "redis7"
idle_timeout = "60s"
[workload]
at = ["0s", "100s"]
"#;
    let run = |text: &str| {
        let s = load("close-notify.toml", text, &[]).unwrap_or_else(|e| panic!("{}", e.render()));
        run_scenario(&s, None, &mut thaw_core::NullSink)
            .unwrap()
            .json
    };
    let detail = |j: &serde_json::Value| {
        assert_eq!(j["invocations"][1]["error"], "EOF");
        j["invocations"][1]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let clean = detail(&run(base));
    assert!(
        clean.contains("after the server's TLS close_notify"),
        "{clean}"
    );
    let off = base.replace("[client.tls]", "[client.tls]\nclose_notify = false");
    let bare = detail(&run(&off));
    assert!(bare.contains("without TLS close_notify"), "{bare}");
    let stop = format!("{base}\n[[server.outages]]\nat = \"30s\"\nduration = \"10s\"\n");
    let crash = detail(&run(&stop));
    assert!(crash.contains("without TLS close_notify"), "{crash}");
    let plain = detail(&run(&base.replace("[client.tls]\n", "")));
    assert!(!plain.contains("close_notify"), "{plain}");
}

/// A quit nobody awaits (model.md 6.4): its 30 s timeout is a runtime
/// timer. A freeze longer than it leaves it overdue at the thaw, and its
/// rejection fails that invocation, whichever thaw order; a shorter one
/// moves the failure to the first thaw after the timer is due; a kernel
/// that runs while frozen takes the FIN in time. Awaiting `end()` leaves
/// nothing pending.
#[test]
fn a_quit_timer_left_pending_fires_at_the_next_thaw() {
    let race = "sim-scenarios/libraries/mysql-quit-timeout-after-freeze.toml";
    let want_fail = ["ok", "UNHANDLED_REJECTION", "ok"];
    let all_ok = ["ok", "ok", "ok"];
    assert_eq!(outcomes(&run_with(race, &[])), want_fail);
    assert_eq!(
        outcomes(&run_with(race, &["function.thaw_order=events_first"])),
        want_fail
    );
    assert_eq!(
        outcomes(&run_with(race, &["function.frozen_kernel=running"])),
        all_ok
    );
    for (gap, want) in [
        ("29s", ["ok", "ok", "UNHANDLED_REJECTION"]),
        ("31s", want_fail),
    ] {
        let set = format!("workload.at=[\"0s\", \"{gap}\", \"40s\"]");
        assert_eq!(outcomes(&run_with(race, &[&set])), want, "gap {gap}");
    }
    let j = run_with(race, &[]);
    let detail = j["invocations"][1]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("Quit inactivity timeout"), "{detail}");
    let fix = "sim-scenarios/libraries/mysql-quit-awaited-fix.toml";
    assert_eq!(outcomes(&run_with(fix, &[])), all_ok);
    // The awaited QUIT costs one round trip (1 ms here) and then the
    // connection is gone: the next invocation opens a new one.
    let j = run_with(fix, &[]);
    assert_eq!(j["metrics"]["connections_opened"], 3);
    // Through a pool or a library, a quit is refused with a hint.
    let text = std::fs::read_to_string(workspace_root().join(race)).unwrap();
    let Err(e) = load(race, &text, &["client.strategy=pool".to_string()]) else {
        panic!("accepted");
    };
    assert!(
        e.render().contains("`op = \"quit\"` is modelled"),
        "{}",
        e.render()
    );
}

/// What npgsql-keepalive-frozen-on-thaw's header says of its variants:
/// across a forgotten flow the keepalive fails the query in either thaw
/// order (with events_first through the keepalive that breaks the
/// connector the handler waits on); when the close is already in the
/// socket at the thaw (a server's idle close, a running frozen kernel)
/// the order decides: events_first lets the keepalive find it and the
/// checkout open a new connection.
#[test]
fn npgsql_keepalive_races_the_handler_at_thaw() {
    let f = "sim-scenarios/libraries/npgsql-keepalive-frozen-on-thaw.toml";
    let j = run_with(f, &["function.thaw_order=events_first"]);
    assert_eq!(outcomes(&j), ["ok", "ECONNRESET", "ok"]);
    let detail = j["invocations"][1]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("Exception while sending a keepalive"),
        "{detail}"
    );
    // Without the keepalive the same traffic fails the same way.
    let j = run_with(f, &["client.pool.keepalive_query=0s"]);
    assert_eq!(outcomes(&j), ["ok", "ECONNRESET", "ok"]);
    // The server's idle close, queued in a running frozen kernel.
    let server_close = [
        "middlebox.idle_timeout=3600s",
        "server.idle_timeout=300s",
        "function.frozen_kernel=running",
    ];
    let j = run_with(f, &server_close);
    assert_eq!(outcomes(&j), ["ok", "SERVER_IDLE_CLOSED", "ok"]);
    let mut sets = server_close.to_vec();
    sets.push("function.thaw_order=events_first");
    let j = run_with(f, &sets);
    assert_eq!(outcomes(&j), ["ok", "ok", "ok"]);
    assert_eq!(j["metrics"]["connections_opened"], 2);
    // Without the keepalive, events_first does not help: Npgsql ignores
    // the FIN of an idle connection.
    sets.push("client.pool.keepalive_query=0s");
    let j = run_with(f, &sets);
    assert_eq!(outcomes(&j), ["ok", "SERVER_IDLE_CLOSED", "ok"]);
    let fix = "sim-scenarios/libraries/npgsql-keepalive-retry-fix.toml";
    for order in ["handler_first", "events_first"] {
        let set = format!("function.thaw_order={order}");
        assert_eq!(outcomes(&run_with(fix, &[&set])), ["ok", "ok", "ok"]);
    }
}

/// The records of a scenario's run, parsed.
fn records(rel: &str) -> Vec<serde_json::Value> {
    let bytes = trace_bytes(&load_file(std::path::Path::new(rel)));
    String::from_utf8(bytes)
        .expect("UTF-8 trace")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect()
}

#[test]
fn upstash_orphan_dies_after_its_six_retransmissions_and_before_90s() {
    // S3: the server's socket is "fully closed by 90 s". thaw's reason:
    // the orphan retransmits its FIN into the firewall and gives up after
    // tcp_orphan_retries = 6, i.e. when retransmits_timed_out() passes
    // tcp_model_timeout(6, 200 ms) = 127 × 200 ms = 25.4 s, counted from
    // the first retransmission (at least one RTO, 200 ms, after the FIN).
    // The snapshot pins the exact instant; this pins the rule.
    let recs = records("sim-scenarios/seeds/upstash-etimedout.toml");
    let t = |r: &serde_json::Value| r["t_ns"].as_u64().expect("t_ns") as f64 / 1e9;
    let state = |r: &serde_json::Value, from: &str, to: &str| {
        r["component"] == "upstash"
            && r["event"] == "tcp_state"
            && r["from"] == from
            && r["to"] == to
    };
    let fin = recs
        .iter()
        .find(|r| state(r, "ESTABLISHED", "FIN_WAIT1"))
        .expect("the server closes the idle connection");
    let dead = recs
        .iter()
        .find(|r| state(r, "FIN_WAIT1", "CLOSED"))
        .expect("the orphan dies");
    let gave_up = recs
        .iter()
        .find(|r| r["event"] == "tcp_note" && r["t_ns"] == dead["t_ns"])
        .expect("a note says why");
    assert!(
        gave_up["text"]
            .as_str()
            .is_some_and(|s| s.contains("tcp_orphan_retries = 6")),
        "{gave_up}"
    );
    let (t0, t1) = (t(fin), t(dead));
    assert!(t1 - t0 >= 25.4 + 0.2, "died {:.3} s after its FIN", t1 - t0);
    assert!(t1 - t0 < 27.0, "died {:.3} s after its FIN", t1 - t0);
    assert!(t1 < 90.0, "closed at {t1:.3} s, S3 says by 90 s");
}
