//! The real binary on mutated scenario files: a fixed, deterministic set of
//! 40 mutations of the bundled files (the in-process fuzzing, with far more
//! cases, is `tests/suite/fuzz.rs`). Each run ends with a documented exit
//! code (0, 1, 2 or 3; never 101, a panic) and bounded output.
//!
//! Half the runs write the text summary, half the JSON report (which must
//! parse). Every run gets `--set run.event_budget=100000` so that a mutation that
//! makes a run long (a larger count, a longer span) stays quick; the file is
//! still validated alone first, so its own errors are what is reported.
mod common;
use common::root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases per run; `FUZZ_CLI_CASES=N` for a longer hunt.
fn cases() -> usize {
    std::env::var("FUZZ_CLI_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}
const MAX_STDERR: usize = 256 << 10;
const MAX_STDOUT: usize = 256 << 10;

/// xorshift64*: a small fixed-seed generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
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
    "#",
    "0",
    "-1",
    "1e-12",
    "1e308",
    "nan",
    "inf",
    "18446744073709551615",
    "9223372036854775808",
    "\"0s\"",
    "\"1ns\"",
    "\"213503d\"",
    "\"584y\"",
    "\"1.5ns\"",
    "\"-5s\"",
    "\"silent\"",
    "\"running\"",
    "\"pool\"",
    "\"http\"",
    "\"redis7\"",
    "\"mysql8\"",
    "\"postgres\"",
    "\"upstash\"",
    "\"aws-nat-gateway\"",
    "\"rds-proxy\"",
    "\"pgbouncer\"",
    "\"sequelize\"",
    "{ rate = 1e308, count = 100000000 }",
    "[\"0s\", \"584y\"]",
    "\n[proxy]\npreset = \"rds-proxy\"\n",
    "\n[middlebox]\npreset = \"aws-nat-gateway\"\n",
    "\n[client.pool]\npreset = \"pg-pool\"\n",
    "\n[[client.requests]]\nname = \"X\"\n",
];

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

/// `key = value` lines of `text`, split at the first `=`.
fn entries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| {
            !v.is_empty()
                && !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

/// A mild change: the value of one `key = value` line replaced by a value
/// some bundled file writes for the same key, so that the file often still
/// loads and the run reaches the simulator.
fn mutate_value(b: &mut Vec<u8>, rng: &mut Rng, pool: &[(String, String)]) {
    let text = String::from_utf8_lossy(b).into_owned();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let keyed: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| entries(l).pop().map(|(k, _)| (i, k)))
        .collect();
    if keyed.is_empty() {
        return;
    }
    let (i, key) = &keyed[rng.below(keyed.len())];
    let same: Vec<&String> = pool
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect();
    if !same.is_empty() {
        lines[*i] = format!("{key} = {}", same[rng.below(same.len())]);
        *b = lines.join("\n").into_bytes();
    }
}

/// One random change to `b`.
fn mutate(b: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(b.len() + 1);
    match rng.below(7) {
        0 => {
            let end = (at + 1 + rng.below(64)).min(b.len());
            b.drain(at..end);
        }
        1 => {
            let end = (at + 1 + rng.below(256)).min(b.len());
            let piece = b[at..end].to_vec();
            b.splice(end..end, piece);
        }
        2 => {
            for i in 0..1 + rng.below(4) {
                let x = rng.next() as u8;
                match b.get_mut(at + i) {
                    Some(y) => *y = x,
                    None => b.push(x),
                }
            }
        }
        3 => {
            let t = TOKENS[rng.below(TOKENS.len())];
            b.splice(at..at, t.bytes());
        }
        4 | 5 => {
            // Swap two lines, or duplicate one.
            let text = String::from_utf8_lossy(b).into_owned();
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = rng.below(lines.len());
            let j = rng.below(lines.len());
            if rng.below(2) == 0 {
                lines.swap(i, j);
            } else {
                lines.insert(i, lines[i]);
            }
            *b = lines.join("\n").into_bytes();
        }
        _ => {
            // Replace the value of a `key = value` line by a token.
            let text = String::from_utf8_lossy(b).into_owned();
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let with_eq: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains('='))
                .collect();
            if !with_eq.is_empty() {
                let i = with_eq[rng.below(with_eq.len())];
                let key = lines[i].split('=').next().unwrap_or_default().to_string();
                lines[i] = format!("{key}= {}", TOKENS[rng.below(TOKENS.len())]);
                *b = lines.join("\n").into_bytes();
            }
        }
    }
}

#[test]
fn mutated_scenarios_end_in_a_documented_exit_code_with_bounded_output() {
    let mut files = Vec::new();
    scenario_files(&root().join("sim-scenarios"), &mut files);
    assert!(files.len() >= 5, "sim-scenarios/ lost its files");
    let dir = tempfile::tempdir().unwrap();
    let pool: Vec<(String, String)> = files
        .iter()
        .flat_map(|f| entries(&std::fs::read_to_string(f).unwrap()))
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut codes = [0usize; 4];
    for case in 0..cases() {
        let src = &files[rng.below(files.len())];
        let mut bytes = std::fs::read(src).unwrap();
        // Half the cases change values only.
        let mild = case % 4 < 2;
        for _ in 0..1 + rng.below(if mild { 3 } else { 4 }) {
            if mild {
                mutate_value(&mut bytes, &mut rng, &pool);
            } else {
                mutate(&mut bytes, &mut rng);
            }
        }
        let path = dir.path().join(format!("case-{case}.toml"));
        std::fs::write(&path, &bytes).unwrap();
        // Every other case writes the JSON report.
        let json = case % 2 == 1;
        let out = Command::new(env!("CARGO_BIN_EXE_thaw"))
            .current_dir(root())
            .args(["run", path.to_str().unwrap(), "--summary"])
            .args(["--set", "run.event_budget=100000"])
            .args(if json { &["--format", "json"][..] } else { &[] })
            .output()
            .expect("thaw runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = || {
            format!(
                "case {case} (from {}), exit {:?}\n--- file ---\n{}\n--- stderr ---\n{}",
                src.display(),
                out.status.code(),
                String::from_utf8_lossy(&bytes),
                stderr.chars().take(4_000).collect::<String>()
            )
        };
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("killed: {}", what()));
        assert!((0..=3).contains(&code), "{}", what());
        assert!(!stderr.contains("panicked"), "{}", what());
        assert!(out.stderr.len() < MAX_STDERR, "{}", what());
        assert!(out.stdout.len() < MAX_STDOUT, "{}", what());
        if code == 2 {
            assert!(stderr.contains("error"), "{}", what());
        } else if json {
            let report: Result<serde_json::Value, _> = serde_json::from_slice(&out.stdout);
            assert!(report.is_ok(), "report is not JSON: {}", what());
        }
        codes[code as usize] += 1;
    }
    eprintln!("exit codes 0..=3: {codes:?}");
    // The set reaches the simulator, not only the parser.
    assert!(codes[0] + codes[1] + codes[3] > 0, "exit codes {codes:?}");
}
