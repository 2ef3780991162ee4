//! The harness against thaw's model: the same scenarios with real client
//! crates (redis, tokio-postgres, bb8) give the same per-invocation
//! outcomes as `thaw run`, at the same instants where the scenario's point
//! is a timing; runs are deterministic; the three examples run.
#![allow(dead_code)]

#[path = "../examples/bb8_reaper.rs"]
mod bb8_reaper;
#[path = "../examples/postgres_idle.rs"]
mod postgres_idle;
#[path = "../examples/upstash_redis.rs"]
mod upstash_redis;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use thaw_harness::{Function, Harness, HarnessReport};
use thaw_sim::{ErrorKind, Outcome};

fn scenario(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn model(rel: &str, sets: &[&str]) -> Vec<Outcome> {
    let path = scenario(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let s = thaw_scenario::load(rel, &text, &sets).unwrap();
    thaw_sim::run(&s.config, &mut thaw_core::NullSink, true)
        .unwrap()
        .outcomes
}

fn harness<F: Function>(rel: &str, sets: &[&str], f: F) -> HarnessReport {
    Harness::from_scenario(scenario(rel), sets, f)
        .unwrap()
        .run()
        .unwrap()
}

/// (error kind, cold, environment) per invocation.
fn shape(o: &[Outcome]) -> Vec<(Option<ErrorKind>, bool, u32)> {
    o.iter().map(|o| (o.error, o.cold, o.container)).collect()
}

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";
const POSTGRES: &str = "sim-scenarios/examples/postgres-idle-session-kept.toml";
const BB8: &str = "sim-scenarios/examples/bb8-redis-idle-thaw.toml";

fn redis_kernel() -> upstash_redis::CachedRedis {
    upstash_redis::CachedRedis {
        response_timeout: None,
    }
}

#[test]
fn upstash_with_the_redis_crate_fails_like_the_model_at_the_same_nanosecond() {
    let h = harness(UPSTASH, &[], redis_kernel());
    let m = model(UPSTASH, &[]);
    assert_eq!(shape(&h.report.result.outcomes), shape(&m));
    assert!(h.report.passed(), "{:?}", h.report.expectations);
    let inv2 = &m[1];
    assert_eq!(inv2.error, Some(ErrorKind::Etimedout));
    let code = h.code(2).unwrap();
    assert_eq!(code.errno, Some(110));
    assert_eq!(code.io_kind, Some(std::io::ErrorKind::TimedOut));
    assert_eq!(code.at, inv2.at + inv2.latency);
    assert_eq!(code.at.as_nanos(), 96_408_000_000);
}

#[test]
fn upstash_fix_holds_with_the_redis_crate() {
    let sets = ["server.idle_timeout=310s"];
    let h = harness(UPSTASH, &sets, redis_kernel());
    assert_eq!(
        shape(&h.report.result.outcomes),
        shape(&model(UPSTASH, &sets))
    );
    assert!(h.report.result.outcomes.iter().all(|o| o.error.is_none()));
}

#[test]
fn the_redis_crates_default_response_timeout_fires_before_the_kernel() {
    let h = harness(
        UPSTASH,
        &[],
        upstash_redis::CachedRedis {
            response_timeout: Some(std::time::Duration::from_millis(500)),
        },
    );
    let o = &h.report.result.outcomes[1];
    assert_eq!(o.error, Some(ErrorKind::RequestTimeout));
    assert_eq!(h.code(2).unwrap().at.as_nanos(), 95_500_000_000);
    assert_eq!(h.code(2).unwrap().errno, None);
}

#[test]
fn tokio_postgres_meets_the_idle_session_close_like_the_model() {
    let h = harness(POSTGRES, &[], postgres_idle::Kept);
    let m = model(POSTGRES, &[]);
    assert_eq!(shape(&h.report.result.outcomes), shape(&m));
    let code = h.code(2).unwrap();
    // tokio-postgres says "connection closed"; the errno underneath is
    // the RST the model predicts, at the same instant.
    assert_eq!(code.errno, None);
    assert_eq!(code.underneath, Some(104));
    assert_eq!(code.at, m[1].at + m[1].latency);
    let fixed = harness(POSTGRES, &[], postgres_idle::Reconnecting);
    assert!(fixed
        .report
        .result
        .outcomes
        .iter()
        .all(|o| o.error.is_none()));
}

#[test]
fn bb8_pool_outcomes_match_the_models_bb8_preset() {
    for (check, sets) in [(true, vec![]), (false, vec!["client.pool.validation=none"])] {
        let idle = Arc::new(AtomicU64::new(0));
        let h = harness(
            BB8,
            &sets,
            bb8_reaper::Pooled {
                test_on_check_out: check,
                idle_closes: idle.clone(),
            },
        );
        let m = model(BB8, &sets);
        assert_eq!(shape(&h.report.result.outcomes), shape(&m), "check {check}");
        // bb8 times idleness with std::time::Instant: never idle here.
        assert_eq!(idle.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

#[test]
fn two_harness_runs_give_identical_traces() {
    let jsonl = |r: &HarnessReport| {
        r.trace
            .iter()
            .map(|rec| thaw_sim::jsonl::record_json(rec).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = harness(UPSTASH, &[], redis_kernel());
    let b = harness(UPSTASH, &[], redis_kernel());
    assert_eq!(jsonl(&a), jsonl(&b));
    assert_eq!(a.report.json, b.report.json);
    let c = harness(POSTGRES, &[], postgres_idle::Reconnecting);
    let d = harness(POSTGRES, &[], postgres_idle::Reconnecting);
    assert_eq!(jsonl(&c), jsonl(&d));
    // The code's own tracing events are in the trace, on simulated time.
    assert!(c.timeline().contains("reconnecting"));
}

#[test]
fn harness_report_is_thaws_report() {
    let h = harness(UPSTASH, &[], redis_kernel());
    let json = &h.report.json;
    assert_eq!(json["scenario"], "upstash-etimedout");
    assert_eq!(json["invocations"].as_array().unwrap().len(), 3);
    assert_eq!(json["invocations"][1]["error"], "ETIMEDOUT");
}

#[test]
fn unsupported_servers_are_refused_with_a_reason() {
    let text =
        "[scenario]\nname = \"m\"\n[server]\npreset = \"mysql8\"\n[workload]\nat = [\"0s\"]\n";
    let e = match Harness::from_str("m.toml", text, &[], redis_kernel()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("mysql accepted"),
    };
    assert!(e.contains("no MySQL wire codec"), "{e}");
}

#[test]
fn examples_run() {
    upstash_redis::main().unwrap();
    postgres_idle::main().unwrap();
    bb8_reaper::main().unwrap();
}

/// GET, a 5 ms sleep of the code's own, GET again.
struct SleepyGets;

impl Function for SleepyGets {
    type State = thaw_harness::net::TcpStream;
    async fn init(
        &self,
        _: &thaw_harness::Invocation,
    ) -> Result<Self::State, thaw_harness::BoxError> {
        Ok(thaw_harness::net::TcpStream::connect("redis:6379").await?)
    }
    async fn handle(
        &self,
        s: &mut Self::State,
        _: &thaw_harness::Invocation,
    ) -> Result<(), thaw_harness::BoxError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 5];
        s.write_all(b"GET foo\r\n").await?;
        s.read_exact(&mut buf).await?;
        let t0 = tokio::time::Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let slept = t0.elapsed();
        // tokio fires on its 1 ms tick, never early.
        assert!(slept >= std::time::Duration::from_millis(5), "{slept:?}");
        assert!(slept < std::time::Duration::from_millis(6), "{slept:?}");
        tracing::info!(slept_us = slept.as_micros() as u64, "slept");
        s.write_all(b"GET foo\r\n").await?;
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"$-1\r\n");
        Ok(())
    }
}

#[test]
fn concurrent_environments_with_timers_run_in_time_order_and_deterministically() {
    let text = r#"
[scenario]
name = "concurrent"
[function]
freeze_delay = "0s"
[server]
preset = "redis7"
cores = 1
service_time = "2ms"
[workload]
at = ["0s", "0s", "0s", "1ms", "10s"]
"#;
    let run = || {
        Harness::from_str("concurrent.toml", text, &[], SleepyGets)
            .unwrap()
            .run()
            .unwrap()
    };
    let a = run();
    let b = run();
    assert_eq!(a.timeline(), b.timeline());
    let o = &a.report.result.outcomes;
    assert!(o.iter().all(|o| o.error.is_none()), "{o:?}");
    assert_eq!(o.iter().filter(|o| o.cold).count(), 4);
    // One core, 2 ms a request: the third concurrent GET waits for two.
    assert!(o[2].latency > o[0].latency);
    assert_eq!(a.timeline().matches("slept_us=").count(), 5);
}
