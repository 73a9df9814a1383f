//! The messaging backend's wire protocol: length-prefixed frames (a 4-byte big-endian length,
//! then a tag byte and the fields, big-endian) over one TCP connection per session.
//!
//! A connection starts with `Hello` (which session it serves) answered by `HelloAck`. Then the
//! client sends `Request`s, each answered by a `Response`; a `Cancel` asks the server to stop an
//! operation, and is answered by `CancelAck` once the operation has really stopped (or at once
//! if it was not running). Requests are multiplexed by id, so the protocol itself would allow
//! several operations of one session at a time: keeping them one at a time is the scheduler's
//! job, and the server testifies whether it did.

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 4096;

/// Who sent a request: client host, its incarnation (bumped on every restart) and the task id
/// in that incarnation's scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// Client host index.
    pub client: u8,
    /// The client software's incarnation (0 at first start, +1 per restart).
    pub inc: u32,
    /// The kernel's task id.
    pub task: u64,
}

/// One protocol message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// First frame of a connection: the session it carries. A new `Hello` for a session ends
    /// whatever the server still runs for that session on older connections (a new login
    /// supersedes the old one).
    Hello {
        /// The session's name.
        session: String,
    },
    /// The server took the connection.
    HelloAck,
    /// Run an operation for `op_ms` milliseconds of server work.
    Request {
        /// Request id, unique on the connection.
        id: u64,
        /// Who asked (for the server's testimony).
        origin: Origin,
        /// Server-side work in milliseconds.
        op_ms: u32,
    },
    /// The operation `id` completed.
    Response {
        /// The request's id.
        id: u64,
    },
    /// Stop the operation `id`.
    Cancel {
        /// The request's id.
        id: u64,
    },
    /// The operation `id` is not running (any more).
    CancelAck {
        /// The request's id.
        id: u64,
    },
}

impl Frame {
    /// The frame with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(32);
        match self {
            Frame::Hello { session } => {
                body.push(1);
                body.extend_from_slice(session.as_bytes());
            }
            Frame::HelloAck => body.push(2),
            Frame::Request { id, origin, op_ms } => {
                body.push(3);
                body.extend_from_slice(&id.to_be_bytes());
                body.push(origin.client);
                body.extend_from_slice(&origin.inc.to_be_bytes());
                body.extend_from_slice(&origin.task.to_be_bytes());
                body.extend_from_slice(&op_ms.to_be_bytes());
            }
            Frame::Response { id } => {
                body.push(4);
                body.extend_from_slice(&id.to_be_bytes());
            }
            Frame::Cancel { id } => {
                body.push(5);
                body.extend_from_slice(&id.to_be_bytes());
            }
            Frame::CancelAck { id } => {
                body.push(6);
                body.extend_from_slice(&id.to_be_bytes());
            }
        }
        let len = u32::try_from(body.len()).expect("frames are small");
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes one frame body (without its length prefix).
    pub fn decode(body: &[u8]) -> io::Result<Frame> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed frame");
        let (&tag, rest) = body.split_first().ok_or_else(bad)?;
        let mut r = Reader(rest);
        let frame = match tag {
            1 => Frame::Hello {
                session: String::from_utf8(rest.to_vec()).map_err(|_| bad())?,
            },
            2 => Frame::HelloAck,
            3 => Frame::Request {
                id: r.u64().ok_or_else(bad)?,
                origin: Origin {
                    client: r.u8().ok_or_else(bad)?,
                    inc: r.u32().ok_or_else(bad)?,
                    task: r.u64().ok_or_else(bad)?,
                },
                op_ms: r.u32().ok_or_else(bad)?,
            },
            4 => Frame::Response {
                id: r.u64().ok_or_else(bad)?,
            },
            5 => Frame::Cancel {
                id: r.u64().ok_or_else(bad)?,
            },
            6 => Frame::CancelAck {
                id: r.u64().ok_or_else(bad)?,
            },
            _ => return Err(bad()),
        };
        if tag != 1 && !r.0.is_empty() {
            return Err(bad());
        }
        Ok(frame)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.0.split_at_checked(N)?;
        self.0 = tail;
        head.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_be_bytes)
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad frame length",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Frame::decode(&body).map(Some)
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> io::Result<()> {
    w.write_all(&frame.encode()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Hello {
                session: "c0/s1".into(),
            },
            Frame::HelloAck,
            Frame::Request {
                id: 7,
                origin: Origin {
                    client: 1,
                    inc: 2,
                    task: 3,
                },
                op_ms: 40,
            },
            Frame::Response { id: 7 },
            Frame::Cancel { id: 7 },
            Frame::CancelAck { id: 7 },
        ];
        for frame in frames {
            let bytes = frame.encode();
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len, bytes.len() - 4);
            assert_eq!(Frame::decode(&bytes[4..]).unwrap(), frame);
        }
        assert!(Frame::decode(&[9]).is_err());
        assert!(Frame::decode(&[4, 1]).is_err());
    }
}
