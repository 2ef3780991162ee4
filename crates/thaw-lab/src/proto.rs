//! The minimal wire protocol work of the lab's client: Redis RESP `PING`,
//! PostgreSQL's startup message and simple query (protocol 3.0, trust
//! authentication), MariaDB's greeting, HandshakeResponse41 and `COM_PING`.
//! Pure functions over byte buffers, so they are unit-tested.
use crate::cases::{Req, ServerKind};

/// What a complete server answer meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The expected reply (PONG, ReadyForQuery, OK packet, greeting).
    Ok,
    /// A server error: its code (SQLSTATE or MySQL error number) and text.
    Error {
        /// `57P05`, `1040`, `ERR` …
        code: String,
        /// The message.
        message: String,
    },
}

/// The result of looking at the bytes read so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A complete answer; `used` bytes belong to it.
    Done(Answer),
}

/// Maps a server error to the lab's outcome kind (thaw's error names).
pub fn error_kind(code: &str, message: &str) -> &'static str {
    match code {
        "57P05" | "25P03" | "4031" => "SERVER_IDLE_CLOSED",
        "53300" | "1040" => "TOO_MANY_CONNECTIONS",
        "1129" => "HOST_BLOCKED",
        _ if message.contains("max number of clients") => "TOO_MANY_CONNECTIONS",
        _ => "SERVER_ERROR",
    }
}

// ---------------------------------------------------------------- Redis

/// `PING` in RESP.
pub fn redis_request(_req: Req) -> Vec<u8> {
    b"PING\r\n".to_vec()
}

/// A Redis reply line.
pub fn redis_parse(buf: &[u8]) -> Parse {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Parse::Incomplete;
    };
    let line = String::from_utf8_lossy(&buf[..end]).to_string();
    match line.as_bytes().first() {
        Some(b'-') => {
            let text = line[1..].to_string();
            let code = text.split_whitespace().next().unwrap_or("ERR").to_string();
            Parse::Done(Answer::Error {
                code,
                message: text,
            })
        }
        _ => Parse::Done(Answer::Ok),
    }
}

// ----------------------------------------------------------- PostgreSQL

/// The StartupMessage (protocol 3.0) for `user` on database `postgres`.
pub fn pg_startup(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "postgres")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&body);
    m
}

/// A simple Query message.
pub fn pg_query(req: Req) -> Vec<u8> {
    let sql = match req {
        Req::Ping => "SELECT 1",
        Req::Begin => "BEGIN",
    };
    let mut m = vec![b'Q'];
    m.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
    m.extend_from_slice(sql.as_bytes());
    m.push(0);
    m
}

/// Backend messages up to ReadyForQuery (the answer to a startup or a
/// query), or up to the first FATAL/ERROR ErrorResponse.
pub fn pg_parse(buf: &[u8]) -> Parse {
    let mut i = 0;
    while buf.len() >= i + 5 {
        let tag = buf[i];
        let len = u32::from_be_bytes([buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]]) as usize;
        if len < 4 || buf.len() < i + 1 + len {
            return Parse::Incomplete;
        }
        let body = &buf[i + 5..i + 1 + len];
        match tag {
            b'Z' => return Parse::Done(Answer::Ok),
            b'E' => {
                let (code, message) = pg_error_fields(body);
                return Parse::Done(Answer::Error { code, message });
            }
            _ => {}
        }
        i += 1 + len;
    }
    Parse::Incomplete
}

/// SQLSTATE and "SEVERITY: message" of an ErrorResponse body.
pub fn pg_error_fields(body: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut sev = String::new();
    let mut msg = String::new();
    for field in body.split(|&b| b == 0) {
        if field.is_empty() {
            continue;
        }
        let v = String::from_utf8_lossy(&field[1..]).to_string();
        match field[0] {
            b'C' => code = v,
            b'S' => sev = v,
            b'M' => msg = v,
            _ => {}
        }
    }
    (code, format!("{sev}: {msg}"))
}

// --------------------------------------------------------------- MariaDB

/// One packet: 3-byte length, sequence number, payload.
pub fn my_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut p = vec![
        (n & 0xff) as u8,
        ((n >> 8) & 0xff) as u8,
        ((n >> 16) & 0xff) as u8,
        seq,
    ];
    p.extend_from_slice(payload);
    p
}

/// The first complete packet in `buf`: (sequence number, payload).
pub fn my_read_packet(buf: &[u8]) -> Option<(u8, &[u8])> {
    if buf.len() < 4 {
        return None;
    }
    let n = buf[0] as usize | (buf[1] as usize) << 8 | (buf[2] as usize) << 16;
    if buf.len() < 4 + n {
        return None;
    }
    Some((buf[3], &buf[4..4 + n]))
}

/// HandshakeResponse41 for `user` with an empty password
/// (`mysql_native_password`), in answer to the greeting of sequence `seq`.
pub fn my_handshake_response(seq: u8, user: &str) -> Vec<u8> {
    // CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
    let caps: u32 = 0x0000_0001 | 0x0000_0200 | 0x0000_8000 | 0x0008_0000;
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 * 1024 * 1024).to_le_bytes());
    p.push(33); // utf8_general_ci
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p.push(0); // empty auth response
    p.extend_from_slice(b"mysql_native_password");
    p.push(0);
    my_packet(seq.wrapping_add(1), &p)
}

/// `COM_PING`.
pub fn my_ping() -> Vec<u8> {
    my_packet(0, &[0x0e])
}

/// An answer packet: greeting (0x0a), OK (0x00) or ERR (0xff).
pub fn my_parse(buf: &[u8]) -> Parse {
    let Some((_, payload)) = my_read_packet(buf) else {
        return Parse::Incomplete;
    };
    match payload.first() {
        Some(0xff) if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            let mut rest = &payload[3..];
            if rest.first() == Some(&b'#') && rest.len() >= 6 {
                rest = &rest[6..];
            }
            Parse::Done(Answer::Error {
                code: code.to_string(),
                message: String::from_utf8_lossy(rest).to_string(),
            })
        }
        Some(0xfe) => Parse::Done(Answer::Error {
            code: "AUTH_SWITCH".into(),
            message: "the server asked for another authentication method".into(),
        }),
        _ => Parse::Done(Answer::Ok),
    }
}

/// The reply parser for `server`.
pub fn parse(server: ServerKind, buf: &[u8]) -> Parse {
    match server {
        ServerKind::Redis => redis_parse(buf),
        ServerKind::Postgres => pg_parse(buf),
        ServerKind::Mariadb => my_parse(buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_replies() {
        assert_eq!(redis_parse(b"+PO"), Parse::Incomplete);
        assert_eq!(redis_parse(b"+PONG\r\n"), Parse::Done(Answer::Ok));
        let Parse::Done(Answer::Error { code, message }) =
            redis_parse(b"-ERR max number of clients reached\r\n")
        else {
            panic!()
        };
        assert_eq!(code, "ERR");
        assert_eq!(error_kind(&code, &message), "TOO_MANY_CONNECTIONS");
    }

    fn pg_msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn pg_messages() {
        let s = pg_startup("lab");
        assert_eq!(
            u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize,
            s.len()
        );
        assert_eq!(&pg_query(Req::Begin)[5..], b"BEGIN\0");
        let mut buf = pg_msg(b'R', &[0, 0, 0, 0]);
        assert_eq!(pg_parse(&buf), Parse::Incomplete);
        buf.extend(pg_msg(b'Z', b"I"));
        assert_eq!(pg_parse(&buf), Parse::Done(Answer::Ok));
        let err = pg_msg(
            b'E',
            b"SFATAL\0VFATAL\0C57P05\0Mterminating connection due to idle-session timeout\0\0",
        );
        let Parse::Done(Answer::Error { code, message }) = pg_parse(&err) else {
            panic!()
        };
        assert_eq!(code, "57P05");
        assert_eq!(
            message,
            "FATAL: terminating connection due to idle-session timeout"
        );
        assert_eq!(error_kind(&code, &message), "SERVER_IDLE_CLOSED");
        assert_eq!(pg_parse(&err[..err.len() - 3]), Parse::Incomplete);
    }

    #[test]
    fn mariadb_packets() {
        let ok = my_packet(1, &[0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(my_parse(&ok), Parse::Done(Answer::Ok));
        assert_eq!(my_parse(&ok[..5]), Parse::Incomplete);
        let mut e = vec![0xff, 0x69, 0x04];
        e.extend_from_slice(b"Host '10.77.2.1' is blocked because of many connection errors");
        let Parse::Done(Answer::Error { code, .. }) = my_parse(&my_packet(0, &e)) else {
            panic!()
        };
        assert_eq!(code, "1129");
        assert_eq!(error_kind(&code, ""), "HOST_BLOCKED");
        let mut e = vec![0xff, 0x10, 0x04];
        e.extend_from_slice(b"#08004Too many connections");
        let Parse::Done(Answer::Error { code, message }) = my_parse(&my_packet(2, &e)) else {
            panic!()
        };
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("1040", "Too many connections")
        );
        let r = my_handshake_response(0, "lab");
        assert_eq!(r[3], 1);
        assert_eq!(r.len(), 4 + 32 + 4 + 1 + 22);
        assert_eq!(my_ping(), vec![1, 0, 0, 0, 0x0e]);
    }
}
