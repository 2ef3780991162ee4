use crate::*;
use thaw_core::{SimDuration, VecSink, TraceRecord};

fn dump(recs: &[TraceRecord]) {
    for r in recs {
        println!("{:>15} {:10} {:18} {:?} | {}", r.t.as_nanos(), r.component, r.event, r.fields, r.text);
    }
}

#[test]
fn scratch() {
    let mut cfg = SimConfig::default();
    cfg.workload = WorkloadConfig::At(vec![SimDuration::ZERO, SimDuration::from_secs(10)]);
    cfg.server.idle_timeout = Some(SimDuration::from_secs(5));
    cfg.platform.frozen_kernel = FrozenKernel::Running;
    cfg.platform.tcp.keepalive = Some(thaw_net::Keepalive { idle: SimDuration::from_secs(2), interval: SimDuration::from_secs(1), count: 9 });
    let mut sink = VecSink::default();
    let r = run(&cfg, &mut sink, true).unwrap();
    dump(&sink.records);
    println!("{:#?}", r);
}
