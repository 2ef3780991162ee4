//! Unit and property tests for thaw-db.
mod driver;
mod props;
mod replica_tests;
mod stale_tests;
mod store_tests;

use thaw_core::SimTime;

/// `s` whole seconds.
pub(crate) fn t(s: u64) -> SimTime {
    SimTime::from_secs(s)
}
