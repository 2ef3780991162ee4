//! TCP segments as the models exchange them.
use std::fmt;

/// An endpoint address: a host id and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    /// Host identifier, assigned by the simulator.
    pub host: u32,
    /// TCP port.
    pub port: u16,
}

/// Application bytes carried by a segment, opaque to TCP: one segment
/// carries one application message, and consumes one sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload(pub u64);

/// TCP header flags that the models use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Synchronize sequence numbers.
    pub syn: bool,
    /// The `ack` field is valid.
    pub ack: bool,
    /// Sender has finished sending.
    pub fin: bool,
    /// Reset the connection.
    pub rst: bool,
}

/// Which way a segment travels relative to the connection's initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the side that sent the SYN (the client).
    FromClient,
    /// From the side that answered it (the server).
    FromServer,
}

/// A segment. Sequence numbers count units: SYN, FIN and each payload
/// consume one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dst: Addr,
    /// Flags.
    pub flags: Flags,
    /// Sequence number of the first unit.
    pub seq: u64,
    /// Cumulative acknowledgement (valid when `flags.ack`).
    pub ack: u64,
    /// Application message, if any.
    pub payload: Option<Payload>,
}

impl Segment {
    /// Sequence space consumed: SYN + payload + FIN.
    pub fn len(&self) -> u64 {
        self.flags.syn as u64 + self.payload.is_some() as u64 + self.flags.fin as u64
    }

    /// True for a segment that consumes no sequence space (pure ACK, RST).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RST a Linux host sends back for a segment that reached no socket
    /// (`tcp_v4_send_reset`); `None` for an RST, which is never answered.
    pub fn reset_reply(&self) -> Option<Segment> {
        if self.flags.rst {
            return None;
        }
        let (seq, ack, ack_flag) = if self.flags.ack {
            (self.ack, 0, false)
        } else {
            (0, self.seq + self.len(), true)
        };
        Some(Segment {
            src: self.dst,
            dst: self.src,
            flags: Flags {
                rst: true,
                ack: ack_flag,
                ..Flags::default()
            },
            seq,
            ack,
            payload: None,
        })
    }

    /// Short human description: `SYN`, `FIN+ACK`, `data+ACK`, `RST`.
    pub fn kind(&self) -> &'static str {
        let f = self.flags;
        match (f.rst, f.syn, f.fin, self.payload.is_some(), f.ack) {
            (true, ..) => "RST",
            (false, true, _, _, true) => "SYN-ACK",
            (false, true, _, _, false) => "SYN",
            (false, false, true, true, _) => "data+FIN",
            (false, false, true, false, _) => "FIN",
            (false, false, false, true, _) => "data",
            (false, false, false, false, _) => "ACK",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} seq={}", self.kind(), self.seq)?;
        if self.flags.ack {
            write!(f, " ack={}", self.ack)?;
        }
        Ok(())
    }
}
