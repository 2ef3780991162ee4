//! Input limits: what thaw refuses to read, so that every input ends in a
//! clear message in bounded time and memory (docs/scenario-format.md,
//! "Limits"). Real scenarios are a few kilobytes; large workloads are
//! written as `workload.poisson` (a rate and a count), not as lists.

use crate::diag::Diagnostic;
use toml_edit::{ImDocument, Item, Table, Value};

/// Largest scenario file (or file with `--set` applied), in bytes: 1 MiB.
/// Parsing keeps a few tens of bytes of syntax tree per source byte.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Largest file of samples a `{ empirical = "FILE" }` duration reads, in
/// bytes: 1 MiB (about 100,000 lines of `1.234567ms`).
pub const MAX_EMPIRICAL_BYTES: usize = 1 << 20;

/// Longest array (`workload.at`, `[[handlers]]`, ...): 100,000 entries.
pub const MAX_ARRAY_LEN: usize = 100_000;

/// Most arrivals one run may have (`workload.poisson.count`):
/// 100,000,000. Lists are bounded by [`MAX_ARRAY_LEN`].
pub const MAX_ARRIVALS: u64 = 100_000_000;

/// Largest trace file `workload.trace` reads, in bytes: 256 MiB. The file
/// is read a line at a time and only the chosen function's arrivals are
/// kept; a longer file is refused before any of it is read.
pub const MAX_TRACE_BYTES: u64 = 256 << 20;

/// Longest name (scenario, server, middlebox, proxy, request, handler), in
/// characters: names are repeated in timeline lines, so a long one would
/// multiply the output.
pub const MAX_NAME_CHARS: usize = 100;

/// Server instances one run may keep at once: the configured servers and
/// proxies, and one instance of each `location = "environment"` server per
/// environment alive (`function.max_concurrency` of them). The simulator
/// gives each a host id of its own from a range of this size.
pub const MAX_SERVER_INSTANCES: u32 = 32_767;

/// Most `--set` arguments on one command line.
pub const MAX_SETS: usize = 1_000;

/// A diagnostic if `text` is longer than [`MAX_FILE_BYTES`].
pub fn file_size(file: &str, text: &str) -> Option<Diagnostic> {
    (text.len() > MAX_FILE_BYTES).then(|| too_large(file, text.len() as u64))
}

/// The message for a file of `len` bytes over the limit.
pub fn too_large(file: &str, len: u64) -> Diagnostic {
    Diagnostic::at(
        file,
        "",
        0..0,
        format!(
            "the scenario is {len} bytes; thaw reads scenario files of at most {MAX_FILE_BYTES} bytes (1 MiB)"
        ),
    )
    .with_help(
        "describe large workloads with `workload.poisson` (a rate and a count) instead of long lists",
    )
}

/// Diagnostics for every array in `doc` longer than [`MAX_ARRAY_LEN`].
pub fn arrays(file: &str, text: &str, doc: &ImDocument<&str>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    table(file, text, doc.as_table(), &mut out);
    out
}

fn table(file: &str, text: &str, t: &Table, out: &mut Vec<Diagnostic>) {
    for (_, item) in t.iter() {
        match item {
            Item::None => {}
            Item::Value(v) => value(file, text, v, out),
            Item::Table(sub) => table(file, text, sub, out),
            Item::ArrayOfTables(a) => {
                if a.len() > MAX_ARRAY_LEN {
                    let at = a.iter().next().and_then(|t| t.span()).unwrap_or(0..0);
                    out.push(too_long(file, text, at, a.len()));
                } else {
                    for sub in a.iter() {
                        table(file, text, sub, out);
                    }
                }
            }
        }
    }
}

fn value(file: &str, text: &str, v: &Value, out: &mut Vec<Diagnostic>) {
    match v {
        Value::Array(a) if a.len() > MAX_ARRAY_LEN => {
            let at = a.span().map_or(0..0, |s| s.start..s.start + 1);
            out.push(too_long(file, text, at, a.len()));
        }
        Value::Array(a) => a.iter().for_each(|v| value(file, text, v, out)),
        Value::InlineTable(t) => t.iter().for_each(|(_, v)| value(file, text, v, out)),
        Value::String(_)
        | Value::Integer(_)
        | Value::Float(_)
        | Value::Boolean(_)
        | Value::Datetime(_) => {}
    }
}

fn too_long(file: &str, text: &str, span: std::ops::Range<usize>, len: usize) -> Diagnostic {
    Diagnostic::at(
        file,
        text,
        span,
        format!("this array has {len} entries; thaw reads arrays of at most {MAX_ARRAY_LEN}"),
    )
    .with_label("too long")
    .with_help("describe large workloads with `workload.poisson` (a rate and a count) instead of long lists")
}
