//! Varied parameters: `PATH=SPEC` as `--vary` takes it and as a `[vary]`
//! table holds it. A SPEC is a list `v1,v2,…`, or a range `LO..HI` with an
//! optional `/COUNT` (evenly spaced, both ends included) and `:log`
//! (geometric spacing). Values are written as in a scenario file:
//! durations with a unit (kept to the nanosecond), integers, floats,
//! booleans or words.
use std::fmt;
use thaw_core::SimDuration;

/// One value of a varied key.
#[derive(Clone, Debug, PartialEq)]
pub enum VaryValue {
    /// A duration (`"60s"`, `"94.999999999s"`).
    Duration(SimDuration),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else, e.g. a preset name.
    Str(String),
}

impl VaryValue {
    /// Reads a value as written on the command line or in `[vary]`:
    /// a duration if it has a unit, else an integer, a float, a boolean,
    /// or a word (quotes optional).
    pub fn parse(text: &str) -> VaryValue {
        let t = text.trim();
        let unquoted = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(t);
        if let Ok(i) = unquoted.replace('_', "").parse::<i64>() {
            return VaryValue::Int(i);
        }
        if let Ok(d) = SimDuration::parse(unquoted) {
            return VaryValue::Duration(d);
        }
        if let Ok(f) = unquoted.parse::<f64>() {
            if f.is_finite() {
                return VaryValue::Float(f);
            }
        }
        match unquoted {
            "true" => VaryValue::Bool(true),
            "false" => VaryValue::Bool(false),
            s => VaryValue::Str(s.to_string()),
        }
    }

    /// The value as a TOML value, for the scenario document.
    pub fn to_toml(&self) -> toml::Value {
        match self {
            VaryValue::Duration(d) => toml::Value::String(d.to_string()),
            VaryValue::Int(i) => toml::Value::Integer(*i),
            VaryValue::Float(f) => toml::Value::Float(*f),
            VaryValue::Bool(b) => toml::Value::Boolean(*b),
            VaryValue::Str(s) => toml::Value::String(s.clone()),
        }
    }

    /// The value as a `--set` would write it (`server.idle_timeout=60s`).
    pub fn set_arg(&self, path: &str) -> String {
        match self {
            VaryValue::Str(s) => format!("{path}={}", toml::Value::String(s.clone())),
            v => format!("{path}={v}"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            VaryValue::Duration(_) => "a duration",
            VaryValue::Int(_) => "an integer",
            VaryValue::Float(_) => "a number",
            VaryValue::Bool(_) => "a boolean",
            VaryValue::Str(_) => "a word",
        }
    }
}

impl fmt::Display for VaryValue {
    /// As written in a scenario file: `60s`, `3`, `0.5`, `true`, `mysql8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaryValue::Duration(d) => write!(f, "{d}"),
            VaryValue::Int(i) => write!(f, "{i}"),
            VaryValue::Float(x) => write!(f, "{x:?}"),
            VaryValue::Bool(b) => write!(f, "{b}"),
            VaryValue::Str(s) => f.write_str(s),
        }
    }
}

/// The numbers a range spans, in one unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Span {
    /// Nanoseconds.
    Duration(u64, u64),
    /// Integers.
    Int(i64, i64),
    /// Floats.
    Float(f64, f64),
}

/// What values a varied key takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// Exactly these.
    List(Vec<VaryValue>),
    /// From `lo` to `hi` (both included): `count` evenly (or, with `log`,
    /// geometrically) spaced points for a sweep; any value for a boundary
    /// or a property check.
    Range {
        /// Its ends.
        span: Span,
        /// `/COUNT`.
        count: Option<u64>,
        /// `:log`.
        log: bool,
    },
}

impl Spec {
    /// Parses `v1,v2,…`, `LO..HI`, `LO..HI/COUNT` or `LO..HI/COUNT:log`.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty SPEC: write a list `v1,v2` or a range `LO..HI/COUNT`".into());
        }
        let Some((lo, rest)) = t.split_once("..") else {
            let values: Vec<VaryValue> = t.split(',').map(VaryValue::parse).collect();
            if values
                .iter()
                .any(|v| matches!(v, VaryValue::Str(s) if s.is_empty()))
            {
                return Err(format!("`{t}` has an empty value in its list"));
            }
            return Ok(Spec::List(values));
        };
        let (rest, log) = match rest.strip_suffix(":log") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (hi, count) = match rest.split_once('/') {
            Some((hi, c)) => {
                let c = c.trim().replace('_', "");
                let n: u64 = c
                    .parse()
                    .map_err(|_| format!("COUNT `{c}` is not a whole number"))?;
                if n == 0 {
                    return Err("COUNT must be at least 1".into());
                }
                (hi, Some(n))
            }
            None => (rest, None),
        };
        let (lo_v, hi_v) = (VaryValue::parse(lo), VaryValue::parse(hi));
        let span = match (&lo_v, &hi_v) {
            (VaryValue::Duration(a), VaryValue::Duration(b)) => {
                Span::Duration(a.as_nanos(), b.as_nanos())
            }
            // `0..600s`: a bare 0 next to a duration is a duration.
            (VaryValue::Int(0), VaryValue::Duration(b)) => Span::Duration(0, b.as_nanos()),
            (VaryValue::Int(a), VaryValue::Int(b)) => Span::Int(*a, *b),
            (VaryValue::Int(_) | VaryValue::Float(_), VaryValue::Int(_) | VaryValue::Float(_)) => {
                Span::Float(as_f64(&lo_v), as_f64(&hi_v))
            }
            (a, b) => {
                return Err(format!(
                    "a range needs two durations or two numbers: `{}` is {} and `{}` is {}",
                    lo.trim(),
                    a.kind(),
                    hi.trim(),
                    b.kind()
                ))
            }
        };
        let (lo_f, hi_f) = span.as_f64();
        if lo_f > hi_f {
            return Err(format!("LO `{}` is above HI `{}`", lo.trim(), hi.trim()));
        }
        if log && lo_f <= 0.0 {
            return Err(format!(
                "a `:log` range needs LO above 0 (LO is `{}`)",
                lo.trim()
            ));
        }
        Ok(Spec::Range { span, count, log })
    }

    /// The values a sweep visits: the list, or `COUNT` points of the range.
    pub fn grid(&self) -> Result<Vec<VaryValue>, String> {
        match self {
            Spec::List(v) => Ok(v.clone()),
            Spec::Range { count: None, .. } => {
                Err("a range in a sweep needs a COUNT: `LO..HI/COUNT`".into())
            }
            Spec::Range {
                span,
                count: Some(n),
                log,
            } => Ok((0..*n).map(|i| span.point(i, *n, *log)).collect()),
        }
    }
}

fn as_f64(v: &VaryValue) -> f64 {
    match v {
        VaryValue::Int(i) => *i as f64,
        VaryValue::Float(f) => *f,
        VaryValue::Duration(d) => d.as_nanos() as f64,
        VaryValue::Bool(_) | VaryValue::Str(_) => 0.0,
    }
}

impl Span {
    /// Both ends as floats (nanoseconds for durations).
    pub fn as_f64(&self) -> (f64, f64) {
        match *self {
            Span::Duration(a, b) => (a as f64, b as f64),
            Span::Int(a, b) => (a as f64, b as f64),
            Span::Float(a, b) => (a, b),
        }
    }

    /// Point `i` of `n` (0 = LO, n−1 = HI), exact at both ends.
    pub fn point(&self, i: u64, n: u64, log: bool) -> VaryValue {
        if n <= 1 || i == 0 {
            return self.value_at_fraction(0.0, log, Some(false));
        }
        if i + 1 == n {
            return self.value_at_fraction(1.0, log, Some(true));
        }
        if !log {
            // Linear points in integer arithmetic: no rounding drift.
            match *self {
                Span::Duration(a, b) => {
                    let v = a as u128 + (b - a) as u128 * i as u128 / (n - 1) as u128;
                    return VaryValue::Duration(SimDuration::from_nanos(v as u64));
                }
                Span::Int(a, b) => {
                    let v = a as i128 + (b as i128 - a as i128) * i as i128 / (n - 1) as i128;
                    return VaryValue::Int(v as i64);
                }
                Span::Float(..) => {}
            }
        }
        self.value_at_fraction(i as f64 / (n - 1) as f64, log, None)
    }

    /// The value a fraction `x` of the way from LO to HI (geometrically with
    /// `log`); `end` pins an exact end.
    pub fn value_at_fraction(&self, x: f64, log: bool, end: Option<bool>) -> VaryValue {
        let (lo, hi) = self.as_f64();
        let f = match end {
            Some(false) => lo,
            Some(true) => hi,
            None if log => lo * (hi / lo).powf(x),
            None => lo + (hi - lo) * x,
        };
        match *self {
            Span::Duration(a, b) => VaryValue::Duration(SimDuration::from_nanos(match end {
                Some(false) => a,
                Some(true) => b,
                None => (f.round() as u64).clamp(a, b),
            })),
            Span::Int(a, b) => VaryValue::Int(match end {
                Some(false) => a,
                Some(true) => b,
                None => (f.round() as i64).clamp(a, b),
            }),
            Span::Float(..) => VaryValue::Float(f),
        }
    }
}

/// A key path and what it takes: one `--vary PATH=SPEC`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// The key's dotted path, e.g. `server.idle_timeout`.
    pub path: String,
    /// Its values.
    pub spec: Spec,
    /// The SPEC as written.
    pub written: String,
}

impl Vary {
    /// Parses `PATH=SPEC`.
    pub fn parse(arg: &str) -> Result<Vary, String> {
        let Some((path, spec)) = arg.split_once('=') else {
            return Err(format!(
                "`{arg}` is not PATH=SPEC, e.g. server.idle_timeout=1s..600s/64"
            ));
        };
        Vary::new(path, spec)
    }

    /// A path and its SPEC (a `[vary]` entry).
    pub fn new(path: &str, spec: &str) -> Result<Vary, String> {
        let path = path.trim();
        crate::diag::key_path(path).map_err(|e| format!("invalid path `{path}`: {e}"))?;
        if let Some(why) = cannot_vary(path) {
            return Err(format!("`{path}` cannot vary: {why}"));
        }
        let spec_v = Spec::parse(spec).map_err(|e| format!("`{path}`: {e}"))?;
        Ok(Vary {
            path: path.to_string(),
            spec: spec_v,
            written: spec.trim().to_string(),
        })
    }
}

/// Keys that describe the scenario rather than the system: they cannot vary.
fn cannot_vary(path: &str) -> Option<&'static str> {
    let first = path.split(['.', '[']).next().unwrap_or("");
    match first {
        "expect" => Some("expectations are the property, not a parameter"),
        "vary" => Some("the [vary] table describes the ranges themselves"),
        "scenario" if path == "scenario.seed" => {
            Some("the run seed is varied with --seeds N (sweep) or drawn by check")
        }
        "scenario" => Some("the name and description are not parameters"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> VaryValue {
        VaryValue::Duration(SimDuration::parse(s).unwrap())
    }

    #[test]
    fn parses_lists_and_ranges() {
        assert_eq!(
            Spec::parse("60s,310s").unwrap(),
            Spec::List(vec![d("60s"), d("310s")])
        );
        assert_eq!(
            Spec::parse("redis7,mysql8").unwrap(),
            Spec::List(vec![
                VaryValue::Str("redis7".into()),
                VaryValue::Str("mysql8".into())
            ])
        );
        let r = Spec::parse("1s..600s/3").unwrap();
        assert_eq!(r.grid().unwrap(), vec![d("1s"), d("300.5s"), d("600s")]);
        let r = Spec::parse("1..100/3:log").unwrap();
        assert_eq!(
            r.grid().unwrap(),
            vec![VaryValue::Int(1), VaryValue::Int(10), VaryValue::Int(100)]
        );
        let r = Spec::parse("0.5..1.5/3").unwrap();
        assert_eq!(
            r.grid().unwrap(),
            vec![
                VaryValue::Float(0.5),
                VaryValue::Float(1.0),
                VaryValue::Float(1.5)
            ]
        );
        // Nanosecond precision is kept.
        let r = Spec::parse("94.999999999s..95s/2").unwrap();
        assert_eq!(r.grid().unwrap()[0].to_string(), "94.999999999s");
        assert_eq!(
            Spec::parse("7s..7s/1").unwrap().grid().unwrap(),
            vec![d("7s")]
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for (spec, why) in [
            ("600s..1s/3", "above HI"),
            ("1s..600s/0", "at least 1"),
            ("1s..600s/x", "not a whole number"),
            ("1s..5/3", "two durations or two numbers"),
            ("0s..600s/3:log", "LO above 0"),
            ("", "empty SPEC"),
        ] {
            let e = Spec::parse(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
        assert!(Spec::parse("1s..600s").unwrap().grid().is_err());
        assert!(Vary::parse("server.idle_timeout").is_err());
        assert!(Vary::parse("expect.assert=1..2/2")
            .unwrap_err()
            .contains("cannot vary"));
        assert!(Vary::parse("scenario.seed=1..2/2")
            .unwrap_err()
            .contains("--seeds"));
        assert!(Vary::parse("a..b=1..2/2")
            .unwrap_err()
            .contains("invalid path"));
    }
}
