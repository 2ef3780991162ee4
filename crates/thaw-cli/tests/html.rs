//! `thaw run FILE --html OUT.html`: the report is written alongside the
//! usual output, is the same bytes whatever else is asked for, and an
//! unwritable or dangerous path is refused with the documented exit code.
mod common;
use common::thaw;

const UPSTASH: &str = "sim-scenarios/seeds/upstash-etimedout.toml";

#[test]
fn writes_a_report_and_the_same_bytes_with_other_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.html");
    let b = dir.path().join("b.html");
    let t = dir.path().join("t.jsonl");
    let out = thaw(&["run", UPSTASH, "--html", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("timeline:"));
    let out = thaw(&[
        "run",
        UPSTASH,
        "--format",
        "json",
        "--trace",
        t.to_str().unwrap(),
        "-v",
        "--html",
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a.starts_with(b"<!DOCTYPE html>"));
    assert!(a == b, "the report depends on --format/--trace/-v");
    assert!(std::fs::metadata(&t).unwrap().len() > 0);
}

#[test]
fn an_unwritable_report_is_exit_4_and_the_scenario_is_never_overwritten() {
    let out = thaw(&["run", UPSTASH, "--html", "/nonexistent-dir/x.html"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: cannot create HTML report `/nonexistent-dir/x.html`"),
        "{err}"
    );
    let out = thaw(&["run", UPSTASH, "--html", UPSTASH]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would overwrite the scenario file"));
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("x");
    let same = same.to_str().unwrap();
    let out = thaw(&["run", UPSTASH, "--html", same, "--trace", same]);
    assert_eq!(out.status.code(), Some(2));
}

/// `thaw sweep … --html`: the page is written from the records, the same
/// bytes with --out or without, with any --jobs, in either format of
/// records, and after a resumed sweep.
#[test]
fn a_sweep_page_is_the_same_bytes_however_the_records_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let vary = "server.idle_timeout=1s..600s/5";
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", UPSTASH, "--vary", vary, "--seeds", "2"];
        args.extend_from_slice(extra);
        let out = thaw(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = sweep(&["--html", &p("a.html"), "--jobs", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTML page of 10 record(s)"));
    sweep(&[
        "--html",
        &p("b.html"),
        "--jobs",
        "2",
        "--out",
        &p("b.jsonl"),
    ]);
    // A sweep interrupted after three records, resumed: the page has all ten.
    let full = std::fs::read_to_string(p("b.jsonl")).unwrap();
    let cut: String = full.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(p("c.jsonl"), cut + "{\"sweep\":\"cut sh").unwrap();
    sweep(&["--html", &p("c.html"), "--out", &p("c.jsonl")]);
    assert_eq!(std::fs::read_to_string(p("c.jsonl")).unwrap(), full);
    let a = std::fs::read(p("a.html")).unwrap();
    assert!(a.starts_with(b"<!DOCTYPE html>"));
    assert!(
        a == std::fs::read(p("b.html")).unwrap(),
        "--out/--jobs change the page"
    );
    assert!(
        a == std::fs::read(p("c.html")).unwrap(),
        "a resumed sweep's page differs"
    );
    // CSV records draw the same verdicts and flips (fewer metrics: the CSV
    // has no per-server columns).
    sweep(&[
        "--html",
        &p("d.html"),
        "--format",
        "csv",
        "--out",
        &p("d.csv"),
    ]);
    let d = std::fs::read_to_string(p("d.html")).unwrap();
    let a = String::from_utf8(a).unwrap();
    for s in [&a, &d] {
        assert!(s.contains("class=\"m flip\""));
        assert!(s.contains("data-series=\"ETIMEDOUT\""));
    }
}

#[test]
fn a_sweep_page_of_two_keys_has_the_contour_and_bad_uses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let two = [
        "--vary",
        "server.idle_timeout=1s..600s/3",
        "--vary",
        "function.reap_after=100s,300s",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["sweep", UPSTASH];
        args.extend_from_slice(&two);
        args.extend_from_slice(extra);
        thaw(&args)
    };
    let out = run(&[
        "--html",
        &p("two.html"),
        "--html-metric",
        "zombie_connection_seconds",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let h = std::fs::read_to_string(p("two.html")).unwrap();
    assert!(h.contains("class=\"m contour\""));
    assert!(h.contains("zombie_connection_seconds at every point"));
    // Three keys, a shard, an unknown metric, an unreadable boundary file:
    // exit 2 before anything runs; an unwritable page: exit 4.
    let out = run(&[
        "--vary",
        "client.requests[0].timeout=1s,2s",
        "--html",
        &p("x.html"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html draws one or two varied keys"));
    let out = run(&["--shard", "1/2", "--html", &p("x.html")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("thaw merge"));
    let out = run(&["--html", &p("x.html"), "--html-metric", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--html", &p("x.html"), "--boundaries", &p("missing.json")]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--html", "/nonexistent-dir/x.html"]);
    assert_eq!(out.status.code(), Some(4));
    let out = run(&["--html", UPSTASH]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing ran"
    );
}

#[test]
fn boundaries_from_thaw_boundary_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let out = thaw(&[
        "boundary",
        UPSTASH,
        "--vary",
        "server.idle_timeout=1s..600s",
        "--grid",
        "8",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(p("b.json"), &out.stdout).unwrap();
    let out = thaw(&[
        "sweep",
        UPSTASH,
        "--vary",
        "server.idle_timeout=1s..600s/4",
        "--html",
        &p("s.html"),
        "--boundaries",
        &p("b.json"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let h = std::fs::read_to_string(p("s.html")).unwrap();
    assert!(h.contains("class=\"m bnd\""), "no boundary drawn");
    assert!(h.contains("thaw boundary: passes at 71.735904454s, fails at 71.735904455s"));
    // Not a boundary file: exit 2.
    let out = thaw(&[
        "sweep",
        UPSTASH,
        "--vary",
        "server.idle_timeout=1s..600s/4",
        "--html",
        &p("s.html"),
        "--boundaries",
        UPSTASH,
    ]);
    assert_eq!(out.status.code(), Some(2));
}
