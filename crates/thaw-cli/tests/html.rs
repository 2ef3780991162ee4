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
