//! Simulated time: integer nanoseconds since the start of a run.
//!
//! # Time saturates
//!
//! [`SimTime::MAX`] (`u64::MAX` ns, about 584 years) is the end of
//! representable time and means "never". Durations come from the scenario
//! and each is validated alone, so their sums can pass the end:
//! `SimTime + SimDuration` and `SimDuration + SimDuration` saturate at
//! `MAX` instead of overflowing, and so do [`SimDuration::from_secs`] and
//! its siblings, [`SimDuration::saturating_mul`] and
//! [`SimDuration::mul_ratio`]. An instant computed past the end is
//! `SimTime::MAX`, and an event scheduled at `MAX` is never due: the
//! [`EventQueue`](crate::EventQueue) does not store it (it counts it in
//! `events_beyond_end`), so the current time of a run is always before
//! `MAX`.
//!
//! `SimTime - SimTime` still panics when the result would be negative:
//! use it only where the earlier instant is known to be earlier (a past
//! `now`), and [`SimTime::saturating_since`] wherever an operand can be
//! `MAX` or is derived from input.
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of simulated time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The end of representable time (about 584 years): "never". Sums
    /// that pass it saturate here, and an event scheduled at `MAX` is never
    /// due (see the [module documentation](self)).
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// An instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// An instant `s` whole seconds after the start, saturating at
    /// [`SimTime::MAX`].
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s.saturating_mul(NS_PER_S))
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds since the start, for reports (never used for arithmetic).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
    /// `self + d`, saturating at [`SimTime::MAX`].
    pub fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// Longest representable duration; used as "never".
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// `us` microseconds, saturating at [`SimDuration::MAX`].
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(NS_PER_US))
    }
    /// `ms` milliseconds, saturating at [`SimDuration::MAX`].
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(NS_PER_MS))
    }
    /// `s` seconds, saturating at [`SimDuration::MAX`].
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(NS_PER_S))
    }
    /// Length in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Length in seconds, for reports (never used for arithmetic).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// True for the zero duration.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `self * k`, saturating.
    pub const fn saturating_mul(self, k: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(k))
    }
    /// `self + other`, saturating.
    pub const fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self - other`, or zero.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
    /// `self * num / den` computed in 128 bits, saturating; `den` must not be 0.
    pub fn mul_ratio(self, num: u64, den: u64) -> SimDuration {
        assert!(den != 0, "mul_ratio by zero denominator");
        let v = (self.0 as u128) * (num as u128) / (den as u128);
        SimDuration(v.min(u64::MAX as u128) as u64)
    }

    /// Parses a duration written like `"310s"`, `"5m"`, `"200ms"`, `"1.5s"`,
    /// `"250us"`, `"10ns"`, `"2h"`, or `"1d"`. A bare number is rejected: the
    /// unit is part of the value. Fractions are exact to the nanosecond.
    pub fn parse(text: &str) -> Result<SimDuration, ParseDurationError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(ParseDurationError::Empty);
        }
        if s.starts_with('-') {
            return Err(ParseDurationError::Negative(s.to_string()));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .ok_or_else(|| ParseDurationError::MissingUnit(s.to_string()))?;
        let (num, unit) = s.split_at(split);
        let unit = unit.trim();
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => NS_PER_US,
            "ms" => NS_PER_MS,
            "s" => NS_PER_S,
            "m" | "min" => 60 * NS_PER_S,
            "h" => 3600 * NS_PER_S,
            "d" => 86_400 * NS_PER_S,
            _ => return Err(ParseDurationError::UnknownUnit(unit.to_string())),
        };
        let num = num.replace('_', "");
        if num.is_empty() {
            return Err(ParseDurationError::BadNumber(s.to_string()));
        }
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num.as_str(), ""),
        };
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(ParseDurationError::BadNumber(s.to_string()));
        }
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| ParseDurationError::BadNumber(s.to_string()))?
        };
        let mut total: u128 = int
            .checked_mul(scale as u128)
            .ok_or_else(|| ParseDurationError::TooLarge(s.to_string()))?;
        // Fractional digits: exact as long as they do not go below 1 ns.
        let mut place = scale as u128;
        for ch in frac_part.chars() {
            let d = ch
                .to_digit(10)
                .ok_or_else(|| ParseDurationError::BadNumber(s.to_string()))?;
            if !place.is_multiple_of(10) {
                return Err(ParseDurationError::TooPrecise(s.to_string()));
            }
            place /= 10;
            total += d as u128 * place;
        }
        if total > u64::MAX as u128 {
            return Err(ParseDurationError::TooLarge(s.to_string()));
        }
        Ok(SimDuration(total as u64))
    }
}

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseDurationError {
    /// Nothing was written.
    Empty,
    /// A leading minus sign.
    Negative(String),
    /// A number without a unit.
    MissingUnit(String),
    /// A unit that is not one of ns, us, ms, s, m, h, d.
    UnknownUnit(String),
    /// The number part does not parse.
    BadNumber(String),
    /// More fractional digits than nanoseconds can hold.
    TooPrecise(String),
    /// Longer than about 584 years.
    TooLarge(String),
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseDurationError::Empty => write!(f, "empty duration"),
            ParseDurationError::Negative(s) => write!(f, "negative duration `{s}`"),
            ParseDurationError::MissingUnit(s) => write!(f, "duration `{s}` has no unit"),
            ParseDurationError::UnknownUnit(u) => write!(f, "unknown duration unit `{u}`"),
            ParseDurationError::BadNumber(s) => write!(f, "`{s}` is not a duration"),
            ParseDurationError::TooPrecise(s) => {
                write!(f, "duration `{s}` is more precise than a nanosecond")
            }
            ParseDurationError::TooLarge(s) => write!(f, "duration `{s}` is too large"),
        }
    }
}

impl std::error::Error for ParseDurationError {}

/// Saturating: an instant past the end of time is [`SimTime::MAX`],
/// "never".
impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        self.saturating_add(d)
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

/// The time from `earlier` to `self`. A negative result is a model bug
/// and panics: where an operand can be [`SimTime::MAX`] or comes from
/// input, use [`SimTime::saturating_since`].
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        SimDuration(
            self.0
                .checked_sub(earlier.0)
                .expect("time subtraction went negative"),
        )
    }
}

/// Saturating at [`SimDuration::MAX`].
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        self.saturating_add(o)
    }
}

impl fmt::Display for SimTime {
    /// Seconds with microsecond precision: `95.000250s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 / NS_PER_S;
        let us = (self.0 % NS_PER_S) / NS_PER_US;
        write!(f, "{s}.{us:06}s")
    }
}

impl fmt::Display for SimDuration {
    /// The shortest exact form in the largest unit that keeps it readable:
    /// `310s`, `1.5s`, `200ms`, `250us`, `7ns`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return f.write_str("0s");
        }
        let (unit, scale) = if ns >= NS_PER_S {
            ("s", NS_PER_S)
        } else if ns >= NS_PER_MS {
            ("ms", NS_PER_MS)
        } else if ns >= NS_PER_US {
            ("us", NS_PER_US)
        } else {
            return write!(f, "{ns}ns");
        };
        let whole = ns / scale;
        let frac = ns % scale;
        if frac == 0 {
            return write!(f, "{whole}{unit}");
        }
        let width = scale.ilog10() as usize;
        let digits = format!("{frac:0width$}");
        write!(f, "{whole}.{}{unit}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(SimDuration::parse("310s"), Ok(SimDuration::from_secs(310)));
        assert_eq!(SimDuration::parse("5m"), Ok(SimDuration::from_secs(300)));
        assert_eq!(
            SimDuration::parse("200ms"),
            Ok(SimDuration::from_millis(200))
        );
        assert_eq!(
            SimDuration::parse("1.5s"),
            Ok(SimDuration::from_millis(1500))
        );
        assert_eq!(
            SimDuration::parse("250us"),
            Ok(SimDuration::from_micros(250))
        );
        assert_eq!(
            SimDuration::parse("0.2s"),
            Ok(SimDuration::from_millis(200))
        );
        assert_eq!(SimDuration::parse("10ns"), Ok(SimDuration::from_nanos(10)));
        assert_eq!(SimDuration::parse("2h"), Ok(SimDuration::from_secs(7200)));
        assert_eq!(SimDuration::parse("0s"), Ok(SimDuration::ZERO));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(matches!(
            SimDuration::parse("-5s"),
            Err(ParseDurationError::Negative(_))
        ));
        assert!(matches!(
            SimDuration::parse("60"),
            Err(ParseDurationError::MissingUnit(_))
        ));
        assert!(matches!(
            SimDuration::parse("60 sec"),
            Err(ParseDurationError::UnknownUnit(_))
        ));
        assert!(matches!(
            SimDuration::parse("1.5ns"),
            Err(ParseDurationError::TooPrecise(_))
        ));
        assert!(matches!(
            SimDuration::parse("s"),
            Err(ParseDurationError::BadNumber(_))
        ));
        assert!(matches!(
            SimDuration::parse("1.2.3s"),
            Err(ParseDurationError::BadNumber(_))
        ));
        assert!(matches!(
            SimDuration::parse(""),
            Err(ParseDurationError::Empty)
        ));
        assert!(matches!(
            SimDuration::parse("99999999999d"),
            Err(ParseDurationError::TooLarge(_))
        ));
        assert!(matches!(
            SimDuration::parse("999999999999999999999999999999999999d"),
            Err(ParseDurationError::TooLarge(_)) | Err(ParseDurationError::BadNumber(_))
        ));
    }

    #[test]
    fn sums_saturate_at_the_end_of_time() {
        let ns = SimDuration::from_nanos;
        // Below the end, sums are exact.
        assert_eq!(
            SimTime::from_secs(5) + ns(7),
            SimTime::from_nanos(5_000_000_007)
        );
        assert_eq!(
            SimTime::from_nanos(u64::MAX - 10) + ns(10),
            SimTime::from_nanos(u64::MAX)
        );
        assert_eq!(ns(u64::MAX - 3) + ns(3), SimDuration::MAX);
        // Past it, they stay at the end.
        assert_eq!(SimTime::from_nanos(u64::MAX - 10) + ns(11), SimTime::MAX);
        assert_eq!(SimTime::MAX + ns(1), SimTime::MAX);
        assert_eq!(SimTime::from_secs(1) + SimDuration::MAX, SimTime::MAX);
        let mut t = SimTime::from_nanos(u64::MAX / 2 + 1);
        t += SimDuration::from_nanos(u64::MAX / 2 + 1);
        assert_eq!(t, SimTime::MAX);
        assert_eq!(SimDuration::MAX + ns(1), SimDuration::MAX);
        assert_eq!(
            ns(u64::MAX / 2 + 1) + ns(u64::MAX / 2 + 1),
            SimDuration::MAX
        );
        // "213503d" twice: each alone is valid input.
        let d = SimDuration::parse("213503d").unwrap();
        assert_eq!(SimTime::ZERO + d + d, SimTime::MAX);
        assert_eq!(d + d, SimDuration::MAX);
    }

    #[test]
    fn constructors_and_products_saturate() {
        assert_eq!(SimTime::from_secs(u64::MAX), SimTime::MAX);
        assert_eq!(SimDuration::from_secs(u64::MAX), SimDuration::MAX);
        assert_eq!(SimDuration::from_millis(u64::MAX), SimDuration::MAX);
        assert_eq!(SimDuration::from_micros(u64::MAX), SimDuration::MAX);
        assert_eq!(
            SimDuration::from_secs(18_446_744_073).as_nanos(),
            18_446_744_073_000_000_000
        );
        assert_eq!(SimDuration::from_secs(18_446_744_074), SimDuration::MAX);
        assert_eq!(SimDuration::MAX.saturating_mul(2), SimDuration::MAX);
        assert_eq!(SimDuration::MAX.mul_ratio(1769, 128), SimDuration::MAX);
        assert_eq!(
            SimDuration::from_secs(10).mul_ratio(1769, 128),
            SimDuration::from_nanos(138_203_125_000)
        );
    }

    #[test]
    fn differences_near_the_end() {
        assert_eq!(SimTime::MAX - SimTime::ZERO, SimDuration::MAX);
        assert_eq!(SimTime::MAX - SimTime::MAX, SimDuration::ZERO);
        assert_eq!(
            SimTime::ZERO.saturating_since(SimTime::MAX),
            SimDuration::ZERO
        );
        assert_eq!(
            SimTime::MAX.saturating_since(SimTime::from_nanos(u64::MAX - 4)),
            SimDuration::from_nanos(4)
        );
    }

    #[test]
    #[should_panic(expected = "time subtraction went negative")]
    fn negative_differences_are_a_bug() {
        let _ = SimTime::from_secs(1) - SimTime::MAX;
    }

    #[test]
    fn displays_round_trip() {
        for s in ["310s", "1.5s", "200ms", "250us", "7ns", "200.5ms", "102.2s"] {
            let d = SimDuration::parse(s).unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(SimDuration::parse(&d.to_string()), Ok(d));
        }
        assert_eq!(
            SimTime::from_nanos(95_000_250_000).to_string(),
            "95.000250s"
        );
    }
}
