//! Sweeps: every point of a grid of varied values (and every seed), one
//! record each, in a stable order whatever the number of threads or
//! shards.
//!
//! Records are numbered by *run*: `run = point × seeds + (seed − 1)`,
//! points in row-major order of the `--vary` list (the last varies
//! fastest). Shard K of N owns the runs with `run mod N = K − 1`. Every
//! record carries the sweep's id (a hash of everything that decides its
//! results), its run number and the number of runs, so that shards can be
//! merged and an interrupted sweep resumed, and refused when they belong
//! to another sweep.
use crate::point::{run_point, PointResult};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use thaw_scenario::{LoadError, Prepared, Vary, VaryValue};
use thaw_sim::expect::{METRIC_NAMES, PLATFORM_METRIC_FIELDS};
use thaw_sim::ErrorKind;

/// Output format of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
}

/// Shard K of N (1-based K).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=n.
    pub k: u64,
    /// How many.
    pub n: u64,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// Parses `K/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not K/N, e.g. 2/8"))?;
        let k: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("K in `{s}` is not a number"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("N in `{s}` is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard `{s}`: K must be between 1 and N (N ≥ 1)"));
        }
        Ok(Shard { k, n })
    }

    /// Whether this shard owns `run`.
    pub fn owns(&self, run: u64) -> bool {
        run % self.n == self.k - 1
    }

    /// This shard's runs of a sweep of `total` runs.
    pub fn runs(&self, total: u64) -> Runs {
        let first = self.k - 1;
        Runs {
            first,
            step: self.n,
            count: if total > first {
                (total - first).div_ceil(self.n)
            } else {
                0
            },
        }
    }
}

/// An arithmetic progression of run numbers (a shard's runs), computed on
/// demand: a sweep of any size plans in constant memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runs {
    first: u64,
    step: u64,
    count: u64,
}

impl Runs {
    /// Runs `0..n`.
    pub fn all(n: u64) -> Runs {
        Runs {
            first: 0,
            step: 1,
            count: n,
        }
    }

    /// How many.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`-th (from 0).
    pub fn get(&self, i: u64) -> Option<u64> {
        (i < self.count).then(|| self.first + i * self.step)
    }

    /// All but the first `k`.
    pub fn skip(&self, k: u64) -> Runs {
        let k = k.min(self.count);
        Runs {
            first: self.first + k * self.step,
            step: self.step,
            count: self.count - k,
        }
    }
}

/// The values one varied key takes in a sweep, computed on demand.
#[derive(Clone, Debug)]
enum Axis {
    List(Vec<VaryValue>),
    Range {
        span: thaw_scenario::vary::Span,
        count: u64,
        log: bool,
    },
}

impl Axis {
    fn len(&self) -> u64 {
        match self {
            Axis::List(v) => v.len() as u64,
            Axis::Range { count, .. } => *count,
        }
    }

    fn value(&self, i: u64) -> VaryValue {
        match self {
            Axis::List(v) => v[i as usize].clone(),
            Axis::Range { span, count, log } => span.point(i, *count, *log),
        }
    }
}

/// Why a sweep cannot start.
#[derive(Debug)]
pub enum SweepError {
    /// A `--vary` is wrong in itself (path, SPEC, a key that cannot vary).
    Vary(String),
    /// A varied key does not fit the file (unknown key with did-you-mean,
    /// wrong type): the diagnostics of `thaw run`.
    Scenario(Box<LoadError>),
}

/// A planned sweep.
pub struct Sweep {
    prepared: Prepared,
    varies: Vec<Vary>,
    axes: Vec<Axis>,
    seeds: Option<u64>,
    format: Format,
    id: String,
    expect_count: usize,
}

impl Sweep {
    /// Plans a sweep of `prepared` over `varies` (a grid; `seeds` = N runs
    /// every point with seeds 1..=N, else the file's seed), checking every
    /// varied key at both ends of its grid before anything runs.
    pub fn new(
        prepared: Prepared,
        varies: Vec<Vary>,
        seeds: Option<u64>,
        format: Format,
    ) -> Result<Sweep, SweepError> {
        if varies.is_empty() {
            return Err(SweepError::Vary(
                "nothing to vary: give at least one --vary PATH=SPEC".into(),
            ));
        }
        if seeds == Some(0) {
            return Err(SweepError::Vary("--seeds must be at least 1".into()));
        }
        let mut axes = Vec::new();
        for v in &varies {
            let axis = match &v.spec {
                thaw_scenario::Spec::List(values) => Axis::List(values.clone()),
                thaw_scenario::Spec::Range {
                    span,
                    count: Some(count),
                    log,
                } => Axis::Range {
                    span: *span,
                    count: *count,
                    log: *log,
                },
                thaw_scenario::Spec::Range { count: None, .. } => {
                    return Err(SweepError::Vary(format!(
                        "--vary {}={}: a range in a sweep needs a COUNT: `LO..HI/COUNT`",
                        v.path, v.written
                    )))
                }
            };
            check_varies(&prepared, v, &[axis.value(0), axis.value(axis.len() - 1)])?;
            axes.push(axis);
        }
        let points = axes
            .iter()
            .try_fold(1u64, |acc, a| acc.checked_mul(a.len()))
            .and_then(|p| p.checked_mul(seeds.unwrap_or(1)));
        if points.is_none() {
            return Err(SweepError::Vary(
                "the grid has more runs than can be numbered (2^64): split it".into(),
            ));
        }
        let id = sweep_id(&prepared, &varies, seeds, format);
        let expect_count = prepared.scenario().expectations.len();
        Ok(Sweep {
            prepared,
            varies,
            axes,
            seeds,
            format,
            id,
            expect_count,
        })
    }

    /// The sweep's id (16 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Number of points (grid size).
    pub fn points(&self) -> u64 {
        self.axes.iter().map(Axis::len).product()
    }

    /// Runs per point.
    pub fn seeds_per_point(&self) -> u64 {
        self.seeds.unwrap_or(1)
    }

    /// Number of records: points × seeds.
    pub fn runs(&self) -> u64 {
        self.points().saturating_mul(self.seeds_per_point())
    }

    /// The output format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The values and the seed of `run`.
    pub fn run_values(&self, run: u64) -> (Vec<(&str, VaryValue)>, Option<u64>) {
        let per = self.seeds_per_point();
        let mut point = run / per;
        let seed = self.seeds.map(|_| run % per + 1);
        let mut values = vec![None; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            let n = a.len();
            values[i] = Some(a.value(point % n));
            point /= n;
        }
        let values = self
            .varies
            .iter()
            .zip(values)
            .map(|(v, x)| (v.path.as_str(), x.expect("every axis has a value")))
            .collect();
        (values, seed)
    }

    /// The CSV header line (CSV only).
    pub fn header(&self) -> Option<String> {
        if self.format != Format::Csv {
            return None;
        }
        let mut cols: Vec<String> = vec![
            "sweep".into(),
            "run".into(),
            "of".into(),
            "point".into(),
            "seed".into(),
        ];
        cols.extend(self.varies.iter().map(|v| v.path.clone()));
        cols.extend(["passed", "exit"].map(String::from));
        cols.extend(
            METRIC_NAMES
                .iter()
                .filter(|m| **m != "errors_by_kind" && **m != "platform")
                .map(|m| m.to_string()),
        );
        cols.extend(
            ErrorKind::ALL
                .iter()
                .map(|k| format!("errors.{}", k.name())),
        );
        cols.extend((1..=self.expect_count).map(|i| format!("expect.{i}")));
        cols.push("reason".into());
        // The platform's figures come last: columns before them keep their
        // places from earlier versions.
        cols.extend(
            PLATFORM_METRIC_FIELDS
                .iter()
                .map(|f| format!("platform.{f}")),
        );
        Some(
            cols.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// The record of `run`, one line without its line break, and the exit
    /// status `thaw run` would have had at that point.
    pub fn record(&self, run: u64) -> (String, u8) {
        let (values, seed) = self.run_values(run);
        let tv: Vec<(&str, toml::Value)> = values.iter().map(|(p, v)| (*p, v.to_toml())).collect();
        let values: Vec<(&str, &VaryValue)> = values.iter().map(|(p, v)| (*p, v)).collect();
        let result = run_point(&self.prepared, &tv, seed);
        let seed = seed.unwrap_or(self.prepared.scenario().config.seed);
        let line = match self.format {
            Format::Jsonl => self.json_record(run, &values, seed, &result),
            Format::Csv => self.csv_record(run, &values, seed, &result),
        };
        (line, result.exit())
    }

    fn json_record(
        &self,
        run: u64,
        values: &[(&str, &VaryValue)],
        seed: u64,
        result: &PointResult,
    ) -> String {
        let report = result.report();
        let rec = JsonRecord {
            sweep: &self.id,
            run,
            of: self.runs(),
            point: run / self.seeds_per_point(),
            seed,
            values: Ordered(
                values
                    .iter()
                    .map(|(p, v)| (*p, toml_to_json(&v.to_toml())))
                    .collect(),
            ),
            passed: result.passed(),
            exit: result.exit(),
            error: match result {
                PointResult::Invalid(e) => Some(e.diagnostics.to_string()),
                PointResult::Ran(_) => None,
            },
            metrics: report.map(|r| &r.result.metrics),
            expectations: report.map(|r| &r.expectations),
            stopped: report.and_then(|r| r.json.get("stopped")),
        };
        serde_json::to_string(&rec).expect("records serialize")
    }

    fn csv_record(
        &self,
        run: u64,
        values: &[(&str, &VaryValue)],
        seed: u64,
        result: &PointResult,
    ) -> String {
        let mut f: Vec<String> = vec![
            self.id.clone(),
            run.to_string(),
            self.runs().to_string(),
            (run / self.seeds_per_point()).to_string(),
            seed.to_string(),
        ];
        f.extend(values.iter().map(|(_, v)| v.to_string()));
        f.push(result.passed().to_string());
        f.push(result.exit().to_string());
        let metrics = result.report().map(|r| &r.json["metrics"]);
        for m in METRIC_NAMES
            .iter()
            .filter(|m| **m != "errors_by_kind" && **m != "platform")
        {
            f.push(metrics.map_or(String::new(), |j| json_cell(&j[*m])));
        }
        for k in ErrorKind::ALL {
            f.push(metrics.map_or(String::new(), |j| {
                j["errors_by_kind"]
                    .get(k.name())
                    .map_or("0".to_string(), json_cell)
            }));
        }
        let verdicts = result.report().map(|r| &r.expectations);
        for i in 0..self.expect_count {
            f.push(
                verdicts
                    .and_then(|v| v.get(i))
                    .map_or(String::new(), |e| e.passed.to_string()),
            );
        }
        f.push(if result.passed() {
            String::new()
        } else {
            result.reason()
        });
        for p in PLATFORM_METRIC_FIELDS {
            f.push(metrics.map_or(String::new(), |j| json_cell(&j["platform"][*p])));
        }
        f.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",")
    }

    /// Computes the records of `runs` (in that order) on `jobs` threads and
    /// hands each line to `out` in order, with its exit status. Runs share
    /// nothing mutable. Threads take runs in chunks (a hand-over per run
    /// would cost as much as a short run), and at most a window of chunks
    /// waits for a slower one, so memory is bounded by `jobs`, not by the
    /// number of runs.
    pub fn run<E>(
        &self,
        runs: Runs,
        jobs: usize,
        mut out: impl FnMut(u64, &str, u8) -> Result<(), E>,
    ) -> Result<(), E> {
        const CHUNK: usize = 64;
        let jobs = jobs.max(1);
        if jobs == 1 {
            for i in 0..runs.len() {
                let r = runs.get(i).expect("in range");
                let (line, exit) = self.record(r);
                out(r, &line, exit)?;
            }
            return Ok(());
        }
        let chunks = runs.len().div_ceil(CHUNK as u64) as usize;
        let window = 8 * jobs;
        let next = AtomicUsize::new(0);
        // Chunks `out` has taken: workers stay within a window of it.
        let written = (Mutex::new(0usize), Condvar::new());
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Vec<(String, u8)>)>();
            for _ in 0..jobs {
                let tx = tx.clone();
                let (next, written, stop) = (&next, &written, &stop);
                scope.spawn(move || loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    if c >= chunks || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        let (lock, cv) = written;
                        let mut w = lock.lock().expect("no thread panics holding it");
                        while c >= *w + window && !stop.load(Ordering::Relaxed) {
                            w = cv.wait(w).expect("no thread panics holding it");
                        }
                    }
                    let from = (c * CHUNK) as u64;
                    let to = (from + CHUNK as u64).min(runs.len());
                    let lines = (from..to)
                        .map(|i| self.record(runs.get(i).expect("in range")))
                        .collect();
                    if tx.send((c, lines)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut pending: BTreeMap<usize, Vec<(String, u8)>> = BTreeMap::new();
            let mut n = 0usize;
            let mut result = Ok(());
            'recv: for (c, lines) in rx {
                pending.insert(c, lines);
                while let Some(lines) = pending.remove(&n) {
                    for (k, (line, exit)) in lines.iter().enumerate() {
                        let r = runs.get((n * CHUNK + k) as u64).expect("in range");
                        if let Err(e) = out(r, line, *exit) {
                            result = Err(e);
                            break 'recv;
                        }
                    }
                    n += 1;
                }
                let (lock, cv) = &written;
                *lock.lock().expect("no thread panics holding it") = n;
                cv.notify_all();
            }
            stop.store(true, Ordering::Relaxed);
            written.1.notify_all();
            result
        })
    }
}

/// Checks a varied key before anything runs: it must name a value (not a
/// table or a list), and both ends of its range (or every value of its
/// list) must fit the file's shape (a known key of the right type). Values
/// that fit but are invalid at a point are that point's result (exit 2).
pub fn validate_vary(prepared: &Prepared, v: &Vary) -> Result<(), SweepError> {
    let ends: Vec<VaryValue> = match &v.spec {
        thaw_scenario::Spec::List(values) => values.clone(),
        thaw_scenario::Spec::Range { span, log, .. } => {
            vec![span.point(0, 2, *log), span.point(1, 2, *log)]
        }
    };
    check_varies(prepared, v, &ends)
}

/// One JSON-lines record; fields in this order.
#[derive(Serialize)]
struct JsonRecord<'a> {
    sweep: &'a str,
    run: u64,
    of: u64,
    point: u64,
    seed: u64,
    values: Ordered<'a>,
    passed: bool,
    exit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<&'a thaw_sim::Metrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expectations: Option<&'a Vec<thaw_sim::expect::ExpectationResult>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<&'a Value>,
}

/// A map serialized in the order of its entries (the `--vary` order).
struct Ordered<'a>(Vec<(&'a str, Value)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Every varied key must name a value (not a table or a list) and accept
/// both ends of its grid.
fn check_varies(prepared: &Prepared, v: &Vary, grid: &[VaryValue]) -> Result<(), SweepError> {
    match prepared.value_at(&v.path) {
        Some(toml::Value::Table(_)) => {
            return Err(SweepError::Vary(format!(
                "`{}` is a table: vary one of its keys (`{}.KEY`)",
                v.path, v.path
            )))
        }
        Some(toml::Value::Array(_)) => {
            return Err(SweepError::Vary(format!(
                "`{}` is a list: vary one of its elements (e.g. `{}[0]`)",
                v.path, v.path
            )))
        }
        _ => {}
    }
    for end in [grid.first(), grid.last()].into_iter().flatten() {
        prepared
            .fits(&[(&v.path, end.to_toml())])
            .map_err(|e| SweepError::Scenario(Box::new(e)))?;
    }
    Ok(())
}

/// FNV-1a over everything that decides a sweep's records.
fn sweep_id(prepared: &Prepared, varies: &[Vary], seeds: Option<u64>, format: Format) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator no field contains.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(env!("CARGO_PKG_VERSION").as_bytes());
    eat(prepared.text().as_bytes());
    for o in prepared.overrides() {
        for a in o.as_args() {
            eat(a.as_bytes());
        }
    }
    for v in varies {
        eat(v.path.as_bytes());
        eat(v.written.as_bytes());
    }
    eat(&seeds.unwrap_or(0).to_le_bytes());
    eat(match format {
        Format::Jsonl => b"jsonl",
        Format::Csv => b"csv",
    });
    format!("{h:016x}")
}

/// A TOML value as JSON (the values of a point, as written).
pub fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn json_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The sweep id and run number of a record line, in either format; `None`
/// for a CSV header or a line that is not a record.
pub fn record_key(line: &str) -> Option<(String, u64, u64)> {
    if line.starts_with('{') {
        let v: Value = serde_json::from_str(line).ok()?;
        Some((
            v.get("sweep")?.as_str()?.to_string(),
            v.get("run")?.as_u64()?,
            v.get("of")?.as_u64()?,
        ))
    } else {
        let mut f = line.splitn(4, ',');
        let id = f.next()?;
        let run = f.next()?.parse().ok()?;
        let of = f.next()?.parse().ok()?;
        (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| (id.to_string(), run, of))
    }
}
