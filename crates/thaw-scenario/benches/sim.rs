//! Speed of the simulator: the Upstash scenario, a Poisson workload of
//! per-invocation connections over many environments (events per second),
//! and the platform alone as SimFaaS simulates it (invocations per second).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use thaw_core::NullSink;
use thaw_scenario::{load, Scenario};

fn scenario(rel: &str, sets: &[String]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).expect("bench scenario");
    load(rel, &text, sets).unwrap_or_else(|e| panic!("{}", e.render()))
}

fn upstash(c: &mut Criterion) {
    let s = scenario("../../sim-scenarios/seeds/upstash-etimedout.toml", &[]);
    c.bench_function("upstash_etimedout", |b| {
        b.iter(|| thaw_sim::run(&s.config, &mut NullSink, true).expect("runs"))
    });
}

fn poisson(c: &mut Criterion) {
    let count: u64 = std::env::var("THAW_BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let s = scenario(
        "benches/poisson-per-invocation.toml",
        &[format!("workload.poisson.count={count}")],
    );
    let events = thaw_sim::run(&s.config, &mut NullSink, false)
        .expect("runs")
        .metrics
        .events;
    let mut g = c.benchmark_group("poisson_per_invocation");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events));
    g.bench_function(format!("{count}_invocations"), |b| {
        b.iter(|| thaw_sim::run(&s.config, &mut NullSink, false).expect("runs"))
    });
    g.finish();
}

fn platform_only(c: &mut Criterion) {
    let count: u64 = std::env::var("THAW_BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(900_000);
    let s = scenario(
        "benches/platform-only.toml",
        &[format!("workload.poisson.count={count}")],
    );
    let mut g = c.benchmark_group("platform_only");
    g.sample_size(10);
    g.throughput(Throughput::Elements(count));
    g.bench_function(format!("{count}_invocations"), |b| {
        b.iter(|| thaw_sim::run(&s.config, &mut NullSink, false).expect("runs"))
    });
    g.finish();
}

criterion_group!(benches, upstash, poisson, platform_only);
criterion_main!(benches);
