//! Where `thaw run` writes: standard output that survives a closed pipe
//! and remembers the first real error, the JSON report streamed row by row,
//! and the text invocation table spilled to a temporary file while the
//! timeline is printed. Memory stays flat whatever the number of
//! invocations.
use serde::Serialize;
use std::io::{self, BufRead, BufWriter, Seek, Write};
use thaw_scenario::{Report, RowSink, Scenario};
use thaw_sim::report::InvocationJson;
use thaw_sim::Outcome;

/// Buffered standard output. A closed pipe (`thaw run … | head`) ends the
/// output quietly: later writes are dropped and the run finishes with its
/// own exit code. Any other error is kept, later writes are dropped, and
/// [`Out::finish`] returns it.
pub struct Out {
    w: BufWriter<io::Stdout>,
    closed: bool,
    error: Option<io::Error>,
}

impl Out {
    pub fn stdout() -> Self {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout()),
            closed: false,
            error: None,
        }
    }

    fn fail(&mut self, e: io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.closed = true;
        } else if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Flushes; the first error other than a closed pipe, if any.
    pub fn finish(mut self) -> Option<io::Error> {
        if !self.closed && self.error.is_none() {
            if let Err(e) = self.w.flush() {
                self.fail(e);
            }
        }
        self.error.take()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed || self.error.is_some() {
            return Ok(buf.len());
        }
        match self.w.write_all(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.fail(e);
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `value` as pretty JSON, every line after the first indented by
/// `indent` spaces (strings never hold raw line breaks in JSON).
fn pretty<T: Serialize + ?Sized>(value: &T, indent: usize) -> String {
    let s = serde_json::to_string_pretty(value).expect("report values serialize");
    s.replace('\n', &format!("\n{}", " ".repeat(indent)))
}

/// The JSON report, written as the run goes: the head before the run, each
/// row of `invocations` as it becomes final, the rest at the end.
pub struct JsonReport<'a> {
    out: &'a mut Out,
    rows: u64,
    summary: bool,
}

impl<'a> JsonReport<'a> {
    pub fn begin(out: &'a mut Out, scenario: &Scenario, seed: u64, summary: bool) -> Self {
        let _ = write!(
            out,
            "{{\n  \"scenario\": {},\n  \"seed\": {seed},\n  \"version\": {},\n  \"invocations\": [",
            pretty(&scenario.config.name, 2),
            pretty(env!("CARGO_PKG_VERSION"), 2)
        );
        JsonReport {
            out,
            rows: 0,
            summary,
        }
    }

    /// Closes `invocations` and writes `metrics`, `expectations`, and
    /// `stopped` / `notes` when there are any.
    pub fn end(self, report: &Report, scenario: &Scenario) {
        let out = self.out;
        let _ = out.write_all(if self.rows > 0 { b"\n  ],\n" } else { b"],\n" });
        let _ = write!(
            out,
            "  \"metrics\": {},\n  \"expectations\": {}",
            pretty(&report.result.metrics, 2),
            pretty(&report.expectations, 2)
        );
        if let Some(s) = report.json.get("stopped") {
            let _ = write!(out, ",\n  \"stopped\": {}", pretty(s, 2));
        }
        if !scenario.notes.is_empty() {
            let _ = write!(out, ",\n  \"notes\": {}", pretty(&scenario.notes, 2));
        }
        let _ = out.write_all(b"\n}\n");
    }
}

impl RowSink for JsonReport<'_> {
    fn row(&mut self, _: &Outcome, row: InvocationJson) {
        if self.summary {
            return;
        }
        let sep = if self.rows == 0 { "\n    " } else { ",\n    " };
        let _ = write!(self.out, "{sep}{}", pretty(&row, 4));
        self.rows += 1;
    }
    fn wants_rows(&self) -> bool {
        !self.summary
    }
}

/// The text table of invocations, kept in a temporary file until the
/// timeline is done.
pub struct TextRows {
    spill: Option<BufWriter<std::fs::File>>,
    /// Function names, when the scenario has several.
    functions: Option<Vec<String>>,
    /// Server names, when the scenario has several.
    servers: Option<Vec<String>>,
    error: Option<io::Error>,
}

impl TextRows {
    /// No file at all with `--summary`.
    pub fn new(
        summary: bool,
        functions: Option<Vec<String>>,
        servers: Option<Vec<String>>,
    ) -> io::Result<Self> {
        let spill = if summary {
            None
        } else {
            Some(BufWriter::new(tempfile::tempfile()?))
        };
        Ok(TextRows {
            spill,
            functions,
            servers,
            error: None,
        })
    }

    fn line(&self, o: &Outcome) -> String {
        format!(
            "  {:>5}  {:>12}  {:>9}  {:>4}  {:<7} {:<22} {:>12}{}{}{}\n",
            o.id,
            o.at.to_string(),
            if o.container == 0 {
                "-".to_string()
            } else {
                format!("env-{}", o.container)
            },
            if o.cold { "yes" } else { "no" },
            if o.error.is_some() { "error" } else { "ok" },
            o.error.map(|e| e.name()).unwrap_or("-"),
            o.latency.to_string(),
            match &self.functions {
                Some(names) => format!(
                    "  {}",
                    names.get(o.function as usize).map_or("?", |s| s.as_str())
                ),
                None => String::new(),
            },
            match &self.servers {
                Some(names) => format!(
                    "  {}",
                    o.target
                        .and_then(|t| names.get(t as usize))
                        .map_or("-", |s| s.as_str())
                ),
                None => String::new(),
            },
            if o.stale_reads > 0 {
                format!("  stale reads: {}", o.stale_reads)
            } else {
                String::new()
            }
        )
    }

    /// Writes the table (heading and every row) to `out`.
    pub fn copy_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "invocations:")?;
        writeln!(
            out,
            "  {:>5}  {:>12}  {:>9}  {:>4}  {:<7} {:<22} {:>12}{}{}",
            "id",
            "at",
            "env",
            "cold",
            "outcome",
            "error",
            "latency",
            if self.functions.is_some() {
                "  function"
            } else {
                ""
            },
            if self.servers.is_some() {
                "  server"
            } else {
                ""
            }
        )?;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(spill) = self.spill.take() else {
            return Ok(());
        };
        let mut f = spill.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        let mut r = io::BufReader::new(f);
        loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf.len();
            out.write_all(buf)?;
            r.consume(n);
        }
    }
}

impl RowSink for TextRows {
    fn row(&mut self, o: &Outcome, _: InvocationJson) {
        // --summary keeps no table: do not even format the row.
        if self.error.is_some() || self.spill.is_none() {
            return;
        }
        let line = self.line(o);
        if let Some(w) = &mut self.spill {
            if let Err(e) = w.write_all(line.as_bytes()) {
                self.error = Some(e);
            }
        }
    }
    fn wants_rows(&self) -> bool {
        self.spill.is_some()
    }
}
