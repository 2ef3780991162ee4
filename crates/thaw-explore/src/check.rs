//! Property checks of a scenario: its `[expect]` assertions must hold at
//! every point of the varied ranges. Points (the values and the run seed)
//! are drawn by proptest from a generator seeded by `--seed`; the first
//! failing point is shrunk by proptest (toward each range's low end), then
//! toward round numbers (fewest significant digits), then its explicit
//! arrival lists are shrunk by dropping arrivals (delta debugging) and
//! rounding their times.
use crate::point::{run_point, PointResult};
use crate::strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::Cell;
use thaw_core::SimDuration;
use thaw_scenario::vary::Span;
use thaw_scenario::{Prepared, Spec, Vary, VaryValue};

/// Most runs spent shrinking after proptest (round numbers, arrivals).
const MAX_EXTRA_SHRINK_RUNS: u64 = 4_000;

/// The result of a check.
#[derive(Debug)]
pub enum Checked {
    /// Every case held.
    Passed {
        /// Cases run.
        cases: u32,
    },
    /// A counterexample, shrunk.
    Failed(Box<Counterexample>),
}

/// A minimal failing point.
#[derive(Debug)]
pub struct Counterexample {
    /// The varied keys and their shrunk values.
    pub values: Vec<(String, VaryValue)>,
    /// The run seed.
    pub seed: u64,
    /// Explicit arrival lists that were shrunk (path, times).
    pub arrivals: Vec<(String, Vec<SimDuration>)>,
    /// Why it fails (first failing expectation and its actual value).
    pub reason: String,
    /// Its exit code under `thaw run` (1, 2 or 3).
    pub exit: u8,
    /// Which case failed first (1-based).
    pub case: u32,
    /// Runs spent shrinking.
    pub shrink_runs: u64,
}

impl Counterexample {
    /// Every key the counterexample sets, as TOML values: the varied
    /// keys, the seed, and the shrunk arrival lists.
    pub fn settings(&self) -> Vec<(String, toml::Value)> {
        let mut all: Vec<(String, toml::Value)> = self
            .values
            .iter()
            .map(|(p, v)| (p.clone(), v.to_toml()))
            .collect();
        all.push(("scenario.seed".into(), seed_value(self.seed)));
        for (p, times) in &self.arrivals {
            all.push((p.clone(), at_list(times)));
        }
        all
    }

    /// A complete scenario file: `prepared`'s text with the counterexample
    /// written in, headed by a comment that says how it was found.
    pub fn file(&self, prepared: &Prepared, how: &str) -> Result<String, String> {
        let set = self.settings();
        let refs: Vec<(&str, toml::Value)> =
            set.iter().map(|(p, v)| (p.as_str(), v.clone())).collect();
        let body = prepared.text_with(&refs).map_err(|e| e.render())?;
        let mut head = format!(
            "# Counterexample found by `{how}`:\n# case {} failed: {}.\n# Shrunk in {} further runs to:\n",
            self.case, self.reason, self.shrink_runs
        );
        for (p, v) in &set {
            head.push_str(&format!("#   {p} = {v}\n"));
        }
        head.push_str(&format!(
            "# `thaw run` of this file reproduces it (exit {}).\n\n",
            self.exit
        ));
        Ok(head + &body)
    }
}

fn seed_value(seed: u64) -> toml::Value {
    match i64::try_from(seed) {
        Ok(i) => toml::Value::Integer(i),
        Err(_) => toml::Value::String(seed.to_string()),
    }
}

fn at_list(times: &[SimDuration]) -> toml::Value {
    toml::Value::Array(
        times
            .iter()
            .map(|t| toml::Value::String(t.to_string()))
            .collect(),
    )
}

/// Runs up to `cases` random points of `varies` (values and run seed)
/// from a generator seeded by `seed`, and shrinks the first failure.
pub fn check(
    prepared: &Prepared,
    varies: &[Vary],
    cases: u32,
    seed: u64,
) -> Result<Checked, String> {
    if varies.is_empty() {
        return Err(
            "nothing to vary: give --vary PATH=LO..HI, or a [vary] table in the file".into(),
        );
    }
    let config = Config {
        cases,
        max_shrink_iters: 4096,
        max_shrink_time: 0,
        max_local_rejects: 65_536,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        failure_persistence: None,
        fork: false,
        timeout: 0,
        verbose: 0,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let points = (strategy::values(varies), 1u64..=u32::MAX as u64);
    let paths: Vec<&str> = varies.iter().map(|v| v.path.as_str()).collect();
    let tried = Cell::new(0u32);
    let first_failure = Cell::new(None::<u32>);
    let result = runner.run(&points, |(vals, run_seed)| {
        if first_failure.get().is_none() {
            tried.set(tried.get() + 1);
        }
        let r = run(prepared, &paths, &vals, run_seed, &[]);
        if r.passed() {
            Ok(())
        } else {
            if first_failure.get().is_none() {
                first_failure.set(Some(tried.get()));
            }
            Err(TestCaseError::fail(r.reason()))
        }
    });
    let (vals, run_seed) = match result {
        Ok(()) => return Ok(Checked::Passed { cases }),
        Err(TestError::Fail(_, point)) => point,
        Err(TestError::Abort(why)) => {
            return Err(format!(
                "the check stopped: {why} (most points of these ranges are not valid scenarios)"
            ))
        }
    };
    let mut s = Shrinker {
        prepared,
        varies,
        paths: &paths,
        runs: 0,
    };
    let (vals, arrivals) = s.finish(vals, run_seed);
    let last = run(prepared, &paths, &vals, run_seed, &arrivals);
    Ok(Checked::Failed(Box::new(Counterexample {
        values: varies.iter().map(|v| v.path.clone()).zip(vals).collect(),
        seed: run_seed,
        arrivals,
        reason: last.reason(),
        exit: last.exit(),
        case: first_failure.get().unwrap_or(1),
        shrink_runs: s.runs,
    })))
}

fn run(
    prepared: &Prepared,
    paths: &[&str],
    vals: &[VaryValue],
    seed: u64,
    arrivals: &[(String, Vec<SimDuration>)],
) -> PointResult {
    let mut set: Vec<(&str, toml::Value)> = paths
        .iter()
        .copied()
        .zip(vals.iter().map(VaryValue::to_toml))
        .collect();
    for (p, t) in arrivals {
        set.push((p.as_str(), at_list(t)));
    }
    run_point(prepared, &set, Some(seed))
}

/// How a point fails: its exit code, and which expectations fail with an
/// actual value (or with none). A smaller point is kept only if it fails
/// the same way: dropping arrivals must not "fail" an expectation merely
/// because the invocation it names no longer exists.
#[derive(Debug, PartialEq, Eq)]
struct Signature(u8, Vec<(String, bool)>);

impl Signature {
    fn of(r: &PointResult) -> Signature {
        let failing = r.report().map_or(Vec::new(), |rep| {
            rep.expectations
                .iter()
                .filter(|e| !e.passed)
                .map(|e| (e.expr.clone(), e.actual.is_null()))
                .collect()
        });
        Signature(r.exit(), failing)
    }
}

struct Shrinker<'a> {
    prepared: &'a Prepared,
    varies: &'a [Vary],
    paths: &'a [&'a str],
    runs: u64,
}

impl Shrinker<'_> {
    /// Still failing the same way (see [`Signature`])? Counts the run.
    fn fails(
        &mut self,
        vals: &[VaryValue],
        seed: u64,
        arrivals: &[(String, Vec<SimDuration>)],
        want: &Signature,
    ) -> bool {
        if self.runs >= MAX_EXTRA_SHRINK_RUNS {
            return false;
        }
        self.runs += 1;
        Signature::of(&run(self.prepared, self.paths, vals, seed, arrivals)) == *want
    }

    fn finish(
        &mut self,
        mut vals: Vec<VaryValue>,
        seed: u64,
    ) -> (Vec<VaryValue>, Vec<(String, Vec<SimDuration>)>) {
        let want = Signature::of(&run(self.prepared, self.paths, &vals, seed, &[]));
        // Round numbers, one key at a time, fewest digits first.
        for i in 0..vals.len() {
            for cand in round_candidates(&self.varies[i].spec, &vals[i]) {
                let mut trial = vals.clone();
                trial[i] = cand;
                if trial[i] != vals[i] && self.fails(&trial, seed, &[], &want) {
                    vals = trial;
                    break;
                }
            }
        }
        // Explicit arrival lists the keys do not vary.
        let mut arrivals: Vec<(String, Vec<SimDuration>)> = Vec::new();
        for path in self.arrival_lists() {
            let Some(times) = self.times_at(&path) else {
                continue;
            };
            let times = self.ddmin(&vals, seed, &arrivals, &path, times, &want);
            let times = self.round_times(&vals, seed, &arrivals, &path, times, &want);
            arrivals.push((path, times));
        }
        (vals, arrivals)
    }

    /// `workload.at` and every `workload.invoke[i].at` the file writes,
    /// unless a varied key is inside them.
    fn arrival_lists(&self) -> Vec<String> {
        let mut out = Vec::new();
        if matches!(
            self.prepared.value_at("workload.at"),
            Some(toml::Value::Array(_))
        ) {
            out.push("workload.at".to_string());
        }
        if let Some(toml::Value::Array(inv)) = self.prepared.value_at("workload.invoke") {
            out.extend((0..inv.len()).map(|i| format!("workload.invoke[{i}].at")));
        }
        out.retain(|p| !self.paths.iter().any(|v| v.starts_with(p.as_str())));
        out
    }

    fn times_at(&self, path: &str) -> Option<Vec<SimDuration>> {
        let toml::Value::Array(a) = self.prepared.value_at(path)? else {
            return None;
        };
        a.iter()
            .map(|v| v.as_str().and_then(|s| SimDuration::parse(s).ok()))
            .collect()
    }

    /// Delta debugging (ddmin): the fewest arrivals that still fail.
    fn ddmin(
        &mut self,
        vals: &[VaryValue],
        seed: u64,
        done: &[(String, Vec<SimDuration>)],
        path: &str,
        mut times: Vec<SimDuration>,
        want: &Signature,
    ) -> Vec<SimDuration> {
        let mut n = 2usize;
        while times.len() >= 2 {
            let chunk = times.len().div_ceil(n);
            let mut reduced = false;
            for start in (0..times.len()).step_by(chunk) {
                let complement: Vec<SimDuration> = times[..start]
                    .iter()
                    .chain(&times[(start + chunk).min(times.len())..])
                    .copied()
                    .collect();
                if complement.is_empty() {
                    continue;
                }
                let mut arr = done.to_vec();
                arr.push((path.to_string(), complement.clone()));
                if self.fails(vals, seed, &arr, want) {
                    times = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= times.len() {
                    break;
                }
                n = (n * 2).min(times.len());
            }
        }
        times
    }

    /// Each remaining arrival time toward a round number.
    fn round_times(
        &mut self,
        vals: &[VaryValue],
        seed: u64,
        done: &[(String, Vec<SimDuration>)],
        path: &str,
        mut times: Vec<SimDuration>,
        want: &Signature,
    ) -> Vec<SimDuration> {
        for i in 0..times.len() {
            let lo = if i == 0 { 0 } else { times[i - 1].as_nanos() };
            let hi = times[i].as_nanos();
            for cand in round_u64(hi, lo, hi) {
                if cand == hi {
                    continue;
                }
                let mut trial = times.clone();
                trial[i] = SimDuration::from_nanos(cand);
                let mut arr = done.to_vec();
                arr.push((path.to_string(), trial.clone()));
                if self.fails(vals, seed, &arr, want) {
                    times = trial;
                    break;
                }
            }
        }
        times
    }
}

/// Candidates with fewer significant digits than `v`, fewest first, within
/// the SPEC (LO first of all).
fn round_candidates(spec: &Spec, v: &VaryValue) -> Vec<VaryValue> {
    let Spec::Range { span, .. } = spec else {
        return Vec::new();
    };
    match (*span, v) {
        (Span::Duration(a, b), VaryValue::Duration(d)) => round_u64(d.as_nanos(), a, b)
            .into_iter()
            .map(|n| VaryValue::Duration(SimDuration::from_nanos(n)))
            .collect(),
        (Span::Int(a, b), VaryValue::Int(x)) => {
            let mut out = vec![VaryValue::Int(a)];
            if *x >= 0 && a >= 0 {
                out.extend(
                    round_u64(*x as u64, a as u64, b as u64)
                        .into_iter()
                        .map(|n| VaryValue::Int(n as i64)),
                );
            }
            out
        }
        (Span::Float(a, b), VaryValue::Float(x)) => {
            let mut out = vec![VaryValue::Float(a)];
            for digits in 1..=16 {
                let r: f64 = format!("{:.*e}", digits - 1, x).parse().unwrap_or(*x);
                if (a..=b).contains(&r) && r != *x {
                    out.push(VaryValue::Float(r));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// `lo`, then `v` rounded down and up to 1, 2, … significant digits
/// (fewer than `v` has), within [lo, hi]; never `v` itself.
fn round_u64(v: u64, lo: u64, hi: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let push = |c: u64, out: &mut Vec<u64>| {
        if c != v && (lo..=hi).contains(&c) && !out.contains(&c) {
            out.push(c);
        }
    };
    push(lo, &mut out);
    let digits = v.checked_ilog10().map_or(1, |d| d + 1);
    let significant = digits - trailing_zeros(v).min(digits - 1);
    for keep in 1..significant {
        let p = 10u64.pow(digits - keep);
        let down = v - v % p;
        push(down, &mut out);
        push(down.saturating_add(p), &mut out);
    }
    out
}

fn trailing_zeros(mut v: u64) -> u32 {
    let mut n = 0;
    while v != 0 && v.is_multiple_of(10) {
        v /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_numbers_come_fewest_digits_first() {
        assert_eq!(
            round_u64(94_837, 0, 1_000_000),
            vec![0, 90_000, 100_000, 94_000, 95_000, 94_800, 94_900, 94_830, 94_840]
        );
        assert_eq!(round_u64(7, 1, 10), vec![1]);
        // One significant digit already: only LO.
        assert_eq!(
            round_u64(1_000_000_000, 1_000_000_000, 600_000_000_000),
            Vec::<u64>::new()
        );
        assert_eq!(round_u64(2_000, 1_000, 9_000), vec![1_000]);
    }
}
