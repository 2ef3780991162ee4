//! `tracing` on simulated time: the code's own events land in thaw's
//! timeline at the simulated instant they happened, and thaw's timeline
//! is emitted as `tracing` events (target `thaw::world`) for those who
//! prefer a subscriber to the JSONL trace.
use crate::bridge::{self, Log};
use std::fmt::Write as _;
use thaw_core::{Level, TraceRecord, TraceSink};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// A `tracing_subscriber` layer that stamps every event of code running
/// in a thaw environment with its simulated time and environment, and
/// puts it into the run's timeline (`INFO` and above at timeline level,
/// `DEBUG` and `TRACE` at detail level). Events outside an environment
/// and thaw's own (`thaw::…` targets) are left alone.
///
/// [`crate::Harness::run`] installs it by default; add it to your own
/// subscriber with `tracing_subscriber::registry().with(SimTimeLayer)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTimeLayer;

struct Text(String);

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for SimTimeLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with("thaw::") {
            return;
        }
        let Some(ctx) = bridge::current() else {
            return;
        };
        let mut text = Text(String::new());
        event.record(&mut text);
        let level = if *meta.level() <= tracing::Level::INFO {
            Level::Timeline
        } else {
            Level::Detail
        };
        let at = ctx.now();
        let line = format!("{} {}: {}", meta.level(), meta.target(), text.0);
        ctx.shared.lock().logs.push(Log {
            at,
            env: ctx.env,
            level,
            text: line,
        });
    }
}

/// Forwards thaw's records to `inner` and emits each as a `tracing` event
/// (target `thaw::world`, fields `t_ns`, `component`, `event`).
pub(crate) struct Forward<'a> {
    pub inner: &'a mut dyn TraceSink,
    pub emit: bool,
}

impl TraceSink for Forward<'_> {
    fn wants(&self, level: Level) -> bool {
        self.inner.wants(level) || (self.emit && level == Level::Timeline)
    }

    fn record(&mut self, rec: TraceRecord) {
        if self.emit && rec.level == Level::Timeline {
            tracing::info!(
                target: "thaw::world",
                t_ns = rec.t.as_nanos(),
                component = rec.component.as_str(),
                event = rec.event,
                "{}",
                rec.text
            );
        }
        if self.inner.wants(rec.level) {
            self.inner.record(rec);
        }
    }
}
