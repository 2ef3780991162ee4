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
        ok.config.servers[0].idle_timeout,
        Some(thaw_core::SimDuration::from_secs(310))
    );
}

#[test]
fn malformed_files_never_panic() {
    // Every cut of a good file, and some junk, either loads or is refused
    // with diagnostics that each name a place in the text they refer to
    // (line and column inside it) and say what is wrong; none panics.
    let base = std::fs::read_to_string(
        thaw_tests::workspace_root().join("sim-scenarios/seeds/upstash-etimedout.toml"),
    )
    .unwrap();
    let check = |name: &str, text: &str| -> bool {
        match load(name, text, &[]) {
            Ok(_) => true,
            Err(e) => {
                let problems: Vec<_> = e.diagnostics.iter().filter(|d| d.is_problem).collect();
                assert!(!problems.is_empty(), "{name}: refused without a problem");
                for d in problems {
                    assert_eq!(d.file, name, "{name}: {d:?}");
                    let lines = e.source.lines().count().max(1);
                    assert!(
                        (1..=lines + 1).contains(&d.line) && d.col >= 1,
                        "{name}: no place in the text: {d:?}"
                    );
                    assert!(!d.message.trim().is_empty(), "{name}: {d:?}");
                }
                // The rendered report points at the file by name.
                assert!(e.render().contains(name), "{name}");
                false
            }
        }
    };
    let (mut loaded, mut refused) = (0, 0);
    for cut in (0..base.len()).step_by(7).chain([base.len()]) {
        if !base.is_char_boundary(cut) {
            continue;
        }
        if check("cut.toml", &base[..cut]) {
            loaded += 1;
        } else {
            refused += 1;
        }
    }
    // Both branches are exercised: every cut is broken (the file ends
    // with a multi-line array), the whole file loads.
    assert!(
        refused > 100 && loaded > 0,
        "{refused} refused, {loaded} loaded"
    );
    for junk in [
        "\u{0}",
        "[[[",
        "a = ",
        "[workload]\nat = [1, 2]",
        "x = \"\\q\"",
    ] {
        assert!(!check("junk.toml", junk), "{junk:?} loads");
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

/// The Upstash scenario with its arrival list replaced.
fn upstash_with_at(at: &str) -> String {
    std::fs::read_to_string(
        thaw_tests::workspace_root().join("sim-scenarios/seeds/upstash-etimedout.toml"),
    )
    .unwrap()
    .replace(r#"at = ["0s", "95s", "400s"]"#, &format!("at = [{at}]"))
}

#[test]
fn repeated_problems_are_counted_and_capped() {
    let at: Vec<String> = (0..3000).rev().map(|i| format!("\"{i}s\"")).collect();
    let e = load("desc.toml", &upstash_with_at(&at.join(",")), &[]).unwrap_err();
    assert_eq!(e.diagnostics.total(), 2999);
    assert!(e.diagnostics.complete());
    assert_eq!(e.diagnostics.len(), thaw_scenario::diag::MAX_SHOWN_PER_KIND);
    assert_eq!(e.diagnostics.summary(), "has 2999 problems");
    let out = e.render();
    assert!(out.contains("and 2989 more problems like this"), "{out}");
    // Linear: ten pictures of at most a few short lines each.
    assert!(out.len() < 6_000, "{} bytes", out.len());
}

#[test]
fn long_lines_are_clipped_around_the_span() {
    let mut at: Vec<String> = (0..30_000).map(|i| format!("\"{i}s\"")).collect();
    at.push("\"-1s\"".into());
    let e = load("long.toml", &upstash_with_at(&at.join(",")), &[]).unwrap_err();
    let out = e.render();
    assert!(out.contains("negative duration `-1s`"), "{out}");
    assert!(out.contains("\"-1s\""), "the value is shown: {out}");
    assert!(out.lines().all(|l| l.chars().count() < 260), "{out}");
}

#[test]
fn limits_are_reported_not_run() {
    let ones = vec!["\"1s\""; thaw_scenario::limits::MAX_ARRAY_LEN + 1].join(",");
    let e = load("array.toml", &upstash_with_at(&ones), &[]).unwrap_err();
    assert!(e.render().contains("100001 entries"), "{}", e.render());
    let big = format!("# {}\n", "x".repeat(thaw_scenario::limits::MAX_FILE_BYTES));
    let e = load("big.toml", &big, &[]).unwrap_err();
    assert!(
        e.render().contains("at most 1048576 bytes"),
        "{}",
        e.render()
    );
    let huge = upstash_with_at("\"0s\"").replace(
        "[workload]\nat = [\"0s\"]",
        "[workload]\npoisson = { rate = 1.0, count = 9200000000000000000 }",
    );
    let e = load("huge.toml", &huge, &[]).unwrap_err();
    assert!(
        e.render().contains("more arrivals than thaw runs at once"),
        "{}",
        e.render()
    );
}

#[test]
fn unset_and_keepalive_enabled() {
    use thaw_scenario::{load_with, Override};
    let text = upstash_with_at("\"0s\", \"95s\"");
    let s = load_with(
        "u.toml",
        &text,
        &[Override::Unset("function.tcp.user_timeout".into())],
    )
    .unwrap();
    assert_eq!(s.config.platform.tcp.user_timeout, None);
    let e = load_with("u.toml", &text, &[Override::Unset("workload.nope".into())]).unwrap_err();
    assert!(e.render().contains("nothing to unset"), "{}", e.render());
    // Set after unset, in order.
    let s = load_with(
        "u.toml",
        &text,
        &[
            Override::Unset("server.idle_timeout".into()),
            Override::Set("server.idle_timeout=61s".into()),
        ],
    )
    .unwrap();
    assert_eq!(
        s.config.servers[0].idle_timeout,
        Some(thaw_core::SimDuration::from_secs(61))
    );
    let redis = format!("{GOOD}\n").replace("[server]\n", "[server]\npreset = \"redis7\"\n");
    let on = load("r.toml", &redis, &[]).unwrap();
    assert!(on.config.servers[0].tcp.keepalive.is_some());
    assert!(
        on.notes.iter().any(|n| n.contains("keepalive")),
        "{:?}",
        on.notes
    );
    let off = load(
        "r.toml",
        &redis,
        &["server.tcp.keepalive.enabled=false".into()],
    )
    .unwrap();
    assert!(off.config.servers[0].tcp.keepalive.is_none());
    assert!(off.notes.iter().all(|n| !n.contains("keepalive")));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Any span on any line renders: small, with the true line number, and
    /// without reaching into miette with a column it cannot format.
    #[test]
    fn any_span_renders_bounded(
        lines in proptest::collection::vec("[a-z =\"\\[\\],é]{0,300}", 1..6),
        long in 0usize..200_000,
        pick in 0usize..1_000_000,
        len in 0usize..400,
    ) {
        let mut lines = lines;
        lines.push("x".repeat(long));
        let text = lines.join("\n");
        let start = pick % (text.len() + 1);
        let d = thaw_scenario::Diagnostic::at("f.toml", &text, start..start + len, "problem")
            .with_label("here");
        let out = d.render(&text);
        proptest::prop_assert!(out.contains("problem"));
        proptest::prop_assert!(out.len() < 4_000, "{} bytes", out.len());
        let header = format!("f.toml:{}:", d.line);
        proptest::prop_assert!(out.contains(&header), "{}", out);
    }
}

#[test]
fn long_names_are_refused() {
    let text = format!(
        "{GOOD}\n[[client.requests]]\nname = \"{}\"\n",
        "x".repeat(thaw_scenario::limits::MAX_NAME_CHARS + 1)
    );
    let out = errors(&text);
    assert!(out.contains("names are at most 100"), "{out}");
    let ok = format!(
        "{GOOD}\n[[client.requests]]\nname = \"{}\"\n",
        "x".repeat(100)
    );
    load("ok.toml", &ok, &[]).expect("a 100-character name loads");
}
