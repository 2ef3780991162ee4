//! thaw-lab: runs freeze/thaw cases on the real Linux network stack with
//! real servers (network namespaces, nftables, conntrack, redis-server,
//! PostgreSQL, MariaDB) and compares each with thaw's simulation of the same
//! case. See docs/calibration.md.
#![warn(missing_docs)]

mod cases;
mod client;
mod clock;
mod compare;
mod defaults;
mod netns;
mod observe;
mod proto;
mod report;
mod run;
mod scenario;
mod servers;
mod setup;
mod sim;

use std::io::Write as _;
use std::process::ExitCode;

/// Prints a line on stdout; a closed pipe (`thaw-lab list | head`) is not
/// an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

const USAGE: &str = "usage:
  thaw-lab setup                     install what the lab needs (apt-get; starts no service)
  thaw-lab defaults                  thaw's defaults against this machine's kernel (a fresh
                                     namespace) and servers (no configuration); needs root;
                                     exit 1 if any value differs
  thaw-lab list                      the cases, one line each
  thaw-lab scenario CASE             the thaw scenario generated for CASE (planned times)
  thaw-lab run [--case NAME]... [--out FILE] [--markdown FILE]
                                     run the cases (needs root); JSON results to FILE
                                     (default lab-results.json); --markdown writes the
                                     results table (between markers if FILE has them);
                                     exit 1 if any case disagrees";

/// Whether the effective user is root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn list() -> i32 {
    for c in cases::all() {
        say!(
            "{:<40} {:<8} {:<10} {:<5} {}",
            c.name,
            c.server.label(),
            c.path.label(),
            c.freeze.label(),
            c.desc
        );
    }
    0
}

fn show_scenario(name: &str) -> i32 {
    match cases::find(name) {
        Some(c) => {
            let mut out = std::io::stdout().lock();
            let _ =
                out.write_all(scenario::generate(&c, &scenario::Timing::planned(&c)).as_bytes());
            0
        }
        None => {
            eprintln!("no case named `{name}` (thaw-lab list)");
            2
        }
    }
}

fn run_cmd(args: &[String]) -> i32 {
    let mut names = Vec::new();
    let mut out = "lab-results.json".to_string();
    let mut markdown: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let value = |i: usize| args.get(i + 1).cloned();
        match args[i].as_str() {
            "--case" => match value(i) {
                Some(v) => names.push(v),
                None => return usage_error("--case needs a name"),
            },
            "--out" => match value(i) {
                Some(v) => out = v,
                None => return usage_error("--out needs a file"),
            },
            "--markdown" => match value(i) {
                Some(v) => markdown = Some(v),
                None => return usage_error("--markdown needs a file"),
            },
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
        i += 2;
    }
    let all = cases::all();
    let selected: Vec<cases::Case> = if names.is_empty() {
        all
    } else {
        let mut v = Vec::new();
        for n in &names {
            match all.iter().find(|c| c.name == n) {
                Some(c) => v.push(c.clone()),
                None => return usage_error(&format!("no case named `{n}` (thaw-lab list)")),
            }
        }
        v
    };
    if !is_root() {
        eprintln!(
            "thaw-lab run needs root: it creates network namespaces, nftables rules and sysctls, and starts servers in them (try: sudo thaw-lab run)"
        );
        return 2;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find my own executable: {e}");
            return 2;
        }
    };
    for n in netns::remove_stale() {
        say!("removed {n}, left by an earlier run");
    }
    let mut work = match servers::Workdir::create() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let started = clock::now_ns();
    let mut results = Vec::new();
    for (idx, case) in selected.iter().enumerate() {
        let r = run::run_case(case, idx, &mut work, &exe);
        say!("{}", report::line(&r));
        if r.verdict != compare::Verdict::Agree && r.verdict != compare::Verdict::PendingModel {
            say!("{}", report::details(&r).trim_end());
        }
        results.push(r);
    }
    let meta = report::Meta {
        date: report::date_of(started / 1_000_000_000),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        versions: servers::versions(),
        client_tolerance_ms: compare::CLIENT_TOL_MS,
        death_tolerance_ms: compare::DEATH_TOL_MS,
        sample_ms: run::SAMPLE_MS,
        total_s: (clock::now_ns() - started) as f64 / 1e9,
    };
    let json = serde_json::to_string_pretty(&report::Results {
        meta: &meta,
        cases: &results,
    })
    .expect("results serialize");
    if let Err(e) = std::fs::write(&out, json + "\n") {
        eprintln!("cannot write {out}: {e}");
        return 2;
    }
    if let Some(md) = markdown {
        let existing = std::fs::read_to_string(&md).ok();
        let text = report::splice(existing.as_deref(), &report::markdown(&meta, &results));
        if let Err(e) = std::fs::write(&md, text) {
            eprintln!("cannot write {md}: {e}");
            return 2;
        }
    }
    let count = |v: compare::Verdict| results.iter().filter(|r| r.verdict == v).count();
    say!(
        "{} cases: {} agree, {} disagree, {} pending model, {} errors; {:.0} s; results in {out}",
        results.len(),
        count(compare::Verdict::Agree),
        count(compare::Verdict::Disagree),
        count(compare::Verdict::PendingModel),
        count(compare::Verdict::Error),
        meta.total_s
    );
    if count(compare::Verdict::Disagree) > 0 || count(compare::Verdict::Error) > 0 {
        1
    } else {
        0
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("thaw-lab: {msg}\n{USAGE}");
    2
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("setup") => setup::main(),
        Some("list") => list(),
        Some("defaults") => defaults::main(),
        Some("scenario") => match args.get(1) {
            Some(n) => show_scenario(n),
            None => usage_error("scenario needs a case name"),
        },
        Some("run") => run_cmd(&args[1..]),
        Some("client") => match args.get(1) {
            Some(spec) => client::main(spec),
            None => usage_error("client needs a spec"),
        },
        Some("-h") | Some("--help") | Some("help") => {
            say!("{USAGE}");
            0
        }
        Some(other) => usage_error(&format!("unknown command `{other}`")),
        None => usage_error("a command is needed"),
    };
    ExitCode::from(code as u8)
}
