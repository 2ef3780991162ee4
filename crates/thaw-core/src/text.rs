//! Small text helpers shared by every user-facing message.

/// The candidate closest to `unknown`, for a "did you mean" hint: an exact
/// match ignoring case, else the best Jaro-Winkler similarity of at least
/// 0.8; `None` when nothing is close.
pub fn did_you_mean<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = unknown.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = if c.to_lowercase() == lower {
            1.0
        } else {
            strsim::jaro_winkler(unknown, c)
        };
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_close_names_only() {
        let keys = ["idle_timeout", "service_time", "max_connections"];
        assert_eq!(
            did_you_mean("idle_timout", keys),
            Some("idle_timeout".into())
        );
        assert_eq!(
            did_you_mean("IDLE_TIMEOUT", keys),
            Some("idle_timeout".into())
        );
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
