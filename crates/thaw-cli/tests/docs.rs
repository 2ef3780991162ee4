//! The documentation tells the truth: every `thaw` command written in
//! README.md, docs/ and the scenario files runs (with the exit code it
//! claims), every other command it shows is one we know to exist, and
//! README's scenario table lists every scenario file.
mod common;
use common::root;
use std::path::{Path, PathBuf};
use std::process::Command;

fn docs() -> Vec<(String, String)> {
    let mut files = vec![root().join("README.md")];
    let mut d: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    d.sort();
    files.extend(d);
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

fn scenario_files() -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("sim-scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let mut names: Vec<String> = std::fs::read_dir(root().join("sim-scenarios").join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
    }
    out
}

/// A command line and the exit code it claims (`# exit N`; none = any
/// code that means it ran: 0 or 1).
struct Claim {
    place: String,
    line: String,
    exit: Option<i32>,
}

/// Lines of ```sh blocks.
fn sh_lines(name: &str, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(lang) = t.strip_prefix("```") {
            in_sh = !in_sh && lang == "sh";
            continue;
        }
        if in_sh && !t.is_empty() && !t.starts_with('#') {
            out.push((format!("{name}:{}", i + 1), t.to_string()));
        }
    }
    out
}

fn split_claim(place: String, line: &str, default: Option<i32>) -> Claim {
    let (cmd, exit) = match line.find("   # exit ").or_else(|| line.find("  # exit ")) {
        Some(i) => {
            let rest = line[i..].trim_start().trim_start_matches("# exit ");
            let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            (line[..i].trim().to_string(), n.parse().ok())
        }
        None => (line.trim().to_string(), default),
    };
    Claim {
        place,
        line: cmd,
        exit,
    }
}

/// `thaw ARGS` or `cargo run --release -p thaw-cli -- ARGS` → ARGS.
fn thaw_args(cmd: &str) -> Option<Vec<String>> {
    let words = shell_words::split(cmd).ok()?;
    let rest = if words.first().map(String::as_str) == Some("thaw") {
        &words[1..]
    } else if words.starts_with(&[
        "cargo".into(),
        "run".into(),
        "--release".into(),
        "-p".into(),
        "thaw-cli".into(),
        "--".into(),
    ]) {
        &words[6..]
    } else {
        return None;
    };
    Some(rest.to_vec())
}

/// A scratch directory that looks like the repository (the scenarios and
/// crates linked in), so that commands writing files (`--out`, a
/// counterexample) leave the checkout clean.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sim-scenarios", "crates"] {
        std::os::unix::fs::symlink(root().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn run(claim: &Claim, dir: &Path) -> Result<(), String> {
    let args = thaw_args(&claim.line).ok_or("not a thaw command")?;
    let out = Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(dir)
        .args(&args)
        .output()
        .map_err(|e| e.to_string())?;
    let code = out.status.code().unwrap_or(-1);
    let ok = match claim.exit {
        Some(want) => code == want,
        None => code == 0 || code == 1,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{}: `{}` exited {code}, the docs say {}\n{}",
            claim.place,
            claim.line,
            claim
                .exit
                .map_or("it runs (0 or 1)".to_string(), |e| e.to_string()),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Commands other than `thaw` that the docs may show, and what must hold
/// for each to be true.
fn known_other(cmd: &str) -> Result<(), String> {
    let w = shell_words::split(cmd).map_err(|e| e.to_string())?;
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["cargo", "test", "--workspace"] => Ok(()),
        // A test of a package: the package exists.
        ["cargo", "test", "-p", krate, ..] => {
            let manifests = [
                root().join("crates").join(krate).join("Cargo.toml"),
                root().join("tests/Cargo.toml"),
            ];
            manifests
                .iter()
                .any(|m| {
                    std::fs::read_to_string(m)
                        .is_ok_and(|t| t.contains(&format!("name = \"{krate}\"")))
                })
                .then_some(())
                .ok_or(format!("no package {krate}"))
        }
        ["cargo", "install", "--path", p] => root()
            .join(p)
            .join("Cargo.toml")
            .exists()
            .then_some(())
            .ok_or(format!("no crate at {p}")),
        ["cargo", "bench", "-p", krate, "--bench", bench, ..] => {
            let dir = root().join("crates").join(krate);
            let has = std::fs::read_to_string(dir.join("Cargo.toml"))
                .map(|t| t.contains(&format!("name = \"{bench}\"")))
                .unwrap_or(false);
            has.then_some(())
                .ok_or(format!("crate {krate} has no bench `{bench}`"))
        }
        // An example of a crate: it exists (crates/thaw-harness/tests/harness.rs
        // runs the harness's examples).
        ["cargo", "run", "--release", "-p", krate, "--example", name, ..] => root()
            .join("crates")
            .join(krate)
            .join("examples")
            .join(format!("{name}.rs"))
            .exists()
            .then_some(())
            .ok_or(format!("crate {krate} has no example `{name}`")),
        ["/usr/bin/time", "-v", rest @ ..] => {
            let inner = shell_words::join(rest);
            if inner.starts_with("target/release/thaw ") {
                Ok(())
            } else {
                known_other(&inner)
            }
        }
        _ => Err(format!(
            "unknown command `{cmd}`: teach this test what makes it true"
        )),
    }
}

#[test]
fn every_command_in_the_docs_runs_as_documented() {
    let mut claims = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in docs() {
        for (place, line) in sh_lines(&name, &text) {
            let claim = split_claim(place, &line, Some(0));
            if thaw_args(&claim.line).is_some() {
                claims.push(claim);
            } else if let Err(e) = known_other(&claim.line) {
                problems.push(format!("{}: {e}", claim.place));
            }
        }
        // `thaw run …` in running text: it must at least run.
        for (i, l) in text.lines().enumerate() {
            for span in l.split('`').skip(1).step_by(2) {
                if span.starts_with("thaw run sim-scenarios/") {
                    claims.push(split_claim(format!("{name}:{}", i + 1), span, None));
                }
            }
        }
    }
    for f in scenario_files() {
        let text = std::fs::read_to_string(root().join("sim-scenarios").join(&f)).unwrap();
        for (i, l) in text.lines().enumerate() {
            let t = l.trim_start_matches('#').trim();
            if l.starts_with('#') && t.starts_with("thaw run ") {
                claims.push(split_claim(format!("sim-scenarios/{f}:{}", i + 1), t, None));
            }
        }
    }
    assert!(claims.len() >= 10, "found only {} commands", claims.len());
    let dir = scratch();
    for c in &claims {
        if let Err(e) = run(c, dir.path()) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn readme_lists_every_scenario_file() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let missing: Vec<String> = scenario_files()
        .into_iter()
        .filter(|f| !readme.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's scenario table misses: {missing:?}"
    );
    // And names none that does not exist.
    for l in readme.lines().filter(|l| l.starts_with("| `")) {
        let name = l.split('`').nth(1).unwrap_or("");
        if name.ends_with(".toml") && name.contains('/') && !name.contains('*') {
            assert!(
                Path::new(&root().join("sim-scenarios").join(name)).exists(),
                "README.md lists {name}, which does not exist"
            );
        }
    }
}

#[test]
fn readme_timeline_excerpt_is_what_thaw_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```text\n").expect("a timeline excerpt") + 8;
    let excerpt = &readme[start..start + readme[start..].find("```").unwrap()];
    let out = Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(root())
        .args(["run", "sim-scenarios/seeds/upstash-etimedout.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for line in excerpt.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            text.lines().any(|l| l.trim() == line.trim()),
            "README shows a timeline line thaw does not print:\n{line}"
        );
    }
}
