//! What a user meets at the edges: huge or hostile inputs end in a clear
//! exit 2 (never a panic), outputs that cannot be written, closed pipes,
//! seeds, standard input, overrides that remove keys, and a rerun line that
//! reproduces the same command.
mod common;
use common::{root, thaw};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

fn thaw_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(root())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("thaw starts");
    // thaw may stop reading early (an oversized input): a broken pipe here
    // is expected.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";

fn upstash_text() -> String {
    std::fs::read_to_string(root().join(UPSTASH)).unwrap()
}

/// The Upstash scenario with its arrivals replaced by `at`.
fn with_arrivals(at: &str) -> String {
    upstash_text().replace(r#"at = ["0s", "95s", "400s"]"#, &format!("at = [{at}]"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_bad_value_past_column_65535_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut at: Vec<String> = (0..20_000).map(|i| format!("\"{i}s\"")).collect();
    at.push("\"zz\"".into());
    let f = write(&dir, "long.toml", &with_arrivals(&at.join(",")));
    let out = thaw(&["run", &f]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown duration unit `zz`"), "{err}");
    // The line shown is clipped around the value, not 168,000 characters.
    assert!(err.len() < 4_000, "{} bytes of stderr", err.len());
    // The same through --set (one argument stays under Linux's 128 KiB).
    let mut at: Vec<String> = (0..12_000).map(|i| format!("\"{i}s\"")).collect();
    at.push("\"zz\"".into());
    let big = format!("workload.at=[{}]", at.join(","));
    assert!(big.len() > 65_535);
    let out = thaw(&["run", UPSTASH, "--set", &big]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).len() < 8_000);
}

#[test]
fn many_problems_of_one_kind_are_counted_not_all_shown() {
    let dir = tempfile::tempdir().unwrap();
    let at: Vec<String> = (0..10_000).rev().map(|i| format!("\"{i}s\"")).collect();
    let f = write(&dir, "desc.toml", &with_arrivals(&at.join(",")));
    let out = thaw(&["run", &f]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    // 9,999 arrivals out of order: the true count, ten shown.
    assert!(err.contains("has 9999 problems"), "{err}");
    assert!(err.contains("and 9989 more problems like this"), "{err}");
    assert_eq!(err.matches("comes before the previous one").count(), 10);
    assert!(err.len() < 20_000, "{} bytes", err.len());
}

#[test]
fn many_bad_values_stop_with_a_note_and_a_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let at: Vec<String> = (0..50_000).map(|i| format!("\"x{i}\"")).collect();
    let f = write(&dir, "allbad.toml", &with_arrivals(&at.join(",")));
    let out = thaw(&["run", &f]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("there may be more"), "{err}");
    assert!(err.contains("has at least"), "{err}");
    assert!(err.len() < 20_000, "{} bytes", err.len());
}

#[test]
fn files_and_arrays_over_the_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MiB under an unknown table.
    let mut big = upstash_text();
    big.push_str("\n[bogus]\nx = [");
    while big.len() < 2 << 20 {
        big.push_str("1234567,");
    }
    big.push_str("1]\n");
    let f = write(&dir, "big.toml", &big);
    let out = thaw(&["run", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("1048576 bytes (1 MiB)"),
        "{}",
        stderr(&out)
    );
    // The same from standard input.
    let out = thaw_stdin(&["run", "-"], &big);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("1 MiB"), "{}", stderr(&out));
    // An array of 100,001 entries.
    let ones = vec!["1"; 100_001].join(",");
    let f = write(
        &dir,
        "array.toml",
        &format!("{}\n[bogus]\nx = [{ones}]\n", upstash_text()),
    );
    let out = thaw(&["run", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("100001 entries"), "{}", stderr(&out));
    // A Poisson count beyond the arrivals limit.
    let out = thaw(&[
        "run",
        UPSTASH,
        "--unset",
        "workload.at",
        "--set",
        "workload.poisson={rate=1.0,count=9200000000000000000}",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("more arrivals than thaw runs at once"));
}

#[test]
fn summary_keeps_the_verdicts() {
    let full = thaw(&["run", UPSTASH, "--format", "json"]);
    let sum = thaw(&["run", UPSTASH, "--format", "json", "--summary"]);
    assert_eq!(sum.status.code(), Some(0), "{}", stderr(&sum));
    let a: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&sum.stdout).unwrap();
    assert_eq!(a["expectations"], b["expectations"]);
    assert_eq!(b["invocations"], serde_json::json!([]));
    // A failing invocation expectation still shows its actual value.
    let out = thaw(&[
        "run",
        UPSTASH,
        "--summary",
        "--set",
        "server.idle_timeout=310s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL invocation[2].error == ETIMEDOUT   (actual: null)"),
        "{text}"
    );
    assert!(text.contains("ok   invocation[2].cold == false   (actual: false)"));
}

#[test]
fn an_output_that_cannot_be_written_is_exit_4_with_a_reason() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    for format in ["text", "json"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_thaw"))
            .current_dir(root())
            .args(["run", UPSTASH, "--format", format])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert!(
            stderr(&out).contains("cannot write the report to standard output"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_closed_pipe_is_a_normal_end() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(root())
        .args([
            "run",
            "crates/thaw-scenario/benches/poisson-per-invocation.toml",
            "--set",
            "workload.poisson.count=2000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{:?} {}",
        out.status,
        stderr(&out)
    );
    assert!(!stderr(&out).contains("cannot write"), "{}", stderr(&out));
}

#[test]
fn the_rerun_line_repeats_the_whole_command() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let trace = trace.to_str().unwrap();
    let out = thaw(&[
        "run",
        UPSTASH,
        "--set",
        "server.idle_timeout=310s",
        "--unset",
        "function.tcp.user_timeout",
        "--summary",
        "--format",
        "json",
        "--trace",
        trace,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let want = format!(
        "rerun: thaw run {UPSTASH} --seed 1 --set server.idle_timeout=310s --unset function.tcp.user_timeout --format json --summary --trace {trace}"
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn one_seed_type_everywhere() {
    let max = "18446744073709551615";
    let json = |args: &[&str]| -> serde_json::Value {
        let out = thaw(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let flag = json(&["run", UPSTASH, "--format", "json", "--seed", max]);
    assert_eq!(flag["seed"].as_u64(), Some(u64::MAX));
    let set = json(&[
        "run",
        UPSTASH,
        "--format",
        "json",
        "--set",
        &format!("scenario.seed={max}"),
    ]);
    assert_eq!(set["seed"].as_u64(), Some(u64::MAX));
    let text = upstash_text().replace("seed = 1", &format!("seed = \"{max}\""));
    assert_ne!(text, upstash_text(), "the scenario writes `seed = 1`");
    let out = thaw_stdin(&["run", "-", "--format", "json"], &text);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["seed"].as_u64(), Some(u64::MAX));
    for bad in [vec!["--seed", "-1"], vec!["--set", "scenario.seed=-1"]] {
        let mut args = vec!["run", UPSTASH];
        args.extend(bad);
        let out = thaw(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out)
                .contains("is not a seed: a seed is a whole number from 0 to 18446744073709551615"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn standard_input_and_a_trace_that_would_overwrite_the_scenario() {
    let out = thaw_stdin(&["run", "-", "--summary"], &upstash_text());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "s.toml", &upstash_text());
    let out = thaw(&["run", &f, "--trace", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("would overwrite the scenario file itself"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), upstash_text());
}

#[test]
fn unset_removes_a_key_and_refuses_one_that_is_not_there() {
    // Without TCP_USER_TIMEOUT the request waits for the kernel's full
    // retransmission timeout instead of 1 s.
    let out = thaw(&[
        "run",
        UPSTASH,
        "--format",
        "json",
        "--unset",
        "function.tcp.user_timeout",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["invocations"][1]["latency_s"].as_f64().unwrap() > 1.0);
    let out = thaw(&["run", UPSTASH, "--unset", "server.nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`server.nope` is not in the file: nothing to unset"));
}

#[test]
fn presets_say_what_they_switch_on_and_dead_settings_warn() {
    let out = thaw(&["run", "sim-scenarios/seeds/upstash-no-eviction.toml"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("note: preset `upstash` turns on server TCP keepalive (idle 300s, interval 100s, 3 probes)"),
        "{text}"
    );
    let out = thaw(&[
        "run",
        "sim-scenarios/seeds/upstash-no-eviction.toml",
        "--summary",
        "--set",
        "server.tcp.keepalive.enabled=false",
    ]);
    assert!(!String::from_utf8(out.stdout)
        .unwrap()
        .contains("turns on server TCP keepalive"));
    let out = thaw(&[
        "run",
        "sim-scenarios/incidents/sequelize-acquire-timer-fires-on-thaw.toml",
        "--summary",
        "--set",
        "function.handler_rejects_after=1h",
    ]);
    assert!(
        stderr(&out).contains("is not shorter than the function timeout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stopped_run_still_prints_a_valid_json_report() {
    let out = thaw(&[
        "run",
        UPSTASH,
        "--format",
        "json",
        "--set",
        "run.event_budget=50",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["stopped"]["reason"], "event_budget");
    assert_eq!(v["expectations"], serde_json::json!([]));
    assert!(v["metrics"]["events"].as_u64().unwrap() <= 50);
}

#[test]
fn unknown_enum_values_list_the_valid_ones() {
    for (set, want) in [
        (
            "middlebox.preset=zzzz",
            "expected one of: aws-nat-gateway, aws-nlb, linux-conntrack",
        ),
        (
            "server.preset=zzzz",
            "expected one of: generic, redis7, mysql8, postgres, upstash",
        ),
    ] {
        let out = thaw(&["run", UPSTASH, "--set", set]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
}
