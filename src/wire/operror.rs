//! The Operation Error parameter (0x000C, RFC 5354 §3.12) and its causes.

use core::fmt;

use super::error::Error;
use super::field::{padded, RawTlv, Tlvs, Writer, TLV_HEADER_LEN};
use super::list::{sealed::Sealed, List};
use super::param::{fmt_hex, single_tlv, PolicyParam, TransportParam};
use super::types::ParamType;
use crate::cause::CauseCode;

/// The cause-specific information of an [`ErrorCause`].
///
/// Parsing yields [`CauseData::Policy`] for an Inconsistent Pooling Policy
/// cause and [`CauseData::Transport`] for an Inconsistent Transport Type cause
/// when the information is a valid parameter of that kind, and
/// [`CauseData::Bytes`] otherwise (the raw information, possibly empty:
/// the unrecognized TLV or message, the offending TLV, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseData<'a> {
    /// Raw cause information (empty for the causes that carry none).
    Bytes(&'a [u8]),
    /// The pool's policy (Inconsistent Pooling Policy).
    Policy(PolicyParam<'a>),
    /// A transport of the pool's type (Inconsistent Transport Type).
    Transport(TransportParam<'a>),
}

/// One error cause: a code and its cause-specific information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCause<'a> {
    /// The cause code.
    pub code: CauseCode,
    /// The cause-specific information.
    pub data: CauseData<'a>,
}

impl<'a> ErrorCause<'a> {
    /// A cause without information (Unspecified, Non-Unique PE Identifier,
    /// Lack of Resources, Unknown Pool Handle, ...).
    pub const fn new(code: CauseCode) -> Self {
        ErrorCause {
            code,
            data: CauseData::Bytes(&[]),
        }
    }
    /// A cause with raw information.
    pub const fn with_bytes(code: CauseCode, info: &'a [u8]) -> Self {
        ErrorCause {
            code,
            data: CauseData::Bytes(info),
        }
    }
    /// Unrecognized Parameter carrying the complete TLV (see
    /// [`Error::offending_bytes`] and [`unrecognized_parameters`](super::unrecognized_parameters)).
    pub const fn unrecognized_parameter(tlv: &'a [u8]) -> Self {
        Self::with_bytes(CauseCode::UnrecognizedParameter, tlv)
    }
    /// Unrecognized Message carrying the complete message.
    pub const fn unrecognized_message(message: &'a [u8]) -> Self {
        Self::with_bytes(CauseCode::UnrecognizedMessage, message)
    }
    /// The cause an ASAP/ENRP ERROR must carry after `error` from parsing
    /// `input`: Unrecognized Message or Unrecognized Parameter with the
    /// offending bytes when the type's upper bits ask for a report
    /// (RFC 5354 §2-§3); `None` when the input is to be dropped silently.
    pub fn reporting(error: &Error, input: &'a [u8]) -> Option<Self> {
        match *error {
            Error::UnrecognizedMessage { action, .. } if action.reports() => {
                error.offending_bytes(input).map(Self::unrecognized_message)
            }
            Error::UnrecognizedParameter { action, .. } if action.reports() => error
                .offending_bytes(input)
                .map(Self::unrecognized_parameter),
            _ => None,
        }
    }
    /// After a successful parse of `message`: fills `out` with one
    /// Unrecognized Parameter cause per skipped parameter whose type bits
    /// ask for a report (`11`), at any depth, and returns how many (at most
    /// `out.len()`; further ones are left out).
    pub fn skipped_reports(
        protocol: super::Protocol,
        message: &'a [u8],
        out: &mut [ErrorCause<'a>],
    ) -> usize {
        let mut n = 0;
        for u in super::unrecognized_parameters(protocol, message) {
            if !u.action.reports() {
                continue;
            }
            let Some(slot) = out.get_mut(n) else { break };
            *slot = Self::unrecognized_parameter(u.tlv);
            n += 1;
        }
        n
    }
    /// Invalid Values carrying the offending TLV.
    pub const fn invalid_values(tlv: &'a [u8]) -> Self {
        Self::with_bytes(CauseCode::InvalidValues, tlv)
    }
    /// Inconsistent Pooling Policy carrying the pool's policy.
    pub const fn inconsistent_policy(policy: PolicyParam<'a>) -> Self {
        ErrorCause {
            code: CauseCode::InconsistentPoolingPolicy,
            data: CauseData::Policy(policy),
        }
    }
    /// Inconsistent Transport Type carrying a transport of the pool's type.
    pub const fn inconsistent_transport(transport: TransportParam<'a>) -> Self {
        ErrorCause {
            code: CauseCode::InconsistentTransportType,
            data: CauseData::Transport(transport),
        }
    }
    /// The raw information, if it is stored raw.
    pub const fn bytes(&self) -> Option<&'a [u8]> {
        match self.data {
            CauseData::Bytes(b) => Some(b),
            _ => None,
        }
    }

    fn from_raw(raw: &RawTlv<'a>) -> Self {
        let code = CauseCode::from_code(raw.ty);
        let info = raw.value;
        let data = match code {
            CauseCode::InconsistentPoolingPolicy => single_tlv(info)
                .and_then(|t| PolicyParam::from_raw(&t))
                .map_or(CauseData::Bytes(info), CauseData::Policy),
            CauseCode::InconsistentTransportType => single_tlv(info)
                .and_then(|t| TransportParam::from_raw(&t))
                .map_or(CauseData::Bytes(info), CauseData::Transport),
            _ => CauseData::Bytes(info),
        };
        ErrorCause { code, data }
    }

    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        TLV_HEADER_LEN
            + match &self.data {
                CauseData::Bytes(b) => padded(b.len()),
                CauseData::Policy(p) => p.buffer_len(),
                CauseData::Transport(t) => t.buffer_len(),
            }
    }
}

impl<'a> Sealed<'a> for ErrorCause<'a> {
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        let mut t = Tlvs::at(bytes, *pos);
        let raw = t.next_tlv()?.ok()?;
        *pos = t.pos();
        Some(ErrorCause::from_raw(&raw))
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let s = w.begin(self.code.code());
        match &self.data {
            CauseData::Bytes(b) => w.bytes(b),
            CauseData::Policy(p) => p.write(w),
            CauseData::Transport(t) => t.write(w)?,
        }
        w.end(s);
        Ok(())
    }
}

impl<'a> From<CauseCode> for ErrorCause<'a> {
    fn from(code: CauseCode) -> Self {
        ErrorCause::new(code)
    }
}

impl fmt::Display for ErrorCause<'_> {
    /// E.g. `Unknown Pool Handle (0x9)` or `Unrecognized Parameter (0x1) [80330004]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        match &self.data {
            CauseData::Bytes([]) => Ok(()),
            CauseData::Bytes(b) => {
                f.write_str(" [")?;
                fmt_hex(f, b)?;
                f.write_str("]")
            }
            CauseData::Policy(p) => write!(f, " [{p}]"),
            CauseData::Transport(t) => write!(f, " [{t}]"),
        }
    }
}

/// An Operation Error parameter: one or more causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationError<'a> {
    /// The causes (at least one).
    pub causes: List<'a, ErrorCause<'a>>,
}

impl<'a> OperationError<'a> {
    /// An Operation Error over the caller's causes.
    pub const fn new(causes: &'a [ErrorCause<'a>]) -> Self {
        OperationError {
            causes: List::from_slice(causes),
        }
    }
    /// The first cause's code (the usual single-cause case).
    pub fn code(&self) -> Option<CauseCode> {
        self.causes.first().map(|c| c.code)
    }
    /// Parses one complete Operation Error TLV (its padding may follow).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::from_raw(&single_tlv(bytes)?)
    }
    pub(crate) fn from_raw(raw: &RawTlv<'a>) -> Result<Self, Error> {
        if raw.kind() != ParamType::OperationError {
            return Err(Error::UnexpectedParameter { param_type: raw.ty });
        }
        let mut count = 0;
        for c in Tlvs::new(raw.value, raw.offset + TLV_HEADER_LEN) {
            c?;
            count += 1;
        }
        if count == 0 {
            return Err(Error::EmptyList {
                param_type: ParamType::OperationError.raw(),
            });
        }
        Ok(OperationError {
            causes: List::from_wire(raw.value, count),
        })
    }
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        if self.causes.is_empty() {
            return Err(Error::EmptyList {
                param_type: ParamType::OperationError.raw(),
            });
        }
        let s = w.begin_param(ParamType::OperationError);
        self.causes.write(w)?;
        w.end(s);
        Ok(())
    }
    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        TLV_HEADER_LEN + self.causes.iter().map(|c| c.buffer_len()).sum::<usize>()
    }
    /// Writes the TLV into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }
}

impl fmt::Display for OperationError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error(")?;
        self.causes.fmt_joined(f, "; ")?;
        f.write_str(")")
    }
}
