//! Expectations: assertions written in a scenario file and checked against
//! the report after the run.
//!
//! Grammar: `PATH OP VALUE`, where PATH is `invocation[ID].FIELD`,
//! `metrics.NAME`, `metrics.errors_by_kind.KIND` or
//! `metrics.servers.SERVER.FIELD`; OP is one of
//! `== != < <= > >=`; VALUE is a number, `true`, `false`, `null`, or a word
//! (`ETIMEDOUT`, `ok`) optionally in double quotes.
use serde::Serialize;
use serde_json::Value as Json;
use std::fmt;

/// Fields of `invocation[ID]`.
pub const INVOCATION_FIELDS: &[&str] = &[
    "outcome",
    "error",
    "cold",
    "latency_s",
    "container",
    "at_s",
    "detail",
    "function",
    "stale_reads",
    "duplicate_writes",
    "target",
];

/// Fields of `metrics.servers.SERVER`.
pub const SERVER_METRIC_FIELDS: &[&str] = &[
    "connections_peak",
    "connections_at_end",
    "memory_peak_bytes",
    "syn_dropped",
    "rejected",
    "evicted",
    "killed",
    "errors",
];

/// Fields of `metrics.platform` and `metrics.platform.functions.NAME`.
pub const PLATFORM_METRIC_FIELDS: &[&str] = &[
    "live_mean",
    "live_max",
    "busy_mean",
    "busy_max",
    "idle_mean",
    "idle_max",
    "utilization",
    "invocations",
    "cold_start_probability",
    "throttle_probability",
];

/// Names under `metrics.`.
pub const METRIC_NAMES: &[&str] = &[
    "invocations",
    "cold_starts",
    "errors",
    "errors_by_kind",
    "latency_p50_s",
    "latency_p99_s",
    "server_connections_peak",
    "zombie_connection_seconds",
    "stale_reads",
    "duplicate_writes",
    "events",
    "events_beyond_end",
    "unfinished",
    "environments",
    "connections_opened",
    "connections_closed",
    "connections_open_at_end",
    "server_connections_at_end",
    "server_memory_peak_bytes",
    "syn_dropped",
    "server_rejected",
    "server_evicted",
    "server_killed",
    "proxy_backend_peak",
    "proxy_client_peak",
    "proxy_borrow_timeouts",
    "proxy_pinned",
    "proxy_zombie_connection_seconds",
    "servers",
    "platform",
];

/// Comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// What an expectation looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A field of the invocation with this id.
    Invocation {
        /// Invocation id (from 1).
        id: u64,
        /// Field name.
        field: String,
    },
    /// A metric.
    Metric(String),
    /// `metrics.errors_by_kind.KIND` (0 when absent).
    ErrorsOfKind(String),
    /// `metrics.platform.FIELD` or `metrics.platform.functions.NAME.FIELD`.
    PlatformMetric {
        /// The function's name, for one function's figure.
        function: Option<String>,
        /// One of [`PLATFORM_METRIC_FIELDS`].
        field: String,
    },
    /// `metrics.servers.SERVER.FIELD`.
    ServerMetric {
        /// The server's name.
        server: String,
        /// One of [`SERVER_METRIC_FIELDS`].
        field: String,
    },
}

/// A parsed expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The text as written.
    pub expr: String,
    /// Left-hand side.
    pub target: Target,
    /// Operator.
    pub op: Op,
    /// Right-hand side.
    pub value: Json,
}

/// Why an expectation did not parse; `hint` is a did-you-mean or example.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectParseError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ExpectParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The verdict on one expectation (`{expr, passed, actual}` in the report).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExpectationResult {
    /// The expectation as written.
    pub expr: String,
    /// Whether it held.
    pub passed: bool,
    /// The value found in the report.
    pub actual: Json,
}

fn closest(word: &str, candidates: &[&str]) -> Option<String> {
    thaw_core::did_you_mean(word, candidates.iter().copied())
        .map(|c| format!("did you mean `{c}`?"))
}

impl Expectation {
    /// Parses `PATH OP VALUE`.
    pub fn parse(text: &str) -> Result<Expectation, ExpectParseError> {
        let err = |message: String, hint: Option<String>| ExpectParseError { message, hint };
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (pos, len, op) = ops
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|p| (p, s.len(), *op)))
            .min_by_key(|(p, l, _)| (*p, usize::MAX - *l))
            .ok_or_else(|| {
                err(
                    format!("expectation `{text}` has no comparison"),
                    Some(
                        "write e.g. `invocation[2].error == ETIMEDOUT` or `metrics.errors == 0`"
                            .into(),
                    ),
                )
            })?;
        let lhs = text[..pos].trim();
        let rhs = text[pos + len..].trim();
        let target = parse_target(lhs)?;
        if rhs.is_empty() {
            return Err(err(
                format!("expectation `{text}` has nothing after the operator"),
                None,
            ));
        }
        let value = parse_value(rhs);
        if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && !value.is_number() {
            return Err(err(
                format!("`{rhs}` is not a number; `<`, `<=`, `>`, `>=` compare numbers"),
                None,
            ));
        }
        Ok(Expectation {
            expr: text.trim().to_string(),
            target,
            op,
            value,
        })
    }

    /// Checks the expectation against a JSON report object.
    pub fn check(&self, report: &Json) -> ExpectationResult {
        let actual = match &self.target {
            Target::Invocation { id, field } => report["invocations"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["id"].as_u64() == Some(*id)))
                .map(|i| i[field.as_str()].clone())
                .unwrap_or(Json::Null),
            Target::Metric(m) => report["metrics"][m.as_str()].clone(),
            Target::ErrorsOfKind(k) => report["metrics"]["errors_by_kind"]
                .get(k.as_str())
                .cloned()
                .unwrap_or(Json::from(0)),
            Target::PlatformMetric { function, field } => match function {
                None => report["metrics"]["platform"][field.as_str()].clone(),
                Some(f) => {
                    report["metrics"]["platform"]["functions"][f.as_str()][field.as_str()].clone()
                }
            },
            Target::ServerMetric { server, field } => {
                report["metrics"]["servers"][server.as_str()][field.as_str()].clone()
            }
        };
        let passed = compare(&actual, self.op, &self.value);
        ExpectationResult {
            expr: self.expr.clone(),
            passed,
            actual,
        }
    }
}

fn parse_target(lhs: &str) -> Result<Target, ExpectParseError> {
    let err = |message: String, hint: Option<String>| ExpectParseError { message, hint };
    if let Some(rest) = lhs.strip_prefix("invocation[") {
        let (id, field) = rest.split_once("].").ok_or_else(|| {
            err(
                format!("`{lhs}` is not `invocation[ID].FIELD`"),
                Some("e.g. `invocation[2].error`".into()),
            )
        })?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| err(format!("`{id}` is not an invocation id (1, 2, ...)"), None))?;
        if id == 0 {
            return Err(err("invocation ids start at 1".into(), None));
        }
        if !INVOCATION_FIELDS.contains(&field) {
            return Err(err(
                format!("unknown invocation field `{field}`"),
                closest(field, INVOCATION_FIELDS)
                    .or_else(|| Some(format!("one of: {}", INVOCATION_FIELDS.join(", ")))),
            ));
        }
        return Ok(Target::Invocation {
            id,
            field: field.to_string(),
        });
    }
    if let Some(kind) = lhs.strip_prefix("metrics.errors_by_kind.") {
        let names: Vec<&str> = crate::report::ErrorKind::ALL
            .iter()
            .map(|k| k.name())
            .collect();
        if !names.contains(&kind) {
            return Err(err(
                format!("unknown error kind `{kind}`"),
                closest(kind, &names).or_else(|| Some(format!("one of: {}", names.join(", ")))),
            ));
        }
        return Ok(Target::ErrorsOfKind(kind.to_string()));
    }
    if let Some(rest) = lhs.strip_prefix("metrics.servers.") {
        let (server, field) = rest.rsplit_once('.').ok_or_else(|| {
            err(
                format!("`{lhs}` is not `metrics.servers.SERVER.FIELD`"),
                Some("e.g. `metrics.servers.redis.connections_peak`".into()),
            )
        })?;
        if !SERVER_METRIC_FIELDS.contains(&field) {
            return Err(err(
                format!("unknown server metric `{field}`"),
                closest(field, SERVER_METRIC_FIELDS)
                    .or_else(|| Some(format!("one of: {}", SERVER_METRIC_FIELDS.join(", ")))),
            ));
        }
        return Ok(Target::ServerMetric {
            server: server.to_string(),
            field: field.to_string(),
        });
    }
    if let Some(rest) = lhs.strip_prefix("metrics.platform.") {
        let (function, field) = match rest.strip_prefix("functions.") {
            Some(r) => {
                let (f, field) = r.rsplit_once('.').ok_or_else(|| {
                    err(
                        format!("`{lhs}` is not `metrics.platform.functions.NAME.FIELD`"),
                        Some(
                            "e.g. `metrics.platform.functions.main.cold_start_probability`".into(),
                        ),
                    )
                })?;
                (Some(f.to_string()), field)
            }
            None => (None, rest),
        };
        if !PLATFORM_METRIC_FIELDS.contains(&field) {
            return Err(err(
                format!("unknown platform metric `{field}`"),
                closest(field, PLATFORM_METRIC_FIELDS)
                    .or_else(|| Some(format!("one of: {}", PLATFORM_METRIC_FIELDS.join(", ")))),
            ));
        }
        return Ok(Target::PlatformMetric {
            function,
            field: field.to_string(),
        });
    }
    if let Some(m) = lhs.strip_prefix("metrics.") {
        if !METRIC_NAMES.contains(&m) || m == "errors_by_kind" || m == "servers" || m == "platform"
        {
            return Err(err(
                format!("unknown metric `{m}`"),
                closest(m, METRIC_NAMES)
                    .or_else(|| Some(format!("one of: {}", METRIC_NAMES.join(", ")))),
            ));
        }
        return Ok(Target::Metric(m.to_string()));
    }
    Err(err(
        format!("`{lhs}` is neither `invocation[ID].FIELD` nor `metrics.NAME`"),
        closest(lhs, &["metrics.errors", "invocation[1].error"]),
    ))
}

fn parse_value(rhs: &str) -> Json {
    match rhs {
        "true" => Json::Bool(true),
        "false" => Json::Bool(false),
        "null" => Json::Null,
        _ => {
            if let Ok(n) = rhs.parse::<u64>() {
                return Json::from(n);
            }
            if let Ok(f) = rhs.parse::<f64>() {
                if let Some(n) = serde_json::Number::from_f64(f) {
                    return Json::Number(n);
                }
            }
            Json::String(rhs.trim_matches('"').to_string())
        }
    }
}

fn compare(actual: &Json, op: Op, expected: &Json) -> bool {
    if let (Some(a), Some(e)) = (actual.as_f64(), expected.as_f64()) {
        return match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            Op::Lt => a < e,
            Op::Le => a <= e,
            Op::Gt => a > e,
            Op::Ge => a >= e,
        };
    }
    match op {
        Op::Eq => actual == expected,
        Op::Ne => actual != expected,
        Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Json {
        json!({
            "invocations": [
                {"id": 1, "error": null, "outcome": "ok", "cold": true, "latency_s": 0.5},
                {"id": 2, "error": "ETIMEDOUT", "outcome": "error", "cold": false, "latency_s": 1.0}
            ],
            "metrics": {"errors": 1, "errors_by_kind": {"ETIMEDOUT": 1}}
        })
    }

    #[test]
    fn checks_invocations_and_metrics() {
        let r = report();
        for (e, want) in [
            ("invocation[2].error == ETIMEDOUT", true),
            ("invocation[2].error == \"ETIMEDOUT\"", true),
            ("invocation[1].error == null", true),
            ("invocation[1].cold == true", true),
            ("invocation[2].latency_s >= 1", true),
            ("invocation[2].latency_s < 1", false),
            ("metrics.errors == 0", false),
            ("metrics.errors_by_kind.ETIMEDOUT == 1", true),
            ("metrics.errors_by_kind.ECONNRESET == 0", true),
            ("invocation[9].error == null", true),
        ] {
            let x = Expectation::parse(e).unwrap();
            assert_eq!(x.check(&r).passed, want, "{e}");
        }
    }

    #[test]
    fn parse_errors_have_hints() {
        let e = Expectation::parse("metrics.erors == 0").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `errors`?"));
        let e = Expectation::parse("invocation[2].eror == EOF").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `error`?"));
        let e = Expectation::parse("metrics.errors_by_kind.ETIMEOUT == 1").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `ETIMEDOUT`?"));
        assert!(Expectation::parse("metrics.errors").is_err());
        assert!(Expectation::parse("invocation[0].error == EOF").is_err());
        assert!(Expectation::parse("metrics.errors < many").is_err());
    }

    #[test]
    fn name_lists_match_the_report() {
        // The lists feed validation and did-you-mean; the report is the truth.
        let r = crate::run(&crate::SimConfig::default(), &mut thaw_core::NullSink, true).unwrap();
        let metrics = serde_json::to_value(&r.metrics).unwrap();
        let mut keys: Vec<&str> = metrics
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names = METRIC_NAMES.to_vec();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
        let mut platform: Vec<&str> = metrics["platform"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "functions")
            .collect();
        let mut listed = PLATFORM_METRIC_FIELDS.to_vec();
        platform.sort_unstable();
        listed.sort_unstable();
        assert_eq!(platform, listed);
        let row =
            serde_json::to_value(crate::report::InvocationJson::from(&r.outcomes[0])).unwrap();
        let mut fields: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "id")
            .collect();
        let mut listed = INVOCATION_FIELDS.to_vec();
        fields.sort_unstable();
        listed.sort_unstable();
        assert_eq!(fields, listed);
    }
}
