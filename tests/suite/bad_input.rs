//! Bad scenario files: every problem reported at once, with file:line:col
//! and a hint, and never a panic.
use thaw_scenario::load;

const GOOD: &str = r#"
[function]
reap_after = "300s"

[server]
idle_timeout = "60s"

[workload]
at = ["0s", "95s"]
"#;

fn errors(text: &str) -> String {
    match load("bad.toml", text, &[]) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.render(),
    }
}

#[test]
fn good_file_loads() {
    load("good.toml", GOOD, &[]).expect("loads");
}

#[test]
fn all_problems_reported_at_once_with_locations() {
    let text = r#"[function]
reap_after = "-5s"
memroy_mb = 128

[server]
idle_timout = "60s"

[workload]
poisson = { rate = 0.0, count = 10 }
"#;
    let out = errors(text);
    insta::assert_snapshot!(out);
    assert!(out.contains("bad.toml:2:"), "{out}");
    assert!(out.contains("bad.toml:3:"), "{out}");
    assert!(out.contains("bad.toml:6:"), "{out}");
    assert!(out.contains("did you mean `memory_mb`"), "{out}");
    assert!(out.contains("did you mean `idle_timeout`"), "{out}");
    // Semantic problems in the rest of the file come in the same report.
    assert!(out.contains("bad.toml:9:"), "{out}");
    assert!(out.contains("rate 0 is not a positive number"), "{out}");
}

#[test]
fn semantic_problems_are_located() {
    let text = r#"[function]
reap_after = "0s"
timeout = "20m"

[workload]
at = ["95s", "0s"]

[expect]
assert = ["metrics.erors == 0"]
"#;
    let out = errors(text);
    insta::assert_snapshot!(out);
    assert!(out.contains("bad.toml:2:"), "{out}");
    assert!(out.contains("bad.toml:3:"), "{out}");
    assert!(out.contains("bad.toml:6:"), "{out}");
    assert!(out.contains("bad.toml:9:"), "{out}");
    assert!(out.contains("did you mean `errors`"), "{out}");
}

#[test]
fn zero_rate_and_missing_workload() {
    let out = errors("[workload]\npoisson = { rate = 0.0, count = 5 }\n");
    assert!(out.contains("rate 0 is not a positive number"), "{out}");
    let out = errors("[server]\nidle_timeout = \"60s\"\n");
    assert!(out.contains("no [workload]"), "{out}");
}

#[test]
fn bad_set_paths_get_did_you_mean() {
    let e = load("good.toml", GOOD, &["server.idle_timout=310s".into()]).unwrap_err();
    let out = e.render();
    assert!(out.contains("did you mean `idle_timeout`"), "{out}");
    let e = load("good.toml", GOOD, &["server.idle_timeout".into()]).unwrap_err();
    assert!(!e.render().is_empty());
    let ok = load("good.toml", GOOD, &["server.idle_timeout=310s".into()]).unwrap();
    assert_eq!(
        ok.config.server.idle_timeout,
        Some(thaw_core::SimDuration::from_secs(310))
    );
}

#[test]
fn malformed_files_never_panic() {
    let base = std::fs::read_to_string(
        thaw_tests::workspace_root().join("sim-scenarios/seeds/upstash-etimedout.toml"),
    )
    .unwrap();
    for cut in (0..base.len()).step_by(7) {
        if !base.is_char_boundary(cut) {
            continue;
        }
        let _ = load("cut.toml", &base[..cut], &[]);
    }
    for junk in [
        "\u{0}",
        "[[[",
        "a = ",
        "[workload]\nat = [1, 2]",
        "x = \"\\q\"",
    ] {
        let _ = load("junk.toml", junk, &[]);
    }
}

#[test]
fn pool_keys_are_checked() {
    let base = |extra: &str| format!("{GOOD}\n{extra}");
    let out = errors(&base("[client]\nstrategy = \"pool\"\n"));
    assert!(out.contains("needs a `[client.pool]` section"), "{out}");
    let out = errors(&base(
        "[client]\nstrategy = \"global\"\n[client.pool]\npreset = \"pg-pool\"\n",
    ));
    assert!(out.contains("only with `strategy = \"pool\"`"), "{out}");
    let out = errors(&base(
        "[client]\nstrategy = \"pool\"\n[client.pool]\nmax = 2\n",
    ));
    assert!(out.contains("needs a `preset`"), "{out}");
    let out = errors(&base(
        "[client]\nstrategy = \"pool\"\n[client.pool]\npreset = \"sequelize\"\nmax = 1\nmin = 2\n",
    ));
    assert!(out.contains("pool min must not exceed max"), "{out}");
    let out = errors(&base("[client.pool]\npreset = \"hikari\"\n"));
    assert!(out.contains("hikari"), "{out}");
    let ok = base(
        "[client]\nstrategy = \"pool\"\n[client.pool]\npreset = \"sequelize-lambda-guide\"\nvalidation = \"peek\"\norder = \"fifo\"\nevict = \"5s\"\nacquire_timeout = \"3s\"\nclose_after_invocation = true\nreset_at_start = true\n",
    );
    load("ok.toml", &ok, &[]).expect("pool keys load");
}

#[test]
fn handler_keys_are_checked() {
    let text = format!("{GOOD}\n").replace(
        "[function]\n",
        "[function]\ncallback_waits_for_empty_event_loop = false\nhandler_rejects_after = \"1ms\"\n",
    );
    let out = errors(&text);
    assert!(
        out.contains("applies only to `handler = \"callback\"`"),
        "{out}"
    );
    assert!(
        out.contains("modelled only with `strategy = \"pool\"`"),
        "{out}"
    );
    let ok = format!("{GOOD}\n").replace(
        "[function]\n",
        "[function]\nhandler = \"callback\"\ncallback_waits_for_empty_event_loop = false\n",
    );
    load("ok.toml", &ok, &[]).expect("handler keys load");
}
