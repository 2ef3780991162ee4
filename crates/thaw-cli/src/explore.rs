//! `thaw sweep`, `thaw merge`, `thaw boundary` and `thaw check`.
use crate::{read_scenario, shell_quote};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use thaw_explore::boundary::{self, Query};
use thaw_explore::check::{self, Checked};
use thaw_explore::output::{merge, open_resumable};
use thaw_explore::sweep::validate_vary;
use thaw_explore::{Format, Prepared, Shard, Sweep, SweepError, Vary, VaryValue};
use thaw_scenario::Override;
use thaw_sim::expect::Expectation;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SweepFormat {
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BoundaryFormat {
    Text,
    Json,
}

/// `thaw sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// The scenario file (TOML); `-` reads it from standard input.
    pub file: String,
    /// A key and its values: PATH=v1,v2,… or PATH=LO..HI/COUNT (evenly
    /// spaced, both ends included), or PATH=LO..HI/COUNT:log. Several make
    /// a grid (the last varies fastest).
    #[arg(long = "vary", value_name = "PATH=SPEC", add = crate::author::key_completer(true), required = true)]
    pub varies: Vec<String>,
    /// Run every point with seeds 1..=N (default: once, with the file's
    /// seed).
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Threads (default: every core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Only shard K of N (runs with run mod N = K-1); `auto` takes K from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, and N from
    /// SLURM_ARRAY_TASK_COUNT unless written (`auto/8`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Write records here (default: standard output). An existing file of
    /// the same sweep is resumed: finished runs are kept and skipped.
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Record format.
    #[arg(long, value_enum, default_value_t = SweepFormat::Jsonl)]
    pub format: SweepFormat,
    /// Override a value for every point, as with `thaw run --set`.
    #[arg(long = "set", value_name = "PATH=VALUE", add = crate::author::key_completer(true))]
    pub sets: Vec<String>,
    /// Remove a key for every point, as with `thaw run --unset`.
    #[arg(long = "unset", value_name = "PATH", add = crate::author::key_completer(false))]
    pub unsets: Vec<String>,
    /// Also write a self-contained HTML page of the sweep's plots (one or
    /// two varied keys), when the sweep is complete.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<String>,
    /// The metric that colours the heatmap of two varied keys (`errors`,
    /// `errors.KIND`, `zombie_connection_seconds`, `platform.FIELD`, …).
    #[arg(long, value_name = "NAME", default_value = "errors", requires = "html")]
    pub html_metric: String,
    /// Boundaries to mark on the plots: a file written by `thaw boundary
    /// --format json` (may be repeated).
    #[arg(long = "boundaries", value_name = "FILE", requires = "html")]
    pub boundaries: Vec<String>,
}

/// `thaw merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The merged file to write.
    pub out: PathBuf,
    /// The shards' output files (`--shard 1/N` … `N/N`), in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// `thaw boundary`.
#[derive(Args)]
pub struct BoundaryArgs {
    /// The scenario file (TOML); `-` reads it from standard input.
    pub file: String,
    /// The key and its range: PATH=LO..HI.
    #[arg(long = "vary", value_name = "PATH=LO..HI", add = crate::author::key_completer(true))]
    pub vary: String,
    /// Points of the coarse grid that finds the flips (both ends included).
    #[arg(long, default_value_t = 64)]
    pub grid: u64,
    /// Bisect until pass and fail are this close (default: 1ns for
    /// durations, 1 for integers, 1e-9 relative for numbers).
    #[arg(long, value_name = "D")]
    pub resolution: Option<String>,
    /// The property instead of the file's [expect], e.g.
    /// "metrics.errors == 0".
    #[arg(long, value_name = "EXPR")]
    pub until: Option<String>,
    /// Seed of every run (default: the file's).
    #[arg(long, value_parser = crate::seed_arg, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BoundaryFormat::Text)]
    pub format: BoundaryFormat,
    /// Override a value for every run, as with `thaw run --set`.
    #[arg(long = "set", value_name = "PATH=VALUE", add = crate::author::key_completer(true))]
    pub sets: Vec<String>,
    /// Remove a key for every run, as with `thaw run --unset`.
    #[arg(long = "unset", value_name = "PATH", add = crate::author::key_completer(false))]
    pub unsets: Vec<String>,
}

/// `thaw check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The scenario file (TOML); `-` reads it from standard input.
    pub file: String,
    /// A key and its range: PATH=LO..HI (or LO..HI:log, or a list
    /// v1,v2,…); default: the file's [vary] table.
    #[arg(long = "vary", value_name = "PATH=LO..HI", add = crate::author::key_completer(true))]
    pub varies: Vec<String>,
    /// Random points to try.
    #[arg(long, default_value_t = 256)]
    pub cases: u32,
    /// Seed of the generator that draws the points.
    #[arg(long, default_value_t = 1, value_parser = crate::seed_arg, allow_hyphen_values = true)]
    pub seed: u64,
    /// Where to write the counterexample (default:
    /// STEM.counterexample.toml in the current directory).
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Override a value for every point, as with `thaw run --set`.
    #[arg(long = "set", value_name = "PATH=VALUE", add = crate::author::key_completer(true))]
    pub sets: Vec<String>,
    /// Remove a key for every point, as with `thaw run --unset`.
    #[arg(long = "unset", value_name = "PATH", add = crate::author::key_completer(false))]
    pub unsets: Vec<String>,
}

fn display_name(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

/// Reads and validates the scenario once; exit 2 with every problem.
fn prepare(file: &str, overrides: &[Override]) -> Result<Prepared, ExitCode> {
    let name = display_name(file);
    let text = read_scenario(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    Prepared::load(name, &text, overrides).map_err(|err| {
        eprint!("{}", err.render());
        eprintln!(
            "error: `{name}` {}; nothing was run",
            err.diagnostics.summary()
        );
        ExitCode::from(2)
    })
}

fn parse_varies(args: &[String]) -> Result<Vec<Vary>, ExitCode> {
    args.iter()
        .map(|a| {
            Vary::parse(a).map_err(|e| {
                eprintln!("error: --vary {a}: {e}");
                ExitCode::from(2)
            })
        })
        .collect()
}

fn vary_error(e: SweepError, what: &str) -> ExitCode {
    match e {
        SweepError::Vary(m) => eprintln!("error: {m}"),
        SweepError::Scenario(err) => {
            eprint!("{}", err.render());
            eprintln!(
                "error: {what}: the scenario does not accept the varied values ({}); nothing was run",
                err.diagnostics.summary()
            );
        }
    }
    ExitCode::from(2)
}

/// `--shard K/N`, `auto` or `auto/N`.
fn shard_from(arg: Option<&str>) -> Result<Shard, String> {
    let Some(arg) = arg else {
        return Ok(Shard::ALL);
    };
    let Some(rest) = arg.strip_prefix("auto") else {
        return Shard::parse(arg);
    };
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let (k, n_env) = if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        // Slurm numbers tasks from --array's first index (0 or 1, or more).
        let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or(0);
        (id.saturating_sub(min) + 1, env("SLURM_ARRAY_TASK_COUNT"))
    } else if let Some(i) = env("JOB_COMPLETION_INDEX") {
        (i + 1, None)
    } else {
        return Err(
            "--shard auto needs SLURM_ARRAY_TASK_ID (a Slurm array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)".into(),
        );
    };
    let n = match rest.strip_prefix('/') {
        Some(n) => n
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`{arg}`: N is not a number"))?,
        None if rest.is_empty() => n_env.ok_or(
            "--shard auto: the shard count is not in the environment (SLURM_ARRAY_TASK_COUNT); write it: --shard auto/N",
        )?,
        None => return Err(format!("`{arg}` is not K/N, auto or auto/N")),
    };
    Shard::parse(&format!("{k}/{n}"))
}

pub fn cmd_sweep(a: &SweepArgs, overrides: &[Override]) -> ExitCode {
    let prepared = match prepare(&a.file, overrides) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let varies = match parse_varies(&a.varies) {
        Ok(v) => v,
        Err(c) => return c,
    };
    let format = match a.format {
        SweepFormat::Jsonl => Format::Jsonl,
        SweepFormat::Csv => Format::Csv,
    };
    let page = match &a.html {
        Some(h) => match html_plan(a, h, &prepared, &varies) {
            Ok(p) => Some(p),
            Err(c) => return c,
        },
        None => None,
    };
    let sweep = match Sweep::new(prepared, varies, a.seeds, format) {
        Ok(s) => s,
        Err(e) => return vary_error(e, "--vary"),
    };
    let shard = match shard_from(a.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runs = shard.runs(sweep.runs());
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        eprintln!("error: --jobs must be at least 1");
        return ExitCode::from(2);
    }
    if let Some(p) = &page {
        if shard != Shard::ALL {
            eprintln!(
                "error: --html draws the whole sweep, and --shard runs a part of it: merge the shards (thaw merge OUT SHARD…), then run this sweep without --shard with --out OUT --html {}: every run is already in OUT, nothing runs again",
                p.out
            );
            return ExitCode::from(2);
        }
        if a.out
            .as_deref()
            .is_some_and(|o| crate::same_file(&p.out, o))
        {
            eprintln!("error: --out and --html name the same file; choose two files");
            return ExitCode::from(2);
        }
    }
    let (mut sink, done): (Box<dyn Write>, usize) = match &a.out {
        Some(path) => {
            if Path::new(path) == Path::new(&a.file) {
                eprintln!("error: --out {path} would overwrite the scenario file");
                return ExitCode::from(2);
            }
            match open_resumable(Path::new(path), &sweep, shard, runs) {
                Ok(r) => (Box::new(r.file), r.done),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout());
            if let Some(h) = sweep.header() {
                let _ = writeln!(w, "{h}");
            }
            (Box::new(w), 0)
        }
    };
    // The page's file is created before the sweep, so that an unwritable
    // path is reported at once, and says that the sweep has not finished
    // until the page proper replaces it at the end.
    let mut html_file = match &page {
        Some(p) => {
            let unfinished = thaw_report::render_sweep_unfinished(
                &p.info(&sweep, &a.html_metric),
                &match &a.out {
                    Some(o) => format!(
                        "Its records are in {o}; run the same command again: it resumes where it stopped, then writes this page."
                    ),
                    None => "Its records went to the standard output; run it again (with --out FILE to keep what it finishes).".to_string(),
                },
            );
            match std::fs::File::create(&p.out)
                .and_then(|mut f| f.write_all(unfinished.as_bytes()).map(|()| f))
            {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("error: cannot create HTML page `{}`: {e}", p.out);
                    return ExitCode::from(4);
                }
            }
        }
        None => None,
    };
    let todo = runs.skip(done as u64);
    let bar = progress(todo.len(), done as u64, runs.len());
    let mut failed = 0u64;
    // Without --out the records are only on standard output: the page's
    // are kept as they go (with --out, the file is read at the end, so a
    // resumed sweep's earlier records are drawn too).
    let mut kept: Vec<thaw_report::SweepRecord> = Vec::new();
    let keep = page.is_some() && a.out.is_none();
    let csv_header: Vec<String> = sweep.header().map(|h| csv_columns(&h)).unwrap_or_default();
    let paths: Vec<String> = page.as_ref().map_or(Vec::new(), |p| {
        p.axes.iter().map(|x| x.path.clone()).collect()
    });
    // Each record is written in one call, unbuffered with --out: a killed
    // sweep leaves every finished record on disk (and at most one cut line,
    // which a resume drops).
    let result = sweep.run(todo, jobs, |_, line, exit| {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        sink.write_all(&bytes)?;
        failed += (exit != 0) as u64;
        if keep {
            if let Some(r) = parse_record(line, format, &csv_header, &paths) {
                kept.push(r);
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
        Ok::<(), std::io::Error>(())
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Err(e) = result.and_then(|_| sink.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the records: {e}");
            return ExitCode::from(4);
        }
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "sweep {}: {} run(s) of {}{}{}; {failed} did not pass (exit ≠ 0){}",
        sweep.id(),
        todo.len(),
        sweep.runs(),
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(" (shard {}/{}: {} runs)", shard.k, shard.n, runs.len())
        },
        if done > 0 {
            format!(", {done} already in {}", a.out.as_deref().unwrap_or("-"))
        } else {
            String::new()
        },
        a.out
            .as_deref()
            .map_or(String::new(), |o| format!("; records in {o}"))
    );
    if let (Some(p), Some(mut f)) = (page, html_file.take()) {
        let records = match &a.out {
            None => kept,
            Some(o) => match read_records(Path::new(o), format, &csv_header, &paths) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot read the records back for the HTML page: {e}");
                    return ExitCode::from(4);
                }
            },
        };
        let html = thaw_report::render_sweep(&p.info(&sweep, &a.html_metric), &records);
        let written = f
            .set_len(0)
            .and_then(|()| f.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| f.write_all(html.as_bytes()))
            .and_then(|()| f.flush());
        if let Err(e) = written {
            eprintln!("error: writing the HTML page `{}` failed: {e}", p.out);
            return ExitCode::from(4);
        }
        eprintln!(
            "HTML page of {} record(s) in {} ({} bytes)",
            records.len(),
            p.out,
            html.len()
        );
    }
    ExitCode::SUCCESS
}

/// What `--html` needs, checked before anything runs.
struct HtmlPlan {
    out: String,
    name: String,
    axes: Vec<thaw_report::SweepAxis>,
    expectations: Vec<String>,
    boundaries: Vec<thaw_report::SweepBoundary>,
}

impl HtmlPlan {
    fn info<'a>(&'a self, sweep: &'a Sweep, metric: &'a str) -> thaw_report::SweepInfo<'a> {
        thaw_report::SweepInfo {
            name: &self.name,
            id: sweep.id(),
            axes: &self.axes,
            seeds: sweep.seeds_per_point(),
            runs: sweep.runs(),
            expectations: &self.expectations,
            heat_metric: metric,
            boundaries: &self.boundaries,
        }
    }
}

fn html_plan(
    a: &SweepArgs,
    out: &str,
    prepared: &Prepared,
    varies: &[Vary],
) -> Result<HtmlPlan, ExitCode> {
    if varies.len() > 2 {
        eprintln!(
            "error: --html draws one or two varied keys, and this sweep varies {}: keep one or two --vary (a plot per metric, or a heatmap) and fix the others with --set",
            varies.len()
        );
        return Err(ExitCode::from(2));
    }
    if crate::same_file(out, &a.file) {
        eprintln!(
            "error: --html {out} would overwrite the scenario file itself; choose another file"
        );
        return Err(ExitCode::from(2));
    }
    if !known_metric(&a.html_metric) {
        eprintln!(
            "error: --html-metric `{}` is not a metric of the records (e.g. errors, errors.ETIMEDOUT, zombie_connection_seconds, platform.live_mean, servers.NAME.errors; docs/metrics are the names `[expect]` uses)",
            a.html_metric
        );
        return Err(ExitCode::from(2));
    }
    let mut boundaries = Vec::new();
    for file in &a.boundaries {
        boundaries.extend(read_boundaries(file).map_err(|e| {
            eprintln!("error: --boundaries {file}: {e}");
            ExitCode::from(2)
        })?);
    }
    let scenario = prepared.scenario();
    Ok(HtmlPlan {
        out: out.to_string(),
        name: scenario.config.name.clone(),
        axes: varies
            .iter()
            .map(|v| thaw_report::SweepAxis {
                path: v.path.clone(),
                log: matches!(v.spec, thaw_explore::Spec::Range { log: true, .. }),
            })
            .collect(),
        expectations: scenario
            .expectations
            .iter()
            .map(|e| e.expr.clone())
            .collect(),
        boundaries,
    })
}

/// A metric name a record can have, as `[expect]` and the CSV name them.
fn known_metric(name: &str) -> bool {
    use thaw_sim::expect::{METRIC_NAMES, PLATFORM_METRIC_FIELDS};
    if let Some(kind) = name.strip_prefix("errors.") {
        return thaw_sim::ErrorKind::ALL.iter().any(|k| k.name() == kind);
    }
    if let Some(f) = name.strip_prefix("platform.") {
        return PLATFORM_METRIC_FIELDS.contains(&f);
    }
    if let Some(rest) = name.strip_prefix("servers.") {
        return rest.split('.').count() == 2 && rest.split('.').all(|p| !p.is_empty());
    }
    !matches!(name, "errors_by_kind" | "platform" | "servers") && METRIC_NAMES.contains(&name)
}

/// The boundaries in a `thaw boundary --format json` file.
fn read_boundaries(file: &str) -> Result<Vec<thaw_report::SweepBoundary>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read it: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("not JSON ({e}); write it with thaw boundary --format json"))?;
    let not = || "not the output of thaw boundary --format json".to_string();
    let path = v.get("path").and_then(|p| p.as_str()).ok_or_else(not)?;
    let cell = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    v.get("boundaries")
        .and_then(|b| b.as_array())
        .ok_or_else(not)?
        .iter()
        .map(|b| {
            Some(thaw_report::SweepBoundary {
                path: path.to_string(),
                pass: cell(b.get("pass")?),
                fail: cell(b.get("fail")?),
                change: b.get("change")?.as_str()?.to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(not)
}

/// A CSV header line's columns.
fn csv_columns(header: &str) -> Vec<String> {
    // The header's names never need quotes but a varied path could.
    header
        .split(',')
        .map(|c| c.trim_matches('"').to_string())
        .collect()
}

fn parse_record(
    line: &str,
    format: Format,
    header: &[String],
    paths: &[String],
) -> Option<thaw_report::SweepRecord> {
    match format {
        Format::Jsonl => thaw_report::SweepRecord::from_json(line, paths),
        Format::Csv => thaw_report::SweepRecord::from_csv(header, line, paths),
    }
}

/// Every record of the `--out` file (this sweep's: it was checked when the
/// sweep resumed it).
fn read_records(
    path: &Path,
    format: Format,
    header: &[String],
    paths: &[String],
) -> Result<Vec<thaw_report::SweepRecord>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(text
        .lines()
        .skip(usize::from(format == Format::Csv))
        .filter_map(|l| parse_record(l, format, header, paths))
        .collect())
}

/// A progress bar on stderr when it is a terminal.
fn progress(todo: u64, done: u64, total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || todo == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_position(done);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

pub fn cmd_merge(a: &MergeArgs) -> ExitCode {
    match merge(&a.out, &a.shards) {
        Ok(n) => {
            eprintln!(
                "merged {} shard(s): {n} records in {}",
                a.shards.len(),
                a.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was written");
            ExitCode::from(2)
        }
    }
}

pub fn cmd_boundary(a: &BoundaryArgs, overrides: &[Override]) -> ExitCode {
    let prepared = match prepare(&a.file, overrides) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let vary = match Vary::parse(&a.vary) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --vary {}: {e}", a.vary);
            return ExitCode::from(2);
        }
    };
    if let Err(e) = validate_vary(&prepared, &vary) {
        return vary_error(e, "--vary");
    }
    let until = match &a.until {
        None => None,
        Some(t) => match Expectation::parse(t) {
            Ok(x) => Some(x),
            Err(e) => {
                eprintln!(
                    "error: --until `{t}`: {}{}",
                    e.message,
                    e.hint.map(|h| format!(" ({h})")).unwrap_or_default()
                );
                return ExitCode::from(2);
            }
        },
    };
    if until.is_none() && prepared.scenario().expectations.is_empty() {
        eprintln!(
            "error: `{}` has no [expect] assertions: give the property with --until EXPR",
            display_name(&a.file)
        );
        return ExitCode::from(2);
    }
    let resolution = match &a.resolution {
        None => None,
        Some(r) => match VaryValue::parse(r) {
            VaryValue::Duration(d) => Some(d.as_nanos() as f64),
            VaryValue::Int(i) if i > 0 => Some(i as f64),
            VaryValue::Float(f) if f > 0.0 => Some(f),
            _ => {
                eprintln!("error: --resolution `{r}` is not a positive duration or number");
                return ExitCode::from(2);
            }
        },
    };
    let q = Query {
        vary: &vary,
        grid: a.grid,
        resolution,
        until,
        seed: a.seed,
    };
    let found = match boundary::search(&prepared, &q) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let as_json = |v: &VaryValue| thaw_explore::sweep::toml_to_json(&v.to_toml());
    match a.format {
        BoundaryFormat::Json => {
            let v = serde_json::json!({
                "path": vary.path,
                "range": vary.written,
                "grid": a.grid,
                "runs": found.runs,
                "passes_at_lo": found.passes_at_lo,
                "boundaries": found.boundaries.iter().map(|b| serde_json::json!({
                    "pass": as_json(&b.pass),
                    "fail": as_json(&b.fail),
                    "runs": b.runs,
                    "change": b.change,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        }
        BoundaryFormat::Text => {
            println!(
                "{} in {} ({}-point grid{}): {} boundar{} in {} runs",
                vary.path,
                vary.written,
                a.grid,
                a.resolution
                    .as_deref()
                    .map_or(String::new(), |r| format!(", resolution {r}")),
                found.boundaries.len(),
                if found.boundaries.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                found.runs
            );
            if found.boundaries.is_empty() {
                println!(
                    "  the property {} at every grid point (a flip narrower than the grid spacing can hide: raise --grid)",
                    if found.passes_at_lo { "holds" } else { "fails" }
                );
            }
            for b in &found.boundaries {
                println!("  passes at {}, fails at {}: {}", b.pass, b.fail, b.change);
            }
        }
    }
    ExitCode::SUCCESS
}

pub fn cmd_check(a: &CheckArgs, overrides: &[Override]) -> ExitCode {
    let prepared = match prepare(&a.file, overrides) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let varies = if a.varies.is_empty() {
        prepared.vary().to_vec()
    } else {
        match parse_varies(&a.varies) {
            Ok(v) => v,
            Err(c) => return c,
        }
    };
    for v in &varies {
        if let Err(e) = validate_vary(&prepared, v) {
            return vary_error(e, &format!("--vary {}={}", v.path, v.written));
        }
    }
    if prepared.scenario().expectations.is_empty() {
        eprintln!(
            "error: `{}` has no [expect] assertions: they are the property thaw check tests",
            display_name(&a.file)
        );
        return ExitCode::from(2);
    }
    let checked = match check::check(&prepared, &varies, a.cases, a.seed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let ranges: Vec<String> = varies
        .iter()
        .map(|v| format!("{} in {}", v.path, v.written))
        .collect();
    let ce = match checked {
        Checked::Passed { cases } => {
            println!(
                "{cases} cases passed: every expectation held for {} (generator seed {})",
                ranges.join(", "),
                a.seed
            );
            return ExitCode::SUCCESS;
        }
        Checked::Failed(ce) => ce,
    };
    let mut how = format!("thaw check {}", shell_quote(&a.file));
    for o in overrides {
        let [flag, v] = o.as_args();
        how.push_str(&format!(" {flag} {}", shell_quote(v)));
    }
    for v in &varies {
        how.push_str(&format!(
            " --vary {}",
            shell_quote(&format!("{}={}", v.path, v.written))
        ));
    }
    how.push_str(&format!(" --cases {} --seed {}", a.cases, a.seed));
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = Path::new(display_name(&a.file))
            .file_stem()
            .map_or("scenario".to_string(), |s| s.to_string_lossy().into_owned());
        format!("{stem}.counterexample.toml")
    });
    if Path::new(&out) == Path::new(&a.file) {
        eprintln!("error: --out {out} would overwrite the scenario file");
        return ExitCode::from(2);
    }
    let text = match ce.file(&prepared, &how) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: the counterexample does not make a scenario file: {e}");
            return ExitCode::from(4);
        }
    };
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("error: cannot write `{out}`: {e}");
        return ExitCode::from(4);
    }
    println!(
        "counterexample (case {} of {}): {}",
        ce.case, a.cases, ce.reason
    );
    for (p, v) in ce.settings() {
        println!("  {p} = {v}");
    }
    println!(
        "shrunk in {} further runs; written to {out}",
        ce.shrink_runs
    );
    println!("rerun: thaw run {}", shell_quote(&out));
    ExitCode::from(1)
}
