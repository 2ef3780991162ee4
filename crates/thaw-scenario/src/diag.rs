//! Diagnostics for scenario files: turn TOML text into a typed value while
//! reporting *every* problem at once, each with `file:line:col`, the offending
//! value and a hint.
//!
//! The entry points are:
//!
//! * [`parse_toml`]: deserialize a file, collecting all errors ("blank and
//!   retry": after each serde error the offending entry is blanked out with
//!   spaces, keeping byte offsets and line numbers, and deserialization is
//!   tried again);
//! * [`span_of`] / [`diagnostic_at`]: locate a dotted path such as
//!   `workload.at[1]` in the source, for checks that run after parsing;
//! * [`apply_sets`]: apply `--set PATH=VALUE` overrides to the text;
//! * [`did_you_mean`]: spelling suggestions;
//! * [`Dur`]: a duration field written as `"310s"`, `"200ms"`, `"5m"`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thaw_core::{ParseDurationError, SimDuration};
use toml_edit::{ImDocument, Item, Table, Value};

/// Upper bound on deserialization attempts in [`parse_toml`].
const MAX_ATTEMPTS: usize = 200;
/// Each attempt re-reads the whole text: attempts × file size stays under
/// this many bytes, so a large file with many bad values is reported in
/// bounded time (the first problems, and a note that there may be more).
const ATTEMPT_BYTES: usize = 8 << 20;

// ---------------------------------------------------------------------------
// Diagnostic
// ---------------------------------------------------------------------------

/// One problem found in a scenario file (or in a `--set` argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as shown to the user (`"--set"` for override arguments).
    pub file: String,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub col: usize,
    /// Byte range in the source; may be empty.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// Short text shown under the underlined source.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// The text `span` points into when it is not the scenario file passed
    /// to [`Diagnostics::render`] (e.g. the `--set` argument itself).
    pub source: Option<String>,
    /// Further problems of the same kind that are counted but not shown
    /// (see [`MAX_SHOWN_PER_KIND`]).
    pub more: u64,
    /// False for a note about the report itself ("there may be more
    /// problems"), which is not a problem of the file.
    pub is_problem: bool,
}

impl Diagnostic {
    /// A diagnostic at byte range `span` of `text`; line and column are
    /// computed from `text`. Out-of-range spans are clamped.
    pub fn at(file: &str, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let span = clamp_span(text, span);
        let (line, col) = line_col(text, span.start);
        Diagnostic {
            file: file.to_string(),
            line,
            col,
            span,
            message: message.into(),
            label: None,
            help: None,
            source: None,
            more: 0,
            is_problem: true,
        }
    }

    /// Sets the label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets (or clears) the help text.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Renders this diagnostic in miette's graphical style, without colors.
    /// `source` is the text the span points into (ignored if
    /// [`Diagnostic::source`] is set).
    pub fn render(&self, source: &str) -> String {
        let src = self.source.as_deref().unwrap_or(source);
        self.render_in(src, &LineIndex::new(src))
    }

    /// Renders against `src` whose line starts are `lines`. Only a window
    /// of the source around the span is handed to miette (the span's line,
    /// clipped to [`MAX_SHOWN_LINE`] characters, with its neighbours when
    /// they are short), so the cost does not grow with the file and no
    /// column is too wide to render.
    fn render_in(&self, src: &str, lines: &LineIndex) -> String {
        let span = clamp_span(src, self.span.clone());
        let name = format!("{}:{}:{}", self.file, self.line, self.col);
        let mut clip = Clip::around(src, lines, span.clone(), name);
        // miette draws no label at the very end of what it is given (an
        // unclosed string at the end of the file), and misnumbers the lines
        // of a text that ends in a bare CR: give it one blank to end on.
        if span.start == clip.offset + clip.text.len() || clip.text.ends_with('\r') {
            clip.text.push(' ');
        }
        let label_span = clip.inner(span);
        let mut md = miette::MietteDiagnostic::new(self.message.clone()).with_label(
            miette::LabeledSpan::new_primary_with_span(self.label.clone(), label_span),
        );
        if let Some(help) = &self.help {
            md = md.with_help(help.clone());
        }
        let report = miette::Report::new(md).with_source_code(clip);
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .without_primary_span_start()
                .with_width(100);
        let mut out = String::new();
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out = format!("{self}\n");
        }
        if self.more > 0 {
            out.push_str(&format!(
                "  … and {} more problem{} like this (not shown)\n",
                self.more,
                if self.more == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

/// Longest stretch of one source line shown in a diagnostic, in bytes.
pub const MAX_SHOWN_LINE: usize = 160;

/// Most problems of one kind (same key path, indices aside, and same hint)
/// shown in full; the rest are counted in [`Diagnostic::more`].
pub const MAX_SHOWN_PER_KIND: usize = 10;

/// Byte offsets of line starts, computed once per source.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 0-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// Byte range of line `l` without its line break.
    fn line(&self, text: &str, l: usize) -> Range<usize> {
        let start = self.starts[l];
        let end = self.starts.get(l + 1).map_or(text.len(), |&n| n - 1);
        let end = if end > start && text.as_bytes()[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        start..end
    }
}

/// The part of a source that a diagnostic shows, with its true position:
/// miette reads only this, so its work and its columns stay small.
struct Clip {
    name: String,
    text: String,
    /// Byte offset of `text` in the whole source.
    offset: usize,
    /// 0-based line number of the first line of `text`.
    first_line: usize,
    line_count: usize,
}

impl Clip {
    fn around(src: &str, lines: &LineIndex, span: Range<usize>, name: String) -> Clip {
        let l = lines.line_of(span.start);
        let own = lines.line(src, l);
        let short = |r: &Range<usize>| r.end - r.start <= MAX_SHOWN_LINE;
        if short(&own) {
            // Neighbours too when they are short: the usual picture.
            let first = if l > 0 && short(&lines.line(src, l - 1)) {
                l - 1
            } else {
                l
            };
            let last = if l + 1 < lines.starts.len() && short(&lines.line(src, l + 1)) {
                l + 1
            } else {
                l
            };
            // Through the last line's break, as miette reads a whole file.
            let end = lines.starts.get(last + 1).copied().unwrap_or(src.len());
            let range = lines.starts[first]..end;
            return Clip {
                name,
                text: src[range.clone()].to_string(),
                offset: range.start,
                first_line: first,
                line_count: last - first + 1,
            };
        }
        // A long line: a window of it around the span's start.
        let from = floor_char_boundary(
            src,
            span.start.saturating_sub(MAX_SHOWN_LINE / 3).max(own.start),
        );
        let to = floor_char_boundary(src, (from + MAX_SHOWN_LINE).min(own.end));
        Clip {
            name,
            text: src[from..to].to_string(),
            offset: from,
            first_line: l,
            line_count: 1,
        }
    }

    /// `span` cut to what this clip shows.
    fn inner(&self, span: Range<usize>) -> Range<usize> {
        let end_of = self.offset + self.text.len();
        let start = span.start.clamp(self.offset, end_of);
        let end = span.end.clamp(start, end_of);
        start..end
    }
}

impl miette::SourceCode for Clip {
    fn read_span<'a>(
        &'a self,
        _span: &miette::SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            (self.offset, self.text.len()).into(),
            self.first_line,
            0,
            self.line_count,
        )))
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message (help: ...)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All problems found, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Renders every diagnostic in miette's graphical style (no colors),
    /// each headed by `╭─[file:line:col]`.
    pub fn render(&self, source: &str) -> String {
        let lines = LineIndex::new(source);
        let mut out = String::new();
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match d.source.as_deref() {
                Some(own) => out.push_str(&d.render(own)),
                None => out.push_str(&d.render_in(source, &lines)),
            }
        }
        out
    }
    /// Every problem found: those shown and those only counted.
    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .filter(|d| d.is_problem)
            .map(|d| 1 + d.more)
            .sum()
    }
    /// False when reading stopped before the whole file was checked (there
    /// may be more problems than [`Diagnostics::total`]).
    pub fn complete(&self) -> bool {
        self.0.iter().all(|d| d.is_problem)
    }
    /// `has 3 problems` / `has at least 48 problems`, for the footer.
    pub fn summary(&self) -> String {
        let n = self.total();
        format!(
            "has {}{n} problem{}",
            if self.complete() { "" } else { "at least " },
            if n == 1 { "" } else { "s" }
        )
    }
    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Iterates over the diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// One [`Diagnostic`] per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Diagnostics(v)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn clamp_span(text: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(text, span.start);
    let end = floor_char_boundary(text, span.end.max(start));
    start..end
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// One step of a dotted key path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// The steps of a dotted key path such as `client.requests[0].timeout`
/// (quoted keys allowed), or what is wrong with it.
pub fn key_path(p: &str) -> Result<Vec<Seg>, String> {
    match parse_path(p.trim()) {
        Ok(s) if s.is_empty() => Err("empty path".to_string()),
        Ok(s) => Ok(segs_only(s)),
        Err((msg, _)) => Err(msg),
    }
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `server.idle_timeout`, `workload.at[1]`, `"odd key".x`.
pub(crate) fn format_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_bare_key(k) {
                    out.push_str(k);
                } else {
                    out.push('"');
                    for c in k.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// `in [server]` or `at top level`.
fn describe_table(path: &[Seg]) -> String {
    if path.is_empty() {
        "at top level".to_string()
    } else {
        format!("in [{}]", format_path(path))
    }
}

type PathError = (String, Range<usize>);

/// Parses `a.b[2]."c d"`; every segment comes with its byte range in `p`.
fn parse_path(p: &str) -> Result<Vec<(Seg, Range<usize>)>, PathError> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        let start = i;
        let key = match b.get(i) {
            None => return Err(("expected a key".to_string(), i..i)),
            Some(b'"') => {
                let mut s = String::new();
                let mut chars = p[i + 1..].char_indices();
                let mut closed = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = Some(i + 1 + j + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, c)) => s.push(c),
                            None => break,
                        },
                        c => s.push(c),
                    }
                }
                match closed {
                    Some(end) => {
                        i = end;
                        s
                    }
                    None => return Err(("unterminated quoted key".to_string(), start..p.len())),
                }
            }
            Some(b'\'') => match p[i + 1..].find('\'') {
                Some(j) => {
                    let s = p[i + 1..i + 1 + j].to_string();
                    i = i + 1 + j + 1;
                    s
                }
                None => return Err(("unterminated quoted key".to_string(), start..p.len())),
            },
            Some(_) => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-')
                {
                    i += 1;
                }
                if i == start {
                    let len = p[start..].chars().next().map_or(1, char::len_utf8);
                    return Err(("expected a key".to_string(), start..start + len));
                }
                p[start..i].to_string()
            }
        };
        out.push((Seg::Key(key), start..i));
        // Indexes: `[3]`, possibly several.
        loop {
            let j = skip_ws(i);
            if b.get(j) != Some(&b'[') {
                break;
            }
            let open = j;
            let mut k = j + 1;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            if k == j + 1 || b.get(k) != Some(&b']') {
                return Err((
                    "expected an index like `[0]`".to_string(),
                    open..k.min(p.len()),
                ));
            }
            let n: usize = p[j + 1..k]
                .parse()
                .map_err(|_| ("index is too large".to_string(), open..k + 1))?;
            out.push((Seg::Index(n), open..k + 1));
            i = k + 1;
        }
        i = skip_ws(i);
        match b.get(i) {
            None => return Ok(out),
            Some(b'.') => i += 1,
            Some(_) => {
                let c = p[i..].chars().next().map_or(1, char::len_utf8);
                return Err(("expected `.` or `[`".to_string(), i..i + c));
            }
        }
    }
}

fn segs_only(parsed: Vec<(Seg, Range<usize>)>) -> Vec<Seg> {
    parsed.into_iter().map(|(s, _)| s).collect()
}

// ---------------------------------------------------------------------------
// Entries: a flat list of everything in a parsed document, with spans
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `key = value` (possibly dotted) in a standard table.
    KeyValue,
    /// `key = value` inside `{ ... }`.
    InlineKeyValue,
    /// An element of an array value.
    ArrayElement,
    /// A `[table]` with its body.
    HeaderTable,
    /// One `[[table]]` element with its body.
    ArrayTable,
    /// A table with no text of its own (dotted keys, `[a.b]` implies `a`).
    ImplicitTable,
    /// The whole `[[table]]` array.
    TableArray,
}

#[derive(Clone, Debug)]
struct Entry {
    path: Vec<Seg>,
    kind: Kind,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    /// Span of the enclosing inline table / array, for inline entries.
    container: Option<Range<usize>>,
}

fn collect_entries(doc: &ImDocument<&str>) -> Vec<Entry> {
    let mut out = Vec::new();
    walk_table(doc.as_table(), &mut Vec::new(), &mut out);
    out
}

fn walk_table(t: &Table, path: &mut Vec<Seg>, out: &mut Vec<Entry>) {
    for (k, item) in t.iter() {
        let key = t.key(k).and_then(|k| k.span());
        path.push(Seg::Key(k.to_string()));
        match item {
            Item::None => {}
            Item::Value(v) => {
                out.push(Entry {
                    path: path.clone(),
                    kind: Kind::KeyValue,
                    key,
                    value: v.span(),
                    container: None,
                });
                walk_value(v, path, None, out);
            }
            Item::Table(sub) => {
                let header = sub.span().is_some() && !sub.is_dotted();
                out.push(Entry {
                    path: path.clone(),
                    kind: if header {
                        Kind::HeaderTable
                    } else {
                        Kind::ImplicitTable
                    },
                    key,
                    value: if header { sub.span() } else { None },
                    container: None,
                });
                walk_table(sub, path, out);
            }
            Item::ArrayOfTables(a) => {
                out.push(Entry {
                    path: path.clone(),
                    kind: Kind::TableArray,
                    key,
                    value: None,
                    container: None,
                });
                for (i, sub) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    out.push(Entry {
                        path: path.clone(),
                        kind: Kind::ArrayTable,
                        key: None,
                        value: sub.span(),
                        container: None,
                    });
                    walk_table(sub, path, out);
                    path.pop();
                }
            }
        }
        path.pop();
    }
}

fn walk_value(
    v: &Value,
    path: &mut Vec<Seg>,
    container: Option<Range<usize>>,
    out: &mut Vec<Entry>,
) {
    match v {
        Value::Array(arr) => {
            for (i, el) in arr.iter().enumerate() {
                path.push(Seg::Index(i));
                out.push(Entry {
                    path: path.clone(),
                    kind: Kind::ArrayElement,
                    key: None,
                    value: el.span(),
                    container: arr.span(),
                });
                walk_value(el, path, arr.span(), out);
                path.pop();
            }
        }
        Value::InlineTable(it) => {
            let cont = if it.is_dotted() { container } else { it.span() };
            for (k, el) in it.iter() {
                path.push(Seg::Key(k.to_string()));
                out.push(Entry {
                    path: path.clone(),
                    kind: Kind::InlineKeyValue,
                    key: it.key(k).and_then(|k| k.span()),
                    value: el.span(),
                    container: cont.clone(),
                });
                walk_value(el, path, cont.clone(), out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn contains(r: &Option<Range<usize>>, pos: usize) -> bool {
    r.as_ref()
        .is_some_and(|r| r.start <= pos && pos < r.end.max(r.start + 1))
}

/// The entry whose key or value span most tightly contains `pos`.
fn innermost(entries: &[Entry], pos: usize) -> Option<usize> {
    let mut best: Option<(usize, usize, usize)> = None; // (len, -depth, idx)
    for (i, e) in entries.iter().enumerate() {
        for r in [&e.key, &e.value] {
            if contains(r, pos) {
                let len = r.as_ref().map_or(usize::MAX, |r| r.len());
                let better = match best {
                    None => true,
                    Some((bl, bd, _)) => len < bl || (len == bl && e.path.len() > bd),
                };
                if better {
                    best = Some((len, e.path.len(), i));
                }
            }
        }
    }
    best.map(|(_, _, i)| i)
}

/// The entry whose *key* span most tightly contains `pos`.
fn innermost_key(entries: &[Entry], pos: usize) -> Option<usize> {
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| contains(&e.key, pos))
        .min_by_key(|(_, e)| e.key.as_ref().map_or(usize::MAX, |r| r.len()))
        .map(|(i, _)| i)
}

/// `[table]` / `[[table]]` header starting at `start` (the `[`).
fn header_span(text: &str, start: usize) -> Range<usize> {
    let b = text.as_bytes();
    let mut i = start;
    let mut quote: Option<u8> = None;
    while i < b.len() && b[i] != b'\n' {
        match (quote, b[i]) {
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'"') | (None, b'\'') => quote = Some(b[i]),
            (None, b']') => {
                let end = if b.get(i + 1) == Some(&b']') && b.get(start + 1) == Some(&b'[') {
                    i + 2
                } else {
                    i + 1
                };
                return start..end;
            }
            _ => {}
        }
        i += 1;
    }
    start..i.min(b.len())
}

/// The span to point at for an entry (headers only for tables).
fn entry_span(text: &str, e: &Entry) -> Option<Range<usize>> {
    match e.kind {
        Kind::HeaderTable | Kind::ArrayTable => {
            e.value.as_ref().map(|v| header_span(text, v.start))
        }
        Kind::ImplicitTable | Kind::TableArray => e.key.clone(),
        _ => e.value.clone().or_else(|| e.key.clone()),
    }
}

// ---------------------------------------------------------------------------
// span_of / diagnostic_at
// ---------------------------------------------------------------------------

/// Where a dotted path (`server.idle_timeout`, `workload.at[1]`,
/// `function.tcp.user_timeout`) is in `text`: the byte span of its value.
/// For a `[table]` this is its header line; for a table that only exists
/// through dotted keys or sub-table headers, the first key naming it.
/// `None` if the path is absent or the text does not parse.
pub fn span_of(text: &str, path: &str) -> Option<Range<usize>> {
    let doc = ImDocument::parse(text).ok()?;
    let entries = collect_entries(&doc);
    let segs = segs_only(parse_path(path).ok()?);
    find_span(text, &entries, &segs)
}

fn find_span(text: &str, entries: &[Entry], segs: &[Seg]) -> Option<Range<usize>> {
    entries
        .iter()
        .find(|e| e.path == segs)
        .and_then(|e| entry_span(text, e))
}

/// A diagnostic pointing at `path` in `text` (see [`span_of`]). If the path
/// is absent, points at its nearest existing parent table; failing that, at
/// 1:1.
pub fn diagnostic_at(
    file: &str,
    text: &str,
    path: &str,
    message: String,
    help: Option<String>,
) -> Diagnostic {
    Locator::new(text).diagnostic(file, path, message, help)
}

/// Places many paths in one text: the text is parsed once, so locating
/// `n` problems costs one parse, not `n`.
pub struct Locator<'t> {
    text: &'t str,
    entries: Option<Vec<Entry>>,
}

impl<'t> Locator<'t> {
    /// Parses `text` once (a text that does not parse locates everything
    /// at 1:1).
    pub fn new(text: &'t str) -> Self {
        let entries = ImDocument::parse(text)
            .ok()
            .map(|doc| collect_entries(&doc));
        Locator { text, entries }
    }

    /// The 1-based line where `path` is written (a table's header line),
    /// or, when it is absent, its nearest written parent's; `None` when
    /// neither is written or the text does not parse.
    pub(crate) fn line_of(&self, path: &[Seg]) -> Option<usize> {
        let entries = self.entries.as_ref()?;
        (1..=path.len())
            .rev()
            .find_map(|n| find_span(self.text, entries, &path[..n]))
            .map(|span| line_col(self.text, span.start).0)
    }

    /// Like [`diagnostic_at`].
    pub fn diagnostic(
        &self,
        file: &str,
        path: &str,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let text = self.text;
        let located = self.entries.as_ref().and_then(|entries| {
            let segs = segs_only(parse_path(path).ok()?);
            (1..=segs.len())
                .rev()
                .find_map(|n| find_span(text, entries, &segs[..n]).map(|s| (s, n == segs.len())))
        });
        match located {
            Some((span, true)) => Diagnostic::at(file, text, span, message).with_label("here"),
            Some((span, false)) => Diagnostic::at(file, text, span, message)
                .with_label(format!("`{path}` belongs here")),
            None => Diagnostic::at(file, text, 0..0, message),
        }
        .with_help_opt(help)
    }
}

/// `workload.at[12]` → `workload.at[]`: the kind of a problem.
pub(crate) fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

/// Spelling suggestions: one rule for every message (thaw-core).
pub use thaw_core::did_you_mean;

// ---------------------------------------------------------------------------
// parse_toml
// ---------------------------------------------------------------------------

impl ErrorKind {
    /// Which of the four classes, for grouping repeated problems.
    fn class(&self) -> u8 {
        match self {
            ErrorKind::UnknownField { .. } => 0,
            ErrorKind::UnknownVariant { .. } => 1,
            ErrorKind::Missing { .. } => 2,
            ErrorKind::Value => 3,
        }
    }
}

enum ErrorKind {
    UnknownField { name: String, expected: Vec<String> },
    UnknownVariant { name: String, expected: Vec<String> },
    Missing { name: String },
    Value,
}

/// The names between backticks in `s`.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Splits "unknown field `x`, expected one of `a`, `b`" into (x, [a, b]).
fn split_unknown(msg: &str, prefix: &str, none: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix(prefix)?;
    if let Some(idx) = rest.rfind("`, expected ") {
        let expected = backticked(&rest[idx + "`, expected ".len() - 1..]);
        return Some((rest[..idx].to_string(), expected));
    }
    let idx = rest.rfind(none)?;
    Some((rest[..idx].to_string(), Vec::new()))
}

fn classify(msg: &str) -> ErrorKind {
    if let Some((name, expected)) = split_unknown(msg, "unknown field `", "`, there are no fields")
    {
        return ErrorKind::UnknownField { name, expected };
    }
    if let Some((name, expected)) =
        split_unknown(msg, "unknown variant `", "`, there are no variants")
    {
        return ErrorKind::UnknownVariant { name, expected };
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some(name) = rest.strip_suffix('`') {
            return ErrorKind::Missing {
                name: name.to_string(),
            };
        }
    }
    ErrorKind::Value
}

fn unknown_help(name: &str, expected: &[String], what: &str) -> String {
    match did_you_mean(name, expected.iter().map(String::as_str)) {
        Some(c) => format!("did you mean `{c}`?"),
        None if expected.is_empty() => format!("there are no {what} here"),
        None => format!("expected one of: {}", expected.join(", ")),
    }
}

const INT_TYPES: [&str; 12] = [
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

/// A hint for serde's "invalid type"/"invalid value" messages and for
/// [`Dur`]'s errors, when one is obvious.
fn value_help(msg: &str, raw: &str) -> Option<String> {
    if msg.starts_with(DUR_NO_UNIT) {
        let n = raw.trim();
        return Some(format!(
            "write \"{n}s\" for seconds or \"{n}ms\" for milliseconds"
        ));
    }
    if msg.starts_with("invalid duration") {
        if msg.contains("negative duration") {
            return Some("durations cannot be negative".to_string());
        }
        return Some(DUR_HELP.to_string());
    }
    let expected = msg.rsplit_once(", expected ").map(|(_, e)| e.trim());
    let expected = expected.unwrap_or("");
    let int = INT_TYPES.contains(&expected) || expected.contains("integer");
    let float = expected == "f32" || expected == "f64";
    if msg.starts_with("invalid type: string") && (int || float) {
        let inner = raw.trim().trim_matches(|c| c == '"' || c == '\'');
        if inner.parse::<f64>().is_ok() {
            return Some(format!("remove the quotes: write `{inner}`"));
        }
        return Some("write a number, without quotes".to_string());
    }
    if msg.starts_with("invalid value: integer `-") && expected.starts_with('u') {
        return Some("this value cannot be negative".to_string());
    }
    if msg.starts_with("invalid value: integer") && int {
        return Some(format!("the value does not fit in {expected}"));
    }
    if msg.starts_with("invalid type: floating point") && int {
        return Some("write a whole number".to_string());
    }
    if expected == "a string" && !msg.starts_with("invalid type: map") {
        return Some(format!(
            "put the value in double quotes: \"{}\"",
            raw.trim()
        ));
    }
    if expected == "a boolean" {
        return Some("write `true` or `false`".to_string());
    }
    if expected == "a sequence" {
        return Some("write an array, e.g. `[ ... ]`".to_string());
    }
    None
}

/// Deserializes `text` into `T` (whose structs use
/// `#[serde(deny_unknown_fields)]`), collecting *all* errors instead of
/// stopping at the first one. `file` is only used in the diagnostics.
pub fn parse_toml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostics> {
    match parse_toml_partial(file, text) {
        (Some(v), d) if d.is_empty() => Ok(v),
        (_, d) => Err(d),
    }
}

/// Like [`parse_toml`], but also returns the value read once every bad
/// entry was blanked out (when the rest deserializes), so that semantic
/// checks can run on the rest of the file and all problems are reported
/// together. The value is `Some` with no diagnostics when the file is clean.
pub fn parse_toml_partial<T: DeserializeOwned>(file: &str, text: &str) -> (Option<T>, Diagnostics) {
    let orig = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => return (None, syntax_diagnostic(file, text, &e).into()),
    };
    let too_long = crate::limits::arrays(file, text, &orig);
    if !too_long.is_empty() {
        return (None, Diagnostics(too_long));
    }
    let orig_entries = collect_entries(&orig);

    let mut current = text.to_string();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut seen: BTreeSet<(Option<(usize, usize)>, String)> = BTreeSet::new();
    // Required keys blanked because of an invalid value: if serde later says
    // they are missing, that is a follow-up, not a new problem.
    let mut blanked: Vec<Pending> = Vec::new();
    // A placeholder being tried for one of them, with the text before it.
    let mut trial: Option<(Pending, String)> = None;

    let mut partial: Option<T> = None;
    let max_attempts = MAX_ATTEMPTS.min((ATTEMPT_BYTES / text.len().max(1)).max(2));
    let mut attempts = 0;
    let mut out_of_reads = false;
    // Per kind (key path without indices, message class): diagnostics
    // shown, and the index of the last one.
    let mut kinds: BTreeMap<(String, u8), (usize, usize)> = BTreeMap::new();
    loop {
        if attempts == max_attempts {
            out_of_reads = true;
            break;
        }
        attempts += 1;
        let err = match toml::from_str::<T>(&current) {
            Ok(value) if diags.is_empty() => return (Some(value), Diagnostics(Vec::new())),
            Ok(value) => {
                partial = Some(value);
                break;
            }
            Err(e) => e,
        };
        let span = err.span();
        let msg = err.message().to_string();
        let kind = classify(&msg);

        if let Some((mut p, base)) = trial.take() {
            let rejected = span
                .as_ref()
                .is_some_and(|s| p.region.start <= s.start && s.start < p.region.end);
            if rejected {
                match p.next_placeholder(&base) {
                    Some(t) => {
                        current = t;
                        trial = Some((p, base));
                        continue;
                    }
                    // Drop the bogus follow-up and stop.
                    None => break,
                }
            }
            // Accepted: `err` is a genuine next problem.
        }
        let missing = match (&kind, &span) {
            (ErrorKind::Missing { .. }, Some(s)) => {
                Some(locate_missing(&current, &orig_entries, s))
            }
            _ => None,
        };
        if let ErrorKind::Missing { name } = &kind {
            let table = missing.as_ref().map(|m| &m.0);
            let found = blanked.iter().rposition(|p| {
                let parent = p.path.split_last().map(|(_, parent)| parent);
                p.key == *name && table.is_none_or(|t| Some(t.as_slice()) == parent)
            });
            if let Some(i) = found {
                let mut p = blanked.remove(i);
                match p.next_placeholder(&current) {
                    Some(t) => {
                        let base = std::mem::replace(&mut current, t);
                        trial = Some((p, base));
                        continue;
                    }
                    None => break,
                }
            }
        }

        if !seen.insert((span.as_ref().map(|s| (s.start, s.end)), msg.clone())) {
            break;
        }
        let span_r = span.clone().unwrap_or(0..0);
        let class = kind.class();
        let path = innermost(&orig_entries, span_r.start)
            .map(|i| without_indices(&format_path(&orig_entries[i].path)))
            .unwrap_or_default();
        match kinds.get_mut(&(path.clone(), class)) {
            Some((shown, last)) if *shown >= MAX_SHOWN_PER_KIND => diags[*last].more += 1,
            found => {
                let d = error_diagnostic(
                    file,
                    text,
                    &orig_entries,
                    missing,
                    span_r.clone(),
                    &msg,
                    &kind,
                );
                match found {
                    Some((shown, last)) => {
                        *shown += 1;
                        *last = diags.len();
                    }
                    None => {
                        kinds.insert((path, class), (1, diags.len()));
                    }
                }
                diags.push(d);
            }
        }
        if matches!(kind, ErrorKind::Missing { .. }) || span.is_none() {
            break;
        }

        let Ok(doc) = ImDocument::parse(current.as_str()) else {
            break;
        };
        let entries = collect_entries(&doc);
        let target = match kind {
            ErrorKind::UnknownField { .. } => {
                innermost_key(&entries, span_r.start).or_else(|| innermost(&entries, span_r.start))
            }
            _ => innermost(&entries, span_r.start),
        };
        let Some(target) = target else {
            break;
        };
        let Some((after, regions)) = blank_entry(&current, &entries, target) else {
            break;
        };
        if !matches!(kind, ErrorKind::UnknownField { .. }) {
            blanked.extend(Pending::new(
                &current,
                &orig_entries,
                &entries[target],
                regions,
                &msg,
                &kind,
            ));
        }
        current = after;
    }
    if diags.is_empty() {
        diags.push(Diagnostic::at(
            file,
            text,
            0..0,
            "could not read the scenario",
        ));
    }
    diags.sort_by_key(|d| d.span.start);
    if out_of_reads {
        let last = diags.last().map_or(0..0, |d| d.span.clone());
        let found: u64 = diags.iter().map(|d| 1 + d.more).sum();
        diags.push(Diagnostic {
            is_problem: false,
            ..Diagnostic::at(
                file,
                text,
                last,
                format!("stopped looking after {found} problems; there may be more"),
            )
            .with_help("fix these and run thaw again to see the rest")
        });
        partial = None;
    }
    (partial, Diagnostics(diags))
}

fn syntax_diagnostic(file: &str, text: &str, e: &toml_edit::TomlError) -> Diagnostic {
    let span = e.span().unwrap_or(0..0);
    let full = e.message().trim();
    let mut lines = full.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("syntax error").to_string();
    let rest: Vec<&str> = lines.collect();
    let d =
        Diagnostic::at(file, text, span, format!("TOML syntax error: {first}")).with_label("here");
    if rest.is_empty() {
        d
    } else {
        d.with_help(rest.join("; "))
    }
}

fn error_diagnostic(
    file: &str,
    text: &str,
    entries: &[Entry],
    missing: Option<(Vec<Seg>, Range<usize>)>,
    span: Range<usize>,
    msg: &str,
    kind: &ErrorKind,
) -> Diagnostic {
    let raw = text.get(span.clone()).unwrap_or("");
    match kind {
        ErrorKind::UnknownField { name, expected } => {
            let table = innermost_key(entries, span.start)
                .map(|i| {
                    let p = &entries[i].path;
                    describe_table(&p[..p.len().saturating_sub(1)])
                })
                .unwrap_or_else(|| describe_table(&[]));
            Diagnostic::at(file, text, span, format!("unknown key `{name}` {table}"))
                .with_label("unknown key")
                .with_help(unknown_help(name, expected, "keys"))
        }
        ErrorKind::UnknownVariant { name, expected } => {
            let path = innermost(entries, span.start).map(|i| format_path(&entries[i].path));
            let message = match path {
                Some(p) if !p.is_empty() => format!("unknown variant `{name}` for `{p}`"),
                _ => format!("unknown variant `{name}`"),
            };
            Diagnostic::at(file, text, span, message)
                .with_label("unknown variant")
                .with_help(unknown_help(name, expected, "variants"))
        }
        ErrorKind::Missing { name } => {
            let (table, at) = missing.unwrap_or_else(|| (Vec::new(), span.clone()));
            let where_ = describe_table(&table);
            let help = if table.is_empty() {
                format!("add `{name}` at the top level of the file")
            } else {
                format!("add `{name} = ...` under [{}]", format_path(&table))
            };
            Diagnostic::at(file, text, at, format!("missing key `{name}` {where_}"))
                .with_label(format!("`{name}` is missing here"))
                .with_help(help)
        }
        ErrorKind::Value => {
            let path = innermost(entries, span.start).map(|i| format_path(&entries[i].path));
            let message = match path {
                Some(p) if !p.is_empty() => format!("{p}: {msg}"),
                _ => msg.to_string(),
            };
            Diagnostic::at(file, text, span, message)
                .with_label("here")
                .with_help_opt(value_help(msg, raw))
        }
    }
}

/// Which table a "missing field" error at `span` of the `current` (partly
/// blanked) text is about, as a path of the original document, and where to
/// point. Table spans shrink when trailing entries are blanked, so the match
/// is made against `current`.
fn locate_missing(
    current: &str,
    orig_entries: &[Entry],
    span: &Range<usize>,
) -> (Vec<Seg>, Range<usize>) {
    let Ok(doc) = ImDocument::parse(current) else {
        return (Vec::new(), span.clone());
    };
    // Serde reports a missing top-level key at the root table's span.
    if doc.as_table().span().as_ref() == Some(span) || (span.is_empty() && span.start == 0) {
        return (Vec::new(), 0..0);
    }
    let entries = collect_entries(&doc);
    let found = entries
        .iter()
        .find(|e| {
            e.value.as_ref() == Some(span) || (e.value.is_none() && e.key.as_ref() == Some(span))
        })
        .or_else(|| innermost(&entries, span.start).map(|i| &entries[i]));
    let Some(e) = found else {
        return (Vec::new(), span.clone());
    };
    let at = entry_span(current, e).unwrap_or_else(|| span.clone());
    let start = |r: &Option<Range<usize>>| r.as_ref().map(|r| r.start);
    let path = orig_entries
        .iter()
        .find(|o| o.kind == e.kind && o.key == e.key && start(&o.value) == start(&e.value))
        .map_or_else(|| e.path.clone(), |o| o.path.clone());
    (path, at)
}

/// A required key/value that was blanked because its value was invalid,
/// with what is needed to put a harmless placeholder value back so that the
/// remaining errors can still be found.
struct Pending {
    key: String,
    /// Path in the original document.
    path: Vec<Seg>,
    /// Text just before blanking.
    before: String,
    /// Byte ranges that were blanked.
    restore: Vec<Range<usize>>,
    /// After the `=` up to the end of the value.
    region: Range<usize>,
    candidates: Vec<String>,
    tried: usize,
    /// Inside `{ ... }`: commas around the entry may need restoring.
    inline: bool,
    /// Where the key starts.
    kv_start: usize,
}

/// Puts back the commas around the inline entry `kv_start..value_end` if
/// the neighbours need them (they may have been blanked with a sibling).
fn fix_inline_separators(bytes: &mut [u8], kv_start: usize, value_end: usize) {
    let mut i = kv_start.min(bytes.len());
    while i > 0 && is_ws(bytes[i - 1]) {
        i -= 1;
    }
    if i > 0 && i < kv_start && !matches!(bytes[i - 1], b'{' | b',') {
        bytes[i] = b',';
    }
    let mut j = value_end;
    while j < bytes.len() && is_ws(bytes[j]) {
        j += 1;
    }
    if j < bytes.len() && j > value_end && !matches!(bytes[j], b'}' | b',') {
        bytes[value_end] = b',';
    }
}

impl Pending {
    fn new(
        text: &str,
        orig_entries: &[Entry],
        e: &Entry,
        restore: Vec<Range<usize>>,
        msg: &str,
        kind: &ErrorKind,
    ) -> Option<Pending> {
        let key = match e.path.last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => return None,
        };
        // Array indexes may have shifted in `text`; spans have not.
        let path = orig_entries
            .iter()
            .find(|o| o.kind == e.kind && o.key == e.key && o.value == e.value)
            .map_or_else(|| e.path.clone(), |o| o.path.clone());
        let region = match (e.kind, &e.key, &e.value) {
            (Kind::KeyValue | Kind::InlineKeyValue, Some(k), Some(v)) if k.end <= v.start => {
                let eq = text.get(k.end..v.start)?.find('=')?;
                k.end + eq + 1..v.end
            }
            // Not a plain key/value: no placeholder, but the follow-up
            // "missing field" error is still recognised (and stops).
            _ => 0..0,
        };
        let mut candidates: Vec<String> = Vec::new();
        if let ErrorKind::UnknownVariant { expected, .. } = kind {
            if let Some(first) = expected.first() {
                candidates.push(Value::from(first.as_str()).to_string());
            }
        }
        if msg.starts_with("invalid duration") || msg.starts_with(DUR_NO_UNIT) {
            candidates.push("\"0s\"".to_string());
        }
        for c in ["0", "\"\"", "false", "\"0s\"", "[]", "{}", "0.0", "\"1s\""] {
            if !candidates.iter().any(|x| x == c) {
                candidates.push(c.to_string());
            }
        }
        if region.is_empty() {
            candidates.clear();
        }
        let kv_start = restore
            .first()
            .map_or(region.start, |r| trim_commas(text.as_bytes(), r).start);
        Some(Pending {
            key,
            path,
            before: text.to_string(),
            restore,
            region,
            candidates,
            tried: 0,
            inline: e.kind == Kind::InlineKeyValue,
            kv_start,
        })
    }

    /// `base` with the blanked entry restored and its value replaced by the
    /// next placeholder that fits and parses, if any.
    fn next_placeholder(&mut self, base: &str) -> Option<String> {
        let before = self.before.as_bytes();
        let r = self.region.clone();
        if base.len() != before.len() || r.is_empty() || r.end > before.len() {
            return None;
        }
        // Restore what was blanked; if later siblings in `{ ... }` were
        // blanked since, the separating comma must stay blank.
        let trimmed: Vec<Range<usize>> = self
            .restore
            .iter()
            .map(|rr| trim_commas(before, rr))
            .collect();
        let restored: Vec<Vec<u8>> = [&self.restore, &trimmed]
            .into_iter()
            .map(|restore| {
                let mut bytes = base.as_bytes().to_vec();
                for rr in restore {
                    if let (Some(dst), Some(src)) =
                        (bytes.get_mut(rr.clone()), before.get(rr.clone()))
                    {
                        dst.copy_from_slice(src);
                    }
                }
                bytes
            })
            .collect();
        while self.tried < self.candidates.len() {
            let c = self.candidates[self.tried].as_bytes();
            self.tried += 1;
            for bytes in &restored {
                // The placeholder may also use blanks right after the value.
                let mut end = r.end;
                while end < bytes.len() && matches!(bytes[end], b' ' | b'\t') {
                    end += 1;
                }
                if c.len() > end - r.start || bytes[r.start..r.start + c.len()].contains(&b'\n') {
                    continue;
                }
                let mut bytes = bytes.clone();
                for (i, b) in bytes[r.clone()].iter_mut().enumerate() {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                    if i < c.len() {
                        *b = c[i];
                    }
                }
                bytes[r.start..r.start + c.len()].copy_from_slice(c);
                if self.inline {
                    fix_inline_separators(&mut bytes, self.kv_start, r.start + c.len());
                }
                if let Ok(t) = String::from_utf8(bytes) {
                    if ImDocument::parse(t.as_str()).is_ok() {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Blanking
// ---------------------------------------------------------------------------

/// `r` without leading/trailing commas and whitespace.
fn trim_commas(b: &[u8], r: &Range<usize>) -> Range<usize> {
    let junk = |c: u8| c == b',' || is_ws(c);
    let (mut start, mut end) = (r.start, r.end.min(b.len()));
    while start < end && junk(b[start]) {
        start += 1;
    }
    while end > start && junk(b[end - 1]) {
        end -= 1;
    }
    start..end
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// First position in `from..to` that is not whitespace or a comment.
fn skip_ws(b: &[u8], mut i: usize, to: usize) -> usize {
    let to = to.min(b.len());
    while i < to {
        if is_ws(b[i]) {
            i += 1;
        } else if b[i] == b'#' {
            while i < to && b[i] != b'\n' {
                i += 1;
            }
        } else {
            break;
        }
    }
    i
}

fn line_start(b: &[u8], pos: usize) -> usize {
    let pos = pos.min(b.len());
    b[..pos]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1)
}

fn line_end(b: &[u8], pos: usize) -> usize {
    let pos = pos.min(b.len());
    b[pos..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| pos + i)
}

/// The bytes an entry occupies; `true` when it sits inside `{}` or `[]`.
fn own_region(text: &str, entries: &[Entry], e: &Entry) -> Option<(Range<usize>, bool)> {
    let b = text.as_bytes();
    match e.kind {
        Kind::KeyValue => {
            let key = e.key.as_ref()?;
            let value = e.value.as_ref()?;
            let ls = line_start(b, key.start);
            let start = skip_ws(b, ls, key.start);
            Some((start..value.end, false))
        }
        Kind::HeaderTable | Kind::ArrayTable => Some((e.value.clone()?, false)),
        Kind::InlineKeyValue => {
            let key = e.key.as_ref()?;
            let value = e.value.as_ref()?;
            let cont = e.container.as_ref()?;
            let open = cont.start + 1;
            let prev_end = entries
                .iter()
                .filter(|o| o.kind == Kind::InlineKeyValue && o.container.as_ref() == Some(cont))
                .filter_map(|o| o.value.as_ref().map(|v| v.end))
                .filter(|&end| end <= key.start)
                .max()
                .unwrap_or(open)
                .max(open);
            let first = skip_ws(b, prev_end, key.start);
            let comma_before = (b.get(first) == Some(&b',')).then_some(first);
            let kv_start = match comma_before {
                Some(c) => skip_ws(b, c + 1, key.start),
                None => first,
            };
            let after = skip_ws(b, value.end, cont.end);
            if b.get(after) == Some(&b',') {
                Some((kv_start..after + 1, true))
            } else if let Some(c) = comma_before {
                Some((c..value.end, true))
            } else {
                Some((kv_start..value.end, true))
            }
        }
        Kind::ArrayElement => {
            let value = e.value.as_ref()?;
            let cont = e.container.as_ref()?;
            let after = skip_ws(b, value.end, cont.end);
            if b.get(after) == Some(&b',') {
                Some((value.start..after + 1, true))
            } else {
                Some((value.clone(), true))
            }
        }
        Kind::ImplicitTable | Kind::TableArray => None,
    }
}

fn blank_bytes(bytes: &mut [u8], r: &Range<usize>) {
    let end = r.end.min(bytes.len());
    let start = r.start.min(end);
    for b in &mut bytes[start..end] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// `text` with entry `idx` (and everything below it) replaced by spaces, and
/// the ranges blanked; `None` if that cannot be done while keeping valid TOML.
fn blank_entry(text: &str, entries: &[Entry], idx: usize) -> Option<(String, Vec<Range<usize>>)> {
    let target = entries.get(idx)?;
    let is_below = |e: &Entry| e.path.len() > target.path.len() && e.path.starts_with(&target.path);
    let mut regions: Vec<(Range<usize>, bool)> = Vec::new();
    match own_region(text, entries, target) {
        Some(r) => {
            regions.push(r);
            if matches!(target.kind, Kind::HeaderTable | Kind::ArrayTable) {
                for e in entries.iter().filter(|e| is_below(e)) {
                    if matches!(
                        e.kind,
                        Kind::HeaderTable | Kind::ArrayTable | Kind::KeyValue
                    ) {
                        regions.extend(own_region(text, entries, e));
                    }
                }
            }
        }
        None => {
            for e in entries.iter().filter(|e| is_below(e)) {
                regions.extend(own_region(text, entries, e));
            }
        }
    }
    if regions.is_empty() {
        return None;
    }
    let try_blank = |whole_lines: bool| -> Option<(String, Vec<Range<usize>>)> {
        let mut bytes = text.as_bytes().to_vec();
        let mut done = Vec::new();
        for (r, _) in &regions {
            let r = if whole_lines {
                line_start(text.as_bytes(), r.start)..line_end(text.as_bytes(), r.end)
            } else {
                r.clone()
            };
            blank_bytes(&mut bytes, &r);
            done.push(r);
        }
        let t = String::from_utf8(bytes).ok()?;
        ImDocument::parse(t.as_str()).is_ok().then_some((t, done))
    };
    try_blank(false).or_else(|| {
        if regions.iter().any(|(_, inline)| *inline) {
            try_blank(true)
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------------
// apply_sets
// ---------------------------------------------------------------------------

fn set_diag(arg: &str, span: Range<usize>, message: String) -> Diagnostic {
    let mut d = Diagnostic::at("--set", arg, span, message);
    d.source = Some(arg.to_string());
    d
}

/// Position of the first `=` outside quotes.
fn find_eq(arg: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in arg.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '=' => return Some(i),
            None => {}
        }
    }
    None
}

enum Cur<'a> {
    Item(&'a mut Item),
    Table(&'a mut Table),
    Value(&'a mut Value),
}

impl Cur<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Cur::Item(i) => i.type_name(),
            Cur::Table(_) => "table",
            Cur::Value(v) => v.type_name(),
        }
    }
}

struct SetCtx<'a> {
    arg: &'a str,
    /// Offset of the path inside `arg`.
    base: usize,
    segs: &'a [(Seg, Range<usize>)],
}

impl SetCtx<'_> {
    fn span(&self, i: usize) -> Range<usize> {
        let r = &self.segs[i].1;
        self.base + r.start..self.base + r.end
    }
    fn prefix(&self, n: usize) -> String {
        let s: Vec<Seg> = self.segs[..n].iter().map(|(s, _)| s.clone()).collect();
        format_path(&s)
    }
    fn err(&self, i: usize, message: String) -> Diagnostic {
        set_diag(self.arg, self.span(i), message)
    }
    fn not_container(&self, i: usize, found: &str, want: &str) -> Diagnostic {
        // Point at the segment that is not a table/array.
        let at = i.saturating_sub(1);
        let what = if i == 0 {
            "the document".to_string()
        } else {
            format!("`{}`", self.prefix(i))
        };
        self.err(
            at,
            format!(
                "cannot set `{}`: {what} is {found}, not {want}",
                self.prefix(self.segs.len())
            ),
        )
        .with_label(format!("this is {found}"))
    }
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

type SetResult = Result<(), Box<Diagnostic>>;

fn fail(d: Diagnostic) -> SetResult {
    Err(Box::new(d))
}

fn replace_value(slot: &mut Value, mut v: Value) {
    *v.decor_mut() = slot.decor().clone();
    *slot = v;
}

fn set_at(cur: Cur<'_>, i: usize, ctx: &SetCtx<'_>, value: Value) -> SetResult {
    let Some((seg, _)) = ctx.segs.get(i) else {
        return Ok(());
    };
    let last = i + 1 == ctx.segs.len();
    let found = article(cur.type_name());
    match seg {
        Seg::Key(k) => {
            let (table, inline): (&mut dyn toml_edit::TableLike, bool) = match cur {
                Cur::Item(item) => {
                    let inline = item.is_inline_table();
                    match item.as_table_like_mut() {
                        Some(t) => (t, inline),
                        None => return fail(ctx.not_container(i, &found, "a table")),
                    }
                }
                Cur::Table(t) => (t, false),
                Cur::Value(Value::InlineTable(t)) => (t, true),
                Cur::Value(_) => return fail(ctx.not_container(i, &found, "a table")),
            };
            if last {
                match table.get_mut(k) {
                    Some(Item::Value(slot)) => replace_value(slot, value),
                    Some(slot) => *slot = Item::Value(value),
                    None => {
                        table.insert(k, Item::Value(value));
                    }
                }
                return Ok(());
            }
            if table.get(k).is_none_or(Item::is_none) {
                let fresh = if inline {
                    Item::Value(Value::InlineTable(toml_edit::InlineTable::new()))
                } else {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                };
                table.insert(k, fresh);
            }
            match table.get_mut(k) {
                Some(child) => set_at(Cur::Item(child), i + 1, ctx, value),
                None => fail(ctx.err(i, format!("cannot create `{}`", ctx.prefix(i + 1)))),
            }
        }
        Seg::Index(n) => {
            let n = *n;
            let out_of_range = |len: usize| {
                ctx.err(
                    i,
                    format!(
                        "index {n} is out of range: `{}` has {len} element{}",
                        ctx.prefix(i),
                        if len == 1 { "" } else { "s" }
                    ),
                )
            };
            match cur {
                Cur::Item(Item::ArrayOfTables(a)) => {
                    if last {
                        return fail(
                            ctx.err(
                                i,
                                format!(
                                    "cannot replace the whole table `{}` with a value",
                                    ctx.prefix(i + 1)
                                ),
                            )
                            .with_help(
                                "set one of its keys instead, e.g. `--set PATH[0].KEY=VALUE`",
                            ),
                        );
                    }
                    let len = a.len();
                    match a.get_mut(n) {
                        Some(t) => set_at(Cur::Table(t), i + 1, ctx, value),
                        None => fail(out_of_range(len)),
                    }
                }
                Cur::Item(Item::Value(Value::Array(arr))) | Cur::Value(Value::Array(arr)) => {
                    let len = arr.len();
                    if last {
                        if n < len {
                            if let Some(slot) = arr.get_mut(n) {
                                replace_value(slot, value);
                            }
                            return Ok(());
                        }
                        if n == len {
                            arr.push(value);
                            return Ok(());
                        }
                        return fail(out_of_range(len));
                    }
                    match arr.get_mut(n) {
                        Some(v) => set_at(Cur::Value(v), i + 1, ctx, value),
                        None => fail(out_of_range(len)),
                    }
                }
                _ => fail(ctx.not_container(i, &found, "an array")),
            }
        }
    }
}

fn apply_one(doc: &mut toml_edit::DocumentMut, arg: &str) -> SetResult {
    let Some(eq) = find_eq(arg) else {
        return fail(
            set_diag(arg, 0..arg.len(), format!("missing `=` in `--set {arg}`"))
                .with_label("expected PATH=VALUE")
                .with_help("write --set PATH=VALUE, e.g. --set server.idle_timeout=310s"),
        );
    };
    let raw_path = &arg[..eq];
    let base = raw_path.len() - raw_path.trim_start().len();
    let path = raw_path.trim();
    if path.is_empty() {
        return fail(
            set_diag(arg, 0..eq, format!("empty path in `--set {arg}`"))
                .with_label("expected a key before `=`")
                .with_help("write --set PATH=VALUE, e.g. --set server.idle_timeout=310s"),
        );
    }
    let segs = match parse_path(path) {
        Ok(s) => s,
        Err((msg, r)) => {
            return fail(
                set_diag(
                    arg,
                    base + r.start..base + r.end,
                    format!("invalid path `{path}`: {msg}"),
                )
                .with_label(msg)
                .with_help("paths look like `server.idle_timeout` or `workload.at[1]`"),
            );
        }
    };
    let raw_value = arg[eq + 1..].trim();
    let value = match raw_value.parse::<Value>() {
        Ok(mut v) => {
            v.decor_mut().clear();
            v
        }
        Err(_) => Value::from(raw_value),
    };
    let ctx = SetCtx {
        arg,
        base,
        segs: &segs,
    };
    set_at(Cur::Item(doc.as_item_mut()), 0, &ctx, value)
}

/// One change to a scenario's text from the command line, applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Override {
    /// `--set PATH=VALUE`: set (or add) a key.
    Set(String),
    /// `--unset PATH`: remove a key (or array element) from the file, so that
    /// its default (or its preset's value) applies.
    Unset(String),
}

impl Override {
    /// As written on the command line: `--set A=B` / `--unset A`.
    pub fn as_args(&self) -> [&str; 2] {
        match self {
            Override::Set(a) => ["--set", a],
            Override::Unset(a) => ["--unset", a],
        }
    }
}

/// Applies `--set PATH=VALUE` overrides to the TOML `text` and returns the new
/// text. VALUE is parsed as a TOML value, or taken as a string if it is not
/// one (`310s` → `"310s"`). Missing intermediate tables are created. Errors
/// are reported for file `--set` with columns in the argument; if `text`
/// itself is not valid TOML the error is reported for file `<scenario>`.
pub fn apply_sets(text: &str, sets: &[String]) -> Result<String, Diagnostics> {
    let all: Vec<Override> = sets.iter().cloned().map(Override::Set).collect();
    apply_overrides(text, &all)
}

/// Applies `--set` and `--unset` overrides, in order (see [`apply_sets`]).
pub fn apply_overrides(text: &str, overrides: &[Override]) -> Result<String, Diagnostics> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc = match text.parse::<toml_edit::DocumentMut>() {
        Ok(d) => d,
        Err(e) => return Err(syntax_diagnostic("<scenario>", text, &e).into()),
    };
    let errors: Vec<Diagnostic> = overrides
        .iter()
        .filter_map(|o| {
            match o {
                Override::Set(arg) => apply_one(&mut doc, arg),
                Override::Unset(path) => unset_one(&mut doc, path),
            }
            .err()
            .map(|d| *d)
        })
        .collect();
    if errors.is_empty() {
        Ok(doc.to_string())
    } else {
        Err(Diagnostics(errors))
    }
}

fn unset_diag(arg: &str, span: Range<usize>, message: String) -> Diagnostic {
    let mut d = Diagnostic::at("--unset", arg, span, message);
    d.source = Some(arg.to_string());
    d
}

/// `--unset PATH`: removes the key or array element at PATH.
fn unset_one(doc: &mut toml_edit::DocumentMut, arg: &str) -> SetResult {
    let path = arg.trim();
    let base = arg.len() - arg.trim_start().len();
    let segs = match parse_path(path) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            return fail(
                unset_diag(arg, 0..arg.len(), "empty path in `--unset`".into())
                    .with_help("write --unset PATH, e.g. --unset function.tcp.keepalive"),
            )
        }
        Err((msg, r)) => {
            return fail(
                unset_diag(
                    arg,
                    base + r.start..base + r.end,
                    format!("invalid path `{path}`: {msg}"),
                )
                .with_label(msg)
                .with_help("paths look like `server.idle_timeout` or `workload.at[1]`"),
            )
        }
    };
    let absent = || {
        fail(
            unset_diag(
                arg,
                base..base + path.len(),
                format!("`{path}` is not in the file: nothing to unset"),
            )
            .with_label("not written in the file")
            .with_help(
                "--unset removes what the file writes; a preset's own setting is changed with --set (e.g. --set server.tcp.keepalive.enabled=false)",
            ),
        )
    };
    if unset_at(Cur::Item(doc.as_item_mut()), &segs) {
        Ok(())
    } else {
        absent()
    }
}

/// Removes what `segs` names below `cur`; false if it is not there.
fn unset_at(cur: Cur<'_>, segs: &[(Seg, Range<usize>)]) -> bool {
    let Some(((seg, _), rest)) = segs.split_first() else {
        return false;
    };
    let last = rest.is_empty();
    match seg {
        Seg::Key(k) => {
            let table: &mut dyn toml_edit::TableLike = match cur {
                Cur::Item(item) => match item.as_table_like_mut() {
                    Some(t) => t,
                    None => return false,
                },
                Cur::Table(t) => t,
                Cur::Value(Value::InlineTable(t)) => t,
                Cur::Value(_) => return false,
            };
            if last {
                return table.remove(k).is_some();
            }
            match table.get_mut(k) {
                Some(child) => unset_at(Cur::Item(child), rest),
                None => false,
            }
        }
        Seg::Index(n) => {
            let n = *n;
            match cur {
                Cur::Item(Item::ArrayOfTables(a)) => {
                    if last {
                        let there = n < a.len();
                        if there {
                            a.remove(n);
                        }
                        return there;
                    }
                    match a.get_mut(n) {
                        Some(t) => unset_at(Cur::Table(t), rest),
                        None => false,
                    }
                }
                Cur::Item(Item::Value(Value::Array(arr))) | Cur::Value(Value::Array(arr)) => {
                    if last {
                        let there = n < arr.len();
                        if there {
                            arr.remove(n);
                        }
                        return there;
                    }
                    match arr.get_mut(n) {
                        Some(v) => unset_at(Cur::Value(v), rest),
                        None => false,
                    }
                }
                _ => false,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Seed
// ---------------------------------------------------------------------------

/// What every seed message says: one type everywhere (file, `--set`,
/// `--seed`).
pub const SEED_HELP: &str =
    "a seed is a whole number from 0 to 18446744073709551615; above 9223372036854775807 write it in quotes in the file";

/// Parses a seed as written on the command line or in quotes in a file.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    t.parse::<u64>()
        .map_err(|_| format!("`{}` is not a seed: {SEED_HELP}", text.trim()))
}

/// A run seed: any `u64`, written as a TOML integer or, for values a TOML
/// integer cannot hold (above `i64::MAX`), as a string of digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed(pub u64);

struct SeedVisitor;

impl Visitor<'_> for SeedVisitor {
    type Value = Seed;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a seed (a whole number)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Seed, E> {
        parse_seed(v).map(Seed).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seed, E> {
        u64::try_from(v)
            .map(Seed)
            .map_err(|_| E::custom(format!("`{v}` is not a seed: {SEED_HELP}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seed, E> {
        Ok(Seed(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seed, E> {
        Err(E::custom(format!("`{v}` is not a seed: {SEED_HELP}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Seed, E> {
        Err(E::custom(format!("`{v}` is not a seed: {SEED_HELP}")))
    }
}

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeedVisitor)
    }
}

// ---------------------------------------------------------------------------
// Dur
// ---------------------------------------------------------------------------

const DUR_NO_UNIT: &str = "durations need a unit";
const DUR_HELP: &str =
    "write a number followed by a unit (ns, us, ms, s, m, h or d), e.g. \"310s\", \"1.5s\", \"200ms\"";

/// A duration in a scenario file, written as a string with a unit:
/// `"310s"`, `"1.5s"`, `"200ms"`, `"5m"`. Bare numbers are rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub SimDuration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Dur {
    type Err = ParseDurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Dur)
    }
}

/// [`SimDuration::parse`], but rejecting absurdly long numbers first: the
/// core parser multiplies them in 128 bits and overflows (a panic in debug
/// builds) for more than about 25 integer digits.
fn parse_duration(text: &str) -> Result<SimDuration, ParseDurationError> {
    let s = text.trim();
    let int_digits = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(char::is_ascii_digit)
        .count();
    if int_digits > 20 {
        return Err(ParseDurationError::TooLarge(s.to_string()));
    }
    SimDuration::parse(s)
}

impl From<SimDuration> for Dur {
    fn from(d: SimDuration) -> Self {
        Dur(d)
    }
}

impl From<Dur> for SimDuration {
    fn from(d: Dur) -> Self {
        d.0
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Dur;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string like \"60s\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
        parse_duration(v)
            .map(Dur)
            .map_err(|e| E::custom(format!("invalid duration `{v}`: {e}")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Dur, E> {
        Err(E::custom(format!(
            "{DUR_NO_UNIT}: write \"60s\", \"200ms\" or \"5m\""
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Dur, E> {
        self.visit_i64(0)
    }
}

/// A duration in the JSON Schema (`thaw schema`): what
/// `SimDuration::parse` accepts, as a pattern.
impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ns, us, µs, ms, s, m, min, h, d), e.g. \"310s\", \"1.5s\", \"250us\"; exact to 1 ns.",
            "examples": ["310s", "1.5s", "250us"]
        })
    }
}

/// A duration that may vary (docs/scenario-format.md, "Durations"): a
/// duration string, or a table naming a distribution. The loader turns it
/// into a [`thaw_core::Dist`] (checking the parameters, reading an
/// empirical file).
#[derive(Clone, Debug, PartialEq)]
pub enum DurDist {
    /// `"250ms"`: always this long.
    Fixed(Dur),
    /// `{ exponential = "2s" }`: the mean.
    Exponential(Dur),
    /// `{ lognormal = { median = "250ms", sigma = 0.5 } }`.
    LogNormal {
        /// The median.
        median: Dur,
        /// The shape: the standard deviation of the log.
        sigma: f64,
    },
    /// `{ uniform = ["100ms", "300ms"] }`: inclusive bounds.
    Uniform(Dur, Dur),
    /// `{ empirical = "file.txt" }`: a file of samples, relative to the
    /// scenario file's directory.
    Empirical(String),
}

impl From<Dur> for DurDist {
    fn from(d: Dur) -> Self {
        DurDist::Fixed(d)
    }
}

/// The names of the distribution tables, in the order the docs give them.
pub const DIST_FORMS: [&str; 4] = ["exponential", "lognormal", "uniform", "empirical"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogNormalTable {
    median: Dur,
    sigma: f64,
}

struct DurDistVisitor;

impl<'de> Visitor<'de> for DurDistVisitor {
    type Value = DurDist;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a duration string like \"60s\", or a distribution table such as { exponential = \"2s\" }",
        )
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<DurDist, E> {
        DurVisitor.visit_str(v).map(DurDist::Fixed)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurDist, E> {
        DurVisitor.visit_i64(v).map(DurDist::Fixed)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurDist, E> {
        DurVisitor.visit_u64(v).map(DurDist::Fixed)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurDist, E> {
        DurVisitor.visit_f64(v).map(DurDist::Fixed)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<DurDist, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "an empty table: name one distribution, e.g. { exponential = \"2s\" }",
            ));
        };
        let out = match key.as_str() {
            "exponential" => DurDist::Exponential(map.next_value()?),
            "lognormal" => {
                let t: LogNormalTable = map.next_value()?;
                DurDist::LogNormal {
                    median: t.median,
                    sigma: t.sigma,
                }
            }
            "uniform" => {
                let v: Vec<Dur> = map.next_value()?;
                match v[..] {
                    [lo, hi] => DurDist::Uniform(lo, hi),
                    _ => {
                        return Err(de::Error::custom(format!(
                            "`uniform` takes two durations [lo, hi], not {}",
                            v.len()
                        )))
                    }
                }
            }
            "empirical" => DurDist::Empirical(map.next_value()?),
            other => return Err(de::Error::unknown_field(other, &DIST_FORMS)),
        };
        if let Some(k) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a distribution table names one distribution, not `{key}` and `{k}`"
            )));
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for DurDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurDistVisitor)
    }
}

impl Serialize for DurDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = match self {
            DurDist::Fixed(d) => return d.serialize(s),
            _ => s.serialize_map(Some(1))?,
        };
        match self {
            DurDist::Fixed(_) => {}
            DurDist::Exponential(d) => m.serialize_entry("exponential", d)?,
            DurDist::LogNormal { median, sigma } => {
                let mut t = BTreeMap::new();
                t.insert("median", serde_json::json!(median.to_string()));
                t.insert("sigma", serde_json::json!(sigma));
                m.serialize_entry("lognormal", &t)?
            }
            DurDist::Uniform(lo, hi) => m.serialize_entry("uniform", &[lo, hi])?,
            DurDist::Empirical(f) => m.serialize_entry("empirical", f)?,
        }
        m.end()
    }
}

/// A duration or a distribution in the JSON Schema (`thaw schema`).
impl schemars::JsonSchema for DurDist {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DurationOrDistribution".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let dur = g.subschema_for::<Dur>();
        schemars::json_schema!({
            "description": "A duration string, or a distribution drawn at each use: { exponential = MEAN }, { lognormal = { median = D, sigma = X } }, { uniform = [LO, HI] } or { empirical = \"FILE\" } (one duration per line).",
            "anyOf": [
                dur,
                {
                    "type": "object",
                    "properties": { "exponential": dur },
                    "required": ["exponential"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "lognormal": {
                            "type": "object",
                            "properties": {
                                "median": dur,
                                "sigma": { "type": "number", "exclusiveMinimum": 0 }
                            },
                            "required": ["median", "sigma"],
                            "additionalProperties": false
                        }
                    },
                    "required": ["lognormal"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "uniform": { "type": "array", "items": dur, "minItems": 2, "maxItems": 2 }
                    },
                    "required": ["uniform"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "empirical": { "type": "string", "minLength": 1 } },
                    "required": ["empirical"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// The shape of a duration string (`SimDuration::parse`): digits with `_`,
/// an optional fraction, optional spaces, a unit.
pub const DURATION_PATTERN: &str = r"^\s*[0-9_]*(\.[0-9_]*)?\s*(ns|us|µs|ms|s|m|min|h|d)\s*$";

impl schemars::JsonSchema for Seed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Seed".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A seed, 0..=18446744073709551615: an integer, or a string of digits for values above 9223372036854775807.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]{1,20}$" }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Dur {
    /// Errors are raised inside the visitor so that deserializers which
    /// attach spans (toml) point at the value itself.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor)
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Root {
        server: Server,
        workload: Workload,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        idle_timeout: Dur,
        #[serde(default)]
        max_connections: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Workload {
        at: Vec<Dur>,
    }

    const VALID: &str = r#"# a scenario
[server]
idle_timeout = "310s"
max_connections = 5

[workload]
at = ["0s", "95s", "1.5s"]
"#;

    fn errs<T: DeserializeOwned + fmt::Debug>(text: &str) -> Diagnostics {
        match parse_toml::<T>("file.toml", text) {
            Ok(v) => panic!("expected errors, got {v:?}"),
            Err(d) => d,
        }
    }

    #[test]
    fn valid_file_parses() {
        let root: Root = parse_toml("file.toml", VALID).unwrap();
        assert_eq!(root.server.idle_timeout, Dur(SimDuration::from_secs(310)));
        assert_eq!(root.server.max_connections, 5);
        assert_eq!(root.workload.at.len(), 3);
        assert_eq!(root.workload.at[2], Dur(SimDuration::from_millis(1500)));
    }

    #[test]
    fn three_problems_at_once() {
        let text = r#"# three problems
[server]
idle_timout = "300s"
idle_timeout = "310s"
max_connections = "many"

[workload]
at = ["0s", "-5s", "95s"]
"#;
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 3, "{d}");

        let unknown = &d.0[0];
        assert_eq!((unknown.line, unknown.col), (3, 1));
        assert_eq!(unknown.message, "unknown key `idle_timout` in [server]");
        assert_eq!(unknown.label.as_deref(), Some("unknown key"));
        assert_eq!(
            unknown.help.as_deref(),
            Some("did you mean `idle_timeout`?")
        );
        assert_eq!(&text[unknown.span.clone()], "idle_timout");

        let ty = &d.0[1];
        assert_eq!((ty.line, ty.col), (5, 19));
        assert!(
            ty.message.contains("server.max_connections"),
            "{}",
            ty.message
        );
        assert!(ty
            .message
            .contains("invalid type: string \"many\", expected u32"));
        assert_eq!(ty.label.as_deref(), Some("here"));
        assert_eq!(ty.help.as_deref(), Some("write a number, without quotes"));

        let neg = &d.0[2];
        assert_eq!((neg.line, neg.col), (8, 13));
        assert_eq!(&text[neg.span.clone()], "\"-5s\"");
        assert!(
            neg.message
                .contains("invalid duration `-5s`: negative duration `-5s`"),
            "{}",
            neg.message
        );
        assert!(
            neg.message.starts_with("workload.at[1]: "),
            "{}",
            neg.message
        );
        assert_eq!(neg.help.as_deref(), Some("durations cannot be negative"));

        let out = d.render(text);
        for loc in ["file.toml:3:1", "file.toml:5:19", "file.toml:8:13"] {
            assert!(out.contains(&format!("[{loc}]")), "{loc} missing in\n{out}");
        }
        assert!(out.contains("help: did you mean `idle_timeout`?"), "{out}");
        assert!(out.contains("max_connections = \"many\""), "{out}");
        assert!(out.contains("unknown key"), "{out}");
        assert!(!out.contains('\u{1b}'), "no colors expected");

        assert_eq!(
            d.0[0].to_string(),
            "file.toml:3:1: unknown key `idle_timout` in [server] (help: did you mean `idle_timeout`?)"
        );
    }

    #[test]
    fn unknown_key_without_close_match_lists_expected() {
        let text = "[server]\nidle_timeout = \"1s\"\nzzz = 1\n[workload]\nat = []\n";
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d.0[0].help.as_deref(),
            Some("expected one of: idle_timeout, max_connections")
        );
        let text = "bogus = 1\n[server]\nidle_timeout = \"1s\"\n[workload]\nat = []\n";
        let d = errs::<Root>(text);
        assert_eq!(d.0[0].message, "unknown key `bogus` at top level");
    }

    #[test]
    fn invalid_required_value_keeps_finding_later_errors() {
        // `idle_timeout` is required: blanking it would yield a bogus
        // "missing key"; a placeholder is used and later errors still show.
        let text = "[server]\nidle_timeout = \"-5s\"\nmax_connectons = 3\n[workload]\nat = [5]\n";
        let d = errs::<Root>(text);
        let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(d.len(), 3, "{d}");
        assert!(msgs[0].contains("negative duration"));
        assert_eq!(msgs[1], "unknown key `max_connectons` in [server]");
        assert!(msgs[2].contains("durations need a unit"), "{}", msgs[2]);
        assert_eq!((d.0[2].line, d.0[2].col), (5, 7));
        assert_eq!(
            d.0[2].help.as_deref(),
            Some("write \"5s\" for seconds or \"5ms\" for milliseconds")
        );
        assert!(!msgs.iter().any(|m| m.contains("missing")));
    }

    #[test]
    fn bogus_missing_followups_are_dropped() {
        // Trailing required key blanked: the table's span shrinks, the
        // follow-up must still be recognised.
        let text = "[server]\nmax_connections = 5\nidle_timeout = \"-5s\"\n[workload]\nat = []\n";
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 1, "{d}");
        assert_eq!((d.0[0].line, d.0[0].col), (3, 16));

        // No placeholder fits in ` 5` for a duration: the follow-up is
        // dropped and the loop stops, keeping what was found before.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct D {
            #[allow(dead_code)]
            d: Dur,
        }
        let d = errs::<D>("d = 5\nx = 1\n");
        assert_eq!(d.len(), 2, "{d}");
        assert!(d.0[0].message.contains("durations need a unit"));
        assert_eq!(d.0[1].message, "unknown key `x` at top level");
    }

    #[test]
    fn inline_required_values_use_placeholders() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Sub {
            a: u8,
            b: Dur,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            sub: Sub,
            x: u8,
        }
        let text = "sub = { a = 300, b = 5, c = 1 }\nx = \"a\"\n";
        let d = errs::<S>(text);
        let got: Vec<(usize, usize)> = d.iter().map(|d| (d.line, d.col)).collect();
        assert_eq!(got, [(1, 13), (1, 22), (1, 25), (2, 5)], "{d}");
        assert!(!d.iter().any(|d| d.message.contains("missing")));
    }

    #[test]
    fn missing_key_points_at_table_header() {
        let text = "[server]\nmax_connections = 5\n[workload]\nat = []\n";
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 1);
        assert_eq!(d.0[0].message, "missing key `idle_timeout` in [server]");
        assert_eq!(&text[d.0[0].span.clone()], "[server]");
        assert_eq!((d.0[0].line, d.0[0].col), (1, 1));

        let text = "[server]\nidle_timeout = \"1s\"\n";
        let d = errs::<Root>(text);
        assert_eq!(d.0[0].message, "missing key `workload` at top level");
        assert_eq!((d.0[0].line, d.0[0].col), (1, 1));
        assert!(d.render(text).contains("file.toml:1:1"));
        // Empty file renders too.
        let d = errs::<Root>("");
        assert!(d.render("").contains("file.toml:1:1"));
    }

    #[test]
    fn inline_tables_and_dotted_keys() {
        let text = "server = { idle_timout = \"1s\", idle_timeout = \"2s\" }\nworkload.at = [\"1s\"]\nworkload.bad = 1\n";
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 2, "{d}");
        assert_eq!(d.0[0].message, "unknown key `idle_timout` in [server]");
        assert_eq!((d.0[0].line, d.0[0].col), (1, 12));
        assert_eq!(d.0[1].message, "unknown key `bad` in [workload]");
        assert_eq!((d.0[1].line, d.0[1].col), (3, 10));
    }

    #[test]
    fn whole_tables_in_errors() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct F {
            #[allow(dead_code)]
            name: String,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct R {
            #[allow(dead_code)]
            server: Server,
            #[allow(dead_code)]
            #[serde(default)]
            fns: Vec<F>,
        }
        let text = "[server]\nidle_timeout = \"1s\"\n[server.extra]\nq = 1\n[server.extra.deeper]\nz = 2\n[server.max_connections]\nx = 1\n[[fns]]\nname = \"a\"\nnmae = \"b\"\n[[fns]]\nname = 3\n[[fnz]]\n[[fnz]]\n";
        let d = errs::<R>(text);
        let got: Vec<(usize, usize, &str)> = d
            .iter()
            .map(|d| (d.line, d.col, d.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, 9, "unknown key `extra` in [server]"),
                (
                    7,
                    1,
                    "server.max_connections: invalid type: map, expected u32"
                ),
                (11, 1, "unknown key `nmae` in [fns[0]]"),
                (
                    13,
                    8,
                    "fns[1].name: invalid type: integer `3`, expected a string"
                ),
                (14, 3, "unknown key `fnz` at top level"),
            ],
            "{d}"
        );
        assert_eq!(d.0[2].help.as_deref(), Some("did you mean `name`?"));
        assert_eq!(
            d.0[3].help.as_deref(),
            Some("put the value in double quotes: \"3\"")
        );
    }

    #[test]
    fn unknown_variant_suggests() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Mode {
            Alpha,
            Beta,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct M {
            #[allow(dead_code)]
            mode: Mode,
            #[allow(dead_code)]
            n: u8,
        }
        let text = "mode = \"alpa\"\nn = 300\n";
        let d = errs::<M>(text);
        assert_eq!(d.len(), 2, "{d}");
        assert_eq!(d.0[0].message, "unknown variant `alpa` for `mode`");
        assert_eq!(d.0[0].help.as_deref(), Some("did you mean `alpha`?"));
        assert_eq!((d.0[1].line, d.0[1].col), (2, 5));
        assert_eq!(d.0[1].help.as_deref(), Some("the value does not fit in u8"));
    }

    #[test]
    fn syntax_error_is_one_diagnostic() {
        let text = "[server\nidle_timeout = \"1s\"\n";
        let d = errs::<Root>(text);
        assert_eq!(d.len(), 1);
        assert_eq!(d.0[0].line, 1);
        assert!(d.0[0].col > 1);
        assert!(
            d.0[0].message.starts_with("TOML syntax error"),
            "{}",
            d.0[0].message
        );
        assert!(d
            .render(text)
            .contains(&format!("file.toml:1:{}", d.0[0].col)));

        let d = errs::<Root>("a = 1\na = 2\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d.0[0].line, 2);
    }

    #[test]
    fn dur_rejects_bare_numbers_and_roundtrips() {
        #[derive(Debug, Deserialize, Serialize, PartialEq)]
        struct D {
            d: Dur,
        }
        let d = errs::<D>("d = 60\n");
        assert!(d.0[0]
            .message
            .contains("durations need a unit: write \"60s\", \"200ms\" or \"5m\""));
        assert_eq!((d.0[0].line, d.0[0].col), (1, 5));
        let d = errs::<D>("d = 1.5\n");
        assert!(d.0[0].message.contains("durations need a unit"));
        let d = errs::<D>("d = \"5 parsecs\"\n");
        assert!(d.0[0].message.contains("invalid duration `5 parsecs`"));
        let v: D = parse_toml("f", "d = \"1.5s\"").unwrap();
        assert_eq!(toml::to_string(&v).unwrap().trim(), "d = \"1.5s\"");
        assert_eq!("200ms".parse::<Dur>().unwrap().to_string(), "200ms");
        // Absurd lengths are an error, not an overflow.
        let d = errs::<D>("d = \"99999999999999999999999999999d\"\n");
        assert!(d.0[0].message.contains("too large"), "{}", d.0[0].message);
        assert!("1_000_000_000_000_000_000_000h".parse::<Dur>().is_err());
    }

    #[test]
    fn span_of_paths() {
        let text = "[server]\nidle_timeout = \"310s\"\n[workload]\nat = [\"0s\", \"95s\"]\n[function.tcp]\nuser_timeout = \"20s\"\n[[fns]]\nname = \"a\"\n[[fns]]\nname = \"b\"\n";
        let s = |p: &str| span_of(text, p).map(|r| &text[r]);
        assert_eq!(s("server.idle_timeout"), Some("\"310s\""));
        assert_eq!(s("workload.at[1]"), Some("\"95s\""));
        assert_eq!(s("workload.at"), Some("[\"0s\", \"95s\"]"));
        assert_eq!(s("function.tcp.user_timeout"), Some("\"20s\""));
        assert_eq!(s("function.tcp"), Some("[function.tcp]"));
        assert_eq!(s("function"), Some("function"));
        assert_eq!(s("fns[1].name"), Some("\"b\""));
        assert_eq!(s("fns[1]"), Some("[[fns]]"));
        assert_eq!(s("server"), Some("[server]"));
        assert_eq!(s("workload.at[2]"), None);
        assert_eq!(s("server.nope"), None);
        assert_eq!(s("server..x"), None);
        assert_eq!(span_of("[oops", "server"), None);

        let d = diagnostic_at(
            "f.toml",
            text,
            "function.tcp.mss",
            "bad".into(),
            Some("h".into()),
        );
        assert_eq!((d.line, d.col), (5, 1));
        assert_eq!(&text[d.span.clone()], "[function.tcp]");
        let d = diagnostic_at("f.toml", text, "workload.at[1]", "bad".into(), None);
        assert_eq!((d.line, d.col), (4, 13));
        let d = diagnostic_at("f.toml", text, "nothing.here", "bad".into(), None);
        assert_eq!((d.line, d.col), (1, 1));
        assert_eq!(d.to_string(), "f.toml:1:1: bad");
    }

    #[test]
    fn apply_sets_values() {
        let sets = |s: &[&str]| -> Vec<String> { s.iter().map(|s| s.to_string()).collect() };
        let out = apply_sets(
            VALID,
            &sets(&[
                "server.idle_timeout=310s",
                "server.max_connections=7",
                "workload.at=[\"0s\",\"95s\"]",
                "function.tcp.user_timeout=20s",
            ]),
        )
        .unwrap();
        let doc: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(doc["server"]["idle_timeout"].as_str(), Some("310s"));
        assert_eq!(doc["server"]["max_connections"].as_integer(), Some(7));
        let at: Vec<&str> = doc["workload"]["at"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(at, ["0s", "95s"]);
        assert_eq!(doc["function"]["tcp"]["user_timeout"].as_str(), Some("20s"));
        // The comment survives.
        assert!(out.starts_with("# a scenario"));
        let out = apply_sets(VALID, &sets(&["server.max_connections=7"])).unwrap();
        let root: Root = parse_toml("f", &out).unwrap();
        assert_eq!(root.server.max_connections, 7);

        // Array elements and inline tables.
        let out = apply_sets(
            "s = { a = 1 }\nxs = [1, 2]\n",
            &sets(&["s.b.c=2", "xs[1]=5", "xs[2]=6", "s.a = 'x'"]),
        )
        .unwrap();
        let doc: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(doc["s"]["b"]["c"].as_integer(), Some(2));
        assert_eq!(doc["s"]["a"].as_str(), Some("x"));
        assert_eq!(doc["xs"].as_array().unwrap().len(), 3);
        assert_eq!(doc["xs"][1].as_integer(), Some(5));
    }

    #[test]
    fn apply_sets_errors() {
        let sets = |s: &[&str]| -> Vec<String> { s.iter().map(|s| s.to_string()).collect() };
        let e = apply_sets(VALID, &sets(&["server.idle_timeout"])).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e.0[0].file, "--set");
        assert!(e.0[0].message.contains("missing `=`"));
        assert!(e.render("").contains("[--set:1:1]"), "{}", e.render(""));

        let e = apply_sets(VALID, &sets(&["=5", " =5"])).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e.0[0].message.contains("empty path"));

        let e = apply_sets(VALID, &sets(&["server.idle_timeout.x=5"])).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e.0[0].col, 8);
        assert!(
            e.0[0].message.contains("is a string, not a table"),
            "{}",
            e.0[0].message
        );

        let e = apply_sets(
            VALID,
            &sets(&["workload.at[9]=1s", "server[0]=1", "a..b=1", "ok=1"]),
        )
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e}");
        assert!(e.0[0].message.contains("out of range"));
        assert_eq!(e.0[0].col, 12);
        assert!(e.0[1].message.contains("not an array"));
        assert!(e.0[2].message.contains("invalid path"));
        assert_eq!(e.0[2].col, 3);
    }

    #[test]
    fn did_you_mean_picks_closest() {
        assert_eq!(
            did_you_mean("idle_timout", ["idle_timeout", "service_time"]),
            Some("idle_timeout".to_string())
        );
        assert_eq!(did_you_mean("zzz", ["idle_timeout", "service_time"]), None);
        assert_eq!(did_you_mean("AT", ["at"]), Some("at".to_string()));
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let text = "# ünïcode\n[server]\nidle_timout = \"300s\"\nidle_timeout = \"-1s\"\nmax_connections = \"x\"\nkind = { a = 1, b = [1, {c = 2}] }\n[workload]\nat = [\"0s\", 5, \"95s\",]\n[[fns]]\nname = 1\n";
        let mut n = 0;
        for end in 0..=text.len() {
            if !text.is_char_boundary(end) {
                continue;
            }
            let t = &text[..end];
            let r = parse_toml::<Root>("f.toml", t);
            if let Err(d) = r {
                assert!(!d.is_empty());
                let _ = d.render(t);
                let _ = d.to_string();
            }
            let _ = span_of(t, "workload.at[0]");
            let _ = diagnostic_at("f.toml", t, "server.kind.b[1].c", String::new(), None);
            let _ = apply_sets(
                t,
                &["server.kind.b[1].c=3".to_string(), "fns[0].x=1".to_string()],
            );
            n += 1;
        }
        assert!(n > 100);
        // Mangled variations: every line removed, and duplicated.
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            let mut v = lines.clone();
            v.remove(i);
            let _ = parse_toml::<Root>("f.toml", &v.join("\n"));
            let mut v = lines.clone();
            v.insert(i, lines[i]);
            let _ = parse_toml::<Root>("f.toml", &v.join("\n"));
        }
    }
}
