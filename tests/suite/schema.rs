//! The JSON Schema of the scenario format (docs/thaw-scenario.schema.json,
//! `thaw schema`): the committed copy is current, every bundled scenario
//! is valid against it and names it, and it refuses what the loader
//! refuses for its shape.
use thaw_tests::{scenario_files, workspace_root};

const SCHEMA: &str = "docs/thaw-scenario.schema.json";

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace_root().join(SCHEMA)).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn as_json(toml_text: &str) -> serde_json::Value {
    let v: toml::Value = toml::from_str(toml_text).expect("TOML");
    serde_json::to_value(v).expect("JSON")
}

/// Regenerate with `thaw schema > docs/thaw-scenario.schema.json`.
#[test]
fn the_committed_schema_is_current() {
    let committed = std::fs::read_to_string(workspace_root().join(SCHEMA)).unwrap();
    assert!(
        committed == thaw_scenario::schema::schema_text(),
        "{SCHEMA} is out of date: run `cargo run -p thaw-cli -- schema > {SCHEMA}`"
    );
}

#[test]
fn every_bundled_scenario_is_valid_against_the_schema_and_names_it() {
    let v = validator();
    for f in scenario_files() {
        let text = std::fs::read_to_string(workspace_root().join(&f)).unwrap();
        let name = f.display().to_string();
        let depth = name.matches('/').count();
        let directive = format!("#:schema {}{SCHEMA}", "../".repeat(depth));
        assert_eq!(
            text.lines().next(),
            Some(directive.as_str()),
            "{name}: the first line names the schema for editors"
        );
        let errors: Vec<String> = v
            .iter_errors(&as_json(&text))
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

/// What the loader refuses for its shape, the schema refuses too: an
/// unknown key, a duration without a unit, an unknown preset; what it
/// accepts, the schema accepts.
#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let v = validator();
    let ok = "[server]\npreset = \"redis7\"\nidle_timeout = \"1.5 s\"\n[workload]\nat = [\"0s\"]\n";
    assert!(v.is_valid(&as_json(ok)));
    assert!(thaw_scenario::load("ok.toml", ok, &[]).is_ok());
    for bad in [
        "[server]\nidle_timout = \"5s\"\n",
        "[server]\nidle_timeout = \"5\"\n",
        "[server]\nidle_timeout = 5\n",
        "[server]\npreset = \"redis8\"\n",
        "[client.library]\npreset = \"ioredis\"\nreconnect = \"sometimes\"\n",
        "[function]\nmemory_mb = \"128\"\n",
    ] {
        let text = format!("{bad}[workload]\nat = [\"0s\"]\n");
        assert!(!v.is_valid(&as_json(&text)), "schema accepts:\n{text}");
        assert!(
            thaw_scenario::load("bad.toml", &text, &[]).is_err(),
            "loader accepts:\n{text}"
        );
    }
}
