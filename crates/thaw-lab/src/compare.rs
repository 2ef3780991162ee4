//! Comparing the lab with thaw: the error kind of each invocation must
//! match, the client's time within 50 ms, the server socket's death within
//! 100 ms.
use serde::Serialize;

/// Tolerance on an invocation's time (from its start: the thaw for the
/// first invocation after it).
pub const CLIENT_TOL_MS: f64 = 50.0;
/// Tolerance on the server socket's death.
pub const DEATH_TOL_MS: f64 = 100.0;

/// Whether the lab's outcome and thaw's error kind say the same thing:
/// errno names and EOF as such, a read of the server's message before the
/// close (decoded by the client) as `SERVER_IDLE_CLOSED`, a reply as `OK`,
/// and the client's own bound ("no answer") as thaw's `REQUEST_TIMEOUT`
/// (the scenario gives each request a timeout equal to that bound) or
/// `FUNCTION_TIMEOUT`.
pub fn kinds_match(lab: &str, sim: &str) -> bool {
    match lab {
        "NO_ANSWER" => sim == "REQUEST_TIMEOUT" || sim == "FUNCTION_TIMEOUT",
        _ => lab == sim,
    }
}

/// One comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The lab's value.
    pub lab: String,
    /// thaw's value.
    pub thaw: String,
    /// Whether they agree.
    pub agree: bool,
    /// Why not (or a note).
    pub note: String,
}

/// An invocation's outcome and time (ms).
#[derive(Clone, Debug)]
pub struct Outcome<'a> {
    /// Kind.
    pub kind: &'a str,
    /// Time from the invocation's start, ms.
    pub ms: f64,
}

/// Compares one invocation.
pub fn check_invocation(what: &str, lab: &Outcome, sim: &Outcome) -> Check {
    let same_kind = kinds_match(lab.kind, sim.kind);
    let dt = (lab.ms - sim.ms).abs();
    let agree = same_kind && dt <= CLIENT_TOL_MS;
    let note = if !same_kind {
        "different outcome".to_string()
    } else if !agree {
        format!("times differ by {dt:.1} ms (> {CLIENT_TOL_MS} ms)")
    } else {
        String::new()
    };
    Check {
        what: what.to_string(),
        lab: format!("{} at {:.1} ms", lab.kind, lab.ms),
        thaw: format!("{} at {:.1} ms", sim.kind, sim.ms),
        agree,
        note,
    }
}

/// Compares the server socket's death (ms from t0; `None` = alive when the
/// observation ended).
pub fn check_death(lab: Option<(f64, f64)>, sim: Option<f64>) -> Check {
    let show_lab = match lab {
        Some((t, u)) => format!("gone at {t:.0} ± {u:.0} ms"),
        None => "alive".into(),
    };
    let show_sim = match sim {
        Some(t) => format!("gone at {t:.0} ms"),
        None => "alive".into(),
    };
    let (agree, note) = match (lab, sim) {
        (None, None) => (true, String::new()),
        (Some((a, _)), Some(b)) => {
            let d = (a - b).abs();
            if d <= DEATH_TOL_MS {
                (true, String::new())
            } else {
                (
                    false,
                    format!("deaths differ by {d:.0} ms (> {DEATH_TOL_MS} ms)"),
                )
            }
        }
        (Some(_), None) => (false, "thaw keeps the socket alive".into()),
        (None, Some(_)) => (false, "the real socket stays alive".into()),
    };
    Check {
        what: "server socket (connection 0)".into(),
        lab: show_lab,
        thaw: show_sim,
        agree,
        note,
    }
}

/// A case's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check agrees.
    Agree,
    /// At least one check disagrees beyond tolerance.
    Disagree,
    /// thaw cannot load the scenario yet (accept mode).
    PendingModel,
    /// The lab or thaw failed to run the case.
    Error,
}

impl Verdict {
    /// From the checks.
    pub fn of(checks: &[Check]) -> Verdict {
        if checks.iter().all(|c| c.agree) {
            Verdict::Agree
        } else {
            Verdict::Disagree
        }
    }

    /// As printed.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Disagree => "DISAGREE",
            Verdict::PendingModel => "pending model",
            Verdict::Error => "ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(kinds_match("ECONNRESET", "ECONNRESET"));
        assert!(kinds_match("OK", "OK"));
        assert!(kinds_match("NO_ANSWER", "REQUEST_TIMEOUT"));
        assert!(kinds_match("NO_ANSWER", "FUNCTION_TIMEOUT"));
        assert!(kinds_match("SERVER_IDLE_CLOSED", "SERVER_IDLE_CLOSED"));
        assert!(!kinds_match("EOF", "SERVER_IDLE_CLOSED"));
        assert!(!kinds_match("ETIMEDOUT", "ECONNRESET"));
        assert!(!kinds_match("NO_ANSWER", "ETIMEDOUT"));
    }

    #[test]
    fn invocation_tolerance() {
        let lab = Outcome {
            kind: "ETIMEDOUT",
            ms: 1210.0,
        };
        assert!(
            check_invocation(
                "i",
                &lab,
                &Outcome {
                    kind: "ETIMEDOUT",
                    ms: 1204.0
                }
            )
            .agree
        );
        let c = check_invocation(
            "i",
            &lab,
            &Outcome {
                kind: "ETIMEDOUT",
                ms: 1000.0,
            },
        );
        assert!(!c.agree);
        assert!(c.note.contains("210.0 ms"), "{}", c.note);
        let c = check_invocation(
            "i",
            &lab,
            &Outcome {
                kind: "ECONNRESET",
                ms: 1210.0,
            },
        );
        assert!(!c.agree);
        assert_eq!(c.note, "different outcome");
    }

    #[test]
    fn death_tolerance() {
        assert!(check_death(None, None).agree);
        assert!(check_death(Some((3060.0, 25.0)), Some(2980.0)).agree);
        assert!(!check_death(Some((3060.0, 25.0)), Some(2900.0)).agree);
        assert!(!check_death(Some((3060.0, 25.0)), None).agree);
        assert!(!check_death(None, Some(10.0)).agree);
    }

    #[test]
    fn verdicts() {
        let ok = check_death(None, None);
        let bad = check_death(None, Some(1.0));
        assert_eq!(Verdict::of(std::slice::from_ref(&ok)), Verdict::Agree);
        assert_eq!(Verdict::of(&[ok, bad]), Verdict::Disagree);
    }
}
