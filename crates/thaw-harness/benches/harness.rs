//! The Upstash scenario with the real `redis` crate under the harness,
//! next to the model-only run of the same file.
//!
//!     cargo bench -p thaw-harness --bench harness
#![allow(dead_code)]
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

#[path = "../examples/upstash_redis.rs"]
mod upstash_redis;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sim-scenarios/seeds/upstash-etimedout.toml")
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(path()).expect("scenario");
    let s = thaw_scenario::load("upstash-etimedout.toml", &text, &[]).expect("valid");
    c.bench_function("upstash/model", |b| {
        b.iter(|| thaw_sim::run(&s.config, &mut thaw_core::NullSink, true).expect("runs"))
    });
    let h = thaw_harness::Harness::from_scenario(
        path(),
        &[],
        upstash_redis::CachedRedis {
            response_timeout: None,
        },
    )
    .expect("valid")
    .capture_tracing(false);
    c.bench_function("upstash/harness-redis-crate", |b| {
        b.iter(|| h.run().expect("runs"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
