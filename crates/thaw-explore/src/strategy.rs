//! proptest strategies for thaw's parameters, for property tests in a
//! user's own `cargo test` (see the crate's example) and for `thaw check`.
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use thaw_core::SimDuration;
use thaw_scenario::vary::Span;
use thaw_scenario::{Prepared, Scenario, Spec, Vary, VaryValue};

/// Durations from `lo` to `hi` (both included), at nanosecond precision;
/// shrinks toward `lo`.
pub fn duration(lo: SimDuration, hi: SimDuration) -> impl Strategy<Value = SimDuration> + Clone {
    (lo.as_nanos()..=hi.as_nanos()).prop_map(SimDuration::from_nanos)
}

/// The values a SPEC allows: one of a list (shrinks toward the first), or
/// anything in a range (uniform, or log-uniform with `:log`; shrinks
/// toward LO).
pub fn value(spec: &Spec) -> BoxedStrategy<VaryValue> {
    match spec {
        Spec::List(values) => proptest::sample::select(values.clone()).boxed(),
        Spec::Range {
            span, log: true, ..
        } => {
            let span = *span;
            (0.0f64..=1.0)
                .prop_map(move |x| span.value_at_fraction(x, true, None))
                .boxed()
        }
        Spec::Range { span, .. } => match *span {
            Span::Duration(a, b) => (a..=b)
                .prop_map(|n| VaryValue::Duration(SimDuration::from_nanos(n)))
                .boxed(),
            Span::Int(a, b) => (a..=b).prop_map(VaryValue::Int).boxed(),
            Span::Float(a, b) => (a..=b).prop_map(VaryValue::Float).boxed(),
        },
    }
}

/// Values for every `varies` entry, in order.
pub fn values(varies: &[Vary]) -> impl Strategy<Value = Vec<VaryValue>> {
    varies.iter().map(|v| value(&v.spec)).collect::<Vec<_>>()
}

/// Scenarios: `prepared` with every varied key drawn from its SPEC.
/// Points that do not validate (say, a pool `min` above a varied `max`)
/// are rejected, not failed.
pub fn scenario(prepared: &Prepared, varies: &[Vary]) -> impl Strategy<Value = Scenario> {
    let prepared = prepared.clone();
    let paths: Vec<String> = varies.iter().map(|v| v.path.clone()).collect();
    values(varies).prop_filter_map("the point is not a valid scenario", move |vals| {
        let set: Vec<(&str, &VaryValue)> =
            paths.iter().map(String::as_str).zip(vals.iter()).collect();
        prepared.with(&set).ok()
    })
}
