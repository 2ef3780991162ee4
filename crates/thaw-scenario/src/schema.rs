//! The JSON Schema of the scenario format (`thaw schema`,
//! docs/thaw-scenario.schema.json), for editors that check TOML against a
//! schema (taplo, Even Better TOML).
//!
//! Its shape comes from the loader's own serde types ([`ScenarioFile`],
//! `schemars` on `file.rs`): the keys, their types, the allowed values of
//! each enum, `additionalProperties: false` where the loader denies unknown
//! fields. Its words come from docs/scenario-format.md: each key's row in
//! the table of its section gives the description, the default and the
//! validation, so the schema says what the documentation says. A test keeps
//! the committed copy current, and another that every key has a row.
use crate::file::ScenarioFile;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Draft-07, the draft editors support best (taplo, VS Code): definitions
/// under `definitions`.
const DEFS: &str = "definitions";
const DEFS_REF: &str = "#/definitions/";

/// The schema of the loader's types, before the documentation's words.
fn raw() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut v = serde_json::to_value(generator.into_root_schema_for::<ScenarioFile>())
        .expect("a schema is JSON");
    strip_null(&mut v);
    v
}

/// TOML has no null: an optional key is one that is absent, so `Option`'s
/// "or null" is dropped everywhere. Besides being exact, it lets an editor
/// name the unknown key inside a table (with `anyOf [table, null]` taplo
/// only says the table matches neither).
fn strip_null(v: &mut Value) {
    let is_null = |x: &Value| x.get("type").and_then(Value::as_str) == Some("null");
    if let Some(obj) = v.as_object_mut() {
        if let Some(Value::Array(types)) = obj.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let t = types[0].clone();
                obj.insert("type".into(), t);
            }
        }
        let lone = obj
            .get("anyOf")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2 && a.iter().any(is_null))
            .and_then(|a| a.iter().find(|x| !is_null(x)).cloned());
        if let Some(other) = lone {
            obj.remove("anyOf");
            match other.as_object() {
                // Draft-07 ignores the siblings of `$ref`: keep it alone in
                // an `allOf`, beside the description.
                Some(o) if o.contains_key("$ref") => {
                    obj.insert("allOf".into(), Value::Array(vec![other.clone()]));
                }
                Some(o) => {
                    for (k, x) in o {
                        obj.entry(k.clone()).or_insert_with(|| x.clone());
                    }
                }
                None => {}
            }
        }
        for x in obj.values_mut() {
            strip_null(x);
        }
    } else if let Some(arr) = v.as_array_mut() {
        for x in arr {
            strip_null(x);
        }
    }
}

/// docs/scenario-format.md, compiled in.
const FORMAT_DOC: &str = include_str!("../../../docs/scenario-format.md");

/// One row of a key table.
#[derive(Clone, Debug)]
struct Row {
    ty: String,
    default: String,
    meaning: String,
    validation: String,
}

/// The key tables of docs/scenario-format.md: section path (`server`,
/// `function.tcp`, `client.targets.*`) → key → row.
fn doc_rows() -> BTreeMap<String, BTreeMap<String, Row>> {
    let mut out: BTreeMap<String, BTreeMap<String, Row>> = BTreeMap::new();
    for (paths, key, r) in doc_table_rows() {
        for p in paths {
            out.entry(p)
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| r.clone());
        }
    }
    out
}

/// The keys of each documented table (section path → keys), in the order
/// of its rows: the order `thaw config` writes them in.
#[cfg(test)]
pub(crate) fn doc_key_order() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (paths, key, _) in doc_table_rows() {
        for p in paths {
            let keys = out.entry(p).or_default();
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
        }
    }
    out
}

/// Every row of every key table, in document order, with the section
/// paths it documents.
fn doc_table_rows() -> Vec<(Vec<String>, String, Row)> {
    let mut out = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    // The columns of the table being read, by header name.
    let mut columns: Vec<String> = Vec::new();
    for line in FORMAT_DOC.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            paths = section_paths(h);
            continue;
        }
        if line.starts_with("## ") {
            paths.clear();
            continue;
        }
        // A paragraph that starts by naming a sub-table introduces its
        // key table ("`[[workload.invoke]]` — arrivals of …").
        if line.starts_with("`[") && (line.contains(" — ") || line.trim_end().ends_with(':')) {
            let named = section_paths(line.split(' ').next().unwrap_or_default());
            if !named.is_empty() {
                paths = named;
            }
            continue;
        }
        if line.starts_with("| Key |") {
            columns = split_cells(line).iter().map(|c| c.to_string()).collect();
            continue;
        }
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = split_cells(line);
        if paths.is_empty() || cells.len() < columns.len() {
            continue;
        }
        let col = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|i| cells.get(i))
                .map_or(String::new(), |c| c.to_string())
        };
        let key = row.split('`').next().unwrap_or_default().to_string();
        let r = Row {
            ty: col("Type"),
            default: col("Default"),
            meaning: col("Meaning"),
            validation: col("Validation"),
        };
        out.push((paths.clone(), key, r));
    }
    out
}

/// The cells of a table row, `\|` kept inside a cell.
fn split_cells(line: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let bytes = line.as_bytes();
    let mut start = 0;
    for i in 0..bytes.len() {
        if bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            if i > start {
                cells.push(line[start..i].trim());
            }
            start = i + 1;
        }
    }
    if start < line.len() && !line[start..].trim().is_empty() {
        cells.push(line[start..].trim());
    }
    cells
}

/// The table paths a section heading names: "`[server]` or `[[servers]]`"
/// → server, servers; an upper-case segment (`SERVER`) is any name (`*`).
fn section_paths(heading: &str) -> Vec<String> {
    heading
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| {
            let inner = code.trim_start_matches('[').trim_end_matches(']');
            (code.starts_with('[') && !inner.is_empty()).then(|| {
                inner
                    .split('.')
                    .map(|seg| {
                        if seg.chars().all(|c| c.is_ascii_uppercase()) {
                            "*"
                        } else {
                            seg
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
        })
        .collect()
}

/// The definition a (sub)schema names, through `Option` (`anyOf` with
/// null), `Vec` (`items`) and maps (`additionalProperties`).
fn def_of(s: &Value) -> Option<(String, &'static str)> {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(DEFS_REF).map(|d| (d.to_string(), ""));
    }
    if let Some(items) = s.get("items") {
        return def_of(items);
    }
    if let Some(ap) = s.get("additionalProperties").filter(|v| v.is_object()) {
        return def_of(ap).map(|(d, _)| (d, ".*"));
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        if let Some(arr) = s.get(k).and_then(Value::as_array) {
            if let Some(d) = arr.iter().find_map(def_of) {
                return Some(d);
            }
        }
    }
    None
}

/// Every table path at which each definition appears.
fn def_paths(
    defs: &Map<String, Value>,
    props: &Map<String, Value>,
    prefix: &str,
    out: &mut BTreeMap<String, Vec<String>>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    for (name, sub) in props {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some((def, suffix)) = def_of(sub) {
            let path = format!("{path}{suffix}");
            let seen = out.entry(def.clone()).or_default();
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            if let Some(p) = defs
                .get(&def)
                .and_then(|d| d.get("properties"))
                .and_then(Value::as_object)
            {
                def_paths(defs, p, &path, out, depth + 1);
            }
        }
    }
}

/// A default written as one literal (`` `"250us"` ``, `` `false` ``,
/// `128`), as JSON; `None` for prose.
fn literal_default(cell: &str) -> Option<Value> {
    let t = cell.trim().trim_matches('`');
    if t.contains('`') || t.contains(' ') && !t.starts_with('"') {
        return None;
    }
    let v: toml::Value = toml::from_str::<toml::Table>(&format!("v = {t}"))
        .ok()?
        .remove("v")?;
    serde_json::to_value(v).ok()
}

/// Inline Markdown to plain text: code spans and bold marks dropped.
fn plain(md: &str) -> String {
    md.replace("**", "").replace('`', "").replace("\\|", "|")
}

fn describe(mut s: Map<String, Value>, row: &Row) -> Map<String, Value> {
    let mut text = plain(&row.meaning);
    let default = plain(&row.default);
    if !default.is_empty() && default != "—" {
        text.push_str(&format!("\n\nDefault: {default}."));
    }
    let ty = plain(&row.ty);
    if ty.contains("duration") {
        text.push_str("\nUnit: a duration string (\"310s\", \"250us\").");
    }
    let v = plain(&row.validation);
    if !v.is_empty() && v != "—" && v != "any" {
        text.push_str(&format!("\nValid: {v}."));
    }
    s.insert("description".into(), Value::String(text));
    if let Some(d) = literal_default(&row.default) {
        s.insert("default".into(), d);
    }
    s
}

/// The definitions of `root` and the table paths each appears at.
fn tables(root: &Value) -> (Map<String, Value>, BTreeMap<String, Vec<String>>) {
    let defs = root
        .get(DEFS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let top = root
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut at: BTreeMap<String, Vec<String>> = BTreeMap::new();
    def_paths(&defs, &top, "", &mut at, 0);
    (defs, at)
}

/// The scenario format's JSON Schema, with the documentation's words.
pub fn schema() -> Value {
    let mut root = raw();
    let rows = doc_rows();
    let (_, at) = tables(&root);
    // The root's own keys are tables; each definition's keys get the row of
    // their first documented path.
    if let Some(defs) = root.get_mut(DEFS).and_then(Value::as_object_mut) {
        for (def, paths) in &at {
            let Some(props) = defs
                .get_mut(def)
                .and_then(|d| d.get_mut("properties"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (key, sub) in props.iter_mut() {
                let row = paths
                    .iter()
                    .find_map(|p| rows.get(p.trim_end_matches(".*")).or(rows.get(p)))
                    .and_then(|r| r.get(key));
                if let (Some(row), Some(obj)) = (row, sub.as_object().cloned()) {
                    *sub = Value::Object(describe(obj, row));
                }
            }
        }
    }
    if let Some(obj) = root.as_object_mut() {
        obj.insert("title".into(), Value::String("thaw scenario file".into()));
        obj.insert(
            "description".into(),
            Value::String(
                "A thaw scenario (TOML): the function, its client, the network path, the servers, the workload and the expectations. Every key is documented in docs/scenario-format.md.".into(),
            ),
        );
    }
    root
}

/// The row that documents table `path` in its parent's table.
fn parent_row<'a>(
    rows: &'a BTreeMap<String, BTreeMap<String, Row>>,
    path: &str,
) -> Option<&'a Row> {
    let (parent, last) = path.rsplit_once('.')?;
    rows.get(parent)?.get(last)
}

/// The schema as docs/thaw-scenario.schema.json holds it: pretty JSON and
/// a final newline (`thaw schema` prints these bytes).
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("JSON");
    s.push('\n');
    s
}

/// Every key path a scenario can set, as `--set` writes it
/// (`server.idle_timeout`, `servers[0].idle_timeout`,
/// `client.requests[0].timeout`), sorted: what shells complete after
/// `--set`, `--unset` and `--vary`.
pub fn key_paths() -> Vec<String> {
    fn walk(
        defs: &Map<String, Value>,
        props: &Map<String, Value>,
        prefix: &str,
        out: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        for (name, sub) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match def_of(sub) {
                // A map of tables (`client.targets.NAME`): no fixed path.
                Some((_, ".*")) => continue,
                Some((def, _)) => {
                    let table = defs
                        .get(&def)
                        .and_then(|d| d.get("properties"))
                        .and_then(Value::as_object);
                    match table {
                        Some(p) => {
                            let is_array = sub.get("items").is_some()
                                || sub
                                    .get("type")
                                    .is_some_and(|t| t.to_string().contains("array"));
                            let here = if is_array {
                                format!("{path}[0]")
                            } else {
                                path.clone()
                            };
                            walk(defs, p, &here, out, depth + 1);
                        }
                        // An enum or a scalar with a schema of its own.
                        None => out.push(path),
                    }
                }
                None => out.push(path),
            }
        }
    }
    let root = raw();
    let defs = root
        .get(DEFS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let top = root
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    walk(&defs, &top, "", &mut out, 0);
    out.sort();
    out.dedup();
    out
}

/// Keys of the schema (`table.key`) that have no row in
/// docs/scenario-format.md: the documentation must name every key.
pub fn undocumented_keys() -> Vec<String> {
    let root = raw();
    let rows = doc_rows();
    let (defs, at) = tables(&root);
    let mut missing = Vec::new();
    for (def, paths) in &at {
        let Some(props) = defs
            .get(def)
            .and_then(|d| d.get("properties"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for key in props.keys() {
            let found = paths.iter().any(|full| {
                let p = full.trim_end_matches(".*");
                let sub = format!("{p}.{key}");
                rows.get(p).is_some_and(|r| r.contains_key(key))
                    || rows.get(full).is_some_and(|r| r.contains_key(key))
                    // A table with a section of its own.
                    || rows.contains_key(&sub)
                    || rows.contains_key(&format!("{sub}.*"))
                    // Keys of an inline table its parent's row spells out
                    // (`outages` is "array of `{ at, duration }`").
                    || parent_row(&rows, p).is_some_and(|r| r.ty.contains('{') && r.ty.contains(key.as_str()))
            });
            if !found {
                missing.push(format!("{}.{key}", paths[0]));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_name_their_tables() {
        assert_eq!(
            section_paths("`[function.tcp]`, `[server.tcp]` and `[proxy.tcp]` — kernel settings"),
            ["function.tcp", "server.tcp", "proxy.tcp"]
        );
        assert_eq!(
            section_paths("`[server]` or `[[servers]]`"),
            ["server", "servers"]
        );
        assert_eq!(
            section_paths("`[client.targets.SERVER]` — a strategy per server"),
            ["client.targets.*"]
        );
    }

    #[test]
    fn defaults_are_literals_or_nothing() {
        assert_eq!(
            literal_default("`\"250us\"`"),
            Some(Value::String("250us".into()))
        );
        assert_eq!(literal_default("`false`"), Some(Value::Bool(false)));
        assert_eq!(literal_default("128"), Some(Value::from(128)));
        assert_eq!(literal_default("none (wait for TCP)"), None);
        assert_eq!(literal_default("**required**"), None);
    }

    #[test]
    fn key_paths_are_what_set_writes() {
        let k = key_paths();
        for p in [
            "server.idle_timeout",
            "servers[0].idle_timeout",
            "client.requests[0].timeout",
            "function.tcp.keepalive.idle",
            "client.library.preset",
            "workload.poisson.rate",
        ] {
            assert!(k.iter().any(|x| x == p), "{p} missing");
        }
        assert!(!k.iter().any(|x| x.contains('*')));
    }

    #[test]
    fn a_key_gets_its_rows_words() {
        let s = schema();
        let d = &s[DEFS]["ServerSection"]["properties"]["location"];
        let text = d["description"].as_str().unwrap();
        assert!(text.contains("inside each execution environment"), "{text}");
        assert!(text.contains("Default: \"remote\"."), "{text}");
        assert_eq!(d["default"], "remote");
    }
}

#[cfg(test)]
mod docs_tests {
    /// Every key the loader reads has a row in docs/scenario-format.md.
    #[test]
    fn every_key_is_documented() {
        let missing = super::undocumented_keys();
        assert!(
            missing.is_empty(),
            "keys without a row in docs/scenario-format.md: {missing:?}"
        );
    }
}
