//! Fuzzing the whole path from scenario text to report: arbitrary and
//! mutated scenario files, and random `--set`/`--unset` overrides, must end
//! in a clear result, never a panic.
//!
//! Inputs: (a) every bundled file under `sim-scenarios/`, mutated 1 to 8
//! times (byte ranges deleted, duplicated or overwritten; tokens from a
//! dictionary inserted; lines swapped, duplicated or deleted; values
//! replaced, by anything or by a value of the same kind; `key = value`
//! lines of other files copied in); (b) short arbitrary text: random
//! bytes, random Unicode, TOML-ish token soup; (c) random overrides on an
//! unmodified bundled file. The dictionary holds TOML punctuation, extreme
//! numbers and durations, the format's enum values, every key in the
//! tables of `docs/scenario-format.md` and every `key =` and value written
//! in the bundled files. A quarter of the cases also pass a random
//! `--seed`.
//!
//! For each case, as `thaw run` would: a load error renders in bounded
//! size, with a bounded number of diagnostics and a summary, each
//! diagnostic showing the line it names (exit 2); a loaded scenario's
//! warnings render the same way, and it runs (its event budget capped at
//! [`EVENT_CAP`], to bound the time a case takes) with the text timeline,
//! the JSON trace and the JSON rows all produced, and the exit code (0, 1
//! or 3) follows. The metrics are consistent, the output per event is
//! bounded, and the same run without a trace and keeping its rows gives
//! the same metrics and verdicts.
//!
//! Memory cannot be measured reliably in-process; it is bounded by the
//! inputs: the loader refuses files over
//! [`thaw_scenario::limits::MAX_FILE_BYTES`] (checked here), every
//! generated text stays under it, and a run's memory does not grow with
//! its number of invocations (arrivals are generated lazily and rows are
//! streamed).
//!
//! `PROPTEST_CASES=N` sets the number of cases (default [`DEFAULT_CASES`])
//! and `FUZZ_EVENTS=N` the event cap; a failure prints the text, overrides
//! and seed that caused it, and proptest saves its seed in
//! `tests/proptest-regressions/fuzz.txt`. For a long hunt, build with
//! overflow checks (release alone wraps silently):
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!   PROPTEST_CASES=100000 cargo test --release -p thaw-tests --test suite fuzz
//! cargo test --release -p thaw-tests --test suite fuzz_sweep -- --ignored
//! ```
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use thaw_core::Level;
use thaw_scenario::limits::MAX_FILE_BYTES;
use thaw_scenario::{load_with, run_scenario_streaming, run_scenario_with, Override, RowSink};
use thaw_sim::jsonl::{JsonlSink, StreamTimeline};
use thaw_sim::report::InvocationJson;
use thaw_sim::Outcome;
use thaw_tests::{scenario_files, workspace_root};

/// Cases per run of the suite (a few seconds in a debug build).
const DEFAULT_CASES: u32 = 160;

/// Most events a fuzzed run may process.
const EVENT_CAP: u64 = 20_000;

/// [`EVENT_CAP`], or `FUZZ_EVENTS=N` for longer runs when hunting.
fn event_cap() -> u64 {
    std::env::var("FUZZ_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EVENT_CAP)
}

/// Largest rendering of a load error (what `thaw run` prints to stderr).
const MAX_RENDERED: usize = 256 << 10;

/// Most diagnostics one load error may carry (about ten per kind).
const MAX_DIAGNOSTICS: usize = 300;

/// Exit codes `thaw run` documents for a scenario that was read: 0 passed,
/// 1 an expectation failed, 2 scenario error, 3 event budget exceeded.
const EXIT_CODES: [u8; 4] = [0, 1, 2, 3];

// ---------------------------------------------------------------------------
// The dictionary and the bundled files, read once.
// ---------------------------------------------------------------------------

struct Corpus {
    /// (name, text) of every bundled scenario.
    files: Vec<(String, String)>,
    /// Tokens to insert: punctuation, numbers, durations, enum values,
    /// keys, section headers, values seen in the files.
    tokens: Vec<String>,
    /// Values for `key = VALUE` and `--set PATH=VALUE`.
    values: Vec<String>,
    /// Dotted paths for `--set`/`--unset`.
    paths: Vec<String>,
    /// Values by [`class`]: replacements that keep a value's type.
    typed: Vec<Vec<String>>,
    /// Every `key = value` of every bundled file: (table path, key, value).
    entries: Vec<(String, String, String)>,
    /// The same, per file (in the order of `files`).
    own: Vec<Vec<(String, String, String)>>,
    /// Values written for each key name.
    by_key: std::collections::BTreeMap<String, Vec<String>>,
}

impl Corpus {
    /// A value to replace `old` (of key `key`) with: one written for the
    /// same key in some file, or one of the same kind.
    fn typed_value(&self, key: &str, old: &str, pick: u16) -> &str {
        let same = self
            .by_key
            .get(key.trim())
            .filter(|_| pick.is_multiple_of(2));
        let pool = same.unwrap_or(&self.typed[class(old)]);
        &pool[(pick / 2) as usize % pool.len()]
    }
}

/// Kinds of value, for replacements that keep the file loadable more
/// often: duration, integer, float, boolean, other string, array, inline
/// table, anything else.
const CLASSES: usize = 8;

fn class(v: &str) -> usize {
    let v = v.trim();
    let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
    let inner = if quoted { &v[1..v.len() - 1] } else { "" };
    if quoted
        && inner.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
        && inner.ends_with(|c: char| c.is_alphabetic())
    {
        0
    } else if !v.is_empty()
        && v.trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '_')
    {
        1
    } else if v.parse::<f64>().is_ok() {
        2
    } else if v == "true" || v == "false" {
        3
    } else if quoted {
        4
    } else if v.starts_with('[') {
        5
    } else if v.starts_with('{') {
        6
    } else {
        7
    }
}

const PUNCT: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "#",
    "\"\"\"",
    "'''",
    "\\",
    "\\u",
    "\0",
    "é",
    "\u{feff}",
    "\u{10ffff}",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "1e-12",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "0.0",
    "-0.0",
    "0.5",
    "1.5",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "281474976710656",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "0x7fffffffffffffff",
    "0o777",
    "0b101",
    "1_000",
    "100000000",
    "100000001",
    "true",
    "false",
    "1979-05-27T07:32:00Z",
];

const DURATIONS: &[&str] = &[
    "0s",
    "1ns",
    "1us",
    "5µs",
    "1ms",
    "1s",
    "1m",
    "1min",
    "1h",
    "1d",
    "213503d",
    "106751d",
    "2562047h",
    "584y",
    "1.5ns",
    "0.1ns",
    "-5s",
    "1e308s",
    "1e-12s",
    "nans",
    "infs",
    "18446744073709551615ns",
    "18446744073709551616ns",
    "9223372036854775807s",
    "3s",
    "300ms",
    "310s",
    "350s",
    "600s",
    "900s",
    "901s",
    "3600s",
    "3601s",
    "7200s",
    "32767s",
    "32768s",
    "",
    "s",
    "1",
    " 1s",
    "1 s",
];

const ENUMS: &[&str] = &[
    "silent",
    "running",
    "pool",
    "http",
    "global",
    "per_invocation",
    "redis7",
    "mysql8",
    "postgres",
    "upstash",
    "generic",
    "aws-nat-gateway",
    "aws-nlb",
    "linux-conntrack",
    "rds-proxy",
    "pgbouncer",
    "sequelize",
    "sequelize-lambda-guide",
    "pg-pool",
    "mysql2",
    "go-database-sql",
    "sqlalchemy",
    "hikaricp",
    "serverless-mysql",
    "sqlx",
    "bb8",
    "none",
    "internal",
    "external",
    "handler_first",
    "events_first",
    "most_recent",
    "least_recent",
    "async",
    "callback",
    "repeatable_read",
    "read_committed",
    "primary",
    "replica",
    "round_robin",
    "shared",
    "per_environment",
    "rst",
    "drop",
    "session",
    "transaction",
    "statement",
    "ping",
    "read",
    "write",
    "begin",
    "commit",
    "rollback",
    "flag",
    "peek",
    "lifo",
    "fifo",
    "main",
    "ECONNRESET",
    "EPIPE",
    "EOF",
    "ETIMEDOUT",
    "REQUEST_TIMEOUT",
    "FUNCTION_TIMEOUT",
    "POOL_TIMEOUT",
    "THROTTLED",
];

/// Whole values: arrays, inline tables, expectations.
const COMPOUND: &[&str] = &[
    "[]",
    "[[]]",
    "{}",
    "[\"0s\"]",
    "[\"0s\", \"0s\", \"0s\"]",
    "[\"95s\", \"0s\"]",
    "[\"0s\", \"584y\"]",
    "[\"584y\", \"584y\"]",
    "[\"0s\", \"213503d\", \"213503d\"]",
    "[1, 2]",
    "[\"ECONNRESET\", \"FUNCTION_TIMEOUT\", \"nope\"]",
    "{ rate = 1.0, count = 10 }",
    "{ rate = 1e308, count = 100000000 }",
    "{ rate = 1e-300, count = 3 }",
    "{ rate = 0.0, count = 1 }",
    "{ rate = nan, count = 1 }",
    "{ rate = 1000.0, count = 100000001 }",
    "{ rate = 1.0, count = 5, start = \"584y\" }",
    "{ name = \"X\" }",
    "{ name = \"W\", op = \"write\", key = 281474976710655 }",
    "[{ name = \"A\" }, { name = \"B\", op = \"begin\" }]",
    "{ handler = \"h\", at = [\"0s\"] }",
    "[\"metrics.errors == 0\"]",
    "[\"invocation[1].outcome == ok\"]",
    "[\"invocation[0].outcome == ok\"]",
    "[\"invocation[18446744073709551615].error == null\"]",
    "[\"invocation[18446744073709551616].error == null\"]",
    "[\"metrics.latency_p99_s >= 1e308\"]",
    "[\"metrics.errors_by_kind.ETIMEDOUT < nan\"]",
    "[\"metrics.nope == 1\"]",
    "[\"==\"]",
    "[\"metrics.errors ==\"]",
    "[\"invocation[1].latency_s <= -inf\"]",
];

/// `[section]` headers and keys of `docs/scenario-format.md`'s tables,
/// as (section, key); the section is "" outside one.
fn doc_keys() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/scenario-format.md"))
        .expect("docs/scenario-format.md is readable");
    let mut out = Vec::new();
    let mut sections: Vec<String> = Vec::new();
    for line in doc.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            // "### `[function.tcp]`, `[server.tcp]` and `[proxy.tcp]` — ..."
            sections = head
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|s| s.strip_prefix('['))
                .map(|s| {
                    let s = s.trim_start_matches('[').trim_end_matches(']');
                    if head.contains(&format!("[[{s}]]")) {
                        format!("{s}[0]")
                    } else {
                        s.to_string()
                    }
                })
                .collect();
        } else if line.starts_with("## ") {
            sections.clear();
        } else if let Some(rest) = line.strip_prefix("| `") {
            let Some(key) = rest.split('`').next() else {
                continue;
            };
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            if sections.is_empty() {
                out.push((String::new(), key.to_string()));
            }
            for s in &sections {
                out.push((s.clone(), key.to_string()));
            }
        }
    }
    out
}

/// `key = value` lines of a file, with the table they are in.
fn file_entries(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let n = counts.entry(h.to_string()).or_default();
            table = format!("{h}[{n}]");
            *n += 1;
        } else if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            table = h.to_string();
        } else if let Some((k, v)) = t.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.push((table.clone(), k.to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let files: Vec<(String, String)> = scenario_files()
            .into_iter()
            .map(|rel| {
                let text = std::fs::read_to_string(workspace_root().join(&rel)).expect("readable");
                (rel.to_string_lossy().replace('\\', "/"), text)
            })
            .collect();
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut paths: BTreeSet<String> = BTreeSet::new();
        let mut sections: BTreeSet<String> = BTreeSet::new();
        let mut values: BTreeSet<String> = BTreeSet::new();
        let join = |s: &str, k: &str| {
            if s.is_empty() {
                k.to_string()
            } else {
                format!("{s}.{k}")
            }
        };
        for (s, k) in doc_keys() {
            paths.insert(join(&s, &k));
            keys.insert(k);
            if !s.is_empty() {
                sections.insert(s);
            }
        }
        let mut entries = Vec::new();
        let mut own = Vec::new();
        let mut by_key: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (_, text) in &files {
            entries.extend(file_entries(text));
            own.push(file_entries(text));
            for (_, k, v) in file_entries(text) {
                by_key.entry(k).or_default().insert(v);
            }
            for (s, k, v) in file_entries(text) {
                paths.insert(join(&s, &k));
                keys.insert(k);
                if !s.is_empty() {
                    sections.insert(s);
                }
                // One-line values only (not the start of a multi-line one).
                if v.len() <= 120 && !v.ends_with('[') && !v.starts_with("\"\"\"") {
                    values.insert(v);
                }
            }
        }
        for v in NUMBERS.iter().chain(COMPOUND) {
            values.insert(v.to_string());
        }
        for d in DURATIONS.iter().chain(ENUMS) {
            values.insert(format!("\"{d}\""));
        }
        // Awkward paths for the overrides.
        for p in [
            "",
            ".",
            "a..b",
            "workload.at[",
            "workload.at[]",
            "workload.at[0]",
            "workload.at[1]",
            "workload.at[3]",
            "workload.at[18446744073709551615]",
            "workload.at[-1]",
            "workload.poisson",
            "workload.invoke[0].at[0]",
            "client.requests[0]",
            "client.requests[1].name",
            "client.requests[99].op",
            "handlers[0].requests[0]",
            "\"server\".idle_timeout",
            "'server'.port",
            "server.\"a.b\"",
            "server.idle_timeout.x",
            "[server]",
            "server = 1",
            "function.tcp.keepalive",
            "proxy",
            "middlebox",
            "expect.assert[0]",
            "run.event_budget",
            "scenario.seed",
        ] {
            paths.insert(p.to_string());
        }
        let mut tokens: Vec<String> = PUNCT.iter().map(|s| s.to_string()).collect();
        tokens.extend(values.iter().cloned());
        tokens.extend(DURATIONS.iter().map(|s| s.to_string()));
        tokens.extend(ENUMS.iter().map(|s| s.to_string()));
        for k in &keys {
            tokens.push(k.clone());
            tokens.push(format!("\n{k} = "));
        }
        for s in &sections {
            let bare = s.trim_end_matches("[0]");
            tokens.push(format!("\n[{bare}]\n"));
            tokens.push(format!("\n[[{bare}]]\n"));
        }
        let mut typed: Vec<BTreeSet<String>> = vec![BTreeSet::new(); CLASSES];
        for v in &values {
            typed[class(v)].insert(v.clone());
        }
        // Durations that do not look like one still belong with them.
        for d in DURATIONS {
            typed[0].insert(format!("\"{d}\""));
        }
        for t in &mut typed {
            if t.is_empty() {
                *t = values.clone();
            }
        }
        let c = Corpus {
            files,
            tokens,
            values: values.into_iter().collect(),
            paths: paths.into_iter().collect(),
            typed: typed.into_iter().map(|t| t.into_iter().collect()).collect(),
            entries,
            own,
            by_key: by_key
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
        };
        assert!(c.files.len() >= 5, "sim-scenarios/ lost its files");
        assert!(c.paths.len() >= 100, "few keys found: {:?}", c.paths);
        c
    })
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// One change to a text. Positions and dictionary indices are taken modulo
/// the text's length and the dictionary's size when applied.
#[derive(Clone, Debug)]
enum Mutation {
    Delete {
        at: u32,
        len: u16,
    },
    Duplicate {
        at: u32,
        len: u16,
    },
    Overwrite {
        at: u32,
        bytes: Vec<u8>,
    },
    Insert {
        at: u32,
        token: u16,
    },
    SwapLines {
        a: u16,
        b: u16,
    },
    DuplicateLine {
        line: u16,
    },
    ReplaceValue {
        line: u16,
        value: u16,
    },
    /// Replace a value by another of the same kind (the file stays valid
    /// TOML, and often loads).
    TypedValue {
        line: u16,
        value: u16,
    },
    /// Copy a `key = value` of some bundled file into this one, under the
    /// same table.
    Transplant {
        entry: u16,
    },
    DeleteLine {
        line: u16,
    },
}

/// Mutations that keep the file valid TOML (mostly).
fn structured_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<u16>(), any::<u16>())
            .prop_map(|(line, value)| Mutation::TypedValue { line, value }),
        3 => any::<u16>().prop_map(|entry| Mutation::Transplant { entry }),
        1 => any::<u16>().prop_map(|line| Mutation::DeleteLine { line }),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<u32>(), prop_oneof![1u16..64, 64u16..4096])
            .prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        1 => (
            any::<u32>(),
            proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    proptest::sample::select(b"[]{}=\"',.\n#0123456789-".to_vec())
                ],
                1..8
            )
        )
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        3 => (any::<u32>(), any::<u16>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        1 => any::<u16>().prop_map(|line| Mutation::DuplicateLine { line }),
        2 => (any::<u16>(), any::<u16>())
            .prop_map(|(line, value)| Mutation::ReplaceValue { line, value }),
        8 => (any::<u16>(), any::<u16>())
            .prop_map(|(line, value)| Mutation::TypedValue { line, value }),
        5 => any::<u16>().prop_map(|entry| Mutation::Transplant { entry }),
        2 => any::<u16>().prop_map(|line| Mutation::DeleteLine { line }),
    ]
}

fn clamp(at: u32, len: usize) -> usize {
    at as usize % (len + 1)
}

fn apply(text: &str, m: &Mutation, c: &Corpus) -> String {
    let mut b = text.as_bytes().to_vec();
    match m {
        Mutation::Delete { at, len } => {
            let s = clamp(*at, b.len());
            let e = (s + *len as usize).min(b.len());
            b.drain(s..e);
        }
        Mutation::Duplicate { at, len } => {
            let s = clamp(*at, b.len());
            let e = (s + *len as usize).min(b.len());
            let piece = b[s..e].to_vec();
            b.splice(e..e, piece);
        }
        Mutation::Overwrite { at, bytes } => {
            let s = clamp(*at, b.len());
            for (i, x) in bytes.iter().enumerate() {
                match b.get_mut(s + i) {
                    Some(y) => *y = *x,
                    None => b.push(*x),
                }
            }
        }
        Mutation::Insert { at, token } => {
            let s = clamp(*at, b.len());
            let t = &c.tokens[*token as usize % c.tokens.len()];
            b.splice(s..s, t.bytes());
        }
        Mutation::SwapLines { a, b: other } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let n = lines.len();
            lines.swap(*a as usize % n, *other as usize % n);
            return lines.join("\n");
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = *line as usize % lines.len();
            lines.insert(i, lines[i]);
            return lines.join("\n");
        }
        Mutation::ReplaceValue { line, value } | Mutation::TypedValue { line, value } => {
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let with_eq: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains('='))
                .collect();
            if with_eq.is_empty() {
                return text.to_string();
            }
            let i = with_eq[*line as usize % with_eq.len()];
            let (key, old) = lines[i].split_once('=').unwrap_or_default();
            let v = match m {
                Mutation::TypedValue { .. } => c.typed_value(key, old, *value),
                _ => &c.values[*value as usize % c.values.len()],
            };
            lines[i] = format!("{key}= {v}");
            return lines.join("\n");
        }
        Mutation::Transplant { entry } => {
            let (table, key, value) = &c.entries[*entry as usize % c.entries.len()];
            let header = match table.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
                Some((t, _)) => format!("[[{t}]]"),
                None => format!("[{table}]"),
            };
            let line = format!("{key} = {value}");
            let mut lines: Vec<&str> = text.split('\n').collect();
            if table.is_empty() {
                lines.insert(0, &line);
            } else if let Some(i) = lines.iter().position(|l| l.trim() == header) {
                // Replace the key if the table writes it (a duplicate key is
                // only a syntax error), else add it.
                let end = (i + 1..lines.len())
                    .find(|&j| lines[j].trim_start().starts_with('['))
                    .unwrap_or(lines.len());
                let same = (i + 1..end).find(|&j| {
                    lines[j]
                        .split_once('=')
                        .is_some_and(|(k, _)| k.trim() == key)
                });
                match same {
                    Some(j) => lines[j] = &line,
                    None => lines.insert(i + 1, &line),
                }
            } else {
                lines.push("");
                lines.push(&header);
                lines.push(&line);
            }
            return lines.join("\n");
        }
        Mutation::DeleteLine { line } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = *line as usize % lines.len();
            lines.remove(i);
            return lines.join("\n");
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Case {
    /// A bundled file with mutations applied in order.
    Mutated { file: u16, mutations: Vec<Mutation> },
    /// Random bytes, read lossily as UTF-8.
    Bytes(Vec<u8>),
    /// Random text.
    Text(String),
    /// Dictionary tokens, joined.
    Soup(Vec<u16>),
    /// A bundled file, with a few mutations that keep it TOML (usually
    /// none), and overrides.
    Overrides {
        file: u16,
        mutations: Vec<Mutation>,
        ops: Vec<Op>,
    },
}

#[derive(Clone, Debug)]
enum Op {
    /// `--set PATH=VALUE` from the dictionary.
    Set { path: u16, value: u16 },
    /// `--set PATH=VALUE` with a random VALUE.
    SetRaw { path: u16, value: String },
    /// `--set ARG` with a random argument.
    Raw(String),
    /// `--unset PATH`.
    Unset { path: u16 },
    /// `--set` of a key some bundled file writes, with a value of its kind.
    SetTyped { entry: u16, value: u16 },
    /// `--unset` of a key some bundled file writes.
    UnsetEntry { entry: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u16>(), any::<u16>()).prop_map(|(path, value)| Op::Set { path, value }),
        1 => (any::<u16>(), "[\\[\\]{}=\"',.a-z0-9 _-]{0,24}")
            .prop_map(|(path, value)| Op::SetRaw { path, value }),
        1 => "[\\[\\]{}=\"',.a-z0-9 _-]{0,32}".prop_map(Op::Raw),
        1 => any::<u16>().prop_map(|path| Op::Unset { path }),
        8 => (any::<u16>(), any::<u16>()).prop_map(|(entry, value)| Op::SetTyped { entry, value }),
        2 => any::<u16>().prop_map(|entry| Op::UnsetEntry { entry }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        6 => (
            any::<u16>(),
            prop_oneof![
                2 => proptest::collection::vec(structured_mutation(), 1..=4),
                1 => proptest::collection::vec(mutation(), 1..=2),
                1 => proptest::collection::vec(mutation(), 1..=8),
            ]
        )
            .prop_map(|(file, mutations)| Case::Mutated { file, mutations }),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Case::Bytes),
        1 => prop_oneof![".{0,300}", "[\\[\\]{}=\"',.\\n a-z0-9_#-]{0,400}"].prop_map(Case::Text),
        1 => proptest::collection::vec(any::<u16>(), 0..80).prop_map(Case::Soup),
        3 => (
            any::<u16>(),
            prop_oneof![
                3 => Just(Vec::new()),
                1 => proptest::collection::vec(structured_mutation(), 1..=2),
            ],
            proptest::collection::vec(op(), 1..4)
        )
            .prop_map(|(file, mutations, ops)| Case::Overrides {
                file,
                mutations,
                ops
            }),
    ]
}

fn dotted(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

/// The scenario's name, text and overrides.
fn materialize(case: &Case) -> (String, String, Vec<Override>) {
    let c = corpus();
    let file = |i: u16| &c.files[i as usize % c.files.len()];
    let path = |i: u16| c.paths[i as usize % c.paths.len()].clone();
    match case {
        Case::Mutated { file: f, mutations } => {
            let (name, text) = file(*f);
            let mut text = text.clone();
            for m in mutations {
                text = apply(&text, m, c);
            }
            (name.clone(), text, Vec::new())
        }
        Case::Bytes(b) => (
            "bytes.toml".into(),
            String::from_utf8_lossy(b).into_owned(),
            Vec::new(),
        ),
        Case::Text(t) => ("text.toml".into(), t.clone(), Vec::new()),
        Case::Soup(ix) => {
            let text = ix
                .iter()
                .map(|i| c.tokens[*i as usize % c.tokens.len()].as_str())
                .collect::<Vec<_>>()
                .join(" ");
            ("soup.toml".into(), text, Vec::new())
        }
        Case::Overrides {
            file: f,
            mutations,
            ops,
        } => {
            let (name, text) = file(*f);
            let mut text = text.clone();
            for m in mutations {
                text = apply(&text, m, c);
            }
            let own = &c.own[*f as usize % c.files.len()];
            let overrides = ops
                .iter()
                .map(|o| match o {
                    Op::Set { path: p, value } => Override::Set(format!(
                        "{}={}",
                        path(*p),
                        c.values[*value as usize % c.values.len()]
                    )),
                    Op::SetRaw { path: p, value } => Override::Set(format!("{}={value}", path(*p))),
                    Op::Raw(a) => Override::Set(a.clone()),
                    Op::Unset { path: p } => Override::Unset(path(*p)),
                    Op::SetTyped { entry, value } => {
                        // Half the time a key this file writes.
                        let pool = if entry % 2 == 0 { own } else { &c.entries };
                        let (t, k, old) = &pool[(entry / 2) as usize % pool.len()];
                        let v = c.typed_value(k, old, *value);
                        Override::Set(format!("{}={v}", dotted(t, k)))
                    }
                    Op::UnsetEntry { entry } => {
                        let (t, k, _) = &own[*entry as usize % own.len()];
                        Override::Unset(dotted(t, k))
                    }
                })
                .collect();
            (name.clone(), text, overrides)
        }
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Counts bytes written and keeps the longest line.
#[derive(Default)]
struct Counter {
    bytes: u64,
    line: u64,
    longest_line: u64,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        for &b in buf {
            if b == b'\n' {
                self.line = 0;
            } else {
                self.line += 1;
                self.longest_line = self.longest_line.max(self.line);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The report's rows, serialized as `--format json` writes them.
#[derive(Default)]
struct JsonRows {
    out: Counter,
    rows: u64,
}

impl RowSink for JsonRows {
    fn row(&mut self, _: &Outcome, row: InvocationJson) {
        self.rows += 1;
        serde_json::to_writer(&mut self.out, &row).expect("a row serializes");
        self.out.write_all(b"\n").expect("counting");
    }
}

/// Loads and runs one case as `thaw run` does: its exit code, or which
/// promise was broken.
fn exercise(
    name: &str,
    text: &str,
    overrides: &[Override],
    seed: Option<u64>,
) -> Result<u8, String> {
    if text.len() > MAX_FILE_BYTES {
        // The loader refuses it before parsing: nothing else to check.
        return match load_with(name, text, overrides) {
            Err(e) if e.diagnostics.len() == 1 => Ok(2),
            Err(e) => Err(format!("an oversized file gave {}", e.render())),
            Ok(_) => Err("an oversized file loaded".into()),
        };
    }
    let mut scenario = match load_with(name, text, overrides) {
        Ok(s) => s,
        Err(e) => {
            let shown = e.render();
            if shown.len() >= MAX_RENDERED {
                return Err(format!("load error rendered in {} bytes", shown.len()));
            }
            if !e.source.is_empty() {
                for d in e.diagnostics.iter().filter(|d| d.is_problem) {
                    shows_its_line(&d.render(&e.source), d)?;
                }
            }
            if e.diagnostics.len() > MAX_DIAGNOSTICS {
                return Err(format!("{} diagnostics", e.diagnostics.len()));
            }
            if e.diagnostics.is_empty() {
                return Err("a load error without diagnostics".into());
            }
            let summary = e.diagnostics.summary();
            if summary.is_empty() || e.diagnostics.total() == 0 {
                return Err(format!("empty summary `{summary}`:\n{shown}"));
            }
            return Ok(2);
        }
    };
    // Warnings are rendered as the CLI does, against the file's own text.
    let warned = scenario.warnings.render(text);
    if warned.len() >= MAX_RENDERED || scenario.warnings.len() > MAX_DIAGNOSTICS {
        return Err(format!(
            "{} warnings rendered in {} bytes",
            scenario.warnings.len(),
            warned.len()
        ));
    }
    for w in scenario.warnings.iter() {
        shows_its_line(&w.render(text), w)?;
    }
    let cap = event_cap();
    scenario.config.event_budget = scenario.config.event_budget.min(cap);
    let arrivals = scenario.config.workload.max_arrivals();
    let mut jsonl = JsonlSink::new(Counter::default(), Level::Detail);
    let mut timeline = StreamTimeline {
        w: Counter::default(),
        verbose: true,
        quiet: false,
        also: Some(&mut jsonl),
        error: None,
    };
    let mut rows = JsonRows::default();
    let report = run_scenario_streaming(&scenario, seed, &mut timeline, &mut rows);
    let timeline_out = std::mem::take(&mut timeline.w);
    drop(timeline);
    let trace_out = jsonl.finish().map_err(|e| format!("trace: {e}"))?;
    let report_json = serde_json::to_string(&report.json).map_err(|e| e.to_string())?;

    // The same run without a trace and keeping its rows: tracing and
    // streaming change nothing.
    let quiet = run_scenario_with(&scenario, seed, &mut thaw_core::NullSink, true);
    let mut broken = Vec::new();
    match (&quiet, report.stopped()) {
        (Ok(q), None) => {
            if q.json["metrics"] != report.json["metrics"] {
                broken.push(format!(
                    "metrics differ without a trace: {}",
                    q.json["metrics"]
                ));
            }
            if q.json["expectations"] != report.json["expectations"] {
                broken.push(format!(
                    "verdicts differ without a trace: {}",
                    q.json["expectations"]
                ));
            }
            if q.result.outcomes.len() as u64 != report.result.metrics.invocations {
                broken.push("kept rows differ from invocations".into());
            }
        }
        (Err(_), Some(_)) => {}
        (q, s) => broken.push(format!(
            "stopped with a trace: {s:?}; without: {:?}",
            q.as_ref().err()
        )),
    }
    let m = &report.result.metrics;
    let mut check = |ok: bool, what: &str| {
        if !ok {
            broken.push(what.to_string());
        }
    };
    check(m.events <= cap, "events <= event budget");
    check(m.invocations <= arrivals, "invocations <= arrivals");
    check(
        m.invocations + m.unfinished <= arrivals,
        "invocations + unfinished <= arrivals",
    );
    check(rows.rows == m.invocations, "one row per invocation");
    check(m.errors <= m.invocations, "errors <= invocations");
    check(m.cold_starts <= m.invocations, "cold starts <= invocations");
    check(
        m.errors_by_kind.values().sum::<u64>() == m.errors,
        "errors_by_kind sums to errors",
    );
    check(
        m.connections_opened == m.connections_closed + m.connections_open_at_end,
        "opened == closed + open at end",
    );
    check(
        m.server_connections_at_end <= m.server_connections_peak,
        "server connections at end <= peak",
    );
    for (what, x) in [
        ("latency_p50_s", m.latency_p50_s),
        ("latency_p99_s", m.latency_p99_s),
        ("zombie_connection_seconds", m.zombie_connection_seconds),
        (
            "proxy_zombie_connection_seconds",
            m.proxy_zombie_connection_seconds,
        ),
    ] {
        check(x.is_finite() && x >= 0.0, what);
    }
    check(m.latency_p50_s <= m.latency_p99_s, "p50 <= p99");
    if report.stopped().is_none() {
        check(
            report.expectations.len() == scenario.expectations.len(),
            "one verdict per expectation",
        );
    }
    // Output: a bounded amount per event. A line may quote names from the
    // file (a server's, a request's), so the bound allows for them.
    let names = longest_name(&scenario) as u64;
    let per_line = 2048 + 4 * names;
    let lines = m.events + arrivals.min(m.events) + 64;
    for (what, out) in [("timeline", &timeline_out), ("trace", &trace_out)] {
        if out.longest_line > per_line {
            broken.push(format!("{what} line of {} bytes", out.longest_line));
        }
        if out.bytes > lines * per_line {
            broken.push(format!(
                "{what} of {} bytes for {} events",
                out.bytes, m.events
            ));
        }
    }
    if report_json.len() as u64 > 64 * 1024 + 512 * scenario.expectations.len() as u64 {
        broken.push(format!("report of {} bytes", report_json.len()));
    }
    if !broken.is_empty() {
        return Err(format!(
            "broken: {}\nmetrics: {}",
            broken.join(", "),
            serde_json::to_string(m).unwrap_or_default()
        ));
    }
    let code = if report.stopped().is_some() {
        3
    } else if !report.passed() {
        1
    } else {
        0
    };
    Ok(code)
}

/// A diagnostic's rendering shows the line its header names (the source
/// it was rendered against is the one its span points into).
fn shows_its_line(shown: &str, d: &thaw_scenario::Diagnostic) -> Result<(), String> {
    let gutter = format!(" {} │", d.line);
    if shown.contains(&gutter) {
        Ok(())
    } else {
        Err(format!(
            "diagnostic for line {} shows other lines:\n{shown}",
            d.line
        ))
    }
}

/// Longest user-written name that timeline lines may quote.
fn longest_name(s: &thaw_scenario::Scenario) -> usize {
    let c = &s.config;
    let cl = &c.client;
    [
        c.name.len(),
        c.servers[0].name.len(),
        c.middleboxes
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(0),
        c.proxies.iter().map(|p| p.name.len()).max().unwrap_or(0),
    ]
    .into_iter()
    .chain(cl.requests.iter().map(|r| r.name.len()))
    .chain(cl.handlers.iter().map(|h| h.name.len()))
    .chain(
        cl.handlers
            .iter()
            .flat_map(|h| h.requests.iter().map(|r| r.name.len())),
    )
    .max()
    .unwrap_or(0)
}

/// Runs one case; a panic becomes a failure that shows the input.
fn run_case(case: &Case, seed: Option<u64>) -> Result<u8, TestCaseError> {
    let (name, text, overrides) = materialize(case);
    prop_assert!(text.len() <= MAX_FILE_BYTES);
    let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
        exercise(&name, &text, &overrides, seed)
    }));
    let show =
        || format!("{name}\n--- text ---\n{text}\n--- overrides: {overrides:?}, seed {seed:?}");
    match got {
        Ok(Ok(code)) => {
            prop_assert!(EXIT_CODES.contains(&code), "exit {code}: {}", show());
            Ok(code)
        }
        Ok(Err(why)) => Err(TestCaseError::fail(format!("{why}\n{}", show()))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panic: {msg}\n{}", show())))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES),
        ..ProptestConfig::default()
    })]

    /// Any text and any overrides: a clear result, never a panic.
    #[test]
    fn fuzz_scenario_text(
        case in case(),
        seed in prop_oneof![3 => Just(None), 1 => any::<u64>().prop_map(Some)],
    ) {
        run_case(&case, seed)?;
    }
}

/// Every bundled file, unmutated, passes the same checks (and they are what
/// the mutations start from).
#[test]
fn fuzz_bundled_files_pass_the_checks() {
    for (name, text) in &corpus().files {
        match exercise(name, text, &[], None) {
            Ok(_) => {}
            Err(why) => panic!("{name}: {why}"),
        }
    }
}

/// Texts at and just over the size limit are refused before anything is
/// parsed, in one diagnostic.
#[test]
fn fuzz_oversized_text_is_refused() {
    let big = "#".repeat(MAX_FILE_BYTES + 1);
    let e = load_with("big.toml", &big, &[]).expect_err("refused");
    assert_eq!(e.diagnostics.len(), 1);
    assert!(e.render().len() < 4_096);
    let (_, text) = &corpus().files[0];
    let padded = format!("{text}\n{}", "#".repeat(MAX_FILE_BYTES - text.len() - 1));
    assert_eq!(padded.len(), MAX_FILE_BYTES);
    // At the limit it is read (and the comment ignored).
    assert!(exercise("padded.toml", &padded, &[], None).is_ok());
}

/// Found by this fuzzer: `client.retry.count = 4294967295` overflowed
/// `count + 1` in the retry's timeline line (thaw-sim `try_retry`).
#[test]
fn fuzz_found_retry_count_u32_max() {
    let c = corpus();
    let (name, text) = c
        .files
        .iter()
        .find(|(n, _)| n.ends_with("upstash-retry-duplicate-write.toml"))
        .expect("bundled");
    let set = [Override::Set("client.retry.count=4294967295".into())];
    assert!(exercise(name, text, &set, None).is_ok());
}

/// Found by this fuzzer: a warning about a value given with `--set` was
/// rendered against the file without it, showing the wrong lines (fixed in
/// thaw-scenario `load_with`: warnings carry the text they point into).
#[test]
fn fuzz_found_warning_from_set_shows_its_own_line() {
    let c = corpus();
    let (name, text) = c
        .files
        .iter()
        .find(|(n, _)| n.ends_with("callback-pool-pins-timeout.toml"))
        .expect("bundled");
    let set = [Override::Set("function.handler_rejects_after=100s".into())];
    let s = load_with(name, text, &set).expect("loads");
    assert_eq!(s.warnings.len(), 1);
    let shown = s.warnings.render(text);
    assert!(
        shown.contains("handler_rejects_after = \"100s\""),
        "{shown}"
    );
    assert!(exercise(name, text, &set, None).is_ok());
}

/// Found by this fuzzer: a syntax error at the very end of the file (an
/// unclosed string or array) was rendered without its pointer, and in a
/// file ending in a bare CR with the wrong line numbers (fixed in
/// thaw-scenario `Diagnostic::render_in`).
#[test]
fn fuzz_found_error_at_end_of_file_is_pointed_at() {
    for text in [
        "[workload]\nat = [\n",
        "[scenario]\ndescription = \"\"\"\nabc",
        "A B\r",
        "x = 1\nA B\r",
    ] {
        let e = load_with("eof.toml", text, &[]).expect_err("not TOML");
        let d = e.diagnostics.iter().next().expect("one");
        let shown = e.render();
        shows_its_line(&shown, d).unwrap();
        assert!(shown.contains("here"), "{shown}");
    }
}

/// Every number and duration each bundled file writes, set in turn to each
/// extreme of its kind (one `--set` at a time): a systematic sweep for
/// hunting, too slow for every run (`cargo test --release -p thaw-tests
/// --test suite fuzz_sweep -- --ignored`).
#[test]
#[ignore]
fn fuzz_sweep_extremes() {
    let c = corpus();
    let extremes: [&[&str]; 3] = [
        &[
            "\"0s\"",
            "\"1ns\"",
            "\"1.5ns\"",
            "\"213503d\"",
            "\"584y\"",
            "\"18446744073709551615ns\"",
            "\"-5s\"",
        ],
        &[
            "0",
            "1",
            "-1",
            "255",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "281474976710656",
            "9223372036854775807",
            "\"18446744073709551615\"",
        ],
        &["0.0", "1e-300", "1e308", "nan", "inf", "-1.0"],
    ];
    let mut failures = Vec::new();
    let mut runs = 0;
    for (i, (name, text)) in c.files.iter().enumerate() {
        for (t, k, v) in &c.own[i] {
            let values = match class(v) {
                0 => extremes[0],
                1 => extremes[1],
                2 => extremes[2],
                _ => continue,
            };
            for x in values {
                let set = [Override::Set(format!("{}={x}", dotted(t, k)))];
                hunt_one(name, text, &set, &mut runs, &mut failures);
            }
        }
    }
    hunt_report(runs, &failures);
}

/// One hunting run: `exercise` with `set`, a panic or an error recorded.
fn hunt_one(name: &str, text: &str, set: &[Override], runs: &mut u64, failures: &mut Vec<String>) {
    *runs += 1;
    match std::panic::catch_unwind(AssertUnwindSafe(|| exercise(name, text, set, None))) {
        Ok(Ok(_)) => {}
        Ok(Err(why)) => failures.push(format!("{name} {set:?}: {why}")),
        Err(_) => failures.push(format!("{name} {set:?}: panic")),
    }
}

fn hunt_report(runs: u64, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{runs} runs:\n{}",
        failures.join("\n\n")
    );
    eprintln!("{runs} runs");
}

/// Found by [`fuzz_sweep_extremes`]: `server.memory_per_connection` near
/// 2^63 overflowed `server_peak × memory_per_connection` at the end of a
/// run with two connections or more (thaw-sim `World::into_result`: now
/// saturating).
#[test]
fn fuzz_found_memory_per_connection_overflow() {
    let c = corpus();
    let (name, text) = c
        .files
        .iter()
        .find(|(n, _)| n.ends_with("aws-connection-storm.toml"))
        .expect("bundled");
    let set = [Override::Set(
        "server.memory_per_connection=9223372036854775807".into(),
    )];
    assert!(exercise(name, text, &set, None).is_ok());
}

/// Every `key = value` any bundled file writes, set in every bundled file
/// (one `--set` at a time): features combined that no file combines. For
/// hunting (`-- --ignored`), like [`fuzz_sweep_extremes`].
#[test]
#[ignore]
fn fuzz_sweep_transplants() {
    let c = corpus();
    let sets: BTreeSet<String> = c
        .entries
        .iter()
        .filter(|(_, _, v)| v.len() <= 200 && !v.ends_with('[') && !v.starts_with("\"\"\""))
        .map(|(t, k, v)| format!("{}={v}", dotted(t, k)))
        .collect();
    let mut failures = Vec::new();
    let mut runs = 0;
    for (name, text) in &c.files {
        for s in &sets {
            let set = [Override::Set(s.clone())];
            hunt_one(name, text, &set, &mut runs, &mut failures);
        }
    }
    hunt_report(runs, &failures);
}
