//! The model's application protocol: the messages a client, a proxy and
//! a server exchange as TCP payloads (one `u64` each), with their
//! encodings. Real code's bytes ride as a message kind of their own
//! ([`MSG_BLOB`]) naming a buffer kept beside the world.

// Application messages carried as payloads.
pub(crate) const MSG_REQUEST: u64 = 1;
pub(crate) const MSG_RESPONSE: u64 = 2;
pub(crate) const MSG_ERR_MAXCLIENTS: u64 = 3;
pub(crate) const MSG_HELLO: u64 = 4;
pub(crate) const MSG_ERR_HOST_BLOCKED: u64 = 5;
pub(crate) const MSG_ERR_IDLE: u64 = 6;
pub(crate) const MSG_ERR_IDLE_IN_TX: u64 = 7;
/// A proxy's database connection completed authentication after the
/// server's greeting (no CPU work at the server).
pub(crate) const MSG_LOGIN: u64 = 7;
/// The proxy refused a client connection (PgBouncer `max_client_conn`).
pub(crate) const MSG_ERR_PROXY_FULL: u64 = 8;
/// The proxy found no database connection in time.
pub(crate) const MSG_ERR_POOL_TIMEOUT: u64 = 9;
/// The proxy closes an idle client connection with an error first
/// (PgBouncer `client_idle_timeout`).
pub(crate) const MSG_ERR_PROXY_IDLE: u64 = 10;
/// One of the first parts of a request written in several `write()` calls
/// (`RequestSpec::writes`): the server and the proxy act on the last part
/// (the request itself) and read the earlier ones without acting.
pub(crate) const MSG_PART: u64 = 11;

// A request carries its operation (bits 8..15), a "pins the session" flag
// (bit 15) and its key (bits 16..) above the message kind; a response
// carries the session's transaction status (bit 8, as PostgreSQL's
// ReadyForQuery or MySQL's SERVER_STATUS_IN_TRANS) and a value (bits 9..):
// 0 nothing, 1 the session's own uncommitted write, v + 2 version v (read
// result, or the commit's version).
pub(crate) const OP_PING: u64 = 0;
pub(crate) const OP_READ: u64 = 1;
pub(crate) const OP_WRITE: u64 = 2;
pub(crate) const OP_BEGIN: u64 = 3;
pub(crate) const OP_COMMIT: u64 = 4;
pub(crate) const OP_ROLLBACK: u64 = 5;
/// The first flight of a TLS handshake (model.md 2.12): it changes no
/// data; key 1 = the client offers a session the server accepts (a
/// resumed handshake), 0 = a full handshake.
pub(crate) const OP_TLS_HELLO: u64 = 6;
/// End the session: the server closes the connection (no reply).
pub(crate) const OP_QUIT: u64 = 7;

/// The first flight of a TLS handshake, full or resumed.
pub(crate) fn encode_tls_hello(resumed: bool) -> u64 {
    MSG_REQUEST | (OP_TLS_HELLO << 8) | ((resumed as u64) << 16)
}

pub(crate) fn msg_kind(p: u64) -> u64 {
    p & 0xff
}

pub(crate) const PIN_FLAG: u64 = 1 << 15;

pub(crate) fn encode_request(op: crate::config::RequestOp, pin: bool) -> u64 {
    use crate::config::RequestOp;
    let (code, key) = match op {
        RequestOp::Ping => (OP_PING, 0),
        RequestOp::Read(k) => (OP_READ, k),
        RequestOp::Write(k) => (OP_WRITE, k),
        RequestOp::Begin => (OP_BEGIN, 0),
        RequestOp::Commit => (OP_COMMIT, 0),
        RequestOp::Rollback => (OP_ROLLBACK, 0),
        RequestOp::Quit => (OP_QUIT, 0),
    };
    let pin = if pin { PIN_FLAG } else { 0 };
    MSG_REQUEST | (code << 8) | pin | (key << 16)
}

pub(crate) fn decode_request(p: u64) -> (u64, u64) {
    ((p >> 8) & 0x7f, p >> 16)
}

pub(crate) fn request_pins(p: u64) -> bool {
    p & PIN_FLAG != 0
}

pub(crate) fn encode_response(value: u64, in_tx: bool) -> u64 {
    MSG_RESPONSE | ((in_tx as u64) << 8) | (value << 9)
}

/// (value, in transaction).
pub(crate) fn decode_response(p: u64) -> (u64, bool) {
    (p >> 9, (p >> 8) & 1 == 1)
}

pub(crate) fn encode_version(v: Option<thaw_db::Version>) -> u64 {
    match v {
        None => 0,
        Some(thaw_db::UNCOMMITTED) => 1,
        Some(v) => v + 2,
    }
}

pub(crate) fn decode_version(value: u64) -> Option<thaw_db::Version> {
    match value {
        0 => None,
        1 => Some(thaw_db::UNCOMMITTED),
        v => Some(v - 2),
    }
}

/// A payload that names a byte buffer (real code's bytes): a message kind
/// of its own (above every model message's), the buffer's id above it, so
/// no model message (whose key fills the high bits) is ever taken for one.
pub(crate) const MSG_BLOB: u64 = 0xff;

/// Does the payload name a byte buffer?
pub(crate) fn is_blob(p: u64) -> bool {
    msg_kind(p) == MSG_BLOB
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RequestOp;

    /// Model messages keep their key in the high bits (keys up to 2^48):
    /// none may pass for a byte buffer, whatever its key.
    #[test]
    fn no_model_message_is_taken_for_a_blob() {
        for key in [0, 1, (1 << 46) + 1, (1 << 47) | 0xff, (1 << 48) - 1] {
            for op in [RequestOp::Read(key), RequestOp::Write(key)] {
                for pin in [false, true] {
                    assert!(!is_blob(encode_request(op, pin)), "{op:?}");
                }
            }
            assert!(!is_blob(encode_response(key, true)));
        }
        for m in [
            MSG_HELLO,
            MSG_ERR_IDLE,
            MSG_ERR_MAXCLIENTS,
            MSG_ERR_PROXY_IDLE,
        ] {
            assert!(!is_blob(m));
        }
        assert!(is_blob(MSG_BLOB | (12345 << 8)));
    }
}
