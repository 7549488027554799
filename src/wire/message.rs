//! What ASAP and ENRP messages share: opening the header, collecting the
//! parameters of a message body, and writing the header.

use super::error::{Error, MessageAction};
use super::field::{padded, MessageHeader, RawTlv, Tlvs, Writer, HEADER_LEN};
use super::operror::OperationError;
use super::param::{
    parse_checksum, parse_handle, parse_pe_id, parse_u32, PolicyParam, PoolElementParam,
    ServerInfoParam, TransportParam,
};
use super::types::ParamType;
use crate::addr::TransportProtocol;
use crate::id::PeId;

/// The type, flags and value of a message whose framing is valid.
pub(crate) struct Opened<'a> {
    pub ty: u8,
    pub flags: u8,
    pub value: &'a [u8],
}

impl<'a> Opened<'a> {
    #[inline]
    pub fn open(bytes: &'a [u8]) -> Result<Self, Error> {
        let h = MessageHeader::new_checked(bytes)?;
        if bytes.len() > h.padded_len() {
            return Err(Error::TrailingBytes);
        }
        Ok(Opened {
            ty: h.message_type(),
            flags: h.flags(),
            value: bytes
                .get(HEADER_LEN..usize::from(h.length()))
                .unwrap_or(&[]),
        })
    }
    /// The error for a message type this codec does not know.
    pub fn unrecognized(&self) -> Error {
        Error::UnrecognizedMessage {
            message_type: self.ty,
            action: MessageAction::of(self.ty),
        }
    }
    /// Checks that the value holds `n` fixed bytes.
    pub fn fixed(&self, n: usize) -> Result<(), Error> {
        if self.value.len() < n {
            Err(Error::BadMessageLength)
        } else {
            Ok(())
        }
    }
    /// The parameters after `n` fixed bytes.
    pub fn params(&self, n: usize) -> Tlvs<'a> {
        Tlvs::new(self.value.get(n..).unwrap_or(&[]), HEADER_LEN + n)
    }
}

/// Which parameter type of a message may repeat.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeated {
    None,
    Transports,
    Servers,
}

/// The parameters found in a message body.
#[derive(Default)]
pub(crate) struct Found<'a> {
    pub pool_handle: Option<&'a [u8]>,
    pub pe_id: Option<PeId>,
    pub pool_element: Option<PoolElementParam<'a>>,
    pub policy: Option<PolicyParam<'a>>,
    pub error: Option<OperationError<'a>>,
    pub cookie: Option<&'a [u8]>,
    pub checksum: Option<u16>,
    pub server_info: Option<ServerInfoParam<'a>>,
    pub hropt: Option<u32>,
    /// How many of the repeated parameter were found.
    pub count: usize,
    /// The region they were found in.
    pub region: &'a [u8],
}

/// Bit for a singleton parameter type in an `allowed` mask.
pub(crate) const fn bit(ty: ParamType) -> u32 {
    match ty {
        ParamType::HandleResolutionOption => 1 << 17,
        ParamType::Unknown(_) => 0,
        known => 1 << known.raw(),
    }
}

fn once<T>(
    slot: &mut Option<T>,
    ty: u16,
    v: impl FnOnce() -> Result<T, Error>,
) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::DuplicateParameter { param_type: ty });
    }
    *slot = Some(v()?);
    Ok(())
}

/// Collects the parameters of a body: each type in `allowed` at most once,
/// any number of the `repeated` kind, unknown types by their action, other
/// known types refused.
pub(crate) fn collect<'a>(
    tlvs: Tlvs<'a>,
    allowed: u32,
    repeated: Repeated,
) -> Result<Found<'a>, Error> {
    let mut f = Found {
        region: tlvs.region(),
        ..Found::default()
    };
    for t in tlvs {
        let t: RawTlv<'a> = t?;
        let is_transport = TransportProtocol::from_parameter_type(t.ty).is_some();
        match repeated {
            Repeated::Transports if is_transport => {
                TransportParam::check(&t)?;
                f.count += 1;
                continue;
            }
            Repeated::Servers if t.kind() == ParamType::ServerInformation => {
                // Entries with server id 0 (rsplib: a peer not heard from
                // yet) are valid but not listed.
                if ServerInfoParam::from_raw_listed(&t)?.is_some() {
                    f.count += 1;
                }
                continue;
            }
            _ => {}
        }
        if allowed & bit(t.kind()) == 0 {
            t.reject()?;
            continue;
        }
        match t.kind() {
            ParamType::PoolHandle => once(&mut f.pool_handle, t.ty, || parse_handle(&t))?,
            ParamType::PeIdentifier => once(&mut f.pe_id, t.ty, || parse_pe_id(&t))?,
            ParamType::PoolElement => {
                once(&mut f.pool_element, t.ty, || PoolElementParam::from_raw(&t))?
            }
            ParamType::Policy => once(&mut f.policy, t.ty, || PolicyParam::from_raw(&t))?,
            ParamType::OperationError => once(&mut f.error, t.ty, || OperationError::from_raw(&t))?,
            ParamType::Cookie => once(&mut f.cookie, t.ty, || Ok(t.value))?,
            ParamType::PeChecksum => once(&mut f.checksum, t.ty, || parse_checksum(&t))?,
            ParamType::ServerInformation => {
                once(&mut f.server_info, t.ty, || ServerInfoParam::from_raw(&t))?
            }
            ParamType::HandleResolutionOption => once(&mut f.hropt, t.ty, || parse_u32(&t))?,
            _ => t.reject()?,
        }
    }
    Ok(f)
}

pub(crate) fn missing(param_type: ParamType) -> Error {
    Error::MissingParameter {
        param_type: param_type.raw(),
    }
}

/// Writes a message header whose length `finish` patches.
pub(crate) fn begin(w: &mut Writer<'_>, ty: impl Into<u8>, flags: u8) -> usize {
    let s = w.pos();
    w.u8(ty.into());
    w.u8(flags);
    w.u16(0);
    s
}

/// Patches the message length (the body is padded, so it includes the
/// padding of the last parameter, as rsplib sends it).
pub(crate) fn finish(w: &mut Writer<'_>, start: usize) {
    w.pad();
    let len = w.pos() - start;
    w.patch_len(start + 2, len);
    debug_assert_eq!(len, padded(len));
}

/// Runs `body` on a counting writer: the encoded size.
pub(crate) fn measure(body: impl FnOnce(&mut Writer<'_>) -> Result<(), Error>) -> usize {
    let mut empty = [0u8; 0];
    let mut w = Writer::new(&mut empty);
    let _ = body(&mut w);
    w.pos()
}
