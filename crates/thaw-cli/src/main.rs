//! `thaw`: run freeze/thaw scenarios and explain what happened.
//!
//! Exit codes: 0 the run finished and every expectation held; 1 an
//! expectation failed; 2 usage or scenario error; 3 the run could not
//! finish (event budget exceeded); 4 an output file could not be written.
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;
use thaw_core::Level;
use thaw_scenario::{load, run_scenario_with, Report};
use thaw_sim::jsonl::{JsonlSink, StreamTimeline};

#[derive(Parser)]
#[command(
    name = "thaw",
    version,
    about = "Deterministic simulator of database and cache connections across serverless freeze, thaw and reap"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file and print its timeline (or JSON report).
    Run {
        /// The scenario file (TOML).
        file: String,
        /// Seed for the run's random streams (default: the file's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a value by its dotted path, e.g. server.idle_timeout=310s.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write every event as JSON lines to this file.
        #[arg(long, value_name = "FILE")]
        trace: Option<String>,
        /// Include every packet and timer in the text timeline.
        #[arg(long, short)]
        verbose: bool,
        /// Totals only: no timeline and no per-invocation rows (memory does
        /// not grow with the number of invocations).
        #[arg(long)]
        summary: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run {
            file,
            seed,
            sets,
            format,
            trace,
            verbose,
            summary,
        } => cmd_run(
            &file,
            seed,
            &sets,
            format,
            trace.as_deref(),
            verbose,
            summary,
        ),
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn rerun_command(file: &str, seed: u64, sets: &[String]) -> String {
    let mut cmd = format!("thaw run {} --seed {seed}", shell_quote(file));
    for s in sets {
        cmd.push_str(&format!(" --set {}", shell_quote(s)));
    }
    cmd
}

fn cmd_run(
    file: &str,
    seed: Option<u64>,
    sets: &[String],
    format: Format,
    trace_path: Option<&str>,
    verbose: bool,
    summary: bool,
) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read scenario file `{file}`: {e}");
            return ExitCode::from(2);
        }
    };
    let scenario = match load(file, &text, sets) {
        Ok(s) => s,
        Err(err) => {
            eprint!("{}", err.render());
            let n = err.diagnostics.len();
            eprintln!(
                "error: `{file}` has {n} problem{}; nothing was run",
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::from(2);
        }
    };
    let mut jsonl = match trace_path {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(JsonlSink::new(std::io::BufWriter::new(f), Level::Detail)),
            Err(e) => {
                eprintln!("error: cannot create trace file `{p}`: {e}");
                return ExitCode::from(4);
            }
        },
        None => None,
    };
    let effective_seed = seed.unwrap_or(scenario.config.seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if format == Format::Text && write_header(&mut out, &scenario, effective_seed).is_err() {
        return ExitCode::from(4);
    }
    let mut timeline = StreamTimeline {
        w: &mut out,
        verbose,
        quiet: summary || format == Format::Json,
        also: jsonl.as_mut().map(|s| s as &mut dyn thaw_core::TraceSink),
        error: None,
    };
    let result = run_scenario_with(&scenario, seed, &mut timeline, !summary);
    let write_error = timeline.error.take();
    drop(timeline);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = out.flush();
            eprintln!("error: {e}");
            eprintln!(
                "seed {effective_seed}; rerun: {}",
                rerun_command(file, effective_seed, sets)
            );
            return ExitCode::from(3);
        }
    };
    if let Some(sink) = jsonl {
        if let Err(e) = sink.finish() {
            eprintln!("error: writing the trace failed: {e}");
            return ExitCode::from(4);
        }
    }
    let written = match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.json).expect("report serializes")
        ),
        Format::Text => write_text(&mut out, &scenario, &report, summary),
    };
    if write_error.is_some() || written.is_err() || out.flush().is_err() {
        return ExitCode::from(4);
    }
    if !report.passed() {
        let failed = report.expectations.iter().filter(|e| !e.passed).count();
        eprintln!(
            "{failed} expectation(s) failed; seed {}; rerun: {}",
            report.seed,
            rerun_command(file, report.seed, sets)
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn write_header(
    out: &mut impl Write,
    scenario: &thaw_scenario::Scenario,
    seed: u64,
) -> std::io::Result<()> {
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
    writeln!(out)?;
    writeln!(out, "timeline:")
}

fn write_text(
    out: &mut impl Write,
    scenario: &thaw_scenario::Scenario,
    report: &Report,
    summary: bool,
) -> std::io::Result<()> {
    let many = !scenario.config.client.handlers.is_empty();
    if summary {
        writeln!(out, "  (not shown: --summary)")?;
    }
    writeln!(out)?;
    if !summary {
        writeln!(out, "invocations:")?;
        writeln!(
            out,
            "  {:>5}  {:>12}  {:>9}  {:>4}  {:<7} {:<22} {:>12}{}",
            "id",
            "at",
            "env",
            "cold",
            "outcome",
            "error",
            "latency",
            if many { "  function" } else { "" }
        )?;
        for o in &report.result.outcomes {
            writeln!(
                out,
                "  {:>5}  {:>12}  {:>9}  {:>4}  {:<7} {:<22} {:>12}{}{}",
                o.id,
                o.at.to_string(),
                if o.container == 0 {
                    "-".to_string()
                } else {
                    format!("env-{}", o.container)
                },
                if o.cold { "yes" } else { "no" },
                if o.error.is_some() { "error" } else { "ok" },
                o.error.map(|e| e.name()).unwrap_or("-"),
                o.latency.to_string(),
                if many {
                    format!("  {}", scenario.config.client.function_name(o.function))
                } else {
                    String::new()
                },
                if o.stale_reads > 0 {
                    format!("  stale reads: {}", o.stale_reads)
                } else {
                    String::new()
                }
            )?;
        }
    }
    let m = &report.result.metrics;
    writeln!(out)?;
    writeln!(out, "metrics:")?;
    writeln!(
        out,
        "  invocations {}  cold starts {}  errors {}  environments {}",
        m.invocations, m.cold_starts, m.errors, m.environments
    )?;
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
    }
    Ok(())
}
