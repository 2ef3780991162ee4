//! Sweep throughput: points per second of an in-process sweep of the
//! Upstash scenario over `server.idle_timeout`, on one and on two threads.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use thaw_explore::{Format, Prepared, Sweep, Vary};

fn sweep(points: u64) -> Sweep {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sim-scenarios/seeds/upstash-etimedout.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let p = Prepared::load("upstash-etimedout.toml", &text, &[]).unwrap();
    let v = Vary::parse(&format!("server.idle_timeout=1s..600s/{points}")).unwrap();
    match Sweep::new(p, vec![v], None, Format::Jsonl) {
        Ok(s) => s,
        Err(_) => panic!("the bench's sweep is valid"),
    }
}

fn bench(c: &mut Criterion) {
    let s = sweep(1000);
    let runs = thaw_explore::sweep::Runs::all(s.runs());
    let mut g = c.benchmark_group("sweep");
    g.throughput(Throughput::Elements(runs.len()));
    g.sample_size(10);
    for jobs in [1, 2] {
        g.bench_function(
            format!("upstash_idle_timeout_1000_points_jobs{jobs}"),
            |b| {
                b.iter(|| {
                    let mut bytes = 0usize;
                    s.run(runs, jobs, |_, line, _| {
                        bytes += line.len();
                        Ok::<(), ()>(())
                    })
                    .unwrap();
                    bytes
                })
            },
        );
    }
    g.bench_function("one_point_record", |b| b.iter(|| s.record(500)));
    // The parts of a point: building the scenario, and running it.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sim-scenarios/seeds/upstash-etimedout.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let p = Prepared::load("upstash-etimedout.toml", &text, &[]).unwrap();
    let v = thaw_explore::VaryValue::parse("300s");
    g.bench_function("one_point_build", |b| {
        b.iter(|| p.with(&[("server.idle_timeout", &v)]).unwrap())
    });
    let scenario = p.with(&[("server.idle_timeout", &v)]).unwrap();
    g.bench_function("one_point_run", |b| {
        b.iter(|| {
            thaw_scenario::run_scenario_streaming(
                &scenario,
                None,
                &mut thaw_core::NullSink,
                &mut thaw_scenario::NoRowSink,
            )
        })
    });
    g.bench_function("one_point_simulate", |b| {
        b.iter(|| {
            thaw_sim::run_streaming(
                &scenario.config,
                &mut thaw_core::NullSink,
                &mut thaw_sim::NoRows,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
