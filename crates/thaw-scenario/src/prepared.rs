//! A scenario read and validated once, then rebuilt cheaply with values set
//! at key paths: the per-point path of sweeps, boundaries and property
//! checks. A point is set on the parsed TOML table and deserialized from
//! it (no text is parsed again); only a point that does not validate goes
//! through the text again, for diagnostics with file:line:col.
use crate::build::{build_file, load_with, LoadError, Scenario};
use crate::diag::{apply_overrides, key_path, Override, Seg};
use crate::file::ScenarioFile;
use crate::vary::{Vary, VaryValue};
use serde::Deserialize;

/// A validated scenario and its parsed document.
#[derive(Clone, Debug)]
pub struct Prepared {
    name: String,
    text: String,
    overrides: Vec<Override>,
    doc: toml::Table,
    /// `doc` without what no point can change and every point shares (the
    /// expectations, `[vary]`, the description): less to copy and read per
    /// point; those parts come from `base`.
    lean: toml::Table,
    base: Scenario,
    vary: Vec<Vary>,
}

impl Prepared {
    /// Loads `text` with `overrides` exactly as `thaw run` does (every
    /// problem reported at once), and keeps its parsed document.
    pub fn load(name: &str, text: &str, overrides: &[Override]) -> Result<Prepared, LoadError> {
        let base = load_with(name, text, overrides)?;
        let effective = apply_overrides(text, overrides).expect("validated above");
        let doc: toml::Table = toml::from_str(&effective).expect("validated above");
        let file: ScenarioFile =
            ScenarioFile::deserialize(toml::Value::Table(doc.clone())).expect("validated above");
        let vary = file
            .vary
            .iter()
            .map(|(p, s)| Vary::new(p, s).expect("validated by build"))
            .collect();
        let mut lean = doc.clone();
        lean.remove("expect");
        lean.remove("vary");
        if let Some(toml::Value::Table(meta)) = lean.get_mut("scenario") {
            meta.remove("description");
        }
        Ok(Prepared {
            lean,
            name: name.to_string(),
            text: text.to_string(),
            overrides: overrides.to_vec(),
            doc,
            base,
            vary,
        })
    }

    /// The scenario as loaded.
    pub fn scenario(&self) -> &Scenario {
        &self.base
    }

    /// The file's `[vary]` table.
    pub fn vary(&self) -> &[Vary] {
        &self.vary
    }

    /// The file name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The original text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The overrides applied when it was loaded.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The value the document holds at `path` (after the load's
    /// overrides), if any.
    pub fn value_at(&self, path: &str) -> Option<&toml::Value> {
        let segs = key_path(path).ok()?;
        let mut cur: Option<&toml::Value> = None;
        let mut table = Some(&self.doc);
        for seg in &segs {
            cur = match (seg, table, cur) {
                (Seg::Key(k), Some(t), _) => t.get(k),
                (Seg::Key(k), None, Some(toml::Value::Table(t))) => t.get(k),
                (Seg::Index(i), _, Some(toml::Value::Array(a))) => a.get(*i),
                _ => None,
            };
            table = None;
            cur?;
        }
        cur
    }

    /// The scenario with `values` set at their key paths. Valid points take
    /// the fast path; an invalid one is reported exactly as
    /// `thaw run FILE --set PATH=VALUE…` would report it.
    pub fn with(&self, values: &[(&str, &VaryValue)]) -> Result<Scenario, LoadError> {
        let tv: Vec<(&str, toml::Value)> = values.iter().map(|(p, v)| (*p, v.to_toml())).collect();
        self.with_toml(&tv)
    }

    /// Like [`Prepared::with`], with any TOML values (e.g. a whole
    /// `workload.at` list).
    pub fn with_toml(&self, values: &[(&str, toml::Value)]) -> Result<Scenario, LoadError> {
        // A varied key never lies in [expect], [vary] or the description
        // (`Vary::new` refuses them), so the lean document and the parsed
        // expectations of the load serve every point.
        let lean = values.iter().all(|(p, _)| {
            !p.starts_with("expect")
                && !p.starts_with("vary")
                && !p.starts_with("scenario.description")
        });
        let mut doc = if lean {
            self.lean.clone()
        } else {
            self.doc.clone()
        };
        let set_all = values
            .iter()
            .all(|(path, v)| set_value(&mut doc, path, v.clone()).is_some());
        if set_all {
            if let Ok(file) = ScenarioFile::deserialize(toml::Value::Table(doc)) {
                if let Ok(mut s) = build_file(&self.name, &self.text, file) {
                    if lean {
                        s.expectations = self.base.expectations.clone();
                        s.description = self.base.description.clone();
                    }
                    return Ok(s);
                }
            }
        }
        load_with(&self.name, &self.text, &self.all_overrides(values))
    }

    /// Whether `values` fit the file's shape (known keys, right types),
    /// without the semantic checks: what a varied key must satisfy before
    /// a sweep starts. A value that is well-formed but invalid at some
    /// point (a pool `min` above a varied `max`) is that point's result,
    /// not a reason to refuse the sweep.
    pub fn fits(&self, values: &[(&str, toml::Value)]) -> Result<(), LoadError> {
        let mut doc = self.doc.clone();
        let set_all = values
            .iter()
            .all(|(path, v)| set_value(&mut doc, path, v.clone()).is_some());
        if set_all && ScenarioFile::deserialize(toml::Value::Table(doc)).is_ok() {
            return Ok(());
        }
        load_with(&self.name, &self.text, &self.all_overrides(values)).map(|_| ())
    }

    fn all_overrides(&self, values: &[(&str, toml::Value)]) -> Vec<Override> {
        let mut all = self.overrides.clone();
        all.extend(
            values
                .iter()
                .map(|(p, v)| Override::Set(format!("{p}={v}"))),
        );
        all
    }

    /// The text of the scenario with `values` written in (comments and
    /// layout kept): a complete file that reproduces the point.
    pub fn text_with(&self, values: &[(&str, toml::Value)]) -> Result<String, LoadError> {
        apply_overrides(&self.text, &self.all_overrides(values)).map_err(|d| LoadError::new("", d))
    }
}

/// Sets `v` at `path` in `doc`, creating missing tables; `None` if the path
/// goes through something that is not a table or array.
fn set_value(doc: &mut toml::Table, path: &str, v: toml::Value) -> Option<()> {
    let segs = key_path(path).ok()?;
    let (last, parents) = segs.split_last()?;
    let mut cur: &mut toml::Value = {
        let Seg::Key(k) = &parents.first().unwrap_or(last) else {
            return None;
        };
        if parents.is_empty() {
            doc.insert(k.clone(), v);
            return Some(());
        }
        doc.entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    };
    for seg in parents.iter().skip(1) {
        cur = step(cur, seg)?;
    }
    match (last, cur) {
        (Seg::Key(k), toml::Value::Table(t)) => {
            t.insert(k.clone(), v);
            Some(())
        }
        (Seg::Index(i), toml::Value::Array(a)) if *i < a.len() => {
            a[*i] = v;
            Some(())
        }
        (Seg::Index(i), toml::Value::Array(a)) if *i == a.len() => {
            a.push(v);
            Some(())
        }
        _ => None,
    }
}

fn step<'a>(cur: &'a mut toml::Value, seg: &Seg) -> Option<&'a mut toml::Value> {
    match (seg, cur) {
        (Seg::Key(k), toml::Value::Table(t)) => Some(
            t.entry(k.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        ),
        (Seg::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_core::SimDuration;

    const TEXT: &str = r#"
[function]
reap_after = "300s"
[server]
idle_timeout = "60s"
[client]
requests = [{ name = "GET", timeout = "2s" }]
[workload]
at = ["0s", "95s"]
[vary]
"server.idle_timeout" = "1s..600s"
"#;

    #[test]
    fn fast_path_equals_the_text_path() {
        let p = Prepared::load("t.toml", TEXT, &[]).unwrap();
        assert_eq!(p.vary().len(), 1);
        let v = VaryValue::Duration(SimDuration::from_secs(310));
        let t = VaryValue::Duration(SimDuration::from_millis(500));
        let fast = p
            .with(&[
                ("server.idle_timeout", &v),
                ("client.requests[0].timeout", &t),
            ])
            .unwrap();
        let slow = load_with(
            "t.toml",
            TEXT,
            &p.all_overrides(&[
                ("server.idle_timeout", v.to_toml()),
                ("client.requests[0].timeout", t.to_toml()),
            ]),
        )
        .unwrap();
        assert_eq!(format!("{:?}", fast.config), format!("{:?}", slow.config));
        assert_eq!(
            fast.config.servers[0].idle_timeout,
            Some(SimDuration::from_secs(310))
        );
        assert_eq!(
            p.value_at("server.idle_timeout"),
            Some(&toml::Value::String("60s".into()))
        );
        assert!(p.value_at("server.nope").is_none());
    }

    #[test]
    fn an_invalid_point_gets_the_diagnostics_of_run() {
        let p = Prepared::load("t.toml", TEXT, &[]).unwrap();
        let bad = VaryValue::Int(5);
        let e = p.with(&[("server.idle_timeout", &bad)]).unwrap_err();
        assert!(
            e.render().contains("durations need a unit"),
            "{}",
            e.render()
        );
        let e = p
            .with(&[("server.idle_timout", &VaryValue::Int(5))])
            .unwrap_err();
        assert!(
            e.render().contains("did you mean `idle_timeout`"),
            "{}",
            e.render()
        );
    }
}
