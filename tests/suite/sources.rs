//! docs/sources.md: every source the models' defaults come from names the
//! version it was read at.
use thaw_tests::workspace_root;

/// The rows of every table whose header has a "Version read" column, as
/// (key, version) pairs.
fn versioned_rows(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut col = None;
    for line in doc.lines() {
        if !line.starts_with('|') {
            col = None;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if line.starts_with("|---") {
            continue;
        }
        match col {
            None => col = cells.iter().position(|c| *c == "Version read"),
            Some(i) => out.push((
                cells[1].to_string(),
                cells.get(i).unwrap_or(&"").to_string(),
            )),
        }
    }
    out
}

#[test]
fn every_model_source_records_the_version_read() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/sources.md")).expect("readable");
    let rows = versioned_rows(&doc);
    // The kernel, server, proxy and library tables.
    assert!(rows.len() > 60, "only {} rows found", rows.len());
    let bad: Vec<_> = rows
        .iter()
        .filter(|(key, v)| {
            let missing = v.is_empty() || v.contains("not recorded") || v.contains("not pinned");
            // An RFC does not change once published.
            let rfc = key.contains("RFC") && v == "—";
            missing || (v == "—" && !rfc)
        })
        .collect();
    assert!(bad.is_empty(), "sources without the version read: {bad:?}");
}

#[test]
fn the_version_check_sees_a_missing_version() {
    let doc = "| Key | Source | Version read | What |\n|---|---|---|---|\n| A | a | not recorded | x |\n| RFC 1 | r | — | y |\n";
    assert_eq!(
        versioned_rows(doc),
        vec![
            ("A".to_string(), "not recorded".to_string()),
            ("RFC 1".to_string(), "—".to_string())
        ]
    );
}
