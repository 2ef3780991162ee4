//! `thaw config`: the fully resolved scenario. Every key of every table the
//! scenario has, with the value it finally takes after presets, defaults and
//! `--set`/`--unset`, and where that value came from.
//!
//! How it stays exact: a key the file (or `--set`) writes is reported as
//! written, untouched; a key it does not write gets the value the loader
//! built ([`Scenario::config`]), mapped back to the key's own spelling. Its
//! origin is a preset's when that value differs from what the table would
//! have without the preset (the generic server, the middlebox base; a pool
//! or a library has no base, so all of its knobs are its preset's), else
//! thaw's default. A key whose value no value of the key can state (a pool
//! preset's "no idle timeout") is shown as a comment; a key that does not
//! apply where it is (a PgBouncer key on an RDS Proxy) is left out, with
//! its reason in [`Resolved::omitted`]. Tests load the output back and
//! require the same configuration and the same trace for every bundled
//! scenario and every preset, and require every key path of the format to
//! be handled (`resolve_tests.rs`).
use crate::build::{load_with, middlebox_base, LoadError, Scenario};
use crate::diag::{apply_overrides, format_path, key_path, Diagnostic, Locator, Override, Seg};
use thaw_client::{Evictor, IdleCheck, InFlight, Reconnect};
use thaw_core::{Dist, SimDuration};
use thaw_net::{Keepalive, TcpConfig};
use thaw_sim::{
    ClientConfig, Extension, FrozenKernel, HandlerKind, IdleClose, NamedMiddlebox, NetworkConfig,
    Placement, PlatformConfig, PoolMode, PoolSettings, ProxyConfig, ProxyKind, RequestOp,
    RequestSpec, RetrySettings, ServerConfig, ServerKind, ServerLocation, SourceIp, Strategy,
    ThawOrder, TlsSettings, Validation,
};
use toml::{Table, Value};

/// Where a resolved value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Written in the scenario file, at this 1-based line (`None` if it
    /// cannot be placed).
    File {
        /// The line.
        line: Option<usize>,
    },
    /// Given on the command line with `--set`.
    Set {
        /// The argument, `PATH=VALUE`.
        arg: String,
    },
    /// Supplied by a preset.
    Preset {
        /// The preset's name as the file writes it (`redis7`, `mysql2`).
        name: String,
        /// The key that names the preset (`server.preset`).
        key: String,
    },
    /// thaw's default.
    Default,
}

impl Source {
    /// As the TOML output's comments say it: `FILE:LINE`, `--set`,
    /// `preset NAME`, `default`.
    pub fn describe(&self, file: &str) -> String {
        match self {
            Source::File { line: Some(l) } => format!("{file}:{l}"),
            Source::File { line: None } => file.to_string(),
            Source::Set { .. } => "--set".to_string(),
            Source::Preset { name, .. } => format!("preset {name}"),
            Source::Default => "default".to_string(),
        }
    }

    fn json(&self, file: &str) -> serde_json::Value {
        use serde_json::json;
        match self {
            Source::File { line } => json!({ "kind": "file", "file": file, "line": line }),
            Source::Set { arg } => json!({ "kind": "set", "arg": arg }),
            Source::Preset { name, key } => json!({ "kind": "preset", "name": name, "key": key }),
            Source::Default => json!({ "kind": "default" }),
        }
    }
}

/// One resolved key.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedKey {
    /// Its path as `--set` writes it (`servers[0].tcp.keepalive.idle`).
    pub path: String,
    /// Its value as the TOML output writes it; `None` when no value of the
    /// key can state it (then `shown` and `note` say what it is).
    pub value: Option<Value>,
    /// What the value is, for a key without `value` (`none`).
    pub shown: Option<String>,
    /// Where the value came from.
    pub source: Source,
    /// Why the key has no `value`.
    pub note: Option<String>,
}

/// A key of a table the scenario has that does not apply there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Omitted {
    /// Its path (a key, or a whole table).
    pub path: String,
    /// Why it is left out.
    pub reason: String,
}

/// One table of the output, with its keys (indices into `keys`).
#[derive(Clone, Debug)]
struct TableOut {
    header: String,
    array: bool,
    keys: Vec<usize>,
}

/// The fully resolved scenario: [`Resolved::toml`] and [`Resolved::json`].
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The scenario file as named on the command line.
    pub file: String,
    /// The `--set`/`--unset` arguments, in order.
    pub overrides: Vec<Override>,
    /// Every key, in output order: tables as in docs/scenario-format.md,
    /// keys in the order of their table there.
    pub keys: Vec<ResolvedKey>,
    /// Keys (and tables) that do not apply where they are, with why.
    pub omitted: Vec<Omitted>,
    /// Key paths no rule of `thaw config` handles (always empty; a test
    /// keeps it so).
    pub unknown: Vec<String>,
    /// Settings that load but cannot act, as `thaw run` warns of them
    /// (rendered against the file's text).
    pub warnings: crate::diag::Diagnostics,
    tables: Vec<TableOut>,
    schema_line: Option<String>,
}

/// Resolves a scenario: loads it exactly as `thaw run` does (the same
/// diagnostics on error), then reports every key with its value and origin.
pub fn resolve(file: &str, text: &str, overrides: &[Override]) -> Result<Resolved, LoadError> {
    let scenario = load_with(file, text, overrides)?;
    let internal = |message: String| {
        LoadError::new(
            "",
            Diagnostic::at(file, "", 0..0, format!("thaw config: {message}")).into(),
        )
    };
    // The scenario loaded, so neither step can fail; an error is still an
    // error, never a panic.
    let with_sets = apply_overrides(text, overrides).map_err(|d| LoadError::new("", d))?;
    let doc: Table = toml::from_str(&with_sets).map_err(|e| internal(e.to_string()))?;
    let mut cx = Cx {
        prov: Prov {
            orig: Locator::new(text),
            overrides,
        },
        keys: Vec::new(),
        omitted: Vec::new(),
        unknown: Vec::new(),
        tables: Vec::new(),
    };
    cx.scenario(&scenario, &doc);
    let schema_line = text
        .lines()
        .next()
        .filter(|l| l.starts_with("#:schema "))
        .map(str::to_string);
    Ok(Resolved {
        file: file.to_string(),
        overrides: overrides.to_vec(),
        keys: cx.keys,
        omitted: cx.omitted,
        unknown: cx.unknown,
        warnings: scenario.warnings,
        tables: cx.tables,
        schema_line,
    })
}

// ---------------------------------------------------------------------------
// Provenance of written keys
// ---------------------------------------------------------------------------

struct Prov<'a> {
    /// The file as written, to place its keys.
    orig: Locator<'a>,
    overrides: &'a [Override],
}

impl Prov<'_> {
    /// Where a key present in the text with the overrides applied came
    /// from: the last `--set` that wrote it (or wrote into it, or over it),
    /// else the file, at the path it had before `--unset`s of array elements
    /// moved it.
    fn of(&self, path: &[Seg]) -> Source {
        let mut path = path.to_vec();
        for o in self.overrides.iter().rev() {
            match o {
                Override::Set(arg) => {
                    let at = arg.split_once('=').map_or(arg.as_str(), |(p, _)| p);
                    if let Ok(s) = key_path(at) {
                        if path.starts_with(&s) || s.starts_with(&path) {
                            return Source::Set { arg: arg.clone() };
                        }
                    }
                }
                Override::Unset(at) => {
                    if let Ok(s) = key_path(at) {
                        if let Some((Seg::Index(gone), parent)) = s.split_last() {
                            if path.len() > parent.len() && path.starts_with(parent) {
                                if let Seg::Index(j) = &mut path[parent.len()] {
                                    if *j >= *gone {
                                        *j += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Source::File {
            line: self.orig.line_of(&path),
        }
    }
}

// ---------------------------------------------------------------------------
// Values in the file's spelling
// ---------------------------------------------------------------------------

/// What a key not written in the file resolves to.
#[derive(Clone, Debug, PartialEq)]
enum Fill {
    /// A value; a preset's when it differs from the table's base.
    Val(Value),
    /// A value that is thaw's default whatever the preset.
    Default(Value),
    /// A value that follows from another key (its source).
    From(Value, Source),
    /// A value no value of the key can state: what it is, and why.
    Note(String, &'static str),
    /// The key does not apply here: why.
    Skip(&'static str),
    /// A sub-table, resolved by its own section.
    Sub,
    /// No rule: a bug (a test keeps every key handled).
    Unknown,
}

fn dv(d: SimDuration) -> Value {
    Value::String(d.to_string())
}

/// An optional duration whose absence the key spells `"0s"`.
fn off(d: Option<SimDuration>) -> Value {
    dv(d.unwrap_or(SimDuration::ZERO))
}

fn int(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

fn big(n: u64) -> Value {
    i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::Integer)
}

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

fn inline(pairs: &[(&str, Value)]) -> Value {
    Value::Table(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn dist(d: &Dist) -> Fill {
    match d {
        Dist::Fixed(x) => Fill::Val(dv(*x)),
        Dist::Exponential { mean } => Fill::Val(inline(&[("exponential", dv(*mean))])),
        Dist::LogNormal { median, sigma } => Fill::Val(inline(&[(
            "lognormal",
            inline(&[("median", dv(*median)), ("sigma", Value::Float(*sigma))]),
        )])),
        Dist::Uniform { lo, hi } => {
            Fill::Val(inline(&[("uniform", Value::Array(vec![dv(*lo), dv(*hi)]))]))
        }
        // Only a file names an empirical file, and written keys are kept.
        Dist::Empirical(_) => Fill::Note(
            "an empirical distribution".into(),
            "its file is named where it is written",
        ),
    }
}

fn strategy_name(st: Strategy) -> &'static str {
    match st {
        Strategy::Global => "global",
        Strategy::PerInvocation => "per_invocation",
        Strategy::Pool => "pool",
        Strategy::Http => "http",
    }
}

fn op_name(op: RequestOp) -> &'static str {
    match op {
        RequestOp::Ping => "ping",
        RequestOp::Read(_) => "read",
        RequestOp::Write(_) => "write",
        RequestOp::Begin => "begin",
        RequestOp::Commit => "commit",
        RequestOp::Rollback => "rollback",
        RequestOp::Quit => "quit",
    }
}

const NO_NONE: &str = "no value of the key means none";

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// One table of the scenario being resolved.
struct Sec<'w> {
    /// Its path, indices included.
    at: Vec<Seg>,
    /// What the file (with the overrides) writes in it.
    written: Option<&'w Table>,
    /// The preset its unwritten keys may come from: name as written, and
    /// the path of the key naming it.
    preset: Option<(String, String)>,
}

impl<'w> Sec<'w> {
    fn new(at: Vec<Seg>, written: Option<&'w Table>) -> Self {
        Sec {
            at,
            written,
            preset: None,
        }
    }

    fn has(&self, key: &str) -> bool {
        self.written.is_some_and(|t| t.contains_key(key))
    }

    fn get(&self, key: &str) -> Option<&'w Value> {
        self.written.and_then(|t| t.get(key))
    }

    fn path(&self, key: &str) -> Vec<Seg> {
        let mut p = self.at.clone();
        p.push(Seg::Key(key.to_string()));
        p
    }

    /// Takes the preset its `preset` key names, if written.
    fn with_preset(mut self) -> Self {
        if let Some(name) = self.get("preset").and_then(Value::as_str) {
            self.preset = Some((name.to_string(), format_path(&self.path("preset"))));
        }
        self
    }

    /// The sub-table `key` (written as a table or inline).
    fn sub(&self, key: &str) -> Sec<'w> {
        Sec::new(self.path(key), self.get(key).and_then(Value::as_table))
    }

    /// The elements of the array of tables `key`.
    fn elems(&self, key: &str) -> Vec<&'w Table> {
        match self.get(key) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_table).collect(),
            _ => Vec::new(),
        }
    }

    fn elem(&self, key: &str, i: usize, t: Option<&'w Table>) -> Sec<'w> {
        let mut at = self.path(key);
        at.push(Seg::Index(i));
        Sec::new(at, t)
    }
}

struct Cx<'a> {
    prov: Prov<'a>,
    keys: Vec<ResolvedKey>,
    omitted: Vec<Omitted>,
    unknown: Vec<String>,
    tables: Vec<TableOut>,
}

impl Cx<'_> {
    /// Starts a table of the output (`[server.tcp]`, `[[servers]]`).
    fn open(&mut self, sec: &Sec, array: bool) {
        let header: Vec<Seg> = sec
            .at
            .iter()
            .filter(|s| matches!(s, Seg::Key(_)))
            .cloned()
            .collect();
        self.tables.push(TableOut {
            header: format_path(&header),
            array,
            keys: Vec::new(),
        });
    }

    fn push(&mut self, k: ResolvedKey) {
        let i = self.keys.len();
        self.keys.push(k);
        if let Some(t) = self.tables.last_mut() {
            t.keys.push(i);
        }
    }

    fn skip(&mut self, path: Vec<Seg>, reason: &str) {
        self.omitted.push(Omitted {
            path: format_path(&path),
            reason: reason.to_string(),
        });
    }

    /// One key: as written, else its fill (`base`: what it would be
    /// without the table's preset).
    fn key(&mut self, sec: &Sec, key: &str, fill: Fill, base: Option<Fill>) {
        if fill == Fill::Sub {
            return;
        }
        let path = sec.path(key);
        if let Some(v) = sec.get(key) {
            let source = self.prov.of(&path);
            self.push(ResolvedKey {
                path: format_path(&path),
                value: Some(v.clone()),
                shown: None,
                source,
                note: None,
            });
            return;
        }
        let origin = match &sec.preset {
            Some((name, at)) if base.as_ref() != Some(&fill) => Source::Preset {
                name: name.clone(),
                key: at.clone(),
            },
            _ => Source::Default,
        };
        let (value, shown, source, note) = match fill {
            Fill::Val(v) => (Some(v), None, origin, None),
            Fill::Default(v) => (Some(v), None, Source::Default, None),
            Fill::From(v, src) => (Some(v), None, src, None),
            Fill::Note(shown, why) => (None, Some(shown), origin, Some(why.to_string())),
            Fill::Skip(why) => return self.skip(path, why),
            Fill::Unknown => return self.unknown.push(format_path(&path)),
            Fill::Sub => return,
        };
        self.push(ResolvedKey {
            path: format_path(&path),
            value,
            shown,
            source,
            note,
        });
    }

    /// The keys `list` of one table: `f` on the resolved value, and on the
    /// base the preset is compared with.
    fn keys<C: ?Sized>(
        &mut self,
        sec: &Sec,
        list: &[&str],
        actual: &C,
        base: Option<&C>,
        f: impl Fn(&C, &str, &Sec) -> Fill,
    ) {
        for k in list {
            let a = f(actual, k, sec);
            let b = base.map(|b| f(b, k, sec));
            self.key(sec, k, a, b);
        }
    }

    // -----------------------------------------------------------------------
    // Sections, in the order of docs/scenario-format.md
    // -----------------------------------------------------------------------

    fn scenario(&mut self, sc: &Scenario, doc: &Table) {
        let root = Sec::new(Vec::new(), Some(doc));
        let cfg = &sc.config;

        let sec = root.sub("scenario");
        self.open(&sec, false);
        self.keys(&sec, SCENARIO, sc, None, |sc, k, _| match k {
            "name" => Fill::Val(s(&sc.config.name)),
            "description" => Fill::Val(s(&sc.description)),
            "seed" => Fill::Val(big(sc.config.seed)),
            _ => Fill::Unknown,
        });

        let sec = root.sub("run");
        self.open(&sec, false);
        self.keys(&sec, RUN, cfg, None, |c, k, _| match k {
            "event_budget" => Fill::Val(big(c.event_budget)),
            _ => Fill::Unknown,
        });

        let any = |st: Strategy| {
            (0..cfg.servers.len().max(1)).any(|t| cfg.client.strategy_of(t as u16) == st)
        };
        let (any_pool, any_http) = (any(Strategy::Pool), any(Strategy::Http));
        self.function(&root.sub("function"), &cfg.platform, any_pool);
        let names: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
        self.client(&root.sub("client"), &cfg.client, any_http, &names);
        self.handlers(&root, cfg, &names);
        self.network(&root.sub("network"), &cfg.network, cfg);
        self.middleboxes(&root, &cfg.middleboxes);
        self.servers(&root, &cfg.servers, !cfg.middleboxes.is_empty());
        self.proxies(&root, &cfg.proxies, &names);
        self.workload(&root.sub("workload"));

        let sec = root.sub("expect");
        self.open(&sec, false);
        self.keys(&sec, EXPECT, &(), None, |_, k, _| match k {
            "assert" => Fill::Val(Value::Array(Vec::new())),
            _ => Fill::Unknown,
        });

        // Keys are key paths: no default, nothing to resolve.
        let sec = root.sub("vary");
        if let Some(t) = sec.written.filter(|t| !t.is_empty()) {
            self.open(&sec, false);
            for k in t.keys() {
                self.key(&sec, k, Fill::Unknown, None);
            }
        }
    }

    fn function(&mut self, sec: &Sec, pl: &PlatformConfig, any_pool: bool) {
        self.open(sec, false);
        let base = PlatformConfig::default();
        self.keys(sec, FUNCTION, pl, Some(&base), |pl, k, sec| match k {
            "memory_mb" => Fill::Val(int(pl.memory_mb)),
            "timeout" => Fill::Val(dv(pl.timeout)),
            "init_duration" => dist(&pl.init_duration),
            "handler_time" => dist(&pl.handler_time),
            "extension" => Fill::Val(s(match pl.extension {
                Extension::None => "none",
                Extension::Internal => "internal",
                Extension::External => "external",
            })),
            "freeze_delay" => Fill::Val(dv(pl.freeze_delay)),
            "reap_after" if sec.has("reap_after_min") || sec.has("reap_after_max") => {
                Fill::Skip("`reap_after_min` and `reap_after_max` give it")
            }
            "reap_after" => dist(&pl.reap),
            "reap_after_min" | "reap_after_max" => {
                Fill::Skip("`reap_after` gives the idle lifetime (`{ uniform = [min, max] }` is the same draw)")
            }
            "frozen_kernel" => Fill::Val(s(match pl.frozen_kernel {
                FrozenKernel::Silent => "silent",
                FrozenKernel::Running => "running",
            })),
            "thaw_order" => Fill::Val(s(match pl.thaw_order {
                ThawOrder::HandlerFirst => "handler_first",
                ThawOrder::EventsFirst => "events_first",
            })),
            "max_concurrency" => Fill::Val(int(pl.max_concurrency)),
            "provisioned_concurrency" => Fill::Val(int(pl.provisioned)),
            "scale_rate" => {
                let (count, per) = pl.scale_rate.unwrap_or((0, SimDuration::ZERO));
                Fill::Val(inline(&[("count", int(count)), ("per", dv(per))]))
            }
            "placement" => Fill::Val(s(match pl.placement {
                Placement::MostRecent => "most_recent",
                Placement::LeastRecent => "least_recent",
                Placement::NewestCreated => "newest_created",
            })),
            "handler" => Fill::Val(s(match pl.handler {
                HandlerKind::Async => "async",
                HandlerKind::Callback { .. } => "callback",
            })),
            "callback_waits_for_empty_event_loop" => match pl.handler {
                HandlerKind::Callback {
                    waits_for_empty_event_loop: w,
                } => Fill::Val(Value::Boolean(w)),
                HandlerKind::Async => Fill::Skip("only with handler = \"callback\""),
            },
            "handler_rejects_after" if !any_pool => {
                Fill::Skip("only with strategy = \"pool\"")
            }
            "handler_rejects_after" => match pl.handler_rejects_after {
                Some(d) => Fill::Val(dv(d)),
                None => Fill::Note("none".into(), NO_NONE),
            },
            "tcp" | "snapstart" => Fill::Sub,
            _ => Fill::Unknown,
        });
        match &pl.snapstart {
            Some(ss) => self.snapstart(&sec.sub("snapstart"), ss),
            None => self.skip(
                sec.path("snapstart"),
                "no [function.snapstart]: every new environment runs init",
            ),
        }
        self.tcp(&sec.sub("tcp"), &pl.tcp, &TcpConfig::default());
    }

    /// `[*.tcp]` and its keepalive; `base` is the TCP of the table without
    /// its preset (the preset's keepalive is its only difference).
    fn tcp(&mut self, sec: &Sec, t: &TcpConfig, base: &TcpConfig) {
        self.open(sec, false);
        self.keys(sec, TCP, t, Some(base), |t, k, _| match k {
            "rto_min" => Fill::Val(dv(t.rto_min)),
            "rto_max" => Fill::Val(dv(t.rto_max)),
            "rto_initial" => Fill::Val(dv(t.rto_initial)),
            "retries2" => Fill::Val(int(t.retries2)),
            "orphan_retries" => Fill::Val(int(t.orphan_retries)),
            "syn_retries" => Fill::Val(int(t.syn_retries)),
            "syn_linear_timeouts" => Fill::Val(int(t.syn_linear_timeouts)),
            "synack_retries" => Fill::Val(int(t.synack_retries)),
            "fin_timeout" => Fill::Val(dv(t.fin_timeout)),
            "time_wait" => Fill::Val(dv(t.time_wait)),
            "user_timeout" => Fill::Val(off(t.user_timeout)),
            "tail_loss_probe" => Fill::Val(Value::Boolean(t.tail_loss_probe)),
            "retrans_collapse" => Fill::Val(Value::Boolean(t.retrans_collapse)),
            "timer_wheel" => Fill::Val(Value::Boolean(t.timer_wheel)),
            "hz" => Fill::Val(int(t.hz.unwrap_or(0))),
            "keepalive" => Fill::Sub,
            _ => Fill::Unknown,
        });
        let mut ka = Sec::new(
            sec.path("keepalive"),
            sec.get("keepalive").and_then(Value::as_table),
        );
        // A written table's missing keys are Linux's, not the preset's.
        ka.preset = if ka.written.is_some() {
            None
        } else {
            sec.preset.clone()
        };
        self.open(&ka, false);
        self.keys(
            &ka,
            KEEPALIVE,
            &t.keepalive,
            Some(&base.keepalive),
            |k, key, _| {
                let on = |f: fn(&Keepalive) -> Value| match k {
                    Some(k) => Fill::Val(f(k)),
                    None => Fill::Skip("keepalive is off"),
                };
                match key {
                    "enabled" => Fill::Val(Value::Boolean(k.is_some())),
                    "idle" => on(|k| dv(k.idle)),
                    "interval" => on(|k| dv(k.interval)),
                    "count" => on(|k| int(k.count)),
                    _ => Fill::Unknown,
                }
            },
        );
    }

    fn client(&mut self, sec: &Sec, cl: &ClientConfig, any_http: bool, names: &[&str]) {
        self.open(sec, false);
        let base = ClientConfig::default();
        self.keys(sec, CLIENT, cl, Some(&base), |cl, k, _| match k {
            "strategy" => Fill::Val(s(strategy_name(cl.strategy))),
            "connect_cpu" => dist(&cl.connect_cpu),
            "connect_timeout" => match cl.connect_timeout {
                Some(d) => Fill::Val(dv(d)),
                None => Fill::Note(
                    "none".into(),
                    "the kernel's SYN retries decide; no value of the key means none",
                ),
            },
            "autocommit" => Fill::Val(Value::Boolean(cl.autocommit)),
            "isolation" => Fill::Val(s(cl.isolation.name())),
            "read_routing" => Fill::Val(s(match cl.read_routing {
                thaw_db::ReadRouting::Primary => "primary",
                thaw_db::ReadRouting::Replica(_) => "replica",
                thaw_db::ReadRouting::RoundRobin => "round_robin",
            })),
            "requests" if cl.requests.is_empty() => Fill::Val(Value::Array(Vec::new())),
            "http_overhead" if !any_http => Fill::Skip("only with strategy = \"http\""),
            "http_overhead" => Fill::Val(dv(cl.http_overhead)),
            "requests" | "pool" | "retry" | "targets" | "library" | "tls" => Fill::Sub,
            _ => Fill::Unknown,
        });
        // [client.targets.NAME]: the servers the file names.
        let targets = sec.sub("targets");
        for (name, t) in targets.written.into_iter().flatten() {
            let i = names.iter().position(|n| n == name).unwrap_or(0);
            let t_sec = Sec::new(targets.path(name), t.as_table());
            self.open(&t_sec, false);
            let st = cl.strategy_of(i as u16);
            self.keys(&t_sec, TARGET, &st, None, |st, k, _| match k {
                "strategy" => Fill::Val(s(strategy_name(*st))),
                _ => Fill::Unknown,
            });
        }
        let written = sec.elems("requests");
        for (i, r) in cl.requests.iter().enumerate() {
            self.request(&sec.elem("requests", i, written.get(i).copied()), r, names);
        }
        match &cl.tls {
            Some(t) => self.tls(&sec.sub("tls"), t),
            None => self.skip(sec.path("tls"), "no [client.tls]: plain TCP"),
        }
        match &cl.library {
            Some(l) => self.library(&sec.sub("library").with_preset(), &l.config),
            None => self.skip(
                sec.path("library"),
                "no [client.library]: thaw's plain client",
            ),
        }
        self.retry(&sec.sub("retry"), &cl.retry);
        match &cl.pool {
            Some(p) => self.pool(&sec.sub("pool").with_preset(), p),
            None => self.skip(sec.path("pool"), "only with strategy = \"pool\""),
        }
    }

    fn request(&mut self, sec: &Sec, r: &RequestSpec, names: &[&str]) {
        self.open(sec, true);
        let base = RequestSpec::ping(&r.name);
        self.keys(sec, REQUEST, r, Some(&base), |r, k, _| match k {
            "name" => Fill::Val(s(&r.name)),
            "timeout" => match r.timeout {
                Some(d) => Fill::Val(dv(d)),
                None => Fill::Note(
                    "none".into(),
                    "the reply waits for TCP; no value of the key means none",
                ),
            },
            "op" => Fill::Val(s(op_name(r.op))),
            "key" => match r.op {
                RequestOp::Read(key) | RequestOp::Write(key) => Fill::Val(big(key)),
                _ => Fill::Skip("only `read` and `write` take a key"),
            },
            "pin" => Fill::Val(Value::Boolean(r.pin)),
            "target" => Fill::Val(s(names.get(r.target as usize).copied().unwrap_or("server"))),
            "idempotent" => Fill::Val(Value::Boolean(r.idempotent)),
            "writes" => Fill::Val(int(r.writes)),
            "write_gap" => Fill::Val(dv(r.write_gap)),
            "work_after" => Fill::Val(dv(r.work_after)),
            "await" => Fill::Val(Value::Boolean(r.await_reply)),
            _ => Fill::Unknown,
        });
    }

    fn snapstart(&mut self, sec: &Sec, ss: &thaw_sim::config::SnapStart) {
        self.open(sec, false);
        let base = thaw_sim::config::SnapStart::default();
        self.keys(sec, SNAPSTART, ss, Some(&base), |ss, k, _| match k {
            "restore_duration" => dist(&ss.restore_duration),
            "init_connects" => Fill::Val(Value::Boolean(ss.init_connects)),
            "after_restore" => Fill::Val(s(match ss.after_restore {
                thaw_sim::config::AfterRestore::None => "none",
                thaw_sim::config::AfterRestore::Reconnect => "reconnect",
            })),
            _ => Fill::Unknown,
        });
    }

    fn tls(&mut self, sec: &Sec, t: &TlsSettings) {
        self.open(sec, false);
        self.keys(sec, TLS, t, None, |t, k, _| match k {
            "version" => Fill::Val(s(t.version)),
            "cpu" => Fill::Val(dv(t.cpu)),
            "resumption" => Fill::Val(Value::Boolean(t.resumption)),
            "session_lifetime" | "resume_cpu" if !t.resumption => {
                Fill::Skip("acts only with resumption = true")
            }
            "session_lifetime" => Fill::Val(dv(t.session_lifetime)),
            "resume_cpu" => Fill::Val(dv(t.resume_cpu)),
            "server_cpu" => Fill::Val(dv(t.server_cpu)),
            "close_notify" => Fill::Val(Value::Boolean(t.close_notify)),
            _ => Fill::Unknown,
        });
    }

    fn library(&mut self, sec: &Sec, c: &thaw_client::LibConfig) {
        self.open(sec, false);
        self.keys(sec, LIBRARY, c, None, |c, k, sec| match k {
            // Required: always written.
            "preset" => Fill::Unknown,
            "reconnect" => match c.reconnect {
                Reconnect::Never => Fill::Val(s("never")),
                Reconnect::OnNextUse => Fill::Val(s("on_next_use")),
                Reconnect::Backoff(_) => Fill::Val(s("backoff")),
                Reconnect::IdleAfterBackoff(_) => Fill::Note(
                    "idle after a backoff (gRPC)".into(),
                    "never, on_next_use and backoff each replace it",
                ),
            },
            "offline_queue" => Fill::Val(Value::Boolean(c.offline_queue)),
            "in_flight" => Fill::Val(s(match c.in_flight {
                InFlight::Reject => "reject",
                InFlight::Resend => "resend",
                InFlight::Retry { .. } => "retry",
            })),
            "retries" => match c.in_flight {
                InFlight::Retry { max, .. } => Fill::Val(int(max)),
                _ => Fill::Skip("only with in_flight = \"retry\""),
            },
            "max_retries_per_request" => Fill::Val(int(c.max_retries_per_request.unwrap_or(0))),
            "connect_timeout" => Fill::Val(off(c.connect_timeout)),
            "command_timeout" => Fill::Val(off(c.command_timeout)),
            "ping_interval" => Fill::Val(off(c.ping_interval)),
            "ping_timeout" => match (c.ping_interval, c.ping_timeout) {
                (None, Some(d)) => Fill::Note(
                    d.to_string(),
                    "inert without ping_interval, and the key needs ping_interval",
                ),
                (_, d) => Fill::Val(off(d)),
            },
            // One check before a command: `health_check_interval` states
            // "none" ("0s"), `max_idle` only its own check.
            "health_check_interval" if sec.has("max_idle") => {
                Fill::Skip("`max_idle` is the check before a command")
            }
            "health_check_interval" => match c.idle_check {
                IdleCheck::Ping { after } => Fill::Val(dv(after)),
                IdleCheck::None => Fill::Val(dv(SimDuration::ZERO)),
                IdleCheck::MaxIdle { .. } => Fill::Skip("`max_idle` is the check before a command"),
                IdleCheck::Peek { .. } => Fill::Note(
                    "the preset's peek".into(),
                    "a value of the key replaces the peek",
                ),
            },
            "max_idle" if sec.has("health_check_interval") => {
                Fill::Skip("`health_check_interval` is the check before a command")
            }
            "max_idle" => match c.idle_check {
                IdleCheck::MaxIdle { max_idle } => Fill::Val(dv(max_idle)),
                IdleCheck::Peek { .. } => Fill::Note(
                    "the preset's peek".into(),
                    "a value of the key replaces the peek",
                ),
                IdleCheck::None | IdleCheck::Ping { .. } => {
                    Fill::Skip("`health_check_interval` is the check before a command")
                }
            },
            "idle_close" => Fill::Val(off(c.idle_close)),
            _ => Fill::Unknown,
        });
    }

    fn retry(&mut self, sec: &Sec, r: &RetrySettings) {
        self.open(sec, false);
        self.keys(sec, RETRY, r, None, |r, k, _| match k {
            "count" => Fill::Val(int(r.count)),
            "backoff" => Fill::Val(dv(r.backoff)),
            "backoff_max" => match r.backoff_max {
                Some(d) => Fill::Val(dv(d)),
                None => Fill::Note(
                    "none".into(),
                    "a fixed backoff; no value of the key means none",
                ),
            },
            "on" => Fill::Val(Value::Array(r.on.iter().map(|k| s(k.name())).collect())),
            _ => Fill::Unknown,
        });
    }

    fn pool(&mut self, sec: &Sec, ps: &PoolSettings) {
        self.open(sec, false);
        self.keys(sec, POOL, ps, None, |ps, k, _| {
            let c = &ps.config;
            match k {
                // Required: always written.
                "preset" => Fill::Unknown,
                "max" => Fill::Val(int(c.max)),
                "min" => Fill::Val(int(c.min)),
                "idle_timeout" => match c.idle_timeout {
                    Some(d) => Fill::Val(dv(d)),
                    None => Fill::Note(
                        "none".into(),
                        "no value of the key means none (\"0s\" is: at the next sweep)",
                    ),
                },
                "acquire_timeout" => Fill::Val(off(c.acquire_timeout)),
                "evict" => match c.evictor {
                    Evictor::None => Fill::Val(dv(SimDuration::ZERO)),
                    Evictor::FixedInterval(d) | Evictor::ReArmed(d) => Fill::Val(dv(d)),
                    Evictor::Median { interval, .. } => Fill::Val(dv(interval)),
                    Evictor::PerConnection => Fill::Note(
                        "a timer per idle connection".into(),
                        "a value of the key replaces them with a sweep",
                    ),
                },
                "max_lifetime" => Fill::Val(off(c.max_lifetime)),
                "validation" => Fill::Val(s(match c.validation {
                    Validation::None => "none",
                    Validation::Flag => "flag",
                    Validation::LivenessPeek => "peek",
                    Validation::Ping => "ping",
                })),
                "order" => Fill::Val(s(match c.order {
                    thaw_sim::IdleOrder::Lifo => "lifo",
                    thaw_sim::IdleOrder::Fifo => "fifo",
                })),
                "ping_timeout" => Fill::Val(off(c.ping_timeout)),
                "keepalive_query" => Fill::Val(off(c.keepalive_query)),
                "close_after_invocation" => {
                    Fill::Default(Value::Boolean(ps.close_after_invocation))
                }
                "reset_at_start" => Fill::Default(Value::Boolean(ps.reset_at_start)),
                _ => Fill::Unknown,
            }
        });
    }

    fn handlers(&mut self, root: &Sec, cfg: &thaw_sim::SimConfig, names: &[&str]) {
        let written = root.elems("handlers");
        for (i, h) in cfg.client.handlers.iter().enumerate() {
            let sec = root.elem("handlers", i, written.get(i).copied());
            self.open(&sec, true);
            self.keys(&sec, HANDLER, h, None, |h, k, _| match k {
                "name" => Fill::Val(s(&h.name)),
                "requests" if h.requests.is_empty() => Fill::Val(Value::Array(Vec::new())),
                "requests" => Fill::Sub,
                _ => Fill::Unknown,
            });
            let reqs = sec.elems("requests");
            for (j, r) in h.requests.iter().enumerate() {
                self.request(&sec.elem("requests", j, reqs.get(j).copied()), r, names);
            }
        }
    }

    fn network(&mut self, sec: &Sec, net: &NetworkConfig, cfg: &thaw_sim::SimConfig) {
        self.open(sec, false);
        let base = NetworkConfig::default();
        self.keys(sec, NETWORK, net, Some(&base), |net, k, sec| match k {
            "client_latency" => dist(&net.client_latency),
            "server_latency" => dist(&net.server_latency),
            "loopback_latency" => Fill::Val(dv(net.loopback_latency)),
            "path" if cfg.middleboxes.is_empty() => Fill::Skip("no middlebox"),
            "path" => Fill::Note(
                "every middlebox, in the order written".into(),
                "a path lists them by name",
            ),
            "hop_latencies" => match (&cfg.path, sec.has("path")) {
                (Some(hops), true) => Fill::Val(hop_latencies(hops)),
                _ => Fill::Skip("only with `path`"),
            },
            "source_ip" => Fill::Val(s(match net.source_ip {
                SourceIp::Shared => "shared",
                SourceIp::PerEnvironment => "per_environment",
            })),
            _ => Fill::Unknown,
        });
    }

    fn middleboxes(&mut self, root: &Sec, mbs: &[NamedMiddlebox]) {
        let tables: Vec<Sec> = if root.get("middlebox").is_some() {
            vec![root.sub("middlebox")]
        } else {
            let w = root.elems("middleboxes");
            (0..w.len())
                .map(|i| root.elem("middleboxes", i, w.get(i).copied()))
                .collect()
        };
        let base = NamedMiddlebox {
            name: "middlebox".to_string(),
            config: middlebox_base(),
        };
        for (sec, m) in tables.into_iter().zip(mbs) {
            let sec = sec.with_preset();
            self.open(&sec, sec.at.len() > 1);
            self.keys(&sec, MIDDLEBOX, m, Some(&base), |m, k, _| match k {
                "preset" => Fill::Note("none".into(), "the base values: no preset"),
                "name" => Fill::Val(s(&m.name)),
                "idle_timeout" => Fill::Skip(
                    "a shorthand for every state's timeout: the timeouts table gives each",
                ),
                "untracked_from_client" => Fill::Val(s(m.config.untracked_from_client.name())),
                "untracked_from_server" => Fill::Val(s(m.config.untracked_from_server.name())),
                "timeouts" => Fill::Sub,
                _ => Fill::Unknown,
            });
            let mut t = sec.sub("timeouts");
            t.preset = sec.preset.clone();
            // `idle_timeout` set every state's timeout.
            let from = sec
                .has("idle_timeout")
                .then(|| self.prov.of(&sec.path("idle_timeout")));
            self.open(&t, false);
            self.keys(&t, TIMEOUTS, &m.config, Some(&base.config), |c, k, _| {
                let st = |d: SimDuration| match &from {
                    Some(src) => Fill::From(dv(d), src.clone()),
                    None => Fill::Val(dv(d)),
                };
                let ts = &c.timeouts;
                match k {
                    "syn_sent" => st(ts.syn_sent),
                    "syn_recv" => st(ts.syn_recv),
                    "established" => st(ts.established),
                    "fin_wait" => st(ts.fin_wait),
                    "close_wait" => st(ts.close_wait),
                    "last_ack" => st(ts.last_ack),
                    "time_wait" => st(ts.time_wait),
                    "close" => st(ts.close),
                    "max_retrans" => Fill::Val(off(c.max_retrans)),
                    "unacknowledged" => Fill::Val(off(c.unacknowledged)),
                    _ => Fill::Unknown,
                }
            });
        }
    }

    fn servers(&mut self, root: &Sec, servers: &[ServerConfig], any_middlebox: bool) {
        let tables: Vec<Sec> = if root.elems("servers").is_empty() {
            vec![root.sub("server")]
        } else {
            let w = root.elems("servers");
            (0..w.len())
                .map(|i| root.elem("servers", i, w.get(i).copied()))
                .collect()
        };
        let base = ServerConfig::preset(ServerKind::Generic);
        for (sec, sv) in tables.into_iter().zip(servers) {
            let sec = sec.with_preset();
            self.open(&sec, sec.at.len() > 1);
            let local = sv.location == ServerLocation::Environment;
            const LOCAL: &str = "a server inside the environment has none";
            self.keys(&sec, SERVER, sv, Some(&base), |sv, k, sec| match k {
                "preset" => Fill::Val(s(sv.kind.name())),
                "name" => Fill::Val(s(&sv.name)),
                "port" => Fill::Val(int(sv.port)),
                "path" | "hop_latencies" | "outages" | "replicas" if local => Fill::Skip(LOCAL),
                "path" if !any_middlebox => Fill::Skip("no middlebox"),
                "path" => Fill::Note(
                    "network.path".into(),
                    "without a path of its own a server crosses network.path's middleboxes",
                ),
                "hop_latencies" => match (&sv.path, sec.has("path")) {
                    (Some(hops), true) => Fill::Val(hop_latencies(hops)),
                    _ => Fill::Skip("only with `path`"),
                },
                "idle_timeout" => Fill::Val(off(sv.idle_timeout)),
                "idle_check_interval" => Fill::Val(off(sv.idle_check_interval)),
                "idle_close_error" => Fill::Val(Value::Boolean(sv.idle_close_error)),
                "outages" => Fill::Val(Value::Array(
                    sv.outages
                        .iter()
                        .map(|(at, len)| {
                            inline(&[
                                ("at", dv(*at - thaw_core::SimTime::ZERO)),
                                ("duration", dv(*len)),
                            ])
                        })
                        .collect(),
                )),
                "location" => Fill::Val(s(if local { "environment" } else { "remote" })),
                "thaw_delay" if local => Fill::Val(dv(sv.thaw_delay)),
                "thaw_delay" => Fill::Skip("only with location = \"environment\""),
                "keep_alive_hint" => Fill::Val(off(sv.keep_alive_hint)),
                "idle_close" => Fill::Val(s(match sv.idle_close {
                    IdleClose::Fin => "fin",
                    IdleClose::Rst => "rst",
                })),
                "service_time" => dist(&sv.service_time),
                "max_connections" => Fill::Val(int(sv.max_connections)),
                "reserved_connections" => Fill::Val(int(sv.reserved_connections)),
                "backlog" => Fill::Val(int(sv.backlog)),
                "cores" => Fill::Val(int(sv.cores)),
                "accept_cpu" => Fill::Val(dv(sv.accept_cpu)),
                "memory_per_connection" => Fill::Val(big(sv.memory_per_connection)),
                "max_connect_errors" => Fill::Val(int(sv.max_connect_errors)),
                "handshake" => Fill::Val(Value::Boolean(sv.handshake)),
                "handshake_timeout" => Fill::Val(off(sv.handshake_timeout)),
                "idle_in_transaction_timeout" => Fill::Val(off(sv.idle_in_transaction_timeout)),
                "soft_limit" | "hard_limit" => {
                    match if k == "soft_limit" {
                        sv.soft_limit
                    } else {
                        sv.hard_limit
                    } {
                        Some(n) => Fill::Val(int(n)),
                        None => Fill::Note(
                            "none".into(),
                            "max_connections and reserved_connections are the limit",
                        ),
                    }
                }
                "evict_min_idle" => Fill::Val(dv(sv.evict_min_idle)),
                "replicas" => Fill::Val(Value::Array(sv.replicas.iter().map(|d| dv(*d)).collect())),
                "tcp" => Fill::Sub,
                _ => Fill::Unknown,
            });
            let mut t = sec.sub("tcp");
            t.preset = sec.preset.clone();
            self.tcp(&t, &sv.tcp, &base.tcp);
        }
    }

    fn proxies(&mut self, root: &Sec, proxies: &[ProxyConfig], names: &[&str]) {
        let tables: Vec<Sec> = if root.get("proxy").is_some() {
            vec![root.sub("proxy")]
        } else {
            let w = root.elems("proxies");
            (0..w.len())
                .map(|i| root.elem("proxies", i, w.get(i).copied()))
                .collect()
        };
        for (sec, px) in tables.into_iter().zip(proxies) {
            let sec = sec.with_preset();
            self.open(&sec, sec.at.len() > 1);
            let max_pct = sec
                .has("max_connections_percent")
                .then(|| self.prov.of(&sec.path("max_connections_percent")));
            self.keys(&sec, PROXY, px, None, |px, k, _| {
                const RDS: &str = "an RDS Proxy setting; this proxy is pgbouncer";
                const PGB: &str = "a PgBouncer setting; this proxy is rds-proxy";
                match (k, &px.kind) {
                    ("server", _) => Fill::Default(s(names
                        .get(px.server as usize)
                        .copied()
                        .unwrap_or("server"))),
                    // Required: always written.
                    ("preset", _) => Fill::Unknown,
                    ("name", _) => Fill::Val(s(&px.name)),
                    ("port", _) => Fill::Val(int(px.port)),
                    ("server_latency", _) => Fill::Default(dv(px.server_latency)),
                    ("tcp", _) => Fill::Sub,
                    ("max_connections_percent", ProxyKind::RdsProxy(r)) => {
                        Fill::Val(int(r.max_connections_percent))
                    }
                    // AWS: half of MaxConnectionsPercent unless given.
                    ("max_idle_connections_percent", ProxyKind::RdsProxy(r)) => match &max_pct {
                        Some(src) => Fill::From(int(r.max_idle_connections_percent), src.clone()),
                        None => Fill::Val(int(r.max_idle_connections_percent)),
                    },
                    ("connection_borrow_timeout", ProxyKind::RdsProxy(r)) => {
                        Fill::Val(off(r.connection_borrow_timeout))
                    }
                    ("idle_client_timeout", ProxyKind::RdsProxy(r)) => {
                        Fill::Val(dv(r.idle_client_timeout))
                    }
                    (
                        "max_connections_percent"
                        | "max_idle_connections_percent"
                        | "connection_borrow_timeout"
                        | "idle_client_timeout",
                        ProxyKind::PgBouncer(_),
                    ) => Fill::Skip(RDS),
                    ("pool_mode", ProxyKind::PgBouncer(g)) => Fill::Val(s(match g.pool_mode {
                        PoolMode::Session => "session",
                        PoolMode::Transaction => "transaction",
                    })),
                    ("default_pool_size", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(int(g.default_pool_size))
                    }
                    ("max_client_conn", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(int(g.max_client_conn))
                    }
                    ("server_idle_timeout", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(off(g.server_idle_timeout))
                    }
                    ("server_lifetime", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(dv(g.server_lifetime))
                    }
                    ("client_idle_timeout", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(off(g.client_idle_timeout))
                    }
                    ("query_wait_timeout", ProxyKind::PgBouncer(g)) => {
                        Fill::Val(off(g.query_wait_timeout))
                    }
                    (
                        "pool_mode"
                        | "default_pool_size"
                        | "max_client_conn"
                        | "server_idle_timeout"
                        | "server_lifetime"
                        | "client_idle_timeout"
                        | "query_wait_timeout",
                        ProxyKind::RdsProxy(_),
                    ) => Fill::Skip(PGB),
                    _ => Fill::Unknown,
                }
            });
            let mut t = sec.sub("tcp");
            t.preset = sec.preset.clone();
            self.tcp(&t, &px.tcp, &TcpConfig::default());
        }
        if proxies.is_empty() {
            self.skip(vec![Seg::Key("proxy".into())], "no [proxy]");
        }
    }

    /// `[workload]`: what the file writes (its forms are data, not
    /// settings), with the defaults of the keys it leaves out.
    fn workload(&mut self, sec: &Sec) {
        self.open(sec, false);
        const FORM: &str = "another form of arrivals is used";
        self.keys(sec, WORKLOAD, &(), None, |_, k, sec| match k {
            "at" if !sec.has("at") => Fill::Skip(FORM),
            "poisson" | "every" | "rate" | "trace" | "burst" | "invoke" => Fill::Sub,
            _ => Fill::Unknown,
        });
        let zero = || Fill::Val(dv(SimDuration::ZERO));
        for (form, list) in [
            ("poisson", POISSON),
            ("every", EVERY),
            ("rate", RATE),
            ("trace", TRACE),
        ] {
            let sub = sec.sub(form);
            if sub.written.is_none() {
                self.skip(sub.at.clone(), FORM);
                continue;
            }
            self.open(&sub, false);
            self.keys(&sub, list, &(), None, |_, k, _| match (form, k) {
                (_, "start") => zero(),
                ("rate", "count") => Fill::Val(big(crate::limits::MAX_ARRIVALS)),
                ("rate", "until") => Fill::Note("none".into(), NO_NONE),
                ("rate", "curve" | "sine") => Fill::Skip("the rate is given by the other one"),
                ("trace", "function" | "app" | "row") => {
                    Fill::Skip("the trace's function is chosen by another key")
                }
                _ => Fill::Unknown,
            });
        }
        for (list_key, list) in [("burst", BURST), ("invoke", INVOKE)] {
            let elems = sec.elems(list_key);
            if elems.is_empty() {
                self.skip(sec.path(list_key), "none written");
            }
            for (i, t) in elems.into_iter().enumerate() {
                let e = sec.elem(list_key, i, Some(t));
                self.open(&e, true);
                self.keys(&e, list, &(), None, |_, k, _| match k {
                    "window" => zero(),
                    _ => Fill::Unknown,
                });
            }
        }
    }
}

fn hop_latencies(hops: &[(u16, SimDuration)]) -> Value {
    let n = hops.len().saturating_sub(1);
    Value::Array(hops[..n].iter().map(|h| dv(h.1)).collect())
}

// The keys of each table, in the order of their table in
// docs/scenario-format.md (a test compares them with the loader's keys).
const SCENARIO: &[&str] = &["name", "description", "seed"];
const RUN: &[&str] = &["event_budget"];
const FUNCTION: &[&str] = &[
    "memory_mb",
    "timeout",
    "init_duration",
    "handler_time",
    "extension",
    "freeze_delay",
    "reap_after",
    "reap_after_min",
    "reap_after_max",
    "frozen_kernel",
    "thaw_order",
    "max_concurrency",
    "provisioned_concurrency",
    "scale_rate",
    "placement",
    "handler",
    "callback_waits_for_empty_event_loop",
    "handler_rejects_after",
    "snapstart",
    "tcp",
];
const SNAPSTART: &[&str] = &["restore_duration", "init_connects", "after_restore"];
const TCP: &[&str] = &[
    "rto_min",
    "rto_max",
    "rto_initial",
    "retries2",
    "orphan_retries",
    "syn_retries",
    "syn_linear_timeouts",
    "synack_retries",
    "fin_timeout",
    "time_wait",
    "user_timeout",
    "tail_loss_probe",
    "retrans_collapse",
    "timer_wheel",
    "hz",
    "keepalive",
];
const KEEPALIVE: &[&str] = &["enabled", "idle", "interval", "count"];
const CLIENT: &[&str] = &[
    "strategy",
    "connect_cpu",
    "connect_timeout",
    "autocommit",
    "isolation",
    "read_routing",
    "requests",
    "pool",
    "http_overhead",
    "retry",
    "targets",
    "library",
    "tls",
];
const TARGET: &[&str] = &["strategy"];
const REQUEST: &[&str] = &[
    "name",
    "timeout",
    "op",
    "key",
    "pin",
    "target",
    "idempotent",
    "writes",
    "write_gap",
    "work_after",
    "await",
];
const TLS: &[&str] = &[
    "version",
    "cpu",
    "resumption",
    "session_lifetime",
    "resume_cpu",
    "server_cpu",
    "close_notify",
];
const LIBRARY: &[&str] = &[
    "preset",
    "reconnect",
    "offline_queue",
    "in_flight",
    "retries",
    "max_retries_per_request",
    "connect_timeout",
    "command_timeout",
    "ping_interval",
    "ping_timeout",
    "health_check_interval",
    "max_idle",
    "idle_close",
];
const RETRY: &[&str] = &["count", "backoff", "backoff_max", "on"];
const POOL: &[&str] = &[
    "preset",
    "max",
    "min",
    "idle_timeout",
    "acquire_timeout",
    "evict",
    "max_lifetime",
    "validation",
    "order",
    "ping_timeout",
    "keepalive_query",
    "close_after_invocation",
    "reset_at_start",
];
const HANDLER: &[&str] = &["name", "requests"];
const NETWORK: &[&str] = &[
    "client_latency",
    "server_latency",
    "loopback_latency",
    "path",
    "hop_latencies",
    "source_ip",
];
const MIDDLEBOX: &[&str] = &[
    "preset",
    "name",
    "idle_timeout",
    "untracked_from_client",
    "untracked_from_server",
    "timeouts",
];
const TIMEOUTS: &[&str] = &[
    "syn_sent",
    "syn_recv",
    "established",
    "fin_wait",
    "close_wait",
    "last_ack",
    "time_wait",
    "close",
    "max_retrans",
    "unacknowledged",
];
const SERVER: &[&str] = &[
    "preset",
    "name",
    "port",
    "path",
    "hop_latencies",
    "idle_timeout",
    "idle_check_interval",
    "idle_close_error",
    "outages",
    "location",
    "thaw_delay",
    "keep_alive_hint",
    "idle_close",
    "service_time",
    "max_connections",
    "reserved_connections",
    "backlog",
    "cores",
    "accept_cpu",
    "memory_per_connection",
    "max_connect_errors",
    "handshake",
    "handshake_timeout",
    "idle_in_transaction_timeout",
    "soft_limit",
    "hard_limit",
    "evict_min_idle",
    "replicas",
    "tcp",
];
const PROXY: &[&str] = &[
    "server",
    "preset",
    "name",
    "port",
    "server_latency",
    "tcp",
    "max_connections_percent",
    "max_idle_connections_percent",
    "connection_borrow_timeout",
    "idle_client_timeout",
    "pool_mode",
    "default_pool_size",
    "max_client_conn",
    "query_wait_timeout",
    "client_idle_timeout",
    "server_idle_timeout",
    "server_lifetime",
];
const WORKLOAD: &[&str] = &["at", "poisson", "burst", "every", "rate", "trace", "invoke"];
const POISSON: &[&str] = &["rate", "count", "start"];
const BURST: &[&str] = &["at", "count", "window"];
const EVERY: &[&str] = &["period", "count", "start"];
const RATE: &[&str] = &["curve", "sine", "count", "until", "start"];
const TRACE: &[&str] = &["file", "format", "function", "app", "row", "start"];
const INVOKE: &[&str] = &["handler", "at"];
const EXPECT: &[&str] = &["assert"];

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Where the provenance comment starts, when the key and value are shorter.
const COMMENT_COLUMN: usize = 40;

/// A key as TOML writes it: bare, or quoted.
fn toml_key(k: &str) -> String {
    toml_edit::Key::new(k).display_repr().into_owned()
}

/// A value as TOML writes it; a long array one element per line.
fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(toml_value).collect();
            let one_line = format!("[{}]", items.join(", "));
            if one_line.len() <= 80 || items.iter().any(|i| i.contains('\n')) {
                one_line
            } else {
                let mut out = String::from("[\n");
                for i in items {
                    out.push_str("  ");
                    out.push_str(&i);
                    out.push_str(",\n");
                }
                out.push(']');
                out
            }
        }
        Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_value(v)))
                .collect();
            if items.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", items.join(", "))
            }
        }
        Value::String(x) => toml_edit::Value::from(x.as_str()).to_string(),
        // Integers, floats, booleans and dates: one form each.
        other => other.to_string(),
    }
}

/// Text made safe for a TOML comment, which ends at a line break and
/// allows no other control character but tab (a file name or a `--set`
/// value may hold one).
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A word of the command line as a shell reads it back.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:[]".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

impl Resolved {
    fn last_segment(path: &str) -> String {
        match key_path(path).ok().and_then(|p| p.last().cloned()) {
            Some(Seg::Key(k)) => k,
            _ => path.to_string(),
        }
    }

    /// The scenario as TOML that `thaw run` accepts as it is: every key with
    /// its value, and after it a comment saying where the value came from.
    pub fn toml(&self) -> String {
        let mut out = String::new();
        if let Some(l) = &self.schema_line {
            out.push_str(l);
            out.push('\n');
        }
        let mut cmd = format!("thaw config {}", shell_word(&self.file));
        for o in &self.overrides {
            let [flag, v] = o.as_args();
            cmd.push_str(&format!(" {flag} {}", shell_word(v)));
        }
        out.push_str(&format!("# {}\n", comment(&cmd)));
        out.push_str(
            "# The resolved scenario: every key with the value it takes after presets,\n\
             # defaults and --set, and after it where that value came from (FILE:LINE,\n\
             # preset NAME, default, --set). `thaw run` accepts this file as it is.\n\
             # A commented key has a value no value of the key can state.\n",
        );
        if self.has_relative_paths() {
            out.push_str(
                "# Files named by a relative path are read from the directory of the\n\
                 # scenario run: keep this file beside the original.\n",
            );
        }
        for t in &self.tables {
            out.push('\n');
            if t.array {
                out.push_str(&format!("[[{}]]\n", t.header));
            } else {
                out.push_str(&format!("[{}]\n", t.header));
            }
            for &i in &t.keys {
                let k = &self.keys[i];
                let key = toml_key(&Self::last_segment(&k.path));
                let source = comment(&k.source.describe(&self.file));
                match &k.value {
                    Some(v) => {
                        let line = format!("{key} = {}", toml_value(v));
                        let last = line.rsplit('\n').next().unwrap_or(&line).chars().count();
                        let pad = COMMENT_COLUMN.saturating_sub(last).max(2);
                        out.push_str(&format!("{line}{}# {source}\n", " ".repeat(pad)));
                    }
                    None => out.push_str(&format!(
                        "# {key}: {}  # {source}; {}\n",
                        comment(k.shown.as_deref().unwrap_or("none")),
                        comment(k.note.as_deref().unwrap_or_default())
                    )),
                }
            }
        }
        out
    }

    fn has_relative_paths(&self) -> bool {
        self.keys.iter().any(|k| {
            let rel = |p: &str| !std::path::Path::new(p).is_absolute();
            match &k.value {
                Some(Value::String(p)) => k.path.ends_with("trace.file") && rel(p),
                Some(Value::Table(t)) => {
                    t.get("empirical").and_then(Value::as_str).is_some_and(rel)
                }
                _ => false,
            }
        })
    }

    /// The same for tools: `{ "file", "overrides", "keys": [{ "key",
    /// "value", "source" }], "omitted": [{ "key", "reason" }] }`
    /// (docs/scenario-format.md, "The resolved scenario").
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                let mut o = json!({
                    "key": k.path,
                    "value": k.value.as_ref().map(|v| serde_json::to_value(v).unwrap_or_default()),
                    "source": k.source.json(&self.file),
                });
                if k.value.is_none() {
                    o["shown"] = json!(k.shown);
                    o["note"] = json!(k.note);
                }
                o
            })
            .collect();
        let overrides: Vec<serde_json::Value> = self
            .overrides
            .iter()
            .map(|o| match o {
                Override::Set(a) => json!({ "set": a }),
                Override::Unset(a) => json!({ "unset": a }),
            })
            .collect();
        let omitted: Vec<serde_json::Value> = self
            .omitted
            .iter()
            .map(|o| json!({ "key": o.path, "reason": o.reason }))
            .collect();
        json!({
            "file": self.file,
            "overrides": overrides,
            "keys": keys,
            "omitted": omitted,
        })
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
