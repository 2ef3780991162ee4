//! `thaw`: run freeze/thaw scenarios and explain what happened.
//!
//! Exit codes: 0 the run finished and every expectation held; 1 an
//! expectation failed; 2 usage or scenario error; 3 the run could not
//! finish (event budget exceeded); 4 an output could not be written.
mod author;
mod explore;
mod out;
mod style;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use out::{JsonReport, Out, TextRows};
use std::io::{Read, Write};
use std::process::ExitCode;
use thaw_core::Level;
use thaw_scenario::diag::parse_seed;
use thaw_scenario::limits::MAX_FILE_BYTES;
use thaw_scenario::{load_with, run_scenario_streaming, Override, Report, Scenario};
use thaw_sim::jsonl::{JsonlSink, StreamTimeline};

#[derive(Parser)]
#[command(
    name = "thaw",
    version,
    about = "Deterministic simulator of database and cache connections across serverless freeze, thaw and reap",
    after_help = "Exit codes: 0 done (run: every expectation held; check: every case passed); 1 an expectation failed (run) or a counterexample was found (check); 2 usage or scenario error; 3 the run exhausted its event budget; 4 an output could not be written.\nDocs: README.md, docs/scenario-format.md, docs/exploring.md."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour diagnostics and the text report: auto (on a terminal, unless
    /// NO_COLOR is set), always, or never.
    #[arg(long, value_enum, global = true, default_value_t = style::ColorChoice::Auto)]
    color: style::ColorChoice,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file and print its timeline (or JSON report).
    Run(RunArgs),
    /// Run every point of a grid of varied values (and seeds); one record
    /// per run, JSON lines or CSV.
    Sweep(explore::SweepArgs),
    /// Join the outputs of `thaw sweep --shard 1/N … N/N` into the bytes
    /// the unsharded sweep writes.
    Merge(explore::MergeArgs),
    /// Find every value of one key where the verdict flips, to the
    /// nanosecond.
    Boundary(explore::BoundaryArgs),
    /// Property-test a scenario: random points of the varied ranges must
    /// satisfy its [expect]; a failure is shrunk and written as a file.
    Check(explore::CheckArgs),
    /// Check scenario files without running them: every problem of every
    /// file (exit 0 all valid, 2 otherwise).
    Validate(author::ValidateArgs),
    /// Print the resolved scenario: every key with its final value and where
    /// it came from (file:line, preset, default, --set).
    ///
    /// Every key of every table the scenario has, with the value it takes
    /// after presets, defaults, --set and --unset, followed by a comment
    /// naming its source: FILE:LINE, `preset NAME`, `default` or `--set`. The
    /// output is a scenario `thaw run` accepts as it is, with the same trace;
    /// relative paths in it are read from its own directory, so save it
    /// beside the original. --format json gives the keys, values and sources
    /// for tools (docs/scenario-format.md, "The resolved scenario").
    Config(author::ConfigArgs),
    /// Start a scenario from a bundled one (`thaw new --list` shows them).
    New(author::NewArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell,
    /// elvish).
    Completions(author::CompletionsArgs),
    /// Print thaw's man page (roff), or write one per subcommand.
    Man(author::ManArgs),
    /// Print the JSON Schema of scenario files, for editors
    /// (docs/thaw-scenario.schema.json is a copy).
    Schema,
}

#[derive(Args)]
struct RunArgs {
    /// The scenario file (TOML); `-` reads it from standard input.
    file: String,
    /// Seed for the run's random streams, 0..=18446744073709551615
    /// (default: the file's, else 1).
    #[arg(long, value_parser = seed_arg, allow_hyphen_values = true)]
    seed: Option<u64>,
    /// Override a value by its dotted path, e.g. server.idle_timeout=310s.
    #[arg(long = "set", value_name = "PATH=VALUE", add = crate::author::key_completer(true))]
    sets: Vec<String>,
    /// Remove a key the file writes (its default or preset value applies),
    /// e.g. --unset function.tcp.keepalive. Applied in order with --set.
    #[arg(long = "unset", value_name = "PATH", add = crate::author::key_completer(false))]
    unsets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write every event as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    trace: Option<String>,
    /// Write a self-contained HTML report (connection swimlanes, an
    /// overview, metrics and verdicts) to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<String>,
    /// With --html, also draw the swimlane of connection N (numbered in the
    /// order the run opens them, as the report's titles number them), with
    /// every packet, however late in the run it comes.
    #[arg(long, value_name = "N", requires = "html", value_parser = clap::value_parser!(u64).range(1..))]
    html_conn: Option<u64>,
    /// Include every packet and timer in the text timeline.
    #[arg(long, short)]
    verbose: bool,
    /// Totals only: no timeline and no per-invocation rows (verdicts are the
    /// same).
    #[arg(long)]
    summary: bool,
}

pub(crate) fn seed_arg(s: &str) -> Result<u64, String> {
    parse_seed(s)
}

fn main() -> ExitCode {
    // Dynamic completion (`source <(COMPLETE=bash thaw)`): answers the
    // shell and exits when COMPLETE is set, else does nothing.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let overrides = matches
        .subcommand()
        .map(|(_, sub)| overrides_in_order(sub))
        .unwrap_or_default();
    let color = cli.color;
    match cli.command {
        Command::Run(args) => cmd_run(&args, &overrides, color),
        Command::Validate(args) => author::cmd_validate(&args, style::Style::stderr(color)),
        Command::Config(args) => author::cmd_config(&args, &overrides, style::Style::stderr(color)),
        Command::New(args) => author::cmd_new(&args),
        Command::Completions(args) => author::cmd_completions(&args),
        Command::Man(args) => author::cmd_man(&args),
        Command::Schema => author::cmd_schema(),
        Command::Sweep(args) => explore::cmd_sweep(&args, &overrides),
        Command::Merge(args) => explore::cmd_merge(&args),
        Command::Boundary(args) => explore::cmd_boundary(&args, &overrides),
        Command::Check(args) => explore::cmd_check(&args, &overrides),
    }
}

/// `--set` and `--unset` in the order they were written.
fn overrides_in_order(m: &ArgMatches) -> Vec<Override> {
    let mut all: Vec<(usize, Override)> = Vec::new();
    for (id, make) in [
        ("sets", Override::Set as fn(String) -> Override),
        ("unsets", Override::Unset),
    ] {
        let known = m.ids().any(|i| i.as_str() == id);
        if !known {
            continue;
        }
        if let (Some(vals), Some(idx)) = (m.get_many::<String>(id), m.indices_of(id)) {
            all.extend(idx.zip(vals).map(|(i, v)| (i, make(v.clone()))));
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, o)| o).collect()
}

pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that reproduces this run exactly: same file, seed,
/// overrides and outputs.
fn rerun_command(args: &RunArgs, overrides: &[Override], seed: u64) -> String {
    let mut cmd = format!("thaw run {} --seed {seed}", shell_quote(&args.file));
    for o in overrides {
        let [flag, v] = o.as_args();
        cmd.push_str(&format!(" {flag} {}", shell_quote(v)));
    }
    if args.format == Format::Json {
        cmd.push_str(" --format json");
    }
    if args.summary {
        cmd.push_str(" --summary");
    }
    if args.verbose {
        cmd.push_str(" --verbose");
    }
    if let Some(t) = &args.trace {
        cmd.push_str(&format!(" --trace {}", shell_quote(t)));
    }
    if let Some(h) = &args.html {
        cmd.push_str(&format!(" --html {}", shell_quote(h)));
    }
    if let Some(n) = args.html_conn {
        cmd.push_str(&format!(" --html-conn {n}"));
    }
    if args.file == "-" {
        cmd.push_str("   (with the same standard input)");
    }
    cmd
}

/// Reads the scenario, refusing more than the size limit without reading
/// it all.
pub(crate) fn read_scenario(file: &str) -> Result<String, String> {
    let mut buf = Vec::new();
    let limit = MAX_FILE_BYTES as u64 + 1;
    let read = if file == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    let what = if file == "-" {
        "the scenario from standard input".to_string()
    } else {
        format!("scenario file `{file}`")
    };
    read.map_err(|e| format!("cannot read {what}: {e}"))?;
    if buf.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{what} is larger than {MAX_FILE_BYTES} bytes (1 MiB), the most thaw reads; describe large workloads with `workload.poisson` (a rate and a count) instead of long lists"
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// True when `trace` names the scenario file itself (or the same inode).
fn same_file(trace: &str, scenario: &str) -> bool {
    if scenario == "-" {
        return false;
    }
    match (
        std::fs::canonicalize(trace),
        std::fs::canonicalize(scenario),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => trace == scenario,
    }
}

fn cmd_run(args: &RunArgs, overrides: &[Override], color: style::ColorChoice) -> ExitCode {
    let serr = style::Style::stderr(color);
    let file = args.file.as_str();
    let name = if file == "-" { "<stdin>" } else { file };
    let text = match read_scenario(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let scenario = match load_with(name, &text, overrides) {
        Ok(s) => s,
        Err(err) => {
            eprint!("{}", serr.diagnostics(&err.render()));
            eprintln!(
                "{} `{name}` {}; nothing was run",
                serr.error("error:"),
                err.diagnostics.summary()
            );
            return ExitCode::from(2);
        }
    };
    if !scenario.warnings.is_empty() {
        eprint!(
            "{}",
            serr.diagnostics(&scenario.warnings.render(&text).replace("  × ", "  ⚠ "))
        );
        eprintln!(
            "warning: `{name}` has {} setting{} that cannot act",
            scenario.warnings.len(),
            if scenario.warnings.len() == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    for (flag, path) in [("--trace", &args.trace), ("--html", &args.html)] {
        if let Some(t) = path {
            if same_file(t, file) {
                eprintln!(
                    "error: {flag} {t} would overwrite the scenario file itself; choose another file"
                );
                return ExitCode::from(2);
            }
        }
    }
    if let (Some(t), Some(h)) = (&args.trace, &args.html) {
        if same_file(t, h) {
            eprintln!("error: --trace and --html name the same file `{h}`; choose two files");
            return ExitCode::from(2);
        }
    }
    let mut jsonl = match &args.trace {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(JsonlSink::new(std::io::BufWriter::new(f), Level::Detail)),
            Err(e) => {
                eprintln!("error: cannot create trace file `{p}`: {e}");
                return ExitCode::from(4);
            }
        },
        None => None,
    };
    // The report file is created before the run, so that an unwritable
    // path is reported at once; it is written when the run is over.
    let mut html = match &args.html {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => {
                let c = thaw_report::HtmlCollector::new(&scenario.config);
                let c = match args.html_conn {
                    Some(n) => c.choose(usize::try_from(n).unwrap_or(usize::MAX)),
                    None => c,
                };
                Some((f, c))
            }
            Err(e) => {
                eprintln!("error: cannot create HTML report `{p}`: {e}");
                return ExitCode::from(4);
            }
        },
        None => None,
    };
    let mut also = thaw_report::Tee {
        a: jsonl.as_mut().map(|s| s as &mut dyn thaw_core::TraceSink),
        b: html
            .as_mut()
            .map(|(_, c)| c as &mut dyn thaw_core::TraceSink),
    };
    let effective_seed = args.seed.unwrap_or(scenario.config.seed);
    let mut out = Out::stdout();
    // Rows stream as invocations end: into the JSON report directly, or
    // into a temporary file while the text timeline prints.
    let report = match args.format {
        Format::Json => {
            let mut rows = JsonReport::begin(&mut out, &scenario, effective_seed, args.summary);
            let mut timeline = StreamTimeline {
                w: std::io::sink(),
                verbose: false,
                quiet: true,
                also: Some(&mut also),
                error: None,
            };
            let report = run_scenario_streaming(&scenario, args.seed, &mut timeline, &mut rows);
            rows.end(&report, &scenario);
            report
        }
        Format::Text => {
            let mut out = style::Lines::new(&mut out, style::Style::stdout(color));
            let _ = write_header(&mut out, &scenario, effective_seed);
            let mut rows = match TextRows::new(
                args.summary,
                many_functions(&scenario),
                many_servers(&scenario),
            ) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!(
                        "error: cannot create a temporary file for the invocation table: {e}"
                    );
                    return ExitCode::from(4);
                }
            };
            let mut timeline = StreamTimeline {
                w: &mut out,
                verbose: args.verbose,
                quiet: args.summary,
                also: Some(&mut also),
                error: None,
            };
            let report = run_scenario_streaming(&scenario, args.seed, &mut timeline, &mut rows);
            drop(timeline);
            let _ = write_text(&mut out, &scenario, &report, args.summary, &mut rows);
            report
        }
    };
    let trace_error = jsonl.and_then(|sink| sink.finish().err());
    let html_error = html.and_then(|(mut f, c)| {
        let page = thaw_report::render(c, &scenario, &report);
        f.write_all(page.as_bytes()).and_then(|()| f.flush()).err()
    });
    if let Some(e) = &html_error {
        eprintln!(
            "error: writing the HTML report `{}` failed: {e}",
            args.html.as_deref().unwrap_or_default()
        );
    }
    let out_error = out.finish();
    if let Some(e) = &out_error {
        eprintln!("error: cannot write the report to standard output: {e}");
    }
    if let Some(e) = &trace_error {
        eprintln!(
            "error: writing the trace file `{}` failed: {e}",
            args.trace.as_deref().unwrap_or_default()
        );
    }
    let rerun = rerun_command(args, overrides, report.seed);
    if let Some(e) = report.stopped() {
        eprintln!("error: {e}");
        eprintln!("seed {}; rerun: {rerun}", report.seed);
        return ExitCode::from(3);
    }
    if out_error.is_some() || trace_error.is_some() || html_error.is_some() {
        return ExitCode::from(4);
    }
    if !report.passed() {
        let failed = report.expectations.iter().filter(|e| !e.passed).count();
        eprintln!(
            "{failed} expectation(s) failed; seed {}; rerun: {rerun}",
            report.seed
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The servers' names, when the scenario has several (the table then says
/// which one a failed request went to).
fn many_servers(scenario: &Scenario) -> Option<Vec<String>> {
    let s = &scenario.config.servers;
    (s.len() > 1).then(|| s.iter().map(|s| s.name.clone()).collect())
}

fn many_functions(scenario: &Scenario) -> Option<Vec<String>> {
    let cl = &scenario.config.client;
    if cl.handlers.is_empty() {
        return None;
    }
    Some(
        (0..=cl.handlers.len())
            .map(|i| cl.function_name(i as u16).to_string())
            .collect(),
    )
}

fn write_header(out: &mut impl Write, scenario: &Scenario, seed: u64) -> std::io::Result<()> {
    writeln!(
        out,
        "thaw {} — {} (seed {seed})",
        env!("CARGO_PKG_VERSION"),
        scenario.config.name
    )?;
    if !scenario.description.is_empty() {
        for l in scenario.description.trim().lines() {
            writeln!(out, "  {}", l.trim())?;
        }
    }
    for n in &scenario.notes {
        writeln!(out, "  note: {n}")?;
    }
    writeln!(out)?;
    writeln!(out, "timeline:")
}

fn write_text(
    out: &mut impl Write,
    scenario: &Scenario,
    report: &Report,
    summary: bool,
    rows: &mut TextRows,
) -> std::io::Result<()> {
    if summary {
        writeln!(out, "  (not shown: --summary)")?;
    }
    if let Some(e) = report.stopped() {
        writeln!(out, "  stopped: {e}")?;
    }
    writeln!(out)?;
    if !summary {
        rows.copy_to(out)?;
    }
    let m = &report.result.metrics;
    writeln!(out)?;
    writeln!(
        out,
        "metrics:{}",
        if report.stopped().is_some() {
            " (of the invocations finished before the run stopped)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "  invocations {}  cold starts {}  errors {}  environments {}",
        m.invocations, m.cold_starts, m.errors, m.environments
    )?;
    let env_line = |out: &mut dyn Write, who: &str, p: &thaw_sim::report::EnvironmentMetrics| {
        writeln!(
            out,
            "  {who}environments: mean live {:.3} (max {}), busy {:.3} (max {}), idle {:.3} (max {}); utilisation {:.1} %; cold-start probability {:.4}; throttled {:.4}",
            p.live_mean,
            p.live_max,
            p.busy_mean,
            p.busy_max,
            p.idle_mean,
            p.idle_max,
            100.0 * p.utilization,
            p.cold_start_probability,
            p.throttle_probability
        )
    };
    env_line(out, "", &m.platform.all)?;
    for (name, p) in &m.platform.functions {
        env_line(out, &format!("{name}: "), p)?;
    }
    if !m.errors_by_kind.is_empty() {
        let kinds: Vec<String> = m
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(out, "  errors by kind: {}", kinds.join(", "))?;
    }
    writeln!(
        out,
        "  latency p50 {:.6}s  p99 {:.6}s",
        m.latency_p50_s, m.latency_p99_s
    )?;
    writeln!(
        out,
        "  server connections: peak {}, open at end {}; zombie connection-seconds {:.3}; connections opened by functions {}",
        m.server_connections_peak, m.server_connections_at_end, m.zombie_connection_seconds, m.connections_opened
    )?;
    if m.server_rejected + m.server_evicted + m.server_killed + m.syn_dropped > 0
        || m.server_memory_peak_bytes > 0
    {
        writeln!(
            out,
            "  server: refused {}, evicted {}, killed by clients {}, SYNs dropped {}, memory peak {} bytes",
            m.server_rejected,
            m.server_evicted,
            m.server_killed,
            m.syn_dropped,
            m.server_memory_peak_bytes
        )?;
    }
    if m.servers.len() > 1 {
        for (name, s) in &m.servers {
            writeln!(
                out,
                "  server {name}: peak {}, open at end {}, refused {}, evicted {}, SYNs dropped {}, failed requests {}",
                s.connections_peak, s.connections_at_end, s.rejected, s.evicted, s.syn_dropped, s.errors
            )?;
        }
    }
    if m.stale_reads + m.duplicate_writes > 0 {
        writeln!(
            out,
            "  stale reads {}  duplicate writes {}",
            m.stale_reads, m.duplicate_writes
        )?;
    }
    if m.proxy_client_peak > 0 {
        writeln!(
            out,
            "  proxy: database connections peak {}, client connections peak {}, pinned {}, borrow timeouts {}, zombie connection-seconds {:.3}",
            m.proxy_backend_peak,
            m.proxy_client_peak,
            m.proxy_pinned,
            m.proxy_borrow_timeouts,
            m.proxy_zombie_connection_seconds
        )?;
    }
    writeln!(out, "  events {}", m.events)?;
    if m.unfinished + m.events_beyond_end > 0 {
        writeln!(
            out,
            "  invocations that never ended {}; events beyond the end of time {}",
            m.unfinished, m.events_beyond_end
        )?;
    }
    if !report.expectations.is_empty() {
        writeln!(out)?;
        writeln!(out, "expectations:")?;
        for e in &report.expectations {
            writeln!(
                out,
                "  {} {}   (actual: {})",
                if e.passed { "ok  " } else { "FAIL" },
                e.expr,
                e.actual
            )?;
        }
    } else if !scenario.expectations.is_empty() && report.stopped().is_some() {
        writeln!(out)?;
        writeln!(out, "expectations: not checked (the run did not finish)")?;
    }
    Ok(())
}
