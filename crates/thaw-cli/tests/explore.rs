//! The exploration contract: `thaw sweep`, `thaw merge`, `thaw boundary`
//! and `thaw check`. Sharded + merged, interrupted + resumed, and any
//! number of threads all give the bytes of one plain sweep; the boundary
//! of the Upstash fix is found to the nanosecond and agrees with a
//! bisection through `thaw run`; a check finds, shrinks and writes a
//! counterexample that `thaw run` reproduces.
mod common;
use common::root;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn thaw_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_thaw"));
    c.current_dir(root()).args(args);
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("thaw runs")
}

fn thaw(args: &[&str]) -> Output {
    thaw_env(args, &[])
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";
const FIX: &str = "sim-scenarios/seeds/upstash-fix-310s.toml";
const PROPERTY: &str = "sim-scenarios/examples/idle-timeout-above-reap-property.toml";

/// A grid of 40 × 3 points with 2 seeds: 240 runs.
fn sweep_args<'a>(out: &'a str, format: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        UPSTASH,
        "--vary",
        "server.idle_timeout=1s..600s/40",
        "--vary",
        "function.reap_after=100s,300s,500s",
        "--seeds",
        "2",
        "--format",
        format,
        "--out",
        out,
    ]
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_string()
}

#[test]
fn shards_merge_to_the_plain_sweep_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jsonl", "csv"] {
        let plain = path(&dir, &format!("plain.{format}"));
        ok(&thaw(&sweep_args(&plain, format)));
        let want = std::fs::read(&plain).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&want).lines().count(),
            240 + (format == "csv") as usize
        );
        for n in [1u32, 2, 3, 7] {
            let mut shards = Vec::new();
            // Shards in reverse order: the merge sorts by run.
            for k in (1..=n).rev() {
                let s = path(&dir, &format!("s{k}of{n}.{format}"));
                let shard = format!("{k}/{n}");
                let mut args = sweep_args(&s, format);
                args.extend(["--shard", &shard]);
                ok(&thaw(&args));
                shards.push(s);
            }
            let merged = path(&dir, &format!("merged{n}.{format}"));
            let mut args = vec!["merge", merged.as_str()];
            args.extend(shards.iter().map(String::as_str));
            ok(&thaw(&args));
            assert_eq!(
                std::fs::read(&merged).unwrap(),
                want,
                "{format}, {n} shards"
            );
        }
    }
}

#[test]
fn merge_refuses_wrong_shard_sets() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |k: u32, file: &str, out: &str| {
        let s = format!("{k}/3");
        let mut args = sweep_args(out, "jsonl");
        args[1] = file;
        args.extend(["--shard", &s]);
        ok(&thaw(&args));
    };
    let (a, b, c) = (path(&dir, "a"), path(&dir, "b"), path(&dir, "c"));
    shard(1, UPSTASH, &a);
    shard(2, UPSTASH, &b);
    shard(3, FIX, &c);
    let out = path(&dir, "out");
    let merge = |files: &[&str]| {
        let mut args = vec!["merge", out.as_str()];
        args.extend(files);
        thaw(&args)
    };
    let o = merge(&[&a, &b]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is missing"), "{}", stderr(&o));
    let o = merge(&[&a, &b, &b]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the same shard given twice"),
        "{}",
        stderr(&o)
    );
    let o = merge(&[&a, &b, &c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("shards of different sweeps"),
        "{}",
        stderr(&o)
    );
    let cut = path(&dir, "cut");
    let bytes = std::fs::read(&b).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let c = path(&dir, "c-upstash");
    shard(3, UPSTASH, &c);
    let o = merge(&[&a, &cut, &c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("was interrupted"), "{}", stderr(&o));
    assert!(!Path::new(&out).exists(), "nothing is written on refusal");
    ok(&merge(&[&c, &a, &b]));
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jsonl", "csv"] {
        let full = path(&dir, &format!("full.{format}"));
        ok(&thaw(&sweep_args(&full, format)));
        let want = std::fs::read(&full).unwrap();
        // Cut anywhere, even inside a record or the CSV header.
        for cut in [0, 7, want.len() / 3, want.len() / 2 + 13, want.len() - 1] {
            let part = path(&dir, &format!("part{cut}.{format}"));
            std::fs::write(&part, &want[..cut]).unwrap();
            let o = thaw(&sweep_args(&part, format));
            ok(&o);
            assert_eq!(std::fs::read(&part).unwrap(), want, "{format} cut at {cut}");
        }
        // Resuming a finished sweep changes nothing.
        ok(&thaw(&sweep_args(&full, format)));
        assert_eq!(std::fs::read(&full).unwrap(), want);
    }
    // A real kill: whatever was finished is on disk, and a rerun completes it.
    let full = path(&dir, "killed-full.jsonl");
    let big = |out: &str| {
        vec![
            "sweep".to_string(),
            UPSTASH.into(),
            "--vary".into(),
            "server.idle_timeout=1s..600s/3000".into(),
            "--jobs".into(),
            "1".into(),
            "--out".into(),
            out.to_string(),
        ]
    };
    let o = thaw(&big(&full).iter().map(String::as_str).collect::<Vec<_>>());
    ok(&o);
    let killed = path(&dir, "killed.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(root())
        .args(big(&killed))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::metadata(&killed).map_or(0, |m| m.len()) < 20_000 {
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = thaw(&big(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    ok(&o);
    assert_eq!(
        std::fs::read(&killed).unwrap(),
        std::fs::read(&full).unwrap()
    );
}

#[test]
fn threads_do_not_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two, three) = (path(&dir, "1"), path(&dir, "2"), path(&dir, "3"));
    for (out, jobs) in [(&one, "1"), (&two, "2"), (&three, "3")] {
        let mut args = sweep_args(out, "jsonl");
        args.extend(["--jobs", jobs]);
        ok(&thaw(&args));
    }
    let want = std::fs::read(&one).unwrap();
    assert_eq!(std::fs::read(&two).unwrap(), want);
    assert_eq!(std::fs::read(&three).unwrap(), want);
    // And standard output is the same bytes as --out.
    let mut args = sweep_args("-", "jsonl");
    args.truncate(args.len() - 2);
    let o = thaw(&args);
    ok(&o);
    assert_eq!(o.stdout, want);
}

#[test]
fn shards_from_slurm_and_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let explicit = path(&dir, "explicit");
    let mut args = sweep_args(&explicit, "jsonl");
    args.extend(["--shard", "2/3"]);
    ok(&thaw(&args));
    let slurm = path(&dir, "slurm");
    let mut args = sweep_args(&slurm, "jsonl");
    args.extend(["--shard", "auto"]);
    ok(&thaw_env(
        &args,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    let k8s = path(&dir, "k8s");
    let mut args = sweep_args(&k8s, "jsonl");
    args.extend(["--shard", "auto/3"]);
    ok(&thaw_env(&args, &[("JOB_COMPLETION_INDEX", "1")]));
    let want = std::fs::read(&explicit).unwrap();
    assert_eq!(std::fs::read(&slurm).unwrap(), want);
    assert_eq!(std::fs::read(&k8s).unwrap(), want);
    let o = thaw(&args);
    assert_eq!(o.status.code(), Some(2), "no environment: a clear error");
    assert!(
        stderr(&o).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn records_say_what_run_would_have_said() {
    let o = thaw(&[
        "sweep",
        FIX,
        "--vary",
        "server.idle_timeout=60s,310s",
        "--vary",
        "server.max_connections=0,10",
    ]);
    ok(&o);
    let recs: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4);
    // max_connections = 0 is invalid: exit 2 with the reason.
    assert_eq!(recs[0]["exit"], 2);
    assert!(recs[0]["error"]
        .as_str()
        .unwrap()
        .contains("max_connections"));
    assert_eq!(recs[1]["values"]["server.idle_timeout"], "60s");
    assert_eq!(recs[1]["exit"], 1);
    assert_eq!(recs[1]["metrics"]["errors_by_kind"]["ETIMEDOUT"], 1);
    assert_eq!(recs[3]["exit"], 0);
    assert_eq!(recs[3]["passed"], true);
    // The same as `thaw run` with --set.
    let run = thaw(&[
        "run",
        FIX,
        "--format",
        "json",
        "--set",
        "server.idle_timeout=60s",
        "--set",
        "server.max_connections=10",
    ]);
    assert_eq!(run.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(r["metrics"], recs[1]["metrics"]);
    assert_eq!(
        r["expectations"].as_array().unwrap().len(),
        recs[1]["expectations"].as_array().unwrap().len()
    );
}

/// `thaw run FIX --set server.idle_timeout=Xns`: does it pass?
fn run_passes(ns: u64) -> bool {
    let o = thaw(&[
        "run",
        FIX,
        "--summary",
        "--set",
        &format!("server.idle_timeout={ns}ns"),
    ]);
    match o.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("thaw run exited {other:?}: {}", stderr(&o)),
    }
}

#[test]
fn boundary_finds_the_upstash_fix_threshold_to_the_nanosecond() {
    let o = thaw(&[
        "boundary",
        FIX,
        "--vary",
        "server.idle_timeout=1s..600s",
        "--format",
        "json",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["path"], "server.idle_timeout");
    let b = v["boundaries"].as_array().unwrap();
    assert_eq!(b.len(), 1, "{v}");
    let ns = |s: &serde_json::Value| {
        thaw_core::SimDuration::parse(s.as_str().unwrap())
            .unwrap()
            .as_nanos()
    };
    let (pass, fail) = (ns(&b[0]["pass"]), ns(&b[0]["fail"]));
    assert_eq!(pass, fail + 1, "to the nanosecond: {v}");
    assert!(
        pass > 90_000_000_000 && pass < 95_000_000_000,
        "a little under 95 s: {v}"
    );
    assert!(b[0]["runs"].as_u64().unwrap() > 2);
    // Brute force through `thaw run`: bisect 1 s..600 s by processes.
    let (mut lo, mut hi) = (1_000_000_000u64, 600_000_000_000u64);
    assert!(!run_passes(lo) && run_passes(hi));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if run_passes(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    assert_eq!((hi, lo), (pass, fail));
    // Text output.
    let o = thaw(&["boundary", FIX, "--vary", "server.idle_timeout=1s..600s"]);
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("1 boundary"), "{text}");
    assert!(
        text.contains(&format!("passes at {}", b[0]["pass"].as_str().unwrap())),
        "{text}"
    );
    assert!(text.contains("invocation 2: ok → EOF"), "{text}");
}

#[test]
fn check_finds_shrinks_and_writes_a_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    let out = path(&dir, "ce.toml");
    let o = thaw(&[
        "check",
        PROPERTY,
        "--vary",
        "server.idle_timeout=1s..2000s",
        "--vary",
        "function.reap_after=1s..300s",
        "--cases",
        "200",
        "--seed",
        "7",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("counterexample"), "{text}");
    assert!(text.contains(&format!("rerun: thaw run {out}")), "{text}");
    let file = std::fs::read_to_string(&out).unwrap();
    assert!(
        file.starts_with("# Counterexample found by `thaw check"),
        "{file}"
    );
    // Shrunk toward LO and round numbers: a one-significant-digit reap time.
    let doc: toml::Table = toml::from_str(&file).unwrap();
    let reap = doc["function"]["reap_after"].as_str().unwrap().to_string();
    let reap_ns = thaw_core::SimDuration::parse(&reap).unwrap().as_nanos();
    assert!(
        reap_ns.to_string().trim_end_matches('0').len() <= 1,
        "not shrunk to a round number: {reap}"
    );
    // The written file fails under `thaw run`.
    let run = thaw(&["run", &out, "--summary"]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    // Deterministic: the same seed finds the same file.
    let out2 = path(&dir, "ce2.toml");
    let o = thaw(&[
        "check",
        PROPERTY,
        "--vary",
        "server.idle_timeout=1s..2000s",
        "--vary",
        "function.reap_after=1s..300s",
        "--cases",
        "200",
        "--seed",
        "7",
        "--out",
        &out2,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        file.lines().skip(1).collect::<Vec<_>>(),
        std::fs::read_to_string(&out2)
            .unwrap()
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
    );
}

#[test]
fn check_shrinks_arrival_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = path(&dir, "ce.toml");
    // Ten arrivals; an idle timeout that can be far below the reap time.
    let o = thaw(&[
        "check",
        PROPERTY,
        "--set",
        "workload.at=[\"0s\",\"10s\",\"20s\",\"30s\",\"40s\",\"50s\",\"60s\",\"70s\",\"80s\",\"400s\"]",
        "--set",
        "expect.assert=[\"metrics.errors == 0\"]",
        "--vary",
        "server.idle_timeout=1s..20s",
        "--cases",
        "50",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let at = doc["workload"]["at"].as_array().unwrap();
    assert!(at.len() <= 2, "arrivals not shrunk: {at:?}");
    assert_eq!(thaw(&["run", &out, "--summary"]).status.code(), Some(1));
}

#[test]
fn check_passes_where_the_property_holds() {
    let o = thaw(&["check", PROPERTY, "--cases", "300"]);
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("300 cases passed"), "{text}");
    // `thaw run` ignores [vary].
    ok(&thaw(&["run", PROPERTY, "--summary"]));
}

#[test]
fn bad_vary_is_exit_2_with_the_reason() {
    for (args, want) in [
        (
            vec!["sweep", UPSTASH, "--vary", "server.idle_timout=1s..600s/3"],
            "did you mean `idle_timeout`",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "server.idle_timeout=1..600/3"],
            "durations need a unit",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "server.idle_timeout=600s..1s/3"],
            "LO `600s` is above HI `1s`",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "server.idle_timeout=1s..600s/0"],
            "COUNT must be at least 1",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "expect.assert=1..2/2"],
            "cannot vary",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "workload.at=1s..2s/2"],
            "is a list",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "server=1s..2s/2"],
            "is a table",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "server.idle_timeout=1s..600s"],
            "needs a COUNT",
        ),
        (
            vec!["sweep", UPSTASH, "--vary", "scenario.seed=1..5/5"],
            "--seeds",
        ),
        (
            vec!["boundary", FIX, "--vary", "server.idle_timeout=1s,2s"],
            "needs a range",
        ),
        (
            vec!["boundary", FIX, "--vary", "server.idle_timout=1s..600s"],
            "did you mean `idle_timeout`",
        ),
        (
            vec!["check", FIX, "--vary", "server.idle_timeout=a..b"],
            "two durations or two numbers",
        ),
        (vec!["check", FIX], "nothing to vary"),
        (
            vec![
                "sweep",
                UPSTASH,
                "--vary",
                "server.idle_timeout=1s..2s/2",
                "--shard",
                "4/3",
            ],
            "K must be between 1 and N",
        ),
    ] {
        let o = thaw(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn every_scenario_with_a_vary_table_passes_its_check() {
    let mut found = 0;
    for dir in ["seeds", "incidents", "examples"] {
        for e in std::fs::read_dir(root().join("sim-scenarios").join(dir)).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            if !text.contains("\n[vary]") {
                continue;
            }
            found += 1;
            let o = thaw(&["check", p.to_str().unwrap(), "--cases", "64"]);
            ok(&o);
        }
    }
    assert!(found >= 1, "no scenario carries a [vary] property");
}
