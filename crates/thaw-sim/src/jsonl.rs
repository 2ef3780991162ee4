//! Trace sinks that write: JSON lines (docs/trace-format.md) and a text
//! timeline.
use std::io::Write;
use thaw_core::{Level, TraceRecord, TraceSink, Value};

/// One JSON object per line: `t_ns`, `component`, `event`, `level`, the
/// event's fields, and `text`. Write errors are kept and reported once.
pub struct JsonlSink<W: Write> {
    w: W,
    max_level: Level,
    error: Option<std::io::Error>,
}

impl<W: Write> JsonlSink<W> {
    /// Writes records up to `max_level` (Detail = everything).
    pub fn new(w: W, max_level: Level) -> Self {
        JsonlSink {
            w,
            max_level,
            error: None,
        }
    }

    /// Flushes and returns the first write error, if any.
    pub fn finish(mut self) -> Result<W, std::io::Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()?;
        Ok(self.w)
    }
}

/// The JSON object for one record.
pub fn record_json(rec: &TraceRecord) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("t_ns".into(), rec.t.as_nanos().into());
    m.insert("component".into(), rec.component.clone().into());
    m.insert("event".into(), rec.event.into());
    m.insert(
        "level".into(),
        match rec.level {
            Level::Timeline => "timeline",
            Level::Detail => "detail",
        }
        .into(),
    );
    for (k, v) in &rec.fields {
        let v = match v {
            Value::U64(n) => serde_json::Value::from(*n),
            Value::Str(s) => serde_json::Value::from(s.clone()),
            Value::Bool(b) => serde_json::Value::from(*b),
        };
        m.insert((*k).to_string(), v);
    }
    m.insert("text".into(), rec.text.clone().into());
    serde_json::Value::Object(m)
}

impl<W: Write> TraceSink for JsonlSink<W> {
    fn wants(&self, level: Level) -> bool {
        level <= self.max_level
    }
    fn record(&mut self, rec: TraceRecord) {
        if self.error.is_some() || rec.level > self.max_level {
            return;
        }
        let line = record_json(&rec).to_string();
        if let Err(e) = writeln!(self.w, "{line}") {
            self.error = Some(e);
        }
    }
}

/// Formats a record as a timeline line: `   95.000000s  env-1       text`.
pub fn timeline_line(rec: &TraceRecord) -> String {
    format!(
        "{:>16}  {:<12} {}",
        rec.t.to_string(),
        rec.component,
        rec.text
    )
}

/// Writes timeline lines to `w` as they happen (nothing is buffered), and
/// forwards every record to an optional second sink.
pub struct StreamTimeline<'a, W: Write> {
    /// Where lines go.
    pub w: W,
    /// Include detail records.
    pub verbose: bool,
    /// Print nothing (still forwards to `also`).
    pub quiet: bool,
    /// Another sink that receives every record it wants.
    pub also: Option<&'a mut dyn TraceSink>,
    /// First write error.
    pub error: Option<std::io::Error>,
}

impl<W: Write> TraceSink for StreamTimeline<'_, W> {
    fn wants(&self, level: Level) -> bool {
        (!self.quiet && (level == Level::Timeline || self.verbose))
            || self.also.as_ref().is_some_and(|s| s.wants(level))
    }
    fn record(&mut self, rec: TraceRecord) {
        if !self.quiet && (rec.level == Level::Timeline || self.verbose) && self.error.is_none() {
            if let Err(e) = writeln!(self.w, "{}", timeline_line(&rec)) {
                self.error = Some(e);
            }
        }
        if let Some(s) = self.also.as_mut() {
            if s.wants(rec.level) {
                s.record(rec);
            }
        }
    }
}
