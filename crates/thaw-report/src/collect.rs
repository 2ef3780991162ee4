//! The trace sink behind the report: it reads the records as the run
//! produces them and keeps a bounded summary, so a run of millions of
//! invocations is summarised in the same memory as a short one.
//!
//! - Connections: every connection's records are buffered while it lives
//!   (capped); when it is over, it is kept for a swimlane if it is one of
//!   the first few or the first with an error of its kind, else dropped.
//! - Environments and connections held by servers: exact spans for the
//!   Gantt chart while the run is small, and always time-binned gauges
//!   (fixed number of bins, widths doubling as the run goes on).
//!
//! Connections are identified from the records' segment fields
//! (`src_host`, `dst_host`, ports) and, for records that only name a
//! socket in their text (`tcp_state`, `tcp_note`, `close`, `connect`,
//! middlebox flows, accepts), from the socket names of
//! docs/trace-format.md ("Components").
use crate::bins::Bins;
use std::collections::{BTreeMap, BTreeSet};
use thaw_core::{Level, TraceRecord, TraceSink, Value};
use thaw_sim::SimConfig;

/// Connections kept for swimlanes regardless of errors: the first ones.
pub(crate) const FIRST_CONNS: usize = 2;
/// At most this many more connections are kept: the first with an error
/// of each kind.
pub(crate) const ERROR_CONNS: usize = 4;
/// Only the first this many connections can get a swimlane: their
/// records (every packet's included) are collected; later ones are only
/// counted, so that a long run does not pay for copying every record.
pub(crate) const DETAIL_CONNS: usize = 5_000;
/// Records kept per connection; later ones are counted, not drawn.
pub(crate) const MAX_RECS_PER_CONN: usize = 400;
/// Records buffered over all live connections; beyond it new connections
/// are not buffered (they cannot get a swimlane).
const BUFFER_BUDGET: usize = 200_000;
/// The Gantt chart draws each environment while there are at most this
/// many...
pub(crate) const GANTT_MAX_ENVS: usize = 40;
/// ...and at most this many spans in all; beyond, only the binned view.
const GANTT_MAX_SPANS: usize = 6_000;
/// Invocations listed in the table: the first ones, then errors.
pub(crate) const TABLE_FIRST: usize = 60;
const TABLE_MORE_ERRORS: usize = 40;
/// Records of an environment kept as context for a connection it opens
/// (from its latest invocation's arrival).
const CONTEXT: usize = 16;

/// What an environment is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EnvState {
    /// Cold start: created, init running.
    Init,
    /// An invocation runs.
    Busy,
    /// Between invocations, not (yet) frozen.
    Idle,
    /// Frozen: nothing runs.
    Frozen,
    /// Reaped: gone.
    Reaped,
}

impl EnvState {
    pub(crate) fn label(self) -> &'static str {
        match self {
            EnvState::Init => "init",
            EnvState::Busy => "busy",
            EnvState::Idle => "idle",
            EnvState::Frozen => "frozen",
            EnvState::Reaped => "reaped",
        }
    }
    fn gauge(self) -> Option<usize> {
        match self {
            EnvState::Init => Some(0),
            EnvState::Busy => Some(1),
            EnvState::Idle => Some(2),
            EnvState::Frozen => Some(3),
            EnvState::Reaped => None,
        }
    }
}

/// A connection as the records name it: the client's host and port, and
/// the host it connects to (a server or the proxy).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub client: String,
    pub port: u64,
    pub server: String,
}

/// One connection (an instance of its key: ports are reused).
#[derive(Debug)]
pub(crate) struct Conn {
    /// Creation order over the run, from 0.
    pub index: usize,
    pub key: Key,
    /// The client environment's number, when the client is one.
    pub env: Option<u32>,
    /// Its records (and its environment's, while it lived).
    pub recs: Vec<TraceRecord>,
    /// Records beyond [`MAX_RECS_PER_CONN`].
    pub truncated: u64,
    /// Whether records are buffered at all.
    tracked: bool,
    client_done: bool,
    server_done: bool,
    seen_non_syn: bool,
    last_t: u64,
    /// The first error an invocation saw on it: kind.
    pub error: Option<String>,
    /// Kept and still receiving its environment's lifecycle records (up
    /// to the reap or the next invocation).
    tail: bool,
}

impl Conn {
    fn done(&self) -> bool {
        self.client_done && self.server_done
    }
    fn push(&mut self, rec: &TraceRecord, budget: &mut usize) {
        self.last_t = rec.t.as_nanos();
        if !self.tracked {
            return;
        }
        if self.recs.len() >= MAX_RECS_PER_CONN {
            self.truncated += 1;
            return;
        }
        *budget += 1;
        self.recs.push(rec.clone());
    }
}

/// A span of an environment's life, for the Gantt chart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EnvSpan {
    pub state: EnvState,
    pub t0: u64,
    pub t1: u64,
}

/// A connection held by a server (or the proxy) for the Gantt chart.
#[derive(Clone, Debug)]
pub(crate) struct HeldSpan {
    pub env: u32,
    pub t0: u64,
    pub t1: u64,
    pub label: String,
}

/// An error marker.
#[derive(Clone, Debug)]
pub(crate) struct ErrMark {
    pub t: u64,
    pub env: Option<u32>,
    pub kind: String,
    pub line: String,
}

/// The exact per-environment view, while the run is small.
#[derive(Default, Debug)]
pub(crate) struct Gantt {
    pub envs: BTreeMap<u32, Vec<EnvSpan>>,
    pub held: Vec<HeldSpan>,
    pub errors: Vec<ErrMark>,
    spans: usize,
}

/// One row of the invocation table.
#[derive(Clone, Debug, Default)]
pub(crate) struct InvRow {
    pub id: u64,
    pub at: u64,
    pub env: Option<u32>,
    pub cold: bool,
    pub error: Option<String>,
    pub latency: Option<u64>,
    pub detail: String,
    pub ended: bool,
    /// The number (from 0) of the connection its error happened on, as
    /// `thaw run --html-conn` takes it (plus one).
    pub conn: Option<usize>,
}

/// Names of the hosts, from the configuration (the world's host ids:
/// thaw-sim `world/mod.rs`, `server_host`, `proxy_host`).
#[derive(Debug)]
pub(crate) struct Names {
    pub servers: Vec<String>,
    pub proxies: Vec<String>,
    pub middleboxes: Vec<String>,
    /// Each server's connection limit.
    pub limits: Vec<u32>,
}

const PROXY_HOST: u64 = u32::MAX as u64 - 1;
const MORE_NODES: u64 = 32_767;

impl Names {
    fn new(cfg: &SimConfig) -> Self {
        Names {
            servers: cfg.servers.iter().map(|s| s.name.clone()).collect(),
            proxies: cfg.proxies.iter().map(|p| p.name.clone()).collect(),
            middleboxes: cfg.middleboxes.iter().map(|m| m.name.clone()).collect(),
            limits: cfg.servers.iter().map(|s| s.max_connections).collect(),
        }
    }

    /// The name of host id `h`.
    pub(crate) fn host_name(&self, h: u64) -> String {
        let node_hosts = PROXY_HOST - 2 * MORE_NODES - 1;
        let found = if h == 0 {
            self.servers.first()
        } else if h == PROXY_HOST {
            self.proxies.first()
        } else if (PROXY_HOST - MORE_NODES..PROXY_HOST).contains(&h) {
            self.servers.get((PROXY_HOST - h) as usize)
        } else if (node_hosts + 1..PROXY_HOST - MORE_NODES).contains(&h) {
            self.proxies.get((PROXY_HOST - MORE_NODES - h) as usize)
        } else {
            None
        };
        match found {
            Some(n) => n.clone(),
            None => format!("env-{h}"),
        }
    }

    /// Which end of a connection a host is: environments are clients,
    /// servers are servers, the proxy is between.
    fn rank(&self, name: &str) -> u8 {
        if env_number(name).is_some() {
            0
        } else if self.proxies.iter().any(|p| p == name) {
            1
        } else {
            2
        }
    }

    /// Index of a holder of connections: servers, then proxies.
    pub(crate) fn holder(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s == name).or_else(|| {
            self.proxies
                .iter()
                .position(|p| p == name)
                .map(|i| i + self.servers.len())
        })
    }

    pub(crate) fn holder_name(&self, i: usize) -> &str {
        self.servers
            .get(i)
            .or_else(|| self.proxies.get(i - self.servers.len()))
            .map_or("?", |s| s.as_str())
    }

    pub(crate) fn holders(&self) -> usize {
        self.servers.len() + self.proxies.len()
    }
}

/// `env-N` → N.
pub(crate) fn env_number(name: &str) -> Option<u32> {
    name.strip_prefix("env-")?.parse().ok()
}

/// `inv-N` → N.
fn inv_number(name: &str) -> Option<u64> {
    name.strip_prefix("inv-")?.parse().ok()
}

/// A host name and a port.
type Addr<'a> = (&'a str, u64);

/// `NAME:PORT` → (NAME, PORT).
fn addr(s: &str) -> Option<(&str, u64)> {
    let (n, p) = s.rsplit_once(':')?;
    Some((n, p.parse().ok()?))
}

/// The address at the start of `s`, up to a space, `:` + non-digit, `(`
/// or the end: `env-1:32768 (1 connection…` → `env-1:32768`.
fn leading_addr(s: &str) -> Option<(&str, u64)> {
    let end = s.find([' ', '(', ',']).unwrap_or(s.len());
    let mut a = &s[..end];
    // "…from env-1:32768: idle for…" ends with a colon.
    a = a.strip_suffix(':').unwrap_or(a);
    addr(a)
}

/// Which side of a socket a text names: "X socket :LPORT→PEER:PORT" (the
/// connecting side) or "X socket ←PEER:PORT" (the accepting side).
fn socket_key(component: &str, text: &str) -> Option<(Key, bool)> {
    let rest = text.strip_prefix(component)?.strip_prefix(" socket ")?;
    let name_end = rest.find(": ").unwrap_or(rest.len());
    let sock = &rest[..name_end];
    if let Some(peer) = sock.strip_prefix('←') {
        let (c, p) = addr(peer)?;
        return Some((
            Key {
                client: c.to_string(),
                port: p,
                server: component.to_string(),
            },
            false,
        ));
    }
    let sock = sock.strip_prefix(':')?;
    let (lport, peer) = sock.split_once('→')?;
    let (s, _) = addr(peer)?;
    Some((
        Key {
            client: component.to_string(),
            port: lport.parse().ok()?,
            server: s.to_string(),
        },
        true,
    ))
}

/// The flow a middlebox text names: "MB flow A:PA↔B:PB…" or "MB forgets
/// flow A:PA↔B:PB…".
fn flow_pair(text: &str) -> Option<(Addr<'_>, Addr<'_>)> {
    let at = text.find("flow ")? + 5;
    let rest = &text[at..];
    let (a, b) = rest.split_once('↔')?;
    let b_end = b.find(": ").or_else(|| b.find(' ')).unwrap_or(b.len());
    Some((addr(a)?, addr(&b[..b_end])?))
}

fn field<'a>(rec: &'a TraceRecord, name: &str) -> Option<&'a Value> {
    rec.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

pub(crate) fn field_u64(rec: &TraceRecord, name: &str) -> Option<u64> {
    match field(rec, name)? {
        Value::U64(n) => Some(*n),
        _ => None,
    }
}

pub(crate) fn field_str<'a>(rec: &'a TraceRecord, name: &str) -> Option<&'a str> {
    match field(rec, name)? {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn field_bool(rec: &TraceRecord, name: &str) -> Option<bool> {
    match field(rec, name)? {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Segment events: their fields name both ends.
pub(crate) fn is_segment_event(e: &str) -> bool {
    matches!(
        e,
        "send" | "recv" | "no_socket_rst" | "frozen_drop" | "vanish" | "drop" | "rst"
    )
}

/// Collects what the HTML report draws (see the module documentation).
/// Give it every record of a run ([`TraceSink`]), then render with
/// [`crate::render`].
#[derive(Debug)]
pub struct HtmlCollector {
    pub(crate) names: Names,
    live: BTreeMap<Key, Conn>,
    env_keys: BTreeMap<u32, BTreeSet<Key>>,
    pub(crate) kept: Vec<Conn>,
    kept_kinds: BTreeSet<String>,
    pub(crate) next_conn: usize,
    buffered: usize,
    env_ctx: BTreeMap<u32, Vec<TraceRecord>>,
    inv_env: BTreeMap<u64, u32>,
    env_state: BTreeMap<u32, EnvState>,
    env_counts: [u64; 4],
    /// Held connections: (holder, client, port) → (start, env).
    held: BTreeMap<(usize, String, u64), (u64, Option<u32>)>,
    held_env: BTreeMap<(usize, u32), u64>,
    held_count: Vec<u64>,
    zombie_count: Vec<u64>,
    pub(crate) gantt: Option<Gantt>,
    /// Why the Gantt chart was given up, if it was.
    pub(crate) gantt_dropped: Option<String>,
    pub(crate) bins: Bins,
    pub(crate) rows: Vec<InvRow>,
    open_rows: BTreeMap<u64, InvRow>,
    more_errors: usize,
    pub(crate) records: u64,
    pub(crate) end: u64,
    pub(crate) environments: BTreeSet<u32>,
    pub(crate) untracked_conns: u64,
    /// Live connections among the first [`FIRST_CONNS`].
    first_live: usize,
    /// Live connections among the first [`DETAIL_CONNS`].
    full_live: usize,
    /// The connection asked for by number (`thaw run --html-conn N`,
    /// 0-based here): kept with its packets wherever it comes in the run.
    pub(crate) chosen: Option<usize>,
    /// Whether the chosen connection was opened and is over.
    pub(crate) chosen_done: bool,
}

impl HtmlCollector {
    /// A collector for a run of `cfg` (it names the servers, the proxy
    /// and the middleboxes).
    pub fn new(cfg: &SimConfig) -> Self {
        let names = Names::new(cfg);
        let holders = names.holders();
        HtmlCollector {
            bins: Bins::new(4, holders),
            names,
            live: BTreeMap::new(),
            env_keys: BTreeMap::new(),
            kept: Vec::new(),
            kept_kinds: BTreeSet::new(),
            next_conn: 0,
            buffered: 0,
            env_ctx: BTreeMap::new(),
            inv_env: BTreeMap::new(),
            env_state: BTreeMap::new(),
            env_counts: [0; 4],
            held: BTreeMap::new(),
            held_env: BTreeMap::new(),
            held_count: vec![0; holders],
            zombie_count: vec![0; holders],
            gantt: Some(Gantt::default()),
            gantt_dropped: None,
            rows: Vec::new(),
            open_rows: BTreeMap::new(),
            more_errors: 0,
            records: 0,
            end: 0,
            environments: BTreeSet::new(),
            untracked_conns: 0,
            first_live: 0,
            full_live: 0,
            chosen: None,
            chosen_done: false,
        }
    }

    /// Also keeps connection number `n` (1-based, the order in which the
    /// run opened them, as the swimlanes' titles number them), with every
    /// packet, however late it comes.
    pub fn choose(mut self, n: usize) -> Self {
        self.chosen = n.checked_sub(1);
        self
    }

    /// True while the chosen connection still needs detail: not yet
    /// opened, or live.
    fn chosen_pending(&self) -> bool {
        self.chosen.is_some() && !self.chosen_done
    }

    /// True when no later connection could be kept: the first ones are
    /// over and every error slot is taken (then the per-packet records
    /// are no longer needed).
    fn saturated(&self) -> bool {
        self.next_conn >= FIRST_CONNS
            && self.first_live == 0
            && self.kept_kinds.len() >= ERROR_CONNS
            && !self.chosen_pending()
    }

    /// True when no connection still wants its packets.
    fn no_detail(&self) -> bool {
        self.saturated()
            || (self.next_conn >= DETAIL_CONNS && self.full_live == 0 && !self.chosen_pending())
    }

    /// Ends the run: live connections are finalised, open spans closed.
    pub(crate) fn finish(&mut self) {
        let end = self.end;
        self.bins.advance(end);
        let keys: Vec<Key> = self.live.keys().cloned().collect();
        for k in keys {
            if let Some(c) = self.live.remove(&k) {
                self.finalize(c);
            }
        }
        let envs: Vec<(u32, EnvState)> = self.env_state.iter().map(|(e, s)| (*e, *s)).collect();
        if let Some(g) = &mut self.gantt {
            for (e, s) in envs {
                if let Some(v) = g.envs.get_mut(&e) {
                    if let Some(last) = v.last_mut() {
                        if last.state == s && s != EnvState::Reaped {
                            last.t1 = end;
                        }
                    }
                }
            }
        }
        let held: Vec<_> = self.held.keys().cloned().collect();
        for k in held {
            self.unhold(&k.0, &k.1, k.2, end);
        }
        let open = std::mem::take(&mut self.open_rows);
        for (_, r) in open {
            self.push_row(r);
        }
        self.rows.sort_by_key(|r| r.id);
    }

    fn push_row(&mut self, r: InvRow) {
        if (r.id as usize) <= TABLE_FIRST {
            self.rows.push(r);
        } else if r.error.is_some() && self.more_errors < TABLE_MORE_ERRORS {
            self.more_errors += 1;
            self.rows.push(r);
        }
    }

    fn gantt_grow(&mut self, n: usize) {
        let over = match &mut self.gantt {
            Some(g) => {
                g.spans += n;
                if g.envs.len() > GANTT_MAX_ENVS {
                    Some(format!("more than {GANTT_MAX_ENVS} environments"))
                } else if g.spans > GANTT_MAX_SPANS {
                    Some(format!("more than {GANTT_MAX_SPANS} spans"))
                } else {
                    None
                }
            }
            None => None,
        };
        if over.is_some() {
            self.gantt = None;
            self.gantt_dropped = over;
        }
    }

    fn set_env_state(&mut self, env: u32, s: EnvState, t: u64) {
        let old = self.env_state.insert(env, s);
        if old == Some(s) {
            return;
        }
        self.environments.insert(env);
        if let Some(g) = old.and_then(EnvState::gauge) {
            self.env_counts[g] -= 1;
        }
        if let Some(g) = s.gauge() {
            self.env_counts[g] += 1;
        }
        for (i, c) in self.env_counts.iter().enumerate() {
            self.bins.set_env(i, *c);
        }
        let was_zombie = matches!(old, Some(EnvState::Frozen | EnvState::Reaped));
        let is_zombie = matches!(s, EnvState::Frozen | EnvState::Reaped);
        if was_zombie != is_zombie {
            for h in 0..self.names.holders() {
                let n = self.held_env.get(&(h, env)).copied().unwrap_or(0);
                if n > 0 {
                    if is_zombie {
                        self.zombie_count[h] += n;
                    } else {
                        self.zombie_count[h] -= n;
                    }
                    self.bins
                        .set_held(h, self.held_count[h], self.zombie_count[h]);
                }
            }
        }
        if let Some(g) = &mut self.gantt {
            let v = g.envs.entry(env).or_default();
            if let Some(last) = v.last_mut() {
                last.t1 = t;
            }
            v.push(EnvSpan {
                state: s,
                t0: t,
                t1: t,
            });
        }
        self.gantt_grow(1);
    }

    fn hold(&mut self, holder: usize, client: &str, port: u64, t: u64) {
        let env = env_number(client);
        if self
            .held
            .insert((holder, client.to_string(), port), (t, env))
            .is_some()
        {
            return;
        }
        self.held_count[holder] += 1;
        if let Some(e) = env {
            *self.held_env.entry((holder, e)).or_default() += 1;
            if matches!(
                self.env_state.get(&e),
                Some(EnvState::Frozen | EnvState::Reaped)
            ) {
                self.zombie_count[holder] += 1;
            }
        }
        self.bins
            .set_held(holder, self.held_count[holder], self.zombie_count[holder]);
    }

    fn unhold(&mut self, holder: &usize, client: &str, port: u64, t: u64) {
        let Some((t0, env)) = self.held.remove(&(*holder, client.to_string(), port)) else {
            return;
        };
        let h = *holder;
        self.held_count[h] -= 1;
        if let Some(e) = env {
            if let Some(n) = self.held_env.get_mut(&(h, e)) {
                *n -= 1;
            }
            if matches!(
                self.env_state.get(&e),
                Some(EnvState::Frozen | EnvState::Reaped)
            ) {
                self.zombie_count[h] -= 1;
            }
            if let Some(g) = &mut self.gantt {
                g.held.push(HeldSpan {
                    env: e,
                    t0,
                    t1: t,
                    label: format!("{client}:{port} held by {}", self.names.holder_name(h)),
                });
            }
            self.gantt_grow(1);
        }
        self.bins
            .set_held(h, self.held_count[h], self.zombie_count[h]);
    }

    /// A connection is over: keep it for a swimlane, or drop it.
    fn finalize(&mut self, mut c: Conn) {
        if let Some(e) = c.env {
            if let Some(keys) = self.env_keys.get_mut(&e) {
                keys.remove(&c.key);
            }
        }
        self.buffered = self.buffered.saturating_sub(c.recs.len());
        if c.index < FIRST_CONNS {
            self.first_live -= 1;
        }
        if c.index < DETAIL_CONNS {
            self.full_live -= 1;
        }
        let chosen = Some(c.index) == self.chosen;
        if chosen {
            self.chosen_done = true;
        }
        if !c.tracked {
            return;
        }
        let first = c.index < FIRST_CONNS || chosen;
        let new_kind = c
            .error
            .as_ref()
            .is_some_and(|k| !self.kept_kinds.contains(k))
            && self.kept_kinds.len() < ERROR_CONNS;
        if !(first || new_kind) {
            return;
        }
        if let Some(k) = &c.error {
            self.kept_kinds.insert(k.clone());
        }
        c.tail = c
            .env
            .is_some_and(|e| self.env_state.get(&e) != Some(&EnvState::Reaped));
        self.kept.push(c);
    }

    /// Finalises the environment's connections that are over.
    fn settle_env(&mut self, env: u32) {
        let Some(keys) = self.env_keys.get(&env) else {
            return;
        };
        let done: Vec<Key> = keys
            .iter()
            .filter(|k| self.live.get(*k).is_some_and(|c| c.done()))
            .cloned()
            .collect();
        for k in done {
            if let Some(c) = self.live.remove(&k) {
                self.finalize(c);
            }
        }
    }

    fn new_conn(&mut self, key: Key) -> &mut Conn {
        if let Some(old) = self.live.remove(&key) {
            self.finalize(old);
        }
        let env = env_number(&key.client);
        let index = self.next_conn;
        self.next_conn += 1;
        if index < FIRST_CONNS {
            self.first_live += 1;
        }
        if index < DETAIL_CONNS {
            self.full_live += 1;
        }
        let tracked = Some(index) == self.chosen
            || (index < DETAIL_CONNS && !self.saturated() && self.buffered < BUFFER_BUDGET);
        if !tracked {
            self.untracked_conns += 1;
        }
        let mut c = Conn {
            index,
            key: key.clone(),
            env,
            recs: Vec::new(),
            truncated: 0,
            tracked,
            client_done: false,
            server_done: false,
            seen_non_syn: false,
            last_t: 0,
            error: None,
            tail: false,
        };
        if let (Some(e), true) = (env, tracked) {
            // The environment's story so far: the arrival (cold start)
            // that led to this connection.
            if let Some(ctx) = self.env_ctx.get(&e) {
                for r in ctx {
                    c.push(r, &mut self.buffered);
                }
            }
        }
        if let Some(e) = env {
            self.env_keys.entry(e).or_default().insert(key.clone());
        }
        self.live.entry(key).or_insert(c)
    }

    /// Starts a connection for `key` unless one is being set up.
    fn opening(&mut self, key: Key) {
        let fresh = self
            .live
            .get(&key)
            .is_some_and(|c| !c.seen_non_syn && !c.done());
        if !fresh {
            self.new_conn(key);
        }
    }

    fn record_on(&mut self, key: &Key, rec: &TraceRecord) -> Option<&mut Conn> {
        let c = self.live.get_mut(key)?;
        c.push(rec, &mut self.buffered);
        Some(c)
    }

    /// A record of an environment or one of its invocations (not about one
    /// socket): to each of its live connections, its kept tails, and its
    /// context.
    fn env_record(&mut self, env: u32, rec: &TraceRecord, tail_ends: bool) {
        if let Some(keys) = self.env_keys.get(&env) {
            for k in keys {
                if let Some(c) = self.live.get_mut(k) {
                    c.push(rec, &mut self.buffered);
                }
            }
        }
        if rec.event != "invoke" {
            for c in self
                .kept
                .iter_mut()
                .filter(|c| c.tail && c.env == Some(env))
            {
                if c.recs.len() < MAX_RECS_PER_CONN {
                    c.recs.push(rec.clone());
                }
                if tail_ends {
                    c.tail = false;
                }
            }
        } else {
            for c in self.kept.iter_mut().filter(|c| c.env == Some(env)) {
                c.tail = false;
            }
        }
        // Context for a connection it may open: only while one can still
        // be kept.
        if (self.next_conn < DETAIL_CONNS && !self.saturated()) || self.chosen_pending() {
            let ctx = self.env_ctx.entry(env).or_default();
            if rec.event == "invoke" {
                ctx.clear();
            }
            if ctx.len() < CONTEXT {
                ctx.push(rec.clone());
            }
        } else if !self.env_ctx.is_empty() {
            self.env_ctx.clear();
        }
    }

    /// Records an error; returns the index of the connection it happened on.
    fn error(
        &mut self,
        t: u64,
        inv: Option<u64>,
        env: Option<u32>,
        kind: &str,
        rec: &TraceRecord,
    ) -> Option<usize> {
        self.bins.error(t, kind);
        if let Some(g) = &mut self.gantt {
            g.errors.push(ErrMark {
                t,
                env,
                kind: kind.to_string(),
                line: thaw_sim::jsonl::timeline_line(rec),
            });
        }
        self.gantt_grow(1);
        let _ = inv;
        // The connection it happened on: the environment's most recently
        // active one.
        if let Some(e) = env {
            if let Some(keys) = self.env_keys.get(&e) {
                let best = keys
                    .iter()
                    .filter_map(|k| self.live.get(k).map(|c| (c.last_t, c.index, k)))
                    .max()
                    .map(|(_, _, k)| k.clone());
                if let Some(k) = best {
                    if let Some(c) = self.live.get_mut(&k) {
                        if c.error.is_none() {
                            c.error = Some(kind.to_string());
                        }
                        return Some(c.index);
                    }
                }
            }
        }
        None
    }

    fn end_invocation(&mut self, rec: &TraceRecord, kind: Option<&str>) {
        let t = rec.t.as_nanos();
        let inv = inv_number(&rec.component);
        let env = inv.and_then(|i| self.inv_env.remove(&i));
        if let Some(e) = env {
            self.env_record(e, rec, false);
            if self.env_state.get(&e) != Some(&EnvState::Reaped) {
                self.set_env_state(e, EnvState::Idle, t);
            }
        }
        let conn = kind.and_then(|k| self.error(t, inv, env, k, rec));
        if let Some(i) = inv {
            let mut row = self.open_rows.remove(&i).unwrap_or(InvRow {
                id: i,
                at: t,
                env,
                ..InvRow::default()
            });
            row.ended = true;
            row.error = kind.map(str::to_string);
            row.latency = field_u64(rec, "latency_ns");
            row.detail = rec.text.clone();
            row.conn = conn;
            self.push_row(row);
        }
        if let Some(e) = env {
            self.settle_env(e);
        }
    }

    fn segment(&mut self, rec: &TraceRecord) {
        let (Some(sh), Some(sp), Some(dh), Some(dp)) = (
            field_u64(rec, "src_host"),
            field_u64(rec, "src_port"),
            field_u64(rec, "dst_host"),
            field_u64(rec, "dst_port"),
        ) else {
            return;
        };
        let (sn, dn) = (self.names.host_name(sh), self.names.host_name(dh));
        let from_client = self.names.rank(&sn) <= self.names.rank(&dn);
        let key = if from_client {
            Key {
                client: sn,
                port: sp,
                server: dn,
            }
        } else {
            Key {
                client: dn,
                port: dp,
                server: sn,
            }
        };
        let kind = field_str(rec, "kind").unwrap_or("");
        if rec.event == "send" && kind == "SYN" && from_client {
            self.opening(key.clone());
        }
        if let Some(c) = self.record_on(&key, rec) {
            if kind != "SYN" {
                c.seen_non_syn = true;
            }
        }
    }

    fn socket(&mut self, rec: &TraceRecord) {
        let Some((key, client_side)) = socket_key(&rec.component, &rec.text) else {
            return;
        };
        let t = rec.t.as_nanos();
        if rec.event == "connect" {
            self.opening(key.clone());
        }
        let closed = rec.event == "tcp_state"
            && matches!(field_str(rec, "to"), Some("CLOSED" | "TIME_WAIT"));
        let mut no_env_done = false;
        if let Some(c) = self.record_on(&key, rec) {
            if closed {
                if client_side {
                    c.client_done = true;
                } else {
                    c.server_done = true;
                }
            }
            no_env_done = c.env.is_none() && c.done();
        }
        if no_env_done {
            if let Some(c) = self.live.remove(&key) {
                self.finalize(c);
            }
        }
        // The server (or proxy) lets go of the connection.
        if !client_side && (rec.event == "close" || closed) {
            if let Some(h) = self.names.holder(&rec.component) {
                self.unhold(&h, &key.client, key.port, t);
            }
        }
    }

    fn flow(&mut self, rec: &TraceRecord) {
        let Some(((an, ap), (bn, bp))) = flow_pair(&rec.text) else {
            return;
        };
        let key = if self.names.rank(an) <= self.names.rank(bn) {
            Key {
                client: an.to_string(),
                port: ap,
                server: bn.to_string(),
            }
        } else {
            Key {
                client: bn.to_string(),
                port: bp,
                server: an.to_string(),
            }
        };
        self.record_on(&key, rec);
    }

    /// Server and proxy records that name the client's address after a
    /// fixed phrase.
    fn server_event(&mut self, rec: &TraceRecord, after: &str) {
        let Some(at) = rec.text.find(after) else {
            return;
        };
        let Some((c, p)) = leading_addr(&rec.text[at + after.len()..]) else {
            return;
        };
        let key = Key {
            client: c.to_string(),
            port: p,
            server: rec.component.clone(),
        };
        self.record_on(&key, rec);
        if matches!(rec.event, "accept" | "proxy_accept") {
            if let Some(h) = self.names.holder(&rec.component) {
                self.hold(h, c, p, rec.t.as_nanos());
            }
        }
    }
}

impl TraceSink for HtmlCollector {
    fn wants(&self, level: Level) -> bool {
        level == Level::Timeline || !self.no_detail()
    }

    fn record(&mut self, rec: TraceRecord) {
        let t = rec.t.as_nanos();
        self.end = self.end.max(t);
        self.bins.advance(t);
        // Counted from timeline records only: the detail records reach
        // this sink or not depending on the other sinks (`--trace`), and
        // the page must be the same either way.
        if rec.level == Level::Timeline {
            self.records += 1;
            self.bins.activity(t);
        }
        let comp_env = env_number(&rec.component);
        let comp_inv = inv_number(&rec.component);
        match rec.event {
            "invoke" => {
                let (Some(i), Some(e)) = (comp_inv, field_u64(&rec, "env")) else {
                    return;
                };
                let e = e as u32;
                let cold = field_bool(&rec, "cold").unwrap_or(false);
                self.inv_env.insert(i, e);
                self.bins.invocation(t, cold);
                self.settle_env(e);
                self.env_record(e, &rec, false);
                self.set_env_state(e, if cold { EnvState::Init } else { EnvState::Busy }, t);
                self.open_rows.insert(
                    i,
                    InvRow {
                        id: i,
                        at: t,
                        env: Some(e),
                        cold,
                        ..InvRow::default()
                    },
                );
            }
            "throttled" => {
                self.bins.invocation(t, false);
                self.error(t, comp_inv, None, "THROTTLED", &rec);
                if let Some(i) = comp_inv {
                    self.push_row(InvRow {
                        id: i,
                        at: t,
                        error: Some("THROTTLED".into()),
                        detail: rec.text.clone(),
                        ended: true,
                        ..InvRow::default()
                    });
                }
            }
            "outcome" => {
                let kind = field_str(&rec, "error").map(str::to_string);
                self.end_invocation(&rec, kind.as_deref());
            }
            "function_timeout" => self.end_invocation(&rec, Some("FUNCTION_TIMEOUT")),
            "init_done" => {
                if let Some(e) = comp_env {
                    self.env_record(e, &rec, false);
                    self.set_env_state(e, EnvState::Busy, t);
                }
            }
            "freeze" => {
                if let Some(e) = comp_env {
                    self.env_record(e, &rec, false);
                    self.set_env_state(e, EnvState::Frozen, t);
                    self.settle_env(e);
                }
            }
            "reap" => {
                if let Some(e) = comp_env {
                    self.env_record(e, &rec, true);
                    self.set_env_state(e, EnvState::Reaped, t);
                    // Its sockets vanish with it.
                    if let Some(keys) = self.env_keys.get(&e) {
                        for k in keys.clone() {
                            if let Some(c) = self.live.get_mut(&k) {
                                c.client_done = true;
                            }
                        }
                    }
                    self.settle_env(e);
                    // Gone for good: keep nothing of it but its state.
                    self.env_ctx.remove(&e);
                }
            }
            e if is_segment_event(e) => self.segment(&rec),
            "tcp_state" | "tcp_note" | "close" | "connect" => {
                if comp_env.is_some()
                    || self.names.holder(&rec.component).is_some()
                    || rec.text.contains(" socket ")
                {
                    self.socket(&rec);
                }
            }
            "flow_state" | "forget" | "flow_pickup" => self.flow(&rec),
            "accept" | "proxy_accept" => self.server_event(&rec, " accepts "),
            "idle_close" | "evict" | "bad_handshake" | "proxy_idle_close" => {
                self.server_event(&rec, "connection from ")
            }
            "reject" | "proxy_reject" => self.server_event(&rec, " refuses "),
            "server_down" => {
                if let Some(h) = self.names.holder(&rec.component) {
                    let gone: Vec<_> = self.held.keys().filter(|k| k.0 == h).cloned().collect();
                    for k in gone {
                        self.unhold(&k.0, &k.1, k.2, t);
                    }
                }
            }
            _ => {
                // Anything else an environment or invocation does belongs
                // to that environment's lane.
                let env = comp_env.or_else(|| comp_inv.and_then(|i| self.inv_env.get(&i).copied()));
                if let Some(e) = env {
                    self.env_record(e, &rec, false);
                }
            }
        }
    }
}

/// Forwards every record to two sinks (the trace file and the report).
pub struct Tee<'a> {
    /// The first sink.
    pub a: Option<&'a mut dyn TraceSink>,
    /// The second sink.
    pub b: Option<&'a mut dyn TraceSink>,
}

impl TraceSink for Tee<'_> {
    fn wants(&self, level: Level) -> bool {
        self.a.as_ref().is_some_and(|s| s.wants(level))
            || self.b.as_ref().is_some_and(|s| s.wants(level))
    }
    fn record(&mut self, rec: TraceRecord) {
        match (&mut self.a, &mut self.b) {
            (Some(a), Some(b)) => {
                if a.wants(rec.level) {
                    if b.wants(rec.level) {
                        a.record(rec.clone());
                    } else {
                        a.record(rec);
                        return;
                    }
                }
                if b.wants(rec.level) {
                    b.record(rec);
                }
            }
            (Some(s), None) | (None, Some(s)) => {
                if s.wants(rec.level) {
                    s.record(rec);
                }
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_names() {
        let (k, client) = socket_key(
            "env-1",
            "env-1 socket :32768→upstash:6379: SYN_SENT → ESTABLISHED",
        )
        .unwrap();
        assert!(client);
        assert_eq!(
            k,
            Key {
                client: "env-1".into(),
                port: 32768,
                server: "upstash".into()
            }
        );
        let (k2, client) = socket_key(
            "upstash",
            "upstash socket ←env-1:32768: close() — idle timeout",
        )
        .unwrap();
        assert!(!client);
        assert_eq!(k, k2);
        assert!(socket_key("env-1", "env-1 frozen with 1 socket(s) open").is_none());
    }

    #[test]
    fn parses_flows_and_addresses() {
        let ((a, ap), (b, bp)) =
            flow_pair("firewall flow env-1:32768↔upstash:6379: SYN_SENT → SYN_RECV on SYN-ACK")
                .unwrap();
        assert_eq!((a, ap, b, bp), ("env-1", 32768, "upstash", 6379));
        let ((a, _), (b, bp)) =
            flow_pair("firewall forgets flow env-1:32768↔upstash:6379: idle 10s in LAST_ACK")
                .unwrap();
        assert_eq!((a, b, bp), ("env-1", "upstash", 6379));
        assert_eq!(
            leading_addr("env-1:32768 (1 connection(s) open)"),
            Some(("env-1", 32768))
        );
        assert_eq!(
            leading_addr("env-1:32768: idle for 60s"),
            Some(("env-1", 32768))
        );
    }
}
