//! rsplib's CalcApp protocol (`calcapppackets.h`): a pool user submits a
//! job of a given size in calculations, a pool element accepts or rejects
//! it, both sides keep the job alive, and the pool element reports its
//! completion. Every message is one fixed 24-byte record on PPID
//! [`CALCAPP_PPID`] (34), big-endian:
//!
//! ```text
//!  0      1      2      4          8                  16                 24
//! +------+------+------+----------+------------------+------------------+
//! | Type | Flags| Length (24)     | JobID (32)       | JobSize (64)     | Completed (64) |
//! +------+------+------+----------+------------------+------------------+
//! ```
//!
//! The pool element's COOKIE is the job's state without the header
//! (job id, size, calculations completed: 20 bytes), so that a pool user
//! failing over to another pool element, rsplib's or this crate's, has its
//! job continued from there.
//!
//! Decoding never panics and never allocates: a short record, a length
//! field that does not fit, an unknown type or a cookie whose progress
//! exceeds its size is a [`CalcAppError`].

use core::fmt;

/// The SCTP PPID of CalcApp messages (rsplib's `PPID_CALCAPP`).
pub const CALCAPP_PPID: u32 = 34;

/// The length of every CalcApp message (rsplib's `sizeof(CalcAppMessage)`).
pub const MESSAGE_LEN: usize = 24;

/// The length of a CalcApp cookie (rsplib's `sizeof(CalcAppCookie)`).
pub const COOKIE_LEN: usize = 20;

/// A CalcApp message's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CalcAppType {
    /// A pool user asks for a job (`CALCAPP_REQUEST`, 1).
    Request,
    /// The pool element runs the job (`CALCAPP_ACCEPT`, 2).
    Accept,
    /// The pool element is full (`CALCAPP_REJECT`, 3).
    Reject,
    /// The job is given up (`CALCAPP_ABORT`, 4; rsplib defines it and
    /// sends it nowhere).
    Abort,
    /// The job is done (`CALCAPP_COMPLETE`, 5).
    Complete,
    /// Are you still there? (`CALCAPP_KEEPALIVE`, 6; both directions).
    KeepAlive,
    /// Yes (`CALCAPP_KEEPALIVE_ACK`, 7).
    KeepAliveAck,
}

impl CalcAppType {
    /// The type's number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            CalcAppType::Request => 1,
            CalcAppType::Accept => 2,
            CalcAppType::Reject => 3,
            CalcAppType::Abort => 4,
            CalcAppType::Complete => 5,
            CalcAppType::KeepAlive => 6,
            CalcAppType::KeepAliveAck => 7,
        }
    }

    /// The type of number `code`, if it is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => CalcAppType::Request,
            2 => CalcAppType::Accept,
            3 => CalcAppType::Reject,
            4 => CalcAppType::Abort,
            5 => CalcAppType::Complete,
            6 => CalcAppType::KeepAlive,
            7 => CalcAppType::KeepAliveAck,
            _ => return None,
        })
    }
}

impl fmt::Display for CalcAppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CalcAppType::Request => "CalcAppRequest",
            CalcAppType::Accept => "CalcAppAccept",
            CalcAppType::Reject => "CalcAppReject",
            CalcAppType::Abort => "CalcAppAbort",
            CalcAppType::Complete => "CalcAppComplete",
            CalcAppType::KeepAlive => "CalcAppKeepAlive",
            CalcAppType::KeepAliveAck => "CalcAppKeepAliveAck",
        })
    }
}

/// Why bytes are not a CalcApp message or cookie, or a buffer cannot take
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CalcAppError {
    /// Fewer bytes than a message ([`MESSAGE_LEN`]) or a cookie
    /// ([`COOKIE_LEN`]).
    TooShort {
        /// How many there were.
        len: usize,
        /// How many it takes.
        need: usize,
    },
    /// The length field is below [`MESSAGE_LEN`] or beyond the bytes
    /// received.
    BadLength {
        /// The length field.
        length: u16,
        /// The bytes received.
        received: usize,
    },
    /// A type number that is none of the seven.
    UnknownType(u8),
    /// A cookie (or a completion) claims more calculations done than the
    /// job has.
    CompletedExceedsSize {
        /// The job's size.
        size: u64,
        /// The calculations it claims done.
        completed: u64,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Its length.
        len: usize,
        /// How many bytes it takes.
        need: usize,
    },
}

impl fmt::Display for CalcAppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CalcAppError::TooShort { len, need } => {
                write!(f, "CalcApp: {len} bytes, at least {need} needed")
            }
            CalcAppError::BadLength { length, received } => write!(
                f,
                "CalcApp: length field {length} does not fit the {received} bytes received"
            ),
            CalcAppError::UnknownType(t) => write!(f, "CalcApp: unknown message type {t}"),
            CalcAppError::CompletedExceedsSize { size, completed } => write!(
                f,
                "CalcApp: {completed} calculations completed of a job of {size}"
            ),
            CalcAppError::BufferTooSmall { len, need } => {
                write!(f, "CalcApp: a buffer of {len} bytes, {need} needed")
            }
        }
    }
}

impl core::error::Error for CalcAppError {}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

/// One CalcApp message. Which fields mean something depends on the type:
/// a request carries the job size, a completion the size and the
/// calculations done; the others only the job id (rsplib sends zeros in
/// the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CalcAppMessage {
    /// The type.
    pub kind: CalcAppType,
    /// The flags (0; kept as received).
    pub flags: u8,
    /// The pool user's job number.
    pub job_id: u32,
    /// The job's size in calculations.
    pub job_size: u64,
    /// Calculations done.
    pub completed: u64,
}

impl CalcAppMessage {
    /// A message of `kind` about job `job_id`, other fields 0.
    pub const fn new(kind: CalcAppType, job_id: u32) -> Self {
        CalcAppMessage {
            kind,
            flags: 0,
            job_id,
            job_size: 0,
            completed: 0,
        }
    }

    /// A request for a job of `job_size` calculations.
    pub const fn request(job_id: u32, job_size: u64) -> Self {
        CalcAppMessage {
            job_size,
            ..Self::new(CalcAppType::Request, job_id)
        }
    }

    /// A completion of a job of `job_size` calculations, `completed` of
    /// them done.
    pub const fn complete(job_id: u32, job_size: u64, completed: u64) -> Self {
        CalcAppMessage {
            job_size,
            completed,
            ..Self::new(CalcAppType::Complete, job_id)
        }
    }

    /// Reads a message from the bytes of one user message (bytes beyond
    /// the length field are ignored, as rsplib ignores them).
    pub fn decode(bytes: &[u8]) -> Result<Self, CalcAppError> {
        if bytes.len() < MESSAGE_LEN {
            return Err(CalcAppError::TooShort {
                len: bytes.len(),
                need: MESSAGE_LEN,
            });
        }
        let length = u16::from_be_bytes([bytes[2], bytes[3]]);
        if usize::from(length) < MESSAGE_LEN || usize::from(length) > bytes.len() {
            return Err(CalcAppError::BadLength {
                length,
                received: bytes.len(),
            });
        }
        let kind = CalcAppType::from_code(bytes[0]).ok_or(CalcAppError::UnknownType(bytes[0]))?;
        Ok(CalcAppMessage {
            kind,
            flags: bytes[1],
            job_id: u32_at(bytes, 4),
            job_size: u64_at(bytes, 8),
            completed: u64_at(bytes, 16),
        })
    }

    /// Writes the message into `out`: its length ([`MESSAGE_LEN`]).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, CalcAppError> {
        let len = out.len();
        let dst = out
            .get_mut(..MESSAGE_LEN)
            .ok_or(CalcAppError::BufferTooSmall {
                len,
                need: MESSAGE_LEN,
            })?;
        dst.copy_from_slice(&self.to_bytes());
        Ok(MESSAGE_LEN)
    }

    /// The message's bytes.
    pub fn to_bytes(&self) -> [u8; MESSAGE_LEN] {
        let mut b = [0u8; MESSAGE_LEN];
        b[0] = self.kind.code();
        b[1] = self.flags;
        b[2..4].copy_from_slice(&(MESSAGE_LEN as u16).to_be_bytes());
        b[4..8].copy_from_slice(&self.job_id.to_be_bytes());
        b[8..16].copy_from_slice(&self.job_size.to_be_bytes());
        b[16..24].copy_from_slice(&self.completed.to_be_bytes());
        b
    }
}

impl fmt::Display for CalcAppMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} job={} size={} completed={}",
            self.kind, self.job_id, self.job_size, self.completed
        )
    }
}

/// A job's state as a pool element sends it in a COOKIE (rsplib's
/// `CalcAppCookie`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CalcAppCookie {
    /// The pool user's job number.
    pub job_id: u32,
    /// The job's size in calculations.
    pub job_size: u64,
    /// Calculations done when the cookie was sent.
    pub completed: u64,
}

impl CalcAppCookie {
    /// Reads a cookie (bytes beyond [`COOKIE_LEN`] are ignored, as rsplib
    /// ignores them). A cookie with more calculations done than its size is
    /// refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, CalcAppError> {
        if bytes.len() < COOKIE_LEN {
            return Err(CalcAppError::TooShort {
                len: bytes.len(),
                need: COOKIE_LEN,
            });
        }
        let c = CalcAppCookie {
            job_id: u32_at(bytes, 0),
            job_size: u64_at(bytes, 4),
            completed: u64_at(bytes, 12),
        };
        if c.completed > c.job_size {
            return Err(CalcAppError::CompletedExceedsSize {
                size: c.job_size,
                completed: c.completed,
            });
        }
        Ok(c)
    }

    /// Writes the cookie into `out`: its length ([`COOKIE_LEN`]).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, CalcAppError> {
        let len = out.len();
        let dst = out
            .get_mut(..COOKIE_LEN)
            .ok_or(CalcAppError::BufferTooSmall {
                len,
                need: COOKIE_LEN,
            })?;
        dst.copy_from_slice(&self.to_bytes());
        Ok(COOKIE_LEN)
    }

    /// The cookie's bytes.
    pub fn to_bytes(&self) -> [u8; COOKIE_LEN] {
        let mut b = [0u8; COOKIE_LEN];
        b[0..4].copy_from_slice(&self.job_id.to_be_bytes());
        b[4..12].copy_from_slice(&self.job_size.to_be_bytes());
        b[12..20].copy_from_slice(&self.completed.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for code in 1..=7u8 {
            let kind = CalcAppType::from_code(code).unwrap();
            assert_eq!(kind.code(), code);
            let m = CalcAppMessage {
                kind,
                flags: 0x5a,
                job_id: 0xdead_beef,
                job_size: 5_000_000,
                completed: 1_234_567,
            };
            let mut buf = [0u8; 32];
            assert_eq!(m.encode(&mut buf), Ok(MESSAGE_LEN));
            assert_eq!(CalcAppMessage::decode(&buf[..MESSAGE_LEN]), Ok(m));
            // Bytes beyond the length field are ignored.
            assert_eq!(CalcAppMessage::decode(&buf), Ok(m));
        }
        let c = CalcAppCookie {
            job_id: 7,
            job_size: u64::MAX,
            completed: u64::MAX - 1,
        };
        assert_eq!(CalcAppCookie::decode(&c.to_bytes()), Ok(c));
        let mut small = [0u8; 10];
        assert_eq!(
            c.encode(&mut small),
            Err(CalcAppError::BufferTooSmall { len: 10, need: 20 })
        );
        assert_eq!(
            CalcAppMessage::request(1, 2).encode(&mut small),
            Err(CalcAppError::BufferTooSmall { len: 10, need: 24 })
        );
    }

    /// A CalcAppRequest for job 3 of 5,000,000 calculations as rsplib's
    /// `calcappclient` lays it out (packed struct, network byte order), and
    /// the cookie its `CalcAppServer` sends.
    #[test]
    fn rsplib_layout() {
        let request = [
            0x01, 0x00, 0x00, 0x18, // Type, Flags, Length = 24
            0x00, 0x00, 0x00, 0x03, // JobID
            0x00, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x4b, 0x40, // JobSize
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Completed
        ];
        let m = CalcAppMessage::decode(&request).unwrap();
        assert_eq!(m, CalcAppMessage::request(3, 5_000_000));
        assert_eq!(m.to_bytes(), request);
        let cookie = [
            0x00, 0x00, 0x00, 0x03, // JobID
            0x00, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x4b, 0x40, // JobSize
            0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42, 0x40, // Completed = 1,000,000
        ];
        assert_eq!(
            CalcAppCookie::decode(&cookie),
            Ok(CalcAppCookie {
                job_id: 3,
                job_size: 5_000_000,
                completed: 1_000_000
            })
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            CalcAppMessage::decode(&[1, 0, 0, 24]),
            Err(CalcAppError::TooShort { len: 4, need: 24 })
        );
        let mut b = CalcAppMessage::request(1, 1).to_bytes();
        b[3] = 23;
        assert_eq!(
            CalcAppMessage::decode(&b),
            Err(CalcAppError::BadLength {
                length: 23,
                received: 24
            })
        );
        b[3] = 25;
        assert_eq!(
            CalcAppMessage::decode(&b),
            Err(CalcAppError::BadLength {
                length: 25,
                received: 24
            })
        );
        b[3] = 24;
        b[0] = 8;
        assert_eq!(
            CalcAppMessage::decode(&b),
            Err(CalcAppError::UnknownType(8))
        );
        b[0] = 0;
        assert_eq!(
            CalcAppMessage::decode(&b),
            Err(CalcAppError::UnknownType(0))
        );
        assert_eq!(
            CalcAppCookie::decode(&[0; 19]),
            Err(CalcAppError::TooShort { len: 19, need: 20 })
        );
        let c = CalcAppCookie {
            job_id: 1,
            job_size: 10,
            completed: 11,
        };
        assert_eq!(
            CalcAppCookie::decode(&c.to_bytes()),
            Err(CalcAppError::CompletedExceedsSize {
                size: 10,
                completed: 11
            })
        );
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = [0u8; 40];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 41) as usize;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (x >> ((i % 8) * 8)) as u8 ^ i as u8;
            }
            // Plausible headers now and then, so that decoding gets past them.
            if x % 3 == 0 {
                buf[0] = (x % 9) as u8;
                buf[2] = 0;
                buf[3] = 24;
            }
            if let Ok(m) = CalcAppMessage::decode(&buf[..len]) {
                assert_eq!(CalcAppMessage::decode(&m.to_bytes()), Ok(m));
            }
            if let Ok(c) = CalcAppCookie::decode(&buf[..len]) {
                assert!(c.completed <= c.job_size);
            }
        }
    }
}
