//! Deterministic discrete-event engine for thaw.
//!
//! This crate knows nothing about Lambda, TCP or databases. It provides:
//! - [`SimTime`] and [`SimDuration`]: integer nanoseconds, never wall clock;
//! - [`EventQueue`]: events ordered by `(time, insertion sequence)`, so events
//!   scheduled for the same instant run in the order they were scheduled;
//! - [`RngStreams`]: one named portable RNG (ChaCha8) with an independent
//!   stream per component, derived from `(seed, component name)`;
//! - [`Dist`]: a duration that is fixed or drawn from a distribution;
//! - [`trace`]: the trace record every model emits, and the sink trait.
#![warn(missing_docs)]

pub mod dist;
pub mod queue;
pub mod rng;
pub mod slots;
pub mod text;
pub mod time;
pub mod trace;

pub use dist::Dist;
pub use queue::{BudgetExceeded, EventQueue, Reserved};
pub use rng::{RngStreams, SimRng};
pub use slots::{SlotRef, Slots};
pub use text::did_you_mean;
pub use time::{ParseDurationError, SimDuration, SimTime};
pub use trace::{Level, NullSink, TraceRecord, TraceSink, Value, VecSink};
