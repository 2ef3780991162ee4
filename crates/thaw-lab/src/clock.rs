//! Real time for the lab.
//!
//! The workspace forbids wall clocks (clippy.toml) because a simulation must
//! be a pure function of its inputs. The lab is the exception: it measures
//! what the real kernel and servers do, so it needs the real clock. Every
//! process of a case (the orchestrator, the client inside the function
//! namespace, and the servers) reads the same system clock, so the lab uses
//! `CLOCK_REALTIME` (`SystemTime`) in nanoseconds since the epoch as its one
//! time base; nothing on this machine steps the clock during a run (no
//! network, so no NTP). Only this module reads it.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Sleeps until the epoch time `t_ns` (returns at once if it has passed).
pub fn sleep_until(t_ns: i64) {
    loop {
        let now = now_ns();
        if now >= t_ns {
            return;
        }
        let left = (t_ns - now) as u64;
        // Sleep in slices so that a late wake-up is corrected.
        std::thread::sleep(Duration::from_nanos(left.min(200_000_000)));
    }
}

/// The next whole second of the system clock plus `offset_ms`, at least
/// `min_ahead_ms` from now. Redis checks idle clients against
/// `server.unixtime`, a whole-second clock, so a case that starts at a known
/// fraction of a second makes Redis's idle close reproducible.
pub fn next_second_plus(offset_ms: i64, min_ahead_ms: i64) -> i64 {
    let now = now_ns();
    let mut t = (now / 1_000_000_000 + 1) * 1_000_000_000 + offset_ms * 1_000_000;
    while t - now < min_ahead_ms * 1_000_000 {
        t += 1_000_000_000;
    }
    t
}

/// Milliseconds (fractional) from `t0_ns` to `t_ns`.
pub fn ms_since(t0_ns: i64, t_ns: i64) -> f64 {
    (t_ns - t0_ns) as f64 / 1e6
}
