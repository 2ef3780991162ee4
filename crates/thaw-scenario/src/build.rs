//! From a parsed scenario file to a validated run configuration. Every
//! semantic problem is collected (with its dotted path, located in the file
//! afterwards), never just the first.
use crate::diag::{
    parse_toml_partial, without_indices, Diagnostic, Diagnostics, Dur, DurDist, Locator, Override,
    MAX_SHOWN_PER_KIND,
};
use crate::file::*;
use crate::limits;
use std::collections::BTreeMap;
use thaw_core::{Dist, SimDuration};
use thaw_net::{Keepalive, MiddleboxConfig, MiddleboxPreset, StateTimeouts, TcpConfig, Untracked};
use thaw_sim::expect::Expectation;
use thaw_sim::{AfterRestore, ErrorKind, Extension, RetrySettings, SnapStart};
use thaw_sim::{Burst, RateCurve};
use thaw_sim::{
    ClientConfig, FrozenKernel, HandlerKind, HandlerSpec, IdleClose, IdleOrder, NamedMiddlebox,
    NetworkConfig, PathConfig, PgBouncerConfig, Placement, PlatformConfig, PoolConfig, PoolMode,
    PoolSettings, ProxyConfig, ProxyKind, RdsProxyConfig, RequestOp, RequestSpec, ServerConfig,
    ServerKind, ServerLocation, SimConfig, SourceIp, Strategy, ThawOrder, Validation,
    WorkloadConfig,
};
use thaw_sim::{Evictor, OnLost};

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What to simulate.
    pub config: SimConfig,
    /// Assertions to check after the run.
    pub expectations: Vec<Expectation>,
    /// `[scenario].description`.
    pub description: String,
    /// Settings that load but cannot act (e.g. a timer longer than the
    /// function's timeout), located in the file.
    pub warnings: Diagnostics,
    /// Mechanisms a preset switches on that the file does not write (shown
    /// at the head of the timeline).
    pub notes: Vec<String>,
}

struct Problem {
    path: String,
    message: String,
    help: Option<String>,
    /// Further problems of the same kind, counted and not shown.
    more: u64,
}

/// Semantic problems, capped per kind so that a list of a million bad
/// entries costs a count, not a million messages.
#[derive(Default)]
struct Problems {
    /// The scenario file's directory: where a relative
    /// `{ empirical = "FILE" }` is read from.
    dir: std::path::PathBuf,
    list: Vec<Problem>,
    /// Per kind (path without indices, and hint): problems shown, and the
    /// index in `list` of the last one.
    kinds: BTreeMap<(String, Option<String>), (usize, usize)>,
}

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>, help: Option<&str>) {
        let path = path.into();
        let help = help.map(str::to_string);
        let kind = (without_indices(&path), help.clone());
        match self.kinds.get_mut(&kind) {
            Some((shown, last)) if *shown >= MAX_SHOWN_PER_KIND => {
                self.list[*last].more += 1;
            }
            Some((shown, last)) => {
                *shown += 1;
                *last = self.list.len();
                self.list.push(Problem {
                    path,
                    message: message.into(),
                    help,
                    more: 0,
                });
            }
            None => {
                self.kinds.insert(kind, (1, self.list.len()));
                self.list.push(Problem {
                    path,
                    message: message.into(),
                    help,
                    more: 0,
                });
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Parses, validates and builds a scenario. `file` names the source in
/// diagnostics; `sets` are `--set PATH=VALUE` overrides applied first.
pub fn load(file: &str, text: &str, sets: &[String]) -> Result<Scenario, LoadError> {
    let overrides: Vec<Override> = sets.iter().cloned().map(Override::Set).collect();
    load_with(file, text, &overrides)
}

/// Like [`load`], with `--set` and `--unset` overrides applied in order.
pub fn load_with(file: &str, text: &str, overrides: &[Override]) -> Result<Scenario, LoadError> {
    let sets = overrides;
    if let Some(d) = limits::file_size(file, text) {
        return Err(LoadError::new("", d.into()));
    }
    if sets.len() > limits::MAX_SETS {
        let d = Diagnostic::at(
            "--set",
            "",
            0..0,
            format!(
                "{} `--set`/`--unset` arguments; thaw takes at most {}",
                sets.len(),
                limits::MAX_SETS
            ),
        );
        return Err(LoadError::new("", d.into()));
    }
    // The file alone first, so that its own mistakes point into it.
    let scenario = check(file, text).map_err(|d| LoadError::new(text, d))?;
    if sets.is_empty() {
        return Ok(scenario);
    }
    let with_sets = crate::diag::apply_overrides(text, sets).map_err(|d| LoadError::new("", d))?;
    let name = format!("{file} (with --set)");
    if let Some(d) = limits::file_size(&name, &with_sets) {
        return Err(LoadError::new("", d.into()));
    }
    let mut scenario = check(&name, &with_sets).map_err(|d| LoadError::new(&with_sets, d))?;
    // Warnings point into the text with the overrides applied, not into the
    // file: they carry that text, so that rendering them against the file
    // (as `thaw run` does) shows the lines they are about.
    for w in &mut scenario.warnings.0 {
        w.source.get_or_insert_with(|| with_sets.clone());
    }
    Ok(scenario)
}

/// Parses and validates, reporting shape errors (unknown keys, bad values)
/// and semantic errors (ranges, consistency) together.
fn check(file: &str, text: &str) -> Result<Scenario, Diagnostics> {
    let (parsed, mut diags) = parse_toml_partial::<ScenarioFile>(file, text);
    let Some(parsed) = parsed else {
        return Err(diags);
    };
    match build(file, text, parsed) {
        Ok(s) if diags.is_empty() => Ok(s),
        Ok(_) => Err(diags),
        Err(more) => {
            // A blanked entry falls back to its default; do not report it
            // twice if that default trips a semantic check on the same line.
            let lines: std::collections::BTreeSet<usize> = diags.iter().map(|d| d.line).collect();
            diags
                .0
                .extend(more.0.into_iter().filter(|d| !lines.contains(&d.line)));
            diags.0.sort_by_key(|d| (d.line, d.col));
            Err(diags)
        }
    }
}

/// Why a scenario did not load: the diagnostics, and the source text they
/// point into (the file, or the file with `--set` applied).
#[derive(Debug)]
pub struct LoadError {
    /// Text the diagnostics' spans refer to.
    pub source: String,
    /// Every problem found.
    pub diagnostics: Diagnostics,
}

impl LoadError {
    pub(crate) fn new(source: &str, diagnostics: Diagnostics) -> Self {
        LoadError {
            source: source.to_string(),
            diagnostics,
        }
    }

    /// All diagnostics rendered for a terminal.
    pub fn render(&self) -> String {
        self.diagnostics.render(&self.source)
    }
}

fn requests(p: &mut Problems, path: &str, reqs: &[RequestSection]) -> Vec<RequestSpec> {
    reqs.iter()
        .enumerate()
        .map(|(i, r)| {
            if r.timeout.map(|t| t.0.is_zero()) == Some(true) {
                p.add(
                    format!("{path}[{i}].timeout"),
                    "a request timeout must be longer than 0s",
                    Some("leave it out to wait for TCP"),
                );
            }
            let op = match (r.op.unwrap_or(OpKey::Ping), r.key) {
                (OpKey::Read | OpKey::Write, Some(k)) if k >= MAX_KEY => {
                    p.add(
                        format!("{path}[{i}].key"),
                        format!("key {k} is too large"),
                        Some("keys must be below 2^48"),
                    );
                    RequestOp::Ping
                }
                (OpKey::Read, Some(k)) => RequestOp::Read(k),
                (OpKey::Write, Some(k)) => RequestOp::Write(k),
                (OpKey::Read | OpKey::Write, None) => {
                    p.add(
                        format!("{path}[{i}].op"),
                        "a read or write needs a `key`",
                        Some("e.g. `key = 1`"),
                    );
                    RequestOp::Ping
                }
                (op, Some(_)) => {
                    p.add(
                        format!("{path}[{i}].key"),
                        format!("`key` means nothing for op `{}`", op_name(op)),
                        Some("only `read` and `write` take a key"),
                    );
                    RequestOp::Ping
                }
                (OpKey::Ping, None) => RequestOp::Ping,
                (OpKey::Begin, None) => RequestOp::Begin,
                (OpKey::Commit, None) => RequestOp::Commit,
                (OpKey::Rollback, None) => RequestOp::Rollback,
                (OpKey::Quit, None) => RequestOp::Quit,
            };
            let writes = r.writes.unwrap_or(1);
            if writes == 0 {
                p.add(
                    format!("{path}[{i}].writes"),
                    "a request takes at least one write",
                    Some("leave it out for one write"),
                );
            }
            let writes = writes.max(1);
            RequestSpec {
                name: r.name.clone(),
                timeout: dur(r.timeout),
                op,
                pin: r.pin.unwrap_or(false),
                idempotent: r.idempotent.unwrap_or(false),
                target: 0,
                writes,
                write_gap: dur(r.write_gap).unwrap_or(SimDuration::ZERO),
                work_after: dur(r.work_after).unwrap_or(SimDuration::ZERO),
                await_reply: r.await_reply.unwrap_or(true),
            }
        })
        .collect()
}

/// Keys travel in 48 bits of a request.
const MAX_KEY: u64 = 1 << 48;

fn op_name(op: OpKey) -> &'static str {
    match op {
        OpKey::Ping => "ping",
        OpKey::Read => "read",
        OpKey::Write => "write",
        OpKey::Begin => "begin",
        OpKey::Commit => "commit",
        OpKey::Rollback => "rollback",
        OpKey::Quit => "quit",
    }
}

/// A middlebox without a preset: 350 s in every state, RST towards the
/// functions, drop towards the server.
pub(crate) fn middlebox_base() -> MiddleboxConfig {
    MiddleboxConfig {
        timeouts: StateTimeouts::uniform(SimDuration::from_secs(350)),
        untracked_from_client: Untracked::Rst,
        untracked_from_server: Untracked::Drop,
        max_retrans: None,
        unacknowledged: None,
    }
}

/// One `[middlebox]` table (or `[[middleboxes]]` entry at `at`).
fn middlebox(p: &mut Problems, at: &str, m: &MiddleboxSection) -> NamedMiddlebox {
    let preset = m.preset.map(|k| match k {
        PresetKey::AwsNatGateway => MiddleboxPreset::AwsNatGateway,
        PresetKey::AwsNlb => MiddleboxPreset::AwsNlb,
        PresetKey::LinuxConntrack => MiddleboxPreset::LinuxConntrack,
        PresetKey::AwsNetworkFirewall => MiddleboxPreset::AwsNetworkFirewall,
        PresetKey::AwsVpcEndpoint => MiddleboxPreset::AwsVpcEndpoint,
        PresetKey::AwsHyperplaneEni => MiddleboxPreset::AwsHyperplaneEni,
    });
    if preset.is_some_and(|p| p.needs_idle_timeout())
        && m.idle_timeout.is_none()
        && m.timeouts.established.is_none()
    {
        p.add(
            format!("{at}.preset"),
            "AWS documents no idle timeout for the Hyperplane ENI of a VPC-attached Lambda function: state the one this scenario assumes",
            Some("add `idle_timeout`, e.g. \"350s\" (the value a forum post quoted in npgsql/npgsql #3559 claims), or a value longer than the run to make it transparent"),
        );
    }
    let mut mc: MiddleboxConfig = match preset {
        Some(pr) => pr.config(),
        None => middlebox_base(),
    };
    if let Some(d) = dur(m.idle_timeout) {
        mc.timeouts = StateTimeouts::uniform(d);
    }
    let t = &m.timeouts;
    for (key, v, slot) in [
        ("syn_sent", t.syn_sent, &mut mc.timeouts.syn_sent),
        ("syn_recv", t.syn_recv, &mut mc.timeouts.syn_recv),
        ("established", t.established, &mut mc.timeouts.established),
        ("fin_wait", t.fin_wait, &mut mc.timeouts.fin_wait),
        ("close_wait", t.close_wait, &mut mc.timeouts.close_wait),
        ("last_ack", t.last_ack, &mut mc.timeouts.last_ack),
        ("time_wait", t.time_wait, &mut mc.timeouts.time_wait),
        ("close", t.close, &mut mc.timeouts.close),
    ] {
        if let Some(v) = dur(v) {
            positive(p, &format!("{at}.timeouts.{key}"), Some(v));
            *slot = v;
        }
    }
    positive(p, &format!("{at}.idle_timeout"), dur(m.idle_timeout));
    if let Some(v) = dur(t.max_retrans) {
        mc.max_retrans = (!v.is_zero()).then_some(v);
    }
    if let Some(v) = dur(t.unacknowledged) {
        mc.unacknowledged = (!v.is_zero()).then_some(v);
    }
    let pol = |k: UntrackedKey| match k {
        UntrackedKey::Rst => Untracked::Rst,
        UntrackedKey::Drop => Untracked::Drop,
        UntrackedKey::Accept => Untracked::Accept,
    };
    if let Some(k) = m.untracked_from_client {
        mc.untracked_from_client = pol(k);
    }
    if let Some(k) = m.untracked_from_server {
        mc.untracked_from_server = pol(k);
    }
    NamedMiddlebox {
        name: m
            .name
            .clone()
            .or_else(|| preset.map(|p| p.name().to_string()))
            .unwrap_or_else(|| "middlebox".to_string()),
        config: mc,
    }
}

/// The middleboxes, in the order written: the one `[middlebox]`, or the
/// `[[middleboxes]]` (paths name them: [`paths`]).
fn middleboxes(p: &mut Problems, f: &ScenarioFile) -> Vec<NamedMiddlebox> {
    // Both forms at once is a mistake; the tables are still checked, as
    // if they were one list, so every other problem shows too.
    let tables = middlebox_tables(f);
    if f.middlebox.is_some() && !f.middleboxes.is_empty() {
        p.add(
            "middleboxes",
            "both a [middlebox] table and [[middleboxes]] entries: use one form",
            Some("move the [middlebox] table into a [[middleboxes]] entry with a `name`"),
        );
    }
    let declared: Vec<NamedMiddlebox> = tables.iter().map(|(at, m)| middlebox(p, at, m)).collect();
    for (i, m) in declared.iter().enumerate() {
        if let Some(j) = declared[..i].iter().position(|o| o.name == m.name) {
            p.add(
                format!("{}.name", tables[i].0),
                format!(
                    "two middleboxes are named \"{}\" ({} and {}): paths name them",
                    m.name, tables[j].0, tables[i].0
                ),
                Some("give each a `name` of its own"),
            );
        }
    }
    declared
}

/// The middlebox tables with their paths in the file.
fn middlebox_tables(f: &ScenarioFile) -> Vec<(String, &MiddleboxSection)> {
    let single = f.middlebox.iter().map(|m| ("middlebox".to_string(), m));
    let many = f
        .middleboxes
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("middleboxes[{i}]"), m));
    single.chain(many).collect()
}

/// One path (`at` = `network` or a server table): its middleboxes by name,
/// in order, with the latencies between them.
fn path(
    p: &mut Problems,
    at: &str,
    names: &[String],
    lat: Option<&Vec<Dur>>,
    mbs: &[NamedMiddlebox],
) -> PathConfig {
    let mut hops: PathConfig = Vec::new();
    for (k, n) in names.iter().enumerate() {
        match mbs.iter().position(|m| &m.name == n) {
            Some(i) if hops.iter().any(|h| h.0 == i as u16) => p.add(
                format!("{at}.path[{k}]"),
                format!("\"{n}\" is on the path twice"),
                Some("a connection crosses each middlebox once"),
            ),
            Some(i) => hops.push((i as u16, SimDuration::ZERO)),
            None => p.add(
                format!("{at}.path[{k}]"),
                format!("no middlebox is named \"{n}\""),
                Some(&format!(
                    "the middleboxes are: {}",
                    if mbs.is_empty() {
                        "none".to_string()
                    } else {
                        mbs.iter()
                            .map(|m| format!("\"{}\"", m.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )),
            ),
        }
    }
    if let Some(lat) = lat {
        // Counted on the path as written (some names may be wrong).
        let want = names.len().saturating_sub(1);
        if lat.len() != want {
            p.add(
                format!("{at}.hop_latencies"),
                format!(
                    "{} latencies for {} link(s) between the path's {} middlebox(es)",
                    lat.len(),
                    want,
                    names.len()
                ),
                Some("one latency per link between consecutive middleboxes of the `path`; `network.client_latency` and `network.server_latency` are the links at its ends"),
            );
        } else {
            for (h, d) in hops.iter_mut().zip(lat) {
                h.1 = dur(Some(*d)).unwrap_or_default();
            }
        }
    }
    hops
}

/// The default path (`network.path`) and each server's own (`path` in its
/// table); every middlebox must be on one of them.
fn paths(
    p: &mut Problems,
    f: &ScenarioFile,
    cfg: &mut SimConfig,
    server_tables: &[(String, &ServerSection)],
) {
    let mbs = &cfg.middleboxes;
    let mut on_a_path = vec![false; mbs.len()];
    if let Some(names) = &f.network.path {
        let hops = path(p, "network", names, f.network.hop_latencies.as_ref(), mbs);
        hops.iter().for_each(|h| on_a_path[h.0 as usize] = true);
        cfg.path = Some(hops);
    } else if f.network.hop_latencies.is_some() {
        p.add(
            "network.hop_latencies",
            "`hop_latencies` without a `path`",
            Some("write `path` too: the latencies are those of its links"),
        );
    }
    let mut default_used = false;
    for (i, (at, fsv)) in server_tables.iter().enumerate() {
        match &fsv.path {
            Some(names) => {
                let hops = path(p, at, names, fsv.hop_latencies.as_ref(), mbs);
                hops.iter().for_each(|h| on_a_path[h.0 as usize] = true);
                cfg.servers[i].path = Some(hops);
            }
            None => {
                default_used = true;
                if fsv.hop_latencies.is_some() {
                    p.add(
                        format!("{at}.hop_latencies"),
                        "`hop_latencies` without a `path`",
                        Some("write `path` too: the latencies are those of its links"),
                    );
                }
            }
        }
    }
    if default_used && cfg.path.is_none() {
        if mbs.len() > 1 {
            let tables = middlebox_tables(f);
            p.add(
                tables[1].0.clone(),
                format!(
                    "{} middleboxes and no `network.path`: thaw cannot know the order a packet crosses them",
                    mbs.len()
                ),
                Some("e.g. path = [\"nat-gateway\", \"nlb\"] under [network], from the functions' side"),
            );
        }
        on_a_path.iter_mut().for_each(|x| *x = true);
    }
    let tables = middlebox_tables(f);
    for (i, on) in on_a_path.iter().enumerate() {
        if !on {
            p.add(
                format!("{}.name", tables[i].0),
                format!("middlebox \"{}\" is on no path", mbs[i].name),
                Some("add it to `network.path` (or a server's `path`), or remove it"),
            );
        }
    }
}

/// One server table: `[server]`, or `[[servers]]` entry `at`.
fn server_config(
    p: &mut Problems,
    notes: &mut Vec<String>,
    at: &str,
    fsv: &ServerSection,
) -> ServerConfig {
    let kind = match fsv.preset {
        None | Some(ServerPresetKey::Generic) => ServerKind::Generic,
        Some(ServerPresetKey::Redis7) => ServerKind::Redis,
        Some(ServerPresetKey::Mysql8) => ServerKind::Mysql,
        Some(ServerPresetKey::Postgres) => ServerKind::Postgres,
        Some(ServerPresetKey::Upstash) => ServerKind::Upstash,
        Some(ServerPresetKey::Mariadb) => ServerKind::Mariadb,
        Some(ServerPresetKey::NodeHttp) => ServerKind::NodeHttp,
        Some(ServerPresetKey::Nginx) => ServerKind::Nginx,
        Some(ServerPresetKey::AwsAlb) => ServerKind::AwsAlb,
        Some(ServerPresetKey::Grpc) => ServerKind::Grpc,
    };
    let mut sv = ServerConfig::preset(kind);
    if let Some(n) = &fsv.name {
        sv.name = n.clone();
    }
    if let Some(port) = fsv.port {
        if port == 0 {
            p.add(format!("{at}.port"), "port 0 is not a listening port", None);
        }
        sv.port = port;
    }
    if let Some(t) = dur(fsv.idle_timeout) {
        sv.idle_timeout = (!t.is_zero()).then_some(t);
    }
    if let Some(t) = dur(fsv.idle_check_interval) {
        sv.idle_check_interval = (!t.is_zero()).then_some(t);
    }
    if let Some(v) = dist(p, &format!("{at}.service_time"), fsv.service_time.as_ref()) {
        sv.service_time = v;
    }
    if let Some(m) = fsv.max_connections {
        if m == 0 {
            p.add(
                format!("{at}.max_connections"),
                "`max_connections` must be at least 1",
                None,
            );
        }
        sv.max_connections = m;
    }
    if let Some(v) = fsv.idle_close_error {
        sv.idle_close_error = v;
    }
    if let Some(v) = fsv.idle_close {
        sv.idle_close = match v {
            IdleCloseKey::Fin => IdleClose::Fin,
            IdleCloseKey::Rst => IdleClose::Rst,
        };
    }
    if let Some(t) = dur(fsv.keep_alive_hint) {
        sv.keep_alive_hint = (!t.is_zero()).then_some(t);
    }
    if let Some(l) = fsv.location {
        sv.location = match l {
            ServerLocationKey::Remote => ServerLocation::Remote,
            ServerLocationKey::Environment => ServerLocation::Environment,
        };
    }
    if let Some(d) = dur(fsv.thaw_delay) {
        if sv.location != ServerLocation::Environment {
            p.add(
                format!("{at}.thaw_delay"),
                "`thaw_delay` applies only to a server with location = \"environment\"",
                Some("a remote server runs while the functions are frozen; add location = \"environment\" for a sidecar on localhost"),
            );
        }
        sv.thaw_delay = d;
    }
    if sv.location == ServerLocation::Environment {
        // A process beside the function: what belongs to a remote host
        // does not apply (model.md 5.14).
        let remote_only: [(&str, bool); 4] = [
            ("path", fsv.path.is_some()),
            ("hop_latencies", fsv.hop_latencies.is_some()),
            ("outages", fsv.outages.is_some()),
            ("replicas", fsv.replicas.is_some()),
        ];
        for (key, set) in remote_only {
            if set {
                p.add(
                    format!("{at}.{key}"),
                    format!("`{key}` does not apply to a server with location = \"environment\""),
                    Some("a server inside the environment is reached over loopback, has no replicas, and runs while its environment does; remove the key or use location = \"remote\""),
                );
            }
        }
    }
    if let Some(outages) = &fsv.outages {
        let mut last_end = None;
        for (i, o) in outages.iter().enumerate() {
            let (at_t, len) = (thaw_core::SimTime::ZERO + o.at.0, o.duration.0);
            if len.is_zero() {
                p.add(
                    format!("{at}.outages[{i}].duration"),
                    "an outage must last longer than 0s",
                    None,
                );
            }
            if last_end.is_some_and(|e| at_t < e) {
                p.add(
                    format!("{at}.outages[{i}].at"),
                    "outages must be in time order and must not overlap",
                    Some("start each outage after the previous one ends"),
                );
            }
            last_end = Some(at_t + len);
            sv.outages.push((at_t, len));
        }
    }
    if let Some(t) = dur(fsv.idle_in_transaction_timeout) {
        sv.idle_in_transaction_timeout = (!t.is_zero()).then_some(t);
    }
    if let Some(v) = fsv.reserved_connections {
        sv.reserved_connections = v;
    }
    if sv.reserved_connections >= sv.max_connections && sv.max_connections > 0 {
        p.add(
            if fsv.reserved_connections.is_some() { format!("{at}.reserved_connections") } else { format!("{at}.max_connections") },
            format!(
                "reserved_connections ({}) leaves no connection for clients out of max_connections ({})",
                sv.reserved_connections, sv.max_connections
            ),
            Some("PostgreSQL requires superuser_reserved_connections < max_connections"),
        );
    }
    if let Some(v) = fsv.backlog {
        if v == 0 {
            p.add(
                format!("{at}.backlog"),
                "`backlog` must be at least 1",
                None,
            );
        }
        sv.backlog = v;
    }
    if let Some(v) = fsv.cores {
        sv.cores = v;
    }
    if let Some(v) = dur(fsv.accept_cpu) {
        sv.accept_cpu = v;
    }
    if let Some(v) = fsv.memory_per_connection {
        sv.memory_per_connection = v;
    }
    if let Some(v) = fsv.max_connect_errors {
        sv.max_connect_errors = v;
    }
    if let Some(v) = fsv.handshake {
        sv.handshake = v;
    }
    if let Some(t) = dur(fsv.handshake_timeout) {
        sv.handshake_timeout = (!t.is_zero()).then_some(t);
    }
    if let Some(v) = dur(fsv.evict_min_idle) {
        sv.evict_min_idle = v;
    }
    if let Some(r) = &fsv.replicas {
        sv.replicas = r.iter().map(|d| d.0).collect();
    }
    sv.soft_limit = fsv.soft_limit;
    sv.hard_limit = fsv.hard_limit;
    match (sv.soft_limit, sv.hard_limit) {
        (Some(soft), Some(hard)) => {
            if soft > hard {
                p.add(
                    format!("{at}.soft_limit"),
                    format!("soft_limit ({soft}) is above hard_limit ({hard})"),
                    Some("eviction starts at the soft limit; rejection at the hard limit"),
                );
            }
            if soft == 0 {
                p.add(
                    format!("{at}.soft_limit"),
                    "`soft_limit` must be at least 1",
                    None,
                );
            }
        }
        (None, None) if kind == ServerKind::Upstash => p.add(
            format!("{at}.preset"),
            "the upstash preset needs `soft_limit` and `hard_limit`",
            Some("Upstash does not publish them: set e.g. soft_limit = 1000 and hard_limit = 1100"),
        ),
        (None, None) => {}
        (Some(_), None) => p.add(
            format!("{at}.soft_limit"),
            "`soft_limit` needs `hard_limit`",
            None,
        ),
        (None, Some(_)) => p.add(
            format!("{at}.hard_limit"),
            "`hard_limit` needs `soft_limit`",
            None,
        ),
    }
    let mut stcp = tcp_config(p, &format!("{at}.tcp"), &fsv.tcp);
    if fsv.tcp.keepalive.is_none() {
        // The preset's keepalive (Redis tcp-keepalive 300) stays unless the
        // file gives its own.
        stcp.keepalive = sv.tcp.keepalive;
        if let Some(k) = stcp.keepalive {
            notes.push(format!(
                "preset `{}` turns on server TCP keepalive (idle {}, interval {}, {} probes), not written in this file; `--set {at}.tcp.keepalive.enabled=false` turns it off",
                sv.kind.name(),
                k.idle,
                k.interval,
                k.count
            ));
        }
    }
    if fsv.idle_timeout.is_none() {
        if let Some(t) = sv.idle_timeout {
            notes.push(format!(
                "preset `{}` closes idle connections after {t} ({at}.idle_timeout), not written in this file",
                sv.kind.name()
            ));
        }
    }
    sv.tcp = stcp;
    sv
}

fn strategy(k: StrategyKey) -> Strategy {
    match k {
        StrategyKey::Global => Strategy::Global,
        StrategyKey::PerInvocation => Strategy::PerInvocation,
        StrategyKey::Pool => Strategy::Pool,
        StrategyKey::Http => Strategy::Http,
    }
}

fn dur(d: Option<Dur>) -> Option<SimDuration> {
    d.map(|d| d.0)
}

/// A duration or distribution key as a [`Dist`], its parameters checked
/// (docs/scenario-format.md, "Durations"); `None` after a problem.
fn dist(p: &mut Problems, path: &str, d: Option<&DurDist>) -> Option<Dist> {
    let zero_hint = Some("write \"0s\" for no time at all");
    match d? {
        DurDist::Fixed(d) => Some(Dist::Fixed(d.0)),
        DurDist::Exponential(mean) => {
            if mean.0.is_zero() {
                p.add(
                    format!("{path}.exponential"),
                    "the mean of an exponential distribution must be longer than 0s",
                    zero_hint,
                );
                return None;
            }
            Some(Dist::Exponential { mean: mean.0 })
        }
        DurDist::LogNormal { median, sigma } => {
            let mut ok = true;
            if median.0.is_zero() {
                p.add(
                    format!("{path}.lognormal.median"),
                    "the median of a lognormal distribution must be longer than 0s",
                    zero_hint,
                );
                ok = false;
            }
            if !(sigma.is_finite() && *sigma > 0.0 && *sigma <= MAX_SIGMA) {
                p.add(
                    format!("{path}.lognormal.sigma"),
                    format!("sigma = {sigma} is outside (0, {MAX_SIGMA}]"),
                    Some("sigma is the standard deviation of the duration's logarithm: 0.5 spreads the middle two thirds over about 0.6x..1.65x the median"),
                );
                ok = false;
            }
            ok.then_some(Dist::LogNormal {
                median: median.0,
                sigma: *sigma,
            })
        }
        DurDist::Uniform(lo, hi) => {
            if lo.0 > hi.0 {
                p.add(
                    format!("{path}.uniform"),
                    format!("the uniform bounds are reversed: {lo} is above {hi}"),
                    Some("write [lo, hi] with lo <= hi"),
                );
                return None;
            }
            Some(Dist::Uniform { lo: lo.0, hi: hi.0 })
        }
        DurDist::Empirical(name) => empirical(p, path, name),
    }
}

/// Largest lognormal `sigma`: beyond it, a draw is the median times up to
/// e^(10 * 8.5) (the largest normal a 53-bit draw gives), past any time.
const MAX_SIGMA: f64 = 10.0;

/// Reads `{ empirical = "FILE" }`: one duration per line (`250ms`,
/// `1.2s`), blank lines and `#` comments ignored; a relative path is
/// resolved against the scenario file's directory.
fn empirical(p: &mut Problems, path: &str, name: &str) -> Option<Dist> {
    let at = format!("{path}.empirical");
    let file = p.dir.join(name);
    let where_hint = Some("a relative path is read from the scenario file's directory");
    // One read, its failures each with their hint.
    let read = || -> Result<String, (String, Option<&str>)> {
        let cannot =
            |e: std::io::Error| (format!("cannot read `{}`: {e}", file.display()), where_hint);
        let m = std::fs::metadata(&file).map_err(cannot)?;
        if !m.is_file() {
            return Err((format!("`{}` is not a file", file.display()), where_hint));
        }
        if m.len() > limits::MAX_EMPIRICAL_BYTES as u64 {
            return Err((
                format!(
                    "`{}` is {} bytes; thaw reads empirical files of at most {} bytes (1 MiB)",
                    file.display(),
                    m.len(),
                    limits::MAX_EMPIRICAL_BYTES
                ),
                Some("keep a sample of the measurements: 100,000 lines are plenty"),
            ));
        }
        String::from_utf8(std::fs::read(&file).map_err(cannot)?)
            .map_err(|_| (format!("`{}` is not UTF-8 text", file.display()), None))
    };
    let text = match read() {
        Ok(t) => t,
        Err((message, hint)) => {
            p.add(at, message, hint);
            return None;
        }
    };
    let mut samples = Vec::new();
    let mut bad = false;
    for (i, line) in text.lines().enumerate() {
        let v = line.split('#').next().unwrap_or("").trim();
        if v.is_empty() {
            continue;
        }
        match v.parse::<Dur>() {
            Ok(d) => samples.push(d.0),
            Err(e) => {
                p.add(
                    at.clone(),
                    format!("{}:{}: `{v}` is not a duration: {e}", file.display(), i + 1),
                    Some("one duration per line, like 250ms or 1.2s; `#` starts a comment"),
                );
                bad = true;
            }
        }
        if samples.len() > limits::MAX_ARRAY_LEN {
            p.add(
                at,
                format!(
                    "`{}` has more than {} samples",
                    file.display(),
                    limits::MAX_ARRAY_LEN
                ),
                None,
            );
            return None;
        }
    }
    if bad {
        return None;
    }
    if samples.is_empty() {
        p.add(
            at,
            format!("`{}` has no samples", file.display()),
            Some("one duration per line, like 250ms or 1.2s"),
        );
        return None;
    }
    Some(Dist::Empirical(samples.into()))
}

fn positive(p: &mut Problems, path: &str, d: Option<SimDuration>) {
    if d == Some(SimDuration::ZERO) {
        p.add(path, format!("`{path}` must be longer than 0s"), None);
    }
}

/// `op = "quit"` (model.md 6.4): the plain client's connections only, for
/// now (a pool, a client library and a proxy have their own ways of ending
/// a session, not modelled).
fn quit_checks(p: &mut Problems, cfg: &SimConfig) {
    let cl = &cfg.client;
    let lists = std::iter::once(("client.requests".to_string(), &cl.requests)).chain(
        cl.handlers
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("handlers[{i}].requests"), &h.requests)),
    );
    for (path, reqs) in lists {
        for (i, r) in reqs.iter().enumerate() {
            if r.op != RequestOp::Quit {
                continue;
            }
            let strategy = cl.strategy_of(r.target);
            let why = if cfg.proxies.iter().any(|x| x.server == r.target) {
                Some("a proxy in front of its server")
            } else if strategy == Strategy::Pool {
                Some("`strategy = \"pool\"` (a pool ends its connections itself)")
            } else if strategy == Strategy::Http {
                Some("`strategy = \"http\"` (no connection to end)")
            } else if strategy == Strategy::Global && cl.library.is_some() {
                Some("a `[client.library]` in charge of its connection")
            } else {
                None
            };
            if let Some(why) = why {
                p.add(
                    format!("{path}[{i}].op"),
                    format!("`op = \"quit\"` is modelled on the plain client's own connection, not with {why}"),
                    Some("use `strategy = \"global\"` or `\"per_invocation\"` without [client.library] or a proxy"),
                );
            }
        }
    }
}

/// `[function.snapstart]` (model.md 1.6b): what the snapshot may hold is
/// what thaw models, and Lambda refuses SnapStart with provisioned
/// concurrency.
fn snapstart_checks(p: &mut Problems, cfg: &SimConfig) {
    let Some(snap) = &cfg.platform.snapstart else {
        return;
    };
    if cfg.platform.provisioned > 0 {
        p.add(
            "function.snapstart",
            "SnapStart does not support provisioned concurrency (AWS Lambda Developer Guide, \"Improving startup performance with Lambda SnapStart\")",
            Some("remove `provisioned_concurrency` or `[function.snapstart]`"),
        );
    }
    let cl = &cfg.client;
    if cl
        .pool
        .as_ref()
        .is_some_and(|ps| ps.config.fill_to_min && ps.config.min > 0)
    {
        p.add(
            "function.snapstart",
            "the pool opens its `min` connections at init, so the snapshot would hold them: pooled connections captured in a snapshot are not modelled",
            Some("set `client.pool.min = 0`, or show the captured connection with `strategy = \"global\"`"),
        );
    }
    let uses = snap.init_connects || snap.after_restore == AfterRestore::Reconnect;
    let key = if snap.init_connects {
        "function.snapstart.init_connects"
    } else {
        "function.snapstart.after_restore"
    };
    if uses && cl.library.is_some() {
        p.add(
            key,
            "a `[client.library]` connection captured in the snapshot or reopened by the hook is not modelled: they act on the plain client's `global` connections",
            Some("remove `[client.library]`, or keep `init_connects = false` and `after_restore = \"none\"`"),
        );
        return;
    }
    let functions = std::iter::once(&cl.requests).chain(cl.handlers.iter().map(|h| &h.requests));
    let any_global = functions.flatten().any(|r| {
        cl.strategy_of(r.target) == Strategy::Global
            && cfg
                .servers
                .get(r.target as usize)
                .is_some_and(|s| s.location != ServerLocation::Environment)
    });
    if uses && !any_global {
        p.add(
            key,
            "no request goes over a `global` connection to a server outside the environment: init has nothing to connect and the hook nothing to reconnect",
            Some("use `strategy = \"global\"` for the server whose connection init opens"),
        );
    }
}

/// Servers with `location = "environment"` (model.md 5.14): no proxy in
/// front, no connectionless HTTP API, and few enough environments alive at
/// once that each can have its own instance.
fn local_server_checks(p: &mut Problems, cfg: &SimConfig, tables: &[(String, &ServerSection)]) {
    let local: Vec<u16> = (0..cfg.servers.len() as u16)
        .filter(|&i| cfg.servers[i as usize].location == ServerLocation::Environment)
        .collect();
    if local.is_empty() {
        return;
    }
    let at = |i: u16| {
        tables
            .get(i as usize)
            .map(|(a, _)| format!("{a}.location"))
            .unwrap_or_else(|| "server.location".to_string())
    };
    for px in &cfg.proxies {
        if local.contains(&px.server) {
            p.add(
                at(px.server),
                format!(
                    "the proxy \"{}\" fronts \"{}\", which runs inside the environment",
                    px.name, cfg.servers[px.server as usize].name
                ),
                Some("a proxy is a remote host: put it in front of a server with location = \"remote\""),
            );
        }
    }
    for &t in &local {
        if cfg.client.strategy_of(t) == Strategy::Http {
            p.add(
                at(t),
                format!(
                    "\"{}\" runs inside the environment, but is reached with `strategy = \"http\"` (a remote HTTP API)",
                    cfg.servers[t as usize].name
                ),
                Some("use a connection strategy (global, per_invocation, pool) for a server on localhost"),
            );
        }
    }
    // Each environment alive has its own instance; instances share the
    // host ids of servers and proxies.
    let need = local.len() as u64 * u64::from(cfg.platform.max_concurrency)
        + cfg.servers.len() as u64
        + cfg.proxies.len() as u64;
    if need >= u64::from(limits::MAX_SERVER_INSTANCES) {
        p.add(
            "function.max_concurrency",
            format!(
                "{} environments at once, each with {} server(s) inside, need {need} server instances; thaw keeps at most {}",
                cfg.platform.max_concurrency,
                local.len(),
                limits::MAX_SERVER_INSTANCES - 1
            ),
            Some("lower function.max_concurrency (environments alive at once)"),
        );
    }
}

/// `strategy = "http"`: every request is a call of its own, in its own
/// autocommit session, straight to the server.
/// Checks of `strategy = "http"`, for the servers reached with it.
fn http_checks(p: &mut Problems, f: &ScenarioFile, cl: &ClientConfig, proxied: &[u16]) {
    let http = |t: u16| cl.strategy_of(t) == Strategy::Http;
    if proxied.iter().any(|t| http(*t)) {
        p.add(
            "client.strategy",
            "`strategy = \"http\"` does not go through a `[proxy]`",
            Some("remove `[proxy]`, or use a connection strategy"),
        );
    }
    if f.client.autocommit == Some(false) {
        p.add(
            "client.autocommit",
            "with `strategy = \"http\"` every request runs in its own autocommit session",
            Some("remove `autocommit = false`"),
        );
    }
    let lists = std::iter::once(("client.requests".to_string(), &cl.requests)).chain(
        cl.handlers
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("handlers[{i}].requests"), &h.requests)),
    );
    for (path, reqs) in lists {
        for (i, r) in reqs.iter().enumerate() {
            if http(r.target)
                && matches!(
                    r.op,
                    RequestOp::Begin | RequestOp::Commit | RequestOp::Rollback
                )
            {
                p.add(
                    format!("{path}[{i}].op"),
                    "a transaction needs a connection; with `strategy = \"http\"` every request is its own autocommit session",
                    Some("use `strategy = \"global\"` for transactions"),
                );
            }
        }
    }
}

/// `await = false`: only where the world tracks replies on a plain
/// connection of its own (model.md 6.4).
fn await_checks(p: &mut Problems, cl: &ClientConfig) {
    let lists = std::iter::once(("client.requests".to_string(), &cl.requests)).chain(
        cl.handlers
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("handlers[{i}].requests"), &h.requests)),
    );
    for (path, reqs) in lists {
        for (i, r) in reqs.iter().enumerate() {
            if r.await_reply {
                continue;
            }
            let why = match cl.strategy_of(r.target) {
                Strategy::Global if cl.library.is_some() => Some(
                    "a request the handler does not await is modelled on a plain connection, not through `[client.library]`",
                ),
                Strategy::Global => None,
                Strategy::PerInvocation => Some(
                    "a per-invocation connection is closed when the invocation ends; a request the handler does not await needs `strategy = \"global\"`",
                ),
                Strategy::Pool => Some(
                    "a pooled connection goes back to the pool at the reply; a request the handler does not await needs `strategy = \"global\"`",
                ),
                Strategy::Http => Some("with `strategy = \"http\"` every request is awaited"),
            };
            if let Some(why) = why {
                p.add(format!("{path}[{i}].await"), why, Some("remove `await = false`, or use a plain `global` connection for this request's server"));
            }
        }
    }
}

/// `[client.retry]`.
fn retry_settings(p: &mut Problems, r: &RetrySection) -> RetrySettings {
    let mut rs = RetrySettings::default();
    if let Some(c) = r.count {
        rs.count = c;
    }
    if let Some(b) = dur(r.backoff) {
        rs.backoff = b;
    }
    if let Some(m) = dur(r.backoff_max) {
        if m < rs.backoff {
            p.add(
                "client.retry.backoff_max",
                format!("`backoff_max` ({m}) is below `backoff` ({})", rs.backoff),
                Some("the cap of the backoff must be at least its base"),
            );
        }
        rs.backoff_max = Some(m);
    }
    if let Some(on) = &r.on {
        rs.on.clear();
        for (i, name) in on.iter().enumerate() {
            match ErrorKind::ALL.iter().find(|k| k.name() == name.as_str()) {
                Some(ErrorKind::FunctionTimeout) => p.add(
                    format!("client.retry.on[{i}]"),
                    "FUNCTION_TIMEOUT cannot be retried: the invocation is over",
                    None,
                ),
                Some(k) => rs.on.push(*k),
                None => p.add(
                    format!("client.retry.on[{i}]"),
                    format!("unknown error kind `{name}`"),
                    Some("e.g. ECONNRESET, EPIPE, EOF, ETIMEDOUT, REQUEST_TIMEOUT"),
                ),
            }
        }
    }
    rs
}

/// `[client.library]`: a library preset and its overrides.
fn library_settings(
    p: &mut Problems,
    f: &ScenarioFile,
    any_global: bool,
) -> Option<thaw_sim::LibrarySettings> {
    use thaw_client::library::presets;
    use thaw_client::{IdleCheck, InFlight, Reconnect};
    let ls = f.client.library.as_ref()?;
    if !any_global {
        p.add(
            "client.library",
            "`[client.library]` holds the connections of `global` targets, and no target uses `strategy = \"global\"`",
            Some("set `strategy = \"global\"` under [client] or for a target in [client.targets]"),
        );
        return None;
    }
    let Some(name) = ls.preset.as_deref() else {
        p.add(
            "client.library.preset",
            "`[client.library]` needs a `preset`",
            Some(&format!("one of {}", presets::NAMES.join(", "))),
        );
        return None;
    };
    let Some(pre) = presets::preset(name) else {
        p.add(
            "client.library.preset",
            format!("no library preset is named \"{name}\""),
            Some(
                &match thaw_core::did_you_mean(name, presets::NAMES.iter().copied()) {
                    Some(c) => format!("did you mean \"{c}\"?"),
                    None => format!("one of {}", presets::NAMES.join(", ")),
                },
            ),
        );
        return None;
    };
    let mut c = pre.config;
    let opt = |d: Option<Dur>| d.map(|d| (!d.0.is_zero()).then_some(d.0));
    if let Some(r) = ls.reconnect {
        c.reconnect = match (r, pre.config.reconnect) {
            (ReconnectKey::Never, _) => Reconnect::Never,
            (ReconnectKey::OnNextUse, _) => Reconnect::OnNextUse,
            (ReconnectKey::Backoff, b @ Reconnect::Backoff(_)) => b,
            (ReconnectKey::Backoff, _) => {
                p.add(
                    "client.library.reconnect",
                    format!("preset `{name}` has no reconnect backoff of its own"),
                    Some("use a preset that reconnects with a backoff (ioredis, node-redis), or `on_next_use`"),
                );
                pre.config.reconnect
            }
        };
    }
    if let Some(q) = ls.offline_queue {
        c.offline_queue = q;
    }
    if let Some(k) = ls.in_flight {
        c.in_flight = match (k, pre.config.in_flight) {
            (InFlightKey::Reject, _) => InFlight::Reject,
            (InFlightKey::Resend, _) => InFlight::Resend,
            (InFlightKey::Retry, r @ InFlight::Retry { .. }) => r,
            (InFlightKey::Retry, _) => {
                p.add(
                    "client.library.in_flight",
                    format!("preset `{name}` does not retry a command of its own"),
                    Some("use a preset that retries (go-redis, aws-sdk-v3), or `[client.retry]` for the application's own retry"),
                );
                pre.config.in_flight
            }
        };
    }
    if let Some(n) = ls.retries {
        match &mut c.in_flight {
            InFlight::Retry { max, .. } => *max = n,
            _ => p.add(
                "client.library.retries",
                "`retries` counts the retries of `in_flight = \"retry\"`, and this library does not retry",
                Some("set `in_flight = \"retry\"` with a preset that retries, or remove `retries`"),
            ),
        }
    }
    if let Some(d) = opt(ls.idle_close) {
        c.idle_close = d;
    }
    if let Some(d) = opt(ls.max_idle) {
        if ls.health_check_interval.is_some() {
            p.add(
                "client.library.max_idle",
                "`max_idle` and `health_check_interval` are two checks before a command; a library has one",
                Some("keep one of them"),
            );
        }
        c.idle_check = match d {
            Some(max_idle) => IdleCheck::MaxIdle { max_idle },
            None => IdleCheck::None,
        };
    }
    if let Some(n) = ls.max_retries_per_request {
        c.max_retries_per_request = (n > 0).then_some(n);
    }
    if let Some(d) = opt(ls.connect_timeout) {
        c.connect_timeout = d;
    }
    if let Some(d) = opt(ls.command_timeout) {
        c.command_timeout = d;
    }
    if let Some(d) = opt(ls.ping_interval) {
        c.ping_interval = d;
    }
    if let Some(d) = opt(ls.ping_timeout) {
        c.ping_timeout = d;
    }
    if let Some(d) = opt(ls.health_check_interval) {
        c.idle_check = match d {
            Some(after) => IdleCheck::Ping { after },
            None => IdleCheck::None,
        };
    }
    if opt(ls.ping_timeout).is_some_and(|d| d.is_some()) && c.ping_interval.is_none() {
        p.add(
            "client.library.ping_timeout",
            "`ping_timeout` needs `ping_interval`: only a heartbeat ping has a timeout",
            Some("set `ping_interval` too (gRPC's `keepalive_time`), or remove `ping_timeout`"),
        );
        return None;
    }
    if let Err(e) = c.check() {
        let key = match e {
            thaw_client::LibConfigError::ZeroPingInterval => "client.library.ping_interval",
            thaw_client::LibConfigError::ZeroIdleClose => "client.library.idle_close",
            thaw_client::LibConfigError::ZeroBackoff => "client.library.reconnect",
            thaw_client::LibConfigError::ResendWithoutReconnect => "client.library.in_flight",
        };
        p.add(key, e.to_string(), None);
        return None;
    }
    Some(thaw_sim::LibrarySettings {
        preset: name.to_string(),
        title: pre.title,
        config: c,
        messages: pre.messages,
        reports: pre.reports,
    })
}

/// `[client.pool]`: a preset and its overrides.
fn pool_settings(
    p: &mut Problems,
    f: &ScenarioFile,
    fn_timeout: SimDuration,
    strategy: Strategy,
) -> Option<PoolSettings> {
    let Some(ps) = &f.client.pool else {
        if strategy == Strategy::Pool {
            p.add(
                "client.strategy",
                "`strategy = \"pool\"` needs a `[client.pool]` section",
                Some("add `[client.pool]` with `preset = \"sequelize\"` (or another library)"),
            );
        }
        return None;
    };
    if strategy != Strategy::Pool {
        p.add(
            "client.pool",
            "`[client.pool]` is used only with `strategy = \"pool\"`",
            Some("set `strategy = \"pool\"` under [client]"),
        );
        return None;
    }
    let Some(preset) = ps.preset else {
        p.add(
            "client.pool.preset",
            "`[client.pool]` needs a `preset`",
            Some("one of sequelize, sequelize-lambda-guide, pg-pool, mysql2, go-database-sql, sqlalchemy, hikaricp, serverless-mysql, sqlx, bb8, npgsql, psycopg-pool, deadpool-postgres, deadpool-redis"),
        );
        return None;
    };
    let (name, mut c) = match preset {
        PoolPresetKey::Sequelize => ("sequelize", PoolConfig::sequelize()),
        PoolPresetKey::SequelizeLambdaGuide => (
            "sequelize-lambda-guide",
            PoolConfig::sequelize_lambda_guide(fn_timeout),
        ),
        PoolPresetKey::PgPool => ("pg-pool", PoolConfig::pg_pool()),
        PoolPresetKey::Mysql2 => ("mysql2", PoolConfig::mysql2()),
        PoolPresetKey::GoDatabaseSql => ("go-database-sql", PoolConfig::go_database_sql()),
        PoolPresetKey::Sqlalchemy => ("sqlalchemy", PoolConfig::sqlalchemy()),
        PoolPresetKey::Hikaricp => ("hikaricp", PoolConfig::hikaricp()),
        PoolPresetKey::ServerlessMysql => ("serverless-mysql", PoolConfig::serverless_mysql()),
        PoolPresetKey::Sqlx => ("sqlx", PoolConfig::sqlx()),
        PoolPresetKey::Bb8 => ("bb8", PoolConfig::bb8()),
        PoolPresetKey::Npgsql => ("npgsql", PoolConfig::npgsql()),
        PoolPresetKey::PsycopgPool => ("psycopg-pool", PoolConfig::psycopg_pool()),
        PoolPresetKey::DeadpoolPostgres => ("deadpool-postgres", PoolConfig::deadpool_postgres()),
        PoolPresetKey::DeadpoolRedis => ("deadpool-redis", PoolConfig::deadpool_redis()),
    };
    if let Some(m) = ps.max {
        c.max = m;
    }
    if let Some(m) = ps.min {
        c.min = m;
    }
    if let Some(d) = dur(ps.idle_timeout) {
        c.idle_timeout = Some(d);
    }
    if let Some(d) = dur(ps.acquire_timeout) {
        c.acquire_timeout = if d.is_zero() { None } else { Some(d) };
    }
    if let Some(d) = dur(ps.evict) {
        c.evictor = if d.is_zero() {
            Evictor::None
        } else {
            match c.evictor {
                Evictor::FixedInterval(_) => Evictor::FixedInterval(d),
                Evictor::Median { samples, .. } => Evictor::Median {
                    interval: d,
                    samples,
                },
                Evictor::ReArmed(_) | Evictor::None | Evictor::PerConnection => Evictor::ReArmed(d),
            }
        };
    }
    if let Some(d) = dur(ps.max_lifetime) {
        c.max_lifetime = if d.is_zero() { None } else { Some(d) };
    }
    if let Some(d) = dur(ps.keepalive_query) {
        c.keepalive_query = if d.is_zero() { None } else { Some(d) };
    }
    if let Some(v) = ps.validation {
        c.validation = match v {
            ValidationKey::None => Validation::None,
            ValidationKey::Flag => Validation::Flag,
            ValidationKey::Peek => Validation::LivenessPeek,
            ValidationKey::Ping => Validation::Ping,
        };
        if c.validation == Validation::None && c.on_lost == OnLost::Mark {
            // Nothing checks a flag: the driver's close event removes.
            c.on_lost = OnLost::Remove;
        }
    }
    if let (Evictor::Median { interval, .. }, Some(idle)) = (c.evictor, c.idle_timeout) {
        // Npgsql: samples = ceil(Connection Idle Lifetime / Pruning Interval).
        let n = idle
            .as_nanos()
            .div_ceil(interval.as_nanos().max(1))
            .clamp(1, 1_000_000);
        c.evictor = Evictor::Median {
            interval,
            samples: n as u32,
        };
    }
    if let Some(d) = dur(ps.ping_timeout) {
        c.ping_timeout = (!d.is_zero()).then_some(d);
    }
    if let Some(o) = ps.order {
        c.order = match o {
            OrderKey::Lifo => IdleOrder::Lifo,
            OrderKey::Fifo => IdleOrder::Fifo,
        };
    }
    if let Err(e) = c.check() {
        // Point at the key that is wrong when there is one.
        let (path, hint) = match e {
            thaw_client::ConfigError::ZeroMax => ("client.pool.max", None),
            thaw_client::ConfigError::MinAboveMax => (
                if ps.min.is_some() {
                    "client.pool.min"
                } else {
                    "client.pool.max"
                },
                Some("the preset's min applies unless you set `min`"),
            ),
            thaw_client::ConfigError::ZeroEvictorPeriod => ("client.pool.evict", None),
            thaw_client::ConfigError::UncheckedMark
            | thaw_client::ConfigError::ZeroAttempts
            | thaw_client::ConfigError::ZeroRetryDelay
            | thaw_client::ConfigError::ZeroMaxUses => ("client.pool", None),
            thaw_client::ConfigError::ZeroKeepaliveQuery => ("client.pool.keepalive_query", None),
        };
        p.add(path, format!("invalid pool: {e}"), hint);
        return None;
    }
    Some(PoolSettings {
        preset: name.to_string(),
        config: c,
        close_after_invocation: ps.close_after_invocation.unwrap_or(false),
        reset_at_start: ps.reset_at_start.unwrap_or(false),
        zombie_cleanup: (preset == PoolPresetKey::ServerlessMysql)
            .then(thaw_sim::ServerlessMysql::default),
        messages: thaw_client::pool_messages(name),
    })
}

fn tcp_config(p: &mut Problems, prefix: &str, t: &TcpSection) -> TcpConfig {
    let mut c = TcpConfig::default();
    if let Some(v) = dur(t.rto_min) {
        c.rto_min = v;
    }
    if let Some(v) = dur(t.rto_max) {
        c.rto_max = v;
    }
    if let Some(v) = dur(t.rto_initial) {
        c.rto_initial = v;
    }
    positive(p, &format!("{prefix}.rto_min"), dur(t.rto_min));
    positive(p, &format!("{prefix}.rto_initial"), dur(t.rto_initial));
    if c.rto_min > c.rto_max {
        p.add(
            format!("{prefix}.rto_min"),
            format!("rto_min ({}) is above rto_max ({})", c.rto_min, c.rto_max),
            Some("Linux uses 200ms and 120s"),
        );
    }
    for (key, v, max, slot) in [
        ("retries2", t.retries2, 255, &mut c.retries2),
        (
            "orphan_retries",
            t.orphan_retries,
            255,
            &mut c.orphan_retries,
        ),
        ("syn_retries", t.syn_retries, 127, &mut c.syn_retries),
        // MAX_TCP_SYNCNT bounds it in sysctl_net_ipv4.c, as syn_retries.
        (
            "syn_linear_timeouts",
            t.syn_linear_timeouts,
            127,
            &mut c.syn_linear_timeouts,
        ),
        (
            "synack_retries",
            t.synack_retries,
            255,
            &mut c.synack_retries,
        ),
    ] {
        if let Some(v) = v {
            if v > max {
                p.add(
                    format!("{prefix}.{key}"),
                    format!("`{key}` = {v} is above Linux's limit of {max}"),
                    None,
                );
            }
            *slot = v;
        }
    }
    if t.syn_retries == Some(0) {
        p.add(
            format!("{prefix}.syn_retries"),
            "`syn_retries` must be at least 1",
            Some("Linux rejects 0 for net.ipv4.tcp_syn_retries"),
        );
    }
    if let Some(v) = dur(t.fin_timeout) {
        c.fin_timeout = v;
    }
    if let Some(v) = dur(t.time_wait) {
        c.time_wait = v;
    }
    positive(p, &format!("{prefix}.time_wait"), dur(t.time_wait));
    c.user_timeout = dur(t.user_timeout).filter(|d| !d.is_zero());
    if let Some(hz) = t.hz {
        if hz != 0 && !(100..=1000).contains(&hz) {
            p.add(
                format!("{prefix}.hz"),
                format!("hz {hz} is not a Linux CONFIG_HZ (100, 250, 300 or 1000; 0 = exact)"),
                None,
            );
        }
        c.hz = (hz != 0).then_some(hz);
    }
    if let Some(v) = t.tail_loss_probe {
        c.tail_loss_probe = v;
    }
    if let Some(v) = t.retrans_collapse {
        c.retrans_collapse = v;
    }
    if let Some(v) = t.timer_wheel {
        if v && c.hz.is_none() {
            p.add(
                format!("{prefix}.timer_wheel"),
                "timer_wheel needs a tick: hz is 0 (exact)",
                Some("set hz to the kernel's CONFIG_HZ (250 by default), or timer_wheel = false"),
            );
        }
        c.timer_wheel = v;
    }
    if let Some(k) = &t.keepalive {
        let mut ka = Keepalive::default();
        if let Some(v) = dur(k.idle) {
            ka.idle = v;
        }
        if let Some(v) = dur(k.interval) {
            ka.interval = v;
        }
        if let Some(v) = k.count {
            ka.count = v;
        }
        for (key, d) in [("idle", ka.idle), ("interval", ka.interval)] {
            if d < SimDuration::from_secs(1) || d > SimDuration::from_secs(32767) {
                p.add(
                    format!("{prefix}.keepalive.{key}"),
                    format!("keepalive {key} {d} is outside Linux's range 1s..32767s"),
                    None,
                );
            }
        }
        if !(1..=127).contains(&ka.count) {
            p.add(
                format!("{prefix}.keepalive.count"),
                format!(
                    "keepalive count {} is outside Linux's range 1..127",
                    ka.count
                ),
                None,
            );
        }
        c.keepalive = k.enabled.unwrap_or(true).then_some(ka);
    }
    c
}

/// `[proxy]`: the preset, its own settings (the other preset's keys are
/// errors), and the shared ones.
fn proxy_config(
    p: &mut Problems,
    at: &str,
    px: &ProxySection,
    server: &ServerConfig,
) -> Option<ProxyConfig> {
    let Some(preset) = px.preset else {
        p.add(
            at,
            "[proxy] needs a `preset`",
            Some("`preset = \"rds-proxy\"` or `preset = \"pgbouncer\"`"),
        );
        return None;
    };
    let rds_keys = [
        (
            "max_connections_percent",
            px.max_connections_percent.is_some(),
        ),
        (
            "max_idle_connections_percent",
            px.max_idle_connections_percent.is_some(),
        ),
        (
            "connection_borrow_timeout",
            px.connection_borrow_timeout.is_some(),
        ),
        ("idle_client_timeout", px.idle_client_timeout.is_some()),
    ];
    let pgb_keys = [
        ("pool_mode", px.pool_mode.is_some()),
        ("default_pool_size", px.default_pool_size.is_some()),
        ("max_client_conn", px.max_client_conn.is_some()),
        ("server_idle_timeout", px.server_idle_timeout.is_some()),
        ("server_lifetime", px.server_lifetime.is_some()),
        ("client_idle_timeout", px.client_idle_timeout.is_some()),
        ("query_wait_timeout", px.query_wait_timeout.is_some()),
    ];
    let (foreign, this, other): (&[(&str, bool)], &str, &str) = match preset {
        ProxyPresetKey::RdsProxy => (&pgb_keys, "rds-proxy", "a PgBouncer"),
        ProxyPresetKey::Pgbouncer => (&rds_keys, "pgbouncer", "an RDS Proxy"),
    };
    for (key, _) in foreign.iter().filter(|(_, set)| *set) {
        p.add(
            format!("{at}.{key}"),
            format!("`{key}` is {other} setting; this proxy is {this}"),
            None,
        );
    }
    let kind = match preset {
        ProxyPresetKey::RdsProxy => {
            if matches!(server.kind, ServerKind::Redis | ServerKind::Upstash) {
                p.add(
                    format!("{at}.preset"),
                    format!(
                        "RDS Proxy fronts MySQL and PostgreSQL databases, not {}",
                        server.kind.name()
                    ),
                    Some(
                        "use `preset = \"mysql8\"`, `\"mariadb\"` or `\"postgres\"` under [server]",
                    ),
                );
            }
            let mut r = RdsProxyConfig::default();
            if let Some(v) = px.max_connections_percent {
                if !(1..=100).contains(&v) {
                    p.add(
                        format!("{at}.max_connections_percent"),
                        format!(
                            "max_connections_percent = {v} is outside RDS Proxy's range 1..100"
                        ),
                        None,
                    );
                }
                r.max_connections_percent = v;
                // AWS: half of MaxConnectionsPercent unless given.
                r.max_idle_connections_percent = v / 2;
            }
            if let Some(v) = px.max_idle_connections_percent {
                if v > r.max_connections_percent {
                    p.add(
                        format!("{at}.max_idle_connections_percent"),
                        format!(
                            "max_idle_connections_percent = {v} is above max_connections_percent ({})",
                            r.max_connections_percent
                        ),
                        Some("RDS Proxy accepts 0..MaxConnectionsPercent"),
                    );
                }
                r.max_idle_connections_percent = v;
            }
            if let Some(t) = dur(px.connection_borrow_timeout) {
                if t > SimDuration::from_secs(3600) {
                    p.add(
                        format!("{at}.connection_borrow_timeout"),
                        format!(
                            "connection_borrow_timeout {t} is above RDS Proxy's maximum of 3600s"
                        ),
                        Some("\"0s\" means no limit"),
                    );
                }
                r.connection_borrow_timeout = (!t.is_zero()).then_some(t);
            }
            if let Some(t) = dur(px.idle_client_timeout) {
                positive(p, &format!("{at}.idle_client_timeout"), Some(t));
                r.idle_client_timeout = t;
            }
            ProxyKind::RdsProxy(r)
        }
        ProxyPresetKey::Pgbouncer => {
            if !matches!(server.kind, ServerKind::Postgres | ServerKind::Generic) {
                p.add(
                    format!("{at}.preset"),
                    format!(
                        "PgBouncer speaks the PostgreSQL protocol; the server is {}",
                        server.kind.name()
                    ),
                    Some("use `preset = \"postgres\"` under [server]"),
                );
            }
            let mut g = PgBouncerConfig::default();
            if let Some(k) = px.pool_mode {
                g.pool_mode = match k {
                    PoolModeKey::Session => PoolMode::Session,
                    PoolModeKey::Transaction => PoolMode::Transaction,
                };
            }
            for (key, v, slot) in [
                (
                    "default_pool_size",
                    px.default_pool_size,
                    &mut g.default_pool_size,
                ),
                (
                    "max_client_conn",
                    px.max_client_conn,
                    &mut g.max_client_conn,
                ),
            ] {
                if let Some(v) = v {
                    if v == 0 {
                        p.add(
                            format!("{at}.{key}"),
                            format!("`{key}` must be at least 1"),
                            None,
                        );
                    }
                    *slot = v;
                }
            }
            let off = |d: Option<Dur>, slot: &mut Option<SimDuration>| {
                if let Some(t) = dur(d) {
                    *slot = (!t.is_zero()).then_some(t);
                }
            };
            off(px.server_idle_timeout, &mut g.server_idle_timeout);
            off(px.client_idle_timeout, &mut g.client_idle_timeout);
            off(px.query_wait_timeout, &mut g.query_wait_timeout);
            if let Some(t) = dur(px.server_lifetime) {
                g.server_lifetime = t;
            }
            ProxyKind::PgBouncer(g)
        }
    };
    let mut cfg = ProxyConfig::preset(kind, server);
    if let Some(n) = &px.name {
        cfg.name = n.clone();
    }
    if let Some(port) = px.port {
        if port == 0 {
            p.add(format!("{at}.port"), "port 0 is not a listening port", None);
        }
        cfg.port = port;
    }
    if let Some(v) = dur(px.server_latency) {
        cfg.server_latency = v;
    }
    let mut tcp = tcp_config(p, &format!("{at}.tcp"), &px.tcp);
    if px.tcp.keepalive.is_none() {
        // The preset's keepalive (PgBouncer tcp_keepalive = 1) stays unless
        // the file gives its own.
        tcp.keepalive = cfg.tcp.keepalive;
    }
    cfg.tcp = tcp;
    Some(cfg)
}

#[allow(clippy::field_reassign_with_default)] // a builder: defaults, then overrides
/// Validates and builds a parsed file; `text` is only read to place
/// diagnostics.
pub(crate) fn build_file(file: &str, text: &str, f: ScenarioFile) -> Result<Scenario, Diagnostics> {
    build(file, text, f)
}

fn build(file: &str, text: &str, f: ScenarioFile) -> Result<Scenario, Diagnostics> {
    let mut p = Problems {
        dir: std::path::Path::new(file)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        ..Problems::default()
    };
    let mut cfg = SimConfig::default();
    let mut notes: Vec<String> = Vec::new();
    let mut warnings: Vec<(String, String, Option<String>)> = Vec::new();

    cfg.name = f.scenario.name.clone().unwrap_or_else(|| {
        std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    if let Some(s) = f.scenario.seed {
        cfg.seed = s.0;
    }
    if let Some(b) = f.run.event_budget {
        if b == 0 {
            p.add(
                "run.event_budget",
                "`event_budget` must be at least 1",
                None,
            );
        }
        cfg.event_budget = b;
    }

    // [function]
    let fs = &f.function;
    let mut pl = PlatformConfig::default();
    if let Some(m) = fs.memory_mb {
        if !(128..=10240).contains(&m) {
            p.add(
                "function.memory_mb",
                format!("memory_mb = {m} is outside Lambda's range 128..10240"),
                Some("1769 MB is one full vCPU"),
            );
        }
        pl.memory_mb = m;
    }
    if let Some(t) = dur(fs.timeout) {
        if t.is_zero() || t > SimDuration::from_secs(900) {
            p.add(
                "function.timeout",
                format!("timeout {t} is outside Lambda's range (0s, 900s]"),
                Some("Lambda's default is 3s and its maximum 900s"),
            );
        }
        pl.timeout = t;
    }
    if let Some(v) = dist(&mut p, "function.init_duration", fs.init_duration.as_ref()) {
        pl.init_duration = v;
    }
    if let Some(v) = dur(fs.freeze_delay) {
        pl.freeze_delay = v;
    }
    if let Some(v) = dist(&mut p, "function.handler_time", fs.handler_time.as_ref()) {
        pl.handler_time = v;
    }
    let reap_after = dist(&mut p, "function.reap_after", fs.reap_after.as_ref());
    match (
        fs.reap_after.as_ref(),
        dur(fs.reap_after_min),
        dur(fs.reap_after_max),
    ) {
        (Some(_), None, None) => {
            if let Some(d) = reap_after {
                match &d {
                    Dist::Fixed(v) => positive(&mut p, "function.reap_after", Some(*v)),
                    Dist::Uniform { lo, .. } if lo.is_zero() => p.add(
                        "function.reap_after",
                        "the shortest idle lifetime of `reap_after` must be longer than 0s",
                        None,
                    ),
                    _ => {}
                }
                pl.reap = d;
            }
        }
        (None, Some(min), Some(max)) => {
            positive(&mut p, "function.reap_after_min", Some(min));
            if min > max {
                p.add(
                    "function.reap_after_min",
                    format!("reap_after_min ({min}) is above reap_after_max ({max})"),
                    None,
                );
            }
            // The same draw as `reap_after = { uniform = [min, max] }`.
            pl.reap = Dist::Uniform { lo: min, hi: max };
        }
        (None, None, None) => {}
        (Some(_), _, _) => p.add(
            "function.reap_after",
            "give either `reap_after` or both `reap_after_min` and `reap_after_max`, not both",
            None,
        ),
        (None, Some(_), None) => p.add(
            "function.reap_after_min",
            "`reap_after_min` needs `reap_after_max`",
            Some("or give a fixed `reap_after`"),
        ),
        (None, None, Some(_)) => p.add(
            "function.reap_after_max",
            "`reap_after_max` needs `reap_after_min`",
            Some("or give a fixed `reap_after`"),
        ),
    }
    if let Some(k) = fs.frozen_kernel {
        pl.frozen_kernel = match k {
            FrozenKernelKey::Silent => FrozenKernel::Silent,
            FrozenKernelKey::Running => FrozenKernel::Running,
        };
    }
    if let Some(k) = fs.thaw_order {
        pl.thaw_order = match k {
            ThawOrderKey::HandlerFirst => ThawOrder::HandlerFirst,
            ThawOrderKey::EventsFirst => ThawOrder::EventsFirst,
        };
    }
    if let Some(k) = fs.extension {
        pl.extension = match k {
            ExtensionKey::None => Extension::None,
            ExtensionKey::Internal => Extension::Internal,
            ExtensionKey::External => Extension::External,
        };
    }
    if let Some(k) = fs.placement {
        pl.placement = match k {
            PlacementKey::MostRecent => Placement::MostRecent,
            PlacementKey::LeastRecent => Placement::LeastRecent,
            PlacementKey::NewestCreated => Placement::NewestCreated,
        };
    }
    if let Some(c) = fs.max_concurrency {
        if c == 0 {
            p.add(
                "function.max_concurrency",
                "`max_concurrency` must be at least 1",
                None,
            );
        }
        pl.max_concurrency = c;
    }
    if let Some(r) = &fs.scale_rate {
        if r.count > 0 && r.per.0.is_zero() {
            p.add(
                "function.scale_rate.per",
                "the window of a scale rate must be longer than 0s",
                Some("AWS's rate is { count = 1000, per = \"10s\" }"),
            );
        }
        pl.scale_rate = (r.count > 0).then_some((r.count, r.per.0));
    }
    if let Some(n) = fs.provisioned_concurrency {
        if n > pl.max_concurrency {
            p.add(
                "function.provisioned_concurrency",
                format!(
                    "provisioned_concurrency = {n} is more than max_concurrency ({})",
                    pl.max_concurrency
                ),
                Some("Lambda allocates provisioned concurrency out of the account's concurrency: raise function.max_concurrency"),
            );
        }
        pl.provisioned = n;
    }
    if let Some(ss) = &fs.snapstart {
        let mut snap = SnapStart::default();
        if let Some(d) = dist(
            &mut p,
            "function.snapstart.restore_duration",
            ss.restore_duration.as_ref(),
        ) {
            snap.restore_duration = d;
        }
        snap.init_connects = ss.init_connects.unwrap_or(false);
        if let Some(k) = ss.after_restore {
            snap.after_restore = match k {
                AfterRestoreKey::None => AfterRestore::None,
                AfterRestoreKey::Reconnect => AfterRestore::Reconnect,
            };
        }
        pl.snapstart = Some(snap);
    }
    pl.tcp = tcp_config(&mut p, "function.tcp", &fs.tcp);
    pl.handler = match (fs.handler, fs.callback_waits_for_empty_event_loop) {
        (None | Some(HandlerKey::Async), None) => HandlerKind::Async,
        (None | Some(HandlerKey::Async), Some(_)) => {
            p.add(
                "function.callback_waits_for_empty_event_loop",
                "`callback_waits_for_empty_event_loop` applies only to `handler = \"callback\"`",
                Some("an async handler's response does not wait for the event loop"),
            );
            HandlerKind::Async
        }
        (Some(HandlerKey::Callback), w) => HandlerKind::Callback {
            waits_for_empty_event_loop: w.unwrap_or(true),
        },
    };
    cfg.platform = pl;

    // [client]
    let mut cl = ClientConfig::default();
    if let Some(s) = f.client.strategy {
        cl.strategy = strategy(s);
    }
    // Whether some server is reached with this strategy (`[client.targets]`
    // are checked against the servers below).
    let uses = |st: Strategy| {
        cl.strategy == st
            || f.client
                .targets
                .values()
                .any(|t| t.strategy.map(strategy) == Some(st))
    };
    let (any_pool, any_http) = (uses(Strategy::Pool), uses(Strategy::Http));
    if let Some(o) = dur(f.client.http_overhead) {
        if !any_http {
            p.add(
                "client.http_overhead",
                "`http_overhead` is used only with `strategy = \"http\"`",
                Some("set `strategy = \"http\"` under [client]"),
            );
        }
        cl.http_overhead = o;
    }
    if let Some(c) = dist(&mut p, "client.connect_cpu", f.client.connect_cpu.as_ref()) {
        cl.connect_cpu = c;
    }
    if let Some(t) = dur(f.client.connect_timeout) {
        positive(&mut p, "client.connect_timeout", Some(t));
        cl.connect_timeout = Some(t);
    }
    if let Some(reqs) = &f.client.requests {
        cl.requests = requests(&mut p, "client.requests", reqs);
    }
    if let Some(r) = &f.client.retry {
        cl.retry = retry_settings(&mut p, r);
    }
    if let Some(v) = f.client.autocommit {
        cl.autocommit = v;
    }
    if let Some(k) = f.client.isolation {
        cl.isolation = match k {
            IsolationKey::ReadCommitted => thaw_db::Isolation::ReadCommitted,
            IsolationKey::RepeatableRead => thaw_db::Isolation::RepeatableRead,
        };
    }
    if let Some(k) = f.client.read_routing {
        cl.read_routing = match k {
            RoutingKey::Primary => thaw_db::ReadRouting::Primary,
            RoutingKey::Replica => thaw_db::ReadRouting::Replica(0),
            RoutingKey::RoundRobin => thaw_db::ReadRouting::RoundRobin,
        };
        let replicas = f
            .server
            .iter()
            .chain(&f.servers)
            .filter_map(|s| s.replicas.as_ref())
            .map(Vec::len)
            .sum::<usize>();
        if k != RoutingKey::Primary && replicas == 0 {
            p.add(
                "client.read_routing",
                "reads are routed to replicas but the server has none",
                Some("add `replicas = [\"5s\"]` (their lags) under [server]"),
            );
        }
    }
    let mut names: Vec<&str> = vec!["main"];
    for (i, h) in f.handlers.iter().enumerate() {
        if names.contains(&h.name.as_str()) {
            p.add(
                format!("handlers[{i}].name"),
                format!(
                    "handler name `{}` is used twice (or is the reserved `main`)",
                    h.name
                ),
                None,
            );
        }
        names.push(&h.name);
        cl.handlers.push(HandlerSpec {
            name: h.name.clone(),
            requests: requests(&mut p, &format!("handlers[{i}].requests"), &h.requests),
        });
    }
    let pool_strategy = if any_pool {
        Strategy::Pool
    } else {
        cl.strategy
    };
    cl.pool = pool_settings(&mut p, &f, cfg.platform.timeout, pool_strategy);
    let any_global =
        (0..cfg.servers.len().max(1)).any(|t| cl.strategy_of(t as u16) == Strategy::Global);
    cl.library = library_settings(&mut p, &f, any_global);
    cl.tls = f.client.tls.as_ref().map(|t| {
        let (round_trips, version) = match t.version.unwrap_or(TlsVersionKey::V13) {
            TlsVersionKey::V13 => (1, "1.3"),
            TlsVersionKey::V12 => (2, "1.2"),
        };
        // An assumption: the handshake's key exchange and certificate
        // check take about 1 ms of one vCPU (model.md 2.12).
        let cpu = dur(t.cpu).unwrap_or(SimDuration::from_millis(1));
        thaw_sim::TlsSettings {
            round_trips,
            version,
            cpu,
            resumption: t.resumption.unwrap_or(false),
            // OpenSSL's default session timeout (SSL_CTX_set_timeout(3),
            // SSL_get_default_timeout(3)): 300 s.
            session_lifetime: dur(t.session_lifetime).unwrap_or(SimDuration::from_secs(300)),
            // An assumption: a resumed handshake skips the certificate
            // chain's verification, about half of the work (model.md 2.12).
            resume_cpu: dur(t.resume_cpu).unwrap_or(SimDuration::from_nanos(cpu.as_nanos() / 2)),
            server_cpu: dur(t.server_cpu).unwrap_or(SimDuration::ZERO),
            close_notify: t.close_notify.unwrap_or(true),
        }
    });
    if let Some(t) = f.client.tls.as_ref() {
        if t.session_lifetime.is_some_and(|d| d.0.is_zero()) {
            p.add(
                "client.tls.session_lifetime",
                "`session_lifetime` must be longer than 0s: a session no server accepts is no resumption",
                Some("set `resumption = false` instead"),
            );
        }
        let resumes = t.resumption == Some(true);
        for (key, given) in [
            ("session_lifetime", t.session_lifetime.is_some()),
            ("resume_cpu", t.resume_cpu.is_some()),
        ] {
            if given && !resumes {
                warnings.push((
                    format!("client.tls.{key}"),
                    format!("`{key}` acts only on resumed handshakes, and `resumption` is off"),
                    Some("set `resumption = true`, or remove the key".to_string()),
                ));
            }
        }
        if let (Some(r), Some(c)) = (cl.tls.map(|x| x.resume_cpu), cl.tls.map(|x| x.cpu)) {
            if r > c {
                warnings.push((
                    "client.tls.resume_cpu".to_string(),
                    format!("resume_cpu {r} is more than the full handshake's cpu {c}: a resumed handshake does less work"),
                    Some("make it at most `cpu`".to_string()),
                ));
            }
        }
    }
    if cl.tls.is_some()
        && cl
            .targets
            .iter()
            .chain(std::iter::once(&cl.strategy))
            .any(|s| *s == Strategy::Http)
    {
        p.add(
            "client.tls",
            "`[client.tls]` acts on the connections the functions open; with `strategy = \"http\"` the HTTP API's TLS is part of `http_overhead`",
            Some("remove `[client.tls]`, or use a connection strategy"),
        );
    }
    if let Some(d) = dur(f.function.handler_rejects_after) {
        if d >= cfg.platform.timeout {
            warnings.push((
                "function.handler_rejects_after".to_string(),
                format!(
                    "handler_rejects_after {d} is not shorter than the function timeout {}: the timeout ends the invocation first, so this setting never acts",
                    cfg.platform.timeout
                ),
                Some("make it shorter than `function.timeout`".to_string()),
            ));
        }
        if !any_pool {
            p.add(
                "function.handler_rejects_after",
                "`handler_rejects_after` is modelled only with `strategy = \"pool\"`",
                Some("set `strategy = \"pool\"` under [client]"),
            );
        }
        cfg.platform.handler_rejects_after = Some(d);
    }
    cfg.client = cl;

    // [network]
    let mut net = NetworkConfig::default();
    if let Some(k) = f.network.source_ip {
        net.source_ip = match k {
            SourceIpKey::Shared => SourceIp::Shared,
            SourceIpKey::PerEnvironment => SourceIp::PerEnvironment,
        };
    }
    if let Some(v) = dist(
        &mut p,
        "network.client_latency",
        f.network.client_latency.as_ref(),
    ) {
        net.client_latency = v;
    }
    if let Some(v) = dist(
        &mut p,
        "network.server_latency",
        f.network.server_latency.as_ref(),
    ) {
        net.server_latency = v;
    }
    if let Some(v) = dur(f.network.loopback_latency) {
        net.loopback_latency = v;
    }
    cfg.network = net;

    // [middlebox] or [[middleboxes]], and the path through them
    cfg.middleboxes = middleboxes(&mut p, &f);

    // [server] or [[servers]]
    let default_server = ServerSection::default();
    let server_tables: Vec<(String, &ServerSection)> = if f.servers.is_empty() {
        vec![(
            "server".to_string(),
            f.server.as_ref().unwrap_or(&default_server),
        )]
    } else {
        if f.server.is_some() {
            p.add(
                "servers",
                "both a [server] table and [[servers]] entries: use one form",
                Some("move the [server] table into a [[servers]] entry with a `name`"),
            );
        }
        f.servers
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("servers[{i}]"), s))
            .collect()
    };
    cfg.servers = server_tables
        .iter()
        .map(|(at, fsv)| server_config(&mut p, &mut notes, at, fsv))
        .collect();
    paths(&mut p, &f, &mut cfg, &server_tables);
    for i in 0..cfg.servers.len() {
        let name = &cfg.servers[i].name;
        if let Some(j) = cfg.servers[..i].iter().position(|o| &o.name == name) {
            p.add(
                format!("{}.name", server_tables[i].0),
                format!(
                    "two servers are named \"{name}\" ({} and {}): requests name their server",
                    server_tables[j].0, server_tables[i].0
                ),
                Some("give each a `name` of its own"),
            );
        }
    }

    // [proxy], in front of one server
    let names: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
    let server_named = |p: &mut Problems, path: String, name: &str| -> Option<u16> {
        let i = names.iter().position(|n| *n == name);
        if i.is_none() {
            p.add(
                path,
                format!("no server is named \"{name}\""),
                Some(
                    &match thaw_core::did_you_mean(name, names.iter().copied()) {
                        Some(c) => format!("did you mean \"{c}\"?"),
                        None => format!("the servers: {}", names.join(", ")),
                    },
                ),
            );
        }
        i.map(|i| i as u16)
    };
    let proxy_tables: Vec<(String, &ProxySection)> = f
        .proxy
        .iter()
        .map(|x| ("proxy".to_string(), x))
        .chain(
            f.proxies
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("proxies[{i}]"), x)),
        )
        .collect();
    if f.proxy.is_some() && !f.proxies.is_empty() {
        p.add(
            "proxies",
            "both a [proxy] table and [[proxies]] entries: use one form",
            Some("move the [proxy] table into a [[proxies]] entry"),
        );
    }
    for (at, px) in &proxy_tables {
        let fronted = match &px.server {
            Some(n) => server_named(&mut p, format!("{at}.server"), n),
            None if names.len() > 1 => {
                p.add(
                    at.clone(),
                    format!(
                        "with several servers the [{}] names the one it fronts",
                        if at == "proxy" { "proxy" } else { "[proxies]" }
                    ),
                    Some(&format!("e.g. server = \"{}\"", names[0])),
                );
                None
            }
            None => Some(0),
        };
        let i = fronted.unwrap_or(0);
        if let Some(other) = cfg.proxies.iter().find(|o| o.server == i) {
            p.add(
                format!("{at}.server"),
                format!(
                    "\"{}\" is already behind the proxy \"{}\": one proxy per server",
                    names[i as usize], other.name
                ),
                None,
            );
            continue;
        }
        if let Some(mut c) = proxy_config(&mut p, at, px, &cfg.servers[i as usize]) {
            c.server = i;
            if let Some(o) = cfg.proxies.iter().find(|o| o.name == c.name) {
                p.add(
                    format!("{at}.name"),
                    format!("two proxies are named \"{}\"", o.name),
                    Some("give each a `name` of its own"),
                );
            }
            cfg.proxies.push(c);
        }
    }

    // The server of each request, and the strategy per server.
    let file_lists = std::iter::once((
        "client.requests".to_string(),
        f.client.requests.as_deref().unwrap_or(&[]),
    ))
    .chain(
        f.handlers
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("handlers[{i}].requests"), h.requests.as_slice())),
    );
    let spec_lists = std::iter::once(&mut cfg.client.requests)
        .chain(cfg.client.handlers.iter_mut().map(|h| &mut h.requests));
    for ((path, file_reqs), specs) in file_lists.zip(spec_lists) {
        for (i, (r, spec)) in file_reqs.iter().zip(specs.iter_mut()).enumerate() {
            match &r.target {
                Some(n) => {
                    if let Some(t) = server_named(&mut p, format!("{path}[{i}].target"), n) {
                        spec.target = t;
                    }
                }
                None if names.len() > 1 => p.add(
                    format!("{path}[{i}]"),
                    "with several servers each request names its `target`",
                    Some(&format!("e.g. target = \"{}\"", names[0])),
                ),
                None => {}
            }
        }
    }
    if !f.client.targets.is_empty() {
        let mut targets = vec![cfg.client.strategy; names.len()];
        for (name, t) in &f.client.targets {
            let at = format!("client.targets.{name}");
            if let (Some(i), Some(k)) = (server_named(&mut p, at, name), t.strategy) {
                targets[i as usize] = strategy(k);
            }
        }
        cfg.client.targets = targets;
    }
    let pooled: Vec<&str> = (0..names.len())
        .filter(|&t| cfg.client.strategy_of(t as u16) == Strategy::Pool)
        .map(|t| names[t])
        .collect();
    if pooled.len() > 1 {
        p.add(
            if f.client.targets.is_empty() { "client.strategy" } else { "client.targets" },
            format!(
                "{} servers are reached through the pool ({}): thaw models one client pool per function for now",
                pooled.len(),
                pooled.join(", ")
            ),
            Some("give the other servers `strategy = \"global\"` under [client.targets.NAME]"),
        );
    }
    if any_http {
        http_checks(
            &mut p,
            &f,
            &cfg.client,
            &cfg.proxies.iter().map(|x| x.server).collect::<Vec<_>>(),
        );
    }
    await_checks(&mut p, &cfg.client);
    local_server_checks(&mut p, &cfg, &server_tables);
    quit_checks(&mut p, &cfg);
    snapstart_checks(&mut p, &cfg);

    // [workload]
    match &f.workload {
        None => p.add(
            "workload",
            "the scenario has no [workload]",
            Some("add `[workload]` with `at = [\"0s\", \"95s\"]` or `poisson = { rate = 10.0, count = 1000 }`"),
        ),
        Some(w) => {
            let forms: Vec<&str> = [
                ("at", w.at.is_some()),
                ("poisson", w.poisson.is_some()),
                ("every", w.every.is_some()),
                ("rate", w.rate.is_some()),
                ("trace", w.trace.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, on)| on.then_some(k))
            .collect();
            let other = forms.iter().find(|k| **k != "at").copied();
            if !w.invoke.is_empty() && (other.is_some() || !w.burst.is_empty()) {
                p.add(
                    "workload.invoke",
                    format!(
                        "`[[workload.invoke]]` cannot be combined with `{}`",
                        other.unwrap_or("burst")
                    ),
                    Some("list the main function's arrivals in `at` instead"),
                );
            } else if forms.len() > 1 {
                p.add(
                    format!("workload.{}", forms[1]),
                    if forms.len() == 2 && forms[0] == "at" && forms[1] == "poisson" {
                        "give either `at` or `poisson`, not both".to_string()
                    } else {
                        format!(
                            "give one of `at`, `poisson`, `every`, `rate` and `trace`, not {}",
                            forms.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" and ")
                        )
                    },
                    Some("`burst` adds to any of them; for two processes, run two scenarios"),
                );
            } else if w.trace.is_some() || w.every.is_some() || w.rate.is_some() || !w.burst.is_empty() {
                let base = match (&w.at, &w.poisson) {
                    (Some(at), None) => {
                        workload_at(&mut p, at);
                        WorkloadConfig::At(at.iter().map(|d| d.0).collect())
                    }
                    (None, Some(ps)) => workload_poisson(&mut p, ps),
                    _ => match (&w.every, &w.rate, &w.trace) {
                        (Some(e), _, _) => workload_every(&mut p, e),
                        (_, Some(r), _) => workload_rate(&mut p, r),
                        (_, _, Some(t)) => workload_trace(&mut p, file, t),
                        _ => WorkloadConfig::At(Vec::new()),
                    },
                };
                let bursts = workload_bursts(&mut p, &w.burst);
                // A `rate` without `count` stops at the limit itself.
                let base_count = match &base {
                    WorkloadConfig::Rate { .. } => 0,
                    other => other.max_arrivals(),
                };
                let burst_count = bursts.iter().fold(0u64, |a, b| a.saturating_add(b.count));
                if base_count.saturating_add(burst_count) > limits::MAX_ARRIVALS {
                    p.add(
                        "workload",
                        format!(
                            "{} arrivals is more than thaw runs at once ({})",
                            base_count.saturating_add(burst_count),
                            limits::MAX_ARRIVALS
                        ),
                        Some("split the workload, or sweep smaller runs"),
                    );
                }
                cfg.workload = if bursts.is_empty() {
                    base
                } else {
                    WorkloadConfig::WithBursts(Box::new(base), bursts)
                };
            } else {
                workload_classic(&mut p, &mut cfg, &f, w);
            }
        }
    }

    // Names appear in every timeline line about their owner.
    let mut names: Vec<(String, &str)> = Vec::new();
    for (path, n) in [
        ("scenario.name", f.scenario.name.as_deref()),
        (
            "server.name",
            f.server.as_ref().and_then(|s| s.name.as_deref()),
        ),
        (
            "middlebox.name",
            f.middlebox.as_ref().and_then(|m| m.name.as_deref()),
        ),
        (
            "proxy.name",
            f.proxy.as_ref().and_then(|x| x.name.as_deref()),
        ),
    ] {
        if let Some(n) = n {
            names.push((path.to_string(), n));
        }
    }
    for (i, m) in f.middleboxes.iter().enumerate() {
        if let Some(n) = m.name.as_deref() {
            names.push((format!("middleboxes[{i}].name"), n));
        }
    }
    for (i, sv) in f.servers.iter().enumerate() {
        if let Some(n) = sv.name.as_deref() {
            names.push((format!("servers[{i}].name"), n));
        }
    }
    for (i, r) in f.client.requests.iter().flatten().enumerate() {
        names.push((format!("client.requests[{i}].name"), &r.name));
    }
    for (i, h) in f.handlers.iter().enumerate() {
        names.push((format!("handlers[{i}].name"), &h.name));
        for (j, r) in h.requests.iter().enumerate() {
            names.push((format!("handlers[{i}].requests[{j}].name"), &r.name));
        }
    }
    for (path, n) in names {
        let len = n.chars().count();
        if len > limits::MAX_NAME_CHARS {
            p.add(
                path,
                format!(
                    "this name has {len} characters; names are at most {} (they are repeated in the timeline)",
                    limits::MAX_NAME_CHARS
                ),
                None,
            );
        }
    }

    // [vary]: checked here so that a mistake shows in `thaw run` too.
    for (path, spec) in &f.vary {
        if let Err(e) = crate::vary::Vary::new(path, spec) {
            p.add(
                format!("vary.\"{path}\""),
                e,
                Some("e.g. \"server.idle_timeout\" = \"1s..600s\""),
            );
        }
    }

    // [expect]
    let mut expectations = Vec::new();
    for (i, e) in f.expect.assert.iter().enumerate() {
        match Expectation::parse(e) {
            Ok(Expectation {
                target: thaw_sim::expect::Target::ServerMetric { server, .. },
                ..
            }) if !cfg.servers.iter().any(|s| s.name == *server) => {
                let names: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
                p.add(
                    format!("expect.assert[{i}]"),
                    format!("no server is named `{server}`"),
                    thaw_core::did_you_mean(&server, names.iter().copied())
                        .map(|c| format!("did you mean `{c}`?"))
                        .or_else(|| Some(format!("the servers: {}", names.join(", "))))
                        .as_deref(),
                );
            }
            Ok(x) => expectations.push(x),
            Err(err) => p.add(
                format!("expect.assert[{i}]"),
                err.message,
                err.hint.as_deref(),
            ),
        }
    }

    if !p.is_empty() {
        let at = Locator::new(text);
        return Err(Diagnostics(
            p.list
                .into_iter()
                .map(|pr| Diagnostic {
                    more: pr.more,
                    ..at.diagnostic(file, &pr.path, pr.message, pr.help)
                })
                .collect(),
        ));
    }
    let warnings = if warnings.is_empty() {
        Diagnostics::default()
    } else {
        let at = Locator::new(text);
        Diagnostics(
            warnings
                .into_iter()
                .map(|(path, message, help)| at.diagnostic(file, &path, message, help))
                .collect(),
        )
    };
    Ok(Scenario {
        config: cfg,
        expectations,
        description: f.scenario.description.unwrap_or_default(),
        warnings,
        notes,
    })
}

/// `[workload]` with `at`, `poisson` and `[[workload.invoke]]` only.
fn workload_classic(p: &mut Problems, cfg: &mut SimConfig, f: &ScenarioFile, w: &WorkloadSection) {
    match (&w.at, &w.poisson) {
        (at, None) if !w.invoke.is_empty() => {
            // Several functions: merge their arrivals in time order
            // (stable: the main function first, then handlers in order).
            let mut all: Vec<(SimDuration, u16)> = at.iter().flatten().map(|d| (d.0, 0)).collect();
            for (i, inv) in w.invoke.iter().enumerate() {
                let idx = f.handlers.iter().position(|h| h.name == inv.handler);
                match idx {
                    Some(h) => all.extend(inv.at.iter().map(|d| (d.0, h as u16 + 1))),
                    None => p.add(
                        format!("workload.invoke[{i}].handler"),
                        format!("no handler named `{}`", inv.handler),
                        crate::diag::did_you_mean(
                            &inv.handler,
                            f.handlers.iter().map(|h| h.name.as_str()),
                        )
                        .map(|m| format!("did you mean `{m}`?"))
                        .as_deref()
                        .or(Some("define it with [[handlers]] name = ...")),
                    ),
                }
            }
            all.sort_by_key(|(t, _)| *t);
            if all.is_empty() {
                p.add("workload", "the workload has no arrival", None);
            }
            cfg.workload = WorkloadConfig::Mixed(all);
        }
        (Some(at), None) => {
            workload_at(p, at);
            cfg.workload = WorkloadConfig::At(at.iter().map(|d| d.0).collect());
        }
        (None, Some(_)) if !w.invoke.is_empty() => p.add(
            "workload.invoke",
            "`[[workload.invoke]]` cannot be combined with `poisson`",
            Some("list the main function's arrivals in `at` instead"),
        ),
        (None, Some(ps)) => cfg.workload = workload_poisson(p, ps),
        (Some(_), Some(_)) => p.add(
            "workload.poisson",
            "give either `at` or `poisson`, not both",
            None,
        ),
        (None, None) => p.add(
            "workload",
            "[workload] needs `at`, `poisson`, `burst`, `every`, `rate` or `trace`",
            Some("e.g. `at = [\"0s\", \"95s\"]`"),
        ),
    }
}

/// Checks of `workload.at` alone.
fn workload_at(p: &mut Problems, at: &[Dur]) {
    if at.is_empty() {
        p.add("workload.at", "`at` lists no arrival", None);
    }
    for (i, pair) in at.windows(2).enumerate() {
        if pair[1].0 < pair[0].0 {
            p.add(
                format!("workload.at[{}]", i + 1),
                format!(
                    "arrival {} comes before the previous one ({})",
                    pair[1].0, pair[0].0
                ),
                Some("list arrival times in increasing order"),
            );
        }
    }
}

fn workload_poisson(p: &mut Problems, ps: &PoissonSection) -> WorkloadConfig {
    if !(ps.rate.is_finite() && ps.rate > 0.0) {
        p.add(
            "workload.poisson.rate",
            format!(
                "rate {} is not a positive number of arrivals per second",
                ps.rate
            ),
            Some("e.g. rate = 10.0"),
        );
    }
    arrival_count(p, "workload.poisson.count", ps.count);
    WorkloadConfig::Poisson {
        rate_per_s: ps.rate,
        start: dur(ps.start).unwrap_or_default(),
        count: ps.count,
    }
}

/// A workload's `count`: at least 1, at most [`limits::MAX_ARRIVALS`].
fn arrival_count(p: &mut Problems, path: &str, count: u64) {
    if count == 0 {
        p.add(path, "`count` must be at least 1", None);
    }
    if count > limits::MAX_ARRIVALS {
        p.add(
            path,
            format!(
                "count {count} is more arrivals than thaw runs at once ({})",
                limits::MAX_ARRIVALS
            ),
            Some("split the workload, or sweep smaller runs"),
        );
    }
}

fn workload_every(p: &mut Problems, e: &EverySection) -> WorkloadConfig {
    if e.period.0.is_zero() {
        p.add(
            "workload.every.period",
            "`period` must be longer than 0s",
            Some("e.g. period = \"5m\""),
        );
    }
    arrival_count(p, "workload.every.count", e.count);
    WorkloadConfig::Every {
        period: e.period.0,
        start: dur(e.start).unwrap_or_default(),
        count: e.count,
    }
}

fn workload_rate(p: &mut Problems, r: &RateSection) -> WorkloadConfig {
    let start = dur(r.start).unwrap_or_default();
    let curve = match (&r.curve, &r.sine) {
        (Some(_), Some(_)) => {
            p.add(
                "workload.rate.sine",
                "give either `curve` or `sine`, not both",
                Some("approximate the sine with more `curve` pieces, or the other way round"),
            );
            RateCurve::Steps(Vec::new())
        }
        (None, None) => {
            p.add(
                "workload.rate",
                "`rate` needs `curve` (piecewise constant) or `sine`",
                Some("e.g. rate = { curve = [{ until = \"1h\", rate = 2.0 }] }"),
            );
            RateCurve::Steps(Vec::new())
        }
        (Some(pieces), None) => {
            if pieces.is_empty() {
                p.add("workload.rate.curve", "`curve` has no piece", None);
            }
            for (i, piece) in pieces.iter().enumerate() {
                if !(piece.rate.is_finite() && piece.rate >= 0.0) {
                    p.add(
                        format!("workload.rate.curve[{i}].rate"),
                        format!(
                            "rate {} is not a number of arrivals per second >= 0",
                            piece.rate
                        ),
                        Some("e.g. rate = 2.0"),
                    );
                }
                if i > 0 && piece.until.0 <= pieces[i - 1].until.0 {
                    p.add(
                        format!("workload.rate.curve[{i}].until"),
                        format!(
                            "piece ends at {}, not after the previous one ({})",
                            piece.until.0,
                            pieces[i - 1].until.0
                        ),
                        Some("list pieces by increasing `until`"),
                    );
                }
            }
            if !pieces.is_empty() && pieces.iter().all(|x| x.rate <= 0.0) {
                p.add(
                    "workload.rate.curve",
                    "every piece has rate 0: no arrival",
                    None,
                );
            }
            RateCurve::Steps(pieces.iter().map(|x| (x.until.0, x.rate)).collect())
        }
        (None, Some(s)) => {
            if !(s.mean.is_finite() && s.mean > 0.0) {
                p.add(
                    "workload.rate.sine.mean",
                    format!(
                        "mean {} is not a positive number of arrivals per second",
                        s.mean
                    ),
                    Some("e.g. mean = 5.0"),
                );
            }
            if !(s.amplitude.is_finite() && s.amplitude >= 0.0 && s.amplitude <= s.mean) {
                p.add(
                    "workload.rate.sine.amplitude",
                    format!(
                        "amplitude {} is not between 0 and the mean ({})",
                        s.amplitude, s.mean
                    ),
                    Some("a rate cannot go below 0: keep amplitude <= mean"),
                );
            }
            if s.period.0.is_zero() {
                p.add(
                    "workload.rate.sine.period",
                    "`period` must be longer than 0s",
                    Some("e.g. period = \"1d\""),
                );
            }
            if r.count.is_none() && r.until.is_none() {
                p.add(
                    "workload.rate",
                    "a `sine` rate never ends: give `count` or `until`",
                    Some("e.g. until = \"1d\""),
                );
            }
            RateCurve::Sine {
                mean: s.mean,
                amplitude: s.amplitude,
                period: s.period.0,
            }
        }
    };
    if let Some(c) = r.count {
        arrival_count(p, "workload.rate.count", c);
    }
    if let Some(u) = r.until {
        if u.0 <= start {
            p.add(
                "workload.rate.until",
                format!("`until` ({}) is not after `start` ({start})", u.0),
                None,
            );
        }
    }
    WorkloadConfig::Rate {
        curve,
        start,
        count: r.count.unwrap_or(limits::MAX_ARRIVALS),
        until: dur(r.until).unwrap_or(SimDuration::MAX),
    }
}

fn workload_trace(p: &mut Problems, file: &str, t: &TraceSection) -> WorkloadConfig {
    let start = dur(t.start).unwrap_or_default();
    match crate::trace::read(file, t) {
        Ok(crate::trace::TraceArrivals::PerMinute(counts)) => {
            WorkloadConfig::PerMinute { counts, start }
        }
        Ok(crate::trace::TraceArrivals::Times(times)) => {
            WorkloadConfig::At(times.into_iter().map(|d| d.saturating_add(start)).collect())
        }
        Err(e) => {
            p.add(
                format!("workload.trace.{}", e.key),
                e.message,
                e.hint.as_deref(),
            );
            WorkloadConfig::At(Vec::new())
        }
    }
}

fn workload_bursts(p: &mut Problems, bursts: &[BurstSection]) -> Vec<Burst> {
    let mut out = Vec::with_capacity(bursts.len());
    let mut end = SimDuration::ZERO;
    for (i, b) in bursts.iter().enumerate() {
        if b.count == 0 {
            p.add(
                format!("workload.burst[{i}].count"),
                "`count` must be at least 1",
                None,
            );
        }
        let window = dur(b.window).unwrap_or_default();
        if i > 0 && b.at.0 < end {
            p.add(
                format!("workload.burst[{i}].at"),
                format!(
                    "burst at {} starts before the previous one ends ({end})",
                    b.at.0
                ),
                Some("list bursts in time order, each after the previous one's window"),
            );
        }
        end = b.at.0.saturating_add(window);
        out.push(Burst {
            at: b.at.0,
            count: b.count,
            window,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::load;
    use thaw_core::SimDuration;
    use thaw_sim::{PoolMode, ProxyKind};

    fn workload(w: &str) -> thaw_sim::WorkloadConfig {
        match load("w.toml", &format!("[workload]\n{w}\n"), &[]) {
            Ok(s) => s.config.workload,
            Err(e) => panic!("{}", e.render()),
        }
    }

    #[test]
    fn workload_every_burst_and_rate_load() {
        use thaw_sim::{Burst, RateCurve, WorkloadConfig};
        let s = SimDuration::from_secs;
        assert_eq!(
            workload("every = { period = \"5m\", count = 3, start = \"10s\" }"),
            WorkloadConfig::Every {
                period: s(300),
                start: s(10),
                count: 3
            }
        );
        assert_eq!(
            workload("burst = [{ at = \"10s\", count = 100 }, { at = \"60s\", count = 50, window = \"1s\" }]"),
            WorkloadConfig::WithBursts(
                Box::new(WorkloadConfig::At(Vec::new())),
                vec![
                    Burst { at: s(10), count: 100, window: SimDuration::ZERO },
                    Burst { at: s(60), count: 50, window: s(1) },
                ]
            )
        );
        match workload("poisson = { rate = 1.0, count = 5 }\nburst = [{ at = \"1s\", count = 2 }]")
        {
            WorkloadConfig::WithBursts(base, b) => {
                assert!(matches!(*base, WorkloadConfig::Poisson { count: 5, .. }));
                assert_eq!(b.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            workload("rate = { curve = [{ until = \"1h\", rate = 2.0 }, { until = \"2h\", rate = 0.5 }], count = 10 }"),
            WorkloadConfig::Rate {
                curve: RateCurve::Steps(vec![(s(3600), 2.0), (s(7200), 0.5)]),
                start: SimDuration::ZERO,
                count: 10,
                until: SimDuration::MAX,
            }
        );
        assert_eq!(
            workload("rate = { sine = { mean = 5.0, amplitude = 3.0, period = \"1d\" }, until = \"1d\" }"),
            WorkloadConfig::Rate {
                curve: RateCurve::Sine { mean: 5.0, amplitude: 3.0, period: s(86400) },
                start: SimDuration::ZERO,
                count: crate::limits::MAX_ARRIVALS,
                until: s(86400),
            }
        );
    }

    #[test]
    fn workload_combinations_and_bad_values_are_refused() {
        let e = errors("[workload]\nevery = { period = \"1s\", count = 1 }\npoisson = { rate = 1.0, count = 1 }\n");
        assert!(e.contains("give one of `at`, `poisson`, `every`, `rate` and `trace`, not `poisson` and `every`"), "{e}");
        assert!(e.contains("`burst` adds to any of them"), "{e}");
        let e = errors("[workload]\nat = [\"0s\"]\npoisson = { rate = 1.0, count = 1 }\n");
        assert!(e.contains("give either `at` or `poisson`, not both"), "{e}");
        let e = errors("[[handlers]]\nname = \"h\"\nrequests = [{ name = \"Q\" }]\n[workload]\nburst = [{ at = \"0s\", count = 1 }]\n[[workload.invoke]]\nhandler = \"h\"\nat = [\"1s\"]\n");
        assert!(e.contains("cannot be combined with `burst`"), "{e}");
        let e = errors("[workload]\nevery = { period = \"0s\", count = 0 }\n");
        assert!(e.contains("`period` must be longer than 0s"), "{e}");
        assert!(e.contains("`count` must be at least 1"), "{e}");
        let e = errors("[workload]\nburst = [{ at = \"10s\", count = 5, window = \"2s\" }, { at = \"11s\", count = 1 }]\n");
        assert!(
            e.contains("starts before the previous one ends (12s)"),
            "{e}"
        );
        let e = errors(
            "[workload]\nrate = { sine = { mean = 1.0, amplitude = 2.0, period = \"1h\" } }\n",
        );
        assert!(
            e.contains("amplitude 2 is not between 0 and the mean (1)"),
            "{e}"
        );
        assert!(e.contains("never ends"), "{e}");
        let e = errors("[workload]\nrate = { curve = [{ until = \"2h\", rate = 1.0 }, { until = \"1h\", rate = -1.0 }] }\n");
        assert!(e.contains("not after the previous one"), "{e}");
        assert!(
            e.contains("rate -1 is not a number of arrivals per second >= 0"),
            "{e}"
        );
        let e = errors("[workload]\nrate = { count = 5 }\n");
        assert!(
            e.contains("needs `curve` (piecewise constant) or `sine`"),
            "{e}"
        );
        let e = errors("[workload]\nburst = [{ at = \"0s\", count = 60000000 }, { at = \"1s\", count = 60000000 }]\n");
        assert!(
            e.contains("120000000 arrivals is more than thaw runs at once"),
            "{e}"
        );
    }

    #[test]
    fn workload_trace_resolves_against_the_scenario_and_reports_problems() {
        let dir = std::env::temp_dir().join(format!("thaw-trace-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(
            dir.join("data/t19.csv"),
            "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f1,http,2,1\no,a,f2,timer,0,x\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("data/t21.txt"),
            "app,func,end_timestamp,duration\na,f1,5.5,0.5\na,f1,1.0,0.5\n",
        )
        .unwrap();
        let scenario = dir.join("s.toml").display().to_string();
        let get = |w: &str| load(&scenario, &format!("[workload]\n{w}\n"), &[]);
        let s = SimDuration::from_secs;
        match get("trace = { file = \"data/t19.csv\", format = \"azure-2019\", function = \"f1\", start = \"1s\" }") {
            Ok(sc) => assert_eq!(
                sc.config.workload,
                thaw_sim::WorkloadConfig::PerMinute { counts: vec![2, 1], start: s(1) }
            ),
            Err(e) => panic!("{}", e.render()),
        }
        match get("trace = { file = \"data/t21.txt\", format = \"azure-2021\", function = \"f1\" }")
        {
            Ok(sc) => assert_eq!(
                sc.config.workload,
                thaw_sim::WorkloadConfig::At(vec![SimDuration::from_millis(500), s(5)])
            ),
            Err(e) => panic!("{}", e.render()),
        }
        let render = |w: &str| get(w).map(|_| ()).unwrap_err().render();
        let e = render(
            "trace = { file = \"data/nope.csv\", format = \"azure-2019\", function = \"f1\" }",
        );
        assert!(
            e.contains("cannot read trace file") && e.contains("nope.csv"),
            "{e}"
        );
        assert!(e.contains("workload"), "{e}");
        let e = render(
            "trace = { file = \"data/t19.csv\", format = \"azure-2019\", function = \"f2\" }",
        );
        assert!(e.contains("t19.csv:3: minute 2 (column 6) is `x`"), "{e}");
        let e = render(
            "trace = { file = \"data/t19.csv\", format = \"azure-2019\", function = \"zz\" }",
        );
        assert!(e.contains("no row for function `zz`"), "{e}");
        let e = render(
            "trace = { file = \"data/t21.txt\", format = \"azure-2019\", function = \"f1\" }",
        );
        assert!(e.contains("no column `HashFunction`"), "{e}");
        let e = render(
            "trace = { file = \"data/t19.csv\", format = \"azure-2020\", function = \"f1\" }",
        );
        assert!(e.contains("did you mean `azure-2021`?"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    fn errors(text: &str) -> String {
        match load("proxy.toml", text, &[]) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.render(),
        }
    }

    #[test]
    fn durations_take_distributions() {
        use thaw_core::Dist;
        let ms = SimDuration::from_millis;
        let s = load(
            "d.toml",
            "[function]\ninit_duration = { exponential = \"2s\" }\nhandler_time = { lognormal = { median = \"250ms\", sigma = 0.5 } }\nreap_after = { uniform = [\"60s\", \"300s\"] }\n[client]\nconnect_cpu = \"1ms\"\n[server]\nservice_time = { uniform = [\"1ms\", \"3ms\"] }\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .unwrap_or_else(|e| panic!("{}", e.render()));
        let c = &s.config;
        assert_eq!(
            c.platform.init_duration,
            Dist::Exponential { mean: ms(2000) }
        );
        assert_eq!(
            c.platform.handler_time,
            Dist::LogNormal {
                median: ms(250),
                sigma: 0.5
            }
        );
        assert_eq!(c.client.connect_cpu, Dist::Fixed(ms(1)));
        assert_eq!(
            c.servers[0].service_time,
            Dist::Uniform {
                lo: ms(1),
                hi: ms(3)
            }
        );
        // reap_after_min/_max is the same uniform distribution.
        let old = load(
            "d.toml",
            "[function]\nreap_after_min = \"60s\"\nreap_after_max = \"300s\"\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(old.config.platform.reap, c.platform.reap);
    }

    #[test]
    fn distribution_mistakes_are_located() {
        let e = errors(
            "[function]\ninit_duration = { exponential = \"0s\" }\nhandler_time = { lognormal = { median = \"0s\", sigma = -1.0 } }\nreap_after = { uniform = [\"300s\", \"60s\"] }\n[server]\nservice_time = { uniform = [\"1ms\"] }\n[workload]\nat = [\"0s\"]\n",
        );
        assert!(e.contains("`uniform` takes two durations"), "{e}");
        let e = errors(
            "[function]\ninit_duration = { exponential = \"0s\" }\nhandler_time = { lognormal = { median = \"0s\", sigma = -1.0 } }\nreap_after = { uniform = [\"300s\", \"60s\"] }\n[workload]\nat = [\"0s\"]\n",
        );
        for want in [
            "proxy.toml:2:",
            "mean of an exponential distribution must be longer than 0s",
            "median of a lognormal distribution",
            "sigma = -1 is outside (0, 10]",
            "uniform bounds are reversed: 300s is above 60s",
            "proxy.toml:4:",
        ] {
            assert!(e.contains(want), "{want} missing from:\n{e}");
        }
        let e =
            errors("[function]\nhandler_time = { normal = \"1s\" }\n[workload]\nat = [\"0s\"]\n");
        assert!(e.contains("did you mean `lognormal`"), "{e}");
        let e = errors("[function]\nhandler_time = 5\n[workload]\nat = [\"0s\"]\n");
        assert!(e.contains("durations need a unit"), "{e}");
    }

    #[test]
    fn empirical_files_are_read_next_to_the_scenario() {
        let dir = std::env::temp_dir().join(format!("thaw-empirical-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.txt"), "# cold starts\n250ms\n\n1.5s # slow\n").unwrap();
        std::fs::write(dir.join("bad.txt"), "250ms\nfast\n").unwrap();
        std::fs::write(dir.join("empty.txt"), "# nothing\n").unwrap();
        let file = dir.join("s.toml").to_string_lossy().into_owned();
        let text = |f: &str| {
            format!("[function]\ninit_duration = {{ empirical = \"{f}\" }}\n[workload]\nat = [\"0s\"]\n")
        };
        let s = load(&file, &text("ok.txt"), &[]).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(
            s.config.platform.init_duration,
            thaw_core::Dist::Empirical(
                vec![
                    SimDuration::from_millis(250),
                    SimDuration::from_millis(1500)
                ]
                .into()
            )
        );
        let err = |f: &str| match load(&file, &text(f), &[]) {
            Ok(_) => panic!("{f} should not load"),
            Err(e) => e.render(),
        };
        let e = err("bad.txt");
        assert!(e.contains("bad.txt:2: `fast` is not a duration"), "{e}");
        assert!(err("empty.txt").contains("has no samples"));
        let e = err("missing.txt");
        assert!(
            e.contains("cannot read") && e.contains("missing.txt"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn middleboxes_follow_the_path_order_with_their_link_latencies() {
        let s = load(
            "p.toml",
            r#"
[[middleboxes]]
name = "lb"
idle_timeout = "240s"
untracked_from_client = "drop"

[[middleboxes]]
name = "nat"
preset = "aws-nat-gateway"

[network]
path = ["nat", "lb"]
hop_latencies = ["7ms"]

[workload]
at = ["0s"]
"#,
            &[],
        )
        .expect("loads");
        let m = &s.config.middleboxes;
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["lb", "nat"]);
        assert_eq!(
            s.config.path,
            Some(vec![
                (1, SimDuration::from_millis(7)),
                (0, SimDuration::ZERO)
            ])
        );
        assert_eq!(
            m[0].config.timeouts.established,
            SimDuration::from_secs(240)
        );
        // One `[middlebox]` is the one-hop path, with no `path` needed.
        let s = load(
            "p.toml",
            "[middlebox]\npreset = \"aws-nlb\"\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .expect("loads");
        assert_eq!(s.config.middleboxes.len(), 1);
        assert_eq!(s.config.middleboxes[0].name, "aws-nlb");
    }

    #[test]
    fn each_server_may_have_a_path_of_its_own() {
        let s = load(
            "p.toml",
            r#"
[[middleboxes]]
name = "nat"
preset = "aws-nat-gateway"
[[middleboxes]]
name = "fw"
preset = "linux-conntrack"

[[servers]]
name = "outside"
path = ["nat", "fw"]
hop_latencies = ["3ms"]
[[servers]]
name = "inside"
path = []

[[client.requests]]
name = "Q"
target = "outside"

[workload]
at = ["0s"]
"#,
            &[],
        )
        .expect("loads");
        let c = &s.config;
        assert_eq!(c.path, None);
        assert_eq!(
            c.servers[0].path,
            Some(vec![
                (0, SimDuration::from_millis(3)),
                (1, SimDuration::ZERO)
            ])
        );
        assert_eq!(c.servers[1].path, Some(vec![]));
        // A middlebox on no server's path, and a server left on the default
        // path when there is no `network.path` to give its order.
        let e = errors(
            "[[middleboxes]]\nname = \"a\"\n[[middleboxes]]\nname = \"b\"\n[[servers]]\nname = \"s\"\npath = [\"a\"]\n[workload]\nat = [\"0s\"]\n",
        );
        assert!(e.contains("middlebox \"b\" is on no path"), "{e}");
        let e = errors(
            "[[middleboxes]]\nname = \"a\"\n[[middleboxes]]\nname = \"b\"\n[[servers]]\nname = \"s\"\npath = [\"a\", \"b\"]\n[[servers]]\nname = \"t\"\n[[client.requests]]\nname = \"Q\"\ntarget = \"s\"\n[workload]\nat = [\"0s\"]\n",
        );
        assert!(e.contains("no `network.path`"), "{e}");
    }

    #[test]
    fn path_mistakes_are_reported_together() {
        let e = errors(
            r#"
[middlebox]
preset = "aws-nlb"

[[middleboxes]]
name = "a"

[[middleboxes]]
name = "a"

[network]
path = ["a", "b", "a"]
hop_latencies = ["1ms"]

[workload]
at = ["0s"]
"#,
        );
        for want in [
            "use one form",
            "two middleboxes are named \"a\"",
            "no middlebox is named \"b\"",
            "\"a\" is on the path twice",
            "middlebox \"aws-nlb\" is on no path",
            "1 latencies for 2 link(s)",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = errors("[[middleboxes]]\nname = \"a\"\n[[middleboxes]]\nname = \"b\"\n[workload]\nat = [\"0s\"]\n");
        assert!(e.contains("no `network.path`"), "{e}");
        assert!(
            e.contains("p.toml:3:1") || e.contains("proxy.toml:3:1"),
            "{e}"
        );
    }

    #[test]
    fn several_servers_targets_and_a_proxy_in_front_of_one() {
        let s = load(
            "s.toml",
            r#"
[client]
strategy = "global"
[client.targets.pg]
strategy = "pool"
[client.pool]
preset = "pg-pool"

[[client.requests]]
name = "GET"
target = "cache"
[[client.requests]]
name = "SELECT"
target = "pg"

[[servers]]
name = "cache"
preset = "redis7"
[[servers]]
name = "pg"
preset = "postgres"

[proxy]
preset = "pgbouncer"
server = "pg"

[workload]
at = ["0s"]

[expect]
assert = ["metrics.servers.pg.connections_peak <= 1"]
"#,
            &[],
        )
        .expect("loads");
        let c = &s.config;
        let names: Vec<&str> = c.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["cache", "pg"]);
        let targets: Vec<u16> = c.client.requests.iter().map(|r| r.target).collect();
        assert_eq!(targets, [0, 1]);
        assert_eq!(c.client.strategy_of(0), thaw_sim::Strategy::Global);
        assert_eq!(c.client.strategy_of(1), thaw_sim::Strategy::Pool);
        assert_eq!(c.client.pooled_target(), Some(1));
        assert_eq!(c.proxies.first().map(|p| p.server), Some(1));
    }

    #[test]
    fn server_mistakes_are_reported_together() {
        let e = errors(
            r#"
[server]
preset = "redis7"

[client]
strategy = "pool"
[client.pool]
preset = "pg-pool"

[[client.requests]]
name = "A"
[[client.requests]]
name = "B"
target = "nope"

[[servers]]
name = "a"
[[servers]]
name = "a"

[proxy]
preset = "pgbouncer"

[workload]
at = ["0s"]

[expect]
assert = ["metrics.servers.b.errors == 0"]
"#,
        );
        for want in [
            "both a [server] table and [[servers]] entries",
            "two servers are named \"a\"",
            "each request names its `target`",
            "no server is named \"nope\"",
            "the [proxy] names the one it fronts",
            "servers are reached through the pool",
            "no server is named `b`",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn mariadb_preset_closes_by_rst_and_keys_override() {
        let s = load(
            "m.toml",
            "[server]\npreset = \"mariadb\"\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .expect("valid");
        let sv = &s.config.servers[0];
        assert_eq!(sv.idle_close, thaw_sim::IdleClose::Rst);
        assert!(!sv.idle_close_error);
        assert_eq!((sv.backlog, sv.max_connections), (80, 151));
        assert_eq!(sv.idle_timeout, Some(SimDuration::from_secs(28_800)));
        let s = load(
            "m.toml",
            "[server]\npreset = \"mariadb\"\nidle_close = \"fin\"\n[server.tcp]\nretrans_collapse = false\ntimer_wheel = true\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .expect("valid");
        assert_eq!(s.config.servers[0].idle_close, thaw_sim::IdleClose::Fin);
        assert!(!s.config.servers[0].tcp.retrans_collapse);
        assert!(s.config.servers[0].tcp.timer_wheel);
        let e = errors("[server.tcp]\nhz = 0\ntimer_wheel = true\n[workload]\nat = [\"0s\"]\n");
        assert!(e.contains("timer_wheel needs a tick"), "{e}");
    }

    #[test]
    fn rds_proxy_defaults_and_overrides() {
        let s = load(
            "p.toml",
            r#"
[server]
preset = "mysql8"
max_connections = 1000

[proxy]
preset = "rds-proxy"
max_connections_percent = 4
connection_borrow_timeout = "5s"

[[client.requests]]
name = "SET time_zone"
pin = true

[workload]
at = ["0s"]
"#,
            &[],
        )
        .expect("loads");
        let p = s.config.proxies.first().cloned().expect("proxy");
        assert_eq!(p.name, "rds-proxy");
        assert_eq!(p.port, 3306);
        assert_eq!(p.server_latency, SimDuration::from_micros(250));
        assert_eq!(p.backend_bound(&s.config.servers[0]), 40);
        match p.kind {
            ProxyKind::RdsProxy(r) => {
                assert_eq!(r.max_connections_percent, 4);
                // Half of MaxConnectionsPercent unless given.
                assert_eq!(r.max_idle_connections_percent, 2);
                assert_eq!(r.connection_borrow_timeout, Some(SimDuration::from_secs(5)));
                assert_eq!(r.idle_client_timeout, SimDuration::from_secs(1800));
            }
            ProxyKind::PgBouncer(_) => panic!("wrong kind"),
        }
        assert!(s.config.client.requests[0].pin);
    }

    #[test]
    fn pgbouncer_defaults_and_zero_means_off() {
        let s = load(
            "p.toml",
            r#"
[server]
preset = "postgres"

[proxy]
preset = "pgbouncer"
pool_mode = "transaction"
query_wait_timeout = "0s"

[workload]
at = ["0s"]
"#,
            &[],
        )
        .expect("loads");
        let p = s.config.proxies.first().cloned().expect("proxy");
        assert_eq!(p.port, 6432);
        assert!(p.tcp.keepalive.is_some(), "tcp_keepalive = 1");
        match p.kind {
            ProxyKind::PgBouncer(g) => {
                assert_eq!(g.pool_mode, PoolMode::Transaction);
                assert_eq!(g.default_pool_size, 20);
                assert_eq!(g.max_client_conn, 100);
                assert_eq!(g.query_wait_timeout, None);
                assert_eq!(g.server_idle_timeout, Some(SimDuration::from_secs(600)));
                assert_eq!(g.client_idle_timeout, None);
            }
            ProxyKind::RdsProxy(_) => panic!("wrong kind"),
        }
    }

    #[test]
    fn proxy_mistakes_are_reported() {
        let out = errors(
            r#"[server]
preset = "mysql8"

[proxy]
preset = "pgbouncer"
max_connections_percent = 120
pool_mode = "statement"

[workload]
at = ["0s"]
"#,
        );
        assert!(out.contains("proxy.toml:6:"), "{out}");
        assert!(out.contains("is an RDS Proxy setting"), "{out}");
        assert!(
            out.contains("PgBouncer speaks the PostgreSQL protocol"),
            "{out}"
        );
        assert!(out.contains("statement"), "{out}");

        let out = errors(
            r#"[proxy]
pool_size = 3

[workload]
at = ["0s"]
"#,
        );
        assert!(out.contains("needs a `preset`"), "{out}");
        assert!(out.contains("pool_size"), "{out}");

        let out = errors(
            r#"[server]
preset = "postgres"

[proxy]
preset = "rds-proxy"
max_connections_percent = 0
max_idle_connections_percent = 10
connection_borrow_timeout = "2h"

[workload]
at = ["0s"]
"#,
        );
        assert!(out.contains("outside RDS Proxy's range 1..100"), "{out}");
        assert!(out.contains("above max_connections_percent"), "{out}");
        assert!(out.contains("above RDS Proxy's maximum of 3600s"), "{out}");
    }

    #[test]
    fn client_retry_defaults_and_overrides() {
        let s = load(
            "r.toml",
            r#"
[[client.requests]]
name = "INCR n"
op = "write"
key = 1
idempotent = true

[client.retry]
count = 2
backoff = "50ms"
backoff_max = "1s"
on = ["ECONNRESET", "REQUEST_TIMEOUT"]

[workload]
at = ["0s"]
"#,
            &[],
        )
        .expect("loads");
        let r = &s.config.client.retry;
        assert_eq!(r.count, 2);
        assert_eq!(r.backoff, SimDuration::from_millis(50));
        assert_eq!(r.backoff_max, Some(SimDuration::from_secs(1)));
        assert_eq!(
            r.on,
            vec![
                thaw_sim::ErrorKind::Econnreset,
                thaw_sim::ErrorKind::RequestTimeout
            ]
        );
        assert!(s.config.client.requests[0].idempotent);
        let d = load("d.toml", "[workload]\nat = [\"0s\"]\n", &[]).expect("loads");
        assert_eq!(d.config.client.retry, thaw_sim::RetrySettings::default());
        assert!(!d.config.client.requests[0].idempotent);
    }

    #[test]
    fn client_retry_rejects_unknown_kinds_and_a_low_cap() {
        let e = errors(
            r#"
[client.retry]
count = 1
backoff = "2s"
backoff_max = "1s"
on = ["ECONNRESET", "ENOPE", "FUNCTION_TIMEOUT"]

[workload]
at = ["0s"]
"#,
        );
        assert!(e.contains("unknown error kind `ENOPE`"), "{e}");
        assert!(e.contains("FUNCTION_TIMEOUT cannot be retried"), "{e}");
        assert!(e.contains("is below `backoff`"), "{e}");
    }

    #[test]
    fn http_strategy_rejects_transactions_and_proxies() {
        let e = errors(
            r#"
[client]
strategy = "http"

[[client.requests]]
name = "BEGIN"
op = "begin"

[server]
preset = "postgres"

[proxy]
preset = "pgbouncer"

[workload]
at = ["0s"]
"#,
        );
        assert!(e.contains("a transaction needs a connection"), "{e}");
        assert!(e.contains("does not go through a `[proxy]`"), "{e}");
        let e = errors(
            r#"
[client]
http_overhead = "5ms"

[workload]
at = ["0s"]
"#,
        );
        assert!(e.contains("`http_overhead` is used only with"), "{e}");
        let s = load(
            "h.toml",
            "[client]\nstrategy = \"http\"\nhttp_overhead = \"7ms\"\n\n[workload]\nat = [\"0s\"]\n",
            &[],
        )
        .expect("loads");
        assert_eq!(s.config.client.strategy, thaw_sim::Strategy::Http);
        assert_eq!(s.config.client.http_overhead, SimDuration::from_millis(7));
    }

    /// `[function.snapstart]` (model.md 1.6b): its keys map to the
    /// platform's `SnapStart`; what thaw does not model, and what Lambda
    /// refuses, is an error.
    #[test]
    fn snapstart_loads_and_its_limits_are_refused() {
        use thaw_sim::AfterRestore;
        let w = "[workload]\nat = [\"0s\"]\n";
        let s = load(
            "s.toml",
            &format!("[function.snapstart]\nrestore_duration = {{ uniform = [\"100ms\", \"300ms\"] }}\ninit_connects = true\nafter_restore = \"reconnect\"\n{w}"),
            &[],
        )
        .expect("loads");
        let snap = s.config.platform.snapstart.expect("on");
        assert!(snap.init_connects);
        assert_eq!(snap.after_restore, AfterRestore::Reconnect);
        assert!(matches!(
            snap.restore_duration,
            thaw_core::Dist::Uniform { lo, hi } if lo == SimDuration::from_millis(100) && hi == SimDuration::from_millis(300)
        ));
        let s = load("s.toml", &format!("[function.snapstart]\n{w}"), &[]).expect("loads");
        let snap = s
            .config
            .platform
            .snapstart
            .expect("an empty table turns it on");
        assert!(!snap.init_connects);
        assert_eq!(snap.after_restore, AfterRestore::None);
        assert!(load("s.toml", w, &[])
            .expect("loads")
            .config
            .platform
            .snapstart
            .is_none());

        let e = errors(&format!(
            "[function]\nprovisioned_concurrency = 1\n[function.snapstart]\n{w}"
        ));
        assert!(e.contains("provisioned concurrency"), "{e}");
        let e = errors(&format!("[function.snapstart]\ninit_connects = true\n[client.library]\npreset = \"ioredis\"\n{w}"));
        assert!(e.contains("`[client.library]` connection"), "{e}");
        let e = errors(&format!("[function.snapstart]\nafter_restore = \"reconnect\"\n[client]\nstrategy = \"per_invocation\"\n{w}"));
        assert!(e.contains("nothing to reconnect"), "{e}");
        let e = errors(&format!("[function.snapstart]\n[client]\nstrategy = \"pool\"\n[client.pool]\npreset = \"hikaricp\"\n{w}"));
        assert!(e.contains("`min` connections"), "{e}");
        let e = errors(&format!(
            "[function.snapstart]\nafter_restore = \"later\"\n{w}"
        ));
        assert!(e.contains("reconnect"), "{e}");
    }
}
