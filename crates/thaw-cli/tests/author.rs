//! The authoring commands (`thaw validate`, `thaw config`, `thaw new`,
//! `thaw completions`, `thaw man`) and colour (`--color`, `NO_COLOR`).
mod common;
use common::{root, thaw};
use std::process::Command;

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";

fn thaw_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_thaw"));
    c.current_dir(dir).args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("thaw runs")
}

/// Every bundled scenario is valid; one invalid file among valid ones
/// makes the exit 2, and every problem of it is reported.
#[test]
fn validate_checks_every_file_and_reports_every_problem() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["seeds", "examples", "libraries"] {
        for e in std::fs::read_dir(root().join("sim-scenarios").join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p.display().to_string());
            }
        }
    }
    files.sort();
    let args: Vec<&str> = std::iter::once("validate")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = thaw(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        files.len()
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nport = 0\nbogus = 1\n",
    )
    .unwrap();
    let out = thaw_in(
        dir.path(),
        &[
            "validate",
            "bad.toml",
            &root().join(UPSTASH).display().to_string(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    for needle in [
        "bad.toml:2:8",
        "port 0 is not a listening port",
        "bad.toml:3:1",
        "unknown key `bogus`",
        "no [workload]",
        "has 3 problems",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("invalid bad.toml") && stdout.contains("ok "),
        "{stdout}"
    );
}

/// `thaw config` prints the resolved scenario: each key's source in a
/// comment, a file that `thaw run` runs to the trace of the original with
/// the same `--set`; `--format json` for tools; a bad file is exit 2 with
/// its diagnostics.
#[test]
fn config_prints_a_scenario_that_runs_as_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let upstash = root().join(UPSTASH).display().to_string();
    let set = ["--set", "server.preset=redis7"];
    let out = thaw_in(dir.path(), &[&["config", &upstash][..], &set].concat(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let has = |kv: &str, source: &str| {
        text.lines()
            .any(|l| l.starts_with(kv) && l.ends_with(&format!("  # {source}")))
    };
    for (kv, source) in [
        ("preset = \"redis7\"", "--set"),
        ("idle = \"300s\"", "preset redis7"),
        ("idle_check_interval = \"1s\"", "preset redis7"),
        ("backlog = 511", "default"),
        ("idle_timeout = \"60s\"", &format!("{upstash}:86")),
    ] {
        assert!(has(kv, source), "no `{kv}  # {source}` in:\n{text}");
    }
    assert!(
        text.contains("# connect_timeout: none  # default;"),
        "{text}"
    );
    std::fs::write(dir.path().join("resolved.toml"), &text).unwrap();
    let a = thaw_in(
        dir.path(),
        &[&["run", &upstash, "--trace", "a.jsonl"][..], &set].concat(),
        &[],
    );
    let b = thaw_in(
        dir.path(),
        &["run", "resolved.toml", "--trace", "b.jsonl"],
        &[],
    );
    assert_eq!(a.status.code(), b.status.code());
    let trace = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert!(!trace("a.jsonl").is_empty());
    assert!(trace("a.jsonl") == trace("b.jsonl"), "the traces differ");

    let out = thaw_in(
        dir.path(),
        &[&["config", &upstash, "--format", "json"][..], &set].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["overrides"][0]["set"], "server.preset=redis7");
    let keys = j["keys"].as_array().unwrap();
    let idle = keys
        .iter()
        .find(|k| k["key"] == "server.tcp.keepalive.idle")
        .unwrap();
    assert_eq!(idle["value"], "300s");
    assert_eq!(idle["source"]["kind"], "preset");
    assert_eq!(idle["source"]["name"], "redis7");

    std::fs::write(dir.path().join("bad.toml"), "[server]\nport = 0\n").unwrap();
    let out = thaw_in(dir.path(), &["config", "bad.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.toml:2:8"), "{err}");
}

/// `thaw new` writes a runnable copy of a bundled scenario under the new
/// name, refuses to overwrite, and lists the templates.
#[test]
fn new_writes_a_runnable_scenario_from_a_template() {
    let dir = tempfile::tempdir().unwrap();
    let out = thaw_in(dir.path(), &["new", "first"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("first.toml")).unwrap();
    assert!(text.contains("name = \"first\""), "{text}");
    assert!(text.starts_with("# Started from thaw's bundled scenario seeds/upstash-etimedout.toml"));
    // The comments of the template are kept.
    assert!(text.contains("frozen containers => zombie"), "{text}");
    let out = thaw_in(dir.path(), &["run", "first.toml", "--summary"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Exists: refused, then --force.
    let out = thaw_in(dir.path(), &["new", "first"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = thaw_in(
        dir.path(),
        &[
            "new",
            "first",
            "--force",
            "--from",
            "lambda-web-adapter-pool-idle-fix",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("first.toml")).unwrap();
    assert!(text.contains("location = \"environment\""), "{text}");
    let out = thaw_in(dir.path(), &["new", "x", "--from", "upstash-etimedot"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did you mean `seeds/upstash-etimedout`?")
    );
    // Every bundled scenario is listed, with its description.
    let out = thaw(&["new", "--list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("seeds/upstash-etimedout ")
                && l.contains("A cached Redis connection outlives a freeze")),
        "{list}"
    );
    let n = walk(&root().join("sim-scenarios"));
    assert_eq!(list.lines().count(), n);
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "toml"))
            }
        })
        .sum()
}

/// Completion scripts and man pages are generated for every shell and
/// subcommand.
#[test]
fn completions_and_man_pages_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = thaw(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let s = String::from_utf8(out.stdout).unwrap();
        for sub in ["run", "sweep", "validate", "config", "new"] {
            assert!(s.contains(sub), "{shell}: {sub}");
        }
    }
    let out = thaw(&["man"]);
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH thaw 1"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = thaw_in(dir.path(), &["man", "--out-dir", "pages"], &[]);
    assert_eq!(out.status.code(), Some(0));
    for page in [
        "thaw.1",
        "thaw-run.1",
        "thaw-validate.1",
        "thaw-config.1",
        "thaw-new.1",
    ] {
        assert!(dir.path().join("pages").join(page).exists(), "{page}");
    }
}

/// `NO_COLOR` and `--color`: no escape codes unless asked for (a pipe is
/// never coloured under `auto`); `--color always` colours diagnostics and
/// the report, and wins over `NO_COLOR`.
#[test]
fn colour_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[server]\nport = 0\n").unwrap();
    let upstash = root().join(UPSTASH).display().to_string();
    let esc = |o: &std::process::Output| o.stdout.contains(&0x1b) || o.stderr.contains(&0x1b);
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        assert!(!esc(&thaw_in(dir.path(), &["run", &upstash], env)));
        assert!(!esc(&thaw_in(dir.path(), &["validate", "bad.toml"], env)));
    }
    let o = thaw_in(dir.path(), &["--color", "never", "run", &upstash], &[]);
    assert!(!esc(&o));
    let o = thaw_in(
        dir.path(),
        &["run", &upstash, "--color", "always"],
        &[("NO_COLOR", "1")],
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("\x1b[31m") && text.contains("fails with ETIMEDOUT"),
        "{text}"
    );
    assert!(text.contains("\x1b[32mok\x1b[0m"), "{text}");
    let o = thaw_in(dir.path(), &["validate", "--color=always", "bad.toml"], &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("\x1b[31m×\x1b[0m"));
    // Without colour the bytes are exactly the plain report.
    let plain = thaw_in(dir.path(), &["run", &upstash, "--color", "never"], &[]);
    let auto = thaw_in(dir.path(), &["run", &upstash], &[]);
    assert_eq!(plain.stdout, auto.stdout);
}

/// Dynamic completion (`COMPLETE=bash thaw`): after `--set`, `--unset` and
/// `--vary`, the shell is offered the scenario's key paths.
#[test]
fn keys_complete_after_set_unset_and_vary() {
    let complete = |index: &str, words: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_thaw"));
        c.current_dir(root())
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", index)
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words);
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    let got = complete("4", &["thaw", "run", UPSTASH, "--set", "server.idle_t"]);
    assert_eq!(got.trim(), "server.idle_timeout=");
    let got = complete(
        "4",
        &[
            "thaw",
            "run",
            UPSTASH,
            "--unset",
            "function.tcp.keepalive.i",
        ],
    );
    assert!(
        got.lines().any(|l| l == "function.tcp.keepalive.idle"),
        "{got}"
    );
    let got = complete(
        "3",
        &["thaw", "sweep", UPSTASH, "--vary=client.requests[0].ti"],
    );
    assert!(
        got.lines()
            .any(|l| l == "--vary=client.requests[0].timeout="),
        "{got}"
    );
}
