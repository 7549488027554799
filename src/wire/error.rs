//! The codec's error type and the actions RFC 5354 §2-§3 attaches to unknown
//! message and parameter types.

use core::fmt;

use crate::addr::TransportError;
use crate::id::IdError;
use crate::policy::PolicyError;

/// What to do with a parameter whose type is not recognised: the upper two
/// bits of the type (RFC 5354 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParamAction {
    /// `00`: stop processing the message and discard it.
    Stop,
    /// `01`: stop, discard, and report in an Unrecognized Parameter cause.
    StopAndReport,
    /// `10`: skip this parameter and continue.
    Skip,
    /// `11`: skip, continue, and report in an Unrecognized Parameter cause.
    SkipAndReport,
}

impl ParamAction {
    /// The action encoded in the upper two bits of `param_type`.
    pub const fn of(param_type: u16) -> Self {
        match param_type >> 14 {
            0 => ParamAction::Stop,
            1 => ParamAction::StopAndReport,
            2 => ParamAction::Skip,
            _ => ParamAction::SkipAndReport,
        }
    }
    /// Whether the rest of the message is still processed.
    pub const fn skips(self) -> bool {
        matches!(self, ParamAction::Skip | ParamAction::SkipAndReport)
    }
    /// Whether the parameter is reported back in an Unrecognized Parameter cause.
    pub const fn reports(self) -> bool {
        matches!(
            self,
            ParamAction::StopAndReport | ParamAction::SkipAndReport
        )
    }
}

impl fmt::Display for ParamAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamAction::Stop => "stop",
            ParamAction::StopAndReport => "stop and report",
            ParamAction::Skip => "skip",
            ParamAction::SkipAndReport => "skip and report",
        })
    }
}

/// What to do with a message whose type is not recognised: the upper two bits
/// of the type (RFC 5354 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageAction {
    /// `00` (and the reserved `10`, `11`): discard the message silently.
    Discard,
    /// `01`: discard and report in an Unrecognized Message cause.
    DiscardAndReport,
}

impl MessageAction {
    /// The action encoded in the upper two bits of `message_type`.
    pub const fn of(message_type: u8) -> Self {
        if message_type >> 6 == 1 {
            MessageAction::DiscardAndReport
        } else {
            MessageAction::Discard
        }
    }
    /// Whether the message is reported back in an Unrecognized Message cause.
    pub const fn reports(self) -> bool {
        matches!(self, MessageAction::DiscardAndReport)
    }
}

/// Why a message or parameter could not be parsed or emitted.
///
/// Parameter types in the variants are the 16-bit wire types (see
/// [`param_type`](super::param_type)). The error borrows nothing; for the two
/// "unrecognized" variants, [`Error::offending_bytes`] hands back the exact
/// bytes to put into the Unrecognized Parameter / Unrecognized Message cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the message header, or before the end its
    /// Message Length announces. Every strict prefix of a valid message fails
    /// with this.
    Truncated,
    /// The input continues past the message and its (at most 3 bytes of) padding.
    TrailingBytes,
    /// The Message Length is below 4 or below the fixed fields of the message type.
    BadMessageLength,
    /// A parameter or cause length is below 4, overruns the enclosing
    /// message or parameter, or is not the size the type requires; or 1-3
    /// stray bytes follow the last parameter.
    BadParameterLength {
        /// The parameter type (for a cause, the cause code; 0 if unreadable).
        param_type: u16,
    },
    /// A mandatory parameter is absent. A missing transport is reported as
    /// SCTP Transport (0x0004).
    MissingParameter {
        /// The parameter type.
        param_type: u16,
    },
    /// A parameter that may occur once occurs again.
    DuplicateParameter {
        /// The parameter type.
        param_type: u16,
    },
    /// A known parameter where the message or enclosing parameter does not
    /// allow it (or out of its place in a Pool Element).
    UnexpectedParameter {
        /// The parameter type.
        param_type: u16,
    },
    /// A list that must hold at least one item holds none (an Operation
    /// Error without causes).
    EmptyList {
        /// The parameter type.
        param_type: u16,
    },
    /// A PE identifier or sending server identifier is zero.
    ZeroIdentifier,
    /// A Transport Use value other than 0 (data only) or 1 (data plus control).
    InvalidTransportUse(u16),
    /// A HANDLE_UPDATE action other than ADD_PE (0) and DEL_PE (1).
    InvalidUpdateAction(u16),
    /// A registration life below -1 (-1 means infinite).
    InvalidRegistrationLife(i32),
    /// A pool handle that is empty or longer than
    /// [`MAX_POOL_HANDLE_SIZE`](crate::id::MAX_POOL_HANDLE_SIZE).
    PoolHandle(IdError),
    /// A transport that breaks RFC 5354's address rules or this crate's
    /// [`MAX_TRANSPORT_ADDRESSES`](crate::addr::MAX_TRANSPORT_ADDRESSES).
    Transport(TransportError),
    /// A known policy type with the wrong number of parameters.
    Policy(PolicyError),
    /// A parameter type this codec does not know, whose upper two bits say
    /// to stop (`00` or `01`). `offset` and `len` locate the TLV (without
    /// padding) in the parsed input: see [`Error::offending_bytes`].
    UnrecognizedParameter {
        /// The parameter type.
        param_type: u16,
        /// [`ParamAction::Stop`] or [`ParamAction::StopAndReport`].
        action: ParamAction,
        /// Where the TLV starts in the input given to `parse`.
        offset: usize,
        /// The TLV's length field (header included, padding excluded).
        len: usize,
    },
    /// A message type this codec does not know. The message is the input
    /// up to its Message Length: see [`Error::offending_bytes`].
    UnrecognizedMessage {
        /// The message type.
        message_type: u8,
        /// Whether to report it.
        action: MessageAction,
    },
    /// Emitting: the output buffer is too small; `needed` is the exact size.
    BufferTooSmall {
        /// The bytes the whole message needs.
        needed: usize,
    },
    /// Emitting: a message or parameter would exceed the 65535 bytes a
    /// length field can express.
    TooLong,
}

impl Error {
    /// For [`Error::UnrecognizedParameter`] and [`Error::UnrecognizedMessage`],
    /// the bytes of `input` (the buffer that was parsed) to put into the
    /// Unrecognized Parameter / Unrecognized Message cause: the complete TLV
    /// or the complete message, without trailing padding.
    pub fn offending_bytes<'a>(&self, input: &'a [u8]) -> Option<&'a [u8]> {
        match *self {
            Error::UnrecognizedParameter { offset, len, .. } => {
                input.get(offset..offset.checked_add(len)?)
            }
            Error::UnrecognizedMessage { .. } => {
                let len = usize::from(u16::from_be_bytes([*input.get(2)?, *input.get(3)?]));
                input.get(..len.min(input.len()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("message truncated"),
            Error::TrailingBytes => f.write_str("bytes after the message and its padding"),
            Error::BadMessageLength => f.write_str("bad message length"),
            Error::BadParameterLength { param_type } => {
                write!(f, "bad length of parameter {param_type:#06x}")
            }
            Error::MissingParameter { param_type } => {
                write!(f, "missing parameter {param_type:#06x}")
            }
            Error::DuplicateParameter { param_type } => {
                write!(f, "duplicate parameter {param_type:#06x}")
            }
            Error::UnexpectedParameter { param_type } => {
                write!(f, "unexpected parameter {param_type:#06x}")
            }
            Error::EmptyList { param_type } => write!(f, "empty parameter {param_type:#06x}"),
            Error::ZeroIdentifier => f.write_str("identifier is zero"),
            Error::InvalidTransportUse(v) => write!(f, "invalid transport use {v:#x}"),
            Error::InvalidUpdateAction(v) => write!(f, "invalid update action {v:#x}"),
            Error::InvalidRegistrationLife(v) => write!(f, "invalid registration life {v}"),
            Error::PoolHandle(e) => write!(f, "pool handle: {e}"),
            Error::Transport(e) => write!(f, "transport: {e}"),
            Error::Policy(e) => write!(f, "policy: {e}"),
            Error::UnrecognizedParameter {
                param_type, action, ..
            } => write!(f, "unrecognized parameter {param_type:#06x} ({action})"),
            Error::UnrecognizedMessage {
                message_type,
                action,
            } => write!(
                f,
                "unrecognized message type {message_type:#04x} ({})",
                if action.reports() {
                    "discard and report"
                } else {
                    "discard"
                }
            ),
            Error::BufferTooSmall { needed } => {
                write!(f, "buffer too small, {needed} bytes needed")
            }
            Error::TooLong => f.write_str("longer than a length field can express"),
        }
    }
}

impl core::error::Error for Error {}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(e)
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Error::Policy(e)
    }
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        match e {
            IdError::Zero => Error::ZeroIdentifier,
            other => Error::PoolHandle(other),
        }
    }
}
