//! Runs a case's scenario in thaw, in-process, and extracts what the lab
//! compares: each invocation's outcome and latency, and the server socket's
//! state changes (from the trace: `tcp_state` records of the server).
use crate::cases::PathKind;
use serde::Serialize;
use thaw_core::{TraceRecord, VecSink};

/// One invocation as thaw reports it.
#[derive(Clone, Debug, Serialize)]
pub struct SimInv {
    /// Id (arrival order over all functions).
    pub id: u64,
    /// Function (`main`, `c1` …).
    pub function: String,
    /// Environment.
    pub container: u64,
    /// Arrival, ms.
    pub at_ms: f64,
    /// `OK` or the error kind.
    pub outcome: String,
    /// The client's message.
    pub detail: Option<String>,
    /// Latency, ms.
    pub latency_ms: f64,
}

/// One trace event kept for the timelines.
#[derive(Clone, Debug, Serialize)]
pub struct SimEvent {
    /// ms from the start.
    pub t_ms: f64,
    /// Component.
    pub component: String,
    /// Event name.
    pub event: String,
    /// Text.
    pub text: String,
}

/// What thaw said about a case.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SimResult {
    /// It ran.
    Ran {
        /// Invocations.
        invocations: Vec<SimInv>,
        /// Server socket changes of each environment's connection:
        /// (env, ms, from, to).
        server_socket: Vec<(u64, f64, String, String)>,
        /// Story-level events (timeline level, minus per-segment noise).
        events: Vec<SimEvent>,
    },
    /// The scenario uses a model feature that thaw does not have yet.
    PendingModel {
        /// Why.
        reason: String,
    },
    /// The scenario did not load or run.
    Failed {
        /// Why.
        reason: String,
    },
}

fn env_of(text: &str) -> Option<u64> {
    // "SERVER socket ←env-3:32768: …"
    let i = text.find("←env-")?;
    let rest = &text[i + "←env-".len()..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// Loads and runs `text`; `path` says whether a load failure may be the
/// accept mode that thaw does not have yet.
pub fn run(name: &str, text: &str, path: PathKind, server_name: &str) -> SimResult {
    let scenario = match thaw_scenario::load(name, text, &[]) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.render();
            if path == PathKind::NatAccept && msg.contains("accept") {
                return SimResult::PendingModel {
                    reason: "thaw does not load untracked_from_client = \"accept\" yet".into(),
                };
            }
            return SimResult::Failed { reason: msg };
        }
    };
    let mut sink = VecSink::default();
    let report = match thaw_scenario::run_scenario(&scenario, None, &mut sink) {
        Ok(r) => r,
        Err(e) => {
            return SimResult::Failed {
                reason: format!("{e:?}"),
            }
        }
    };
    let mut invocations = Vec::new();
    if let Some(rows) = report.json["invocations"].as_array() {
        for r in rows {
            let outcome = if r["outcome"] == "ok" {
                "OK".to_string()
            } else {
                r["error"].as_str().unwrap_or("ERROR").to_string()
            };
            invocations.push(SimInv {
                id: r["id"].as_u64().unwrap_or(0),
                function: r["function"].as_str().unwrap_or("main").to_string(),
                container: r["container"].as_u64().unwrap_or(0),
                at_ms: r["at_s"].as_f64().unwrap_or(0.0) * 1000.0,
                outcome,
                detail: r["detail"].as_str().map(str::to_string),
                latency_ms: r["latency_s"].as_f64().unwrap_or(0.0) * 1000.0,
            });
        }
    }
    let (server_socket, events) = extract(&sink.records, server_name);
    SimResult::Ran {
        invocations,
        server_socket,
        events,
    }
}

type SocketChanges = Vec<(u64, f64, String, String)>;

/// Server socket changes and story events from trace records.
pub fn extract(records: &[TraceRecord], server_name: &str) -> (SocketChanges, Vec<SimEvent>) {
    let mut sock = Vec::new();
    let mut events = Vec::new();
    for r in records {
        let t_ms = r.t.as_secs_f64() * 1000.0;
        let field = |k: &str| -> String {
            r.fields
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| match v {
                    thaw_core::Value::Str(s) => s.clone(),
                    thaw_core::Value::U64(n) => n.to_string(),
                    thaw_core::Value::Bool(b) => b.to_string(),
                })
                .unwrap_or_default()
        };
        if r.component == server_name && r.event == "tcp_state" {
            if let Some(env) = env_of(&r.text) {
                sock.push((env, t_ms, field("from"), field("to")));
            }
        }
        let keep = matches!(
            r.event,
            "invoke"
                | "outcome"
                | "freeze"
                | "idle_close"
                | "tcp_state"
                | "tcp_note"
                | "no_socket_rst"
                | "flow_state"
                | "forget"
                | "drop"
                | "rst"
                | "reject"
                | "host_blocked"
                | "accept"
                | "bad_handshake"
        );
        if keep && r.level == thaw_core::Level::Timeline {
            events.push(SimEvent {
                t_ms,
                component: r.component.clone(),
                event: r.event.to_string(),
                text: r.text.clone(),
            });
        }
    }
    (sock, events)
}

/// The death of environment `env`'s server socket: the first change to
/// CLOSED or TIME_WAIT, in ms.
pub fn death(server_socket: &[(u64, f64, String, String)], env: u64) -> Option<f64> {
    server_socket
        .iter()
        .find(|(e, _, _, to)| *e == env && (to == "CLOSED" || to == "TIME_WAIT"))
        .map(|(_, t, _, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_from_text() {
        assert_eq!(
            env_of("redis socket ←env-12:32768: ESTABLISHED → FIN_WAIT1"),
            Some(12)
        );
        assert_eq!(env_of("no env here"), None);
    }

    #[test]
    fn runs_a_generated_case() {
        let case = crate::cases::find("redis-direct-socket-gone").unwrap();
        let text = crate::scenario::generate(&case, &crate::scenario::Timing::planned(&case));
        let SimResult::Ran {
            invocations,
            server_socket,
            ..
        } = run(case.name, &text, case.path, "redis")
        else {
            panic!("did not run")
        };
        assert_eq!(invocations.len(), 2);
        assert_eq!(invocations[0].outcome, "OK");
        assert_eq!(invocations[1].outcome, "ECONNRESET");
        let d = death(&server_socket, invocations[0].container).expect("server socket dies");
        assert!(d > 2000.0 && d < 5500.0, "{d}");
    }
}
