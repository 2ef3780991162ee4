//! Boundaries: the values of one key where the verdict flips. A coarse
//! grid finds the flips; each is then bisected to the resolution (1 ns for
//! durations, 1 for integers, 1e-9 relative for floats).
use crate::point::{run_point_judged, PointResult};
use std::collections::BTreeMap;
use thaw_core::SimDuration;
use thaw_scenario::vary::Span;
use thaw_scenario::{run_scenario, Prepared, Spec, Vary, VaryValue};
use thaw_sim::expect::Expectation;

/// What to search.
pub struct Query<'a> {
    /// The key and its range (`LO..HI`).
    pub vary: &'a Vary,
    /// Grid points (default 64, both ends included).
    pub grid: u64,
    /// Stop bisecting when pass and fail are this close (in the key's
    /// unit: nanoseconds, integers, or an absolute float); `None` = the
    /// finest (1 ns, 1, 1e-9 relative).
    pub resolution: Option<f64>,
    /// The property instead of the file's `[expect]` (`--until EXPR`).
    pub until: Option<Expectation>,
    /// The run seed (None = the file's).
    pub seed: Option<u64>,
}

/// One flip of the verdict.
#[derive(Clone, Debug)]
pub struct Boundary {
    /// The value, next to the flip, where the property holds.
    pub pass: VaryValue,
    /// The value, next to the flip, where it does not.
    pub fail: VaryValue,
    /// Runs spent on this boundary (its bisection, and the two grid points
    /// around it).
    pub runs: u64,
    /// What differs between the two sides, in words.
    pub change: String,
}

/// The result of a search.
#[derive(Clone, Debug)]
pub struct Search {
    /// Every flip, in increasing order of the key.
    pub boundaries: Vec<Boundary>,
    /// Grid runs plus bisection runs.
    pub runs: u64,
    /// Whether the property held at LO.
    pub passes_at_lo: bool,
}

/// A value of the key, as a number in its unit.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
enum X {
    Ns(u64),
    Int(i64),
    F(f64),
}

impl X {
    fn value(self) -> VaryValue {
        match self {
            X::Ns(n) => VaryValue::Duration(SimDuration::from_nanos(n)),
            X::Int(i) => VaryValue::Int(i),
            X::F(f) => VaryValue::Float(f),
        }
    }

    /// The middle of `a` and `b`, or `None` when they are as close as
    /// `resolution` allows.
    fn mid(a: X, b: X, resolution: Option<f64>) -> Option<X> {
        match (a, b) {
            (X::Ns(a), X::Ns(b)) => {
                let (lo, hi) = (a.min(b), a.max(b));
                let res = resolution.map_or(1, |r| (r as u64).max(1));
                (hi - lo > res).then(|| X::Ns(lo + (hi - lo) / 2))
            }
            (X::Int(a), X::Int(b)) => {
                let (lo, hi) = (a.min(b), a.max(b));
                let res = resolution.map_or(1, |r| (r as i64).max(1));
                ((hi as i128 - lo as i128) > res as i128)
                    .then(|| X::Int((lo as i128 + (hi as i128 - lo as i128) / 2) as i64))
            }
            (X::F(a), X::F(b)) => {
                let res = resolution.unwrap_or(1e-9 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE));
                let m = a + (b - a) / 2.0;
                ((b - a).abs() > res && m != a && m != b)
                    .then_some(m)
                    .map(X::F)
            }
            _ => None,
        }
    }
}

fn grid_points(span: Span, n: u64) -> Vec<X> {
    let spec_span = span;
    (0..n)
        .map(|i| match spec_span.point(i, n, false) {
            VaryValue::Duration(d) => X::Ns(d.as_nanos()),
            VaryValue::Int(v) => X::Int(v),
            VaryValue::Float(f) => X::F(f),
            VaryValue::Bool(_) | VaryValue::Str(_) => unreachable!("a span has numbers"),
        })
        .dedup_sorted()
}

trait DedupSorted {
    fn dedup_sorted(self) -> Vec<X>;
}

impl<I: Iterator<Item = X>> DedupSorted for I {
    fn dedup_sorted(self) -> Vec<X> {
        let mut v: Vec<X> = self.collect();
        v.dedup();
        v
    }
}

/// Finds every flip of the verdict of `prepared` along `q.vary`'s range.
pub fn search(prepared: &Prepared, q: &Query<'_>) -> Result<Search, String> {
    let Spec::Range { span, .. } = q.vary.spec else {
        return Err(format!(
            "--vary {}={}: a boundary needs a range LO..HI",
            q.vary.path, q.vary.written
        ));
    };
    if q.grid < 2 {
        return Err("--grid must be at least 2".into());
    }
    let property = q.until.as_ref().map(std::slice::from_ref);
    let path = q.vary.path.as_str();
    let verdict = |x: X| -> PointResult {
        run_point_judged(prepared, &[(path, x.value().to_toml())], q.seed, property)
    };
    let points = grid_points(span, q.grid);
    let mut runs = 0u64;
    let mut verdicts = Vec::with_capacity(points.len());
    for &x in &points {
        runs += 1;
        verdicts.push(verdict(x).passed());
    }
    let mut boundaries = Vec::new();
    for i in 1..points.len() {
        if verdicts[i - 1] == verdicts[i] {
            continue;
        }
        // Bisect: keep `a` on the side of points[i-1]'s verdict.
        let (mut a, mut b) = (points[i - 1], points[i]);
        let a_passes = verdicts[i - 1];
        let mut spent = 2u64;
        while let Some(m) = X::mid(a, b, q.resolution) {
            spent += 1;
            if verdict(m).passed() == a_passes {
                a = m;
            } else {
                b = m;
            }
        }
        runs += spent - 2;
        let (pass, fail) = if a_passes { (a, b) } else { (b, a) };
        let change = describe_change(prepared, path, pass.value(), fail.value(), q);
        boundaries.push(Boundary {
            pass: pass.value(),
            fail: fail.value(),
            runs: spent,
            change,
        });
    }
    Ok(Search {
        boundaries,
        runs,
        passes_at_lo: verdicts.first().copied().unwrap_or(false),
    })
}

/// What differs between the runs at `pass` and `fail`: the verdicts, the
/// errors by kind, and the first invocation whose outcome changed.
fn describe_change(
    prepared: &Prepared,
    path: &str,
    pass: VaryValue,
    fail: VaryValue,
    q: &Query<'_>,
) -> String {
    let full = |v: &VaryValue| {
        prepared.with(&[(path, v)]).ok().and_then(|mut s| {
            if let Some(u) = &q.until {
                s.expectations = vec![u.clone()];
            }
            run_scenario(&s, q.seed, &mut thaw_core::NullSink).ok()
        })
    };
    let (Some(p), Some(f)) = (full(&pass), full(&fail)) else {
        let failed = run_point_judged(prepared, &[(path, fail.to_toml())], q.seed, None);
        return failed.reason();
    };
    let mut parts = Vec::new();
    if let Some(e) = f.expectations.iter().find(|e| !e.passed) {
        parts.push(format!("fails `{}` (actual: {})", e.expr, e.actual));
    }
    let kinds = |r: &thaw_scenario::Report| -> BTreeMap<String, u64> {
        r.result
            .metrics
            .errors_by_kind
            .clone()
            .into_iter()
            .collect()
    };
    let (kp, kf) = (kinds(&p), kinds(&f));
    let mut diff = Vec::new();
    for k in kp
        .keys()
        .chain(kf.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (a, b) = (
            kp.get(k).copied().unwrap_or(0),
            kf.get(k).copied().unwrap_or(0),
        );
        if a != b {
            diff.push(format!("{k} {a} → {b}"));
        }
    }
    if !diff.is_empty() {
        parts.push(format!("errors: {}", diff.join(", ")));
    }
    let changed = p
        .result
        .outcomes
        .iter()
        .zip(&f.result.outcomes)
        .find(|(a, b)| a.error != b.error || a.container != b.container || a.cold != b.cold);
    if let Some((a, b)) = changed {
        let name =
            |o: &thaw_sim::Outcome| o.error.map_or("ok".to_string(), |e| e.name().to_string());
        parts.push(format!("invocation {}: {} → {}", a.id, name(a), name(b)));
    } else if p.result.outcomes.len() != f.result.outcomes.len() {
        parts.push(format!(
            "{} → {} invocations ended",
            p.result.outcomes.len(),
            f.result.outcomes.len()
        ));
    }
    if parts.is_empty() {
        "the verdict changes".to_string()
    } else {
        parts.join("; ")
    }
}
