//! Wire codecs for real clients (thaw-harness): the server model speaks
//! RESP2 (Redis, Upstash, generic) and the simple-query subset of the
//! PostgreSQL frontend/backend protocol (version 3.0), so that unmodified
//! client libraries connect, run commands and receive the server's errors.
//!
//! Sans-IO: [`WireConn::feed`] turns the bytes a client wrote into
//! requests for the server model ([`WireItem`]); [`WireConn::reply`] turns
//! the model's answer back into bytes. Keys and values are byte strings
//! here and numbers in the data model: [`WireData`] maps one to the other
//! and remembers the bytes of every written version, so a GET returns what
//! a SET stored (and a stale read returns the stale bytes).
use std::collections::{BTreeMap, VecDeque};

/// Which protocol a server speaks to real clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// RESP2 (Redis serialization protocol).
    Resp,
    /// PostgreSQL protocol 3.0, simple queries.
    Pg,
}

/// What the model does with a decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// No data access (PING, CLIENT, SELECT, the PostgreSQL startup).
    Ping,
    Read(Vec<u8>),
    /// A write of a value (`None` deletes).
    Write(Vec<u8>, Option<Vec<u8>>),
    Begin,
    Commit,
    Rollback,
}

/// How to answer a request once the model has run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// RESP simple string (`+OK`, `+PONG`).
    Simple(&'static str),
    /// RESP bulk string with these bytes.
    Bulk(Vec<u8>),
    /// RESP: the value read (bulk string or nil).
    Value,
    /// RESP integer.
    Int(i64),
    /// RESP error (the text after `-`).
    Error(String),
    /// Raw bytes (PostgreSQL's one-byte answer to SSLRequest).
    Raw(Vec<u8>),
    /// PostgreSQL: AuthenticationOk, parameters, key data, ReadyForQuery.
    PgStartup,
    /// PostgreSQL: one row of one text column with these bytes.
    PgRow(Vec<u8>),
    /// PostgreSQL: the value read as a one-column result (0 or 1 row).
    PgValue,
    /// PostgreSQL: CommandComplete with this tag, no rows.
    PgTag(&'static str),
    /// PostgreSQL: EmptyQueryResponse.
    PgEmpty,
    /// PostgreSQL: ErrorResponse (severity ERROR), then ReadyForQuery.
    PgError(&'static str, String),
    /// PostgreSQL: ErrorResponse alone (extended protocol: ReadyForQuery
    /// comes at Sync).
    PgExtError(&'static str, String),
}

/// One thing a client's bytes asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WireItem {
    /// A request for the model, answered in order.
    Request { op: Op, reply: Reply },
    /// The client ends the session (RESP `QUIT` after its `+OK`,
    /// PostgreSQL `Terminate`).
    Close,
}

/// A connection's decoder state and the replies it owes, in order.
#[derive(Debug)]
pub(crate) struct WireConn {
    pub proto: Proto,
    buf: Vec<u8>,
    /// PostgreSQL: the startup packet has not come yet.
    startup: bool,
    /// PostgreSQL: skipping an extended-protocol batch until Sync.
    skipping: bool,
    /// Replies owed, in order, with the value a write stores.
    pub pending: VecDeque<(Reply, Option<Option<Vec<u8>>>)>,
}

/// A protocol violation: the server answers with this error and closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtocolError(pub String);

impl WireConn {
    pub fn new(proto: Proto) -> Self {
        WireConn {
            proto,
            buf: Vec::new(),
            startup: proto == Proto::Pg,
            skipping: false,
            pending: VecDeque::new(),
        }
    }

    /// Appends a client's bytes and decodes every complete message.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<WireItem>) -> Result<(), ProtocolError> {
        self.buf.extend_from_slice(bytes);
        loop {
            let step = match self.proto {
                Proto::Resp => {
                    resp_command(&self.buf)?.map(|(args, used)| (resp_item(&args), used))
                }
                Proto::Pg => self.pg_message()?,
            };
            let Some((item, used)) = step else {
                return Ok(());
            };
            self.buf.drain(..used);
            if let Some(item) = item {
                out.push(item);
            }
        }
    }

    fn pg_message(&mut self) -> Result<Option<(Option<WireItem>, usize)>, ProtocolError> {
        if self.startup {
            if self.buf.len() < 8 {
                return Ok(None);
            }
            let len = be32(&self.buf[0..4]) as usize;
            if !(8..=10_000).contains(&len) {
                return Err(ProtocolError(format!(
                    "invalid startup packet length {len}"
                )));
            }
            if self.buf.len() < len {
                return Ok(None);
            }
            let code = be32(&self.buf[4..8]);
            let item = match code {
                // SSLRequest / GSSENCRequest: "N", then the real startup.
                80877103 | 80877104 => Some(WireItem::Request {
                    op: Op::Ping,
                    reply: Reply::Raw(b"N".to_vec()),
                }),
                196608 => {
                    self.startup = false;
                    Some(WireItem::Request {
                        op: Op::Ping,
                        reply: Reply::PgStartup,
                    })
                }
                // CancelRequest: this model has nothing to cancel.
                80877102 => Some(WireItem::Close),
                v => {
                    return Err(ProtocolError(format!(
                        "unsupported frontend protocol {}.{}",
                        v >> 16,
                        v & 0xffff
                    )))
                }
            };
            return Ok(Some((item, len)));
        }
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let tag = self.buf[0];
        let len = be32(&self.buf[1..5]) as usize;
        if !(4..=1 << 26).contains(&len) {
            return Err(ProtocolError(format!("invalid message length {len}")));
        }
        if self.buf.len() < 1 + len {
            return Ok(None);
        }
        let body = &self.buf[5..1 + len];
        let item = match tag {
            b'Q' => {
                let sql = body.strip_suffix(&[0]).unwrap_or(body);
                Some(pg_query(&String::from_utf8_lossy(sql)))
            }
            b'X' => Some(WireItem::Close),
            // Sync ends an extended-protocol batch: ReadyForQuery.
            b'S' => {
                self.skipping = false;
                Some(WireItem::Request {
                    op: Op::Ping,
                    reply: Reply::PgTag(""),
                })
            }
            // The extended query protocol (Parse/Bind/Describe/Execute):
            // not modelled; one error for the batch (the server then
            // discards messages until Sync, as PostgreSQL does after an
            // error).
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'F' => {
                if self.skipping {
                    None
                } else {
                    self.skipping = true;
                    Some(WireItem::Request {
                        op: Op::Ping,
                        reply: Reply::PgExtError(
                            "0A000",
                            "thaw's PostgreSQL model speaks the simple query protocol only (use simple_query / batch_execute)".into(),
                        ),
                    })
                }
            }
            t => {
                return Err(ProtocolError(format!(
                    "invalid frontend message type {}",
                    t as char
                )))
            }
        };
        Ok(Some((item, 1 + len)))
    }

    /// The bytes that answer `reply`; `value` is what a read found.
    pub fn reply(&self, reply: &Reply, value: Option<&[u8]>, in_tx: bool) -> Vec<u8> {
        let mut b = Vec::new();
        match reply {
            Reply::Simple(s) => {
                b.push(b'+');
                b.extend_from_slice(s.as_bytes());
                b.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(v) => resp_bulk(&mut b, Some(v)),
            Reply::Value => resp_bulk(&mut b, value),
            Reply::Int(n) => b.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Error(e) => {
                b.push(b'-');
                b.extend_from_slice(e.as_bytes());
                b.extend_from_slice(b"\r\n");
            }
            Reply::Raw(r) => b.extend_from_slice(r),
            Reply::PgStartup => {
                pg_msg(&mut b, b'R', &0u32.to_be_bytes());
                for (k, v) in [
                    ("application_name", ""),
                    ("client_encoding", "UTF8"),
                    ("DateStyle", "ISO, MDY"),
                    ("integer_datetimes", "on"),
                    ("server_encoding", "UTF8"),
                    ("server_version", "16.0 (thaw)"),
                    ("standard_conforming_strings", "on"),
                    ("TimeZone", "UTC"),
                ] {
                    let mut body = Vec::new();
                    cstr(&mut body, k);
                    cstr(&mut body, v);
                    pg_msg(&mut b, b'S', &body);
                }
                let mut key = Vec::new();
                key.extend_from_slice(&4242u32.to_be_bytes());
                key.extend_from_slice(&0x7468_6177u32.to_be_bytes());
                pg_msg(&mut b, b'K', &key);
                pg_ready(&mut b, in_tx);
            }
            Reply::PgRow(v) => {
                pg_rows(&mut b, "?column?", Some(v));
                pg_ready(&mut b, in_tx);
            }
            Reply::PgValue => {
                pg_rows(&mut b, "value", value);
                pg_ready(&mut b, in_tx);
            }
            Reply::PgTag(tag) => {
                if !tag.is_empty() {
                    let mut body = Vec::new();
                    cstr(&mut body, tag);
                    pg_msg(&mut b, b'C', &body);
                }
                pg_ready(&mut b, in_tx);
            }
            Reply::PgEmpty => {
                pg_msg(&mut b, b'I', &[]);
                pg_ready(&mut b, in_tx);
            }
            Reply::PgError(code, msg) => {
                b.extend_from_slice(&pg_error("ERROR", code, msg));
                pg_ready(&mut b, in_tx);
            }
            Reply::PgExtError(code, msg) => b.extend_from_slice(&pg_error("ERROR", code, msg)),
        }
        b
    }
}

/// The bytes a server sends before it closes a connection, for a model
/// message (`code` and `text` as the server's model words them); `None`
/// when the protocol has no such message (Redis closes an idle client
/// silently).
pub(crate) fn server_error(proto: Proto, code: &'static str, text: &str) -> Option<Vec<u8>> {
    match proto {
        Proto::Resp => Some(format!("-{text}\r\n").into_bytes()),
        Proto::Pg => Some(pg_error("FATAL", code, text)),
    }
}

/// Byte strings of keys and values, and the data model's numbers for them.
#[derive(Debug, Default)]
pub(crate) struct WireData {
    keys: BTreeMap<Vec<u8>, u64>,
    values: BTreeMap<(u64, u64), Option<Vec<u8>>>,
}

/// Keys of the data model are below 2^48 (a request carries its key in
/// the payload's top 48 bits).
const KEY_SPACE: u64 = 1 << 48;

impl WireData {
    /// The model's key for a client's key bytes: a decimal number below
    /// 2^48 is that key (real code and a scenario's model clients then
    /// share it: `GET 7` reads what `key = 7` wrote); any other byte string
    /// gets a number of its own, counting down from 2^48 − 1, away from the
    /// small keys scenarios use.
    pub fn key(&mut self, k: &[u8]) -> u64 {
        if let Some(n) = std::str::from_utf8(k)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|n| *n < KEY_SPACE)
        {
            return n;
        }
        let n = self.keys.len() as u64;
        *self.keys.entry(k.to_vec()).or_insert(KEY_SPACE - 1 - n)
    }

    /// Remembers the bytes written as version `v` of `key`.
    pub fn store(&mut self, key: u64, v: u64, bytes: Option<Vec<u8>>) {
        self.values.insert((key, v), bytes);
    }

    /// The bytes of version `v` of `key`; a version a model client wrote
    /// reads as `v<version>`.
    pub fn load(&self, key: u64, v: u64) -> Option<Vec<u8>> {
        match self.values.get(&(key, v)) {
            Some(b) => b.clone(),
            None => Some(format!("v{v}").into_bytes()),
        }
    }
}

/// A short description of what a client wrote, for the timeline: the
/// commands or messages it contains (`GET foo`, `Query "SELECT 1"`).
pub(crate) fn describe(proto: Proto, bytes: &[u8], first: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    match proto {
        Proto::Resp => {
            let mut at = 0;
            while let Ok(Some((args, used))) = resp_command(&bytes[at..]) {
                at += used;
                let words: Vec<String> = args.iter().take(3).map(|a| clip(a, 24)).collect();
                let more = if args.len() > 3 { " …" } else { "" };
                parts.push(format!("{}{more}", words.join(" ")));
                if used == 0 {
                    break;
                }
            }
        }
        Proto::Pg => {
            let mut at = 0;
            if first && bytes.len() >= 8 {
                let len = be32(&bytes[0..4]) as usize;
                parts.push(
                    if be32(&bytes[4..8]) == 80877103 {
                        "SSLRequest"
                    } else {
                        "StartupMessage"
                    }
                    .to_string(),
                );
                at = len.min(bytes.len());
            }
            while bytes.len() >= at + 5 {
                let tag = bytes[at];
                let len = be32(&bytes[at + 1..at + 5]) as usize;
                let end = (at + 1 + len).min(bytes.len());
                let body = &bytes[(at + 5).min(end)..end];
                parts.push(match tag {
                    b'Q' => format!(
                        "Query \"{}\"",
                        clip(body.strip_suffix(&[0]).unwrap_or(body), 48)
                    ),
                    b'X' => "Terminate".into(),
                    b'P' => "Parse".into(),
                    b'S' => "Sync".into(),
                    t => format!("message '{}'", t as char),
                });
                if len < 4 {
                    break;
                }
                at += 1 + len;
            }
        }
    }
    match parts.len() {
        0 => format!("{} byte(s)", bytes.len()),
        1 => parts.remove(0),
        n if n <= 3 => parts.join("; "),
        n => format!("{}; … ({n} in all)", parts[..2].join("; ")),
    }
}

fn clip(b: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.into_owned()
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// One RESP command: an array of bulk strings, or an inline command.
/// `Ok(None)`: incomplete.
#[allow(clippy::type_complexity)]
fn resp_command(buf: &[u8]) -> Result<Option<(Vec<Vec<u8>>, usize)>, ProtocolError> {
    let Some(first) = buf.first() else {
        return Ok(None);
    };
    let line = |from: usize| -> Option<(usize, usize)> {
        buf[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| (from + p, from + p + 2))
    };
    if *first != b'*' {
        // Inline command: words up to the end of the line.
        let Some((end, next)) = line(0) else {
            if buf.len() > 64 * 1024 {
                return Err(ProtocolError(
                    "Protocol error: too big inline request".into(),
                ));
            }
            return Ok(None);
        };
        let args = buf[..end]
            .split(|c| *c == b' ')
            .filter(|w| !w.is_empty())
            .map(|w| w.to_vec())
            .collect();
        return Ok(Some((args, next)));
    }
    let Some((end, mut at)) = line(1) else {
        return Ok(None);
    };
    let n: usize = std::str::from_utf8(&buf[1..end])
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n <= 1024 * 1024)
        .ok_or_else(|| ProtocolError("Protocol error: invalid multibulk length".into()))?;
    let mut args = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        if at >= buf.len() {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err(ProtocolError(format!(
                "Protocol error: expected '$', got '{}'",
                buf[at] as char
            )));
        }
        let Some((end, data)) = line(at + 1) else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&buf[at + 1..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|n| *n <= 512 * 1024 * 1024)
            .ok_or_else(|| ProtocolError("Protocol error: invalid bulk length".into()))?;
        if buf.len() < data + len + 2 {
            return Ok(None);
        }
        args.push(buf[data..data + len].to_vec());
        at = data + len + 2;
    }
    Ok(Some((args, at)))
}

/// What a RESP command does in the model, and its reply.
fn resp_item(args: &[Vec<u8>]) -> Option<WireItem> {
    let name = args.first()?.to_ascii_uppercase();
    let arg = |i: usize| args.get(i).cloned();
    let req = |op, reply| Some(WireItem::Request { op, reply });
    let arity = |n: usize| {
        req(
            Op::Ping,
            Reply::Error(format!(
                "ERR wrong number of arguments for '{}' command",
                String::from_utf8_lossy(&name).to_lowercase()
            )),
        )
        .filter(|_| args.len() != n)
    };
    match name.as_slice() {
        b"PING" => match arg(1) {
            Some(m) => req(Op::Ping, Reply::Bulk(m)),
            None => req(Op::Ping, Reply::Simple("PONG")),
        },
        b"ECHO" => arity(2).or_else(|| req(Op::Ping, Reply::Bulk(arg(1)?))),
        b"GET" => arity(2).or_else(|| req(Op::Read(arg(1)?), Reply::Value)),
        b"SET" if args.len() >= 3 => req(Op::Write(arg(1)?, arg(2)), Reply::Simple("OK")),
        b"SET" => arity(3),
        b"DEL" | b"UNLINK" => arity(2).or_else(|| req(Op::Write(arg(1)?, None), Reply::Int(1))),
        b"MULTI" => req(Op::Begin, Reply::Simple("OK")),
        b"EXEC" => req(Op::Commit, Reply::Simple("OK")),
        b"DISCARD" => req(Op::Rollback, Reply::Simple("OK")),
        b"CLIENT" | b"SELECT" | b"AUTH" | b"READONLY" => req(Op::Ping, Reply::Simple("OK")),
        b"QUIT" => Some(WireItem::Close),
        _ => {
            let rest: Vec<String> = args[1..]
                .iter()
                .take(4)
                .map(|a| format!("'{}'", clip(a, 32)))
                .collect();
            req(
                Op::Ping,
                Reply::Error(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    String::from_utf8_lossy(&args[0]),
                    rest.join(" ")
                )),
            )
        }
    }
}

fn resp_bulk(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => {
            b.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
            b.extend_from_slice(v);
            b.extend_from_slice(b"\r\n");
        }
        None => b.extend_from_slice(b"$-1\r\n"),
    }
}

/// The SQL this model understands (case-insensitive): `BEGIN` / `START
/// TRANSACTION`, `COMMIT` / `END`, `ROLLBACK` / `ABORT`; `SELECT … WHERE
/// key = 'k'` (a read of k); `INSERT … VALUES ('k', 'v')`; `UPDATE … SET
/// value = 'v' WHERE key = 'k'`; `DELETE … WHERE key = 'k'`; any other
/// `SELECT x` answers one row with `x`. Anything else is a syntax error.
fn pg_query(sql: &str) -> WireItem {
    let s = sql.trim().trim_end_matches(';').trim();
    let up = s.to_ascii_uppercase();
    let quoted = quoted_strings(s);
    let req = |op, reply| WireItem::Request { op, reply };
    let word = up.split_whitespace().next().unwrap_or("");
    match word {
        "" => req(Op::Ping, Reply::PgEmpty),
        "BEGIN" | "START" => req(Op::Begin, Reply::PgTag("BEGIN")),
        "COMMIT" | "END" => req(Op::Commit, Reply::PgTag("COMMIT")),
        "ROLLBACK" | "ABORT" => req(Op::Rollback, Reply::PgTag("ROLLBACK")),
        "SELECT" if up.contains(" WHERE ") && !quoted.is_empty() => req(
            Op::Read(quoted[quoted.len() - 1].as_bytes().to_vec()),
            Reply::PgValue,
        ),
        "SELECT" => {
            let lit = s[6..].trim();
            let lit = lit.trim_matches('\'');
            req(Op::Ping, Reply::PgRow(lit.as_bytes().to_vec()))
        }
        "INSERT" if quoted.len() >= 2 => req(
            Op::Write(
                quoted[0].as_bytes().to_vec(),
                Some(quoted[1].as_bytes().to_vec()),
            ),
            Reply::PgTag("INSERT 0 1"),
        ),
        "UPDATE" if quoted.len() >= 2 => req(
            Op::Write(
                quoted[1].as_bytes().to_vec(),
                Some(quoted[0].as_bytes().to_vec()),
            ),
            Reply::PgTag("UPDATE 1"),
        ),
        "DELETE" if !quoted.is_empty() => req(
            Op::Write(quoted[0].as_bytes().to_vec(), None),
            Reply::PgTag("DELETE 1"),
        ),
        _ => req(
            Op::Ping,
            Reply::PgError(
                "42601",
                format!(
                    "syntax error: thaw's PostgreSQL model does not understand \"{}\"",
                    clip(s.as_bytes(), 60)
                ),
            ),
        ),
    }
}

/// The '…' literals of a statement ('' is a quote inside one).
fn quoted_strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                    continue;
                }
                break;
            }
            lit.push(c);
        }
        out.push(lit);
    }
    out
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn pg_msg(b: &mut Vec<u8>, tag: u8, body: &[u8]) {
    b.push(tag);
    b.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    b.extend_from_slice(body);
}

fn pg_ready(b: &mut Vec<u8>, in_tx: bool) {
    pg_msg(b, b'Z', if in_tx { b"T" } else { b"I" });
}

/// RowDescription with one text column, at most one DataRow, and the
/// CommandComplete tag.
fn pg_rows(b: &mut Vec<u8>, column: &str, value: Option<&[u8]>) {
    let mut desc = Vec::new();
    desc.extend_from_slice(&1u16.to_be_bytes());
    cstr(&mut desc, column);
    desc.extend_from_slice(&0u32.to_be_bytes()); // table oid
    desc.extend_from_slice(&0u16.to_be_bytes()); // column number
    desc.extend_from_slice(&25u32.to_be_bytes()); // type oid: text
    desc.extend_from_slice(&(-1i16).to_be_bytes()); // type size
    desc.extend_from_slice(&(-1i32).to_be_bytes()); // type modifier
    desc.extend_from_slice(&0u16.to_be_bytes()); // text format
    pg_msg(b, b'T', &desc);
    if let Some(v) = value {
        let mut row = Vec::new();
        row.extend_from_slice(&1u16.to_be_bytes());
        row.extend_from_slice(&(v.len() as u32).to_be_bytes());
        row.extend_from_slice(v);
        pg_msg(b, b'D', &row);
    }
    let mut tag = Vec::new();
    cstr(&mut tag, &format!("SELECT {}", value.is_some() as u8));
    pg_msg(b, b'C', &tag);
}

/// An ErrorResponse.
fn pg_error(severity: &str, code: &str, msg: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (f, v) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', msg),
    ] {
        body.push(f);
        cstr(&mut body, v);
    }
    body.push(0);
    let mut b = Vec::new();
    pg_msg(&mut b, b'E', &body);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        b
    }

    #[test]
    fn resp_commands_decode_across_writes() {
        let mut c = WireConn::new(Proto::Resp);
        let mut out = Vec::new();
        let mut bytes = resp(&["SET", "foo", "bar"]);
        bytes.extend(resp(&["GET", "foo"]));
        // Split in the middle of the second command.
        let (a, b) = bytes.split_at(40);
        c.feed(a, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        c.feed(b, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                WireItem::Request {
                    op: Op::Write(b"foo".to_vec(), Some(b"bar".to_vec())),
                    reply: Reply::Simple("OK")
                },
                WireItem::Request {
                    op: Op::Read(b"foo".to_vec()),
                    reply: Reply::Value
                },
            ]
        );
    }

    #[test]
    fn resp_replies_are_resp2() {
        let c = WireConn::new(Proto::Resp);
        assert_eq!(
            c.reply(&Reply::Value, Some(b"bar"), false),
            b"$3\r\nbar\r\n"
        );
        assert_eq!(c.reply(&Reply::Value, None, false), b"$-1\r\n");
        assert_eq!(c.reply(&Reply::Simple("PONG"), None, false), b"+PONG\r\n");
        assert_eq!(
            server_error(Proto::Resp, "", "ERR max number of clients reached").unwrap(),
            b"-ERR max number of clients reached\r\n"
        );
    }

    #[test]
    fn resp_garbage_is_a_protocol_error() {
        let mut c = WireConn::new(Proto::Resp);
        assert!(c.feed(b"*2\r\n:1\r\n", &mut Vec::new()).is_err());
        assert!(c.feed(b"*x\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn unknown_commands_and_wrong_arity_are_errors_not_closes() {
        let mut c = WireConn::new(Proto::Resp);
        let mut out = Vec::new();
        c.feed(&resp(&["HELLO", "3"]), &mut out).unwrap();
        c.feed(&resp(&["GET"]), &mut out).unwrap();
        assert!(
            matches!(&out[0], WireItem::Request { reply: Reply::Error(e), .. } if e.starts_with("ERR unknown command 'HELLO'"))
        );
        assert!(
            matches!(&out[1], WireItem::Request { reply: Reply::Error(e), .. } if e.contains("wrong number of arguments for 'get'"))
        );
    }

    fn startup() -> Vec<u8> {
        let mut body = 196608u32.to_be_bytes().to_vec();
        cstr(&mut body, "user");
        cstr(&mut body, "app");
        body.push(0);
        let mut b = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        b.extend(body);
        b
    }

    fn query(sql: &str) -> Vec<u8> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        let mut b = Vec::new();
        pg_msg(&mut b, b'Q', &body);
        b
    }

    #[test]
    fn pg_startup_then_simple_queries() {
        let mut c = WireConn::new(Proto::Pg);
        let mut out = Vec::new();
        let mut bytes = startup();
        bytes.extend(query("SELECT 1"));
        bytes.extend(query("INSERT INTO kv (key, value) VALUES ('k', 'it''s')"));
        bytes.extend(query("select value from kv where key = 'k'"));
        bytes.extend(query("BEGIN"));
        c.feed(&bytes, &mut out).unwrap();
        let ops: Vec<&Op> = out
            .iter()
            .map(|i| match i {
                WireItem::Request { op, .. } => op,
                WireItem::Close => panic!("no close"),
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                &Op::Ping,
                &Op::Ping,
                &Op::Write(b"k".to_vec(), Some(b"it's".to_vec())),
                &Op::Read(b"k".to_vec()),
                &Op::Begin
            ]
        );
        let r = c.reply(&Reply::PgStartup, None, false);
        assert_eq!(r[0], b'R');
        assert_eq!(&r[r.len() - 6..], &[b'Z', 0, 0, 0, 5, b'I']);
    }

    #[test]
    fn pg_ready_for_query_carries_the_transaction_status() {
        let c = WireConn::new(Proto::Pg);
        let r = c.reply(&Reply::PgTag("BEGIN"), None, true);
        assert_eq!(&r[r.len() - 6..], &[b'Z', 0, 0, 0, 5, b'T']);
    }

    #[test]
    fn pg_fatal_errors_carry_their_sqlstate() {
        let e = server_error(
            Proto::Pg,
            "57P05",
            "terminating connection due to idle-session timeout",
        )
        .unwrap();
        assert_eq!(e[0], b'E');
        let text = String::from_utf8_lossy(&e);
        assert!(text.contains("SFATAL") && text.contains("C57P05"));
    }

    #[test]
    fn pg_extended_protocol_is_refused_once_per_batch() {
        let mut c = WireConn::new(Proto::Pg);
        c.startup = false;
        let mut out = Vec::new();
        let mut bytes = Vec::new();
        for t in [b'P', b'D', b'S'] {
            pg_msg(&mut bytes, t, &[]);
        }
        c.feed(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(matches!(
            &out[0],
            WireItem::Request {
                reply: Reply::PgExtError("0A000", _),
                ..
            }
        ));
        assert!(matches!(
            &out[1],
            WireItem::Request {
                reply: Reply::PgTag(""),
                ..
            }
        ));
    }

    #[test]
    fn descriptions_name_the_commands() {
        let mut b = resp(&["GET", "foo"]);
        assert_eq!(describe(Proto::Resp, &b, false), "GET foo");
        b.extend(resp(&["CLIENT", "SETINFO", "LIB-NAME", "redis-rs"]));
        assert_eq!(
            describe(Proto::Resp, &b, false),
            "GET foo; CLIENT SETINFO LIB-NAME …"
        );
        assert_eq!(
            describe(Proto::Pg, &query("SELECT 1"), false),
            "Query \"SELECT 1\""
        );
        assert_eq!(describe(Proto::Pg, &startup(), true), "StartupMessage");
    }

    #[test]
    fn wire_keys_and_values() {
        let mut d = WireData::default();
        let k = d.key(b"foo");
        assert_eq!(d.key(b"foo"), k);
        assert_ne!(d.key(b"bar"), k);
        assert!(k < KEY_SPACE && k > 1 << 47);
        // Numeric keys are the scenario's keys.
        assert_eq!(d.key(b"7"), 7);
        assert_ne!(d.key(b"07x"), 7);
        d.store(k, 3, Some(b"x".to_vec()));
        assert_eq!(d.load(k, 3), Some(b"x".to_vec()));
        assert_eq!(d.load(k, 4), Some(b"v4".to_vec()));
        d.store(k, 5, None);
        assert_eq!(d.load(k, 5), None);
    }
}
