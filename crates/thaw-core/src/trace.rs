//! Trace records: what happened, when, to whom, and why.
use crate::time::SimTime;

/// How interesting a record is to a human reading a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// A step of the story: lifecycle changes, state changes, errors.
    Timeline,
    /// Mechanics: every packet, ACK and timer.
    Detail,
}

/// A field value in a trace record.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Unsigned integer (counts, nanoseconds, ids).
    U64(u64),
    /// Text (states, kinds, names).
    Str(String),
    /// Flag.
    Bool(bool),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::U64(v as u64)
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::U64(v as u64)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::U64(v as u64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// One event of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord {
    /// When it happened.
    pub t: SimTime,
    /// Who it happened to, e.g. `env-1`, `server`, `middlebox`, `inv-2`.
    pub component: String,
    /// Machine-readable event name, e.g. `tcp_state`, `freeze`, `drop`.
    pub event: &'static str,
    /// Structured fields, in a fixed order.
    pub fields: Vec<(&'static str, Value)>,
    /// The same event in words, for the timeline.
    pub text: String,
    /// Timeline step or mechanical detail.
    pub level: Level,
}

/// Receives trace records as they are produced (streamed, not buffered).
pub trait TraceSink {
    /// Whether records at `level` are wanted at all; lets models skip
    /// building them.
    fn wants(&self, level: Level) -> bool;
    /// Takes one record.
    fn record(&mut self, rec: TraceRecord);
}

/// A sink that keeps nothing.
pub struct NullSink;

impl TraceSink for NullSink {
    fn wants(&self, _level: Level) -> bool {
        false
    }
    fn record(&mut self, _rec: TraceRecord) {}
}

/// A sink that keeps every record in memory (tests, short runs).
#[derive(Default)]
pub struct VecSink {
    /// The records, in the order they were produced.
    pub records: Vec<TraceRecord>,
}

impl TraceSink for VecSink {
    fn wants(&self, _level: Level) -> bool {
        true
    }
    fn record(&mut self, rec: TraceRecord) {
        self.records.push(rec);
    }
}
