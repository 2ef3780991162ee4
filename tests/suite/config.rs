//! `thaw config`: every bundled scenario, resolved and written beside a copy
//! of its original (so that the relative paths it writes still resolve),
//! loads to the same configuration, runs to a byte-identical trace, and is
//! valid against the JSON Schema.
use crate::scenarios::{full_name, trace_bytes};
use std::path::Path;
use thaw_scenario::{load, resolve};
use thaw_tests::{scenario_files, workspace_root};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("temp dir");
    for e in std::fs::read_dir(from).expect("readable") {
        let p = e.expect("dir entry").path();
        let dest = to.join(p.file_name().expect("a name"));
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

#[test]
fn every_scenario_resolves_to_a_file_with_the_same_trace() {
    let tmp = std::env::temp_dir().join(format!("thaw-config-round-trip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(
        &workspace_root().join("sim-scenarios"),
        &tmp.join("sim-scenarios"),
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("docs/thaw-scenario.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let files = scenario_files();
    for rel in &files {
        let name = full_name(rel);
        let text = std::fs::read_to_string(&name).expect("readable");
        let resolved = match resolve(&name, &text, &[]) {
            Ok(r) => r,
            Err(e) => panic!("{} does not resolve:\n{}", rel.display(), e.render()),
        };
        assert!(
            resolved.unknown.is_empty(),
            "{}: keys thaw config does not handle: {:?}",
            rel.display(),
            resolved.unknown
        );
        // Over the copy of the original: the resolved file takes its place.
        let written = tmp.join(rel);
        std::fs::write(&written, resolved.toml()).expect("write");
        let back = std::fs::read_to_string(&written).expect("read back");
        let written_name = written.to_string_lossy().into_owned();
        let b = match load(&written_name, &back, &[]) {
            Ok(s) => s,
            Err(e) => panic!(
                "{}: the resolved file does not load:\n{}\n{back}",
                rel.display(),
                e.render()
            ),
        };
        let a = load(&name, &text, &[]).expect("loads");
        assert_eq!(
            format!("{:?}", a.config),
            format!("{:?}", b.config),
            "{}: the resolved file builds another configuration",
            rel.display()
        );
        assert!(
            trace_bytes(&a) == trace_bytes(&b),
            "{}: the resolved file runs to another trace",
            rel.display()
        );
        let as_json: serde_json::Value =
            serde_json::to_value(toml::from_str::<toml::Value>(&back).expect("TOML"))
                .expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&as_json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: the resolved file is not valid against the schema: {errors:?}",
            rel.display()
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
